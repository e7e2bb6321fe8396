"""Safe extraction and checking of the datasets the course keeps on disk.

``extract_dataset`` unpacks an image-folder archive such as ``cifar10.tgz`` only when
every entry in it is a folder or an image where the dataset has one, checks what it
wrote (classes, image counts, images that open) and marks the folder finished;
``dataset_problem`` says what is wrong with a folder that is not. One lock per data
folder serialises the work, so lessons started together never see half a dataset.
``check_idx_files`` and ``gunzip`` check MNIST's raw IDX files the same way.
``course_utils.data`` uses all of this (lessons 03 and 05), as does
``python -m course_utils.prefetch``.
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
import struct
import sys
import tarfile
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from PIL import Image
from tqdm.auto import tqdm

try:
    import fcntl
except ImportError:  # Windows: learners there use Colab, but importing must still work
    fcntl = None
    import msvcrt

__all__ = [
    "CIFAR10_CLASSES",
    "CIFAR10_LAYOUT",
    "IDX_FILES",
    "MARKER",
    "ArchiveError",
    "DataFolderError",
    "DatasetError",
    "DatasetLayout",
    "FOLDER_ERRNOS",
    "check_idx_files",
    "dataset_problem",
    "extract_dataset",
    "folder_error",
    "folder_lock",
    "gunzip",
    "idx_problem",
    "list_images",
    "verify_dataset",
]

CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
# Written into a dataset folder once it has been extracted and checked completely.
MARKER = ".complete.json"
# Errors that come from the disk or its permissions, never from the data.
FOLDER_ERRNOS = {
    errno.ENOSPC,
    getattr(errno, "EDQUOT", errno.ENOSPC),
    errno.EACCES,
    errno.EPERM,
    errno.EROFS,
}
# File name -> (magic number, size of one item) for MNIST and Fashion-MNIST.
IDX_FILES = {
    "train-images-idx3-ubyte": (0x803, (28, 28)),
    "train-labels-idx1-ubyte": (0x801, ()),
    "t10k-images-idx3-ubyte": (0x803, (28, 28)),
    "t10k-labels-idx1-ubyte": (0x801, ()),
}
# An image's name: no hidden files, no separators, nothing a file system could misread.
_IMAGE_STEM = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*\Z")


class ArchiveError(RuntimeError):
    """An archive is truncated, corrupt, unsafe or does not hold the complete dataset."""


class DatasetError(RuntimeError):
    """A dataset folder or file on disk is incomplete or damaged."""


class DataFolderError(OSError):
    """Reading or writing the data folder failed for a reason outside the data itself:
    a full disk, a missing permission, a read-only file system."""

    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        self.errno = code


@dataclass(frozen=True)
class DatasetLayout:
    """What an image-folder dataset is on disk: ``top_folder/<split>/<class>/<image>``.

    ``splits`` pairs each split folder with its number of images per class;
    ``extra_files`` may sit directly in ``top_folder`` (the public CIFAR-10 archive
    has ``labels.txt``). Tests use small layouts; ``CIFAR10_LAYOUT`` is the real one.
    """

    top_folder: str
    classes: tuple[str, ...]
    splits: tuple[tuple[str, int], ...]
    extensions: tuple[str, ...] = (".png", ".jpg", ".jpeg")
    extra_files: tuple[str, ...] = ()
    image_size: tuple[int, int] | None = None
    max_file_size: int = 1 << 20

    def pattern(self) -> str:
        """The allowed places, for messages: ``cifar10/{train,test}/<class>/<image>``."""
        return f"{self.top_folder}/{{{','.join(s for s, _ in self.splits)}}}/<class>/<image>"


CIFAR10_LAYOUT = DatasetLayout(
    top_folder="cifar10",
    classes=CIFAR10_CLASSES,
    splits=(("train", 5000), ("test", 1000)),
    extra_files=("labels.txt",),
    image_size=(32, 32),
)


def folder_error(error: OSError, folder: Path, needed: int | None = None) -> DataFolderError:
    """Return a ``DataFolderError`` saying what ``error``, raised while writing into
    ``folder``, really is (disk full, no permission, read-only) and what to do.
    ``needed`` (bytes), when known, goes into the disk-full message. Used wherever
    ``course_utils`` writes datasets (lessons 03 and 05)."""
    code = error.errno
    if code in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        size = f" (this needs about {needed / 1e6:,.0f} MB)" if needed else ""
        text = (
            f"The disk is full: could not write into {folder}{size}. Free some space and run "
            "again. The files already there are fine: keep them."
        )
    elif code in (errno.EACCES, errno.EPERM):
        text = (
            f"Permission denied: cannot write into {folder} ({error}). Make it writable, or set "
            "COURSE_DATA_DIR to a folder you can write to."
        )
    elif code == errno.EROFS:
        text = (
            f"{folder} is on a read-only file system. Set COURSE_DATA_DIR to a writable folder, "
            "or prepare the data there once (python -m course_utils.prefetch) on a machine "
            "that can write to it."
        )
    else:
        text = f"Could not write into {folder}: {error}"
    return DataFolderError(text, code)


@contextlib.contextmanager
def _writing(folder: Path, needed: int | None = None) -> Iterator[None]:
    try:
        yield
    except DataFolderError:
        raise
    except OSError as error:
        raise folder_error(error, folder, needed) from error


# gzip.BadGzipFile is an OSError too: data errors are sorted from disk errors first.
_CORRUPT = (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile)


def _corrupt(archive: Path, error: BaseException) -> ArchiveError:
    return ArchiveError(
        f"{archive} is truncated or corrupt ({type(error).__name__}: {error}). Nothing was "
        "extracted. Replace it with a good copy, or delete it and run again to download a "
        "fresh one."
    )


@contextlib.contextmanager
def _reading(archive: Path) -> Iterator[None]:
    try:
        yield
    except _CORRUPT as error:
        raise _corrupt(archive, error) from error
    except OSError as error:
        raise DataFolderError(f"Could not read {archive}: {error}", error.errno) from error


def _read_member(archive: Path, tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    # Called once per image: a plain try costs less than entering ``_reading``.
    try:
        return tar.extractfile(member).read()
    except _CORRUPT as error:
        raise _corrupt(archive, error) from error
    except OSError as error:
        raise DataFolderError(f"Could not read {archive}: {error}", error.errno) from error


def _try_lock(fd: int) -> bool:
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except OSError as error:
        if error.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES, errno.EDEADLK):
            return False
        raise
    return True


@contextlib.contextmanager
def folder_lock(folder: Path, name: str) -> Iterator[Path]:
    """Hold an exclusive lock on ``folder/name`` (created if needed) for the ``with`` block.

    Serialises work on one data folder across processes, including two learners
    sharing it. A process that has to wait says so on stderr. The lock file stays
    (deleting it would let a third process lock a different file); the operating
    system drops the lock when its holder exits, even when killed. Yields the path.
    Used by ``extract_dataset`` (so by ``data.cifar10``, lesson 05).
    """
    folder = Path(folder)
    path = folder / name
    with _writing(folder):
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        with _writing(folder):
            if not _try_lock(fd):
                print(
                    f"Waiting for another process that is preparing data in {folder} "
                    f"(lock file {path})...",
                    file=sys.stderr,
                    flush=True,
                )
                if fcntl is not None:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                else:
                    while not _try_lock(fd):
                        time.sleep(0.5)
        yield path
    finally:
        if fcntl is None:
            with contextlib.suppress(OSError):
                msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        os.close(fd)


def list_images(class_folder: Path, layout: DatasetLayout) -> list[str]:
    """Return the paths (strings) of the images directly inside ``class_folder``, sorted.

    Only regular files (not links) with one of the layout's extensions count; hidden
    entries such as ``.ipynb_checkpoints`` and subfolders are skipped. The order is
    ``ImageFolder``'s, so labels and indices match the lessons' outputs. Used by
    ``data.cifar10`` (lesson 05).
    """
    with os.scandir(class_folder) as entries:
        names = [entry.name for entry in entries if _is_image(entry, layout)]
    # Strings, not Path objects: five times faster over CIFAR-10's 50,000 training images.
    return [os.path.join(class_folder, name) for name in sorted(names)]


def _is_image(entry: os.DirEntry, layout: DatasetLayout) -> bool:
    # d_type from the directory listing: no stat call per file, as this runs on every load.
    return (
        not entry.name.startswith(".")
        and entry.name.lower().endswith(layout.extensions)
        and entry.is_file(follow_symlinks=False)
    )


def _count_images(class_folder: str, layout: DatasetLayout) -> int:
    with os.scandir(class_folder) as entries:
        return sum(1 for entry in entries if _is_image(entry, layout))


def _count_problems(counts: dict[tuple[str, str], int], layout: DatasetLayout) -> list[str]:
    problems = []
    for split, per_class in layout.splits:
        missing = [name for name in layout.classes if (split, name) not in counts]
        if missing:
            problems.append(f"{split}/ lacks the class folder(s) {', '.join(missing)}")
        for name in layout.classes:
            found = counts.get((split, name))
            if found is not None and found != per_class:
                problems.append(f"{split}/{name} has {found:,} images, expected {per_class:,}")
    return problems


def _summary(problems: list[str]) -> str | None:
    if not problems:
        return None
    more = f" (and {len(problems) - 4} more problems)" if len(problems) > 4 else ""
    return "; ".join(problems[:4]) + more


def _folder_problem(folder: Path, layout: DatasetLayout) -> str | None:
    counts: dict[tuple[str, str], int] = {}
    problems = []
    for split, _ in layout.splits:
        try:
            with os.scandir(folder / split) as scan:
                entries = sorted(scan, key=lambda entry: entry.name)
            for entry in entries:
                if entry.name.startswith("."):
                    continue  # tools add hidden folders (JupyterLab's checkpoints); never loaded
                if entry.name in layout.classes and entry.is_dir(follow_symlinks=False):
                    counts[split, entry.name] = _count_images(entry.path, layout)
                else:
                    problems.append(f"{split}/{entry.name} is not one of the classes")
        except FileNotFoundError:
            problems.append(f"{split}/ is missing")
        except OSError as error:
            problems.append(f"{split}/ cannot be read ({error})")
    return _summary(problems + _count_problems(counts, layout))


def _marker_content(layout: DatasetLayout) -> dict:
    return {"format": 1, "classes": list(layout.classes), "splits": dict(layout.splits)}


def dataset_problem(folder: Path, layout: DatasetLayout = CIFAR10_LAYOUT) -> str | None:
    """Return what is wrong with the extracted dataset ``folder``, or None when it is usable.

    Usable means: marked complete by ``extract_dataset`` after a full check, and still
    holding exactly the layout's classes with the expected number of images in each
    (counted, not opened: this runs on every load and takes a fraction of a second).
    Used by ``data.cifar10`` (lesson 05) and ``python -m course_utils.prefetch``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return "it does not exist"
    try:
        recorded = json.loads((folder / MARKER).read_text())
    except FileNotFoundError:
        return "it was never marked complete (its extraction did not finish, or a tool made it)"
    except (OSError, ValueError):
        return f"its completion marker {MARKER} cannot be read"
    if recorded != _marker_content(layout):
        return f"its completion marker {MARKER} is for a different layout"
    return _folder_problem(folder, layout)


def _image_problem(path: str, layout: DatasetLayout) -> str | None:
    try:
        # PNG and JPEG only: other PIL decoders (EPS runs Ghostscript) have no place here.
        with Image.open(path, formats=["PNG", "JPEG"]) as image:
            image.load()
            size = image.size
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        return f"does not open as a PNG or JPEG image ({error})"
    if layout.image_size is not None and size != layout.image_size:
        width, height = layout.image_size
        return f"is {size[0]}x{size[1]} pixels, expected {width}x{height}"
    return None


def verify_dataset(folder: Path, layout: DatasetLayout = CIFAR10_LAYOUT) -> dict[str, int]:
    """Check the dataset ``folder`` fully and return the number of images per split.

    Exactly the layout's classes in every split, the expected number of images in
    each class, and every image opens (decoded, with the expected size). Raises
    ``DatasetError`` naming the first problem. ``extract_dataset`` runs it before
    marking a folder complete; on the 60,000 CIFAR-10 images it takes a few seconds.
    """
    folder = Path(folder)
    problem = _folder_problem(folder, layout)
    if problem:
        raise DatasetError(f"{folder} is incomplete: {problem}")
    per_split: dict[str, list[str]] = {}
    for split, _ in layout.splits:
        per_split[split] = [
            path for name in layout.classes for path in list_images(folder / split / name, layout)
        ]
    images = [path for paths in per_split.values() for path in paths]
    for path in tqdm(images, desc=f"Checking {layout.top_folder}", unit="image", leave=False):
        problem = _image_problem(path, layout)
        if problem:
            raise DatasetError(f"{path} {problem}")
    return {split: len(paths) for split, paths in per_split.items()}


def _member_parts(archive: Path, member: tarfile.TarInfo, layout: DatasetLayout) -> tuple[str, ...]:
    """The path parts of a member that belongs to the dataset; raise for any other."""

    def refuse(why: str) -> ArchiveError:
        return ArchiveError(
            f"{archive} is refused: it holds {member.name!r}, {why}. The dataset holds only "
            f"folders and images at {layout.pattern()}, so nothing was extracted."
        )

    if member.issym():
        raise refuse(f"a symbolic link to {member.linkname!r}")
    if member.islnk():
        raise refuse(f"a hard link to {member.linkname!r}")
    if not (member.isdir() or member.isreg()):
        raise refuse("a special file (a device, a FIFO or an unknown type)")
    name = member.name.removeprefix("./")
    if member.isdir():
        name = name.rstrip("/")
        if name in ("", "."):
            return ()  # the archive's own root folder
    if name.startswith("/"):
        raise refuse("an absolute path")
    parts = tuple(name.split("/"))
    if ".." in parts:
        raise refuse("a path that climbs out of the folder")
    if any(part.startswith(".") for part in parts):
        raise refuse("a hidden entry")
    if parts[0] != layout.top_folder or "" in parts:
        raise refuse(f"a path outside {layout.top_folder}/")
    splits = [split for split, _ in layout.splits]
    if member.isdir():
        allowed = (
            len(parts) == 1
            or (len(parts) == 2 and parts[1] in splits)
            or (len(parts) == 3 and parts[1] in splits and parts[2] in layout.classes)
        )
        if not allowed:
            raise refuse("a folder that is not part of the dataset")
        return parts
    if len(parts) == 2 and parts[1] in layout.extra_files:
        allowed = True
    else:
        stem, extension = os.path.splitext(parts[-1])
        allowed = (
            len(parts) == 4
            and parts[1] in splits
            and parts[2] in layout.classes
            and _IMAGE_STEM.match(stem) is not None
            and extension.lower() in layout.extensions
        )
    if not allowed:
        raise refuse("a file that is not an image of the dataset")
    if member.size > layout.max_file_size:
        raise refuse(f"a file of {member.size:,} bytes, far larger than an image of the dataset")
    return parts


def _allowed_members(
    archive: Path, tar: tarfile.TarFile, layout: DatasetLayout
) -> list[tuple[tarfile.TarInfo, tuple[str, ...]]]:
    """Read the whole archive (which finds truncation) and check every member before
    anything is written; return the members with their path parts."""
    expected = dict(layout.splits)
    chosen = []
    seen: set[str] = set()
    counts: dict[tuple[str, str], int] = {}
    for member in tar:
        parts = _member_parts(archive, member, layout)
        if not parts:
            continue
        # Case-folded: on macOS and Windows "Cat.png" and "cat.png" are the same file.
        key = "/".join(parts).casefold()
        if key in seen:
            raise ArchiveError(f"{archive} is refused: it holds {member.name!r} twice")
        seen.add(key)
        chosen.append((member, parts))
        if len(parts) >= 3:  # a class folder or an image in one
            place = (parts[1], parts[2])
            counts[place] = counts.get(place, 0) + (len(parts) == 4)
            if counts[place] > expected[parts[1]]:
                raise ArchiveError(
                    f"{archive} is refused: {parts[1]}/{parts[2]} holds more than the "
                    f"{expected[parts[1]]:,} images per class of the dataset"
                )
    problem = _summary(_count_problems(counts, layout))
    if problem:
        raise ArchiveError(
            f"{archive} does not hold the complete dataset ({problem}). Nothing was extracted. "
            "Replace it with a complete copy, or delete it and run again to download one."
        )
    return chosen


def _extract(archive: Path, destination: Path, layout: DatasetLayout) -> None:
    """Extract and check under the caller's lock; put the folder in place only when done."""
    target = destination / layout.top_folder
    with _reading(archive):
        tar = tarfile.open(archive, "r:gz")
    with tar:
        with _reading(archive):
            members = _allowed_members(archive, tar, layout)
        needed = sum(member.size for member, _ in members)
        with _writing(destination, needed):
            prefix = f".{layout.top_folder}-extract-"
            staging = Path(tempfile.mkdtemp(prefix=prefix, dir=destination))
        try:
            with _writing(destination, needed):
                made: set[str] = set()
                label = f"Extracting {archive.name}"
                for member, parts in tqdm(members, desc=label, unit="file", leave=False):
                    path = os.path.join(staging, *parts)
                    folder = path if member.isdir() else os.path.dirname(path)
                    if folder not in made:
                        os.makedirs(folder, exist_ok=True)
                        made.add(folder)
                    if member.isdir():
                        continue
                    # Each file's bytes are written by us: tarfile never creates anything, so
                    # no link or special file can appear, whatever the Python version.
                    payload = _read_member(archive, tar, member)
                    with open(path, "xb") as out:
                        out.write(payload)
            try:
                verify_dataset(staging / layout.top_folder, layout)
            except DatasetError as error:
                raise ArchiveError(
                    f"{archive} does not hold a complete, readable dataset: {error}. Nothing was "
                    "put in place. Replace it with a good copy, or delete it and run again to "
                    "download one."
                ) from error
            with _writing(destination, needed):
                marker = staging / layout.top_folder / MARKER
                marker.write_text(json.dumps(_marker_content(layout)))
                if os.path.lexists(target):
                    # An incomplete folder (checked under the lock): replaced as a whole.
                    os.rename(target, staging / "previous")
                os.rename(staging / layout.top_folder, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def extract_dataset(
    archive: Path,
    destination: Path,
    layout: DatasetLayout = CIFAR10_LAYOUT,
    fetch: Callable[[], object] | None = None,
) -> Path:
    """Make ``destination/<top folder>`` a complete, checked dataset and return its path.

    A folder that ``dataset_problem`` finds usable is returned at once. Otherwise,
    holding the data folder's lock (one process at a time; the others wait and say
    so), this extracts ``archive`` (calling ``fetch()`` first, when given, if the
    archive is missing, e.g. to download it). Every member is checked before anything
    is written: only folders and images at the layout's places, no links, special or
    hidden files (``ArchiveError`` names the first other one). Extraction goes to a
    staging folder that is checked with ``verify_dataset``, marked complete and then
    renamed into place, replacing an incomplete folder. Disk-full, permission and
    read-only errors raise ``DataFolderError``. Used by ``data.cifar10`` (lesson 05).
    """
    archive, destination = Path(archive), Path(destination)
    target = destination / layout.top_folder
    if dataset_problem(target, layout) is None:
        return target  # no lock needed: a read-only shared data folder works too
    with folder_lock(destination, f".{layout.top_folder}.lock"):
        problem = dataset_problem(target, layout)
        if problem is None:
            return target  # another process finished it while this one waited
        # Staging folders left by a killed run; only the lock holder may remove them.
        for stale in destination.glob(f".{layout.top_folder}-extract-*"):
            shutil.rmtree(stale, ignore_errors=True)
        if not archive.is_file() and fetch is not None:
            fetch()
        if not archive.is_file():
            raise FileNotFoundError(
                f"{target} cannot be used ({problem}) and {archive} is not there to extract it from"
            )
        _extract(archive, destination, layout)
    return target


def idx_problem(path: Path) -> str | None:
    """Return what is wrong with the raw MNIST-style IDX file ``path``, or None.

    Checks the magic number, the item size (28x28 images or labels) and that the file
    is exactly as long as its header says, without reading the data. Used by
    ``check_idx_files`` (so by ``data.mnist``, lesson 03).
    """
    path = Path(path)
    magic, item_shape = IDX_FILES[path.name]
    header_size = 4 * (2 + len(item_shape))
    try:
        size = path.stat().st_size
        with open(path, "rb") as source:
            header = source.read(header_size)
    except OSError as error:
        return f"cannot be read ({error})"
    if header[:2] == b"\x1f\x8b":
        return f"is gzip-compressed: rename it to {path.name}.gz (decompressed on first use)"
    if len(header) < header_size:
        return f"is truncated: {size:,} bytes, shorter than its {header_size}-byte header"
    found = int.from_bytes(header[:4], "big")
    if found != magic:
        kind = "image" if magic == 0x803 else "label"
        return f"is not an IDX {kind} file (magic number 0x{found:08x}, expected 0x{magic:08x})"
    shape = struct.unpack(f">{1 + len(item_shape)}I", header[4:])
    if shape[1:] != item_shape:
        return f"holds items of shape {shape[1:]}, expected {item_shape}"
    expected = header_size + math.prod(shape)
    if size != expected:
        return (
            f"is truncated or damaged: {size:,} bytes, but its header announces {shape[0]:,} "
            f"items, {expected:,} bytes"
        )
    return None


def check_idx_files(raw: Path) -> dict[str, int]:
    """Check the four raw IDX files of MNIST or Fashion-MNIST in ``raw`` before torchvision
    reads them; return the number of images per split (``train``, ``t10k``).

    Raises ``DatasetError`` naming the folder and the file and saying how to fix it.
    Used by ``data.mnist`` and ``data.fashion_mnist`` (lesson 03).
    """
    raw = Path(raw)
    counts = {}
    for name in IDX_FILES:
        problem = "is missing" if not (raw / name).is_file() else idx_problem(raw / name)
        if problem:
            raise DatasetError(
                f"{raw / name} {problem}. Delete it and run again to download a fresh copy, or "
                f"copy a good {name} (uncompressed, or as {name}.gz) into {raw}."
            )
        with open(raw / name, "rb") as source:
            counts[name] = struct.unpack(">I", source.read(8)[4:])[0]
    for split in ("train", "t10k"):
        images, labels = counts[f"{split}-images-idx3-ubyte"], counts[f"{split}-labels-idx1-ubyte"]
        if images != labels:
            raise DatasetError(
                f"{raw}: {split}-images-idx3-ubyte holds {images:,} images but "
                f"{split}-labels-idx1-ubyte {labels:,} labels; they come from different "
                "copies. Copy both files again from one source."
            )
    return {"train": counts["train-images-idx3-ubyte"], "t10k": counts["t10k-images-idx3-ubyte"]}


def gunzip(compressed: Path) -> Path:
    """Decompress ``name.gz`` beside itself into ``name`` (kept only when complete) and
    return the new path. The ``.gz`` stays. Used by ``data.mnist`` (lesson 03) for
    files copied there by hand."""
    compressed = Path(compressed)
    target = compressed.with_suffix("")
    folder = compressed.parent
    with _writing(folder):
        fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=folder)
    try:
        with os.fdopen(fd, "wb") as out, gzip.open(compressed) as source:
            while True:
                try:
                    chunk = source.read(1 << 20)
                except (EOFError, zlib.error, gzip.BadGzipFile) as error:
                    raise DatasetError(
                        f"{compressed} is damaged ({error}). Delete it and run again to download "
                        f"a fresh copy, or copy a good {target.name} (or {compressed.name}) into "
                        f"{folder}."
                    ) from error
                if not chunk:
                    break
                with _writing(folder):
                    out.write(chunk)
        with _writing(folder):
            os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return target
