"""Run records: every `train` makes runs/<timestamp>-<arch>/ and a line in runs/index.csv.

A run folder holds config.json (the settings it used, resolved), env.json (git SHA and
dirty flag, package versions, GPU, seed), metrics.csv (one row per epoch, written as
it goes), loss.png, confusion.png, top_losses.png, model.pkl and, last of all,
metrics.json. A run is finished when index.csv says so and metrics.json and model.pkl
exist: a run stopped by Ctrl-C or SIGTERM (the CLI turns it into Ctrl-C) is marked "interrupted",
a crash "failed", and only a SIGKILL leaves "running" behind; `latest` and `make predict` skip all of those.
A cv run (`make cv`, cv.py) holds a run folder per fold, fold-<k>/, in place of
model.pkl, and one index line for them all. An index that cannot be read (a spreadsheet
saved it in cp1252, a merge conflict) is rebuilt from the run folders, the damaged file
kept beside it as index.csv.damaged.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import platform
import re
import subprocess
import sys
import time
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

from . import metrics
from .errors import ProjectError
from .files import DamagedFile, read_json, read_rows, shown, write_bytes, write_text

RUNS = "runs"
INDEX = "index.csv"
INDEX_COLUMNS = ("run", "status", "started", "seconds", "arch", "size", "epochs", "lr", "accuracy", "valid_loss")
PACKAGES = ("torch", "torchvision", "fastai", "timm", "accelerate", "numpy", "pandas", "scikit-learn", "matplotlib")
METRICS = "metrics.json"
TEST_METRICS = "test_metrics.json"
MODEL = "model.pkl"
# What a plain run's metrics.json holds for each [cv] metric (its validation score stands in for CV).
PLAIN_RUN_METRIC = {"accuracy": "accuracy", "error_rate": "error_rate", "log_loss": "valid_loss"}


class Run:
    """One training run's folder; `finish` marks it done."""

    def __init__(self, cfg, folder: Path, indexed: bool = True):
        self.cfg, self.dir, self.id = cfg, folder, folder.name
        self.indexed = indexed  # a fold inside a cv run has no index line: the cv run has one
        self.started = time.time()

    def _index(self, **values) -> None:
        if self.indexed:
            _update_index(self.cfg, self.id, **values)

    def write_json(self, name: str, value) -> Path:
        path = self.dir / name
        write_text(path, json.dumps(value, indent=2, default=str) + "\n")
        return path

    def update(self, **resolved) -> None:
        """Record a value decided during the run (the lr that lr_find chose) in config.json and the index."""
        values = read_json(self.dir / "config.json")
        values["resolved"].update(resolved)
        self.write_json("config.json", values)
        if "lr" in resolved:
            self._index(lr=f"{resolved['lr']:.2e}")

    def finish(self, metrics: dict) -> None:
        """Write metrics.json (the last file of a run) and mark the run finished in index.csv."""
        self.write_json(METRICS, metrics)
        self._index(status="finished", seconds=f"{time.time() - self.started:.0f}", **_short(metrics))


@contextmanager
def new_run(cfg, resolved: dict, short: str, folder: Path | None = None):
    """Create the run folder and its index line; mark it interrupted or failed if the block stops.
    `folder`: this exact new folder instead of runs/<id>/ (a cv run's fold-<k>/), with no index line."""
    if folder is not None:
        folder.mkdir(parents=True)
    run = (
        Run(cfg, folder, indexed=False)
        if folder is not None
        else Run(cfg, new_folder(runs_dir(cfg), "{stamp}-" + _safe(short)))
    )
    run.write_json("config.json", {**_config_dict(cfg), "resolved": resolved})
    run.write_json("env.json", environment(cfg, resolved))
    model = cfg.model
    run._index(
        status="running",
        started=time.strftime("%Y-%m-%d %H:%M:%S"),
        arch=model.arch,
        size=str(model.size),
        epochs=str(model.epochs),
        lr=f"{model.lr:.2e}" if model.lr else "lr_find",
    )
    try:
        yield run
    except KeyboardInterrupt:
        run._index(status="interrupted", seconds=f"{time.time() - run.started:.0f}")
        raise
    except BaseException:
        run._index(status="failed", seconds=f"{time.time() - run.started:.0f}")
        raise


def runs_dir(cfg) -> Path:
    return cfg.root / RUNS


def read_index(cfg) -> list[dict]:
    """runs/index.csv's rows; a damaged index (another encoding, a merge conflict) is rebuilt from the run folders."""
    path = runs_dir(cfg) / INDEX
    if not path.is_file():
        return []
    try:
        return read_rows(path, ("run", "status"))
    except DamagedFile as damage:
        return _rebuild_index(cfg, damage)


def _rebuild_index(cfg, damage: DamagedFile) -> list[dict]:
    """One row per run folder, from what it holds: status finished (metrics and model there) or unknown.
    The damaged file is kept beside it first, so that no line the user wrote is lost."""
    folders = [f for f in runs_dir(cfg).iterdir() if f.is_dir() and not f.name.startswith(".")]
    rows = sorted(map(_row_from_folder, folders), key=lambda row: (row["started"], row["run"]))
    path = runs_dir(cfg) / INDEX
    kept = next(p for n in range(1, 1000) if not (p := path.with_name(f"{INDEX}.damaged{n if n > 1 else ''}")).exists())
    try:
        write_bytes(kept, path.read_bytes())
        _write_index(cfg, rows)
        done = f"rebuilt it from the {len(rows)} run folders (the damaged file is kept as {RUNS}/{kept.name})"
    except OSError as exc:  # a read-only project: the rebuilt rows still serve this command
        done = f"using the {len(rows)} run folders instead (cannot rewrite it: {exc.strerror or exc})"
    print(f"note: {damage.what}; {done}", file=sys.stderr, flush=True)
    return rows


def _row_from_folder(folder: Path) -> dict:
    """A run's index line as its folder tells it (a record that is damaged too just leaves its cells empty)."""
    record, scores = {}, {}
    with contextlib.suppress(ProjectError):
        record = settings(folder)
        scores = _short(read_metrics(folder)) if (folder / METRICS).is_file() else {}
    model, resolved = record.get("model", {}), record.get("resolved", {})
    started = time.localtime((folder / "config.json").stat().st_mtime) if (folder / "config.json").is_file() else None
    lr = resolved.get("lr", model.get("lr"))
    return {
        "run": folder.name,
        "status": "finished" if is_finished(folder) else "unknown",
        "started": time.strftime("%Y-%m-%d %H:%M:%S", started) if started else "",
        "arch": model.get("arch", ""),
        "size": str(model.get("size", "")),
        "epochs": str(model.get("epochs", "")),
        "lr": f"{lr:.2e}" if isinstance(lr, (int, float)) and lr else "",
        **scores,
    }


def is_finished(folder: Path, status: str | None = None) -> bool:
    return status in (None, "finished") and (folder / METRICS).is_file() and bool(models(folder))


def models(folder: Path) -> list[Path]:
    """A run's model file, or a cv run's fold models (fold-0/model.pkl, ...: predict averages them)."""
    if (folder / MODEL).is_file():
        return [folder / MODEL]
    folds = [p for p in folder.glob(f"fold-*/{MODEL}") if p.parent.name[5:].isdigit()]
    return sorted(folds, key=lambda p: int(p.parent.name[5:]))


def latest(cfg) -> Path:
    """The newest finished run's folder (by start time: folder names need not sort by time)."""
    rows = {row["run"]: row for row in read_index(cfg)}
    finished = []
    folders = runs_dir(cfg).iterdir() if runs_dir(cfg).is_dir() else []
    for folder in folders:
        if not folder.is_dir() or folder.name.startswith("."):  # .<name>.partial: a fetch under way
            continue
        row = rows.get(folder.name)
        if is_finished(folder, row.get("status") if row else None):
            finished.append((_started(row, folder), folder.name, folder))
    if not finished:
        raise ProjectError(f"no finished run in {runs_dir(cfg)} (run `make train` first)")
    return max(finished)[2]


def _started(row: dict | None, folder: Path) -> float:
    """When a run started: its index line, else when its metrics were written."""
    try:
        return time.mktime(time.strptime(row["started"], "%Y-%m-%d %H:%M:%S"))
    except (TypeError, KeyError, ValueError):
        return (folder / METRICS).stat().st_mtime


def find(cfg, run: str | None) -> Path:
    """A run by id (or by its folder path); the latest finished run when None."""
    if not run:
        return latest(cfg)
    folder = runs_dir(cfg) / Path(run).name
    if not folder.is_dir():
        known = ", ".join(row["run"] for row in read_index(cfg)[-3:]) or "none yet"
        raise ProjectError(f"no run {run!r} in {runs_dir(cfg)} (recent: {known})")
    status = {row["run"]: row["status"] for row in read_index(cfg)}.get(folder.name)
    if not is_finished(folder, status):
        raise ProjectError(
            f"run {folder.name} did not finish (status: {status or 'unknown'}) "
            "(pick a finished run from runs/index.csv, or `make train`)"
        )
    return folder


AGAIN = "train again, or pick another run with --run <id>"


def settings(run_dir: Path) -> dict:
    """A run's config.json: the settings it used, with what it resolved (task, lr, classes) under "resolved";
    {} when it has none (a run from elsewhere)."""
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        return {}
    values = read_json(path, AGAIN)
    return values if isinstance(values, dict) else {}


def read_metrics(run_dir: Path) -> dict[str, float]:
    """Final metrics of a run (accuracy, error_rate, valid_loss, ...) plus test_* after predict."""
    run_dir = Path(run_dir)
    path = run_dir / METRICS
    if not path.is_file():
        raise ProjectError(f"{run_dir.name} has no {METRICS}: it did not finish (`make train` again)")
    values = read_json(path, AGAIN)
    if not isinstance(values, dict):
        raise DamagedFile(f"{shown(path)} holds no metrics (a JSON object)", "put back a copy", AGAIN)
    test = run_dir / TEST_METRICS
    if test.is_file():
        values.update(read_json(test, "run `make predict` again to rewrite it"))
    return {k: float(v) for k, v in values.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def environment(cfg, resolved: dict) -> dict:
    """What a run needs to be repeated: code version, packages, machine, seed."""
    sha, dirty = git_commit(cfg.root)
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "git_sha": sha,
        "git_dirty": dirty,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": versions,
        "device": resolved.get("gpu", {}).get("device"),
        "gpus": resolved.get("gpu", {}).get("gpus"),
        "seed": cfg.gpu.seed,
        "command": [_redact_arg(arg) for arg in sys.argv],
        "variables": variables(),
    }


# Environment variables that change what a run does; a record names them, never a secret's value.
RECORDED = re.compile(r"(CUDA_|NVIDIA_|TORCH_|PYTORCH_|OMP_|MKL_|NCCL_|HF_|ACCELERATE_|KAGGLE_|TIMM_|FASTAI_)")
RECORDED_NAMES = {"WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "PYTHONHASHSEED"}
SECRET = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH|COOKIE|PRIVATE", re.I)
REDACTED = "<redacted>"


def variables(environ=None) -> dict[str, str]:
    """The run-shaping environment variables (CUDA_VISIBLE_DEVICES, HF_HUB_OFFLINE...); any whose name
    looks like a key, token, secret or password is recorded as <redacted>, never with its value."""
    environ = os.environ if environ is None else environ
    kept = {k: v for k, v in environ.items() if RECORDED.match(k) or k in RECORDED_NAMES}
    return {k: REDACTED if SECRET.search(k) else v for k, v in sorted(kept.items())}


def _redact_arg(arg: str) -> str:
    """NAME=value with a secret-looking NAME (e.g. KAGGLE_KEY=...) keeps its name only."""
    name, sep, _ = arg.partition("=")
    return f"{name}={REDACTED}" if sep and SECRET.search(name) else arg


# --------------------------------------------------------------------------------------- epochs


class EpochLog:
    """metrics.csv rows, written after every epoch so a stopped run keeps what it did."""

    def __init__(self, path: Path, names: list[str]):
        self.path, self.names, self.rows = path, ["epoch", "phase", *names, "seconds"], []

    def add(self, phase: str, values: dict, seconds: float) -> None:
        rounded = {k: round(v, 6) if isinstance(v, float) else v for k, v in values.items()}
        row = {"epoch": len(self.rows) + 1, "phase": phase, **rounded, "seconds": round(seconds, 2)}
        self.rows.append(row)
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=self.names, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        write_text(self.path, out.getvalue())


def run_score(cfg, run_id: str) -> str:
    """A run's CV score for submissions/log.csv: a cv run's mean over folds; a plain run's validation
    score in [cv] metric where it has one; "" when the run is gone or has none."""
    folder = runs_dir(cfg) / run_id if run_id else None
    if folder is None or not (folder / METRICS).is_file():
        return ""
    try:
        values = read_json(folder / METRICS)
    except (OSError, ProjectError):  # a damaged record leaves the log's cell empty; compare and predict say why
        return ""
    plain = values.get("metric") or PLAIN_RUN_METRIC.get(
        metrics.resolve(cfg.cv.metric, values.get("task", "classification"))
    )
    key = "cv_score" if "cv_score" in values else "score" if "score" in values else plain or ""
    value = values.get(key)
    return f"{value:.6g}" if isinstance(value, (int, float)) and value == value else ""


# ------------------------------------------------------------------------------------- internals


def new_folder(root: Path, pattern: str) -> Path:
    """root/<pattern, its {stamp} the time now>, created at once so no other command takes it."""
    root.mkdir(parents=True, exist_ok=True)
    name = pattern.format(stamp=time.strftime("%Y%m%d-%H%M%S"))
    for n in range(1, 1000):
        folder = root / (name if n == 1 else f"{name}-{n}")
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
    raise ProjectError(f"cannot create a new folder in {root} (clean it up)")


def _update_index(cfg, run_id: str, **values) -> None:
    """Add or update one run's line in runs/index.csv (rewritten atomically)."""
    rows = read_index(cfg)
    for row in rows:
        if row["run"] == run_id:
            row.update(values)
            break
    else:
        rows.append({"run": run_id, **values})
    _write_index(cfg, rows)


def _write_index(cfg, rows: list[dict]) -> None:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=INDEX_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row.get(k, "") for k in INDEX_COLUMNS})
    write_text(runs_dir(cfg) / INDEX, out.getvalue())


def _short(metrics: dict) -> dict:
    return {k: f"{metrics[k]:.4f}" for k in ("accuracy", "valid_loss") if isinstance(metrics.get(k), float)}


def _config_dict(cfg) -> dict:
    import dataclasses

    values = dataclasses.asdict(cfg)
    values["root"] = str(cfg.root)
    return values


def git_commit(root: Path) -> tuple[str | None, bool | None]:
    """(HEAD's sha, whether tracked files changed since) of the project's repository; (None, None) outside git."""

    def git(*args):
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=20)

    try:
        sha = git("rev-parse", "HEAD")
        if sha.returncode:
            return None, None
        dirty = git("status", "--porcelain", "--untracked-files=no")
        return sha.stdout.strip(), bool(dirty.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        return None, None


def _safe(short: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.]+", "-", short).strip("-") or "run"
