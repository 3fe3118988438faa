"""Fixtures for the template's tests: offline, isolated bakes into tmp_path."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TEMPLATE))  # answers.py, the template root's answer rules
BIN = Path(sys.executable).parent


# MAKE*: under `make test`, the makes that tests run would print "Entering directory" lines.
LEAKS = (
    "KAGGLE_API_TOKEN",
    "KAGGLE_USERNAME",
    "KAGGLE_KEY",
    "KAGGLE_KERNEL_RUN_TYPE",
    "MAKELEVEL",
    "MAKEFLAGS",
    "MFLAGS",
)


@pytest.fixture(autouse=True)
def offline_home(tmp_path, monkeypatch):
    """No real credentials, no real arXiv, a git identity: every bake is isolated and offline."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(home / ".kaggle"))
    for name in LEAKS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ARXIV_API_URL", "http://127.0.0.1:9/api/query?{}")  # port 9: connection refused
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "Test User")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "test@example.com")
    return home


@pytest.fixture
def bake(tmp_path):
    """bake(**answers) -> the generated project's folder (cookiecutter's own API, no prompts)."""
    out = tmp_path / "out"

    def _bake(**answers):
        return Path(cookiecutter(str(TEMPLATE), no_input=True, extra_context=answers, output_dir=str(out)))

    return _bake


def load_hook(name):
    """Import a hook as a module: its only template code sits under `if __name__ == "__main__"`."""
    spec = importlib.util.spec_from_file_location(name, TEMPLATE / "hooks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def bake_cli(out: Path, *answers: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    """Run the `cookiecutter` command as a user would, answers as KEY=VALUE."""
    args = [str(BIN / "cookiecutter"), str(TEMPLATE), "-o", str(out)]
    if stdin is None:
        args.append("--no-input")
    return subprocess.run(
        [*args, *answers], input=stdin, capture_output=True, text=True, timeout=120, env=os.environ.copy()
    )


def files_of(root: Path) -> list[str]:
    """Every file of a baked project (relative, sorted), the .git folder aside."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and ".git" not in p.parts)
