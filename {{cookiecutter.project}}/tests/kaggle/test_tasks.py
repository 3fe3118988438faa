"""Every task a newcomer's first competitions ask for, through `make data train predict` as a user runs it:
Titanic (classes from a table), House Prices (a skewed price, trained on log1p), Planet (tags) and
PetFinder (a score per image). The real kaggle client fetches each from the fake server; no config.toml
edit; the submission passes the sample's validator and beats the obvious naive answer on the hidden truth."""

import re

import numpy as np
import pandas as pd
import pytest
import tiny_data
from conftest import module, run_cli

config = module("kit.config")
pytest_plugins = ["fake_kaggle"]
IMAGES = ["--arch", "resnet18", "--size", "32", "--bs", "16", "--epochs", "2", "--lr", "0.003"]
SCRATCH = ["--arch", "resnet18", "--size", "32", "--bs", "16", "--epochs", "9", "--no-pretrained", "--lr", "0.001"]


def log_rmse(predicted, actual) -> float:
    return float(np.sqrt(np.mean((np.log1p(predicted) - np.log1p(actual)) ** 2)))


def rmse(predicted, actual) -> float:
    return float(np.sqrt(np.mean((np.asarray(predicted, float) - np.asarray(actual, float)) ** 2)))


def f1(predicted: list[str], actual: list[str]) -> float:
    """Mean F1 over rows of space-separated tags (Planet's metric with beta = 1)."""
    scores = []
    for said, true in zip(predicted, actual, strict=True):
        said, true = set(str(said).split()), set(true.split())
        hits = len(said & true)
        scores.append(2 * hits / (len(said) + len(true)) if said or true else 1.0)
    return float(np.mean(scores))


def titanic_scores(project, truth):
    """(ours, the gender model's) accuracy."""
    ours = latest_submission(project)["Survived"].to_numpy()
    return (ours == truth["Survived"]).mean(), ((truth["Sex"] == "female").astype(int) == truth["Survived"]).mean()


def house_scores(project, truth):
    """(ours, the training median's) RMSE of log prices, as House Prices scores it; lower is better: negated."""
    train = pd.read_csv(project / "data" / "raw" / "train.csv")
    ours = log_rmse(latest_submission(project)["SalePrice"], truth["SalePrice"])
    return -ours, -log_rmse(np.full(len(truth), train["SalePrice"].median()), truth["SalePrice"])


def planet_scores(project, truth):
    """(ours, the most frequent tags') mean F1."""
    train = pd.read_csv(project / "data" / "raw" / "train_classes.csv")
    counts = pd.Series(" ".join(train["tags"]).split()).value_counts()
    naive = " ".join(counts[counts >= len(train) / 2].index) or counts.index[0]
    ours = f1(latest_submission(project)["tags"], list(truth["tags"]))
    return ours, f1([naive] * len(truth), list(truth["tags"]))


def petfinder_scores(project, truth):
    """(ours, the mean score's) RMSE, negated."""
    train = pd.read_csv(project / "data" / "raw" / "train.csv")
    ours = rmse(latest_submission(project)["Pawpularity"], truth["Pawpularity"])
    return -ours, -rmse(np.full(len(truth), train["Pawpularity"].mean()), truth["Pawpularity"])


CASES = {  # builder, Kaggle's evaluationMetric, train flags, scorer
    "titanic": (tiny_data.titanic, "Categorization Accuracy", [], titanic_scores),
    "house-prices": (tiny_data.house_prices, "Root Mean Squared Error", [], house_scores),
    "planet": (tiny_data.planet, "F2 Score", IMAGES, planet_scores),
    # random weights (offline) learn a number slowly: one cycle of 10 epochs from scratch, at a low rate
    "petfinder": (tiny_data.pawpularity, "Root Mean Squared Error", SCRATCH, petfinder_scores),
}


def latest_submission(project):
    return pd.read_csv(max((project / "submissions").glob("2*.csv"), key=lambda p: p.stat().st_mtime_ns))


@pytest.fixture(scope="module")
def torch_home(tmp_path_factory):
    return tiny_data.seed_weights(tmp_path_factory.mktemp("torch"), archs=("resnet18",))


@pytest.mark.slow
@pytest.mark.parametrize("name", CASES)
def test_data_train_predict_beats_the_naive_answer(project, kaggle_server, torch_home, tmp_path, name):
    builder, metric, flags, scores = CASES[name]
    keys, truth = builder(tmp_path / "competition")
    kaggle_server.files = tiny_data.files_of(tmp_path / "competition")
    kaggle_server.metadata["evaluationMetric"] = metric
    env = {"TORCH_HOME": str(torch_home)}
    done = run_cli("data", cwd=project, env=env)
    assert done.returncode == 0, done.stderr
    assert (
        f"layout {keys['layout']}: train {keys['train']} (label: {keys['label_column']}, {keys['task']}" in done.stdout
    )
    recorded = config.load(project / "config.toml")
    assert (recorded.data.task, recorded.data.target_transform) == (keys["task"], keys["target_transform"])
    done = run_cli("train", *flags, cwd=project, env=env)
    assert done.returncode == 0, done.stderr
    done = run_cli("predict", cwd=project, env=env)
    assert done.returncode == 0, done.stderr
    assert f"valid against {keys['sample']}" in done.stdout
    ours, naive = scores(project, truth)
    assert ours > naive + 0.02, f"{name}: ours {ours:.4f}, naive {naive:.4f}"


@pytest.mark.slow
def test_cv_and_folds_work_for_a_table(project, kaggle_server, tmp_path):
    """make folds (stratified for classes), make cv (out-of-fold predictions) and predict from the cv run."""
    keys, _ = tiny_data.titanic(tmp_path / "competition", n=300, test=50)
    kaggle_server.files = tiny_data.files_of(tmp_path / "competition")
    assert run_cli("data", cwd=project).returncode == 0
    done = run_cli("folds", "--k", "3", cwd=project)
    assert done.returncode == 0 and "StratifiedKFold" in done.stdout, done.stdout + done.stderr
    done = run_cli("cv", "--epochs", "1", cwd=project)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1].startswith("cv: accuracy ")
    run = max((project / "runs").glob("*-cv3"))
    oof = pd.read_csv(run / "oof.csv")
    assert len(oof) == 300 and set(oof["fold"]) == {0, 1, 2} and {"p_0", "p_1"} <= set(oof.columns)
    done = run_cli("predict", "--run", run.name, cwd=project)
    assert done.returncode == 0 and "valid against gender_submission.csv" in done.stdout, done.stderr


@pytest.mark.slow
def test_a_test_table_without_a_column_training_used_is_one_line(project, kaggle_server, tmp_path):
    """Predict names the missing column and the two fixes; no submission file is written."""
    tiny_data.titanic(tmp_path / "competition", n=120, test=20)
    kaggle_server.files = tiny_data.files_of(tmp_path / "competition")
    assert run_cli("data", cwd=project).returncode == 0
    assert run_cli("train", "--epochs", "1", cwd=project).returncode == 0
    test = project / "data" / "raw" / "test.csv"
    pd.read_csv(test).drop(columns="Fare").to_csv(test, index=False)
    done = run_cli("predict", cwd=project)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "error: test.csv lacks 'Fare', which training used (add it, or leave it out with "
        'data.exclude = ["Fare"] and train again)'
    )
    assert not list(project.glob("submissions/*.csv")), "nothing written"


def test_a_table_run_says_where_its_learning_rate_comes_from(tmp_path, capsys):
    """A short fit takes the recipe's rate (lr_find would cost more than a tenth of it) and says so; a longer one
    runs lr_find on a tenth of the fit's batches, announced before the search; each run records which."""
    recipe, train, runs = module("recipes.tabular"), module("train"), module("kit.runs")
    said = {}
    for epochs in (1, 20):  # 160 training rows in batches of 32: 20 batches of fitting, then 400
        table = lambda raw: tiny_data.titanic(raw, n=200, test=20)  # noqa: E731
        cfg = tiny_data.make_project(tmp_path / str(epochs), table, epochs=epochs, lr=0.0, bs=32)
        train.train(cfg)
        said[epochs] = capsys.readouterr().out
        resolved, metrics = runs.settings(runs.latest(cfg))["resolved"], runs.read_metrics(runs.latest(cfg))
        assert f"lr: {resolved['lr']:.2g} ({resolved['lr_from']})" in said[epochs]
        searched_for = metrics["lr_find_seconds"]  # its share of the run, which bench/ reports
        assert (searched_for == 0) if epochs == 1 else (0 < searched_for < metrics["seconds"]), metrics
    short = re.search(
        r"lr: 0.01 \(the recipe's LR: lr_find would cost more than a tenth of this (\d+)-batch fit", said[1]
    )
    assert short and int(short.group(1)) < 10 * train.LR_FIND_MIN and recipe.LR == 0.01, said[1]
    assert "lr_find:" not in said[1]
    searched = re.search(r"lr_find: trying learning rates on (\d+) batches before the fit", said[20])
    assert searched and train.LR_FIND_MIN <= int(searched.group(1)) <= 100, said[20]
    assert f"(lr_find over {searched.group(1)} batches)" in said[20]
