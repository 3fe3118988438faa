"""The hooks: answers refused before anything is written, pruning, filling, git, next steps."""

import tomllib

import pytest
from conftest import TEMPLATE, bake_cli, load_hook

TEMPLATE_DIR = str(TEMPLATE)
GOOD = {"source": "digit-recognizer", "project": "digit-recognizer", "backbone": "resnet34", "author": "Ada"}


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("source", "1512.3385", "source: '1512.3385' is not an arXiv id"),
        ("source", "Digit Recognizer", "source: 'Digit Recognizer' is not a competition slug"),
        ("source", "https://example.com/c/x", "is not a Kaggle competition URL"),
        ("project", "", "project: '' is empty"),
        ("project", "a/b", "is a path"),
        ("project", "class", "a Python keyword"),
        ("project", "kaggle", "would shadow a module"),
        ("backbone", "vgg16", "backbone: 'vgg16' is not one of"),
        ("author", "two\nlines", "author: 'two\\nlines' must be one printable line"),
    ],
)
def test_pre_gen_refuses_each_bad_answer_with_its_fix(field, value, message, capsys):
    """The pre-gen hook guards bakes that skip prompting (replays) with the same checks."""
    hook = load_hook("pre_gen_project")
    assert hook.main({**GOOD, field: value}, TEMPLATE_DIR) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
    assert len(err.strip().splitlines()) == 1


def test_pre_gen_accepts_good_answers(capsys):
    assert load_hook("pre_gen_project").main(GOOD, TEMPLATE_DIR) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    "answer",
    [
        "project=..",
        "project=../escape",
        "project=a/b",
        "project=/tmp/abs",
        'project=say "hi"',
        "project=back\\slash",
        "project=new\nline",
        "project=my project",
        "project=" + "x" * 200,
        "project=class",
        "project=___",
        "source=1512.3385",
        "source=not a slug",
        "backbone=resnet101",
        "author=",
    ],
    ids=lambda a: a[:24],
)
def test_hostile_answers_get_one_line_and_leave_nothing_behind(tmp_path, answer):
    """A refused bake prints `error: ...` first, shows no traceback and writes no folder."""
    out = tmp_path / "out"
    out.mkdir()
    done = bake_cli(out, answer)
    assert done.returncode != 0
    assert done.stderr.startswith("error: "), done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert list(out.iterdir()) == [] and not (tmp_path / "escape").exists()


def test_hostile_text_is_data_not_code(tmp_path):
    """Quotes, backslashes and a would-be injection in an answer round-trip verbatim."""
    out = tmp_path / "out"
    author = 'O\'Brien "Bob" \\ """; import os; os.system("touch INJECTED") #'
    done = bake_cli(out, f"author={author}", "git_init=no")
    assert done.returncode == 0, done.stderr
    root = out / "digit-recognizer"
    pyproject = tomllib.loads((root / "pyproject.toml").read_text())
    assert pyproject["project"]["authors"] == [{"name": author}]
    assert tomllib.loads((root / "config.toml").read_text())["project"]["author"] == author
    assert not list(tmp_path.rglob("INJECTED"))


def test_unicode_folder_names_give_an_ascii_package(tmp_path):
    out = tmp_path / "out"
    done = bake_cli(out, "project=café-ml", "git_init=no")
    assert done.returncode == 0, done.stderr
    config = tomllib.loads((out / "café-ml" / "config.toml").read_text())
    assert config["project"]["package"] == "cafe_ml"
    assert (out / "café-ml" / "src" / "cafe_ml" / "cli.py").is_file()


def test_the_default_bake_prints_what_it_did_and_the_next_commands(tmp_path):
    """A newcomer's first bake ends with the three commands to type next."""
    done = bake_cli(tmp_path / "out")
    assert done.returncode == 0, done.stderr
    assert "cd digit-recognizer" in done.stdout
    assert "make setup" in done.stdout and "make doctor" in done.stdout
    assert "RULES.md:" in done.stdout and "make rules" in done.stdout
    assert "git: repository created" in done.stdout


def test_interactive_prompts_infer_the_kind_and_default_the_folder(tmp_path):
    """Answering only the first question with a paper id bakes a paper project named after it."""
    out = tmp_path / "out"
    done = bake_cli(out, stdin="https://arxiv.org/abs/1512.03385\n\n\n\nn\n")
    assert done.returncode == 0, done.stdout + done.stderr
    for prompt in ("Kaggle competition (slug or kaggle.com URL) or arXiv paper", "Project folder", "backbone"):
        assert prompt in done.stdout
    config = tomllib.loads((out / "arxiv-1512.03385" / "config.toml").read_text())
    assert config["project"] == {
        "name": "arxiv-1512.03385",
        "package": "arxiv_1512_03385",
        "kind": "paper",
        "paper": "1512.03385",
        "author": "Your Name",
    }


def test_prune_deletes_only_the_other_kinds_files(tmp_path):
    """KIND_FILES is the one table of kind-only files; pruning reads nothing else."""
    hook = load_hook("post_gen_project")
    for files in hook.KIND_FILES.values():
        for name in files:
            path = tmp_path / name.format(package="pkg")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("x")
    hook.prune(tmp_path, "paper", "pkg")
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert left == sorted(name.format(package="pkg") for name in hook.KIND_FILES["paper"])


def test_filling_without_the_projects_dependencies_is_skipped_with_the_retry(tmp_path):
    """Baking from a bare cookiecutter install (no kaggle/fastai) still succeeds and says what to run."""
    hook = load_hook("post_gen_project")
    pkg = tmp_path / "src" / "nodeps_pkg"
    (pkg / "kit").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "kit" / "__init__.py").write_text("")
    (pkg / "kit" / "config.py").write_text("import a_module_that_is_not_installed\n")
    line = hook.fill(tmp_path, "kaggle", "nodeps_pkg")
    assert line == "skipped filling: a_module_that_is_not_installed is not installed here " + (
        "(run `make setup`, then `make rules`)"
    )


def test_an_empty_source_is_one_error_not_two(capsys):
    """The project folder's default comes from the source: refusing the source is the whole story."""
    assert load_hook("pre_gen_project").main({**GOOD, "source": "", "project": ""}, TEMPLATE_DIR) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: source: '' is not a competition slug")
