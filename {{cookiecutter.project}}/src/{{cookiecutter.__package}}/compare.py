"""make compare: our numbers beside the paper's."""

from .errors import ProjectError


def compare(cfg, *args, **kwargs):
    raise ProjectError("`compare` is not built yet (mlstarter issue #5); nothing was changed")
