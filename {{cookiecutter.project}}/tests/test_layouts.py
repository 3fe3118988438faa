"""layouts: real Kaggle and fastai file layouts are recognised, recorded and read back as images."""

import numpy as np
import pandas as pd
import pytest
import tiny_data
from conftest import module

layouts = module("kit.layouts")
config = module("kit.config")
ProjectError = module("kit.errors").ProjectError

REAL_LAYOUTS = {
    "digit-recognizer": lambda raw: tiny_data.digit_recognizer(raw, n=20, test=5),
    "kannada-mnist": lambda raw: tiny_data.kannada_mnist(raw, n=20, test=5),
    "mnist-in-csv": lambda raw: tiny_data.mnist_in_csv(raw, n=20, test=5),
    "dog-breed-identification": lambda raw: tiny_data.dog_breed(raw, n=20, test=5),
    "aerial-cactus-identification": lambda raw: tiny_data.aerial_cactus(raw, n=20, test=5),
    "plant-seedlings-classification": lambda raw: tiny_data.plant_seedlings(raw, n=20, test=5),
    "dogs-vs-cats": lambda raw: tiny_data.dogs_vs_cats(raw, n=20, test=5),
    "fastai-cifar10": lambda raw: tiny_data.class_folders(raw, wrapper="cifar10", n=20, test_n=10),
    "fastai-mnist": lambda raw: tiny_data.class_folders(raw, "mnist_png", "training", "testing", n=20, test_n=10),
    "fastai-imagenette": lambda raw: tiny_data.class_folders(raw, "imagenette2-160", "train", "val", 20, 10, ".JPEG"),
    "fastai-pets": lambda raw: tiny_data.oxford_pets(raw, n=24),
    "class-folders-at-the-top": lambda raw: tiny_data.class_folders(raw, train=".", test="", n=20),
}


@pytest.mark.parametrize("name", REAL_LAYOUTS)
def test_each_real_layout_is_detected_with_every_key(tmp_path, name):
    """`make data` records what detect finds: every key must be right for the real dataset's files."""
    expected = REAL_LAYOUTS[name](tmp_path)
    if name == "fastai-imagenette":  # its real archive also holds a CSV that must not be taken for labels
        pd.DataFrame({"path": ["train/x/a.JPEG"], "noisy_labels_0": ["x"], "is_valid": [False]}).to_csv(
            tmp_path / "imagenette2-160" / "noisy_imagenette.csv", index=False
        )
    if name == "class-folders-at-the-top":
        expected["train"] = "."
    (tmp_path / ".download").mkdir()  # make data's own bookkeeping is never taken for data
    (tmp_path / ".manifest.json").write_text("{}")
    assert layouts.detect(tmp_path) == {**expected, "task": "classification", "target_transform": "none", "exclude": []}


@pytest.mark.parametrize(
    "name, label",
    [
        ("cat.0.jpg", "cat"),
        ("dog.12499.jpg", "dog"),
        ("Abyssinian_1.jpg", "Abyssinian"),
        ("great_pyrenees_12.jpg", "great_pyrenees"),
        ("1234.jpg", None),
    ],
)
def test_labels_are_read_from_file_names_like_the_real_datasets(name, label):
    """dogs-vs-cats and Oxford pets put the label before a number; a bare number has none."""
    assert layouts.label_from_name(name) == label


def test_an_empty_or_unknown_folder_is_refused_with_what_to_do(tmp_path):
    """Guessing wrong would train on nonsense: say what was found and which keys to set."""
    with pytest.raises(ProjectError, match="run `make data`"):
        layouts.detect(tmp_path)
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "table.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ProjectError, match=r"cannot tell the layout .*found notes.txt, table.csv.*data.layout"):
        layouts.detect(tmp_path)


def test_record_writes_the_layout_and_keeps_what_the_user_set(project):
    """make data fills [data]; a key the user changed from its default is theirs."""
    raw = project / "data" / "raw"
    found = tiny_data.dog_breed(raw, n=10, test=3)
    cfg = tiny_data.project_config(project)
    config.set_value(project / "config.toml", "data", "image_suffix", ".jpeg")  # the user's choice
    cfg = config.load(project / "config.toml")
    line = layouts.write_to_config(cfg, layouts.detect(cfg.raw))
    assert "\n" not in line and line.startswith("layout labels-csv: train labels.csv (label: breed, classification)")
    assert "kept your data.image_suffix" in line
    recorded = config.load(project / "config.toml").data
    guessed = {"task": "classification", "target_transform": "none", "exclude": []}
    assert {k: getattr(recorded, k) for k in layouts.KEYS} == found | {"image_suffix": ".jpeg"} | guessed
    before = (project / "config.toml").read_text()
    layouts.write_to_config(config.load(project / "config.toml"), layouts.detect(cfg.raw))
    assert (project / "config.toml").read_text() == before, "recording twice changes nothing"


def test_pixel_rows_become_images_row_by_row_in_order(tmp_path):
    """Each row of pixel0..pixel783 is one 28x28 image, read row-major (its speed: `make bench`, part c)."""
    header = "label," + ",".join(f"pixel{i}" for i in range(784)) + "\n"
    row = np.zeros(784, dtype=int)
    row[14 * 28 + 10 : 14 * 28 + 18] = 255  # a horizontal bar in the middle row
    line = "7," + ",".join(map(str, row)) + "\n"
    path = tmp_path / "train.csv"
    path.write_text(header + line * 2_000)
    images, labels, _ = layouts.read_pixel_csv(path, "label")
    assert images.shape == (2_000, 28, 28, 3) and images.dtype == np.uint8
    assert labels[:2] == [7, 7]
    assert images[0, 14, 10:18].min() == 255 and images[0, 13].max() == 0, "rows map to pixels row by row"


def test_the_recipes_items_print_as_their_count_not_their_pixels(tmp_path):
    """fastai's DataBlock formats its source into a message even when it prints nothing: the repr of a pixel
    CSV's arrays took 18 s of each `make train` on digit-recognizer's 33,600 training rows."""
    dataset = module("kit.dataset")
    cfg = tiny_data.make_project(tmp_path, lambda raw: tiny_data.digit_recognizer(raw, n=50, test=5))
    items = dataset.for_recipe(dataset.load(cfg))
    assert len(items) == 50 and items[0][0].shape == (28, 28, 3), "the arrays themselves, in order"
    assert repr(items) == str(items) == "50 items"


def test_pixels_stored_as_fractions_are_scaled_and_odd_widths_refused():
    """Some pixel CSVs hold 0..1 floats; a row that is not N*N pixels cannot be an image."""
    images = layouts.pixels_to_images(np.full((2, 64), 0.5))
    assert images.shape == (2, 8, 8, 3) and images[0, 0, 0, 0] == 127
    with pytest.raises(ProjectError, match="do not make a square image"):
        layouts.pixels_to_images(np.zeros((1, 70)))


def test_test_images_follow_the_sample_submissions_order(project):
    """Kannada-MNIST's test.csv is not in the sample's order: rows are matched by id, not by position."""
    raw = project / "data" / "raw"
    tiny_data.kannada_mnist(raw, n=10, test=6)
    cfg = tiny_data.project_config(project)
    layouts.write_to_config(cfg, layouts.detect(cfg.raw))
    cfg = config.load(project / "config.toml")
    test = layouts.test_images(cfg)
    assert test.ids == [str(i) for i in range(6)]
    frame = pd.read_csv(raw / "test.csv")
    first = frame[frame["id"] == 0].drop(columns="id").to_numpy().reshape(28, 28)
    assert (test.xs[0][..., 0] == first).all()


@pytest.mark.parametrize("builder", [tiny_data.dog_breed, tiny_data.aerial_cactus, tiny_data.dogs_vs_cats])
def test_every_sample_id_finds_its_image_with_or_without_extension(project, builder):
    """Ids name files as 'abc' (dog breeds), 'abc.jpg' (cactus) or '1' for 1.jpg (dogs vs cats)."""
    raw = project / "data" / "raw"
    builder(raw, n=12, test=4)
    cfg = tiny_data.project_config(project)
    layouts.write_to_config(cfg, layouts.detect(cfg.raw))
    cfg = config.load(project / "config.toml")
    train, test = layouts.train_images(cfg), layouts.test_images(cfg)
    assert len(train) == 12 and all(p.is_file() for p in train.xs) and len(set(train.labels)) >= 2
    sample = pd.read_csv(cfg.raw / cfg.data.sample, dtype=str)
    assert test.ids == list(sample.iloc[:, 0])
    assert all(p.is_file() and p.stem == str(i).removesuffix(".jpg") for p, i in zip(test.xs, test.ids, strict=True))


def test_a_labelled_test_split_gives_its_classes(project):
    """The paper kind scores on CIFAR's test/ folders: their names are the labels."""
    raw = project / "data" / "raw"
    tiny_data.class_folders(raw, wrapper="cifar10", n=12, test_n=8)
    cfg = tiny_data.project_config(project)
    layouts.write_to_config(cfg, layouts.detect(cfg.raw))
    cfg = config.load(project / "config.toml")
    test = layouts.test_images(cfg, labelled=True)
    assert len(test) == 8 and set(test.labels) <= set(tiny_data.CIFAR)
    assert all(p.parent.name == label for p, label in zip(test.xs, test.labels, strict=True))


def test_missing_images_are_named_with_the_key_to_fix(project):
    """A labels CSV pointing at absent files would crash mid-epoch: refuse before training."""
    raw = project / "data" / "raw"
    tiny_data.dog_breed(raw, n=6, test=2)
    cfg = tiny_data.project_config(project)
    layouts.write_to_config(cfg, layouts.detect(cfg.raw))
    next((raw / "train").glob("*.jpg")).unlink()
    with pytest.raises(ProjectError, match=r"1 of 6 images are missing.*data.image_folder"):
        layouts.train_images(config.load(project / "config.toml"))


TASKS = {
    "titanic": (tiny_data.titanic, "auto"),
    "house-prices": (tiny_data.house_prices, "rmse"),
    "planet-tags": (tiny_data.planet, "f2"),
    "petfinder-scores": (tiny_data.pawpularity, "rmse"),
}


@pytest.mark.parametrize("name", TASKS)
def test_tables_tags_and_scores_are_detected_with_their_task(tmp_path, name):
    """Titanic's gender_submission, House Prices' skewed prices, Planet's tags and PetFinder's scores: the
    layout, the target (named by the sample), the task, the scale and the columns left out of the features."""
    builder, metric = TASKS[name]
    expected, _ = builder(tmp_path)
    assert layouts.detect(tmp_path, metric) == expected


def test_the_competitions_metric_settles_what_the_labels_leave_open(tmp_path):
    """Whole numbers 1..10 look like classes, unless the competition scores them in RMSE."""
    frame = pd.DataFrame({"id": range(100), "x": range(100), "y": [i % 10 + 1 for i in range(100)]})
    frame.to_csv(tmp_path / "train.csv", index=False)
    frame.drop(columns="y").to_csv(tmp_path / "test.csv", index=False)
    frame[["id", "y"]].to_csv(tmp_path / "sample_submission.csv", index=False)
    assert layouts.detect(tmp_path)["task"] == "classification"
    assert layouts.detect(tmp_path, "rmse")["task"] == "regression"


@pytest.mark.parametrize(
    "problem, message",
    [
        ("latin-1", "train.csv is not UTF-8 text (save it as UTF-8"),
        ("missing target", "train.csv has 1 rows without a Survived, e.g. line 4 (fill them in or drop those rows)"),
        ("text in numbers", "train.csv: column 'Fare' holds numbers but also text, e.g. 'unknown' on line 3"),
    ],
)
def test_a_damaged_training_table_is_refused_in_one_line(project, problem, message):
    """A table that would train on garbage says where and how to fix it, and nothing is written."""
    dataset = module("kit.dataset")
    raw = project / "data" / "raw"
    keys, _ = tiny_data.titanic(raw, n=60, test=10)
    frame = pd.read_csv(raw / "train.csv")
    if problem == "missing target":
        frame.loc[2, "Survived"] = None
    if problem == "text in numbers":
        frame["Fare"] = frame["Fare"].astype(str)
        frame.loc[1, "Fare"] = "unknown"
    if problem == "latin-1":
        frame.loc[0, "Name"] = "Mañana, Mr. José"
        frame.to_csv(raw / "train.csv", index=False, encoding="latin-1")
    else:
        frame.to_csv(raw / "train.csv", index=False)
    cfg = tiny_data.project_config(project)
    for key in ("layout", "train", "test", "sample", "id_column", "label_column"):
        config.set_value(project / "config.toml", "data", key, keys[key])
    before = (project / "config.toml").read_text()
    with pytest.raises(ProjectError) as caught:
        dataset.load(config.load(project / "config.toml"))
    assert str(caught.value).startswith(message), str(caught.value)
    assert (project / "config.toml").read_text() == before and cfg.raw.is_dir()


def test_a_sample_that_names_no_training_column_is_refused_when_the_target_is_ambiguous(tmp_path):
    """Two columns only training has, and the sample names neither: guessing could train on the wrong one."""
    frame = pd.DataFrame({"id": range(30), "x": range(30), "y": [i % 2 for i in range(30)], "z": range(30)})
    frame.to_csv(tmp_path / "train.csv", index=False)
    frame[["id", "x"]].to_csv(tmp_path / "test.csv", index=False)
    pd.DataFrame({"id": range(5), "target": 0}).to_csv(tmp_path / "sample_submission.csv", index=False)
    with pytest.raises(ProjectError) as caught:
        layouts.detect(tmp_path)
    assert str(caught.value) == (
        "sample_submission.csv predicts 'target', which train.csv does not have; its columns beyond test.csv's are "
        "'y', 'z' (set data.layout = \"tabular\" and data.label_column to the one to predict in config.toml)"
    )
