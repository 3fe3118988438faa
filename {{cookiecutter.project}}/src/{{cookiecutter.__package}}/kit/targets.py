"""What is predicted: the task a target column asks for, and the scale it is trained on.

`guess` reads a target's values (and the competition's metric, where known): space-separated
tags are multi-label, many distinct numbers are regression, anything else is classification.
`transform` picks log1p for targets scored on a log scale (RMSLE) or positive and heavily
skewed (prices): the model trains on log(1 + y) and predictions are written back as y.
make data records both in config.toml, where the user can overrule them.
"""

from __future__ import annotations

from . import metrics

MAX_CLASSES = 30  # whole numbers with more distinct values than this are a quantity, not classes
SKEWED = 0.75  # a positive target skewed beyond this (prices, counts) is trained on log(1 + y)


def guess(values, metric: str = "auto", tags: bool = False) -> str:
    """classification | multi-label | regression for a column of target values (a pandas Series).
    `tags`: space-separated tags may mean multi-label (image labels; a table's text stays a class)."""
    import pandas as pd

    present = values.dropna()
    text = present.astype(str).str.strip()
    if tags and (text.str.contains(" ").mean() > 0.05):
        return "multi-label"
    wanted = metrics.TASKS.get(metric, ())
    if len(wanted) == 1:
        return wanted[0]
    numbers = pd.to_numeric(text, errors="coerce")
    if numbers.isna().any() or text.str.lower().isin(["true", "false"]).all():
        return "classification"
    whole = bool((numbers % 1 == 0).all())
    return "classification" if whole and numbers.nunique() <= MAX_CLASSES else "regression"


def transform(values, metric: str = "auto") -> str:
    """log1p for a regression target scored on a log scale, or positive and heavily skewed; else none."""
    import pandas as pd

    numbers = pd.to_numeric(values, errors="coerce").dropna()
    if metric == "rmsle":
        return "log1p"
    positive = len(numbers) > 2 and numbers.min() >= 0
    return "log1p" if positive and metric in ("auto", "rmse") and numbers.skew() > SKEWED else "none"


def tags(label) -> list[str]:
    """'haze primary  water' -> ['haze', 'primary', 'water']: one multi-label image's tags."""
    return str(label).split()
