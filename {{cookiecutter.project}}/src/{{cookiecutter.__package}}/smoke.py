"""make smoke: the whole path offline in about a minute, away from your data and runs.

It builds a scratch project in a temp folder (a copy of your config.toml), writes a
tiny dataset from scikit-learn's bundled digits in this kind's real layout (Kaggle:
digit-recognizer's pixel CSVs with sample_submission.csv; paper: class folders with a
labelled test split), then detects it, trains one short epoch at a small size,
predicts and checks the result. ImageNet weights come from the local cache; without
them it says so in one line and starts from random weights.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import time
from pathlib import Path

from . import train
from .kit import config, layouts, runs, weights
from .kit.errors import ProjectError

SIZE = 32  # pixels: enough for 8x8 digits, small enough for a CPU
TEST_SHARE = 0.2
LR = 3e-3  # fixed: lr_find's 100 steps would cost more than the epoch itself
BS = 32  # 45 steps per epoch: enough for random weights to learn something in one epoch


def digits():
    """sklearn's 1,797 8x8 digits as 28x28 uint8 images (3x upscale, 2 px border, like MNIST)."""
    import numpy as np
    from sklearn.datasets import load_digits

    bunch = load_digits()
    small = np.clip(bunch.images * 16, 0, 255).astype(np.uint8)
    big = np.kron(small, np.ones((1, 3, 3), dtype=np.uint8))
    return np.pad(big, ((0, 0), (2, 2), (2, 2))), bunch.target


def write_pixel_csv(raw: Path, images, labels) -> None:
    """digit-recognizer's files: train.csv (label, pixel0..), test.csv (pixels), sample_submission.csv."""
    import numpy as np
    import pandas as pd

    raw.mkdir(parents=True, exist_ok=True)
    n_test = int(len(images) * TEST_SHARE)
    flat = images.reshape(len(images), -1)
    columns = [f"pixel{i}" for i in range(flat.shape[1])]
    train = pd.DataFrame(flat[n_test:], columns=columns)
    train.insert(0, "label", labels[n_test:])
    train.to_csv(raw / "train.csv", index=False)
    pd.DataFrame(flat[:n_test], columns=columns).to_csv(raw / "test.csv", index=False)
    sample = pd.DataFrame({"ImageId": np.arange(1, n_test + 1), "Label": 0})
    sample.to_csv(raw / "sample_submission.csv", index=False)


def write_class_folders(raw: Path, images, labels) -> None:
    """CIFAR/MNIST-style folders: train/<class>/*.png and a labelled test/<class>/*.png."""
    from PIL import Image

    n_test = int(len(images) * TEST_SHARE)
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        folder = raw / ("test" if i < n_test else "train") / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{i:05d}.png")


WRITERS = {"kaggle": write_pixel_csv, "paper": write_class_folders}


def smoke(cfg, predict) -> str:
    """Build, train, predict (the kind's own `predict(cfg)`) and check in a scratch copy of this project;
    return one line."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="smoke-") as scratch, weights.hub_offline():
        root = Path(scratch)
        scfg = _scratch_project(cfg, root)
        images, labels = digits()
        WRITERS[cfg.kind](scfg.raw, images, labels)
        print(f"smoke: {layouts.save(scfg, layouts.detect(scfg.raw))}", flush=True)
        scfg = config.load(root / config.CONFIG_FILE)
        scfg = scfg.override("model", epochs=0, size=SIZE, bs=min(cfg.model.bs, BS), lr=cfg.model.lr or LR, tta=False)
        scfg = _weights(scfg)
        trained = train.train(scfg, allow_random=True)
        print(trained, flush=True)
        predicted = predict(scfg)
        print(predicted, flush=True)
        run = runs.latest(scfg)
        metrics = runs.read_metrics(run)
        what = _check(scfg, run, metrics)
        missing = [
            name
            for name in ("loss.png", "confusion.png", "top_losses.png", "metrics.csv")
            if not (run / name).is_file()
        ]
        if missing:
            raise ProjectError(f"smoke: the run folder lacks {', '.join(missing)} (a bug: please report it)")
    took = time.perf_counter() - started
    random = "" if scfg.model.pretrained else " (random init: one epoch says little)"
    return (
        f"smoke: passed in {took:.0f} s, offline: {len(images):,} digits in the {scfg.data.layout} layout, "
        f"{scfg.model.arch} at {SIZE} px, valid accuracy {metrics['accuracy']:.2f}{random}, {what}; "
        "your data and runs untouched"
    )


def _scratch_project(cfg, root: Path):
    """A copy of config.toml whose [data] points at the scratch folder and says "detect"."""
    path = root / config.CONFIG_FILE
    shutil.copy(cfg.root / config.CONFIG_FILE, path)
    config.set_value(path, "data", "raw", "data/raw")
    for key in layouts.KEYS:
        if getattr(config.load(path).data, key) != layouts.default(key):
            config.set_value(path, "data", key, layouts.default(key))
    return config.load(path)


def _weights(cfg):
    """Cached ImageNet weights, or random init with one line saying why (smoke never downloads)."""
    arch = cfg.model.arch
    name = weights.weights_file(arch)
    if not cfg.model.pretrained or name is None:  # timm: HF_HUB_OFFLINE makes a missing cache fail fast
        return cfg
    if weights.cached(arch) is None:
        print(f"weights: {name} is not in {weights.cache()} (smoke runs offline): random init", flush=True)
        return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, pretrained=False))
    return cfg


def _check(cfg, run: Path, metrics: dict) -> str:
    if cfg.kind == "kaggle":
        submission = cfg.root / "submissions" / f"{run.name}.csv"
        if not submission.is_file():
            raise ProjectError(f"smoke: predict wrote no {submission.name} (a bug: please report it)")
        return "submission validated"
    if "test_accuracy" not in metrics:
        raise ProjectError("smoke: predict wrote no test metrics (a bug: please report it)")
    return f"test accuracy {metrics['test_accuracy']:.2f}"
