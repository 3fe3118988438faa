"""The official kaggle client, set up once: credentials, errors, retries.

We drive `KaggleApi`, the client behind the `kaggle` command: it is what a user's own
`kaggle competitions download` runs, it resumes broken downloads and uploads, and it
needs nothing beyond the `kaggle` package. (kagglehub caches outside the project and
has no submit; kagglesdk alone would mean rewriting downloads and uploads.)

`import kaggle` signs in at import time and prints a page of help when it finds no
credentials, so it is imported here only, lazily, after `find_credentials` found some.
Every call goes through `call`, the one place that turns HTTP errors into one line.
"""

from __future__ import annotations

import contextlib
import difflib
import email.utils
import io
import json
import os
import re
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from . import watchdog
from .errors import ProjectError, describe_answer

SETTINGS_URL = "https://www.kaggle.com/settings"
COMPETITION_URL = "https://www.kaggle.com/competitions/{slug}"
RULES_URL = COMPETITION_URL + "/rules"
TRIES = 3  # per call, on 429 and 5xx answers
BACKOFF_SECONDS = 0.5  # first wait after a 429/5xx without Retry-After; doubles each time
LONGEST_WAIT = 120  # a Retry-After longer than this is reported, not waited out
RETRY_STATUSES = {429, 500, 502, 503, 504}

NO_CREDENTIALS = (
    "no Kaggle credentials found (create an API token at " + SETTINGS_URL + " and save it as "
    "~/.kaggle/access_token or export KAGGLE_API_TOKEN=<token>; a legacy kaggle.json also works in "
    "$KAGGLE_CONFIG_DIR, ~/.kaggle or ~/.config/kaggle, and so do KAGGLE_USERNAME with KAGGLE_KEY)"
)


def rules_url(slug: str) -> str:
    return RULES_URL.format(slug=slug)


def config_dir() -> Path:
    """Where the client looks for kaggle.json (same order as the client)."""
    if os.environ.get("KAGGLE_CONFIG_DIR"):
        return Path(os.environ["KAGGLE_CONFIG_DIR"]).expanduser()
    legacy = Path.home() / ".kaggle"
    if sys.platform.startswith("linux") and not legacy.exists():
        return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "kaggle"
    return legacy


def find_credentials() -> str | None:
    """Which credential the client will use, described without its secret; None when there is none."""
    sources = _sources()
    return sources[0][1] if sources else None


def _sources() -> list[tuple[str, str]]:
    """Every credential the client could use, in the order it tries them: (kind, description)."""
    found = []
    if os.environ.get("KAGGLE_KERNEL_RUN_TYPE") and os.environ.get("KAGGLE_DATA_PROXY_URL"):
        if _read(os.environ.get("KAGGLE_API_V1_TOKEN", "")):
            found.append(("token", "the Kaggle notebook's own API token"))
    token = os.environ.get("KAGGLE_API_TOKEN")
    if token:  # the client stops here when it is set, even when it names an empty file
        if _is_file(token):
            if _read(token):
                found.append(("token", f"API token in the file $KAGGLE_API_TOKEN names ({_short(token)})"))
        else:
            found.append(("token", "API token in $KAGGLE_API_TOKEN"))
    else:
        for name in ("access_token", "access_token.txt"):
            if _read(Path.home() / ".kaggle" / name):
                found.append(("token", f"API token in ~/.kaggle/{name}"))
                break
    key_file = config_dir() / "kaggle.json"
    try:
        stored = json.loads(key_file.read_text(encoding="utf-8")) if key_file.is_file() else {}
    except (OSError, ValueError):
        stored = {}
    stored = stored if isinstance(stored, dict) else {}
    user = os.environ.get("KAGGLE_USERNAME") or stored.get("username")
    if user and (os.environ.get("KAGGLE_KEY") or stored.get("key")):
        if os.environ.get("KAGGLE_USERNAME") and os.environ.get("KAGGLE_KEY"):
            where = "$KAGGLE_USERNAME and $KAGGLE_KEY"
        else:
            where = f"kaggle.json in {_short(key_file.parent)}"
            if key_file.stat().st_mode & 0o044:
                where += f"; other users can read it: chmod 600 {_short(key_file)}"
        found.append(("key", f"legacy API key ({where}) for user {user}"))
    oauth = Path.home() / ".kaggle" / "credentials.json"
    with contextlib.suppress(OSError, ValueError, AttributeError):
        if json.loads(oauth.read_text(encoding="utf-8")).get("refresh_token"):
            found.append(("oauth", "OAuth sign-in in ~/.kaggle/credentials.json (from `kaggle auth login`)"))
    return found


def exposed() -> list[Path]:
    """Credential files that other users of this machine can read (each should be chmod 600)."""
    kaggle_dir = Path.home() / ".kaggle"
    paths = [config_dir() / "kaggle.json", *(kaggle_dir / n for n in ("access_token", "access_token.txt"))]
    paths.append(kaggle_dir / "credentials.json")
    token = os.environ.get("KAGGLE_API_TOKEN", "")
    if token and _is_file(token):
        paths.append(Path(token))
    found = []
    for path in dict.fromkeys(paths):
        with contextlib.suppress(OSError):
            if path.is_file() and path.stat().st_mode & 0o044:
                found.append(path)
    return found


def _is_file(name: str) -> bool:
    try:
        return Path(name).is_file()
    except OSError:  # a token too long to be a file name
        return False


def _read(path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8").strip() if path else ""
    except (OSError, ValueError):
        return ""


def _short(path) -> str:
    path, home = Path(path), Path.home()
    return f"~/{path.relative_to(home)}" if path.is_relative_to(home) else str(path)


def client():
    """An authenticated KaggleApi, or ProjectError saying where credentials go (no network when none)."""
    source = find_credentials()
    if source is None:
        raise ProjectError(NO_CREDENTIALS)
    with contextlib.redirect_stdout(io.StringIO()):  # import-time sign-in chatter is not for the user
        from kaggle.api.kaggle_api_extended import KaggleApi
    api = KaggleApi()
    # KaggleApi reads these two settings once, at import; take them from the environment of now.
    api.config_dir = str(config_dir())
    api.config = os.path.join(api.config_dir, api.config_file)
    api.args = [a for a in api.args if a != "--local"]
    if os.environ.get("KAGGLE_API_ENVIRONMENT") == "LOCALHOST":
        api.args.append("--local")
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            call("signing in to Kaggle", api.authenticate)
    except SystemExit:  # the client's way to say that the token it found is not active
        error = ProjectError(
            f"Kaggle did not accept the {source} (make a new API token at {SETTINGS_URL}, then run it again)"
        )
        error.status = 401  # as an HTTP refusal would say
        raise error from None
    return api


def call(action: str, function, *args, slug: str = "", progress=None, **kwargs):
    """Run one client call; wait out 429 (Retry-After) and 5xx with backoff; errors become one line.

    `action` says what was being done ("downloading titanic"); `slug` names the competition,
    so that a 403 can point at its rules page and a 404 at the slug in config.toml. The client
    sets no timeout: a call is stopped once `progress()` (bytes downloaded; None: any answer)
    stands still for watchdog.seconds().
    """
    import requests

    waited = 0.0
    for attempt in range(1, TRIES + 1):
        try:
            with watchdog.watch(action, progress):
                return function(*args, **kwargs)
        except json.JSONDecodeError as exc:  # a 200 that is no JSON: the client reads every 200 as its answer
            raise not_an_answer(action, exc.doc) from None
        except requests.HTTPError as exc:
            response = exc.response
            status = response.status_code if response is not None else 0
            delay = _delay(status, response, attempt)
            if delay is None or attempt == TRIES or delay > LONGEST_WAIT:
                error = ProjectError(_explain(action, status, _message(exc), slug, attempt, waited, delay))
                error.status = status  # lets a caller choose another route on, say, 404
                raise error from None
            print(f"{action}: Kaggle answered {status}; trying again in {delay:g} s", file=sys.stderr)
            time.sleep(delay)
            waited += delay
        except requests.ConnectionError as exc:  # refused, no DNS, proxy down: no point retrying now
            raise ProjectError(
                f"{action}: cannot reach Kaggle ({_reason(exc)}) (check the network or proxy, then run it again)"
            ) from None
        except requests.RequestException as exc:  # timeouts, a connection cut mid-download
            raise ProjectError(f"{action}: the connection to Kaggle failed ({_reason(exc)}) (run it again)") from None
    raise AssertionError("unreachable")


def not_an_answer(action: str, body: bytes | str) -> ProjectError:
    """The error for a 200 whose body is not what Kaggle sends (a proxy's block page, a captive portal)."""
    return ProjectError(
        f"{action}: not an answer from Kaggle's API ({_endpoint()}): {describe_answer(body)} (a proxy's block page "
        "or a network sign-in page? check HTTPS_PROXY, or open kaggle.com in a browser; then run it again)"
    )


def _endpoint() -> str:
    """The API server the client talks to (production, or the one KAGGLE_API_ENVIRONMENT names)."""
    from kagglesdk.kaggle_env import get_endpoint, get_env

    with contextlib.suppress(Exception):  # an unknown environment name: the client itself says so
        return get_endpoint(get_env())
    return "https://www.kaggle.com"


def _delay(status: int, response, attempt: int) -> float | None:
    """Seconds to wait before trying again, or None when trying again cannot help."""
    if status not in RETRY_STATUSES:
        return None
    header = response.headers.get("Retry-After") if response is not None else None
    if header:
        if header.strip().isdigit():
            return float(header)
        with contextlib.suppress(TypeError, ValueError):
            when = email.utils.parsedate_to_datetime(header)
            return max(0.0, (when - datetime.now(UTC)).total_seconds())
    return BACKOFF_SECONDS * 2 ** (attempt - 1)


def _message(exc) -> str:
    """The server's own words: the JSON `message`, else the HTTP reason."""
    response = exc.response
    with contextlib.suppress(Exception):
        return str(response.json()["message"])
    return getattr(response, "reason", "") or str(exc)


def _reason(exc) -> str:
    """The innermost cause of a connection error, e.g. 'Connection refused'."""
    text = str(exc)
    match = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
    return match.group(1).strip() if match else text[:160]


def _explain(action: str, status: int, message: str, slug: str, tries: int, waited: float, delay) -> str:
    """One line for an HTTP error: what happened and how to fix it."""
    said = f"{status}: {message}" if message else str(status)
    if status == 401:
        return _unauthorized(action, said)
    if status == 403:
        if slug:
            return (
                f"{action}: Kaggle refused access ({said}): accept the competition's rules first "
                f"(open {rules_url(slug)}, click 'I Understand and Accept', then run it again)"
            )
        return f"{action}: Kaggle refused access ({said}) (check on kaggle.com that your account may use it)"
    if status == 404:
        if slug:
            return (
                f"{action}: Kaggle has no competition named {slug!r} ({said}) (check project.competition in "
                f"config.toml: it is the last part of {COMPETITION_URL.format(slug='<slug>')})"
            )
        return f"{action}: Kaggle found no such thing ({said}) (check the name you gave)"
    if status == 429:
        if delay is not None and delay > LONGEST_WAIT:
            at = (datetime.now(UTC) + timedelta(seconds=delay)).strftime("%H:%M UTC")
            return f"{action}: Kaggle rate-limits this account for {delay:.0f} s ({said}) (run it again after {at})"
        return (
            f"{action}: Kaggle kept rate-limiting after {tries} tries over {waited:.0f} s ({said}) "
            "(wait a few minutes, then run it again)"
        )
    if status >= 500:
        return f"{action}: Kaggle's server failed {tries} times ({said}) (Kaggle may be down; try again later)"
    return f"{action}: Kaggle refused the request ({said}) (check config.toml and your account on kaggle.com)"


def _unauthorized(action: str, said: str) -> str:
    sources = _sources()
    if not sources:
        return f"{action}: {NO_CREDENTIALS}"
    kind, used = sources[0]
    keys = [description for k, description in sources if k == "key"]
    if kind == "token" and keys:
        return (
            f"{action}: Kaggle refused the {used} ({said}): it is stale or revoked, and while a token is set "
            f"the client never tries your {keys[0]} (delete that token or make a new one at {SETTINGS_URL})"
        )
    return f"{action}: Kaggle refused the {used} ({said}) (make a new API token at {SETTINGS_URL})"


def competition(api, slug: str):
    """The competition's metadata (GetCompetition; the competitions list when that is not served)."""
    from kagglesdk.competitions.types.competition_api_service import ApiGetCompetitionRequest

    def get():
        request = ApiGetCompetitionRequest()
        request.competition_name = slug
        with api.build_kaggle_client() as kaggle:
            return kaggle.competitions.competition_api_client.get_competition(request)

    try:
        return call(f"reading {slug}'s details", get, slug=slug)
    except ProjectError as exc:
        if getattr(exc, "status", None) != 404:
            raise
        listed = call(f"looking up {slug}", api.competitions_list, search=slug, slug=slug)
        for item in listed.competitions if listed else []:
            if _slug_of(item) == slug:
                return item
        raise


def similar(api, slug: str, most: int = 3) -> list[str]:
    """The competitions Kaggle's search finds for the longer words of a mistyped `slug`, closest first."""
    found = set()
    for word in sorted({w for w in slug.split("-") if len(w) > 2}, key=len, reverse=True)[:2]:
        listed = call(f"searching Kaggle for {word!r}", api.competitions_list, search=word)
        found.update(_slug_of(item) for item in (listed.competitions if listed else []))
    return sorted(found, key=lambda name: -difflib.SequenceMatcher(None, slug, name).ratio())[:most]


def _slug_of(item) -> str:
    return item.ref.rstrip("/").rsplit("/", 1)[-1]
