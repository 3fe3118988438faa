"""Shared fixtures. Modules are imported by the package name in config.toml, so this file
needs no template code: `module("kit.config")` is `<package>.config`."""

import importlib
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = tomllib.loads((ROOT / "config.toml").read_text(encoding="utf-8"))["project"]["package"]


def module(name):
    """Import one module of this project's package."""
    return importlib.import_module(f"{PACKAGE}.{name}")


def run_cli(*args, cwd, env=None, timeout=600):
    """Run `python -m <package> ARGS` in `cwd` as a user would; returns the CompletedProcess."""
    env = {**os.environ, **(env or {})}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", PACKAGE, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def project(tmp_path):
    """A scratch copy of this project's config.toml and documents, so tests never touch your files."""
    root = tmp_path / "project"
    root.mkdir()
    for name in ("config.toml", "RULES.md", "NOTES.md"):
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, root / name)
    return root
