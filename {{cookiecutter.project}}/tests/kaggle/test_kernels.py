"""make kaggle-push / kaggle-status / kaggle-output: the kernel Kaggle runs is this project, unchanged.

The metadata file is checked key by key; the built script is unpacked and run as Kaggle would
run it (temp folders stand in for /kaggle/input and /kaggle/working); push, status and output
drive the real KaggleApi against the fake server in fake_kaggle.py.
"""

import json
import os
import shutil
import subprocess
import sys

import pytest
import tiny_data
from conftest import ROOT, module, run_cli

pytest_plugins = ["fake_kaggle"]
config = module("kit.config")
kernels = module("kaggle.kernels")
ProjectError = module("kit.errors").ProjectError
WEIGHTS = tiny_data.WEIGHT_FILES["resnet18"]
FAST = {"arch": "resnet18", "size": 32, "epochs": 1, "bs": 16, "lr": 0.003}  # seconds on a CPU


@pytest.fixture
def code_project(project):
    """A scratch project with this project's src/ beside its config.toml: what a push packs."""
    shutil.copytree(ROOT / "src", project / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return project


def load(project, **kernel):
    for key, value in kernel.items():
        config.set_value(project / "config.toml", "kernel", key, value)
    return config.load(project / "config.toml")


def kernel_slug(cfg):
    """The kernel's slug: the project's name (which need not be the competition's), slugified, + -baseline."""
    from slugify import slugify

    return slugify(cfg.project.name + " baseline")


def expected_metadata(cfg, internet, datasets=()):
    return {
        "id": "ada/" + kernel_slug(cfg),
        "title": cfg.project.name + " baseline",
        "code_file": "kernel.py",
        "language": "python",
        "kernel_type": "script",
        "is_private": True,
        "enable_gpu": True,
        "enable_tpu": False,
        "enable_internet": internet,
        "machine_shape": "NvidiaTeslaT4",
        "dataset_sources": list(datasets),
        "competition_sources": [cfg.project.competition],
        "kernel_sources": [],
        "model_sources": [],
    }


# ------------------------------------------------------------------------------------ metadata


def test_a_normal_competition_gets_a_private_gpu_kernel_with_internet_on(code_project):
    """Internet on lets torchvision fetch ImageNet weights; the competition is the data source."""
    cfg = load(code_project)
    folder = kernels.build(cfg, "ada/" + kernel_slug(cfg), code_competition=False)
    assert folder == code_project / "build" / "kernel"
    assert sorted(p.name for p in folder.iterdir()) == ["kernel-metadata.json", "kernel.py"]
    assert json.loads((folder / "kernel-metadata.json").read_text()) == expected_metadata(cfg, internet=True)


def test_a_code_competition_turns_internet_off_and_attaches_the_weights_dataset(code_project):
    """Kaggle refuses code-competition notebooks with internet on; the weights come as a dataset."""
    cfg = load(code_project, weights_dataset="ada/imagenet-resnets", machine_shape="NvidiaTeslaP100")
    folder = kernels.build(cfg, "ada/" + kernel_slug(cfg), code_competition=True)
    expected = expected_metadata(cfg, internet=False, datasets=["ada/imagenet-resnets"])
    expected["machine_shape"] = "NvidiaTeslaP100"
    assert json.loads((folder / "kernel-metadata.json").read_text()) == expected


def test_the_title_slugifies_to_the_id_even_for_odd_project_names(code_project):
    """The client warns and Kaggle misbehaves when title and id disagree; quotes must stay data."""
    from slugify import slugify

    name = 'Ada\'s "quick" ' + "{" + "{ x }" + "} project with a very long name indeed, really long"
    config.set_value(code_project / "config.toml", "project", "name", name)
    cfg = load(code_project, owner="ada")
    ref = kernels.kernel_ref(cfg)
    title = kernels.title(cfg)
    assert ref == "ada/" + slugify(title) and 5 <= len(title) <= 50
    text = kernels.script(cfg, code_competition=False)
    defined = {"__name__": "kernel"}  # not "__main__": defines SETTINGS, runs nothing
    exec(compile(text, "kernel.py", "exec"), defined)
    assert defined["SETTINGS"]["project"] == name


def test_the_same_project_packs_into_the_same_script_without_caches(code_project):
    """Fixed zip times: pushing twice without changes sends identical text; no __pycache__ travels."""
    cfg = load(code_project)
    package = code_project / "src" / cfg.project.package
    (package / "__pycache__").mkdir(exist_ok=True)
    (package / "__pycache__" / "cli.cpython-311.pyc").write_bytes(b"stale")
    first = kernels.script(cfg, code_competition=False)
    assert kernels.script(cfg, code_competition=False) == first
    import zipfile
    from io import BytesIO

    names = zipfile.ZipFile(BytesIO(kernels.pack(cfg))).namelist()
    assert "config.toml" in names and f"src/{cfg.project.package}/cli.py" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


# ---------------------------------------------------------------------------- the script on "Kaggle"


@pytest.fixture
def kaggle_machine(tmp_path, kaggle_home):
    """Temp folders standing in for /kaggle/input (the competition's files) and /kaggle/working."""
    from fake_kaggle import project_slug

    inputs, working = tmp_path / "kaggle" / "input", tmp_path / "kaggle" / "working"
    tiny_data.digit_recognizer(inputs / project_slug(), n=240, test=40)
    env = {
        "KAGGLE_INPUT": str(inputs),
        "KAGGLE_WORKING": str(working),
        "KAGGLE_KERNEL_RUN_TYPE": "Batch",
        "TORCH_HOME": str(tmp_path / "torch"),
        "PYTHONPATH": "",  # the kernel must run from the code it carries, not from this checkout
        **tiny_data.NO_NETWORK,
    }
    return inputs, working, env


def run_script(path, env, *args):
    return subprocess.run(
        [sys.executable, str(path), *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=300
    )


def test_the_script_unpacks_the_project_and_runs_its_own_commands_with_the_attached_weights(
    code_project, kaggle_machine, tmp_path
):
    """What Kaggle runs: unpack, weights from the dataset into torchvision's cache, then data and train."""
    inputs, working, env = kaggle_machine
    tiny_data.seed_weights(tmp_path / "seeded", archs=("resnet18",))
    dataset = inputs / "imagenet-resnets"
    dataset.mkdir()
    shutil.copy(tmp_path / "seeded" / "hub" / "checkpoints" / WEIGHTS, dataset / WEIGHTS)
    cfg = load(code_project, weights_dataset="ada/imagenet-resnets")
    for key, value in FAST.items():
        config.set_value(code_project / "config.toml", "model", key, value)
    cfg = config.load(code_project / "config.toml")
    folder = kernels.build(cfg, "ada/x-baseline", code_competition=True)
    done = run_script(folder / "kernel.py", env, "--dry-run")
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    package = cfg.project.package
    assert (working / "src" / package / "cli.py").is_file() and (working / "config.toml").is_file()
    assert (tmp_path / "torch" / "hub" / "checkpoints" / WEIGHTS).is_file()
    assert f"weights: {WEIGHTS} from ada/imagenet-resnets copied into" in out
    assert f"$ python -m {package} data\n" in out
    assert "Kaggle notebook, data/raw links to " + str(inputs / cfg.project.competition) in out
    assert f"$ python -m {package} train --dry-run\n" in out
    assert "dry run: 192 train + 48 valid images, 10 classes, resnet18 (ImageNet weights) at 32 px" in out
    assert "dry run: stopped before predict" in out
    assert not (working / "data" / "raw").exists(), "the link to the input must not become an output"


def test_a_weights_dataset_without_the_exact_file_stops_before_any_command(code_project, kaggle_machine):
    """torchvision finds weights by exact file name: a wrong name would silently mean random init."""
    inputs, working, env = kaggle_machine
    (inputs / "imagenet-resnets").mkdir()
    (inputs / "imagenet-resnets" / "resnet18.pth").write_bytes(b"renamed")
    cfg = load(code_project, weights_dataset="ada/imagenet-resnets")
    config.set_value(code_project / "config.toml", "model", "arch", "resnet18")
    folder = kernels.build(config.load(code_project / "config.toml"), "ada/x-baseline", code_competition=True)
    done = run_script(folder / "kernel.py", env)
    assert done.returncode == 2
    assert done.stdout.splitlines()[-1] == (
        f"error: ada/imagenet-resnets holds resnet18.pth, not {WEIGHTS} (upload the file under exactly that name)"
    )
    assert "$ python" not in done.stdout and cfg.kernel.weights_dataset == "ada/imagenet-resnets"


def test_a_weights_dataset_that_is_not_attached_says_so(code_project, kaggle_machine):
    inputs, working, env = kaggle_machine
    config.set_value(code_project / "config.toml", "model", "arch", "resnet18")
    folder = kernels.build(load(code_project, weights_dataset="ada/missing"), "ada/x-baseline", code_competition=True)
    done = run_script(folder / "kernel.py", env)
    assert done.returncode == 2
    assert f"error: the weights dataset ada/missing is not mounted at {inputs / 'missing'}" in done.stdout


def test_the_unfilled_template_refuses_to_run():
    """kernel_template.py itself is only the template: running it by mistake does nothing."""
    template = ROOT / "src" / config.load(ROOT / "config.toml").project.package / "kaggle" / "kernel_template.py"
    done = subprocess.run([sys.executable, str(template)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "run `make kaggle-push`" in done.stdout


@pytest.mark.slow
def test_with_internet_off_and_no_weights_it_trains_from_random_init_and_leaves_submission_csv(
    code_project, kaggle_machine
):
    """The whole kernel: data, train (random init, said loudly), predict, /kaggle/working/submission.csv."""
    inputs, working, env = kaggle_machine
    for key, value in FAST.items():
        config.set_value(code_project / "config.toml", "model", key, value)
    cfg = config.load(code_project / "config.toml")
    folder = kernels.build(cfg, "ada/x-baseline", code_competition=True)
    done = run_script(folder / "kernel.py", env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "internet is off and kernel.weights_dataset is empty" in done.stdout
    assert "training from RANDOM INIT" in done.stdout
    assert f"$ python -m {cfg.project.package} train --no-pretrained\n" in done.stdout
    sample = (inputs / cfg.project.competition / "sample_submission.csv").read_text().splitlines()
    written = (working / "submission.csv").read_text().splitlines()
    assert written[0] == sample[0] and len(written) == len(sample)
    assert len(list((working / "runs").glob("*/model.pkl"))) == 1
    assert not (working / "data" / "raw").exists()


# ------------------------------------------------------------------------------ push, status, output


def test_push_sends_the_built_kernel_and_says_where_to_watch_it(code_project, kaggle_server):
    """The real client reads build/kernel/ and sends SaveKernel; the summary names URL and version."""
    cfg = load(code_project)
    slug = cfg.project.competition
    summary = kernels.push(cfg)
    ref = "ada/" + kernel_slug(cfg)
    assert summary == (
        f"pushed {ref} version 1: https://www.kaggle.com/code/{ref} (NvidiaTeslaT4, internet on; "
        "ImageNet weights downloaded there) (next: make kaggle-status, then make kaggle-output)"
    )
    sent = kaggle_server.kernels[ref][0]
    assert sent["text"] == (code_project / "build" / "kernel" / "kernel.py").read_text()
    assert (
        sent["newTitle"] == cfg.project.name + " baseline"
        and sent["language"] == "python"
        and sent["kernelType"] == "script"
    )
    assert sent["isPrivate"] is True and sent["enableGpu"] is True and sent["enableInternet"] is True
    assert sent["competitionDataSources"] == [slug] and sent["machineShape"] == "NvidiaTeslaT4"
    assert "sessionTimeoutSeconds" not in sent
    assert kernels.push(cfg).startswith(f"pushed {ref} version 2: ")


def test_a_code_competition_push_has_internet_off_and_says_it_trains_from_random_init(code_project, kaggle_server):
    kaggle_server.metadata["isKernelsSubmissionsOnly"] = True
    config.set_value(code_project / "config.toml", "model", "arch", "resnet34")
    cfg = load(code_project, timeout_minutes=90)
    summary = kernels.push(cfg)
    sent = next(iter(kaggle_server.kernels.values()))[0]
    assert sent["enableInternet"] is False and sent["sessionTimeoutSeconds"] == 5400
    assert "internet off (code competition); trains from RANDOM INIT: kernel.weights_dataset is empty" in summary
    assert "upload resnet34-b627a593.pth as a Kaggle dataset" in summary
    metadata = json.loads((code_project / "build" / "kernel" / "kernel-metadata.json").read_text())
    assert metadata == expected_metadata(cfg, internet=False)


def test_with_a_token_the_owner_is_the_tokens_user_and_config_can_name_another(code_project, kaggle_server):
    """Token credentials carry no username: the client learns it from the server."""
    from fake_kaggle import TOKEN

    (kaggle_server.home / ".kaggle" / "kaggle.json").unlink()
    (kaggle_server.home / ".kaggle" / "access_token").write_text(TOKEN + "\n")
    assert kernels.push(load(code_project)).startswith("pushed ada/")
    with pytest.raises(ProjectError) as error:
        kernels.push(load(code_project, owner="grace"))
    assert str(error.value).startswith("pushing grace/") and "Kaggle answered 403" in str(error.value)
    assert "check kernel.owner in config.toml" in str(error.value)


@pytest.mark.parametrize(
    "arrange, expected",
    [
        (lambda fake: setattr(fake, "push_error", "Maximum batch GPU session count of 2 reached."), "refused"),
        (lambda fake: fake.fail("SaveKernel", 403, "Phone verification required"), "403"),
        (lambda fake: None, "no-credentials"),
    ],
    ids=["refused", "forbidden", "no-credentials"],
)
def test_push_errors_are_one_line_with_the_fix(code_project, kaggle_server, arrange, expected):
    """make kaggle-push: every refusal is one `error:` line, exit code 2, no traceback."""
    arrange(kaggle_server)
    if expected == "no-credentials":
        (kaggle_server.home / ".kaggle" / "kaggle.json").unlink()
    done = run_cli("kaggle-push", cwd=code_project)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and done.stderr.startswith("error: ")
    line = done.stderr.strip()
    if expected == "refused":
        assert "Kaggle refused the push of ada/" in line and "Maximum batch GPU session count of 2 reached." in line
    elif expected == "403":
        assert "Kaggle answered 403: Phone verification required" in line and "verify your phone number" in line
    else:
        assert "no Kaggle credentials found" in line and kaggle_server.calls == []


def test_a_weights_dataset_kaggle_cannot_attach_is_reported(code_project, kaggle_server):
    with pytest.raises(ProjectError, match="cannot attach the dataset ada/nope"):
        kernels.push(load(code_project, weights_dataset="ada/nope"))


def test_status_follows_the_run_from_queued_to_complete(code_project, kaggle_server):
    cfg = load(code_project)
    kernels.push(cfg)
    assert ": queued, waiting for a machine (`make kaggle-status WAIT=1`" in kernels.status(cfg)
    assert ": running (" in kernels.status(cfg)
    assert kernels.status(cfg).endswith(
        ": complete (next: make kaggle-output; https://www.kaggle.com/code/ada/" + kernel_slug(cfg) + ")"
    )


def test_status_with_wait_checks_until_the_run_finishes(code_project, kaggle_server, monkeypatch, capsys):
    monkeypatch.setattr(kernels, "FIRST_PAUSE", 0.01)
    cfg = load(code_project)
    kernels.push(cfg)
    assert ": complete (next: make kaggle-output" in kernels.status(cfg, wait=True)
    assert kaggle_server.count("GetKernelSessionStatus") == 3
    assert ": queued, waiting for a machine (0 s)..." in capsys.readouterr().err


def test_a_failed_run_is_an_error_with_kaggles_reason(code_project, kaggle_server):
    kaggle_server.kernel_states = ["ERROR"]
    kaggle_server.kernel_failure = "Your notebook tried to allocate more memory than is available."
    cfg = load(code_project)
    kernels.push(cfg)
    done = run_cli("kaggle-status", cwd=code_project)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"error: ada/{kernel_slug(cfg)} failed: Your notebook tried to allocate more memory than is "
        f"available. (`make kaggle-output` fetches its log; https://www.kaggle.com/code/ada/"
        f"{kernel_slug(cfg)} shows it too)"
    )


def test_status_before_any_push_says_to_push_first(code_project, kaggle_server):
    with pytest.raises(ProjectError, match=r"Kaggle answered 404: Notebook not found \(.*run `make kaggle-push` first"):
        kernels.status(load(code_project))


def test_output_fetches_files_and_log_into_a_new_folder_each_time(code_project, kaggle_server, monkeypatch):
    """Fetching again never overwrites what an earlier fetch brought home."""
    monkeypatch.setattr(kernels, "PAGE_SIZE", 1)  # three pages: the client's paging is followed
    cfg = load(code_project)
    kernels.push(cfg)
    kaggle_server.kernel_outputs = {
        "submission.csv": b"ImageId,Label\n1,7\n",
        "runs/20250101-1200-resnet34/metrics.json": b'{"accuracy": 0.99}\n',
        "runs/20250101-1200-resnet34/model.pkl": b"\x80model",
    }
    kaggle_server.kernel_log = json.dumps(
        [{"stream_name": "stdout", "time": 1.5, "data": "$ python -m pkg data\n"}, {"data": "done\n"}]
    )
    summary = kernels.output(cfg)
    first = sorted((code_project / "runs").iterdir())
    assert len(first) == 1 and first[0].name.startswith(f"kaggle-{kernel_slug(cfg)}-")
    assert (first[0] / "submission.csv").read_bytes() == b"ImageId,Label\n1,7\n"
    assert (first[0] / "runs" / "20250101-1200-resnet34" / "model.pkl").read_bytes() == b"\x80model"
    assert (first[0] / "kernel.log").read_text() == "$ python -m pkg data\ndone\n"
    assert summary.startswith(f"fetched 3 output files (43 B) of ada/{kernel_slug(cfg)} into runs/")
    assert summary.endswith(f"; next: make submit FILE=runs/{first[0].name}/submission.csv")
    assert kaggle_server.count("ListKernelSessionOutput") == 3
    kaggle_server.kernel_outputs["submission.csv"] = b"ImageId,Label\n1,1\n"
    kaggle_server.metadata["isKernelsSubmissionsOnly"] = True
    assert "; code competition: submit the kernel from https://www.kaggle.com/code/ada/" in kernels.output(cfg)
    folders = sorted((code_project / "runs").iterdir())
    assert len(folders) == 2 and (first[0] / "submission.csv").read_bytes() == b"ImageId,Label\n1,7\n"


def test_an_output_that_cannot_be_downloaded_leaves_no_folder(code_project, kaggle_server):
    """A fetch that dies half-way must not look like a complete one."""
    cfg = load(code_project)
    kernels.push(cfg)
    kaggle_server.kernel_outputs = {"a.csv": b"a", "b.csv": b"b"}
    ref = f"ada/{kernel_slug(cfg)}"
    kaggle_server.fail(f"GET /kernel-output/{ref}/b.csv", 403, "Request has expired")
    with pytest.raises(ProjectError, match=r"b.csv of .*: Kaggle answered 403: Forbidden \(the download link expired"):
        kernels.output(cfg)
    assert list((code_project / "runs").iterdir()) == []


def test_an_output_name_escaping_the_folder_is_refused(code_project, kaggle_server, tmp_path):
    cfg = load(code_project)
    kernels.push(cfg)
    kaggle_server.kernel_outputs = {"../../escaped.txt": b"outside"}
    with pytest.raises(ProjectError, match="outside the folder"):
        kernels.output(cfg)
    assert list((code_project / "runs").iterdir()) == []
    assert not list(tmp_path.rglob("escaped.txt"))


def test_no_outputs_yet_makes_no_folder(code_project, kaggle_server):
    cfg = load(code_project)
    kernels.push(cfg)
    assert kernels.output(cfg).endswith("no outputs yet (`make kaggle-status` says when the run is complete)")
    assert not (code_project / "runs").exists()
