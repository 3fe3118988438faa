"""make kaggle-push / kaggle-status / kaggle-output: this project's own commands on Kaggle's free GPU.

`push` packs src/ and config.toml into one self-contained script kernel in build/kernel/
(kernel-metadata.json and kernel.py, made from kernel_template.py) and pushes it with the
official client. The kernel is private, has a GPU of `kernel.machine_shape`, reads the
competition as its data source, and has internet off for code competitions, where
Kaggle allows nothing else; it then runs `data`, `train` and `predict` unchanged and
leaves /kaggle/working/submission.csv, the file a code competition scores.
`status` asks how the run is going; `output` fetches what it wrote into a new
runs/kaggle-<kernel>-<time>/ folder, never over an earlier fetch.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import pprint
import shutil
import sys
import time
import zipfile
from pathlib import Path

from ..kit import kaggle_api, weights
from ..kit.errors import ProjectError, counted
from ..kit.files import atomic_path, human_bytes, write_text
from ..kit.runs import new_folder

BUILD = Path("build") / "kernel"
METADATA = "kernel-metadata.json"  # the name the client reads
SCRIPT = "kernel.py"
TEMPLATE = Path(__file__).with_name("kernel_template.py")
COMMANDS = [["data"], ["train"], ["predict"]]  # what the kernel runs, in order, as on your machine
KERNEL_URL = "https://www.kaggle.com/code/{ref}"
TITLE_LENGTH = 50  # Kaggle's longest kernel title
ZIP_TIME = (2020, 1, 1, 0, 0, 0)  # fixed member times: the same project packs into the same script
PACKED_SKIP = {"__pycache__", ".pytest_cache"}
STATES = {  # KernelWorkerStatus names -> words for the user
    "QUEUED": "queued, waiting for a machine",
    "NEW_SCRIPT": "saved, waiting to start",
    "RUNNING": "running",
    "COMPLETE": "complete",
    "ERROR": "failed",
    "CANCEL_REQUESTED": "being cancelled",
    "CANCEL_ACKNOWLEDGED": "cancelled",
}
UNFINISHED = {"QUEUED", "NEW_SCRIPT", "RUNNING", "CANCEL_REQUESTED"}
FIRST_PAUSE = 5.0  # seconds between status checks with --wait; doubles up to LONGEST_PAUSE
LONGEST_PAUSE = 60.0
PAGE_SIZE = 100  # output files listed per request
KERNEL_HINTS = {  # what Kaggle's refusals mean when asking about the kernel
    403: "set kernel.owner in config.toml to your username: other people's private kernels are hidden",
    404: "Kaggle has no such kernel yet: run `make kaggle-push` first",
}
DOWNLOAD_HINTS = {403: "the download link expired: run it again", 404: "the file is gone: run it again"}
CHUNK = 1 << 20


# ------------------------------------------------------------------------------------------ push


def push(cfg) -> str:
    """Build build/kernel/ and push it as a new version of the project's kernel; say where to watch it."""
    slug = _slug(cfg)
    api = kaggle_api.client()
    ref = kernel_ref(cfg, api)
    code_competition = bool(kaggle_api.competition(api, slug).is_kernels_submissions_only)
    folder = build(cfg, ref, code_competition)
    timeout = str(cfg.kernel.timeout_minutes * 60) if cfg.kernel.timeout_minutes else None
    refused = (
        f"accept the rules at {kaggle_api.rules_url(slug)}, check kernel.owner in config.toml, and verify "
        f"your phone number at {kaggle_api.SETTINGS_URL}: Kaggle requires it for GPUs"
    )
    answer = _call(f"pushing {ref}", _push, api, str(folder), timeout, hints={403: refused})
    if answer.error:
        raise ProjectError(
            f"Kaggle refused the push of {ref}: {answer.error} (fix that, then `make kaggle-push` again)"
        )
    for what, names in (
        ("competition", answer.invalid_competition_sources),
        ("dataset", answer.invalid_dataset_sources),
    ):
        if names:
            raise ProjectError(
                f"Kaggle pushed {ref} but cannot attach the {what} {', '.join(names)} "
                f"(check project.competition / kernel.weights_dataset in config.toml, then push again)"
            )
    url = answer.url or KERNEL_URL.format(ref=ref)
    version = f"version {answer.version_number}" if answer.version_number else "a new version"
    internet = "internet off (code competition)" if code_competition else "internet on"
    return (
        f"pushed {ref} {version}: {url} ({cfg.kernel.machine_shape}, {internet}; "
        f"{_weights_plan(cfg, code_competition)}) (next: make kaggle-status, then make kaggle-output)"
    )


def _push(api, folder: str, timeout: str | None):
    """The client's own push; its chatter (hints, progress) stays out of our one-line summary."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return api.kernels_push(folder, timeout)
    except ValueError as exc:  # the client's own checks of kernel-metadata.json
        raise ProjectError(f"the kaggle client refused {BUILD / METADATA}: {exc} (report this as a bug)") from None


def build(cfg, ref: str, code_competition: bool) -> Path:
    """Write build/kernel/kernel-metadata.json and kernel.py; returns the folder."""
    folder = cfg.root / BUILD
    folder.mkdir(parents=True, exist_ok=True)
    write_text(folder / METADATA, json.dumps(metadata(cfg, ref, code_competition), indent=2) + "\n")
    write_text(folder / SCRIPT, script(cfg, code_competition))
    return folder


def metadata(cfg, ref: str, code_competition: bool) -> dict:
    """kernel-metadata.json: a private GPU script kernel reading the competition (and the weights)."""
    weights = [cfg.kernel.weights_dataset] if cfg.kernel.weights_dataset else []
    return {
        "id": ref,
        "title": title(cfg),
        "code_file": SCRIPT,
        "language": "python",
        "kernel_type": "script",
        "is_private": True,
        "enable_gpu": True,
        "enable_tpu": False,
        "enable_internet": not code_competition,  # code competitions refuse notebooks with internet on
        "machine_shape": cfg.kernel.machine_shape,
        "dataset_sources": weights,
        "competition_sources": [cfg.project.competition],
        "kernel_sources": [],
        "model_sources": [],
    }


def title(cfg) -> str:
    """'<project> baseline', cut to Kaggle's length; the kernel's slug is this title slugified."""
    suffix = " baseline"
    return cfg.project.name[: TITLE_LENGTH - len(suffix)].strip() + suffix


def kernel_ref(cfg, api=None) -> str:
    """owner/slug of the project's kernel: the owner from config.toml, else from the credentials."""
    from slugify import slugify  # the client checks the title against the id with this same function

    owner = cfg.kernel.owner or (api.get_config_value("username") if api is not None else None)
    if not owner:
        raise ProjectError("cannot tell your Kaggle username from the credentials (set kernel.owner in config.toml)")
    return f"{owner}/{slugify(title(cfg))}"


def script(cfg, code_competition: bool) -> str:
    """kernel_template.py with its settings and the packed project filled in."""
    text = TEMPLATE.read_text(encoding="utf-8")
    needed = code_competition and cfg.model.pretrained  # with internet off, weights come from a dataset
    name = _weights_file(cfg) if needed else ""
    settings = {
        "project": cfg.project.name,
        "package": cfg.project.package,
        "competition": cfg.project.competition,
        "commands": COMMANDS,
        "internet": not code_competition,
        "pretrained": cfg.model.pretrained,
        "weights_dataset": cfg.kernel.weights_dataset,
        "weights_file": name,
        "weights_hint": _weights_hint(cfg, name) if needed else "",
    }
    code = base64.encodebytes(pack(cfg)).decode("ascii")
    filled = {
        "SETTINGS = {}": f"SETTINGS = {pprint.pformat(settings, sort_dicts=False)}",
        'CODE = ""': f'CODE = """\n{code}"""',
    }
    for line, value in filled.items():
        if text.count(f"\n{line}\n") != 1:
            raise ProjectError(f"{TEMPLATE.name} lost its `{line}` line (restore it: `git checkout {TEMPLATE.name}`)")
        text = text.replace(f"\n{line}\n", f"\n{value}\n")
    return text


def pack(cfg) -> bytes:
    """src/ and config.toml as a zip (no caches), the same bytes for the same files."""
    out = io.BytesIO()
    root = cfg.root
    files = [root / "config.toml", *sorted((root / "src").rglob("*"))]
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            relative = path.relative_to(root)
            if not path.is_file() or PACKED_SKIP & set(relative.parts) or path.suffix == ".pyc":
                continue
            if any(part.endswith(".egg-info") for part in relative.parts):
                continue
            archive.writestr(zipfile.ZipInfo(relative.as_posix(), ZIP_TIME), path.read_bytes(), zipfile.ZIP_DEFLATED)
    return out.getvalue()


def _weights_file(cfg) -> str:
    """torchvision's file name for the arch's ImageNet weights ('' for timm models)."""
    return weights.weights_file(cfg.model.arch) or ""


def _weights_hint(cfg, name: str) -> str:
    """Why a run with internet off gets no ImageNet weights, and what would bring them."""
    if not name:
        return f"{cfg.model.arch} is not a torchvision model, so no weights file can be attached (use resnet18/34/50)"
    return f"kernel.weights_dataset is empty (upload {name} as a Kaggle dataset and name it there)"


def _weights_plan(cfg, code_competition: bool) -> str:
    """One clause for the push summary: where the ImageNet weights come from on Kaggle."""
    if not cfg.model.pretrained:
        return "random init (model.pretrained = false)"
    if not code_competition:
        return "ImageNet weights downloaded there"
    name = _weights_file(cfg)
    if cfg.kernel.weights_dataset and name:
        return f"ImageNet weights {name} from {cfg.kernel.weights_dataset}"
    return f"trains from RANDOM INIT: {_weights_hint(cfg, name)}"


# ---------------------------------------------------------------------------------------- status


def status(cfg, wait: bool = False) -> str:
    """The kernel's state (and why it failed); with `wait`, check until it finishes."""
    api = kaggle_api.client()
    ref = kernel_ref(cfg, api)
    answer = _status(api, ref)
    pause, started = FIRST_PAUSE, time.monotonic()
    while wait and answer.status.name in UNFINISHED:
        print(f"{ref}: {STATES[answer.status.name]} ({time.monotonic() - started:.0f} s)...", file=sys.stderr)
        time.sleep(pause)
        pause = min(pause * 2, LONGEST_PAUSE)
        answer = _status(api, ref)
    state = answer.status.name
    url = KERNEL_URL.format(ref=ref)
    if state == "ERROR":
        raise ProjectError(
            f"{ref} failed: {answer.failure_message or 'Kaggle gave no reason'} "
            f"(`make kaggle-output` fetches its log; {url} shows it too)"
        )
    said = f"{ref}: {STATES.get(state, state.lower())}"
    if answer.failure_message:
        said += f": {answer.failure_message}"
    if state == "COMPLETE":
        return f"{said} (next: make kaggle-output; {url})"
    if state in UNFINISHED:
        return f"{said} (`make kaggle-status WAIT=1` checks until it finishes; {url})"
    return f"{said} ({url})"


def _status(api, ref: str):
    from kagglesdk.kernels.types.kernels_api_service import ApiGetKernelSessionStatusRequest

    def get():
        request = ApiGetKernelSessionStatusRequest()
        request.user_name, request.kernel_slug = ref.split("/")
        with api.build_kaggle_client() as kaggle:
            return kaggle.kernels.kernels_api_client.get_kernel_session_status(request)

    return _call(f"reading the status of {ref}", get, hints=KERNEL_HINTS)


# ---------------------------------------------------------------------------------------- output


def output(cfg) -> str:
    """Fetch the kernel's outputs and log into a new runs/kaggle-<kernel>-<time>/ folder."""
    started = time.monotonic()
    api = kaggle_api.client()
    ref = kernel_ref(cfg, api)
    files, log = _list_outputs(api, ref)
    if not files and not log:
        return f"{ref}: no outputs yet (`make kaggle-status` says when the run is complete)"
    runs = cfg.root / "runs"
    target = new_folder(runs, "kaggle-" + ref.split("/")[1] + "-{stamp}")
    staging = runs / f".{target.name}.partial"  # the folder appears complete, or not at all
    shutil.rmtree(staging, ignore_errors=True)
    try:
        total = _download_all(ref, files, staging)
        if log:
            write_text(staging / "kernel.log", _log_text(log))
        os.replace(staging, target)  # over the empty folder new_folder reserved
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        with contextlib.suppress(OSError):
            target.rmdir()
        raise
    where = target.relative_to(cfg.root)
    summary = (
        f"fetched {counted(len(files), 'output file')} ({human_bytes(total)}) of {ref} "
        f"into {where}/ in {time.monotonic() - started:.1f} s"
    )
    if (target / "submission.csv").is_file():
        if kaggle_api.competition(api, _slug(cfg)).is_kernels_submissions_only:
            summary += (
                f"; code competition: submit the kernel from {KERNEL_URL.format(ref=ref)} (Submit to competition)"
            )
        else:
            summary += f"; next: make submit FILE={where}/submission.csv"
    return summary


def _list_outputs(api, ref: str) -> tuple[list, str]:
    """Every output file (all pages) and the run's log."""
    from kagglesdk.kernels.types.kernels_api_service import ApiListKernelSessionOutputRequest

    def page(token: str | None):
        request = ApiListKernelSessionOutputRequest()
        request.user_name, request.kernel_slug = ref.split("/")
        request.page_size = PAGE_SIZE
        if token:
            request.page_token = token
        with api.build_kaggle_client() as kaggle:
            return kaggle.kernels.kernels_api_client.list_kernel_session_output(request)

    files, log, token = [], "", None
    while True:
        answer = _call(f"listing the outputs of {ref}", page, token, hints=KERNEL_HINTS)
        files += answer.files or []
        log = log or answer.log or ""
        token = answer.next_page_token
        if not token:
            return files, log


def _download_all(ref: str, files: list, staging: Path) -> int:
    """Download each output file under `staging`; a name that would land outside it is refused."""
    from tqdm.auto import tqdm

    staging.mkdir(parents=True)
    total = 0
    for item in tqdm(files, desc=f"{ref} outputs", unit="file", file=sys.stderr, disable=not files):
        name = item.file_name or ""
        path = (staging / name).resolve()
        inside = path.is_relative_to(staging.resolve()) and path != staging.resolve()
        if not name or Path(name).is_absolute() or not inside:
            raise ProjectError(f"Kaggle listed an output named {name!r}, outside the folder (nothing was kept)")
        _call(f"downloading {name} of {ref}", _download, item.url, path, hints=DOWNLOAD_HINTS)
        total += path.stat().st_size
    return total


def _download(url: str, path: Path) -> None:
    import requests

    with requests.get(url, stream=True, timeout=60) as response:
        response.raise_for_status()
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            for block in response.iter_content(CHUNK):
                handle.write(block)


def _log_text(log: str) -> str:
    """Kaggle's log is a JSON list of {stream_name, time, data}; keep the text, or the raw log."""
    with contextlib.suppress(ValueError, TypeError, AttributeError):
        return "".join(str(entry.get("data", "")) for entry in json.loads(log))
    return log


# ---------------------------------------------------------------------------------------- shared


def _slug(cfg) -> str:
    if not cfg.project.competition:
        raise ProjectError("project.competition is empty in config.toml (set it to the slug, e.g. digit-recognizer)")
    return cfg.project.competition


def _call(action: str, function, *args, hints: dict[int, str]):
    """kaggle_api.call (credentials, retries, one-line errors), with what a 403 or 404 means here."""
    import requests

    def guarded():
        try:
            return function(*args)
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else 0
            if status not in hints:
                raise
            said = exc.response.reason if str(exc).startswith(f"{status} ") else str(exc)  # requests' own text
            raise ProjectError(f"{action}: Kaggle answered {status}: {said} ({hints[status]})") from None

    return kaggle_api.call(action, guarded)
