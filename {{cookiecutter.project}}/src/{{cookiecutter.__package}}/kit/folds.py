"""The folds file: `make folds` writes data/folds.csv once; `make train FOLD=k` and `make cv` read it.

data/folds.csv gives every training item (as dataset.py lists them) one of k folds,
stratified by label, and with [cv] group set never splitting a group across folds;
data/folds.json records how (k, seed, group, method) and the CSV's sha256. They are
written once: CV scores stay comparable only while the folds stay put, so a second
`make folds` refuses unless --force. The same settings always give the same folds.
Training on them is cv.py's.
"""

from __future__ import annotations

import io
import json
import time
import warnings
from collections import Counter
from pathlib import Path

from . import dataset, layouts
from .errors import ProjectError, hint
from .files import DamagedFile, read_json, read_rows, sha256, write_text

FOLDS = "data/folds.csv"  # beside data/raw, not in it: data/raw may be Kaggle's read-only input
INFO = "data/folds.json"
GROUP = "group"  # the group column's name in folds.csv
_NOTED: set[str] = set()  # notes already printed by this command (cv reads the folds once per fold)


def _force() -> str:
    """How this user asks for new folds: `make folds FORCE=1` under make, else the CLI's --force."""
    return hint("folds", force=True)


def _remake() -> str:
    return f"{_force()} makes new folds (CV scores change)"


def item_ids(cfg, images: dataset.Dataset) -> list[str]:
    """One id per training item: its path under the image folder, or its row in a CSV (0 = first)."""
    if not images.xs or not isinstance(images.xs[0], Path):
        return [str(i) for i in range(len(images))]
    base = cfg.raw / (cfg.data.image_folder or cfg.data.train)
    return [(x.relative_to(base) if x.is_relative_to(base) else x.relative_to(cfg.raw)).as_posix() for x in images.xs]


def make_folds(cfg, k: int | None = None, group: str | None = None, force: bool = False) -> str:
    """Write data/folds.csv and data/folds.json once (--force: again); return one summary line."""
    cfg = cfg.override("cv", k=k, group=group)
    path = cfg.root / FOLDS
    if path.exists() and not force:
        raise ProjectError(
            f"{FOLDS} already exists ({_describe(_info(cfg))}): CV scores stay comparable only while the folds "
            f"stay put (use them as they are, or {_force()} to make new ones)"
        )
    cfg = layouts.with_detected(cfg)
    return _write(cfg, dataset.load(cfg))


def _write(cfg, images: dataset.Dataset) -> str:
    import pandas as pd

    started = time.perf_counter()
    ids = item_ids(cfg, images)
    repeated = [i for i, n in Counter(ids).items() if n > 1]
    if repeated:
        raise ProjectError(f"{cfg.data.train} lists {repeated[0]!r} twice (folds need each image once: fix the data)")
    labels = [str(label) for label in images.labels]
    groups = _groups(cfg, len(ids)) if cfg.cv.group else None
    assigned, method = assign(labels, cfg.cv.k, cfg.cv.seed, groups, stratify=images.task == "classification")
    frame = pd.DataFrame({"id": ids, "label": labels, "fold": assigned})
    if groups is not None:
        frame[GROUP] = groups
    out = io.StringIO()
    frame.to_csv(out, index=False, lineterminator="\n")
    text = out.getvalue()
    info = {
        "k": cfg.cv.k,
        "seed": cfg.cv.seed,
        "group": cfg.cv.group,
        "method": method,
        "items": len(ids),
        "train": cfg.data.train,
        "made": time.strftime("%Y-%m-%d %H:%M:%S"),
        "sha256": _text_sha(text),
    }
    write_text(cfg.root / INFO, json.dumps(info, indent=2) + "\n")
    write_text(cfg.root / FOLDS, text)  # last: folds.csv on disk means both are complete
    sizes = Counter(assigned.tolist())
    missing = _classes_missing(labels, assigned, cfg.cv.k)
    spread = f"{min(sizes.values()):,}-{max(sizes.values()):,}" if len(set(sizes.values())) > 1 else f"{sizes[0]:,}"
    classes = f"{len(set(labels))} classes" + (f", {missing} absent from some fold" if missing else " in every fold")
    took = time.perf_counter() - started
    return (
        f"folds: wrote {FOLDS}: {len(ids):,} images in {cfg.cv.k} folds of {spread} ({_describe(info)}), {classes}, "
        f"in {took:.1f} s; how they were made in {INFO} (next: make cv)"
    )


def assign(labels: list[str], k: int, seed: int, groups: list[str] | None = None, stratify: bool = True):
    """The fold (0..k-1) of each item and the splitter's name: stratified by label (classes; unless no
    class has k items), and a group's items always in one fold."""
    import numpy as np
    from sklearn.model_selection import GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold

    n = len(labels)
    if k > n:
        raise ProjectError(f"{k} folds need at least {k} training images, found {n} (lower [cv] k)")
    stratify = stratify and max(Counter(labels).values()) >= k  # sklearn refuses when no class fills every fold
    if groups is not None:
        distinct = len(set(groups))
        if distinct < k:
            raise ProjectError(
                f"the [cv] group column has {distinct} distinct values, fewer than k = {k} folds (lower [cv] k, "
                "or pick a column with more groups)"
            )
        splitter = (StratifiedGroupKFold if stratify else GroupKFold)(k, shuffle=True, random_state=seed)
    else:
        splitter = (StratifiedKFold if stratify else KFold)(k, shuffle=True, random_state=seed)
    fold = np.full(n, -1, dtype=int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "the least populated class has only 1 member": reported in our summary
        for i, (_, valid) in enumerate(splitter.split(np.zeros(n), labels, groups)):
            fold[valid] = i
    return fold, type(splitter).__name__


def _groups(cfg, n: int) -> list[str]:
    """[cv] group: a column of the training CSV, one value per image, in the same order."""
    import pandas as pd

    column = cfg.cv.group
    if cfg.data.layout not in ("pixel-csv", "labels-csv", "tabular"):
        raise ProjectError(
            f"[cv] group = {column!r} names a column of the training CSV, and the {cfg.data.layout} layout has none "
            '(set group = "" in config.toml)'
        )
    path = cfg.raw / cfg.data.train
    header = list(pd.read_csv(path, nrows=0).columns)
    if column not in header:
        shown = ", ".join(c for c in header if not layouts.PIXEL_COLUMN.fullmatch(c))[:200]
        raise ProjectError(f"{cfg.data.train} has no column {column!r} for [cv] group (its columns: {shown})")
    values = pd.read_csv(path, usecols=[column], dtype=str, keep_default_na=False)[column].tolist()
    if len(values) != n:
        raise ProjectError(f"{cfg.data.train} has {len(values)} rows for {n} images (check [data])")
    return values


def _classes_missing(labels: list[str], assigned, k: int) -> int:
    seen = {(label, int(f)) for label, f in zip(labels, assigned, strict=True)}
    return sum(1 for label in set(labels) if any((label, f) not in seen for f in range(k)))


def _text_sha(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _info(cfg) -> dict:
    """data/folds.json, {} when there is none; a damaged one is said once and left aside (the CSV wins anyway)."""
    path = cfg.root / INFO
    try:
        info = read_json(path)
    except OSError:
        return {}
    except DamagedFile as damage:
        _note(f"note: {damage.what}; going by {FOLDS} alone ({_remake()} and rewrites both)")
        return {}
    return info if isinstance(info, dict) else {}


def _describe(info: dict) -> str:
    if not info:
        return f"made elsewhere: no {INFO}"
    group = f", group {info['group']}" if info.get("group") else ""
    return f"{info.get('method', '?')}, k {info.get('k', '?')}, seed {info.get('seed', '?')}{group}"


def load(cfg, images: dataset.Dataset):
    """The fold of each training image (same order as `images`) from data/folds.csv, made first if missing."""
    import numpy as np
    import pandas as pd

    path = cfg.root / FOLDS
    if not path.is_file():
        print(_write(cfg, images), flush=True)
    columns = ["id", "label", "fold"]
    frame = pd.DataFrame(read_rows(path, columns, _remake()), columns=columns).fillna("")  # a short row: empty cells
    folds = pd.to_numeric(frame["fold"], errors="coerce")
    if folds.isna().any() or (folds < 0).any() or (folds % 1 != 0).any():
        raise ProjectError(f"{FOLDS}: fold holds something other than 0, 1, 2... (remake it: {_force()})")
    where = dict(zip(frame["id"], zip(frame["label"], folds.astype(int), strict=True), strict=True))
    ids = item_ids(cfg, images)
    absent = [i for i in ids if i not in where]
    if absent or len(where) != len(ids) or len(frame) != len(ids):
        raise ProjectError(
            f"{FOLDS} does not match the training data ({len(frame):,} rows for {len(ids):,} images; e.g. "
            f"{(absent or [next(iter(set(where) - set(ids)), '?')])[0]!r} is in only one of them) "
            f"(the data changed: {_force()} makes new folds)"
        )
    for i, label in zip(ids, images.labels, strict=True):
        if where[i][0] != str(label):
            raise ProjectError(
                f"{FOLDS} says {i!r} is {where[i][0]!r}, the data says {label!r} (the labels changed: "
                f"{_force()} makes new folds)"
            )
    assigned = np.array([where[i][1] for i in ids])
    empty = sorted(set(range(int(assigned.max()) + 1)) - set(assigned.tolist()))
    if empty:
        raise ProjectError(f"{FOLDS} has no image in fold {empty[0]} (remake it: {_force()})")
    _note_changes(cfg, path, int(assigned.max()) + 1)
    return assigned


def _note_changes(cfg, path: Path, k: int) -> None:
    """Say (once per command) when the folds in use differ from what config.toml or folds.json say: the file wins."""
    info = _info(cfg)
    notes = []
    if info.get("sha256") and info["sha256"] != sha256(path):
        notes.append(f"folds: {FOLDS} differs from what `make folds` wrote (edited by hand?): using it as it is")
    made = (info.get("k", k), info.get("seed", cfg.cv.seed), info.get("group", cfg.cv.group))
    if made != (cfg.cv.k, cfg.cv.seed, cfg.cv.group):
        group = f", group {cfg.cv.group}" if cfg.cv.group else ""
        notes.append(
            f"folds: using {FOLDS} ({_describe(info)}); config.toml's [cv] now says k {cfg.cv.k}, "
            f"seed {cfg.cv.seed}{group} ({_force()} remakes them)"
        )
    for note in notes:
        _note(note)


def _note(note: str) -> None:
    """Print a note once per command (cv reads the folds once per fold)."""
    if note not in _NOTED:
        _NOTED.add(note)
        print(note, flush=True)


def valid_positions(cfg, images: dataset.Dataset, fold: int) -> list[int]:
    """Positions (in `images`) of fold `fold`'s images: what `make train FOLD=k` validates on."""
    import numpy as np

    assigned = load(cfg, images)
    k = int(assigned.max()) + 1
    if not 0 <= fold < k:
        raise ProjectError(f"there is no fold {fold}: {FOLDS} has folds 0 to {k - 1} (pick one of those)")
    return np.flatnonzero(assigned == fold).tolist()
