"""The one error type of this project: its message says what is wrong and how to fix it, with the
command to run written the way the user started this one (`make data FORCE=1` or `--force`)."""

import difflib
import errno
import os
import re

FULL = {errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)}  # no room: disk, quota or file size limit
DENIED = {errno.EACCES, errno.EPERM, errno.EROFS}  # not ours to write: permissions, read-only mounts
PACKAGE = (__package__ or "").partition(".")[0]
MADE = "MAKE_HINTS"  # the Makefile exports it: the user typed `make ...`, so hints are written that way
# make variables not named after their flag (the Makefile's `$(if $(RUN_ID),--run $(RUN_ID))`)
MAKE_NAMES = {"run": "RUN_ID", "data": "SMOKE"}


class ProjectError(Exception):
    """A problem the user can fix; the CLI prints it as one line, without a traceback."""


def hint(command: str, **flags) -> str:
    """`command` with `flags` in the form the user types: `make data FORCE=1` under make,
    `python -m <package> data --force` otherwise (True is a switch, anything else its value)."""
    if os.environ.get(MADE):
        words = [f"{MAKE_NAMES.get(k, k.upper())}={1 if v is True else v}" for k, v in flags.items()]
        return f"`make {' '.join([command, *words])}`"
    words = [f"--{k.replace('_', '-')}" + ("" if v is True else f" {v}") for k, v in flags.items()]
    return f"`python -m {' '.join([PACKAGE, command, *words])}`"


def counted(n: int, noun: str) -> str:
    """'1 file', '3 files': a count with its noun, for the one-line messages."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def suggest(word: str, options) -> str:
    """' (did you mean X?)' for the option closest to a mistyped `word`, else the options known.
    The Makefile calls it too, for a mistyped variable (`make train EPOCH=1`)."""
    close = difflib.get_close_matches(word, list(options), n=1)
    return f" (did you mean {close[0]}?)" if close else f" (known: {', '.join(options)})"


def explain_os_error(exc: OSError) -> str:
    """One line for an OSError no command expected (a full disk, a read-only folder, an undecodable
    image): the system's own words, the file, and the fix. Errors re-raised from a worker process
    carry the worker's traceback in their text: its last line is the one that says what happened."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    what = exc.strerror or (lines[-1] if lines else type(exc).__name__)
    where = f": {exc.filename}" if exc.filename else ""
    if exc.errno in FULL:
        fix = "free some disk space, then run it again; nothing half-written was kept"
    elif exc.errno in DENIED:
        fix = "make that folder writable, or work in one you may write to, then run it again"
    else:
        fix = "fix that file or folder, then run it again; --debug shows where it happened"
    return f"{what}{where} ({fix})"


def describe_answer(body: bytes | str, kind: str = "") -> str:
    """A few words on what a server sent instead of the answer we asked for (a proxy's block page, a captive
    portal): "an HTML page titled 'Access denied'"; `kind` is its Content-Type, when known."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
    if not text.strip():
        return "an empty answer"
    kind = kind.split(";")[0].strip()
    html = "html" in kind or re.search(r"<(!doctype\s+)?html", text[:4096], re.I)
    title = re.search(r"<title[^>]*>(.*?)</title>", text[:65536], re.I | re.S) if html else None
    said = title[1] if title else text
    said = " ".join("".join(c if c.isprintable() else " " for c in said).split())[:80]
    what = "an HTML page" if html else "an answer of " + (kind or "unknown type")
    return f"{what} titled {said!r}" if title else f"{what} starting {said!r}"
