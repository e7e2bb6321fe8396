"""Where datasets live (``data_dir()``), and MNIST, Fashion-MNIST and CIFAR-10, checked.

Downloads are kept only when their MD5 matches; MNIST's IDX files are checked by size
and header; CIFAR-10's archive is checked member by member before anything is written,
extracted into a staging folder, checked image by image, marked complete and renamed
into place, one process at a time. README.md's "Data" section lists every guarantee.
For an offline classroom: ``python -m course_utils.prefetch``.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import json
import math
import os
import re
import shutil
import socket
import struct
import sys
import tarfile
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from filelock import FileLock, Timeout
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import datasets
from torchvision.datasets.utils import calculate_md5, download_url, extract_archive
from tqdm.auto import tqdm

__all__ = ["data_dir", "mnist", "fashion_mnist", "cifar10", "dataset_to_tensors"]  # lessons'
__all__ += ["save_mnist_split"]  # lesson 06's
__all__ += ["ensure_idx_dataset", "check_idx_files", "ensure_cifar10", "dataset_problem"]
__all__ += ["download_published", "list_images", "folder_error", "PublishedArchive", "CIFAR10"]
__all__ += ["DatasetError", "DownloadError", "DataFolderError", "IDX_FILES", "MARKER"]
MARKER = ".complete.json"  # written into a dataset folder once it is extracted and checked
_DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_FOLDER_ERRNOS = {*_DISK_FULL, errno.EACCES, errno.EPERM, errno.EROFS}  # the disk's, not the data's
# File name -> (magic number, shape of one item) for MNIST and Fashion-MNIST.
IDX_FILES = {
    "train-images-idx3-ubyte": (0x803, (28, 28)),
    "train-labels-idx1-ubyte": (0x801, ()),
    "t10k-images-idx3-ubyte": (0x803, (28, 28)),
    "t10k-labels-idx1-ubyte": (0x801, ()),
}
# gzip.BadGzipFile is an OSError too: data errors are told from disk errors first.
_CORRUPT = (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile)
_REPLACE = "Replace it with a good copy, or delete it and run again to download a fresh one."
Transform = Callable | None


class DatasetError(RuntimeError):
    """A dataset (a folder, a file or an archive) is incomplete, damaged or unsafe."""


class DownloadError(RuntimeError):
    """A download failed, or what arrived is not the published file; nothing was kept."""


class DataFolderError(OSError):
    """The data folder failed, not the data: a full disk, no permission, a read-only disk."""

    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        self.errno = code


@dataclass(frozen=True)
class PublishedArchive:
    """An image-folder dataset published as a ``.tgz``: the file (``name``, ``url``, and the
    ``size`` and ``md5`` its publisher lists) and what it holds, ``top_folder/<split>/<class>/
    <image>`` (``splits`` pairs each split with its images per class; ``extra_files`` may sit
    in ``top_folder``). ``CIFAR10`` is the one the course uses; tests pass small ones."""

    name: str
    url: str
    size: int
    md5: str
    top_folder: str
    classes: tuple[str, ...]
    splits: tuple[tuple[str, int], ...]
    extra_files: tuple[str, ...] = ()
    image_size: tuple[int, int] | None = None
    extensions: tuple[str, ...] = (".png", ".jpg", ".jpeg")
    max_file_size: int = 1 << 20

    def how_to_fetch(self, destination: Path) -> str:
        """Say how to fetch the archive by hand and where to put it."""
        return (
            f"Fetch it by hand on a machine with internet access:\n    file: {self.name}\n"
            f"    from: {self.url}\n    size: {self.size:,} bytes\n    MD5:  {self.md5}\n"
            f"and put it at {destination}\n(or copy a data folder that already has it and set "
            "COURSE_DATA_DIR to it)."
        )

    def marker(self) -> dict:
        """What ``MARKER`` holds in a folder checked against this dataset."""
        return {"format": 1, "classes": list(self.classes), "splits": dict(self.splits)}


# The image-folder CIFAR-10 of fast.ai (size and MD5 as in fastai's download checks).
CIFAR10 = PublishedArchive(
    name="cifar10.tgz",
    url="https://s3.amazonaws.com/fast-ai-imageclas/cifar10.tgz",
    size=168_168_549,
    md5="a5f8c31371b63a406b23368042812d3c",
    top_folder="cifar10",
    classes=tuple("airplane automobile bird cat deer dog frog horse ship truck".split()),
    splits=(("train", 5000), ("test", 1000)),
    extra_files=("labels.txt",),
    image_size=(32, 32),
)


def data_dir() -> Path:
    """Return the folder datasets live in (it may not exist yet): ``COURSE_DATA_DIR`` if
    set, else ``data/`` at the repository root when ``course_utils`` sits in a checkout,
    else ``data/`` in the current folder (Colab). Introduced in lesson 03."""
    if configured := os.environ.get("COURSE_DATA_DIR"):
        return Path(configured).expanduser().resolve()
    repo_root = Path(__file__).resolve().parent.parent
    if (repo_root / "pyproject.toml").is_file() and (repo_root / "notebooks").is_dir():
        return repo_root / "data"
    return Path.cwd() / "data"


def folder_error(error: OSError, folder: Path, needed: int | None = None) -> DataFolderError:
    """Return a ``DataFolderError`` saying what ``error``, met writing into ``folder``, is (a
    full disk, no permission, a read-only disk) and what to do; ``needed`` is in bytes."""
    if error.errno in _DISK_FULL:
        size = f" (this needs about {needed / 1e6:,.0f} MB)" if needed else ""
        text = f"The disk is full: could not write into {folder}{size}. Free some space and "
        text += "run again. The files already there are fine: keep them."
    elif error.errno in (errno.EACCES, errno.EPERM):
        text = f"Permission denied: cannot write into {folder} ({error}). Make it writable, "
        text += "or set COURSE_DATA_DIR to a folder you can write to."
    elif error.errno == errno.EROFS:
        text = f"{folder} is on a read-only file system. Set COURSE_DATA_DIR to a writable "
        text += "folder, or prepare the data there once (python -m course_utils.prefetch)."
    else:
        text = f"Could not use {folder}: {error}"
    return DataFolderError(text, error.errno)


def _fetch(what: str, folder: Path, action: Callable, how: str, needed: int | None = None):
    """Run the download ``action``; a failure says what could not be fetched and ``how``."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(previous or 60.0)  # torchvision opens URLs without a timeout
    try:
        action()
    except (DownloadError, DataFolderError):
        raise
    except Exception as error:
        if isinstance(error, OSError) and error.errno in _FOLDER_ERRNOS:
            raise folder_error(error, folder, needed) from error
        reason = " ".join(str(getattr(error, "reason", None) or error).split())[:300]
        raise DownloadError(f"Could not download {what} ({reason}).\n{how}") from error
    finally:
        socket.setdefaulttimeout(previous)


def download_published(archive: PublishedArchive, folder: Path) -> Path:
    """Download ``archive`` into ``folder`` and return its path. It goes to ``<name>.part``,
    renamed only when its size and MD5 match; any failure (Ctrl-C too) removes it and
    says what to fetch by hand. Used by ``ensure_cifar10`` under its lock (lesson 05)."""
    target, part = Path(folder) / archive.name, Path(folder) / f"{archive.name}.part"
    what, how = f"{archive.name} from {archive.url}", archive.how_to_fetch(target)

    def fetch_and_check() -> None:
        part.parent.mkdir(parents=True, exist_ok=True)
        part.unlink(missing_ok=True)  # download_url would take a .part left by a killed run
        # download_url keeps whatever arrived under the name it is given: the .part one.
        download_url(archive.url, str(part.parent), part.name)
        size, md5 = part.stat().st_size, None
        if size == archive.size and (md5 := calculate_md5(part)) == archive.md5:
            return os.replace(part, target)
        raise DownloadError(
            f"{what} has {f'MD5 {md5}' if md5 else f'{size:,} bytes'}, unlike the published "
            f"file: it was cut short, is damaged or is not that file; nothing was kept.\n{how}"
        )

    try:
        _fetch(what, part.parent, fetch_and_check, how, archive.size)
    except BaseException:
        with contextlib.suppress(OSError):
            part.unlink()
        raise
    return target


def _idx_problem(path: Path) -> str | None:
    """What is wrong with the raw IDX file ``path`` (magic number, item shape, size), or None."""
    # torchvision's reader fails on a bad file with a bare assert or shape error, naming none.
    magic, item_shape = IDX_FILES[path.name]
    header_size = 4 * (2 + len(item_shape))
    try:
        with open(path, "rb") as source:
            size, header = os.fstat(source.fileno()).st_size, source.read(header_size)
    except OSError as error:
        return "is missing" if isinstance(error, FileNotFoundError) else f"unreadable ({error})"
    if header[:2] == b"\x1f\x8b":
        return f"is gzip-compressed: rename it to {path.name}.gz (decompressed on first use)"
    if len(header) < header_size:
        return f"is truncated: {size:,} bytes, shorter than its {header_size}-byte header"
    found, *shape = struct.unpack(f">{2 + len(item_shape)}I", header)
    if found != magic:
        kind = "image" if item_shape else "label"
        return f"is not an IDX {kind} file (magic number 0x{found:08x}, expected 0x{magic:08x})"
    if tuple(shape[1:]) != item_shape:
        return f"holds items of shape {tuple(shape[1:])}, expected {item_shape}"
    if size != (expected := header_size + math.prod(shape)):
        return f"is truncated or damaged: {size:,} bytes, its header announces {expected:,}"
    return None


def check_idx_files(raw: Path) -> dict[str, int]:
    """Check the four raw IDX files of MNIST or Fashion-MNIST in ``raw`` (size, header, and
    images and labels from one copy); return the images per split (``train``, ``t10k``).
    ``DatasetError`` names the file and the fix. Used by ``mnist`` (lesson 03)."""
    raw, counts = Path(raw), {}
    for name in IDX_FILES:
        if problem := _idx_problem(raw / name):
            raise DatasetError(
                f"{raw / name} {problem}. Delete it and run again to download a fresh copy, or "
                f"copy a good {name} (uncompressed, or as {name}.gz) into {raw}."
            )
        with open(raw / name, "rb") as source:
            counts[tuple(name.split("-")[:2])] = struct.unpack(">I", source.read(8)[4:])[0]
    for split in ("train", "t10k"):
        if counts[split, "images"] != counts[split, "labels"]:
            raise DatasetError(
                f"{raw}: {split}-images-idx3-ubyte holds {counts[split, 'images']:,} images but "
                f"{split}-labels-idx1-ubyte {counts[split, 'labels']:,} labels; they come from "
                "different copies. Copy both files again from one source."
            )
    return {"train": counts["train", "images"], "t10k": counts["t10k", "images"]}


def ensure_idx_dataset(
    dataset_class: type[datasets.MNIST], root: Path | None = None, download: bool = True
) -> Path:
    """Make MNIST or Fashion-MNIST (``dataset_class``) usable in ``root`` (default
    ``data_dir()``) and return its ``raw`` folder: ``.gz`` files copied there by hand are
    decompressed, missing files downloaded when ``download`` is true (torchvision checks
    its MD5s), the IDX files checked. Used by ``mnist`` and ``fashion_mnist`` (lesson 03)."""
    root = Path(root) if root is not None else data_dir()
    raw = root / dataset_class.__name__ / "raw"
    for name in [name for name in IDX_FILES if not (raw / name).is_file()]:
        if (compressed := raw / f"{name}.gz").is_file():
            # torchvision unpacks a .gz only while downloading, in place: a temporary folder here
            try:
                with tempfile.TemporaryDirectory(prefix=".gunzip-", dir=raw) as temporary:
                    os.replace(extract_archive(str(compressed), temporary), raw / name)
            except _CORRUPT as error:
                raise DatasetError(
                    f"{compressed} is damaged ({error}). Delete it and run again to download a "
                    f"fresh copy, or copy a good {name} (or {name}.gz) into {raw}."
                ) from error
            except OSError as error:
                raise folder_error(error, raw) from error
    if missing := [name for name in IDX_FILES if not (raw / name).is_file()]:
        how = (
            f"copy the four files {', '.join(IDX_FILES)} (uncompressed, or the same names "
            f"ending in .gz, which are decompressed on first use) into {raw}, for example from "
            f"the data folder of a machine that has them (published at "
            f"{dataset_class.mirrors[0]}), or set COURSE_DATA_DIR to a folder that has them."
        )
        if not download:
            raise FileNotFoundError(
                f"{dataset_class.__name__} is not in {root}: {raw} lacks {', '.join(missing)}. "
                f"Pass download=True, run `python -m course_utils.prefetch`, or {how}"
            )

        def fetch() -> None:  # torchvision leaves the files of a failed download behind
            root.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(prefix=".download-", dir=root) as temporary:
                dataset_class(temporary, train=False, download=True)  # checks its MD5s
                raw.mkdir(parents=True, exist_ok=True)
                for path in (Path(temporary) / dataset_class.__name__ / "raw").iterdir():
                    os.replace(path, raw / path.name)

        _fetch(f"{dataset_class.__name__} into {raw}", raw, fetch, f"To fix it, {how}")
    check_idx_files(raw)
    return raw


def mnist(train: bool = True, transform: Transform = None, download: bool = True) -> datasets.MNIST:
    """Return torchvision's MNIST (60,000 training or 10,000 test digits) from ``data_dir()``,
    fetched and checked by ``ensure_idx_dataset``. Introduced in lesson 03."""
    raw = ensure_idx_dataset(datasets.MNIST, data_dir(), download=download)
    return datasets.MNIST(str(raw.parents[1]), train=train, transform=transform)


def save_mnist_split(
    folder: str | Path,
    seed: int = 42,
    val_size: int = 10_000,
    dataset: Dataset | None = None,
    test_dataset: Dataset | None = None,
) -> Path:
    """Save lesson 03's seeded split of MNIST's training images, and its test images, as
    uint8, in one file in ``folder`` (created if missing), ``mnist_uint8.pt``, and return its
    path.

    A ``torch.randperm`` seeded with ``seed`` orders the training images; the last
    ``val_size`` of that order are the validation split, the rest the training split. The
    file holds ``train_images``, ``val_images`` and ``test_images`` (N, 1, 28, 28, uint8) and
    ``train_labels``, ``val_labels`` and ``test_labels``, for ``torch.load(path, mmap=True)``,
    as lesson 06's scripts and notebook read it. ``dataset`` (default ``mnist(train=True)``,
    60,000 images) and ``test_dataset`` (default ``mnist(train=False)``) need ``.data``
    (N, 28, 28) and ``.targets``. Raises ``ValueError`` unless both training splits get at
    least one image. Introduced in lesson 06."""
    dataset = mnist(train=True) if dataset is None else dataset
    count = len(dataset.data)
    if not 0 < val_size < count:
        raise ValueError(f"val_size must be between 1 and {count - 1} for {count} images")
    test_dataset = mnist(train=False) if test_dataset is None else test_dataset
    order = torch.randperm(count, generator=torch.Generator().manual_seed(seed))
    train, val = order[: count - val_size], order[count - val_size :]
    # The dataset keeps every image in one uint8 tensor, .data: index it, no decoding.
    split = {
        "train_images": dataset.data[train].unsqueeze(1),
        "train_labels": dataset.targets[train],
        "val_images": dataset.data[val].unsqueeze(1),
        "val_labels": dataset.targets[val],
        "test_images": test_dataset.data.unsqueeze(1),
        "test_labels": test_dataset.targets,
    }
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "mnist_uint8.pt"
    torch.save(split, path)
    return path


def fashion_mnist(
    train: bool = True, transform: Transform = None, download: bool = True
) -> datasets.FashionMNIST:
    """Return torchvision's Fashion-MNIST from ``data_dir()``, fetched and checked like
    ``mnist``. Lesson 03's exercise."""
    raw = ensure_idx_dataset(datasets.FashionMNIST, data_dir(), download=download)
    return datasets.FashionMNIST(str(raw.parents[1]), train=train, transform=transform)


def list_images(class_folder: Path | str, archive: PublishedArchive = CIFAR10) -> list[str]:
    """Return the paths (strings) of the images directly inside ``class_folder``, sorted as
    ``ImageFolder`` sorts them: regular files (not links) with one of the dataset's
    extensions; hidden entries and subfolders are skipped. Used by ``cifar10`` (lesson 05)."""
    with os.scandir(class_folder) as entries:  # file types come with the listing: no stat
        files = [entry.name for entry in entries if entry.is_file(follow_symlinks=False)]
    images = (name for name in files if name.lower().endswith(archive.extensions))
    # Strings, not Path objects: five times faster over CIFAR-10's 50,000 training images.
    return [os.path.join(class_folder, name) for name in sorted(images) if name[0] != "."]


def _count_problems(counts: dict, archive: PublishedArchive, problems: list[str]) -> str | None:
    """Add the classes missing from ``counts`` or with wrong counts; return all in a line."""
    for split, per_class in archive.splits:
        if missing := [name for name in archive.classes if (split, name) not in counts]:
            problems.append(f"{split}/ lacks the class folder(s) {', '.join(missing)}")
        for name in archive.classes:
            if (found := counts.get((split, name), per_class)) != per_class:
                problems.append(f"{split}/{name} has {found:,} images, expected {per_class:,}")
    more = f" (and {len(problems) - 4} more problems)" if len(problems) > 4 else ""
    return "; ".join(problems[:4]) + more if problems else None


def dataset_problem(folder: Path, archive: PublishedArchive = CIFAR10) -> str | None:
    """Return what is wrong with the extracted dataset ``folder``, or None when it is usable:
    marked complete after a full check and still holding exactly the dataset's classes with
    the expected number of images each (counted, not opened: about 0.1 s for CIFAR-10).
    Used by ``cifar10`` (lesson 05) and ``python -m course_utils.prefetch``."""
    try:
        marked = json.loads((Path(folder) / MARKER).read_text()) == archive.marker()
    except (OSError, ValueError):
        marked = False
    if not marked:
        never = "it was never marked complete (its extraction did not finish, or a tool made it)"
        return never if Path(folder).is_dir() else "it does not exist"
    problems, counts = [], {}
    for split, _ in archive.splits:
        try:  # sorted: the same folder always gets the same message
            entries = sorted(os.scandir(Path(folder) / split), key=lambda entry: entry.name)
        except OSError as error:
            problems.append(f"{split}/ cannot be read ({error.strerror})")
            continue
        for entry in entries:
            if entry.name in archive.classes and entry.is_dir(follow_symlinks=False):
                counts[split, entry.name] = len(list_images(entry.path, archive))
            elif not entry.name.startswith("."):  # tools add hidden folders (.ipynb_checkpoints)
                problems.append(f"{split}/{entry.name} is not one of the classes")
    return _count_problems(counts, archive, problems)


def _allowed_members(tgz: Path, tar: tarfile.TarFile, archive: PublishedArchive) -> list:
    """Check every member against the allow-list, and the counts (reading the whole archive
    finds truncation), before anything is written; return the members to extract."""
    top, splits, classes = archive.top_folder, dict(archive.splits), archive.classes
    pattern = f"{top}/{{{','.join(splits)}}}/<class>/<image>"
    one_of = lambda names: "|".join(map(re.escape, names))  # noqa: E731
    folder = re.compile(rf"\.?|{re.escape(top)}(/({one_of(splits)})(/({one_of(classes)}))?)?")
    image = re.compile(  # no hidden or odd names: nothing a file system could misread
        rf"{re.escape(top)}/({one_of(splits)})/({one_of(classes)})/[A-Za-z0-9][A-Za-z0-9_-]*"
        rf"\.(?i:{one_of(extension[1:] for extension in archive.extensions)})"
    )
    extras = {f"{top}/{name}" for name in archive.extra_files}
    chosen, seen, counts = [], set(), {}
    for member in tar:
        name = member.name.removeprefix("./").rstrip("/" if member.isdir() else "")
        if member.issym() or member.islnk():
            why = f"a {'symbolic' if member.issym() else 'hard'} link to {member.linkname!r}"
        elif member.isdir():
            why = None if folder.fullmatch(name) else "a folder that is not part of the dataset"
        elif not member.isreg():
            why = "a special file (a device, a FIFO or an unknown type)"
        elif not (image.fullmatch(name) or name in extras):
            why = "a file that is not an image of the dataset"
        elif member.size > archive.max_file_size:
            why = f"a file of {member.size:,} bytes, far larger than an image of the dataset"
        elif name.casefold() in seen:  # case-folded: macOS and Windows see Cat.png as cat.png
            why = "a second time"
        else:
            why = None
        if why:
            raise DatasetError(
                f"{tgz} is refused: it holds {member.name!r}, {why}. The dataset holds only "
                f"folders and images at {pattern}, each once, so nothing was extracted."
            )
        seen.add(name.casefold())
        chosen.append(member)
        if len(parts := name.split("/")) >= 3:  # a class folder or an image in one
            counts[parts[1], parts[2]] = counts.get((parts[1], parts[2]), 0) + (len(parts) == 4)
    if problem := _count_problems(counts, archive, []):
        raise DatasetError(
            f"{tgz} does not hold the complete dataset ({problem}). Nothing was extracted. "
            + _REPLACE
        )
    return chosen


def _extract(tgz: Path, root: Path, archive: PublishedArchive) -> None:
    """Extract into a staging folder, check it, mark it and rename it into place (under the
    caller's lock); anything else raises with nothing put in place."""
    needed = staging = None
    try:
        with tarfile.open(tgz, "r:gz") as tar:
            members = _allowed_members(tgz, tar, archive)
            needed = sum(member.size for member in members)
            staging = Path(tempfile.mkdtemp(prefix=f".{archive.top_folder}-extract-", dir=root))
            progress = tqdm(members, f"Extracting {tgz.name}", leave=False, unit="file")
            # The data filter too (Python 3.11.4+); alone it lets other names and CVE-2025-4517 in.
            filters = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tar.extractall(staging, progress, **filters)
        (staging / archive.top_folder / MARKER).write_text(json.dumps(archive.marker()))
        problem = dataset_problem(staging / archive.top_folder, archive)
        images = [staging / m.name for m in members if m.isreg() and m.name.count("/") >= 3]
        for path in tqdm([] if problem else images, "Checking the images", leave=False):
            try:  # PNG and JPEG only: other PIL decoders (EPS runs Ghostscript) have no place
                with Image.open(path, formats=["PNG", "JPEG"]) as image:
                    image.load()
            except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
                problem = f"{path} does not open as a PNG or JPEG image ({error})"
                break
            if archive.image_size not in (None, image.size):
                expected = "x".join(map(str, archive.image_size))
                problem = f"{path} is {image.size[0]}x{image.size[1]} pixels, expected {expected}"
                break
        if problem:
            raise DatasetError(
                f"{tgz} does not hold a complete, readable dataset: {problem}. Nothing was put "
                f"in place. {_REPLACE}"
            )
        if os.path.lexists(target := root / archive.top_folder):
            os.rename(target, staging / "previous")  # an incomplete folder, replaced whole
        os.rename(staging / archive.top_folder, target)
    except _CORRUPT as error:
        raise DatasetError(
            f"{tgz} is truncated or corrupt ({type(error).__name__}: {error}). Nothing was "
            f"extracted. {_REPLACE}"
        ) from error
    except OSError as error:
        raise folder_error(error, root, needed) from error
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)


def ensure_cifar10(
    root: Path | None = None, download: bool = True, archive: PublishedArchive = CIFAR10
) -> Path:
    """Make ``root/cifar10`` (default ``data_dir()``) complete and return it. A folder marked
    complete and whole is used without the lock (read-only works); else, one process at a
    time, it is extracted from ``cifar10.tgz``, downloaded if missing and ``download``. An
    archive placed by hand is checked by content, not MD5 (offline copies differ). Used
    by ``cifar10`` (lesson 05) and ``python -m course_utils.prefetch``."""
    root = Path(root) if root is not None else data_dir()
    folder, tgz = root / archive.top_folder, root / archive.name
    if (problem := dataset_problem(folder, archive)) is None:
        return folder
    if not tgz.is_file() and not download:
        where = f"CIFAR-10 is not in {root}: neither {folder} nor {tgz} exists"
        if folder.exists():
            where = f"{folder} cannot be used ({problem}), and there is no {tgz} to extract"
        raise FileNotFoundError(
            f"{where}. Pass download=True or run `python -m course_utils.prefetch`.\n"
            f"{archive.how_to_fetch(tgz)}"
        )
    lock = FileLock(str(root / f".{archive.top_folder}.lock"))
    try:
        root.mkdir(parents=True, exist_ok=True)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            waiting = f"Waiting for another process that is preparing data in {root} (lock file"
            print(f"{waiting} {lock.lock_file})...", file=sys.stderr, flush=True)
            lock.acquire()
    except OSError as error:
        raise folder_error(error, root) from error
    try:
        if dataset_problem(folder, archive) is None:
            return folder  # another process finished it while this one waited
        for stale in root.glob(f".{archive.top_folder}-extract-*"):
            shutil.rmtree(stale, ignore_errors=True)  # left by a killed run
        if download and not tgz.is_file():
            download_published(archive, root)
        _extract(tgz, root, archive)
    finally:
        lock.release()
    return folder


class _CheckedImageFolder(datasets.ImageFolder):
    """An ``ImageFolder`` of exactly the classes ``ensure_cifar10`` checked, reading only the
    images in each class folder (``ImageFolder``'s own makes ``.ipynb_checkpoints`` class 0
    and follows symlinks)."""

    def __init__(self, root: Path, archive: PublishedArchive, transform: Transform = None):
        self.archive = archive
        super().__init__(str(root), transform=transform)

    def find_classes(self, directory: str) -> tuple[list[str], dict[str, int]]:
        return list(self.archive.classes), {c: i for i, c in enumerate(self.archive.classes)}

    def make_dataset(self, directory, class_to_idx, *args, **kwargs) -> list[tuple[str, int]]:
        return [
            (path, index)
            for name, index in class_to_idx.items()
            for path in list_images(os.path.join(directory, name), self.archive)
        ]


def cifar10(
    train: bool = True,
    transform: Transform = None,
    download: bool = True,
    archive: PublishedArchive = CIFAR10,
) -> datasets.ImageFolder:
    """Return CIFAR-10 as an ``ImageFolder`` over ``cifar10/train`` or ``cifar10/test``, the
    ten classes in alphabetical order (CIFAR-10's labels), made from ``cifar10.tgz`` on
    first use and checked (``ensure_cifar10``). Introduced in lesson 05."""
    folder = ensure_cifar10(data_dir(), download, archive)
    return _CheckedImageFolder(folder / ("train" if train else "test"), archive, transform)


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
