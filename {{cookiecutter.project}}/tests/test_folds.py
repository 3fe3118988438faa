"""Frozen folds and cross-validation: folds are stratified, stable, never silently rewritten and keep
groups whole; `cv` trains every fold for real (tiny digits, 32 px, seeded weights cache), leaves
out-of-fold predictions covering every image once, and predict averages the folds."""

import json
import tomllib
from collections import Counter

import numpy as np
import pandas as pd
import pytest
import tiny_data
from conftest import PACKAGE, ROOT, module, run_cli
from tiny_data import make_project

folds = module("kit.folds")
train = module("train")
cv = module("cv")
metrics = module("kit.metrics")
layouts = module("kit.layouts")
runs = module("kit.runs")
config = module("kit.config")
ProjectError = module("kit.errors").ProjectError

KIND = tomllib.loads((ROOT / "config.toml").read_text())["project"]["kind"]
FAST = {"arch": "resnet18", "size": 32, "epochs": 0, "bs": 16, "lr": 0.003}  # one head epoch: seconds on a CPU


@pytest.fixture
def digits_project(tmp_path):
    """digit-recognizer's pixel CSVs (200 training digits) with a `writer` column: 20 writers of 10 digits."""
    cfg = make_project(tmp_path / "p", lambda raw: tiny_data.digit_recognizer(raw, n=200, test=20))
    train = pd.read_csv(cfg.raw / "train.csv")
    writers = pd.DataFrame({"writer": [f"w{i // 10:02d}" for i in range(len(train))]})
    pd.concat([writers, train], axis=1).to_csv(cfg.raw / "train.csv", index=False)
    return cfg


def read_folds(cfg):
    return pd.read_csv(cfg.root / folds.FOLDS, dtype={"id": str, "label": str})


def test_folds_are_stratified_and_the_same_for_the_same_seed():
    """Each class is spread evenly over the folds, and a seed always gives the same folds."""
    labels = [str(i % 4) for i in range(103)]
    first, method = folds.assign(labels, 5, seed=7)
    assert method == "StratifiedKFold" and sorted(set(first.tolist())) == [0, 1, 2, 3, 4]
    for label in set(labels):
        per_fold = Counter(f for f, y in zip(first, labels, strict=True) if y == label)
        assert max(per_fold.values()) - min(per_fold.values()) <= 1, (label, per_fold)
    assert (folds.assign(labels, 5, seed=7)[0] == first).all(), "same seed, same folds"
    assert (folds.assign(labels, 5, seed=8)[0] != first).any(), "another seed shuffles differently"


def test_labels_too_rare_to_stratify_still_get_folds_and_too_few_items_are_refused():
    """When no class fills every fold, plain KFold; fewer images than folds is a one-line error."""
    assigned, method = folds.assign(["a", "b", "c"], 3, seed=0)
    assert method == "KFold" and sorted(assigned.tolist()) == [0, 1, 2]
    with pytest.raises(ProjectError, match=r"5 folds need at least 5 training images, found 3 \(lower \[cv\] k\)"):
        folds.assign(["a", "b", "a"], 5, seed=0)


def test_make_folds_writes_the_file_once_and_records_how(digits_project):
    """data/folds.csv lists every training image once; folds.json makes the folds reproducible and checkable."""
    cfg = digits_project
    done = run_cli("folds", cwd=cfg.root)
    assert done.returncode == 0, done.stderr
    assert (
        done.stdout.strip()
        .splitlines()[-1]
        .startswith(
            "folds: wrote data/folds.csv: 200 images in 5 folds of 40 (StratifiedKFold, k 5, seed 42), 10 classes"
        )
    )
    table = read_folds(cfg)
    assert list(table.columns) == ["id", "label", "fold"]
    assert table["id"].tolist() == [str(i) for i in range(200)], "a pixel CSV's images are its rows"
    assert table["label"].tolist() == [str(y) for y in pd.read_csv(cfg.raw / "train.csv")["label"]]
    info = json.loads((cfg.root / folds.INFO).read_text())
    assert {k: info[k] for k in ("k", "seed", "group", "method", "items")} == {
        "k": 5,
        "seed": 42,
        "group": "",
        "method": "StratifiedKFold",
        "items": 200,
    }
    assert info["sha256"] == module("kit.files").sha256(cfg.root / folds.FOLDS)
    again, _ = folds.assign(table["label"].tolist(), info["k"], info["seed"])
    assert (again == table["fold"].to_numpy()).all(), "folds.json's settings rebuild exactly these folds"


def test_a_second_make_folds_is_refused_and_force_rewrites(digits_project):
    """Frozen folds: a rerun must never move them silently; --force is the one way to new folds, written as the
    user typed the command (`make folds` here)."""
    cfg = digits_project
    assert run_cli("folds", cwd=cfg.root).returncode == 0
    before = (cfg.root / folds.FOLDS).read_bytes()
    assert f"`python -m {PACKAGE} folds --force`" in run_cli("folds", cwd=cfg.root).stderr
    done = run_cli("folds", "--k", "4", cwd=cfg.root, env={"MAKE_HINTS": "1"})
    assert done.returncode == 2 and "Traceback" not in done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("error: data/folds.csv already exists (StratifiedKFold, k 5, seed 42)")
    assert "`make folds FORCE=1`" in line
    assert (cfg.root / folds.FOLDS).read_bytes() == before
    done = run_cli("folds", "--k", "4", "--force", cwd=cfg.root)
    assert done.returncode == 0, done.stderr
    assert sorted(read_folds(cfg)["fold"].unique()) == [0, 1, 2, 3]
    assert json.loads((cfg.root / folds.INFO).read_text())["k"] == 4


def test_groups_never_straddle_folds(digits_project):
    """With [cv] group set, every writer's digits share one fold (no leak from train to valid)."""
    cfg = digits_project
    config.set_value(cfg.root / "config.toml", "cv", "group", "writer")
    cfg = config.load(cfg.root / "config.toml")
    summary = folds.make_folds(cfg, k=4)
    assert "(StratifiedGroupKFold, k 4, seed 42, group writer)" in summary
    table = read_folds(cfg)
    assert table.groupby("group")["fold"].nunique().max() == 1
    assert table["group"].tolist() == pd.read_csv(cfg.raw / "train.csv")["writer"].tolist()
    assert sorted(table["fold"].unique()) == [0, 1, 2, 3]
    with pytest.raises(ProjectError, match=r"train.csv has no column 'patient' for \[cv\] group \(its columns: "):
        folds.make_folds(cfg, group="patient", force=True)


def test_image_files_are_named_by_their_path_under_the_image_folder(tmp_path):
    """Class folders and labels CSVs: ids a person can find on disk, stable whatever the order."""
    cfg = make_project(tmp_path / "p", lambda raw: tiny_data.class_folders(raw, n=30, test_n=5))
    folds.make_folds(cfg, k=2)
    ids = read_folds(cfg)["id"].tolist()
    assert len(ids) == 30 and all((cfg.raw / "train" / i).is_file() for i in ids)
    assert ids[0].split("/")[0] in tiny_data.CIFAR
    with pytest.raises(ProjectError, match=r"the folder-per-class layout has none \(set group = \"\" in config.toml\)"):
        folds.make_folds(cfg, group="writer", force=True)


def test_folds_that_no_longer_match_the_data_are_refused(digits_project):
    """Training on folds made for other data would validate on images it trained on."""
    cfg = digits_project
    folds.make_folds(cfg, k=5)
    images = layouts.train_images(cfg)
    assert len(folds.valid_positions(cfg, images, 2)) == 40
    with pytest.raises(ProjectError, match=r"there is no fold 5: data/folds.csv has folds 0 to 4"):
        folds.valid_positions(cfg, images, 5)
    train = pd.read_csv(cfg.raw / "train.csv")
    train.iloc[:190].to_csv(cfg.raw / "train.csv", index=False)
    with pytest.raises(ProjectError, match=r"training data \(200 rows for 190 images.*folds --force` makes new"):
        folds.valid_positions(cfg, layouts.train_images(cfg), 0)
    train.assign(label=(train["label"] + 1) % 10).to_csv(cfg.raw / "train.csv", index=False)
    with pytest.raises(ProjectError, match=r"says '0' is .*, the data says .* \(the labels changed"):
        folds.valid_positions(cfg, layouts.train_images(cfg), 0)


def test_folds_saved_in_another_encoding_are_refused_and_a_damaged_record_is_said_and_set_aside(
    digits_project, capsys, monkeypatch
):
    """folds.csv re-saved by a spreadsheet: one line with both fixes, the file untouched (new folds would change
    every CV score, so it is not remade by itself); a damaged folds.json: the CSV alone still serves."""
    monkeypatch.setenv("MAKE_HINTS", "1")  # as under `make cv`
    cfg = digits_project
    folds.make_folds(cfg, k=5)
    path, images = cfg.root / folds.FOLDS, layouts.train_images(cfg)
    good = path.read_bytes()
    damaged = good.replace(b"\n", b"\r\n") + "x,caf\u00e9,0\r\n".encode("cp1252")
    path.write_bytes(damaged)
    with pytest.raises(ProjectError, match=r"folds\.csv line 202 is not UTF-8: .*UTF-8; or `make folds FORCE=1`"):
        folds.valid_positions(cfg, images, 0)
    assert path.read_bytes() == damaged
    path.write_bytes(good)
    (cfg.root / folds.INFO).write_text('{"k": 5,')
    capsys.readouterr()
    assert len(folds.valid_positions(cfg, images, 2)) == 40
    assert "folds.json is not valid JSON" in capsys.readouterr().out


def test_folds_differing_from_the_config_are_used_and_said_once(digits_project, capsys, monkeypatch):
    """The file wins over config.toml (frozen), and the user hears about the difference once per command."""
    monkeypatch.setenv("MAKE_HINTS", "1")  # as under `make cv`
    cfg = digits_project
    folds.make_folds(cfg, k=3)
    capsys.readouterr()
    images = layouts.train_images(cfg)
    for fold in range(3):
        folds.valid_positions(cfg, images, fold)
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "folds: using data/folds.csv (StratifiedKFold, k 3, seed 42); config.toml's [cv] now says k 5, seed 42 "
        "(`make folds FORCE=1` remakes them)"
    ]


def test_scores_match_their_textbook_definitions():
    """The CV metric is computed the way Kaggle's leaderboard computes it."""
    from sklearn.metrics import log_loss, roc_auc_score

    targets = np.array([0, 1, 1, 0, 1])
    probs = np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4], [0.5, 0.5], [0.1, 0.9]])
    assert metrics.score("accuracy", "classification", targets, probs) == pytest.approx(
        0.8
    )  # a 0.5/0.5 tie goes to the first class
    assert metrics.score("error_rate", "classification", targets, probs) == pytest.approx(0.2)
    assert metrics.score("log_loss", "classification", targets, probs) == pytest.approx(log_loss(targets, probs))
    assert metrics.score("roc_auc", "classification", targets, probs) == pytest.approx(
        roc_auc_score(targets, probs[:, 1])
    )


# ------------------------------------------------------------------------------------ training


@pytest.fixture(scope="module")
def cv_run(tmp_path_factory):
    """One real `cv` with k = 2 (two 1-epoch trainings) and a predict from it, shared by the checks below."""
    root = tmp_path_factory.mktemp("cv")
    torch_home = tiny_data.seed_weights(tmp_path_factory.mktemp("torch"), ["resnet18"])
    if KIND == "kaggle":  # the fake Kaggle's files (its first 80 training rows): the fake scores for real
        from fake_kaggle import digits_files

        def builder(raw):
            raw.mkdir(parents=True)
            for name, data in digits_files()[0].items():
                (raw / name).write_bytes(data)
            pd.read_csv(raw / "train.csv").iloc[:80].to_csv(raw / "train.csv", index=False)
    else:

        def builder(raw):
            tiny_data.class_folders(raw, wrapper="digits", n=60, test_n=10)

    cfg = make_project(root, builder, **FAST)
    config.set_value(root / "config.toml", "cv", "k", 2)
    cfg = config.load(root / "config.toml")
    with tiny_data.environment(TORCH_HOME=torch_home, **tiny_data.NO_NETWORK):
        folds.make_folds(cfg)
        summary = cv.cv(cfg)
        predicted = module(f"{KIND}.commands").predict(cfg)
    return cfg, summary, predicted, runs.latest(cfg), torch_home


@pytest.mark.slow
def test_cv_prints_the_score_with_its_spread_in_one_line(cv_run):
    """The one number to track, its spread over folds, and where everything went."""
    cfg, summary, _, run, _ = cv_run
    metrics = runs.read_metrics(run)
    assert "\n" not in summary
    assert summary.startswith(f"cv: accuracy {metrics['cv_score']:.4f} ± {metrics['cv_std']:.4f} (mean ± std over 2")
    assert f"-> runs/{run.name}/ (oof.csv, cv_folds.csv; next: make predict RUN_ID={run.name})" in summary
    assert run.name.endswith("-resnet18-cv2")


@pytest.mark.slow
def test_out_of_fold_predictions_cover_every_training_image_exactly_once(cv_run):
    """oof.csv: each image predicted by the one model that never saw it, with its class probabilities."""
    cfg, _, _, run, _ = cv_run
    oof = pd.read_csv(run / cv.OOF, dtype={"id": str, "target": str, "prediction": str})
    table = read_folds(cfg)
    assert oof["id"].tolist() == table["id"].tolist() and oof["id"].is_unique
    assert oof["target"].tolist() == table["label"].tolist()
    assert (oof["fold"] == table["fold"]).all(), "each image predicted by the model of its own fold"
    probs = oof.filter(like="p_").to_numpy()
    assert probs.shape[1] == 10 and np.allclose(probs.sum(1), 1, atol=1e-4)
    assert (oof["prediction"] == [c[2:] for c in oof.filter(like="p_").columns[probs.argmax(1)]]).all()
    metrics = runs.read_metrics(run)
    assert metrics["oof_score"] == pytest.approx((oof["prediction"] == oof["target"]).mean())


@pytest.mark.slow
def test_each_fold_is_a_full_run_inside_the_one_cv_run(cv_run):
    """Per-fold scores and models live in the cv run folder, which alone is listed in runs/index.csv."""
    cfg, _, _, run, _ = cv_run
    scores = pd.read_csv(run / cv.FOLD_SCORES)
    assert scores["fold"].tolist() == [0, 1]
    assert scores["valid_images"].sum() == len(read_folds(cfg))
    assert (scores["train_images"] + scores["valid_images"] == len(read_folds(cfg))).all()
    metrics = runs.read_metrics(run)
    assert metrics["cv_score"] == pytest.approx(scores["accuracy"].mean())
    assert metrics["cv_std"] == pytest.approx(scores["accuracy"].std(ddof=0))
    for fold in (0, 1):
        resolved = json.loads((run / f"fold-{fold}" / "config.json").read_text())["resolved"]
        assert (resolved["fold"], resolved["folds_file"]) == (fold, "data/folds.csv")
        assert resolved["valid_images"] == scores["valid_images"][fold]
        assert (run / f"fold-{fold}" / runs.MODEL).is_file() and (run / f"fold-{fold}" / "loss.png").is_file()
    assert runs.models(run) == [run / "fold-0" / runs.MODEL, run / "fold-1" / runs.MODEL]
    index = {row["run"]: row["status"] for row in runs.read_index(cfg)}
    assert index[run.name] == "finished" and not any("fold-" in name for name in index), "folds have no lines"


@pytest.mark.slow
def test_predict_from_a_cv_run_averages_the_folds(cv_run):
    """The ensemble is the mean of the folds' probabilities, written in this kind's format."""
    cfg, _, predicted, run, torch_home = cv_run
    inputs = [(x,) for x in layouts.test_images(cfg).xs[:12]]
    with tiny_data.environment(TORCH_HOME=torch_home, **tiny_data.NO_NETWORK):
        each = [train.outputs(cfg, run / f"fold-{fold}", inputs)[0] for fold in (0, 1)]
        both, classes = train.outputs(cfg, run, inputs)
    assert classes == sorted(set(read_folds(cfg)["label"])), "every fold's model knows every class, in one order"
    assert np.allclose(both, (each[0] + each[1]) / 2, atol=1e-5)
    assert not np.allclose(each[0], each[1], atol=1e-3), "two different models"
    if KIND == "kaggle":
        written = pd.read_csv(cfg.root / "submissions" / f"{run.name}.csv")
        sample = pd.read_csv(cfg.raw / "sample_submission.csv")
        assert written["ImageId"].tolist() == sample["ImageId"].tolist()
        assert "valid against sample_submission.csv" in predicted
    else:
        assert runs.read_metrics(run)["test_images"] == 10
        assert predicted.startswith("test accuracy")


@pytest.mark.slow
def test_train_on_one_fold_validates_on_exactly_that_fold(cv_run):
    """`make train FOLD=1`: a run of its own whose record says which fold it held out."""
    cfg, _, _, _, torch_home = cv_run
    with tiny_data.environment(TORCH_HOME=torch_home, **tiny_data.NO_NETWORK):
        summary = cv.train_fold(cfg, 1)
    run = runs.latest(cfg)
    held_out = int((read_folds(cfg)["fold"] == 1).sum())
    assert run.name.endswith("-resnet18-fold1") and f"on {held_out} valid images" in summary
    resolved = json.loads((run / "config.json").read_text())["resolved"]
    assert (resolved["fold"], resolved["valid_images"]) == (1, held_out)
    assert runs.read_index(cfg)[-1]["run"] == run.name


if KIND == "kaggle":

    @pytest.mark.slow
    def test_a_cv_submission_logs_its_cv_score_and_lb_plots_it(cv_run, kaggle_server, capsys):
        """The fake Kaggle scores the averaged submission; the log keeps CV beside public; lb plots them."""
        cfg, _, _, run, _ = cv_run
        submission, leaderboard = module("kaggle.submission"), module("kaggle.leaderboard")
        summary = submission.submit(cfg, cfg.root / "submissions" / f"{run.name}.csv", message="cv2", yes=True)
        assert "public score" in summary
        [row] = leaderboard.read_log(cfg)
        assert row["run_id"] == run.name
        assert float(row["cv_score"]) == pytest.approx(runs.read_metrics(run)["cv_score"], abs=1e-5)
        capsys.readouterr()
        line = leaderboard.lb(cfg)
        table = capsys.readouterr().out
        assert run.name in table and f"{float(row['public_score']):.4f}" in table, "the score as the table rounds it"
        assert line.startswith("lb: 1 submission, 1 with both scores:")
        assert (cfg.root / "submissions" / "cv_vs_lb.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    pytest_plugins = ["fake_kaggle"]
