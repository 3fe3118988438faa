"""Reading the project's own files: another encoding, a merge conflict or a line that does not parse is one
line naming the file, the line and the fix; and runs/index.csv, the project's own bookkeeping, is rebuilt
from the run folders rather than lost."""

import json

import pytest
from conftest import module

files = module("kit.files")
config = module("kit.config")
runs = module("kit.runs")
ProjectError = module("kit.errors").ProjectError
CONFLICT = "<<<<<<< HEAD\nmine\n=======\ntheirs\n>>>>>>> main\n"


def test_text_in_another_encoding_names_the_file_its_line_and_the_fix(tmp_path):
    path = tmp_path / "RULES.md"
    path.write_bytes("# Rules\n\n- [x] caf\u00e9 checked\n".encode("latin-1"))
    with pytest.raises(files.DamagedFile) as caught:
        files.read_text(path)
    message = str(caught.value)
    assert message.startswith(f"{path} line 3 is not UTF-8") and "save it as UTF-8" in message
    assert "\n" not in message


def test_a_byte_order_mark_is_fine_and_dropped(tmp_path):
    """Windows editors and spreadsheets write one; tomllib and csv would take it for text."""
    path = tmp_path / "config.toml"
    path.write_bytes(b"\xef\xbb\xbf[project]\nname = 'x'\n")
    assert files.read_text(path) == "[project]\nname = 'x'\n"


def test_a_merge_conflict_is_named_by_its_first_line_but_a_markdown_rule_is_not_one(tmp_path):
    path = tmp_path / "NOTES.md"
    path.write_text("Title\n=======\n\nmy text\n" + CONFLICT)
    with pytest.raises(files.DamagedFile, match=r"NOTES\.md line 5 starts a merge conflict .*delete the <<<<<<<"):
        files.read_text(path)
    path.write_text("Title\n=======\n\nmy text\n")  # a setext heading: "=======" alone is no conflict
    assert files.read_text(path).startswith("Title\n=======\n")


def test_a_csv_that_does_not_parse_or_lost_its_header_is_one_line(tmp_path):
    path = tmp_path / "log.csv"
    path.write_bytes(b'run,status\nabc,"fin"ished\n')  # text after a closing quote
    with pytest.raises(files.DamagedFile, match=r"log\.csv line 2 is not CSV: .* \(fix that line\)"):
        files.read_rows(path)
    path.write_bytes(b"run,status\nabc,finished\n\0\0\0\0")  # a crash left zeros where the text was
    with pytest.raises(files.DamagedFile, match=r"log\.csv line 3 holds NUL bytes: it is damaged \(put back a copy\)"):
        files.read_rows(path)
    path.write_text("abc,finished\n")
    with pytest.raises(files.DamagedFile, match=r"has no run column \(its header: abc,finished\) \(restore"):
        files.read_rows(path, ("run", "status"))


def test_a_json_record_that_does_not_parse_says_where_and_the_callers_own_fix(tmp_path):
    path = tmp_path / "metrics.json"
    path.write_text('{"accuracy": 0.9,\n')
    with pytest.raises(files.DamagedFile, match=r"metrics\.json is not valid JSON \(.* at line 2\) .*; or train"):
        files.read_json(path, also="train again")


def test_config_toml_saved_as_latin_1_is_refused_in_one_line(project):
    path = project / "config.toml"
    path.write_bytes(path.read_bytes() + "# r\u00e9glages\n".encode("latin-1"))
    with pytest.raises(ProjectError, match=r"config\.toml line \d+ is not UTF-8") as caught:
        config.load(path)
    assert "\n" not in str(caught.value)


def _run(root, name, finished, accuracy=0.75):
    folder = root / "runs" / name
    folder.mkdir(parents=True)
    record = {"model": {"arch": "resnet18", "size": 64, "epochs": 2, "lr": 0.0}, "resolved": {"lr": 0.002}}
    (folder / "config.json").write_text(json.dumps(record))
    if finished:
        (folder / "metrics.json").write_text(json.dumps({"accuracy": accuracy, "valid_loss": 0.5}))
        (folder / "model.pkl").write_bytes(b"model")
    return folder


@pytest.mark.parametrize(
    "damage, said",
    [
        ("run,status,note\r\n{old},finished,r\u00e9sum\u00e9\r\n".encode("cp1252"), "line 2 is not UTF-8"),
        (f"run,status\n{CONFLICT}".encode(), "line 2 starts a merge conflict"),
    ],
    ids=["cp1252", "conflict"],
)
def test_a_damaged_runs_index_is_rebuilt_from_the_run_folders_and_kept_aside(project, capsys, damage, said):
    """A spreadsheet's cp1252 or a merge conflict in runs/index.csv: the runs are still found, the index is
    written again from the folders, and the damaged file is kept byte for byte (the user's lines in it)."""
    cfg = config.load(project / "config.toml")
    old = _run(project, "20250101-000000-resnet18", finished=True)
    _run(project, "20250102-000000-resnet18", finished=False)
    index = project / "runs" / "index.csv"
    damaged = damage.replace(b"{old}", old.name.encode())
    index.write_bytes(damaged)

    rows = runs.read_index(cfg)
    assert [(row["run"], row["status"]) for row in rows] == [
        ("20250101-000000-resnet18", "finished"),
        ("20250102-000000-resnet18", "unknown"),
    ]
    assert rows[0]["arch"] == "resnet18" and rows[0]["lr"] == "2.00e-03" and rows[0]["accuracy"] == "0.7500"
    note = capsys.readouterr().err
    assert f"index.csv {said}" in note and "rebuilt it from the 2 run folders" in note
    assert (project / "runs" / "index.csv.damaged").read_bytes() == damaged
    assert [row["run"] for row in files.read_rows(index, ("run", "status"))] == [row["run"] for row in rows]
    assert runs.latest(cfg) == old, "the unfinished run is skipped as before"
    runs.read_index(cfg)
    assert capsys.readouterr().err == "", "rebuilt once, then read as usual"


def test_a_new_run_on_a_damaged_index_keeps_every_older_run_in_it(project, capsys):
    """`make train` adds its line through the same read: the older runs' lines come back from their folders."""
    cfg = config.load(project / "config.toml")
    _run(project, "20250101-000000-resnet18", finished=True)
    (project / "runs" / "index.csv").write_bytes(b"run,status\n\xff\n")
    runs._update_index(cfg, "20250103-000000-resnet18", status="running")
    rows = files.read_rows(project / "runs" / "index.csv", ("run", "status"))
    assert [(row["run"], row["status"]) for row in rows] == [
        ("20250101-000000-resnet18", "finished"),
        ("20250103-000000-resnet18", "running"),
    ]


def test_a_second_damaged_index_never_overwrites_the_first_one_kept(project, capsys):
    cfg = config.load(project / "config.toml")
    _run(project, "20250101-000000-resnet18", finished=True)
    index = project / "runs" / "index.csv"
    for damage in (b"run,status\n\xe9\n", b"run,status\n\xe8\n"):
        index.write_bytes(damage)
        runs.read_index(cfg)
    assert (project / "runs" / "index.csv.damaged").read_bytes() == b"run,status\n\xe9\n"
    assert (project / "runs" / "index.csv.damaged2").read_bytes() == b"run,status\n\xe8\n"


def test_a_damaged_run_record_is_one_line_that_names_it(project):
    folder = _run(project, "20250101-000000-resnet18", finished=True)
    (folder / "metrics.json").write_bytes(b'{"accuracy": 0.9')
    with pytest.raises(ProjectError, match=r"20250101-000000-resnet18/metrics\.json is not valid JSON .*train again"):
        runs.read_metrics(folder)
    (folder / "config.json").write_bytes('{"model": "r\u00e9seau"}'.encode("latin-1"))
    with pytest.raises(ProjectError, match=r"config\.json line 1 is not UTF-8"):
        runs.settings(folder)
