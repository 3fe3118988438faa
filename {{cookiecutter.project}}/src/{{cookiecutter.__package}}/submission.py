"""make submit: a validated file, today's limit checked, then the score."""

from .errors import ProjectError


def submit(cfg, *args, **kwargs):
    raise ProjectError("`submit` is not built yet (mlstarter issue #3); nothing was changed")
