"""make train: the task's recipe fitted on data/raw into runs/<id>/; a run's predictions for the kinds' predict.

Training here is the same for every task: apply [gpu], read the data that [data]
describes (images or a table, and what to predict), build the recipe's DataLoaders
and Learner (with ImageNet weights, or a clear reason why not), find a learning rate
when config.toml sets none, fit, then record metrics, plots (report.py) and the
exported model. What the model IS lives in the recipes (recipes/vision.py,
recipes/tabular.py); which rows validate comes from the caller (cv.py for folds).
"""

from __future__ import annotations

import math
import os
import time
import warnings
from contextlib import nullcontext
from pathlib import Path

from . import report
from .kit import dataset, gpu, layouts, runs, weights
from .kit.errors import ProjectError, hint
from .kit.files import atomic_path
from .kit.quiet import fastai_for
from .recipes import tabular, vision

LR_FIND_MAX, LR_FIND_SHARE, LR_FIND_MIN = 100, 0.1, 20  # batches: see lr_find_batches
ESTIMATE_AFTER = 5  # timed training batches (after a warm-up one) before a CPU run's time estimate
SAY_AFTER, LONG = 60, 300  # seconds: a CPU fit that long gets a time estimate; an image one that long, a hint


def recipe_for(cfg):
    """The recipe of config.toml's [data] layout: a table's, or the images'."""
    return tabular if cfg.data.layout == "tabular" else vision


def train(cfg, dry_run: bool = False, *, valid=None, split=None, into=None, data=None):
    """Fit the recipe on data/raw; write runs/<id>/; return one summary line.
    `valid`: positions of the validation items, and `split` how they were chosen ({"fold": k, ...}, from
    cv.py); `into`: a cv run's folder to write this run into as fold-<k>/; `data`: the Dataset, when read."""
    started = time.perf_counter()
    plan = gpu.apply(cfg.gpu)
    cfg = layouts.with_detected(cfg)
    data = data or dataset.load(cfg)  # before fastai's import: bad data fails in a second, not ten
    _check(cfg, data, valid)
    fastai_for(cfg.data.layout)
    recipe = recipe_for(cfg)
    device = "cuda" if plan.device == "cuda" else "cpu"
    dls = recipe.dataloaders(cfg, dataset.for_recipe(data), data.task, device, plan.workers, valid)
    pretrained = cfg.model.pretrained and recipe is vision  # tables have no pretrained weights
    learn = weights.pretrained_or_explain(
        lambda pretrained: recipe.learner(dls, cfg, data.task, pretrained), cfg.model.arch, pretrained
    )
    _to_device(learn, plan)
    n_train, n_valid = len(dls.train_ds), len(dls.valid_ds)
    unit = "rows" if data.table is not None else "images"
    what = _what(cfg, data, pretrained, plan)
    if dry_run:
        found = f"{dls.c} classes" if data.task == "classification" else data.task
        return f"dry run: {n_train} train + {n_valid} valid {unit}, {found}, {what}; nothing written"
    distributed = gpu.launched() and int(os.environ.get("WORLD_SIZE", "1")) > 1
    if not gpu.is_main():  # the other processes of a multi-GPU run: train in step, write nothing
        with learn.distrib_ctx():
            recipe.fit(learn, cfg, pretrained, cfg.model.lr or recipe.LR, [])
        return ""
    fold = (split or {}).get("fold")
    short = cfg.model.arch if data.table is None else "tabular"
    short += ("" if pretrained or data.table is not None else "-scratch") + (f"-fold{fold}" if fold is not None else "")
    resolved = {"pretrained": pretrained, "lr": cfg.model.lr or None, "gpu": plan.as_dict(), "train_images": n_train}
    resolved.update(valid_images=n_valid, task=data.task, target_transform=data.transform)
    resolved["classes"] = [str(c) for c in dls.vocab] if data.task != "regression" else []
    resolved.update(split or {})
    folder = Path(into) / f"fold-{fold}" if into is not None else None
    with runs.new_run(cfg, resolved, short, folder=folder) as run:
        learn.path = run.dir
        epochs = recipe.epochs(cfg, pretrained)
        searching = time.perf_counter()
        lr, source = _learning_rate(learn, cfg, recipe, epochs, distributed)
        searched = time.perf_counter() - searching  # lr_find's share of the run, for bench/
        print(f"lr: {lr:.2g} ({source})", flush=True)
        run.update(lr=lr, lr_from=source)
        names = [m.name for m in learn.metrics]
        recorder = _epoch_recorder(runs.EpochLog(run.dir / "metrics.csv", ["train_loss", "valid_loss", *names]))
        cbs = [recorder] + ([_estimate(epochs, _cheaper(cfg, data))] if plan.device == "cpu" else [])
        with learn.distrib_ctx() if distributed else nullcontext():
            recipe.fit(learn, cfg, pretrained, lr, cbs)
        metrics = report.valid(learn, run.dir, recorder, cfg, data.task, data.transform, data.table is not None)
        metrics["lr"], metrics["seconds"] = lr, round(time.perf_counter() - started, 1)
        metrics["lr_find_seconds"] = round(searched, 2)
        if plan.device == "cuda":
            learn.to_contiguous(to_fp32=True)  # the export loads anywhere, CPU included
        with atomic_path(run.dir / runs.MODEL) as tmp:
            _export(learn, tmp, run.dir / runs.MODEL)
        run.finish(metrics)
    took = time.perf_counter() - started
    tags = f" with tags at p >= {metrics['threshold']:g}" if "threshold" in metrics else ""  # chosen on validation
    return (
        f"trained {what}: {metrics['metric']} {metrics['score']:.4f}{tags} on {n_valid} valid {unit} "
        f"in {took:.0f} s -> {run.dir.relative_to(cfg.root)}/ (next: make predict)"
    )


def _what(cfg, data, pretrained: bool, plan) -> str:
    """The model in a few words, for the summary line."""
    if data.table is not None:
        scale = ", target on log1p" if data.transform == "log1p" else ""
        return f"tabular_learner ({data.task}{scale}), batch {cfg.model.bs}, {plan.device}"
    init = "ImageNet weights" if pretrained else "random init"
    task = "" if data.task == "classification" else f", {data.task}"
    return f"{cfg.model.arch} ({init}{task}) at {cfg.model.size} px, batch {cfg.model.bs}, {plan.device}"


def _check(cfg, data, valid) -> None:
    """What no recipe can learn from: no validation items, or a target with a single value."""
    if valid is None and not 0 < cfg.model.valid_pct < 1:
        raise ProjectError("model.valid_pct must be above 0: a baseline needs validation images (e.g. 0.2)")
    distinct = len({str(y) for y in data.labels})
    if data.task == "classification" and distinct < 2:
        raise ProjectError(f"the training data has {distinct} class: a classifier needs 2 or more")
    if distinct < 2:
        raise ProjectError(f"every training label is the same ({data.labels[0]!r}): there is nothing to learn")


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


def lr_find_batches(fit_batches: int) -> int:
    """The batches lr_find may take: a tenth of the fit's, at most fastai's 100; 0 (no search) when that is
    under LR_FIND_MIN, too few for a usable curve: such a short run takes the recipe's rate."""
    n = min(LR_FIND_MAX, int(fit_batches * LR_FIND_SHARE))
    return n if n >= LR_FIND_MIN else 0


def _learning_rate(learn, cfg, recipe, epochs: int, distributed: bool) -> tuple[float, str]:
    """(the rate, where it came from): model.lr, else lr_find when it costs little, else the recipe's LR."""
    if cfg.model.lr:
        return cfg.model.lr, "model.lr"
    if distributed:
        return recipe.LR, "the recipe's LR: lr_find does not run across GPUs"
    fit_batches = len(learn.dls.train) * epochs
    n = lr_find_batches(fit_batches)
    if not n:
        return recipe.LR, f"the recipe's LR: lr_find would cost more than a tenth of this {fit_batches}-batch fit"
    print(f"lr_find: trying learning rates on {n} batches before the fit (set model.lr to skip it)", flush=True)
    with learn.no_logging(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found = learn.lr_find(num_it=n, show_plot=False)
    lr = float(found.valley)
    if not math.isfinite(lr) or lr <= 0:
        return recipe.LR, "the recipe's LR: lr_find found no valley"
    return float(f"{lr:.2g}"), f"lr_find over {n} batches"


def _cheaper(cfg, data) -> str:
    """The settings that make a slow image run on a CPU several times faster, as the user types them."""
    if data.table is not None or (cfg.model.size <= 64 and cfg.model.arch == "resnet18"):
        return ""
    return hint("train", size=64, arch="resnet18")


def _estimate(epochs: int, cheaper: str):
    """A callback that times the first training batches on a CPU and prints how long the whole fit will take
    (over SAY_AFTER), with the cheaper settings when that is over LONG."""
    from fastai.callback.core import Callback

    class Estimate(Callback):
        batches, mark = 0, 0.0  # once per run: fine_tune fits twice

        def after_batch(self):
            if not self.training or self.batches > ESTIMATE_AFTER:
                return
            self.batches += 1
            if self.batches == 1:  # the first batch pays for warm-up
                self.mark = time.perf_counter()
            elif self.batches == ESTIMATE_AFTER + 1:
                dls = self.learn.dls
                per_batch = (time.perf_counter() - self.mark) / ESTIMATE_AFTER
                seconds = per_batch * epochs * (len(dls.train) + len(dls.valid) / 3)  # valid: forward only
                faster = f"; {cheaper} takes a fraction of that" if cheaper and seconds > LONG else ""
                if seconds > SAY_AFTER:
                    print(f"\ntime: about {math.ceil(seconds / 60)} min for {epochs} epochs here{faster}", flush=True)

    return Estimate()


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
            pretrained = getattr(self.learn, "pretrained", False)  # vision_learner sets it; tables have none
            self.phase = "frozen" if frozen else ("unfrozen" if pretrained else "train")
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
    return folder, _load(cfg, folder, plan)


def _load(cfg, folder: Path, plan):
    if not (folder / runs.MODEL).is_file():  # a cv run: every fold's model
        learners = Ensemble(_load(cfg, model.parent, plan) for model in runs.models(folder))
        print(f"predict: averaging the probabilities of {len(learners)} fold models of {folder.name}", flush=True)
        return learners
    fastai = fastai_for(cfg.data.layout)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # load_learner warns that pickles run code: this is our own export
        learn = fastai.load_learner(folder / runs.MODEL, cpu=plan.device == "cpu")
    _to_device(learn, plan)
    return learn


def outputs(cfg, folder: Path, inputs):
    """A run's predictions for `inputs` (dataset.inputs) as numbers (a cv run's: the folds' average), and its
    classes ([] for regression): probabilities of each class or tag, or the target on its training scale."""
    learn = _load(cfg, folder, gpu.apply(cfg.gpu, quiet=True))
    preds = predictions(cfg, learn, inputs, labelled=False)[0]
    return preds.float().numpy(), [str(v) for v in getattr(learn.dls, "vocab", [])]


def predictions(cfg, learn, inputs, labelled: bool):
    """(predictions, targets, losses) of `inputs`: image tuples (x,) or (x, label) when `labelled`, or a table."""
    if isinstance(learn, Ensemble):  # the loss, where needed, comes from the averaged probabilities
        each = [predictions(cfg, one, inputs, labelled) for one in learn]
        return sum(preds for preds, _, _ in each) / len(each), each[0][1], None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if not isinstance(inputs, list):  # a table: its columns go through the procs fitted in training
            return (*learn.get_preds(dl=learn.dls.test_dl(inputs)), None)
        dl = learn.dls.test_dl(inputs, with_labels=labelled, rm_type_tfms=0, bs=cfg.model.bs)
        if cfg.model.tta:
            preds, targs = learn.tta(dl=dl)
            return preds, targs, None
        return learn.get_preds(dl=dl, with_loss=labelled) if labelled else (*learn.get_preds(dl=dl), None)
