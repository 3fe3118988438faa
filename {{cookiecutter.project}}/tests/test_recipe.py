"""The recipes are yours to edit: this is the safety net. Each one builds its data and model from
config.toml, fits a few batches and predicts, on tiny data, in seconds on a CPU."""

import math

import numpy as np
import pytest
from conftest import module

config = module("kit.config")
weights = module("kit.weights")
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
    dls = vision.dataloaders(cfg, items, "cpu", 0, valid)
    learn = vision.learner(dls, weights.architecture(cfg.model.arch), pretrained=False)
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
    assert [m.name for m in learn.metrics] == list(vision.METRICS)
