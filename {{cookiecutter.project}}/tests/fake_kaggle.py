"""A fake Kaggle API on 127.0.0.1 that the real `kaggle` client talks to, for tests only.

KaggleApi leaves production only for KAGGLE_API_ENVIRONMENT=LOCALHOST (http://localhost/api);
with HTTP_PROXY pointing here and NO_PROXY cleared, `requests` sends absolute-form targets to
this server, so the client runs unchanged: POST /api/v1/<service>/<Method> with camelCase JSON,
a 302 to the zip, a PUT of the submission to the upload URL it hands out.

It serves one digit-recognizer-shaped competition built from scikit-learn's bundled digits and
can be told to fail the way Kaggle does (401, 403, 404, 429 + Retry-After, 5xx, broken zips).
It also keeps script kernels: SaveKernel stores each pushed version, GetKernelSessionStatus walks
through `kernel_states`, ListKernelSessionOutput lists `kernel_outputs` with download URLs that
GET serves (signed storage URLs on Kaggle: no credentials), and the run's log.
Use the `kaggle_server` fixture (`pytest_plugins = ["fake_kaggle"]`) or `serve()` + `environment()`.
"""

from __future__ import annotations

import base64
import csv
import email.utils
import functools
import io
import json
import stat
import threading
import tomllib
import zipfile
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

USERNAME = "ada"
KEY = "fake-legacy-key-7c1d"
TOKEN = "KGAT_fake_token_9f2e"
STALE_TOKEN = "KGAT_revoked_token_0000"
SERVICE = "competitions.CompetitionApiService"
RULES_NOT_ACCEPTED = "You must accept this competition's rules before you'll be able to download files."
RULES_TEXT = (
    "## One account per participant\n\nYou cannot sign up to Kaggle from multiple accounts.\n\n"
    "## External data\n\nExternal data is allowed if it is public and free for all participants.\n"
)
ENV_REMOVED = ("KAGGLE_API_TOKEN", "KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_KERNEL_RUN_TYPE", "NO_PROXY", "no_proxy")
ZIP_TIME = (2024, 1, 2, 3, 4, 6)
PORTAL = (
    b"<!DOCTYPE html><html><head><title>Network sign-in required</title></head>"
    b"<body><p>Sign in to use this network.</p></body></html>"
)


@functools.cache
def digits_files(n_train: int = 240, n_test: int = 60) -> tuple[dict[str, bytes], dict[str, int]]:
    """train.csv (label, pixel0..63), test.csv, sample_submission.csv (ImageId,Label) and the test truth."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    pixels = (digits.data * 255 / 16).round().astype(int)
    labels = digits.target
    header = [f"pixel{i}" for i in range(pixels.shape[1])]

    def table(rows, columns):
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
        return out.getvalue().encode()

    train = table(([int(labels[i]), *pixels[i]] for i in range(n_train)), ["label", *header])
    test_rows = range(n_train, n_train + n_test)
    test = table((list(pixels[i]) for i in test_rows), header)
    sample = table(([k + 1, 0] for k in range(n_test)), ["ImageId", "Label"])
    truth = {str(k + 1): int(labels[i]) for k, i in enumerate(test_rows)}
    return {"train.csv": train, "test.csv": test, "sample_submission.csv": sample}, truth


def make_zip(files: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    """A deterministic zip of `files`; `links` adds symlink members (name -> target)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(zipfile.ZipInfo(name, ZIP_TIME), data, zipfile.ZIP_DEFLATED)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name, ZIP_TIME)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return out.getvalue()


class FakeKaggle:
    """The state of one fake Kaggle: a competition, its files, submissions and planned failures."""

    def __init__(self, slug: str = "digit-recognizer"):
        self.slug = slug
        files, truth = digits_files()
        self.files, self.truth = dict(files), dict(truth)
        self.zip_mode = "ok"  # ok | truncated | escape-dotdot | escape-absolute | escape-link | stall
        self.tokens = {TOKEN}
        self.key = KEY
        self.entered = True  # False: rules not accepted (downloads 403, limits all zero)
        now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
        self.metadata = {
            "id": 3004,
            "ref": f"https://www.kaggle.com/competitions/{slug}",
            "title": "Digit Recognizer",
            "url": f"https://www.kaggle.com/competitions/{slug}",
            "category": "Getting Started",
            "reward": "Knowledge",
            "deadline": _iso(now + timedelta(days=30, hours=1)),
            "enabledDate": _iso(now - timedelta(days=400)),
            "mergerDeadline": _iso(now + timedelta(days=23, hours=1)),
            "newEntrantDeadline": _iso(now + timedelta(days=23, hours=1)),
            "maxDailySubmissions": 5,
            "maxTeamSize": 3,
            "evaluationMetric": "Categorization Accuracy",
            "isKernelsSubmissionsOnly": False,
            "submissionsDisabled": False,
            "userHasEntered": True,
            "teamCount": 1432,
            "hostName": "kaggle",
        }
        self.pages = [{"name": "rules", "content": RULES_TEXT, "mimeType": "text/markdown"}]
        self.used_today = 0
        self.polls_until_scored = 1  # ListSubmissions calls before a new submission shows its score
        self.create_answer = None  # a dict answered by CreateSubmission instead of taking the file
        self.submissions: list[dict] = []
        self.kernels: dict[str, list[dict]] = {}  # "owner/slug" -> every SaveKernel request body, in order
        self.kernel_states = ["QUEUED", "RUNNING", "COMPLETE"]  # status answers after a push; the last one stays
        self.kernel_failure = ""  # failureMessage sent with the states
        self.push_error = ""  # SaveKernel answers 200 with this error instead of saving
        self.kernel_outputs: dict[str, bytes] = {}  # output file name (may hold folders) -> bytes
        self.kernel_log = ""
        self.datasets: set[str] = set()  # owner/name a kernel may use as a dataset source
        self._kernel_plan: list[str] = []
        self.uploads: dict[str, bytes] = {}
        self.calls: list[tuple[str, str]] = []  # (verb, method or path) in arrival order
        self._failures: dict[str, list] = {}
        self.portal = ""  # "all": every request gets PORTAL with 200, as from a proxy's block page; "files": downloads
        self.half_sent = threading.Event()  # zip_mode "stall": set once half the zip is out
        self.release = threading.Event()  # zip_mode "stall": set to let the handler finish
        self.lock = threading.Lock()

    # ---- what tests arrange ----
    def fail(self, method: str, status: int, message: str = "", times: int | None = None, retry_after=None):
        """Answer `method` ("*" = every API method) with an error, `times` times (None: always)."""
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        self._failures[method] = [status, message or _REASONS.get(status, "error"), headers, times]

    def count(self, method: str) -> int:
        """How many times `method` (an API method name or a GET/PUT path prefix) was called."""
        return sum(1 for _, name in self.calls if name == method or name.startswith(method + "/"))

    def zip_bytes(self) -> bytes:
        files = dict(self.files)
        if self.zip_mode == "escape-dotdot":
            return make_zip({**files, "../escaped.txt": b"outside"})
        if self.zip_mode == "escape-absolute":
            return make_zip({**files, "/tmp/mlstarter-escaped.txt": b"outside"})
        if self.zip_mode == "escape-link":
            return make_zip(files, links={"link-out": "../../outside"})
        data = make_zip(files)
        return data[: len(data) * 3 // 5] if self.zip_mode == "truncated" else data

    # ---- what the server answers ----
    def planned_failure(self, method: str):
        for name in (method, "*"):
            plan = self._failures.get(name)
            if plan:
                status, message, headers, times = plan
                if times is not None:
                    plan[3] -= 1
                    if plan[3] <= 0:
                        del self._failures[name]
                return status, message, headers
        return None

    def authorized(self, header: str) -> bool:
        if header.startswith("Bearer "):
            return header[7:] in self.tokens
        if header.startswith("Basic "):
            user, _, key = base64.b64decode(header[6:]).decode().partition(":")
            return user == USERNAME and key == self.key
        return False

    def api(self, method: str, body: dict):
        """(status, json body, headers) for one API call."""
        name = body.get("competitionName")
        if name is not None and name != self.slug and method != "ListCompetitions":
            return 404, {"code": 404, "message": "Competition not found"}, {}
        handler = getattr(self, f"_{method}", None)
        if handler is None:
            return 404, {"code": 404, "message": f"Unknown method {method}"}, {}
        return handler(body)

    def _IntrospectToken(self, body):
        active = body.get("token") in self.tokens
        return 200, {"active": active, "username": USERNAME if active else ""}, {}

    def _GetCompetition(self, body):
        return 200, {**self.metadata, "userHasEntered": self.entered}, {}

    def _ListCompetitions(self, body):
        search = body.get("search") or ""
        found = [{**self.metadata, "userHasEntered": self.entered}] if search in self.slug else []
        return 200, {"competitions": found, "nextPageToken": ""}, {}

    def _ListCompetitionPages(self, body):
        wanted = body.get("pageName")
        return 200, {"pages": [p for p in self.pages if not wanted or p["name"] == wanted]}, {}

    def _ListDataFiles(self, body):
        files = [{"ref": n, "name": n, "totalBytes": len(d)} for n, d in self.files.items()]
        return 200, {"files": files}, {}

    def _DownloadDataFiles(self, body):
        if not self.entered:
            return 403, {"code": 403, "message": RULES_NOT_ACCEPTED}, {}
        return 302, None, {"Location": f"http://localhost/files/{self.slug}.zip"}

    def _GetSubmissionLimits(self, body):
        if not self.entered:
            return 200, {}, {}
        allowed = max(0, self.metadata["maxDailySubmissions"] - self.used_today)
        limits = {"numToday": self.used_today, "numTotal": len(self.submissions), "numAllowedNow": allowed}
        return 200, limits, {}

    def _StartSubmissionUpload(self, body):
        token = f"blob-{len(self.uploads) + 1}"
        self.uploads[token] = b""
        return 200, {"token": token, "createUrl": f"http://localhost/upload/{token}"}, {}

    def _CreateSubmission(self, body):
        if self.create_answer is not None:
            return 200, self.create_answer, {}
        data = self.uploads.get(body.get("blobFileTokens", ""))
        if data is None:
            return 400, {"code": 400, "message": "Unknown blob token"}, {}
        self.used_today += 1
        ref = 50000 + len(self.submissions) + 1
        score, error = self.score(data)
        self.submissions.insert(
            0,
            {
                "ref": ref,
                "date": _iso(datetime.now(UTC).replace(tzinfo=None, microsecond=0)),
                "description": body.get("submissionDescription", ""),
                "fileName": "submission.csv",
                "status": "PENDING",
                "_polls": self.polls_until_scored,
                "_score": score,
                "_error": error,
            },
        )
        return 200, {"message": f"Successfully submitted to {self.metadata['title']}", "ref": ref}, {}

    def _ListSubmissions(self, body):
        shown = []
        for sub in self.submissions:
            sub["_polls"] -= 1
            if sub["status"] == "PENDING" and sub["_polls"] <= 0:
                sub["status"] = "ERROR" if sub["_error"] else "COMPLETE"
                sub["publicScore"] = "" if sub["_error"] else f"{sub['_score']:.5f}"
                if sub["_error"]:
                    sub["errorDescription"] = sub["_error"]
            shown.append({k: v for k, v in sub.items() if not k.startswith("_")})
        return 200, {"submissions": shown, "nextPageToken": ""}, {}

    def _SaveKernel(self, body):
        ref = body.get("slug", "")
        if ref.split("/")[0] != USERNAME:
            return 403, {"code": 403, "message": "Permission 'kernels.create' was denied"}, {}
        if self.push_error:
            return 200, {"ref": "", "url": "", "error": self.push_error}, {}
        answer = {
            "invalidCompetitionSources": [c for c in body.get("competitionDataSources", []) if c != self.slug],
            "invalidDatasetSources": [d for d in body.get("datasetDataSources", []) if d not in self.datasets],
        }
        versions = self.kernels.setdefault(ref, [])
        versions.append(body)
        self._kernel_plan = list(self.kernel_states)
        url = f"https://www.kaggle.com/code/{ref}"
        return 200, {"ref": f"/code/{ref}", "url": url, "versionNumber": len(versions), **answer}, {}

    def _kernel(self, body) -> str | None:
        ref = f"{body.get('userName', '')}/{body.get('kernelSlug', '')}"
        return ref if ref in self.kernels else None

    def _GetKernelSessionStatus(self, body):
        if self._kernel(body) is None:
            return 404, {"code": 404, "message": "Notebook not found"}, {}
        state = self._kernel_plan.pop(0) if len(self._kernel_plan) > 1 else self._kernel_plan[0]
        answer = {"status": state}
        if self.kernel_failure:
            answer["failureMessage"] = self.kernel_failure
        return 200, answer, {}

    def _ListKernelSessionOutput(self, body):
        ref = self._kernel(body)
        if ref is None:
            return 404, {"code": 404, "message": "Notebook not found"}, {}
        names = sorted(self.kernel_outputs)
        start, size = int(body.get("pageToken") or 0), int(body.get("pageSize") or 20)
        files = [
            {"fileName": n, "url": f"http://localhost/kernel-output/{ref}/{n}"} for n in names[start : start + size]
        ]
        more = start + size < len(names)
        answer = {"files": files, "nextPageToken": str(start + size) if more else ""}
        if start == 0 and self.kernel_log:
            answer["log"] = self.kernel_log
        return 200, answer, {}

    def score(self, data: bytes) -> tuple[float, str]:
        """Accuracy on the held-out digits, or an error the way Kaggle words one."""
        rows = list(csv.DictReader(io.StringIO(data.decode("utf-8", "replace"))))
        if not rows or set(rows[0]) != {"ImageId", "Label"}:
            return 0.0, "Submission must have columns ImageId and Label"
        if len(rows) != len(self.truth):
            return 0.0, f"Submission must have {len(self.truth)} rows"
        right = sum(1 for r in rows if str(self.truth.get(r["ImageId"])) == r["Label"].strip())
        return right / len(rows), ""


_REASONS = {401: "Unauthenticated", 403: "Permission denied", 404: "Not found", 429: "Too many requests"}


def _iso(moment: datetime) -> str:
    return moment.isoformat() + "Z"


class _Handler(BaseHTTPRequestHandler):
    fake: FakeKaggle  # set per server by serve()

    def log_message(self, *args):  # keep test output clean
        pass

    def _path(self) -> str:
        return urlsplit(self.path).path  # absolute-form through the proxy, or origin-form

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while size := int(self.rfile.readline().strip() or b"0", 16):
                data += self.rfile.read(size)
                self.rfile.readline()
            self.rfile.readline()
            return data
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _portal(self) -> bool:
        """Answer PORTAL with 200 when the fake plays a proxy's block page or a captive portal."""
        if self.fake.portal not in ("all", "files") or (
            self.fake.portal == "files" and not self._path().startswith("/files/")
        ):
            return False
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(PORTAL)))
        self.end_headers()
        self.wfile.write(PORTAL)
        return True

    def _send(self, status: int, body: dict | None, headers: dict | None = None):
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        fake = self.fake
        parts = self._path().split("/")  # ['', 'api', 'v1', service, Method]
        method = parts[-1]
        raw = self._body()
        if self._portal():
            return
        with fake.lock:
            fake.calls.append(("POST", method))
            failure = fake.planned_failure(method)
        if failure:
            status, message, headers = failure
            return self._send(status, {"code": status, "message": message}, headers)
        if not fake.authorized(self.headers.get("Authorization", "")):
            return self._send(401, {"code": 401, "message": "Unauthenticated"})
        if len(parts) != 5 or parts[1:3] != ["api", "v1"]:
            return self._send(404, {"code": 404, "message": f"No such endpoint {self._path()}"})
        with fake.lock:
            status, body, headers = fake.api(method, json.loads(raw or b"{}"))
        self._send(status, body, headers)

    def do_GET(self):
        fake = self.fake
        path = self._path()
        if self._portal():
            return
        with fake.lock:
            fake.calls.append(("GET", path))
            failure = fake.planned_failure("GET " + path)
        if failure:
            status, message, headers = failure
            return self._send(status, {"code": status, "message": message}, headers)
        if path.startswith("/kernel-output/"):
            return self._send_output(path.removeprefix("/kernel-output/"))
        if path != f"/files/{fake.slug}.zip":
            return self._send(404, {"code": 404, "message": "Not found"})
        data = fake.zip_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "application/zip")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Last-Modified", email.utils.formatdate(1_700_000_000, usegmt=True))
        self.end_headers()
        if fake.zip_mode == "stall":  # a connection that dies halfway: half the bytes, then nothing
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            fake.half_sent.set()
            fake.release.wait(30)
            self.close_connection = True
            return
        self.wfile.write(data)

    def _send_output(self, rest: str):
        """/kernel-output/<owner>/<slug>/<file name>: one output file of the kernel's last run."""
        owner, slug, name = (rest.split("/", 2) + ["", ""])[:3]
        with self.fake.lock:
            data = self.fake.kernel_outputs.get(name) if f"{owner}/{slug}" in self.fake.kernels else None
        if data is None:
            return self._send(404, {"code": 404, "message": "Not found"})
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_PUT(self):
        fake = self.fake
        path = self._path()
        data = self._body()
        if self._portal():
            return
        with fake.lock:
            fake.calls.append(("PUT", path))
            token = path.rsplit("/", 1)[-1]
            if token not in fake.uploads:
                return self._send(404, {"code": 404, "message": "Upload expired"})
            fake.uploads[token] = data
        self._send(200, {})


@contextmanager
def serve(fake: FakeKaggle):
    """Run `fake` on 127.0.0.1 (a free port) in a thread; yields the port."""
    handler = type("Handler", (_Handler,), {"fake": fake})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        fake.release.set()
        server.shutdown()
        server.server_close()


def environment(home: Path, port: int | None, credentials: str = "kaggle.json") -> dict[str, str]:
    """Environment variables pointing the real client at the fake, with credentials in `home`.

    credentials: "kaggle.json" (legacy key file), "token" (~/.kaggle/access_token) or "none".
    """
    config_dir = home / ".kaggle"
    config_dir.mkdir(parents=True, exist_ok=True)
    if credentials == "kaggle.json":
        path = config_dir / "kaggle.json"
        path.write_text(json.dumps({"username": USERNAME, "key": KEY}))
        path.chmod(0o600)
    elif credentials == "token":
        (config_dir / "access_token").write_text(TOKEN + "\n")
    env = {"HOME": str(home), "KAGGLE_CONFIG_DIR": str(config_dir), "XDG_CONFIG_HOME": str(home / ".config")}
    if port is not None:
        proxy = f"http://127.0.0.1:{port}"
        env.update(KAGGLE_API_ENVIRONMENT="LOCALHOST", HTTP_PROXY=proxy, http_proxy=proxy)
    return env


def isolate(monkeypatch, env: dict[str, str]) -> None:
    """Apply `env` and drop every variable that would let the real machine's settings leak in."""
    for name in ENV_REMOVED:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def project_slug() -> str:
    """The competition of the project these tests live in (the example one for paper projects)."""
    config = tomllib.loads((Path(__file__).resolve().parents[1] / "config.toml").read_text(encoding="utf-8"))
    return config["project"].get("competition") or "digit-recognizer"


@pytest.fixture
def kaggle_home(tmp_path, monkeypatch):
    """A HOME with no Kaggle credentials and nothing pointing at any server: the user's own never leak in."""
    home = tmp_path / "home"
    isolate(monkeypatch, environment(home, None, credentials="none"))
    return home


@pytest.fixture
def kaggle_server(tmp_path, monkeypatch):
    """A running fake Kaggle for this project's competition; the real client is pointed at it."""
    fake = FakeKaggle(project_slug())
    with serve(fake) as port:
        fake.home = tmp_path / "home"
        fake.port = port
        isolate(monkeypatch, environment(fake.home, port))
        yield fake


@pytest.fixture
def kaggle_files() -> dict[str, bytes]:
    """The fake competition's files (train.csv, test.csv, sample_submission.csv) as bytes."""
    return dict(digits_files()[0])


@pytest.fixture
def competition(project, kaggle_files):
    """A project whose data/raw holds the fake competition's files (as `make data` leaves them)."""
    raw = project / "data" / "raw"
    raw.mkdir(parents=True)
    for name, data in kaggle_files.items():
        (raw / name).write_bytes(data)
    return project


@pytest.fixture
def kaggle_zip(kaggle_files) -> bytes:
    """The zip `kaggle competitions download` would leave: the same bytes the fake server serves."""
    return make_zip(kaggle_files)
