"""The training data of config.toml's [data], whatever its layout: images or a table, and what to predict.

Training, folds and cross-validation all read it through `load`: the items (image files or
arrays, or a table's row numbers), each item's label as the data writes it, the task those
labels ask for and the scale a numeric target trains on. `for_recipe` hands the recipe its
input with the target already on that scale.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from . import layouts, tabular, targets
from .errors import ProjectError


@dataclass
class Dataset:
    xs: list  # image Paths or uint8 arrays; for a table, its row numbers
    labels: list  # each item's target as the data writes it
    task: str  # classification | multi-label | regression
    transform: str  # none | log1p: the scale a regression target trains on
    table: tabular.Table | None = None  # the table itself (tabular layout)

    def __len__(self) -> int:
        return len(self.xs)


def load(cfg) -> Dataset:
    """The training items and labels, the task (data.task, guessed when "auto") and the target's scale."""
    data = cfg.data
    if data.layout == "tabular":
        table = tabular.training_table(cfg)
        xs, labels = list(range(len(table.frame))), table.frame[table.target].tolist()
    else:
        images = layouts.train_images(cfg)
        table, xs, labels = None, images.xs, images.labels
    import pandas as pd

    values = pd.Series(labels)
    task = data.task if data.task != "auto" else targets.guess(values, cfg.cv.metric, tags=data.layout == "labels-csv")
    transform = "none"
    if task == "regression":
        transform = data.target_transform
        if transform == "auto":
            transform = targets.transform(values, cfg.cv.metric)
        _numbers(values, data.label_column, transform)
    return Dataset(xs, labels, task, transform, table)


class Items(list):
    """(x, y) items whose repr is their count: fastai's DataBlock formats its source into a message even when
    it prints nothing, and that repr of 42,000 image arrays (a pixel CSV's) takes most of a minute."""

    def __repr__(self) -> str:
        return f"{len(self):,} items"


def for_recipe(dataset: Dataset):
    """What the recipe trains on: (x, y) items, or the Table; a numeric target as float on its training scale."""
    import numpy as np

    ys = dataset.labels
    if dataset.task == "regression":
        ys = np.asarray(ys, dtype=np.float64)
        ys = (np.log1p(ys) if dataset.transform == "log1p" else ys).tolist()
    if dataset.table is None:
        return Items(zip(dataset.xs, ys, strict=True))
    frame = dataset.table.frame.copy()
    frame[dataset.table.target] = ys
    return dataclasses.replace(dataset.table, frame=frame)


def inputs(dataset: Dataset, positions=None):
    """What a model predicts from for these items (all when None): image tuples, or the table's rows."""
    positions = range(len(dataset)) if positions is None else positions
    if dataset.table is None:
        return [(dataset.xs[i],) for i in positions]
    return dataset.table.frame.iloc[list(positions)]


def _numbers(values, column: str, transform: str) -> None:
    """A regression target must be numbers (and, trained on log1p, none at -1 or below)."""
    import pandas as pd

    numbers = pd.to_numeric(values, errors="coerce")
    if numbers.isna().any():
        bad = values[numbers.isna()].iloc[0]
        raise ProjectError(
            f'data.task = regression but {column} holds {bad!r} (set data.task = "classification", or fix the labels)'
        )
    if transform == "log1p" and (numbers <= -1).any():
        raise ProjectError(
            f"data.target_transform = log1p but {column} goes down to {numbers.min()} "
            '(log1p needs values above -1: set data.target_transform = "none")'
        )
