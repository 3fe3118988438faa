"""Jinja filters that turn a bake's answers into derived names, listed in cookiecutter.json.

The rules themselves live in answers.py beside this file, which the pre-gen hook
uses too: the prompts and the hooks share one implementation.
"""

import sys
from pathlib import Path

from jinja2.ext import Extension

import answers


def check_answers(given):
    """Stop the bake before anything is written when an answer is unusable.

    Raising SystemExit here (while cookiecutter renders the derived names)
    means no folder was created yet, so a refused bake leaves nothing behind.
    A competition is also looked up on Kaggle here, once per bake (a replay's
    answers were looked up when they were first given).
    """
    problems = answers.check_answers(dict(given)) or answers.check_output(_output_folder())
    slug = answers.ident(given.get("source", ""), "kaggle")
    if not problems and slug:
        problems, note = answers.check_competition(slug)
        if note:
            print(f"note: {note}", file=sys.stderr)
    if problems:
        raise SystemExit(answers.report(problems))
    return "ok"


def _output_folder():
    """The folder cookiecutter is about to write into (its own `output_dir`), read from the call stack:
    nothing else tells an extension where the bake goes. None when not called by cookiecutter.main."""
    frame = sys._getframe()
    while frame is not None:
        if frame.f_code.co_name == "cookiecutter" and frame.f_globals.get("__name__") == "cookiecutter.main":
            return frame.f_locals.get("output_dir")
        frame = frame.f_back
    return None


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
