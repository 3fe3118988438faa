"""Baking: every option combination gives a clean project whose own checks pass."""

import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from conftest import BIN, TEMPLATE, files_of, load_hook

KINDS = {"kaggle": "digit-recognizer", "paper": "1512.03385"}
BACKBONES = ["resnet18", "resnet34", "resnet50"]

PROJECT = TEMPLATE / "{{cookiecutter.project}}"
KEY_FILES = {  # a few files each kind must keep: the exact-set test below would pass on an empty template
    "kaggle": ["RULES.md", "src/{pkg}/kaggle/submission.py", "tests/kaggle/test_submission.py", "src/{pkg}/train.py"],
    "paper": ["NOTES.md", "src/{pkg}/paper/notes.py", "tests/paper/test_notes.py", "src/{pkg}/recipes/vision.py"],
}


def expected_files(kind: str, pkg: str) -> list[str]:
    """The template's project tree under its rendered names, less what the other kind alone uses."""
    pruned = load_hook("post_gen_project").KIND_FILES
    other = [name.format(package=pkg) for k, names in pruned.items() if k != kind for name in names]
    found = [".cruft.json"]  # written by the post-gen hook: the template (a git checkout here) and the answers
    for path in PROJECT.rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts:
            name = path.relative_to(PROJECT).as_posix().replace("{{cookiecutter.__package}}", pkg)
            if not any(name == o or name.startswith(f"{o}/") for o in other):
                found.append(name)
    return sorted(found)


@pytest.mark.parametrize(
    "kind, backbone, git_init",
    list(itertools.product(KINDS, BACKBONES, [True, False])),
    ids=lambda v: str(v).lower() if isinstance(v, bool) else v,
)
def test_every_kind_backbone_and_git_choice_bakes(bake, kind, backbone, git_init):
    """Each combination a user can pick gives a project that records exactly those answers."""
    root = bake(source=KINDS[kind], backbone=backbone, git_init=git_init)
    config = tomllib.loads((root / "config.toml").read_text())
    assert config["project"]["kind"] == kind
    assert config["model"]["arch"] == backbone
    assert (root / ".git").is_dir() is git_init
    if git_init:
        log = subprocess.run(["git", "log", "--oneline"], cwd=root, capture_output=True, text=True)
        assert "Start from mlstarter" in log.stdout
        status = subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True)
        assert status.stdout == "", "the first commit must hold every generated file"


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_bakes_exactly_its_files(bake, kind):
    """Render-then-prune leaves the kind's files and nothing of the other kind."""
    root = bake(source=KINDS[kind], git_init=False)
    pkg = tomllib.loads((root / "config.toml").read_text())["project"]["package"]
    assert files_of(root) == expected_files(kind, pkg)
    assert set(name.format(pkg=pkg) for name in KEY_FILES[kind]) <= set(files_of(root))


@pytest.mark.parametrize("kind", KINDS)
def test_no_template_code_is_left_in_any_file(bake, kind):
    """A stray `{{` or `{%` would be a rendering bug the user meets later."""
    root = bake(source=KINDS[kind], git_init=False)
    for name in files_of(root):
        text = (root / name).read_text(encoding="utf-8")
        for marker in ("{{", "{%", "{#", "cookiecutter."):
            assert marker not in text, f"{marker!r} left in {name}"


@pytest.mark.parametrize("kind", KINDS)
def test_the_baked_project_passes_its_own_lint(bake, kind):
    """What a user gets is clean under their own `make lint`: ruff, and import-linter's layers and no cycles."""
    root = bake(source=KINDS[kind], git_init=False)
    done = subprocess.run(["make", "lint", f"PYTHON={sys.executable}"], cwd=root, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Contracts: 2 kept, 0 broken." in done.stdout


def lint_imports(package: Path, contracts: str) -> subprocess.CompletedProcess:
    """lint-imports on a copy of `package` (as `pkg`) under the given contracts."""
    config = package.parent.parent / ".importlinter"
    config.write_text(f"[importlinter]\nroot_package = pkg\n\n{contracts}")
    env = {**os.environ, "PYTHONPATH": str(package.parent)}
    command = [str(BIN / "lint-imports"), "--no-cache", "--config", str(config)]
    return subprocess.run(command, cwd=package.parent.parent, capture_output=True, text=True, env=env)


def test_both_kinds_never_import_each_other_and_a_cycle_is_caught(tmp_path):
    """Before pruning both kinds' folders exist: check their independence there, with the baked project's
    own layers; then show that the contracts fail on what they forbid (a cycle through a function-level
    import, kit importing upwards)."""
    package = tmp_path / "src" / "pkg"
    shutil.copytree(PROJECT / "src" / "{{cookiecutter.__package}}", package)
    baked = (PROJECT / "pyproject.toml").read_text()
    layers = re.search(r"^layers = (\[.*\])$", baked, re.M)[1]
    contracts = (
        "[importlinter:contract:layers]\nname = layers\ntype = layers\ncontainers = pkg\n"
        "layers =\n    " + "\n    ".join(json.loads(layers)) + "\n\n"
        "[importlinter:contract:kinds]\nname = kinds\ntype = independence\nmodules =\n    pkg.kaggle\n    pkg.paper\n\n"
        "[importlinter:contract:cycles]\nname = cycles\ntype = acyclic_siblings\nancestors =\n    pkg\n"
    )
    done = lint_imports(package, contracts)
    assert done.returncode == 0 and "Contracts: 3 kept, 0 broken." in done.stdout, done.stdout + done.stderr
    files = package / "kit" / "files.py"
    files.write_text(files.read_text() + "\n\ndef _later():\n    from . import runs  # noqa\n")
    done = lint_imports(package, contracts)
    assert done.returncode == 1 and "cycles BROKEN" in done.stdout, done.stdout
    files.write_text(files.read_text() + "\n\ndef _upwards():\n    from .. import train  # noqa\n")
    assert "layers BROKEN" in lint_imports(package, contracts).stdout


@pytest.mark.parametrize("kind", KINDS)
def test_each_recipe_is_one_short_file_the_readme_names(bake, kind):
    """A newcomer changes the model in one file of at most 150 lines, and the README sends them there."""
    root = bake(source=KINDS[kind], git_init=False)
    pkg = tomllib.loads((root / "config.toml").read_text())["project"]["package"]
    readme = (root / "README.md").read_text()
    assert readme.index("## Where to change what") < readme.index("## Commands") < readme.index("## First")
    for name in ("vision.py", "tabular.py"):
        recipe = root / "src" / pkg / "recipes" / name
        assert len(recipe.read_text().splitlines()) <= 150, name
        assert "this file is yours" in recipe.read_text().split('"""')[1].lower(), name
        assert f"`src/{pkg}/recipes/{name}`" in readme, name


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_the_baked_projects_own_tests_pass(bake, kind, tmp_path):
    """The generated suite (training included) is green out of the box, and stays green in a user's world:
    a project named other than its competition, `make data` already run (config.toml recording files that
    are not here), run from a make, a corporate proxy, Kaggle credentials and torch/Hugging Face caches in the
    environment."""
    root = bake(source=KINDS[kind], project=f"my-{kind}", git_init=False)
    recorded = (root / "config.toml").read_text().replace('sample = ""', 'sample = "sample_submission.csv"')
    (root / "config.toml").write_text(recorded.replace('layout = "auto"', 'layout = "pixel-csv"'))
    user = {"HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9", "NO_PROXY": ""}  # a dead proxy
    user |= {"KAGGLE_USERNAME": "someone", "KAGGLE_KEY": "0" * 32, "TORCH_HOME": str(tmp_path / "torch")}
    user |= {"HF_HOME": str(tmp_path / "hf"), "PYTHONPATH": str(root / "src")}
    user |= {"MAKELEVEL": "1", "MAKEFLAGS": "w"}  # run from a make (as `make test` does)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--basetemp={tmp_path / 'pt'}"],
        cwd=root,
        capture_output=True,
        text=True,
        env={**os.environ, **user},
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert re.search(r"\d+ passed", done.stdout)


@pytest.mark.parametrize(
    "source, kind, ident, folder",
    [
        ("https://www.kaggle.com/competitions/titanic/overview", "kaggle", "titanic", "titanic"),
        ("https://arxiv.org/pdf/2107.05580v2", "paper", "2107.05580v2", "arxiv-2107.05580"),
        ("hep-th/9901001", "paper", "hep-th/9901001", "arxiv-hep-th-9901001"),
    ],
)
def test_pasted_urls_are_normalised_into_config(bake, source, kind, ident, folder):
    """Users paste what their browser shows; the project records the clean id."""
    root = bake(source=source, git_init=False)
    assert root.name == folder
    project = tomllib.loads((root / "config.toml").read_text())["project"]
    assert project["kind"] == kind
    assert project["competition" if kind == "kaggle" else "paper"] == ident
