"""Checks for the exercises of lesson 02 (autograd): ``check_exercise(number, name=value)``."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from . import (
    Exercise,
    Wrong,
    concept_question,
    make_checker,
    require,
    require_keys,
    require_number,
    require_type,
)

__all__ = ["EXERCISES", "QUESTIONS", "check_exercise"]

LESSON = "02"
POINT = 1.5


def _close(value: float, target: float) -> bool:
    return math.isclose(value, target, rel_tol=1e-4, abs_tol=1e-5)


def _derivative_value(value: Any, name: str) -> float:
    require(
        value is not None,
        f"`{name}` is None. Autograd puts a derivative in `.grad` of a leaf tensor made with "
        "requires_grad=True, and only after backward() has run on f.",
    )
    return require_number(value, name)


def _exercise_1(autograd_value: Any, by_hand_value: Any) -> list[str]:
    x = POINT
    product_rule = math.cos(x) * x**2 + 2 * x * math.sin(x)
    autograd_number = _derivative_value(autograd_value, "autograd_value")
    if not _close(autograd_number, product_rule):
        if _close(autograd_number, math.sin(x) * x**2):
            raise Wrong(
                "`autograd_value` is f(1.5), the function's value, not its derivative: read "
                "`.grad` of the input after calling backward() on f."
            )
        if _close(autograd_number, 2 * product_rule):
            raise Wrong(
                "`autograd_value` is twice the derivative: backward() ran twice into the same "
                "`.grad`, and gradients add up. Make the leaf afresh (or zero its `.grad`) "
                "before each backward()."
            )
        raise Wrong(f"`autograd_value` is {autograd_number:.6g}, which is not df/dx at 1.5.")
    by_hand_number = _derivative_value(by_hand_value, "by_hand_value")
    if not _close(by_hand_number, product_rule):
        if _close(by_hand_number, math.cos(x) * x**2):
            raise Wrong("`by_hand_value` lacks the 2x·sin(x) term of the product rule.")
        if _close(by_hand_number, 2 * x * math.sin(x)):
            raise Wrong("`by_hand_value` lacks the cos(x)·x² term of the product rule.")
        raise Wrong(
            f"`by_hand_value` is {by_hand_number:.6g}, which is not cos(x)·x² + 2x·sin(x) "
            "at x = 1.5."
        )
    return [
        "`autograd_value` is df/dx at x = 1.5",
        "`by_hand_value` is the same number, from the product rule",
    ]


RATES = (0.05, 0.5, 1.0)


def _coefficients(values: Any, rate: float) -> list[float]:
    require_type(values, (list, tuple, torch.Tensor), f"fitted[{rate}]", "a list of a, b, c")
    # Any layout of the three numbers will do: (3,), (3, 1), (1, 3), a list of tensors.
    numbers = torch.as_tensor(values.tolist() if hasattr(values, "tolist") else values)
    require(numbers.numel() == 3, f"`fitted[{rate}]` should hold 3 numbers, a, b and c.")
    return numbers.flatten().tolist()


def _exercise_2(final_losses: Any, fitted: Any) -> list[str]:
    require_keys(final_losses, RATES, "final_losses")
    require_keys(fitted, RATES, "fitted")
    losses = {}
    for rate in RATES:
        value = final_losses[rate]
        value = value.item() if isinstance(value, torch.Tensor) else value
        require(
            isinstance(value, (int, float)),
            f"`final_losses[{rate}]` should be a number (use `loss.item()`).",
        )
        losses[rate] = float(value)
    coefficients = {rate: _coefficients(fitted[rate], rate) for rate in RATES}
    if not (math.isfinite(losses[0.5]) and losses[0.5] < 1e-6):
        raise Wrong(
            f"At 0.5 the loss ended at {losses[0.5]:.3g}; it should end near zero. Did you "
            "call zero_grad() after each step? Without it the gradients add up from step to "
            "step. Check, too, that the features are x², x and 1, that you took 500 steps, "
            "and that predictions and targets have the same shape, (50,): a (50, 1) "
            "prediction broadcasts against (50,) targets into a (50, 50) error."
        )
    require(
        all(abs(a - b) < 1e-2 for a, b in zip(coefficients[0.5], (3, -1, 0.5), strict=True)),
        "At 0.5 the loss is near zero but `fitted[0.5]` does not hold the coefficients "
        "found: store a, b and c in the order of the features x², x, 1.",
    )
    require(
        math.isfinite(losses[0.05]) and losses[0.5] < losses[0.05] < 1.0,
        f"At 0.05 the loss ended at {losses[0.05]:.3g}: after 500 steps from zeros it should "
        "be small but clearly above the loss at 0.5. Did this rate take 500 steps from zeros?",
    )
    require(
        not math.isfinite(losses[1.0]) or losses[1.0] > 1.0,
        "At 1.0 the loss should grow without bound.",
    )
    return [
        "at 0.5 the loss ends near zero, and `fitted[0.5]` holds a = 3, b = -1, c = 0.5",
        "at 0.05 the loss is small but higher: 500 small steps are not enough",
        "at 1.0 the loss diverges",
    ]


def _exercise_3(two_layers: Any, num_trainable: Any) -> list[str]:
    require_type(two_layers, nn.Sequential, "two_layers", "the nn.Sequential of the exercise")
    layers = list(two_layers)
    require(
        len(layers) == 3 and isinstance(layers[0], nn.Linear) and isinstance(layers[2], nn.Linear),
        "`two_layers` should be Linear(4, 8), ReLU(), Linear(8, 2), as the exercise made it.",
    )
    first, last = layers[0], layers[2]
    first_frozen = [not parameter.requires_grad for parameter in first.parameters()]
    if not any(first_frozen) and first.__dict__.get("requires_grad") is False:
        raise Wrong(
            "You set an attribute `requires_grad` on the layer, which PyTorch ignores: the "
            "flag that freezes lives on each parameter (tensor) of the layer."
        )
    require(any(first_frozen), "Every parameter of the first layer still requires gradients.")
    require(
        all(first_frozen),
        "The first layer's "
        + ("bias" if first_frozen[0] else "weight")
        + " still requires gradients: freeze every parameter of the layer.",
    )
    require(
        all(parameter.requires_grad for parameter in last.parameters()),
        "The last layer is frozen too: freeze only the first one.",
    )
    counted = sum(
        parameter.numel() for parameter in two_layers.parameters() if parameter.requires_grad
    )
    require(
        num_trainable == counted,
        f"`num_trainable` is {num_trainable!r}, but the model has a different number of "
        "trainable parameters: count after freezing, and only the parameters that still "
        "require gradients.",
    )
    return [
        "every parameter of the first layer is frozen, and those of the last are not",
        "`num_trainable` is the number of parameters left to train",
    ]


EXERCISES = {
    1: Exercise(
        hint="make a leaf tensor with requires_grad=True, call backward() on f, read .grad",
        test=_exercise_1,
    ),
    2: Exercise(
        hint="features = stack of x**2, x, ones (50, 3); per rate, SGD on 3 coefficients "
        "from zeros",
        test=_exercise_2,
    ),
    3: Exercise(
        hint="set requires_grad = False on every parameter of the first layer",
        test=_exercise_3,
    ),
}

# Concept checks: the questions at the end of the lesson, about its ideas (not its code).
QUESTIONS: dict[str, Exercise] = {
    "Q1": concept_question(
        "answer_q1",
        hint="section 1: z.backward() stored dz/dx in x.grad; what does a derivative measure?",
        right="b",
        why=(
            "a gradient is a rate of change: near x = 3, z changes about 8 times as much as x "
            "does, and it rises when x rises because the 8 is positive."
        ),
        misconceptions={
            "a": (
                "x.grad holds the derivative of z, not z itself: at x = 3, z = x² + 2x is "
                "9 + 6 = 15, while section 1 printed x.grad as tensor(8.), which is "
                "dz/dx = 2x + 2."
            ),
            "c": (
                "A positive gradient means z rises as x rises, so a larger x makes z larger. "
                "Gradient descent steps against the gradient: section 8's loop subtracts "
                "learning_rate times the gradient from each parameter."
            ),
            "d": (
                "A gradient is the slope where you stand, not a distance: z = x² + 2x is "
                "smallest where 2x + 2 = 0, at x = -1, which is 4 away from x = 3, while the "
                "slope at x = 3 is 8 (section 1)."
            ),
        },
    ),
    "Q2": concept_question(
        "answer_q2",
        hint="section 4: call backward() twice and read w.grad after each call",
        right="c",
        why=(
            "backward() adds to .grad, so without zeroing each step would use the sum of "
            "every gradient computed so far instead of the current one."
        ),
        misconceptions={
            "a": (
                "backward() adds to .grad rather than overwriting it: section 4 ran "
                "(5 * w).backward() twice, and w.grad went from 5.0 to 10.0 although the "
                "gradient of 5w is 5."
            ),
            "b": (
                "backward() frees the graph it walked, but a training loop computes the loss "
                "afresh every step, so every step builds a new graph to walk (section 1). "
                "The trouble is in what .grad holds from one step to the next: section 4."
            ),
            "d": (
                "optimizer.step() only reads the gradients; clearing them is a separate call, "
                "optimizer.zero_grad(), which section 9's loop makes after every step(). "
                "Without it they pile up: in section 4, w.grad went from 5.0 to 10.0."
            ),
        },
    ),
    "Q3": concept_question(
        "answer_q3",
        hint="section 5: compare requires_grad of w * 2 inside and outside torch.no_grad()",
        right="d",
        why=(
            "inside torch.no_grad() autograd records nothing, so results are plain numbers "
            "without a graph: right for evaluating a model and for updating weights by hand."
        ),
        misconceptions={
            "a": (
                "Resetting gradients is a separate job, done by w.grad = None or "
                "optimizer.zero_grad() (section 4). no_grad changes what is recorded while "
                "its block runs: section 5 printed requires_grad False for w * 2 inside it."
            ),
            "b": (
                "no_grad lasts only for its with-block and changes no parameter: section 5 "
                "printed (w * 2).requires_grad as True outside the block. Freezing a "
                "parameter for good is requires_grad = False (section 7)."
            ),
            "c": (
                "no_grad computes no gradients at all, approximate or exact: it stops autograd "
                "recording the operations, so a result made inside has no graph (section 5 "
                "printed requires_grad False for w * 2 inside the block). What it saves is "
                "the time and memory of the recording."
            ),
        },
    ),
    "Q4": concept_question(
        "answer_q4",
        hint="section 10: read each rate's loss after 40 steps, and the limit 2 / k",
        right="a",
        why=(
            "below the limit of 2 divided by the largest curvature (here 1.0), a larger rate "
            "reached the best fit sooner; above it, every step overshot and the loss grew."
        ),
        misconceptions={
            "b": (
                "Larger is better only up to a limit: section 10's lr = 1.6 ended at a loss "
                "of 9.24e+25, against 0.0118 for lr = 0.8. Above 2 divided by the largest "
                "curvature, each step overshoots the minimum by more than it corrects."
            ),
            "c": (
                "Small steps are safe but slow: after 40 steps lr = 0.01 was still 72.7 "
                "times the best possible loss, while lr = 0.8 came within 10% of it at "
                "step 6 (section 10)."
            ),
            "d": (
                "Too large a rate does not settle at a higher floor: the loss keeps growing. "
                "In section 10, lr = 1.6 went from 1.59 to 9.24e+25 in 40 steps, and in "
                "exercise 2 a rate of 1.0 made the loss overflow to nan."
            ),
        },
    ),
}

check_exercise = make_checker(LESSON, EXERCISES, QUESTIONS)
