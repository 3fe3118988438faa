"""make smoke: the whole path offline in about a minute, away from your data and runs.

It builds a scratch project in a temp folder (a copy of your config.toml), writes tiny data
in a real layout, then detects it, trains briefly, predicts and checks the result. Which
data: a tabular project (config.toml's data.layout = "tabular") gets a table scikit-learn
ships, in a tabular competition's shape (id, measurements, a text category, a few empty
cells, the target; train.csv, test.csv, sample_submission.csv): breast cancer diagnoses,
or diabetes progression when data.task is regression. Any other project gets
scikit-learn's bundled digits in its kind's image layout (Kaggle: digit-recognizer's pixel
CSVs with sample_submission.csv; paper: class folders with a labelled test split), trained
through your vision recipe with the smoke's own settings (ARCH, SIZE, EPOCHS, BS, LR below:
a small ResNet from random weights, so nothing is downloaded, above 0.90 valid accuracy in
under a minute on 2 cores). `make smoke SMOKE=table` (or images) picks the other path.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from . import train
from .kit import config, layouts, metrics, runs, weights
from .kit.errors import ProjectError

# The images' settings: timm's resnet10t has half resnet18's weights, so a CPU step costs half (at 28 px the
# optimiser step, not the convolutions, is most of it); the digits' own size; 4 epochs from random weights
ARCH, SIZE, EPOCHS, BS, LR = "resnet10t", 28, 3, 32, 1e-2
TEST_SHARE = 0.2
PATHS = ("auto", "images", "table")  # what `--data` (make smoke SMOKE=...) takes


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


def table(task: str = "classification"):
    """(what it is, the frame): breast cancer diagnoses (569 rows, 30 measurements, M or B), or diabetes
    progression (442 rows, 10 measurements, a number) for regression, in a competition's shape."""
    from sklearn import datasets

    if task == "regression":
        bunch = datasets.load_diabetes(as_frame=True)
        return "diabetes progression", competition_table(bunch.data, "progression", bunch.target.to_numpy())
    bunch = datasets.load_breast_cancer(as_frame=True)
    diagnosis = bunch.target.map({0: "M", 1: "B"}).to_numpy()  # as Kaggle's copy of the data writes it
    return "breast cancer measurements", competition_table(bunch.data, "diagnosis", diagnosis)


def competition_table(features, target: str, ys, seed: int = 0):
    """Numeric features as a Kaggle table: rows shuffled, an `id` first, a text category (the first column's
    tercile: low, mid, high), an empty cell in every 20th row of the second column, the target last."""
    import numpy as np
    import pandas as pd

    frame = features.rename(columns=lambda c: str(c).replace(" ", "_")).reset_index(drop=True)
    first, second = frame.columns[:2]
    frame[f"{first}_band"] = pd.qcut(frame[first], 3, labels=["low", "mid", "high"]).astype(str)
    frame.loc[frame.index % 20 == 0, second] = np.nan
    frame[target] = ys
    frame = frame.iloc[np.random.default_rng(seed).permutation(len(frame))].reset_index(drop=True)
    frame.insert(0, "id", np.arange(1, len(frame) + 1))
    return frame


def write_table(raw: Path, frame) -> None:
    """A tabular competition's files: train.csv, test.csv (without the target, the last column) and
    sample_submission.csv (each test id with the target's most common value)."""
    raw.mkdir(parents=True, exist_ok=True)
    n_test, target = int(len(frame) * TEST_SHARE), frame.columns[-1]
    frame.iloc[n_test:].to_csv(raw / "train.csv", index=False)
    frame.iloc[:n_test].drop(columns=target).to_csv(raw / "test.csv", index=False)
    sample = frame.iloc[:n_test][["id"]].assign(**{target: frame[target].mode()[0]})
    sample.to_csv(raw / "sample_submission.csv", index=False)


def smoke(cfg, predict, data: str = "auto") -> str:
    """Build, train, predict (the kind's own `predict(cfg)`) and check in a scratch copy of this project;
    return one line. `data`: images, table, or auto (this project's: a table when data.layout says so)."""
    tabular = _tabular(cfg, data)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="smoke-") as scratch, weights.hub_offline():
        root = Path(scratch)
        scfg = _scratch_project(cfg, root)
        if tabular:
            name, frame = table(cfg.data.task)
            write_table(scfg.raw, frame)
            used = f"{len(frame):,} rows of {name}"
        else:
            images, labels = digits()
            WRITERS[cfg.kind](scfg.raw, images, labels)
            used = f"{len(images):,} digits"
        print(f"smoke: {layouts.write_to_config(scfg, layouts.detect(scfg.raw))}", flush=True)
        scfg = config.load(root / config.CONFIG_FILE)
        if tabular:
            scfg = scfg.override("model", epochs=0, bs=min(cfg.model.bs, BS), tta=False)  # model.lr, or the recipe's
        else:
            settings = {"arch": ARCH, "pretrained": False, "size": SIZE, "epochs": EPOCHS, "bs": BS, "lr": LR}
            scfg = scfg.override("model", tta=False, **settings)
        print(_scratch(train.train(scfg)), flush=True)
        print(_scratch(predict(scfg)), flush=True)
        run = runs.latest(scfg)
        scores = runs.read_metrics(run)
        what = _check(scfg, run, scores, tabular)
    took = time.perf_counter() - started
    model = "tabular_learner" if tabular else f"{ARCH} from random weights at {SIZE} px, {EPOCHS + 1} epochs, lr {LR:g}"
    return (
        f"smoke: passed in {took:.0f} s, offline: {used} in the {scfg.data.layout} layout, {model}, "
        f"valid {metrics.resolve(scfg.cv.metric, scfg.data.task)} {scores['score']:.2f}, {what}; "
        "your data and runs untouched"
    )


def _scratch(line: str) -> str:
    """A train or predict line of the scratch project: what it wrote goes when smoke ends; no next step."""
    return f"smoke, in a scratch folder removed at the end: {line.replace(' (next: make predict)', '')}"


def _scratch_project(cfg, root: Path):
    """A copy of config.toml whose [data] points at the scratch folder and says "detect"."""
    path = root / config.CONFIG_FILE
    shutil.copy(cfg.root / config.CONFIG_FILE, path)
    config.set_value(path, "data", "raw", "data/raw")
    for key in layouts.KEYS:
        if getattr(config.load(path).data, key) != layouts.default(key):
            config.set_value(path, "data", key, layouts.default(key))
    return config.load(path)


def _tabular(cfg, data: str) -> bool:
    """Whether smoke runs the table path: asked for, or (auto) this project's data.layout is tabular."""
    if data not in PATHS:
        raise ProjectError(f"smoke: no {data!r} data (SMOKE= takes {', '.join(PATHS)})")
    tabular = data == "table" or (data == "auto" and cfg.data.layout == "tabular")
    if tabular and cfg.kind != "kaggle":
        raise ProjectError("smoke: a paper project trains on images only (run `make smoke SMOKE=images`)")
    if data == "auto" and cfg.kind == "kaggle" and cfg.data.layout == "auto":
        print("smoke: images (data.layout is auto until `make data`; a table competition: make smoke SMOKE=table)")
    return tabular


def _check(cfg, run: Path, scores: dict, tabular: bool) -> str:
    """The run folder's plots and the kind's output (a validated submission, or test metrics) are there."""
    wanted = ["metrics.csv", "loss.png", "importance.png" if tabular else "top_losses.png"]
    wanted.append("confusion.png" if cfg.data.task == "classification" else "predicted.png")
    missing = [name for name in wanted if not (run / name).is_file()]
    if missing:
        raise ProjectError(f"smoke: the run folder lacks {', '.join(missing)} (a bug: please report it)")
    if cfg.kind == "kaggle":
        submission = cfg.root / "submissions" / f"{run.name}.csv"
        if not submission.is_file():
            raise ProjectError(f"smoke: predict wrote no {submission.name} (a bug: please report it)")
        return "submission validated"
    if "test_accuracy" not in scores:
        raise ProjectError("smoke: predict wrote no test metrics (a bug: please report it)")
    return f"test accuracy {scores['test_accuracy']:.2f}"
