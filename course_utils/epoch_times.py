"""Reading a run's epoch times over its later epochs, the epochs after the first.

A first epoch can pay one-off costs (choosing kernels, compiling, warming caches), so lesson
04 reads its timings over the later epochs: ``after_first`` picks them, ``later_epochs``
gives their median, fastest and slowest, ``first_against_later`` says where the dropped first
epoch fell among them, and ``parts`` splits a pipeline's median later epoch into its wait for
batches and the rest (``plotting.plot_epoch_parts`` draws a bar from its ``loader`` and
``epochs``). A run of one epoch has no later epoch: there its first stands in.
Introduced in lesson 04.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import TypeVar

__all__ = ["after_first", "first_against_later", "later_epochs", "parts"]

Item = TypeVar("Item")


def after_first(items: Sequence[Item]) -> list[Item]:
    """Return the items after the first, as a list: the later epochs (or rounds). A single
    item is returned alone, as a one-item list. Introduced in lesson 04."""
    if len(items) == 0:
        raise ValueError("items is empty: pass one entry per epoch (or round), at least one")
    return list(items[1:]) or list(items)


def later_epochs(seconds: Sequence[float]) -> tuple[float, float, float]:
    """Return the median, fastest and slowest of the epochs after the first (the first
    alone if it is the only one), from one entry of seconds per epoch. Introduced in
    lesson 04."""
    later = after_first(seconds)  # raises on an empty list
    return statistics.median(later), min(later), max(later)


def first_against_later(seconds: Sequence[float]) -> str:
    """Return where the first epoch's seconds fall against the later epochs': ``"slower than
    each"`` (above every later one), ``"faster than each"`` (below every one) or ``"within
    their range"`` (from the fastest to the slowest, both included). ``seconds`` holds one
    entry per epoch, at least two. Introduced in lesson 04 (why it drops the first epoch)."""
    if len(seconds) < 2:
        raise ValueError(
            f"seconds has {len(seconds)} epoch(s): pass one entry per epoch, at least two, so "
            "that the first has later epochs to be compared with"
        )
    first, later = seconds[0], seconds[1:]
    if first > max(later):
        return "slower than each"
    if first < min(later):
        return "faster than each"
    return "within their range"


def parts(times: Sequence[float], waits: Sequence[float]) -> dict[str, float | list[float]]:
    """Return one pipeline's bar as a dict: ``"loader"``, the median later wait for batches;
    ``"rest"``, the median later epoch minus that wait; ``"epochs"``, the later epochs'
    seconds (a dot each). ``times`` and ``waits`` hold one entry per epoch, the same epochs.
    Introduced in lesson 04."""
    if len(times) == 0 or len(waits) == 0:
        empty = "times" if len(times) == 0 else "waits"
        raise ValueError(f"{empty} is empty: pass one entry per epoch, at least one")
    if len(times) != len(waits):
        raise ValueError(
            f"times has {len(times)} epochs and waits {len(waits)}: pass one time and one "
            "wait for each epoch of the same run"
        )
    wait, later = later_epochs(waits)[0], after_first(times)
    return {"loader": wait, "rest": statistics.median(later) - wait, "epochs": later}
