"""Reading lesson 06's timing scripts and comparing their arms round by round.

Lesson 06 introduces every helper here. ``comm_cost.py`` prints its timings as lines;
``read_comm_cost`` reads them back (each rank's own, and the ranks' together: each repeat
the slowest rank's time, which a step waits for) and ``comm_cost_table`` lays them out.
``compare_arms.py`` writes ``arms.json``; ``read_arms`` turns it into each arm's figures,
``arms_table`` lays them out, ``read_weight_gap`` reads how far apart two arms' weights ended,
and ``arm_speed_ups`` counts an arm's rounds against a baseline with ``course_utils.rounds``.
"""

from __future__ import annotations

import json
import re
import statistics
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from course_utils.epoch_times import after_first, rounded_parts
from course_utils.rounds import TIE, RoundCount, count_rounds

__all__ = [
    "CommCost",
    "SPEED_UP_DIGITS",
    "arm_speed_ups",
    "arms_table",
    "comm_cost_table",
    "read_arms",
    "read_arms_json",
    "read_comm_cost",
    "read_weight_gap",
    "shown_parts",
]

_TIMING = re.compile(
    r"\[rank (\d+)\] batch (\d+) per process: step without communication ([\d.]+) ms, "
    r"DDP step ([\d.]+) ms, DDP step inside no_sync ([\d.]+) ms, "
    r".*?between the steps ([\d.]+) ms"
)
# Rank 0 alone (the others waiting): its step on B images, then on 2B.
_ALONE = re.compile(
    r"batch (\d+) per process: rank 0 alone .*?step on \d+ images ([\d.]+) ms, "
    r"step on \d+ images ([\d.]+) ms"
)
# Rank 0 prints the launch's world size once, before the timings.
_WORLD_SIZE = re.compile(r"^world size: (\d+)$", re.MULTILINE)
_TOGETHER = re.compile(
    r"batch (\d+) per process, each repeat the slowest rank's time: step without communication "
    r"([\d.]+) ms, DDP step ([\d.]+) ms, DDP step inside no_sync ([\d.]+) ms, "
    r"all-reduce between the steps ([\d.]+) ms"
)


def _parts(step: float, ddp: float, no_sync: float, all_reduce: float) -> dict[str, float]:
    """The four timed parts, and the three differences of them that ``CommCost`` names."""
    parts = {"step": step, "ddp": ddp, "no_sync": no_sync, "all_reduce": all_reduce}
    parts |= {"added": ddp - step, "wrapper": no_sync - step, "reduction": ddp - no_sync}
    return parts


@dataclass(frozen=True)
class CommCost:
    """``comm_cost.py``'s timings in ms. ``per_rank[batch][rank]`` (each rank's own
    medians) and ``together[batch]`` (the ranks together) map ``"step"`` (without
    communication), ``"ddp"`` (the DDP step), ``"no_sync"`` (the DDP step inside
    ``no_sync``: nothing sent), ``"added"`` (DDP's added time: DDP step minus step), its two
    parts ``"wrapper"`` (no_sync minus step: DDP's wrapper around forward, with no
    reduction prepared) and ``"reduction"`` (DDP step minus no_sync: the reducer's work,
    copying gradients into buckets, sending, and waiting for the others), and
    ``"all_reduce"`` (a bare all-reduce, between the steps) to their times. In
    ``together``, each timed part is the median over the repeats of each repeat's slowest
    rank's time (the processes go on only once the slowest has finished), as
    ``comm_cost.py`` printed it, and the three others are differences of those, so every
    row is one measurement's, not ranks mixed. ``together[batch]`` also holds rank 0's
    steps timed with the others waiting at a barrier: ``"alone"`` on the B images of one
    process, ``"double"`` on twice as many (one process's step on the effective batch).
    ``world_size``: the processes in the launch, as rank 0 printed it."""

    per_rank: dict[int, dict[int, dict[str, float]]]
    together: dict[int, dict[str, float]]
    world_size: int


def _repeated(keys: list) -> list:
    """The keys that occur more than once in ``keys``, sorted."""
    return sorted(key for key, count in Counter(keys).items() if count > 1)


def read_comm_cost(output: str) -> CommCost:
    """Read the timings that ``comm_cost.py`` printed; return them as a ``CommCost``.

    Raises ``ValueError``, naming what is missing, when the output lacks a batch size's
    lines (for example a launch that failed part way) or its ``world size: N`` line, when a
    batch size's ranks are not exactly 0 to N - 1 (a rank whose lines were all lost, the
    last one included), or when a line appears twice for the same batch size (and rank),
    as when two launches' outputs are joined. Lesson 06.
    """
    timing = [(int(batch), int(rank), times) for rank, batch, *times in _TIMING.findall(output)]
    alone_lines = [(int(b), (float(one), float(two))) for b, one, two in _ALONE.findall(output)]
    together_lines = [(int(batch), ms) for batch, *ms in _TOGETHER.findall(output)]
    world_sizes = [int(size) for size in _WORLD_SIZE.findall(output)]
    # A batch size timed twice (two launches' outputs joined, say): which line would count?
    twice = [f"rank {r}'s line at {b}" for b, r in _repeated([(b, r) for b, r, _ in timing])]
    twice += [f"rank 0 alone at {b}" for b in _repeated([b for b, _ in alone_lines])]
    twice += [f"the slowest rank's at {b}" for b in _repeated([b for b, _ in together_lines])]
    twice += ["the world size"] if len(world_sizes) > 1 else []
    if twice:
        raise ValueError(
            f"comm_cost.py's output has a line twice ({', '.join(twice)}): pass one launch's "
            "output only"
        )
    per_rank: dict[int, dict[int, dict[str, float]]] = {}
    for batch, rank, times in timing:
        per_rank.setdefault(batch, {})[rank] = _parts(*map(float, times))
    alone = dict(alone_lines)
    together = {batch: _parts(*map(float, ms)) for batch, ms in together_lines}
    missing = set(per_rank) ^ set(alone) or set(per_rank) ^ set(together)
    # Every batch size needs a line from each rank 0 to N - 1, N the world size rank 0
    # printed; otherwise a launch cut short, a rank whose lines were all lost (the last
    # rank's too, which the ranks seen alone cannot show) or a stray rank would pass.
    world_size = world_sizes[0] if world_sizes else None
    shown = "no line" if world_size is None else world_size
    ranks_seen = {batch: sorted(ranks) for batch, ranks in per_rank.items()}
    every_rank = list(range(world_size or 0))
    gaps = any(ranks != every_rank for ranks in ranks_seen.values())
    if not per_rank or missing or gaps:  # no world size leaves every batch with gaps
        raise ValueError(
            "comm_cost.py's output lacks some timing lines "
            f"(world size: {shown}, batches with ranks' lines: "
            f"{sorted(per_rank)}, with rank 0 alone: {sorted(alone)}, with the slowest "
            f"rank's: {sorted(together)}, ranks per batch: {ranks_seen}, each batch's ranks "
            "must be 0 to the world size - 1); run its launch again"
        )
    for batch, (single, double) in alone.items():
        together[batch] |= {"alone": single, "double": double}
    return CommCost(per_rank, together, world_size)


def comm_cost_table(cost: CommCost, title: str) -> str:
    """A table of ``cost.together``: one column per batch size, one row per part. Every row
    but the last two is each repeat's slowest rank's time (or a difference of two such rows),
    as the header says; the last two, labelled "(rank 0 alone)", are rank 0's own steps while
    the others waited. Lesson 06."""
    batches = sorted(cost.together)
    heads = "".join(f"{f'B = {batch:,}':>14}" for batch in batches)
    head = "ms; rows 1-7: each repeat's slowest rank"
    rows = [title, f"{head:<48}{heads}"]
    labels = (
        ("step without communication", "step"),
        ("DDP step", "ddp"),
        ("DDP step inside no_sync", "no_sync"),
        ("DDP's added time (DDP - step)", "added"),
        ("  wrapper only (no_sync - step)", "wrapper"),
        ("  reduction, waits (DDP - no_sync)", "reduction"),
        ("all-reduce between the steps", "all_reduce"),
        ("1 process, step on the B images (rank 0 alone)", "alone"),
        ("1 process, step on the 2B images (rank 0 alone)", "double"),
    )
    for label, part in labels:
        rows.append(f"{label:<48}" + "".join(f"{cost.together[b][part]:>14.3f}" for b in batches))
    return "\n".join(rows)


def read_arms(folder: str | Path) -> dict[str, dict]:
    """Each arm's figures from the ``arms.json`` that ``compare_arms.py`` wrote in ``folder``.

    Round 1 can pay first-time costs, so only the later rounds count (all of them if there
    is only one). Returns arm -> ``epochs`` and ``loads`` (each round's seconds: the epoch,
    getting its batches ready; rank 0's for 2 processes), the medians ``epoch`` and ``loader``,
    ``rest`` (the exact median epoch minus the median loading, as ``epoch_times.parts`` splits
    one; the printed parts, rounded and capped, come from ``shown_parts``), and ``val_acc``.
    Raises ``FileNotFoundError`` naming the file. Lesson 06.
    """
    figures = {}
    for arm, row in read_arms_json(folder)["arms"].items():
        epochs, loads = after_first(row["seconds"]), after_first(row["loader_seconds"])
        figures[arm] = {"epochs": epochs, "loads": loads, "val_acc": row["val_acc"]}
        figures[arm]["epoch"] = statistics.median(epochs)
        figures[arm]["loader"] = statistics.median(loads)
        figures[arm]["rest"] = figures[arm]["epoch"] - figures[arm]["loader"]
    return figures


def read_weight_gap(folder: str | Path) -> float:
    """The largest difference between any weight of the plain loop and of the DDP arm after
    the rounds, from the ``arms.json`` that ``compare_arms.py`` wrote in ``folder``: near 0
    when both trained the same model. Raises ``FileNotFoundError`` naming the file, and
    ``KeyError`` naming it if an older ``compare_arms.py`` wrote it without the gap. Lesson 06.
    """
    found = read_arms_json(folder)
    if "weight_gap" not in found:
        path = Path(folder) / "arms.json"
        raise KeyError(f"{path} has no weight_gap: rerun compare_arms.py with --out {folder}")
    return float(found["weight_gap"])


def read_arms_json(folder: str | Path) -> dict:
    """The whole ``arms.json`` that ``compare_arms.py`` wrote in ``folder``, for the figures
    ``read_arms`` does not summarise (the weight check's, for one). Raises
    ``FileNotFoundError`` naming the file and the fix. Lesson 06."""
    path = Path(folder) / "arms.json"
    if not path.is_file():
        raise FileNotFoundError(f"no {path}: run compare_arms.py with --out {folder} first")
    return json.loads(path.read_text())


def shown_parts(row: dict) -> tuple[float, float, float]:
    """An arm's median epoch, median loading and the rest, as the lesson prints them: the
    first two to 3 decimals and the rest as their difference, so that the printed parts add
    up, the loading capped at the epoch (``epoch_times.rounded_parts``, which
    ``plotting.plot_epoch_parts`` labels its bars with too). ``row``: one arm of
    ``read_arms``'s figures. Lesson 06."""
    return rounded_parts(row["epoch"], row["loader"])


def arms_table(figures: dict[str, dict], title: str) -> str:
    """A table of ``read_arms``'s figures: one row per arm, in the order given, the arm
    column as wide as its longest name (24 characters at least); seconds to 3 decimals, the
    rest as ``shown_parts`` gives it, so each row's parts add up. Lesson 06."""
    width = max([24, *(len(arm) for arm in figures)])
    rows = [
        title,
        f"{'arm':<{width}} | {'epoch':>6} | {'range of rounds':>16} | {'loader':>6} | "
        f"{'the rest':>8} | val accuracy",
    ]
    for arm, row in figures.items():
        spread = f"{min(row['epochs']):.3f} to {max(row['epochs']):.3f}"
        epoch, loader, rest = shown_parts(row)
        rows.append(
            f"{arm:<{width}} | {epoch:>6.3f} | {spread:>16} | {loader:>6.3f} | "
            f"{rest:>8.3f} | {row['val_acc']:.4f}"
        )
    return "\n".join(rows)


def arm_speed_ups(
    figures: dict[str, dict],
    arm: str,
    baseline: str,
    tie: float = TIE,
    *,
    digits: int | None = None,
) -> RoundCount:
    """``arm``'s speed-up over ``baseline`` in each round of ``read_arms``'s figures: the
    baseline's epoch over the arm's (above 1: the arm was faster), counted as faster, tied or
    slower by ``count_rounds`` (``digits``: each round judged as printed to that many
    decimals, so a round printed 1.10 is a tie). Returns the ``RoundCount``. Lesson 06."""
    for name in (arm, baseline):
        if name not in figures:
            raise KeyError(f"no arm {name!r} in the figures; their arms: {sorted(figures)}")
    pairs = zip(figures[baseline]["epochs"], figures[arm]["epochs"], strict=True)
    return count_rounds([theirs / mine for theirs, mine in pairs], tie, digits=digits)


SPEED_UP_DIGITS = 2
"""Decimals lesson 06 prints a speed-up to; pass it as ``digits`` to ``arm_speed_ups`` to
judge each speed-up as printed (a round printed 1.10 is then a tie). Lesson 06."""
