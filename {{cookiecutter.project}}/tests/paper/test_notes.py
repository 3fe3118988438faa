"""make notes: NOTES.md from arXiv (the real `arxiv` package against a fake API on 127.0.0.1)."""

import re
import socket
import subprocess
import sys
import time
from datetime import date

import fake_arxiv
import pytest
from conftest import PACKAGE, ROOT, module, run_cli

notes = module("paper.notes")
config = module("kit.config")
ProjectError = module("kit.errors").ProjectError

RESNET_BIBTEX = """@misc{he2015deepresiduallearningimage,
      title={Deep Residual Learning for Image Recognition},
      author={Kaiming He and Xiangyu Zhang and Shaoqing Ren and Jian Sun},
      year={2015},
      eprint={1512.03385},
      archivePrefix={arXiv},
      primaryClass={cs.CV},
      url={https://arxiv.org/abs/1512.03385},
}"""


@pytest.fixture
def arxiv_api(monkeypatch, tmp_path):
    """A fake arXiv that the real client asks through ARXIV_API_URL, with no pause between requests."""
    with fake_arxiv.serve() as server:
        for name, value in fake_arxiv.environment(server, tmp_path / "cache").items():
            monkeypatch.setenv(name, value)
        yield server


@pytest.fixture
def paper(project):
    """A scratch project about ResNet whose NOTES.md is the fresh skeleton a bake writes."""
    config.set_value(project / "config.toml", "project", "paper", "1512.03385")
    (project / "NOTES.md").write_text(notes.skeleton("1512.03385"), encoding="utf-8")
    return project


def load(root):
    return config.load(root / "config.toml")


def read(root, name="NOTES.md"):
    return (root / name).read_text(encoding="utf-8")


def snapshot(root):
    return {
        name: (root / name).read_bytes() for name in ("NOTES.md", "paper.bib", "config.toml") if (root / name).exists()
    }


def outside_block(text):
    """The parts of NOTES.md around the generated block: what belongs to the user."""
    match = re.search(r"<!-- BEGIN arXiv .*?<!-- END arXiv [0-9a-f]{12} -->", text, re.S)
    assert match, "no generated block"
    return text[: match.start()], text[match.end() :]


def test_the_first_fetch_fills_every_field_of_the_paper(arxiv_api, paper):
    """Title, authors, version, categories, dates, DOI, journal ref, comment, links, abstract: all from the API."""
    summary = notes.write_notes(load(paper))
    text = read(paper)
    assert summary.startswith("filled in from arXiv 1512.03385v1 (Deep Residual Learning")
    assert text.startswith("<!-- BEGIN arXiv 1512.03385v1 ")
    for line in [
        "# Deep Residual Learning for Image Recognition",
        "- **Authors:** Kaiming He, Xiangyu Zhang, Shaoqing Ren, Jian Sun",
        "- **arXiv:** 1512.03385v1 (the version these notes were taken from; the latest)",
        "- **Categories:** cs.CV (primary)",
        "- **Published:** 2015-12-10",
        "- **Updated:** 2015-12-10",
        "- **DOI:** none",
        "- **Journal ref:** none",
        "- **Comment:** Tech report",
        "- **Links:** [abs](https://arxiv.org/abs/1512.03385v1) · [pdf](http://arxiv.org/pdf/1512.03385v1)",
        f"- **Fetched:** {date.today().isoformat()}",
    ]:
        assert line + "\n" in text, line
    abstract = "\n".join(line.strip() for line in fake_arxiv.RESNET["summary"].strip().splitlines())
    assert f"## Abstract\n\n```text\n{abstract}\n```\n" in text
    assert text.endswith(notes.USER_SECTIONS), "the user's sections follow the block unchanged"


def test_an_old_style_id_shows_affiliations_doi_journal_ref_and_every_category(arxiv_api, paper):
    """Old ids (archive/number), several affiliations, a wrapped title and no pdf link all come out right."""
    summary = notes.write_notes(load(paper), "hep-th/9901001")
    text = read(paper)
    assert "now arXiv hep-th/9901001v2 (was 1512.03385" not in summary  # the placeholder was not a paper yet
    assert "filled in from arXiv hep-th/9901001v2" in summary and "config.toml now names hep-th/9901001" in summary
    for line in [
        "# A Made-Up Paper on Strings and Branes",
        "- **Authors:** Ana Pérez (Universidad de Ejemplo; Instituto Ficticio), Bo Li",
        "- **Categories:** hep-th (primary), gr-qc",
        "- **Published:** 1999-01-04",
        "- **Updated:** 1999-03-15",
        "- **DOI:** [10.1016/S0000-0000(99)00001-1](https://doi.org/10.1016/S0000-0000(99)00001-1)",
        "- **Journal ref:** Phys. Lett. B 999 (1999) 1-12",
        "- **Comment:** 12 pages, 3 figures; v2: typos fixed",
        "- **Links:** [abs](https://arxiv.org/abs/hep-th/9901001v2) · [pdf](https://arxiv.org/pdf/hep-th/9901001v2)",
    ]:
        assert line + "\n" in text, line
    assert load(paper).project.paper == "hep-th/9901001"


def test_bibtex_follows_arxivs_style_in_notes_and_in_paper_bib(arxiv_api, paper):
    """The entry a user pastes into a paper must be the one arXiv itself exports."""
    notes.write_notes(load(paper))
    assert f"## BibTeX (also in paper.bib)\n\n```bibtex\n{RESNET_BIBTEX}\n```\n" in read(paper)
    bib = read(paper, "paper.bib")
    assert re.fullmatch(
        r"% BEGIN arXiv 1512\.03385v1 [0-9a-f]{12} .*\n" + re.escape(RESNET_BIBTEX) + r"\n% END .*\n", bib
    )
    notes.write_notes(load(paper), "hep-th/9901001")
    old_style = read(paper, "paper.bib")
    assert "@misc{perez1999madeuppaperstringsbranes,\n" in old_style
    assert "      eprint={hep-th/9901001},\n      archivePrefix={arXiv},\n      primaryClass={hep-th},\n" in old_style


def test_paper_bib_keeps_the_users_own_entries(arxiv_api, paper):
    """paper.bib may hold other references; only our entry is rewritten."""
    mine = "@book{knuth1984, title={The TeXbook}, author={Donald Knuth}, year={1984}}\n"
    (paper / "paper.bib").write_text(mine)
    notes.write_notes(load(paper))
    notes.write_notes(load(paper), "2107.05580")
    bib = read(paper, "paper.bib")
    assert bib.endswith("\n" + mine) and bib.count("% BEGIN arXiv") == 1
    assert "eprint={2107.05580}" in bib and "eprint={1512.03385}" not in bib


def test_a_refresh_keeps_every_user_section_byte_for_byte(arxiv_api, paper):
    """Weeks of notes must survive `make notes`, even when arXiv has a new version."""
    notes.write_notes(load(paper))
    text = read(paper)
    text = "My own line above the block.\n\n" + text
    for heading in re.findall(r"^## .*$", notes.USER_SECTIONS, re.M):
        mine = "My words under " + heading + ": `code`, {x}, <b>html</b>, " + fake_arxiv.OPEN + " y " + fake_arxiv.CLOSE
        text = text.replace(heading + "\n", heading + "\n\n" + mine + "\n")
    text = text.replace("|  |  |  |  |", "| CIFAR-10 | error_rate | 6.43% | Table 6 |")
    text += "\nA last line with trailing spaces   \n"
    (paper / "NOTES.md").write_text(text, encoding="utf-8")
    before = outside_block(text)

    arxiv_api.add({**fake_arxiv.RESNET, "id": "1512.03385v2", "comment": "Tech report, v2"})
    summary = notes.write_notes(load(paper))
    after = read(paper)
    assert outside_block(after) == before
    assert "new version v2 (was v1)" in summary and "your text kept" in summary
    assert "- **Comment:** Tech report, v2\n" in after


def test_a_page_that_is_no_atom_feed_is_named_with_its_url_not_taken_for_an_unknown_paper(arxiv_api, paper):
    """A proxy's block page, a captive portal or a wrong mirror answers 200 with HTML; the package reads it as a
    feed without entries, which would say "arXiv has no paper": the wrong diagnosis and the wrong fix."""
    arxiv_api.answer = "html-page"
    with pytest.raises(ProjectError) as caught:
        notes.write_notes(load(paper))
    message = str(caught.value)
    assert message.startswith(f"not an arXiv API answer from http://127.0.0.1:{arxiv_api.port}/api/query: ")
    assert "an HTML page titled 'Access denied'" in message and "check ARXIV_API_URL" in message
    assert "has no paper" not in message


@pytest.mark.parametrize("emptied", ["", "\n  \n"])
def test_an_emptied_notes_md_gets_its_sections_back(arxiv_api, paper, emptied):
    """0 bytes or only whitespace: the generated block and the user's sections are both written again."""
    (paper / "NOTES.md").write_text(emptied, encoding="utf-8")
    summary = notes.write_notes(load(paper))
    text = read(paper)
    assert summary.startswith("created for arXiv 1512.03385v1") and text.endswith(notes.USER_SECTIONS)
    assert "\n# Deep Residual Learning for Image Recognition\n" in text


@pytest.mark.parametrize("name", ["NOTES.md", "paper.bib"])
def test_notes_or_bib_in_another_encoding_is_refused_and_nothing_is_written(arxiv_api, paper, name):
    notes.write_notes(load(paper))
    path = paper / name
    path.write_bytes(path.read_bytes() + "\nMes notes: r\u00e9sultats\n".encode("latin-1"))
    before = snapshot(paper)
    with pytest.raises(ProjectError, match=rf"{re.escape(name)} line \d+ is not UTF-8"):
        notes.write_notes(load(paper))
    assert snapshot(paper) == before


def test_a_new_version_between_two_fetches_is_reported_with_what_changed(arxiv_api, paper):
    """The API keeps no history, so the notes record the version and a refresh names what moved."""
    notes.write_notes(load(paper), "2107.05580")
    assert "- **arXiv:** 2107.05580v1 (" in read(paper)
    arxiv_api.add(fake_arxiv.EVOLVED)
    summary = notes.write_notes(load(paper))
    assert (
        "refreshed from arXiv 2107.05580v2: new version v2 (was v1); updated, comment, abstract changed; "
        + ("BibTeX key now hopper2022paperwillchange (was hopper2021paperwillchange: update your citations)")
        in summary
    )
    text = read(paper)
    assert "The second version, with results on ImageNet." in text and "The first version." not in text
    assert text.startswith("<!-- BEGIN arXiv 2107.05580v2 ")


def test_a_refresh_with_nothing_new_says_so_and_changes_nothing(arxiv_api, paper):
    notes.write_notes(load(paper))
    before = snapshot(paper)
    summary = notes.write_notes(load(paper))
    assert "refreshed from arXiv 1512.03385v1: nothing changed on arXiv" in summary
    assert snapshot(paper) == before


def test_a_pinned_version_stays_and_the_newer_one_is_named(arxiv_api, paper):
    """A project that pins v1 (the version it reproduces) keeps it, and hears about v2 in the same request."""
    arxiv_api.add(fake_arxiv.EVOLVED)
    config.set_value(paper / "config.toml", "project", "paper", "2107.05580v1")
    summary = notes.write_notes(load(paper))
    assert "v2 is the latest (`make notes PAPER=2107.05580v2` moves to it)" in summary
    assert "- **arXiv:** 2107.05580v1 (the version these notes were taken from; v2 is the latest" in read(paper)
    assert "The first version." in read(paper)
    assert [query["id_list"] for _, query in arxiv_api.requests] == [["2107.05580v1,2107.05580"]]


def test_api_text_with_template_code_backticks_and_html_comes_out_verbatim(arxiv_api, paper):
    """Abstracts are data: template code, fences, HTML and even our own marker lines are kept as they came."""
    notes.write_notes(load(paper), "2401.00001")
    text = read(paper)
    assert f"\n`````text\n{fake_arxiv.HOSTILE_SUMMARY}\n`````\n" in text  # a fence longer than any inside
    assert f"\n# {fake_arxiv.HOSTILE['title']}\n" in text
    assert f"- **Comment:** {fake_arxiv.HOSTILE['comment']}\n" in text
    assert "title={" + fake_arxiv.HOSTILE["title"] + "}," in read(paper, "paper.bib")
    (paper / "NOTES.md").write_text(text + "\nMine after the hostile block.\n", encoding="utf-8")
    before = outside_block(read(paper))
    assert "nothing changed on arXiv" in notes.write_notes(load(paper))  # the forged markers did not fool it
    assert outside_block(read(paper)) == before


@pytest.mark.parametrize(
    "given, asked",
    [
        ("1512.03385", "1512.03385"),
        ("arXiv:1512.03385v1", "1512.03385v1,1512.03385"),
        ("https://arxiv.org/abs/1512.03385v1", "1512.03385v1,1512.03385"),
        ("https://arxiv.org/pdf/1512.03385.pdf", "1512.03385"),
        ("arxiv.org/abs/hep-th/9901001v2", "hep-th/9901001v2,hep-th/9901001"),
    ],
)
def test_every_form_of_an_id_asks_arxiv_for_the_clean_id(arxiv_api, paper, given, asked):
    """Users paste ids, versions and abs/pdf URLs; arXiv gets the id."""
    notes.write_notes(load(paper), given)
    assert arxiv_api.requests[-1][1]["id_list"] == [asked]
    assert load(paper).project.paper == asked.split(",")[0]


@pytest.mark.parametrize("bad", ["1512.3385", "https://example.com/abs/1512.03385", "1512.03385v0", "hep-th/99"])
def test_a_malformed_id_is_refused_before_any_request(arxiv_api, paper, bad):
    """The package retries even a 400 with pauses; a bad id must never reach arXiv."""
    before = snapshot(paper)
    with pytest.raises(ProjectError, match="is not an arXiv"):
        notes.write_notes(load(paper), bad)
    assert arxiv_api.requests == []
    assert snapshot(paper) == before


@pytest.mark.parametrize(
    "answer, message, tries",
    [
        ("empty", "arXiv has no paper 1512.03385 (check the id on https://arxiv.org/abs/1512.03385", 1),
        ("error-entry", "arXiv refused 1512.03385: incorrect id format for 1512.03385 (check the id", 1),
        ("rate-text", "arXiv's answer was not a feed, as when it is rate-limiting ('Rate exceeded.')", 1),
        ("429", "arXiv is rate-limiting this machine: HTTP 429 after 4 tries (wait a few minutes", 4),
        ("503", "arXiv is busy or down for maintenance: HTTP 503 after 4 tries (wait a few minutes", 4),
        ("400", "arXiv refused the request as malformed: HTTP 400 after 4 tries (check the id", 4),
        ("html-page", "not an arXiv API answer from http://127.0.0.1:", 1),
    ],
)
def test_each_arxiv_failure_is_one_line_and_writes_nothing(arxiv_api, paper, answer, message, tries):
    """Every way arXiv fails gets its own one-line message; notes, bib and config stay as they were."""
    notes.write_notes(load(paper))
    before, asked = snapshot(paper), len(arxiv_api.requests)
    arxiv_api.answer = answer
    with pytest.raises(ProjectError) as caught:
        notes.write_notes(load(paper))
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)
    assert snapshot(paper) == before
    assert len(arxiv_api.requests) - asked == tries


def test_an_unknown_id_is_named_in_the_error(arxiv_api, paper):
    with pytest.raises(ProjectError, match=r"^arXiv has no paper 2501\.99999 "):
        notes.write_notes(load(paper), "2501.99999")
    assert load(paper).project.paper == "1512.03385"


def test_an_offline_machine_fails_fast_with_the_retry_command(paper, monkeypatch, tmp_path):
    """A bake without network must not sit through the package's retries: it gives up at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again below: nothing listens there
    monkeypatch.setenv("ARXIV_API_URL", f"http://127.0.0.1:{port}/api/query?" + "{}")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("ARXIV_DELAY_SECONDS", raising=False)  # the real 3 s pause: it must not be reached
    before = snapshot(paper)
    started = time.monotonic()
    with pytest.raises(ProjectError) as caught:
        notes.write_notes(load(paper))
    assert time.monotonic() - started < 1.0
    assert str(caught.value).startswith(f"cannot reach the arXiv API at 127.0.0.1:{port}: ")
    assert str(caught.value).endswith("(check your connection, then `make notes`)")
    assert snapshot(paper) == before


def test_requests_are_spaced_even_across_processes(arxiv_api, paper, tmp_path):
    """arXiv asks for one request per 3 s: two `make notes` started together must not ask at once."""
    env = {**fake_arxiv.environment(arxiv_api, tmp_path / "cache", delay=1.0), "PYTHONPATH": str(ROOT / "src")}
    args = [sys.executable, "-m", PACKAGE, "notes"]
    both = [subprocess.Popen(args, cwd=paper, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in "ab"]
    for process in both:
        assert process.wait(timeout=60) == 0, process.stderr.read().decode()
    first, second = sorted(when for when, _ in arxiv_api.requests)
    assert second - first >= 0.95
    assert list((tmp_path / "cache" / "mlstarter").glob("arxiv-127.0.0.1_*.last"))


def test_the_package_retries_wait_the_same_pause(arxiv_api, paper, monkeypatch):
    """Retries of a 503 are spaced by our pause too (the client gets it), not fired back to back."""
    monkeypatch.setenv("ARXIV_DELAY_SECONDS", "0.2")
    arxiv_api.answer = "503"
    with pytest.raises(ProjectError):
        notes.write_notes(load(paper))
    times = [when for when, _ in arxiv_api.requests]
    assert len(times) == 4 and min(b - a for a, b in zip(times, times[1:], strict=False)) >= 0.19


def test_arxiv_itself_always_gets_three_seconds(monkeypatch):
    """ARXIV_DELAY_SECONDS speeds up mirrors and tests, never requests to arxiv.org."""
    monkeypatch.setenv("ARXIV_DELAY_SECONDS", "0")
    assert notes.delay_seconds("export.arxiv.org") == 3.0
    assert notes.delay_seconds("127.0.0.1") == 0.0
    monkeypatch.delenv("ARXIV_DELAY_SECONDS")
    assert notes.delay_seconds("127.0.0.1") == 3.0
    for bad in ("soon", "-1", "nan"):
        monkeypatch.setenv("ARXIV_DELAY_SECONDS", bad)
        with pytest.raises(ProjectError, match="is not a number of seconds"):
            notes.delay_seconds("127.0.0.1")


@pytest.mark.parametrize("url", ["http://127.0.0.1:1/api/query", "ftp://x/{}", "http://{}/{}"])
def test_a_bad_api_url_is_refused_with_the_fix(paper, monkeypatch, url):
    monkeypatch.setenv("ARXIV_API_URL", url)
    with pytest.raises(ProjectError, match="is not a URL with one {} where the query goes"):
        notes.write_notes(load(paper))


def test_hand_edits_inside_the_generated_block_are_refused_not_lost(arxiv_api, paper):
    """Text typed inside the block would vanish on refresh: refuse and say where it belongs."""
    notes.write_notes(load(paper))
    edited = read(paper).replace("- **Comment:** Tech report", "- **Comment:** Tech report (my note)")
    (paper / "NOTES.md").write_text(edited, encoding="utf-8")
    with pytest.raises(ProjectError, match="was edited by hand.*move your text below the END line"):
        notes.write_notes(load(paper))
    assert read(paper) == edited
    no_end = re.sub(r"<!-- END arXiv [0-9a-f]{12} -->\n", "", edited)
    (paper / "NOTES.md").write_text(no_end, encoding="utf-8")
    with pytest.raises(ProjectError, match="closing the generated block is missing"):
        notes.write_notes(load(paper))
    assert read(paper) == no_end


def test_line_endings_and_trailing_spaces_are_not_edits(arxiv_api, paper):
    """Editors and pre-commit rewrite whitespace; that must not block a refresh."""
    notes.write_notes(load(paper))
    messy = read(paper).replace("\n", "  \r\n")
    (paper / "NOTES.md").write_bytes(messy.encode())
    assert "nothing changed on arXiv" in notes.write_notes(load(paper))


def test_a_notes_file_without_the_block_gets_it_on_top(arxiv_api, paper):
    (paper / "NOTES.md").write_text("My own notes, no markers.\n", encoding="utf-8")
    summary = notes.write_notes(load(paper))
    assert "added on top of your text" in summary
    assert read(paper).startswith("<!-- BEGIN arXiv 1512.03385v1 ")
    assert re.search(r"<!-- END arXiv [0-9a-f]{12} -->\n\nMy own notes, no markers\.\n\Z", read(paper))


def test_a_missing_notes_file_is_written_with_every_section(arxiv_api, paper):
    (paper / "NOTES.md").unlink()
    assert "created for arXiv 1512.03385v1" in notes.write_notes(load(paper))
    assert read(paper).endswith(notes.USER_SECTIONS)


def test_the_cli_prints_one_line_and_routes_errors_to_exit_code_2(arxiv_api, paper, tmp_path):
    """`make notes` and `make notes PAPER=...` as a user runs them."""
    env = fake_arxiv.environment(arxiv_api, tmp_path / "cache")
    done = run_cli("notes", cwd=paper, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("filled in from arXiv 1512.03385v1") and done.stdout.count("\n") == 1
    done = run_cli("notes", "1512.3385", cwd=paper, env=env)
    assert done.returncode == 2
    assert done.stderr.startswith("error: '1512.3385' is not an arXiv id (e.g. 1512.03385")
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
