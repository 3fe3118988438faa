"""config.toml: typed, checked, overridable, and writable without losing comments."""

import tomllib

import pytest
from conftest import module

config = module("kit.config")
ProjectError = module("kit.errors").ProjectError


def test_the_baked_config_loads_with_its_kind(project):
    cfg = config.load(project / "config.toml")
    assert cfg.kind in ("kaggle", "paper")
    assert cfg.model.arch in ("resnet18", "resnet34", "resnet50")
    assert cfg.root == project.resolve()


def test_flags_override_one_key_and_are_checked(project):
    cfg = config.load(project / "config.toml")
    assert cfg.override("model", epochs=7, size=None).model.epochs == 7
    assert cfg.override("model", size=None).model.size == cfg.model.size
    with pytest.raises(ProjectError, match="model.bs = 0 is outside"):
        cfg.override("model", bs=0)


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("[model]", "[modle]", "unknown table [modle] (did you mean model?)"),
        ("epochs = 3", "epoch = 3", "unknown key model.epoch (did you mean epochs?)"),
        ('precision = "auto"', 'precision = "fp8"', "is not one of auto, fp32, fp16, bf16"),
        ("epochs = 3", "epochs = [", "is not valid TOML"),
    ],
)
def test_mistakes_in_config_name_the_fix(project, old, new, message):
    path = project / "config.toml"
    path.write_text(path.read_text().replace(old, new, 1))
    with pytest.raises(ProjectError) as caught:
        config.load(path)
    assert message in str(caught.value)


def test_set_value_keeps_comments_and_other_keys(project):
    path = project / "config.toml"
    before = path.read_text()
    config.set_value(path, "model", "epochs", 9)
    config.set_value(path, "data", "layout", "pixel-csv")
    after = path.read_text()
    assert "epochs = 9         # fine_tune epochs" in after
    assert tomllib.loads(after)["data"]["layout"] == "pixel-csv"
    assert len(after.splitlines()) == len(before.splitlines())


def test_set_value_adds_a_missing_key_and_escapes_text(project):
    path = project / "config.toml"
    config.set_value(path, "data", "id_column", 'Image "Id"\\')
    assert tomllib.loads(path.read_text())["data"]["id_column"] == 'Image "Id"\\'


@pytest.mark.parametrize(
    "old, new, message",
    [
        (
            "epochs = 3",
            "epochs = -1",
            "model.epochs = -1 is outside 0..10000 (write a value in that range, e.g. model.epochs = 0)",
        ),
        (
            'precision = "auto"',
            'precision = "bf61"',
            'is not one of auto, fp32, fp16, bf16 (write gpu.precision = "bf16")',
        ),
    ],
)
def test_range_and_choice_errors_say_what_to_write_instead(project, old, new, message):
    path = project / "config.toml"
    path.write_text(path.read_text().replace(old, new))
    with pytest.raises(ProjectError) as caught:
        config.load(path)
    assert str(caught.value).endswith(message), str(caught.value)
