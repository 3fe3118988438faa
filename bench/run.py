"""make bench: throughput and accuracy ratios, measured side by side in one run (never asserted in tests).

(a) the generated baseline (`train` + `predict` of a freshly baked Kaggle project) against a
    hand-written lesson-1 fastai script (bench/minimal.py: fine_tune, then the test predictions)
    on the same images (the same validation images too), size, epochs, architecture and weights,
    each side in a fresh Python, runs interleaved (--runs; the generated side's seed changes each
    run, the minimal script is unseeded like lesson code): wall time as a ratio of the means (goal:
    at most 1.00), the accuracy gap with its standard error (goal: at least -0.005), and which
    learning rate and augmentation the baseline took;
(b) the generated baseline's training loop fed by its real data pipeline against the same loop
    fed by synthetic tensors already on the device: how much the data side costs, as a ratio;
(c) pixel-CSV -> images conversion: rows/s on digit-recognizer's 42,000 rows;
(d) a table: `make train` and `make predict` of the generated project, run as a user runs them
    (each a fresh Python that imports fastai), on a 1,000-row training table with 10 feature
    columns in a tabular competition's shape: wall times (the goal: train + predict in at most
    20 s on 2 CPU cores), rows/s of fitting and of predicting, and the fastai import they pay;
(e) lr_find's share of `make train` on a table ten times (d)'s, long enough for lr_find to run
    (on shorter fits it does not: the run takes the recipe's rate, as (a) and (d) print).

The data is scikit-learn's 1,797 bundled digits (upscaled to 28x28, as in digit-recognizer) and,
for (d), a seeded scikit-learn classification table, so it runs offline. ImageNet weights need a
download: both sides load the same stand-in (seeded weights in torchvision's cache file, written
by the baked tests' own helper), through the real pretrained path. On a GPU the generated side
applies config.toml's [gpu] settings (precision, channels_last, ...); the minimal script keeps
fastai's defaults, as a newcomer's would.
Every figure is printed with each of its --runs repeats. Other jobs on the machine skew every
figure: (d) prints the load average before and after.

    python bench/run.py                 # CPU default: resnet18 at 64 px; about 11 minutes on 2 cores
    python bench/run.py --size 224 --arch resnet34 --repeat 20    # a GPU
    python bench/run.py --only table    # (d) and (e) alone, about 2 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parents[1]
PIXEL_ROWS = 42_000  # digit-recognizer's train.csv
VALID_SHARE, VALID_SEED = 0.2, 42  # (a): fastai's valid_pct; one set of validation images for every run
TABLE_ROWS, TABLE_FEATURES = 1_000, 10  # (d): training rows, feature columns (9 numbers and a text category)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="resnet18", help="resnet18/34/50 (default: resnet18)")
    parser.add_argument("--size", type=int, default=64, help="image size in pixels (default: 64)")
    parser.add_argument("--epochs", type=int, default=3, help="fine_tune epochs after the frozen one (default: 3)")
    parser.add_argument("--repeat", type=int, default=1, help="use the 1,797 digits N times (default: 1)")
    parser.add_argument("--runs", type=int, default=3, help="repeats of each figure, interleaved (default: 3)")
    parser.add_argument("--steps", type=int, default=20, help="timed batches per side in (b) (default: 20)")
    parser.add_argument("--verbose", action="store_true", help="show fastai's progress bars")
    parser.add_argument("--only", choices=("images", "table"), help="run (a)-(c) on images, or (d)-(e) on tables")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")  # library notices would bury the numbers
    with tempfile.TemporaryDirectory(prefix="mlstarter-bench-") as scratch:
        scratch = Path(scratch)
        pkg, root = bake(scratch)
        started = time.perf_counter()
        table = table_project(pkg, root, scratch / "table")  # before (a) sets [model] for the images
        big = table_project(pkg, root, scratch / "big-table", rows=TABLE_ROWS * 10)
        if args.only != "table":
            parts_images(pkg, root, scratch, args)
        if args.only != "images":
            part_d(pkg, table, args.runs, args.verbose)
            part_e(pkg, big, args.runs)
        print(f"bench: done in {time.perf_counter() - started:.0f} s", flush=True)
    return 0


def parts_images(pkg, root: Path, scratch: Path, args) -> None:
    images, labels = pkg.smoke.digits()
    images, labels = images.repeat(args.repeat, axis=0), labels.repeat(args.repeat)
    project(pkg, root, images, labels, args)
    folders = scratch / "folders"
    pkg.smoke.write_class_folders(folders, images, labels)  # the paper kind's smoke layout
    valid = split_folders(folders, labels, int(len(images) * pkg.smoke.TEST_SHARE))
    torch_home = stand_in_weights(root, scratch / "torch", args.arch)
    plan = pkg.gpu.resolve(pkg.config.load(root / "config.toml").gpu)
    print(
        f"bench: {plan.device} ({_cores()} cores{', ' + plan.gpus[0] if plan.gpus else ''}), {args.arch} "
        f"at {args.size} px, {len(images):,} digits, fine_tune {args.epochs} (+1 frozen) epochs, batch 64, "
        f"the same stand-in weights on both sides (seeded, in {torch_home.name}/: ImageNet's need a download)",
        flush=True,
    )
    cfg = pkg.config.load(root / "config.toml")
    batches = "augmented" if pkg.vision.augments(cfg) else f"no augmentation (AUGMENT_FROM = {pkg.vision.AUGMENT_FROM})"
    fit = f"{pkg.errors.counted(pkg.vision.epochs(cfg, True), 'epoch')}, {batches}"
    print_a(*part_a(pkg, root, folders, valid, torch_home, args), fit)
    cfg = cfg.override("model", lr=2e-3)
    real, synthetic = part_b(pkg, cfg, args)
    print(
        f"(b) training loop: real data {_each(real)} img/s, synthetic tensors {_each(synthetic)} img/s: "
        f"ratio of the means {statistics.mean(real) / statistics.mean(synthetic):.2f} "
        "(1.00 = the data pipeline costs nothing)",
        flush=True,
    )
    seconds = part_c(pkg, scratch, args.runs)
    print(
        f"(c) pixel CSV -> images: {PIXEL_ROWS:,} rows in {_each(seconds, '.2f')} s = "
        f"{_each([PIXEL_ROWS / s for s in seconds], ',.0f')} rows/s",
        flush=True,
    )


def bake(scratch: Path):
    """Bake the default Kaggle project and import its package (the generated code, as users get it)."""
    import importlib
    import subprocess
    import tomllib
    import types

    command = [sys.executable, "-m", "cookiecutter", str(TEMPLATE), "--no-input", "-o", str(scratch), "git_init=no"]
    done = subprocess.run(command, capture_output=True, text=True)  # the hooks print; keep the report clean
    if done.returncode:
        sys.exit(f"bench: baking the template failed:\n{done.stderr[-2000:]}")
    root = scratch / "digit-recognizer"
    sys.path.insert(0, str(root / "src"))
    package = tomllib.loads((root / "config.toml").read_text())["project"]["package"]
    names = {"train": "train", "smoke": "smoke", "vision": "recipes.vision", "predict": "kaggle.predict"}
    names.update({n: f"kit.{n}" for n in ("config", "dataset", "errors", "gpu", "layouts", "quiet", "runs", "weights")})
    return types.SimpleNamespace(**{n: importlib.import_module(f"{package}.{m}") for n, m in names.items()}), root


def project(pkg, root: Path, images, labels, args) -> None:
    """digit-recognizer's layout in the baked project, recorded as `make data` would; [model] as the minimal
    script's (lr 0: the baseline's own choice, which for a fit this short is fine_tune's default 2e-3)."""
    pkg.smoke.write_pixel_csv(root / "data" / "raw", images, labels)
    path = root / "config.toml"
    for key, value in {"arch": args.arch, "size": args.size, "epochs": args.epochs, "bs": 64, "lr": 0.0}.items():
        pkg.config.set_value(path, "model", key, value)
    pkg.layouts.write_to_config(pkg.config.load(path), pkg.layouts.detect(root / "data" / "raw"))


def split_folders(folders: Path, labels, n_test: int) -> list[int]:
    """Move a seeded VALID_SHARE of train/'s images into valid/ (MNIST_SAMPLE's shape, for the minimal
    script); return their positions among the CSV's training rows, the generated side's validation rows."""
    import numpy as np

    rows = len(labels) - n_test  # write_pixel_csv and write_class_folders both put the first n_test in test
    valid = sorted(np.random.default_rng(VALID_SEED).permutation(rows)[: round(rows * VALID_SHARE)].tolist())
    for position in valid:
        name = f"{labels[n_test + position]}/{n_test + position:05d}.png"
        (folders / "valid" / name).parent.mkdir(parents=True, exist_ok=True)
        (folders / "train" / name).rename(folders / "valid" / name)
    return valid


def stand_in_weights(root: Path, torch_home: Path, arch: str) -> Path:
    """torchvision's cache file for `arch` holding seeded weights, written by the baked tests' own helper."""
    sys.path.insert(0, str(root / "tests"))
    import tiny_data

    return tiny_data.seed_weights(torch_home, [arch])


@contextlib.contextmanager
def quiet(verbose: bool):
    if verbose:
        yield
        return
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield


GENERATED = """
import json
from {package} import train
from {package}.kaggle.commands import predict
from {package}.kit import config, runs
cfg = config.load("config.toml")
train.train(cfg, valid={valid})  # the validation rows, as `make train FOLD=k` passes a fold's
predict(cfg)
run = runs.latest(cfg)
m, resolved = runs.read_metrics(run), runs.settings(run)["resolved"]
print(json.dumps({{"accuracy": m["accuracy"], "ips": m["train_images_per_s"], "lr": resolved["lr_from"]}}))
"""


def part_a(pkg, root: Path, folders: Path, valid: list[int], torch_home: Path, args) -> tuple[list, list]:
    """Each side in a fresh Python (one fastai import each): the generated `train` + `predict`, and the minimal
    script's fine_tune + test predictions; interleaved (G M, M G, ...) so a busy machine hurts both alike.
    The generated side's [gpu] seed is the run's number: its runs sample initialisations as the minimal's do."""
    package = pkg.train.__name__.split(".")[0]
    env = {"TORCH_HOME": str(torch_home)}
    script = GENERATED.format(package=package, valid=valid)
    sides = {
        "generated": lambda: _json(root, root / "src", env, "-c", script),
        "minimal": lambda: _json(
            root,
            root / "src",
            env,
            str(Path(__file__).with_name("minimal.py")),
            str(folders),
            "--size",
            str(args.size),
            "--arch",
            args.arch,
            "--epochs",
            str(args.epochs),
        ),
    }
    results = {name: [] for name in sides}
    for i in range(args.runs):
        pkg.config.set_value(root / "config.toml", "gpu", "seed", i + 1)
        for name in sorted(sides, reverse=i % 2 == 1):
            print(f"(a) run {i + 1} of {args.runs}: {name} ...", flush=True)
            results[name].append(sides[name]())
    return results["generated"], results["minimal"]


def _json(folder: Path, src: Path, env: dict, *args: str) -> dict:
    """Run `python ARGS` in `folder`; its last stdout line (JSON) and the wall seconds it took."""
    env = {**os.environ, **env, "PYTHONPATH": os.pathsep.join(filter(None, [str(src), os.environ.get("PYTHONPATH")]))}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, *args], cwd=folder, env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"bench: `python {' '.join(args)[:60]}` failed:\n{done.stderr[-2000:]}")
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "wall": time.perf_counter() - started}


def print_a(generated: list, minimal: list, fit: str) -> None:
    for name, side in (("generated baseline", generated), ("minimal fastai    ", minimal)):
        walls = ", ".join(f"{r['wall']:.1f}" for r in side)
        accuracies = ", ".join(f"{r['accuracy']:.4f}" for r in side)
        print(f"    {name} wall {walls} s; accuracy {accuracies}; train {side[0]['ips']:.0f} img/s")
    ratio = statistics.mean(r["wall"] for r in generated) / statistics.mean(r["wall"] for r in minimal)
    gaps = [g["accuracy"] - m["accuracy"] for g, m in zip(generated, minimal, strict=True)]
    error = f" +/- {statistics.stdev(gaps) / len(gaps) ** 0.5:.4f} (standard error)" if len(gaps) > 1 else ""
    print(
        f"    generated/minimal, means of {len(generated)} interleaved runs: time {ratio:.2f}x (goal <= 1.00), "
        f"accuracy {statistics.mean(gaps):+.4f}{error} (goal >= -0.005); the baseline's fit: {fit}; "
        f"its lr: {generated[0]['lr']}",
        flush=True,
    )


def part_b(pkg, cfg, args) -> tuple[list, list]:
    """The same model, optimiser and precision, fed by the real DataLoader or by ready tensors; --runs of each,
    interleaved."""
    import torch

    print("(b) timing the training loop on real and synthetic batches ...", flush=True)
    with quiet(args.verbose):
        plan = pkg.gpu.apply(cfg.gpu, quiet=True)
        items = pkg.dataset.for_recipe(pkg.dataset.load(pkg.layouts.with_detected(cfg)))  # as train.py reads them
        dls = pkg.vision.dataloaders(cfg, items, "classification", plan.device, plan.workers)
        learn = pkg.vision.learner(dls, cfg, "classification", pretrained=False)
    model = learn.model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)  # plain torch: the same step on both sides
    device = next(model.parameters()).device
    memory = torch.channels_last if plan.channels_last else torch.contiguous_format
    model.to(memory_format=memory)
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(plan.precision)
    scaler = torch.amp.GradScaler("cuda", enabled=plan.precision == "fp16")

    def step(x, y):
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            loss = learn.loss_func(model(x.contiguous(memory_format=memory)), y)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)

    def timed(batches) -> float:
        seen, start = 0, None
        for i, (x, y) in enumerate(batches):
            if i == 2:  # two warm-up steps: allocator, cuDNN autotuning, first worker start
                _sync(device)
                start = time.perf_counter()
            if i >= 2:
                seen += len(y)
            step(x, y)
            if i >= args.steps + 1:
                break
        _sync(device)
        return seen / (time.perf_counter() - start)

    def real():
        while True:
            yield from dls.train

    x = torch.randn(dls.train.bs, 3, cfg.model.size, cfg.model.size, device=device)
    y = torch.randint(0, dls.c, (dls.train.bs,), device=device)
    sides = {"real": lambda: timed(real()), "synthetic": lambda: timed(iter(lambda: (x, y), None))}
    results = {name: [] for name in sides}
    for i in range(args.runs):
        for name in sorted(sides, reverse=i % 2 == 1):
            results[name].append(sides[name]())
    return results["real"], results["synthetic"]


def part_c(pkg, scratch: Path, runs: int) -> list[float]:
    """digit-recognizer's 42,000 rows of 784 pixels, read and turned into images `runs` times: the seconds."""
    import numpy as np
    import pandas as pd

    print(f"(c) writing a {PIXEL_ROWS:,}-row pixel CSV ...", flush=True)
    images, labels = pkg.smoke.digits()
    picks = np.random.default_rng(0).integers(0, len(images), PIXEL_ROWS)
    frame = pd.DataFrame(images[picks].reshape(PIXEL_ROWS, -1), columns=[f"pixel{i}" for i in range(784)])
    frame.insert(0, "label", labels[picks])
    path = scratch / "train.csv"
    frame.to_csv(path, index=False)
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        converted, _, _ = pkg.layouts.read_pixel_csv(path, "label")
        seconds.append(time.perf_counter() - started)
        assert converted.shape == (PIXEL_ROWS, 28, 28, 3)
    return seconds


def table_project(pkg, root: Path, folder: Path, rows: int = TABLE_ROWS) -> Path:
    """A tabular competition beside the baked project: its config.toml as baked, `rows` training rows
    (and a quarter as many test rows) written like make smoke's table, [data] recorded as `make data` would."""
    import pandas as pd
    from sklearn.datasets import make_classification

    folder.mkdir(parents=True)
    shutil.copy(root / "config.toml", folder / "config.toml")
    rows = round(rows / (1 - pkg.smoke.TEST_SHARE))
    xs, ys = make_classification(rows, TABLE_FEATURES - 1, n_informative=5, random_state=0)
    pkg.smoke.write_table(
        folder / "data" / "raw", pkg.smoke.competition_table(pd.DataFrame(xs).add_prefix("x"), "target", ys)
    )
    cfg = pkg.config.load(folder / "config.toml")
    pkg.layouts.write_to_config(cfg, pkg.layouts.detect(cfg.raw))
    return folder


def part_d(pkg, folder: Path, runs: int, verbose: bool) -> None:
    """`make train` then `make predict` in the table's project, each a fresh process (the wall time a user
    waits), `runs` times; fastai's imports timed alone (each command pays one); predicting again in this
    process for rows/s."""
    import pandas as pd

    package = pkg.train.__name__.split(".")[0]
    src = Path(pkg.train.__file__).parents[1]
    cfg = pkg.config.load(folder / "config.toml")
    print(
        f"(d) table: {TABLE_ROWS:,} training rows, {TABLE_FEATURES} feature columns, [model] as baked "
        f"(epochs {cfg.model.epochs}, lr {cfg.model.lr or 'lr_find'}, batch {cfg.model.bs}), {_cores()} cores, "
        f"load average {os.getloadavg()[0]:.1f} ...",
        flush=True,
    )
    imports = {
        name: _command(folder, src, "-c", f"import {name}") for name in ("fastai.vision.all", "fastai.tabular.all")
    }
    walls, fits = {"train": [], "predict": []}, []
    for _ in range(runs):
        for command in walls:
            walls[command].append(_command(folder, src, "-m", package, command))
        fits.append(pkg.runs.read_metrics(pkg.runs.latest(cfg))["train_items_per_s"])
    metrics = pkg.runs.read_metrics(pkg.runs.latest(cfg))
    with quiet(verbose):
        pkg.quiet.fastai_for("tabular")
        started = time.perf_counter()
        pkg.predict.predict(cfg)
        predicted = time.perf_counter() - started
    tests = len(pd.read_csv(cfg.raw / cfg.data.test))
    both = [t + p for t, p in zip(walls["train"], walls["predict"], strict=True)]
    print(
        f"    make train   {_each(walls['train'])} s wall: fit {_each(fits, ',.0f')} rows/s over "
        f"{metrics['fit_epochs']:.0f} epochs, valid accuracy {metrics['accuracy']:.3f}\n"
        f"    make predict {_each(walls['predict'])} s wall: {tests:,} test rows, {tests / predicted:,.0f} rows/s "
        f"({predicted:.2f} s once fastai is imported)\n"
        f"    train + predict {_each(both)} s wall (goal: at most 20 s on 2 cores); each command starts "
        f"Python and imports fastai: {', '.join(f'{n} {t:.1f} s' for n, t in imports.items())} "
        f"(alone); load average now {os.getloadavg()[0]:.1f}",
        flush=True,
    )


def part_e(pkg, folder: Path, runs: int) -> None:
    """`make train` (a fresh process) `runs` times on the big table: lr_find's seconds against the wall time the
    user waits, and against the seconds once fastai is imported (train's own clock)."""
    package = pkg.train.__name__.split(".")[0]
    src = Path(pkg.train.__file__).parents[1]
    cfg = pkg.config.load(folder / "config.toml")
    print(f"(e) lr_find's share of make train on {TABLE_ROWS * 10:,} training rows, {runs} runs ...", flush=True)
    for _ in range(runs):
        wall = _command(folder, src, "-m", package, "train")
        run = pkg.runs.latest(cfg)
        metrics, source = pkg.runs.read_metrics(run), pkg.runs.settings(run)["resolved"]["lr_from"]
        searched, inside = metrics["lr_find_seconds"], metrics["seconds"]
        print(
            f"    lr_find {searched:.1f} s of {wall:.1f} s wall = {searched / wall:.0%} "
            f"({searched / inside:.0%} of train's {inside:.1f} s once fastai is imported; {source})",
            flush=True,
        )


def _each(values: list[float], spec: str = ".1f") -> str:
    """Every repeat of a figure, in the order measured: '9.4, 9.8, 9.1'."""
    return ", ".join(format(v, spec) for v in values)


def _command(folder: Path, src: Path, *args: str) -> float:
    """Seconds `python ARGS` takes in `folder` with the baked package importable; exits on failure."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(src), os.environ.get("PYTHONPATH")]))}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, *args], cwd=folder, env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"bench: `python {' '.join(args)}` failed:\n{done.stderr[-2000:]}")
    return time.perf_counter() - started


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


if __name__ == "__main__":
    sys.exit(main())
