"""The Kaggle kind at bake time: the post-gen hook fills RULES.md through the project's own rules.py.

The fake Kaggle server and the real kaggle client are the generated project's own
(tests/fake_kaggle.py has no template code, so it is loaded straight from the template).
"""

import importlib.util
import os
import subprocess
import sys
import tomllib

import pytest
from conftest import TEMPLATE, bake_cli

FAKE = TEMPLATE / "{{cookiecutter.project}}" / "tests" / "fake_kaggle.py"


@pytest.fixture(scope="module")
def fake_kaggle():
    spec = importlib.util.spec_from_file_location("template_fake_kaggle", FAKE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def skeleton(root, slug: str) -> str:
    """rules.skeleton() of the baked package, run in its own interpreter."""
    package = tomllib.loads((root / "config.toml").read_text())["project"]["package"]
    code = f"from {package}.kaggle.rules import skeleton; print(skeleton({slug!r}), end='')"
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout


def test_a_bake_with_credentials_fills_rules_md_from_the_competitions_metadata(
    tmp_path, offline_home, monkeypatch, fake_kaggle
):
    """The hook calls write_rules: the fresh project starts with real facts, the same `make rules` writes."""
    fake = fake_kaggle.FakeKaggle("digit-recognizer")
    with fake_kaggle.serve(fake) as port:
        fake_kaggle.isolate(monkeypatch, fake_kaggle.environment(offline_home, port))
        done = bake_cli(tmp_path / "out", "git_init=no")
    assert done.returncode == 0, done.stderr
    assert "RULES.md: facts for Digit Recognizer refreshed in RULES.md" in done.stdout
    text = (tmp_path / "out" / "digit-recognizer" / "RULES.md").read_text()
    assert "**Max team size:** 3" in text and "**Max daily submissions:** 5" in text
    assert "External data is allowed if it is public" in text
    assert fake.count("GetCompetition") == 2, "one to check the name before baking, one for RULES.md"
    assert fake.count("ListCompetitionPages") == 1


def test_a_mistyped_competition_is_refused_with_kaggles_closest_names_and_nothing_baked(
    tmp_path, offline_home, monkeypatch, fake_kaggle
):
    """`digit-recogniser` once baked a whole project, trouble buried in RULES.md: now Kaggle is asked first."""
    fake = fake_kaggle.FakeKaggle("digit-recognizer")
    out = tmp_path / "out"
    out.mkdir()
    with fake_kaggle.serve(fake) as port:
        fake_kaggle.isolate(monkeypatch, fake_kaggle.environment(offline_home, port))
        done = bake_cli(out, "source=digit-recogniser", "git_init=no")
    assert done.returncode == 2 and "Traceback" not in done.stdout + done.stderr
    assert done.stderr == (
        "error: source: Kaggle has no competition named 'digit-recogniser' (did you mean digit-recognizer? "
        "it is the last part of https://www.kaggle.com/competitions/<name>)\n"
    )
    assert list(out.iterdir()) == [] and "Next:" not in done.stdout


def test_a_bake_without_credentials_says_the_name_could_not_be_checked(tmp_path):
    done = bake_cli(tmp_path / "out", "source=digit-recogniser", "git_init=no")
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith(
        "note: source: could not check that Kaggle has a competition named 'digit-recogniser': "
        "no Kaggle credentials found ("
    )


def test_a_bake_without_credentials_keeps_the_skeleton_and_says_how_to_fill_it(tmp_path):
    """Offline or signed out, the bake still succeeds, quickly, and RULES.md is the same skeleton rules.py writes."""
    done = bake_cli(tmp_path / "out", "git_init=no")
    assert done.returncode == 0, done.stderr
    assert "RULES.md: skipped filling: no Kaggle credentials found" in done.stdout
    assert "(run `make rules` later)" in done.stdout
    root = tmp_path / "out" / "digit-recognizer"
    assert (root / "RULES.md").read_text() == skeleton(root, "digit-recognizer")
