"""The vision recipe: images to one label, to tags, or to a number. This file is yours: change it to change the model.

Everything that makes the model is here, in the order fastai's lesson 1 does it:
the data (a DataBlock; presizing and batched augmentations once the fit is long enough), the architecture
and its pretrained weights, the loss and the metrics, and the fit schedule.
`make train`, `make cv`, `make predict`, `make smoke` and the Kaggle kernel all call
these three functions; settings come from config.toml's [model] table, the task
(classification, multi-label or regression) from [data] task. After an edit,
`make test` runs tests/test_recipe.py: a few batches on tiny data, in seconds.
"""

from __future__ import annotations

import math

from ..kit import weights

PRESIZE = 1.15  # with augmentation, items are resized to 115% of the training size, then cropped and augmented
# Fit epochs from which batches are augmented. Augmentation regularises: a shorter fit underfits, and there it
# only slows learning (on the bundled digits it cost 0.22, 0.06, 0.01 and 0.02 accuracy at 2, 4, 8 and 16).
AUGMENT_FROM = 20


def augments(cfg) -> bool:
    """Whether the fit is long enough for batch augmentations (crops, rotation, warp, lighting) to pay."""
    return epochs(cfg, pretrained=True) >= AUGMENT_FROM


def dataloaders(cfg, items: list, task: str, device: str, workers: int, valid: list[int] | None = None):
    """(image, target) items -> DataLoaders. `valid`: positions of the validation items (a fold of
    data/folds.csv), else a random model.valid_pct of them."""
    from fastai.vision.all import (
        CategoryBlock,
        ColReader,
        DataBlock,
        ImageBlock,
        IndexSplitter,
        ItemGetter,
        MultiCategoryBlock,
        Normalize,
        RandomSplitter,
        RegressionBlock,
        Resize,
        aug_transforms,
        imagenet_stats,
    )

    model = cfg.model
    resize, augment = Resize(model.size), []  # lesson 1's pipeline: each image resized once
    if augments(cfg):  # presizing: a little larger per item, then cropped and augmented per batch
        # pixel CSVs hold small centred glyphs: a mirrored 2 is no 2, and a crop to 75% cuts strokes away
        glyphs = cfg.data.layout == "pixel-csv"
        resize = Resize(max(model.size, math.ceil(model.size * PRESIZE)))
        augment = aug_transforms(size=model.size, min_scale=1.0 if glyphs else 0.75, do_flip=not glyphs)
    vocab = sorted({y for _, y in items}) if valid is not None and task == "classification" else None
    target = {  # every fold's model knows every class (vocab): their probabilities average
        "classification": (CategoryBlock(vocab=vocab), ItemGetter(1)),
        "multi-label": (MultiCategoryBlock, ColReader(1, label_delim=" ")),  # 'haze primary' -> two tags
        "regression": (RegressionBlock, ItemGetter(1)),  # already on the scale it trains on (log1p, say)
    }[task]
    block = DataBlock(
        blocks=(ImageBlock, target[0]),
        get_x=ItemGetter(0),
        get_y=target[1],
        splitter=IndexSplitter(valid) if valid is not None else RandomSplitter(model.valid_pct, seed=cfg.gpu.seed),
        item_tfms=resize,
        batch_tfms=[*augment, Normalize.from_stats(*imagenet_stats)],  # also with random init: the same inputs
    )
    return block.dataloaders(items, bs=model.bs, num_workers=workers, device=device)


def learner(dls, cfg, task: str, pretrained: bool):
    """The model: model.arch (a torchvision ResNet or any timm name) with a new head for this task."""
    from fastai.vision.all import (
        BCEWithLogitsLossFlat,
        CrossEntropyLossFlat,
        F1ScoreMulti,
        MSELossFlat,
        accuracy,
        accuracy_multi,
        error_rate,
        rmse,
        vision_learner,
    )

    loss, metrics = {
        "classification": (CrossEntropyLossFlat(), [accuracy, error_rate]),
        "multi-label": (BCEWithLogitsLossFlat(), [accuracy_multi, F1ScoreMulti(average="samples")]),
        "regression": (MSELossFlat(), [rmse]),
    }[task]
    extra = {}
    if task == "regression":  # outputs squashed into the targets' range (a little wider): fastai's y_range
        ys = [float(y) for _, y in dls.train.items]
        extra["y_range"] = (min(ys) - 0.05 * (max(ys) - min(ys)), max(ys) + 0.05 * (max(ys) - min(ys)))
    arch = weights.architecture(cfg.model.arch)
    return vision_learner(dls, arch, pretrained=pretrained, loss_func=loss, metrics=metrics, model_dir=".", **extra)


LR = 2e-3  # fine_tune's default rate: taken when lr_find does not run (model.lr = 0 on a short run)


def epochs(cfg, pretrained: bool) -> int:
    """The epochs fit() runs, fine_tune's frozen one included."""
    return cfg.model.epochs + 1


def fit(learn, cfg, pretrained: bool, lr: float, cbs: list) -> None:
    """The schedule: fine_tune (one epoch of the new head, then everything) from pretrained weights."""
    n = cfg.model.epochs
    batches = "augmented batches" if augments(cfg) else f"no augmentation (under AUGMENT_FROM = {AUGMENT_FROM} epochs)"
    if pretrained and n > 0:
        print(f"fit: 1 epoch with the pretrained layers frozen, then {n} of every layer; {batches}", flush=True)
        learn.fine_tune(n, base_lr=lr, freeze_epochs=1, cbs=cbs)
    elif pretrained:  # epochs = 0: one epoch of the new head only
        print(f"fit: 1 epoch of the new head, the pretrained layers frozen (model.epochs = 0); {batches}", flush=True)
        learn.fit_one_cycle(1, lr, cbs=cbs)
    else:  # random init: nothing worth freezing; every layer for as many epochs as fine_tune would run
        print(f"fit: {n + 1} epochs of every layer from random weights; {batches}", flush=True)
        learn.fit_one_cycle(n + 1, lr, cbs=cbs)
