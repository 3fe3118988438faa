"""The one error type of this project: its message says what is wrong and how to fix it."""

import errno

FULL = {errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)}  # no room: disk, quota or file size limit
DENIED = {errno.EACCES, errno.EPERM, errno.EROFS}  # not ours to write: permissions, read-only mounts


class ProjectError(Exception):
    """A problem the user can fix; the CLI prints it as one line, without a traceback."""


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
