"""make lb: CV against the public leaderboard for every submission in submissions/log.csv.

A CV that tracks the public score is one you can trust when the private leaderboard
replaces it; one that does not says the validation scheme (or the public split) is off.
`lb` prints one row per logged submission and plots CV against public score in
submissions/cv_vs_lb.png. A row logged before the cv_score column existed takes its
CV from its run folder when that is still there.
"""

from __future__ import annotations

import math
import statistics

from ..kit import plots
from ..kit.errors import ProjectError, counted
from .submission import CV, LOG, SUBMISSIONS, read_log

PLOT = "cv_vs_lb.png"


def lb(cfg) -> str:
    """Print CV vs public score of every logged submission and plot them; return one summary line."""
    rows = read_log(cfg)
    if not rows:
        raise ProjectError(f"{SUBMISSIONS}/{LOG} has no submissions yet (`make submit` logs each one)")
    print(_table(rows))
    points = [(float(r[CV]), float(r["public_score"]), n) for n, r in enumerate(rows, 1) if _both(r)]
    if not points:
        return f"lb: {counted(len(rows), 'submission')}, none with both a CV and a public score yet: nothing to plot"
    path = cfg.root / SUBMISSIONS / PLOT
    plots.cv_vs_lb(path, points, cfg.cv.metric)
    gaps = [public - cv for cv, public, _ in points]
    r = _correlation([p[0] for p in points], [p[1] for p in points])
    agreement = f"correlation {r:.2f}, " if r is not None else ""
    return (
        f"lb: {counted(len(rows), 'submission')}, {len(points)} with both scores: {agreement}public - CV "
        f"{sum(gaps) / len(gaps):+.4f} on average -> {SUBMISSIONS}/{PLOT}"
    )


def _both(row: dict) -> bool:
    return _number(row.get(CV)) is not None and _number(row.get("public_score")) is not None


def _number(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _table(rows: list[dict]) -> str:
    """One line per submission: #, when, run (or file), CV, public, gap, message."""
    lines = [("#", "when (UTC)", "run or file", "CV", "public", "public-CV", "message")]
    for n, row in enumerate(rows, 1):
        cv, public = _number(row.get(CV)), _number(row.get("public_score"))
        gap = f"{public - cv:+.4f}" if cv is not None and public is not None else "-"
        name = row.get("run_id") or row.get("file", "")
        status = row.get("status", "")
        shown = f"{public:.4f}" if public is not None else (status or "-")
        message = (row.get("message") or "").replace("\n", " ")
        when = (row.get("time_utc") or "")[:16].replace("T", " ")
        lines.append((str(n), when, name, f"{cv:.4f}" if cv is not None else "-", shown, gap, message[:40]))
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() for line in lines)


def _correlation(xs: list[float], ys: list[float]) -> float | None:
    """Pearson's r, or None with fewer than 3 points or no spread (a correlation would mean nothing)."""
    try:
        return statistics.correlation(xs, ys) if len(xs) >= 3 else None
    except statistics.StatisticsError:  # a constant column
        return None
