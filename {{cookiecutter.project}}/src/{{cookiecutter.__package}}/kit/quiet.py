"""fastai, imported once, quietly: its import trips deprecation notices (torch.jit, pandas) that are
not ours. Training calls this first; the recipes then import from fastai as usual."""

from __future__ import annotations

import warnings


def fastai_vision():
    """fastai.vision.all as a module (imported on first use: it takes seconds)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", message=".*chained_assignment.*")
        from fastai.vision import all as vision
    return vision
