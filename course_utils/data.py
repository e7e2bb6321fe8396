"""Where datasets live, and loading MNIST, Fashion-MNIST and CIFAR-10.

``data_dir()`` is the one folder every lesson reads data from: the environment
variable ``COURSE_DATA_DIR`` if set, else ``data/`` at the repository root (or in
the current folder when ``course_utils`` is installed outside a checkout, as on
Colab). Every dataset is checked before it is used; downloading lives in
``course_utils.downloads``, extraction and the checks in ``course_utils.archives``.
For an offline classroom, prefetch everything once with::

    python -m course_utils.prefetch
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset
from torchvision import datasets
from tqdm.auto import tqdm

from .archives import (
    CIFAR10_LAYOUT,
    IDX_FILES,
    DatasetError,
    DatasetLayout,
    check_idx_files,
    dataset_problem,
    extract_dataset,
    gunzip,
    list_images,
)
from .downloads import CIFAR10, PublishedFile, download_idx_dataset, download_published

__all__ = [
    "data_dir",
    "mnist",
    "fashion_mnist",
    "cifar10",
    "ensure_cifar10",
    "ensure_idx_dataset",
    "dataset_to_tensors",
]

Transform = Callable | None
# CIFAR10_LAYOUT (from archives) is the layout cifar10() expects; read at call time, so
# tests can swap in a small one.


def data_dir() -> Path:
    """Return the folder datasets live in (it may not exist yet).

    ``COURSE_DATA_DIR`` if set, else ``data/`` at the repository root when
    ``course_utils`` sits in a checkout, else ``data/`` in the current folder.
    Introduced in lesson 03.
    """
    configured = os.environ.get("COURSE_DATA_DIR")
    if configured:
        return Path(configured).expanduser().resolve()
    repo_root = Path(__file__).resolve().parent.parent
    if (repo_root / "pyproject.toml").is_file() and (repo_root / "notebooks").is_dir():
        return repo_root / "data"
    return Path.cwd() / "data"


def ensure_idx_dataset(
    dataset_class: type[datasets.MNIST], root: Path | None = None, download: bool = True
) -> Path:
    """Make sure MNIST or Fashion-MNIST (``dataset_class``) is usable in ``root`` (default
    ``data_dir()``) and return its ``raw`` folder.

    Decompresses ``.gz`` files copied there by hand, downloads missing files when
    ``download`` is true (``downloads.download_idx_dataset``), then checks each IDX
    file's size and magic number, so that a problem names the folder and the file and
    says how to fix it instead of surfacing as a torchvision error. Used by ``mnist``
    and ``fashion_mnist`` (lesson 03).
    """
    root = Path(root) if root is not None else data_dir()
    raw = root / dataset_class.__name__ / "raw"
    for name in IDX_FILES:
        if not (raw / name).is_file() and (raw / f"{name}.gz").is_file():
            gunzip(raw / f"{name}.gz")  # torchvision would go to the network for these
    missing = [name for name in IDX_FILES if not (raw / name).is_file()]
    if missing and not download:
        raise FileNotFoundError(
            f"{dataset_class.__name__} is not in {root}: {raw} lacks {', '.join(missing)}. Copy "
            f"the four IDX files (uncompressed, or ending in .gz) into {raw}, set "
            "COURSE_DATA_DIR to a folder that has them, or pass download=True "
            "(`python -m course_utils.prefetch` fetches every dataset)."
        )
    if missing:
        download_idx_dataset(dataset_class, root)
    check_idx_files(raw)
    return raw


def mnist(train: bool = True, transform: Transform = None, download: bool = True) -> datasets.MNIST:
    """Return torchvision's MNIST (60,000 training or 10,000 test digits) from ``data_dir()``.

    Downloads it first when missing and ``download`` is true; checks the files first
    (see ``ensure_idx_dataset``). Introduced in lesson 03.
    """
    root = data_dir()
    ensure_idx_dataset(datasets.MNIST, root, download=download)
    return datasets.MNIST(str(root), train=train, transform=transform)


def fashion_mnist(
    train: bool = True, transform: Transform = None, download: bool = True
) -> datasets.FashionMNIST:
    """Return torchvision's Fashion-MNIST from ``data_dir()``, checked like ``mnist``.

    Lesson 03's exercise.
    """
    root = data_dir()
    ensure_idx_dataset(datasets.FashionMNIST, root, download=download)
    return datasets.FashionMNIST(str(root), train=train, transform=transform)


class _CheckedImageFolder(datasets.ImageFolder):
    """An ``ImageFolder`` over exactly the layout's classes, in their order, reading only
    the images directly inside each class folder. Plain ``ImageFolder`` would make a
    hidden ``.ipynb_checkpoints`` folder class 0 and follow symlinks into other folders."""

    def __init__(self, root: Path, layout: DatasetLayout, transform: Transform = None):
        self.layout = layout
        super().__init__(str(root), transform=transform)

    def find_classes(self, directory: str) -> tuple[list[str], dict[str, int]]:
        with os.scandir(directory) as entries:
            found = sorted(entry.name for entry in entries if not entry.name.startswith("."))
        if found != sorted(self.layout.classes):
            raise DatasetError(
                f"{directory} holds the folders {found}, not the classes "
                f"{list(self.layout.classes)}"
            )
        classes = list(self.layout.classes)
        return classes, {name: index for index, name in enumerate(classes)}

    def make_dataset(
        self, directory, class_to_idx, extensions=None, is_valid_file=None, allow_empty=False
    ) -> list[tuple[str, int]]:
        return [
            (path, index)
            for name, index in class_to_idx.items()
            for path in list_images(Path(directory) / name, self.layout)
        ]


def ensure_cifar10(
    root: Path | None = None,
    download: bool = True,
    published: PublishedFile | None = None,
    layout: DatasetLayout | None = None,
) -> Path:
    """Make sure ``root/cifar10`` (``root`` defaults to ``data_dir()``) is complete and
    return its path.

    A folder marked complete and still whole is used as it is. Otherwise it is
    (re-)extracted from ``root/cifar10.tgz``, which is downloaded first when missing
    and ``download`` is true (``downloads.download_published``, size and MD5 checked).
    An archive placed by hand is not held to the published checksum (offline copies
    differ) but checked by content (``archives.extract_dataset``). Used by ``cifar10``
    (lesson 05).
    """
    root = Path(root) if root is not None else data_dir()
    layout = layout or CIFAR10_LAYOUT
    published = published or CIFAR10
    folder = root / layout.top_folder
    problem = dataset_problem(folder, layout)
    if problem is None:
        return folder
    archive = root / published.name
    if not archive.is_file() and not download:
        where = (
            f"{folder} cannot be used ({problem}), and there is no {archive} to extract it from"
            if folder.exists()
            else f"CIFAR-10 is not in {root}: neither {folder} nor {archive} exists"
        )
        raise FileNotFoundError(
            f"{where}. Pass download=True or run `python -m course_utils.prefetch`.\n"
            f"{published.how_to_fetch(archive)}"
        )
    fetch = functools.partial(download_published, published, root) if download else None
    return extract_dataset(archive, root, layout, fetch=fetch)


def cifar10(
    train: bool = True, transform: Transform = None, download: bool = True
) -> datasets.ImageFolder:
    """Return CIFAR-10 as an ``ImageFolder`` over ``cifar10/train`` or ``cifar10/test``.

    The classes come in alphabetical order, which is CIFAR-10's label order, and the
    training and test splits always have the same ten. The folder is created from
    ``cifar10.tgz`` on first use and checked (see ``ensure_cifar10``).
    Introduced in lesson 05.
    """
    layout = CIFAR10_LAYOUT
    folder = ensure_cifar10(data_dir(), download=download, layout=layout)
    return _CheckedImageFolder(folder / ("train" if train else "test"), layout, transform)


def dataset_to_tensors(
    dataset: Dataset, batch_size: int = 1000
) -> tuple[torch.Tensor, torch.Tensor]:
    """Decode every sample of ``dataset`` once and return ``(inputs, labels)`` tensors.

    Runs the dataset's transform on each sample exactly once (with a progress
    bar), so training can then reuse the tensors every epoch instead of decoding
    and transforming every image again. Pair with ``DeviceTensorLoader``.
    Introduced in lesson 04.
    """
    if len(dataset) == 0:
        raise ValueError("the dataset is empty")
    inputs = labels = None
    filled = 0
    # Filling one preallocated tensor keeps peak memory at one copy of the data.
    loader = DataLoader(dataset, batch_size=batch_size)
    for batch_inputs, batch_labels in tqdm(loader, desc="Decoding", unit="batch"):
        if inputs is None:
            shape = (len(dataset), *batch_inputs.shape[1:])
            inputs = torch.empty(shape, dtype=batch_inputs.dtype)
            labels = torch.empty(len(dataset), dtype=torch.as_tensor(batch_labels).dtype)
        inputs[filled : filled + len(batch_inputs)] = batch_inputs
        labels[filled : filled + len(batch_inputs)] = torch.as_tensor(batch_labels)
        filled += len(batch_inputs)
    return inputs, labels


if __name__ == "__main__":
    # The command moved to course_utils.prefetch; the old spelling keeps working.
    from .prefetch import main

    arguments = sys.argv[1:]
    raise SystemExit(main(arguments[1:] if arguments[:1] == ["download"] else arguments))
