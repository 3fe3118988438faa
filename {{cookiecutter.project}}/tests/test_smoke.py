"""make smoke: the whole path offline on digits, in a scratch folder, leaving the project untouched."""

import pytest
import tiny_data
from conftest import module, run_cli

smoke = module("smoke")
config = module("kit.config")


@pytest.mark.slow
def test_smoke_passes_offline_and_leaves_the_project_untouched(project, tmp_path):
    """`make smoke` (and the root `make demo`) must pass on a fresh machine with no data and no network."""
    torch_home = tiny_data.seed_weights(tmp_path / "torch", ["resnet18"])
    path = project / "config.toml"
    config.set_value(path, "model", "arch", "resnet18")  # the cached file's arch: the pretrained path runs
    before = sorted(p.relative_to(project) for p in project.rglob("*"))
    done = run_cli("smoke", cwd=project, env={"TORCH_HOME": str(torch_home), **tiny_data.NO_NETWORK})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("smoke: passed in ") and last.endswith("your data and runs untouched")
    assert "resnet18 at 32 px" in last and "1,797 digits" in last
    assert ("submission validated" in last) if config.load(path).kind == "kaggle" else ("test accuracy" in last)
    assert "random init" not in done.stdout, "the cached weights were used"
    assert "(ImageNet weights)" in done.stdout
    assert sorted(p.relative_to(project) for p in project.rglob("*")) == before, "nothing written in the project"


def test_smoke_without_cached_weights_says_so_in_one_line_and_uses_random_init(project, tmp_path, capsys, monkeypatch):
    """Smoke never downloads: an empty cache means random weights, announced once."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    cfg = config.load(project / "config.toml")
    chosen = smoke._weights(cfg)
    assert chosen.model.pretrained is False
    out = capsys.readouterr().out.splitlines()
    weights_file = module("kit.weights").weights_file(cfg.model.arch)
    cache = tmp_path / "empty" / "hub" / "checkpoints"
    assert out == [f"weights: {weights_file} is not in {cache} (smoke runs offline): random init"]
    tiny_data.seed_weights(tmp_path / "empty", [cfg.model.arch])
    assert smoke._weights(cfg).model.pretrained is True and capsys.readouterr().out == ""


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
