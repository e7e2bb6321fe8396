"""Where datasets live, and loading MNIST, Fashion-MNIST and CIFAR-10.

``data_dir()`` is the one folder every lesson reads data from: the environment
variable ``COURSE_DATA_DIR`` if set, else ``data/`` at the repository root (or in
the current folder when ``course_utils`` is installed outside a checkout, as on
Colab). For an offline classroom, prefetch everything once with::

    python -m course_utils.data download
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset
from torchvision import datasets
from tqdm.auto import tqdm

__all__ = [
    "CIFAR10_URL",
    "ArchiveError",
    "data_dir",
    "mnist",
    "fashion_mnist",
    "cifar10",
    "ensure_cifar10",
    "extract_archive",
    "download_file",
    "download_all",
    "dataset_to_tensors",
]

CIFAR10_URL = "https://s3.amazonaws.com/fast-ai-imageclas/cifar10.tgz"
CIFAR10_ARCHIVE = "cifar10.tgz"
CIFAR10_FOLDER = "cifar10"

Transform = Callable | None


class ArchiveError(RuntimeError):
    """An archive is truncated, corrupt, unsafe or not laid out as expected."""


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


def mnist(train: bool = True, transform: Transform = None, download: bool = True) -> datasets.MNIST:
    """Return torchvision's MNIST (60,000 training or 10,000 test digits) from ``data_dir()``.

    Downloads it first when missing and ``download`` is true. Introduced in lesson 03.
    """
    return datasets.MNIST(str(data_dir()), train=train, transform=transform, download=download)


def fashion_mnist(train: bool = True, transform: Transform = None, download: bool = True) -> datasets.FashionMNIST:
    """Return torchvision's Fashion-MNIST from ``data_dir()`` (lesson 03's exercise)."""
    return datasets.FashionMNIST(str(data_dir()), train=train, transform=transform, download=download)


def cifar10(train: bool = True, transform: Transform = None, download: bool = True) -> datasets.ImageFolder:
    """Return CIFAR-10 as an ``ImageFolder`` over ``cifar10/train`` or ``cifar10/test``.

    The classes come in alphabetical order, which is CIFAR-10's label order. The
    folder is created from ``cifar10.tgz`` on first use (see ``ensure_cifar10``).
    Introduced in lesson 05.
    """
    folder = ensure_cifar10(data_dir(), download=download)
    return datasets.ImageFolder(str(folder / ("train" if train else "test")), transform=transform)


def dataset_to_tensors(dataset: Dataset, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
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
    for batch_inputs, batch_labels in tqdm(DataLoader(dataset, batch_size=batch_size), desc="Decoding", unit="batch"):
        if inputs is None:
            inputs = torch.empty((len(dataset), *batch_inputs.shape[1:]), dtype=batch_inputs.dtype)
            labels = torch.empty(len(dataset), dtype=torch.as_tensor(batch_labels).dtype)
        inputs[filled : filled + len(batch_inputs)] = batch_inputs
        labels[filled : filled + len(batch_inputs)] = torch.as_tensor(batch_labels)
        filled += len(batch_inputs)
    return inputs, labels


def ensure_cifar10(root: Path, download: bool = True, url: str = CIFAR10_URL) -> Path:
    """Make sure ``root/cifar10`` exists and return its path.

    Uses ``root/cifar10.tgz`` when present, else downloads it from ``url`` (when
    ``download`` is true), then extracts it with ``extract_archive``.
    """
    root = Path(root)
    folder = root / CIFAR10_FOLDER
    if folder.is_dir():
        return folder
    archive = root / CIFAR10_ARCHIVE
    if not archive.is_file():
        if not download:
            raise FileNotFoundError(
                f"CIFAR-10 is not in {root}: neither {folder} nor {archive} exists "
                "(pass download=True or run `python -m course_utils.data download`)"
            )
        download_file(url, archive)
    return extract_archive(archive, root, top_folder=CIFAR10_FOLDER)


def _corrupt(archive: Path, error: BaseException) -> ArchiveError:
    return ArchiveError(
        f"{archive} is truncated or corrupt ({type(error).__name__}: {error}). "
        "Delete it and run again to download a fresh copy, or download it again by hand."
    )


def extract_archive(archive: Path, destination: Path, top_folder: str) -> Path:
    """Extract the ``.tgz`` ``archive`` whose members all sit in ``top_folder/``.

    The whole archive is read and every member checked before anything is
    written: a truncated or corrupt file raises ``ArchiveError`` naming it, and so
    does a member that would land outside the destination (tarfile's ``data``
    filter). Extraction goes to a temporary folder beside the target, which is
    then renamed into place, so an interrupted run never leaves half a dataset.
    Returns ``destination / top_folder``.
    """
    if not hasattr(tarfile, "data_filter"):
        raise RuntimeError("safe extraction needs Python 3.10.12, 3.11.4 or newer (tarfile's data filter)")
    archive, destination = Path(archive), Path(destination)
    target = destination / top_folder
    destination.mkdir(parents=True, exist_ok=True)
    for stale in destination.glob(f".{top_folder}-extract-*"):
        shutil.rmtree(stale, ignore_errors=True)  # left by an earlier run that was killed
    staging = Path(tempfile.mkdtemp(prefix=f".{top_folder}-extract-", dir=destination))
    try:
        try:
            with tarfile.open(archive, "r:gz") as tar:
                members = tar.getmembers()  # reads to the end: catches truncation early
                _check_members(archive, members, staging, top_folder)
                tar.extractall(staging, members=members, filter="data")
        except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
            if isinstance(error, FileNotFoundError):
                raise
            raise _corrupt(archive, error) from error
        os.rename(staging / top_folder, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _check_members(archive: Path, members: list[tarfile.TarInfo], staging: Path, top_folder: str) -> None:
    if not members:
        raise ArchiveError(f"{archive} is empty")
    for member in members:
        try:
            tarfile.data_filter(member, str(staging))
        except tarfile.FilterError as error:
            raise ArchiveError(f"{archive} is unsafe: member {member.name!r} was refused ({error}); nothing was extracted") from error
        if Path(member.name).parts[0] != top_folder:
            raise ArchiveError(f"{archive} is not laid out as expected: member {member.name!r} is outside {top_folder}/")


def download_file(url: str, destination: Path) -> Path:
    """Download ``url`` to ``destination`` with a progress bar and return the path.

    Writes to ``destination.part`` and renames when complete, so an interrupted
    download never looks finished.
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(partial, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=destination.name) as progress:
                while chunk := response.read(1 << 20):
                    out.write(chunk)
                    progress.update(len(chunk))
    except (urllib.error.URLError, OSError) as error:
        partial.unlink(missing_ok=True)
        raise RuntimeError(
            f"could not download {url} ({error}). Copy {destination.name} into {destination.parent} "
            "by hand, or set COURSE_DATA_DIR to a folder that has it."
        ) from error
    os.replace(partial, destination)
    return destination


def _fetch_torchvision(dataset_class: type, root: Path) -> str:
    try:
        dataset_class(str(root), train=True, download=False)
        action = "already present"
    except RuntimeError:
        action = "downloaded"
    sizes = [len(dataset_class(str(root), train=train, download=True)) for train in (True, False)]
    return f"{dataset_class.__name__}: {action} in {root} ({sizes[0]:,} training, {sizes[1]:,} test images)"


def _fetch_cifar10(root: Path) -> str:
    had_folder = (root / CIFAR10_FOLDER).is_dir()
    had_archive = (root / CIFAR10_ARCHIVE).is_file()
    folder = ensure_cifar10(root)
    counts = {split: sum(1 for _ in (folder / split).glob("*/*")) for split in ("train", "test")}
    action = "already present" if had_folder else ("extracted from the archive" if had_archive else "downloaded and extracted")
    return f"CIFAR-10: {action} in {folder} ({counts['train']:,} training, {counts['test']:,} test images)"


FETCHERS: dict[str, Callable[[Path], str]] = {
    "mnist": lambda root: _fetch_torchvision(datasets.MNIST, root),
    "fashion-mnist": lambda root: _fetch_torchvision(datasets.FashionMNIST, root),
    "cifar10": _fetch_cifar10,
}


def download_all(root: Path, names: Sequence[str] = tuple(FETCHERS)) -> list[str]:
    """Fetch the named datasets into ``root`` and return one report line per dataset."""
    unknown = sorted(set(names) - set(FETCHERS))
    if unknown:
        raise ValueError(f"unknown dataset(s) {unknown}; choose from {sorted(FETCHERS)}")
    return [FETCHERS[name](Path(root)) for name in names]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils.data", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    download = commands.add_parser("download", help="fetch every dataset the course uses into data_dir()")
    download.add_argument("--only", nargs="+", choices=sorted(FETCHERS), default=list(FETCHERS))
    args = parser.parse_args(argv)
    root = data_dir()
    print(f"Data folder: {root}")
    failed = False
    for name in args.only:
        try:
            print(download_all(root, [name])[0])
        except (RuntimeError, OSError) as error:
            failed = True
            print(f"{name}: FAILED: {error}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
