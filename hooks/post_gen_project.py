"""Finish a bake: prune the other kind's files, fill RULES.md or NOTES.md, git init, say what's next.

Filling calls the generated package's own functions (kaggle/rules.py, paper/notes.py), so
`make rules` / `make notes` later do exactly what the bake did.
"""

import importlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

# What only one kind uses, whole folders where it can be; the bake deletes the other kind's.
KIND_FILES = {
    "kaggle": ["RULES.md", "make/kaggle.mk", "src/{package}/kaggle", "tests/kaggle"],
    "paper": ["NOTES.md", "make/paper.mk", "src/{package}/paper", "tests/paper"],
}
# What fills each kind's document: (module, function, the command that retries it).
FILLERS = {
    "kaggle": ("kaggle.rules", "write_rules", "make rules"),
    "paper": ("paper.notes", "write_notes", "make notes"),
}


def prune(root, kind, package):
    """Delete every file that belongs to the other kind."""
    for other, files in KIND_FILES.items():
        if other == kind:
            continue
        for name in files:
            path = root / name.format(package=package)
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()


def fill(root, kind, package):
    """Fill the kind's document with live metadata; offline or without the deps, say how to later."""
    module_name, function, retry = FILLERS[kind]
    sys.dont_write_bytecode = True  # leave no __pycache__ in the fresh project
    sys.path.insert(0, str(root / "src"))
    try:
        config = importlib.import_module(f"{package}.kit.config")
        module = importlib.import_module(f"{package}.{module_name}")
        return getattr(module, function)(config.load(root / "config.toml"))
    except ImportError as exc:
        return f"skipped filling: {exc.name or exc} is not installed here (run `make setup`, then `{retry}`)"
    except Exception as exc:  # noqa: BLE001 - a bake must never fail on the network
        hint = "" if retry in str(exc) else f" (run `{retry}` later)"
        return f"skipped filling: {exc}{hint}"
    finally:
        sys.path.remove(str(root / "src"))


def git_init(root):
    """Initialise a repository with one commit; a missing git or identity only skips the commit."""
    if not shutil.which("git"):
        return "git: not installed; skipped `git init`"

    def git(*args):
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)

    git("init", "-q")
    git("add", "-A")
    done = git("commit", "-q", "-m", "Start from mlstarter")
    if done.returncode:
        return "git: repository created, first commit skipped (set git user.name/user.email, then `git commit`)"
    return "git: repository created with a first commit"


TRANSIENT = ("_output_dir", "_repo_dir", "_checkout")  # where this bake ran, not what it was


def record_template(root, answers):
    """Write .cruft.json as `cruft create` would, so that a plain `cookiecutter` bake can take later
    template fixes with `cruft update` (cruft create, when it is the baker, writes its own over this)."""
    if "_commit" in answers:  # `cruft create` is baking: it writes .cruft.json itself, next
        return "template updates: recorded by cruft in .cruft.json (`cruft update` takes later fixes)"
    from cookiecutter.config import BUILTIN_ABBREVIATIONS
    from cookiecutter.repository import expand_abbreviations

    template = expand_abbreviations(answers["_template"], BUILTIN_ABBREVIATIONS)  # gh:org/x -> a git URL
    if "://" not in template and "@" not in template:
        template = str(Path(answers["_repo_dir"]).resolve())  # a local folder: absolute, like cruft's
    if shutil.which("git") is None:
        return "template updates: not recorded (git is not installed; `cruft link <template URL>` later)"
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=answers["_repo_dir"], capture_output=True, text=True)
    if head.returncode:
        return "template updates: not recorded (the template is no git repository; `cruft link <its URL>` later)"
    context = {k: v for k, v in answers.items() if k not in TRANSIENT}
    context.update(_template=template, _commit=head.stdout.strip())
    state = {"template": template, "commit": context["_commit"], "checkout": None, "context": {"cookiecutter": context}}
    state["directory"] = None
    (root / ".cruft.json").write_text(json.dumps(state, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return "template updates: recorded in .cruft.json (`cruft update` takes the template's later fixes)"


def main(answers):
    root = Path.cwd()
    kind, package = answers["__kind"], answers["__package"]
    prune(root, kind, package)
    document = "RULES.md" if kind == "kaggle" else "NOTES.md"
    lines = [f"{document}: {fill(root, kind, package)}", record_template(root, answers)]
    if answers["git_init"] in (True, "yes", "y", "true", "1"):
        lines.append(git_init(root))
    what = f"Kaggle competition {answers['__competition']}" if kind == "kaggle" else f"arXiv paper {answers['__paper']}"
    steps = "make data train predict" if kind == "kaggle" else "make notes data train compare"
    lines += [
        "",
        f"Created {answers['project']}/ for the {what}. Next:",
        f"  cd {answers['project']}",
        "  make setup      # .venv with torch, fastai and the kaggle/arxiv clients",
        "  make doctor     # Python, GPU, credentials and data in one table",
        f"  {steps}",
    ]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(json.loads(r"""{{ cookiecutter | tojson }}""")))
