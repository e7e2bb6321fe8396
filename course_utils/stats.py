"""Reading two accuracies: how far apart chance alone would put them.

An accuracy measured on n examples varies from one sample of examples to another by about
its standard error, sqrt(p (1 - p) / n). Lesson 03 works this out by hand; lesson 05 uses
``difference_se`` for the test-against-validation differences it reads, and
``SAME_ACCURACY`` where one model's accuracy is measured twice.

Two training runs differ by more than which examples were drawn: the seed alone moves a
recipe's accuracy. Lesson 05 reads every change with one rule, with no exceptions: a change
is shown when its mean is more than t standard errors from 0, |mean| > t x SE, t the
t-table's two-sided 95% value for the degrees of freedom (``T_95``, ``rule_word``), and
undecided otherwise. So an SE of 0 shows any mean but 0, and a mean of 0 is never shown.
``paired_changes`` applies the rule to changes read seed by seed (section 6's recipes,
exercise 2's widths).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence

__all__ = [
    "SAME_ACCURACY",
    "T_95",
    "difference_se",
    "paired_changes",
    "rule_word",
]

# One model's accuracy measured twice on the same examples agrees exactly on a CPU; this
# allows for a GPU's non-deterministic sums (a fraction: 0.3 points).
SAME_ACCURACY = 0.003


class _TTable(dict):
    """A dict of t values that names the degrees of freedom it lacks."""

    def __missing__(self, df):
        raise ValueError(
            f"df must be a whole number of degrees of freedom from {min(self)} to {max(self)} "
            f"(T_95's table), got {df!r}"
        )


# The t-table's two-sided 95% values by degrees of freedom, to three decimals: torch has no t
# quantile, and the course adds no scipy for ten numbers. Up to 10 degrees of freedom: the
# helpers below take at most 11 seeds. Lesson 05.
T_95: dict[int, float] = _TTable(
    {
        1: 12.706,
        2: 4.303,
        3: 3.182,
        4: 2.776,
        5: 2.571,
        6: 2.447,
        7: 2.365,
        8: 2.306,
        9: 2.262,
        10: 2.228,
    }
)
# The most seeds the helpers take: one more than T_95's largest degrees of freedom.
_MOST_SEEDS = max(T_95) + 1


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


def rule_word(mean: float, se: float, df: int) -> str:
    """The lesson's one rule for a change, as a word: ``"up"`` or ``"down"`` if ``|mean|`` is
    more than ``T_95[df]`` standard errors ``se`` from 0, otherwise ``"undecided"`` (the runs
    could not tell; not "no change"). The plain inequality, with no exception: an ``se`` of
    0 shows any ``mean`` but 0, and a ``mean`` of 0 is never shown. Raises ValueError for
    ``df`` outside ``T_95`` (checked first, whatever ``se`` and ``mean`` are), then for a
    negative or missing (NaN) ``se``, then for a NaN ``mean``. Introduced in lesson 05."""
    t = T_95[df]  # first, so that a bad df is refused even where se would decide alone
    if not se >= 0:  # also catches NaN
        raise ValueError(f"se must be a standard error, 0 or more, got {se}")
    if math.isnan(mean):  # NaN is never more than t x SE: it would read "undecided"
        raise ValueError(f"mean must be a number of points, got {mean}: check the accuracies")
    if abs(mean) > t * se:
        return "up" if mean > 0 else "down"
    return "undecided"


def _check_finals(name: str, accuracies: Sequence[float]) -> list[float]:
    for accuracy in accuracies:
        _fraction(name, accuracy)
    return list(accuracies)


def _judged(mean: float, se: float, df: int) -> dict:
    """The rule's reading of one change: ``se``, ``df``, ``needed`` (``T_95[df] * se``, what
    the mean had to pass) and ``rule_word``."""
    return {"se": se, "df": df, "needed": T_95[df] * se, "rule_word": rule_word(mean, se, df)}


def paired_changes(
    finals: Mapping[str, Sequence[float]], compared: Mapping[str, tuple[str, str]]
) -> dict[str, dict]:
    """Each comparison's change of accuracy, seed by seed, read with ``rule_word``.
    ``finals``: recipe -> its final accuracies (fractions, 0 to 1), one per seed, the seeds
    in the same order for every recipe (at least two seeds, at most 11: ``T_95``'s table);
    ``compared``: what changed -> (the recipe before, the recipe after).

    Returns what changed -> a dict, in the order of ``compared``: ``changes``, the after
    recipe's accuracy minus the before recipe's within each seed, in points (100 times the
    fractions' difference); ``mean``, their mean; ``se``, the mean's standard error,
    stdev(changes) / sqrt(n) for n seeds; ``df``, n - 1; ``needed``, ``T_95[df] * se``, the
    size the mean had to pass to be shown; ``rule_word``, the rule's word (equal changes
    have an SE of 0, or one of float rounding, so any mean but 0 is shown); ``one_way``,
    whether every seed moved the same way (all below 0 or all above 0: a 0 is neither way),
    which the rule does not ask for. Introduced in lesson 05."""
    counts = {name: len(accuracies) for name, accuracies in finals.items()}
    if len(set(counts.values())) != 1 or not 2 <= min(counts.values(), default=0) <= _MOST_SEEDS:
        raise ValueError(
            "finals must hold one accuracy per seed, as many seeds for every recipe (at least "
            f"two, for a standard error; at most {_MOST_SEEDS}, T_95's table); got this many: "
            f"{counts}"
        )
    checked = {name: _check_finals(f"finals[{name!r}]", a) for name, a in finals.items()}
    table = {}
    for what, (before, after) in compared.items():
        for name in (before, after):
            if name not in checked:
                raise ValueError(
                    f"compared[{what!r}] names the recipe {name!r}, which finals lacks: "
                    f"give finals an entry for it (finals has {sorted(finals)})"
                )
        changes = [
            100 * (new - old) for new, old in zip(checked[after], checked[before], strict=True)
        ]
        mean, df = statistics.mean(changes), len(changes) - 1
        se = statistics.stdev(changes) / math.sqrt(len(changes))
        one_way = all(c < 0 for c in changes) or all(c > 0 for c in changes)
        table[what] = {
            "changes": changes,
            "mean": mean,
            "one_way": one_way,
            **_judged(mean, se, df),
        }
    return table
