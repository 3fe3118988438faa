"""Unpacking the archives `make data` meets (zip, tar, tar.gz/tgz): safely, and in one place.

Every member is checked before anything is written: an absolute path, a `..` that climbs
out, a link or a special file refuses the whole archive. Files are hashed as they are
written; a damaged or empty archive is one ProjectError line. Callers unpack into an empty
staging folder and move what lands there into place only once `unpack` has returned.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import re
import stat
import tarfile
import zipfile
import zlib
from functools import partial
from pathlib import Path, PurePosixPath

from .errors import ProjectError

CHUNK = 1 << 20
DAMAGED = (zipfile.BadZipFile, tarfile.TarError, zlib.error, gzip.BadGzipFile, EOFError)


def unpack(archive: Path, target: Path, fix: str, nested: bool = False) -> dict:
    """Extract `archive` into the folder `target` (with `nested`, also each zip inside it, in its
    place); returns {name inside target: {size, sha256}}. `fix` ends every error: how to get a good copy."""
    try:
        files = _extract(archive, target, fix)
        for inner in sorted(name for name in files if nested and name.lower().endswith(".zip")):
            del files[inner]
            prefix = PurePosixPath(inner).parent
            for name, entry in _extract(target / inner, (target / inner).parent, fix).items():
                files[(prefix / name).as_posix()] = entry
            (target / inner).unlink()
    except DAMAGED as exc:
        reason = str(exc).split("\n")[0].rstrip(":") or type(exc).__name__
        raise ProjectError(f"{archive.name} is damaged or incomplete ({reason}) ({fix})") from None
    if not files:  # an empty folder would pass for the data on the next run
        raise ProjectError(f"{archive.name} holds no files ({fix})")
    return files


def _extract(archive: Path, target: Path, fix: str) -> dict:
    """One archive into `target`, hashing as it writes; refused whole if any member is unsafe."""
    from tqdm import tqdm

    with contextlib.ExitStack() as stack:
        members = _members(stack, archive)
        for name, odd, *_ in members:
            problem = _unsafe(name, odd)
            if problem:
                raise ProjectError(f"{archive.name} holds {name!r}, {problem}: refused, nothing was extracted ({fix})")
        total = sum(size for *_, size, _ in members)
        bar = stack.enter_context(
            tqdm(total=total, unit="B", unit_scale=True, desc=f"extracting {archive.name}", disable=None)
        )
        root, files = target.resolve(), {}
        for name, _, folder, size, read in members:
            path = (root / name.replace("\\", "/")).resolve()
            if not path.is_relative_to(root):  # _unsafe should have caught it; never write outside
                raise ProjectError(f"{archive.name}: {name!r} would land outside {target}")
            if folder:
                path.mkdir(parents=True, exist_ok=True)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            digest = hashlib.sha256()
            with read() as source, open(path, "wb") as out:
                while block := source.read(CHUNK):
                    digest.update(block)
                    out.write(block)
                    bar.update(len(block))
            files[path.relative_to(root).as_posix()] = {"size": size, "sha256": digest.hexdigest()}
    return files


def _members(stack: contextlib.ExitStack, archive: Path) -> list[tuple]:
    """(name, why it is no file or folder or '', is a folder, size, opener) for each member."""
    if archive.suffix.lower() == ".zip" or zipfile.is_zipfile(archive):
        zipped = stack.enter_context(zipfile.ZipFile(archive))
        return [(m.filename, _odd_zip(m), m.is_dir(), m.file_size, partial(zipped.open, m)) for m in zipped.infolist()]
    tar = stack.enter_context(tarfile.open(archive))
    return [(m.name, _odd_tar(m), m.isdir(), m.size, partial(tar.extractfile, m)) for m in tar.getmembers()]


def _odd_zip(member: zipfile.ZipInfo) -> str:
    mode = member.external_attr >> 16  # unix mode bits, 0 from zips made elsewhere
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    return "" if stat.S_IFMT(mode) in (0, stat.S_IFREG, stat.S_IFDIR) else "a special file"


def _odd_tar(member: tarfile.TarInfo) -> str:
    if member.isreg() or member.isdir():
        return ""
    return "a symbolic link" if member.issym() else "a hard link" if member.islnk() else "a special file"


def _unsafe(name: str, odd: str) -> str:
    """Why a member may not be extracted, or ''."""
    name = name.replace("\\", "/")
    if name.startswith("/") or re.match(r"[A-Za-z]:", name):
        return "an absolute path"
    if ".." in name.split("/"):
        return "a path that climbs out with '..'"
    return odd
