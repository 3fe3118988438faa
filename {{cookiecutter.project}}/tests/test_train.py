"""Training runs for real on the CPU (tiny digits, 32 px, seeded weights cache), records its run
and predicts in this kind's format; offline weights, interruptions and bad archs fail cleanly."""

import csv
import json
import signal
import subprocess
import sys
import time
import tomllib

import pandas as pd
import pytest
import tiny_data
import torch
from conftest import PACKAGE, ROOT, module, run_cli
from PIL import Image
from tiny_data import make_project

train = module("train")
weights = module("kit.weights")
runs = module("kit.runs")
layouts = module("kit.layouts")
config = module("kit.config")
ProjectError = module("kit.errors").ProjectError

KIND = tomllib.loads((ROOT / "config.toml").read_text())["project"]["kind"]
predict = module(f"{KIND}.commands").predict  # the kind's own: a submission, or test metrics
FAST = {"arch": "resnet18", "size": 32, "epochs": 1, "bs": 16, "lr": 0.003}  # seconds on a CPU
CHANCE = 0.1  # ten digits
git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]


@pytest.fixture(scope="module")
def torch_home(tmp_path_factory):
    """Every backbone's exact cache file, holding seeded weights saved here."""
    return tiny_data.seed_weights(tmp_path_factory.mktemp("torch"))


@pytest.fixture(scope="module")
def trained(tmp_path_factory, torch_home):
    """One real training run (1 frozen + 1 unfrozen epoch) and its predict, shared by the checks below."""
    root = tmp_path_factory.mktemp("project")
    if KIND == "kaggle":
        cfg = make_project(root, lambda raw: tiny_data.digit_recognizer(raw, n=480, test=60), **FAST)
    else:
        cfg = make_project(root, lambda raw: tiny_data.class_folders(raw, wrapper="digits", n=480, test_n=60), **FAST)
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run([*git, "add", "config.toml"], cwd=root, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "start"], cwd=root, check=True)
    with tiny_data.environment(TORCH_HOME=torch_home, **tiny_data.NO_NETWORK):
        summary = train.train(cfg)
        predicted = predict(cfg)
    return cfg, summary, predicted, runs.latest(cfg)


@pytest.mark.slow
def test_one_epoch_on_tiny_digits_beats_chance_by_far(trained):
    """The pretrained path (cached weights, frozen head epoch, then fine_tune) really learns."""
    cfg, summary, _, run = trained
    metrics = runs.read_metrics(run)
    assert metrics["accuracy"] > 3 * CHANCE, metrics
    assert abs(metrics["error_rate"] - (1 - metrics["accuracy"])) < 1e-9
    assert "\n" not in summary and summary.startswith("trained resnet18 (ImageNet weights) at 32 px")
    assert f"-> runs/{run.name}/ (next: make predict)" in summary


def test_lr_find_costs_at_most_a_tenth_of_the_fit_and_never_runs_on_too_few_batches():
    assert train.lr_find_batches(150) == 0, "15 batches: too few for a usable curve"
    assert train.lr_find_batches(400) == 40
    assert train.lr_find_batches(50_000) == 100, "fastai's own count is the most it takes"


def test_a_cpu_run_estimates_its_time_after_a_few_batches_and_names_cheaper_settings(
    tmp_path, torch_home, monkeypatch, capsys
):
    """A 224 px run on a CPU can take an hour: after the first batches it says how long, and what is faster."""
    monkeypatch.setenv("TORCH_HOME", str(torch_home))
    monkeypatch.setattr(train, "SAY_AFTER", 0)  # this tiny run takes seconds: say it anyway, hint included
    monkeypatch.setattr(train, "LONG", 0)
    monkeypatch.setenv("MAKE_HINTS", "1")  # as `make train` sets it: the hint in make's words
    cfg = make_project(tmp_path, lambda raw: tiny_data.digit_recognizer(raw, n=80, test=5), **{**FAST, "size": 72})
    train.train(cfg)
    out = capsys.readouterr().out
    said = [line for line in out.splitlines() if line.startswith("time: ")]
    assert said == ["time: about 1 min for 2 epochs here; `make train SIZE=64 ARCH=resnet18` takes a fraction of that"]
    assert "fit: 1 epoch with the pretrained layers frozen, then 1 of every layer" in out


@pytest.mark.slow
def test_the_run_folder_holds_config_environment_metrics_plots_and_model(trained):
    """A run can be understood and repeated later from its folder alone."""
    cfg, _, _, run = trained
    settings = json.loads((run / "config.json").read_text())
    assert settings["model"]["arch"] == "resnet18" and settings["model"]["size"] == 32
    assert settings["resolved"]["pretrained"] is True and settings["resolved"]["lr"] == 0.003
    assert settings["resolved"]["gpu"]["device"] == "cpu"
    env = json.loads((run / "env.json").read_text())
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cfg.root, capture_output=True, text=True).stdout.strip()
    assert (env["git_sha"], env["git_dirty"]) == (head, False)
    assert env["packages"]["torch"] == torch.__version__.split("+")[0] or env["packages"]["torch"] == torch.__version__
    assert env["seed"] == cfg.gpu.seed and env["device"] == "cpu"
    with open(run / "metrics.csv", newline="") as handle:
        epochs = list(csv.DictReader(handle))
    assert [row["phase"] for row in epochs] == ["frozen", "unfrozen"]
    assert all(float(row["valid_loss"]) > 0 and 0 <= float(row["accuracy"]) <= 1 for row in epochs)
    for name in ("loss.png", "confusion.png", "top_losses.png"):
        with Image.open(run / name) as image:
            assert image.format == "PNG" and min(image.size) >= 300, name
    assert (run / "model.pkl").stat().st_size > 1_000_000
    index = runs.read_index(cfg)
    assert [(row["run"], row["status"]) for row in index] == [(run.name, "finished")]
    assert float(index[0]["accuracy"]) == pytest.approx(runs.read_metrics(run)["accuracy"], abs=1e-4)
    recorded = json.loads((run / runs.METRICS).read_text())  # model.epochs 1: the index says 1, the record both
    assert index[0]["epochs"] == "1" and recorded["fit_epochs"] == 2 and "epochs" not in recorded


@pytest.mark.slow
def test_predict_writes_this_kinds_result_from_the_latest_run(trained):
    """Kaggle: a submission exactly like the sample, validated. Paper: test-split metrics in the run folder."""
    cfg, _, predicted, run = trained
    if KIND == "kaggle":
        sample = pd.read_csv(cfg.raw / "sample_submission.csv")
        written = pd.read_csv(cfg.root / "submissions" / f"{run.name}.csv")
        assert list(written.columns) == list(sample.columns) == ["ImageId", "Label"]
        assert written["ImageId"].tolist() == sample["ImageId"].tolist()
        assert written["Label"].dtype.kind == "i" and set(written["Label"]) <= set(range(10))
        assert "valid against sample_submission.csv" in predicted
    else:
        metrics = runs.read_metrics(run)
        assert metrics["test_images"] == 60 and metrics["test_accuracy"] > 3 * CHANCE
        assert predicted.startswith(f"test accuracy {metrics['test_accuracy']:.4f} on 60 images")


OTHER_LAYOUTS = {
    "kaggle": {
        "dog-breed-probability-per-class": lambda raw: tiny_data.dog_breed(raw, n=120, test=12),
        "aerial-cactus-binary-probability": lambda raw: tiny_data.aerial_cactus(raw, n=120, test=12),
        "dogs-vs-cats-labels-in-names": lambda raw: tiny_data.dogs_vs_cats(raw, n=120, test=12),
    },
    "paper": {
        "oxford-pets-without-a-test-split": lambda raw: tiny_data.oxford_pets(raw, n=120),
        "fastai-mnist-training-testing": lambda raw: tiny_data.class_folders(raw, "mnist_png", "training", "testing"),
    },
}[KIND]


@pytest.mark.slow
@pytest.mark.parametrize("name", OTHER_LAYOUTS)
def test_other_layouts_train_and_predict_in_their_own_format(tmp_path, torch_home, monkeypatch, name):
    """Each layout reaches predict; the output has the sample's shape (probabilities where it asks for them)."""
    monkeypatch.setenv("TORCH_HOME", str(torch_home))
    for key, value in tiny_data.NO_NETWORK.items():
        monkeypatch.setenv(key, value)
    auto_lr = name in ("dogs-vs-cats-labels-in-names", "oxford-pets-without-a-test-split")
    cfg = make_project(tmp_path, OTHER_LAYOUTS[name], **{**FAST, "epochs": 0, "lr": 0.0 if auto_lr else 0.003})
    train.train(cfg)
    predicted = predict(cfg)
    run = runs.latest(cfg)
    if auto_lr:  # a few batches: lr_find would cost more than the fit, so the recipe's rate, recorded with why
        resolved = json.loads((run / "config.json").read_text())["resolved"]
        assert resolved["lr"] == module("recipes.vision").LR and resolved["lr_from"].startswith("the recipe's LR")
    if KIND == "paper":
        metrics = runs.read_metrics(run)
        if name.startswith("oxford"):
            assert predicted.startswith("no labelled test split") and metrics["test_accuracy"] == metrics["accuracy"]
        else:
            assert metrics["test_images"] == 20
        return
    sample = pd.read_csv(cfg.raw / cfg.data.sample)
    written = pd.read_csv(cfg.root / "submissions" / f"{run.name}.csv")
    assert list(written.columns) == list(sample.columns)
    assert written.iloc[:, 0].tolist() == sample.iloc[:, 0].tolist()
    if name.startswith("dog-breed"):
        assert written.iloc[:, 1:].sum(axis=1).round(3).eq(1).all(), "one probability per breed, summing to 1"
    elif name.startswith("aerial"):
        assert written["has_cactus"].between(0, 1).all() and written["has_cactus"].nunique() > 1
    else:  # dogs-vs-cats wants 1 for dog, 0 for cat: the sample's numbers, the classes in order
        assert set(written["label"]) <= {0, 1} and written["label"].dtype.kind == "i"


@pytest.mark.slow
@pytest.mark.parametrize(
    "stop, said", [(signal.SIGINT, "interrupted"), (signal.SIGTERM, "terminated (SIGTERM)")], ids=["ctrl-c", "kill"]
)
def test_ctrl_c_marks_the_run_interrupted_and_predict_skips_it(tmp_path, torch_home, stop, said):
    """A stopped run must never be mistaken for a finished one, nor stay `running` for ever after a `kill`."""
    builder = tiny_data.digit_recognizer if KIND == "kaggle" else tiny_data.class_folders
    cfg = make_project(tmp_path, lambda raw: builder(raw), **{**FAST, "epochs": 50})
    env = {**__import__("os").environ, "TORCH_HOME": str(torch_home), **tiny_data.NO_NETWORK}
    env["PYTHONPATH"] = str(ROOT / "src")
    process = subprocess.Popen(
        [sys.executable, "-m", PACKAGE, "train"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # Ctrl-C as in a terminal, even when
    )  # the tests run in the background (`&`, nohup), which starts every child with SIGINT ignored
    metrics = None
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None:
        metrics = next((tmp_path / "runs").glob("*/metrics.csv"), None) if (tmp_path / "runs").is_dir() else None
        if metrics:
            break
        time.sleep(0.2)
    assert metrics, "training never finished its first epoch"
    process.send_signal(stop)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert err.decode().strip().splitlines()[-1].startswith(f"stopped: {said}; nothing half-written was kept")
    [row] = runs.read_index(cfg)
    assert row["status"] == "interrupted"
    assert not (tmp_path / "runs" / row["run"] / runs.METRICS).exists()
    with pytest.raises(ProjectError, match=r"no finished run .*\(run `make train` first\)"):
        runs.latest(cfg)
    with pytest.raises(ProjectError, match=rf"run {row['run']} did not finish \(status: interrupted\)"):
        runs.find(cfg, row["run"])
    done = run_cli("predict", cwd=tmp_path)
    assert done.returncode == 2 and "no finished run" in done.stderr


@pytest.mark.slow
def test_without_cached_weights_offline_train_says_so_and_no_pretrained_goes_on(tmp_path):
    """No internet and no cache: one line naming both fixes; --no-pretrained trains from random init quietly."""
    cfg = make_project(tmp_path, lambda raw: tiny_data.digit_recognizer(raw, n=40, test=5), **FAST)
    env = {"TORCH_HOME": str(tmp_path / "empty-cache"), **tiny_data.NO_NETWORK}
    done = run_cli("train", "--dry-run", cwd=cfg.root, env=env)
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("error: could not download ImageNet weights for resnet18")
    assert "copy resnet18-f37072fd.pth into" in line and "--no-pretrained" in line
    done = run_cli("train", "--dry-run", "--no-pretrained", cwd=cfg.root, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", "no warnings on the CPU path"
    assert done.stdout.splitlines() == [
        "gpu: no CUDA GPU here: CPU, fp32, 0 workers, seed 42",
        "dry run: 32 train + 8 valid images, 10 classes, resnet18 (random init) at 32 px, batch 16, cpu; "
        "nothing written",
    ]
    assert not (tmp_path / "runs").exists()
    hub = {**env, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "empty-hub")}
    done = run_cli("train", "--dry-run", "--arch", "convnext_tiny", cwd=cfg.root, env=hub)
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()  # no minute of retries and no retry messages
    assert line.startswith("error: could not download ImageNet weights for convnext_tiny")
    assert "Hugging Face cache (HF_HOME)" in line


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["resnet18", "resnet34", "resnet50"])
def test_each_backbone_loads_its_exact_cached_weights_file(tmp_path, torch_home, monkeypatch, arch):
    """The config's choices must hit torchvision's cache names, or a user offline would be stuck."""
    monkeypatch.setenv("TORCH_HOME", str(torch_home))
    for key, value in tiny_data.NO_NETWORK.items():
        monkeypatch.setenv(key, value)
    cfg = make_project(tmp_path, lambda raw: tiny_data.digit_recognizer(raw, n=20, test=4), **{**FAST, "arch": arch})
    assert weights.weights_file(arch) == tiny_data.WEIGHT_FILES[arch]
    assert f"{arch} (ImageNet weights)" in train.train(cfg, dry_run=True)


@pytest.mark.slow
def test_an_unknown_arch_is_refused_with_a_suggestion(tmp_path):
    cfg = make_project(tmp_path, lambda raw: tiny_data.digit_recognizer(raw, n=20, test=4), **FAST)
    with pytest.raises(ProjectError, match=r"unknown model.arch 'resnt34' \(did you mean resnet34\?"):
        train.train(cfg.override("model", arch="resnt34"), dry_run=True)


def test_latest_is_the_newest_finished_run_whatever_its_folder_name(project):
    """Run folders made elsewhere (e.g. fetched from a Kaggle kernel) must not win by sorting first."""
    cfg = config.load(project / "config.toml")
    started = {"20250101-000000-resnet18": "2025-01-01 00:00:00", "kaggle-k-20240101": "2024-01-01 00:00:00"}
    started["20250102-000000-resnet18"] = "2025-01-02 00:00:00"
    for name in started:
        folder = project / "runs" / name
        folder.mkdir(parents=True)
        if name != "20250102-000000-resnet18":  # the newest one was interrupted
            (folder / runs.METRICS).write_text('{"accuracy": 0.5}')
            (folder / runs.MODEL).write_bytes(b"model")
    rows = [
        f"{name},{'interrupted' if name.startswith('20250102') else 'finished'},{when}"
        for name, when in started.items()
    ]
    (project / "runs" / runs.INDEX).write_text("run,status,started\n" + "\n".join(rows) + "\n")
    assert runs.latest(cfg).name == "20250101-000000-resnet18"
    assert runs.read_metrics(runs.latest(cfg)) == {"accuracy": 0.5}
