"""make rules: RULES.md facts from the competition's metadata; the user's ticks and lines survive."""

import socket
import time

import pytest
from conftest import module, run_cli

pytest_plugins = ["fake_kaggle"]
config = module("kit.config")
rules = module("kaggle.rules")
ProjectError = module("kit.errors").ProjectError


@pytest.fixture
def fresh(project):
    """A project whose RULES.md is the bake's skeleton (the user's own RULES.md may be filled and ticked)."""
    cfg = config.load(project / "config.toml")
    (project / "RULES.md").write_text(rules.skeleton(cfg.project.competition))
    return project


def write(project):
    return rules.write_rules(config.load(project / "config.toml"))


def test_the_facts_come_from_the_competitions_metadata(fresh, kaggle_server):
    """Deadlines with days left, team size, daily cap, metric, reward, route and membership."""
    summary = write(fresh)
    text = (fresh / "RULES.md").read_text()
    slug = kaggle_server.slug
    for fact in (
        f"[Digit Recognizer](https://www.kaggle.com/competitions/{slug}) (Getting Started; reward: Knowledge; 1,432",
        f"**Rules:** https://www.kaggle.com/competitions/{slug}/rules",
        "**Deadline:** " + kaggle_server.metadata["deadline"][:10],
        "30 days left",
        "**Entry deadline** (accept the rules before it): ",
        "**Team merger deadline:** ",
        "23 days left",
        "**Max team size:** 3",
        "**Max daily submissions:** 5",
        "**Evaluation metric:** Categorization Accuracy",
        "**Submissions:** a CSV upload with `make submit`",
        "**You have joined:** yes",
    ):
        assert fact in text, fact
    assert "External data is allowed if it is public" in text, "the rules page text is kept beside the checklist"
    assert text.index("## Checks no API answers") < text.index("External data is allowed")
    assert "Not filled yet" not in text and "Not fetched yet" not in text
    assert "0 of 7 boxes ticked" in summary and "rules page copied" in summary
    assert "5 submissions a day" in summary


def test_a_limit_of_one_is_one_submission_a_day(fresh, kaggle_server):
    kaggle_server.metadata.update(maxDailySubmissions=1)
    assert "(deadline " in write(fresh) and ", 1 submission a day, " in write(fresh)


def test_a_rerun_refreshes_the_facts_and_keeps_every_tick_and_line(fresh, kaggle_server):
    write(fresh)
    path = fresh / "RULES.md"
    text = path.read_text()
    text = text.replace("- [ ] I read the rules", "- [x] I read the rules")
    text = text.replace("- [ ] External data", "- [X] External data")
    text = text.replace("## Checks no API answers\n", "## Checks no API answers\n\nAsked in the forum: no TPUs.\n")
    text += "\nMy own note at the very end.\n"
    path.write_text(text)
    kaggle_server.metadata.update(maxDailySubmissions=10, maxTeamSize=5, isKernelsSubmissionsOnly=True)
    summary = write(fresh)
    after = path.read_text()
    assert "**Max daily submissions:** 10" in after and "**Max team size:** 5" in after
    assert "**Max daily submissions:** 5 " not in after
    assert "code competition: submissions come from a Kaggle notebook" in after
    for kept in ("- [x] I read the rules", "- [X] External data", "Asked in the forum: no TPUs.", "My own note"):
        assert kept in after, kept
    assert rules._outside_blocks(after) == rules._outside_blocks(text), "nothing outside the blocks changes"
    assert "2 of 7 boxes ticked" in summary


def test_a_deleted_rules_md_is_written_whole(project, kaggle_server):
    (project / "RULES.md").unlink(missing_ok=True)
    write(project)
    text = (project / "RULES.md").read_text()
    assert text.count("- [ ] ") == len(rules.CHECKS) and "**Max team size:** 3" in text


@pytest.mark.parametrize("emptied", ["", " \n\n\t\n"])
def test_an_emptied_rules_md_gets_its_title_and_checklist_back_not_only_the_facts(project, kaggle_server, emptied):
    """0 bytes or only whitespace: nothing of the user's to keep, so the whole skeleton comes back, filled."""
    (project / "RULES.md").write_text(emptied)
    write(project)
    text = (project / "RULES.md").read_text()
    assert text.startswith(f"# Rules checklist: {kaggle_server.slug}\n")
    assert all(f"- [ ] {check}" in text for check in rules.CHECKS) and "**Max team size:** 3" in text
    assert "External data is allowed if it is public" in text


def test_rules_md_in_another_encoding_is_refused_and_kept(fresh, kaggle_server):
    path = fresh / "RULES.md"
    damaged = (path.read_text() + "- [x] r\u00e8gles lues\n").encode("cp1252")
    path.write_bytes(damaged)
    with pytest.raises(ProjectError, match=r"RULES\.md line \d+ is not UTF-8.*save it as UTF-8"):
        write(fresh)
    assert path.read_bytes() == damaged


def test_a_half_deleted_block_is_refused_rather_than_guessed(fresh, kaggle_server):
    """Without its end marker we cannot tell the user's lines from ours: stop and say which line is missing."""
    path = fresh / "RULES.md"
    path.write_text(path.read_text().replace(rules.FACTS[1] + "\n", ""))
    before = path.read_text()
    with pytest.raises(ProjectError, match="end of facts"):
        write(fresh)
    assert path.read_text() == before


def test_no_rules_page_from_the_api_is_a_note_not_a_failure(fresh, kaggle_server):
    kaggle_server.pages = []
    summary = write(fresh)
    text = (fresh / "RULES.md").read_text()
    assert "serves no rules page text" in summary and "**Max team size:** 3" in text
    assert f"read it at https://www.kaggle.com/competitions/{kaggle_server.slug}/rules" in text


def test_without_credentials_it_fails_at_once_and_changes_nothing(fresh, kaggle_home):
    """The bake's hook calls this offline: it must fail fast, with one line, leaving the skeleton."""
    before = (fresh / "RULES.md").read_text()
    start = time.monotonic()
    with pytest.raises(ProjectError, match="no Kaggle credentials"):
        write(fresh)
    assert time.monotonic() - start < 0.5
    assert (fresh / "RULES.md").read_text() == before


def test_with_no_network_it_fails_at_once_without_retrying(fresh, kaggle_server, monkeypatch):
    """A refused connection is not retried: the bake's hook must not hang offline."""
    module("kit.kaggle_api").client()  # the client imported once, so the time below is the calls alone
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    monkeypatch.setenv("HTTP_PROXY", closed)
    monkeypatch.setenv("http_proxy", closed)
    start = time.monotonic()
    with pytest.raises(ProjectError, match="cannot reach Kaggle"):
        write(fresh)
    assert time.monotonic() - start < 1.0
    assert kaggle_server.calls == []


def test_make_rules_prints_one_summary_line(fresh, kaggle_server):
    done = run_cli("rules", cwd=fresh)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("facts for Digit Recognizer refreshed in RULES.md") and done.stdout.count("\n") == 1
