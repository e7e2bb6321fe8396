import io
import os
import shutil
import socket
import struct
import subprocess
import sys
import tarfile
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image
from torchvision import datasets

from course_utils import data, prefetch
from course_utils.archives import CIFAR10_CLASSES, CIFAR10_LAYOUT
from course_utils.downloads import CIFAR10

SMALL = replace(CIFAR10_LAYOUT, splits=(("train", 2), ("test", 1)), image_size=(4, 4))


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def make_cifar_archive(path: Path) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for split, per_class in SMALL.splits:
            for label, name in enumerate(CIFAR10_CLASSES):
                for index in range(per_class):
                    buffer = io.BytesIO()
                    Image.new("RGB", (4, 4), (label, index, 0)).save(buffer, format="PNG")
                    info = tarfile.TarInfo(f"cifar10/{split}/{name}/{index:04d}.png")
                    info.size = len(buffer.getvalue())
                    tar.addfile(info, io.BytesIO(buffer.getvalue()))
    return path


def make_tiny_mnist(root: Path) -> None:
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for prefix, count in (("train", 3), ("t10k", 2)):
        header = struct.pack(">IIII", 0x803, count, 28, 28)
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(header + bytes(count * 784))
        labels = struct.pack(">II", 0x801, count) + bytes(range(count))
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(labels)


@pytest.fixture
def root(monkeypatch, tmp_path):
    """A data folder with small data; every download goes to a closed port."""
    monkeypatch.setattr(data, "CIFAR10_LAYOUT", SMALL)
    monkeypatch.setattr(data, "CIFAR10", replace(CIFAR10, url=f"http://127.0.0.1:{closed_port()}/"))
    for dataset_class in (datasets.MNIST, datasets.FashionMNIST):
        monkeypatch.setattr(dataset_class, "mirrors", [f"http://127.0.0.1:{closed_port()}/"])
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    return tmp_path


def test_prefetch_reports_what_it_did_and_then_finds_everything_present(root, capsys):
    make_cifar_archive(root / "cifar10.tgz")
    make_tiny_mnist(root)
    assert prefetch.main(["--only", "cifar10", "mnist"]) == 0
    out = capsys.readouterr().out
    assert "CIFAR-10: extracted from the archive" in out and "20 training, 10 test" in out
    assert "MNIST: already present" in out and "3 training, 2 test" in out
    assert prefetch.main(["--only", "cifar10"]) == 0
    assert "CIFAR-10: already present" in capsys.readouterr().out


def test_prefetch_fails_for_a_dataset_it_cannot_fetch(root, capsys):
    make_tiny_mnist(root)
    assert prefetch.main([]) == 1
    captured = capsys.readouterr()
    assert "MNIST: already present" in captured.out
    assert "fashion-mnist: FAILED: Could not download FashionMNIST" in captured.err
    assert str(root / "FashionMNIST" / "raw") in captured.err
    assert "cifar10: FAILED: Could not download cifar10.tgz" in captured.err
    assert str(root / "cifar10.tgz") in captured.err


def test_an_incomplete_folder_without_the_archive_is_a_failure(root, capsys):
    archive = make_cifar_archive(root / "cifar10.tgz")
    assert prefetch.main(["--only", "cifar10"]) == 0
    archive.unlink()
    shutil.rmtree(root / "cifar10" / "train" / "cat")
    shutil.rmtree(root / "cifar10" / "train" / "dog")
    assert prefetch.main(["--only", "cifar10"]) == 1
    err = capsys.readouterr().err
    assert "is incomplete (train/ lacks the class folder(s) cat, dog)" in err
    assert "cifar10: FAILED" in err


def test_an_empty_folder_without_the_archive_is_a_failure(root, capsys):
    (root / "cifar10").mkdir()
    assert prefetch.main(["--only", "cifar10"]) == 1
    err = capsys.readouterr().err
    assert "never marked complete" in err and "cifar10: FAILED" in err


def test_a_corrupt_archive_is_a_failure(root, capsys):
    (root / "cifar10.tgz").write_bytes(b"garbage")
    assert prefetch.main(["--only", "cifar10"]) == 1
    assert "cifar10: FAILED" in capsys.readouterr().err and not (root / "cifar10").exists()


def test_the_old_command_still_works(tmp_path):
    make_tiny_mnist(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "course_utils.data", "download", "--only", "mnist"],
        env={**os.environ, "COURSE_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "MNIST: already present" in result.stdout
