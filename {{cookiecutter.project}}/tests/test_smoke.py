"""make smoke: the whole path offline on digits, or on a table for a tabular project, in a scratch folder,
leaving the project untouched."""

import dataclasses
import re
import tomllib

import pandas as pd
import pytest
import tiny_data
from conftest import ROOT, module, run_cli

KIND = tomllib.loads((ROOT / "config.toml").read_text())["project"]["kind"]

smoke = module("smoke")
config = module("kit.config")
ProjectError = module("kit.errors").ProjectError
TABLES = {  # task -> (the words smoke says, rows, target column, metric, a bound the valid score must beat)
    "classification": ("breast cancer measurements", 569, "diagnosis", "accuracy", 0.85),  # majority class: 0.63
    "regression": ("diabetes progression", 442, "progression", "rmse", 72.0),  # predicting the mean: about 77
}


@pytest.mark.slow
def test_smoke_learns_offline_and_leaves_the_project_untouched(project, tmp_path):
    """`make smoke` (and the root `make demo`) passes on a fresh machine with no data, no network and no cached
    weights, whatever the project's [model] says, and visibly learns: at least 0.90 valid accuracy."""
    path = project / "config.toml"
    config.set_value(path, "model", "arch", "resnet50")  # the user's settings are not the smoke's
    config.set_value(path, "model", "lr", 1e-5)
    before = sorted(p.relative_to(project) for p in project.rglob("*"))
    done = run_cli("smoke", cwd=project, env={"TORCH_HOME": str(tmp_path / "empty"), **tiny_data.NO_NETWORK})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("smoke: passed in ") and last.endswith("your data and runs untouched")
    assert f"{smoke.ARCH} from random weights at {smoke.SIZE} px, {smoke.EPOCHS + 1} epochs, lr 0.01" in last
    assert "1,797 digits" in last
    assert float(re.search(r"valid accuracy ([0-9.]+)", last).group(1)) >= 0.90, last
    assert ("submission validated" in last) if config.load(path).kind == "kaggle" else ("test accuracy" in last)
    assert "weights:" not in done.stdout + done.stderr, "nothing was looked up or downloaded"
    assert "(next: make predict)" not in done.stdout, "no next step for a run that is about to be removed"
    said = [line for line in done.stdout.splitlines() if "runs/" in line or "wrote submissions/" in line]
    assert said and all(line.startswith("smoke, in a scratch folder removed at the end: ") for line in said), said
    assert sorted(p.relative_to(project) for p in project.rglob("*")) == before, "nothing written in the project"


def test_the_smoke_data_is_in_this_kinds_real_layout(tmp_path):
    """Kaggle smoke uses digit-recognizer's pixel CSVs; paper smoke uses class folders with a test split."""
    layouts = module("kit.layouts")
    images, labels = smoke.digits()
    assert images.shape == (1797, 28, 28) and set(labels) == set(range(10))
    smoke.write_pixel_csv(tmp_path / "kaggle", images[:50], labels[:50])
    found = layouts.detect(tmp_path / "kaggle")
    assert (found["layout"], found["train"], found["test"], found["sample"]) == (
        "pixel-csv",
        "train.csv",
        "test.csv",
        "sample_submission.csv",
    )
    smoke.write_class_folders(tmp_path / "paper", images[:50], labels[:50])
    assert layouts.detect(tmp_path / "paper")["layout"] == "folder-per-class"


@pytest.mark.slow
@pytest.mark.skipif(KIND != "kaggle", reason="a paper project trains on images only (the path test checks it)")
@pytest.mark.parametrize("task", TABLES)
def test_a_tabular_projects_smoke_runs_a_table_through_train_and_predict(project, task):
    """Titanic's `make smoke` (data.layout = "tabular", as `make data` records it) proves the table path: a
    scikit-learn table in a competition's files, detected, trained, predicted and validated; House Prices'
    (regression) predicts a number. Nothing of the image path runs, nothing in the project changes."""
    path = project / "config.toml"
    config.set_value(path, "data", "layout", "tabular")
    config.set_value(path, "data", "task", task)
    before = sorted(p.relative_to(project) for p in project.rglob("*"))
    done = run_cli("smoke", cwd=project, env=tiny_data.NO_NETWORK)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    name, rows, target, metric, bound = TABLES[task]
    assert f"smoke: layout tabular: train train.csv (label: {target}, {task})" in done.stdout
    assert "left out of the features: id" in done.stdout and "valid against sample_submission.csv" in done.stdout
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("smoke: passed in ") and last.endswith("submission validated; your data and runs untouched")
    assert f"offline: {rows} rows of {name} in the tabular layout, tabular_learner, valid {metric} " in last
    score = float(re.search(rf"valid {metric} ([0-9.]+)", last).group(1))
    assert score > bound if metric == "accuracy" else score < bound, last
    assert "digits" not in done.stdout and "weights" not in done.stdout, "the image path ran"
    assert sorted(p.relative_to(project) for p in project.rglob("*")) == before, "nothing written in the project"


def test_smoke_picks_its_path_from_data_layout_or_the_flag(project, capsys):
    """auto: a table once `make data` recorded layout tabular, else images, with a hint while the layout is
    unknown; SMOKE=table|images overrides it; a paper project refuses a table; a typo is one line."""
    cfg = config.load(project / "config.toml")
    kaggle = cfg.kind == "kaggle"
    assert smoke._tabular(cfg, "auto") is False
    assert ("make smoke SMOKE=table" in capsys.readouterr().out) is kaggle
    assert smoke._tabular(cfg, "images") is False
    tabular = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, layout="tabular"))
    if kaggle:
        assert smoke._tabular(cfg, "table") is True and smoke._tabular(tabular, "auto") is True
        assert smoke._tabular(tabular, "images") is False
    else:
        for data in ("table", "auto"):
            with pytest.raises(ProjectError, match="trains on images only"):
                smoke._tabular(tabular, data)
    assert capsys.readouterr().out == ""
    done = run_cli("smoke", "--data", "tables", cwd=project)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == "error: smoke: no 'tables' data (SMOKE= takes auto, images, table)\n"


@pytest.mark.parametrize("task", TABLES)
def test_the_smoke_tables_are_in_a_tabular_competitions_layout(tmp_path, task):
    """train.csv, test.csv (train's columns less the target) and sample_submission.csv (the test ids), with an
    id column, a text category and a few empty cells, as Titanic and House Prices have them."""
    layouts = module("kit.layouts")
    name, frame = smoke.table(task)
    _, rows, target, _, _ = TABLES[task]
    assert len(frame) == rows and frame.columns[0] == "id" and frame.columns[-1] == target
    smoke.write_table(tmp_path, frame)
    found = layouts.detect(tmp_path)
    assert {k: found[k] for k in ("layout", "train", "test", "sample", "id_column", "label_column", "task")} == {
        "layout": "tabular",
        "train": "train.csv",
        "test": "test.csv",
        "sample": "sample_submission.csv",
        "id_column": "id",
        "label_column": target,
        "task": task,
    }
    assert found["exclude"] == ["id"]
    train, test = pd.read_csv(tmp_path / "train.csv"), pd.read_csv(tmp_path / "test.csv")
    sample = pd.read_csv(tmp_path / "sample_submission.csv")
    assert len(train) + len(test) == rows and list(test.columns) == [c for c in train.columns if c != target]
    assert list(sample.columns) == ["id", target] and list(sample["id"]) == list(test["id"])
    band = [c for c in train.columns if c.endswith("_band")]
    assert len(band) == 1 and set(train[band[0]]) == {"low", "mid", "high"}, "one text category"
    assert 0 < train.isna().sum().sum() < len(train) / 10, "a few empty cells"
    assert set(train[target]) == {"M", "B"} if task == "classification" else train[target].nunique() > 100
