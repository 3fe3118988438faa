"""The fastai pretrained-ResNet baseline: train and predict."""

from .errors import ProjectError


def train(cfg, *args, **kwargs):
    raise ProjectError("`train` is not built yet (mlstarter issue #4); nothing was changed")


def predict(cfg, *args, **kwargs):
    raise ProjectError("`predict` is not built yet (mlstarter issue #4); nothing was changed")
