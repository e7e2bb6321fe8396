"""Fetch and check every dataset the course uses, for an offline classroom.

    python -m course_utils.prefetch                  # MNIST, Fashion-MNIST and CIFAR-10
    python -m course_utils.prefetch --only cifar10   # some of them

Everything goes into ``data_dir()`` (``COURSE_DATA_DIR`` or ``data/``); copy that
folder to the classroom machines afterwards. Prints one line per dataset and exits
with status 1 when any dataset could not be fetched or is incomplete.
``python -m course_utils.data download`` is the old spelling of the same command.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from torchvision import datasets

from . import data
from .archives import IDX_FILES, check_idx_files, dataset_problem, list_images
from .data import data_dir, ensure_cifar10, ensure_idx_dataset
from .downloads import CIFAR10

__all__ = ["DATASETS", "prefetch", "main"]


def _prefetch_idx(dataset_class: type[datasets.MNIST], label: str, root: Path) -> str:
    raw = root / dataset_class.__name__ / "raw"
    had = all((raw / name).is_file() for name in IDX_FILES)
    had_gz = all((raw / name).is_file() or (raw / f"{name}.gz").is_file() for name in IDX_FILES)
    ensure_idx_dataset(dataset_class, root, download=True)
    sizes = check_idx_files(raw)
    action = "already present" if had else "decompressed from .gz" if had_gz else "downloaded"
    return (
        f"{label}: {action} in {raw} "
        f"({sizes['train']:,} training, {sizes['t10k']:,} test images, checked)"
    )


def _prefetch_cifar10(root: Path) -> str:
    layout = data.CIFAR10_LAYOUT
    folder = root / layout.top_folder
    problem = dataset_problem(folder, layout)
    had_archive = (root / CIFAR10.name).is_file()
    if problem is not None and folder.exists():
        print(f"CIFAR-10: {folder} is incomplete ({problem}); rebuilding it", file=sys.stderr)
    ensure_cifar10(root, download=True)
    counts = [
        sum(len(list_images(folder / split / name, layout)) for name in layout.classes)
        for split, _ in layout.splits
    ]
    if problem is None:
        action = "already present"
    else:
        action = "extracted from the archive" if had_archive else "downloaded and extracted"
    return (
        f"CIFAR-10: {action} in {folder} "
        f"({counts[0]:,} training, {counts[1]:,} test images, checked)"
    )


DATASETS: dict[str, Callable[[Path], str]] = {
    "mnist": lambda root: _prefetch_idx(datasets.MNIST, "MNIST", root),
    "fashion-mnist": lambda root: _prefetch_idx(datasets.FashionMNIST, "Fashion-MNIST", root),
    "cifar10": _prefetch_cifar10,
}


def prefetch(root: Path, names: Sequence[str] | None = None) -> list[str]:
    """Fetch and check the named datasets (default: all of ``DATASETS``) in ``root``; return
    one report line per dataset.

    Raises on the first failure; ``main`` reports each dataset on its own instead.
    """
    names = list(DATASETS) if names is None else names
    unknown = sorted(set(names) - set(DATASETS))
    if unknown:
        raise ValueError(f"unknown dataset(s) {unknown}; choose from {sorted(DATASETS)}")
    return [DATASETS[name](Path(root)) for name in names]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return its exit status (1 when any dataset failed)."""
    parser = argparse.ArgumentParser(
        prog="python -m course_utils.prefetch", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--only", nargs="+", choices=list(DATASETS), default=list(DATASETS))
    args = parser.parse_args(argv)
    root = data_dir()
    print(f"Data folder: {root}")
    failed = False
    for name in args.only:
        try:
            print(prefetch(root, [name])[0], flush=True)
        except (RuntimeError, OSError) as error:
            failed = True
            print(f"{name}: FAILED: {error}", file=sys.stderr, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
