"""make data (Kaggle): the competition's files into data/raw, once.

One download through the official client into a hidden staging folder, a safe extraction
(no member may land outside data/raw: absolute paths, `..` and links are refused), then a
manifest (`data/raw/.manifest.json`: names, sizes, sha256) written last. A run that dies
leaves no manifest and no file that looks complete; a second run that finds every file as
recorded returns at once without asking Kaggle. A `<slug>.zip` fetched by hand (project
root or data/raw) is extracted instead of downloading again. Inside a Kaggle notebook the
data is already mounted under /kaggle/input/<slug>: data/raw becomes a link to it.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

from ..kit import archives, kaggle_api, metrics
from ..kit.errors import ProjectError, counted, hint
from ..kit.files import DamagedFile, human_bytes, read_json, write_text
from ..kit.layouts import detect, write_to_config

MANIFEST = ".manifest.json"
STAGING = ".download"  # the client downloads here; hidden, removed once extracted
UNPACKING = ".unpacking"  # extraction lands here first, then moves into data/raw
PARTIAL = ".kaggle-partial"  # the kaggle client's marker beside a download it did not finish
NOTEBOOK_INPUT = Path("/kaggle/input")  # $KAGGLE_INPUT stands in for it when a kernel script is tried locally


def download(cfg, force: bool = False) -> str:
    """Put the competition's files in data/raw (idempotent), record the layout, say what was done."""
    slug = cfg.project.competition
    if not slug:
        raise ProjectError("project.competition is empty in config.toml (set it to the slug, e.g. digit-recognizer)")
    start = time.monotonic()
    if os.environ.get("KAGGLE_KERNEL_RUN_TYPE"):
        summary = _link_notebook_input(cfg, slug)
    else:
        summary = _fetch(cfg, slug, force)
    metric = _metric(cfg, slug)
    layout = write_to_config(cfg, detect(cfg.raw, metric or cfg.cv.metric), metric)
    return f"{summary}, {time.monotonic() - start:.1f} s; {layout}"


def _metric(cfg, slug: str) -> str:
    """The competition's evaluation metric as [cv] metric names it, while config.toml still says "auto";
    '' when Kaggle cannot be asked or names one we do not compute (the task's default is used then)."""
    if cfg.cv.metric != "auto" or os.environ.get("KAGGLE_KERNEL_RUN_TYPE") or not kaggle_api.find_credentials():
        return ""
    try:
        return metrics.from_kaggle(kaggle_api.competition(kaggle_api.client(), slug).evaluation_metric)
    except ProjectError:  # the files are here; the metric is a refinement, not worth failing make data for
        return ""


def _fetch(cfg, slug: str, force: bool) -> str:
    raw = cfg.raw
    manifest = read_manifest(raw)
    by_hand = None if force else _zip_fetched_by_hand(cfg, slug)
    if not force and manifest and _intact(raw, manifest):
        if by_hand is None or _stamp(cfg, by_hand) == manifest.get("archive"):
            return (
                f"{slug}: already in {_rel(cfg, raw)} ({_count(manifest)}, as {MANIFEST} records; "
                f"{hint('data', force=True)} fetches it again)"
            )
    if by_hand is not None:
        archive, origin = by_hand, f"{_rel(cfg, by_hand)} (fetched by hand)"
    else:
        archive, origin = _download(cfg, slug, force), "Kaggle"
    files = _unpack(cfg, archive, raw, manifest, from_kaggle=by_hand is None)
    new = {"competition": slug, "source": origin, "archive": _stamp(cfg, by_hand), "files": files}
    write_text(raw / MANIFEST, json.dumps(new, indent=1, sort_keys=True) + "\n")  # last: it says "complete"
    shutil.rmtree(raw / STAGING, ignore_errors=True)
    return f"{slug}: {_count(new)} from {origin} into {_rel(cfg, raw)} (sha256 in {_rel(cfg, raw / MANIFEST)})"


def read_manifest(raw: Path) -> dict | None:
    """What the last finished `make data` recorded, or None (a damaged one too: the fetch rewrites it)."""
    try:
        manifest = read_json(raw / MANIFEST)
    except OSError:
        return None
    except DamagedFile as damage:
        print(f"note: {damage.what}; fetching the data again rebuilds it", file=sys.stderr, flush=True)
        return None
    return manifest if isinstance(manifest, dict) and isinstance(manifest.get("files"), dict) else None


def _intact(raw: Path, manifest: dict) -> bool:
    """Every recorded file still there with its size and time (no re-hashing: that is what makes it fast)."""
    for name, entry in manifest["files"].items():
        try:
            info = (raw / name).stat()
        except OSError:
            return False
        if info.st_size != entry.get("size") or info.st_mtime_ns != entry.get("mtime_ns"):
            return False
    return bool(manifest["files"])


def _zip_fetched_by_hand(cfg, slug: str) -> Path | None:
    """`<slug>.zip` from `kaggle competitions download -c <slug>` in the project root or data/raw."""
    for folder in (cfg.root, cfg.raw):
        path = folder / f"{slug}.zip"
        if not path.is_file():
            continue
        if Path(f"{path}{PARTIAL}").exists():
            print(
                f"note: ignoring {_rel(cfg, path)}: a {PARTIAL} file beside it says it is unfinished", file=sys.stderr
            )
            continue
        return path
    return None


def _files(folder: Path):
    return (p for p in sorted(folder.rglob("*")) if p.is_file() and not p.name.endswith(PARTIAL))


def _refuse_a_page(action: str, saved: Path | None) -> None:
    """The client saves any 200 it gets for the data as the download: a page that is no zip (a proxy's block
    page, a captive portal) is said as such, and removed so that nothing looks downloaded."""
    if saved is None or Path(f"{saved}{PARTIAL}").exists():
        return
    with open(saved, "rb") as handle:
        head = handle.read(65536)
    if not head.startswith(b"PK"):  # every zip starts so
        saved.unlink()
        raise kaggle_api.not_an_answer(action, head)


def _stamp(cfg, path: Path | None) -> dict | None:
    """Which hand-fetched zip the files came from, so a newer one is noticed."""
    if path is None:
        return None
    info = path.stat()
    return {"path": _rel(cfg, path), "size": info.st_size, "mtime_ns": info.st_mtime_ns}


def _download(cfg, slug: str, force: bool) -> Path:
    """The competition's zip, fetched by the official client into the staging folder."""
    api = kaggle_api.client()
    staging = cfg.raw / STAGING
    staging.mkdir(parents=True, exist_ok=True)
    action = f"downloading {slug}"
    try:
        kaggle_api.call(
            action,
            api.competition_download_files,
            slug,
            str(staging),
            force,
            False,
            slug=slug,
            progress=lambda: sum(p.stat().st_size for p in staging.iterdir()),
        )
    except ValueError as exc:  # the client's own check: fewer bytes than Content-Length
        raise ProjectError(f"{action}: {exc} (run `make data` again; it resumes)") from None
    except OSError as exc:
        raise ProjectError(f"{action}: cannot write into {_rel(cfg, staging)}: {exc} (free disk space)") from None
    archive = staging / f"{slug}.zip"
    _refuse_a_page(action, archive if archive.is_file() else next(_files(staging), None))
    if not archive.is_file() or Path(f"{archive}{PARTIAL}").exists():
        raise ProjectError(f"{action}: the client left no finished {archive.name} (run `make data` again)")
    return archive


def _unpack(cfg, archive: Path, raw: Path, old: dict | None, from_kaggle: bool) -> dict:
    """Extract `archive` (and zips inside it) into data/raw; returns {name: size, sha256, mtime_ns}."""
    target = raw / UNPACKING
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    (raw / MANIFEST).unlink(missing_ok=True)  # from here until the new one, nothing claims to be complete
    if from_kaggle:
        page = kaggle_api.COMPETITION_URL.format(slug=cfg.project.competition) + "/data"
        fix = f"run `make data` again, or see what {page} offers"
    else:
        fix = f"delete {_rel(cfg, archive)} or fetch it again with `kaggle competitions download`"
    try:
        files = archives.unpack(archive, target, fix, nested=True)  # refuses an empty zip: data/raw stays as it was
        for entry in sorted(target.iterdir()):
            destination = raw / entry.name
            if destination.is_symlink() or destination.is_file():
                destination.unlink()
            elif destination.is_dir():
                shutil.rmtree(destination)
            os.replace(entry, destination)
    finally:
        shutil.rmtree(target, ignore_errors=True)
        if from_kaggle:  # extracted or refused, the downloaded zip has served; a bad one must not look good
            archive.unlink(missing_ok=True)
    for name in (old or {}).get("files", {}):  # files an older download had and this one has not
        if name not in files:
            (raw / name).unlink(missing_ok=True)
    for name, entry in files.items():
        entry["mtime_ns"] = (raw / name).stat().st_mtime_ns
    return files


def _link_notebook_input(cfg, slug: str) -> str:
    """In a Kaggle notebook the competition's data is mounted read-only: point data/raw at it."""
    inputs = Path(os.environ.get("KAGGLE_INPUT") or NOTEBOOK_INPUT)
    mounted = [inputs / slug, inputs / "competitions" / slug]
    source = next((path for path in mounted if path.is_dir()), None)
    if source is None:
        raise ProjectError(
            f"in a Kaggle notebook, but {mounted[0]} is missing "
            f"(add the data to the notebook: Add Input, Competitions, {slug})"
        )
    raw = cfg.raw
    if raw.exists() and raw.resolve() == source.resolve():
        return f"{slug}: Kaggle notebook, reading {source} (nothing downloaded)"
    if raw.is_symlink():
        raw.unlink()
    elif raw.is_dir() and not any(raw.iterdir()):
        raw.rmdir()
    elif raw.exists():
        raise ProjectError(
            f"{_rel(cfg, raw)} already holds files; in a Kaggle notebook the data is {source} "
            f'(remove {_rel(cfg, raw)}, or set raw = "{source}" under [data] in config.toml)'
        )
    raw.parent.mkdir(parents=True, exist_ok=True)
    raw.symlink_to(source, target_is_directory=True)
    return f"{slug}: Kaggle notebook, {_rel(cfg, raw)} links to {source} (nothing downloaded)"


def _count(manifest: dict) -> str:
    files = manifest["files"]
    size = sum(entry.get("size", 0) for entry in files.values())
    return f"{counted(len(files), 'file')}, {human_bytes(size)}"


def _rel(cfg, path: Path) -> str:
    path = Path(path)
    return str(path.relative_to(cfg.root)) if path.is_relative_to(cfg.root) else str(path)
