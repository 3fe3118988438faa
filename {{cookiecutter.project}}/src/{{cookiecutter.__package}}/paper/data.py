"""make data (paper kind): the dataset named in config.toml's [data] dataset, into data/raw.

- a fastai dataset (cifar10, cifar100, mnist, imagenette, pets): fastai's URLs and its
  recorded sizes and hashes, downloaded with a progress bar;
- `kaggle:owner/name`: a Kaggle dataset, through the Kaggle client (kaggle_api.py);
- `path:some/folder`: a folder already on this machine, linked into data/raw.

Archives are unpacked into a temporary folder beside the target and moved into place
only when complete; a member that would land outside it (absolute path, `..`, a link)
stops the unpacking. A second run finds the folder and only records the layout.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import time
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from ..kit import archives, watchdog
from ..kit.errors import DENIED, FULL, ProjectError, hint
from ..kit.kaggle_api import call, client
from ..kit.layouts import detect, write_to_config

# config name: fastai's URLs attribute (all unpack into one folder named after the archive)
FASTAI = {
    "cifar10": "CIFAR",
    "cifar100": "CIFAR_100",
    "mnist": "MNIST",
    "imagenette": "IMAGENETTE_160",
    "pets": "PETS",
}
S3 = "https://s3.amazonaws.com/"
ENV_MIRROR = "DATA_MIRROR"  # a URL (http://, https:// or file://) serving the same paths as S3
DOWNLOADS = ".downloads"  # under data/raw: archives while they download and unpack
KAGGLE_REF = re.compile(r"[A-Za-z0-9][\w-]*/[A-Za-z0-9][\w.-]*")
CHOICES = ", ".join([*FASTAI, "kaggle:owner/name", "path:some/folder"])


def download(cfg, force: bool = False) -> str:
    """Fetch the dataset into data/raw (once; `force` fetches it again), then record its layout."""
    spec = cfg.data.dataset.strip()
    started = time.monotonic()
    if spec in FASTAI:
        folder, fetched = _fastai(cfg, spec, force)
    elif spec.startswith("kaggle:"):
        folder, fetched = _kaggle(cfg, spec.removeprefix("kaggle:"), force)
    elif spec.startswith("path:"):
        folder, fetched = _local(cfg, spec.removeprefix("path:")), False
    else:
        raise ProjectError(f"config.toml: data.dataset = {spec!r} is not one I can fetch (use one of {CHOICES})")
    where = folder.relative_to(cfg.root).as_posix() if folder.is_relative_to(cfg.root) else str(folder)
    if fetched:
        what = f"{spec}: {_count(folder)} files in {where} ({time.monotonic() - started:.0f} s)"
    elif spec.startswith("path:"):
        what = f"{spec}: linked as {where}"
    else:
        what = f"{spec}: already in {where} ({hint('data', force=True)} fetches it again)"
        if cfg.data.layout != "auto":
            return f"{what}; layout {cfg.data.layout} as recorded in config.toml"
    return f"{what}; {write_to_config(cfg, _relative(detect(folder), folder, cfg.raw))}"


def _fastai(cfg, name: str, force: bool) -> tuple[Path, bool]:
    import fastai.data
    from fastai.data.external import URLs
    from fastdownload import checks_module, download_and_check

    url = getattr(URLs, FASTAI[name])
    mirror = os.environ.get(ENV_MIRROR)
    if mirror:
        url = mirror.rstrip("/") + "/" + url.removeprefix(S3)
    archive_name = PurePosixPath(urlsplit(url).path).name
    folder = cfg.raw / archive_name.removesuffix(".tgz").removesuffix(".tar.gz").removesuffix(".zip")
    if folder.exists() and not force:
        return folder, False
    archive = cfg.raw / DOWNLOADS / archive_name
    archive.parent.mkdir(parents=True, exist_ok=True)
    print(f"{name}: downloading {url}", flush=True)
    try:  # fastai's own download: a progress bar, a .part file, and the size and hash it recorded
        with watchdog.watch(f"downloading {name} from {url}", progress=lambda: _bytes(archive.parent)):
            download_and_check(url, archive, checks_module(fastai.data), force)
    except ProjectError:
        archive.unlink(missing_ok=True)
        raise
    except OSError as exc:  # urllib's errors (refused, 404, DNS) are OSErrors; a full disk is not the network's
        if getattr(exc, "errno", None) in FULL | DENIED:
            raise
        raise ProjectError(
            f"downloading {name} from {url} failed: {_reason(exc)} "
            f"(check the network or {ENV_MIRROR}, then `make data`)"
        ) from None
    except Exception as exc:  # fastdownload raises a bare Exception when the size or hash is wrong
        archive.unlink(missing_ok=True)
        said = str(exc)
        if isinstance(exc, NameError) and "ContentTooShortError" in said:  # fastcore's own bug: it never imports it
            said = "the connection closed before the whole file arrived"
        raise ProjectError(f"downloading {name} from {url} failed: {said} (run `make data` again)") from None
    finally:
        archive.with_name(archive.name + ".part").unlink(missing_ok=True)
    print(flush=True)  # fastdownload's bar leaves its line open
    unpack(archive, folder)
    _done_with(archive)
    return folder, True


def _kaggle(cfg, ref: str, force: bool) -> tuple[Path, bool]:
    if not KAGGLE_REF.fullmatch(ref):
        raise ProjectError(
            f"config.toml: data.dataset = 'kaggle:{ref}' is not a Kaggle dataset (use kaggle:owner/name, "
            "the last two parts of its kaggle.com/datasets/ URL)"
        )
    folder = cfg.raw / ref.split("/")[1]
    if folder.exists() and not force:
        return folder, False
    downloads = cfg.raw / DOWNLOADS
    api = client()
    print(f"kaggle:{ref}: downloading", flush=True)
    call(
        f"downloading {ref}",
        api.dataset_download_files,
        ref,
        path=str(downloads),
        force=force,
        quiet=False,
        progress=lambda: _bytes(downloads),
    )
    archive = downloads / f"{ref.split('/')[1]}.zip"
    unpack(archive, folder)
    _done_with(archive)
    return folder, True


def _local(cfg, name: str) -> Path:
    """A folder on this machine, linked into data/raw (nothing copied)."""
    source = (cfg.root / Path(name).expanduser()).resolve()
    if not source.is_dir():
        raise ProjectError(f"config.toml: data.dataset = 'path:{name}': {source} is not a folder (fix the path)")
    if source.is_relative_to(cfg.raw.resolve()):
        return cfg.raw / source.relative_to(cfg.raw.resolve())
    link = cfg.raw / source.name
    if link.is_symlink() and link.resolve() == source:
        return link
    if link.exists() or link.is_symlink():
        raise ProjectError(f"{link} exists and is not a link to {source} (move it away, then `make data`)")
    cfg.raw.mkdir(parents=True, exist_ok=True)
    link.symlink_to(source, target_is_directory=True)
    return link


def unpack(archive: Path, folder: Path) -> Path:
    """Unpack a .tgz/.tar/.zip into `folder`, all or nothing; an archive's single top folder is dropped."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".part", dir=folder.parent))
    try:
        archives.unpack(archive, tmp, fix="it was deleted; run `make data` again, or check the source")
        entries = [p for p in tmp.iterdir() if p.name != "__MACOSX"]
        top = entries[0] if len(entries) == 1 and entries[0].is_dir() else tmp
        if folder.exists() or folder.is_symlink():
            _remove(folder)
        os.replace(top, folder)
    except ProjectError:  # refused, damaged or empty: the next run must fetch it again, not unpack it again
        archive.unlink(missing_ok=True)
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def _done_with(archive: Path) -> None:
    """Delete an unpacked archive, and data/raw/.downloads when nothing else is in it."""
    archive.unlink()
    with contextlib.suppress(OSError):
        archive.parent.rmdir()


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    else:
        shutil.rmtree(path)


def _relative(found: dict, folder: Path, raw: Path) -> dict:
    """detect() names paths inside the dataset's folder; config.toml wants them inside data/raw."""
    prefix = PurePosixPath(folder.relative_to(raw).as_posix())
    paths = ("train", "test", "sample", "image_folder")
    return {k: (prefix / v).as_posix() if k in paths and v else v for k, v in found.items()}


def _bytes(folder: Path) -> int:
    """What a download has written so far (the watchdog's measure of progress)."""
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file()) if folder.is_dir() else 0


def _count(folder: Path) -> int:
    return sum(1 for p in folder.rglob("*") if p.is_file())


def _reason(exc: OSError) -> str:
    """'HTTP 404 File not found' or 'Connection refused': the first line, never the server's page."""
    if isinstance(getattr(exc, "code", None), int):
        return f"HTTP {exc.code} {str(getattr(exc, 'msg', '')).splitlines()[0] if exc.msg else ''}".strip()
    reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc
    return " ".join(str(reason).split())[:160]
