"""Downloading the course's datasets: nothing is kept before it is checked.

``download_published`` streams a file whose size and MD5 its publisher lists (the
``PublishedFile`` ``CIFAR10``, lesson 05) into a ``.part`` file, hashing on the way,
and renames it only when both match. ``download_idx_dataset`` fetches MNIST or
Fashion-MNIST (lesson 03) through torchvision, which checks its own published MD5s,
and cleans up after a failure. Without a network, the error says what to fetch, from
where, and the exact path to put it at.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import socket
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from torchvision import datasets
from torchvision.datasets.utils import check_integrity
from tqdm.auto import tqdm

from .archives import FOLDER_ERRNOS, IDX_FILES, folder_error, idx_problem

__all__ = [
    "CIFAR10",
    "DownloadError",
    "PublishedFile",
    "download_idx_dataset",
    "download_published",
]

# Seconds without data before a download counts as failed.
TIMEOUT = 60.0


@dataclass(frozen=True)
class PublishedFile:
    """A file the course downloads, with the size and MD5 its publisher lists."""

    name: str
    url: str
    size: int
    md5: str

    def how_to_fetch(self, destination: Path) -> str:
        """Say how to fetch the file by hand and where to put it."""
        return (
            f"Fetch it by hand on a machine with internet access:\n"
            f"    file: {self.name}\n"
            f"    from: {self.url}\n"
            f"    size: {self.size:,} bytes\n"
            f"    MD5:  {self.md5}\n"
            f"and put it at {destination}\n"
            "(or copy a data folder that already has it and set COURSE_DATA_DIR to it)."
        )


# The image-folder CIFAR-10 of fast.ai (size and MD5 as in fastai's download checks).
CIFAR10 = PublishedFile(
    name="cifar10.tgz",
    url="https://s3.amazonaws.com/fast-ai-imageclas/cifar10.tgz",
    size=168_168_549,
    md5="a5f8c31371b63a406b23368042812d3c",
)


class DownloadError(RuntimeError):
    """A download failed, or what arrived is not the published file; nothing was kept."""


def _reason(error: BaseException) -> str:
    reason = getattr(error, "reason", None) or error
    text = " ".join(str(reason).split())
    return text if len(text) <= 300 else text[:297] + "..."


def _stream(published: PublishedFile, partial: Path, destination: Path, timeout: float) -> None:
    folder = destination.parent
    how = published.how_to_fetch(destination)
    request = urllib.request.Request(published.url, headers={"User-Agent": "course-utils"})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except (OSError, http.client.HTTPException, ValueError) as error:
        raise DownloadError(
            f"Could not download {published.name} from {published.url} ({_reason(error)}).\n{how}"
        ) from error
    digest = hashlib.md5(usedforsecurity=False)
    received = 0
    with (
        response,
        tqdm(
            total=published.size, unit="B", unit_scale=True, unit_divisor=1024, desc=published.name
        ) as progress,
    ):
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) != published.size:
            raise DownloadError(
                f"{published.url} offers {int(declared):,} bytes, but the published "
                f"{published.name} has {published.size:,}: it is not that file, so nothing was "
                f"downloaded.\n{how}"
            )
        try:
            out = open(partial, "wb")
        except OSError as error:
            raise folder_error(error, folder, published.size) from error
        with out:
            while True:
                try:
                    chunk = response.read(1 << 20)
                except (OSError, http.client.HTTPException) as error:
                    raise DownloadError(
                        f"The download of {published.name} from {published.url} was interrupted "
                        f"after {received:,} of {published.size:,} bytes ({_reason(error)}); "
                        f"nothing was kept. Run again, or fetch it by hand.\n{how}"
                    ) from error
                if not chunk:
                    break
                received += len(chunk)
                if received > published.size:
                    raise DownloadError(
                        f"{published.url} sent more than the {published.size:,} bytes of the "
                        f"published {published.name}: it is not that file; nothing was kept.\n{how}"
                    )
                digest.update(chunk)
                try:
                    out.write(chunk)
                except OSError as error:
                    raise folder_error(error, folder, published.size) from error
                progress.update(len(chunk))
    if received < published.size:
        raise DownloadError(
            f"The download of {published.name} from {published.url} was cut short: "
            f"{received:,} of {published.size:,} bytes arrived; nothing was kept. Run again, or "
            f"fetch it by hand.\n{how}"
        )
    if digest.hexdigest() != published.md5:
        raise DownloadError(
            f"{published.name} downloaded from {published.url} has MD5 {digest.hexdigest()}, "
            f"not the published {published.md5}: it is damaged or not that file, so it was not "
            f"kept.\n{how}"
        )


def download_published(published: PublishedFile, folder: Path, timeout: float = TIMEOUT) -> Path:
    """Download ``published`` into ``folder`` with a progress bar and return its path.

    Streams into ``<name>.part``, hashing on the way, and renames it to ``<name>``
    only when its size and MD5 match the published ones. A mismatch, a failure or an
    interruption (Ctrl-C included) removes the ``.part`` file, so no later run finds
    a file it could trust by mistake; ``DownloadError`` then says what to fetch by
    hand and where to put it. Disk errors raise ``archives.DataFolderError``. Callers
    that may run at once hold the data folder's lock (``data.cifar10`` does, lesson 05).
    """
    folder = Path(folder)
    destination = folder / published.name
    partial = destination.with_name(destination.name + ".part")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise folder_error(error, folder, published.size) from error
    try:
        _stream(published, partial, destination, timeout)
        os.replace(partial, destination)
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise
    return destination


@contextlib.contextmanager
def _default_timeout(seconds: float) -> Iterator[None]:
    # torchvision opens URLs without a timeout: a network that drops packets would hang.
    previous = socket.getdefaulttimeout()
    if previous is None:
        socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def _discard_failed(
    raw: Path, before: set[Path], resources: dict[str, str], made: list[Path]
) -> None:
    """Remove what a failed attempt left: files it wrote that torchvision's MD5 does not
    vouch for, and the folders it created if they are empty."""
    if raw.is_dir():
        for path in set(raw.iterdir()) - before:
            md5 = resources.get(path.name)
            if md5 is not None and check_integrity(str(path), md5):
                continue  # a complete, verified download: torchvision reuses it next time
            if md5 is None and path.name in IDX_FILES and idx_problem(path) is None:
                continue
            with contextlib.suppress(OSError):
                path.unlink()
    for folder in made:
        with contextlib.suppress(OSError):
            folder.rmdir()  # only succeeds when empty


def download_idx_dataset(dataset_class: type[datasets.MNIST], root: Path) -> Path:
    """Download MNIST or Fashion-MNIST (``dataset_class``) into ``root/<Name>/raw`` and
    return that folder.

    torchvision does the download and checks each file against the MD5 in its
    ``resources``. After a failure, files it left that are not verified and the empty
    folders it created are removed, and ``DownloadError`` names the folder, the files
    and how to get them there. Used by ``data.mnist`` and ``data.fashion_mnist`` (lesson 03).
    """
    root = Path(root)
    raw = root / dataset_class.__name__ / "raw"
    made = [folder for folder in (raw, raw.parent) if not folder.exists()]
    before = set(raw.iterdir()) if raw.is_dir() else set()
    try:
        with _default_timeout(TIMEOUT):
            dataset_class(str(root), train=False, download=True)
    except BaseException as error:
        _discard_failed(raw, before, dict(dataset_class.resources), made)
        if isinstance(error, OSError) and error.errno in FOLDER_ERRNOS:
            raise folder_error(error, raw) from error
        if not isinstance(error, Exception):
            raise  # Ctrl-C stays Ctrl-C
        names = ", ".join(IDX_FILES)
        raise DownloadError(
            f"Could not download {dataset_class.__name__} into {raw} ({_reason(error)}).\n"
            f"To fix it, copy the four files {names} (uncompressed, or the same names ending in "
            f".gz, which are decompressed on first use) into {raw}, for example from the data "
            "folder of a machine that has them; they are published at "
            f"{dataset_class.mirrors[0]}. Or set COURSE_DATA_DIR to a folder that has "
            f"{dataset_class.__name__}/raw/."
        ) from error
    return raw
