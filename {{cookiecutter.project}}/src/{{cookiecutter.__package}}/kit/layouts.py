"""What the files in data/raw are: find the layout and the task, save them in config.toml, list the images.

Five layouts cover image competitions, tabular ones and fastai's datasets:

- pixel-csv        one row per image, a label column and pixel0..pixelN (digit-recognizer)
- labels-csv       a CSV of image id + label beside a folder of images (dog-breed-identification,
                   aerial-cactus-identification, planet's tags, petfinder's scores; ids with or without
                   the file extension)
- tabular          train.csv, test.csv (train's columns less the target) and a sample (titanic,
                   house-prices, the playground series); see tabular.py
- folder-per-class train/<class>/*.png (CIFAR, MNIST, Imagenette, plant-seedlings)
- labels-in-names  the label starts the file name: cat.0.jpg, great_pyrenees_12.jpg (dogs-vs-cats, pets)

`detect` only reads, and guesses the task from the labels (targets.py); `write_to_config` writes what
it found into config.toml's [data] table, never over a value you set; the loaders turn
[data] into images and labels.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path

from . import tabular, targets
from .config import CONFIG_FILE, set_value
from .errors import ProjectError, hint

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")
PLACES = ("layout", "train", "test", "sample", "id_column", "label_column", "image_folder", "image_suffix")
KEYS = (*PLACES, "task", "target_transform", "exclude")  # what make data records in [data]
DEFAULTS = {"layout": "auto", "task": "auto", "target_transform": "auto", "exclude": []}  # any other key: ""
# Folder names, in order of preference, that say which split a folder holds.
TRAIN_NAMES = ("train", "training", "train_images", "trn", "images")
TEST_NAMES = ("test", "testing", "test_images", "test1", "val", "valid", "validation")
LABEL_NAMES = ("label", "labels", "class", "target", "category", "breed", "species", "diagnosis", "digit", "y")
IGNORED = ("__MACOSX", ".ipynb_checkpoints")
PIXEL_COLUMN = re.compile(r"(pixel|px|p)?_?\d+(x\d+)?", re.I)  # pixel0, pixel783, 1x1, 28x28
NAME_LABEL = re.compile(r"(.*[A-Za-z].*?)[._\- ]?\d+")  # cat.0 -> cat, great_pyrenees_12 -> great_pyrenees
PROBES = 20  # ids checked against the image folders when guessing a labels CSV


def default(key: str):
    return DEFAULTS.get(key, "")


# ----------------------------------------------------------------------------------------- detect


def detect(raw: Path, metric: str = "auto") -> dict:
    """The [data] keys that describe the files under `raw` (paths relative to it), with the task its labels
    ask for (`metric`: the competition's, where known, settles regression vs classification)."""
    raw = Path(raw)
    if not raw.is_dir() or not any(raw.iterdir()):
        raise ProjectError(f"no data in {raw} (run `make data`, or put the files there)")
    root = _descend(raw)
    csvs = sorted(p for p in root.glob("*.csv") if p.is_file())
    samples = [p for p in csvs if "sample" in p.name.lower() or "submission" in p.name.lower()]
    sample = samples[0] if samples else None
    tables = [p for p in csvs if p not in samples]
    for finder in (_pixel_csv, _labels_csv, _tabular, _folder_per_class, _labels_in_names):
        found = finder(root, tables, sample)
        if found:
            found = {**{key: found.get(key, default(key)) for key in KEYS}, **_target(found, metric)}
            for key in ("train", "test", "sample", "image_folder"):
                if isinstance(found[key], Path):
                    found[key] = found[key].relative_to(raw).as_posix() or "."
            return found
    seen = ", ".join(sorted(p.name + ("/" if p.is_dir() else "") for p in root.iterdir() if not _hidden(p))[:8])
    raise ProjectError(
        f"cannot tell the layout of {raw} (found {seen}): set data.layout, data.train and data.test "
        "in config.toml (see the comments there)"
    )


def write_to_config(cfg, found: dict, metric: str = "") -> str:
    """Write what `detect` found into config.toml, and `metric` (the competition's) as [cv] metric;
    a key you set (not "auto"/"") is kept."""
    path = cfg.root / CONFIG_FILE
    kept = []
    if metric and cfg.cv.metric == "auto":
        set_value(path, "cv", "metric", metric)
    for key in KEYS:
        current, value = getattr(cfg.data, key), found.get(key, default(key))
        if current != default(key):
            if current != value:
                kept.append(key)
            continue
        if value != current:
            set_value(path, "data", key, value)
    scored = f", scored in {metric}" if metric else ""
    kept = f"; kept your data.{', data.'.join(kept)}" if kept else ""
    return f"{describe(found)}{scored}{kept} (in {CONFIG_FILE})"


def with_detected(cfg):
    """cfg with [data] filled from detection where config.toml still says "auto"/"" (nothing written)."""
    data = cfg.data
    if data.layout != "auto" and data.train:
        return cfg
    found = detect(cfg.raw, cfg.cv.metric)
    values = {k: v for k, v in found.items() if getattr(data, k) == default(k)}
    print(f"data: {describe(found)} (`make data` records it in config.toml)", flush=True)
    return dataclasses.replace(cfg, data=dataclasses.replace(data, **values))


def describe(found: dict) -> str:
    """One line: the layout and where its parts are."""
    parts = [f"train {found['train']}"]
    if found.get("label_column"):
        scale = ", trained on log1p" if found.get("target_transform") == "log1p" else ""
        parts[0] += f" (label: {found['label_column']}, {found.get('task') or 'classification'}{scale})"
    if found.get("image_folder"):
        parts.append(
            f"images in {found['image_folder']}/" + (f" + {found['image_suffix']}" if found["image_suffix"] else "")
        )
    parts.append(f"test {found['test']}" if found.get("test") else "no test split")
    if found.get("sample"):
        parts.append(f"sample {found['sample']}")
    if found.get("exclude"):
        parts.append(f"left out of the features: {', '.join(found['exclude'])}")
    return f"layout {found['layout']}: " + ", ".join(parts)


def _descend(root: Path) -> Path:
    """Archives often wrap everything in one folder (cifar10/, oxford-iiit-pet/): look inside."""
    for _ in range(4):
        entries = [p for p in root.iterdir() if not _hidden(p)]
        if len(entries) == 1 and entries[0].is_dir():
            root = entries[0]
        else:
            break
    return root


def _hidden(path: Path) -> bool:
    """.download/, .manifest.json, __MACOSX/: bookkeeping, never data."""
    return path.name.startswith(".") or path.name in IGNORED


def _header(path: Path) -> list[str]:
    with open(path, encoding="utf-8", errors="replace") as handle:
        line = handle.readline()
    return [name.strip().strip('"') for name in line.rstrip("\r\n").split(",")]


def _pixel_columns(columns: list[str]) -> list[str]:
    return [c for c in columns if PIXEL_COLUMN.fullmatch(c)]


def _rank(name: str, names: tuple[str, ...]) -> int:
    """Position of a file or folder name among preferred names (lower is better)."""
    name = name.lower()
    words = re.split(r"[^a-z0-9]+", name)  # mnist_train.csv's stem has the word "train"
    for i, preferred in enumerate(names):
        if name.startswith(preferred) or preferred in words:
            return i
    return len(names)


def _label_of(columns: list[str]) -> str:
    for preferred in LABEL_NAMES:
        for column in columns:
            if column.lower() == preferred or column.lower().startswith(f"has_{preferred}"):
                return column
    has = [c for c in columns if c.lower().startswith("has_")]
    return has[0] if has else (columns[0] if len(columns) == 1 else "")


def _pixel_csv(root: Path, tables: list[Path], sample: Path | None) -> dict | None:
    pixel_tables = {}
    for path in tables:
        columns = _header(path)
        pixels = _pixel_columns(columns)
        if len(pixels) >= 64 and len(pixels) >= 0.9 * len(columns):
            pixel_tables[path] = [c for c in columns if c not in pixels]
    if not pixel_tables:
        return None
    labelled = {p: _label_of(rest) for p, rest in pixel_tables.items()}
    candidates = sorted((p for p in pixel_tables if labelled[p]), key=lambda p: (_rank(p.stem, TRAIN_NAMES), p.name))
    if not candidates:
        return None
    train = candidates[0]
    others = sorted((p for p in pixel_tables if p != train), key=lambda p: (_rank(p.stem, TEST_NAMES), p.name))
    test = others[0] if others else None
    ids = [c for c in pixel_tables.get(test, []) if c != labelled[train]]
    return {
        "layout": "pixel-csv",
        "train": train,
        "test": test or "",
        "sample": sample or "",
        "id_column": ids[0] if ids else "",
        "label_column": labelled[train],
    }


def _image_folders(root: Path, depth: int = 3) -> list[Path]:
    """Folders that hold image files directly, nearest first."""
    found, frontier = [], [root]
    for _ in range(depth + 1):
        following = []
        for folder in frontier:
            if any(_is_image(p) for p in _first(folder)):
                found.append(folder)
            following += sorted(p for p in folder.iterdir() if p.is_dir() and not _hidden(p))
        frontier = following
    return found


def _first(folder: Path, n: int = 50):
    """A few entries of a folder (folders of 100,000 images are common: never list them all to guess)."""
    for i, entry in enumerate(folder.iterdir()):
        if i >= n:
            return
        yield entry


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and path.is_file()


def _match_ids(ids: list[str], folders: list[Path]) -> tuple[Path, str] | None:
    """The folder (and extension to add) in which these ids name files."""
    if not ids:
        return None
    for folder in folders:
        suffixes = sorted({p.suffix for p in _first(folder) if _is_image(p)})
        for suffix in ("", *suffixes):
            hits = sum((folder / f"{i}{suffix}").is_file() for i in ids)
            if hits >= 0.9 * len(ids):
                return folder, suffix
    return None


def _labels_csv(root: Path, tables: list[Path], sample: Path | None) -> dict | None:
    import pandas as pd

    folders = _image_folders(root)
    if not folders:
        return None
    folders.sort(key=lambda f: (_rank(f.name, TRAIN_NAMES), len(f.parts)))
    for path in sorted(tables, key=lambda p: (_rank(p.stem, ("labels", *TRAIN_NAMES)), p.name)):
        frame = pd.read_csv(path, nrows=200, dtype=str, keep_default_na=False)
        if frame.shape[1] < 2:
            continue
        for column in frame.columns:
            match = _match_ids(list(frame[column][:PROBES]), folders)
            if not match:
                continue
            folder, suffix = match
            rest = [c for c in frame.columns if c != column]
            predicted = [c for c in (tabular.header(sample)[1:] if sample else []) if c in rest]
            label = (predicted or [_label_of(rest) or rest[0]])[0]  # the sample names what is predicted
            test = _test_folder(folder, folders, sample, suffix)
            return {
                "layout": "labels-csv",
                "train": path,
                "test": test or "",
                "sample": sample or "",
                "id_column": column,
                "label_column": label,
                "image_folder": folder,
                "image_suffix": suffix,
            }
    return None


def _tabular(root: Path, tables: list[Path], sample: Path | None) -> dict | None:
    trains = sorted(tables, key=lambda p: (_rank(p.stem, TRAIN_NAMES), p.name))
    tests = sorted(tables, key=lambda p: (_rank(p.stem, TEST_NAMES), p.name))
    return tabular.detect(trains, tests, sample)


def _target(found: dict, metric: str) -> dict:
    """task, target_transform and (tables) exclude: what the labels ask for, read from the training file."""
    if found["layout"] not in ("labels-csv", "tabular") or not found["label_column"]:
        return {"task": "classification", "target_transform": "none"}
    frame = tabular.read(found["train"], Path(found["train"]).name)
    values = frame[found["label_column"]]
    task = targets.guess(values, metric, tags=found["layout"] == "labels-csv")
    scale = targets.transform(values, metric) if task == "regression" else "none"
    guessed = {"task": task, "target_transform": scale}
    if found["layout"] == "tabular":
        guessed["exclude"] = tabular.left_out(frame, found["label_column"], found["id_column"])
    return guessed


def _test_folder(train: Path, folders: list[Path], sample: Path | None, suffix: str) -> Path | None:
    """The test images: the folder the sample submission's ids name, else a test-like name."""
    others = [f for f in folders if f != train and train not in f.parents]
    if sample:
        import pandas as pd

        ids = list(pd.read_csv(sample, nrows=PROBES, dtype=str, keep_default_na=False).iloc[:, 0])
        match = _match_ids(ids, others) or _match_ids([Path(i).stem for i in ids], others)
        if match:
            return match[0]
    named = sorted(
        (f for f in others if _rank(f.name, TEST_NAMES) < len(TEST_NAMES)), key=lambda f: _rank(f.name, TEST_NAMES)
    )
    return named[0] if named else None


def _class_folders(folder: Path) -> list[Path]:
    """Subfolders that each hold images: the classes, when there are two or more."""
    subs = [p for p in folder.iterdir() if p.is_dir() and not _hidden(p)]
    split_like = [p for p in subs if _rank(p.name, TRAIN_NAMES + TEST_NAMES) < len(TRAIN_NAMES + TEST_NAMES)]
    if len(split_like) * 2 >= len(subs):
        return []  # train/ and test/ are splits, not classes
    classes = [p for p in subs if any(_is_image(f) for f in _first(p))]
    return classes if len(classes) >= 2 and len(classes) * 2 >= len(subs) else []


def _folder_per_class(root: Path, tables: list[Path], sample: Path | None) -> dict | None:
    if _class_folders(root):
        return {"layout": "folder-per-class", "train": root, "sample": sample or ""}
    subs = sorted(p for p in root.iterdir() if p.is_dir() and not _hidden(p))
    labelled = [p for p in subs if _class_folders(p)]
    if not labelled:
        return None
    labelled.sort(key=lambda p: (_rank(p.name, TRAIN_NAMES), p.name))
    train = labelled[0]
    tests = sorted(
        (p for p in subs if p != train and _rank(p.name, TEST_NAMES) < len(TEST_NAMES)),
        key=lambda p: _rank(p.name, TEST_NAMES),
    )
    return {"layout": "folder-per-class", "train": train, "test": tests[0] if tests else "", "sample": sample or ""}


def label_from_name(path: Path) -> str | None:
    """cat.0.jpg -> cat; great_pyrenees_12.jpg -> great_pyrenees; 1234.jpg -> None."""
    match = NAME_LABEL.fullmatch(Path(path).stem)
    return match.group(1) if match else None


def _named_labels(folder: Path) -> bool:
    files = [p for p in _first(folder, 200) if _is_image(p)]
    labels = [label_from_name(p) for p in files]
    named = [label for label in labels if label]
    return len(files) >= 2 and len(named) >= 0.8 * len(files) and len(set(named)) >= 2


def _labels_in_names(root: Path, tables: list[Path], sample: Path | None) -> dict | None:
    folders = [f for f in _image_folders(root) if _named_labels(f)]
    if not folders:
        return None
    folders.sort(key=lambda f: (_rank(f.name, TRAIN_NAMES), len(f.parts)))
    train = folders[0]
    test = _test_folder(train, _image_folders(root), sample, "")
    return {"layout": "labels-in-names", "train": train, "test": test or "", "sample": sample or ""}


# ------------------------------------------------------------------------------------------ load


@dataclass
class Images:
    """Images with their labels (None: unlabelled) and, for a test split, the ids to write."""

    xs: list  # file Paths, or uint8 arrays (H, W, 3) for pixel-CSV
    labels: list | None
    ids: list[str] | None = None

    def __len__(self) -> int:
        return len(self.xs)


def pixels_to_images(pixels) -> object:
    """Rows of N*N grey pixels -> uint8 array (rows, N, N, 3) in one vectorised step (no loop per row)."""
    import numpy as np

    values = np.asarray(pixels)
    side = int(round(values.shape[1] ** 0.5))
    if side * side != values.shape[1]:
        raise ProjectError(f"{values.shape[1]} pixel columns do not make a square image (expected N*N columns)")
    if values.dtype.kind == "f" and np.isnan(values).any():  # astype(uint8) would make them silently black
        rows = int(np.isnan(values).any(axis=1).sum())
        raise ProjectError(f"{rows} rows have empty pixel values (fill them in or drop those rows)")
    if values.dtype.kind == "f" and values.size and values.max() <= 1.0:
        values = values * 255.0  # pixels stored as 0..1
    grey = np.clip(values, 0, 255).astype(np.uint8, copy=False).reshape(-1, side, side)
    return np.repeat(grey[..., None], 3, axis=-1)  # the pretrained ResNets expect 3 channels


def read_pixel_csv(path: Path, label_column: str = "") -> tuple[object, list | None, object]:
    """A pixel CSV -> (images, labels or None, the whole table without pixels)."""
    import pandas as pd

    frame = pd.read_csv(path)
    pixels = _pixel_columns(list(frame.columns))
    images = pixels_to_images(frame[pixels].to_numpy())
    rest = frame.drop(columns=pixels)
    labels = rest[label_column].tolist() if label_column and label_column in rest else None
    return images, labels, rest


def _require(cfg, key: str) -> Path:
    value = getattr(cfg.data, key)
    if not value:
        raise ProjectError(f"data.{key} is not set in config.toml (run `make data`, or set it)")
    path = cfg.raw / value
    if not path.exists():
        raise ProjectError(f"{path} is missing (run `make data`, or fix data.{key} in config.toml)")
    return path


def train_images(cfg) -> Images:
    """The labelled training images of config.toml's [data] layout."""
    data = cfg.data
    layout = data.layout
    if layout == "pixel-csv":
        images, labels, _ = read_pixel_csv(_require(cfg, "train"), data.label_column)
        if labels is None:
            raise ProjectError(f"{data.train} has no column {data.label_column!r} (fix data.label_column)")
        _all_labelled(data.train, data.label_column, labels)
        return Images(list(images), labels)
    if layout == "labels-csv":
        import pandas as pd

        frame = pd.read_csv(_require(cfg, "train"), dtype={data.id_column: str}, keep_default_na=False)
        for key in ("id_column", "label_column"):
            if getattr(data, key) not in frame:
                raise ProjectError(f"{data.train} has no column {getattr(data, key)!r} (fix data.{key})")
        folder = cfg.raw / data.image_folder
        paths = [folder / f"{i}{data.image_suffix}" for i in frame[data.id_column]]
        _check_exist(paths, "data.image_folder / data.image_suffix")
        _all_labelled(data.train, data.label_column, frame[data.label_column].tolist())
        return Images(paths, frame[data.label_column].tolist())
    if layout == "folder-per-class":
        folder = _require(cfg, "train")
        paths = _images_under(folder)
        return Images(paths, [p.relative_to(folder).parts[0] for p in paths])
    if layout == "labels-in-names":
        paths = _images_under(_require(cfg, "train"), recursive=False)
        labels = [label_from_name(p) for p in paths]
        kept = [(p, label) for p, label in zip(paths, labels, strict=True) if label]
        return Images([p for p, _ in kept], [label for _, label in kept])
    raise ProjectError("data.layout is still auto (run `make data`, or set data.layout in config.toml)")


def test_images(cfg, labelled: bool = False) -> Images:
    """The test split. With a sample submission: in its row order, with its ids. `labelled`:
    the labels too (paper kind: folder-per-class or names), or ProjectError when there are none."""
    data = cfg.data
    if not data.test:
        raise ProjectError("this data has no test split (set data.test in config.toml to a test CSV or folder)")
    path = _require(cfg, "test")
    sample_ids = _sample_ids(cfg) if data.sample and not labelled else None
    if data.layout == "pixel-csv":
        images, labels, rest = read_pixel_csv(path, data.label_column)
        images = list(images)
        if sample_ids is None:
            ids = rest[data.id_column].astype(str).tolist() if data.id_column in rest else None
            return Images(images, labels, ids or [str(i + 1) for i in range(len(images))])
        if data.id_column and data.id_column in rest:  # align by id, whatever the order
            where = {value: i for i, value in enumerate(rest[data.id_column].astype(str))}
            missing = [i for i in sample_ids if i not in where]
            if missing:
                raise ProjectError(f"{len(missing)} sample ids are not in {data.test}, e.g. {missing[0]}")
            images = [images[where[i]] for i in sample_ids]
        elif len(images) != len(sample_ids):
            raise ProjectError(f"{data.test} has {len(images)} rows but {data.sample} has {len(sample_ids)}")
        return Images(images, None, sample_ids)
    files = _images_under(path)
    if sample_ids is not None:
        index = {}
        for p in files:
            index.setdefault(p.name, p)
            index.setdefault(p.stem, p)
        paths = [index.get(i) or index.get(f"{i}{data.image_suffix}") for i in sample_ids]
        missing = [i for i, p in zip(sample_ids, paths, strict=True) if p is None]
        if missing:
            raise ProjectError(f"{len(missing)} sample ids have no image in {data.test}/, e.g. {missing[0]}")
        return Images(paths, None, sample_ids)
    labels = None
    if labelled:
        if data.layout == "folder-per-class" and files and len(files[0].relative_to(path).parts) > 1:
            labels = [p.relative_to(path).parts[0] for p in files]
        elif data.layout == "labels-in-names":
            labels = [label_from_name(p) for p in files]
            files = [p for p, label in zip(files, labels, strict=True) if label]
            labels = [label for label in labels if label]
        if not labels:
            raise ProjectError(f"{data.test}/ has no labels (a labelled test split needs class folders)")
    ids = [p.relative_to(path).as_posix() for p in files]
    return Images(files, labels, ids)


def _sample_ids(cfg) -> list[str]:
    import pandas as pd

    sample = pd.read_csv(_require(cfg, "sample"), dtype=str, keep_default_na=False)
    ids = sample.iloc[:, 0]
    repeated = ids[ids.duplicated()]
    if len(repeated):  # predictions for it could never be a valid submission
        raise ProjectError(
            f"{cfg.data.sample} repeats {sample.columns[0]} values, e.g. {list(repeated[:3])} "
            f"(it is damaged: {hint('data', force=True)} fetches it again)"
        )
    return ids.tolist()


def _images_under(folder: Path, recursive: bool = True) -> list[Path]:
    pattern = "**/*" if recursive else "*"
    paths = sorted(p for p in folder.glob(pattern) if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    paths = [
        p for p in paths if not any(part.startswith(".") or part in IGNORED for part in p.relative_to(folder).parts)
    ]
    if not paths:
        raise ProjectError(f"no images in {folder} (run `make data`, or fix config.toml's [data])")
    return paths


def _all_labelled(name: str, column: str, labels: list) -> None:
    """A row without a label would train as a class of its own ("nan"), and turn 3 into "3.0"."""
    empty = [i for i, label in enumerate(labels) if label is None or label == "" or label != label]  # NaN != NaN
    if empty:
        raise ProjectError(
            f"{name} has {len(empty)} rows without a {column}, e.g. line {empty[0] + 2} (fill them in or drop them)"
        )


def _check_exist(paths: list[Path], keys: str) -> None:
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise ProjectError(f"{len(missing)} of {len(paths)} images are missing, e.g. {missing[0]} (check {keys})")
