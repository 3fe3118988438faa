"""The fault suite's kit: baked projects, the projects' own fake servers, faults, and the matrix.

Every command runs as a user runs it: `python -m <package> ...` in a subprocess, inside a
fresh copy of a project baked once per module, talking to the fake Kaggle and arXiv
servers the generated projects ship in their tests/ (loaded from the bake, not rewritten).
Faults are made the way the world makes them: a closed port, a host that does not resolve,
a server that accepts and then says nothing, error answers, broken archives, a folder the
process may not write, a file size limit (RLIMIT_FSIZE: the kernel's "disk full" for one
process), and signals. As root, the subprocess drops the capabilities that let root write
anywhere, so read-only folders stop it as they stop a user.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import importlib.util
import io
import os
import re
import resource
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tarfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from conftest import BIN, TEMPLATE

PYTHON = sys.executable
CLOSED = "http://127.0.0.1:9"  # port 9: nothing listens, the connection is refused at once
UNRESOLVABLE = "http://proxy.mlstarter.invalid:3128"  # .invalid never resolves (RFC 2606)
STALL_SECONDS = "2"  # the projects' stall guard (STALL_SECONDS) stops a silent server this fast
WORKERS = 4  # cells run side by side: most of their time is spent waiting on subprocesses
LEAKY = re.compile(r"^(KAGGLE_|ARXIV_|HTTPS?_PROXY$|NO_PROXY$|ALL_PROXY$|DATA_MIRROR$|STALL_|TORCH_HOME$|HF_)", re.I)

# (command, fault) -> "pass" | "FAIL": filled by `cell`, printed at the end of the session.
MATRIX: dict[tuple[str, str], str] = {}
FAULTS = [  # the matrix's rows, in this order
    "connection refused",
    "DNS failure",
    "read timeout",
    "401",
    "403",
    "404",
    "429 + Retry-After",
    "429 no Retry-After",
    "500",
    "503",
    "arXiv down (503)",
    "arXiv silent",
    "400",
    "rate limit as text",
    "HTML page with 200",
    "error entry",
    "unknown paper",
    "refused by Kaggle",
    "answer lost after upload",
    "truncated download",
    "corrupt zip",
    "zip with ../ member",
    "zip with absolute member",
    "zip with symlink",
    "empty competition",
    "CSV missing column",
    "CSV extra column",
    "NaN",
    "duplicate ids",
    "daily limit reached",
    "image fails to decode",
    "damaged file",
    "file in another encoding",
    "merge conflict in a file",
    "damaged run record",
    "document emptied",
    "no finished run",
    "only unfinished runs",
    "bad claims table",
    "read-only data folder",
    "read-only project",
    "disk full",
    "Ctrl-C",
    "SIGKILL while writing (writing)",
    "SIGKILL while writing (replace)",
    "interrupted download resumes",
    "kaggle.json readable by others",
    "a key in kaggle.json and the environment",
    "rerun after faults",
]
COMMANDS = ["bake", "data", "rules", "notes", "train", "predict", "submit", "compare", "doctor", "smoke", "kaggle-push"]


@contextlib.contextmanager
def cell(command: str, fault: str):
    """Record one cell of the matrix: "pass" when every block recorded under it finished, else "FAIL"."""
    key = (command, fault)
    MATRIX.setdefault(key, "pass")
    try:
        yield
    except BaseException:
        MATRIX[key] = "FAIL"
        raise


def render_matrix() -> str:
    """Faults down, commands across; '-' where a fault does not apply to a command."""
    seen = list(dict.fromkeys(fault for _, fault in MATRIX))
    faults = [f for f in FAULTS if f in seen] + [f for f in seen if f not in FAULTS]
    present = list(dict.fromkeys(command for command, _ in MATRIX))
    commands = [c for c in COMMANDS if c in present] + [c for c in present if c not in COMMANDS]
    head = ["fault \\ command", *commands]
    rows = [[fault, *(MATRIX.get((c, fault), "-") for c in commands)] for fault in faults]
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)) + " |"
    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = ["| " + " | ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)) + " |" for r in rows]
    cells = sum(1 for v in MATRIX.values())
    passed = sum(1 for v in MATRIX.values() if v == "pass")
    legend = (
        "pass: exit non-zero with one `error:` line and no traceback (Ctrl-C: exit 130, one `stopped:` line; doctor "
        "and bake: succeed and say what to fix), nothing a rerun would take for complete, and the rerun succeeds; "
        "the project's own bookkeeping (runs/index.csv, the data manifest) damaged and documents emptied: succeed, "
        "rebuilt or restored, and say so; -: does not apply"
    )
    return "\n".join([line, rule, *body, "", f"{passed} of {cells} cells pass", legend])


class MatrixReport:
    """A pytest plugin (registered by the suite's module fixture) that prints the matrix at the end."""

    def __init__(self, path: Path):
        self.path = path

    def pytest_terminal_summary(self, terminalreporter):
        if not MATRIX:
            return
        text = render_matrix()
        self.path.write_text(text + "\n", encoding="utf-8")
        terminalreporter.write_sep("=", "fault matrix (commands x faults)")
        terminalreporter.write_line(text)
        terminalreporter.write_line(f"(also in {self.path})")


def run_cells(cells: dict, workers: int = WORKERS) -> None:
    """Run independent cells side by side; fail with every broken cell's reason."""
    with ThreadPoolExecutor(workers) as pool:
        futures = {key: pool.submit(function) for key, function in cells.items()}
    broken = {key: future.exception() for key, future in futures.items() if future.exception()}
    assert not broken, "\n\n".join(f"{key}: {type(e).__name__}: {e}" for key, e in broken.items())


# ------------------------------------------------------------------------------------- projects


def load(path: Path, name: str):
    """Import a baked project's test helper (plain Python, no template code) under its own name."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def base_env(home: Path) -> dict[str, str]:
    """This machine's environment without anything that could reach a real service or a real key."""
    env = {k: v for k, v in os.environ.items() if not LEAKY.match(k)}
    home.mkdir(parents=True, exist_ok=True)
    env.update(
        HOME=str(home),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_CONFIG_HOME=str(home / ".config"),
        KAGGLE_CONFIG_DIR=str(home / ".kaggle"),
        TORCH_HOME=str(home / "torch"),
        HF_HUB_OFFLINE="1",
        ARXIV_API_URL=CLOSED + "/api/query?{}",
        ARXIV_DELAY_SECONDS="0",
        STALL_SECONDS=STALL_SECONDS,
        PYTHONDONTWRITEBYTECODE="1",
        MPLBACKEND="Agg",
        OMP_NUM_THREADS="1",  # cells run side by side on 2 cores: spinning OpenMP threads made torch runs 5x slower
        TQDM_DISABLE="1",
        GIT_AUTHOR_NAME="Test User",
        GIT_AUTHOR_EMAIL="test@example.com",
        GIT_COMMITTER_NAME="Test User",
        GIT_COMMITTER_EMAIL="test@example.com",
    )
    return env


def bake(out: Path, env: dict, *answers: str) -> subprocess.CompletedProcess:
    """`cookiecutter <template> --no-input -o OUT KEY=VALUE...` as a user types it."""
    args = [str(BIN / "cookiecutter"), str(TEMPLATE), "--no-input", "-o", str(out), *answers]
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=120, preexec_fn=preexec_limits(None))


def copy_project(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", ".git"))
    return target


def package(root: Path) -> str:
    """The project's package: the one folder in src/ with a __main__.py (config.toml may be the fault)."""
    return next(p.name for p in sorted((root / "src").iterdir()) if (p / "__main__.py").is_file())


def cli(root: Path, *args: str, env: dict, limit: int | None = None, timeout: float = 120, stdin=None):
    """`python -m <package> ARGS` in the project folder; `limit` caps the size of any file written."""
    env = {**env, "PYTHONPATH": str(root / "src")}
    return subprocess.run(
        [PYTHON, "-m", package(root), *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=stdin if stdin is not None else subprocess.DEVNULL,
        preexec_fn=preexec_limits(limit),
    )


def start(root: Path, *args: str, env: dict) -> subprocess.Popen:
    """The same command, running in the background (to interrupt or kill it)."""
    env = {**env, "PYTHONPATH": str(root / "src")}
    return subprocess.Popen(
        [PYTHON, "-m", package(root), *args],
        cwd=root,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=preexec_limits(None),
    )


def preexec_limits(limit: int | None):
    """preexec_fn: a file size limit, and (as root) no capability to write where a user may not."""

    def apply():
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C as in a terminal, even when pytest runs in the background
        if limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        if os.geteuid() == 0:
            libc = ctypes.CDLL(None, use_errno=True)
            for capability in (1, 2, 3):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER
                if libc.prctl(24, capability, 0, 0, 0):  # PR_CAPBSET_DROP
                    raise OSError(ctypes.get_errno(), "cannot drop root's file capabilities")

    return apply


@contextlib.contextmanager
def read_only(*paths: Path):
    """Folders (and their files) nobody may write, for the block."""
    saved = []
    for top in paths:
        for path in [top, *top.rglob("*")] if top.is_dir() else [top]:
            saved.append((path, path.stat().st_mode))
            path.chmod(stat.S_IMODE(path.stat().st_mode) & ~0o222)
    try:
        yield
    finally:
        for path, mode in reversed(saved):
            path.chmod(stat.S_IMODE(mode))


# ------------------------------------------------------------------------------------- checks


def fails_cleanly(done, *words: str, code: int = 2) -> str:
    """Exit code `code`, no traceback, exactly one `error:` line and it is the last; returns it."""
    err = done.stderr
    assert "Traceback" not in err, f"a traceback:\n{err[-3000:]}"
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert done.returncode == code, f"exit {done.returncode}, wanted {code}:\n{err[-2000:]}\n{done.stdout[-800:]}"
    assert len(errors) == 1 and lines[-1] == errors[0], f"not one closing error line:\n{err[-2000:]}"
    for word in words:
        assert word in errors[0], f"{word!r} not in {errors[0]!r}"
    return errors[0]


def stopped_cleanly(code: int, err: str) -> str:
    """Ctrl-C: exit 130, no traceback, one closing `stopped:` line."""
    assert "Traceback" not in err, err[-3000:]
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 130 and lines and lines[-1].startswith("stopped: interrupted"), f"exit {code}:\n{err[-2000:]}"
    return lines[-1]


def succeeds(done) -> str:
    assert done.returncode == 0, f"the rerun failed (exit {done.returncode}):\n{done.stderr[-3000:]}"
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    return done.stdout


def snapshot(root: Path) -> dict[str, str]:
    """Every file under `root` (but caches) -> its sha256."""
    files = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            files[path.relative_to(root).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return files


def interrupt(process: subprocess.Popen, ready, timeout: float = 120, sig=signal.SIGINT) -> tuple[str, str]:
    """Send `sig` once `ready()` is true; returns (stdout, stderr)."""
    deadline = time.monotonic() + timeout
    while not ready():
        if process.poll() is not None:
            out, err = process.communicate()
            raise AssertionError(f"finished (exit {process.returncode}) before it could be stopped:\n{err[-2000:]}")
        assert time.monotonic() < deadline, "never got to the point of being stopped"
        time.sleep(0.05)
    process.send_signal(sig)
    return process.communicate(timeout=timeout)


# ------------------------------------------------------------------------------------- servers


@contextlib.contextmanager
def silent_server():
    """A server that accepts connections and never answers: a read that would wait forever."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held, stop = [], threading.Event()

    def accept():
        listener.settimeout(0.1)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                held.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for connection in held:
            connection.close()
        listener.close()


class Mirror:
    """A stand-in for fastai's S3 buckets (DATA_MIRROR): one archive for every path ending in .tgz,
    and the ways a download server fails: a status, a cut connection, a stall."""

    def __init__(self, archive: bytes):
        self.archive = archive
        self.mode = "ok"  # ok | <status code> | cut | stall
        self.half_sent = threading.Event()
        self.release = threading.Event()
        self.url = ""

    def handler(self):
        mirror = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                mode, data = mirror.mode, mirror.archive
                if mode.isdigit() or not self.path.endswith(".tgz"):
                    body = b"<html>error</html>"
                    self.send_response(int(mode) if mode.isdigit() else 404)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/gzip")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if mode in ("cut", "stall"):
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    mirror.half_sent.set()
                    if mode == "stall":
                        mirror.release.wait(30)
                    self.close_connection = True
                    return
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        return Handler

    @contextlib.contextmanager
    def serve(self):
        server = ThreadingHTTPServer(("127.0.0.1", 0), self.handler())
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        thread.start()
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        try:
            yield self
        finally:
            self.release.set()
            server.shutdown()
            server.server_close()


def tgz(files: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    """A .tgz like fastai's datasets; `links` adds symlink members (name -> target)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return out.getvalue()


def png(seed: int) -> bytes:
    """A tiny real image."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 8), ((seed * 37) % 256, (seed * 91) % 256, 128)).save(out, format="PNG")
    return out.getvalue()


def cifar_files(per_class: int = 2) -> dict[str, bytes]:
    """cifar10.tgz in miniature: cifar10/{train,test}/<class>/<n>.png."""
    return {
        f"cifar10/{split}/{label}/{i}.png": png(i + 7 * k)
        for split in ("train", "test")
        for k, label in enumerate(("cat", "dog"))
        for i in range(per_class)
    }
