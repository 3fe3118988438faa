"""The fastai pretrained-ResNet baseline: `train` fine-tunes it into runs/<id>/, `predict` uses a run.

Lesson-1 fastai, made repeatable: presizing (one resize per image, then batched
augmentation on the device), ImageNet weights, lr_find when config.toml sets no lr,
fine_tune, accuracy/error rate, the plots a newcomer should look at, and `export`.
Every layout that layouts.py knows is read into (image, label) items, so the same
DataBlock serves pixel CSVs, labels CSVs, class folders and labels in file names.
"""

from __future__ import annotations

import difflib
import math
import os
import pickle
import socket
import time
import warnings
from contextlib import contextmanager, nullcontext
from pathlib import Path

from . import folds, gpu, layouts, runs
from .errors import ProjectError
from .files import atomic_path

DEFAULT_LR = 2e-3  # fastai's fine_tune default: used when lr_find cannot run (several GPUs)
PRESIZE = 1.15  # items are resized to 115% of the training size, then cropped and augmented in batches
TOP_LOSSES = 9


def _fastai():
    """fastai's vision API, imported quietly (it trips a torch.jit deprecation notice that is not ours)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", message=".*chained_assignment.*")
        from fastai.vision import all as fv
    return fv


# --------------------------------------------------------------------------------------- weights


def torchvision_arch(name: str):
    """The torchvision model function fastai knows for `name` (resnet18/34/50...), else None."""
    import torchvision.models as tvm

    from_fastai = _fastai()
    model_meta = from_fastai.model_meta

    function = getattr(tvm, name, None)
    return function if function in model_meta else None


def weights_file(arch: str) -> str | None:
    """torchvision's cache file name for `arch`'s default ImageNet weights, e.g. resnet34-b627a593.pth."""
    if torchvision_arch(arch) is None:  # fastai builds any other name with timm (Hugging Face weights)
        return None
    from torchvision.models import get_model_weights

    try:
        weights = get_model_weights(arch).DEFAULT
    except (ValueError, KeyError, AttributeError):
        return None
    return weights.url.rsplit("/", 1)[-1]


def weights_cache() -> Path:
    """Where torchvision keeps downloaded weights ($TORCH_HOME/hub/checkpoints)."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


def cached_weights(arch: str) -> Path | None:
    """The cached weights file for a torchvision arch, when it is on disk."""
    name = weights_file(arch)
    path = weights_cache() / name if name else None
    return path if path and path.is_file() else None


def _arch(name: str):
    function = torchvision_arch(name)
    if function is not None:
        return function
    import timm

    if timm.is_model(name):
        return name  # fastai builds timm models from their name
    close = difflib.get_close_matches(name, ["resnet18", "resnet34", "resnet50", *timm.list_models()], n=1)
    hint = f"did you mean {close[0]}? " if close else ""
    raise ProjectError(f"unknown model.arch {name!r} ({hint}use resnet18, resnet34, resnet50 or a timm model name)")


# ------------------------------------------------------------------------------------------ data


def _dataloaders(cfg, fv, images: layouts.Images, plan, valid: list[int] | None = None):
    """`valid`: positions of the validation images (a fold of data/folds.csv), else a random valid_pct."""
    model = cfg.model
    if valid is None and not 0 < model.valid_pct < 1:
        raise ProjectError("model.valid_pct must be above 0: a baseline needs validation images (e.g. 0.2)")
    labels = images.labels
    if len(set(labels)) < 2:
        raise ProjectError(f"the training data has {len(set(labels))} class: a classifier needs 2 or more")
    presize = max(model.size, math.ceil(model.size * PRESIZE))
    # pixel CSVs hold small centred glyphs: a mirrored 2 is no 2, and a crop to 75% cuts strokes away
    glyphs = cfg.data.layout == "pixel-csv"
    random = fv.RandomSplitter(model.valid_pct, seed=cfg.gpu.seed)
    vocab = sorted(set(labels)) if valid is not None else None  # every fold's model knows every class: averageable
    block = fv.DataBlock(
        blocks=(fv.ImageBlock, fv.CategoryBlock(vocab=vocab)),
        get_x=fv.ItemGetter(0),
        get_y=fv.ItemGetter(1),
        splitter=fv.IndexSplitter(valid) if valid is not None else random,
        item_tfms=fv.Resize(presize),
        batch_tfms=[
            *fv.aug_transforms(size=model.size, min_scale=1.0 if glyphs else 0.75, do_flip=not glyphs),
            fv.Normalize.from_stats(*fv.imagenet_stats),  # also with random init: the same inputs either way
        ],
    )
    items = list(zip(images.xs, labels, strict=True))
    device = "cuda" if plan.device == "cuda" else "cpu"
    return block.dataloaders(items, bs=model.bs, num_workers=plan.workers, device=device)


# ----------------------------------------------------------------------------------------- model


def _learner(cfg, dls, fv, plan, allow_random: bool):
    """vision_learner with the configured arch; ImageNet weights unless model.pretrained = false."""
    arch = _arch(cfg.model.arch)
    pretrained = cfg.model.pretrained
    metrics = [fv.accuracy, fv.error_rate]

    def build(pretrained):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torchvision/timm notices about weights enums
            return fv.vision_learner(dls, arch, pretrained=pretrained, metrics=metrics, model_dir=".")

    try:
        timm_offline = pretrained and isinstance(arch, str) and not os.environ.get("HF_HUB_OFFLINE")
        with hub_offline(timm_offline and not _hub_reachable()):
            learn = build(pretrained)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as exc:
        if not pretrained:
            raise
        problem = _weights_problem(cfg.model.arch, exc)
        if not allow_random:
            raise ProjectError(problem) from None
        print(f"weights: {problem.split(' (')[0]}; training from random init (smoke mode)", flush=True)
        pretrained, learn = False, build(False)
    if plan.device == "cuda":
        if plan.channels_last:
            learn.to_channelslast(use_amp=False)
        if plan.precision == "fp16":
            learn.to_fp16()
        elif plan.precision == "bf16":
            learn.to_bf16()
    return learn, pretrained


@contextmanager
def hub_offline(on: bool = True):
    """Hugging Face hub reads only its cache (timm's weights): fails fast instead of retrying for a minute."""
    if not on:
        yield
        return
    import huggingface_hub.constants as hub  # it reads HF_HUB_OFFLINE once, at import: set both

    saved = os.environ.get("HF_HUB_OFFLINE"), hub.HF_HUB_OFFLINE
    os.environ["HF_HUB_OFFLINE"], hub.HF_HUB_OFFLINE = "1", True
    try:
        yield
    finally:
        hub.HF_HUB_OFFLINE = saved[1]
        if saved[0] is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = saved[0]


def _hub_reachable() -> bool:
    try:
        socket.create_connection(("huggingface.co", 443), timeout=5).close()
        return True
    except OSError:
        return False


def _weights_problem(arch: str, exc: Exception) -> str:
    reason = " ".join(str(exc).split()) or type(exc).__name__
    if len(reason) > 160:
        reason = reason[:160].rsplit(" ", 1)[0] + " ..."
    name = weights_file(arch)
    if name and (weights_cache() / name).is_file():
        return (
            f"cannot load the cached weights {weights_cache() / name}: {reason} "
            "(delete that file: the next `make train` downloads it again; `make doctor` checks the cache)"
        )
    where = f"copy {name} into {weights_cache()}, " if name else "put them in the Hugging Face cache (HF_HOME), "
    return (
        f"could not download ImageNet weights for {arch}: {reason} "
        f"(connect to the internet, or {where}or train from random init with --no-pretrained)"
    )


def _track(fv, log: runs.EpochLog | None):
    """A callback that records per-batch losses, per-epoch metrics and training throughput."""

    class Track(fv.Callback):
        order = fv.Recorder.order + 1  # after the Recorder has logged the epoch
        run_valid = True

        def __init__(self):
            self.batch_losses, self.epochs, self.images, self.train_seconds = [], [], 0, 0.0

        def before_epoch(self):
            frozen = getattr(self.learn.opt, "frozen_idx", 0) > 0
            self.phase = "frozen" if frozen else ("unfrozen" if self.learn.pretrained else "train")
            self.epoch_start = time.perf_counter()

        def before_train(self):
            self.train_start = time.perf_counter()
            self.pending = []

        def after_batch(self):
            if self.training:
                self.pending.append(self.learn.loss.detach())
                self.images += fv.find_bs(self.learn.yb)

        def after_train(self):
            self.train_seconds += time.perf_counter() - self.train_start
            self.batch_losses += [float(x) for x in self.pending]

        def after_epoch(self):
            names, values = self.recorder.metric_names[1:-1], self.recorder.log[1:-1]
            row = {n: float(v) for n, v in zip(names, values, strict=False) if isinstance(v, (int, float))}
            row["step"], row["phase"] = len(self.batch_losses), self.phase
            self.epochs.append(row)
            if log:
                log.add(self.phase, row, time.perf_counter() - self.epoch_start)

    return Track()


def _fit(learn, cfg, pretrained: bool, lr: float, cbs) -> None:
    epochs = cfg.model.epochs
    if pretrained and epochs > 0:
        learn.fine_tune(epochs, base_lr=lr, freeze_epochs=1, cbs=cbs)
    elif pretrained:  # epochs = 0: one epoch of the new head only
        learn.fit_one_cycle(1, lr, cbs=cbs)
    else:  # random init: nothing worth freezing; every layer for as many epochs as fine_tune would run
        learn.fit_one_cycle(epochs + 1, lr, cbs=cbs)


def _find_lr(learn) -> float:
    with learn.no_logging(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found = learn.lr_find(show_plot=False)
    lr = float(found.valley)
    if not math.isfinite(lr) or lr <= 0:
        return DEFAULT_LR
    return float(f"{lr:.2g}")


# ------------------------------------------------------------------------------------------ train


def train(cfg, dry_run: bool = False, *, allow_random: bool = False, fold: int | None = None, into=None) -> str:
    """Fine-tune the configured ResNet on data/raw; write runs/<id>/; return one summary line.
    `allow_random`: start from random weights when ImageNet weights cannot be had (smoke mode).
    `fold`: validate on that fold of data/folds.csv, train on the others; `into`: a cv run's
    folder to write the run into as fold-<fold>/ (folds.cv)."""
    started = time.perf_counter()
    plan = gpu.apply(cfg.gpu)
    cfg = layouts.merged(cfg)
    images = layouts.train_images(cfg)  # before fastai's import: bad data fails in a second, not ten
    valid = folds.valid_positions(cfg, images, fold) if fold is not None else None
    fv = _fastai()
    dls = _dataloaders(cfg, fv, images, plan, valid)
    learn, pretrained = _learner(cfg, dls, fv, plan, allow_random)
    n_train, n_valid = len(dls.train_ds), len(dls.valid_ds)
    weights = "ImageNet weights" if pretrained else "random init"
    what = f"{cfg.model.arch} ({weights}) at {cfg.model.size} px, batch {cfg.model.bs}, {plan.device}"
    if dry_run:
        return f"dry run: {n_train} train + {n_valid} valid images, {dls.c} classes, {what}; nothing written"
    if plan.device == "cpu" and cfg.model.size >= 128 and n_train > 5000:
        print(
            f"hint: {n_train:,} images at {cfg.model.size} px is slow on a CPU; try `make train SIZE=64 ARCH=resnet18`"
        )
    distributed = gpu.launched() and int(os.environ.get("WORLD_SIZE", "1")) > 1
    if not gpu.is_main():
        return _train_quietly(cfg, learn, pretrained, distributed)
    short = cfg.model.arch + ("" if pretrained else "-scratch") + (f"-fold{fold}" if fold is not None else "")
    resolved = {"pretrained": pretrained, "lr": cfg.model.lr or None, "gpu": plan.as_dict(), "train_images": n_train}
    resolved["valid_images"], resolved["classes"] = n_valid, [str(c) for c in dls.vocab]
    if fold is not None:
        resolved["fold"], resolved["folds_file"] = fold, folds.FOLDS
    folder = Path(into) / f"fold-{fold}" if into is not None else None
    with runs.record(cfg, resolved, short, folder=folder) as run:
        learn.path = run.dir
        lr = cfg.model.lr or (DEFAULT_LR if distributed else _find_lr(learn))
        if not cfg.model.lr:
            print(f"lr: {lr:.2g} ({'lr_find' if not distributed else 'default: lr_find skipped across GPUs'})")
        run.update(lr=lr)
        track = _track(
            fv, runs.EpochLog(run.dir / "metrics.csv", ["train_loss", "valid_loss", "accuracy", "error_rate"])
        )
        with learn.distrib_ctx() if distributed else nullcontext():
            _fit(learn, cfg, pretrained, lr, [track])
        metrics = _evaluate_valid(learn, fv, run.dir, track)
        metrics["lr"], metrics["seconds"] = lr, round(time.perf_counter() - started, 1)
        if plan.device == "cuda":
            learn.to_contiguous(to_fp32=True)  # the export loads anywhere, CPU included
        with atomic_path(run.dir / runs.MODEL) as tmp:
            _export(learn, tmp, run.dir / runs.MODEL)
        run.finish(metrics)
    took = time.perf_counter() - started
    return (
        f"trained {what}: accuracy {metrics['accuracy']:.4f} on {n_valid} valid images "
        f"in {took:.0f} s -> {run.dir.relative_to(cfg.root)}/ (next: make predict)"
    )


def _export(learn, tmp: Path, final: Path) -> None:
    """learn.export; torch's C++ writer reports a full disk as a RuntimeError, which would be a traceback."""
    try:
        learn.export(tmp)
    except RuntimeError as exc:
        reason = " ".join(str(exc).split())[:120]
        raise ProjectError(
            f"cannot write {final.parent.name}/{final.name}: torch's writer failed ({reason}) "
            "(is the disk full? free some space, then train again)"
        ) from None


def _train_quietly(cfg, learn, pretrained, distributed) -> str:
    """The other processes of a multi-GPU run: train in step, write nothing."""
    lr = cfg.model.lr or DEFAULT_LR
    with learn.distrib_ctx() if distributed else nullcontext():
        _fit(learn, cfg, pretrained, lr, [])
    return ""


def _evaluate_valid(learn, fv, folder: Path, track) -> dict:
    """Final validation metrics, and the plots: loss curve, confusion matrix, top losses."""
    import numpy as np

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        preds, targs, losses = learn.get_preds(dl=learn.dls.valid, with_loss=True)
    preds, targs, losses = preds.float().numpy(), targs.numpy(), losses.float().numpy()
    predicted = preds.argmax(1)
    vocab = [str(v) for v in learn.dls.vocab]
    n = len(vocab)
    matrix = np.bincount(targs * n + predicted, minlength=n * n).reshape(n, n)
    accuracy = float((predicted == targs).mean())
    runs.plot_losses(folder / "loss.png", track.batch_losses, track.epochs)
    runs.plot_confusion(folder / "confusion.png", matrix, vocab)
    worst = np.argsort(-losses)[:TOP_LOSSES]
    items = learn.dls.valid_ds.items
    pictures = [_picture(items[i][0]) for i in worst]
    titles = [f"{vocab[predicted[i]]} / {vocab[targs[i]]} / {losses[i]:.2f} / {preds[i, targs[i]]:.2f}" for i in worst]
    runs.plot_top_losses(folder / "top_losses.png", pictures, titles)
    last = track.epochs[-1] if track.epochs else {}
    return {
        "accuracy": accuracy,
        "error_rate": 1.0 - accuracy,
        "valid_loss": float(losses.mean()),
        "train_loss": last.get("train_loss", float("nan")),
        "epochs": len(track.epochs),
        "train_images_per_s": round(track.images / track.train_seconds, 1) if track.train_seconds else 0.0,
        "valid_images": len(targs),
    }


def _picture(x):
    """An item as something imshow can draw (a thumbnail for image files)."""
    if isinstance(x, Path):
        from PIL import Image

        with Image.open(x) as image:
            image = image.convert("RGB")
            image.thumbnail((256, 256))
            return image.copy()
    return x


# ---------------------------------------------------------------------------------------- predict


def predict(cfg, run: str | None = None) -> str:
    """Kaggle: write submissions/<run-id>.csv like sample_submission.csv and validate it.
    Paper: evaluate the run on the test split and write test_metrics.json into the run folder."""
    started = time.perf_counter()
    plan = gpu.apply(cfg.gpu)
    cfg = layouts.merged(cfg)
    folder = runs.find(cfg, run)
    learn = _load(folder, plan)
    if cfg.kind == "kaggle":
        return _submission(cfg, learn, folder, started)
    return _test_metrics(cfg, learn, folder, started)


class _Folds(list):
    """A cv run's fold models: their predictions are the average of their probabilities."""

    @property
    def dls(self):
        return self[0].dls  # every fold's model has the same classes (_dataloaders fixes the vocab)


def probabilities(cfg, folder: Path, xs: list):
    """Class probabilities of images `xs` by a run's model (a cv run's: the folds' average), and the classes."""
    learn = _load(folder, gpu.apply(cfg.gpu, quiet=True))
    preds = _predictions(cfg, learn, [(x,) for x in xs], labelled=False)[0]
    return preds.float().numpy(), [str(v) for v in learn.dls.vocab]


def _load(folder: Path, plan):
    if not (folder / runs.MODEL).is_file():  # a cv run: every fold's model
        learners = _Folds(_load(model.parent, plan) for model in runs.models(folder))
        print(f"predict: averaging the probabilities of {len(learners)} fold models of {folder.name}", flush=True)
        return learners
    fv = _fastai()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # load_learner warns that pickles run code: this is our own export
        learn = fv.load_learner(folder / runs.MODEL, cpu=plan.device == "cpu")
    if plan.device == "cuda":
        if plan.channels_last:
            learn.to_channelslast(use_amp=False)
        if plan.precision in ("fp16", "bf16"):
            learn.to_fp16() if plan.precision == "fp16" else learn.to_bf16()
    return learn


def _predictions(cfg, learn, items: list, labelled: bool):
    if isinstance(learn, _Folds):  # the loss, where needed, comes from the averaged probabilities
        each = [_predictions(cfg, one, items, labelled) for one in learn]
        return sum(preds for preds, _, _ in each) / len(each), each[0][1], None
    dl = learn.dls.test_dl(items, with_labels=labelled, rm_type_tfms=0, bs=cfg.model.bs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if cfg.model.tta:
            preds, targs = learn.tta(dl=dl)
            return preds, targs, None
        return learn.get_preds(dl=dl, with_loss=labelled) if labelled else (*learn.get_preds(dl=dl), None)


def _submission(cfg, learn, folder: Path, started: float) -> str:
    import pandas as pd

    images = layouts.test_images(cfg)
    if not cfg.data.sample:
        raise ProjectError("no sample submission recorded (run `make data`, or set data.sample in config.toml)")
    sample = pd.read_csv(cfg.raw / cfg.data.sample, dtype=str, keep_default_na=False)
    preds = _predictions(cfg, learn, [(x,) for x in images.xs], labelled=False)[0].float().numpy()
    frame = submission_frame(sample, images.ids, preds, list(learn.dls.vocab))
    path = cfg.root / "submissions" / f"{folder.name}.csv"
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
    from .submission import validate  # Kaggle projects only: the paper kind has no submission module

    checked = validate(cfg, path)
    took = time.perf_counter() - started
    return f"wrote {path.relative_to(cfg.root)} ({len(frame):,} rows, run {folder.name}) in {took:.0f} s; {checked}"


def submission_frame(sample, ids: list[str], preds, vocab: list):
    """Predictions in the sample submission's exact columns: one label column, one probability
    column (binary), or one probability column per class."""
    import numpy as np
    import pandas as pd

    columns = list(sample.columns)
    names = [str(v) for v in vocab]
    preds = np.asarray(preds, dtype=np.float64)  # float32 would write 0.10000000149
    frame = pd.DataFrame({columns[0]: ids})
    if len(columns) > 2 or (len(columns) == 2 and columns[1] in names and len(names) > 2):
        missing = [c for c in columns[1:] if c not in names]
        if missing:
            raise ProjectError(
                f"the sample submission has columns the model does not know, e.g. {missing[0]!r} "
                "(train on labels that match them)"
            )
        for column in columns[1:]:
            frame[column] = np.round(preds[:, names.index(column)], 6)
        return frame
    if len(columns) != 2:
        raise ProjectError(f"the sample submission has {len(columns)} column: expected an id and a prediction column")
    numbers = _numbers(sample[columns[1]])
    if numbers is not None and ((numbers % 1) != 0).any() and len(names) == 2:
        positive = names.index("1") if "1" in names else 1
        if names[positive] != "1":
            print(f"{columns[1]}: the sample asks for a probability: writing P({names[positive]})", flush=True)
        frame[columns[1]] = np.round(preds[:, positive], 6)
        return frame
    predicted = preds.argmax(1)
    if numbers is not None and _numbers(pd.Series(names)) is None:  # dogs-vs-cats: 0 = cat, 1 = dog
        print(
            f"{columns[1]}: the sample holds numbers: writing " + ", ".join(f"{i} for {n}" for i, n in enumerate(names))
        )
        frame[columns[1]] = predicted
        return frame
    frame[columns[1]] = [vocab[i] for i in predicted]
    return frame


def _numbers(values):
    """The first values as numbers, or None when they are not all numbers."""
    import pandas as pd

    numbers = pd.to_numeric(values.head(100), errors="coerce")
    return numbers if len(numbers) and numbers.notna().all() else None


def _test_metrics(cfg, learn, folder: Path, started: float) -> str:
    import json

    import numpy as np

    from .files import write_text

    try:
        images = layouts.test_images(cfg, labelled=True)
    except ProjectError as no_test:
        valid = runs.read_metrics(folder)
        metrics = {f"test_{k}": valid[k] for k in ("accuracy", "error_rate", "valid_loss") if k in valid}
        metrics["split"] = "valid"
        write_text(folder / runs.TEST_METRICS, json.dumps(metrics, indent=2) + "\n")
        return f"no labelled test split ({no_test}); recorded the validation metrics as test_* in {folder.name}/"
    vocab = [str(v) for v in learn.dls.vocab]
    known = [(x, str(y)) for x, y in zip(images.xs, images.labels, strict=True) if str(y) in vocab]
    if not known:
        raise ProjectError(f"no test image has a class the model knows (test classes differ from {vocab[:5]}...)")
    typed = {str(v): v for v in learn.dls.vocab}
    preds, targs, losses = _predictions(cfg, learn, [(x, typed[y]) for x, y in known], labelled=True)
    preds, targs = preds.float().numpy(), targs.numpy()
    accuracy = float((preds.argmax(1) == targs).mean())
    if losses is None:  # TTA gives probabilities only: the loss from them
        losses = -np.log(np.clip(preds[np.arange(len(targs)), targs], 1e-12, None))
    metrics = {
        "test_accuracy": accuracy,
        "test_error_rate": 1.0 - accuracy,
        "test_loss": float(np.asarray(losses, dtype=float).mean()),
        "test_images": len(known),
        "skipped_unknown_class": len(images) - len(known),
        "split": cfg.data.test,
        "tta": cfg.model.tta,
    }
    write_text(folder / runs.TEST_METRICS, json.dumps(metrics, indent=2) + "\n")
    took = time.perf_counter() - started
    return (
        f"test accuracy {accuracy:.4f} on {len(known):,} images of {cfg.data.test} (run {folder.name}, {took:.0f} s) "
        f"-> {folder.relative_to(cfg.root)}/{runs.TEST_METRICS}"
    )
