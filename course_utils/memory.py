"""Handing memory back between a lesson's heavy steps.

When a tensor is freed, its memory goes back to the C library's allocator, which keeps
much of it for later instead of returning it to the system, so a notebook's process
keeps the high-water marks of earlier cells. ``release_memory`` hands back what it can.
"""

from __future__ import annotations

import ctypes
import gc
import sys

__all__ = ["release_memory"]


def release_memory() -> None:
    """Collect unreachable Python objects (``gc.collect()``) and, on Linux with glibc, ask
    the allocator to return its free heap memory to the system (``malloc_trim(0)``).

    Returns nothing and changes no result: it can only lower the memory the process
    holds. With another C library, or on macOS and Windows, the second part does nothing.
    Introduced in lesson 05.
    """
    gc.collect()
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):  # not glibc: nothing to hand back this way
            pass
