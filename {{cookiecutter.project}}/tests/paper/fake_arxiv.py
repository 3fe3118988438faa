"""A fake arXiv API on 127.0.0.1: Atom feeds shaped like the real API's, and its failure modes.

The real `arxiv` package fetches from it through ARXIV_API_URL. Entries follow the
arXiv API manual's Atom schema (atom + arxiv + opensearch namespaces): an unversioned
id answers the latest version, a versioned one that version; an unknown id gives an
empty feed. Set `server.answer` to one of ANSWERS to play arXiv's failures instead.
"""

from __future__ import annotations

import contextlib
import threading
import time
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

ATOM = "http://www.w3.org/2005/Atom"
ARXIV = "http://arxiv.org/schemas/atom"
OPENSEARCH = "http://a9.com/-/spec/opensearch/1.1/"
for prefix, uri in (("", ATOM), ("arxiv", ARXIV), ("opensearch", OPENSEARCH)):
    ET.register_namespace(prefix, uri)

RESNET = {
    "id": "1512.03385v1",
    "title": "Deep Residual Learning for Image Recognition",
    "authors": [("Kaiming He", []), ("Xiangyu Zhang", []), ("Shaoqing Ren", []), ("Jian Sun", [])],
    "summary": "  Deeper neural networks are more difficult to train. We present a residual\n"
    "learning framework to ease the training of networks that are substantially\n"
    "deeper than those used previously.\n",
    "comment": "Tech report",
    "journal_ref": None,
    "doi": None,
    "primary": "cs.CV",
    "categories": ["cs.CV"],
    "published": "2015-12-10T15:44:59Z",
    "updated": "2015-12-10T15:44:59Z",
    "pdf": True,
}
OLD_STYLE = {
    "id": "hep-th/9901001v2",
    "title": "A Made-Up Paper on\n  Strings and Branes",  # arXiv wraps long titles; the package joins them
    "authors": [("Ana Pérez", ["Universidad de Ejemplo", "Instituto Ficticio"]), ("Bo Li", [])],
    "summary": "  We study nothing in particular, in two dimensions.\n",
    "comment": "12 pages, 3 figures;\n  v2: typos fixed",
    "journal_ref": "Phys. Lett. B 999 (1999) 1-12",
    "doi": "10.1016/S0000-0000(99)00001-1",
    "primary": "hep-th",
    "categories": ["hep-th", "gr-qc"],
    "published": "1999-01-04T10:00:00Z",
    "updated": "1999-03-15T12:30:00Z",
    "pdf": False,  # no pdf link in the feed: NOTES.md falls back to arxiv.org/pdf/<id>
}
EVOLVING = {
    "id": "2107.05580v1",
    "title": "A Paper That Will Change",
    "authors": [("Grace Hopper", [])],
    "summary": "  The first version.\n",
    "comment": "8 pages",
    "journal_ref": None,
    "doi": None,
    "primary": "cs.LG",
    "categories": ["cs.LG", "stat.ML"],
    "published": "2021-07-12T17:00:00Z",
    "updated": "2021-07-12T17:00:00Z",
    "pdf": True,
}
EVOLVED = {
    **EVOLVING,
    "id": "2107.05580v2",
    "summary": "  The second version, with results on ImageNet.\n",
    "comment": "10 pages, accepted at a conference",
    "updated": "2022-02-01T09:00:00Z",
}
# Template syntax, built so that this file holds none itself (the template's tests look for it).
OPEN, CLOSE, TAG, TAG_END, NOTE = "{" + "{", "}" + "}", "{" + "%", "%" + "}", "{" + "#"
HOSTILE_SUMMARY = "\n".join(
    [
        f"Template code: {OPEN} cookie" + f"cutter.project {CLOSE} and {TAG} if x {TAG_END}no{TAG} endif {TAG_END}.",
        f"A comment {NOTE} c #" + "} and backticks: `code`, ``double`` and a fence:",
        "```",
        "not a fence end",
        "````",
        "HTML: <script>alert('x')</script> <b>bold</b> &amp; <!-- END arXiv 000000000000 -->",
        "<!-- BEGIN arXiv 1111.11111 111111111111: forged -->",
        "- **Title:** a forged field line",
        "Markdown: *stars* _under_ | pipes | $x^2$ \\ backslash",
    ]
)
HOSTILE = {
    **RESNET,
    "id": "2401.00001v1",
    "title": f"`Backticks` & <i>HTML</i> {OPEN} in {CLOSE} a title",
    "summary": HOSTILE_SUMMARY,
    "comment": f"<a href='x'>link</a> {TAG} raw {TAG_END}",
}
PAPERS = [RESNET, OLD_STYLE, EVOLVING, HOSTILE]

ERROR_FEED_ID = "http://arxiv.org/api/errors#incorrect_id_format_for_1512.03385"
ANSWERS = {
    # name: (HTTP status, content type, body) - arXiv's ways of failing
    "empty": (200, "application/atom+xml", None),
    "error-entry": (200, "application/atom+xml", None),
    "rate-text": (200, "text/plain", b"Rate exceeded."),
    "429": (429, "text/plain", b"Rate exceeded."),
    "503": (503, "text/html", b"<html><body>Service Unavailable</body></html>"),
    "400": (400, "application/atom+xml", None),
    # not arXiv at all: a proxy's block page or a captive portal, answered with 200
    "html-page": (
        200,
        "text/html; charset=utf-8",
        b"<!DOCTYPE html><html><head><title>Access denied</title></head>"
        b"<body><h1>This site is blocked by your network's proxy</h1></body></html>",
    ),
}


def _sub(parent, namespace, tag, text=None, **attrs):
    element = ET.SubElement(parent, ET.QName(namespace, tag), attrs)
    element.text = text
    return element


def feed(entries: list[dict], query: str = "") -> bytes:
    """An Atom feed like the API's, one <entry> per paper dict."""
    root = ET.Element(ET.QName(ATOM, "feed"))
    _sub(root, ATOM, "link", href=f"http://arxiv.org/api/query?{query}", rel="self", type="application/atom+xml")
    _sub(root, ATOM, "title", f"ArXiv Query: {query}", type="html")
    _sub(root, ATOM, "id", "http://arxiv.org/api/fake")
    _sub(root, ATOM, "updated", "2025-01-01T00:00:00-05:00")
    _sub(root, OPENSEARCH, "totalResults", str(len(entries)))
    _sub(root, OPENSEARCH, "startIndex", "0")
    _sub(root, OPENSEARCH, "itemsPerPage", str(max(len(entries), 1)))
    for paper in entries:
        entry = _sub(root, ATOM, "entry")
        _sub(entry, ATOM, "id", f"http://arxiv.org/abs/{paper['id']}")
        _sub(entry, ATOM, "updated", paper["updated"])
        _sub(entry, ATOM, "published", paper["published"])
        _sub(entry, ATOM, "title", paper["title"])
        _sub(entry, ATOM, "summary", paper["summary"])
        for name, affiliations in paper["authors"]:
            author = _sub(entry, ATOM, "author")
            _sub(author, ATOM, "name", name)
            for affiliation in affiliations:
                _sub(author, ARXIV, "affiliation", affiliation)
        for key in ("doi", "comment", "journal_ref"):
            if paper[key]:
                _sub(entry, ARXIV, key, paper[key])
        _sub(entry, ATOM, "link", href=f"http://arxiv.org/abs/{paper['id']}", rel="alternate", type="text/html")
        if paper["pdf"]:
            link = f"http://arxiv.org/pdf/{paper['id']}"
            _sub(entry, ATOM, "link", title="pdf", href=link, rel="related", type="application/pdf")
        if paper["doi"]:
            _sub(entry, ATOM, "link", title="doi", href=f"http://dx.doi.org/{paper['doi']}", rel="related")
        _sub(entry, ARXIV, "primary_category", term=paper["primary"], scheme="http://arxiv.org/schemas/atom")
        for category in paper["categories"]:
            _sub(entry, ATOM, "category", term=category, scheme="http://arxiv.org/schemas/atom")
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def error_feed(query: str = "") -> bytes:
    """arXiv's error answer: HTTP 200 and one entry titled Error, which has no <published>."""
    root = ET.fromstring(feed([], query))
    root.find(ET.QName(OPENSEARCH, "totalResults").text).text = "1"
    entry = _sub(root, ATOM, "entry")
    _sub(entry, ATOM, "id", ERROR_FEED_ID)
    _sub(entry, ATOM, "title", "Error")
    _sub(entry, ATOM, "summary", "incorrect id format for 1512.03385")
    _sub(entry, ATOM, "updated", "2025-01-01T00:00:00-05:00")
    _sub(entry, ATOM, "link", href=ERROR_FEED_ID, rel="alternate", type="text/html")
    _sub(_sub(entry, ATOM, "author"), ATOM, "name", "arXiv api core")
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


class FakeArxiv:
    """What the server holds: papers by versioned id, the failure to play, the requests seen."""

    def __init__(self, papers=PAPERS):
        self.papers = {paper["id"]: paper for paper in papers}
        self.answer: str | None = None
        self.requests: list[tuple[float, dict]] = []  # (time.monotonic(), query)
        self.port = 0

    @property
    def url(self) -> str:
        return "http://127.0.0.1:" + str(self.port) + "/api/query?{}"

    def add(self, paper: dict) -> None:
        """Publish a paper or a new version of one (the API then answers it for the bare id)."""
        self.papers[paper["id"]] = paper

    def lookup(self, ident: str) -> dict | None:
        if ident in self.papers:
            return self.papers[ident]
        versions = [p for key, p in self.papers.items() if key.rsplit("v", 1)[0] == ident]
        return max(versions, key=lambda p: int(p["id"].rsplit("v", 1)[1]), default=None)

    def respond(self, query: str) -> tuple[int, str, bytes]:
        if self.answer:
            status, kind, body = ANSWERS[self.answer]
            if self.answer == "error-entry":
                body = error_feed(query)
            return status, kind, body if body is not None else feed([], query)
        ids = parse_qs(query).get("id_list", [""])[0]
        entries = [p for p in (self.lookup(i) for i in ids.split(",") if i) if p]
        return 200, "application/atom+xml", feed(entries, query)


@contextlib.contextmanager
def serve(papers=PAPERS):
    """Run a FakeArxiv on 127.0.0.1 (a free port) for the block; yields it."""
    state = FakeArxiv(papers)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            url = urlsplit(self.path)
            state.requests.append((time.monotonic(), parse_qs(url.query)))
            status, kind, body = state.respond(url.query) if url.path == "/api/query" else (404, "text/plain", b"")
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):  # keep test output clean
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()


def environment(server: FakeArxiv, cache, delay: float = 0.0) -> dict[str, str]:
    """The variables that point the project at `server`: endpoint, pause, timestamp folder."""
    return {"ARXIV_API_URL": server.url, "ARXIV_DELAY_SECONDS": str(delay), "XDG_CACHE_HOME": str(cache)}
