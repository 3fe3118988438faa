"""The paper kind at bake time: NOTES.md filled from arXiv when it answers, a quick skeleton when not."""

import importlib.util
import os
import subprocess
import sys
import time

from conftest import TEMPLATE, bake_cli


def load_fake_arxiv():
    """The generated project's fake arXiv API (plain Python, no template code), loaded from the template tree."""
    path = TEMPLATE / "{{cookiecutter.project}}" / "tests" / "paper" / "fake_arxiv.py"
    spec = importlib.util.spec_from_file_location("template_fake_arxiv", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def skeleton(root, paper):
    """What the baked project's own notes.py calls a fresh NOTES.md (run there, in its own process)."""
    code = f"from arxiv_1512_03385.paper import notes; print(notes.skeleton({paper!r}), end='')"
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout


def test_an_offline_bake_is_quick_and_leaves_the_skeleton_with_the_retry(tmp_path):
    """No network (conftest points ARXIV_API_URL at a closed port): the bake still succeeds, in under 2 s."""
    started = time.monotonic()
    done = bake_cli(tmp_path / "out", "source=1512.03385", "git_init=no")
    took = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert took < 2.0, f"an offline bake took {took:.1f} s"
    root = tmp_path / "out" / "arxiv-1512.03385"
    line = next(line for line in done.stdout.splitlines() if line.startswith("NOTES.md: "))
    assert line.startswith("NOTES.md: skipped filling: cannot reach the arXiv API at 127.0.0.1:9: ")
    assert "`make notes`" in line
    assert (root / "NOTES.md").read_text(encoding="utf-8") == skeleton(root, "1512.03385")
    assert not (root / "paper.bib").exists()


def test_a_bake_with_arxiv_answering_fills_notes_and_bib_in_the_first_commit(tmp_path, monkeypatch):
    """The post-gen hook calls the project's own write_notes: title, version and BibTeX are there at once."""
    fake_arxiv = load_fake_arxiv()
    with fake_arxiv.serve() as server:
        for name, value in fake_arxiv.environment(server, tmp_path / "cache").items():
            monkeypatch.setenv(name, value)
        done = bake_cli(tmp_path / "out", "source=https://arxiv.org/abs/1512.03385")
        assert [query["id_list"] for _, query in server.requests] == [["1512.03385"]]
    assert done.returncode == 0, done.stderr
    assert "NOTES.md: filled in from arXiv 1512.03385v1 (Deep Residual Learning for Image Recognition)" in done.stdout
    root = tmp_path / "out" / "arxiv-1512.03385"
    text = (root / "NOTES.md").read_text(encoding="utf-8")
    assert text.startswith("<!-- BEGIN arXiv 1512.03385v1 ")
    assert "\n# Deep Residual Learning for Image Recognition\n" in text and "\n## Claimed results\n" in text
    assert "@misc{he2015deepresiduallearningimage," in (root / "paper.bib").read_text(encoding="utf-8")
    committed = subprocess.run(["git", "ls-files"], cwd=root, capture_output=True, text=True).stdout.split()
    assert {"NOTES.md", "paper.bib"} <= set(committed)
