"""The command line: `python -m <package> COMMAND`. Each command calls one function, nothing more.

Errors from the project arrive as ProjectError and are printed here, once, as
`error: <what> (<fix>)` with exit code 2; `--debug` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys

from . import config
from .errors import ProjectError, explain_os_error


def _module(name: str):
    return importlib.import_module(f".{name}", __package__)


def _present(name: str) -> bool:
    """A module the bake kept: the other kind's modules are pruned."""
    return importlib.util.find_spec(f".{name}", __package__) is not None


def doctor(cfg, args):
    """Check Python, torch, CUDA and GPUs, settings, credentials and data in one table."""
    return _module("doctor").doctor(cfg)


def data(cfg, args):
    """Download the data into data/raw (once; a second run checks and returns)."""
    module = "kaggle_data" if _present("kaggle_data") else "paper_data"
    return _module(module).download(cfg, force=args.force)


def train(cfg, args):
    """Train the pretrained-ResNet baseline; writes runs/<id>/."""
    if args.gpus and args.gpus > 1 and not _module("gpu").launched():
        return _module("gpu").launch(cfg, args.gpus, _train_argv(args))
    return _module("baseline").train(_model_flags(cfg, args), dry_run=args.dry_run, fold=args.fold)


def _model_flags(cfg, args):
    """config.toml's [model] with the flags given on the command line (train, cv)."""
    cfg = cfg.override("model", epochs=args.epochs, size=args.size, arch=args.arch, bs=args.bs, lr=args.lr)
    return cfg.override("model", pretrained=False) if args.no_pretrained else cfg


def _train_argv(args) -> list[str]:
    """The same train command again, for each process that `accelerate launch` starts."""
    argv = (["--config", args.config] if args.config else []) + ["train"]
    for name in ("epochs", "size", "arch", "bs", "lr", "fold"):
        if getattr(args, name) is not None:
            argv += [f"--{name}", str(getattr(args, name))]
    return argv + (["--no-pretrained"] if args.no_pretrained else [])


def folds(cfg, args):
    """Write data/folds.csv once: stratified k folds (by a group column too, if set); --force remakes it."""
    return _module("folds").make_folds(cfg, k=args.k, group=args.group, force=args.force)


def cv(cfg, args):
    """Train every fold into one run: out-of-fold predictions, per-fold scores, the CV score and spread."""
    return _module("folds").cv(_model_flags(cfg, args))


def lb(cfg, args):
    """Print CV vs public score for every logged submission; plot them in submissions/cv_vs_lb.png."""
    return _module("leaderboard").lb(cfg)


def predict(cfg, args):
    """Predict the test set with a run's model (the latest finished run unless --run)."""
    return _module("baseline").predict(cfg, run=args.run)


def submit(cfg, args):
    """Validate a submission file, check today's limit, submit it and wait for the score."""
    return _module("submission").submit(cfg, args.file, message=args.message, yes=args.yes)


def rules(cfg, args):
    """Write RULES.md from the competition's metadata, keeping your ticks and lines."""
    return _module("rules").write_rules(cfg)


def notes(cfg, args):
    """Write or refresh NOTES.md from arXiv, keeping everything you wrote."""
    return _module("notes").write_notes(cfg, args.paper)


def compare(cfg, args):
    """Print ours vs the paper's numbers and record the table in NOTES.md."""
    return _module("compare").compare(cfg, run=args.run)


def smoke(cfg, args):
    """Run data, train, predict and validate offline on a tiny dataset, in about a minute."""
    return _module("smoke").smoke(cfg)


def kaggle_push(cfg, args):
    """Push this project as a private Kaggle GPU kernel that runs data, train and predict there."""
    return _module("kernels").push(cfg)


def kaggle_status(cfg, args):
    """Show the Kaggle kernel's state (--wait: check until it finishes) and why it failed."""
    return _module("kernels").status(cfg, wait=args.wait)


def kaggle_output(cfg, args):
    """Fetch the Kaggle kernel's outputs and log into a new runs/kaggle-<kernel>-<time>/."""
    return _module("kernels").output(cfg)


# Flags that override [model] for one run: train and cv take them.
MODEL_FLAGS = [
    ("--epochs", {"type": int, "help": "epochs to fine-tune (config: model.epochs)"}),
    ("--size", {"type": int, "help": "image size in pixels (config: model.size)"}),
    ("--arch", {"help": "resnet18/34/50 or a timm model name (config: model.arch)"}),
    ("--bs", {"type": int, "help": "batch size (config: model.bs)"}),
    ("--lr", {"type": float, "help": "learning rate; 0 runs lr_find (config: model.lr)"}),
    ("--no-pretrained", {"action": "store_true", "help": "start from random weights"}),
]

# name: (function, module that must be present, extra arguments)
COMMANDS = {
    "doctor": (doctor, "doctor", []),
    "data": (data, None, [("--force", {"action": "store_true", "help": "download again even if present"})]),
    "train": (
        train,
        "baseline",
        [
            *MODEL_FLAGS,
            ("--fold", {"type": int, "help": "validate on this fold of data/folds.csv, train on the rest (FOLD=k)"}),
            ("--dry-run", {"action": "store_true", "help": "build data and model, print them, do not train"}),
            ("--gpus", {"type": int, "help": "train on N GPUs through `accelerate launch` (make train GPUS=N)"}),
        ],
    ),
    "folds": (
        folds,
        "folds",
        [
            ("--k", {"type": int, "help": "number of folds (config: cv.k)"}),
            ("--group", {"help": "training-CSV column whose rows share a fold (config: cv.group)"}),
            ("--force", {"action": "store_true", "help": "replace an existing data/folds.csv"}),
        ],
    ),
    "cv": (cv, "folds", MODEL_FLAGS),
    "predict": (predict, "baseline", [("--run", {"help": "run id under runs/ (default: latest finished)"})]),
    "submit": (
        submit,
        "submission",
        [
            ("file", {"nargs": "?", "help": "CSV to submit (default: the latest in submissions/)"}),
            ("-m", {"dest": "message", "help": "submission description (config: submit.message)"}),
            ("--yes", {"action": "store_true", "help": "do not ask before spending a submission"}),
        ],
    ),
    "lb": (lb, "leaderboard", []),
    "rules": (rules, "rules", []),
    "notes": (notes, "notes", [("paper", {"nargs": "?", "help": "arXiv id or URL (default: project.paper)"})]),
    "compare": (compare, "compare", [("--run", {"help": "run id under runs/ (default: latest finished)"})]),
    "smoke": (smoke, "smoke", []),
    "kaggle-push": (kaggle_push, "kernels", []),
    "kaggle-status": (
        kaggle_status,
        "kernels",
        [("--wait", {"action": "store_true", "help": "check until the run finishes (make kaggle-status WAIT=1)"})],
    ),
    "kaggle-output": (kaggle_output, "kernels", []),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m {__package__}", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument("--config", help="path to config.toml (default: found upwards from here)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (function, module, arguments) in COMMANDS.items():
        if module and not _present(module):
            continue
        summary = function.__doc__.strip()
        command = commands.add_parser(name, help=summary, description=summary)
        for flag, options in arguments:
            command.add_argument(flag, **options)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    function = COMMANDS[args.command][0]
    try:
        cfg = config.load(args.config)
        summary = function(cfg, args)
    except ProjectError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a full disk, a read-only folder, a damaged file: one line, not a traceback
        if args.debug:
            raise
        print(f"error: {explain_os_error(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("stopped: interrupted; nothing half-written was kept (run the command again)", file=sys.stderr)
        return 130
    if summary:
        print(summary)
    return 0
