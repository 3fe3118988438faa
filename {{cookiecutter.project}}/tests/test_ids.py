"""Competition slugs, arXiv ids and folder names: what users paste, normalised or refused."""

import pytest
from conftest import module

ids = module("ids")


@pytest.mark.parametrize(
    "text, slug",
    [
        ("digit-recognizer", "digit-recognizer"),
        ("https://www.kaggle.com/competitions/digit-recognizer", "digit-recognizer"),
        ("https://www.kaggle.com/c/titanic/data", "titanic"),
        ("kaggle.com/competitions/playground-series-s4e1/overview?x=1", "playground-series-s4e1"),
        (" Titanic ", "titanic"),
    ],
)
def test_competition_urls_and_slugs_normalise(text, slug):
    assert ids.parse_competition(text) == slug


@pytest.mark.parametrize("text", ["", "digit recognizer", "a--b", "https://example.com/c/x", "x" * 101, "-x"])
def test_bad_competitions_are_refused_with_an_example(text):
    with pytest.raises(ids.IdError, match="digit-recognizer"):
        ids.parse_competition(text)


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


def test_the_kind_follows_from_the_answer():
    assert ids.parse_source("digit-recognizer") == ("kaggle", "digit-recognizer")
    assert ids.parse_source("https://arxiv.org/abs/1512.03385") == ("paper", "1512.03385")
    assert ids.parse_source("hep-th/9901001") == ("paper", "hep-th/9901001")
    assert ids.default_folder("1512.03385v2") == "arxiv-1512.03385"


@pytest.mark.parametrize(
    "folder, package",
    [("digit-recognizer", "digit_recognizer"), ("2019-bowl", "ml_2019_bowl"), ("Café.Net", "cafe_net")],
)
def test_package_names_derive_from_folders(folder, package):
    assert ids.check_package(ids.package_name(ids.check_folder(folder)), folder) == package


@pytest.mark.parametrize(
    "folder", ["", " x", "a/b", "..", "../x", "-x", "class", "torch", "os", "x" * 65, "a\nb", "???"]
)
def test_unusable_folders_are_refused(folder):
    with pytest.raises(ids.IdError):
        ids.check_package(ids.package_name(ids.check_folder(folder)), folder)
