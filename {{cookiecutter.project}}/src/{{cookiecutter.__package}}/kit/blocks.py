"""Generated blocks in files the user also writes: the lines from a begin marker line to an end one.

RULES.md, NOTES.md and paper.bib each hold blocks that a command rewrites while every byte
outside them stays the user's. A marker counts only as a whole line (spaces around it aside),
and API text goes in through `one_line` (or a fence, or a quote), so it can never forge one.
A marker line without its partner is refused: where the user's text starts is then unknowable.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import NamedTuple

from .errors import ProjectError

FIX = "put it back, or delete the whole block to have it written again"


class Block(NamedTuple):
    start: int  # where the begin line starts
    stop: int  # where the end marker ends (the line break after it is the user's)
    body: str  # the lines between the two marker lines
    fields: dict  # the begin pattern's named groups (an id, a hash)


def find(text: str, begin: str | re.Pattern, end: str, name: str, start: int = 0) -> Block | None:
    """The first block from offset `start`, None when there is none. `begin` is the marker line, or
    a pattern for the whole line when it carries data; its named groups fill `end`'s {fields}."""
    opening = _line(begin).search(text, start)
    if opening is None:
        if isinstance(begin, str) and _line(end).search(text, start):
            raise ProjectError(
                f"{name}: the line opening the generated block is missing ({begin!r} is not before {end!r}; {FIX})"
            )
        return None
    fields = opening.groupdict()
    if isinstance(begin, re.Pattern):
        end = end.format(**fields)
    closing = _line(end).search(text, opening.end())
    if closing is None:
        raise ProjectError(
            f"{name}: the line closing the generated block is missing ({end!r} is not after its begin line; {FIX})"
        )
    head = text.index("\n", opening.end()) + 1
    return Block(opening.start(), closing.end(), text[head : closing.start()], fields)


def replace(
    text: str, begin: str, end: str, body: str, name: str, add: Callable[[str, str], str], start: int = 0
) -> str:
    """`text` with `body` between the marker lines; a missing block is placed by `add(text, block)`."""
    block = "\n".join([begin, body, end])
    found = find(text, begin, end, name, start)
    return add(text, block) if found is None else text[: found.start] + block + text[found.stop :]


def outside(text: str, markers: list[tuple[str, str]], name: str) -> str:
    """`text` less each (begin, end) block, its marker lines included: the user's part."""
    for begin, end in markers:
        if found := find(text, begin, end, name):
            text = text[: found.start] + text[found.stop :]
    return text


def one_line(text) -> str:
    """API text for a one-line field, as it came but for what would break the file: line breaks and
    control characters become spaces (it must not add lines, such as a marker line), and '<!--' is
    written '&lt;!--', which renders as '<!--' but cannot start a comment that hides the rest."""
    text = "".join(char if char.isprintable() else " " for char in str(text or ""))
    return " ".join(text.split()).replace("<!--", "&lt;!--")


def _line(marker: str | re.Pattern) -> re.Pattern:
    if isinstance(marker, re.Pattern):
        return marker
    return re.compile(rf"^[ \t]*{re.escape(marker)}(?=[ \t]*$)", re.M)
