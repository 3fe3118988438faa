"""make bench: throughput and accuracy ratios, measured side by side in one run (never asserted in tests).

(a) the generated baseline (`train` of a freshly baked Kaggle project) against a hand-written
    lesson-1 fastai script (bench/minimal.py) on the same images at the same size: training
    images/s and final validation accuracy, as ratios;
(b) the generated baseline's training loop fed by its real data pipeline against the same loop
    fed by synthetic tensors already on the device: how much the data side costs, as a ratio;
(c) pixel-CSV -> images conversion: rows/s on digit-recognizer's 42,000 rows;
(d) a table: `make train` and `make predict` of the generated project, run as a user runs them
    (each a fresh Python that imports fastai), on a 1,000-row training table with 10 feature
    columns in a tabular competition's shape: wall times (the goal: train + predict in at most
    20 s on 2 CPU cores), rows/s of fitting and of predicting, and the fastai import they pay.

The data is scikit-learn's 1,797 bundled digits (upscaled to 28x28, as in digit-recognizer) and,
for (d), a seeded scikit-learn classification table, so it runs offline. ImageNet weights come
from torchvision's cache when they are there; otherwise both sides start from the same random
init, and the report says so. On a GPU the generated side applies config.toml's [gpu] settings
(precision, channels_last, ...); the minimal script keeps fastai's defaults, as a newcomer's would.
Other jobs on the machine skew every figure: (d) prints the load average before and after.

    python bench/run.py                 # CPU default: resnet18 at 64 px; about 3 minutes on 2 cores, (d) included
    python bench/run.py --size 224 --arch resnet34 --repeat 20    # a GPU
    python bench/run.py --only table    # (d) alone, about a minute on 2 cores
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parents[1]
PIXEL_ROWS = 42_000  # digit-recognizer's train.csv
TABLE_ROWS, TABLE_FEATURES = 1_000, 10  # (d): training rows, feature columns (9 numbers and a text category)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="resnet18", help="resnet18/34/50 (default: resnet18)")
    parser.add_argument("--size", type=int, default=64, help="image size in pixels (default: 64)")
    parser.add_argument("--epochs", type=int, default=1, help="fine_tune epochs after the frozen one (default: 1)")
    parser.add_argument("--repeat", type=int, default=1, help="use the 1,797 digits N times (default: 1)")
    parser.add_argument("--steps", type=int, default=20, help="timed batches per side in (b) (default: 20)")
    parser.add_argument("--verbose", action="store_true", help="show fastai's progress bars")
    parser.add_argument("--only", choices=("images", "table"), help="run (a)-(c) on images, or (d) on a table")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")  # library notices would bury the numbers
    with tempfile.TemporaryDirectory(prefix="mlstarter-bench-") as scratch:
        scratch = Path(scratch)
        pkg, root = bake(scratch)
        started = time.perf_counter()
        table = table_project(pkg, root, scratch / "table")  # before (a) sets [model] for the images
        if args.only != "table":
            parts_images(pkg, root, scratch, args)
        if args.only != "images":
            part_d(pkg, table, args.verbose)
        print(f"bench: done in {time.perf_counter() - started:.0f} s", flush=True)
    return 0


def parts_images(pkg, root: Path, scratch: Path, args) -> None:
    images, labels = pkg.smoke.digits()
    images, labels = images.repeat(args.repeat, axis=0), labels.repeat(args.repeat)
    cfg = project(pkg, root, images, labels, args)
    folders = class_folders(scratch / "folders", images, labels)
    cached = pkg.weights.cached(args.arch)
    pretrained = cached is not None
    cfg = cfg.override("model", pretrained=pretrained)
    plan = pkg.gpu.resolve(cfg.gpu)
    weights = (
        f"weights from the cache ({cached}): fine_tune on both sides"
        if pretrained
        else "no cached weights: random init on both sides (generated: all layers; minimal: fine_tune as written)"
    )
    print(
        f"bench: {plan.device} ({_cores()} cores{', ' + plan.gpus[0] if plan.gpus else ''}), {args.arch} "
        f"at {args.size} px, {len(images):,} digits, {args.epochs + 1} epochs, batch 64, {weights}",
        flush=True,
    )
    generated = part_a_generated(pkg, cfg, args)
    minimal = part_a_minimal(folders, args, pretrained)
    print_a(generated, minimal)
    real, synthetic = part_b(pkg, cfg, args)
    print(
        f"(b) training loop: real data {real:,.1f} img/s, synthetic tensors {synthetic:,.1f} img/s: "
        f"ratio {real / synthetic:.2f} (1.00 = the data pipeline costs nothing)",
        flush=True,
    )
    rows, seconds = part_c(pkg, scratch)
    print(f"(c) pixel CSV -> images: {rows:,} rows in {seconds:.2f} s = {rows / seconds:,.0f} rows/s", flush=True)


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
    names.update({n: f"kit.{n}" for n in ("config", "gpu", "layouts", "quiet", "runs", "weights")})
    return types.SimpleNamespace(**{n: importlib.import_module(f"{package}.{m}") for n, m in names.items()}), root


def project(pkg, root: Path, images, labels, args):
    """digit-recognizer's layout in the baked project, recorded as `make data` would."""
    pkg.smoke.write_pixel_csv(root / "data" / "raw", images, labels)
    path = root / "config.toml"
    for key, value in {"arch": args.arch, "size": args.size, "epochs": args.epochs, "bs": 64, "lr": 2e-3}.items():
        pkg.config.set_value(path, "model", key, value)  # lr 2e-3: fine_tune's default, as in the minimal script
    cfg = pkg.config.load(path)
    pkg.layouts.write_to_config(cfg, pkg.layouts.detect(cfg.raw))
    return pkg.config.load(path)


def class_folders(folder: Path, images, labels) -> Path:
    """The same training images as PNG class folders, the minimal script's input."""
    from PIL import Image

    n_test = int(len(images) * 0.2)  # smoke.write_pixel_csv keeps the first 20% as the test split
    for i, (image, label) in enumerate(zip(images[n_test:], labels[n_test:], strict=True)):
        (folder / str(label)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / str(label) / f"{i:06d}.png")
    return folder


@contextlib.contextmanager
def quiet(verbose: bool):
    if verbose:
        yield
        return
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield


def part_a_generated(pkg, cfg, args) -> dict:
    print("(a) training the generated baseline ...", flush=True)
    started = time.perf_counter()
    with quiet(args.verbose):
        pkg.train.train(cfg)
    metrics = pkg.runs.read_metrics(pkg.runs.latest(cfg))
    return {
        "ips": metrics["train_images_per_s"],
        "accuracy": metrics["accuracy"],
        "wall": time.perf_counter() - started,
    }


def part_a_minimal(folders: Path, args, pretrained: bool) -> dict:
    print("(a) training the minimal lesson-1 script ...", flush=True)
    import torchvision.models

    sys.path.insert(0, str(Path(__file__).parent))
    import minimal

    timer = throughput_callback()
    started = time.perf_counter()
    with quiet(args.verbose):
        learn = minimal.train(
            folders, args.size, getattr(torchvision.models, args.arch), args.epochs, pretrained, [timer]
        )
        accuracy = float(learn.validate()[1])
    return {"ips": timer.images / timer.seconds, "accuracy": accuracy, "wall": time.perf_counter() - started}


def throughput_callback():
    """Training images per second over the training phases only (validation excluded), like the baseline's."""
    from fastai.callback.core import Callback
    from fastai.torch_core import find_bs

    class Throughput(Callback):
        images, seconds = 0, 0.0

        def before_train(self):
            self.start = time.perf_counter()

        def after_batch(self):
            if self.training:
                self.images += find_bs(self.learn.yb)

        def after_train(self):
            self.seconds += time.perf_counter() - self.start

    return Throughput()


def print_a(generated: dict, minimal: dict) -> None:
    for name, side in (("generated baseline", generated), ("minimal fastai    ", minimal)):
        print(f"    {name} {side['ips']:8.1f} img/s  accuracy {side['accuracy']:.4f}  ({side['wall']:.0f} s wall)")
    print(
        f"    ratio generated/minimal: speed {generated['ips'] / minimal['ips']:.2f}x, "
        f"accuracy {generated['accuracy'] / max(minimal['accuracy'], 1e-9):.2f}x",
        flush=True,
    )


def part_b(pkg, cfg, args) -> tuple[float, float]:
    """The same model, optimiser and precision, fed by the real DataLoader or by ready tensors."""
    import torch

    print("(b) timing the training loop on real and synthetic batches ...", flush=True)
    with quiet(args.verbose):
        plan = pkg.gpu.apply(cfg.gpu, quiet=True)
        images = pkg.layouts.train_images(pkg.layouts.with_detected(cfg))
        items = list(zip(images.xs, images.labels, strict=True))
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
    return timed(real()), timed(iter(lambda: (x, y), None))


def part_c(pkg, scratch: Path) -> tuple[int, float]:
    """digit-recognizer's 42,000 rows of 784 pixels, read and turned into images."""
    import numpy as np
    import pandas as pd

    print(f"(c) writing a {PIXEL_ROWS:,}-row pixel CSV ...", flush=True)
    images, labels = pkg.smoke.digits()
    picks = np.random.default_rng(0).integers(0, len(images), PIXEL_ROWS)
    frame = pd.DataFrame(images[picks].reshape(PIXEL_ROWS, -1), columns=[f"pixel{i}" for i in range(784)])
    frame.insert(0, "label", labels[picks])
    path = scratch / "train.csv"
    frame.to_csv(path, index=False)
    started = time.perf_counter()
    converted, _, _ = pkg.layouts.read_pixel_csv(path, "label")
    seconds = time.perf_counter() - started
    assert converted.shape == (PIXEL_ROWS, 28, 28, 3)
    return PIXEL_ROWS, seconds


def table_project(pkg, root: Path, folder: Path) -> Path:
    """A tabular competition beside the baked project: its config.toml as baked, TABLE_ROWS training rows
    (and a quarter as many test rows) written like make smoke's table, [data] recorded as `make data` would."""
    import pandas as pd
    from sklearn.datasets import make_classification

    folder.mkdir(parents=True)
    shutil.copy(root / "config.toml", folder / "config.toml")
    rows = round(TABLE_ROWS / (1 - pkg.smoke.TEST_SHARE))
    xs, ys = make_classification(rows, TABLE_FEATURES - 1, n_informative=5, random_state=0)
    pkg.smoke.write_table(
        folder / "data" / "raw", pkg.smoke.competition_table(pd.DataFrame(xs).add_prefix("x"), "target", ys)
    )
    cfg = pkg.config.load(folder / "config.toml")
    pkg.layouts.write_to_config(cfg, pkg.layouts.detect(cfg.raw))
    return folder


def part_d(pkg, folder: Path, verbose: bool) -> None:
    """`make train` then `make predict` in the table's project, each a fresh process (the wall time a user
    waits); fastai's imports timed alone (each command pays one); predicting again in this process for rows/s."""
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
    train = _command(folder, src, "-m", package, "train")
    predict = _command(folder, src, "-m", package, "predict")
    metrics = pkg.runs.read_metrics(pkg.runs.latest(cfg))
    with quiet(verbose):
        pkg.quiet.fastai_vision()
        started = time.perf_counter()
        pkg.predict.predict(cfg)
        predicted = time.perf_counter() - started
    tests = len(pd.read_csv(cfg.raw / cfg.data.test))
    print(
        f"    make train   {train:5.1f} s wall: fit {metrics['train_items_per_s']:,.0f} rows/s over "
        f"{metrics['epochs']:.0f} epochs, valid accuracy {metrics['accuracy']:.3f}\n"
        f"    make predict {predict:5.1f} s wall: {tests:,} test rows, {tests / predicted:,.0f} rows/s "
        f"({predicted:.2f} s once fastai is imported)\n"
        f"    train + predict {train + predict:.1f} s wall (goal: at most 20 s on 2 cores); each command starts "
        f"Python and imports fastai: {', '.join(f'{n} {t:.1f} s' for n, t in imports.items())} "
        f"(alone); load average now {os.getloadavg()[0]:.1f}",
        flush=True,
    )


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
