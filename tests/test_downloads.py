import builtins
import errno
import hashlib
import http.server
import os
import socket
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from torchvision import datasets

from course_utils import downloads
from course_utils.archives import DataFolderError
from course_utils.downloads import (
    CIFAR10,
    DownloadError,
    PublishedFile,
    download_idx_dataset,
    download_published,
)

PAYLOAD = os.urandom((5 << 20) // 2)  # 2.5 MiB: several chunks of the 1 MiB stream


def published(tmp_path: Path, payload: bytes = PAYLOAD) -> PublishedFile:
    source = tmp_path / "published" / "cifar10.tgz"
    source.parent.mkdir(exist_ok=True)
    source.write_bytes(payload)
    md5 = hashlib.md5(payload).hexdigest()
    return PublishedFile("cifar10.tgz", source.as_uri(), len(payload), md5)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def assert_says_what_to_do(message: str, spec: PublishedFile, destination: Path) -> None:
    for fact in (spec.name, spec.url, f"{spec.size:,} bytes", spec.md5, str(destination)):
        assert fact in message, f"{fact!r} missing from: {message}"


def test_the_cifar10_archive_is_checked_against_its_published_size_and_md5():
    assert CIFAR10.name == "cifar10.tgz"
    assert CIFAR10.url == "https://s3.amazonaws.com/fast-ai-imageclas/cifar10.tgz"
    assert (CIFAR10.size, CIFAR10.md5) == (168_168_549, "a5f8c31371b63a406b23368042812d3c")


def test_a_matching_file_is_kept(tmp_path):
    spec = published(tmp_path)
    path = download_published(spec, tmp_path / "data")
    assert path == tmp_path / "data" / "cifar10.tgz" and path.read_bytes() == PAYLOAD
    assert sorted(p.name for p in path.parent.iterdir()) == ["cifar10.tgz"]


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(size=len(PAYLOAD) + 1), "offers 2,621,440 bytes, but the published"),
        (dict(md5="0" * 32), "has MD5 .* not the published 0000"),
    ],
)
def test_a_tampered_file_is_not_kept_and_the_message_says_what_to_do(tmp_path, change, message):
    spec = replace(published(tmp_path), **change)
    folder = tmp_path / "data"
    with pytest.raises(DownloadError, match=message) as error:
        download_published(spec, folder)
    assert_says_what_to_do(str(error.value), spec, folder / "cifar10.tgz")
    assert list(folder.iterdir()) == []


class TruncatingHandler(http.server.BaseHTTPRequestHandler):
    """Announces the whole file, sends half of it, and hangs up."""

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(PAYLOAD)))
        self.end_headers()
        self.wfile.write(PAYLOAD[: len(PAYLOAD) // 2])
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture
def truncating_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), TruncatingHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/cifar10.tgz"
    server.shutdown()
    server.server_close()


def test_an_interrupted_stream_leaves_nothing(tmp_path, truncating_server):
    spec = replace(published(tmp_path), url=truncating_server)
    folder = tmp_path / "data"
    with pytest.raises(DownloadError, match="cut short: 1,310,720 of 2,621,440 bytes") as error:
        download_published(spec, folder)
    assert_says_what_to_do(str(error.value), spec, folder / "cifar10.tgz")
    assert list(folder.iterdir()) == []


def test_ctrl_c_during_the_download_leaves_nothing(tmp_path, monkeypatch):
    spec = published(tmp_path)
    real_urlopen = downloads.urllib.request.urlopen

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

    monkeypatch.setattr(downloads.urllib.request, "urlopen", urlopen)
    folder = tmp_path / "data"
    with pytest.raises(KeyboardInterrupt):
        download_published(spec, folder)
    assert list(folder.iterdir()) == []


def test_without_a_network_the_message_says_what_to_fetch_and_where_to_put_it(tmp_path):
    spec = replace(CIFAR10, url=f"http://127.0.0.1:{closed_port()}/cifar10.tgz")
    folder = tmp_path / "data"
    with pytest.raises(DownloadError, match="Could not download cifar10.tgz") as error:
        download_published(spec, folder)
    assert_says_what_to_do(str(error.value), spec, folder / "cifar10.tgz")
    assert "168,168,549 bytes" in str(error.value)
    assert list(folder.iterdir()) == []


def test_a_full_disk_during_the_download_is_reported_as_such(tmp_path, monkeypatch):
    spec = published(tmp_path)
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
        download_published(spec, folder)
    monkeypatch.undo()
    assert "delete" not in str(error.value).lower()
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize("dataset_class", [datasets.MNIST, datasets.FashionMNIST])
def test_a_failed_idx_download_names_the_folder_and_cleans_up(tmp_path, monkeypatch, dataset_class):
    monkeypatch.setattr(dataset_class, "mirrors", [f"http://127.0.0.1:{closed_port()}/"])
    raw = tmp_path / dataset_class.__name__ / "raw"
    with pytest.raises(DownloadError, match="Could not download") as error:
        download_idx_dataset(dataset_class, tmp_path)
    message = str(error.value)
    assert str(raw) in message and "train-images-idx3-ubyte" in message and ".gz" in message
    assert list(tmp_path.iterdir()) == []  # no empty FashionMNIST/raw left behind


def test_a_failed_idx_download_keeps_what_was_there(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets.MNIST, "mirrors", [f"http://127.0.0.1:{closed_port()}/"])
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    (raw / "notes.txt").write_text("mine")
    with pytest.raises(DownloadError):
        download_idx_dataset(datasets.MNIST, tmp_path)
    assert [p.name for p in raw.iterdir()] == ["notes.txt"]
