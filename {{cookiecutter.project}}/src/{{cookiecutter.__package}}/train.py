"""make train: the recipe fitted on data/raw into runs/<id>/; a run's predictions for the kinds' predict.

Training here is the same for every task: apply [gpu], read the data that [data]
describes, build the recipe's DataLoaders and Learner (with ImageNet weights, or a
clear reason why not), find a learning rate when config.toml sets none, fit, then
record metrics, plots and the exported model. What the model IS lives in the recipe
(recipes/vision.py); which rows validate comes from the caller (cv.py for folds).
"""

from __future__ import annotations

import math
import os
import time
import warnings
from contextlib import nullcontext
from pathlib import Path

from .kit import gpu, layouts, plots, runs, weights
from .kit.errors import ProjectError
from .kit.files import atomic_path
from .kit.quiet import fastai_vision
from .recipes import vision as recipe

DEFAULT_LR = 2e-3  # fastai's fine_tune default: used when lr_find cannot run (several GPUs)
TOP_LOSSES = 9


def train(cfg, dry_run: bool = False, *, allow_random: bool = False, valid=None, split=None, into=None, images=None):
    """Fit the recipe on data/raw; write runs/<id>/; return one summary line.
    `allow_random`: start from random weights when ImageNet weights cannot be had (smoke mode).
    `valid`: positions of the validation images, and `split` how they were chosen ({"fold": k, ...}, from
    cv.py); `into`: a cv run's folder to write this run into as fold-<k>/; `images`: the training images."""
    started = time.perf_counter()
    plan = gpu.apply(cfg.gpu)
    cfg = layouts.with_detected(cfg)
    images = images or layouts.train_images(cfg)  # before fastai's import: bad data fails in a second, not ten
    _check(cfg, images, valid)
    fastai_vision()
    items = list(zip(images.xs, images.labels, strict=True))
    dls = recipe.dataloaders(cfg, items, "cuda" if plan.device == "cuda" else "cpu", plan.workers, valid)
    arch = weights.architecture(cfg.model.arch)
    learn, pretrained = weights.pretrained_or_explain(
        lambda pretrained: recipe.learner(dls, arch, pretrained), cfg.model.arch, cfg.model.pretrained, allow_random
    )
    _to_device(learn, plan)
    n_train, n_valid = len(dls.train_ds), len(dls.valid_ds)
    init = "ImageNet weights" if pretrained else "random init"
    what = f"{cfg.model.arch} ({init}) at {cfg.model.size} px, batch {cfg.model.bs}, {plan.device}"
    if dry_run:
        return f"dry run: {n_train} train + {n_valid} valid images, {dls.c} classes, {what}; nothing written"
    if plan.device == "cpu" and cfg.model.size >= 128 and n_train > 5000:
        print(
            f"hint: {n_train:,} images at {cfg.model.size} px is slow on a CPU; try `make train SIZE=64 ARCH=resnet18`"
        )
    distributed = gpu.launched() and int(os.environ.get("WORLD_SIZE", "1")) > 1
    if not gpu.is_main():  # the other processes of a multi-GPU run: train in step, write nothing
        with learn.distrib_ctx():
            recipe.fit(learn, cfg, pretrained, cfg.model.lr or DEFAULT_LR, [])
        return ""
    fold = (split or {}).get("fold")
    short = cfg.model.arch + ("" if pretrained else "-scratch") + (f"-fold{fold}" if fold is not None else "")
    resolved = {"pretrained": pretrained, "lr": cfg.model.lr or None, "gpu": plan.as_dict(), "train_images": n_train}
    resolved["valid_images"], resolved["classes"] = n_valid, [str(c) for c in dls.vocab]
    resolved.update(split or {})
    folder = Path(into) / f"fold-{fold}" if into is not None else None
    with runs.record(cfg, resolved, short, folder=folder) as run:
        learn.path = run.dir
        lr = cfg.model.lr or (DEFAULT_LR if distributed else _find_lr(learn))
        if not cfg.model.lr:
            print(f"lr: {lr:.2g} ({'lr_find' if not distributed else 'default: lr_find skipped across GPUs'})")
        run.update(lr=lr)
        recorder = _epoch_recorder(
            runs.EpochLog(run.dir / "metrics.csv", ["train_loss", "valid_loss", *recipe.METRICS])
        )
        with learn.distrib_ctx() if distributed else nullcontext():
            recipe.fit(learn, cfg, pretrained, lr, [recorder])
        metrics = _evaluate_valid(learn, run.dir, recorder)
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


def _check(cfg, images: layouts.Images, valid) -> None:
    """What no recipe can train on: no validation images, or fewer than two classes."""
    if valid is None and not 0 < cfg.model.valid_pct < 1:
        raise ProjectError("model.valid_pct must be above 0: a baseline needs validation images (e.g. 0.2)")
    classes = len(set(images.labels))
    if classes < 2:
        raise ProjectError(f"the training data has {classes} class: a classifier needs 2 or more")


def _to_device(learn, plan) -> None:
    """[gpu] precision and memory layout; on a CPU fastai would only warn, so nothing is asked."""
    if plan.device != "cuda":
        return
    if plan.channels_last:
        learn.to_channelslast(use_amp=False)
    if plan.precision == "fp16":
        learn.to_fp16()
    elif plan.precision == "bf16":
        learn.to_bf16()


def _find_lr(learn) -> float:
    with learn.no_logging(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found = learn.lr_find(show_plot=False)
    lr = float(found.valley)
    if not math.isfinite(lr) or lr <= 0:
        return DEFAULT_LR
    return float(f"{lr:.2g}")


def _epoch_recorder(log: runs.EpochLog):
    """A callback that records per-batch losses, per-epoch metrics (into metrics.csv as it goes) and throughput."""
    from fastai.callback.core import Callback
    from fastai.learner import Recorder
    from fastai.torch_core import find_bs

    class EpochRecorder(Callback):
        order = Recorder.order + 1  # after the Recorder has logged the epoch
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
                self.images += find_bs(self.learn.yb)

        def after_train(self):
            self.train_seconds += time.perf_counter() - self.train_start
            self.batch_losses += [float(x) for x in self.pending]

        def after_epoch(self):
            names, values = self.recorder.metric_names[1:-1], self.recorder.log[1:-1]
            row = {n: float(v) for n, v in zip(names, values, strict=False) if isinstance(v, (int, float))}
            row["step"], row["phase"] = len(self.batch_losses), self.phase
            self.epochs.append(row)
            log.add(self.phase, row, time.perf_counter() - self.epoch_start)

    return EpochRecorder()


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


def _evaluate_valid(learn, folder: Path, recorder) -> dict:
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
    plots.losses(folder / "loss.png", recorder.batch_losses, recorder.epochs)
    plots.confusion(folder / "confusion.png", matrix, vocab)
    worst = np.argsort(-losses)[:TOP_LOSSES]
    items = learn.dls.valid_ds.items
    pictures = [_picture(items[i][0]) for i in worst]
    titles = [f"{vocab[predicted[i]]} / {vocab[targs[i]]} / {losses[i]:.2f} / {preds[i, targs[i]]:.2f}" for i in worst]
    plots.top_losses(folder / "top_losses.png", pictures, titles)
    last = recorder.epochs[-1] if recorder.epochs else {}
    return {
        "accuracy": accuracy,
        "error_rate": 1.0 - accuracy,
        "valid_loss": float(losses.mean()),
        "train_loss": last.get("train_loss", float("nan")),
        "epochs": len(recorder.epochs),
        "train_images_per_s": round(recorder.images / recorder.train_seconds, 1) if recorder.train_seconds else 0.0,
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


# -------------------------------------------------------------------------------------- predict


class Ensemble(list):
    """A cv run's fold models: their predictions are the average of their probabilities."""

    @property
    def dls(self):
        return self[0].dls  # every fold's model has the same classes (the recipe fixes the vocab for folds)


def load(cfg, run: str | None = None):
    """(the run's folder, its model: a Learner, or an Ensemble for a cv run), on the [gpu] device."""
    plan = gpu.apply(cfg.gpu)
    folder = runs.find(cfg, run)
    return folder, _load(folder, plan)


def _load(folder: Path, plan):
    if not (folder / runs.MODEL).is_file():  # a cv run: every fold's model
        learners = Ensemble(_load(model.parent, plan) for model in runs.models(folder))
        print(f"predict: averaging the probabilities of {len(learners)} fold models of {folder.name}", flush=True)
        return learners
    vision = fastai_vision()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # load_learner warns that pickles run code: this is our own export
        learn = vision.load_learner(folder / runs.MODEL, cpu=plan.device == "cpu")
    _to_device(learn, plan)
    return learn


def probabilities(cfg, folder: Path, xs: list):
    """Class probabilities of images `xs` by a run's model (a cv run's: the folds' average), and the classes."""
    learn = _load(folder, gpu.apply(cfg.gpu, quiet=True))
    preds = predictions(cfg, learn, [(x,) for x in xs], labelled=False)[0]
    return preds.float().numpy(), [str(v) for v in learn.dls.vocab]


def predictions(cfg, learn, items: list, labelled: bool):
    """(probabilities, targets, losses) of `items` (tuples of x, or of x and label when `labelled`)."""
    if isinstance(learn, Ensemble):  # the loss, where needed, comes from the averaged probabilities
        each = [predictions(cfg, one, items, labelled) for one in learn]
        return sum(preds for preds, _, _ in each) / len(each), each[0][1], None
    dl = learn.dls.test_dl(items, with_labels=labelled, rm_type_tfms=0, bs=cfg.model.bs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if cfg.model.tta:
            preds, targs = learn.tta(dl=dl)
            return preds, targs, None
        return learn.get_preds(dl=dl, with_loss=labelled) if labelled else (*learn.get_preds(dl=dl), None)
