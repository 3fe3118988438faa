"""GPU settings in one place: config.toml's [gpu] table, resolved and applied before CUDA starts.

`apply(cfg.gpu)` runs first in every command that trains or predicts: it chooses the
visible devices (CUDA reads CUDA_VISIBLE_DEVICES only once, when it starts), caps
each process's share of the card, picks the precision, sets cuDNN/TF32 switches,
seeds everything and prints ONE line saying what applies. On a machine without a
GPU the same call degrades to the CPU with that one line and no warnings.

Multi-GPU: `make train GPUS=2` runs the same train command once per GPU through
`accelerate launch`; fastai's `distrib_ctx` (train.py) does the rest.
"""

from __future__ import annotations

import dataclasses
import os
import random
import warnings
from dataclasses import dataclass

from .errors import ProjectError

# The environment variables a launcher (accelerate, torchrun) sets in each process it starts.
LAUNCHED = ("LOCAL_RANK", "ACCELERATE_PROCESS_INDEX")
PRECISIONS = {"fp32": "fp32", "fp16": "fp16", "bf16": "bf16"}  # config value -> what runs ("auto" resolves)
_announced = []  # the one line is printed once per process, even when train and predict share it


@dataclass(frozen=True)
class Plan:
    """What will actually run, resolved from [gpu] and this machine."""

    device: str  # "cuda" or "cpu"
    gpus: tuple[str, ...]  # names of the visible GPUs
    visible: str | None  # the CUDA_VISIBLE_DEVICES value set by us (None: left as it was)
    precision: str  # fp32 | fp16 | bf16
    channels_last: bool
    cudnn_benchmark: bool
    tf32: bool
    memory_fraction: float
    workers: int
    seed: int
    deterministic: bool
    notes: tuple[str, ...] = ()  # settings that could not apply here, and why

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    def line(self) -> str:
        """The one line printed when the settings apply."""
        if self.device == "cpu":
            skipped = f" ({'; '.join(self.notes)})" if self.notes else ""
            return f"gpu: no CUDA GPU here: CPU, fp32, {self.workers} workers, seed {self.seed}{skipped}"
        names = ", ".join(sorted(set(self.gpus)))
        parts = [f"{len(self.gpus)}x {names}", self.precision]
        switches = {
            "channels_last": self.channels_last,
            "tf32": self.tf32,
            "cudnn.benchmark": self.cudnn_benchmark,
            "deterministic": self.deterministic,
        }
        parts += [name for name, on in switches.items() if on]
        if self.memory_fraction:
            parts.append(f"memory cap {self.memory_fraction:.0%} per process")
        parts += [f"{self.workers} workers", f"seed {self.seed}"]
        extra = f" ({'; '.join(self.notes)})" if self.notes else ""
        return "gpu: " + ", ".join(parts) + extra


def parse_devices(devices: str) -> str | None:
    """[gpu] devices -> the CUDA_VISIBLE_DEVICES value to set ("" hides every GPU; None leaves it)."""
    value = devices.strip().lower()
    if value == "auto":
        return None
    if value == "cpu":
        return ""
    ids = [part.strip() for part in value.split(",")]
    if not all(part.isdigit() for part in ids) or len(set(ids)) != len(ids):
        raise ProjectError(f'config.toml: gpu.devices = "{devices}" is not "auto", "cpu" or GPU ids like "0" or "0,1"')
    return ",".join(ids)


def parse_workers(workers: str, device: str, processes: int = 1) -> int:
    """[gpu] workers -> a dataloader worker count. "auto": 0 on a CPU (the training loop
    already uses every core; workers would only fight it), else the cores each GPU process gets, at most 8."""
    value = str(workers).strip().lower()
    if value == "auto":
        if device == "cpu":
            return 0
        return max(1, min(8, _cpu_count() // max(1, processes)))
    if value.isdigit():
        return int(value)
    raise ProjectError(f'config.toml: gpu.workers = "{workers}" is not "auto" or a count like "4"')


def resolve(
    settings, *, cuda: bool | None = None, gpus: tuple[str, ...] | None = None, bf16: bool | None = None
) -> Plan:
    """Decide what applies, without changing anything. The keyword arguments describe the
    machine (tests and `make doctor` pass them); by default they are read from torch."""
    visible = parse_devices(settings.devices)
    if cuda is None:
        cuda, gpus, bf16 = _probe(visible)
    gpus = tuple(gpus or ())
    notes = []
    if cuda and gpus:
        precision = settings.precision
        if precision == "auto":
            precision = "bf16" if bf16 else "fp16"
        elif precision == "bf16" and not bf16:
            notes.append("this GPU has no bf16: fp16 instead")
            precision = "fp16"
        benchmark = settings.cudnn_benchmark and not settings.deterministic
        if settings.cudnn_benchmark and settings.deterministic:
            notes.append("deterministic turns cudnn.benchmark off")
        processes = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
        return Plan(
            device="cuda",
            gpus=gpus,
            visible=visible,
            precision=PRECISIONS[precision],
            channels_last=settings.channels_last,
            cudnn_benchmark=benchmark,
            tf32=settings.tf32,
            memory_fraction=settings.memory_fraction,
            workers=parse_workers(settings.workers, "cuda", processes),
            seed=settings.seed,
            deterministic=settings.deterministic,
            notes=tuple(notes),
        )
    if visible == "":
        notes.append('gpu.devices = "cpu"')
    elif visible:
        notes.append(f'gpu.devices = "{visible}" but no GPU is visible')
    elif settings.precision in ("fp16", "bf16"):
        notes.append(f"{settings.precision} needs a GPU")
    return Plan(
        device="cpu",
        gpus=(),
        visible=visible,
        precision="fp32",
        channels_last=False,
        cudnn_benchmark=False,
        tf32=False,
        memory_fraction=0.0,
        workers=parse_workers(settings.workers, "cpu"),
        seed=settings.seed,
        deterministic=settings.deterministic,
        notes=tuple(notes),
    )


def apply(settings, *, quiet: bool = False) -> Plan:
    """Apply [gpu] to this process before anything touches CUDA; print the one line; return the plan."""
    visible = parse_devices(settings.devices)
    if visible is not None and not launched():
        # a launcher already gave each process its devices; otherwise ours win over the shell's
        os.environ["CUDA_VISIBLE_DEVICES"] = visible
    if settings.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS reads it when it starts
    plan = resolve(settings)
    world = int(os.environ.get("WORLD_SIZE", "1")) if launched() else 1
    if world > len(plan.gpus) and world > 1:  # `make train GPUS=N` on a machine with fewer
        raise ProjectError(
            f"GPUS={world} but this machine has {len(plan.gpus)} usable CUDA GPUs "
            "(leave GPUS out; `make doctor` lists them)"
        )
    import numpy as np
    import torch

    random.seed(plan.seed)
    np.random.seed(plan.seed % 2**32)
    torch.manual_seed(plan.seed)  # seeds every GPU too
    if plan.deterministic or torch.are_deterministic_algorithms_enabled():  # the call imports torch's compiler: 2 s
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # some ops have no deterministic kernel: one warning each is noise
            torch.use_deterministic_algorithms(plan.deterministic, warn_only=True)
    torch.backends.cudnn.deterministic = plan.deterministic
    torch.backends.cudnn.benchmark = plan.cudnn_benchmark
    if plan.device == "cuda":
        _set_tf32(torch, plan.tf32)
        if launched():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        if plan.memory_fraction:
            torch.cuda.set_per_process_memory_fraction(plan.memory_fraction, torch.cuda.current_device())
    if not quiet and not _announced and is_main():
        print(plan.line(), flush=True)
        _announced.append(plan.line())
    return plan


def launched() -> bool:
    """True inside a process started by `accelerate launch` (or torchrun)."""
    return any(name in os.environ for name in LAUNCHED)


def is_main() -> bool:
    """Only the first process writes records and prints; the others train in step with it."""
    return os.environ.get("RANK", os.environ.get("ACCELERATE_PROCESS_INDEX", "0")) in ("0", "")


def _probe(visible: str | None) -> tuple[bool, tuple[str, ...], bool]:
    """(CUDA usable, GPU names, bf16 supported) without warnings."""
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an old driver makes is_available() warn; doctor explains it instead
        if visible == "" or not torch.cuda.is_available():
            return False, (), False
        names = tuple(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
        bf16 = all(torch.cuda.get_device_capability(i)[0] >= 8 for i in range(len(names)))
    return True, names, bf16


def _set_tf32(torch, on: bool) -> None:
    backends = torch.backends
    if hasattr(backends.cuda.matmul, "fp32_precision"):  # torch >= 2.9: the old switches are deprecated
        backends.cuda.matmul.fp32_precision = "tf32" if on else "ieee"
        backends.cudnn.conv.fp32_precision = "tf32" if on else "ieee"
    else:
        backends.cuda.matmul.allow_tf32 = on
        backends.cudnn.allow_tf32 = on


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1
