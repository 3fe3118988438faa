"""make data (paper): the paper's dataset into data/raw."""

from .errors import ProjectError


def download(cfg, *args, **kwargs):
    raise ProjectError("`data` is not built yet (mlstarter issue #5); nothing was changed")
