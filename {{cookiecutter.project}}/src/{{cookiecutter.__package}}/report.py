"""What a run reports on its validation set: the task's metrics and the plots a newcomer should look at.

Classification: accuracy and error rate, the confusion matrix. Multi-label: the tag threshold
that scores best (predictions are cut there), F1 and exact-match accuracy. Regression:
RMSE and MAE on the target's own scale, predicted against actual. Images add their top
losses; tables add permutation feature importance (how much the score drops when one
column is shuffled).
"""

from __future__ import annotations

import warnings
from pathlib import Path

from .kit import metrics, plots

TOP_LOSSES = 9
IMPORTANCE_ROWS = 5_000  # validation rows shuffled for permutation importance: enough to rank the columns
IMPORTANCE_BS = 1024  # rows per batch there: fewer, bigger batches (evaluation: no prediction changes)


def output(task: str, preds, transform: str):
    """The model's raw predictions (a tensor) as scores take them: probabilities, or numbers on the target's scale."""
    return scale(task, preds.float().numpy(), transform)


def scale(task: str, values, transform: str):
    """Predictions as numbers: regression ones flattened and back on the target's own scale (log1p undone)."""
    import numpy as np

    if task != "regression":
        return values
    values = values.reshape(len(values))
    return np.expm1(values) if transform == "log1p" else values


def valid(learn, folder: Path, recorder, cfg, task: str, transform: str, table: bool) -> dict:
    """Final validation metrics, written beside the run's plots; the headline is [cv] metric's score."""
    import numpy as np

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        preds, targs, losses = learn.get_preds(dl=learn.dls.valid, with_loss=True)
    predicted, losses = output(task, preds, transform), losses.float().numpy().reshape(len(preds), -1).mean(1)
    truth = output(task, targs, transform) if task == "regression" else targs.numpy()
    if task == "classification":
        truth = truth.reshape(len(truth))  # a table's targets come as a column
    metric = metrics.resolve(cfg.cv.metric, task)
    last = recorder.epochs[-1] if recorder.epochs else {}
    found = {"task": task, "metric": metric, "valid_loss": float(losses.mean())}
    found["train_loss"] = last.get("train_loss", float("nan"))
    if task == "multi-label":
        found["threshold"] = metrics.best_threshold(metric, truth, predicted)
    found["score"] = metrics.score(metric, task, truth, predicted, found.get("threshold", 0.5))
    if task == "classification":
        found["accuracy"] = metrics.score("accuracy", task, truth, predicted)
        found["error_rate"] = 1.0 - found["accuracy"]
        vocab = [str(v) for v in learn.dls.vocab]
        n = len(vocab)
        matrix = np.bincount(truth * n + predicted.argmax(1), minlength=n * n).reshape(n, n)
        plots.confusion(folder / "confusion.png", matrix, vocab)
    elif task == "multi-label":
        found["accuracy"] = metrics.score("accuracy", task, truth, predicted, found["threshold"])
        found["f1"] = metrics.score("f1", task, truth, predicted, found["threshold"])
    else:
        found["rmse"] = metrics.score("rmse", task, truth, predicted)
        found["mae"] = metrics.score("mae", task, truth, predicted)
        plots.predicted_vs_actual(folder / "predicted.png", truth, predicted)
    plots.losses(folder / "loss.png", recorder.batch_losses, recorder.epochs)
    if table:  # which columns the model leans on
        plots.importance(folder / "importance.png", importance(learn, metric, task, transform))
    else:
        _top_losses(learn, folder, predicted, truth, losses, task)
    seconds = recorder.train_seconds
    found["fit_epochs"] = len(recorder.epochs)  # fine_tune's frozen one included; model.epochs is what you asked
    found["train_items_per_s"] = round(recorder.images / seconds, 1) if seconds else 0.0
    found["train_images_per_s"] = found["train_items_per_s"]  # the name bench/ and earlier runs read
    found["valid_images"] = len(predicted)
    return found


def importance(learn, metric: str, task: str, transform: str) -> dict[str, float]:
    """Permutation importance on the validation rows (IMPORTANCE_ROWS at most): the score lost when one column
    is shuffled."""
    import numpy as np

    frame = learn.dls.valid.items  # processed: categories as codes, numbers normalised, the target encoded
    rng = np.random.default_rng(0)
    if len(frame) > IMPORTANCE_ROWS:
        frame = frame.iloc[np.sort(rng.choice(len(frame), IMPORTANCE_ROWS, replace=False))]
    truth = frame[learn.dls.y_names[0]].to_numpy()
    if task == "regression":
        truth = np.expm1(truth) if transform == "log1p" else truth
    else:
        truth = truth.astype(int)
    lower = metric in metrics.LOWER_IS_BETTER

    def scored(table) -> float:
        with warnings.catch_warnings(), learn.no_bar():
            warnings.simplefilter("ignore")
            preds = learn.get_preds(dl=learn.dls.test_dl(table, process=False, bs=IMPORTANCE_BS))[0]
        value = metrics.score(metric, task, truth, output(task, preds, transform))
        return -value if lower else value

    base = scored(frame)
    drops = {}
    for column in [*learn.dls.cat_names, *learn.dls.cont_names]:
        if column.endswith("_na"):
            continue  # FillMissing's marker columns go with their own column
        shuffled = frame.copy()
        shuffled[column] = rng.permutation(shuffled[column].to_numpy())
        drops[column] = base - scored(shuffled)
    return drops


def _top_losses(learn, folder: Path, predicted, truth, losses, task: str) -> None:
    """The validation images the model got most wrong: predicted / actual / loss (/ probability of actual)."""
    import numpy as np

    worst = np.argsort(-losses)[:TOP_LOSSES]
    items = learn.dls.valid_ds.items
    vocab = [str(v) for v in getattr(learn.dls, "vocab", [])]
    if task == "classification":
        titles = [
            f"{vocab[predicted[i].argmax()]} / {vocab[truth[i]]} / {losses[i]:.2f} / {predicted[i, truth[i]]:.2f}"
            for i in worst
        ]
    elif task == "multi-label":
        said = [" ".join(v for v, p in zip(vocab, predicted[i], strict=True) if p >= 0.5) or "-" for i in worst]
        titles = [f"{s} / {items[i][1]} / {losses[i]:.2f}" for s, i in zip(said, worst, strict=True)]
    else:
        titles = [f"{predicted[i]:.3g} / {truth[i]:.3g} / {losses[i]:.2f}" for i in worst]
    plots.top_losses(folder / "top_losses.png", [_picture(items[i][0]) for i in worst], titles)


def _picture(x):
    """An item as something imshow can draw (a thumbnail for image files)."""
    if isinstance(x, Path):
        from PIL import Image

        with Image.open(x) as image:
            image = image.convert("RGB")
            image.thumbnail((256, 256))
            return image.copy()
    return x
