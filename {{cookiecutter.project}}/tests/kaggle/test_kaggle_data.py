"""make data (Kaggle): one download through the real client, safe extraction, a manifest, no repeats."""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import tomllib

import pytest
from conftest import PACKAGE, ROOT, module, run_cli

pytest_plugins = ["fake_kaggle"]
config = module("kit.config")
kaggle_data = module("kaggle.data")
doctor = module("kit.doctor")
ProjectError = module("kit.errors").ProjectError


def load(project):
    return config.load(project / "config.toml")


def data_table(project) -> dict:
    return tomllib.loads((project / "config.toml").read_text())["data"]


def test_a_fresh_download_lands_in_data_raw_with_a_manifest_and_the_layout(project, kaggle_server):
    """The files, their sha256 and the detected layout: everything train and predict need."""
    summary = kaggle_data.download(load(project))
    raw = project / "data" / "raw"
    for name, data in kaggle_server.files.items():
        assert (raw / name).read_bytes() == data
    manifest = json.loads((raw / kaggle_data.MANIFEST).read_text())
    assert manifest["files"]["train.csv"]["sha256"] == hashlib.sha256(kaggle_server.files["train.csv"]).hexdigest()
    assert manifest["source"] == "Kaggle"
    assert not (raw / kaggle_data.STAGING).exists(), "the downloaded zip is not kept once extracted"
    assert f"{kaggle_server.slug}: 3 files" in summary and "from Kaggle into data/raw" in summary
    assert "layout pixel-csv" in summary
    assert data_table(project)["layout"] == "pixel-csv" and data_table(project)["sample"] == "sample_submission.csv"


def test_a_second_run_with_nothing_changed_downloads_nothing_in_under_a_second(project, kaggle_server):
    cfg = load(project)
    kaggle_data.download(cfg)
    asked = kaggle_server.count("GetCompetition")  # the first run read the evaluation metric
    start = time.monotonic()
    summary = kaggle_data.download(load(project))
    assert time.monotonic() - start < 1.0
    assert "already in data/raw" in summary and "--force" in summary
    assert kaggle_server.count("DownloadDataFiles") == 1 and kaggle_server.count("GetCompetition") == asked
    assert load(project).cv.metric == "accuracy", "Categorization Accuracy, recorded once as [cv] metric"


def test_a_file_changed_by_hand_is_fetched_again(project, kaggle_server):
    """The manifest is a promise about the files: when one no longer matches, download again."""
    kaggle_data.download(load(project))
    (project / "data" / "raw" / "train.csv").write_text("label\n1\n")
    kaggle_data.download(load(project))
    assert kaggle_server.count("DownloadDataFiles") == 2
    assert (project / "data" / "raw" / "train.csv").read_bytes() == kaggle_server.files["train.csv"]


def test_a_damaged_manifest_is_said_and_rebuilt_by_fetching_again(project, kaggle_server, capsys):
    """The manifest is the project's own record: when it cannot be read, the data is fetched and it is rewritten."""
    kaggle_data.download(load(project))
    manifest = project / "data" / "raw" / kaggle_data.MANIFEST
    manifest.write_bytes(manifest.read_bytes()[:40] + b"\0" * 64)
    summary = kaggle_data.download(load(project))
    assert "from Kaggle" in summary and kaggle_server.count("DownloadDataFiles") == 2
    assert "manifest.json line 3 holds NUL bytes: it is damaged; fetching the data again" in capsys.readouterr().err
    assert json.loads(manifest.read_text())["files"]["train.csv"]["size"] == len(kaggle_server.files["train.csv"])


@pytest.mark.parametrize("where", ["api", "storage"])
def test_a_page_where_the_data_should_be_is_named_and_nothing_looks_downloaded(project, kaggle_server, where):
    """The client saves any 200 for the data as the download: a captive portal's page, on the API or on the
    file storage it redirects to, is said to be one and removed, not unpacked as a damaged zip."""
    kaggle_server.portal = "all" if where == "api" else "files"  # files: the API answers, the zip's URL gets the page
    with pytest.raises(ProjectError) as error:
        kaggle_data.download(load(project))
    assert "not an answer from Kaggle's API" in str(error.value)
    _assert_nothing_looks_complete(project)
    assert not [p for p in (project / "data" / "raw").rglob("*") if p.is_file()], "the page was left behind"


@pytest.mark.parametrize("where", [".", "data/raw"])
def test_a_zip_fetched_by_hand_is_extracted_without_credentials_or_network(project, kaggle_home, kaggle_zip, where):
    """`kaggle competitions download -c <slug>` in the repo: use that zip, ask Kaggle nothing."""
    slug = load(project).project.competition
    folder = project / where
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{slug}.zip").write_bytes(kaggle_zip)
    summary = kaggle_data.download(load(project))
    assert "(fetched by hand)" in summary
    assert (project / "data" / "raw" / "test.csv").is_file()
    again = kaggle_data.download(load(project))
    assert "already in data/raw" in again


def test_an_unfinished_cli_download_is_not_mistaken_for_a_zip(project, kaggle_server, capsys):
    """The kaggle CLI leaves a half <slug>.zip beside a .kaggle-partial marker when it dies."""
    half = kaggle_server.zip_bytes()[:500]
    (project / f"{kaggle_server.slug}.zip").write_bytes(half)
    (project / f"{kaggle_server.slug}.zip.kaggle-partial").write_text("{}")
    summary = kaggle_data.download(load(project))
    assert "from Kaggle" in summary and kaggle_server.count("DownloadDataFiles") == 1
    assert "a .kaggle-partial file beside it says it is unfinished" in capsys.readouterr().err


def test_a_truncated_zip_leaves_nothing_that_looks_complete(project, kaggle_server):
    kaggle_server.zip_mode = "truncated"
    with pytest.raises(ProjectError) as error:
        kaggle_data.download(load(project))
    assert "is damaged or incomplete" in str(error.value) and "make data" in str(error.value)
    _assert_nothing_looks_complete(project)


@pytest.mark.parametrize(
    "mode, why",
    [
        ("escape-dotdot", "climbs out with '..'"),
        ("escape-absolute", "an absolute path"),
        ("escape-link", "a symbolic link"),
    ],
)
def test_a_zip_whose_members_escape_is_refused_whole(project, kaggle_server, tmp_path, mode, why):
    """No member may land outside data/raw, and none of the zip is extracted when one tries."""
    kaggle_server.zip_mode = mode
    with pytest.raises(ProjectError) as error:
        kaggle_data.download(load(project))
    assert why in str(error.value) and "refused" in str(error.value)
    assert not (project / "data" / "raw" / "train.csv").exists()
    assert not list(tmp_path.rglob("escaped.txt")) and not os.path.exists("/tmp/mlstarter-escaped.txt")
    assert not list(tmp_path.rglob("link-out"))
    _assert_nothing_looks_complete(project)


def test_a_download_killed_halfway_leaves_nothing_complete_and_the_next_run_finishes(project, kaggle_server):
    """Power cut, Ctrl-C, OOM: the half zip stays marked unfinished, and data/raw holds no files."""
    kaggle_server.zip_mode = "stall"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    process = subprocess.Popen(
        [sys.executable, "-m", PACKAGE, "data"], cwd=project, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        while not kaggle_server.half_sent.wait(0.1):
            assert process.poll() is None, process.stderr.read().decode()
        time.sleep(0.3)  # let the client write what it received
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
        process.stderr.close()
    _assert_nothing_looks_complete(project)
    assert list((project / "data" / "raw").rglob("*.kaggle-partial")), "the client marks its partial zip"
    kaggle_server.zip_mode = "ok"
    summary = kaggle_data.download(load(project))
    assert "from Kaggle" in summary and (project / "data" / "raw" / "train.csv").is_file()


def test_rules_not_accepted_is_one_line_with_the_rules_url(project, kaggle_server):
    kaggle_server.entered = False
    done = run_cli("data", cwd=project)
    assert done.returncode == 2
    assert done.stderr.startswith("error: downloading") and "Traceback" not in done.stderr
    assert f"https://www.kaggle.com/competitions/{kaggle_server.slug}/rules" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_no_credentials_is_one_line_naming_where_they_go(project, kaggle_home):
    done = run_cli("data", cwd=project)
    assert done.returncode == 2 and done.stderr.startswith("error: no Kaggle credentials found")
    assert len(done.stderr.strip().splitlines()) == 1


def test_an_unknown_competition_names_the_slug_and_config_toml(project, kaggle_server):
    config.set_value(project / "config.toml", "project", "competition", "no-such-competition")
    with pytest.raises(ProjectError) as error:
        kaggle_data.download(load(project))
    assert "no competition named 'no-such-competition'" in str(error.value) and "config.toml" in str(error.value)


def test_server_errors_during_download_give_up_with_a_message(project, kaggle_server):
    kaggle_server.fail("DownloadDataFiles", 503, "maintenance")
    with pytest.raises(ProjectError) as error:
        kaggle_data.download(load(project))
    assert "server failed 3 times (503: maintenance)" in str(error.value)
    assert not (project / "data" / "raw" / kaggle_data.MANIFEST).exists()


def test_zips_inside_the_zip_are_extracted_too(project, kaggle_home, kaggle_files):
    """Competitions often ship train.zip inside <slug>.zip; the layouts want the files."""
    import fake_kaggle

    inner = fake_kaggle.make_zip({"train.csv": kaggle_files["train.csv"]})
    outer = fake_kaggle.make_zip(
        {"train.csv.zip": inner, **{k: v for k, v in kaggle_files.items() if k != "train.csv"}}
    )
    slug = load(project).project.competition
    (project / f"{slug}.zip").write_bytes(outer)
    kaggle_data.download(load(project))
    raw = project / "data" / "raw"
    assert (raw / "train.csv").read_bytes() == kaggle_files["train.csv"] and not (raw / "train.csv.zip").exists()
    assert "train.csv" in json.loads((raw / kaggle_data.MANIFEST).read_text())["files"]


def test_inside_a_kaggle_notebook_the_mounted_input_is_used(project, kaggle_home, kaggle_files, tmp_path, monkeypatch):
    """On Kaggle the data is already under /kaggle/input/<slug>: link to it, download nothing."""
    slug = load(project).project.competition
    mounted = tmp_path / "input" / slug
    mounted.mkdir(parents=True)
    for name, data in kaggle_files.items():
        (mounted / name).write_bytes(data)
    monkeypatch.setenv("KAGGLE_KERNEL_RUN_TYPE", "Interactive")
    monkeypatch.setattr(kaggle_data, "NOTEBOOK_INPUT", tmp_path / "input")
    summary = kaggle_data.download(load(project))
    raw = project / "data" / "raw"
    assert raw.is_symlink() and raw.resolve() == mounted.resolve()
    assert "nothing downloaded" in summary and "layout pixel-csv" in summary


def test_inside_a_kaggle_notebook_without_the_input_says_how_to_add_it(project, kaggle_home, tmp_path, monkeypatch):
    monkeypatch.setenv("KAGGLE_KERNEL_RUN_TYPE", "Interactive")
    monkeypatch.setattr(kaggle_data, "NOTEBOOK_INPUT", tmp_path / "input")
    with pytest.raises(ProjectError, match="Add Input"):
        kaggle_data.download(load(project))


def _assert_nothing_looks_complete(project):
    raw = project / "data" / "raw"
    assert not (raw / kaggle_data.MANIFEST).exists()
    assert not (raw / "train.csv").exists()
    for archive in project.rglob("*.zip"):
        assert os.path.exists(f"{archive}.kaggle-partial"), f"{archive} looks like a finished download"


def test_under_make_the_hint_to_fetch_again_is_written_as_make_data_force_1(project, kaggle_server):
    """The user typed `make data`: the hint says `make data FORCE=1`, not the CLI's --force."""
    shutil.copy(ROOT / "Makefile", project / "Makefile")
    shutil.copytree(ROOT / "make", project / "make")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    command = ["make", "data", f"PYTHON={sys.executable}"]
    assert subprocess.run(command, cwd=project, env=env, capture_output=True).returncode == 0
    again = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert "already in data/raw" in again.stdout and "`make data FORCE=1` fetches it again" in again.stdout
    assert "--force" not in again.stdout


def test_after_a_403_doctor_says_the_data_is_missing_and_why(project, kaggle_server):
    """A refused download leaves only its hidden staging folder: that is no data, and the rules are why."""
    kaggle_server.entered = False
    assert run_cli("data", cwd=project).returncode == 2
    text = doctor.doctor(load(project))
    assert "layout unknown" not in text
    [problem] = [line for line in text.splitlines() if line.startswith("- no data in")]
    assert problem.endswith(
        f": `make data` cannot fetch it while you have not joined {kaggle_server.slug} (fix that first, as said above)"
    )
    rules = (
        f"(accept the rules at https://www.kaggle.com/competitions/{kaggle_server.slug}/rules, then run `make data`)"
    )
    assert (
        f"- you have not joined {kaggle_server.slug} yet, so Kaggle refuses its files and submissions {rules}" in text
    )


def test_doctor_gives_the_same_fix_for_missing_credentials_as_every_command(project, kaggle_home):
    done = run_cli("data", cwd=project)
    fix = done.stderr.strip().removeprefix("error: ")
    assert fix.startswith("no Kaggle credentials found (")
    assert f"- {fix}" in doctor.doctor(load(project)).splitlines()
