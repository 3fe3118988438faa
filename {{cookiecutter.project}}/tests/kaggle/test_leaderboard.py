"""make lb and the cv_score column: CV beside the public score for every submission, old logs kept readable."""

import csv
import io
import json

from conftest import module, run_cli
from PIL import Image

pytest_plugins = ["fake_kaggle"]
leaderboard = module("kaggle.leaderboard")
submission = module("kaggle.submission")
config = module("kit.config")

OLD_HEADER = "time_utc,competition,file,sha256,run_id,git_sha,message,submission_id,status,public_score"


def old_log(*rows: str) -> str:
    """A submissions/log.csv as `make submit` wrote it before the cv_score column existed."""
    return "\n".join([OLD_HEADER, *rows]) + "\n"


def a_run(project, name: str, **metrics) -> None:
    """A finished run folder holding only its metrics.json (all that the log and lb read)."""
    folder = project / "runs" / name
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps(metrics))


def test_an_old_log_gains_the_column_and_keeps_every_row():
    """Logs written before cv_score existed stay readable: same values, one more (empty) cell."""
    old = old_log(
        '2025-01-01T10:00:00Z,digit-recognizer,submissions/a.csv,ab12,a,1f2e,"first, with a comma",50001,complete,0.9',
        "2025-01-02T10:00:00Z,digit-recognizer,submissions/b.csv,cd34,,,second,50002,pending,",
    )
    new = submission.with_cv_column(old)
    before, after = list(csv.DictReader(io.StringIO(old))), list(csv.DictReader(io.StringIO(new)))
    assert new.splitlines()[0] == OLD_HEADER + ",cv_score"
    assert [{k: v for k, v in row.items() if k != "cv_score"} for row in after] == before
    assert [row["cv_score"] for row in after] == ["", ""]
    assert submission.with_cv_column(new) == new, "a log that has the column is left as it is"
    assert submission.with_cv_column("") == ""


def test_submit_logs_the_runs_cv_score_beside_the_public_score(competition, kaggle_server):
    """The CV of the run that made the file goes in the same row as the score Kaggle gave it."""
    log = competition / "submissions" / "log.csv"
    log.parent.mkdir()
    log.write_text(old_log("2025-01-01T10:00:00Z,digit-recognizer,submissions/x.csv,ab12,,,old,50000,complete,0.5"))
    a_run(competition, "20250102-100000-resnet34-cv5", cv_score=0.9731234, cv_std=0.004, accuracy=0.97)
    path = competition / "submissions" / "20250102-100000-resnet34-cv5.csv"
    truth = kaggle_server.truth
    path.write_text("ImageId,Label\n" + "".join(f"{i},{y}\n" for i, y in truth.items()))
    submission.submit(config.load(competition / "config.toml"), path, message="cv", yes=True)
    rows = list(csv.DictReader(io.StringIO(log.read_text())))
    assert [(r["message"], r["public_score"], r["cv_score"]) for r in rows] == [
        ("old", "0.5", ""),
        ("cv", "1.00000", "0.973123"),
    ]
    assert log.read_text().splitlines()[0].endswith(",public_score,cv_score")


def test_lb_prints_cv_against_public_for_every_submission_and_plots_them(project):
    """One table row per submission, pending ones included; the PNG plots those with both scores."""
    a_run(project, "r1-cv5", cv_score=0.91)
    a_run(project, "r2", accuracy=0.95, valid_loss=0.2)  # a plain run: its validation accuracy stands in
    a_run(project, "r3-cv5", cv_score=0.97)
    log = project / "submissions" / "log.csv"
    log.parent.mkdir()
    log.write_text(
        old_log(
            "2025-01-01T10:00:00Z,d,submissions/r1-cv5.csv,a,r1-cv5,,first,1,complete,0.905",
            "2025-01-02T10:00:00Z,d,submissions/r2.csv,b,r2,,second,2,complete,0.93",
            "2025-01-03T10:00:00Z,d,submissions/r3-cv5.csv,c,r3-cv5,,third,3,complete,0.962",
            "2025-01-04T10:00:00Z,d,submissions/mine.csv,d,,,by hand,4,pending,",
        )
    )
    done = run_cli("lb", cwd=project)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0].split() == ["#", "when", "(UTC)", "run", "or", "file", "CV", "public", "public-CV", "message"]
    assert lines[1].split()[3:7] == ["r1-cv5", "0.9100", "0.9050", "-0.0050"]
    assert lines[2].split()[3:6] == ["r2", "0.9500", "0.9300"]
    assert lines[4].split()[3:7] == ["submissions/mine.csv", "-", "pending", "-"]
    assert lines[-1] == (
        "lb: 4 submissions, 3 with both scores: correlation 0.97, public - CV -0.0110 on average "
        "-> submissions/cv_vs_lb.png"
    )
    with Image.open(project / "submissions" / "cv_vs_lb.png") as image:
        assert image.format == "PNG" and image.size == (600, 600)
    assert "cv_score" not in log.read_text(), "lb only reads the log"


def test_lb_without_submissions_says_how_to_make_one(project):
    done = run_cli("lb", cwd=project)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip() == (
        "error: no submissions/log.csv yet: nothing submitted from here (`make submit` logs each one)"
    )


def test_labels_of_points_on_the_same_spot_stack_instead_of_overlapping():
    """The same file scored twice (or two close runs) drew '#1' and '#2' on top of each other in cv_vs_lb.png."""
    offsets = module("kit.plots").label_offsets([(0.90, 0.91, 1), (0.90, 0.91, 2), (0.9001, 0.9101, 3), (0.5, 0.6, 4)])
    assert len(set(offsets[:3])) == 3, "three labels at one spot: three heights"
    assert offsets[3] == offsets[0], "a point on its own keeps the usual place"
