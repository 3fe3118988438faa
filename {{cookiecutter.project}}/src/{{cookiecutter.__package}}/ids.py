"""Names and ids: project folders, package names, Kaggle slugs, arXiv ids.

Pure standard library on purpose: the template's hooks load this very file
to check a user's answers, so the rules live in one place.
"""

from __future__ import annotations

import keyword
import re
import sys
import unicodedata
from urllib.parse import unquote, urlsplit

EXAMPLE_COMPETITION = "digit-recognizer"
EXAMPLE_PAPER = "1512.03385"
MAX_FOLDER = 64

_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_NEW_ID = re.compile(r"(?P<yymm>\d{4})\.(?P<num>\d{4,5})(?P<version>v[1-9]\d*)?")
_OLD_ID = re.compile(
    r"(?P<archive>[a-z]+(?:-[a-z]+)*)(?P<subject>\.[A-Z]{2})?/(?P<yymm>\d{4})(?P<num>\d{3})"
    r"(?P<version>v[1-9]\d*)?"
)
_FOLDER = re.compile(r"[^\W_][\w.-]*")
_KAGGLE_HOSTS = {"kaggle.com", "www.kaggle.com"}
_ARXIV_HOSTS = {"arxiv.org", "www.arxiv.org", "export.arxiv.org"}
# Names a project package must not take: they would shadow what it imports.
_TAKEN = {
    "accelerate", "arxiv", "fastai", "fastcore", "kaggle", "kagglehub", "kagglesdk",
    "matplotlib", "numpy", "pandas", "PIL", "pytest", "sklearn", "src", "tests",
    "timm", "torch", "torchvision",
}  # fmt: skip


class IdError(ValueError):
    """An answer or id that cannot be used; the message says how to fix it."""


def parse_competition(text: str) -> str:
    """Return the competition slug of a slug or a kaggle.com competition URL."""
    raw = text.strip()
    slug = raw
    if "/" in raw or raw.startswith("kaggle.com"):
        url = _split_url(raw)
        parts = [unquote(p) for p in url.path.split("/") if p]
        if url.hostname not in _KAGGLE_HOSTS or len(parts) < 2 or parts[0] not in {"c", "competitions"}:
            raise IdError(
                f"{text!r} is not a Kaggle competition URL "
                f"(use https://www.kaggle.com/competitions/{EXAMPLE_COMPETITION} or the slug {EXAMPLE_COMPETITION})"
            )
        slug = parts[1]
    slug = slug.lower()
    if not _SLUG.fullmatch(slug) or len(slug) > 100:
        raise IdError(
            f"{text!r} is not a competition slug (lowercase letters, digits and '-', e.g. {EXAMPLE_COMPETITION})"
        )
    return slug


def parse_arxiv_id(text: str) -> str:
    """Return the arXiv id (version kept if given) of an id, `arXiv:` id or abs/pdf URL."""
    raw = text.strip()
    candidate = raw
    if re.match(r"(?i)arxiv:", raw):
        candidate = raw[6:]
    elif "://" in raw or raw.lower().startswith(("arxiv.org", "www.arxiv.org", "export.arxiv.org")):
        url = _split_url(raw)
        path = unquote(url.path)
        match = re.fullmatch(r"/(?:abs|pdf|html)/(.+?)(?:\.pdf)?/?", path)
        if url.hostname not in _ARXIV_HOSTS or not match:
            raise IdError(f"{text!r} is not an arXiv abs or pdf URL (use https://arxiv.org/abs/{EXAMPLE_PAPER})")
        candidate = match.group(1)
    new = _NEW_ID.fullmatch(candidate)
    if new:
        yymm, num = new["yymm"], new["num"]
        month_ok = 1 <= int(yymm[2:]) <= 12
        width_ok = len(num) == (5 if yymm >= "1501" else 4)
        if month_ok and width_ok and yymm >= "0704":
            return candidate
    old = _OLD_ID.fullmatch(candidate)
    if old and 1 <= int(old["yymm"][2:]) <= 12:
        return candidate
    raise IdError(f"{text!r} is not an arXiv id (e.g. {EXAMPLE_PAPER}, 2107.05580v2 or hep-th/9901001)")


def split_version(arxiv_id: str) -> tuple[str, int | None]:
    """'1512.03385v2' -> ('1512.03385', 2); no version -> (id, None)."""
    match = re.fullmatch(r"(.+?)v([1-9]\d*)", arxiv_id)
    return (match[1], int(match[2])) if match else (arxiv_id, None)


def looks_like_paper(text: str) -> bool:
    """True when the answer names an arXiv paper rather than a competition."""
    raw = text.strip()
    if re.match(r"(?i)(arxiv:|(https?://)?(www\.|export\.)?arxiv\.org)", raw):
        return True
    # Slugs never contain '.', new arXiv ids always do; old ids carry a '/' but no host.
    return bool(_NEW_ID.fullmatch(raw) or _OLD_ID.fullmatch(raw) or re.fullmatch(r"\d+\.\d+(v\d+)?", raw))


def parse_source(text: str) -> tuple[str, str]:
    """Return ('kaggle', slug) or ('paper', arxiv_id) for a competition or paper answer."""
    if looks_like_paper(text):
        return "paper", parse_arxiv_id(text)
    return "kaggle", parse_competition(text)


def default_folder(text: str) -> str:
    """The folder a source bakes into unless the user names another."""
    try:
        kind, ident = parse_source(text)
    except IdError:
        return ""
    if kind == "kaggle":
        return ident
    return "arxiv-" + split_version(ident)[0].replace("/", "-")


def check_folder(name: str) -> str:
    """Return the project folder name, or raise IdError saying what to type instead."""
    hint = _slugify(name) or "my-project"
    if name != name.strip() or not name:
        raise IdError(f"{name!r} is empty or has spaces around it (try {hint!r})")
    if "/" in name or "\\" in name or name in {".", ".."}:
        raise IdError(f"{name!r} is a path; give one folder name, created in the current folder (try {hint!r})")
    if not _FOLDER.fullmatch(name) or not name.isprintable():
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
    if name[:1].isdigit():
        name = f"ml_{name}"
    return name


def check_package(name: str, folder: str) -> str:
    """Raise IdError when the package name derived from `folder` cannot be used."""
    if not name or not name.isidentifier():
        raise IdError(f"{folder!r} gives no Python package name (use ASCII letters, e.g. my-project)")
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        raise IdError(f"{folder!r} gives the package {name!r}, a Python keyword (try {name}-project)")
    if name in _TAKEN or name in sys.stdlib_module_names:
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
    try:
        check_package(package_name(check_folder(folder)), folder)
    except IdError as exc:
        problems.append(f"project: {exc}")
    if answers.get("backbone") not in {"resnet18", "resnet34", "resnet50"}:
        problems.append(f"backbone: {answers.get('backbone')!r} is not one of resnet18, resnet34, resnet50")
    author = str(answers.get("author", ""))
    if not author.strip() or not author.isprintable() or len(author) > 200:
        problems.append(f"author: {author!r} must be one printable line (e.g. Ada Lovelace)")
    return problems


def _split_url(raw: str):
    """urlsplit, with a scheme added when the user left it out; a mangled URL is an IdError."""
    try:
        return urlsplit(raw if "://" in raw else f"https://{raw}")
    except ValueError as exc:  # e.g. an unclosed '[' reads as a broken IPv6 host
        raise IdError(f"{raw!r} is not a URL ({exc})") from None


def _slugify(text: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:MAX_FOLDER].strip("-")
