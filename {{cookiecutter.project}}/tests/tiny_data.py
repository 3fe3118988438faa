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
    layouts.write_to_config(cfg, layouts.detect(cfg.raw))
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


# ---------------------------------------------------------------------------- the other tasks
# Each returns the [data] keys detect should find, with `task` (and, for tables, what is left out);
# the hidden truth of the test rows is written nowhere the project reads (tests score it themselves).


def titanic(raw, n=800, test=400, seed=0):
    """titanic: train.csv (PassengerId, Survived, Pclass, Name, Sex, Age with gaps, SibSp, Ticket, Fare,
    Cabin, Embarked), test.csv without Survived, gender_submission.csv (PassengerId, Survived 0/1).
    Survival follows sex, class and age, so a model can beat the gender model. Returns (keys, test truth)."""
    rng = np.random.default_rng(seed)
    total = n + test
    sex = rng.choice(["male", "female"], total, p=[0.64, 0.36])
    pclass = rng.choice([1, 2, 3], total, p=[0.24, 0.21, 0.55])
    age = np.round(rng.gamma(4, 7.5, total), 1)
    chance = np.where(sex == "female", np.where(pclass < 3, 0.95, 0.25), np.where(age < 12, 0.85, 0.12))
    chance = np.where((sex == "male") & (pclass == 1) & (age >= 12), 0.4, chance)
    survived = (rng.random(total) < chance).astype(int)
    age = np.where(rng.random(total) < 0.2, np.nan, age)
    frame = pd.DataFrame(
        {
            "PassengerId": np.arange(1, total + 1),
            "Survived": survived,
            "Pclass": pclass,
            "Name": [f"Passenger{i}, Mr. Person {i}" for i in range(total)],
            "Sex": sex,
            "Age": age,
            "SibSp": rng.integers(0, 4, total),
            "Ticket": [f"A/{rng.integers(10000, 99999)}" for _ in range(total)],
            "Fare": np.round(80 / pclass * rng.gamma(2, 0.5, total), 2),
            "Cabin": [f"C{i}" if rng.random() < 0.25 else None for i in range(total)],
            "Embarked": rng.choice(["S", "C", "Q"], total),
        }
    )
    raw = Path(raw)
    raw.mkdir(parents=True, exist_ok=True)
    frame.iloc[:n].to_csv(raw / "train.csv", index=False)
    frame.iloc[n:].drop(columns="Survived").to_csv(raw / "test.csv", index=False)
    ids = frame["PassengerId"].iloc[n:]
    pd.DataFrame({"PassengerId": ids, "Survived": (frame["Sex"].iloc[n:] == "female").astype(int)}).to_csv(
        raw / "gender_submission.csv", index=False
    )
    keys = {"layout": "tabular", "train": "train.csv", "test": "test.csv", "sample": "gender_submission.csv"}
    keys |= {"id_column": "PassengerId", "label_column": "Survived", "image_folder": "", "image_suffix": ""}
    keys |= {
        "task": "classification",
        "target_transform": "none",
        "exclude": ["PassengerId", "Name", "Ticket", "Cabin"],
    }
    return keys, frame.iloc[n:].reset_index(drop=True)


def house_prices(raw, n=800, test=200, seed=0):
    """house-prices: train.csv (Id, features, SalePrice: positive and skewed), test.csv, sample_submission.csv.
    Returns (keys, the test rows with their SalePrice)."""
    rng = np.random.default_rng(seed)
    total = n + test
    quality = rng.integers(1, 11, total)
    area = rng.gamma(9, 1100, total).round()
    built = rng.integers(1900, 2011, total)
    hood = rng.choice(["NAmes", "CollgCr", "OldTown", "Edwards", "Somerst"], total)
    premium = pd.Series(hood).map({"NAmes": 0.0, "CollgCr": 0.1, "OldTown": -0.15, "Edwards": -0.1, "Somerst": 0.2})
    log_price = 10.5 + 0.12 * quality + 0.00003 * area + 0.004 * (built - 1950) + premium.to_numpy()
    price = np.round(np.exp(log_price + rng.normal(0, 0.12, total)))
    frame = pd.DataFrame(
        {
            "Id": np.arange(1, total + 1),
            "LotArea": area,
            "OverallQual": quality,
            "YearBuilt": built,
            "Neighborhood": hood,
            "GarageCars": rng.integers(0, 4, total),
            "LotFrontage": np.where(rng.random(total) < 0.15, np.nan, rng.normal(70, 20, total).round()),
            "SalePrice": price.astype(int),
        }
    )
    raw = Path(raw)
    raw.mkdir(parents=True, exist_ok=True)
    frame.iloc[:n].to_csv(raw / "train.csv", index=False)
    frame.iloc[n:].drop(columns="SalePrice").to_csv(raw / "test.csv", index=False)
    pd.DataFrame({"Id": frame["Id"].iloc[n:], "SalePrice": 180000.0}).to_csv(raw / "sample_submission.csv", index=False)
    keys = {"layout": "tabular", "train": "train.csv", "test": "test.csv", "sample": "sample_submission.csv"}
    keys |= {"id_column": "Id", "label_column": "SalePrice", "image_folder": "", "image_suffix": ""}
    keys |= {"task": "regression", "target_transform": "log1p", "exclude": ["Id"]}
    return keys, frame.iloc[n:].reset_index(drop=True)


def digit_tags(digit) -> str:
    """Planet-like tags for a digit: its name, odd or even, and 'big' from 5 up."""
    return " ".join([f"d{digit}", "even" if digit % 2 == 0 else "odd", *(["big"] if digit >= 5 else [])])


def planet(raw, n=300, test=60):
    """planet-understanding-the-amazon: train_classes.csv (image_name, tags: space-separated), train-jpg/,
    test-jpg/, sample_submission.csv (image_name, tags). Returns (keys, the test rows' true tags)."""
    raw = Path(raw)
    (train_x, train_y), (test_x, test_y) = _split(n, test)
    for i, image in enumerate(train_x):
        save(raw / "train-jpg" / f"train_{i}.jpg", image)
    for i, image in enumerate(test_x):
        save(raw / "test-jpg" / f"test_{i}.jpg", image)
    names = [f"train_{i}" for i in range(n)]
    pd.DataFrame({"image_name": names, "tags": [digit_tags(y) for y in train_y]}).to_csv(
        raw / "train_classes.csv", index=False
    )
    test_names = [f"test_{i}" for i in range(test)]
    pd.DataFrame({"image_name": test_names, "tags": "primary clear"}).to_csv(raw / "sample_submission.csv", index=False)
    keys = {"layout": "labels-csv", "train": "train_classes.csv", "test": "test-jpg", "sample": "sample_submission.csv"}
    keys |= {"id_column": "image_name", "label_column": "tags", "image_folder": "train-jpg", "image_suffix": ".jpg"}
    keys |= {"task": "multi-label", "target_transform": "none", "exclude": []}
    return keys, pd.DataFrame({"image_name": test_names, "tags": [digit_tags(y) for y in test_y]})


def pawpularity(raw, n=300, test=60, seed=0):
    """petfinder-pawpularity-score: train.csv (Id, ten 0/1 photo features, Pawpularity 1..100), train/<Id>.jpg,
    test/, test.csv, sample_submission.csv (Id, Pawpularity). Each image is a bright square whose side sets the
    score (a size, which survives the lighting and crop augmentations). Returns (keys, truth)."""
    raw = Path(raw)
    rng = np.random.default_rng(seed)
    features = [
        "Subject Focus",
        "Eyes",
        "Face",
        "Near",
        "Action",
        "Accessory",
        "Group",
        "Collage",
        "Human",
        "Occlusion",
    ]
    frames = []
    for split, count in (("train", n), ("test", test)):
        ids = [hex_id(f"{split}{i}") for i in range(count)]
        sides = rng.integers(6, 23, count)
        for i, side in zip(ids, sides, strict=True):
            image = np.zeros((32, 32, 3), dtype=np.uint8)
            top, left = rng.integers(2, 32 - side - 1, 2)
            image[top : top + side, left : left + side] = 255
            save(raw / split / f"{i}.jpg", image)
        frame = pd.DataFrame({"Id": ids, **{f: rng.integers(0, 2, count) for f in features}})
        frame["Pawpularity"] = np.round(1 + 99 * (sides - 6) / 16).astype(int)
        frames.append(frame)
    frames[0].to_csv(raw / "train.csv", index=False)
    frames[1].drop(columns="Pawpularity").to_csv(raw / "test.csv", index=False)
    pd.DataFrame({"Id": frames[1]["Id"], "Pawpularity": 50.0}).to_csv(raw / "sample_submission.csv", index=False)
    keys = {"layout": "labels-csv", "train": "train.csv", "test": "test", "sample": "sample_submission.csv"}
    keys |= {"id_column": "Id", "label_column": "Pawpularity", "image_folder": "train", "image_suffix": ".jpg"}
    keys |= {"task": "regression", "target_transform": "none", "exclude": []}
    return keys, frames[1][["Id", "Pawpularity"]]


def files_of(folder) -> dict[str, bytes]:
    """Every file under `folder` as {relative name: bytes}: what a fake competition serves."""
    folder = Path(folder)
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
