import builtins
import contextlib
import errno
import gzip
import hashlib
import http.server
import json
import os
import shutil
import subprocess
import sys
import tarfile
import threading
import time
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from conftest import (
    cifar_members,
    make_idx_dataset,
    png_bytes,
    tar_member,
    write_archive,
    write_idx,
)
from filelock import FileLock
from torch.utils.data import random_split
from torchvision import datasets, transforms

from course_utils import data
from course_utils.data import (
    CIFAR10,
    MARKER,
    DataFolderError,
    DatasetError,
    DownloadError,
    PublishedArchive,
    check_idx_files,
    cifar10,
    data_dir,
    dataset_problem,
    dataset_to_tensors,
    download_published,
    ensure_cifar10,
    ensure_idx_dataset,
    fashion_mnist,
    list_images,
    mnist,
    save_mnist_split,
)
from course_utils.distributed import free_port

# Two classes with a few images each, for the archive checks.
LAYOUT = replace(
    CIFAR10, classes=("airplane", "cat"), splits=(("train", 2), ("test", 1)), image_size=(4, 4)
)
# The real ten classes with a few images each, for the lessons' loaders.
SMALL = replace(CIFAR10, splits=(("train", 3), ("test", 2)), image_size=(4, 4))
PAYLOAD = os.urandom((5 << 20) // 2)  # 2.5 MiB: many chunks of torchvision's 32 KiB reads


def contents(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir()) if folder.exists() else []


def images_per_split(folder: Path, archive: PublishedArchive) -> dict[str, int]:
    return {
        split: sum(len(list_images(folder / split / name, archive)) for name in archive.classes)
        for split, _ in archive.splits
    }


@pytest.fixture
def small(offline) -> PublishedArchive:
    """``SMALL``, whose download goes to a closed port."""
    return replace(SMALL, url=offline)


@pytest.fixture
def small_cifar(monkeypatch, tmp_path, small):
    """A data folder (``COURSE_DATA_DIR``) holding a small cifar10.tgz without folder entries."""
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    write_archive(tmp_path / "cifar10.tgz", cifar_members(small, folders=False))
    return tmp_path


@pytest.fixture
def serve():
    """``serve(payload, sent=None)`` serves ``payload`` over HTTP and returns its URL (a dict
    of payloads: the folder URL they are in); with ``sent``, the server announces the whole
    payload, sends that many bytes and hangs up."""
    servers = []

    def start(payload: bytes | dict[str, bytes], sent: int | None = None) -> str:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = payload[self.path[1:]] if isinstance(payload, dict) else payload
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(ConnectionError):  # the client may read nothing
                    self.wfile.write(body[:sent])

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        return url if isinstance(payload, dict) else url + "cifar10.tgz"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def published(serve, payload: bytes = PAYLOAD, sent: int | None = None) -> PublishedArchive:
    """CIFAR10 as if ``payload`` were the published file, served over HTTP."""
    md5 = hashlib.md5(payload).hexdigest()
    return replace(CIFAR10, url=serve(payload, sent), size=len(payload), md5=md5)


def assert_says_what_to_do(message: str, archive: PublishedArchive, destination: Path) -> None:
    for fact in (archive.name, archive.url, f"{archive.size:,} bytes", archive.md5):
        assert fact in message, f"{fact!r} missing from: {message}"
    assert str(destination) in message, f"{destination} missing from: {message}"


# --- data_dir ---


def test_data_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    assert data_dir() == tmp_path.resolve()


def test_data_dir_defaults_to_data_at_the_repository_root(monkeypatch):
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    assert data_dir() == Path(data.__file__).resolve().parents[1] / "data"


# --- Downloading a published file ---


def test_a_matching_file_is_kept(tmp_path, serve):
    archive = published(serve)
    path = download_published(archive, tmp_path / "data")
    assert path == tmp_path / "data" / "cifar10.tgz" and path.read_bytes() == PAYLOAD
    assert contents(path.parent) == ["cifar10.tgz"]


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(size=len(PAYLOAD) + 1), "has 2,621,440 bytes, unlike the published file"),
        (dict(md5="0" * 32), "has MD5 [0-9a-f]{32}, unlike the published file"),
    ],
)
def test_a_tampered_file_is_not_kept_and_the_message_says_what_to_do(
    tmp_path, serve, change, message
):
    archive = replace(published(serve), **change)
    folder = tmp_path / "data"
    with pytest.raises(DownloadError, match=message) as error:
        download_published(archive, folder)
    assert_says_what_to_do(str(error.value), archive, folder / "cifar10.tgz")
    assert contents(folder) == []


def test_an_interrupted_stream_leaves_nothing(tmp_path, serve):
    archive = published(serve, sent=len(PAYLOAD) // 2)
    folder = tmp_path / "data"
    with pytest.raises(DownloadError, match="has 1,310,720 bytes, unlike the published") as error:
        download_published(archive, folder)
    assert_says_what_to_do(str(error.value), archive, folder / "cifar10.tgz")
    assert contents(folder) == []


def test_ctrl_c_during_the_download_leaves_nothing(tmp_path, monkeypatch, serve):
    archive = published(serve)
    real_urlopen = urllib.request.urlopen

    def urlopen(*args, **kwargs):
        response = real_urlopen(*args, **kwargs)
        real_read, calls = response.read, []

        def read(*read_args):
            calls.append(1)
            if len(calls) == 2:
                raise KeyboardInterrupt
            return real_read(*read_args)

        response.read = read
        return response

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    folder = tmp_path / "data"
    with pytest.raises(KeyboardInterrupt):
        download_published(archive, folder)
    assert contents(folder) == []


def test_a_stale_part_file_is_not_taken_for_the_download(tmp_path, serve):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "cifar10.tgz.part").write_bytes(PAYLOAD[:1000])  # left by a killed run
    assert download_published(published(serve), folder).read_bytes() == PAYLOAD
    assert contents(folder) == ["cifar10.tgz"]


def test_without_a_network_the_message_says_what_to_fetch_and_where_to_put_it(tmp_path):
    archive = replace(CIFAR10, url=f"http://127.0.0.1:{free_port()}/cifar10.tgz")
    folder = tmp_path / "data"
    with pytest.raises(DownloadError, match="Could not download cifar10.tgz") as error:
        download_published(archive, folder)
    assert_says_what_to_do(str(error.value), archive, folder / "cifar10.tgz")
    assert "168,168,549 bytes" in str(error.value)
    assert contents(folder) == []


def test_a_full_disk_during_the_download_is_reported_as_such(tmp_path, monkeypatch, serve):
    archive = published(serve)
    folder = tmp_path / "data"
    real_open = builtins.open

    class FullDisk:
        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc_info):
            self.handle.close()

        def write(self, chunk):
            raise OSError(errno.ENOSPC, "No space left on device")

    def opener(file, mode="r", *args, **kwargs):
        handle = real_open(file, mode, *args, **kwargs)
        return FullDisk(handle) if str(file).endswith(".part") else handle

    monkeypatch.setattr(builtins, "open", opener)
    with pytest.raises(DataFolderError, match="The disk is full") as error:
        download_published(archive, folder)
    monkeypatch.undo()
    assert "delete" not in str(error.value).lower() and error.value.errno == errno.ENOSPC
    assert contents(folder) == []


def test_readme_states_the_size_and_md5_the_download_is_checked_against():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    data_section = readme.split("## Data", 1)[1].split("\n## ", 1)[0]
    assert f"`{CIFAR10.name}` ({CIFAR10.size:,} bytes, MD5" in data_section
    assert f"`{CIFAR10.md5}`" in data_section


# --- The CIFAR-10 archive: checked before, during and after extraction ---


def test_ensure_cifar10_puts_a_checked_marked_folder_in_place(tmp_path):
    extra = [tar_member("cifar10/labels.txt", payload=b"airplane\ncat\n")]
    write_archive(tmp_path / "cifar10.tgz", cifar_members(LAYOUT) + extra)
    folder = ensure_cifar10(tmp_path, download=False, archive=LAYOUT)
    assert folder == tmp_path / "cifar10"
    assert contents(folder) == [MARKER, "labels.txt", "test", "train"]
    assert contents(folder / "train") == ["airplane", "cat"]
    assert images_per_split(folder, LAYOUT) == {"train": 4, "test": 2}
    assert dataset_problem(folder, LAYOUT) is None
    assert contents(tmp_path) == [".cifar10.lock", "cifar10", "cifar10.tgz"]  # no staging left


HOSTILE = {
    "symlink loop": tar_member("cifar10/train/sub", tarfile.SYMTYPE, link=".."),
    "symlink out": tar_member("cifar10/train/cat/0009.png", tarfile.SYMTYPE, link="/etc/passwd"),
    "hard link": tar_member("cifar10/train/cat/0009.png", tarfile.LNKTYPE, link="cifar10/x"),
    "fifo": tar_member("cifar10/train/cat/0009.png", tarfile.FIFOTYPE),
    "device": tar_member("cifar10/train/cat/0009.png", tarfile.CHRTYPE),
    "hidden folder": tar_member("cifar10/train/.ipynb_checkpoints", tarfile.DIRTYPE),
    "hidden file": tar_member("cifar10/train/cat/.0009.png", payload=png_bytes(1)),
    "parent": tar_member("cifar10/../evil.png", payload=png_bytes(1)),
    "absolute": tar_member("/tmp/course-utils-absolute-evil.png", payload=png_bytes(1)),
    "other class": tar_member("cifar10/train/dog/0000.png", payload=png_bytes(1)),
    "other split": tar_member("cifar10/valid/cat/0000.png", payload=png_bytes(1)),
    "too deep": tar_member("cifar10/train/cat/sub/0000.png", payload=png_bytes(1)),
    "not an image": tar_member("cifar10/train/cat/0009.exe", payload=b"MZ"),
    "outside the top folder": tar_member("images/0000.png", payload=png_bytes(1)),
    "huge": tar_member("cifar10/train/cat/0009.png", payload=bytes(2 << 20)),
    "twice": tar_member("cifar10/train/cat/0000.png", payload=png_bytes(1)),
    "twice, in other case": tar_member("cifar10/train/cat/0000.PNG", payload=png_bytes(1)),
}


@pytest.mark.parametrize("kind", HOSTILE)
def test_an_entry_that_is_not_part_of_the_dataset_is_refused_before_anything_is_written(
    tmp_path, kind
):
    info, payload = HOSTILE[kind]
    # The hostile entry comes last: every good image before it must not be written either.
    write_archive(tmp_path / "cifar10.tgz", cifar_members(LAYOUT) + [(info, payload)])
    with pytest.raises(DatasetError, match="refused") as error:
        ensure_cifar10(tmp_path, download=False, archive=LAYOUT)
    assert repr(info.name) in str(error.value) and "nothing was extracted" in str(error.value)
    assert contents(tmp_path) == [".cifar10.lock", "cifar10.tgz"]
    assert not Path("/tmp/course-utils-absolute-evil.png").exists()


def symlink_chain_archive(path: Path, root: Path) -> Path:
    """A cifar10.tgz using CVE-2025-4517's technique: nested directory symlinks whose
    resolved path exceeds PATH_MAX, so tarfile's data filter (before the mid-2025
    fixes) cannot resolve them, then a link escaping upwards and a file written
    through it. Sized for a staging folder beside ``root/cifar10``; on Python 3.11.7
    extracting it with the data filter alone wrote ``root/../pwned.txt``."""
    steps = "abcdefghijklmnop"
    staged = f"{root}/.cifar10-extract-xxxxxxxx/cifar10"
    max_path = os.pathconf(root, "PC_PATH_MAX") if hasattr(os, "pathconf") else 260
    component = "d" * ((max_path - len(staged) - 1) // (len(steps) + 1))
    members, here = [], "cifar10"
    for step in steps:
        members.append(tar_member(f"{here}/{component}", tarfile.DIRTYPE))
        members.append(tar_member(f"{here}/{step}", tarfile.SYMTYPE, link=component))
        here = f"{here}/{component}"
    long_link = "/".join(steps) + "/" + "l" * 254
    members.append(tar_member(f"cifar10/{long_link}", tarfile.SYMTYPE, link="/".join([".."] * 16)))
    members.append(tar_member("cifar10/escape", tarfile.SYMTYPE, link=f"{long_link}/../../.."))
    members.append(tar_member("cifar10/escape/pwned.txt", payload=b"written outside"))
    return write_archive(path, cifar_members(LAYOUT) + members)


def test_a_symlink_chain_beyond_path_max_is_refused_and_nothing_escapes(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    archive = symlink_chain_archive(root / "cifar10.tgz", root)
    assert archive.stat().st_size < 4096
    with pytest.raises(DatasetError, match="folder that is not part of the dataset"):
        ensure_cifar10(root, download=False, archive=LAYOUT)
    assert contents(tmp_path) == ["data"]  # no pwned.txt beside the data folder
    assert contents(root) == [".cifar10.lock", "cifar10.tgz"]


def test_an_archive_missing_a_class_is_refused_before_anything_is_written(tmp_path):
    write_archive(tmp_path / "cifar10.tgz", cifar_members(LAYOUT, skip=("train/cat",)))
    with pytest.raises(DatasetError, match=r"not hold the complete dataset.*train/ lacks.*cat"):
        ensure_cifar10(tmp_path, download=False, archive=LAYOUT)
    assert contents(tmp_path) == [".cifar10.lock", "cifar10.tgz"]


def test_an_archive_with_an_image_too_many_is_refused_before_anything_is_written(tmp_path):
    extra = [tar_member("cifar10/test/cat/0001.png", payload=png_bytes(9))]
    write_archive(tmp_path / "cifar10.tgz", cifar_members(LAYOUT) + extra)
    with pytest.raises(DatasetError, match="test/cat has 2 images, expected 1"):
        ensure_cifar10(tmp_path, download=False, archive=LAYOUT)
    assert contents(tmp_path) == [".cifar10.lock", "cifar10.tgz"]


def test_an_image_that_does_not_open_keeps_the_dataset_from_being_put_in_place(tmp_path):
    members = cifar_members(LAYOUT)
    members[-1] = tar_member(members[-1][0].name, payload=png_bytes(9)[:30])  # truncated PNG
    write_archive(tmp_path / "cifar10.tgz", members)
    with pytest.raises(DatasetError, match=r"test/cat/0000\.png does not open"):
        ensure_cifar10(tmp_path, download=False, archive=LAYOUT)
    assert contents(tmp_path) == [".cifar10.lock", "cifar10.tgz"]


def test_an_image_of_the_wrong_size_is_refused(tmp_path):
    members = cifar_members(LAYOUT)
    members[-1] = tar_member(members[-1][0].name, payload=png_bytes(9, size=(8, 8)))
    write_archive(tmp_path / "cifar10.tgz", members)
    with pytest.raises(DatasetError, match="is 8x8 pixels, expected 4x4"):
        ensure_cifar10(tmp_path, download=False, archive=LAYOUT)


def test_a_truncated_archive_is_reported_as_corrupt_and_names_the_file(tmp_path):
    archive = write_archive(tmp_path / "cifar10.tgz", cifar_members(LAYOUT))
    payload = archive.read_bytes()
    archive.write_bytes(payload[: len(payload) // 2])
    with pytest.raises(DatasetError, match=r"cifar10\.tgz is truncated or corrupt"):
        ensure_cifar10(tmp_path, download=False, archive=LAYOUT)
    assert contents(tmp_path) == [".cifar10.lock", "cifar10.tgz"]


def test_a_file_that_is_not_gzip_is_reported_as_corrupt(tmp_path):
    (tmp_path / "cifar10.tgz").write_bytes(b"this is not an archive at all" * 10)
    with pytest.raises(DatasetError, match="truncated or corrupt"):
        ensure_cifar10(tmp_path, download=False, archive=LAYOUT)


def test_a_folder_without_the_marker_is_not_trusted(tmp_path):
    write_archive(tmp_path / "cifar10.tgz", cifar_members(LAYOUT))
    folder = ensure_cifar10(tmp_path, download=False, archive=LAYOUT)
    (folder / MARKER).unlink()
    assert "never marked complete" in dataset_problem(folder, LAYOUT)
    assert dataset_problem(tmp_path / "elsewhere", LAYOUT) == "it does not exist"


def test_a_marked_folder_that_lost_images_or_gained_a_class_is_not_trusted(tmp_path):
    write_archive(tmp_path / "cifar10.tgz", cifar_members(LAYOUT))
    folder = ensure_cifar10(tmp_path, download=False, archive=LAYOUT)
    (folder / "test" / "cat" / "0000.png").unlink()
    assert dataset_problem(folder, LAYOUT) == "test/cat has 0 images, expected 1"
    (folder / "train" / "dog").mkdir()
    assert "train/dog is not one of the classes" in dataset_problem(folder, LAYOUT)


def test_hidden_folders_added_later_are_ignored(tmp_path):
    write_archive(tmp_path / "cifar10.tgz", cifar_members(LAYOUT))
    folder = ensure_cifar10(tmp_path, download=False, archive=LAYOUT)
    (folder / "train" / ".ipynb_checkpoints").mkdir()
    (folder / "train" / "cat" / ".ipynb_checkpoints").mkdir()
    (folder / "train" / "cat" / ".0000-checkpoint.png").write_bytes(png_bytes(3))
    assert dataset_problem(folder, LAYOUT) is None
    assert [Path(p).name for p in list_images(folder / "train" / "cat", LAYOUT)] == [
        "0000.png",
        "0001.png",
    ]


def test_a_marked_read_only_folder_is_used_without_the_lock(tmp_path):
    write_archive(tmp_path / "cifar10.tgz", cifar_members(LAYOUT))
    folder = ensure_cifar10(tmp_path, download=False, archive=LAYOUT)
    (tmp_path / ".cifar10.lock").unlink()
    tmp_path.chmod(0o555)
    try:
        assert ensure_cifar10(tmp_path, download=False, archive=LAYOUT) == folder
    finally:
        tmp_path.chmod(0o755)
    assert contents(tmp_path) == ["cifar10", "cifar10.tgz"]


def test_an_incomplete_folder_is_extracted_again_from_the_archive(tmp_path):
    write_archive(tmp_path / "cifar10.tgz", cifar_members(LAYOUT))
    stale = tmp_path / "cifar10" / "train" / "airplane"
    stale.mkdir(parents=True)
    (stale / "0000.png").write_bytes(png_bytes(1))
    folder = ensure_cifar10(tmp_path, download=False, archive=LAYOUT)
    assert images_per_split(folder, LAYOUT) == {"train": 4, "test": 2}
    assert dataset_problem(folder, LAYOUT) is None
    assert contents(tmp_path) == [".cifar10.lock", "cifar10", "cifar10.tgz"]


def test_an_incomplete_folder_without_an_archive_is_refused(tmp_path):
    (tmp_path / "cifar10" / "train").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=r"cifar10 cannot be used .*no .*cifar10\.tgz"):
        ensure_cifar10(tmp_path, download=False, archive=LAYOUT)


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
    archive = write_archive(tmp_path / "cifar10.tgz", cifar_members(LAYOUT))
    real_open = builtins.open
    written = []

    def failing_open(file, mode="r", *args, **kwargs):
        # Fail the third file written into the data folder, as a full disk would.
        if str(file).startswith(str(tmp_path)) and ("w" in mode or "x" in mode):
            written.append(file)
            if len(written) >= 3:
                raise OSError(code, os.strerror(code), str(file))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", failing_open)
    monkeypatch.setattr(tarfile, "bltn_open", failing_open)  # tarfile writes the files
    with pytest.raises(DataFolderError, match=message) as error:
        ensure_cifar10(tmp_path, download=False, archive=LAYOUT)
    monkeypatch.undo()
    assert len(written) >= 3  # the failure came from writing the images
    assert error.value.errno == code and str(tmp_path) in str(error.value)
    assert "delete" not in str(error.value).lower() and "corrupt" not in str(error.value)
    assert archive.is_file()
    assert contents(tmp_path) == [".cifar10.lock", "cifar10.tgz"]  # the partial extraction is gone


WAITER = """
import sys
from dataclasses import replace
from pathlib import Path
from course_utils.data import CIFAR10, ensure_cifar10
archive = replace(CIFAR10, classes=("airplane", "cat"), splits=(("train", 2), ("test", 1)),
                  image_size=(4, 4))
ensure_cifar10(Path(sys.argv[1]), download=False, archive=archive)
"""


def test_a_process_waits_for_the_lock_says_so_and_leaves_the_holders_staging_alone(tmp_path):
    write_archive(tmp_path / "cifar10.tgz", cifar_members(LAYOUT))
    log = tmp_path.parent / f"{tmp_path.name}-stderr.txt"
    with FileLock(str(tmp_path / ".cifar10.lock")):
        live = tmp_path / ".cifar10-extract-live"  # the staging folder of the lock holder
        (live / "cifar10").mkdir(parents=True)
        with open(log, "w") as stderr:
            waiter = subprocess.Popen(
                [sys.executable, "-c", WAITER, str(tmp_path)],
                stderr=stderr,
                env={**os.environ, "TQDM_DISABLE": "1"},
            )
        deadline = time.monotonic() + 120
        while "Waiting" not in log.read_text() and time.monotonic() < deadline:
            assert waiter.poll() is None, log.read_text()
            time.sleep(0.1)
        assert "Waiting for another process" in log.read_text()
        assert str(tmp_path) in log.read_text()
        time.sleep(0.5)
        assert live.is_dir() and not (tmp_path / "cifar10").exists()
        live.rename(tmp_path / ".cifar10-extract-dead")  # the holder "dies", leaving its staging
    assert waiter.wait(timeout=120) == 0, log.read_text()
    assert dataset_problem(tmp_path / "cifar10", LAYOUT) is None
    # Stale staging removed under the lock.
    assert contents(tmp_path) == [".cifar10.lock", "cifar10", "cifar10.tgz"]


WORKER = """
import json, os, sys, time
from dataclasses import replace
from pathlib import Path
from course_utils import data
archive = replace(data.CIFAR10, splits=(("train", 200), ("test", 50)), image_size=(4, 4))
signals = Path(sys.argv[1])
(signals / f"ready-{os.getpid()}").touch()
while not (signals / "go").exists():  # both start extracting at the same moment
    time.sleep(0.005)
train, test = data.cifar10(train=True, archive=archive), data.cifar10(False, archive=archive)
print(json.dumps([len(train), len(test), len(train.classes), len(test.classes)]))
"""


def test_two_processes_preparing_cifar10_at_once_both_see_the_whole_dataset(
    small_cifar, tmp_path_factory
):
    # Enough images that the two extractions would overlap without the lock.
    bigger = replace(SMALL, splits=(("train", 200), ("test", 50)))
    write_archive(small_cifar / "cifar10.tgz", cifar_members(bigger, folders=False))
    signals = tmp_path_factory.mktemp("signals")
    env = {**os.environ, "COURSE_DATA_DIR": str(small_cifar), "TQDM_DISABLE": "1"}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(signals)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    deadline = time.monotonic() + 300
    while len(list(signals.glob("ready-*"))) < 2 and time.monotonic() < deadline:
        assert all(worker.poll() is None for worker in workers)
        time.sleep(0.05)
    (signals / "go").touch()
    results = [worker.communicate(timeout=300) for worker in workers]
    for worker, (out, err) in zip(workers, results, strict=True):
        assert worker.returncode == 0, err.decode()
        assert json.loads(out) == [2000, 500, 10, 10]
    # No staging folder, no .part file.
    assert contents(small_cifar) == [".cifar10.lock", "cifar10", "cifar10.tgz"]


def test_the_marker_of_earlier_versions_is_accepted_and_classes_are_in_imagefolder_order():
    # Folders prepared by earlier versions hold this marker; they must not be extracted again.
    earlier = '{"format": 1, "classes": ["airplane", "automobile", "bird", "cat", "deer", '
    earlier += '"dog", "frog", "horse", "ship", "truck"], "splits": {"train": 5000, "test": 1000}}'
    assert json.loads(earlier) == json.loads(json.dumps(CIFAR10.marker()))
    assert list(CIFAR10.classes) == sorted(CIFAR10.classes)  # ImageFolder's order, the labels


# --- The lessons' CIFAR-10 loader ---


def test_cifar10_returns_an_image_folder_from_the_archive(small_cifar, small):
    train, test = cifar10(train=True, archive=small), cifar10(train=False, archive=small)
    assert isinstance(train, datasets.ImageFolder)
    assert (len(train), len(test)) == (30, 20)
    assert train.classes == test.classes == list(CIFAR10.classes)
    image, label = train[4]
    assert label == 1 and image.size == (4, 4)
    assert train.samples == datasets.ImageFolder(str(small_cifar / "cifar10" / "train")).samples


def test_an_incomplete_folder_is_extracted_again_when_the_archive_is_there(small_cifar, small):
    folder = small_cifar / "cifar10"
    cifar10(train=True, archive=small)
    shutil.rmtree(folder / "train" / "cat")
    shutil.rmtree(folder / "train" / "dog")
    (folder / "test" / "ship" / "0001.png").unlink()
    train, test = cifar10(train=True, archive=small), cifar10(train=False, archive=small)
    assert (len(train.classes), len(train), len(test)) == (10, 30, 20)


def test_an_incomplete_folder_without_the_archive_is_refused(small_cifar, small):
    folder = small_cifar / "cifar10"
    cifar10(train=True, archive=small)
    (small_cifar / "cifar10.tgz").unlink()
    shutil.rmtree(folder / "train" / "cat")
    with pytest.raises(FileNotFoundError, match=r"train/ lacks the class folder\(s\) cat") as error:
        cifar10(train=True, download=False, archive=small)
    assert str(folder) in str(error.value) and "cifar10.tgz" in str(error.value)
    with pytest.raises(DownloadError, match="Could not download cifar10.tgz"):
        cifar10(train=True, archive=small)  # with download allowed it tries the (closed) network


def test_an_empty_folder_without_the_archive_is_refused(small_cifar, small):
    (small_cifar / "cifar10.tgz").unlink()
    (small_cifar / "cifar10").mkdir()
    with pytest.raises(FileNotFoundError, match="never marked complete"):
        cifar10(train=False, download=False, archive=small)


def test_a_training_split_missing_a_class_is_refused(small_cifar, small):
    write_archive(small_cifar / "cifar10.tgz", cifar_members(small, skip=("train/frog",)))
    with pytest.raises(DatasetError, match=r"train/ lacks the class folder\(s\) frog"):
        cifar10(train=True, archive=small)
    assert not (small_cifar / "cifar10").exists()


def test_a_hidden_checkpoints_folder_does_not_become_class_0(small_cifar, small):
    folder = small_cifar / "cifar10"
    cifar10(train=True, archive=small)
    checkpoints = folder / "train" / ".ipynb_checkpoints"
    checkpoints.mkdir()
    (checkpoints / "0000-checkpoint.png").write_bytes(png_bytes(1))
    train = cifar10(train=True, archive=small)
    assert train.classes == list(CIFAR10.classes) and len(train) == 30
    assert train.targets[:4] == [0, 0, 0, 1]


def test_a_symlink_loop_in_an_extracted_folder_does_not_multiply_the_images(small_cifar, small):
    folder = small_cifar / "cifar10"
    cifar10(train=True, archive=small)
    os.symlink("..", folder / "train" / "sub")
    train = cifar10(train=True, archive=small)  # extracted again: the folder no longer matched
    assert len(train) == 30 and not (folder / "train" / "sub").is_symlink()


def test_cifar10_without_data_and_without_download_says_what_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="CIFAR-10 is not in") as error:
        ensure_cifar10(tmp_path, download=False)
    assert str(tmp_path / "cifar10.tgz") in str(error.value) and CIFAR10.md5 in str(error.value)
    assert contents(tmp_path) == []


def test_ensure_cifar10_downloads_a_missing_archive_and_checks_it(tmp_path, serve):
    source = write_archive(tmp_path / "published.tgz", cifar_members(SMALL, folders=False))
    payload = source.read_bytes()
    archive = replace(published(serve, payload), splits=SMALL.splits, image_size=(4, 4))
    root = tmp_path / "root"
    folder = ensure_cifar10(root, archive=archive)
    assert (root / "cifar10.tgz").read_bytes() == payload
    assert len(list((folder / "test" / "cat").iterdir())) == 2
    assert dataset_problem(folder, archive) is None
    assert contents(root) == [".cifar10.lock", "cifar10", "cifar10.tgz"]


# --- MNIST and Fashion-MNIST ---


def test_check_idx_files_counts_good_files(tmp_path):
    assert check_idx_files(make_idx_dataset(tmp_path)) == {"train": 3, "t10k": 2}


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
    raw = make_idx_dataset(tmp_path)
    damage(raw / "train-images-idx3-ubyte")
    with pytest.raises(DatasetError, match="train-images-idx3-ubyte .*Delete it") as error:
        check_idx_files(raw)
    assert message in str(error.value) and str(raw) in str(error.value)


def test_idx_files_from_different_copies_are_refused(tmp_path):
    raw = make_idx_dataset(tmp_path)
    write_idx(raw / "t10k-labels-idx1-ubyte", 5, images=False)
    with pytest.raises(DatasetError, match="2 images but t10k-labels-idx1-ubyte 5 labels"):
        check_idx_files(raw)


def test_gz_files_are_decompressed_and_only_complete_files_are_kept(tmp_path):
    raw = make_idx_dataset(tmp_path)
    good, bad = raw / "train-labels-idx1-ubyte", raw / "t10k-labels-idx1-ubyte"
    expected = good.read_bytes()
    good.with_name(good.name + ".gz").write_bytes(gzip.compress(expected))
    bad.with_name(bad.name + ".gz").write_bytes(gzip.compress(bad.read_bytes())[:-20])
    good.unlink()
    bad.unlink()
    with pytest.raises(DatasetError, match=r"t10k-labels-idx1-ubyte\.gz is damaged"):
        ensure_idx_dataset(datasets.MNIST, tmp_path, download=False)
    assert good.read_bytes() == expected
    names = ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte.gz", "train-images-idx3-ubyte"]
    assert contents(raw) == [*names, "train-labels-idx1-ubyte", "train-labels-idx1-ubyte.gz"]


LOADERS = {"MNIST": mnist, "FashionMNIST": fashion_mnist}


@pytest.mark.parametrize("folder", LOADERS)
def test_mnist_reads_the_data_folder_without_downloading(monkeypatch, tmp_path, offline, folder):
    make_idx_dataset(tmp_path, folder)
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    train, test = LOADERS[folder](train=True), LOADERS[folder](train=False)
    assert (len(train), len(test)) == (3, 2)
    assert train[0][1] == 5 and test[1][1] == 6


@pytest.mark.parametrize("folder", LOADERS)
def test_mnist_missing_without_download_names_the_folder_and_creates_nothing(
    monkeypatch, tmp_path, folder
):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte") as error:
        LOADERS[folder](train=True, download=False)
    assert str(tmp_path / folder / "raw") in str(error.value)
    assert contents(tmp_path) == []


@pytest.mark.parametrize("folder", LOADERS)
def test_mnist_offline_names_the_folder_and_what_to_copy_and_leaves_nothing(
    monkeypatch, tmp_path, offline, folder
):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    with pytest.raises(DownloadError, match="(?s)Could not download .*copy the four") as error:
        LOADERS[folder](train=True)
    message = str(error.value)
    assert str(tmp_path / folder / "raw") in message and "copy the four files" in message
    assert "train-images-idx3-ubyte" in message and ".gz" in message
    assert contents(tmp_path) == []  # no empty MNIST/raw, no temporary download folder


def test_an_idx_download_is_checked_and_moved_into_place(tmp_path, monkeypatch, serve):
    published = {}
    for path in make_idx_dataset(tmp_path / "source").iterdir():
        published[f"{path.name}.gz"] = gzip.compress(path.read_bytes())
    url = serve(published)
    monkeypatch.setattr(datasets.MNIST, "mirrors", [url])
    md5s = [(name, hashlib.md5(payload).hexdigest()) for name, payload in published.items()]
    monkeypatch.setattr(datasets.MNIST, "resources", md5s)
    raw = ensure_idx_dataset(datasets.MNIST, tmp_path / "data")
    assert contents(raw) == sorted([*published, *(name[:-3] for name in published)])
    assert check_idx_files(raw) == {"train": 3, "t10k": 2}
    assert contents(tmp_path / "data") == ["MNIST"]  # no temporary download folder left
    published["t10k-labels-idx1-ubyte.gz"] = b"not the published file"
    with pytest.raises(DownloadError, match="Could not download MNIST"):
        ensure_idx_dataset(datasets.MNIST, tmp_path / "other")
    assert contents(tmp_path / "other") == []


def test_a_failed_idx_download_keeps_what_was_there(tmp_path, offline):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    (raw / "notes.txt").write_text("mine")
    with pytest.raises(DownloadError):
        ensure_idx_dataset(datasets.MNIST, tmp_path)
    assert contents(raw) == ["notes.txt"] and contents(tmp_path) == ["MNIST"]


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-100])


def wrong_magic(path: Path) -> None:
    write_idx(path, 3, images=True, magic=0x801)


@pytest.mark.parametrize("damage, message", [(truncate, "is truncated"), (wrong_magic, "magic")])
def test_a_damaged_mnist_file_is_named_with_what_to_do(monkeypatch, tmp_path, damage, message):
    raw = make_idx_dataset(tmp_path)
    damage(raw / "train-images-idx3-ubyte")
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    with pytest.raises(DatasetError, match=message) as error:
        mnist(train=True)
    assert str(raw / "train-images-idx3-ubyte") in str(error.value)
    assert "Delete it" in str(error.value)


def test_mnist_as_gz_files_only_is_decompressed_without_the_network(monkeypatch, tmp_path, offline):
    raw = make_idx_dataset(tmp_path)
    for path in list(raw.iterdir()):
        path.with_name(path.name + ".gz").write_bytes(gzip.compress(path.read_bytes()))
        path.unlink()
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    assert len(mnist(train=True)) == 3 and len(mnist(train=False)) == 2


def test_a_damaged_gz_file_is_named(monkeypatch, tmp_path, offline):
    raw = make_idx_dataset(tmp_path)
    labels = raw / "t10k-labels-idx1-ubyte"
    (raw / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(labels.read_bytes())[:-12])
    labels.unlink()
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    with pytest.raises(DatasetError, match=r"t10k-labels-idx1-ubyte\.gz is damaged"):
        mnist(train=False)


# --- dataset_to_tensors ---


def test_dataset_to_tensors_decodes_each_sample_once(small_cifar, small):
    dataset = cifar10(train=True, transform=transforms.ToTensor(), archive=small)
    inputs, labels = dataset_to_tensors(dataset, batch_size=4)
    assert inputs.shape == (30, 3, 4, 4) and labels.tolist()[:7] == [0, 0, 0, 1, 1, 1, 2]
    assert torch.equal(inputs[4], dataset[4][0])


def test_dataset_to_tensors_rejects_an_empty_dataset():
    with pytest.raises(ValueError, match="empty"):
        dataset_to_tensors([])


# --- save_mnist_split (lesson 06) ---


class _FakeMNIST:
    """Stands in for torchvision's MNIST: every image in one uint8 tensor, ``.data``, its
    labels in ``.targets``. Image i is filled with the value i; its label is i % 10."""

    def __init__(self, count: int):
        self.data = torch.arange(count, dtype=torch.uint8)[:, None, None].repeat(1, 28, 28)
        self.targets = torch.arange(count) % 10


def test_save_mnist_split_saves_lesson_03s_seeded_split_as_the_scripts_read_it(tmp_path):
    path = save_mnist_split(
        tmp_path / "new", seed=42, val_size=3, dataset=_FakeMNIST(12), test_dataset=_FakeMNIST(4)
    )
    assert path == tmp_path / "new" / "mnist_uint8.pt"
    split = torch.load(path, mmap=True, weights_only=True)
    assert list(split) == [
        *["train_images", "train_labels", "val_images", "val_labels"],
        *["test_images", "test_labels"],
    ]
    # The test images whole, in their order, shaped as the others.
    assert split["test_images"].shape == (4, 1, 28, 28)
    assert split["test_images"].dtype == torch.uint8
    assert split["test_images"][:, 0, 3, 3].tolist() == [0, 1, 2, 3]
    assert split["test_labels"].tolist() == [0, 1, 2, 3]
    assert split["train_images"].shape == (9, 1, 28, 28) and split["val_images"].shape[0] == 3
    assert split["train_images"].dtype == torch.uint8 == split["val_images"].dtype
    # Lesson 03's split: random_split with a generator seeded 42, the last 3 for validation.
    train, val = random_split(range(12), [9, 3], generator=torch.Generator().manual_seed(42))
    # Image i is filled with i: a pixel says which image each place holds.
    assert split["train_images"][:, 0, 5, 5].tolist() == list(train.indices)
    assert split["val_images"][:, 0, 27, 0].tolist() == list(val.indices)
    assert split["train_labels"].tolist() == [i % 10 for i in train.indices]
    assert split["val_labels"].tolist() == [i % 10 for i in val.indices]
    other_path = save_mnist_split(
        tmp_path, seed=0, val_size=3, dataset=_FakeMNIST(12), test_dataset=_FakeMNIST(4)
    )
    other = torch.load(other_path)
    assert not torch.equal(other["train_labels"], split["train_labels"])  # the seed counts


def test_save_mnist_split_reads_mnists_training_images_by_default(monkeypatch, tmp_path, offline):
    make_idx_dataset(tmp_path)  # 3 training images, labels 5, 6, 7
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    split = torch.load(save_mnist_split(tmp_path / "out", val_size=1), weights_only=True)
    order = torch.randperm(3, generator=torch.Generator().manual_seed(42))
    images = mnist(train=True).data
    assert torch.equal(split["train_images"][:, 0], images[order[:2]])
    assert torch.equal(split["val_images"][:, 0], images[order[2:]])
    assert split["train_labels"].tolist() == [5 + i for i in order[:2].tolist()]
    assert split["val_labels"].tolist() == [5 + order[2].item()]
    assert torch.equal(split["test_images"][:, 0], mnist(train=False).data)  # 2 test images
    assert split["test_labels"].tolist() == [5, 6]


@pytest.mark.parametrize("val_size", [0, 12, -1])
def test_save_mnist_split_refuses_a_split_that_leaves_one_side_empty(tmp_path, val_size):
    with pytest.raises(ValueError, match="between 1 and 11 for 12 images"):
        save_mnist_split(tmp_path, val_size=val_size, dataset=_FakeMNIST(12))
    assert list(tmp_path.iterdir()) == []  # nothing written
