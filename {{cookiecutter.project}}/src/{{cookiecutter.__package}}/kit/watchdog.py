"""A stalled server must not hang a command: the network clients set no read timeout.

kagglesdk's API calls, the arxiv package and fastai's downloads all wait forever on a
server that accepted the connection and then went quiet. `watch` stops such a call once
nothing has happened for STALL_SECONDS (environment, default 120): for a download,
"nothing" means its file stopped growing, so a big file on a slow link is never cut.
It works by a timer signal, so only in the main thread (elsewhere it does nothing).
`sigterm_as_interrupt` makes a SIGTERM stop a command the way Ctrl-C does.
"""

from __future__ import annotations

import math
import os
import signal
import threading
import time
from contextlib import contextmanager

from .errors import ProjectError

ENV = "STALL_SECONDS"
DEFAULT_SECONDS = 120.0
TICK = 0.25  # seconds between checks

_active: list[dict] = []  # the watches in force, innermost last
_saved: list = []  # the SIGALRM handler to put back when the last watch ends


def seconds() -> float:
    """How long a call may go without progress: $STALL_SECONDS, else DEFAULT_SECONDS."""
    return env_seconds(ENV, DEFAULT_SECONDS, f"{ENV}=300")


def env_seconds(name: str, default: float, example: str, zero: bool = False) -> float:
    """$name as seconds, else `default`; anything but a finite number above 0 (or 0 itself, with
    `zero`) is refused, its message ending in `example`."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if math.isfinite(value) and (value >= 0 if zero else value > 0):
        return value
    what = "a number of seconds" if zero else "a number of seconds above 0"
    raise ProjectError(f"{name}={raw!r} is not {what} (unset it, or e.g. {example})")


@contextmanager
def watch(what: str, progress=None):
    """Run the block; raise ProjectError once `progress()` (e.g. the bytes downloaded so far; None:
    the block must answer at all) has not changed for STALL_SECONDS."""
    limit = seconds()
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return
    state = {"what": what, "progress": progress, "last": _measure(progress), "since": time.monotonic()}
    state["limit"] = limit
    if not _active:
        _saved[:] = [signal.signal(signal.SIGALRM, _check)]
        signal.setitimer(signal.ITIMER_REAL, TICK, TICK)
    _active.append(state)
    try:
        yield
    finally:
        if state in _active:
            _active.remove(state)
        if not _active and _saved:
            signal.setitimer(signal.ITIMER_REAL, 0, 0)
            signal.signal(signal.SIGALRM, _saved.pop() or signal.SIG_DFL)


@contextmanager
def sigterm_as_interrupt():
    """Run the block with SIGTERM (`kill`, a scheduler's time limit, `docker stop`) raised as Ctrl-C's
    KeyboardInterrupt: the same cleanup runs (a run marked interrupted, no half-written file) instead of
    Python dying on the spot."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        raise KeyboardInterrupt("terminated (SIGTERM)")

    saved = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, saved)


def _measure(progress):
    try:
        return progress() if progress else None
    except OSError:
        return None


def _check(signum, frame) -> None:
    """The timer's handler: raises in the main thread, wherever it is blocked (a socket read)."""
    now = time.monotonic()
    for state in list(_active):
        value = _measure(state["progress"])
        if value != state["last"]:
            state["last"], state["since"] = value, now
        elif now - state["since"] >= state["limit"]:
            _active.clear()  # one error is enough: the outer watches end with this block
            signal.setitimer(signal.ITIMER_REAL, 0, 0)
            raise ProjectError(
                f"{state['what']}: nothing arrived for {state['limit']:g} s, so it was stopped "
                f"(check the network, then run it again; on a slow link set {ENV} higher)"
            )
