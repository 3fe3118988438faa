"""make compare: our numbers beside the paper's.

Reads the claimed results table the user keeps in NOTES.md (dataset, metric, value,
where) and a finished run's metrics, prints ours vs paper with the difference, and
records the table in NOTES.md's reproduction log (between markers of its own, one
entry per run) and in runs/<id>/compare.md.
"""

from __future__ import annotations

import re
from datetime import date

from ..kit import blocks, runs
from ..kit.errors import ProjectError, counted
from ..kit.files import read_text, write_text
from ..kit.runs import find, read_metrics
from .notes import NOTES, user_start

CLAIMS_HEADING = re.compile(r"^##\s+Claimed results\s*$", re.M | re.I)
LOG_HEADING = re.compile(r"^##\s+Reproduction log\s*$", re.M | re.I)
NEXT_HEADING = re.compile(r"^#{1,2}\s", re.M)
BEGIN = "<!-- BEGIN compare {run} -->"
END = "<!-- END compare {run} -->"
# What users write in papers' tables -> the names a run's metrics use.
ALIASES = {
    "acc": "accuracy",
    "top 1 acc": "accuracy",
    "top 1 accuracy": "accuracy",
    "top1 acc": "accuracy",
    "top1 accuracy": "accuracy",
    "err": "error_rate",
    "error": "error_rate",
    "error rate": "error_rate",
    "top 1 error": "error_rate",
    "top 1 error rate": "error_rate",
    "top1 error": "error_rate",
}
FRACTIONS = {"accuracy", "error_rate"}  # runs store these as 0..1; papers often print percent
HIGHER_IS_BETTER = {"accuracy": True, "error_rate": False, "valid_loss": False, "train_loss": False}
COLUMNS = {  # header cell -> field; the first name is what the skeleton writes
    "dataset": "dataset",
    "data": "dataset",
    "metric": "metric",
    "value": "value",
    "claimed": "value",
    "paper": "value",
    "where": "where",
    "ref": "where",
    "source": "where",
}


def compare(cfg, run: str | None = None) -> str:
    """Print ours vs the paper's claimed results; record the table in NOTES.md and runs/<id>/compare.md."""
    folder = find(cfg, run)
    metrics = read_metrics(folder)
    settings = runs.settings(folder)
    trained = settings.get("data", {}).get("dataset") or cfg.data.dataset
    path = cfg.root / NOTES
    if not path.is_file():
        raise ProjectError(f"{NOTES} is missing (run `make notes`, then fill its claimed results table)")
    text = read_text(path)
    claims = claimed_results(text)
    if not claims:
        raise ProjectError(
            f"{NOTES} has no claimed results yet (fill a row of the table under '## Claimed results': "
            "dataset, metric, value, where; then `make compare`)"
        )
    rows = [compare_one(claim, metrics, trained) for claim in claims]
    compared = sum(1 for row in rows if row["diff"] != "—")
    if not compared:
        measured = ", ".join(sorted(metrics)) or "nothing"
        raise ProjectError(
            f"none of the {len(claims)} claimed results in {NOTES} is for run {folder.name}: it trained on "
            f"{_dataset_name(trained) or 'unnamed data'} and measured {measured} (add a row for that dataset, "
            "or fix the dataset or metric names in the table)"
        )
    table = render(rows)
    entry = _entry(folder.name, settings, trained, table)
    new_text = add_to_log(text, folder.name, entry)
    write_text(folder / "compare.md", f"# Run {folder.name} vs arXiv {cfg.project.paper}\n\n{entry}\n")
    write_text(path, new_text)
    print(table, flush=True)
    where = folder.relative_to(cfg.root).as_posix() if folder.is_relative_to(cfg.root) else str(folder)
    return (
        f"compare: {compared} of {len(claims)} claimed results set beside run {folder.name}; "
        f"recorded in {NOTES} (Reproduction log) and {where}/compare.md"
    )


def claimed_results(text: str) -> list[dict]:
    """The rows of the claimed results table that carry a value: dataset, metric, value, where."""
    section = _section(text, CLAIMS_HEADING)
    if section is None:
        return []
    body = re.sub(r"<!--.*?-->", "", text[section[0] : section[1]], flags=re.S)
    lines = [line.strip() for line in body.splitlines() if line.strip().startswith("|")]
    if not lines:
        return []
    header = [_key(cell) for cell in _cells(lines[0])]
    fields = [COLUMNS.get(name, "") for name in header]
    if "metric" not in fields or "value" not in fields:
        raise ProjectError(
            f"{NOTES}: the claimed results table needs metric and value columns "
            "(restore its header: | dataset | metric | value | where |)"
        )
    claims = []
    for line in lines[1:]:
        cells = _cells(line)
        if all(re.fullmatch(r":?-+:?", cell) for cell in cells if cell):
            continue  # the |---| line
        row = {field: cell for field, cell in zip(fields, cells, strict=False) if field}
        if row.get("value"):
            claims.append({"dataset": "", "where": "", **row})
    return claims


def compare_one(claim: dict, metrics: dict, trained: str) -> dict:
    """One table row: the claim, our value (test split when measured, else validation) and the difference."""
    name = ALIASES.get(_key(claim["metric"])) or _metric_named(claim["metric"], metrics)
    paper_value, percent = _number(claim["value"], claim["metric"])
    fraction = name in FRACTIONS or percent
    if fraction and (percent or paper_value > 1):
        paper_value /= 100
    row = {**claim, "paper": _show(paper_value, fraction), "ours": "—", "diff": "—"}
    if claim["dataset"] and _plain(claim["dataset"]) != _plain(_dataset_name(trained)):
        row["ours"] = f"— (this run: {_dataset_name(trained) or 'other data'})"
        return row
    found = [(metrics[key], split) for key, split in ((f"test_{name}", "test"), (name, "valid")) if key in metrics]
    if not name or not found:
        row["ours"] = f"— (not measured: {claim['metric']})"
        return row
    ours, split = found[0]
    difference = ours - paper_value
    better = HIGHER_IS_BETTER.get(name)
    verdict = ""
    if better is not None and abs(difference) > 1e-12:
        verdict = " (better)" if (difference > 0) == better else " (worse)"
    row["ours"] = f"{_show(ours, fraction)} ({split})"
    row["diff"] = (f"{difference * 100:+.2f} pts" if fraction else f"{difference:+.4g}") + verdict
    return row


def render(rows: list[dict]) -> str:
    lines = ["| dataset | metric | paper | ours | ours − paper | where |", "| --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        cells = [row["dataset"], row["metric"], row["paper"], row["ours"], row["diff"], row["where"]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def add_to_log(text: str, run_id: str, entry: str) -> str:
    """NOTES.md with this run's entry in the reproduction log: replaced if there, else added at its end."""
    begin, end = BEGIN.format(run=run_id), END.format(run=run_id)
    return blocks.replace(text, begin, end, entry, NOTES, _in_log, start=user_start(text))


def _in_log(text: str, block: str) -> str:
    """Where a run's first entry goes: at the end of the reproduction log (a new one when there is none)."""
    section = _section(text, LOG_HEADING)
    if section is None:
        return text.rstrip("\n") + f"\n\n## Reproduction log\n\n{block}\n"
    head, tail = text[: section[1]].rstrip("\n"), text[section[1] :]
    return f"{head}\n\n{block}\n" + (f"\n{tail}" if tail else "")


def _entry(run_id: str, settings: dict, trained: str, table: str) -> str:
    model = settings.get("model", {})
    epochs = model.get("epochs")
    parts = [
        model.get("arch"),
        "random init" if model.get("pretrained") is False else "",
        f"{model['size']} px" if model.get("size") else "",
        counted(epochs, "epoch") if isinstance(epochs, int) else "",
    ]
    how = ", ".join(p for p in parts if p) or "settings in its config.json"
    if trained:
        how += f" on {_dataset_name(trained)}"
    return (
        f"### Run {run_id} (compared {date.today().isoformat()})\n\n"
        f"{how}; ours from the test split where `make predict` measured it, else from validation.\n\n{table}"
    )


def _section(text: str, heading: re.Pattern) -> tuple[int, int] | None:
    """(start, end) of a user section's body: after its heading, up to the next heading of level 1-2."""
    start = user_start(text)
    match = heading.search(text, start)
    if match is None:
        return None
    following = NEXT_HEADING.search(text, match.end())
    return match.end(), following.start() if following else len(text)


def _cells(line: str) -> list[str]:
    inner = line.strip().removeprefix("|").removesuffix("|")
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", inner)]


def _key(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def _plain(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _metric_named(name: str, metrics: dict) -> str:
    """The run's name for a metric the user wrote loosely ("Valid loss", "test_loss"), without test_."""
    wanted = _key(name)
    for key in metrics:
        base = key.removeprefix("test_")
        if wanted in (_key(key), _key(base)):
            return base
    return ""


def _number(cell: str, metric: str) -> tuple[float, bool]:
    match = re.search(r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?", cell.replace(",", ""))
    if match is None:
        raise ProjectError(
            f"{NOTES}: the claimed value {cell!r} for {metric or 'a metric'} is not a number "
            "(write e.g. 6.43% or 0.0643)"
        )
    return float(match[0]), "%" in cell[match.end() :]


def _show(value: float, fraction: bool) -> str:
    return f"{value * 100:.2f}%" if fraction else f"{value:.4g}"


def _dataset_name(spec: str) -> str:
    """cifar10 -> cifar10; kaggle:owner/name -> name; path:some/folder -> folder."""
    return spec.split(":", 1)[-1].rstrip("/").rsplit("/", 1)[-1]
