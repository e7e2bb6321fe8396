"""Reading two accuracies: how far apart chance alone would put them.

An accuracy measured on n examples varies from one sample of examples to another by about
its standard error, sqrt(p (1 - p) / n). Lesson 03 works this out by hand; lesson 05 uses
``difference_se`` for the test-against-validation differences it reads, and
``SAME_ACCURACY`` where one model's accuracy is measured twice.

Two training runs differ by more than which examples were drawn: the seed alone moves a
recipe's accuracy. Lesson 05 trains each recipe from several seeds and reads each change
seed by seed (``changes_within_seeds``, ``direction``) against a *seed range*, the best
seed's accuracy minus the worst's.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence

__all__ = ["SAME_ACCURACY", "changes_within_seeds", "difference_se", "direction"]

# One model's accuracy measured twice on the same examples agrees exactly on a CPU; this
# allows for a GPU's non-deterministic sums (a fraction: 0.3 points).
SAME_ACCURACY = 0.003


def _fraction(name: str, value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be an accuracy between 0 and 1 (a fraction), got {value}")
    return value


def _count(name: str, value: int) -> int:
    if value < 1:
        raise ValueError(f"{name} must be a count of at least one example, got {value}")
    return value


def difference_se(first: float, first_count: int, second: float, second_count: int) -> float:
    """The standard error of ``first - second``, two accuracies (fractions) measured on
    ``first_count`` and ``second_count`` examples: sqrt(p1 (1 - p1) / n1 + p2 (1 - p2) / n2),
    treating the two measurements as independent. Returns a fraction. Lesson 05."""
    first, second = _fraction("first", first), _fraction("second", second)
    first_count, second_count = (
        _count("first_count", first_count),
        _count("second_count", second_count),
    )
    return math.sqrt(first * (1 - first) / first_count + second * (1 - second) / second_count)


def changes_within_seeds(
    finals: Mapping[str, Sequence[float]],
    seed_ranges: Mapping[str, float],
    steps: Mapping[str, tuple[str, str]],
) -> dict[str, dict]:
    """Each step's change of accuracy, seed by seed. ``finals``: recipe -> its final
    accuracies (fractions), one per seed, the seeds in the same order for every recipe;
    ``seed_ranges``: recipe -> its seed range (points, checked against ``finals``);
    ``steps``: what changed -> (the recipe before, the recipe after).

    Returns what changed -> a dict: ``changes``, the after recipe's accuracy minus the
    before recipe's within each seed, in points (100 times the fractions' difference);
    ``mean``, their mean; ``yardstick``, the larger seed range of the two recipes (how far
    the seed alone moved either). In the order of ``steps``. Introduced in lesson 05."""
    counts = {name: len(accuracies) for name, accuracies in finals.items()}
    if len(set(counts.values())) != 1 or 0 in counts.values():
        raise ValueError(
            "finals must hold one accuracy per seed, as many seeds for every recipe (at least "
            f"one); got this many: {counts}"
        )
    for name, accuracies in finals.items():
        for accuracy in accuracies:
            _fraction(f"finals[{name!r}]", accuracy)
    for name, spread in seed_ranges.items():
        accuracies = finals.get(name)
        if accuracies is not None and not math.isclose(
            spread, 100 * (max(accuracies) - min(accuracies)), abs_tol=1e-6
        ):
            raise ValueError(
                f"seed_ranges[{name!r}] is {spread}, but finals[{name!r}] spans "
                f"{100 * (max(accuracies) - min(accuracies)):.4f} points: give each seed range "
                "in points, 100 times the best seed's accuracy minus the worst's"
            )
    table = {}
    for what, (before, after) in steps.items():
        for name in (before, after):
            if name not in finals or name not in seed_ranges:
                raise ValueError(
                    f"steps[{what!r}] names the recipe {name!r}, which finals or seed_ranges "
                    f"lacks: give both an entry for it (finals has {sorted(finals)})"
                )
        changes = [
            100 * (new - old) for new, old in zip(finals[after], finals[before], strict=True)
        ]
        table[what] = {
            "changes": changes,
            "mean": statistics.mean(changes),
            "yardstick": max(seed_ranges[before], seed_ranges[after]),
        }
    return table


def direction(changes: Sequence[float]) -> str:
    """``"lower in every seed"`` if every change is below 0, ``"higher in every seed"`` if
    every one is above 0, otherwise ``"mixed"`` (a change of 0 included). Lesson 05."""
    if not changes:
        raise ValueError("changes must hold at least one seed's change, got none")
    if all(change < 0 for change in changes):
        return "lower in every seed"
    if all(change > 0 for change in changes):
        return "higher in every seed"
    return "mixed"
