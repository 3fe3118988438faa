"""make submit: malformed files never reach Kaggle; a good one is sent once, scored and logged."""

import csv
import io
import subprocess
import sys

import pytest
from conftest import PACKAGE, module, run_cli

pytest_plugins = ["fake_kaggle"]
config = module("kit.config")
submission = module("kaggle.submission")
ProjectError = module("kit.errors").ProjectError


def answers(truth: dict, wrong: int = 0) -> str:
    """A submission in sample_submission.csv's shape; the first `wrong` labels are off by one."""
    rows = [(image_id, (label + (i < wrong)) % 10) for i, (image_id, label) in enumerate(truth.items())]
    return "ImageId,Label\n" + "".join(f"{image_id},{label}\n" for image_id, label in rows)


def put(project, name: str, text: str):
    path = project / "submissions" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path


def cfg_of(project):
    return config.load(project / "config.toml")


def test_a_good_file_is_valid(competition, kaggle_files):
    from fake_kaggle import digits_files

    path = put(competition, "good.csv", answers(digits_files()[1]))
    assert submission.validate(cfg_of(competition), path) == (
        "good.csv: valid against sample_submission.csv (60 rows, columns ImageId, Label)"
    )


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def _relabel(text: str, image_id: str, label: str) -> str:
    """One row's label replaced (an empty label leaves the cell blank)."""
    return "".join(f"{image_id},{label}\n" if line.startswith(f"{image_id},") else line for line in _lines(text))


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda t: t.replace("ImageId,Label", "ImageId,Digit"), "has columns ['ImageId', 'Digit'], sample_submission"),
        (lambda t: "".join(_lines(t)[:-1]), "has 59 rows, sample_submission.csv has 60"),
        (lambda t: _relabel(t, "4", ""), "has 1 empty values, e.g. Label on lines [5]"),
        (lambda t: t.replace("\n2,", "\n1,", 1), "repeats ImageId values, e.g. ['1']"),
        (lambda t: t.replace("\n60,", "\n999,"), "1 missing (e.g. ['60']), 1 unknown (e.g. ['999'])"),
        (lambda t: _relabel(t, "1", "0.5"), "Label should hold whole numbers like sample_submission.csv, found [0.5]"),
        (
            lambda t: _relabel(t, "3", "seven"),
            "Label should hold whole numbers like sample_submission.csv, found ['seven']",
        ),
        (lambda t: "", "is not a readable CSV"),
    ],
    ids=["columns", "rows", "empty-cell", "repeated-id", "unknown-id", "fractions", "text", "empty-file"],
)
def test_a_malformed_file_is_refused_with_what_is_wrong(competition, mutate, expected):
    """Each way a file goes wrong, caught before it costs one of the day's submissions."""
    from fake_kaggle import digits_files

    path = put(competition, "broken.csv", mutate(answers(digits_files()[1])))
    with pytest.raises(ProjectError) as error:
        submission.validate(cfg_of(competition), path)
    assert expected in str(error.value)


def test_a_missing_file_says_how_to_make_one(competition):
    with pytest.raises(ProjectError, match="does not exist.*make predict"):
        submission.validate(cfg_of(competition), competition / "submissions" / "nope.csv")


def test_without_a_sample_submission_it_says_to_run_make_data(project, tmp_path):
    path = put(project, "x.csv", "ImageId,Label\n1,2\n")
    with pytest.raises(ProjectError, match="no sample_submission.csv in data/raw.*make data"):
        submission.validate(cfg_of(project), path)


def test_make_submit_with_a_broken_file_is_one_line_and_sends_nothing(competition, kaggle_server):
    put(competition, "broken.csv", "ImageId,Label\n1,2\n")
    done = run_cli("submit", "submissions/broken.csv", "--yes", cwd=competition)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith("error: broken.csv has 1 rows, sample_submission.csv has 60")
    assert kaggle_server.calls == []


def test_a_good_file_is_submitted_scored_and_logged_with_run_id_and_commit(competition, kaggle_server, monkeypatch):
    """The whole guarded path: limit shown, upload, Kaggle's answer checked, score polled, one log row."""
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "Test")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "test@example.com")
    git = lambda *args: subprocess.run(["git", *args], cwd=competition, capture_output=True, text=True, check=True)  # noqa: E731
    git("init", "-q")
    git("add", "config.toml")
    git("commit", "-qm", "start")
    sha = git("rev-parse", "--short", "HEAD").stdout.strip()
    (competition / "runs" / "20250101-1200-resnet18").mkdir(parents=True)
    path = put(competition, "20250101-1200-resnet18.csv", answers(kaggle_server.truth, wrong=6))
    kaggle_server.used_today = 1
    summary = submission.submit(cfg_of(competition), message="first try", yes=True)
    assert summary.startswith("submitted 20250101-1200-resnet18.csv to ")
    assert "public score 0.90000" in summary and "3 left today" in summary
    assert kaggle_server.uploads["blob-1"] == path.read_bytes(), "the bytes Kaggle got are the validated file"
    rows = list(csv.DictReader(io.StringIO((competition / "submissions" / "log.csv").read_text())))
    assert len(rows) == 1
    row = rows[0]
    assert row["run_id"] == "20250101-1200-resnet18" and row["git_sha"] == sha
    assert row["status"] == "complete" and row["public_score"] == "0.90000" and row["message"] == "first try"
    assert row["submission_id"] == str(kaggle_server.submissions[0]["ref"])
    put(competition, "later.csv", answers(kaggle_server.truth))
    submission.submit(cfg_of(competition), yes=True)
    rows = list(csv.DictReader(io.StringIO((competition / "submissions" / "log.csv").read_text())))
    assert [r["public_score"] for r in rows] == ["0.90000", "1.00000"], "the log only grows"
    assert rows[1]["file"] == "submissions/later.csv" and rows[1]["message"] == "baseline"


def test_it_waits_for_the_score_while_kaggle_is_still_scoring(competition, kaggle_server, capsys):
    kaggle_server.polls_until_scored = 2
    put(competition, "a.csv", answers(kaggle_server.truth))
    summary = submission.submit(cfg_of(competition), yes=True)
    assert "public score 1.00000" in summary
    assert "waiting for the score of submission" in capsys.readouterr().err


@pytest.mark.parametrize(
    "damage, said",
    [
        ("time_utc,competition,file,message\r\n2025-01-01T00:00:00Z,x,a.csv,premi\u00e8re\r\n", "line 2 is not UTF-8"),
        ("time_utc,file\n<<<<<<< HEAD\n1,a.csv\n=======\n2,b.csv\n>>>>>>> main\n", "line 2 starts a merge conflict"),
    ],
    ids=["cp1252", "conflict"],
)
def test_a_log_saved_by_a_spreadsheet_or_left_in_a_conflict_stops_submit_before_anything_is_sent(
    competition, kaggle_server, damage, said
):
    """The log is the user's record of spent submissions: refuse while it cannot be read, never rewrite it."""
    log = competition / "submissions" / "log.csv"
    put(competition, "a.csv", answers(kaggle_server.truth))
    log.write_bytes(damage.encode("cp1252"))
    with pytest.raises(ProjectError, match=rf"log\.csv {said}") as error:
        submission.submit(cfg_of(competition), yes=True)
    assert "\n" not in str(error.value)
    assert kaggle_server.calls == [] and log.read_bytes() == damage.encode("cp1252")
    with pytest.raises(ProjectError, match=rf"log\.csv {said}"):
        submission.read_log(cfg_of(competition))  # make lb reads it too


def test_no_submissions_left_today_is_refused_before_uploading(competition, kaggle_server):
    kaggle_server.used_today = 5
    put(competition, "a.csv", answers(kaggle_server.truth))
    with pytest.raises(ProjectError) as error:
        submission.submit(cfg_of(competition), yes=True)
    assert "no submissions left" in str(error.value) and "5 of 5 used today" in str(error.value)
    assert "resets at 00:00 UTC" in str(error.value)
    assert kaggle_server.count("StartSubmissionUpload") == 0 and kaggle_server.submissions == []


def test_a_code_competition_is_refused_with_the_notebook_route(competition, kaggle_server):
    kaggle_server.metadata["isKernelsSubmissionsOnly"] = True
    put(competition, "a.csv", answers(kaggle_server.truth))
    with pytest.raises(ProjectError) as error:
        submission.submit(cfg_of(competition), yes=True)
    assert "code competition" in str(error.value) and "`make kaggle-push`" in str(error.value)
    assert kaggle_server.count("StartSubmissionUpload") == 0


def test_a_refusal_answered_with_success_is_caught_and_not_logged(competition, kaggle_server):
    """The kaggle CLI exits 0 when the server refuses: we check the list of submissions ourselves."""
    kaggle_server.create_answer = {"message": "Submission rejected: you are banned from this competition"}
    put(competition, "a.csv", answers(kaggle_server.truth))
    with pytest.raises(ProjectError) as error:
        submission.submit(cfg_of(competition), yes=True)
    assert "Kaggle did not take a.csv" in str(error.value) and "banned" in str(error.value)
    assert not (competition / "submissions" / "log.csv").exists()


@pytest.mark.parametrize(
    "under_make, fix", [(False, f"`python -m {PACKAGE} submit --yes`"), (True, "`make submit YES=1`")]
)
def test_without_a_terminal_or_yes_it_refuses_with_the_fix(competition, kaggle_server, monkeypatch, under_make, fix):
    """`make all` in CI or a pipe must never spend a submission silently, nor hang on a question;
    the fix is written the way the user started it."""
    if under_make:
        monkeypatch.setenv("MAKE_HINTS", "1")
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    put(competition, "a.csv", answers(kaggle_server.truth))
    with pytest.raises(ProjectError) as error:
        submission.submit(cfg_of(competition))
    assert str(error.value).endswith(f"(run {fix})")
    assert kaggle_server.count("StartSubmissionUpload") == 0


def test_a_file_submitted_before_is_refused_naming_when_and_its_score(competition, kaggle_server, monkeypatch):
    """`make submit YES=1` twice and `make all YES=1` once sent one file three times: the log knows its sha256."""
    put(competition, "a.csv", answers(kaggle_server.truth))
    submission.submit(cfg_of(competition), yes=True)
    [row] = list(csv.DictReader(io.StringIO((competition / "submissions" / "log.csv").read_text())))
    kaggle_server.calls.clear()
    done = run_cli("submit", "--yes", cwd=competition, env={"MAKE_HINTS": "1"})
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert done.stderr.startswith(
        f"error: submissions/a.csv was already submitted to {kaggle_server.slug} on {row['time_utc']} "
        f"(public score 1.00000, submission {row['submission_id']}) (nothing was sent"
    )
    assert "`make submit FORCE=1`" in done.stderr
    assert kaggle_server.calls == [], "refused before Kaggle is asked anything"
    monkeypatch.setattr(sys, "stdin", _Terminal("n\n"))
    assert submission.submit(cfg_of(competition), force=True).startswith("submit: not sent")
    assert kaggle_server.count("StartSubmissionUpload") == 0


def test_a_file_logged_unconfirmed_is_sent_again_without_force(competition, kaggle_server):
    """Unconfirmed (the answer was lost, or Ctrl-C while waiting): nobody knows Kaggle took it, so no refusal."""
    put(competition, "a.csv", answers(kaggle_server.truth))
    submission.submit(cfg_of(competition), yes=True)
    log = competition / "submissions" / "log.csv"
    log.write_text(log.read_text().replace(",complete,", ",unconfirmed,"))
    assert ",unconfirmed," in log.read_text()
    assert submission.submit(cfg_of(competition), yes=True).startswith("submitted a.csv")
    assert kaggle_server.count("StartSubmissionUpload") == 2


def test_a_forced_resubmission_says_so_in_the_question_and_is_sent(competition, kaggle_server, monkeypatch, capsys):
    put(competition, "a.csv", answers(kaggle_server.truth))
    submission.submit(cfg_of(competition), yes=True)
    put(competition, "a.csv", answers(kaggle_server.truth, wrong=1))  # other bytes: a new file, not refused
    submission.submit(cfg_of(competition), yes=True)
    put(competition, "a.csv", answers(kaggle_server.truth))  # the first bytes again
    capsys.readouterr()
    monkeypatch.setattr(sys, "stdin", _Terminal("y\n"))
    summary = submission.submit(cfg_of(competition), force=True)
    asked = capsys.readouterr().out
    assert asked.startswith(f"Submit submissions/a.csv to {kaggle_server.slug} again (already sent on ")
    assert "(public score 1.00000, submission " in asked
    assert summary.startswith("submitted a.csv") and kaggle_server.count("StartSubmissionUpload") == 3


def test_answering_no_sends_nothing(competition, kaggle_server, monkeypatch):
    monkeypatch.setattr(sys, "stdin", _Terminal("n\n"))
    put(competition, "a.csv", answers(kaggle_server.truth))
    assert submission.submit(cfg_of(competition)).startswith("submit: not sent; 5 submissions left today")
    assert kaggle_server.count("StartSubmissionUpload") == 0


def test_a_competition_not_joined_yet_points_at_the_rules(competition, kaggle_server):
    kaggle_server.entered = False
    put(competition, "a.csv", answers(kaggle_server.truth))
    with pytest.raises(ProjectError, match=r"you have not joined .*/rules"):
        submission.submit(cfg_of(competition), yes=True)


class _Terminal(io.StringIO):
    """stdin as a person at a terminal: isatty() is true and the answer is typed in."""

    def isatty(self):
        return True
