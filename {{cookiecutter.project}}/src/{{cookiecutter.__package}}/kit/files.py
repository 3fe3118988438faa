"""Reading the project's own files, and writing them so that nothing is ever half-written.

Every command reads config.toml, RULES.md, NOTES.md, paper.bib, runs/index.csv, the run
records, submissions/log.csv, data/folds.csv and the data manifest through `read_text`,
`read_rows` or `read_json`: a file an editor or a spreadsheet saved in another encoding,
a merge conflict left in it, or a line that does not parse is one `DamagedFile` line that
names the file, the line and the fix, never a traceback.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import tempfile
from contextlib import contextmanager
from pathlib import Path

from .errors import ProjectError

# git's conflict markers; "=======" alone is also a Markdown heading rule, so both ends must be there
CONFLICT_START, CONFLICT_END = re.compile(r"^<{7}(?: |$)", re.M), re.compile(r"^>{7}(?: |$)", re.M)


class DamagedFile(ProjectError):
    """A project file that cannot be read as it is: `what` says where and why, the message adds the fix."""

    def __init__(self, what: str, fix: str, also: str = ""):
        super().__init__(f"{what} ({fix}{'; or ' + also if also else ''})")
        self.what = what


def shown(path: Path) -> str:
    """A path as the user knows it: relative to the current folder when inside it."""
    path = Path(path)
    try:
        return path.absolute().relative_to(Path.cwd()).as_posix()
    except ValueError:
        return str(path)


def read_text(path: Path, also: str = "") -> str:
    """A project file's text: UTF-8 (a BOM is fine); another encoding or a merge conflict is a DamagedFile.
    `also`: another fix the caller knows ("`make folds FORCE=1` remakes it")."""
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8-sig").replace("\r\n", "\n").replace("\r", "\n")  # as open() reads text
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        what = f"{shown(path)} line {line} is not UTF-8: saved in another encoding (latin-1, cp1252?) or damaged"
        raise DamagedFile(what, "open it in an editor or spreadsheet and save it as UTF-8", also) from None
    if "\0" in text:  # zeros where text was: what a crash mid-write leaves on some file systems
        line = text.count("\n", 0, text.index("\0")) + 1
        raise DamagedFile(f"{shown(path)} line {line} holds NUL bytes: it is damaged", "put back a copy", also)
    start = CONFLICT_START.search(text)
    if start and CONFLICT_END.search(text, start.end()):
        line = text.count("\n", 0, start.start()) + 1
        what = f"{shown(path)} line {line} starts a merge conflict (<<<<<<<)"
        raise DamagedFile(what, "keep the lines you want and delete the <<<<<<<, ======= and >>>>>>> lines", also)
    return text


def read_rows(path: Path, columns=(), also: str = "", text: str | None = None) -> list[dict]:
    """A CSV project file (or its `text`, already read) as one dict per row; it must have `columns`."""
    reader = csv.DictReader(io.StringIO(read_text(path, also) if text is None else text, newline=""), strict=True)
    try:
        rows = list(reader)
    except csv.Error as exc:
        line = reader.line_num + 1  # csv counts the lines it parsed, not the one that failed
        raise DamagedFile(f"{shown(path)} line {line} is not CSV: {exc}", "fix that line", also) from None
    missing = [column for column in columns if column not in (reader.fieldnames or [])]
    if missing:
        header = ",".join(reader.fieldnames or [])[:80] or "none"
        what = f"{shown(path)} has no {missing[0]} column (its header: {header})"
        raise DamagedFile(what, f"restore the header line: {','.join(columns)},...", also)
    return rows


def read_json(path: Path, also: str = ""):
    """A JSON project file (a run record, the folds record, the data manifest)."""
    try:
        return json.loads(read_text(path, also))
    except ValueError as exc:
        where = f" at line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else ""
        what = f"{shown(path)} is not valid JSON ({getattr(exc, 'msg', exc)}{where})"
        raise DamagedFile(what, "fix it, or put back a copy", also) from None


@contextmanager
def atomic_path(path: Path):
    """Yield a temp path beside `path`; it replaces `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    """Write text atomically: readers see the old file or the new one, never a mix."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_bytes(path: Path, data: bytes) -> None:
    """Write bytes atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def sha256(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def room_for(folder: Path, size: int) -> OSError | None:
    """None when `size` bytes can be written in `folder` (or its nearest existing parent), else the error:
    a read-only folder or a full disk, found before anything that matters is written."""
    existing = Path(folder).expanduser().absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        with tempfile.TemporaryFile(dir=existing) as probe:
            probe.write(b"\0" * size)
            probe.flush()
    except OSError as exc:
        return exc
    return None


def human_bytes(size: float) -> str:
    """A byte count for people: '512 B', '3.4 MB', '1.2 GB'."""
    for unit in ("B", "KB", "MB"):
        if size < 1000:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"
