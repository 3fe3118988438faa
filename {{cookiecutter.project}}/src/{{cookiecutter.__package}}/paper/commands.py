"""The paper kind's commands, with their flags: cli.py adds them to the common ones."""

from typing import Annotated

import typer

from . import compare as comparison
from . import data as dataset
from . import notes as notes_md
from .evaluate import predict as evaluate

RunId = Annotated[str | None, typer.Option("--run", help="run id under runs/ (default: latest finished)")]


def data(cfg, force: Annotated[bool, typer.Option(help="download again even if present")] = False):
    """Download the dataset of config.toml's [data] dataset into data/raw (once)."""
    return dataset.download(cfg, force=force)


def predict(cfg, run: RunId = None):
    """Evaluate a run's model (latest finished unless --run) on the test split: test_* metrics in its folder."""
    return evaluate(cfg, run)


def notes(cfg, paper: Annotated[str | None, typer.Argument(help="arXiv id or URL (default: project.paper)")] = None):
    """Write or refresh NOTES.md from arXiv, keeping everything you wrote."""
    return notes_md.write_notes(cfg, paper)


def compare(cfg, run: RunId = None):
    """Print ours vs the paper's numbers and record the table in NOTES.md."""
    return comparison.compare(cfg, run=run)


COMMANDS = [data, predict, notes, compare]
