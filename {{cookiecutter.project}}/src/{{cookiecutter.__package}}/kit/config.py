"""config.toml, read into typed settings: the one place every command takes its settings from.

Unknown keys and wrong types are refused with the fix; flags override single keys
for one run (`Config.override`); `set_value` records a setting back into the
file without touching its comments (tomlkit).
"""

from __future__ import annotations

import dataclasses
import difflib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ProjectError, suggest
from .files import read_text, write_text

CONFIG_FILE = "config.toml"
LAYOUTS = ("auto", "pixel-csv", "labels-csv", "folder-per-class", "labels-in-names", "tabular")
TASKS = ("auto", "classification", "multi-label", "regression")
# CV metrics and the competitions' evaluation metrics they stand for (kit/metrics.py computes them)
METRICS = ("auto", "accuracy", "error_rate", "log_loss", "roc_auc", "rmse", "rmsle", "mae", "f1", "f2")


@dataclass(frozen=True)
class Project:
    name: str
    package: str
    kind: str
    competition: str = ""
    paper: str = ""
    author: str = ""


@dataclass(frozen=True)
class Data:
    raw: str = "data/raw"
    layout: str = "auto"
    train: str = ""  # the labels CSV or image folder that make data detected, relative to raw
    test: str = ""  # the test CSV or image folder
    sample: str = ""  # sample_submission.csv (Kaggle)
    id_column: str = ""
    label_column: str = ""
    image_folder: str = ""
    image_suffix: str = ""
    task: str = "auto"  # classification | multi-label | regression, from the labels (make data)
    target_transform: str = "auto"  # log1p: trained on log(1 + y), written back on y's scale
    exclude: list = field(default_factory=list)  # tabular: columns kept out of the features (ids, free text)
    dataset: str = ""  # paper kind: cifar10, mnist, imagenette, pets, kaggle:owner/name, path:folder


@dataclass(frozen=True)
class Model:
    arch: str = "resnet34"
    pretrained: bool = True
    size: int = 224
    epochs: int = 3
    lr: float = 0.0  # 0: lr_find, or the recipe's LR when the fit is too short for it (train.py)
    bs: int = 64
    valid_pct: float = 0.2
    tta: bool = False


@dataclass(frozen=True)
class Gpu:
    devices: str = "auto"
    memory_fraction: float = 0.0
    precision: str = "auto"
    channels_last: bool = True
    cudnn_benchmark: bool = True
    tf32: bool = True
    workers: str = "auto"
    seed: int = 42
    deterministic: bool = False


@dataclass(frozen=True)
class Cv:
    k: int = 5  # folds in data/folds.csv
    group: str = ""  # a column of the training CSV whose rows must share a fold ("" = none)
    seed: int = 42  # the folds' own seed: [gpu] seed can vary without moving them
    metric: str = "auto"  # the competition's, where make data knows it; auto: accuracy, rmse or f1 by task


@dataclass(frozen=True)
class Submit:
    message: str = "baseline"
    poll_seconds: int = 300


@dataclass(frozen=True)
class Kernel:
    owner: str = ""  # Kaggle username owning the kernel; "" = the one your credentials belong to
    machine_shape: str = "NvidiaTeslaT4"  # NvidiaTeslaT4 | NvidiaTeslaP100
    weights_dataset: str = ""  # owner/dataset holding torchvision .pth files (internet-off runs)
    timeout_minutes: int = 0  # 0 = Kaggle's own limit


@dataclass(frozen=True)
class Config:
    root: Path
    project: Project
    data: Data = field(default_factory=Data)
    model: Model = field(default_factory=Model)
    gpu: Gpu = field(default_factory=Gpu)
    submit: Submit = field(default_factory=Submit)
    kernel: Kernel = field(default_factory=Kernel)
    cv: Cv = field(default_factory=Cv)

    @property
    def kind(self) -> str:
        return self.project.kind

    def path(self, relative: str | Path) -> Path:
        """A path from config.toml, resolved against the project folder."""
        return self.root / relative

    @property
    def raw(self) -> Path:
        return self.path(self.data.raw)

    def override(self, section: str, **values) -> Config:
        """A copy with some keys of one table replaced; `None` values are ignored (flag not given)."""
        values = {k: v for k, v in values.items() if v is not None}
        if not values:
            return self
        table = getattr(self, section)
        checked = _check_table(section, type(table), {**dataclasses.asdict(table), **values})
        return dataclasses.replace(self, **{section: checked})


SECTIONS = {f.name: f.type for f in dataclasses.fields(Config) if f.name != "root"}
CHOICES = {
    ("project", "kind"): ("kaggle", "paper"),
    ("data", "layout"): LAYOUTS,
    ("gpu", "precision"): ("auto", "fp32", "fp16", "bf16"),
    ("data", "task"): TASKS,
    ("data", "target_transform"): ("auto", "none", "log1p"),
    ("cv", "metric"): METRICS,
}
RANGES = {
    ("model", "size"): (8, 4096),
    ("model", "epochs"): (0, 10_000),
    ("model", "bs"): (1, 1 << 16),
    ("model", "valid_pct"): (0.0, 0.9),
    ("model", "lr"): (0.0, 10.0),
    ("gpu", "memory_fraction"): (0.0, 1.0),
    ("kernel", "timeout_minutes"): (0, 12 * 60),
    ("cv", "k"): (2, 100),
}


def find_root(start: Path | None = None) -> Path:
    """The project folder: the nearest folder upwards holding config.toml."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_FILE).is_file():
            return folder
    raise ProjectError(f"no {CONFIG_FILE} here or above {here} (run commands inside the project folder)")


def load(path: Path | None = None) -> Config:
    """Read and check config.toml (found upwards from the current folder when no path is given)."""
    path = Path(path) if path else find_root() / CONFIG_FILE
    try:
        raw = tomllib.loads(read_text(path))
    except FileNotFoundError:
        raise ProjectError(f"{path} is missing (run commands inside the project folder)") from None
    except tomllib.TOMLDecodeError as exc:
        raise ProjectError(f"{path} is not valid TOML: {exc} (fix that line)") from None
    unknown = sorted(set(raw) - set(SECTIONS))
    if unknown:
        raise ProjectError(f"{path.name}: unknown table [{unknown[0]}]{suggest(unknown[0], SECTIONS)}")
    if "project" not in raw:
        raise ProjectError(f"{path.name}: the [project] table is missing (bake the project again or restore it)")
    tables = {}
    for name, cls in SECTIONS.items():
        value = raw.get(name, {})
        if not isinstance(value, dict):
            raise ProjectError(f"{path.name}: {name} must be a table like [{name}]")
        tables[name] = _check_table(name, _resolve(cls), value)
    return Config(root=path.parent.resolve(), **tables)


def set_value(path: Path, section: str, key: str, value) -> None:
    """Write `key = value` into one table of config.toml, keeping every comment and other line (tomlkit)."""
    import tomlkit

    path = Path(path)
    document = tomlkit.parse(read_text(path))
    if section not in document:
        document[section] = tomlkit.table()
    document[section][key] = value
    write_text(path, tomlkit.dumps(document))


def _check_table(name: str, cls, values: dict):
    known = {f.name: f for f in dataclasses.fields(cls)}
    for key, value in values.items():
        if key not in known:
            raise ProjectError(f"{CONFIG_FILE}: unknown key {name}.{key}{suggest(key, known)}")
        _check_value(name, key, _resolve(known[key].type), value)
    unset = dataclasses.MISSING
    missing = [k for k, f in known.items() if k not in values and f.default is unset and f.default_factory is unset]
    if missing:
        raise ProjectError(f"{CONFIG_FILE}: [{name}] needs {missing[0]} (bake again or add it)")
    return cls(**values)


def _check_value(table: str, key: str, kind: type, value) -> None:
    where = f"{CONFIG_FILE}: {table}.{key}"
    ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        ok = True
    if not ok:
        raise ProjectError(f"{where} = {value!r} should be a {kind.__name__} (e.g. {table}.{key} = {_example(kind)})")
    if kind is list and not all(isinstance(item, str) for item in value):
        raise ProjectError(f'{where} = {value!r} should list column names (e.g. {table}.{key} = ["Name", "Ticket"])')
    choices = CHOICES.get((table, key))
    if choices and value not in choices:
        close = difflib.get_close_matches(str(value), choices, n=1)
        instead = f'write {table}.{key} = "{close[0] if close else choices[0]}"'
        raise ProjectError(f"{where} = {value!r} is not one of {', '.join(choices)} ({instead})")
    low_high = RANGES.get((table, key))
    if low_high and not low_high[0] <= value <= low_high[1]:
        near = min(max(value, low_high[0]), low_high[1])
        raise ProjectError(
            f"{where} = {value!r} is outside {low_high[0]}..{low_high[1]} (write a value in that range, "
            f"e.g. {table}.{key} = {near!r})"
        )


def _resolve(annotation):
    """Dataclass field types are strings under `from __future__ import annotations`."""
    names = {"str": str, "int": int, "float": float, "bool": bool, "list": list}
    if isinstance(annotation, str):
        return names.get(annotation) or globals()[annotation]
    return annotation


def _example(kind: type) -> str:
    return {str: '"text"', int: "3", float: "0.5", bool: "true", list: '["Name"]'}.get(kind, "...")
