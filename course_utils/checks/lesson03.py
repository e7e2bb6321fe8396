"""Checks for the exercises of lesson 03 (hidden layers and ReLU on MNIST).

The accuracy thresholds hold in smoke mode (one epoch on 2,000 images) as well as at
full size: they separate a model that learned from one that did not, nothing finer.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..training import evaluate
from . import (
    Exercise,
    Wrong,
    concept_question,
    make_checker,
    require,
    require_fraction,
    require_keys,
    require_type,
)

__all__ = ["EXERCISES", "QUESTIONS", "check_exercise"]

LESSON = "03"
LEARNED = 0.5  # chance is 0.1; every exercise's model passes 0.6 even in smoke mode


def _learned(accuracy: float, name: str) -> None:
    require(
        accuracy >= LEARNED,
        f"`{name}` is {accuracy:.3f}, close to guessing (0.1 for 10 classes): the model "
        "did not learn. Did it train (`fit`) for `exercise_epochs` epochs at the rate asked?",
    )


def _accuracy(value: Any, name: str) -> float:
    if isinstance(value, (list, dict)):
        raise Wrong(
            f"`{name}` is a {type(value).__name__}, a whole history or epoch: store one "
            "number, `history[-1]['val_acc']`."
        )
    accuracy = require_fraction(value, name)
    _learned(accuracy, name)
    return accuracy


def _history(history: Any, name: str, num_epochs: int) -> None:
    require(
        isinstance(history, list) and all(isinstance(epoch, dict) for epoch in history),
        f"`{name}` should be the list of dicts that `fit` returns.",
    )
    require(
        len(history) == num_epochs,
        f"`{name}` has {len(history)} epochs; the exercise trains for `exercise_epochs` "
        f"({num_epochs}).",
    )
    _accuracy(history[-1].get("val_acc"), f"{name}[-1]['val_acc']")


WIDTH_LAYERS = {
    "128 units": [(28 * 28, 128), (128, 10)],
    "64 + 64 units": [(28 * 28, 64), (64, 64), (64, 10)],
}


def _scores(model: nn.Module, loader: Any, accuracy: float, name: str, model_name: str) -> None:
    """``accuracy`` must be what ``model`` scores on ``loader``, and show that it learned."""
    measured = evaluate(model, loader)["val_acc"]
    require(
        abs(measured - accuracy) < 0.01,
        f"`{model_name}` scores {measured:.3f} on the validation set, but `{name}` is "
        f"{accuracy:.3f}: store the final validation accuracy of that model's training.",
    )
    _learned(accuracy, name)


def _exercise_1(width_results: Any, width_models: Any, val_loader: Any) -> list[str]:
    require_keys(width_models, WIDTH_LAYERS, "width_models")
    require_keys(width_results, WIDTH_LAYERS, "width_results")
    for label, layers in WIDTH_LAYERS.items():
        model = width_models[label]
        require_type(model, nn.Module, f"width_models[{label!r}]", "a trained model")
        shapes = _linear_shapes(model)
        require(
            shapes == layers,
            f"`width_models[{label!r}]` has linear layers {shapes}, which is not the "
            f"network the label names.",
        )
        accuracy = _accuracy(width_results[label], f"width_results[{label!r}]")
        _scores(
            model, val_loader, accuracy, f"width_results[{label!r}]", f"width_models[{label!r}]"
        )
    return [
        "`width_models` holds a 784-128-10 and a 784-64-64-10 network, under their labels",
        "each model, evaluated again on the validation set, scores the accuracy stored for it "
        "in `width_results`",
        f"both learned (at least {LEARNED:.0%})",
    ]


def _exercise_2(
    low_lr_history: Any, small_batch_loader: Any, small_batch_history: Any, exercise_epochs: int
) -> list[str]:
    _history(low_lr_history, "low_lr_history", exercise_epochs)
    batch_size = getattr(small_batch_loader, "batch_size", None)
    require(
        batch_size is not None,
        "`small_batch_loader` has no `batch_size`: make it with DataLoader(..., batch_size=...).",
    )
    require(
        batch_size == 32,
        f"`small_batch_loader` makes batches of {batch_size}; the exercise asks for 32.",
    )
    _history(small_batch_history, "small_batch_history", exercise_epochs)
    require(
        small_batch_history is not low_lr_history,
        "`small_batch_history` and `low_lr_history` are the same run: train each change on "
        "its own, from the baseline.",
    )
    return [
        f"`low_lr_history` and `small_batch_history` are two runs of {exercise_epochs} "
        "epoch(s), as `fit` returns them",
        "`small_batch_loader` makes batches of 32",
        f"both final validation accuracies show a model that learned (at least {LEARNED:.0%})",
    ]


def _linear_shapes(model: nn.Module) -> list[tuple[int, int]]:
    return [(m.in_features, m.out_features) for m in model.modules() if isinstance(m, nn.Linear)]


def _validation_images(loader: Any) -> torch.Tensor:
    batches = [batch[0] for batch in loader]
    require(bool(batches), "`fashion_val_loader` gives no batches.")
    return torch.cat(batches)


def _exercise_3(fashion_val_loader: Any, fashion_model: Any, fashion_accuracy: Any) -> list[str]:
    require_type(fashion_model, nn.Module, "fashion_model", "the trained model (a MnistModel)")
    shapes = _linear_shapes(fashion_model)
    require(
        shapes == [(28 * 28, 32), (32, 10)],
        f"`fashion_model` has linear layers {shapes}; the exercise trains the 32-unit model, "
        "MnistModel(hidden_size=32).",
    )
    accuracy = require_fraction(fashion_accuracy, "fashion_accuracy")
    images = _validation_images(fashion_val_loader)
    require(
        len(images) == 10_000,
        f"`fashion_val_loader` holds {len(images):,} images; hold out 10,000 of the training "
        "images for validation, as the lesson did.",
    )
    background = (images == images.amin()).float().mean().item()
    require(
        background < 0.7,
        f"{background:.0%} of the validation pixels are background, as in MNIST's digits: "
        "is `fashion_val_loader` built from `fashion_mnist(...)`?",
    )
    mean, std = images.mean().item(), images.std().item()
    require(
        abs(mean) < 0.1 and abs(std - 1) < 0.1,
        f"The validation images have mean {mean:.2f} and standard deviation {std:.2f}, not "
        "about 0 and 1: normalise with Fashion-MNIST's mean and standard deviation "
        "(FASHION_MEAN, FASHION_STD).",
    )
    _scores(fashion_model, fashion_val_loader, accuracy, "fashion_accuracy", "fashion_model")
    return [
        "`fashion_model` is the 32-unit model (784 -> 32 -> 10)",
        "`fashion_val_loader` holds 10,000 Fashion-MNIST images, normalised to mean 0 and "
        "standard deviation 1",
        "the model, evaluated again on that loader, scores `fashion_accuracy`",
        f"it learned: at least {LEARNED:.0%}",
    ]


EXERCISES = {
    1: Exercise(
        hint="seed_everything(0), build, fit on seeded_train_loader(0); last val_acc, model in "
        "the dicts",
        test=_exercise_1,
    ),
    2: Exercise(
        hint="low_lr_history: fit at 0.05 on seeded_train_loader(0); then batch_size=32 at 0.2",
        test=_exercise_2,
    ),
    3: Exercise(
        hint="Normalize(FASHION_MEAN, FASHION_STD), random_split 50,000/10,000, fit -> "
        "fashion_accuracy",
        test=_exercise_3,
    ),
}

# Concept checks: the questions at the end of the lesson, about its ideas (not its code).
QUESTIONS: dict[str, Exercise] = {
    "Q1": concept_question(
        "answer_q1",
        hint="section 2: one nn.Linear built from the two layers' weights, and the outputs",
        right="d",
        why=(
            "without a non-linearity between them, two linear layers are one linear layer, "
            "with weight W2 W1 and bias W2 b1 + b2: more parameters, no more power."
        ),
        misconceptions={
            "a": (
                "With nothing between them the two layers multiply out into one: section 2 "
                "built a single nn.Linear(784, 10) with weight W2 W1 and bias W2 b1 + b2, and "
                "it gave the stacked layers' outputs. Extra units add parameters, not power."
            ),
            "b": (
                "The difference section 2 printed is rounding: float32 keeps about 7 "
                "significant digits, and the two add the numbers up in a different order. "
                "In float64 the same comparison passed with a tolerance of 1e-12."
            ),
            "c": (
                "That needs a non-linearity such as ReLU between the layers (section 3). "
                "Without one, section 2's algebra collapses two linear layers of any width "
                "into a single one, so more hidden units cannot help."
            ),
        },
    ),
    "Q2": concept_question(
        "answer_q2",
        hint="section 3: the plot of ReLU(x), and the smallest value after ReLU",
        right="a",
        why=(
            "ReLU(x) = max(0, x): every negative value becomes 0 and every positive value "
            "passes unchanged, a bend that makes the network more than one linear map."
        ),
        misconceptions={
            "b": (
                "ReLU(x) = max(0, x) keeps nothing of a negative input's size: section 3's "
                "plot is flat at 0 for every negative x, where an absolute value would rise "
                "again in a V shape."
            ),
            "c": (
                "Turning scores into probabilities between 0 and 1 is softmax (section 4). "
                "ReLU leaves a positive value as it is, however large: its plot in section 3 "
                "rises in a straight line, up to 3 at x = 3."
            ),
            "d": (
                "ReLU changes no weight and removes no unit: it is applied to each value on "
                "every pass, so a unit at 0 for one image can be positive for another. "
                "Zeroing units at random during training is dropout (section 8)."
            ),
        },
    ),
    "Q3": concept_question(
        "answer_q3",
        hint="section 8: the run on 1,000 images, its losses before and after its best epoch",
        right="b",
        why=(
            "a model overfits when it fits its own training images ever better and new images "
            "worse: the training loss keeps falling while the validation loss rises."
        ),
        misconceptions={
            "a": (
                "Both losses falling is a model still learning: section 7's run had its lowest "
                "validation loss at its last epoch, which the lesson read as no sign of "
                "overfitting yet."
            ),
            "c": (
                "A gap alone is not the sign: every row of section 8's ladder ended with a "
                "training loss below its validation loss, the model with no hidden layer "
                "too. What marks overfitting is a change over the epochs, not one gap."
            ),
            "d": (
                "Accuracy can miss it. In section 8's run on 1,000 images the validation loss "
                "rose after its best epoch while the validation accuracy crept up to its "
                "highest at the last epoch: the loss also punishes confident mistakes, "
                "accuracy only counts them."
            ),
        },
    ),
    "Q4": concept_question(
        "answer_q4",
        hint="section 9: what were the validation scores used for, and what can that do to them?",
        right="c",
        why=(
            "choosing the best of several by their validation scores tends to flatter the "
            "winner's score; the test images took no part in any choice, so their score is "
            "the honest one, and it stays honest only if used once."
        ),
        misconceptions={
            "a": (
                "The two sets are the same size, 10,000 images each (section 1), so their "
                "accuracies are equally precise: section 9 printed a standard error of a few "
                "tenths of a point for the difference between them."
            ),
            "b": (
                "fit takes gradient steps only on the training batches; the validation images "
                "are only evaluated, under torch.no_grad() (section 6). Think about what the "
                "validation scores were used for in section 8."
            ),
            "d": (
                "A test score is reported because it is honest, not because it is high. In "
                "section 9 both test accuracies came out above the validation ones, but by "
                "less than two standard errors: chance. Had they been lower, they would "
                "still be the figures to report."
            ),
        },
    ),
}

check_exercise = make_checker(LESSON, EXERCISES, QUESTIONS)
