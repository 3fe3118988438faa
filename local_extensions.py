"""Jinja filters that turn a bake's answers into derived names, listed in cookiecutter.json.

The rules themselves live in the generated package's `ids.py`; this file only
loads it from the template tree, so the hooks, the prompts and the generated
project share one implementation.
"""

import importlib.util
import sys
import tempfile
from pathlib import Path

from jinja2.ext import Extension

IDS_PATH = Path(__file__).parent / "{{cookiecutter.project}}" / "src" / "{{cookiecutter.__package}}" / "ids.py"


def load_ids():
    """Import the generated package's ids.py from the template tree."""
    spec = importlib.util.spec_from_file_location("mlstarter_ids", IDS_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ids = load_ids()


def _kind(source):
    try:
        return ids.parse_source(str(source))[0]
    except ids.IdError:
        return ""


def _ident(source, kind):
    try:
        found, ident = ids.parse_source(str(source))
    except ids.IdError:
        return ""
    return ident if found == kind else ""


def check_answers(answers):
    """Stop the bake before anything is written when an answer is unusable.

    Raising SystemExit here (while cookiecutter renders the derived names)
    means no folder was created yet, so a refused bake leaves nothing behind.
    """
    problems = ids.check_answers(dict(answers))
    if not problems:
        problems = [p for p in [_unwritable(_output_folder())] if p]
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        raise SystemExit(2)
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
        environment.globals["ids_path"] = str(IDS_PATH)  # absolute, for the pre-gen hook
        environment.filters.update(
            check_answers=check_answers,
            default_folder=ids.default_folder,
            kind=_kind,
            competition=lambda source: _ident(source, "kaggle"),
            paper=lambda source: _ident(source, "paper"),
            package_name=ids.package_name,
        )
