"""make rules: RULES.md from the competition's metadata, your ticks kept."""

from .errors import ProjectError


def write_rules(cfg, *args, **kwargs):
    raise ProjectError("`rules` is not built yet (mlstarter issue #3); nothing was changed")
