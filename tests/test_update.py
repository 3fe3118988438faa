"""Template updates reach baked projects through cruft; the user's own work survives them."""

import json
import shutil
import subprocess
from pathlib import Path

import cruft
import yaml
from conftest import TEMPLATE
from cookiecutter.main import cookiecutter


def git(*args, cwd):
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


def template_copy(tmp_path):
    """A local git repository holding the template's current files (what `gh:<org>/mlstarter` serves)."""
    copy = tmp_path / "mlstarter"
    names = git("ls-files", "-co", "--exclude-standard", "-z", cwd=TEMPLATE).split("\0")
    for name in filter(None, names):
        if (TEMPLATE / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(TEMPLATE / name, copy / name)
    git("init", "-q", cwd=copy)
    git("add", "-A", cwd=copy)
    git("commit", "-q", "-m", "template v1", cwd=copy)
    return copy


def update_from_a_newer_template(template, project):
    """Commit a README line to the template; cruft sees the project is behind and brings the line in."""
    readme = template / "{{cookiecutter.project}}" / "README.md"
    readme.write_text(readme.read_text() + "\nA line the template added later.\n")
    git("commit", "-q", "-am", "template v2", cwd=template)
    assert cruft.check(project) is False
    assert cruft.update(project, skip_apply_ask=True) is True
    assert "A line the template added later." in (project / "README.md").read_text()


def test_cruft_update_brings_template_changes_and_keeps_local_edits(tmp_path):
    """The update path the READMEs promise: a template fix lands, the user's edits stay."""
    template = template_copy(tmp_path)
    project = cruft.create(str(template), output_dir=tmp_path / "out", no_input=True)
    assert (project / ".cruft.json").is_file()
    git("add", "-A", cwd=project)
    git("commit", "-q", "-m", "record cruft state", cwd=project)

    rules = project / "RULES.md"
    rules.write_text(rules.read_text() + "- [x] my own line, ticked\n")
    makefile = project / "Makefile"
    makefile.write_text(makefile.read_text() + "\nmine:  ## a target the user added\n\techo mine\n")
    git("commit", "-q", "-am", "local edits", cwd=project)

    update_from_a_newer_template(template, project)
    assert "mine:  ## a target the user added" in makefile.read_text()
    assert rules.read_text().endswith("- [x] my own line, ticked\n")
    assert cruft.check(project) is True


def test_a_plain_cookiecutter_bake_records_what_cruft_update_needs(tmp_path):
    """The README's first command bakes with plain cookiecutter: it must be just as updatable as cruft create."""
    template = template_copy(tmp_path)
    project = Path(
        cookiecutter(
            str(template), no_input=True, output_dir=str(tmp_path / "out"), extra_context={"project": "digits"}
        )
    )
    state = json.loads((project / ".cruft.json").read_text())
    assert state["template"] == str(template) and state["commit"] == git("rev-parse", "HEAD", cwd=template).strip()
    assert state["context"]["cookiecutter"]["project"] == "digits"
    assert "_output_dir" not in state["context"]["cookiecutter"], "where it was baked is no answer"
    assert git("status", "--porcelain", cwd=project) == "", "the first commit holds .cruft.json"
    assert cruft.check(project) is True

    notes = project / "src" / "digits" / "recipes" / "vision.py"
    notes.write_text(notes.read_text().replace("PRESIZE = 1.15", "PRESIZE = 1.25"))
    git("commit", "-q", "-am", "my recipe", cwd=project)
    update_from_a_newer_template(template, project)
    assert "PRESIZE = 1.25" in notes.read_text()
    assert (project / "src" / "digits" / "kaggle").is_dir() and not (project / "src" / "digits" / "paper").exists()


def test_the_projects_ci_and_pre_commit_files_are_valid_and_run_real_targets(bake):
    """The generated CI calls make targets that exist; pre-commit guards keys and notebooks."""
    root = bake(git_init=False)
    workflow = yaml.safe_load((root / ".github" / "workflows" / "tests.yml").read_text())
    runs = [step["run"] for step in workflow["jobs"]["test"]["steps"] if "run" in step]
    targets = {line.split()[1] for run in runs for line in run.splitlines() if line.startswith("make ")}
    assert targets == {"setup", "lint", "test"}
    makefile = (root / "Makefile").read_text()
    for target in targets:
        assert f"\n{target}:" in makefile
    hooks = yaml.safe_load((root / ".pre-commit-config.yaml").read_text())
    ids = {hook["id"] for repo in hooks["repos"] for hook in repo["hooks"]}
    assert {"ruff", "ruff-format", "detect-private-key", "nbstripout", "no-kaggle-credentials"} <= ids
