"""kit/archives.py: the one safe unpack behind both kinds' `make data`, on real zips and tars."""

import hashlib
import io
import stat
import tarfile
import zipfile

import pytest
from conftest import module

archives = module("kit.archives")
ProjectError = module("kit.errors").ProjectError
FIX = "fetch it again"
FILES = {"data/train.csv": b"label,pixel0\n1,0\n", "data/test.csv": b"pixel0\n0\n", "README.txt": b"hello"}


def make_tar(path, files, odd=None):
    """A .tgz of `files`; `odd` adds members of other types: {name: (tarfile type, link target)}."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, (kind, target) in (odd or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, target
            tar.addfile(info)
    return path


def make_zip(path, files, links=None):
    """A .zip of `files`; `links` adds symlink members (name -> target)."""
    with zipfile.ZipFile(path, "w") as zipped:
        for name, data in files.items():
            zipped.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zipped.writestr(info, target)
    return path


def test_a_good_tgz_unpacks_every_file_with_its_size_and_sha256(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    files = archives.unpack(make_tar(tmp_path / "a.tgz", {f"./{k}": v for k, v in FILES.items()}), target, FIX)
    assert sorted(files) == sorted(FILES)
    for name, data in FILES.items():
        assert (target / name).read_bytes() == data
        assert files[name] == {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def test_zips_inside_a_zip_are_unpacked_in_their_place_when_asked(tmp_path):
    inner = make_zip(tmp_path / "inner.zip", {"train.csv": FILES["data/train.csv"]}).read_bytes()
    outer = make_zip(tmp_path / "outer.zip", {"data/train.csv.zip": inner, "test.csv": b"x"})
    target = tmp_path / "out"
    target.mkdir()
    files = archives.unpack(outer, target, FIX, nested=True)
    assert sorted(files) == ["data/train.csv", "test.csv"] and not (target / "data" / "train.csv.zip").exists()
    assert (target / "data" / "train.csv").read_bytes() == FILES["data/train.csv"]


@pytest.mark.parametrize(
    "make, why",
    [
        (lambda p: make_tar(p / "a.tgz", {**FILES, "data/../../escaped.txt": b"x"}), "climbs out with '..'"),
        (lambda p: make_tar(p / "a.tgz", {**FILES, "/tmp/mlstarter-escaped.txt": b"x"}), "an absolute path"),
        (lambda p: make_tar(p / "a.tgz", FILES, {"data/out": (tarfile.SYMTYPE, "../../x")}), "a symbolic link"),
        (lambda p: make_tar(p / "a.tgz", FILES, {"data/hard": (tarfile.LNKTYPE, "/etc/passwd")}), "a hard link"),
        (lambda p: make_tar(p / "a.tgz", FILES, {"data/pipe": (tarfile.FIFOTYPE, "")}), "a special file"),
        (lambda p: make_zip(p / "a.zip", {**FILES, "../escaped.txt": b"x"}), "climbs out with '..'"),
        (lambda p: make_zip(p / "a.zip", FILES, {"link-out": "../../outside"}), "a symbolic link"),
    ],
    ids=["tar-dotdot", "tar-absolute", "tar-symlink", "tar-hardlink", "tar-fifo", "zip-dotdot", "zip-symlink"],
)
def test_one_unsafe_member_refuses_the_whole_archive_before_anything_is_written(tmp_path, make, why):
    """The good files come first in each archive: none of them may be written either."""
    archive, target = make(tmp_path), tmp_path / "out"
    target.mkdir()
    with pytest.raises(ProjectError) as error:
        archives.unpack(archive, target, FIX)
    message = str(error.value)
    assert message.startswith(f"{archive.name} holds ") and why in message
    assert message.endswith(f"refused, nothing was extracted ({FIX})")
    assert not list(target.iterdir()) and not list(tmp_path.rglob("escaped.txt"))


@pytest.mark.parametrize("suffix", [".tgz", ".zip"])
def test_a_cut_archive_is_one_line_with_the_fix(tmp_path, suffix):
    make = make_tar if suffix == ".tgz" else make_zip
    good = make(tmp_path / f"good{suffix}", {"big.bin": bytes(range(256)) * 4000, **FILES}).read_bytes()
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(good[: len(good) // 2])
    target = tmp_path / "out"
    target.mkdir()
    with pytest.raises(ProjectError) as error:
        archives.unpack(cut, target, FIX)
    message = str(error.value)
    assert message.startswith(f"cut{suffix} is damaged or incomplete (") and message.endswith(f"({FIX})")
    assert "\n" not in message


def test_an_archive_without_files_is_refused(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    with pytest.raises(ProjectError, match=r"^empty.tgz holds no files \(fetch it again\)$"):
        archives.unpack(make_tar(tmp_path / "empty.tgz", {}, {"folder": (tarfile.DIRTYPE, "")}), target, FIX)
