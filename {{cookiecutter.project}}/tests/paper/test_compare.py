"""make compare: the paper's claimed numbers beside a run's, recorded in NOTES.md and the run folder."""

import json
import re

import pytest
from conftest import module, run_cli

compare = module("paper.compare")
notes = module("paper.notes")
runs = module("kit.runs")
config = module("kit.config")
ProjectError = module("kit.errors").ProjectError

CLAIMS = """| dataset | metric | value | where |
| --- | --- | --- | --- |
| CIFAR-10 | error_rate | 6.43% | Table 6 |
| CIFAR-10 | top-1 accuracy | 93.57 | Table 6 |
| ImageNet | top-1 error | 19.38% | Table 4 |
|  |  |  |  |"""
METRICS = {"accuracy": 0.9, "error_rate": 0.1, "valid_loss": 0.3, "train_loss": 0.2}


@pytest.fixture
def paper(project):
    """A scratch paper project on cifar10 whose NOTES.md holds three claimed results."""
    config.set_value(project / "config.toml", "data", "dataset", "cifar10")
    text = notes.skeleton("1512.03385").replace(
        "| dataset | metric | value | where |\n| --- | --- | --- | --- |\n|  |  |  |  |", CLAIMS
    )
    (project / "NOTES.md").write_text(text, encoding="utf-8")
    return project


def load(root):
    return config.load(root / "config.toml")


def finished_run(cfg, metrics=METRICS, test=None, short="resnet18"):
    """A run folder as `make train` leaves it (written through runs.py itself), test metrics as `make predict` adds."""
    with runs.new_run(cfg, {"lr": 1e-3}, short) as run:
        (run.dir / runs.MODEL).write_bytes(b"a model")
        run.finish(metrics)
    if test:
        (run.dir / runs.TEST_METRICS).write_text(json.dumps(test))
    return run.dir


def log_section(text):
    """The reproduction log section of NOTES.md, up to the next heading."""
    return re.search(r"^## Reproduction log\n(.*?)(?=^## )", text, re.S | re.M)[1]


def test_ours_and_the_papers_numbers_are_set_side_by_side(paper, capsys):
    """The headline job: each claimed number, ours, and the gap in points, saying which is better."""
    run = finished_run(load(paper))
    summary = compare.compare(load(paper))
    table = capsys.readouterr().out.strip()
    assert table == "\n".join(
        [
            "| dataset | metric | paper | ours | ours − paper | where |",
            "| --- | --- | --- | --- | --- | --- |",
            "| CIFAR-10 | error_rate | 6.43% | 10.00% (valid) | +3.57 pts (worse) | Table 6 |",
            "| CIFAR-10 | top-1 accuracy | 93.57% | 90.00% (valid) | -3.57 pts (worse) | Table 6 |",
            "| ImageNet | top-1 error | 19.38% | — (this run: cifar10) | — | Table 4 |",
        ]
    )
    assert summary == (
        f"compare: 2 of 3 claimed results set beside run {run.name}; "
        f"recorded in NOTES.md (Reproduction log) and runs/{run.name}/compare.md"
    )
    log = log_section((paper / "NOTES.md").read_text())
    assert f"<!-- BEGIN compare {run.name} -->\n### Run {run.name} (compared " in log
    model = load(paper).model
    assert f"{model.arch}, {model.size} px, {model.epochs} epochs on cifar10; ours from the test split" in log
    assert table + f"\n<!-- END compare {run.name} -->" in log
    assert (run / "compare.md").read_text().startswith(f"# Run {run.name} vs arXiv 1512.03385\n\n### Run {run.name}")
    assert table in (run / "compare.md").read_text()


def test_test_split_metrics_are_used_once_predict_measured_them(paper, capsys):
    """Papers report test numbers: after `make predict` the run's test metrics win over validation."""
    finished_run(load(paper), test={"test_accuracy": 0.95, "test_error_rate": 0.05, "test_loss": 0.2})
    compare.compare(load(paper))
    out = capsys.readouterr().out
    assert "| CIFAR-10 | error_rate | 6.43% | 5.00% (test) | -1.43 pts (better) | Table 6 |" in out
    assert "| 95.00% (test) | +1.43 pts (better) |" in out


def test_a_loose_metric_name_finds_the_runs_metric(paper, capsys):
    """'Valid loss' in the paper's words is valid_loss in the run's; raw values, no percent."""
    text = (
        (paper / "NOTES.md")
        .read_text()
        .replace("| ImageNet |", "| CIFAR-10 | Valid loss | 0.25 | Fig. 2 |\n| ImageNet |")
    )
    (paper / "NOTES.md").write_text(text)
    finished_run(load(paper))
    compare.compare(load(paper))
    assert "| CIFAR-10 | Valid loss | 0.25 | 0.3 (valid) | +0.05 (worse) | Fig. 2 |" in capsys.readouterr().out


def test_each_run_gets_one_entry_and_a_second_compare_replaces_it(paper):
    """Comparing again updates that run's entry; a new run adds its own below, the user's text stays."""
    text = (
        (paper / "NOTES.md")
        .read_text()
        .replace("## Reproduction log\n", "## Reproduction log\n\nMy plan: first the baseline, then longer training.\n")
    )
    (paper / "NOTES.md").write_text(text)
    first = finished_run(load(paper))
    compare.compare(load(paper))
    compare.compare(load(paper), run=first.name)
    second = finished_run(load(paper), metrics={**METRICS, "accuracy": 0.92, "error_rate": 0.08})
    compare.compare(load(paper))
    log = log_section((paper / "NOTES.md").read_text())
    assert log.count(f"<!-- BEGIN compare {first.name} -->") == 1
    assert log.index(first.name) < log.index(second.name)
    assert log.startswith("\nMy plan: first the baseline, then longer training.\n")
    assert "| 8.00% (valid) | +1.57 pts (worse) |" in log


def test_user_text_outside_the_entries_is_kept_byte_for_byte(paper):
    """compare writes only between its own markers."""
    notes_path = paper / "NOTES.md"
    notes_path.write_text(notes_path.read_text() + "\nA closing line of mine. `x` {y} <z>\n")
    before = notes_path.read_text()
    run = finished_run(load(paper))
    compare.compare(load(paper))
    after = notes_path.read_text()
    entry = re.search(rf"\n\n<!-- BEGIN compare {run.name} -->.*?<!-- END compare {run.name} -->\n", after, re.S)
    assert after[: entry.start()] + after[entry.end() - 1 :] == before


def test_headings_and_tables_inside_the_arxiv_block_are_not_the_users(paper, capsys):
    """An abstract may contain '## Claimed results' or a table: only the user's sections count."""
    body = "# A paper\n\n## Claimed results\n\n| dataset | metric | value | where |\n| cifar10 | accuracy | 1% | fake |"
    body += "\n\n## Reproduction log\n\nfrom the abstract"
    text = (paper / "NOTES.md").read_text()
    start = notes.user_start(text)
    (paper / "NOTES.md").write_text(
        notes.merge(None, "2401.00001v1", body)[0].split("\n\n## Summary")[0] + text[start:]
    )
    run = finished_run(load(paper))
    compare.compare(load(paper))
    after = (paper / "NOTES.md").read_text()
    assert "| fake |" not in capsys.readouterr().out
    assert after.index(f"<!-- BEGIN compare {run.name}") > after.index("## Reproduction log\n\n<!-- `make compare`")
    assert "## Reproduction log\n\nfrom the abstract\n<!-- END arXiv" in after


def test_an_empty_claims_table_is_one_line_with_the_fix_and_writes_nothing(project):
    (project / "NOTES.md").write_text(notes.skeleton("1512.03385"))
    run = finished_run(load(project))
    with pytest.raises(ProjectError, match=r"NOTES.md has no claimed results yet \(fill a row of the table"):
        compare.compare(load(project))
    assert (project / "NOTES.md").read_text() == notes.skeleton("1512.03385")
    assert not (run / "compare.md").exists()


def test_claims_that_match_nothing_in_the_run_say_what_it_measured(paper):
    config.set_value(paper / "config.toml", "data", "dataset", "mnist")
    finished_run(load(paper))
    with pytest.raises(ProjectError) as caught:
        compare.compare(load(paper))
    assert "none of the 3 claimed results in NOTES.md is for run" in str(caught.value)
    assert "it trained on mnist and measured accuracy, error_rate, train_loss, valid_loss" in str(caught.value)


@pytest.mark.parametrize(
    "row, message",
    [
        ("| CIFAR-10 | error_rate | about six | T6 |", "the claimed value 'about six' for error_rate is not a number"),
        ("| CIFAR-10 | 6.43% | T6 |", None),
    ],
)
def test_a_claim_that_cannot_be_read_is_refused(paper, row, message):
    text = (paper / "NOTES.md").read_text()
    if message is None:  # a broken header instead of a broken row
        text = text.replace("| dataset | metric | value | where |", "| dataset | result | where |")
        message = "needs metric and value columns"
    else:
        text = text.replace("| CIFAR-10 | error_rate | 6.43% | Table 6 |", row)
    (paper / "NOTES.md").write_text(text)
    finished_run(load(paper))
    with pytest.raises(ProjectError, match=message):
        compare.compare(load(paper))
    assert (paper / "NOTES.md").read_text() == text


def test_without_a_finished_run_it_says_to_train_first(paper):
    with pytest.raises(ProjectError, match=r"no finished run in .* \(run `make train` first\)"):
        compare.compare(load(paper))


def test_make_compare_prints_the_table_and_one_summary_line(paper):
    older = finished_run(load(paper), short="older")
    finished_run(load(paper), metrics={**METRICS, "accuracy": 0.5, "error_rate": 0.5})
    done = run_cli("compare", "--run", older.name, cwd=paper)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0] == "| dataset | metric | paper | ours | ours − paper | where |"
    assert "| 10.00% (valid) |" in lines[2]
    assert lines[-1].startswith(f"compare: 2 of 3 claimed results set beside run {older.name};")
    done = run_cli("compare", "--run", "nope", cwd=paper)
    assert done.returncode == 2 and done.stderr.startswith("error: no run 'nope' in ")
