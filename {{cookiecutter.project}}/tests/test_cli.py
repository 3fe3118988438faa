"""The command surface: every command documented and routed; errors are one line."""

import re

from conftest import PACKAGE, ROOT, module, run_cli

cli = module("cli")


def commands():
    """name -> help of every command the CLI offers."""
    return {info.name: info.callback.__doc__ for info in cli.app.registered_commands}


def test_every_command_has_help_and_a_make_target():
    """A command nobody can find is a command nobody uses."""
    makefiles = (ROOT / "Makefile").read_text() + "".join(p.read_text() for p in (ROOT / "make").glob("*.mk"))
    for name, text in commands().items():
        assert text and text.strip(), f"{name} has no help"
        assert re.search(rf"^{name}:.*## ", makefiles, re.M), f"no make target for {name}"
        assert re.search(rf"\$\((RUN|TRAIN)\) {name}\b", makefiles), f"make {name} does not call the CLI's {name}"


def test_every_make_target_is_in_the_readme():
    """The README's command table is the map a newcomer reads first."""
    readme = (ROOT / "README.md").read_text()
    makefiles = (ROOT / "Makefile").read_text() + "".join(p.read_text() for p in (ROOT / "make").glob("*.mk"))
    targets = set(re.findall(r"^([a-z-]+):.*## ", makefiles, re.M)) - {"help", "lint", "all"}
    missing = [t for t in sorted(targets) if f"`{t}`" not in readme]
    assert not missing, f"README does not document: {missing}"


def test_bad_config_is_one_line_with_exit_code_2(project):
    """A typo in config.toml gets the fix, not a traceback."""
    config = project / "config.toml"
    config.write_text(config.read_text().replace("epochs = 3", "epochs = 'three'"))
    done = run_cli("doctor", cwd=project)
    assert done.returncode == 2
    assert done.stderr.startswith("error: config.toml: model.epochs = 'three' should be a int")
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_outside_a_project_the_error_says_where_to_run(tmp_path):
    done = run_cli("doctor", cwd=tmp_path)
    assert done.returncode == 2
    assert "run commands inside the project folder" in done.stderr


def test_module_runs_as_python_dash_m(project):
    done = run_cli("--help", cwd=project)
    assert done.returncode == 0
    assert f"python -m {PACKAGE}" in done.stdout
    for name in commands():
        assert name in done.stdout


def test_a_mistyped_command_or_flag_is_one_line_naming_the_closest(project):
    """A typo gets the right spelling, not a usage screen or a traceback."""
    done = run_cli("trian", cwd=project)
    assert done.returncode == 2 and done.stderr.startswith("error: No such command 'trian'. Did you mean 'train'?")
    done = run_cli("train", "--epoch", "3", cwd=project)
    assert done.returncode == 2 and "--epochs" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def test_the_readme_names_the_file_behind_every_make_target():
    """'Where to change what': each row of the commands table points at a file that exists."""
    readme = (ROOT / "README.md").read_text()
    rows = re.findall(r"^\| `([a-z-]+)` \| .* \| `([^`]+)` \|$", readme, re.M)
    assert {"train", "predict", "smoke", "data"} <= {target for target, _ in rows}
    for target, code in rows:
        where = ROOT / code if code in ("Makefile", "tests/") else ROOT / "src" / PACKAGE / code
        assert where.exists(), f"make {target}: {code} does not exist"
