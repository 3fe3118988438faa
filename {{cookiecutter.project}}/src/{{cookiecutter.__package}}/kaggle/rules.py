"""make rules: RULES.md from the competition's metadata, your ticks kept.

RULES.md has two generated blocks, each between marker lines: the facts (deadlines, team
size, daily submissions, metric...) from Kaggle's API, and the text of the rules page.
`make rules` rewrites those two blocks and nothing else, so every box you ticked and every
line you wrote outside them stays as it is. The bake's post-gen hook calls `write_rules` too.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from ..kit import blocks, kaggle_api
from ..kit.errors import ProjectError, counted
from ..kit.files import read_text, write_text

DOCUMENT = "RULES.md"
FACTS = ("<!-- facts: `make rules` rewrites this block from Kaggle's API; write your own lines outside it -->",
         "<!-- end of facts -->")  # fmt: skip
PAGE = ("<!-- rules page: `make rules` rewrites this block with the text of the competition's rules page -->",
        "<!-- end of rules page -->")  # fmt: skip
# What a careful competitor checks on the competition's pages: no API call answers these.
CHECKS = [
    "I read the rules and accepted them on kaggle.com (downloads fail with 403 until then)",
    "One account per person; our team is within the size limit, and any merge happens before the merger deadline",
    "External data: what is allowed, and whether it must be shared in the forum first",
    "Pretrained weights and models: allowed? (the baseline starts from ImageNet weights)",
    "No private sharing of code or data outside the team; public sharing goes to the forum or a public notebook",
    "Winner's obligations: code, licence (often open source) and a write-up",
    "Public vs private leaderboard: how the test set is split, and which submissions I select for the final score",
]
BOX = re.compile(r"^\s*[-*] \[([ xX])\] ")


def skeleton(slug: str) -> str:
    """RULES.md before any metadata: the bake writes this same text, and `make rules` fills it."""
    url = kaggle_api.COMPETITION_URL.format(slug=slug)
    return "\n".join(
        [
            f"# Rules checklist: {slug}",
            "",
            FACTS[0],
            "Not filled yet: run `make setup`, then `make rules` (it needs Kaggle credentials) to fill in",
            f"the deadlines, team size, daily submissions and metric of {url}.",
            FACTS[1],
            "",
            "## Checks no API answers",
            "",
            "Tick each box (`[x]`) once you have checked it on the competition's pages;",
            "`make rules` keeps your ticks and every line you add outside its two blocks.",
            "",
            *(f"- [ ] {check}" for check in CHECKS),
            "",
            "## Rules page",
            "",
            PAGE[0],
            f"Not fetched yet: `make rules` copies the rules page here. Read it at {kaggle_api.rules_url(slug)}.",
            PAGE[1],
            "",
        ]
    )


def write_rules(cfg) -> str:
    """Refresh RULES.md's facts and rules text from Kaggle; every tick and line of yours is kept."""
    slug = cfg.project.competition
    if not slug:
        raise ProjectError("project.competition is empty in config.toml (set it to the slug, e.g. digit-recognizer)")
    api = kaggle_api.client()
    competition = kaggle_api.competition(api, slug)
    page, page_note = _rules_page(api, slug)
    now = datetime.now(UTC).replace(tzinfo=None)
    path = cfg.root / DOCUMENT
    text = read_text(path) if path.exists() else ""
    text = text if text.strip() else skeleton(slug)  # emptied by hand: the title and checklist come back too
    text = blocks.replace(text, *FACTS, "\n".join(facts(competition, slug, now)), DOCUMENT, _under_title)
    text = blocks.replace(text, *PAGE, "\n".join(page_block(page, page_note, slug, now)), DOCUMENT, _at_end)
    write_text(path, text)
    boxes = [m.group(1) for m in map(BOX.match, _outside_blocks(text)) if m]
    ticked = sum(1 for mark in boxes if mark != " ")
    deadline = _when(competition.deadline, now)
    return (
        f"facts for {blocks.one_line(competition.title) or slug} refreshed in {DOCUMENT} (deadline {deadline}, "
        f"{_per_day(competition.max_daily_submissions)}, teams up to "
        f"{competition.max_team_size or '?'}); {ticked} of {len(boxes)} boxes ticked; {page_note}"
    )


def _per_day(limit) -> str:
    """'1 submission a day', '5 submissions a day', '? submissions a day' (Kaggle did not say)."""
    return f"{counted(limit, 'submission')} a day" if limit else "? submissions a day"


def _link_text(text: str) -> str:
    """Text inside [...]: brackets and backslashes escaped, so that it renders as it came."""
    return text.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")


def facts(competition, slug: str, now: datetime) -> list[str]:
    """The generated facts, one bullet each; the API's strings through `one_line`."""
    url = kaggle_api.COMPETITION_URL.format(slug=slug)
    rules = kaggle_api.rules_url(slug)
    name, reward = _link_text(blocks.one_line(competition.title) or slug), blocks.one_line(competition.reward)
    about = [blocks.one_line(competition.category), f"reward: {reward}" if reward else "", _teams(competition)]
    if competition.is_kernels_submissions_only:
        route = (
            "code competition: submissions come from a Kaggle notebook "
            "(`make kaggle-push` runs this project there; `make submit` refuses CSV uploads)"
        )
    elif competition.submissions_disabled:
        route = "closed to new submissions"
    else:
        route = "a CSV upload with `make submit`"
    joined = "yes" if competition.user_has_entered else f"no: accept the rules at {rules} before `make data`"
    return [
        f"Facts from Kaggle's API, {now:%Y-%m-%d %H:%M} UTC (`make rules` refreshes them):",
        "",
        f"- **Competition:** [{name}]({url}) ({'; '.join(filter(None, about))})",
        f"- **Rules:** {rules}",
        f"- **Deadline:** {_when(competition.deadline, now)}",
        f"- **Entry deadline** (accept the rules before it): {_when(competition.new_entrant_deadline, now)}",
        f"- **Team merger deadline:** {_when(competition.merger_deadline, now)}",
        f"- **Max team size:** {competition.max_team_size or 'not stated'}",
        f"- **Max daily submissions:** {competition.max_daily_submissions or 'not stated'} (reset at 00:00 UTC)",
        f"- **Evaluation metric:** {blocks.one_line(competition.evaluation_metric) or 'see the Evaluation page'}",
        f"- **Submissions:** {route}",
        f"- **You have joined:** {joined}",
    ]


def page_block(page: str | None, note: str, slug: str, now: datetime) -> list[str]:
    """The rules page as Kaggle served it, or where to read it."""
    rules = kaggle_api.rules_url(slug)
    if page is None:
        return [f"{note[0].upper()}{note[1:]}; read it at {rules}."]
    page = page.replace("\r\n", "\n").replace("\r", "\n")  # a lone \r would start an unquoted line on reading
    safe = page.replace("<!--", "&lt;!--").strip()  # page text must never close our block
    quoted = [f"> {line}".rstrip() for line in safe.split("\n")]  # quoted: its headings stay out of our outline
    return [
        f"The rules page as Kaggle's API served it on {now:%Y-%m-%d %H:%M} UTC (the page itself: {rules}):",
        "",
        *quoted,
    ]


def _under_title(text: str, block: str) -> str:
    """Where a missing facts block goes: right under the title."""
    lines = text.split("\n")
    at = next((i + 1 for i, line in enumerate(lines) if line.startswith("# ")), 0)
    return "\n".join([*lines[:at], "", block, *lines[at:]])


def _at_end(text: str, block: str) -> str:
    """Where a missing rules page block goes: last, under its heading."""
    return re.sub(r"\n\s*\Z", "", text) + f"\n\n## Rules page\n\n{block}\n"


def _outside_blocks(text: str) -> list[str]:
    """The lines that are the user's: all but the two blocks."""
    return blocks.outside(text, [FACTS, PAGE], DOCUMENT).split("\n")


def _rules_page(api, slug: str) -> tuple[str | None, str]:
    """(text, note) of the rules page; a page the API does not serve is a note, not a failure."""
    try:
        pages = kaggle_api.call(f"reading {slug}'s rules page", api.competition_list_pages, slug, "rules")
    except ProjectError as exc:
        return None, f"rules page not fetched ({exc})"
    for page in pages or []:
        if (page.name or "").lower() == "rules" and (page.content or "").strip():
            return page.content, "rules page copied below the checklist"
    return None, "Kaggle's API serves no rules page text for it"


def _when(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "none"
    days = (moment - now).total_seconds() / 86400
    if days < 0:
        left = f"closed {int(-days)} days ago" if days <= -1 else "closed today"
    else:
        left = f"{int(days)} days left" if days >= 1 else "less than a day left"
    return f"{moment:%Y-%m-%d %H:%M} UTC, {left}"


def _teams(competition) -> str:
    return f"{competition.team_count:,} teams" if competition.team_count else ""
