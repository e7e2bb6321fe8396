"""Checks for the exercises of lesson 04 (training on a GPU): ``check_exercise(n, ...)``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from . import (
    Exercise,
    call_learner_code,
    make_checker,
    require,
    require_keys,
    require_number,
)

__all__ = ["EXERCISES", "check_exercise"]

LESSON = "04"
BATCH_SIZES = (16, 64, 256, 1024)


def _device_names(devices: Sequence[torch.device]) -> list[str]:
    return list(dict.fromkeys(device.type for device in devices))


def _seconds(value: Any, name: str) -> float:
    seconds = require_number(value, name)
    require(seconds > 0, f"`{name}` is {seconds}; a time must be positive.")
    return seconds


def _exercise_1(
    big_model_seconds: Any, big_model: Any, devices: Sequence[torch.device]
) -> list[str]:
    require_keys(big_model_seconds, _device_names(devices), "big_model_seconds")
    for name, value in big_model_seconds.items():
        _seconds(value, f"big_model_seconds[{name!r}]")
    require(isinstance(big_model, nn.Module), "`big_model` should be the model you timed last.")
    shapes = [
        (m.in_features, m.out_features) for m in big_model.modules() if isinstance(m, nn.Linear)
    ]
    require(
        shapes == [(28 * 28, 2048), (2048, 2048), (2048, 10)],
        f"`big_model` has linear layers {shapes}; the exercise asks for hidden layers "
        "[2048, 2048] between the 784 pixels and the 10 classes.",
    )
    return [
        f"`big_model_seconds` has a positive time for each device in `devices` "
        f"({', '.join(_device_names(devices))})",
        "`big_model` is 784 -> 2048 -> 2048 -> 10",
    ]


def _exercise_2(
    seconds_per_step: Callable[..., Any], step_table: Any, devices: Sequence[torch.device]
) -> list[str]:
    require_keys(step_table, BATCH_SIZES, "step_table")
    names = _device_names(devices)
    for size in BATCH_SIZES:
        require_keys(step_table[size], names, f"step_table[{size}]")
        for name in names:
            _seconds(step_table[size][name], f"step_table[{size}][{name!r}]")
    require(callable(seconds_per_step), "`seconds_per_step` should be your timing function.")
    cpu = torch.device("cpu")
    fresh = _seconds(
        call_learner_code(seconds_per_step, 16, cpu, name="seconds_per_step"),
        "seconds_per_step(16, cpu)",
    )
    stored = step_table[16]["cpu"]
    ratio = stored / fresh
    require(
        1 / 5 < ratio < 5,
        f"`step_table[16]['cpu']` is {stored:.3g} s, but `seconds_per_step(16, cpu)` measures "
        f"{fresh:.3g} s now, {max(ratio, 1 / ratio):.0f} times "
        f"{'more' if ratio > 1 else 'less'}. Store the mean seconds of one step: not the "
        "time per image, not the total of all the steps.",
    )
    per_image = {size: step_table[size]["cpu"] / size for size in BATCH_SIZES}
    require(
        per_image[1024] < per_image[16],
        "On the CPU your time per image does not fall from batch 16 to batch 1024, yet a "
        "larger batch shares each step's fixed cost among more images. Does the clock start "
        "after the first step, which includes set-up?",
    )
    return [
        f"`step_table` has a positive time for batch sizes {BATCH_SIZES} on each device",
        "on the CPU the time per image falls from batch 16 to batch 1024",
        "`seconds_per_step`, run again by the check for batch 16, measures a step time "
        "close to the one stored",
    ]


EXERCISES = {
    1: Exercise(
        hint="per device, fit MLP(784, [2048, 2048], 10) 1 epoch; store its seconds in "
        "big_model_seconds",
        test=_exercise_1,
    ),
    2: Exercise(
        hint="step_table[batch_size][device.type] = seconds per step; synchronize(on) before "
        "clock reads",
        test=_exercise_2,
    ),
}

check_exercise = make_checker(LESSON, EXERCISES)
