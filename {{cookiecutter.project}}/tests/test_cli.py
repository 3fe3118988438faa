"""The command surface: every command documented and routed; errors are one line."""

import os
import re
import shutil
import subprocess
import sys

import pytest
from conftest import PACKAGE, ROOT, module, run_cli

cli = module("cli")
errors = module("kit.errors")
MAKEFILES = (ROOT / "Makefile").read_text() + "".join(p.read_text() for p in sorted((ROOT / "make").glob("*.mk")))


def make(*args, env=None):
    """`make -n ARGS` in this project: what make would run, without running it."""
    return subprocess.run(
        [shutil.which("make"), "-n", *args, f"PYTHON={sys.executable}"],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
    )


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


@pytest.mark.parametrize(
    "typed, closest",
    [("EPOCH=1", "EPOCHS"), ("epochs=1", "EPOCHS"), ("NOPRETRAINED=1", "NO_PRETRAINED"), ("RUNID=x", "RUN_ID")],
)
def test_a_mistyped_make_variable_is_refused_with_the_closest_one(typed, closest):
    """`make train EPOCH=1` once trained the default 3 epochs without a word; now it stops, saying which was meant."""
    done = make("train", typed)
    assert done.returncode == 2 and done.stdout == ""
    [line] = done.stderr.strip().splitlines()
    assert f"*** {typed} is not a variable of this Makefile (did you mean {closest}?)" in line


def test_every_variable_a_target_reads_is_accepted():
    """The list the typo check refuses against must hold every variable the targets use."""
    used = set(re.findall(r"\$\(if \$\(([A-Z_]+)\)", MAKEFILES)) | set(re.findall(r"\$\((FILE|PAPER)\)", MAKEFILES))
    used -= set(re.findall(r"^([A-Z_]+) :?= ", MAKEFILES, re.M))  # the Makefile's own, not for the command line
    assert {"EPOCHS", "FORCE", "NO_PRETRAINED"} <= used, "the pattern no longer matches the Makefile"
    done = make("help", *(f"{name}=1" for name in sorted(used)))
    assert done.returncode == 0, done.stderr


def test_hints_are_written_the_way_the_user_typed(monkeypatch):
    """After `make data`, `make data FORCE=1`; after `python -m ... data`, its --force."""
    monkeypatch.delenv(errors.MADE, raising=False)
    assert errors.hint("data", force=True) == f"`python -m {PACKAGE} data --force`"
    assert errors.hint("train", size=64, no_pretrained=True) == f"`python -m {PACKAGE} train --size 64 --no-pretrained`"
    assert f"export {errors.MADE} := 1" in MAKEFILES, "the Makefile tells the CLI that make started it"
    monkeypatch.setenv(errors.MADE, "1")
    assert errors.hint("data", force=True) == "`make data FORCE=1`"
    assert errors.hint("train", size=64, no_pretrained=True) == "`make train SIZE=64 NO_PRETRAINED=1`"
    assert errors.hint("predict", run="abc") == "`make predict RUN_ID=abc`"


def test_each_make_variable_is_the_flag_the_hints_name():
    """hint() renders a flag as the variable the Makefile turns into that flag: one rule for both."""
    pairs = re.findall(r"\$\(if \$\(([A-Z_]+)\),(--[a-z-]+)", MAKEFILES)
    assert len(pairs) >= 10
    for variable, flag in pairs:
        name = flag.removeprefix("--").replace("-", "_")
        assert errors.MAKE_NAMES.get(name, name.upper()) == variable, f"{variable} passes {flag}"


@pytest.mark.parametrize("gpu", [False, True], ids=["no-nvidia-smi", "nvidia-smi"])
def test_make_setup_installs_torchs_cpu_build_unless_there_is_an_nvidia_gpu(tmp_path, gpu):
    """A laptop gets the CPU wheels (the CUDA ones made a 6 GB .venv); pip is quiet; it ends with the next step."""
    if gpu:
        fake = tmp_path / "nvidia-smi"
        fake.write_text("#!/bin/sh\n")
        fake.chmod(0o755)
    done = make("setup", env={"PATH": str(tmp_path)})  # nvidia-smi is found on PATH or not at all
    assert done.returncode == 0, done.stderr
    installs = [line for line in done.stdout.splitlines() if "pip install" in line]
    assert len(installs) == 2 and all(" -q " in line for line in installs)
    assert ("--index-url https://download.pytorch.org/whl/cpu" in installs[0]) is not gpu
    assert ("CUDA build" in done.stdout) is gpu
    assert done.stdout.strip().splitlines()[-1] == 'echo "setup: done; next: make doctor"'
