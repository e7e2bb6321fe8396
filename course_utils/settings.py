"""Run-mode settings shared by every lesson: smoke mode and seeding.

Every lesson has one settings cell near the top that shows openly what smoke mode
changes, for example::

    num_epochs = full_or_smoke(full=10, smoke=1)

``SMOKE`` is true when the environment variable ``COURSE_SMOKE`` is ``1``. The test
suite sets it so that CI can execute every notebook in seconds; a learner never
needs it.
"""

from __future__ import annotations

import os
import random
from typing import TypeVar

import numpy as np
import torch

__all__ = ["SMOKE", "full_or_smoke", "seed_everything"]

T = TypeVar("T")

SMOKE: bool = os.environ.get("COURSE_SMOKE", "") == "1"


def full_or_smoke(full: T, smoke: T, *, smoke_mode: bool | None = None) -> T:
    """Return ``smoke`` in smoke mode and ``full`` otherwise.

    ``smoke_mode`` overrides the environment (``None`` means: use ``SMOKE``).
    Introduced in lesson 01, used in every settings cell.
    """
    if smoke_mode is None:
        smoke_mode = SMOKE
    return smoke if smoke_mode else full


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python's ``random``, NumPy and torch (CPU and every GPU) with ``seed``.

    Returns a ``torch.Generator`` seeded the same way, handy for
    ``random_split(..., generator=...)`` and ``DataLoader(..., generator=...)``.
    Introduced in lesson 01.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return torch.Generator().manual_seed(seed)
