"""Fetch and check every dataset the course uses, for an offline classroom.

    python -m course_utils.prefetch                  # MNIST, Fashion-MNIST and CIFAR-10
    python -m course_utils.prefetch --only cifar10   # some of them

Everything goes into ``data_dir()`` (``COURSE_DATA_DIR`` or ``data/``); copy that folder
to the classroom machines afterwards. Prints one line per dataset and exits with status
1 when any dataset could not be fetched or is incomplete.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from torchvision import datasets

from . import data
from .data import CIFAR10, PublishedArchive

__all__ = ["DATASETS", "prefetch", "main"]

DATASETS = {"mnist": datasets.MNIST, "fashion-mnist": datasets.FashionMNIST, "cifar10": None}
LABELS = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST", "cifar10": "CIFAR-10"}


def prefetch(name: str, root: Path, archive: PublishedArchive = CIFAR10) -> str:
    """Fetch and check the dataset ``name`` (a key of ``DATASETS``) in ``root``; return what
    was done as one line. Raises when it cannot (``main`` reports each dataset)."""
    if dataset_class := DATASETS[name]:
        folder = Path(root) / dataset_class.__name__ / "raw"
        had = {path.name for path in folder.iterdir()} if folder.is_dir() else set()
        counts = data.check_idx_files(data.ensure_idx_dataset(dataset_class, root)).values()
        gz = all(file in had or f"{file}.gz" in had for file in data.IDX_FILES)
        action = "decompressed from .gz" if gz else "downloaded"
        action = "already present" if had.issuperset(data.IDX_FILES) else action
    else:
        folder, had_archive = Path(root) / archive.top_folder, (Path(root) / archive.name).exists()
        if (problem := data.dataset_problem(folder, archive)) and folder.exists():
            print(f"CIFAR-10: {folder} is incomplete ({problem}); rebuilding it", file=sys.stderr)
        data.ensure_cifar10(root, True, archive)
        counts = [per_class * len(archive.classes) for _, per_class in archive.splits]
        action = "extracted from the archive" if had_archive else "downloaded and extracted"
        action = "already present" if problem is None else action
    train, test = counts
    return (
        f"{LABELS[name]}: {action} in {folder} ({train:,} training, {test:,} test images, checked)"
    )


def main(argv: Sequence[str] | None = None, archive: PublishedArchive = CIFAR10) -> int:
    """Run the command line; return its exit status (1 when any dataset failed)."""
    parser = argparse.ArgumentParser(
        prog="python -m course_utils.prefetch", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--only", nargs="+", choices=list(DATASETS), default=list(DATASETS))
    names, root, failed = parser.parse_args(argv).only, data.data_dir(), False
    print(f"Data folder: {root}")
    for name in names:
        try:
            print(prefetch(name, root, archive), flush=True)
        except (RuntimeError, OSError) as error:
            failed = True
            print(f"{name}: FAILED: {error}", file=sys.stderr, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
