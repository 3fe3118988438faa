"""The Kaggle kind's commands, with their flags: cli.py adds them to the common ones."""

from pathlib import Path
from typing import Annotated

import typer

from . import data as competition_data
from . import kernels, leaderboard, submission
from . import rules as rules_md
from .predict import predict as predict_run

RunId = Annotated[str | None, typer.Option("--run", help="run id under runs/ (default: latest finished)")]


def data(cfg, force: Annotated[bool, typer.Option(help="download again even if present")] = False):
    """Download the competition's files into data/raw (once; a second run checks and returns)."""
    return competition_data.download(cfg, force=force)


def predict(cfg, run: RunId = None):
    """Write submissions/<run-id>.csv from a run's model (latest finished unless --run), validated."""
    return predict_run(cfg, run)


def submit(
    cfg,
    file: Annotated[Path | None, typer.Argument(help="CSV to submit (default: the latest in submissions/)")] = None,
    message: Annotated[str | None, typer.Option("-m", help="submission description (config: submit.message)")] = None,
    yes: Annotated[bool, typer.Option("--yes", help="do not ask before spending a submission")] = False,
    force: Annotated[bool, typer.Option(help="send a file already submitted to this competition (FORCE=1)")] = False,
):
    """Validate a submission file, refuse one sent before, check today's limit, submit it, wait for the score."""
    return submission.submit(cfg, file, message=message, yes=yes, force=force)


def lb(cfg):
    """Print CV vs public score for every logged submission; plot them in submissions/cv_vs_lb.png."""
    return leaderboard.lb(cfg)


def rules(cfg):
    """Write RULES.md from the competition's metadata, keeping your ticks and lines."""
    return rules_md.write_rules(cfg)


def kaggle_push(cfg):
    """Push this project as a private Kaggle GPU kernel that runs data, train and predict there."""
    return kernels.push(cfg)


def kaggle_status(cfg, wait: Annotated[bool, typer.Option(help="check until the run finishes (WAIT=1)")] = False):
    """Show the Kaggle kernel's state (--wait: check until it finishes) and why it failed."""
    return kernels.status(cfg, wait=wait)


def kaggle_output(cfg):
    """Fetch the Kaggle kernel's outputs and log into a new runs/kaggle-<kernel>-<time>/."""
    return kernels.output(cfg)


COMMANDS = [data, predict, submit, lb, rules, kaggle_push, kaggle_status, kaggle_output]
