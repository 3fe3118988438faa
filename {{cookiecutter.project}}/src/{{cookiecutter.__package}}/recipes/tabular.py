"""The tabular recipe: one row of a table to a class or a number. This file is yours: change it to change the model.

fastai's tabular_learner, as in its tabular lesson: TabularPandas fills missing numbers
(and marks them), turns categories into embeddings and normalises the continuous columns;
a small fully connected network learns from them with one-cycle training. Which columns
are features comes from kit/tabular.py (ids and free text left out, config.toml's [data]
exclude); the target arrives already on the scale it trains on (log1p for prices).
`make test` runs tests/test_recipe.py after an edit: a few batches on tiny data, in seconds.
"""

from __future__ import annotations

LAYERS = [200, 100]  # hidden layer sizes: fastai's default, enough for most Kaggle tables
EPOCHS = 4  # one-cycle epochs per model.epochs: tables are small, an epoch is seconds
LR = 1e-2  # fastai's tabular lesson rate: taken when lr_find does not run (model.lr = 0 on a short run)


def dataloaders(cfg, table, task: str, device: str, workers: int, valid: list[int] | None = None):
    """A Table (kit/tabular.py) -> DataLoaders. `valid`: positions of the validation rows (a fold of
    data/folds.csv), else a random model.valid_pct of them."""
    import torch
    from fastai.tabular.all import (
        Categorify,
        CategoryBlock,
        FillMissing,
        Normalize,
        RandomSplitter,
        RegressionBlock,
        TabularPandas,
    )

    if device == "cpu":  # this network's matrices are too small to split: threads only wait on each other
        torch.set_num_threads(1)  # (2 threads on a busy 2-core CPU: fitting 13x slower, the same model)
    rows = range(len(table.frame))
    if valid is None:
        splits = RandomSplitter(cfg.model.valid_pct, seed=cfg.gpu.seed)(rows)
    else:
        chosen = set(valid)
        splits = ([i for i in rows if i not in chosen], list(valid))
    prepared = TabularPandas(
        table.frame,
        procs=[Categorify, FillMissing, Normalize],
        cat_names=table.cat,
        cont_names=table.cont,
        y_names=table.target,
        y_block=RegressionBlock() if task == "regression" else CategoryBlock(),
        splits=splits,
    )
    return prepared.dataloaders(bs=cfg.model.bs, num_workers=workers, device=device)


def learner(dls, cfg, task: str, pretrained: bool):
    """The model: embeddings for the categories, then LAYERS; no pretrained weights exist for tables."""
    from fastai.tabular.all import CrossEntropyLossFlat, MSELossFlat, accuracy, error_rate, rmse, tabular_learner

    if task == "regression":  # outputs squashed into the targets' range (a little wider): fastai's y_range
        ys = dls.train_ds.ys.iloc[:, 0]
        y_range = (ys.min() - 0.05 * (ys.max() - ys.min()), ys.max() + 0.05 * (ys.max() - ys.min()))
        return tabular_learner(
            dls, layers=LAYERS, y_range=y_range, loss_func=MSELossFlat(), metrics=[rmse], model_dir="."
        )
    metrics = [accuracy, error_rate]
    return tabular_learner(dls, layers=LAYERS, loss_func=CrossEntropyLossFlat(), metrics=metrics, model_dir=".")


def epochs(cfg, pretrained: bool) -> int:
    """The epochs fit() runs: EPOCHS per model.epochs (at least one)."""
    return EPOCHS * max(cfg.model.epochs, 1)


def fit(learn, cfg, pretrained: bool, lr: float, cbs: list) -> None:
    """The schedule: one cycle over epochs()."""
    print(f"fit: {epochs(cfg, pretrained)} epochs ({EPOCHS} per model.epochs)", flush=True)
    learn.fit_one_cycle(epochs(cfg, pretrained), lr, cbs=cbs)
