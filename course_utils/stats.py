"""Reading two accuracies: how far apart chance alone would put them.

An accuracy measured on n examples varies from one sample of examples to another by about
its standard error, sqrt(p (1 - p) / n). Lesson 03 works this out by hand; lesson 05 uses
``difference_se`` for the test-against-validation differences it reads, and
``SAME_ACCURACY`` where one model's accuracy is measured twice.
"""

from __future__ import annotations

import math

__all__ = ["SAME_ACCURACY", "difference_se"]

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
