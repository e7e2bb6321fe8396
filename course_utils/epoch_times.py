"""Reading a run's epoch times over its later epochs, the epochs after the first.

A first epoch can pay one-off costs (compiling, for one), so lesson 04 reads its timings over
the later epochs: ``after_first`` picks them, ``later_epochs`` gives their median, fastest and
slowest, and ``parts`` splits a pipeline's median later epoch into its wait for batches and
the rest (``plotting.plot_epoch_parts`` draws a bar from its ``loader`` and ``epochs``);
``rounded_parts`` rounds such a split the one way that tables and figures print it. A run of
one epoch has no later epoch: there its first stands in.
Introduced in lesson 04.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import TypeVar

__all__ = ["after_first", "later_epochs", "parts", "rounded_parts"]

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


def rounded_parts(epoch: float, loading: float) -> tuple[float, float, float]:
    """An epoch's seconds split as tables and figures print them: ``(epoch, loading, rest)``,
    the first two rounded to 3 decimals, the loading capped at the epoch (over uneven rounds
    the loading's median can exceed the epoch's median), and the rest their difference, so
    the printed parts add up where rounding the exact rest might not. Used by
    ``scaling.arms_table`` and ``plotting.plot_epoch_parts``. Introduced in lesson 04."""
    shown_epoch = round(epoch, 3)
    shown_loading = min(round(loading, 3), shown_epoch)
    return shown_epoch, shown_loading, round(shown_epoch - shown_loading, 3)
