"""The plots a run and `make lb` write: PNG files drawn with matplotlib's Figure (no pyplot, no display)."""

from __future__ import annotations

import math
from pathlib import Path

from .files import atomic_path


def figure(width: float, height: float):
    from matplotlib.figure import Figure  # no pyplot: no display and no global state needed

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def save(fig, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path


def losses(path: Path, batch_losses: list[float], epochs: list[dict]) -> Path:
    """Training loss per batch (smoothed) and validation loss per epoch, with the unfreeze marked."""
    fig = figure(7, 4)
    ax = fig.subplots()
    steps = range(1, len(batch_losses) + 1)
    ax.plot(steps, batch_losses, color="tab:blue", alpha=0.25, linewidth=0.8)
    ax.plot(steps, _smooth(batch_losses), color="tab:blue", label="train (per batch, smoothed)")
    ends = [e["step"] for e in epochs]
    ax.plot(ends, [e["valid_loss"] for e in epochs], "o-", color="tab:orange", label="valid (per epoch)")
    unfrozen = [e["step"] for e in epochs if e["phase"] == "unfrozen"]
    frozen_end = [e["step"] for e in epochs if e["phase"] == "frozen"]
    if unfrozen and frozen_end:
        ax.axvline(frozen_end[-1], color="grey", linestyle=":", label="pretrained layers unfrozen")
    ax.set_xlabel("batch")
    ax.set_ylabel("loss")
    ax.set_title("loss")
    ax.legend()
    return save(fig, path)


def confusion(path: Path, matrix, classes: list[str]) -> Path:
    """Counts of actual (rows) vs predicted (columns) on the validation set."""
    n = len(classes)
    side = min(14, max(4, 0.45 * n + 2))
    fig = figure(side, side)
    ax = fig.subplots()
    ax.imshow(matrix, cmap="Blues")
    if n <= 40:
        ax.set_xticks(range(n), [str(c) for c in classes], rotation=90)
        ax.set_yticks(range(n), [str(c) for c in classes])
    if n <= 20:
        top = matrix.max() if matrix.size else 0
        for i in range(n):
            for j in range(n):
                color = "white" if matrix[i, j] > top / 2 else "black"
                ax.text(j, i, str(int(matrix[i, j])), ha="center", va="center", color=color, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    accuracy = matrix.trace() / max(1, matrix.sum())
    ax.set_title(f"confusion matrix (validation, accuracy {accuracy:.3f})")
    return save(fig, path)


def top_losses(path: Path, images: list, titles: list[str]) -> Path:
    """The validation images the model got most wrong: predicted/actual, loss, probability."""
    cols = 3
    rows = max(1, math.ceil(len(images) / cols))
    fig = figure(3 * cols, 3.2 * rows)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes:
        ax.axis("off")
    for ax, image, title in zip(axes, images, titles, strict=False):
        ax.imshow(image, cmap="gray" if getattr(image, "ndim", 3) == 2 else None)
        ax.set_title(title, fontsize=9)
    fig.suptitle("top losses (predicted / actual / loss / probability of actual)")
    return save(fig, path)


def _smooth(values: list[float], beta: float = 0.9) -> list[float]:
    out, average = [], 0.0
    for i, value in enumerate(values, 1):
        average = beta * average + (1 - beta) * value
        out.append(average / (1 - beta**i))
    return out


def cv_vs_lb(path, points: list[tuple[float, float, int]], metric: str) -> Path:
    """Public score against CV, each point numbered as in the table, with the y = x line."""
    fig = figure(6, 6)
    ax = fig.subplots()
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    low, high = min(xs + ys), max(xs + ys)
    pad = (high - low) * 0.1 or 0.01
    ax.plot([low - pad, high + pad], [low - pad, high + pad], linestyle=":", color="grey", label="public = CV")
    ax.scatter(xs, ys, color="tab:blue", zorder=3)
    for (x, y, n), offset in zip(points, label_offsets(points), strict=True):
        ax.annotate(f"#{n}", (x, y), textcoords="offset points", xytext=offset, fontsize=9)
    ax.set_xlim(low - pad, high + pad)
    ax.set_ylim(low - pad, high + pad)
    ax.set_xlabel(f"CV {metric} (mean over folds; a plain run: its validation score)")
    ax.set_ylabel("public leaderboard score")
    ax.set_title(f"CV vs public leaderboard ({len(points)} submissions)")
    ax.legend(loc="lower right")
    return save(fig, path)


def label_offsets(points: list[tuple[float, float, int]]) -> list[tuple[int, int]]:
    """Where each point's "#n" goes, in offset points: points within 2% of the plot's span of each other
    (the same file scored twice, close runs) get their labels stacked upwards instead of printed on top."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    cell = (max(xs + ys) - min(xs + ys)) * 0.02 or 1e-9
    seen: dict[tuple[int, int], int] = {}
    offsets = []
    for x, y, _ in points:
        spot = (round(x / cell), round(y / cell))
        seen[spot] = seen.get(spot, -1) + 1
        offsets.append((5, 4 + 11 * seen[spot]))
    return offsets


def predicted_vs_actual(path: Path, actual, predicted) -> Path:
    """Regression on the validation set: each point one item, the diagonal a perfect model."""
    fig = figure(6, 6)
    ax = fig.subplots()
    low, high = float(min(actual.min(), predicted.min())), float(max(actual.max(), predicted.max()))
    ax.plot([low, high], [low, high], linestyle=":", color="grey", label="predicted = actual")
    ax.scatter(actual, predicted, s=8, alpha=0.5, color="tab:blue")
    ax.set_xlabel("actual")
    ax.set_ylabel("predicted")
    ax.set_title(f"predicted vs actual (validation, {len(actual):,} items)")
    ax.legend(loc="upper left")
    return save(fig, path)


def importance(path: Path, drops: dict[str, float]) -> Path:
    """Permutation importance: how much the validation score drops when a column is shuffled."""
    shown = sorted(drops.items(), key=lambda item: item[1])[-30:]
    fig = figure(7, max(3, 0.3 * len(shown) + 1.5))
    ax = fig.subplots()
    ax.barh([name for name, _ in shown], [drop for _, drop in shown], color="tab:blue")
    ax.axvline(0, color="grey", linewidth=0.8)
    ax.set_xlabel("score lost when the column is shuffled (validation)")
    ax.set_title("permutation feature importance")
    return save(fig, path)
