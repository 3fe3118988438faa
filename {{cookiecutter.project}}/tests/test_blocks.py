"""Generated blocks between marker lines: only the block changes, a lone marker is refused, API text is one line."""

import re

import pytest
from conftest import module

blocks = module("kit.blocks")
ProjectError = module("kit.errors").ProjectError

BEGIN, END = "<!-- begin -->", "<!-- end -->"
MINE = "# Title\n\nMy line, with `<!-- begin -->` inside it.\n"


def first(text, block):
    return block + "\n" + text


def test_a_block_is_rewritten_and_every_other_byte_kept():
    text = MINE + f"  {BEGIN}\nold\nlines\n{END}   \nMy last line  \n"
    new = blocks.replace(text, BEGIN, END, "new", "X.md", first)
    assert new == MINE + f"{BEGIN}\nnew\n{END}   \nMy last line  \n"
    assert blocks.replace(new, BEGIN, END, "new", "X.md", first) == new, "a second run changes nothing"
    assert blocks.outside(new, [(BEGIN, END)], "X.md") == MINE + "   \nMy last line  \n"


def test_a_missing_block_is_placed_by_the_caller():
    assert blocks.replace(MINE, BEGIN, END, "body", "X.md", first) == f"{BEGIN}\nbody\n{END}\n" + MINE


@pytest.mark.parametrize(
    "text, message",
    [
        (f"{BEGIN}\nbody\n", "X.md: the line closing the generated block is missing ('<!-- end -->' is not after"),
        (f"{END}\nbody\n{BEGIN}\n", "X.md: the line closing the generated block is missing"),
        (f"body\n{END}\n", "X.md: the line opening the generated block is missing ('<!-- begin -->' is not before"),
    ],
)
def test_a_marker_line_without_its_partner_is_refused_with_the_fix(text, message):
    with pytest.raises(ProjectError) as caught:
        blocks.replace(text, BEGIN, END, "body", "X.md", first)
    assert str(caught.value).startswith(message) and "put it back" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_begin_pattern_names_its_end_line_and_returns_its_fields():
    pattern = re.compile(r"^% BEGIN (?P<key>[0-9a-f]+)$", re.M)
    text = "% mine\n% BEGIN 0a1b\n@misc{x}\n% END ffff\n% END 0a1b\n% mine too\n"
    found = blocks.find(text, pattern, "% END {key}", "paper.bib")
    assert found.fields == {"key": "0a1b"} and found.body == "@misc{x}\n% END ffff\n"
    assert text[: found.start] == "% mine\n" and text[found.stop :] == "\n% mine too\n"
    assert blocks.find("% mine\n", pattern, "% END {key}", "paper.bib") is None
    assert blocks.find(text, pattern, "% END {key}", "paper.bib", start=found.stop) is None


def test_one_line_keeps_api_text_on_its_line_and_out_of_comments():
    assert blocks.one_line("A\ntitle\r\n\t<!-- end -->\x1b[31m\u2028ok") == "A title &lt;!-- end --> [31m ok"
    assert blocks.one_line(None) == "" and blocks.one_line(42) == "42"
