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

from . import report, train
from .kit import dataset, folds, gpu, layouts, metrics, runs, targets
from .kit.errors import ProjectError
from .kit.files import sha256, write_text

OOF = "oof.csv"
FOLD_SCORES = "cv_folds.csv"


def train_fold(cfg, fold: int, dry_run: bool = False) -> str:
    """`make train FOLD=k`: validate on fold k of data/folds.csv, train on the others."""
    gpu.apply(cfg.gpu)
    cfg = layouts.with_detected(cfg)
    data = dataset.load(cfg)
    if dry_run and not (cfg.root / folds.FOLDS).is_file():
        return train.train(cfg, dry_run=True, data=data) + f" ({folds.FOLDS} not made yet: `make folds`)"
    valid = folds.valid_positions(cfg, data, fold)
    return train.train(cfg, dry_run, valid=valid, split={"fold": fold, "folds_file": folds.FOLDS}, data=data)


def cv(cfg) -> str:
    """Train every fold into one run folder; out-of-fold predictions, per-fold and CV scores; one line."""
    import numpy as np
    import pandas as pd

    started = time.perf_counter()
    gpu.apply(cfg.gpu, quiet=True)
    cfg = layouts.with_detected(cfg)
    data = dataset.load(cfg)
    assigned = folds.load(cfg, data)
    k, task = int(assigned.max()) + 1, data.task
    metric = metrics.resolve(cfg.cv.metric, task)
    ids = folds.item_ids(cfg, data)
    made = {"folds_file": folds.FOLDS, "folds_sha256": sha256(cfg.root / folds.FOLDS)}
    resolved = {"cv": {"folds": k, "metric": metric, **made}, "task": task, "target_transform": data.transform}
    resolved["train_images"] = len(ids)
    short = "tabular" if data.table is not None else cfg.model.arch
    with runs.new_run(cfg, resolved, f"{short}-cv{k}") as run:
        out, classes, rows = None, None, []
        for fold in range(k):
            fold_started = time.perf_counter()
            print(f"fold {fold} of 0..{k - 1}: training on the other folds", flush=True)
            valid = np.flatnonzero(assigned == fold)
            split = {"fold": fold, "folds_file": folds.FOLDS}
            train.train(cfg, valid=valid.tolist(), split=split, into=run.dir, data=data)
            raw, vocab = train.outputs(cfg, run.dir / f"fold-{fold}", dataset.inputs(data, valid))
            predicted = report.scale(task, raw, data.transform)
            if out is None:
                out, classes = np.full((len(ids), *predicted.shape[1:]), np.nan), vocab
            elif vocab != classes:
                raise ProjectError(f"fold {fold}'s model knows other classes than fold 0's (a bug: please report it)")
            out[valid] = predicted
            truth = _truth(task, [data.labels[i] for i in valid], classes)
            fold_metrics = runs.read_metrics(run.dir / f"fold-{fold}")
            threshold = fold_metrics.get("threshold", 0.5)
            row = {"fold": fold, "train_images": len(ids) - len(valid), "valid_images": len(valid)}
            row |= {name: metrics.score(name, task, truth, predicted, threshold) for name in _reported(metric, task)}
            row |= {"lr": fold_metrics.get("lr", float("nan")), "seconds": round(time.perf_counter() - fold_started, 1)}
            rows.append(row)
            print(f"fold {fold}: {metric} {row[metric]:.4f} on {len(valid):,} items ({row['seconds']:.0f} s)")
        truth = _truth(task, data.labels, classes)
        threshold = metrics.best_threshold(metric, truth, out) if task == "multi-label" else 0.5
        _write_frame(run.dir / OOF, _oof(ids, data, assigned, out, classes, task, threshold))
        _write_frame(run.dir / FOLD_SCORES, pd.DataFrame(rows))
        scores = np.array([row[metric] for row in rows])
        found = {"cv_score": float(np.mean(scores)), "cv_std": float(np.std(scores)), "metric": metric, "folds": k}
        found["oof_score"] = metrics.score(metric, task, truth, out, threshold)
        found |= {name: metrics.score(name, task, truth, out, threshold) for name in _reported(metric, task)}
        if task == "classification":
            found["error_rate"] = 1.0 - found["accuracy"]
            found["valid_loss"] = found["log_loss"]
        if task == "multi-label":
            found["threshold"] = threshold
        found |= {"task": task, "valid_images": len(ids), "seconds": round(time.perf_counter() - started, 1)}
        run.finish(found)
    took = time.perf_counter() - started
    unit = "rows" if data.table is not None else "images"
    return (
        f"cv: {metric} {found['cv_score']:.4f} ± {found['cv_std']:.4f} (mean ± std over {k} folds; "
        f"out-of-fold {found['oof_score']:.4f} on {len(ids):,} {unit}) in {took:.0f} s -> "
        f"{run.dir.relative_to(cfg.root)}/ ({OOF}, {FOLD_SCORES}; next: make predict RUN_ID={run.id})"
    )


def _reported(metric: str, task: str) -> list[str]:
    """The scores each fold reports: the CV metric first, then the task's usual ones."""
    usual = {"classification": ["accuracy", "log_loss"], "multi-label": ["f1", "accuracy"]}
    usual["regression"] = ["rmse", "mae"]
    return list(dict.fromkeys([metric, *usual[task]]))


def _truth(task: str, labels: list, classes: list[str]):
    """Targets as scores take them: class indices, 0/1 tag rows, or numbers."""
    import numpy as np

    if task == "regression":
        return np.asarray(labels, dtype=np.float64)
    where = {name: i for i, name in enumerate(classes)}
    if task == "classification":
        return np.array([where[str(label)] for label in labels])
    rows = np.zeros((len(labels), len(classes)), dtype=int)
    for row, label in zip(rows, labels, strict=True):
        row[[where[tag] for tag in targets.tags(label) if tag in where]] = 1
    return rows


def _oof(ids, data, assigned, out, classes, task: str, threshold: float):
    """oof.csv: each item's out-of-fold prediction (and its class or tag probabilities) beside the truth."""
    import numpy as np
    import pandas as pd

    oof = pd.DataFrame({"id": ids, "target": [str(y) for y in data.labels]})
    if task == "regression":
        oof["prediction"] = np.round(out, 6)
    elif task == "classification":
        oof["prediction"] = [classes[i] for i in out.argmax(1)]
    else:
        oof["prediction"] = [" ".join(c for c, p in zip(classes, row, strict=True) if p >= threshold) for row in out]
    oof["fold"] = assigned
    for j, name in enumerate(classes):
        oof[f"p_{name}"] = np.round(out[:, j], 6)
    return oof


def _write_frame(path: Path, frame) -> None:
    out = io.StringIO()
    frame.to_csv(out, index=False, lineterminator="\n")
    write_text(path, out.getvalue())
