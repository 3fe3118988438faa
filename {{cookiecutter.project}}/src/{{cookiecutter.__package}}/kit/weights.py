"""Pretrained weights: where torchvision caches them, timm offline, and "pretrained, or say why not".

torchvision keeps ImageNet weights as $TORCH_HOME/hub/checkpoints/<file>; timm (any other
arch name) reads the Hugging Face cache. `pretrained_or_explain` builds a learner with
them, and when they cannot be had explains the fix in one line.
"""

from __future__ import annotations

import difflib
import os
import pickle
import socket
import warnings
from contextlib import contextmanager
from pathlib import Path

from .errors import ProjectError, hint
from .quiet import fastai_vision

TORCHVISION = ("resnet18", "resnet34", "resnet50")  # what the prompts offer; any timm name works too


def torchvision_arch(name: str):
    """The torchvision model function fastai knows for `name` (resnet18/34/50...), else None."""
    import torchvision.models as tvm

    function = getattr(tvm, name, None)
    return function if function in fastai_vision().model_meta else None


def architecture(name: str):
    """What vision_learner takes for model.arch: a torchvision function, or a timm model name."""
    function = torchvision_arch(name)
    if function is not None:
        return function
    import timm

    if timm.is_model(name):
        return name  # fastai builds timm models from their name
    close = difflib.get_close_matches(name, [*TORCHVISION, *timm.list_models()], n=1)
    hint = f"did you mean {close[0]}? " if close else ""
    raise ProjectError(f"unknown model.arch {name!r} ({hint}use resnet18, resnet34, resnet50 or a timm model name)")


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


def cache() -> Path:
    """Where torchvision keeps downloaded weights ($TORCH_HOME/hub/checkpoints)."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


def cached(arch: str) -> Path | None:
    """The cached weights file for a torchvision arch, when it is on disk."""
    name = weights_file(arch)
    path = cache() / name if name else None
    return path if path and path.is_file() else None


def pretrained_or_explain(build, arch: str, pretrained: bool):
    """build(pretrained): with ImageNet weights where asked and they can be had; otherwise ProjectError
    with the fix (`make train NO_PRETRAINED=1`, or where to put the file)."""
    try:
        timm_offline = pretrained and torchvision_arch(arch) is None and not os.environ.get("HF_HUB_OFFLINE")
        with hub_offline(timm_offline and not _hub_reachable()), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torchvision/timm notices about weights enums
            return build(pretrained)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as exc:
        if not pretrained:
            raise
        raise ProjectError(_problem(arch, exc)) from None


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


def _problem(arch: str, exc: Exception) -> str:
    reason = " ".join(str(exc).split()) or type(exc).__name__
    if len(reason) > 160:
        reason = reason[:160].rsplit(" ", 1)[0] + " ..."
    name = weights_file(arch)
    if name and (cache() / name).is_file():
        return (
            f"cannot load the cached weights {cache() / name}: {reason} "
            "(delete that file: the next `make train` downloads it again; `make doctor` checks the cache)"
        )
    where = f"copy {name} into {cache()}, " if name else "put them in the Hugging Face cache (HF_HOME), "
    return (
        f"could not download ImageNet weights for {arch}: {reason} "
        f"(connect to the internet, or {where}or train from random init: {hint('train', no_pretrained=True)})"
    )
