"""fastai, imported once, quietly: its import trips deprecation notices (torch.jit, pandas) that are
not ours. Training calls this first; the recipes then import from fastai as usual."""

from __future__ import annotations

import importlib
import warnings


def fastai_for(layout: str):
    """fastai.tabular.all for a table, else fastai.vision.all, as a module (imported on first use: it takes
    seconds; a table's part imports no torchvision, 3 to 4 s less on a small CPU)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", message=".*chained_assignment.*")
        return importlib.import_module("fastai.tabular.all" if layout == "tabular" else "fastai.vision.all")


def fastai_vision():
    """fastai.vision.all (the model zoo's metadata, the image recipes)."""
    return fastai_for("images")
