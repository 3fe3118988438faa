"""The bake's answers: competition slugs, arXiv ids and folder names as users paste them."""

import pytest

import answers as ids


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
