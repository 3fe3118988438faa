"""The bake's answers: which kind a source names, the folder and package it gives, every problem.

The prompts (local_extensions.py) and the pre-gen hook both use this file, and the
arXiv id rules come from the paper kind's own `arxiv_ids.py`, imported from the template
tree: each rule is written once. Pure standard library: hooks run it before anything
is installed; only asking Kaggle whether a competition exists needs its client.
"""

import importlib
import importlib.util
import keyword
import re
import sys
import unicodedata
from pathlib import Path
from urllib.parse import unquote

PACKAGE = Path(__file__).parent / "{{cookiecutter.project}}" / "src" / "{{cookiecutter.__package}}"
STAND_IN = "mlstarter_package"  # the template's package under a name Python can import


def package_module(name: str):
    """A module of the generated package (`kit.files`), imported from the template tree, relative
    imports and all, without writing a __pycache__ there (cookiecutter would copy it into every project)."""
    saved, sys.dont_write_bytecode = sys.dont_write_bytecode, True
    try:
        if STAND_IN not in sys.modules:
            where = [str(PACKAGE)]
            spec = importlib.util.spec_from_file_location(
                STAND_IN, PACKAGE / "__init__.py", submodule_search_locations=where
            )
            sys.modules[STAND_IN] = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(sys.modules[STAND_IN])
        return importlib.import_module(f"{STAND_IN}.{name}")
    finally:
        sys.dont_write_bytecode = saved


arxiv = package_module("paper.arxiv_ids")
files = package_module("kit.files")
IdError = arxiv.IdError
PROBE_BYTES = 1 << 20  # more than a bake writes: a disk that takes this takes the project

EXAMPLE_COMPETITION = "digit-recognizer"
BACKBONES = ("resnet18", "resnet34", "resnet50")
MAX_FOLDER = 64
SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
FOLDER = re.compile(r"[^\W_][\w.-]*")
KAGGLE_HOSTS = {"kaggle.com", "www.kaggle.com"}
# Names a project package must not take: they would shadow what it imports.
TAKEN = {
    "accelerate", "arxiv", "fastai", "fastcore", "kaggle", "kagglehub", "kagglesdk",
    "matplotlib", "numpy", "pandas", "PIL", "pytest", "sklearn", "src", "tests",
    "timm", "torch", "torchvision",
}  # fmt: skip


def parse_competition(text: str) -> str:
    """Return the competition slug of a slug or a kaggle.com competition URL."""
    raw = text.strip()
    slug = raw
    if "/" in raw or raw.startswith("kaggle.com"):
        url = arxiv.split_url(raw)
        parts = [unquote(p) for p in url.path.split("/") if p]
        if url.hostname not in KAGGLE_HOSTS or len(parts) < 2 or parts[0] not in {"c", "competitions"}:
            raise IdError(
                f"{text!r} is not a Kaggle competition URL "
                f"(use https://www.kaggle.com/competitions/{EXAMPLE_COMPETITION} or the slug {EXAMPLE_COMPETITION})"
            )
        slug = parts[1]
    slug = slug.lower()
    if not SLUG.fullmatch(slug) or len(slug) > 100:
        raise IdError(
            f"{text!r} is not a competition slug (lowercase letters, digits and '-', e.g. {EXAMPLE_COMPETITION})"
        )
    return slug


def looks_like_paper(text: str) -> bool:
    """True when the answer names an arXiv paper rather than a competition."""
    raw = text.strip()
    if re.match(r"(?i)(arxiv:|(https?://)?(www\.|export\.)?arxiv\.org)", raw):
        return True
    # Slugs never contain '.', new arXiv ids always do; old ids carry a '/' but no host.
    return bool(arxiv.NEW_ID.fullmatch(raw) or arxiv.OLD_ID.fullmatch(raw) or re.fullmatch(r"\d+\.\d+(v\d+)?", raw))


def parse_source(text: str) -> tuple[str, str]:
    """Return ('kaggle', slug) or ('paper', arxiv_id) for a competition or paper answer."""
    if looks_like_paper(text):
        return "paper", arxiv.parse_arxiv_id(text)
    return "kaggle", parse_competition(text)


def default_folder(text: str) -> str:
    """The folder a source bakes into unless the user names another."""
    try:
        kind, ident = parse_source(text)
    except IdError:
        return ""
    return ident if kind == "kaggle" else "arxiv-" + arxiv.split_version(ident)[0].replace("/", "-")


def kind(source) -> str:
    """'kaggle' or 'paper', '' for an answer that is neither."""
    try:
        return parse_source(str(source))[0]
    except IdError:
        return ""


def ident(source, wanted: str) -> str:
    """The slug or arXiv id a source names when it is of the `wanted` kind, else ''."""
    try:
        found, value = parse_source(str(source))
    except IdError:
        return ""
    return value if found == wanted else ""


def check_folder(name: str) -> str:
    """Return the project folder name, or raise IdError saying what to type instead."""
    hint = _slugify(name) or "my-project"
    if name != name.strip() or not name:
        raise IdError(f"{name!r} is empty or has spaces around it (try {hint!r})")
    if "/" in name or "\\" in name or name in {".", ".."}:
        raise IdError(f"{name!r} is a path; give one folder name, created in the current folder (try {hint!r})")
    if not FOLDER.fullmatch(name) or not name.isprintable():
        raise IdError(
            f"{name!r} has characters a folder name should not (letters, digits, '-', '_', '.'; try {hint!r})"
        )
    if len(name) > MAX_FOLDER:
        raise IdError(f"{name!r} is longer than {MAX_FOLDER} characters (try {hint[:MAX_FOLDER]!r})")
    return name


def package_name(folder: str) -> str:
    """The Python package a project folder gives: 'Digit-Recognizer 2' -> 'digit_recognizer_2'."""
    ascii_name = unicodedata.normalize("NFKD", folder).encode("ascii", "ignore").decode()
    name = re.sub(r"[^a-z0-9]+", "_", ascii_name.lower()).strip("_")
    return f"ml_{name}" if name[:1].isdigit() else name


def check_package(name: str, folder: str) -> str:
    """Raise IdError when the package name derived from `folder` cannot be used."""
    if not name or not name.isidentifier():
        raise IdError(f"{folder!r} gives no Python package name (use ASCII letters, e.g. my-project)")
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        raise IdError(f"{folder!r} gives the package {name!r}, a Python keyword (try {name}-project)")
    if name in TAKEN or name in sys.stdlib_module_names:
        raise IdError(
            f"{folder!r} gives the package {name!r}, which would shadow a module it imports (try {name}-project)"
        )
    return name


def check_answers(answers: dict) -> list[str]:
    """Every problem with a bake's answers, one line each as `field: what (fix)`."""
    problems = []
    try:
        parse_source(str(answers.get("source", "")))
    except IdError as exc:
        problems.append(f"source: {exc}")
    folder = str(answers.get("project", ""))
    if not folder and problems:  # the folder's default comes from the source: one refused answer, one line
        folder = "project"
    try:
        check_package(package_name(check_folder(folder)), folder)
    except IdError as exc:
        problems.append(f"project: {exc}")
    if answers.get("backbone") not in BACKBONES:
        problems.append(f"backbone: {answers.get('backbone')!r} is not one of {', '.join(BACKBONES)}")
    author = str(answers.get("author", ""))
    if not author.strip() or not author.isprintable() or len(author) > 200:
        problems.append(f"author: {author!r} must be one printable line (e.g. Ada Lovelace)")
    return problems


def check_competition(slug: str) -> tuple[list[str], str]:
    """Ask Kaggle whether competition `slug` exists, through the project's own client code:
    ([problem], "") when Kaggle has none of that name, naming the closest its search finds;
    ([], note) when it could not be asked (no credentials, no client, no network); ([], "") when it exists."""
    kaggle_api = package_module("kit.kaggle_api")
    unchecked = f"source: could not check that Kaggle has a competition named {slug!r}"
    if kaggle_api.find_credentials() is None:
        return [], f"{unchecked}: {kaggle_api.NO_CREDENTIALS}"
    try:
        api = kaggle_api.client()
        kaggle_api.competition(api, slug)
        return [], ""
    except kaggle_api.ProjectError as exc:
        if getattr(exc, "status", None) != 404:
            return [], f"{unchecked}: {exc}"
    except Exception as exc:  # noqa: BLE001 - no kaggle client where cookiecutter runs, or an odd failure: a note
        return [], f"{unchecked}: {exc}"
    try:
        names = kaggle_api.similar(api, slug)
    except kaggle_api.ProjectError:
        names = []
    where = f"it is the last part of {kaggle_api.COMPETITION_URL.format(slug='<name>')}"
    fix = f"did you mean {' or '.join(names)}? {where}" if names else f"check the spelling: {where}"
    return [f"source: Kaggle has no competition named {slug!r} ({fix})"], ""


def check_output(folder) -> list[str]:
    """Why a bake into `folder` would stop half-way (read-only, full disk): cookiecutter itself would
    answer with a traceback and leave a half-made project behind."""
    problem = files.room_for(Path(folder), PROBE_BYTES) if folder is not None else None
    if problem is None:
        return []
    return [
        f"cannot write into {folder}: {problem.strerror or problem} "
        "(free some disk space, or bake into a folder you may write to: cookiecutter ... -o <folder>)"
    ]


def report(problems: list[str]) -> int:
    """Print each problem as `error: ...` on stderr; the exit code a refused bake ends with (2), else 0."""
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return 2 if problems else 0


def _slugify(text: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:MAX_FOLDER].strip("-")
