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

import hashlib
import json
import os
import re
import shutil
import stat
import sys
import time
import zipfile
import zlib
from pathlib import Path

from ..kit import kaggle_api
from ..kit.errors import ProjectError
from ..kit.files import write_text
from ..kit.layouts import detect, record

MANIFEST = ".manifest.json"
STAGING = ".download"  # the client downloads here; hidden, removed once extracted
UNPACKING = ".unpacking"  # extraction lands here first, then moves into data/raw
PARTIAL = ".kaggle-partial"  # the kaggle client's marker beside a download it did not finish
NOTEBOOK_INPUT = Path("/kaggle/input")  # $KAGGLE_INPUT stands in for it when a kernel script is tried locally
CHUNK = 1 << 20


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
    layout = record(cfg, detect(cfg.raw))
    return f"{summary}, {time.monotonic() - start:.1f} s; {layout}"


def _fetch(cfg, slug: str, force: bool) -> str:
    raw = cfg.raw
    manifest = read_manifest(raw)
    by_hand = None if force else _zip_fetched_by_hand(cfg, slug)
    if not force and manifest and _intact(raw, manifest):
        if by_hand is None or _stamp(cfg, by_hand) == manifest.get("archive"):
            return (
                f"{slug}: already in {_rel(cfg, raw)} ({_count(manifest)}, as {MANIFEST} records; "
                f"`python -m {cfg.project.package} data --force` fetches it again)"
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
    """What the last finished `make data` recorded, or None."""
    try:
        manifest = json.loads((raw / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
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
    if not archive.is_file() or Path(f"{archive}{PARTIAL}").exists():
        raise ProjectError(f"{action}: the client left no finished {archive.name} (run `make data` again)")
    return archive


def _unpack(cfg, archive: Path, raw: Path, old: dict | None, from_kaggle: bool) -> dict:
    """Extract `archive` (and zips inside it) into data/raw; returns {name: size, sha256, mtime_ns}."""
    target = raw / UNPACKING
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    (raw / MANIFEST).unlink(missing_ok=True)  # from here until the new one, nothing claims to be complete
    try:
        files = _extract(cfg, archive, target)
        for inner in sorted(name for name in files if name.lower().endswith(".zip")):
            files.pop(inner)
            nested = target / inner
            prefix = str(Path(inner).parent)
            for name, entry in _extract(cfg, nested, nested.parent).items():
                files[name if prefix == "." else f"{prefix}/{name}"] = entry
            nested.unlink()
        if not files:  # checked before anything in data/raw is replaced or removed
            where = kaggle_api.COMPETITION_URL.format(slug=cfg.project.competition) + "/data"
            raise ProjectError(f"{_rel(cfg, archive)} holds no files (see what {where} offers, then run it again)")
        for entry in sorted(target.iterdir()):
            destination = raw / entry.name
            if destination.is_symlink() or destination.is_file():
                destination.unlink()
            elif destination.is_dir():
                shutil.rmtree(destination)
            os.replace(entry, destination)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        if from_kaggle:
            fix = "run `make data` again to download it afresh"
        else:
            fix = f"delete {_rel(cfg, archive)} or fetch it again with `kaggle competitions download`"
        raise ProjectError(f"{_rel(cfg, archive)} is not a complete zip ({exc}) ({fix})") from None
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


def _extract(cfg, archive: Path, target: Path) -> dict:
    """Safely extract one zip into `target`, hashing as it writes; refuses the whole zip if any member escapes."""
    from tqdm import tqdm

    with zipfile.ZipFile(archive) as zf:
        members = zf.infolist()
        for member in members:
            problem = _unsafe(member)
            if problem:
                raise ProjectError(
                    f"{_rel(cfg, archive)} holds {member.filename!r}, {problem} (refused: nothing was extracted; "
                    "download the data from the competition's page on kaggle.com)"
                )
        files = {}
        root = target.resolve()
        total = sum(m.file_size for m in members)
        with tqdm(total=total, unit="B", unit_scale=True, desc=f"extracting {archive.name}", disable=None) as bar:
            for member in members:
                path = (target / member.filename).resolve()
                if not path.is_relative_to(root):  # _unsafe should have caught it; never write outside
                    raise ProjectError(f"{archive.name}: {member.filename!r} would land outside {target}")
                if member.is_dir():
                    path.mkdir(parents=True, exist_ok=True)
                    continue
                path.parent.mkdir(parents=True, exist_ok=True)
                digest = hashlib.sha256()
                with zf.open(member) as source, open(path, "wb") as out:
                    while block := source.read(CHUNK):
                        digest.update(block)
                        out.write(block)
                        bar.update(len(block))
                name = path.relative_to(root).as_posix()
                files[name] = {"size": member.file_size, "sha256": digest.hexdigest()}
    return files


def _unsafe(member: zipfile.ZipInfo) -> str:
    """Why a member may not be extracted, or ''."""
    name = member.filename.replace("\\", "/")
    mode = member.external_attr >> 16
    if name.startswith("/") or re.match(r"[A-Za-z]:", name):
        return "an absolute path"
    if ".." in name.split("/"):
        return "a path that climbs out with '..'"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if mode and stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
        return "a special file"
    return ""


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
    return f"{len(files)} file{'s' * (len(files) != 1)}, {_human(size)}"


def _human(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return ""


def _rel(cfg, path: Path) -> str:
    path = Path(path)
    return str(path.relative_to(cfg.root)) if path.is_relative_to(cfg.root) else str(path)
