"""The recipes are yours to edit: this is the safety net. Each one builds its data and model from
config.toml, fits a few batches and predicts, on tiny data, in seconds on a CPU."""

import math

import numpy as np
import pytest
from conftest import module

config = module("kit.config")
vision = module("recipes.vision")
digits = module("smoke").digits


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """The vision recipe on 160 bundled digits at 32 px: 8 training batches of random-init resnet18."""
    from conftest import ROOT

    module("kit.quiet").fastai_vision()
    root = tmp_path_factory.mktemp("recipe")
    (root / "config.toml").write_text((ROOT / "config.toml").read_text())
    cfg = config.load(root / "config.toml").override("model", size=32, bs=16, epochs=0, arch="resnet18")
    images, labels = digits()
    items = [(image, str(label)) for image, label in zip(images[:160], labels[:160], strict=True)]
    valid = list(range(0, 160, 5))  # every fifth item: a fold, as cv.py gives it
    dls = vision.dataloaders(cfg, items, "classification", "cpu", 0, valid)
    learn = vision.learner(dls, cfg, "classification", pretrained=False)
    with learn.no_bar(), learn.no_logging():
        vision.fit(learn, cfg, pretrained=False, lr=3e-3, cbs=[])
        losses = [float(v) for v in learn.recorder.losses]
        preds, targets = learn.get_preds(dl=dls.valid)
    return dls, learn, losses, preds.numpy(), targets.numpy()


def test_the_vision_recipe_splits_as_told_and_knows_every_class(fitted):
    dls, _, _, _, _ = fitted
    assert (len(dls.train_ds), len(dls.valid_ds)) == (128, 32)
    assert list(dls.vocab) == [str(d) for d in range(10)] and dls.c == 10
    x, y = dls.one_batch()
    assert tuple(x.shape) == (16, 3, 32, 32) and tuple(y.shape) == (16,)


def test_the_vision_recipe_fits_and_predicts_probabilities(fitted):
    _, learn, losses, preds, targets = fitted
    assert len(losses) == 8 and all(math.isfinite(v) for v in losses), "one fit_one_cycle epoch of 8 batches"
    assert preds.shape == (32, 10) and np.allclose(preds.sum(1), 1, atol=1e-4)
    assert set(targets.tolist()) <= set(range(10))
    assert [m.name for m in learn.metrics] == ["accuracy", "error_rate"]


@pytest.mark.parametrize("fit_epochs", [vision.AUGMENT_FROM - 1, vision.AUGMENT_FROM])
def test_batches_are_augmented_only_in_a_fit_long_enough_for_it_to_pay(project, fit_epochs):
    """Augmentation regularises: a shorter fit underfits, where it only slows learning (AUGMENT_FROM says how much)."""
    import torch

    module("kit.quiet").fastai_vision()
    cfg = config.load(project / "config.toml").override("model", size=32, bs=16, epochs=fit_epochs - 1)
    images, labels = digits()
    dls = vision.dataloaders(cfg, list(zip(images[:40], labels[:40], strict=True)), "classification", "cpu", 0)
    in_order = dls.train.new(shuffle=False)  # the same items twice: only augmentation can tell them apart
    first, again = in_order.one_batch()[0], in_order.one_batch()[0]
    assert tuple(first.shape) == (16, 3, 32, 32)
    assert vision.augments(cfg) is (fit_epochs >= vision.AUGMENT_FROM)
    assert torch.equal(first, again) is not vision.augments(cfg)


def quick_fit(recipe, cfg, source, task: str):
    """A few batches of a recipe on its own: (losses per batch, validation predictions)."""
    module("kit.quiet").fastai_vision()
    dls = recipe.dataloaders(cfg, source, task, "cpu", 0)
    learn = recipe.learner(dls, cfg, task, pretrained=False)
    with learn.no_bar(), learn.no_logging():
        recipe.fit(learn, cfg, pretrained=False, lr=3e-3, cbs=[])
        losses = [float(v) for v in learn.recorder.losses]
        preds, _ = learn.get_preds(dl=dls.valid)
    return losses, preds.numpy()


@pytest.mark.parametrize("task", ["multi-label", "regression"])
def test_the_vision_recipe_learns_tags_and_numbers_too(project, task):
    """Planet-like tags (space-separated) and PetFinder-like scores go through the same three functions."""
    cfg = config.load(project / "config.toml").override("model", size=32, bs=16, epochs=0, arch="resnet18")
    images, labels = digits()
    targets = {"multi-label": [f"d{y} {'even' if y % 2 == 0 else 'odd'}" for y in labels[:80]]}
    targets["regression"] = [float(y) * 10 for y in labels[:80]]
    losses, preds = quick_fit(vision, cfg, list(zip(images[:80], targets[task], strict=True)), task)
    assert losses and all(math.isfinite(v) for v in losses)
    assert preds.shape == ((16, 12) if task == "multi-label" else (16, 1))
    if task == "multi-label":
        assert ((preds >= 0) & (preds <= 1)).all(), "tag probabilities, each on its own"


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_the_tabular_recipe_fits_a_table_of_both_kinds(project, task):
    """Titanic-like classes and House-Prices-like numbers: a table in, predictions for its validation rows out."""
    from sklearn.datasets import load_diabetes

    tabular = module("kit.tabular")
    recipe = module("recipes.tabular")
    frame = load_diabetes(as_frame=True).frame.head(200)
    frame["sex"] = np.where(frame["sex"] > 0, "m", "f")
    if task == "classification":
        frame["target"] = np.where(frame["target"] > frame["target"].median(), "high", "low")
    cfg = config.load(project / "config.toml").override("model", bs=32, epochs=1)
    table = tabular.features(frame, "target", [], "train.csv")
    assert "sex" in table.cat and "bmi" in table.cont
    losses, preds = quick_fit(recipe, cfg, table, task)
    assert losses and all(math.isfinite(v) for v in losses)
    assert preds.shape == ((40, 2) if task == "classification" else (40, 1))
