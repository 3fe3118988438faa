"""Jinja filters that turn a bake's answers into derived names, listed in cookiecutter.json.

The rules themselves live in answers.py beside this file, which the pre-gen hook
uses too: the prompts and the hooks share one implementation.
"""

import sys
import tempfile
from pathlib import Path

from jinja2.ext import Extension

import answers


def check_answers(given):
    """Stop the bake before anything is written when an answer is unusable.

    Raising SystemExit here (while cookiecutter renders the derived names)
    means no folder was created yet, so a refused bake leaves nothing behind.
    """
    problems = answers.check_answers(dict(given)) or [p for p in [_unwritable(_output_folder())] if p]
    if problems:
        raise SystemExit(answers.report(problems))
    return "ok"


PROBE_BYTES = 1 << 20  # more than a bake writes: a disk that takes this takes the project


def _output_folder():
    """The folder cookiecutter is about to write into (its own `output_dir`), read from the call stack:
    nothing else tells an extension where the bake goes. None when not called by cookiecutter.main."""
    frame = sys._getframe()
    while frame is not None:
        if frame.f_code.co_name == "cookiecutter" and frame.f_globals.get("__name__") == "cookiecutter.main":
            return frame.f_locals.get("output_dir")
        frame = frame.f_back
    return None


def _unwritable(folder) -> str:
    """Why a bake into `folder` would stop half-way (read-only, full disk), or "". cookiecutter itself
    would answer with a traceback and leave a half-made project behind."""
    if folder is None:
        return ""
    existing = Path(folder).expanduser().absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        with tempfile.TemporaryFile(dir=existing) as probe:
            probe.write(b"\0" * PROBE_BYTES)
            probe.flush()
    except OSError as exc:
        return (
            f"cannot write into {folder}: {exc.strerror or exc} "
            "(free some disk space, or bake into a folder you may write to: cookiecutter ... -o <folder>)"
        )
    return ""


class AnswersExtension(Extension):
    def __init__(self, environment):
        super().__init__(environment)
        environment.globals["template_dir"] = str(Path(__file__).parent)  # absolute, for the pre-gen hook
        environment.filters.update(
            check_answers=check_answers,
            default_folder=answers.default_folder,
            kind=answers.kind,
            competition=lambda source: answers.ident(source, "kaggle"),
            paper=lambda source: answers.ident(source, "paper"),
            package_name=answers.package_name,
        )
