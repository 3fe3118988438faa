"""make predict (Kaggle): the test set through a run's model, written exactly like sample_submission.csv.

The file is submissions/<run-id>.csv, validated against the sample before this
command says it is done; a cv run's fold models are averaged. Classes are written as
the sample writes them (labels, 0/1, one probability, a probability per class),
numbers on the target's own scale, tags space-separated.
"""

from __future__ import annotations

import time

from .. import report, train
from ..kit import layouts, runs, tabular
from ..kit.errors import ProjectError
from ..kit.files import atomic_path
from .submission import SUBMISSIONS, validate


def predict(cfg, run: str | None = None) -> str:
    """Write submissions/<run-id>.csv like sample_submission.csv and validate it; return one line."""
    import pandas as pd

    started = time.perf_counter()
    cfg = layouts.with_detected(cfg)
    folder, learn = train.load(cfg, run)
    if not cfg.data.sample:
        raise ProjectError("no sample submission recorded (run `make data`, or set data.sample in config.toml)")
    sample = pd.read_csv(cfg.raw / cfg.data.sample, dtype=str, keep_default_na=False)
    settings = runs.settings(folder).get("resolved", {})
    task, transform = settings.get("task", "classification"), settings.get("target_transform", "none")
    if cfg.data.layout == "tabular":
        table = tabular.test_table(cfg, learn.dls, list(sample.iloc[:, 0]))
        ids, inputs = list(sample.iloc[:, 0]), table
    else:
        images = layouts.test_images(cfg)
        ids, inputs = images.ids, [(x,) for x in images.xs]
    output = report.scale(task, train.predictions(cfg, learn, inputs, labelled=False)[0].float().numpy(), transform)
    if task == "classification":
        frame = submission_frame(sample, ids, output, list(learn.dls.vocab))
    else:
        threshold = runs.read_metrics(folder).get("threshold", 0.5)
        frame = other_frame(sample, ids, output, [str(v) for v in getattr(learn.dls, "vocab", [])], threshold)
    path = cfg.root / SUBMISSIONS / f"{folder.name}.csv"
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
    checked = validate(cfg, path)
    took = time.perf_counter() - started
    return f"wrote {path.relative_to(cfg.root)} ({len(frame):,} rows, run {folder.name}) in {took:.0f} s; {checked}"


def other_frame(sample, ids: list[str], output, tags: list[str], threshold: float):
    """Regression: numbers on the target's scale (whole numbers where the sample has them). Multi-label:
    the tags at or above the run's threshold, space-separated (at least the likeliest one)."""
    import numpy as np
    import pandas as pd

    column = sample.columns[1]
    frame = pd.DataFrame({sample.columns[0]: ids})
    if not tags:
        numbers = _numbers(sample[column])
        whole = numbers is not None and bool((numbers % 1 == 0).all()) and "." not in "".join(sample[column].head())
        frame[column] = np.rint(output).astype(int) if whole else np.round(output, 6)
        return frame
    chosen = [[t for t, p in zip(tags, row, strict=True) if p >= threshold] or [tags[row.argmax()]] for row in output]
    frame[column] = [" ".join(row) for row in chosen]
    return frame


def submission_frame(sample, ids: list[str], preds, vocab: list):
    """Predictions in the sample submission's exact columns: one label column, one probability
    column (binary), or one probability column per class."""
    import numpy as np
    import pandas as pd

    columns = list(sample.columns)
    names = [str(v) for v in vocab]
    preds = np.asarray(preds, dtype=np.float64)  # float32 would write 0.10000000149
    frame = pd.DataFrame({columns[0]: ids})
    if len(columns) > 2 or (len(columns) == 2 and columns[1] in names and len(names) > 2):
        missing = [c for c in columns[1:] if c not in names]
        if missing:
            raise ProjectError(
                f"the sample submission has columns the model does not know, e.g. {missing[0]!r} "
                "(train on labels that match them)"
            )
        for column in columns[1:]:
            frame[column] = np.round(preds[:, names.index(column)], 6)
        return frame
    if len(columns) != 2:
        raise ProjectError(f"the sample submission has {len(columns)} column: expected an id and a prediction column")
    numbers = _numbers(sample[columns[1]])
    if numbers is not None and ((numbers % 1) != 0).any() and len(names) == 2:
        positive = names.index("1") if "1" in names else 1
        if names[positive] != "1":
            print(f"{columns[1]}: the sample asks for a probability: writing P({names[positive]})", flush=True)
        frame[columns[1]] = np.round(preds[:, positive], 6)
        return frame
    predicted = preds.argmax(1)
    if numbers is not None and _numbers(pd.Series(names)) is None:  # dogs-vs-cats: 0 = cat, 1 = dog
        print(
            f"{columns[1]}: the sample holds numbers: writing " + ", ".join(f"{i} for {n}" for i, n in enumerate(names))
        )
        frame[columns[1]] = predicted
        return frame
    frame[columns[1]] = [vocab[i] for i in predicted]
    return frame


def _numbers(values):
    """The first values as numbers, or None when they are not all numbers."""
    import pandas as pd

    numbers = pd.to_numeric(values.head(100), errors="coerce")
    return numbers if len(numbers) and numbers.notna().all() else None
