import gzip
import hashlib
import io
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tarfile
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from PIL import Image
from torchvision import datasets, transforms

from course_utils import data
from course_utils.archives import CIFAR10_CLASSES, CIFAR10_LAYOUT, ArchiveError, DatasetError
from course_utils.data import (
    cifar10,
    data_dir,
    dataset_to_tensors,
    ensure_cifar10,
    fashion_mnist,
    mnist,
)
from course_utils.downloads import CIFAR10, DownloadError

# The real ten classes with a few images each: cifar10() reads data.CIFAR10_LAYOUT.
SMALL = replace(CIFAR10_LAYOUT, splits=(("train", 3), ("test", 2)), image_size=(4, 4))


@pytest.fixture
def small_cifar(monkeypatch, tmp_path):
    """A data folder holding a small cifar10.tgz; downloads go to a closed port."""
    monkeypatch.setattr(data, "CIFAR10_LAYOUT", SMALL)
    monkeypatch.setattr(data, "CIFAR10", replace(CIFAR10, url=f"http://127.0.0.1:{closed_port()}/"))
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    make_cifar_archive(tmp_path / "cifar10.tgz")
    return tmp_path


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def png_bytes(value: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (value, value, value)).save(buffer, format="PNG")
    return buffer.getvalue()


def make_cifar_archive(path: Path, skip: tuple[str, ...] = (), layout=SMALL) -> Path:
    """A small archive in the layout of the public cifar10.tgz."""
    with tarfile.open(path, "w:gz") as tar:
        for split, per_class in layout.splits:
            for label, name in enumerate(CIFAR10_CLASSES):
                if f"{split}/{name}" in skip:
                    continue
                for index in range(per_class):
                    payload = png_bytes((20 * label + index) % 256)
                    info = tarfile.TarInfo(f"cifar10/{split}/{name}/{index:04d}.png")
                    info.size = len(payload)
                    tar.addfile(info, io.BytesIO(payload))
    return path


def test_data_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    assert data_dir() == tmp_path.resolve()


def test_data_dir_defaults_to_data_at_the_repository_root(monkeypatch):
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    assert data_dir() == Path(data.__file__).resolve().parents[1] / "data"


def test_cifar10_returns_an_image_folder_from_the_archive(small_cifar):
    train, test = cifar10(train=True), cifar10(train=False)
    assert isinstance(train, datasets.ImageFolder)
    assert (len(train), len(test)) == (30, 20)
    assert train.classes == test.classes == list(CIFAR10_CLASSES)
    image, label = train[4]
    assert label == 1 and image.size == (4, 4)
    assert train.samples == datasets.ImageFolder(str(small_cifar / "cifar10" / "train")).samples


def test_an_incomplete_folder_is_extracted_again_when_the_archive_is_there(small_cifar):
    folder = small_cifar / "cifar10"
    cifar10(train=True)
    shutil.rmtree(folder / "train" / "cat")
    shutil.rmtree(folder / "train" / "dog")
    (folder / "test" / "ship" / "0001.png").unlink()
    train, test = cifar10(train=True), cifar10(train=False)
    assert (len(train.classes), len(train), len(test)) == (10, 30, 20)


def test_an_incomplete_folder_without_the_archive_is_refused(small_cifar):
    folder = small_cifar / "cifar10"
    cifar10(train=True)
    (small_cifar / "cifar10.tgz").unlink()
    shutil.rmtree(folder / "train" / "cat")
    with pytest.raises(FileNotFoundError, match=r"train/ lacks the class folder\(s\) cat") as error:
        cifar10(train=True, download=False)
    assert str(folder) in str(error.value) and "cifar10.tgz" in str(error.value)
    with pytest.raises(DownloadError, match="Could not download cifar10.tgz"):
        cifar10(train=True)  # with download allowed it tries the (closed) network


def test_an_empty_folder_without_the_archive_is_refused(small_cifar):
    (small_cifar / "cifar10.tgz").unlink()
    (small_cifar / "cifar10").mkdir()
    with pytest.raises(FileNotFoundError, match="never marked complete"):
        cifar10(train=False, download=False)


def test_a_training_split_missing_a_class_is_refused(small_cifar):
    make_cifar_archive(small_cifar / "cifar10.tgz", skip=("train/frog",))
    with pytest.raises(ArchiveError, match=r"train/ lacks the class folder\(s\) frog"):
        cifar10(train=True)
    assert not (small_cifar / "cifar10").exists()


def test_a_hidden_checkpoints_folder_does_not_become_class_0(small_cifar):
    folder = small_cifar / "cifar10"
    cifar10(train=True)
    checkpoints = folder / "train" / ".ipynb_checkpoints"
    checkpoints.mkdir()
    (checkpoints / "0000-checkpoint.png").write_bytes(png_bytes(1))
    train = cifar10(train=True)
    assert train.classes == list(CIFAR10_CLASSES) and len(train) == 30
    assert train.targets[:4] == [0, 0, 0, 1]


def test_a_symlink_loop_in_an_extracted_folder_does_not_multiply_the_images(small_cifar):
    folder = small_cifar / "cifar10"
    cifar10(train=True)
    os.symlink("..", folder / "train" / "sub")
    train = cifar10(train=True)  # extracted again: the folder no longer matched the dataset
    assert len(train) == 30 and not (folder / "train" / "sub").is_symlink()


def test_cifar10_without_data_and_without_download_says_what_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="CIFAR-10 is not in") as error:
        ensure_cifar10(tmp_path, download=False)
    assert str(tmp_path / "cifar10.tgz") in str(error.value) and CIFAR10.md5 in str(error.value)


def test_ensure_cifar10_downloads_a_missing_archive_and_checks_it(tmp_path):
    source = make_cifar_archive(tmp_path / "published.tgz")
    payload = source.read_bytes()
    spec = replace(
        CIFAR10, url=source.as_uri(), size=len(payload), md5=hashlib.md5(payload).hexdigest()
    )
    root = tmp_path / "root"
    folder = ensure_cifar10(root, published=spec, layout=SMALL)
    assert (root / "cifar10.tgz").read_bytes() == payload
    assert len(list((folder / "test" / "cat").iterdir())) == 2


WORKER = """
import json, os, sys, time
from dataclasses import replace
from pathlib import Path
from course_utils import data
data.CIFAR10_LAYOUT = replace(data.CIFAR10_LAYOUT, splits=(("train", 200), ("test", 50)),
                              image_size=(4, 4))
signals = Path(sys.argv[1])
(signals / f"ready-{os.getpid()}").touch()
while not (signals / "go").exists():  # both start extracting at the same moment
    time.sleep(0.005)
train, test = data.cifar10(train=True), data.cifar10(train=False)
print(json.dumps([len(train), len(test), len(train.classes), len(test.classes)]))
"""


def test_two_processes_preparing_cifar10_at_once_both_see_the_whole_dataset(
    small_cifar, tmp_path_factory
):
    # Enough images that the two extractions would overlap without the lock.
    make_cifar_archive(
        small_cifar / "cifar10.tgz", layout=replace(SMALL, splits=(("train", 200), ("test", 50)))
    )
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
    left = sorted(path.name for path in small_cifar.iterdir())
    assert left == [".cifar10.lock", "cifar10", "cifar10.tgz"]  # no staging, no .part


def write_idx(path: Path, array: torch.Tensor, magic: int) -> None:
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", size) for size in array.shape)
    path.write_bytes(header + array.numpy().astype("uint8").tobytes())


def make_tiny_idx(root: Path, folder: str = "MNIST") -> Path:
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    for prefix, count in (("train", 3), ("t10k", 2)):
        images = torch.arange(count * 28 * 28).reshape(count, 28, 28) % 256
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images, 0x803)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", torch.arange(count) + 5, 0x801)
    return raw


@pytest.fixture
def offline(monkeypatch):
    """torchvision's MNIST and Fashion-MNIST mirrors point at a closed port."""
    for dataset_class in (datasets.MNIST, datasets.FashionMNIST):
        monkeypatch.setattr(dataset_class, "mirrors", [f"http://127.0.0.1:{closed_port()}/"])


LOADERS = {"MNIST": mnist, "FashionMNIST": fashion_mnist}


@pytest.mark.parametrize("folder", LOADERS)
def test_mnist_reads_the_data_folder_without_downloading(monkeypatch, tmp_path, offline, folder):
    make_tiny_idx(tmp_path, folder)
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
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("folder", LOADERS)
def test_mnist_offline_names_the_folder_and_leaves_no_empty_folder(
    monkeypatch, tmp_path, offline, folder
):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    with pytest.raises(DownloadError, match="copy the four files") as error:
        LOADERS[folder](train=True)
    assert str(tmp_path / folder / "raw") in str(error.value)
    assert list(tmp_path.iterdir()) == []


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-100])


def wrong_magic(path: Path) -> None:
    write_idx(path, torch.zeros(3, 28, 28), 0x801)


@pytest.mark.parametrize("damage, message", [(truncate, "is truncated"), (wrong_magic, "magic")])
def test_a_damaged_mnist_file_is_named_with_what_to_do(monkeypatch, tmp_path, damage, message):
    raw = make_tiny_idx(tmp_path)
    damage(raw / "train-images-idx3-ubyte")
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    with pytest.raises(DatasetError, match=message) as error:
        mnist(train=True)
    assert str(raw / "train-images-idx3-ubyte") in str(error.value)
    assert "Delete it" in str(error.value)


def test_mnist_as_gz_files_only_is_decompressed_without_the_network(monkeypatch, tmp_path, offline):
    raw = make_tiny_idx(tmp_path)
    for path in list(raw.iterdir()):
        path.with_name(path.name + ".gz").write_bytes(gzip.compress(path.read_bytes()))
        path.unlink()
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    assert len(mnist(train=True)) == 3 and len(mnist(train=False)) == 2


def test_a_damaged_gz_file_is_named(monkeypatch, tmp_path, offline):
    raw = make_tiny_idx(tmp_path)
    labels = raw / "t10k-labels-idx1-ubyte"
    (raw / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(labels.read_bytes())[:-12])
    labels.unlink()
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    with pytest.raises(DatasetError, match=r"t10k-labels-idx1-ubyte\.gz is damaged"):
        mnist(train=False)


def test_dataset_to_tensors_decodes_each_sample_once(small_cifar):
    dataset = cifar10(train=True, transform=transforms.ToTensor())
    inputs, labels = dataset_to_tensors(dataset, batch_size=4)
    assert inputs.shape == (30, 3, 4, 4) and labels.tolist()[:7] == [0, 0, 0, 1, 1, 1, 2]
    assert torch.equal(inputs[4], dataset[4][0])


def test_dataset_to_tensors_rejects_an_empty_dataset():
    with pytest.raises(ValueError, match="empty"):
        dataset_to_tensors([])
