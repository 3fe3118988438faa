"""make cv and make train FOLD=k: training on the frozen folds of data/folds.csv.

`make cv` trains one model per fold into ONE run folder, runs/<id>/: fold-<k>/ (each a
full run: plots, metrics, model), oof.csv (every training image's out-of-fold
prediction and probabilities), cv_folds.csv (each fold's scores) and metrics.json (the
CV score: mean and spread over the folds). `make predict` on it averages the folds'
probabilities. `make train FOLD=k` is one of those folds as a run of its own.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

from . import train
from .kit import folds, gpu, layouts, runs
from .kit.errors import ProjectError
from .kit.files import sha256, write_text

OOF = "oof.csv"
FOLD_SCORES = "cv_folds.csv"


def train_fold(cfg, fold: int, dry_run: bool = False) -> str:
    """`make train FOLD=k`: validate on fold k of data/folds.csv, train on the others."""
    gpu.apply(cfg.gpu)
    cfg = layouts.with_detected(cfg)
    images = layouts.train_images(cfg)
    if dry_run and not (cfg.root / folds.FOLDS).is_file():
        return train.train(cfg, dry_run=True, images=images) + f" ({folds.FOLDS} not made yet: `make folds`)"
    valid = folds.valid_positions(cfg, images, fold)
    return train.train(cfg, dry_run, valid=valid, split={"fold": fold, "folds_file": folds.FOLDS}, images=images)


def score(metric: str, targets, probs) -> float:
    """One fold's (or all out-of-fold) score in [cv] metric; nan where it is undefined (one class)."""
    import numpy as np
    from sklearn import metrics

    targets, probs = np.asarray(targets), np.asarray(probs, dtype=np.float64)
    if metric in ("accuracy", "error_rate"):
        accuracy = float((probs.argmax(1) == targets).mean())
        return accuracy if metric == "accuracy" else 1.0 - accuracy
    if metric == "log_loss":  # the mean cross-entropy, as Kaggle computes it (probabilities clipped at 1e-15)
        return float(-np.log(np.clip(probs[np.arange(len(targets)), targets], 1e-15, 1)).mean())
    try:  # roc_auc: the positive class's probability, or one-vs-rest over classes for more than two
        if probs.shape[1] == 2:
            return float(metrics.roc_auc_score(targets, probs[:, 1]))
        return float(metrics.roc_auc_score(targets, probs, multi_class="ovr", labels=list(range(probs.shape[1]))))
    except ValueError:
        return float("nan")


def cv(cfg, *, allow_random: bool = False) -> str:
    """Train every fold into one run folder; out-of-fold predictions, per-fold and CV scores; one line."""
    import numpy as np
    import pandas as pd

    started = time.perf_counter()
    gpu.apply(cfg.gpu, quiet=True)
    cfg = layouts.with_detected(cfg)
    images = layouts.train_images(cfg)
    assigned = folds.load(cfg, images)
    k, metric = int(assigned.max()) + 1, cfg.cv.metric
    ids = folds.item_ids(cfg, images)
    made = {"folds_file": folds.FOLDS, "folds_sha256": sha256(cfg.root / folds.FOLDS)}
    resolved = {"cv": {"folds": k, "metric": metric, **made}}
    resolved["train_images"] = len(ids)
    with runs.record(cfg, resolved, f"{cfg.model.arch}-cv{k}") as run:
        probs, classes, rows = None, None, []
        for fold in range(k):
            fold_started = time.perf_counter()
            print(f"fold {fold} of 0..{k - 1}: training on the other folds", flush=True)
            valid = np.flatnonzero(assigned == fold)
            split = {"fold": fold, "folds_file": folds.FOLDS}
            train.train(cfg, allow_random=allow_random, valid=valid.tolist(), split=split, into=run.dir, images=images)
            p, vocab = train.probabilities(cfg, run.dir / f"fold-{fold}", [images.xs[i] for i in valid])
            if probs is None:
                probs, classes = np.full((len(ids), len(vocab)), np.nan), vocab
            elif vocab != classes:
                raise ProjectError(f"fold {fold}'s model knows other classes than fold 0's (a bug: please report it)")
            probs[valid] = p
            targets = _targets([images.labels[i] for i in valid], classes)
            fold_metrics = runs.read_metrics(run.dir / f"fold-{fold}")
            row = {
                "fold": fold,
                "train_images": len(ids) - len(valid),
                "valid_images": len(valid),
                metric: score(metric, targets, p),
                "accuracy": score("accuracy", targets, p),
                "log_loss": score("log_loss", targets, p),
                "lr": fold_metrics.get("lr", float("nan")),
                "seconds": round(time.perf_counter() - fold_started, 1),
            }
            rows.append(row)
            print(f"fold {fold}: {metric} {row[metric]:.4f} on {len(valid):,} images ({row['seconds']:.0f} s)")
        targets = _targets(images.labels, classes)
        oof = pd.DataFrame({"id": ids, "target": [str(y) for y in images.labels]})
        oof["prediction"] = [classes[i] for i in probs.argmax(1)]
        oof["fold"] = assigned
        for j, name in enumerate(classes):
            oof[f"p_{name}"] = np.round(probs[:, j], 6)
        _write_frame(run.dir / OOF, oof)
        _write_frame(run.dir / FOLD_SCORES, pd.DataFrame(rows))
        scores = np.array([row[metric] for row in rows])
        oof_accuracy = score("accuracy", targets, probs)
        metrics = {
            "cv_score": float(np.mean(scores)),
            "cv_std": float(np.std(scores)),
            "metric": metric,
            "folds": k,
            "oof_score": score(metric, targets, probs),
            "accuracy": oof_accuracy,
            "error_rate": 1.0 - oof_accuracy,
            "valid_loss": score("log_loss", targets, probs),
            "valid_images": len(ids),
            "seconds": round(time.perf_counter() - started, 1),
        }
        run.finish(metrics)
    took = time.perf_counter() - started
    return (
        f"cv: {metric} {metrics['cv_score']:.4f} ± {metrics['cv_std']:.4f} (mean ± std over {k} folds; "
        f"out-of-fold {metrics['oof_score']:.4f} on {len(ids):,} images) in {took:.0f} s -> "
        f"{run.dir.relative_to(cfg.root)}/ ({OOF}, {FOLD_SCORES}; next: make predict RUN_ID={run.id})"
    )


def _targets(labels: list, classes: list[str]):
    import numpy as np

    where = {name: i for i, name in enumerate(classes)}
    return np.array([where[str(label)] for label in labels])


def _write_frame(path: Path, frame) -> None:
    out = io.StringIO()
    frame.to_csv(out, index=False, lineterminator="\n")
    write_text(path, out.getvalue())
