"""The watchdog: a silent server stops a command in STALL_SECONDS; a slow but moving download never does."""

import socket
import threading
import time

import pytest
import requests
from conftest import module

watchdog = module("kit.watchdog")
ProjectError = module("kit.errors").ProjectError


@pytest.fixture
def silent_url():
    """A server that accepts a connection and never answers: requests (no timeout) would wait forever."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    held = []
    thread = threading.Thread(target=lambda: held.append(listener.accept()[0]), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/"
    for connection in held:
        connection.close()
    listener.close()


def test_a_silent_server_is_stopped_with_one_line_saying_what_and_how_to_wait_longer(silent_url, monkeypatch):
    """The clients set no read timeout: without the watchdog this request would never return."""
    monkeypatch.setenv("STALL_SECONDS", "0.5")
    started = time.monotonic()
    with pytest.raises(ProjectError) as caught, watchdog.watch("asking the server"):
        requests.get(silent_url)
    assert time.monotonic() - started < 5
    message = str(caught.value)
    assert message.startswith("asking the server: nothing arrived for 0.5 s, so it was stopped (")
    assert "STALL_SECONDS" in message and "\n" not in message


def test_progress_keeps_a_slow_download_going_past_the_limit(monkeypatch):
    """A download whose file keeps growing is never cut, however long it takes in all."""
    monkeypatch.setenv("STALL_SECONDS", "0.5")
    received = [0]
    with watchdog.watch("downloading", progress=lambda: received[0]):
        for _ in range(8):  # 1.6 s in all, never 0.5 s without a byte
            time.sleep(0.2)
            received[0] += 1
    assert received[0] == 8


def test_the_watchdog_leaves_the_alarm_signal_as_it_found_it(monkeypatch):
    """Nested watches share one timer; when the last ends, SIGALRM is back to what it was."""
    import signal

    monkeypatch.setenv("STALL_SECONDS", "5")
    before = signal.getsignal(signal.SIGALRM)
    with watchdog.watch("outer"), watchdog.watch("inner", progress=lambda: 1):
        assert signal.getitimer(signal.ITIMER_REAL)[0] > 0
    assert signal.getsignal(signal.SIGALRM) == before and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


@pytest.mark.parametrize("value", ["soon", "0", "-3", "nan"])
def test_a_stall_seconds_that_is_no_positive_number_is_refused_with_the_fix(monkeypatch, value):
    monkeypatch.setenv("STALL_SECONDS", value)
    with pytest.raises(ProjectError, match=r"STALL_SECONDS=.* is not a number of seconds above 0 \(unset it"):
        watchdog.seconds()


def test_env_seconds_takes_zero_only_where_allowed_and_names_the_fix(monkeypatch):
    """One parser for STALL_SECONDS and ARXIV_DELAY_SECONDS: a default when unset, 0 only with zero=True."""
    monkeypatch.delenv("SOME_SECONDS", raising=False)
    assert watchdog.env_seconds("SOME_SECONDS", 7.0, "SOME_SECONDS=9") == 7.0
    monkeypatch.setenv("SOME_SECONDS", "0")
    assert watchdog.env_seconds("SOME_SECONDS", 7.0, "0.1", zero=True) == 0.0
    with pytest.raises(ProjectError) as caught:
        watchdog.env_seconds("SOME_SECONDS", 7.0, "SOME_SECONDS=9")
    assert str(caught.value) == "SOME_SECONDS='0' is not a number of seconds above 0 (unset it, or e.g. SOME_SECONDS=9)"
    monkeypatch.setenv("SOME_SECONDS", "inf")
    with pytest.raises(
        ProjectError, match=r"^SOME_SECONDS='inf' is not a number of seconds \(unset it, or e\.g\. 0\.1\)$"
    ):
        watchdog.env_seconds("SOME_SECONDS", 7.0, "0.1", zero=True)
