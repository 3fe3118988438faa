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


# The user's environment must never reach a test: their proxy, credentials, caches and mirrors.
# MAKE*: under `make test`, a make that a test runs would print "Entering directory" lines into its output.
LEAKS = ("KAGGLE_", "HF_", "TORCH_HOME", "XDG_CACHE_HOME", "ARXIV_", "DATA_MIRROR", "STALL_SECONDS", "MAKE", "MFLAGS")
PROXIES = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}


@pytest.fixture(autouse=True)
def isolated(tmp_path_factory, monkeypatch):
    """Each test runs as a fresh user: a home of its own, no proxy, no Kaggle key, no caches of yours."""
    for name in list(os.environ):
        if name.startswith(LEAKS) or name.lower() in PROXIES:
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path_factory.mktemp("home")))


@pytest.fixture
def project(tmp_path):
    """A scratch copy of this project's config.toml (as baked: what `make data` recorded is reset) and
    documents, so tests never touch your files nor depend on your data."""
    root = tmp_path / "project"
    root.mkdir()
    for name in ("config.toml", "RULES.md", "NOTES.md"):
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, root / name)
    config, layouts = module("kit.config"), module("kit.layouts")
    config.set_value(root / "config.toml", "data", "raw", "data/raw")
    for key in layouts.KEYS:
        config.set_value(root / "config.toml", "data", key, layouts.default(key))
    config.set_value(root / "config.toml", "cv", "metric", "auto")
    return root
