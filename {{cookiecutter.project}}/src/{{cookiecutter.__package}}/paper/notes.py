"""make notes: NOTES.md from the arXiv API, your text kept.

NOTES.md opens with a block written from the API between two marker lines; a
refresh rewrites that block (and our entry in paper.bib) and says what changed.
Everything outside the block is the user's and is never rewritten. API text is
data: it goes into the file as it came, never through a template engine.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import socket
import time
import unicodedata
import urllib.request
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit
from xml.etree import ElementTree

from ..kit import blocks, watchdog
from ..kit.config import CONFIG_FILE, set_value
from ..kit.errors import ProjectError, describe_answer
from ..kit.files import read_text, write_text
from .arxiv_ids import IdError, parse_arxiv_id, split_version

NOTES = "NOTES.md"
BIB = "paper.bib"
ENV_URL = "ARXIV_API_URL"  # a format string with {} for the query: a mirror or a test server
ENV_DELAY = "ARXIV_DELAY_SECONDS"  # the pause between requests; arXiv itself always gets DELAY_SECONDS
ATOM_FEED = "{http://www.w3.org/2005/Atom}feed"  # the root of every answer of the arXiv API
DELAY_SECONDS = 3.0  # arXiv's API terms: no more than one request every three seconds
RETRIES = 3  # the package retries every failed request (even a 400) this many times
CONNECT_TIMEOUT = 1.0  # an offline bake must give up in well under two seconds

BEGIN_RE = re.compile(r"^<!-- BEGIN arXiv (?P<ident>\S+) (?P<key>[0-9a-f]{12}):[^\n]*-->[ \t]*$", re.M)
BEGIN = "<!-- BEGIN arXiv {ident} {key}: `make notes` rewrites this block down to END; write below END -->"
END = "<!-- END arXiv {key} -->"
BIB_BEGIN_RE = re.compile(r"^% BEGIN arXiv (?P<ident>\S+) (?P<key>[0-9a-f]{12})[^\n]*$", re.M)
BIB_BEGIN = "% BEGIN arXiv {ident} {key} (written by `make notes`; add your own entries outside BEGIN/END)"
BIB_END = "% END arXiv {key}"

PLACEHOLDER = """# Notes on an arXiv paper

Not filled in yet: run `make setup`, then `make notes` to fetch the title,
authors, abstract and BibTeX of the paper named in config.toml (`[project] paper`).
Everything outside this block is yours: refreshes never touch it."""

USER_SECTIONS = """## Summary in my own words

<!-- The problem, the idea and the result, in three or four sentences you could say aloud. -->

## Claimed results

<!-- One row per number you will try to reproduce; `make compare` reads this table.
     metric: accuracy or error_rate (what `make train` reports), or any key of a run's metrics.
     value: as printed in the paper (6.43% or 0.0643). where: the table or figure. -->

| dataset | metric | value | where |
| --- | --- | --- | --- |
|  |  |  |  |

## Hyperparameters and training details

<!-- Optimizer, learning rate and schedule, batch size, epochs, augmentation, initialisation, hardware, time. -->

## Datasets and preprocessing

<!-- Dataset and split, image size, normalisation; what config.toml [data] dataset is set to. -->

## Ambiguities and questions

<!-- What the paper leaves unsaid, and what you assumed instead. -->

## Deviations from the paper

<!-- What you do differently (backbone, epochs, data, compute) and why. -->

## Reproduction log

<!-- `make compare` adds one table per run here, between its own markers; your notes around them stay. -->

## Reproducibility checklist

The ML Code Completeness Checklist; ticked where this project already provides the item.

- [x] Dependencies specified: `pyproject.toml`, installed by `make setup`
- [x] Training code: `make train`, every setting in `config.toml`, each run saved in `runs/<id>/`
- [x] Evaluation code: `make predict` for the test split, `make compare` against the paper
- [ ] Pre-trained models: publish the weights of your best run (`runs/<id>/`) and link them here
- [ ] README with a results table and the exact commands that produce it: paste the `make compare` table
"""

# Words arXiv leaves out of its BibTeX keys (he2015deepresiduallearningimage).
STOP_WORDS = set(
    "a an the and or but nor of for in on at to from by with without via into onto over under is are was were "
    "be been being it its this that these those as all you your we our us not no do does can".split()
)
WAIT = "wait a few minutes, then `make notes`"
HTTP_HINTS = {  # status: (what it means, how to fix it)
    400: ("arXiv refused the request as malformed", "check the id on https://arxiv.org/abs/{base}"),
    404: ("the API URL answers 'not found'", "check ARXIV_API_URL, or unset it to ask arXiv"),
    429: ("arXiv is rate-limiting this machine", WAIT),
    500: ("arXiv had an internal error", WAIT),
    502: ("arXiv's gateway failed", WAIT),
    503: ("arXiv is busy or down for maintenance", WAIT),
    504: ("arXiv timed out", WAIT),
}


def write_notes(cfg, paper: str | None = None) -> str:
    """Write or refresh NOTES.md and paper.bib from arXiv; `paper` (id or URL) switches the project's paper."""
    ident = _wanted(cfg, paper)
    started = time.monotonic()
    result, latest = fetch(ident)
    fetched = result.get_short_id()
    body = render(result, latest, pinned=split_version(ident)[1] is not None)

    notes_path, bib_path = cfg.root / NOTES, cfg.root / BIB
    old_text = read_text(notes_path) if notes_path.exists() else None
    new_text, old_ident, old_body = merge(old_text, fetched, body)
    bib_old = read_text(bib_path) if bib_path.exists() else ""
    bib_text = merge_bib(bib_old, fetched, bibtex(result))

    write_text(notes_path, new_text)
    write_text(bib_path, bib_text)
    switched = paper is not None and ident != cfg.project.paper
    if switched:
        set_value(cfg.root / CONFIG_FILE, "project", "paper", ident)

    what = _what_changed(old_text, old_ident, old_body, fetched, body)
    if switched:
        what += f"; config.toml now names {ident}"
    base, version = split_version(fetched)
    if version and latest > version:
        what += f"; v{latest} is the latest (`make notes PAPER={base}v{latest}` moves to it)"
    took = time.monotonic() - started
    return f"{what}; {NOTES} and {BIB} written ({took:.1f} s)"


def user_start(text: str) -> int:
    """Where the user's part of NOTES.md begins: after the generated block (0 when there is none)."""
    found = blocks.find(text, BEGIN_RE, END, NOTES)
    return found.stop if found else 0


def skeleton(ident: str) -> str:
    """NOTES.md before its first fetch: the placeholder block, then the user's sections."""
    return _block(ident, PLACEHOLDER) + "\n\n" + USER_SECTIONS


# --- asking arXiv -------------------------------------------------------------------------


def endpoint() -> str:
    """The query URL format: ARXIV_API_URL when set, else the arxiv package's own."""
    url = os.environ.get(ENV_URL)
    if url is None:
        import arxiv

        url = arxiv.Client.query_url_format
    parts = urlsplit(url.replace("{}", ""))
    if url.count("{}") != 1 or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ProjectError(
            f"{ENV_URL}={url!r} is not a URL with one " + "{} where the query goes "
            "(e.g. http://127.0.0.1:8000/api/query?{}, or unset it to ask arXiv)"
        )
    return url


def delay_seconds(host: str) -> float:
    """Seconds between two requests: ARXIV_DELAY_SECONDS for mirrors and test servers, never less for arXiv."""
    value = watchdog.env_seconds(ENV_DELAY, DELAY_SECONDS, "0.1 for a test server", zero=True)
    if host == "arxiv.org" or host.endswith(".arxiv.org"):
        return max(value, DELAY_SECONDS)
    return value


def fetch(ident: str):
    """(result, latest version) for one id; a pinned id is asked together with its latest version."""
    url = endpoint()
    parts = urlsplit(url.replace("{}", ""))
    _reachable(parts)
    delay = delay_seconds(parts.hostname)
    import arxiv
    import requests

    base, pinned = split_version(ident)
    ids = [ident, base] if pinned else [ident]
    client = arxiv.Client(page_size=len(ids), delay_seconds=delay, num_retries=RETRIES)
    client.query_url_format = url
    # the package reads any 200 as a feed, and a page that is none as "no such paper": check each answer first
    client._session.hooks["response"].append(_feed_only)
    search = arxiv.Search(id_list=ids, max_results=len(ids))
    with _spaced(f"{parts.hostname}_{parts.port or parts.scheme}", delay), _warnings_of("arxiv") as warned:
        try:
            with watchdog.watch(f"asking {parts.hostname} for {ident}"):
                results = list(client.results(search))
        except arxiv.HTTPError as exc:
            what, fix = HTTP_HINTS.get(exc.status, ("arXiv answered with an error", WAIT))
            raise ProjectError(
                f"{what}: HTTP {exc.status} after {RETRIES + 1} tries ({fix.format(base=base)})"
            ) from None
        except arxiv.ArxivError as exc:
            raise ProjectError(f"arXiv gave an unusable answer: {exc.message} (try `make notes` again later)") from None
        except requests.RequestException as exc:
            raise ProjectError(
                f"lost the connection to {parts.hostname}: {type(exc).__name__} "
                "(check your connection, then `make notes`)"
            ) from None

    refused = [_error_text(m) for m in warned if "/api/errors" in m]  # the package skips error entries
    if refused:
        raise ProjectError(f"arXiv refused {ident}: {refused[0]} (check the id on https://arxiv.org/abs/{base})")
    found = [r for r in results if split_version(r.get_short_id())[0] == base]
    chosen = [r for r in found if r.get_short_id() == ident] if pinned else found[:1]
    if not chosen:
        raise ProjectError(
            f"arXiv has no paper {ident} (check the id on https://arxiv.org/abs/{base}; "
            "a version that does not exist yet also gives this)"
        )
    versions = [split_version(r.get_short_id())[1] or 1 for r in found]
    return chosen[0], max(versions)


def _feed_only(response, *args, **kwargs):
    """A response hook: a 200 that is not an Atom feed (a proxy's block page, a captive portal, a mistyped
    mirror in ARXIV_API_URL) stops the request as one line that says so."""
    if response.status_code != 200 or _is_atom(response.content):
        return response
    if response.content.strip().startswith(b"Rate exceeded"):
        raise ProjectError(
            "arXiv's answer was not a feed, as when it is rate-limiting ('Rate exceeded.') "
            "(wait a minute, then `make notes`)"
        )
    page = urlsplit(response.url)
    what = describe_answer(response.content, response.headers.get("Content-Type", ""))
    raise ProjectError(
        f"not an arXiv API answer from {page.scheme}://{page.netloc}{page.path}: {what} "
        f"(check {ENV_URL}, or the proxy or network sign-in page in between; then `make notes`)"
    )


def _is_atom(content: bytes) -> bool:
    """Whether a document's first element is an Atom <feed> (what the arXiv API always answers)."""
    parser = ElementTree.XMLPullParser(events=("start",))
    try:
        parser.feed(content)
        for _, element in parser.read_events():
            return element.tag == ATOM_FEED
    except ElementTree.ParseError:
        pass
    return False


def _reachable(parts) -> None:
    """Fail fast when the API's host (or the proxy in between) does not answer: offline bakes stay quick."""
    host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    proxies = urllib.request.getproxies()
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if proxy and not urllib.request.proxy_bypass(host):
        via = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        host, port = via.hostname or host, via.port or 80
    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ProjectError(
            f"cannot reach the arXiv API at {host}:{port}: {reason} (check your connection, then `make notes`)"
        ) from None


@contextlib.contextmanager
def _spaced(server: str, delay: float):
    """Hold one request per `delay` seconds per server, across processes, with a timestamp file."""
    try:
        folder = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mlstarter"
        folder.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^\w.-]", "_", server)
        handle = open(folder / f"arxiv-{name}.last", "a+", encoding="utf-8")
    except (OSError, RuntimeError):  # no writable cache: the package's own in-process delay still applies
        yield
        return
    with handle:
        _lock(handle)
        handle.seek(0)
        try:
            last = float(handle.read().strip() or 0)
        except ValueError:
            last = 0.0
        wait = last + delay - time.time()
        if 0 < wait <= delay:
            time.sleep(wait)
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            handle.write(repr(time.time()))
            handle.flush()


def _lock(handle) -> None:
    try:
        import fcntl
    except ImportError:  # Windows: the timestamp alone still spaces requests out
        return
    fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@contextlib.contextmanager
def _warnings_of(name: str):
    """Collect a library's warnings instead of printing them: the arxiv package reports
    unparseable answers and error entries only there."""
    logger, handler = logging.getLogger(name), _Collect()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _error_text(message: str) -> str:
    """'Skipping entry http://arxiv.org/api/errors#incorrect_id_format_for_x missing <published>'
    -> 'incorrect id format for x'."""
    match = re.search(r"/api/errors#(\S+)", message)
    return match[1].replace("_", " ") if match else message


# --- NOTES.md and paper.bib ---------------------------------------------------------------


def render(result, latest: int, pinned: bool = False) -> str:
    """The generated block's text for one arXiv result."""
    short = result.get_short_id()
    base, version = split_version(short)
    if version and latest > version:
        state = f"v{latest} is the latest" + (", this one is pinned in config.toml" if pinned else "")
    else:
        state = "the latest"
    others = [c for c in result.categories if c != result.primary_category]
    authors = [
        blocks.one_line(a.name) + (f" ({blocks.one_line('; '.join(a.affiliation))})" if a.affiliation else "")
        for a in result.authors
    ]
    doi = f"[{result.doi}](https://doi.org/{result.doi})" if result.doi else "none"
    pdf = result.pdf_url or f"https://arxiv.org/pdf/{short}"
    fields = {
        "Authors": ", ".join(authors) or "none listed",
        "arXiv": f"{short} (the version these notes were taken from; {state})",
        "Categories": ", ".join([f"{result.primary_category} (primary)", *others]),
        "Published": result.published.date().isoformat(),
        "Updated": result.updated.date().isoformat(),
        "DOI": doi,
        "Journal ref": blocks.one_line(result.journal_ref) or "none",
        "Comment": blocks.one_line(result.comment) or "none",
        "Links": f"[abs](https://arxiv.org/abs/{short}) · [pdf]({pdf})",
        "Fetched": date.today().isoformat(),
    }
    lines = [f"# {blocks.one_line(result.title) or '(untitled)'}", ""]
    lines += [f"- **{label}:** {value}" for label, value in fields.items()]
    lines += ["", "## Abstract", "", _fence(_text(result.summary), "text")]
    lines += ["", f"## BibTeX (also in {BIB})", "", _fence(bibtex(result), "bibtex")]
    return "\n".join(lines)


def bibtex(result) -> str:
    """A BibTeX entry in arXiv's own style (the one its 'Export BibTeX Citation' gives)."""
    base = split_version(result.get_short_id())[0]
    year = result.updated.year
    first = _ascii(result.authors[0].name).split()[-1:] if result.authors else []
    words = [w for w in re.findall(r"[a-z0-9]+", _ascii(result.title).replace("-", "")) if w not in STOP_WORDS]
    key = re.sub(r"[^a-z]", "", first[0]) if first else "arxiv"
    entry = {
        "title": _braced(" ".join(result.title.split())),
        "author": _braced(" and ".join(" ".join(a.name.split()) for a in result.authors)),
        "year": str(year),
        "eprint": base,
        "archivePrefix": "arXiv",
        "primaryClass": result.primary_category,
        "url": "https://arxiv.org/abs/" + base,
    }
    lines = ["@misc{" + key + str(year) + "".join(words[:4]) + ","]
    lines += ["      " + name + "={" + value + "}," for name, value in entry.items()]
    lines.append("}")
    return "\n".join(lines)


def merge(old: str | None, ident: str, body: str) -> tuple[str, str | None, str | None]:
    """(new NOTES.md, previous id, previous body): only the generated block changes."""
    block = _block(ident, body)
    if old is None or not old.strip():  # none yet, or emptied by hand: the user's sections come back too
        return block + "\n\n" + USER_SECTIONS, None, None
    found = _find(old, BEGIN_RE, END, NOTES)
    if found is None:
        return block + "\n\n" + old, None, None
    return old[: found.start] + block + old[found.stop :], found.fields["ident"], found.body


def merge_bib(old: str, ident: str, entry: str) -> str:
    """paper.bib with our entry replaced (or added on top); the user's own entries stay."""
    key = _digest(entry)
    block = "\n".join([BIB_BEGIN.format(ident=ident, key=key), entry, BIB_END.format(key=key)])
    found = _find(old, BIB_BEGIN_RE, BIB_END, BIB)
    if found is None:
        return block + "\n" + ("\n" + old if old.strip() else "")
    return old[: found.start] + block + old[found.stop :]


def _find(text: str, begin_re, end_format: str, name: str) -> blocks.Block | None:
    """The generated block, None when there is none; refuses, writing nothing, a block edited by hand."""
    found = blocks.find(text, begin_re, end_format, name)
    if found and _digest(found.body) != found.fields["key"]:
        raise ProjectError(
            f"{name}: the generated block (from {found.fields['ident']}) was edited by hand and a refresh would lose "
            "that (move your text below the END line, or delete the whole block to have it written again)"
        )
    return found


def _block(ident: str, body: str) -> str:
    key = _digest(body)
    return "\n".join([BEGIN.format(ident=ident, key=key), body, END.format(key=key)])


def _digest(body: str) -> str:
    """A short hash of a block's text, blind to line endings and trailing spaces (editors and
    pre-commit change those), so an edited block is recognised and never overwritten."""
    return hashlib.sha256(_normal(body).encode("utf-8")).hexdigest()[:12]


def _normal(body: str) -> str:
    lines = body.replace("\r\n", "\n").split("\n")
    return "\n".join(line.rstrip() for line in lines).strip("\n")


def _what_changed(old_text, old_ident, old_body, ident, body) -> str:
    title = _fields(body)["Title"]
    if not (old_text or "").strip():
        return f"created for arXiv {ident} ({title})"
    if old_body is None:
        return f"arXiv {ident} ({title}) added on top of your text"
    old_body = _normal(old_body)
    if old_body == PLACEHOLDER:
        return f"filled in from arXiv {ident} ({title}), your text kept"
    changes = []
    old_base, old_version = split_version(old_ident)
    base, version = split_version(ident)
    if old_base != base:
        changes.append(f"now arXiv {ident} (was {old_ident})")
    elif old_version != version:
        word = "new" if (version or 0) > (old_version or 0) else "older"
        changes.append(f"{word} version v{version} (was v{old_version})")
    before, after = _fields(old_body), _fields(body)
    changed = [k for k in after if k not in ("arXiv", "Links", "Fetched", "BibTeX key") and before.get(k) != after[k]]
    if old_base == base and changed:
        changes.append(", ".join(changed).lower() + " changed")
    if before.get("BibTeX key") and before["BibTeX key"] != after["BibTeX key"]:
        changes.append(f"BibTeX key now {after['BibTeX key']} (was {before['BibTeX key']}: update your citations)")
    summary = "; ".join(changes) or "nothing changed on arXiv"
    return f"refreshed from arXiv {ident}: {summary}; your text kept"


def _fields(body: str) -> dict[str, str]:
    """The labelled values of a generated block, to say what a refresh changed."""
    head, _, rest = body.partition("\n## Abstract\n")
    title = re.search(r"^# (.*)$", head, re.M)
    fields = {"Title": title[1] if title else ""}
    fields |= dict(re.findall(r"^- \*\*(.+?):\*\* (.*)$", head, re.M))
    lines = rest.strip("\n").split("\n")
    if lines and lines[0].startswith("```"):
        fence = re.match(r"`+", lines[0])[0]
        closing = lines.index(fence, 1) if fence in lines[1:] else len(lines)
        fields["Abstract"] = "\n".join(lines[1:closing])
    keys = re.findall(r"^@misc\{([^,\n]*),$", rest, re.M)
    fields["BibTeX key"] = keys[-1] if keys else ""
    return fields


def _fence(text: str, info: str) -> str:
    """A code fence longer than any run of backticks inside, so the text shows verbatim."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{info}\n{text}\n{ticks}"


def _text(text: str | None) -> str:
    """API text as it came, less the blank edges and the spaces before line ends."""
    return "\n".join(line.rstrip() for line in (text or "").strip().split("\n"))


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def _braced(text: str) -> str:
    """BibTeX needs balanced braces: escape them when the text's are not."""
    depth = 0
    for char in text:
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth < 0:
            break
    return text if depth == 0 else text.replace("{", r"\{").replace("}", r"\}")


def _wanted(cfg, paper: str | None) -> str:
    if paper is not None:
        try:
            return parse_arxiv_id(paper)
        except IdError as exc:
            raise ProjectError(str(exc)) from None
    if not cfg.project.paper:
        raise ProjectError("config.toml: project.paper is empty (set it to an arXiv id, or `make notes PAPER=<id>`)")
    try:
        return parse_arxiv_id(cfg.project.paper)
    except IdError as exc:
        raise ProjectError(f"config.toml: project.paper: {exc}") from None
