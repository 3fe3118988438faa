"""The kaggle client set up once: where credentials come from, and every HTTP failure as one line.

Every test drives the real KaggleApi against the fake server in fake_kaggle.py.
"""

import json
import socket
import time

import pytest
from conftest import module

pytest_plugins = ["fake_kaggle"]
kaggle_api = module("kit.kaggle_api")
ProjectError = module("kit.errors").ProjectError
TOKEN, KEY, USERNAME = "KGAT_local_secret_51", "local-secret-key-52", "ada"  # never sent anywhere


def _key_file(folder):
    return _write(folder / "kaggle.json", json.dumps({"username": USERNAME, "key": KEY}), mode=0o600)


def _xdg_key_file(home, env):
    """No KAGGLE_CONFIG_DIR and no ~/.kaggle: the client looks in ~/.config/kaggle."""
    env.delenv("KAGGLE_CONFIG_DIR")
    (home / ".kaggle").rmdir()
    _key_file(home / ".config" / "kaggle")


def _write(path, text, mode=0o644):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def test_without_credentials_the_error_names_every_place_they_can_go(kaggle_home):
    """A newcomer learns where to put a token without reading the client's page of help."""
    start = time.monotonic()
    with pytest.raises(ProjectError) as error:
        kaggle_api.client()
    assert time.monotonic() - start < 0.5, "no credentials must fail before any import or network"
    for place in ("~/.kaggle/access_token", "KAGGLE_API_TOKEN", "kaggle.json", "KAGGLE_CONFIG_DIR", "KAGGLE_KEY"):
        assert place in str(error.value)
    assert kaggle_api.find_credentials() is None


@pytest.mark.parametrize(
    "arrange, expected, secret",
    [
        (lambda home, env: env.setenv("KAGGLE_API_TOKEN", TOKEN), "API token in $KAGGLE_API_TOKEN", TOKEN),
        (lambda home, env: _write(home / ".kaggle" / "access_token", TOKEN), "~/.kaggle/access_token", TOKEN),
        (
            lambda home, env: env.setenv("KAGGLE_API_TOKEN", str(_write(home / "tok.txt", TOKEN))),
            "the file $KAGGLE_API_TOKEN names (~/tok.txt)",
            TOKEN,
        ),
        (lambda home, env: _key_file(home / ".kaggle"), "kaggle.json in ~/.kaggle) for user ada", KEY),
        (_xdg_key_file, "kaggle.json in ~/.config/kaggle) for user ada", KEY),
        (
            lambda home, env: (env.setenv("KAGGLE_USERNAME", USERNAME), env.setenv("KAGGLE_KEY", KEY)),
            "$KAGGLE_USERNAME and $KAGGLE_KEY",
            KEY,
        ),
        (
            lambda home, env: _write(home / ".kaggle" / "credentials.json", json.dumps({"refresh_token": "r-secret"})),
            "OAuth sign-in in ~/.kaggle/credentials.json",
            "r-secret",
        ),
    ],
    ids=["token-env", "token-file", "token-env-file", "kaggle-json", "xdg-kaggle-json", "username-key", "oauth"],
)
def test_find_credentials_names_the_source_and_never_the_secret(kaggle_home, monkeypatch, arrange, expected, secret):
    """doctor prints this line: it must say where the credential is and must not leak it."""
    arrange(kaggle_home, monkeypatch)
    found = kaggle_api.find_credentials()
    assert found is not None and expected in found
    assert secret not in found


def test_a_loose_kaggle_json_is_flagged(kaggle_home):
    """The client warns about a world-readable key on stdout, where nobody looks; we say it in doctor's line."""
    _write(kaggle_home / ".kaggle" / "kaggle.json", json.dumps({"username": USERNAME, "key": KEY})).chmod(0o644)
    assert "chmod 600 ~/.kaggle/kaggle.json" in kaggle_api.find_credentials()


def test_a_token_signs_in_and_reads_the_competition(kaggle_server):
    """The token path: the client introspects the token, then calls GetCompetition."""
    (kaggle_server.home / ".kaggle" / "kaggle.json").unlink()
    _write(kaggle_server.home / ".kaggle" / "access_token", next(iter(kaggle_server.tokens)))
    api = kaggle_api.client()
    competition = kaggle_api.competition(api, kaggle_server.slug)
    assert competition.title == "Digit Recognizer" and competition.max_daily_submissions == 5
    assert kaggle_server.count("IntrospectToken") >= 1 and kaggle_server.count("GetCompetition") == 1


def test_a_stale_token_beside_a_valid_key_is_named_as_the_cause(kaggle_server, monkeypatch):
    """The client never falls back to kaggle.json while a token is set: say so, or users blame the key."""
    stale = "KGAT_revoked_0000"
    assert stale not in kaggle_server.tokens
    monkeypatch.setenv("KAGGLE_API_TOKEN", stale)
    with pytest.raises(ProjectError) as error:
        kaggle_api.client()
    message = str(error.value)
    assert "401" in message and "stale or revoked" in message and "kaggle.json" in message
    assert stale not in message and kaggle_server.key not in message


def test_a_wrong_key_is_refused_with_where_to_get_a_new_one(kaggle_server):
    kaggle_server.key = "the-key-was-rotated"
    with pytest.raises(ProjectError) as error:
        kaggle_api.competition(kaggle_api.client(), kaggle_server.slug)
    assert "401" in str(error.value) and kaggle_api.SETTINGS_URL in str(error.value)


def test_rules_not_accepted_points_at_the_rules_page(kaggle_server, tmp_path):
    """403 on download means the rules were not accepted; the only fix is on the website."""
    kaggle_server.entered = False
    api = kaggle_api.client()
    with pytest.raises(ProjectError) as error:
        kaggle_api.call("downloading", api.competition_download_files, kaggle_server.slug, str(tmp_path), slug="x")
    assert "403" in str(error.value) and "https://www.kaggle.com/competitions/x/rules" in str(error.value)


def test_an_unknown_competition_points_at_config_toml(kaggle_server):
    with pytest.raises(ProjectError) as error:
        kaggle_api.competition(kaggle_api.client(), "no-such-competition")
    assert "no competition named 'no-such-competition'" in str(error.value) and "config.toml" in str(error.value)


def test_the_competitions_list_stands_in_when_get_competition_is_not_served(kaggle_server):
    kaggle_server.fail("GetCompetition", 404)
    competition = kaggle_api.competition(kaggle_api.client(), kaggle_server.slug)
    assert competition.title == "Digit Recognizer" and kaggle_server.count("ListCompetitions") == 1


def test_rate_limiting_waits_as_long_as_retry_after_says(kaggle_server, capsys):
    """429 with Retry-After: wait that long, then the call goes through."""
    kaggle_server.fail("GetCompetition", 429, retry_after=1, times=1)
    api = kaggle_api.client()
    start = time.monotonic()
    assert kaggle_api.competition(api, kaggle_server.slug).title == "Digit Recognizer"
    assert time.monotonic() - start >= 1.0
    assert "Kaggle answered 429; trying again in 1 s" in capsys.readouterr().err
    assert kaggle_server.count("GetCompetition") == 2


def test_rate_limiting_that_goes_on_gives_up_with_a_message(kaggle_server):
    kaggle_server.fail("GetCompetition", 429, retry_after=0)
    with pytest.raises(ProjectError) as error:
        kaggle_api.competition(kaggle_api.client(), kaggle_server.slug)
    assert "kept rate-limiting after 3 tries" in str(error.value) and "wait a few minutes" in str(error.value)
    assert kaggle_server.count("GetCompetition") == kaggle_api.TRIES


def test_a_retry_after_of_an_hour_is_reported_not_waited_out(kaggle_server):
    kaggle_server.fail("GetCompetition", 429, retry_after=3600)
    start = time.monotonic()
    with pytest.raises(ProjectError) as error:
        kaggle_api.competition(kaggle_api.client(), kaggle_server.slug)
    assert time.monotonic() - start < 1.0
    assert "for 3600 s" in str(error.value) and "run it again after" in str(error.value)


def test_server_errors_are_retried_with_backoff_then_reported(kaggle_server):
    kaggle_server.fail("GetCompetition", 500, "backend exploded")
    with pytest.raises(ProjectError) as error:
        kaggle_api.competition(kaggle_api.client(), kaggle_server.slug)
    assert "server failed 3 times (500: backend exploded)" in str(error.value)
    assert kaggle_server.count("GetCompetition") == kaggle_api.TRIES


def test_a_refused_connection_fails_at_once_without_retrying(kaggle_server, monkeypatch):
    """Offline (the bake's hook, a train): one attempt, one line, no retry loop."""
    api = kaggle_api.client()
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{_closed_port()}")
    start = time.monotonic()
    with pytest.raises(ProjectError) as error:
        kaggle_api.competition(api, kaggle_server.slug)
    assert time.monotonic() - start < 0.5
    assert "cannot reach Kaggle" in str(error.value) and "Connection refused" in str(error.value)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("credentials", ["kaggle.json", "token"])
def test_a_page_that_is_no_json_is_not_taken_for_kaggles_answer(kaggle_server, credentials):
    """A proxy's block page or a captive portal answers 200 with HTML: the client would end in a JSON traceback."""
    if credentials == "token":  # signing in asks the server too
        (kaggle_server.home / ".kaggle" / "kaggle.json").unlink()
        _write(kaggle_server.home / ".kaggle" / "access_token", next(iter(kaggle_server.tokens)))
    kaggle_server.portal = "all"
    with pytest.raises(ProjectError) as error:
        kaggle_api.competition(kaggle_api.client(), kaggle_server.slug)
    message = str(error.value)
    assert "not an answer from Kaggle's API (http://localhost)" in message, message
    assert "an HTML page titled 'Network sign-in required'" in message and "check HTTPS_PROXY" in message
    assert "\n" not in message
