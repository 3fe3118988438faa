"""The vision recipe: one label per image. This file is yours: change it to change the model.

Everything that makes the model is here, in the order fastai's lesson 1 does it:
the data (a DataBlock with presizing and batched augmentations), the architecture
and its pretrained weights, the loss and the metrics, and the fit schedule.
`make train`, `make cv`, `make predict`, `make smoke` and the Kaggle kernel all call
these three functions; settings come from config.toml's [model] table. After an
edit, `make test` runs tests/test_recipe.py: a few batches on tiny data, in seconds.
"""

from __future__ import annotations

import math

PRESIZE = 1.15  # items are resized to 115% of the training size, then cropped and augmented in batches
METRICS = ("accuracy", "error_rate")  # what each epoch reports; the first is the run's headline score


def dataloaders(cfg, items: list, device: str, workers: int, valid: list[int] | None = None):
    """(image, label) items -> DataLoaders. `valid`: positions of the validation items (a fold of
    data/folds.csv), else a random model.valid_pct of them."""
    from fastai.vision.all import (
        CategoryBlock,
        DataBlock,
        ImageBlock,
        IndexSplitter,
        ItemGetter,
        Normalize,
        RandomSplitter,
        Resize,
        aug_transforms,
        imagenet_stats,
    )

    model = cfg.model
    # pixel CSVs hold small centred glyphs: a mirrored 2 is no 2, and a crop to 75% cuts strokes away
    glyphs = cfg.data.layout == "pixel-csv"
    labels = [label for _, label in items]
    vocab = sorted(set(labels)) if valid is not None else None  # every fold's model knows every class: averageable
    block = DataBlock(
        blocks=(ImageBlock, CategoryBlock(vocab=vocab)),
        get_x=ItemGetter(0),
        get_y=ItemGetter(1),
        splitter=IndexSplitter(valid) if valid is not None else RandomSplitter(model.valid_pct, seed=cfg.gpu.seed),
        item_tfms=Resize(max(model.size, math.ceil(model.size * PRESIZE))),
        batch_tfms=[
            *aug_transforms(size=model.size, min_scale=1.0 if glyphs else 0.75, do_flip=not glyphs),
            Normalize.from_stats(*imagenet_stats),  # also with random init: the same inputs either way
        ],
    )
    return block.dataloaders(items, bs=model.bs, num_workers=workers, device=device)


def learner(dls, arch, pretrained: bool):
    """The model: `arch` (a torchvision function or a timm name) with a new head for these classes."""
    from fastai.vision.all import CrossEntropyLossFlat, accuracy, error_rate, vision_learner

    return vision_learner(
        dls,
        arch,
        pretrained=pretrained,
        loss_func=CrossEntropyLossFlat(),
        metrics=[accuracy, error_rate],
        model_dir=".",
    )


def fit(learn, cfg, pretrained: bool, lr: float, cbs: list) -> None:
    """The schedule: fine_tune (one epoch of the new head, then everything) from pretrained weights."""
    epochs = cfg.model.epochs
    if pretrained and epochs > 0:
        learn.fine_tune(epochs, base_lr=lr, freeze_epochs=1, cbs=cbs)
    elif pretrained:  # epochs = 0: one epoch of the new head only
        learn.fit_one_cycle(1, lr, cbs=cbs)
    else:  # random init: nothing worth freezing; every layer for as many epochs as fine_tune would run
        learn.fit_one_cycle(epochs + 1, lr, cbs=cbs)
