"""make doctor: one table of what this machine offers, then one line per problem with its fix.

Python, torch and its CUDA build against the NVIDIA driver, each GPU's memory, bf16,
the [gpu] settings as they will apply here, disk space, Kaggle credentials (where
they were found; never their value; one real call proves Kaggle takes them, since the client
never checks a legacy key itself), the cached ImageNet weights checked against torchvision's
published hash prefix (torch never re-checks a cached file), the data and the runs. It reads
only: nothing is downloaded or written.
"""

from __future__ import annotations

import ctypes
import re
import shutil
import subprocess
import sys
from importlib import metadata

from . import gpu, kaggle_api, layouts, runs, weights
from .errors import ProjectError
from .files import sha256

GIB = 1024**3
MIN_FREE_GIB = 5
HASHED = re.compile(r".*-([0-9a-f]{8,64})\.(pth|pt)")  # torchvision names files <name>-<sha256 prefix>.pth


class Report:
    """Rows of the table, and the problems with their fixes."""

    def __init__(self):
        self.rows, self.problems = [], []

    def add(self, check: str, value: str, problem: str | None = None, note: bool = False) -> None:
        self.rows.append((check, value, "PROBLEM" if problem else ("note" if note else "ok")))
        if problem:
            self.problems.append(problem)

    def render(self) -> str:
        width = max(len(check) for check, _, _ in self.rows)
        lines = [f"{'check':<{width}}  {'status':<7}  value", f"{'-' * width}  -------  -----"]
        lines += [f"{check:<{width}}  {status:<7}  {value}" for check, value, status in self.rows]
        if self.problems:
            lines += ["", f"{len(self.problems)} problem(s), each with its fix:"]
            lines += [f"- {problem}" for problem in self.problems]
            lines.append(f"doctor: {len(self.problems)} problem(s) found")
        else:
            lines += ["", "doctor: no problems found"]
        return "\n".join(lines)


def doctor(cfg) -> str:
    """The table of checks and the problems found, as text to print."""
    report = Report()
    _python(report)
    cuda_build = _torch(report)
    _driver(report, cuda_build)
    _gpus(report)
    _settings(report, cfg)
    _disk(report, cfg)
    blocked = _kaggle(report, cfg)
    _weights(report, cfg)
    _data(report, cfg, blocked)
    _runs(report, cfg)
    return report.render()


def _python(report: Report) -> None:
    version = sys.version.split()[0]
    problem = None if sys.version_info >= (3, 11) else f"Python {version} is too old (use Python 3.11 or newer)"
    report.add("python", f"{version} ({sys.executable})", problem)


def _torch(report: Report) -> str | None:
    try:
        import torch
    except ImportError:
        report.add("torch", "not installed", "torch is not installed (run `make setup`)")
        return None
    build = torch.version.cuda
    report.add("torch", f"{torch.__version__} ({'CUDA ' + build + ' build' if build else 'CPU-only build'})")
    for name in ("torchvision", "fastai", "timm", "accelerate"):
        try:
            report.add(name, metadata.version(name))
        except metadata.PackageNotFoundError:
            report.add(name, "not installed", f"{name} is not installed (run `make setup`)")
    return build


def driver_cuda_version() -> str | None:
    """The newest CUDA the installed NVIDIA driver supports (e.g. "12.8"), None without a driver."""
    for name in ("libcuda.so.1", "libcuda.so", "nvcuda.dll", "libcuda.dylib"):
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        version = ctypes.c_int()
        if lib.cuDriverGetVersion(ctypes.byref(version)) == 0 and version.value:
            return f"{version.value // 1000}.{version.value % 1000 // 10}"
    return None


def _driver(report: Report, build: str | None) -> None:
    supported = driver_cuda_version()
    if supported is None:
        report.add("NVIDIA driver", "none found: training runs on the CPU", note=True)
        return
    value = f"supports CUDA up to {supported}"
    if build is None:
        fix = "install a CUDA build of torch: https://pytorch.org/get-started/locally/"
        report.add("NVIDIA driver", value, f"this torch is CPU-only but the machine has an NVIDIA driver ({fix})")
    elif _major(supported) < _major(build):
        report.add(
            "NVIDIA driver",
            f"{value}; torch needs {build}",
            f"the NVIDIA driver supports CUDA {supported} but torch was built for CUDA {build} (update the driver, "
            f"or install a torch built for CUDA {supported}: https://pytorch.org/get-started/locally/)",
        )
    else:
        report.add("NVIDIA driver", f"{value}; torch built for {build}")


def gpu_table() -> list[dict]:
    """Every GPU the driver sees: index, name, memory used/free/total (MiB), compute capability."""
    if shutil.which("nvidia-smi"):
        fields = "index,name,memory.used,memory.free,memory.total,compute_cap"
        done = subprocess.run(
            ["nvidia-smi", f"--query-gpu={fields}", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if done.returncode == 0:
            table = []
            for line in done.stdout.strip().splitlines():
                index, name, used, free, total, cap = [part.strip() for part in line.split(",")]
                table.append(
                    {
                        "index": index,
                        "name": name,
                        "used": float(used),
                        "free": float(free),
                        "total": float(total),
                        "cap": cap,
                    }
                )
            return table
    import torch

    if not torch.cuda.is_available():
        return []
    table = []
    for i in range(torch.cuda.device_count()):
        free, total = torch.cuda.mem_get_info(i)
        major, minor = torch.cuda.get_device_capability(i)
        name = torch.cuda.get_device_name(i)
        mib = 1024**2
        table.append(
            {
                "index": str(i),
                "name": name,
                "used": (total - free) / mib,
                "free": free / mib,
                "total": total / mib,
                "cap": f"{major}.{minor}",
            }
        )
    return table


def _gpus(report: Report) -> None:
    try:
        table = gpu_table()
    except (OSError, ValueError, subprocess.SubprocessError) as exc:
        report.add("GPUs", f"cannot list them: {exc}", note=True)
        return
    if not table:
        report.add("GPUs", "none", note=True)
        return
    for row in table:
        bf16 = "bf16 yes" if _major(row["cap"]) >= 8 else "bf16 no (fp16 instead)"
        value = (
            f"{row['name']}: {row['used'] / 1024:.1f} GiB used, {row['free'] / 1024:.1f} GiB free "
            f"of {row['total'] / 1024:.1f}; {bf16}"
        )
        problem = None
        if row["total"] and row["used"] / row["total"] > 0.5:
            problem = (
                f"GPU {row['index']} is {row['used'] / row['total']:.0%} used by other processes "
                '(pick another with gpu.devices = "N", or cap each process with gpu.memory_fraction)'
            )
        report.add(f"GPU {row['index']}", value, problem)


def _settings(report: Report, cfg) -> None:
    try:
        plan = gpu.resolve(cfg.gpu)
    except ProjectError as exc:
        report.add("settings", "invalid [gpu] table", str(exc))
        return
    report.add("settings", plan.line().removeprefix("gpu: "))


def _disk(report: Report, cfg) -> None:
    free = shutil.disk_usage(cfg.root).free / GIB
    problem = None
    if free < MIN_FREE_GIB:
        problem = f"only {free:.1f} GiB free at {cfg.root} (free {MIN_FREE_GIB} GiB or more: data, weights and runs)"
    report.add("disk free", f"{free:.1f} GiB at {cfg.root}", problem)


def _kaggle(report: Report, cfg) -> str:
    """The login, proved by one authenticated call, and the competition; returns why Kaggle would
    refuse `make data`, in a few words ("" when it would not, or when that could not be asked)."""
    needed = cfg.kind == "kaggle" or cfg.data.dataset.startswith("kaggle:")
    found = kaggle_api.find_credentials()
    blocked = ""
    if found:
        blocked = _signed_in(report, cfg, found)
        for path in kaggle_api.exposed():  # a key that others on this machine can read is as good as published
            report.add(
                "kaggle secret",
                f"{path} is readable by other users",
                f"{path} holds your Kaggle secret and other users of this machine can read it (run: chmod 600 {path})",
            )
    elif needed:
        report.add("kaggle login", "none found", kaggle_api.NO_CREDENTIALS)
    else:
        report.add("kaggle login", "none found (only needed for kaggle: datasets)", note=True)
    return blocked if needed else ""


def _signed_in(report: Report, cfg, found: str) -> str:
    slug = cfg.project.competition if cfg.kind == "kaggle" else ""
    try:
        api = kaggle_api.client()
        if slug:
            competition = kaggle_api.competition(api, slug)
        else:
            kaggle_api.call("checking the Kaggle login", api.competitions_list)
    except ProjectError as exc:
        status = getattr(exc, "status", None)
        if status == 401:
            report.add("kaggle login", f"{found}: Kaggle refused it", str(exc))
            return "Kaggle refuses your login"
        if status in (403, 404):
            report.add("kaggle login", f"{found}: Kaggle accepted it")
            report.add("competition", f"{slug}: {'not found' if status == 404 else 'refused'}", str(exc))
            return f"Kaggle {'has no competition' if status == 404 else 'refuses access to'} {slug}"
        report.add("kaggle login", f"{found}: not checked ({exc})", note=True)  # offline, or Kaggle is down
        return ""
    except ImportError as exc:
        report.add("kaggle login", f"{found}: not checked", f"{exc.name or exc} is not installed (run `make setup`)")
        return ""
    report.add("kaggle login", f"{found}: Kaggle accepted it")
    if slug and not competition.user_has_entered:
        report.add(
            "competition",
            f"{slug}: not joined yet",
            f"you have not joined {slug} yet, so Kaggle refuses its files and submissions "
            f"(accept the rules at {kaggle_api.rules_url(slug)}, then run `make data`)",
        )
        return f"you have not joined {slug}"
    if slug:
        report.add("competition", f"{slug}: joined")
    return ""


def _weights(report: Report, cfg) -> None:
    cache = weights.cache()
    files = sorted(cache.glob("*.pt*")) if cache.is_dir() else []
    wanted = weights.weights_file(cfg.model.arch)
    if wanted and not (cache / wanted).is_file():
        report.add("weights", f"{wanted} not cached: the first `make train` downloads it into {cache}", note=True)
    if not files:
        report.add("weights cache", f"{cache}: empty", note=True)
    for path in files:
        match = HASHED.fullmatch(path.name)
        size = f"{path.stat().st_size / 1024**2:.0f} MiB"
        if not match:
            report.add("weights cache", f"{path.name} ({size}): no hash in the name to check", note=True)
            continue
        prefix = match.group(1)
        if sha256(path).startswith(prefix):
            report.add("weights cache", f"{path.name} ({size}): matches its published hash")
        else:
            report.add(
                "weights cache",
                f"{path.name} ({size}): does NOT match its published hash {prefix}",
                f"{path} is not torchvision's file, damaged or replaced (delete it; `make train` downloads it again)",
            )


def _data(report: Report, cfg, blocked: str = "") -> None:
    """`blocked`: why Kaggle would refuse `make data`, the reason to give when there is no data."""
    raw = cfg.raw
    left = list(raw.iterdir()) if raw.is_dir() else []
    if not any(not path.name.startswith(".") for path in left):  # hidden: what an unfinished download left
        if blocked:
            problem = f"no data in {raw}: `make data` cannot fetch it while {blocked} (fix that first, as said above)"
        elif left:
            problem = f"no data in {raw}: the last `make data` stopped before any file arrived (run `make data` again)"
        else:
            problem = f"no data in {raw} (run `make data`)"
        report.add("data", f"none in {raw}", problem)
        return
    if cfg.data.layout == "auto":
        try:
            found = layouts.detect(raw)
        except ProjectError as exc:
            report.add("data", "present, layout unknown", str(exc))
            return
        report.add("data", f"{layouts.describe(found)} (not recorded yet: `make data` records it)", note=True)
        return
    missing = [
        key
        for key in ("train", "test", "sample")
        if getattr(cfg.data, key) and not (raw / getattr(cfg.data, key)).exists()
    ]
    problem = None
    if missing:
        value = getattr(cfg.data, missing[0])
        problem = f"data.{missing[0]} = {value!r} is not in {raw} (run `make data`, or fix config.toml)"
    report.add("data", layouts.describe({k: getattr(cfg.data, k) for k in layouts.KEYS}), problem)


def _runs(report: Report, cfg) -> None:
    rows = runs.read_index(cfg)
    if not rows:
        report.add("runs", "none yet (`make train`)", note=True)
        return
    done = [row for row in rows if row.get("status") == "finished"]
    other = len(rows) - len(done)
    latest = f", latest {done[-1]['run']} (accuracy {done[-1].get('accuracy') or '?'})" if done else ""
    report.add(
        "runs", f"{len(done)} finished{latest}" + (f", {other} unfinished (skipped by predict)" if other else "")
    )


def _major(version: str) -> int:
    try:
        return int(str(version).split(".")[0])
    except ValueError:
        return 0
