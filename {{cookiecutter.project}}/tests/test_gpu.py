"""gpu: config.toml's [gpu] resolves to what runs here, applies with one line, and launches several GPUs."""

import dataclasses
import os
import subprocess
import warnings

import pytest
import torch
from conftest import PACKAGE, ROOT, module, run_cli

gpu = module("kit.gpu")
config = module("kit.config")
ProjectError = module("kit.errors").ProjectError

A100 = {"cuda": True, "gpus": ("NVIDIA A100-SXM4-40GB",), "bf16": True}
T4 = {"cuda": True, "gpus": ("Tesla T4", "Tesla T4"), "bf16": False}


@pytest.fixture
def settings(project):
    return config.load(project / "config.toml").gpu


def test_on_this_cpu_machine_the_settings_degrade_to_cpu_fp32(settings):
    """No GPU here: whatever [gpu] asks, training runs on the CPU in fp32 with no GPU-only switch on."""
    plan = gpu.resolve(dataclasses.replace(settings, precision="bf16"))
    assert (plan.device, plan.precision, plan.gpus) == ("cpu", "fp32", ())
    assert not (plan.channels_last or plan.cudnn_benchmark or plan.tf32 or plan.memory_fraction)
    assert plan.workers == 0, "auto workers on a CPU: the training loop already uses every core"
    assert plan.seed == settings.seed
    assert plan.notes == ("bf16 needs a GPU",)


@pytest.mark.parametrize(
    "machine, precision, expected",
    [
        (A100, "auto", "bf16"),
        (T4, "auto", "fp16"),
        (T4, "bf16", "fp16"),
        (A100, "fp32", "fp32"),
        (A100, "fp16", "fp16"),
    ],
)
def test_precision_resolves_to_what_the_gpu_supports(settings, machine, precision, expected):
    """auto means bf16 where the card has it (Ampere and newer), else fp16; bf16 on a T4 falls back."""
    plan = gpu.resolve(dataclasses.replace(settings, precision=precision), **machine)
    assert plan.device == "cuda" and plan.precision == expected
    assert ("this GPU has no bf16: fp16 instead" in plan.notes) == (machine is T4 and precision == "bf16")


def test_gpu_switches_follow_the_config(settings):
    """channels_last, TF32, the memory cap and workers come from [gpu]; deterministic wins over benchmark."""
    chosen = dataclasses.replace(
        settings, channels_last=False, tf32=False, memory_fraction=0.4, workers="3", deterministic=True
    )
    plan = gpu.resolve(chosen, **A100)
    assert (plan.channels_last, plan.tf32, plan.memory_fraction, plan.workers) == (False, False, 0.4, 3)
    assert plan.deterministic and not plan.cudnn_benchmark
    assert "deterministic turns cudnn.benchmark off" in plan.notes
    line = plan.line()
    assert line.startswith("gpu: 1x NVIDIA A100-SXM4-40GB, bf16") and "memory cap 40% per process" in line
    auto = gpu.resolve(dataclasses.replace(settings, workers="auto"), **T4)
    assert 1 <= auto.workers <= 8


@pytest.mark.parametrize(
    "devices, visible", [("auto", None), ("cpu", ""), ("0", "0"), (" 0, 1 ", "0,1"), ("2,3", "2,3")]
)
def test_devices_become_a_cuda_visible_devices_value(devices, visible):
    """devices lists GPU ids like CUDA_VISIBLE_DEVICES; "cpu" hides them all; "auto" leaves the shell's choice."""
    assert gpu.parse_devices(devices) == visible


@pytest.mark.parametrize("devices", ["gpu0", "0,0", "1;2", ""])
def test_bad_devices_and_workers_name_the_fix(devices):
    """A typo here would silently train on the wrong card."""
    with pytest.raises(ProjectError, match='gpu.devices = ".*" is not "auto", "cpu" or GPU ids'):
        gpu.parse_devices(devices)
    with pytest.raises(ProjectError, match='gpu.workers = "many" is not "auto" or a count like "4"'):
        gpu.parse_workers("many", "cpu")


def test_apply_on_the_cpu_prints_one_line_and_no_warnings(settings, monkeypatch, capsys):
    """The CPU path must be quiet: one line saying what applies, no warning spam."""
    monkeypatch.setattr(gpu, "_announced", [])
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    chosen = dataclasses.replace(settings, devices="cpu", precision="fp16", seed=1234, deterministic=True)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            plan = gpu.apply(chosen)
            gpu.apply(chosen)  # a second command in the same process (smoke: train, then predict)
        assert os.environ["CUDA_VISIBLE_DEVICES"] == ""
        assert torch.initial_seed() == 1234
        assert torch.are_deterministic_algorithms_enabled() and torch.backends.cudnn.deterministic
    finally:
        torch.use_deterministic_algorithms(False)
        torch.backends.cudnn.deterministic = False
    assert plan.device == "cpu"
    assert [str(w.message) for w in caught] == []
    out = capsys.readouterr().out
    assert out == 'gpu: no CUDA GPU here: CPU, fp32, 0 workers, seed 1234 (gpu.devices = "cpu")\n'


def test_two_gpus_launch_through_accelerate_with_the_same_command():
    """`make train GPUS=2` runs this very CLI once per GPU; accelerate's own parser must accept the line."""
    import shlex

    from accelerate.commands.launch import launch_command_parser

    shown = subprocess.run(
        ["make", "-n", "train", "GPUS=2", "EPOCHS=2", "PYTHON=python"], cwd=ROOT, capture_output=True, text=True
    )
    command = shlex.split(shown.stdout.replace("\\\n", " "))
    assert command[:3] == ["python", "-m", "accelerate.commands.launch"], shown.stdout
    parsed = launch_command_parser().parse_args(command[3:])
    assert parsed.multi_gpu and parsed.num_processes == 2
    assert parsed.module and parsed.training_script == PACKAGE
    assert parsed.training_script_args == ["train", "--epochs", "2"]
    assert parsed.mixed_precision == "no", "fastai's callbacks own the precision, not accelerate"


def test_gpus_on_a_machine_without_them_is_one_line_error(project):
    """make train GPUS=2 on a laptop: each launched process says there are no GPUs, in one line."""
    done = run_cli("train", cwd=project, env={"LOCAL_RANK": "0", "WORLD_SIZE": "2"})
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: GPUS=2 but this machine has 0 usable CUDA GPUs")
    assert len(done.stderr.strip().splitlines()) == 1
