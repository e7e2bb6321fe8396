"""Checks for the exercises of lesson 01 (tensors): ``check_exercise(number, name=value)``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from . import (
    Exercise,
    Wrong,
    call_learner_code,
    concept_question,
    make_checker,
    require,
    require_type,
)

__all__ = ["EXERCISES", "QUESTIONS", "check_exercise"]

LESSON = "01"


def _unseen_images() -> list[torch.Tensor]:
    """Batches of images the learner never saw: other sizes, other values."""
    generator = torch.Generator().manual_seed(101)  # private: the learner's stream is untouched
    return [
        torch.randn(3, 5, 7, generator=generator) * 4 + 2,
        torch.rand(1, 2, 2, generator=generator) * 255,
        torch.randn(4, 6, 1, generator=generator) - 10,
    ]


def _check_centred(images: torch.Tensor, centred: Any) -> None:
    shape = tuple(images.shape)
    require_type(centred, torch.Tensor, "centre_images(...)", "a tensor")
    require(
        tuple(centred.shape) == shape,
        f"For images of shape {shape} your function returned shape {tuple(centred.shape)}. "
        "Subtracting means of shape (N, 1, 1) keeps the input's shape: take the mean with "
        "keepdim=True.",
    )
    means_after = centred.mean(dim=(1, 2))
    if not torch.allclose(means_after, torch.zeros_like(means_after), atol=1e-4):
        global_mean = images - images.mean()
        if torch.allclose(centred, global_mean, atol=1e-4):
            raise Wrong(
                "You subtracted the mean of the whole batch, so an image keeps a mean of "
                f"{means_after[0].item():.3g}. Each image needs its own mean: reduce over "
                "dimensions 1 and 2 only."
            )
        worst = int(means_after.abs().argmax())
        raise Wrong(
            f"For images of shape {shape}, image {worst} has mean "
            f"{means_after[worst].item():.3g} after centring; it should be 0."
        )
    shift = images - centred
    flat = shift.reshape(shape[0], -1)
    require(
        torch.allclose(flat, flat[:, :1].expand_as(flat), atol=1e-4),
        "Each image has mean 0, but its pixels moved by different amounts: you subtracted "
        "a mean per row or per column. One number per image (the mean over dims 1 and 2) "
        "must be subtracted from every one of its pixels.",
    )


def _exercise_1(centre_images: Callable[[torch.Tensor], torch.Tensor]) -> list[str]:
    require(callable(centre_images), "`centre_images` should be a function (def centre_images).")
    batches = [torch.arange(24, dtype=torch.float32).reshape(2, 3, 4), *_unseen_images()]
    for images in batches:
        original = images.clone()
        centred = call_learner_code(
            centre_images,
            images,
            name="centre_images",
            advice="A mean of shape (N,) lines up with the last dimension; keepdim=True keeps "
            "it as (N, 1, 1).",
        )
        require(
            torch.equal(images, original),
            "Your function changed the tensor it was given (an in-place `-=`). Return a new "
            "tensor and leave the input as it was.",
        )
        _check_centred(images, centred)
    return [
        "it returns a tensor of the input's shape, for `pixels` and for 3 batches of other "
        "shapes it had not seen",
        "every image has mean 0 afterwards",
        "every pixel of an image moved by the same amount, its image's mean",
        "the tensor passed in is left unchanged",
    ]


def _exercise_2(predicted_shape: Any) -> list[str]:
    require_type(predicted_shape, (tuple, list, torch.Size), "predicted_shape", "a tuple of sizes")
    sizes = tuple(predicted_shape)
    require(
        all(isinstance(size, int) for size in sizes),
        f"`predicted_shape` should hold whole numbers; it is {sizes!r}.",
    )
    actual = tuple(torch.broadcast_shapes((5, 1, 3), (4, 1)))
    if sizes == actual:
        return ["your shape is the one PyTorch gives for torch.ones(5, 1, 3) * torch.ones(4, 1)"]
    if len(sizes) != len(actual):
        raise Wrong(
            f"Your shape has {len(sizes)} dimensions. The result has as many as the operand "
            "with the most: the shorter shape is padded with 1s on the left."
        )
    for position in range(1, len(actual) + 1):
        if sizes[-position] != actual[-position]:
            raise Wrong(
                f"Your size {sizes[-position]} at position {position} from the right is not "
                "what broadcasting gives there. Broadcasting lines the shapes up from the "
                "right, so (4, 1) meets the last two dimensions of (5, 1, 3). At each "
                "position equal sizes stay, a 1 stretches to the other size, and a missing "
                "dimension counts as 1."
            )
    raise AssertionError("unreachable: the shapes differ somewhere")


def _exercise_3(zero_negatives: Callable[[torch.Tensor], Any]) -> list[str]:
    require(callable(zero_negatives), "`zero_negatives` should be a function (def zero_negatives).")
    generator = torch.Generator().manual_seed(103)
    batches = [
        torch.tensor([-1.0, 2.0, -3.0, 0.0, 4.0]),
        torch.randn(50, generator=generator),
        torch.randn(3, 4, generator=generator),
    ]
    for values in batches:
        original = values.clone()
        negative = original < 0
        returned = call_learner_code(zero_negatives, values, name="zero_negatives")
        _check_count(returned, original)
        require(
            not torch.equal(values, original) or not negative.any(),
            "The tensor passed in still has its negative values, so your function changed a "
            "copy. Assigning through the mask changes the tensor itself.",
        )
        require(
            torch.equal(values[~negative], original[~negative]),
            "A value that was not negative changed: only the entries the mask selects may change.",
        )
        not_zeroed = values[negative][values[negative] != 0]
        if len(not_zeroed):
            raise Wrong(
                f"A negative value did not become 0 (it became {not_zeroed[0].item():.3g}): "
                "assign 0 through the mask rather than changing the sign."
            )
    return [
        "it sets every negative value to 0 in the tensor it is given, for 3 tensors it had "
        "not seen (one holding an exact 0)",
        "values that were not negative are unchanged",
        "it returns the number of values it replaced",
    ]


def _check_count(returned: Any, original: torch.Tensor) -> None:
    if isinstance(returned, torch.Tensor):
        require(
            returned.numel() == 1 and not returned.is_floating_point(),
            f"`zero_negatives` returned a tensor of shape {tuple(returned.shape)}; it should "
            "return how many values it replaced, one whole number.",
        )
        returned = returned.item()
    require(
        isinstance(returned, int) and not isinstance(returned, bool),
        f"`zero_negatives` returned {type(returned).__name__}; it should return how many "
        "values it replaced, a whole number.",
    )
    count = int((original < 0).sum())
    if returned == count:
        return
    if returned == 0:
        raise Wrong(
            "Your function returned 0, but the tensor had negative values. If you count after "
            "replacing them, none is left: count the mask, made before the assignment."
        )
    if returned == int((original <= 0).sum()):
        raise Wrong(
            "Your count includes values that were exactly 0. Zero is not negative: count "
            "`values < 0`."
        )
    raise Wrong(f"Your function returned {returned}, which is not the number of negative values.")


EXERCISES = {
    1: Exercise(
        hint="in def centre_images(images): take the mean over dims (1, 2) with "
        "keepdim=True, subtract it",
        test=_exercise_1,
    ),
    2: Exercise(
        hint="compare the shapes from the right; a missing dimension counts as 1",
        test=_exercise_2,
    ),
    3: Exercise(
        hint="in def zero_negatives(values): mask = values < 0; count it; assign 0 through it",
        test=_exercise_3,
    ),
}

# Concept checks: the questions at the end of the lesson, about its ideas (not its code).
QUESTIONS: dict[str, Exercise] = {
    "Q1": concept_question(
        "answer_q1",
        hint="section 5, the silent bug: which dimension does a shape (3,) line up with?",
        right="c",
        why=(
            "without keepdim the row sums have shape (3,), and broadcasting lines a shape up "
            "from the right, so entry j of the sums divides column j of the table."
        ),
        misconceptions={
            "a": (
                "That is what keepdim=True gives: sums of shape (3, 1), one per row. Without "
                "it the sums have shape (3,), and broadcasting compares shapes from the right, "
                "so they line up with the columns. Section 5's silent-bug cell printed that "
                "the rows of the result sum to 0.625, 1.25 and 1, not 1 each."
            ),
            "b": (
                "Shapes (3, 3) and (3,) are compatible: from the right, 3 meets 3, and the "
                "missing dimension counts as 1. Section 5 raised an error only for the "
                "3 x 2 table, where 2 met 3; the square table ran without any error."
            ),
            "d": (
                "sum(dim=1) removes dimension 1 and leaves one sum per row, three numbers, "
                "not one total: section 5 printed scores.sum(dim=1) as tensor([4., 4., 4.]) "
                "and scores.sum() as tensor(12.)."
            ),
        },
    ),
    "Q2": concept_question(
        "answer_q2",
        hint="section 6: which conversions share memory, and is *= in place?",
        right="b",
        why=(
            "from_numpy shares the array's memory and *= writes into that memory in place, "
            "so the array changes too, while torch.tensor(array) made a copy of its own."
        ),
        misconceptions={
            "a": (
                "from_numpy does not copy: the tensor and the array look at the same memory, "
                "and *= is in place, like the methods ending in _ (section 5): it writes into "
                "that memory. Section 6 printed the array as [ 0. 10. 20. 30.] right after "
                "tensor *= 10."
            ),
            "c": (
                "torch.tensor(array) copies the numbers into memory of its own, so later "
                "changes to the array or to a tensor sharing it do not reach the copy: in "
                "section 6's last cell, setting copied[0] to 123 left array[0] at -1.0."
            ),
        },
    ),
    "Q3": concept_question(
        "answer_q3",
        hint="section 6: NumPy's default float type, and what nn.Linear said about it",
        right="a",
        why=(
            "NumPy's default float is float64 and from_numpy keeps it, while a layer's "
            "weights are float32, so the layer refuses the input until .float() converts it."
        ),
        misconceptions={
            "b": (
                "from_numpy keeps the array's type and never converts it: section 6 printed "
                "torch.float64 for the tensor made from np.array([0.5, 1.5]), and float32 "
                "only for torch.tensor([0.5, 1.5])."
            ),
            "c": (
                "PyTorch does not change a layer's input type for you: section 6 printed "
                "'mat1 and mat2 must have the same dtype, but got Double and Float', and "
                "the layer gave a float32 output only after .float()."
            ),
        },
    ),
    "Q4": concept_question(
        "answer_q4",
        hint="section 7: the rule for the tensors in one operation",
        right="d",
        why=(
            "the tensors in one operation must be on the same device; PyTorch never moves "
            "data behind your back, so you move one operand with .to(...)."
        ),
        misconceptions={
            "a": (
                "PyTorch never copies data between devices behind your back, because a hidden "
                "copy between CPU and GPU is slow (section 7). Its meta-device cell shows the "
                "rule on any machine: mixing devices raised a RuntimeError."
            ),
            "b": (
                "No device wins: PyTorch does not move either operand for you, to the CPU or "
                "anywhere else. Section 7's meta-device cell mixed two devices and got a "
                "RuntimeError, not a result."
            ),
            "c": (
                "It does not run slowly: it does not run at all. Adding them would need a copy "
                "between the devices, and PyTorch never makes one behind your back: section "
                "7's meta-device cell got a RuntimeError at once."
            ),
        },
    ),
}

check_exercise = make_checker(LESSON, EXERCISES, QUESTIONS)
