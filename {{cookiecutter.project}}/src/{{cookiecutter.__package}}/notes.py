"""make notes: NOTES.md from the arXiv API, your text kept."""

from .errors import ProjectError


def write_notes(cfg, *args, **kwargs):
    raise ProjectError("`notes` is not built yet (mlstarter issue #5); nothing was changed")
