"""arXiv ids and the URLs users paste: normalised or refused with an example."""

import pytest
from conftest import module

ids = module("paper.arxiv_ids")


@pytest.mark.parametrize(
    "text, arxiv_id",
    [
        ("1512.03385", "1512.03385"),
        ("2107.05580v2", "2107.05580v2"),
        ("arXiv:1706.03762", "1706.03762"),
        ("https://arxiv.org/abs/1512.03385v1", "1512.03385v1"),
        ("https://arxiv.org/pdf/1512.03385.pdf", "1512.03385"),
        ("arxiv.org/pdf/2107.05580v2", "2107.05580v2"),
        ("http://export.arxiv.org/abs/hep-th/9901001", "hep-th/9901001"),
        ("math.CO/0102001v1", "math.CO/0102001v1"),
        ("0704.0001", "0704.0001"),
    ],
)
def test_arxiv_ids_and_urls_normalise(text, arxiv_id):
    assert ids.parse_arxiv_id(text) == arxiv_id


@pytest.mark.parametrize("text", ["1512.3385", "1513.03385", "1412.12345", "0612.0001", "hep-th/99010", "abc"])
def test_malformed_arxiv_ids_are_refused(text):
    with pytest.raises(ids.IdError, match="1512.03385"):
        ids.parse_arxiv_id(text)
