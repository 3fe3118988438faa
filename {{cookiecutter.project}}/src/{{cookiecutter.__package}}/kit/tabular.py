"""Tabular competitions (Titanic, House Prices, the Playground Series): train.csv, test.csv and a sample.

`detect` finds the layout: a training table whose columns are the test table's plus the
target (what training has and test lacks), the ids named by the sample submission's first
column. `read` loads a table and refuses what would train on garbage: a file in another
encoding, a target with empty cells, text in a column of numbers, a test table missing a
column training uses. `features` keeps ids and free-text columns (names, tickets) out.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ProjectError, hint

TEXT_SHARE = 0.5  # a text column with more distinct values than this share of its rows is free text (names)
NUMERIC_SHARE = 0.95  # a column whose values are at least this share numbers is a number column with typos


def header(path: Path) -> list[str]:
    """A CSV's column names, quotes and all handled by the csv module."""
    with open(path, newline="", encoding="utf-8", errors="replace") as handle:
        return next(csv.reader(handle), [])


def detect(trains: list[Path], tests: list[Path], sample: Path | None) -> dict | None:
    """[data] keys for a training and a test table (each list: most likely first), or None."""
    if sample is None:
        return None
    ids, *predicted = header(sample) or [""]
    for train in trains:
        for test in (p for p in tests if p != train):
            columns, given = header(train), header(test)
            targets = [c for c in columns if c not in given]
            if not targets or not set(given) < set(columns):
                continue
            wanted = [c for c in predicted if c in targets]  # the sample names what is predicted
            if not wanted and len(targets) > 1:  # per-class probability columns name none; then one must be left
                raise ProjectError(
                    f"{sample.name} predicts {', '.join(map(repr, predicted[:3]))}, which {train.name} does not "
                    f"have; its columns beyond {test.name}'s are {', '.join(map(repr, targets[:5]))} (set "
                    f'data.layout = "tabular" and data.label_column to the one to predict in config.toml)'
                )
            return {
                "layout": "tabular",
                "train": train,
                "test": test,
                "sample": sample,
                "id_column": ids if ids in given else "",
                "label_column": (wanted or targets)[0],
            }
    return None


@dataclass
class Table:
    """A table with its target (None for a test table) and the columns the model reads."""

    frame: object  # pandas DataFrame
    target: str
    cat: list[str] = field(default_factory=list)
    cont: list[str] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)


def read(path: Path, name: str):
    """A CSV as a DataFrame, or one line saying why it cannot be read."""
    import pandas as pd

    try:
        return pd.read_csv(path, low_memory=False)
    except UnicodeDecodeError:
        raise ProjectError(
            f"{name} is not UTF-8 text (save it as UTF-8, e.g. `iconv -f latin1 -t utf-8`, then run it again)"
        ) from None
    except (pd.errors.EmptyDataError, pd.errors.ParserError) as exc:
        reason = str(exc).strip().splitlines()[0][:160]
        raise ProjectError(
            f"{name} is not a readable CSV ({reason}) (fetch it again: {hint('data', force=True)})"
        ) from None


def training_table(cfg) -> Table:
    """train.csv with its target checked and its feature columns chosen."""
    data = cfg.data
    frame = read(cfg.raw / data.train, data.train)
    target = data.label_column
    if target not in frame:
        shown = ", ".join(map(str, frame.columns[:12]))
        raise ProjectError(f"{data.train} has no column {target!r} (its columns: {shown}; fix data.label_column)")
    empty = frame[target].isna()
    if empty.any():
        raise ProjectError(
            f"{data.train} has {int(empty.sum())} rows without a {target}, e.g. line {int(empty.idxmax()) + 2} "
            "(fill them in or drop those rows)"
        )
    return features(frame, target, [*data.exclude, data.id_column], data.train)


def left_out(frame, target: str, id_column: str) -> list[str]:
    """Columns no model should learn from: the id, and free text (names, tickets: nearly every row its own)."""
    out = [id_column] if id_column in frame and id_column != target else []
    for column in frame.columns.drop([target, *out]):
        values = frame[column].dropna()
        if _is_text(values) and values.nunique() > max(20, TEXT_SHARE * len(values)):
            out.append(column)
    return out


def features(frame, target: str, excluded: list[str], name: str) -> Table:
    """The categorical and continuous feature columns: all but the target and the `excluded`."""
    from fastai.tabular.core import cont_cat_split

    excluded = [c for c in frame.columns if c in excluded and c != target]
    kept = frame.drop(columns=excluded)
    for column in kept.columns.drop(target):
        if _is_text(kept[column].dropna()):
            _no_typos(kept[column].dropna(), column, name)
    cont, cat = cont_cat_split(kept, max_card=20, dep_var=target)
    return Table(frame, target, cat, cont, excluded)


def test_table(cfg, dls, ids: list[str]):
    """test.csv in the sample's row order (`ids`), refusing one that lacks a column the model (`dls`) reads."""
    import pandas as pd

    data = cfg.data
    frame = read(cfg.raw / data.test, data.test)
    used = [c for c in [*dls.cat_names, *dls.cont_names] if not (c.endswith("_na") and c[:-3] in frame)]
    missing = [c for c in used if c not in frame]
    if missing:
        raise ProjectError(
            f"{data.test} lacks {', '.join(map(repr, missing[:3]))}, which training used "
            f'(add it, or leave it out with data.exclude = ["{missing[0]}"] and train again)'
        )
    if data.id_column not in frame:
        if len(frame) != len(ids):
            raise ProjectError(f"{data.test} has {len(frame)} rows but {data.sample} has {len(ids)} (fix data.test)")
        return frame
    where = pd.Series(range(len(frame)), index=frame[data.id_column].astype(str))
    absent = [i for i in ids if i not in where.index]
    if absent:
        raise ProjectError(
            f"{len(absent)} ids of {data.sample} are not in {data.test}, e.g. {absent[0]} (check data.test)"
        )
    return frame.iloc[where[ids].to_numpy()].reset_index(drop=True)


def _is_text(values) -> bool:
    import pandas as pd

    return not (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values))


def _no_typos(values, column: str, name: str) -> None:
    """A column of numbers with a few words in it would silently become categories: say so instead."""
    import pandas as pd

    numbers = pd.to_numeric(values, errors="coerce")
    words = values[numbers.isna()]
    if len(values) and 0 < len(words) <= (1 - NUMERIC_SHARE) * len(values):
        raise ProjectError(
            f"{name}: column {column!r} holds numbers but also text, e.g. {words.iloc[0]!r} on line "
            f"{int(words.index[0]) + 2} (fix or empty those cells, or exclude the column with data.exclude)"
        )
