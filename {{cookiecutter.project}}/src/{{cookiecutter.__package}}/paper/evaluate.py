"""make predict (paper): a run's model on the labelled test split, as test_* metrics in its run folder.

`make compare` reads them beside the paper's claims; without a labelled test split the
validation metrics are recorded as test_* and the file says so (split = valid).
"""

from __future__ import annotations

import json
import time

from .. import train
from ..kit import layouts, runs
from ..kit.errors import ProjectError
from ..kit.files import write_text


def predict(cfg, run: str | None = None) -> str:
    """Evaluate the run on the test split; write test_metrics.json into the run folder; return one line."""
    import numpy as np

    started = time.perf_counter()
    cfg = layouts.with_detected(cfg)
    folder, learn = train.load(cfg, run)
    try:
        images = layouts.test_images(cfg, labelled=True)
    except ProjectError as no_test:
        valid = runs.read_metrics(folder)
        metrics = {f"test_{k}": valid[k] for k in ("accuracy", "error_rate", "valid_loss") if k in valid}
        metrics["split"] = "valid"
        write_text(folder / runs.TEST_METRICS, json.dumps(metrics, indent=2) + "\n")
        return f"no labelled test split ({no_test}); recorded the validation metrics as test_* in {folder.name}/"
    vocab = [str(v) for v in learn.dls.vocab]
    known = [(x, str(y)) for x, y in zip(images.xs, images.labels, strict=True) if str(y) in vocab]
    if not known:
        raise ProjectError(f"no test image has a class the model knows (test classes differ from {vocab[:5]}...)")
    typed = {str(v): v for v in learn.dls.vocab}
    preds, targs, losses = train.predictions(cfg, learn, [(x, typed[y]) for x, y in known], labelled=True)
    preds, targs = preds.float().numpy(), targs.numpy()
    accuracy = float((preds.argmax(1) == targs).mean())
    if losses is None:  # TTA gives probabilities only: the loss from them
        losses = -np.log(np.clip(preds[np.arange(len(targs)), targs], 1e-12, None))
    metrics = {
        "test_accuracy": accuracy,
        "test_error_rate": 1.0 - accuracy,
        "test_loss": float(np.asarray(losses, dtype=float).mean()),
        "test_images": len(known),
        "skipped_unknown_class": len(images) - len(known),
        "split": cfg.data.test,
        "tta": cfg.model.tta,
    }
    write_text(folder / runs.TEST_METRICS, json.dumps(metrics, indent=2) + "\n")
    took = time.perf_counter() - started
    return (
        f"test accuracy {accuracy:.4f} on {len(known):,} images of {cfg.data.test} (run {folder.name}, {took:.0f} s) "
        f"-> {folder.relative_to(cfg.root)}/{runs.TEST_METRICS}"
    )
