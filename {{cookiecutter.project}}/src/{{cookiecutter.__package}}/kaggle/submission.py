"""make submit: a validated file, today's limit checked, then the score.

`validate` compares a CSV with sample_submission.csv (columns, rows, ids, empty cells,
label types); `predict` calls it on the file it writes, `submit` again before spending a
submission. `submit` refuses a file the log shows was sent before (same sha256; --force
sends it anyway), refuses code competitions, shows today's count against the daily
limit, asks before it sends (unless --yes), checks that Kaggle took the file (the
`kaggle` CLI exits 0 even when it did not), waits for the public score, and appends
every submission to submissions/log.csv with the run id and the git commit.
"""

from __future__ import annotations

import csv
import io
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ..kit import kaggle_api, runs
from ..kit.errors import ProjectError, hint
from ..kit.files import read_rows, read_text, room_for, sha256, write_text

SUBMISSIONS = "submissions"
LOG = "log.csv"
LOG_COLUMNS = [
    "time_utc",
    "competition",
    "file",
    "sha256",
    "run_id",
    "git_sha",
    "message",
    "submission_id",
    "status",
    "public_score",
    "cv_score",  # the run's CV score (runs.run_score), beside the public one: `make lb` plots the two
]
CV = "cv_score"
SHOWN = 3  # examples quoted in an error


def sample_path(cfg) -> Path:
    """sample_submission.csv: data.sample in config.toml, else the first one under data/raw."""
    if cfg.data.sample:
        path = cfg.raw / cfg.data.sample
        if not path.is_file():
            raise ProjectError(f"data.sample = {cfg.data.sample!r} is not a file in {cfg.data.raw} (fix config.toml)")
        return path
    found = sorted(cfg.raw.rglob("*sample_submission*.csv")) if cfg.raw.is_dir() else []
    if not found:
        raise ProjectError(f"no sample_submission.csv in {cfg.data.raw} to check against (run `make data` first)")
    return found[0]


def validate(cfg, path) -> str:
    """Check a submission against sample_submission.csv; one line saying it is fine, else ProjectError."""
    import pandas as pd

    path = Path(path)
    sample_file = sample_path(cfg)
    sample = _read(pd, sample_file)
    submission = _read(pd, path)
    name = path.name
    if list(submission.columns) != list(sample.columns):
        raise ProjectError(
            f"{name} has columns {list(submission.columns)}, {sample_file.name} has {list(sample.columns)} "
            "(write exactly those columns, in that order)"
        )
    if len(submission) != len(sample):
        raise ProjectError(
            f"{name} has {len(submission)} rows, {sample_file.name} has {len(sample)} (predict every id once)"
        )
    empty = submission.isna()
    if empty.any().any():
        column = empty.any()[lambda s: s].index[0]
        rows = list(empty.index[empty[column]][:SHOWN] + 2)  # +2: header line, 1-based
        raise ProjectError(
            f"{name} has {int(empty.sum().sum())} empty values, e.g. {column} on lines {rows} (fill every cell)"
        )
    id_column = cfg.data.id_column if cfg.data.id_column in sample.columns else sample.columns[0]
    ids, expected = submission[id_column].astype(str), set(sample[id_column].astype(str))
    repeated = ids[ids.duplicated()]
    if len(repeated):
        raise ProjectError(f"{name} repeats {id_column} values, e.g. {list(repeated[:SHOWN])} (one row per id)")
    missing, extra = sorted(expected - set(ids)), sorted(set(ids) - expected)
    if missing or extra:
        raise ProjectError(
            f"{name}: {id_column} does not match {sample_file.name}: {len(missing)} missing (e.g. {missing[:SHOWN]}), "
            f"{len(extra)} unknown (e.g. {extra[:SHOWN]}) (use the ids of the test set, written the same way)"
        )
    for column in sample.columns:
        if column != id_column:
            _check_type(pd, name, column, sample[column], submission[column])
    return f"{name}: valid against {sample_file.name} ({len(submission)} rows, columns {', '.join(sample.columns)})"


def _read(pd, path: Path):
    if not path.is_file():
        raise ProjectError(f"{path} does not exist (run `make predict`, or give the path of your CSV)")
    try:
        return pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0][:160]
        raise ProjectError(f"{path.name} is not a readable CSV ({reason}) (write it with DataFrame.to_csv)") from None


def _check_type(pd, name: str, column: str, expected, given) -> None:
    """Labels of the kind the sample holds: whole numbers, numbers, or true/false."""
    types = pd.api.types
    if types.is_bool_dtype(expected):
        ok, kind = types.is_bool_dtype(given), "True/False values"
    elif types.is_integer_dtype(expected):
        ok, kind = types.is_integer_dtype(given), "whole numbers"
    elif types.is_numeric_dtype(expected):
        ok, kind = types.is_numeric_dtype(given) and not types.is_bool_dtype(given), "numbers"
    else:
        return  # text labels: any text will do
    if not ok:
        if types.is_numeric_dtype(given) and types.is_integer_dtype(expected):
            wrong = given[given != given.round()]
        else:
            wrong = given[pd.to_numeric(given, errors="coerce").isna()]
        examples = list(wrong[:SHOWN] if len(wrong) else given[:SHOWN])
        raise ProjectError(
            f"{name}: {column} should hold {kind} like sample_submission.csv, found {examples} "
            f"(convert the column, e.g. df[{column!r}].astype(int) for whole numbers)"
        )


def submit(cfg, file=None, message=None, yes: bool = False, force: bool = False) -> str:
    """Validate, refuse a file sent before, check today's limit, ask, submit, then wait for the score and log it."""
    slug = cfg.project.competition
    path = Path(file) if file else latest(cfg)
    validate(cfg, path)
    sent = _sent_before(cfg, path)
    if sent and not force:
        raise ProjectError(
            f"{_rel(cfg, path)} was already submitted to {slug} {sent} (nothing was sent: submit another file, "
            f"or {hint('submit', force=True)} to spend a submission on it again)"
        )
    _log_text(cfg)  # a log that cannot be read must stop us before a submission is spent, not after
    _check_log_writable(cfg)
    api = kaggle_api.client()
    competition = kaggle_api.competition(api, slug)
    if competition.is_kernels_submissions_only:
        raise ProjectError(
            f"{slug} is a code competition: Kaggle scores a notebook, not an uploaded CSV "
            "(`make kaggle-push` runs this project there with internet off and writes submission.csv; "
            "then submit that kernel from its page on kaggle.com)"
        )
    if competition.submissions_disabled:
        raise ProjectError(f"{slug} takes no submissions now (see {kaggle_api.COMPETITION_URL.format(slug=slug)})")
    if not competition.user_has_entered:
        raise ProjectError(f"you have not joined {slug} yet (accept the rules at {kaggle_api.rules_url(slug)})")
    limits = kaggle_api.call(f"reading {slug}'s limits", api.competition_get_submission_limits, slug, slug=slug)
    left, used = limits.num_allowed_now, limits.num_today
    cap = competition.max_daily_submissions or used + left
    if left <= 0:
        why = "the competition's lifetime cap is reached" if limits.limited_by_total else f"{used} of {cap} used today"
        raise ProjectError(f"no submissions left for {slug}: {why} (the count resets at 00:00 UTC, {_reset()})")
    print(f"submissions today: {used} of {cap} used, {left} left", file=sys.stderr)
    message = message or cfg.submit.message
    again = f" again (already sent {sent})" if sent else ""
    if sent and yes:
        print(f"submit: sending {_rel(cfg, path)}{again}, as forced", file=sys.stderr)
    plan = f"submit {_rel(cfg, path)} to {slug}{again} as {message!r}, using 1 of {left} left today"
    if not yes and not _confirm(plan):
        return f"submit: not sent; {left} submissions left today"
    before = {s.ref for s in _submissions(api, slug)}
    action = f"submitting {path.name} to {slug}"
    answer = kaggle_api.call(action, api.competition_submit, str(path), message, slug, slug=slug)
    where = f"{kaggle_api.COMPETITION_URL.format(slug=slug)}/submissions"
    try:
        submitted = _taken(api, slug, answer, before)
        if submitted is not None:
            submitted = _wait_for_score(api, slug, submitted, cfg.submit.poll_seconds)
    except (ProjectError, KeyboardInterrupt) as exc:  # the file went out: a spent submission is never unlogged
        _log(cfg, path, message, answer.ref or "", "unconfirmed", "")
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise ProjectError(
            f"{path.name} was sent, but confirming it failed: {exc} "
            f"(logged as unconfirmed in {SUBMISSIONS}/{LOG}; check {where})"
        ) from None
    if submitted is None:
        raise ProjectError(f"Kaggle did not take {path.name}: {answer.message!r} (fix what it says, then submit again)")
    status = submitted.status.name.lower()
    _log(cfg, path, message, submitted.ref, status, submitted.public_score or "")
    if status == "error":
        raise ProjectError(
            f"Kaggle could not score {path.name}: {submitted.error_description or 'no reason given'} "
            f"(it still counts today; logged in {SUBMISSIONS}/{LOG}; see {where})"
        )
    if status != "complete":
        waited = cfg.submit.poll_seconds
        return f"submitted {path.name} (submission {submitted.ref}); still scoring after {waited} s: see {where}"
    return (
        f"submitted {path.name} to {slug}: public score {submitted.public_score} (submission {submitted.ref}, "
        f"{left - 1} left today; logged in {SUBMISSIONS}/{LOG})"
    )


def _sent_before(cfg, path: Path) -> str:
    """When this very file (same sha256) went to this competition, with its score, as the log says; '' if never.
    An unconfirmed row does not count: whether Kaggle took that file is unknown, and sending it is the fix."""
    if not (cfg.root / SUBMISSIONS / LOG).is_file():
        return ""
    digest, slug = sha256(path), cfg.project.competition
    rows = [
        row
        for row in read_log(cfg)
        if row.get("sha256") == digest and row.get("competition") == slug and row.get("status") != "unconfirmed"
    ]
    if not rows:
        return ""
    last = rows[-1]
    score = f"public score {last['public_score']}" if last.get("public_score") else f"status {last.get('status')}"
    times = f"{len(rows)} times, last " if len(rows) > 1 else ""
    return f"{times}on {last.get('time_utc')} ({score}, submission {last.get('submission_id') or 'unknown'})"


def _check_log_writable(cfg) -> None:
    """Refuse before a submission is spent that could not be logged (a read-only folder, a full disk)."""
    log = cfg.root / SUBMISSIONS / LOG
    problem = room_for(log.parent, (log.stat().st_size if log.is_file() else 0) + 4096)  # the new log's size
    if problem:
        raise ProjectError(
            f"cannot write {SUBMISSIONS}/{LOG}: {problem.strerror or problem} (nothing was sent; make {SUBMISSIONS}/ "
            "writable or free some disk space, then submit again)"
        )


def latest(cfg) -> Path:
    """The newest CSV in submissions/ (what `make predict` wrote last)."""
    folder = cfg.root / SUBMISSIONS
    files = [p for p in folder.glob("*.csv") if p.name != LOG] if folder.is_dir() else []
    if not files:
        raise ProjectError(f"no CSV in {SUBMISSIONS}/ to submit (run `make predict`, or `make submit FILE=path.csv`)")
    return max(files, key=lambda p: p.stat().st_mtime_ns)


def _confirm(plan: str) -> bool:
    """Ask before spending a submission; with nobody to ask, refuse rather than spend it silently."""
    if not sys.stdin.isatty():
        raise ProjectError(f"not sent: about to {plan}, with no terminal to ask on (run {hint('submit', yes=True)})")
    return input(f"{plan[0].upper()}{plan[1:]}? [y/N] ").strip().lower() in {"y", "yes"}


def _taken(api, slug: str, answer, before: set):
    """The submission Kaggle made of our upload, or None: the answer alone is no proof."""
    if answer.message == type(api).COMPETITION_SUBMIT_UPLOAD_FAILED_MESSAGE:
        return None
    new = [s for s in _submissions(api, slug) if s.ref not in before]
    return next((s for s in new if s.ref == answer.ref), None) if answer.ref else (new[0] if new else None)


def _submissions(api, slug: str) -> list:
    return kaggle_api.call(f"listing {slug}'s submissions", api.competition_submissions, slug, slug=slug) or []


def _wait_for_score(api, slug: str, submitted, budget: int):
    """Poll until the submission is scored or errors, or `budget` seconds pass."""
    from kagglesdk.competitions.types.submission_status import SubmissionStatus

    deadline, pause = time.monotonic() + budget, 1.0
    while submitted.status == SubmissionStatus.PENDING and time.monotonic() + pause <= deadline:
        print(f"waiting for the score of submission {submitted.ref}...", file=sys.stderr)
        time.sleep(pause)
        pause = min(pause * 2, 30.0)
        submitted = next((s for s in _submissions(api, slug) if s.ref == submitted.ref), submitted)
    return submitted


def _log(cfg, path: Path, message: str, ref: int, status: str, score: str) -> None:
    """Append one row to submissions/log.csv (rewritten atomically: never half a row)."""
    log = cfg.root / SUBMISSIONS / LOG
    old = _log_text(cfg)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if not old:
        writer.writerow(LOG_COLUMNS)
    run_id = path.stem if (cfg.root / "runs" / path.stem).is_dir() else ""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    row = [now, cfg.project.competition, _rel(cfg, path), sha256(path), run_id, _short_commit(cfg.root), message]
    writer.writerow([*row, ref, status, score, runs.run_score(cfg, run_id)])
    if old and not old.endswith("\n"):
        old += "\n"
    write_text(log, old + out.getvalue())


def _short_commit(root: Path) -> str:
    """The commit the code was at, with -dirty when tracked files changed since; '' outside git."""
    sha, dirty = runs.git_commit(root)
    return f"{sha[:7]}{'-dirty' if dirty else ''}" if sha else ""


def _reset() -> str:
    now = datetime.now(UTC)
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    minutes = int((midnight - now).total_seconds() // 60)
    return f"in {minutes // 60} h {minutes % 60} min"


def _rel(cfg, path: Path) -> str:
    path = Path(path).resolve()
    return str(path.relative_to(cfg.root)) if path.is_relative_to(cfg.root) else str(path)


def _log_text(cfg) -> str:
    """submissions/log.csv's text, with the cv_score column; "" when there is none. One that is not UTF-8
    or not CSV (a spreadsheet saved it in cp1252, a merge conflict) is a DamagedFile naming the line."""
    path = cfg.root / SUBMISSIONS / LOG
    if not path.is_file():
        return ""
    text = read_text(path)
    read_rows(path, text=text)  # what csv cannot parse is one line here, not a traceback below
    return with_cv_column(text)


def with_cv_column(text: str) -> str:
    """A log written before the cv_score column, with the column added and an empty cell in every old row."""
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or CV in rows[0]:
        return text
    header = [*rows[0], CV]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(row + [""] * (len(header) - len(row)) for row in rows[1:] if row)
    return out.getvalue()


def read_log(cfg) -> list[dict]:
    """submissions/log.csv as rows (old logs included), each with its CV score filled in where a run has one."""
    path = cfg.root / SUBMISSIONS / LOG
    if not path.is_file():
        raise ProjectError(f"no {SUBMISSIONS}/{LOG} yet: nothing submitted from here (`make submit` logs each one)")
    rows = read_rows(path, text=_log_text(cfg))
    for row in rows:
        if not row.get(CV):
            row[CV] = runs.run_score(cfg, row.get("run_id") or "")
    return rows
