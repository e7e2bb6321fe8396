"""Run-mode settings shared by every lesson: smoke mode and seeding.

Every lesson has one settings cell near the top that shows openly what smoke mode
changes, for example::

    num_epochs = full_or_smoke(full=10, smoke=1)

Smoke mode is on when the environment variable named by ``SMOKE_ENV``
(``COURSE_SMOKE``) holds a true value such as ``1``. The test suite sets it so that
CI can execute every notebook in seconds; a learner never needs it. The variable is
read each time ``smoke_mode()`` is called, never at import, so a caller that changes
it is always heard.
"""

from __future__ import annotations

import os
import random
from typing import TypeVar

import numpy as np
import torch

__all__ = ["SMOKE_ENV", "full_or_smoke", "parse_flag", "seed_everything", "smoke_mode"]

T = TypeVar("T")

SMOKE_ENV = "COURSE_SMOKE"

_TRUE = {"1", "true", "yes", "on", "y", "t"}
_FALSE = {"0", "false", "no", "off", "n", "f", ""}


def parse_flag(name: str, value: str) -> bool:
    """Return the truth of an environment-style flag ``value`` (``"1"``, ``"yes"``, ``"off"``).

    Accepts the usual spellings in any case (``1/true/yes/on/y/t`` and
    ``0/false/no/off/n/f`` or empty); anything else raises ``ValueError`` naming
    ``name``, so a typo never silently means the opposite.
    """
    cleaned = value.strip().lower()
    if cleaned in _TRUE:
        return True
    if cleaned in _FALSE:
        return False
    raise ValueError(
        f"{name}={value!r} is neither true nor false: use 1, true, yes or on to turn it on, "
        "and 0, false, no, off or nothing to turn it off"
    )


def smoke_mode() -> bool:
    """Return whether smoke mode is on, reading ``COURSE_SMOKE`` now.

    Introduced in lesson 01, where the settings cell prints it.
    """
    return parse_flag(SMOKE_ENV, os.environ.get(SMOKE_ENV, ""))


def full_or_smoke(full: T, smoke: T, *, smoke_mode: bool | None = None) -> T:
    """Return ``smoke`` in smoke mode and ``full`` otherwise.

    ``smoke_mode`` overrides the environment (``None`` means: ask ``smoke_mode()``).
    Introduced in lesson 01, used in every settings cell.
    """
    if smoke_mode is None:  # the parameter hides the function of that name
        smoke_mode = parse_flag(SMOKE_ENV, os.environ.get(SMOKE_ENV, ""))
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
