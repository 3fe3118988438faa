"""make doctor: one table of checks; every problem found comes with its fix; secrets never shown."""

import hashlib
import re

import pytest
import tiny_data
from conftest import module, run_cli

pytest_plugins = ["fake_kaggle"]

doctor = module("kit.doctor")
config = module("kit.config")
layouts = module("kit.layouts")

CHECKS = [
    "python",
    "torch",
    "NVIDIA driver",
    "GPUs",
    "settings",
    "disk free",
    "kaggle login",
    "weights",
    "data",
    "runs",
]


@pytest.fixture
def machine(tmp_path, monkeypatch):
    """An empty home (no Kaggle login) and a weights cache of our own."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(home / ".kaggle"))
    for name in ("KAGGLE_API_TOKEN", "KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_KERNEL_RUN_TYPE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return home


def rows(text):
    """check -> (status, value) from the table."""
    table = {}
    for line in text.splitlines()[2:]:
        if not line.strip():
            break
        match = re.match(r"(.+?)\s{2,}(ok|note|PROBLEM)\s{2,}(.*)", line)
        assert match, f"not a table row: {line!r}"
        table.setdefault(match.group(1).strip(), []).append((match.group(2), match.group(3)))
    return table


def test_doctor_prints_one_table_and_a_fix_for_each_problem(project, machine, tmp_path):
    """A fresh project on a CPU machine: every check has a row; no data is a problem with `make data`."""
    tiny_data.seed_weights(tmp_path / "torch", ["resnet18"])
    done = run_cli("doctor", cwd=project, env={"TORCH_HOME": str(tmp_path / "torch")})
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", "doctor prints no warnings"
    table = rows(done.stdout)
    for check in CHECKS:
        assert any(name.startswith(check) for name in table), f"no {check} row"
    assert table["settings"] == [("ok", "no CUDA GPU here: CPU, fp32, 0 workers, seed 42")]
    problems = [line for line in done.stdout.splitlines() if line.startswith("- ")]
    assert any("no data in" in p and "(run `make data`)" in p for p in problems)
    assert all(p.endswith(")") for p in problems), "every problem ends with its fix in brackets"
    assert done.stdout.strip().splitlines()[-1] == f"doctor: {len(problems)} problem(s) found"


def test_a_cached_weights_file_that_does_not_match_its_hash_is_flagged(project, machine, tmp_path):
    """torch never re-checks a cached file: our seeded resnet18 is not torchvision's, and doctor says so."""
    cache = tiny_data.seed_weights(tmp_path / "torch", ["resnet18"]) / "hub" / "checkpoints"
    good = b"weights we trust"
    (cache / f"mine-{hashlib.sha256(good).hexdigest()[:8]}.pth").write_bytes(good)
    (cache / "plain.pth").write_bytes(b"x")
    text = doctor.doctor(config.load(project / "config.toml"))
    found = {v.split(" (")[0]: (s, v) for s, v in rows(text)["weights cache"]}
    status, value = found["resnet18-f37072fd.pth"]
    assert status == "PROBLEM" and value.endswith("does NOT match its published hash f37072fd")
    assert found[next(n for n in found if n.startswith("mine-"))][1].endswith("matches its published hash")
    assert found["plain.pth"] == ("note", "plain.pth (0 MiB): no hash in the name to check")
    assert f"- {cache / 'resnet18-f37072fd.pth'} is not torchvision's file" in text
    assert "(delete it; `make train` downloads it again)" in text


def test_kaggle_credentials_are_found_but_never_printed(project, machine, kaggle_server):
    """Doctor shows where the login is and that Kaggle took it, never the key itself."""
    text = doctor.doctor(config.load(project / "config.toml"))
    status, value = rows(text)["kaggle login"][0]
    assert status == "ok" and "kaggle.json" in value and value.endswith(": Kaggle accepted it")
    assert kaggle_server.key not in text
    assert kaggle_server.calls, "accepted by Kaggle, not merely found on disk"


def test_a_key_kaggle_refuses_is_a_problem_not_ok(project, machine, kaggle_server):
    """The client never checks a legacy key itself: doctor's one real call does, before `make submit` hits a 401."""
    kaggle_server.key = "a-newer-key"  # the one in kaggle.json was revoked
    text = doctor.doctor(config.load(project / "config.toml"))
    status, value = rows(text)["kaggle login"][0]
    assert status == "PROBLEM" and value.endswith(": Kaggle refused it")
    [problem] = [line for line in text.splitlines() if "Kaggle refused the legacy API key" in line]
    assert "401" in problem and problem.endswith("(make a new API token at https://www.kaggle.com/settings)")


def test_a_download_that_left_only_its_hidden_folder_is_no_data(project, machine):
    """What an unfinished `make data` leaves (a hidden staging folder) is not data of an unknown layout."""
    (project / "data" / "raw" / ".download").mkdir(parents=True)
    text = doctor.doctor(config.load(project / "config.toml"))
    assert rows(text)["data"][0][0] == "PROBLEM" and "layout unknown" not in text
    assert "the last `make data` stopped before any file arrived (run `make data` again)" in text


def test_a_missing_kaggle_login_is_a_problem_only_where_it_is_needed(project, machine):
    """A Kaggle project cannot download without a token; a paper project on CIFAR does not need one."""
    cfg = config.load(project / "config.toml")
    status, _ = rows(doctor.doctor(cfg))["kaggle login"][0]
    assert status == ("PROBLEM" if cfg.kind == "kaggle" else "note")


def test_recorded_data_is_checked_and_a_missing_file_named(project, machine):
    """After `make data` the layout is shown; a deleted file becomes a problem naming the key."""
    raw = project / "data" / "raw"
    tiny_data.digit_recognizer(raw, n=10, test=3)
    cfg = tiny_data.project_config(project)
    status, value = rows(doctor.doctor(cfg))["data"][0]
    assert status == "note" and "not recorded yet" in value
    layouts.write_to_config(cfg, layouts.detect(cfg.raw))
    cfg = config.load(project / "config.toml")
    assert rows(doctor.doctor(cfg))["data"][0] == (
        "ok",
        "layout pixel-csv: train train.csv (label: label, classification), test test.csv, sample sample_submission.csv",
    )
    (raw / "test.csv").unlink()
    text = doctor.doctor(cfg)
    assert rows(text)["data"][0][0] == "PROBLEM"
    assert "- data.test = 'test.csv' is not in" in text and "(run `make data`, or fix config.toml)" in text


def test_bad_gpu_settings_are_a_problem_not_a_crash(project, machine):
    """Doctor is where a broken [gpu] table gets explained."""
    path = project / "config.toml"
    config.set_value(path, "gpu", "devices", "first")
    text = doctor.doctor(config.load(path))
    assert rows(text)["settings"][0] == ("PROBLEM", "invalid [gpu] table")
    assert 'gpu.devices = "first" is not "auto", "cpu" or GPU ids' in text
