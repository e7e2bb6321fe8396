"""Checks for the exercises of lesson 06 (data-parallel training under torchrun).

They read what the training script printed (``TorchrunResult.output``) to see how the
run was launched, and the history it wrote to see what it achieved.
"""

from __future__ import annotations

import re
import statistics
from typing import Any

from ..distributed import TorchrunResult
from . import Exercise, make_checker, require, require_fraction, require_number, require_type

__all__ = ["EXERCISES", "check_exercise"]

LESSON = "06"
# Chance is 0.1. In smoke mode the run with batches of 256 sees a few hundred images
# and reaches about 0.45; every full-size run passes 0.9.
LEARNED = 0.3
LAUNCH = re.compile(
    r"(\d+) process\(es\) x (\d+) images = effective batch (\d+), learning rate ([\d.]+)"
)
EPOCH_SECONDS = re.compile(r"epoch \d+: ([\d.]+) s training")


def _launch(run: Any, name: str) -> tuple[int, int, float]:
    require_type(run, TorchrunResult, name, "what `run_torchrun` returned")
    found = LAUNCH.search(run.output)
    require(found is not None, f"`{name}.output` has no line saying how the run was set up.")
    processes, batch, _, rate = found.groups()
    return int(processes), int(batch), float(rate)


def _exercise_1(scaled_run: Any, scaled_history: Any, num_epochs: int) -> list[str]:
    processes, batch, rate = _launch(scaled_run, "scaled_run")
    require(processes == 2, f"The run had {processes} process(es); the exercise asks for 2.")
    require(
        batch == 128,
        f"Each process took batches of {batch}; keep 128 per process (`--batch-size 128`).",
    )
    require(
        abs(rate - 0.4) < 1e-9,
        f"The learning rate was {rate}. The linear scaling rule multiplies the rate by the "
        "factor the effective batch grew by: from 128 to 256.",
    )
    require(
        isinstance(scaled_history, list)
        and len(scaled_history) == num_epochs
        and all(isinstance(epoch, dict) for epoch in scaled_history),
        f"`scaled_history` should be the list in history.json, one dict for each of the "
        f"{num_epochs} epoch(s).",
    )
    printed = [float(value) for value in EPOCH_SECONDS.findall(scaled_run.output)]
    stored = [round(float(epoch.get("seconds", -1)), 2) for epoch in scaled_history]
    require(
        len(printed) == len(stored)
        and all(abs(a - b) < 0.011 for a, b in zip(printed, stored, strict=True)),
        "`scaled_history` does not hold the epochs this run printed: read history.json from "
        "the folder of this run.",
    )
    accuracy = require_fraction(scaled_history[-1].get("val_acc"), "the final val_acc")
    require(
        accuracy >= LEARNED,
        f"The final validation accuracy is {accuracy:.3f}, close to guessing: the run did "
        "not learn.",
    )
    return [
        "the run had 2 processes with batches of 128 each, at a learning rate of 0.4",
        "`scaled_history` holds the epochs this run printed",
        f"`scaled_history` has its {num_epochs} epoch(s), and the model learned "
        f"(at least {LEARNED:.0%})",
    ]


def _exercise_2(thread_run: Any, two_thread_seconds: Any) -> list[str]:
    processes, _, _ = _launch(thread_run, "thread_run")
    require(processes == 1, f"The run had {processes} processes; the exercise asks for 1.")
    threads = {int(count) for count in re.findall(r"(\d+) threads", thread_run.output)}
    require(bool(threads), "`thread_run.output` has no line saying how many threads ran.")
    require(
        threads == {2},
        f"The process ran with {', '.join(map(str, sorted(threads)))} intra-op thread(s): "
        "pass `threads_per_process=2`.",
    )
    seconds = require_number(two_thread_seconds, "two_thread_seconds")
    epochs = [float(value) for value in EPOCH_SECONDS.findall(thread_run.output)]
    require(bool(epochs), "`thread_run.output` has no epoch lines.")
    mean = statistics.fmean(epochs)
    require(
        abs(seconds - mean) <= 0.01 + 0.01 * mean,
        f"`two_thread_seconds` is {seconds:.3f}, but the run's epochs took {mean:.3f} s on "
        "average: store the mean of the `seconds` in its history.json.",
    )
    return [
        "the run had 1 process with 2 intra-op threads",
        "`two_thread_seconds` is the mean training time of its epochs",
    ]


EXERCISES = {
    1: Exercise(
        hint="run_torchrun(train_script, 2, args=[...], cpu_only=cpu_only), --batch-size 128 "
        "--lr 0.4",
        test=_exercise_1,
    ),
    2: Exercise(
        hint="run_torchrun(..., nproc=1, threads_per_process=2, cpu_only=True); average the "
        "seconds",
        test=_exercise_2,
    ),
}

check_exercise = make_checker(LESSON, EXERCISES)
