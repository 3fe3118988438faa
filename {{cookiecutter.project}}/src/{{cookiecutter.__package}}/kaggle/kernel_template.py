"""The script Kaggle runs for `make kaggle-push`: this project's own commands, on Kaggle's machine.

`make kaggle-push` (kernels.py) copies this file into build/kernel/ with SETTINGS and CODE
filled in: CODE is the project's src/ and config.toml as a zip. On Kaggle it unpacks them
into /kaggle/working, puts the ImageNet weights of an attached dataset where torchvision
looks for them (with internet off nothing can be downloaded), then runs
`python -m <package> data`, `train` and `predict`, the same commands as on your machine,
and copies the prediction to /kaggle/working/submission.csv (what code competitions score).
Standard library only: it runs before the project is there. Try it locally with
`KAGGLE_INPUT=<folder> KAGGLE_WORKING=<folder> python build/kernel/kernel.py --dry-run`.
"""

import base64
import io
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

# Filled in by `make kaggle-push`; this unfilled copy is the template and does not run.
SETTINGS = {}
CODE = ""


def main(argv: list[str]) -> int:
    if not SETTINGS:
        print("error: this is the template of the kernel script (run `make kaggle-push` to build one)")
        return 2
    dry_run = "--dry-run" in argv
    inputs = Path(os.environ.get("KAGGLE_INPUT") or "/kaggle/input")
    working = Path(os.environ.get("KAGGLE_WORKING") or "/kaggle/working")
    os.environ.setdefault("KAGGLE_KERNEL_RUN_TYPE", "Batch")  # the project reads data from the input mount
    unpack(working)
    flags = weights(inputs)
    if flags is None:
        return 2
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(working / "src"), os.environ.get("PYTHONPATH")])),
    }
    trained = False
    try:
        for command in SETTINGS["commands"]:
            if dry_run and trained:
                print(f"dry run: stopped before {command[0]}", flush=True)
                break
            if command[0] == "train":
                command, trained = [*command, *flags, *(["--dry-run"] if dry_run else [])], True
            print(f"$ python -m {SETTINGS['package']} {' '.join(command)}", flush=True)
            done = subprocess.run([sys.executable, "-m", SETTINGS["package"], *command], cwd=working, env=env)
            if done.returncode:
                print(f"error: `{command[0]}` failed with exit code {done.returncode} (see the lines above)")
                return done.returncode
        if not dry_run:
            return copy_submission(working)
        return 0
    finally:
        raw = working / "data" / "raw"
        if raw.is_symlink():  # it points at the competition's files: not an output to save
            raw.unlink()


def unpack(working: Path) -> None:
    """The project's src/ and config.toml into `working`."""
    with zipfile.ZipFile(io.BytesIO(base64.b64decode(CODE))) as archive:
        archive.extractall(working)  # our own zip (kernels.pack); extractall drops absolute paths and '..' anyway
        count = len(archive.namelist())
    print(f"unpacked {SETTINGS['project']} ({count} files) into {working}", flush=True)


def weights(inputs: Path) -> list[str] | None:
    """Flags for `train`: [] when ImageNet weights can be had, --no-pretrained when they cannot; None: stop."""
    if not SETTINGS["pretrained"]:
        print("weights: model.pretrained = false: training from random init", flush=True)
        return []
    if SETTINGS["internet"]:
        print("weights: internet is on: torchvision downloads the ImageNet weights", flush=True)
        return []
    dataset, wanted = SETTINGS["weights_dataset"], SETTINGS["weights_file"]
    if not dataset or not wanted:
        print(f"weights: internet is off and {SETTINGS['weights_hint']}: training from RANDOM INIT", flush=True)
        return ["--no-pretrained"]
    owner, _, name = dataset.partition("/")
    folders = [inputs / name, inputs / "datasets" / owner / name]
    folder = next((f for f in folders if f.is_dir()), None)
    if folder is None:
        print(f"error: the weights dataset {dataset} is not mounted at {folders[0]} (add it as an input, push again)")
        return None
    cache = torch_home() / "hub" / "checkpoints"
    cache.mkdir(parents=True, exist_ok=True)
    found = sorted(folder.rglob("*.pth"))
    for path in found:
        shutil.copyfile(path, cache / path.name)  # torchvision finds its weights by exact file name
    if not (cache / wanted).is_file():
        names = ", ".join(p.name for p in found) or "no .pth file"
        print(f"error: {dataset} holds {names}, not {wanted} (upload the file under exactly that name)")
        return None
    print(f"weights: {wanted} from {dataset} copied into {cache}", flush=True)
    return []


def torch_home() -> Path:
    """Where torch keeps its hub cache, worked out the way torch does (torch is not imported here)."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
    return Path(os.environ.get("TORCH_HOME") or os.path.join(cache, "torch")).expanduser()


def copy_submission(working: Path) -> int:
    """The newest prediction, as /kaggle/working/submission.csv: the file a code competition scores."""
    written = sorted((working / "submissions").glob("*.csv"), key=lambda p: p.stat().st_mtime_ns)
    written = [p for p in written if p.name != "log.csv"]
    if not written:
        print("error: predict wrote no CSV in submissions/ (see the lines above)")
        return 2
    shutil.copyfile(written[-1], working / "submission.csv")
    print(f"wrote {working / 'submission.csv'} (from submissions/{written[-1].name})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
