"""Tiny image sets in the real layouts of Kaggle competitions and fastai's datasets, built from
scikit-learn's bundled digits, and a seeded torchvision weights cache, so tests run offline.

Each builder writes the files the real dataset has (names, columns, folders) and returns the
[data] keys that `layouts.detect` should find, relative to the folder given.
"""

import hashlib
import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

# torchvision's exact cache file names (fastai asks for the DEFAULT weights: V2 for resnet50).
WEIGHT_FILES = {
    "resnet18": "resnet18-f37072fd.pth",
    "resnet34": "resnet34-b627a593.pth",
    "resnet50": "resnet50-11ad3fa6.pth",
}
BREEDS = ["affenpinscher", "beagle", "boxer", "chow", "dingo", "collie", "pug", "saluki", "vizsla", "whippet"]
PETS = [
    "Abyssinian",
    "great_pyrenees",
    "Bengal",
    "pug",
    "Sphynx",
    "beagle",
    "boxer",
    "havanese",
    "samoyed",
    "chihuahua",
]
CIFAR = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
# Port 9 refuses connections at once: a download attempt fails fast instead of reaching the internet.
NO_NETWORK = {"HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9", "NO_PROXY": "", "no_proxy": ""}


def digits(n=None, classes=10, seed=0):
    """n digits (28x28 uint8, MNIST-like) of the first `classes` classes, shuffled, and their labels."""
    from sklearn.datasets import load_digits

    bunch = load_digits(n_class=classes)
    order = np.random.default_rng(seed).permutation(len(bunch.target))[:n]
    small = np.clip(bunch.images[order] * 16, 0, 255).astype(np.uint8)
    big = np.pad(np.kron(small, np.ones((1, 3, 3), dtype=np.uint8)), ((0, 0), (2, 2), (2, 2)))
    return big, bunch.target[order]


def save(path, image):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).convert("RGB").save(path)


def hex_id(i):
    return hashlib.md5(str(i).encode()).hexdigest()


def _split(n, test):
    images, labels = digits(n + test)
    return (images[test:], labels[test:]), (images[:test], labels[:test])


def digit_recognizer(raw, n=200, test=40):
    """train.csv (label, pixel0..pixel783), test.csv (pixels), sample_submission.csv (ImageId, Label)."""
    raw = Path(raw)
    raw.mkdir(parents=True, exist_ok=True)
    (train_x, train_y), (test_x, _) = _split(n, test)
    columns = [f"pixel{i}" for i in range(784)]
    frame = pd.DataFrame(train_x.reshape(len(train_x), -1), columns=columns)
    frame.insert(0, "label", train_y)
    frame.to_csv(raw / "train.csv", index=False)
    pd.DataFrame(test_x.reshape(len(test_x), -1), columns=columns).to_csv(raw / "test.csv", index=False)
    pd.DataFrame({"ImageId": range(1, test + 1), "Label": 0}).to_csv(raw / "sample_submission.csv", index=False)
    return {"layout": "pixel-csv", "train": "train.csv", "test": "test.csv", "sample": "sample_submission.csv"} | {
        "id_column": "",
        "label_column": "label",
        "image_folder": "",
        "image_suffix": "",
    }


def kannada_mnist(raw, n=60, test=20):
    """Like digit-recognizer, but test.csv starts with an `id` column (in shuffled order) and the sample is id,label."""
    raw = Path(raw)
    raw.mkdir(parents=True, exist_ok=True)
    (train_x, train_y), (test_x, _) = _split(n, test)
    columns = [f"pixel{i}" for i in range(784)]
    frame = pd.DataFrame(train_x.reshape(len(train_x), -1), columns=columns)
    frame.insert(0, "label", train_y)
    frame.to_csv(raw / "train.csv", index=False)
    tests = pd.DataFrame(test_x.reshape(len(test_x), -1), columns=columns)
    tests.insert(0, "id", range(test))
    tests.iloc[::-1].to_csv(raw / "test.csv", index=False)
    pd.DataFrame({"id": range(test), "label": 0}).to_csv(raw / "sample_submission.csv", index=False)
    return {"layout": "pixel-csv", "train": "train.csv", "test": "test.csv", "sample": "sample_submission.csv"} | {
        "id_column": "id",
        "label_column": "label",
        "image_folder": "",
        "image_suffix": "",
    }


def mnist_in_csv(raw, n=60, test=20):
    """Kaggle's mnist-in-csv dataset: mnist_train.csv / mnist_test.csv, columns label,1x1..28x28, no sample."""
    raw = Path(raw)
    raw.mkdir(parents=True, exist_ok=True)
    columns = [f"{r}x{c}" for r in range(1, 29) for c in range(1, 29)]
    for name, (x, y) in zip(("mnist_train.csv", "mnist_test.csv"), _split(n, test), strict=True):
        frame = pd.DataFrame(x.reshape(len(x), -1), columns=columns)
        frame.insert(0, "label", y)
        frame.to_csv(raw / name, index=False)
    return {"layout": "pixel-csv", "train": "mnist_train.csv", "test": "mnist_test.csv", "sample": ""} | {
        "id_column": "",
        "label_column": "label",
        "image_folder": "",
        "image_suffix": "",
    }


def dog_breed(raw, n=100, test=20):
    """dog-breed-identification: labels.csv (id,breed; ids without .jpg), train/<id>.jpg, test/<id>.jpg and a
    sample_submission.csv with one probability column per breed."""
    raw = Path(raw)
    (train_x, train_y), (test_x, _) = _split(n, test)
    ids = [hex_id(i) for i in range(n)]
    for i, image in zip(ids, train_x, strict=True):
        save(raw / "train" / f"{i}.jpg", image)
    pd.DataFrame({"id": ids, "breed": [BREEDS[y] for y in train_y]}).to_csv(raw / "labels.csv", index=False)
    test_ids = [hex_id(-i - 1) for i in range(test)]
    for i, image in zip(test_ids, test_x, strict=True):
        save(raw / "test" / f"{i}.jpg", image)
    sample = pd.DataFrame({"id": test_ids})
    for breed in sorted(BREEDS):
        sample[breed] = 1 / len(BREEDS)
    sample.to_csv(raw / "sample_submission.csv", index=False)
    return {"layout": "labels-csv", "train": "labels.csv", "test": "test", "sample": "sample_submission.csv"} | {
        "id_column": "id",
        "label_column": "breed",
        "image_folder": "train",
        "image_suffix": ".jpg",
    }


def aerial_cactus(raw, n=100, test=20):
    """aerial-cactus-identification: train.csv (id,has_cactus; ids WITH .jpg), train/, test/ and a
    sample_submission.csv of probabilities (0.5)."""
    raw = Path(raw)
    images, labels = digits(n + test, classes=2)
    ids = [f"{hex_id(i)}.jpg" for i in range(n + test)]
    for i, image in zip(ids[:n], images[:n], strict=True):
        save(raw / "train" / i, image)
    for i, image in zip(ids[n:], images[n:], strict=True):
        save(raw / "test" / i, image)
    pd.DataFrame({"id": ids[:n], "has_cactus": labels[:n]}).to_csv(raw / "train.csv", index=False)
    pd.DataFrame({"id": ids[n:], "has_cactus": 0.5}).to_csv(raw / "sample_submission.csv", index=False)
    return {"layout": "labels-csv", "train": "train.csv", "test": "test", "sample": "sample_submission.csv"} | {
        "id_column": "id",
        "label_column": "has_cactus",
        "image_folder": "train",
        "image_suffix": "",
    }


def plant_seedlings(raw, n=60, test=12):
    """plant-seedlings-classification: train/<species>/*.png, an unlabelled flat test/ and sample (file,species)."""
    raw = Path(raw)
    (train_x, train_y), (test_x, _) = _split(n, test)
    for i, (image, label) in enumerate(zip(train_x, train_y, strict=True)):
        save(raw / "train" / CIFAR[label] / f"{hex_id(i)[:9]}.png", image)
    names = [f"{hex_id(-i - 1)[:9]}.png" for i in range(test)]
    for name, image in zip(names, test_x, strict=True):
        save(raw / "test" / name, image)
    pd.DataFrame({"file": names, "species": "cat"}).to_csv(raw / "sample_submission.csv", index=False)
    return {"layout": "folder-per-class", "train": "train", "test": "test", "sample": "sample_submission.csv"} | {
        k: "" for k in ("id_column", "label_column", "image_folder", "image_suffix")
    }


def class_folders(raw, wrapper="", train="train", test="test", n=60, test_n=20, suffix=".png", names=CIFAR):
    """fastai's untar_data datasets: <wrapper>/<train>/<class>/*.png and a labelled <test>/<class>/ split
    (CIFAR: train/test, MNIST: training/testing, Imagenette: train/val)."""
    base = Path(raw) / wrapper if wrapper else Path(raw)
    (train_x, train_y), (test_x, test_y) = _split(n, test_n)
    for split, xs, ys in ((train, train_x, train_y), (test, test_x, test_y)):
        if not split:
            continue
        for i, (image, label) in enumerate(zip(xs, ys, strict=True)):
            save(base / split / names[label] / f"{split}_{i:05d}{suffix}", image)
    prefix = f"{wrapper}/" if wrapper else ""
    return {"layout": "folder-per-class", "train": f"{prefix}{train}", "test": f"{prefix}{test}" if test else ""} | {
        k: "" for k in ("sample", "id_column", "label_column", "image_folder", "image_suffix")
    }


def dogs_vs_cats(raw, n=80, test=20):
    """dogs-vs-cats: train/cat.0.jpg, train/dog.0.jpg, an unlabelled test1/1.jpg and sampleSubmission.csv (id,label)."""
    raw = Path(raw)
    images, labels = digits(n + test, classes=2)
    counts = {0: 0, 1: 0}
    for image, label in zip(images[:n], labels[:n], strict=True):
        save(raw / "train" / f"{('cat', 'dog')[label]}.{counts[label]}.jpg", image)
        counts[label] += 1
    for i, image in enumerate(images[n:], 1):
        save(raw / "test1" / f"{i}.jpg", image)
    pd.DataFrame({"id": range(1, test + 1), "label": 0}).to_csv(raw / "sampleSubmission.csv", index=False)
    return {"layout": "labels-in-names", "train": "train", "test": "test1", "sample": "sampleSubmission.csv"} | {
        k: "" for k in ("id_column", "label_column", "image_folder", "image_suffix")
    }


def oxford_pets(raw, n=80):
    """fastai's PETS: oxford-iiit-pet/images/Abyssinian_1.jpg, great_pyrenees_12.jpg... and annotations/trimaps."""
    base = Path(raw) / "oxford-iiit-pet"
    images, labels = digits(n, classes=4)
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        save(base / "images" / f"{PETS[label]}_{i + 1}.jpg", image)
        if i < 10:
            save(base / "annotations" / "trimaps" / f"{PETS[label]}_{i + 1}.png", image)
    (base / "annotations" / "list.txt").write_text("#Image CLASS-ID SPECIES BREED ID\n")
    return {"layout": "labels-in-names", "train": "oxford-iiit-pet/images", "test": ""} | {
        k: "" for k in ("sample", "id_column", "label_column", "image_folder", "image_suffix")
    }


# ---------------------------------------------------------------------------------- weights cache


def seed_weights(torch_home, archs=tuple(WEIGHT_FILES)):
    """$TORCH_HOME/hub/checkpoints/<torchvision's exact file name> holding a state dict saved here
    (seeded random weights: the loading path is real, the download is not needed)."""
    import torch
    import torchvision

    folder = Path(torch_home) / "hub" / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    for arch in archs:
        path = folder / WEIGHT_FILES[arch]
        if not path.exists():
            torch.manual_seed(0)
            torch.save(getattr(torchvision.models, arch)(weights=None).state_dict(), path)
    return Path(torch_home)


@contextmanager
def environment(**values):
    """Set environment variables for a block (module-scoped fixtures cannot use monkeypatch)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update({k: str(v) for k, v in values.items()})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def make_project(folder, builder, **model):
    """A scratch project: this bake's config.toml, tiny data in a real layout, [data] recorded."""
    import shutil

    from conftest import ROOT, module

    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "config.toml", folder / "config.toml")
    builder(folder / "data" / "raw")
    cfg = project_config(folder, **model)
    layouts = module("kit.layouts")
    layouts.record(cfg, layouts.detect(cfg.raw))
    return module("kit.config").load(folder / "config.toml")


def project_config(root, **model):
    """Point a scratch project's config.toml at data/raw with [data] on "auto" and the given [model] keys."""
    import tomllib

    from conftest import module

    config = module("kit.config")
    path = Path(root) / "config.toml"
    data = tomllib.loads(path.read_text())["data"]
    config.set_value(path, "data", "raw", "data/raw")
    for key in ("layout", "train", "test", "sample", "id_column", "label_column", "image_folder", "image_suffix"):
        if data.get(key, "auto" if key == "layout" else "") != ("auto" if key == "layout" else ""):
            config.set_value(path, "data", key, "auto" if key == "layout" else "")
    for key, value in model.items():
        config.set_value(path, "model", key, value)
    return config.load(path)
