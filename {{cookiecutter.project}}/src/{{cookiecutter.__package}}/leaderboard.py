"""make lb: CV against the public leaderboard for every submission in submissions/log.csv.

A CV that tracks the public score is one you can trust when the private leaderboard
replaces it; one that does not says the validation scheme (or the public split) is off.
`lb` prints one row per logged submission and plots CV against public score in
submissions/cv_vs_lb.png. A row logged before the cv_score column existed takes its
CV from its run folder when that is still there.
"""

from __future__ import annotations

import csv
import io
import math

from . import folds
from .errors import ProjectError
from .files import atomic_path
from .submission import LOG, SUBMISSIONS

PLOT = "cv_vs_lb.png"
CV = "cv_score"


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
    rows = list(csv.DictReader(io.StringIO(with_cv_column(path.read_text(encoding="utf-8")))))
    for row in rows:
        if not row.get(CV):
            row[CV] = folds.run_score(cfg, row.get("run_id") or "")
    return rows


def lb(cfg) -> str:
    """Print CV vs public score of every logged submission and plot them; return one summary line."""
    rows = read_log(cfg)
    if not rows:
        raise ProjectError(f"{SUBMISSIONS}/{LOG} has no submissions yet (`make submit` logs each one)")
    print(_table(rows))
    points = [(float(r[CV]), float(r["public_score"]), n) for n, r in enumerate(rows, 1) if _both(r)]
    if not points:
        return f"lb: {len(rows)} submissions, none with both a CV and a public score yet: nothing to plot"
    path = cfg.root / SUBMISSIONS / PLOT
    _plot(path, points, cfg.cv.metric)
    gaps = [public - cv for cv, public, _ in points]
    r = _pearson([p[0] for p in points], [p[1] for p in points])
    agreement = f"correlation {r:.2f}, " if r is not None else ""
    return (
        f"lb: {len(rows)} submissions, {len(points)} with both scores: {agreement}public - CV "
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


def _pearson(xs: list[float], ys: list[float]) -> float | None:
    """Pearson's r, or None with fewer than 3 points or no spread (a correlation would mean nothing)."""
    if len(xs) < 3:
        return None
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    sx, sy = math.sqrt(sum((x - mx) ** 2 for x in xs)), math.sqrt(sum((y - my) ** 2 for y in ys))
    return sxy / (sx * sy) if sx > 0 and sy > 0 else None


def _plot(path, points: list[tuple[float, float, int]], metric: str) -> None:
    """Public score against CV, each point numbered as in the table, with the y = x line."""
    from matplotlib.figure import Figure  # a bare Figure draws with Agg: no display, no pyplot state

    fig = Figure(figsize=(6, 6), dpi=100, layout="constrained")
    ax = fig.subplots()
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    low, high = min(xs + ys), max(xs + ys)
    pad = (high - low) * 0.1 or 0.01
    ax.plot([low - pad, high + pad], [low - pad, high + pad], linestyle=":", color="grey", label="public = CV")
    ax.scatter(xs, ys, color="tab:blue", zorder=3)
    for x, y, n in points:
        ax.annotate(f"#{n}", (x, y), textcoords="offset points", xytext=(5, 4), fontsize=9)
    ax.set_xlim(low - pad, high + pad)
    ax.set_ylim(low - pad, high + pad)
    ax.set_xlabel(f"CV {metric} (mean over folds; a plain run: its validation score)")
    ax.set_ylabel("public leaderboard score")
    ax.set_title(f"CV vs public leaderboard ({len(points)} submissions)")
    ax.legend(loc="lower right")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
