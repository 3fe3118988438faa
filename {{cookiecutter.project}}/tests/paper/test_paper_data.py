"""make data (paper kind): fastai datasets from a local mirror, Kaggle datasets, local folders."""

import functools
import io
import tarfile
import threading
import tomllib
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import fake_kaggle
import pytest
from conftest import module, run_cli

paper_data = module("paper.data")
config = module("kit.config")
ProjectError = module("kit.errors").ProjectError

# What each fastai archive holds, in miniature: (top folder, {path inside: image or text}).
SHAPES = {
    "cifar10": ("cifar10", ["train/cat/{i}.png", "train/dog/{i}.png", "test/cat/{i}.png", "test/dog/{i}.png"]),
    "cifar100": ("cifar100", ["train/apple/{i}.png", "train/bee/{i}.png", "test/apple/{i}.png", "test/bee/{i}.png"]),
    "mnist": ("mnist_png", ["training/0/{i}.png", "training/1/{i}.png", "testing/0/{i}.png", "testing/1/{i}.png"]),
    "imagenette": (
        "imagenette2-160",
        ["train/n01440764/{i}.JPEG", "train/n02102040/{i}.JPEG", "val/n01440764/{i}.JPEG", "val/n02102040/{i}.JPEG"],
    ),
    "pets": ("oxford-iiit-pet", ["images/Abyssinian_{i}.jpg", "images/great_pyrenees_{i}.jpg"]),
}
LAYOUTS = {
    "cifar10": ("folder-per-class", "cifar10/train", "cifar10/test"),
    "cifar100": ("folder-per-class", "cifar100/train", "cifar100/test"),
    "mnist": ("folder-per-class", "mnist_png/training", "mnist_png/testing"),
    "imagenette": ("folder-per-class", "imagenette2-160/train", "imagenette2-160/val"),
    "pets": ("labels-in-names", "oxford-iiit-pet/images", ""),
}


@functools.lru_cache
def image(i: int, suffix: str) -> bytes:
    """A tiny real image from scikit-learn's bundled digits."""
    from PIL import Image
    from sklearn.datasets import load_digits

    pixels = (load_digits().images[i] * 15).astype("uint8")
    out = io.BytesIO()
    Image.fromarray(pixels).convert("RGB").save(out, format="JPEG" if suffix in (".jpg", ".JPEG") else "PNG")
    return out.getvalue()


def files_of(name: str, per_folder: int = 3) -> dict[str, bytes]:
    top, patterns = SHAPES[name]
    files = {}
    for pattern in patterns:
        for i in range(per_folder):
            path = pattern.format(i=i)
            files[f"{top}/{path}"] = image(i, "." + path.rsplit(".", 1)[1])
    if name == "imagenette":
        files[f"{top}/noisy_imagenette.csv"] = b"path,noisy_labels_0\ntrain/n01440764/0.JPEG,n01440764\n"
    if name == "pets":
        files[f"{top}/annotations/list.txt"] = b"# Image CLASS-ID SPECIES BREED ID\n"
    return files


def make_tgz(files: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return out.getvalue()


def archive_path(name: str) -> str:
    """Where fastai's URL for `name` puts the archive, below the S3 host."""
    from fastai.data.external import URLs

    return getattr(URLs, paper_data.FASTAI[name]).removeprefix(paper_data.S3)


class Mirror:
    """A folder served over HTTP on 127.0.0.1, standing in for fastai's S3 buckets."""

    def __init__(self, root):
        self.root = root
        self.requests = []
        self.url = ""

    def put(self, name: str, data: bytes) -> None:
        path = self.root / archive_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """DATA_MIRROR pointing at a local server: the real fastai download code, no internet."""
    state = Mirror(tmp_path / "mirror")
    state.root.mkdir()

    class Handler(SimpleHTTPRequestHandler):
        def do_GET(self):
            state.requests.append(self.path)
            super().do_GET()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(state.root)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("DATA_MIRROR", state.url)
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def use(project, dataset: str):
    """The scratch project's config, with data.dataset set."""
    config.set_value(project / "config.toml", "data", "dataset", dataset)
    return config.load(project / "config.toml")


def data_table(project) -> dict:
    return tomllib.loads((project / "config.toml").read_text())["data"]


@pytest.mark.parametrize("name", list(SHAPES))
def test_each_fastai_dataset_is_fetched_unpacked_and_its_layout_recorded(mirror, project, name):
    """The five datasets papers use most land in data/raw in the layout the baseline reads."""
    mirror.put(name, make_tgz(files_of(name)))
    summary = paper_data.download(use(project, name))
    layout, train, test = LAYOUTS[name]
    data = data_table(project)
    assert (data["layout"], data["train"], data.get("test", "")) == (layout, train, test)
    top = SHAPES[name][0]
    assert summary.startswith(f"{name}: {len(files_of(name))} files in data/raw/{top} (")
    assert f"layout {layout}" in summary
    assert sorted(p.relative_to(project / "data" / "raw").as_posix() for p in (project / "data/raw").rglob("*.*")) == (
        sorted(files_of(name))
    ), "exactly the archive's files, and no archive or .part left behind"


def test_a_second_run_asks_nothing_and_force_fetches_again(mirror, project):
    """make data is idempotent: the second run finds the folder; --force replaces it."""
    mirror.put("cifar10", make_tgz(files_of("cifar10")))
    paper_data.download(use(project, "cifar10"))
    assert len(mirror.requests) == 1
    (project / "data/raw/cifar10/train/cat/0.png").unlink()
    summary = paper_data.download(config.load(project / "config.toml"))
    assert summary.startswith("cifar10: already in data/raw/cifar10 (`python -m ")
    assert " data --force` fetches it again)" in summary
    assert len(mirror.requests) == 1
    paper_data.download(config.load(project / "config.toml"), force=True)
    assert len(mirror.requests) == 2 and (project / "data/raw/cifar10/train/cat/0.png").is_file()


def test_an_unreachable_mirror_is_one_line_and_leaves_nothing(project, monkeypatch, tmp_path):
    monkeypatch.setenv("DATA_MIRROR", "http://127.0.0.1:9")  # nothing listens on port 9
    with pytest.raises(ProjectError) as caught:
        paper_data.download(use(project, "mnist"))
    message = str(caught.value)
    assert message.startswith("downloading mnist from http://127.0.0.1:9/fast-ai-imageclas/mnist_png.tgz failed:")
    assert message.endswith("(check the network or DATA_MIRROR, then `make data`)") and "\n" not in message
    assert not [p for p in (project / "data").rglob("*") if p.is_file()]


def test_a_missing_file_on_the_server_is_reported(mirror, project):
    with pytest.raises(
        ProjectError,
        match=r"downloading pets from .*oxford-iiit-pet.tgz failed: HTTP 404 File not found \(check the network",
    ):
        paper_data.download(use(project, "pets"))


@pytest.mark.parametrize(
    "member, links, why",
    [
        ("cifar10/../../escaped.txt", None, "climbs out with '..'"),
        ("/tmp/mlstarter-escaped.txt", None, "an absolute path"),
        (None, {"cifar10/out": "../../x"}, "a symbolic link"),
    ],
    ids=["dotdot", "absolute", "symlink"],
)
def test_an_archive_reaching_outside_data_raw_is_refused_whole(mirror, project, tmp_path, member, links, why):
    """A hostile archive must not write a single file, inside data/raw or out of it."""
    files = files_of("cifar10")
    if member:
        files[member] = b"outside"
    mirror.put("cifar10", make_tgz(files, links))
    with pytest.raises(ProjectError, match=r"refused, nothing was extracted \(it was deleted") as caught:
        paper_data.download(use(project, "cifar10"))
    assert why in str(caught.value)
    assert not (project / "data/raw/cifar10").exists()
    assert not list((project / "data/raw").glob(".cifar10.*"))
    assert not (tmp_path / "escaped.txt").exists() and not list(project.parent.rglob("escaped.txt"))


def test_a_damaged_archive_is_deleted_so_the_next_run_fetches_it_again(mirror, project):
    data = make_tgz(files_of("cifar10"))
    mirror.put("cifar10", data[: len(data) // 2])
    with pytest.raises(ProjectError, match=r"cifar10.tgz is damaged or incomplete .*it was deleted; run `make data`"):
        paper_data.download(use(project, "cifar10"))
    assert not (project / "data/raw/cifar10").exists()
    assert not [p for p in (project / "data/raw").rglob("*") if p.is_file()]


def test_a_local_folder_is_linked_not_copied_and_recorded(project, tmp_path):
    """path:<folder> uses data already on disk (a shared drive, a cluster's dataset folder)."""
    source = tmp_path / "shared" / "digits"
    for name, data in files_of("cifar10").items():
        path = source / name.removeprefix("cifar10/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    summary = paper_data.download(use(project, f"path:{source}"))
    link = project / "data/raw/digits"
    assert link.is_symlink() and link.resolve() == source
    assert summary.startswith(f"path:{source}: linked as data/raw/digits; layout folder-per-class")
    assert (data_table(project)["train"], data_table(project)["test"]) == ("digits/train", "digits/test")
    paper_data.download(config.load(project / "config.toml"))  # a second run keeps the same link
    assert link.resolve() == source


def test_a_local_path_that_is_not_a_folder_is_refused(project, tmp_path):
    with pytest.raises(ProjectError, match="is not a folder"):
        paper_data.download(use(project, f"path:{tmp_path / 'nowhere'}"))
    assert not (project / "data").exists()


@pytest.mark.parametrize(
    "dataset, message",
    [
        ("", "data.dataset = '' is not one I can fetch (use one of cifar10, cifar100, mnist"),
        ("imagenet", "data.dataset = 'imagenet' is not one I can fetch"),
        ("kaggle:just-a-name", "is not a Kaggle dataset (use kaggle:owner/name"),
        ("kaggle:a/b/../c", "is not a Kaggle dataset"),
    ],
)
def test_a_dataset_it_cannot_fetch_names_the_choices(project, dataset, message):
    with pytest.raises(ProjectError, match=message.replace("(", r"\(")):
        paper_data.download(use(project, dataset))


def test_a_kaggle_dataset_without_credentials_says_where_they_go(project, tmp_path, monkeypatch):
    """No token, no network: the Kaggle client's own sign-in is never reached."""
    fake_kaggle.isolate(monkeypatch, fake_kaggle.environment(tmp_path / "home", None, credentials="none"))
    with pytest.raises(ProjectError, match="no Kaggle credentials found"):
        paper_data.download(use(project, "kaggle:ada/digits"))
    assert not (project / "data").exists()


class KaggleWithDatasets(fake_kaggle.FakeKaggle):
    """The fake Kaggle, also serving one dataset (DownloadDataset answers a 302 to the zip, like Kaggle)."""

    def _DownloadDataset(self, body):
        if (body.get("ownerSlug"), body.get("datasetSlug")) != ("ada", self.slug):
            return 404, {"code": 404, "message": "Dataset not found"}, {}
        return 302, None, {"Location": f"http://localhost/files/{self.slug}.zip"}


def test_a_kaggle_dataset_is_downloaded_through_the_kaggle_client(project, tmp_path, monkeypatch):
    """kaggle:owner/name: the real client fetches the zip; it is unpacked and its layout recorded."""
    fake = KaggleWithDatasets("digits")
    with fake_kaggle.serve(fake) as port:
        fake_kaggle.isolate(monkeypatch, fake_kaggle.environment(tmp_path / "home", port))
        summary = paper_data.download(use(project, "kaggle:ada/digits"))
        with pytest.raises(ProjectError, match="Kaggle found no such thing"):
            paper_data.download(use(project, "kaggle:ada/other"))
    assert sorted(p.name for p in (project / "data/raw/digits").iterdir()) == sorted(fake.files)
    assert data_table(project)["layout"] == "pixel-csv" and data_table(project)["train"] == "digits/train.csv"
    assert summary.startswith("kaggle:ada/digits: 3 files in data/raw/digits (") and "layout pixel-csv" in summary
    assert not (project / "data/raw/.downloads/digits.zip").exists()


def test_make_data_runs_from_the_command_line(mirror, project):
    mirror.put("mnist", make_tgz(files_of("mnist")))
    use(project, "mnist")
    done = run_cli("data", cwd=project, env={"DATA_MIRROR": mirror.url})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1].startswith("mnist: 12 files in data/raw/mnist_png (")
