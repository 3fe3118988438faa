"""The command line: `python -m <package> COMMAND`; each `make` target runs one of these commands.

Each command gets config.toml, loaded once, and calls one function of the module that
owns the step; the imports below are every module it routes to. The kind's own
commands (Kaggle or paper) come from its folder, the one the bake kept. Errors arrive
as ProjectError and are printed here, once, as `error: <what> (<fix>)` with exit code
2; `--debug` shows the traceback instead.
"""

import functools
import inspect
import sys
from pathlib import Path
from typing import Annotated

import typer

from . import cv as cross_validation
from . import smoke as smoke_test
from . import train as training
from .kit import config, watchdog
from .kit import doctor as checkup
from .kit import folds as folds_file
from .kit.errors import ProjectError, explain_os_error

try:  # the bake keeps exactly one kind's folder
    from .kaggle import commands as kind
except ModuleNotFoundError as missing:
    if missing.name != f"{__package__}.kaggle":
        raise
    from .paper import commands as kind

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None, pretty_exceptions_enable=False)
OPTIONS = {"config": None, "debug": False}  # the options before COMMAND, set by `options`


@app.callback()
def options(
    config_file: Annotated[
        Path | None, typer.Option("--config", help="config.toml to use (default: found upwards)")
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="show tracebacks")] = False,
):
    """Every step of this project, one command each (`make help` lists the make targets)."""
    OPTIONS.update(config=config_file, debug=debug)


def command(function, name: str | None = None):
    """Add `function(cfg, **flags)` as a command: flags from its signature, config.toml loaded first,
    its one-line summary printed, its errors printed as one line."""

    @functools.wraps(function)
    def run(**flags):
        try:
            with watchdog.sigterm_as_interrupt():  # `kill` cleans up as Ctrl-C does
                summary = function(config.load(OPTIONS["config"]), **flags)
        except (ProjectError, OSError) as exc:  # OSError: a full disk, a read-only folder, a damaged file
            if OPTIONS["debug"]:
                raise
            print(f"error: {exc if isinstance(exc, ProjectError) else explain_os_error(exc)}", file=sys.stderr)
            raise typer.Exit(2) from None
        except KeyboardInterrupt as stop:
            said = stop.args[0] if stop.args else "interrupted"
            print(f"stopped: {said}; nothing half-written was kept (run the command again)", file=sys.stderr)
            raise typer.Exit(130) from None
        if summary:
            print(summary)

    signature = inspect.signature(function)
    run.__signature__ = signature.replace(parameters=list(signature.parameters.values())[1:])
    app.command(name or function.__name__.replace("_", "-"))(run)
    return function


# Flags that override [model] for one run (train, cv): `make train EPOCHS=5` passes --epochs 5.
Epochs = Annotated[int | None, typer.Option(help="epochs to fine-tune (config: model.epochs)")]
Size = Annotated[int | None, typer.Option(help="image size in pixels (config: model.size)")]
Arch = Annotated[str | None, typer.Option(help="resnet18/34/50 or a timm model name (config: model.arch)")]
Bs = Annotated[int | None, typer.Option(help="batch size (config: model.bs)")]
Lr = Annotated[float | None, typer.Option(help="learning rate; 0 runs lr_find (config: model.lr)")]
NoPretrained = Annotated[bool, typer.Option("--no-pretrained", help="start from random weights")]


def model_flags(cfg, epochs, size, arch, bs, lr, no_pretrained):
    """config.toml's [model] with the flags given on the command line."""
    cfg = cfg.override("model", epochs=epochs, size=size, arch=arch, bs=bs, lr=lr)
    return cfg.override("model", pretrained=False) if no_pretrained else cfg


@command
def doctor(cfg):
    """Check Python, torch, CUDA and GPUs, settings, credentials and data in one table."""
    return checkup.doctor(cfg)


@command
def folds(
    cfg,
    k: Annotated[int | None, typer.Option(help="number of folds (config: cv.k)")] = None,
    group: Annotated[
        str | None, typer.Option(help="training-CSV column whose rows share a fold (config: cv.group)")
    ] = None,
    force: Annotated[bool, typer.Option(help="replace an existing data/folds.csv")] = False,
):
    """Write data/folds.csv once: stratified k folds (by a group column too, if set); --force remakes it."""
    return folds_file.make_folds(cfg, k=k, group=group, force=force)


@command
def train(
    cfg,
    epochs: Epochs = None,
    size: Size = None,
    arch: Arch = None,
    bs: Bs = None,
    lr: Lr = None,
    no_pretrained: NoPretrained = False,
    fold: Annotated[int | None, typer.Option(help="validate on this fold of data/folds.csv (FOLD=k)")] = None,
    dry_run: Annotated[bool, typer.Option(help="build data and model, print them, do not train")] = False,
):
    """Train the recipe (recipes/) on data/raw; writes runs/<id>/."""
    cfg = model_flags(cfg, epochs, size, arch, bs, lr, no_pretrained)
    if fold is not None:
        return cross_validation.train_fold(cfg, fold, dry_run)
    return training.train(cfg, dry_run)


@command
def cv(cfg, epochs: Epochs = None, size: Size = None, arch: Arch = None, bs: Bs = None, lr: Lr = None,
       no_pretrained: NoPretrained = False):  # fmt: skip
    """Train every fold into one run: out-of-fold predictions, per-fold scores, the CV score and spread."""
    return cross_validation.cv(model_flags(cfg, epochs, size, arch, bs, lr, no_pretrained))


@command
def smoke(
    cfg,
    data: Annotated[
        str, typer.Option(help="images | table | auto: a table when data.layout is tabular, else images (SMOKE=...)")
    ] = "auto",
):
    """Run data, train, predict and validate offline on a tiny dataset, in about a minute."""
    return smoke_test.smoke(cfg, kind.predict, data)


for each in kind.COMMANDS:
    command(each)


def main(argv: list[str] | None = None) -> int:
    try:
        return app(args=argv, prog_name=f"python -m {__package__}", standalone_mode=False) or 0
    except typer.Exit as done:
        return done.exit_code
    except typer.TyperException as exc:  # a mistyped command or flag; click's message suggests the closest
        said = " ".join(getattr(exc, "format_message", exc.__str__)().split())
        print(f"error: {said} (`python -m {__package__} --help` lists them)", file=sys.stderr)
        return 2
