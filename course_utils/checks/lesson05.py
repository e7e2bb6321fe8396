"""Checks for the exercises of lesson 05 (convolutional networks on CIFAR-10).

In smoke mode the lesson trains for a step or two on a few hundred images, and every
model stays near chance, so these checks test structure, not accuracy: the runs asked
for, their lengths and parameter counts. Overfitting is checked only when the run was
long enough to show it.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from . import Exercise, Wrong, make_checker, require, require_fraction, require_keys, require_number

__all__ = ["EXERCISES", "check_exercise"]

LESSON = "05"
SHOWS_OVERFITTING = 5  # epochs: from here on the plain run's training loss is the lower one


def _history(history: Any, name: str, num_epochs: int) -> None:
    require(
        isinstance(history, list) and all(isinstance(epoch, dict) for epoch in history),
        f"`{name}` should be the list of dicts that `fit` returns.",
    )
    require(
        len(history) == num_epochs,
        f"`{name}` has {len(history)} epochs; the exercise trains for {num_epochs}.",
    )
    for key in ("train_loss", "val_loss"):
        require_number(history[-1].get(key), f"{name}[-1][{key!r}]")
    require_fraction(history[-1].get("val_acc"), f"{name}[-1]['val_acc']")


def _exercise_1(overfit_histories: Any, overfit_epochs: int) -> list[str]:
    require_keys(overfit_histories, ("augmented", "plain"), "overfit_histories")
    for label, history in overfit_histories.items():
        _history(history, f"overfit_histories[{label!r}]", overfit_epochs)
    augmented, plain = overfit_histories["augmented"], overfit_histories["plain"]
    losses = [[epoch["train_loss"] for epoch in history] for history in (augmented, plain)]
    require(
        losses[0] != losses[1],
        "The two runs have the same training losses: did each loader get its own "
        "transform, `augment` for one and `normalise` for the other?",
    )
    checked = [
        f"both runs have {overfit_epochs} epochs of training and validation figures",
        "the runs differ, so each had its own transform",
    ]
    if overfit_epochs >= SHOWS_OVERFITTING:
        if plain[-1]["train_loss"] >= augmented[-1]["train_loss"]:
            raise Wrong(
                "The 'plain' run ends with the higher training loss, yet the model that sees "
                "the same unaltered images every epoch should learn them best. Are the "
                "transforms swapped?"
            )
        checked.append("the plain run ends with the lower training loss: it memorised")
        plain_val = [epoch["val_loss"] for epoch in plain]
        if min(plain_val) >= plain_val[-1]:
            raise Wrong(
                "The 'plain' run's validation loss is lowest at its last epoch, so it shows no "
                "overfitting yet. Did it train on the small sample (`overfit_size` images) for "
                "all `overfit_epochs` epochs, at the lesson's learning rate?"
            )
        checked.append("the plain run's validation loss rose after its lowest point: it overfitted")
    return checked


def _exercise_2(width_results: Any, resnet_width: int, model_class: type[nn.Module]) -> list[str]:
    widths = (resnet_width // 4, resnet_width // 2, resnet_width)
    require_keys(width_results, widths, "width_results")
    for width in widths:
        entry = width_results[width]
        require(
            isinstance(entry, (tuple, list)) and len(entry) == 3,
            f"`width_results[{width}]` should be a tuple of (parameters, validation accuracy, "
            "seconds per epoch).",
        )
        parameters, accuracy, seconds = entry
        expected = sum(p.numel() for p in model_class(width).parameters())
        require(
            parameters == expected,
            f"`width_results[{width}]` says {parameters} parameters, which is not the count "
            f"of ResNet9({width}): count the parameters of the model trained at that width.",
        )
        require_fraction(accuracy, f"the accuracy of width {width}")
        seconds = require_number(seconds, f"the seconds per epoch of width {width}")
        require(seconds > 0, f"The seconds per epoch of width {width} should be positive.")
    return [
        f"`width_results` has an entry for each width, {widths}",
        "each parameter count is that of a ResNet9 of its width",
        "each accuracy is a fraction from 0 to 1 and each time is positive",
    ]


EXERCISES = {
    1: Exercise(
        hint="for augment and normalise: new SmallCnn, DeviceTensorLoader(..., transform=...), fit",
        test=_exercise_1,
    ),
    2: Exercise(
        hint="for each width: ResNet9(width), fit_one_cycle on the augmented sample, fill "
        "width_results",
        test=_exercise_2,
    ),
}

check_exercise = make_checker(LESSON, EXERCISES)
