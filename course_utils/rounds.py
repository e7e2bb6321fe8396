"""Comparing two ways of doing the same work, round by round, with a tie band.

A machine runs the same work faster at some moments than at others, so lessons 04 and 06
time the ways they compare in rounds, one of each per round, and read each round's
*speed-up* (the other way's time over this one's). ``count_rounds`` counts the rounds as
faster, tied or slower and names a winner only when every round agrees, over two rounds or
more; ``speed_up_in_words`` says one speed-up in words. All three are
introduced in lesson 04 (``speed_up_in_words`` inside ``count_rounds``).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["TIE", "RoundCount", "count_rounds", "speed_up_in_words"]

TIE = 0.10
"""Two times tie when the slower is less than ``1 + TIE`` times the faster."""


def speed_up_in_words(speed_up: float, tie: float = TIE, *, digits: int | None = None) -> str:
    """``"faster"``, ``"slower"`` or ``"a tie (within 10%)"`` (``tie`` as a percentage) for
    a speed-up, a time ratio old over new: above ``1 + tie`` is faster, below
    ``1 / (1 + tie)`` slower, anything between a tie. ``digits`` judges the speed-up as it is
    printed: the speed-up and both edges rounded to that many decimals, so a printed 0.909
    (the lower edge, 1 / 1.1, rounded) and a printed 1.100 both read as ties. Introduced in
    lesson 04 (inside ``count_rounds``)."""
    if tie < 0:
        raise ValueError(f"tie must be 0 or more, got {tie!r}")
    top, bottom = 1 + tie, 1 / (1 + tie)
    if digits is not None:
        speed_up, top, bottom = (round(x, digits) for x in (speed_up, top, bottom))
    if speed_up > top:
        return "faster"
    if speed_up < bottom:
        return "slower"
    return f"a tie (within {tie:.0%})"


@dataclass(frozen=True)
class RoundCount:
    """How paired rounds went: their speed-ups, how many were faster, tied and slower,
    their median, and a verdict that names a winner only when every round agrees, over two
    rounds or more."""

    speed_ups: tuple[float, ...]
    faster: int
    tied: int
    slower: int

    @property
    def median(self) -> float:
        return statistics.median(self.speed_ups)

    @property
    def unanimous(self) -> bool:
        """Whether every round went the same way, all faster or all slower, over at least
        two rounds (one round cannot agree with anything)."""
        return len(self.speed_ups) > 1 and len(self.speed_ups) in (self.faster, self.slower)

    @property
    def verdict(self) -> str:
        """A winner only when every round agrees, over two rounds or more; otherwise no
        winner, with the count (all ties read differently from rounds that went both
        ways), or "not judged" for a single round (a quick smoke run's)."""
        return self.verdict_as()

    def verdict_as(self, faster: str = "faster", slower: str = "slower") -> str:
        """``verdict`` with other words for the two directions, for a ratio that is not a
        speed (lesson 04 reads time per image as "cheaper" or "costlier" per image)."""
        if len(self.speed_ups) < 2:
            return "not judged: one round"
        if not self.unanimous:
            counts = f"{self.faster} {faster}, {self.tied} tied, {self.slower} {slower}"
            return f"no clear winner: {counts}"
        return f"{faster if self.faster else slower} in every round"


def count_rounds(
    speed_ups: Sequence[float], tie: float = TIE, *, digits: int | None = None
) -> RoundCount:
    """Count paired rounds' speed-ups as faster, tied or slower (``speed_up_in_words``,
    which ``digits`` is passed to: judged as printed).

    Returns a ``RoundCount``; raises ``ValueError`` for no rounds. Introduced in lesson 04.
    """
    if not speed_ups:
        raise ValueError("count_rounds needs at least one round's speed-up")
    words = [speed_up_in_words(speed_up, tie, digits=digits) for speed_up in speed_ups]
    faster, slower = words.count("faster"), words.count("slower")
    return RoundCount(tuple(speed_ups), faster, len(words) - faster - slower, slower)
