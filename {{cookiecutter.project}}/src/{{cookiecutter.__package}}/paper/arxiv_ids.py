"""arXiv ids as users paste them: `1512.03385`, `2107.05580v2`, `hep-th/9901001`, `arXiv:...`,
abs/pdf URLs. Pure standard library: the template's answer checks load this very file, so
the rules live in one place."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

EXAMPLE = "1512.03385"
NEW_ID = re.compile(r"(?P<yymm>\d{4})\.(?P<num>\d{4,5})(?P<version>v[1-9]\d*)?")
OLD_ID = re.compile(
    r"(?P<archive>[a-z]+(?:-[a-z]+)*)(?P<subject>\.[A-Z]{2})?/(?P<yymm>\d{4})(?P<num>\d{3})"
    r"(?P<version>v[1-9]\d*)?"
)
HOSTS = {"arxiv.org", "www.arxiv.org", "export.arxiv.org"}


class IdError(ValueError):
    """An answer or id that cannot be used; the message says how to fix it."""


def parse_arxiv_id(text: str) -> str:
    """Return the arXiv id (version kept if given) of an id, `arXiv:` id or abs/pdf URL."""
    raw = text.strip()
    candidate = raw
    if re.match(r"(?i)arxiv:", raw):
        candidate = raw[6:]
    elif "://" in raw or raw.lower().startswith(tuple(HOSTS)):
        url = split_url(raw)
        match = re.fullmatch(r"/(?:abs|pdf|html)/(.+?)(?:\.pdf)?/?", unquote(url.path))
        if url.hostname not in HOSTS or not match:
            raise IdError(f"{text!r} is not an arXiv abs or pdf URL (use https://arxiv.org/abs/{EXAMPLE})")
        candidate = match.group(1)
    new = NEW_ID.fullmatch(candidate)
    if new:
        yymm, num = new["yymm"], new["num"]
        month_ok = 1 <= int(yymm[2:]) <= 12
        width_ok = len(num) == (5 if yymm >= "1501" else 4)
        if month_ok and width_ok and yymm >= "0704":
            return candidate
    old = OLD_ID.fullmatch(candidate)
    if old and 1 <= int(old["yymm"][2:]) <= 12:
        return candidate
    raise IdError(f"{text!r} is not an arXiv id (e.g. {EXAMPLE}, 2107.05580v2 or hep-th/9901001)")


def split_version(arxiv_id: str) -> tuple[str, int | None]:
    """'1512.03385v2' -> ('1512.03385', 2); no version -> (id, None)."""
    match = re.fullmatch(r"(.+?)v([1-9]\d*)", arxiv_id)
    return (match[1], int(match[2])) if match else (arxiv_id, None)


def split_url(raw: str):
    """urlsplit, with a scheme added when the user left it out; a mangled URL is an IdError."""
    try:
        return urlsplit(raw if "://" in raw else f"https://{raw}")
    except ValueError as exc:  # e.g. an unclosed '[' reads as a broken IPv6 host
        raise IdError(f"{raw!r} is not a URL ({exc})") from None
