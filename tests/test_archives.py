import builtins
import errno
import gzip
import io
import json
import os
import struct
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
from PIL import Image

from course_utils import archives
from course_utils.archives import (
    CIFAR10_LAYOUT,
    MARKER,
    ArchiveError,
    DataFolderError,
    DatasetError,
    DatasetLayout,
    check_idx_files,
    dataset_problem,
    extract_dataset,
    folder_lock,
    gunzip,
    idx_problem,
    list_images,
    verify_dataset,
)

LAYOUT = DatasetLayout(
    top_folder="cifar10",
    classes=("airplane", "cat"),
    splits=(("train", 2), ("test", 1)),
    extra_files=("labels.txt",),
    image_size=(4, 4),
)


def image_bytes(value: int, size: tuple[int, int] = (4, 4)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (value, value, value)).save(buffer, format="PNG")
    return buffer.getvalue()


def member(name: str, kind: bytes = tarfile.REGTYPE, payload: bytes = b"", link: str = ""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, link, len(payload)
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    return info, payload


def dataset_members(layout: DatasetLayout = LAYOUT, skip: tuple[str, ...] = ()) -> list:
    members = [member(layout.top_folder, tarfile.DIRTYPE)]
    for split, per_class in layout.splits:
        for label, name in enumerate(layout.classes):
            if f"{split}/{name}" in skip:
                continue
            members.append(member(f"{layout.top_folder}/{split}/{name}", tarfile.DIRTYPE))
            for index in range(per_class):
                path = f"{layout.top_folder}/{split}/{name}/{index:04d}.png"
                members.append(member(path, payload=image_bytes(40 * label + index)))
    return members


def write_archive(path: Path, members: list) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info, payload in members:
            tar.addfile(info, io.BytesIO(payload) if info.isreg() else None)
    return path


def contents(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir()) if folder.exists() else []


def test_extract_dataset_puts_a_checked_marked_folder_in_place(tmp_path):
    extra = [member("cifar10/labels.txt", payload=b"airplane\ncat\n")]
    archive = write_archive(tmp_path / "cifar10.tgz", dataset_members() + extra)
    root = tmp_path / "data"
    folder = extract_dataset(archive, root, LAYOUT)
    assert folder == root / "cifar10"
    assert contents(folder) == [MARKER, "labels.txt", "test", "train"]
    assert contents(folder / "train") == ["airplane", "cat"]
    assert verify_dataset(folder, LAYOUT) == {"train": 4, "test": 2}
    assert dataset_problem(folder, LAYOUT) is None
    assert contents(root) == [".cifar10.lock", "cifar10"]  # no staging folder left


HOSTILE = {
    "symlink loop": member("cifar10/train/sub", tarfile.SYMTYPE, link=".."),
    "symlink out": member("cifar10/train/cat/0009.png", tarfile.SYMTYPE, link="/etc/passwd"),
    "hard link": member("cifar10/train/cat/0009.png", tarfile.LNKTYPE, link="cifar10/labels"),
    "fifo": member("cifar10/train/cat/0009.png", tarfile.FIFOTYPE),
    "device": member("cifar10/train/cat/0009.png", tarfile.CHRTYPE),
    "hidden folder": member("cifar10/train/.ipynb_checkpoints", tarfile.DIRTYPE),
    "hidden file": member("cifar10/train/cat/.0009.png", payload=image_bytes(1)),
    "parent": member("cifar10/../evil.png", payload=image_bytes(1)),
    "absolute": member("/tmp/course-utils-absolute-evil.png", payload=image_bytes(1)),
    "other class": member("cifar10/train/dog/0000.png", payload=image_bytes(1)),
    "other split": member("cifar10/valid/cat/0000.png", payload=image_bytes(1)),
    "too deep": member("cifar10/train/cat/sub/0000.png", payload=image_bytes(1)),
    "not an image": member("cifar10/train/cat/0009.exe", payload=b"MZ"),
    "outside the top folder": member("images/0000.png", payload=image_bytes(1)),
    "huge": member("cifar10/train/cat/0009.png", payload=bytes(2 << 20)),
}


@pytest.mark.parametrize("kind", HOSTILE)
def test_an_entry_that_is_not_part_of_the_dataset_is_refused_before_anything_is_written(
    tmp_path, kind
):
    info, payload = HOSTILE[kind]
    # The hostile entry comes last: every good image before it must not be written either.
    archive = write_archive(tmp_path / "cifar10.tgz", dataset_members() + [(info, payload)])
    root = tmp_path / "data"
    with pytest.raises(ArchiveError, match="refused") as error:
        extract_dataset(archive, root, LAYOUT)
    assert repr(info.name) in str(error.value) and "nothing was extracted" in str(error.value)
    assert contents(root) == [".cifar10.lock"]
    assert contents(tmp_path) == ["cifar10.tgz", "data"]
    assert not Path("/tmp/course-utils-absolute-evil.png").exists()


def symlink_chain_archive(path: Path, root: Path) -> Path:
    """A cifar10.tgz using CVE-2025-4517's technique: nested directory symlinks whose
    resolved path exceeds PATH_MAX, so tarfile's data filter (before the mid-2025
    fixes) cannot resolve them, then a link escaping upwards and a file written
    through it. Sized for a staging folder beside ``root/cifar10``, where the old
    code extracted; on Python 3.11.7 it wrote ``root/../pwned.txt``."""
    steps = "abcdefghijklmnop"
    staged = f"{root}/.cifar10-extract-xxxxxxxx/cifar10"
    max_path = os.pathconf(root, "PC_PATH_MAX") if hasattr(os, "pathconf") else 260
    component = "d" * ((max_path - len(staged) - 1) // (len(steps) + 1))
    members, here = [], "cifar10"
    for step in steps:
        members.append(member(f"{here}/{component}", tarfile.DIRTYPE))
        members.append(member(f"{here}/{step}", tarfile.SYMTYPE, link=component))
        here = f"{here}/{component}"
    long_link = "/".join(steps) + "/" + "l" * 254
    members.append(member(f"cifar10/{long_link}", tarfile.SYMTYPE, link="/".join([".."] * 16)))
    members.append(member("cifar10/escape", tarfile.SYMTYPE, link=f"{long_link}/../../.."))
    members.append(member("cifar10/escape/pwned.txt", payload=b"written outside"))
    return write_archive(path, dataset_members() + members)


def test_a_symlink_chain_beyond_path_max_is_refused_and_nothing_escapes(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    archive = symlink_chain_archive(root / "cifar10.tgz", root)
    assert archive.stat().st_size < 4096
    with pytest.raises(ArchiveError, match="folder that is not part of the dataset"):
        extract_dataset(archive, root, LAYOUT)
    assert contents(tmp_path) == ["data"]  # no pwned.txt beside the data folder
    assert contents(root) == [".cifar10.lock", "cifar10.tgz"]


def test_an_archive_missing_a_class_is_refused_before_anything_is_written(tmp_path):
    archive = write_archive(tmp_path / "cifar10.tgz", dataset_members(skip=("train/cat",)))
    root = tmp_path / "data"
    with pytest.raises(ArchiveError, match=r"not hold the complete dataset.*train/ lacks.*cat"):
        extract_dataset(archive, root, LAYOUT)
    assert contents(root) == [".cifar10.lock"]


def test_an_image_that_does_not_open_keeps_the_dataset_from_being_put_in_place(tmp_path):
    members = dataset_members()
    members[-1] = member(members[-1][0].name, payload=image_bytes(9)[:30])  # truncated PNG
    archive = write_archive(tmp_path / "cifar10.tgz", members)
    root = tmp_path / "data"
    with pytest.raises(ArchiveError, match=r"test/cat/0000\.png does not open"):
        extract_dataset(archive, root, LAYOUT)
    assert contents(root) == [".cifar10.lock"]


def test_an_image_of_the_wrong_size_is_refused(tmp_path):
    members = dataset_members()
    members[-1] = member(members[-1][0].name, payload=image_bytes(9, size=(8, 8)))
    with pytest.raises(ArchiveError, match="is 8x8 pixels, expected 4x4"):
        extract_dataset(write_archive(tmp_path / "c.tgz", members), tmp_path / "data", LAYOUT)


def test_a_truncated_archive_is_reported_as_corrupt_and_names_the_file(tmp_path):
    archive = write_archive(tmp_path / "cifar10.tgz", dataset_members())
    payload = archive.read_bytes()
    archive.write_bytes(payload[: len(payload) // 2])
    root = tmp_path / "data"
    with pytest.raises(ArchiveError, match=r"cifar10\.tgz is truncated or corrupt"):
        extract_dataset(archive, root, LAYOUT)
    assert contents(root) == [".cifar10.lock"]


def test_a_file_that_is_not_gzip_is_reported_as_corrupt(tmp_path):
    archive = tmp_path / "cifar10.tgz"
    archive.write_bytes(b"this is not an archive at all" * 10)
    with pytest.raises(ArchiveError, match="truncated or corrupt"):
        extract_dataset(archive, tmp_path / "data", LAYOUT)


def test_a_folder_without_the_marker_is_not_trusted(tmp_path):
    folder = extract_dataset(write_archive(tmp_path / "c.tgz", dataset_members()), tmp_path, LAYOUT)
    (folder / MARKER).unlink()
    assert "never marked complete" in dataset_problem(folder, LAYOUT)
    assert dataset_problem(tmp_path / "elsewhere", LAYOUT) == "it does not exist"


def test_a_marked_folder_that_lost_images_or_gained_a_class_is_not_trusted(tmp_path):
    folder = extract_dataset(write_archive(tmp_path / "c.tgz", dataset_members()), tmp_path, LAYOUT)
    (folder / "test" / "cat" / "0000.png").unlink()
    assert dataset_problem(folder, LAYOUT) == "test/cat has 0 images, expected 1"
    (folder / "train" / "dog").mkdir()
    assert "train/dog is not one of the classes" in dataset_problem(folder, LAYOUT)


def test_hidden_folders_added_later_are_ignored(tmp_path):
    folder = extract_dataset(write_archive(tmp_path / "c.tgz", dataset_members()), tmp_path, LAYOUT)
    (folder / "train" / ".ipynb_checkpoints").mkdir()
    (folder / "train" / "cat" / ".ipynb_checkpoints").mkdir()
    (folder / "train" / "cat" / ".0000-checkpoint.png").write_bytes(image_bytes(3))
    assert dataset_problem(folder, LAYOUT) is None
    assert [Path(p).name for p in list_images(folder / "train" / "cat", LAYOUT)] == [
        "0000.png",
        "0001.png",
    ]


def test_an_incomplete_folder_is_extracted_again_from_the_archive(tmp_path):
    archive = write_archive(tmp_path / "cifar10.tgz", dataset_members())
    stale = tmp_path / "cifar10" / "train" / "airplane"
    stale.mkdir(parents=True)
    (stale / "0000.png").write_bytes(image_bytes(1))
    folder = extract_dataset(archive, tmp_path, LAYOUT)
    assert verify_dataset(folder, LAYOUT) == {"train": 4, "test": 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == [".cifar10.lock", "cifar10", "cifar10.tgz"]


def test_an_incomplete_folder_without_an_archive_is_refused(tmp_path):
    (tmp_path / "cifar10" / "train").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=r"cifar10 cannot be used .*\.tgz is not there"):
        extract_dataset(tmp_path / "cifar10.tgz", tmp_path, LAYOUT)


def test_fetch_is_called_for_a_missing_archive(tmp_path):
    source = write_archive(tmp_path / "source.tgz", dataset_members())
    root = tmp_path / "data"
    calls = []

    def fetch():
        calls.append(1)
        (root / "cifar10.tgz").write_bytes(source.read_bytes())

    extract_dataset(root / "cifar10.tgz", root, LAYOUT, fetch=fetch)
    assert calls == [1]
    assert dataset_problem(root / "cifar10", LAYOUT) is None


@pytest.mark.parametrize(
    "code, message",
    [
        (errno.ENOSPC, "The disk is full"),
        (errno.EACCES, "Permission denied"),
        (errno.EROFS, "read-only file system"),
    ],
)
def test_disk_errors_are_reported_as_what_they_are_not_as_a_corrupt_archive(
    tmp_path, monkeypatch, code, message
):
    archive = write_archive(tmp_path / "cifar10.tgz", dataset_members())
    root = tmp_path / "data"
    real_open = builtins.open
    written = []

    def failing_open(file, mode="r", *args, **kwargs):
        # Fail the third file written into the data folder, as a full disk would.
        if str(file).startswith(str(root)) and ("w" in mode or "x" in mode):
            written.append(file)
            if len(written) >= 3:
                raise OSError(code, os.strerror(code), str(file))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", failing_open)
    monkeypatch.setattr(tarfile, "bltn_open", failing_open)  # in case tarfile writes the files
    with pytest.raises(DataFolderError, match=message) as error:
        extract_dataset(archive, root, LAYOUT)
    monkeypatch.undo()
    assert error.value.errno == code and str(root) in str(error.value)
    assert "delete" not in str(error.value).lower() and "corrupt" not in str(error.value)
    assert archive.is_file()
    assert contents(root) == [".cifar10.lock"]  # the partial extraction is gone


WAITER = """
import sys
from pathlib import Path
from course_utils.archives import DatasetLayout, extract_dataset
layout = DatasetLayout("cifar10", ("airplane", "cat"), (("train", 2), ("test", 1)),
                       extra_files=("labels.txt",), image_size=(4, 4))
extract_dataset(Path(sys.argv[1]), Path(sys.argv[2]), layout)
"""


def test_a_process_waits_for_the_lock_says_so_and_leaves_the_holders_staging_alone(tmp_path):
    archive = write_archive(tmp_path / "cifar10.tgz", dataset_members())
    root = tmp_path / "data"
    log = tmp_path / "stderr.txt"
    with folder_lock(root, ".cifar10.lock"):
        live = root / ".cifar10-extract-live"  # the staging folder of the lock holder
        (live / "cifar10").mkdir(parents=True)
        with open(log, "w") as stderr:
            waiter = subprocess.Popen(
                [sys.executable, "-c", WAITER, str(archive), str(root)],
                stderr=stderr,
                env={**os.environ, "TQDM_DISABLE": "1"},
            )
        deadline = time.monotonic() + 120
        while "Waiting" not in log.read_text() and time.monotonic() < deadline:
            assert waiter.poll() is None, log.read_text()
            time.sleep(0.1)
        assert "Waiting for another process" in log.read_text()
        assert str(root) in log.read_text()
        time.sleep(0.5)
        assert live.is_dir() and not (root / "cifar10").exists()
        live.rename(root / ".cifar10-extract-dead")  # the holder "dies", leaving its staging
    assert waiter.wait(timeout=120) == 0, log.read_text()
    assert dataset_problem(root / "cifar10", LAYOUT) is None
    assert contents(root) == [".cifar10.lock", "cifar10"]  # stale staging removed under the lock


def write_idx(path: Path, count: int, images: bool, magic: int | None = None) -> None:
    shape = (count, 28, 28) if images else (count,)
    magic = magic if magic is not None else (0x803 if images else 0x801)
    header = struct.pack(f">I{len(shape)}I", magic, *shape)
    path.write_bytes(header + bytes(count * (784 if images else 1)))


def make_raw(raw: Path) -> Path:
    raw.mkdir(parents=True, exist_ok=True)
    for prefix, count in (("train", 3), ("t10k", 2)):
        write_idx(raw / f"{prefix}-images-idx3-ubyte", count, images=True)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", count, images=False)
    return raw


def test_check_idx_files_counts_good_files(tmp_path):
    assert check_idx_files(make_raw(tmp_path / "raw")) == {"train": 3, "t10k": 2}


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda p: p.write_bytes(p.read_bytes()[:-100]), "is truncated or damaged"),
        (lambda p: p.write_bytes(p.read_bytes()[:10]), "is truncated: 10 bytes"),
        (lambda p: write_idx(p, 3, images=True, magic=0x801), "magic number 0x00000801"),
        (lambda p: p.write_bytes(gzip.compress(p.read_bytes())), "is gzip-compressed"),
    ],
)
def test_a_damaged_idx_file_is_named_with_what_to_do(tmp_path, damage, message):
    raw = make_raw(tmp_path / "raw")
    damage(raw / "train-images-idx3-ubyte")
    assert message in idx_problem(raw / "train-images-idx3-ubyte")
    with pytest.raises(DatasetError, match="train-images-idx3-ubyte .*Delete it") as error:
        check_idx_files(raw)
    assert str(raw) in str(error.value)


def test_idx_files_from_different_copies_are_refused(tmp_path):
    raw = make_raw(tmp_path / "raw")
    write_idx(raw / "t10k-labels-idx1-ubyte", 5, images=False)
    with pytest.raises(DatasetError, match="2 images but t10k-labels-idx1-ubyte 5 labels"):
        check_idx_files(raw)


def test_gunzip_keeps_only_a_complete_file(tmp_path):
    good = tmp_path / "train-labels-idx1-ubyte.gz"
    good.write_bytes(gzip.compress(b"x" * 5000))
    assert gunzip(good).read_bytes() == b"x" * 5000
    bad = tmp_path / "t10k-labels-idx1-ubyte.gz"
    bad.write_bytes(gzip.compress(b"y" * 5000)[:-20])
    with pytest.raises(DatasetError, match=r"t10k-labels-idx1-ubyte\.gz is damaged"):
        gunzip(bad)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([bad.name, good.name, good.stem])


def test_the_cifar10_layout_is_the_published_one():
    assert CIFAR10_LAYOUT.classes == tuple(sorted(CIFAR10_LAYOUT.classes))
    assert len(CIFAR10_LAYOUT.classes) == 10
    assert dict(CIFAR10_LAYOUT.splits) == {"train": 5000, "test": 1000}
    assert json.loads(json.dumps(archives._marker_content(CIFAR10_LAYOUT)))["format"] == 1
