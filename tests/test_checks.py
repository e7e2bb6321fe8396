"""The exercise checks: for every exercise, a solution passes, the stub reports "not
attempted" with its hint, and common wrong answers get their own specific message.

Answers for lessons 01 and 02 are the lessons' own solution code; for the training
exercises of lessons 03 to 06 they are small objects of the same kind (histories,
models, loaders, a torchrun result). That the real worked solutions pass is proven by
executing them: ``make test`` runs every lesson with ``COURSE_STRICT_CHECKS=1``, and
``test_every_committed_check_output_says_passed`` reads the full-size outputs.
"""

from __future__ import annotations

import copy
import importlib
import math
import re
from pathlib import Path

import jupytext
import nbformat
import pytest
import torch
from conftest import LESSON_SCRIPTS, ROOT
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

from course_utils import ImageClassificationBase, evaluate, fit
from course_utils.checks import (
    NOT_ATTEMPTED,
    STRICT_ENV,
    Exercise,
    Wrong,
    call_learner_code,
    lesson01,
    lesson02,
    lesson03,
    lesson04,
    lesson05,
    lesson06,
    make_checker,
    require_fraction,
    require_number,
    run_check,
)
from course_utils.distributed import TorchrunResult
from course_utils.models import MLP

MODULES = {
    "01": lesson01,
    "02": lesson02,
    "03": lesson03,
    "04": lesson04,
    "05": lesson05,
    "06": lesson06,
}


def run(module, number: int, **answers):
    return run_check(module.LESSON, number, module.EXERCISES[number], answers)


def assert_passes(module, number: int, **answers) -> None:
    result = run(module, number, **answers)
    assert result.status == "passed", str(result)
    assert result.details[0] == "Checked that:" and len(result.details) > 1


def assert_wrong(module, number: int, fragment: str, **answers) -> None:
    result = run(module, number, **answers)
    assert result.status == "not right yet", str(result)
    assert fragment in result.details[0], str(result)


# --- the framework ---------------------------------------------------------------


def toy_exercise() -> Exercise:
    def test(answer):
        if answer != 42:
            raise Wrong(f"`answer` is {answer}; count again.")
        return ["`answer` is the answer"]

    return Exercise(hint="six times seven", test=test)


def test_a_stub_reports_not_attempted_with_its_hint():
    result = run_check("00", 1, toy_exercise(), {"answer": NOT_ATTEMPTED})
    assert result.status == "not attempted" and not result
    assert "`answer` is still `...`" in result.details[0]
    assert result.details[1] == "Hint: six times seven"


def test_a_wrong_answer_reports_the_reason_and_a_right_one_what_was_checked():
    wrong = run_check("00", 1, toy_exercise(), {"answer": 41})
    assert wrong.status == "not right yet" and wrong.details == ("`answer` is 41; count again.",)
    right = run_check("00", 1, toy_exercise(), {"answer": 42})
    assert right and right.details == ("Checked that:", "- `answer` is the answer")
    assert str(right).splitlines()[0] == "[ok] Lesson 00, exercise 1: passed"


def test_the_checker_prints_the_report_and_returns_whether_it_passed(capsys, monkeypatch):
    monkeypatch.delenv(STRICT_ENV, raising=False)
    check = make_checker("00", {1: toy_exercise()})
    assert check(1, answer=42) is True
    assert check(1, answer=...) is False
    printed = capsys.readouterr().out
    assert "exercise 1: passed" in printed and "exercise 1: not attempted" in printed


def test_an_answer_the_check_did_not_foresee_is_reported_not_raised(monkeypatch):
    def test(answer):
        return [f"entry {answer['missing']}"]

    exercise = Exercise(hint="", test=test)
    monkeypatch.delenv(STRICT_ENV, raising=False)
    result = run_check("00", 1, exercise, {"answer": {}})
    assert result.status == "not right yet"
    assert result.details[0].startswith("The check could not inspect your answer: KeyError")
    monkeypatch.setenv(STRICT_ENV, "1")  # under the test suite, a bug in a check shows
    with pytest.raises(KeyError):
        run_check("00", 1, exercise, {"answer": {}})


def test_the_not_attempted_report_says_to_delete_the_stub_line():
    result = run_check("00", 1, toy_exercise(), {"answer": NOT_ATTEMPTED})
    assert "in place of the line `answer = ...` (delete that line" in result.details[0]


def test_strict_mode_turns_a_failed_check_into_an_error(monkeypatch):
    check = make_checker("00", {1: toy_exercise()})
    monkeypatch.setenv(STRICT_ENV, "1")
    with pytest.raises(AssertionError, match="count again"):
        check(1, answer=41)
    with pytest.raises(AssertionError, match="not attempted"):
        check(1, answer=...)
    assert check(1, answer=42) is True
    monkeypatch.setenv(STRICT_ENV, "maybe")
    with pytest.raises(ValueError, match=STRICT_ENV):
        check(1, answer=41)


def test_a_mistake_in_the_check_cell_itself_is_a_plain_error():
    check = make_checker("00", {1: toy_exercise()})
    with pytest.raises(TypeError, match=r"takes answer=answer; it was given reply"):
        check(1, reply=42)
    with pytest.raises(ValueError, match=r"has exercises \[1\], not 2"):
        check(2, answer=42)


def test_an_error_in_the_learners_function_becomes_a_finding():
    def broken(values):
        raise RuntimeError("shapes do not match")

    with pytest.raises(Wrong, match=r"`broken\(a tensor of shape \(2, 3\)\)` raised RuntimeError"):
        call_learner_code(broken, torch.ones(2, 3), name="broken", advice="Try keepdim.")
    with pytest.raises(Wrong) as caught:
        call_learner_code(broken, torch.ones(2), name="broken", advice="Try keepdim.")
    assert str(caught.value).endswith("shapes do not match. Try keepdim.")


def test_a_check_leaves_the_learners_random_stream_as_it_found_it():
    def draws(answer):
        torch.rand(100)
        return ["drew"]

    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    run_check("00", 1, Exercise(hint="", test=draws), {"answer": 1})
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [(96.9, "not percentages"), ([0.9], "it is a list"), (float("nan"), "diverged")],
)
def test_numbers_and_fractions_name_what_is_wrong(value, fragment):
    with pytest.raises(Wrong, match=fragment):
        require_fraction(value, "accuracy")
    assert require_number(torch.tensor(0.5), "x") == 0.5


# --- every exercise: the stub, and hints that match the lessons -------------------


def exercise_ids() -> list[tuple[str, int]]:
    return [(lesson, number) for lesson, module in MODULES.items() for number in module.EXERCISES]


@pytest.mark.parametrize(("lesson", "number"), exercise_ids())
def test_the_stub_of_every_exercise_reports_not_attempted_with_its_hint(lesson, number):
    module = MODULES[lesson]
    exercise = module.EXERCISES[number]
    answers = dict.fromkeys(exercise.answer_names(), NOT_ATTEMPTED)
    result = run(module, number, **answers)
    assert result.status == "not attempted"
    assert result.details[-1] == f"Hint: {exercise.hint}"


def lesson_hints(script: Path) -> dict[int, str]:
    """Exercise number -> the `# Hint:` line of its solution region, read from the lesson."""
    hints, number = {}, None
    for cell in jupytext.read(script).cells:
        heading = re.search(r"\*\*Exercise (\d+)", cell.source)
        if cell.cell_type == "markdown" and heading:
            number = int(heading.group(1))
        elif cell.cell_type == "code" and number is not None and "# Hint:" in cell.source:
            hint = next(line for line in cell.source.splitlines() if "# Hint:" in line)
            hints.setdefault(number, hint.split("# Hint:", 1)[1].strip())
    return hints


@pytest.mark.parametrize("script", LESSON_SCRIPTS, ids=[path.stem for path in LESSON_SCRIPTS])
def test_every_exercise_has_a_check_whose_hint_is_the_stubs(script):
    module = importlib.import_module(f"course_utils.checks.lesson{script.stem[:2]}")
    hints = lesson_hints(script)
    assert sorted(hints) == sorted(module.EXERCISES), "an exercise has no check, or no hint"
    for number, hint in hints.items():
        assert module.EXERCISES[number].hint == hint, f"exercise {number}: hints differ"


@pytest.mark.parametrize("script", LESSON_SCRIPTS, ids=[path.stem for path in LESSON_SCRIPTS])
def test_every_committed_check_output_says_passed(script):
    """The committed outputs are the full-size run: every worked solution passed there."""
    notebook = nbformat.read(script.with_suffix(".ipynb"), as_version=4)
    outputs = [
        "".join(output.get("text", "") for output in cell.outputs)
        for cell in notebook.cells
        if cell.cell_type == "code" and re.search(r"check_exercise\(\s*\d", cell.source)
    ]
    module = MODULES[script.stem[:2]]
    assert len(outputs) == len(module.EXERCISES)
    for number, text in enumerate(outputs, start=1):
        assert text.startswith(f"[ok] Lesson {module.LESSON}, exercise {number}: passed"), text


# --- lesson 01 -------------------------------------------------------------------


def centre_images(images):
    return images - images.mean(dim=(1, 2), keepdim=True)


def centre_in_place(images):
    images -= images.mean(dim=(1, 2), keepdim=True)
    return images


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        (lambda images: images - images.mean(), "the mean of the whole batch"),
        (lambda images: images - images.mean(dim=(1, 2)), "keepdim=True keeps it as (N, 1, 1)"),
        (lambda images: images - images.mean(dim=2, keepdim=True), "a mean per row or per column"),
        (centre_in_place, "changed the tensor it was given"),
        (lambda images: images.mean(dim=(1, 2), keepdim=True), "returned shape"),
    ],
    ids=["batch mean", "no keepdim", "row means", "in place", "returns the means"],
)
def test_lesson01_exercise1(answer, fragment):
    assert_passes(lesson01, 1, centre_images=centre_images)
    assert_wrong(lesson01, 1, fragment, centre_images=answer)


def test_lesson01_other_right_answers_pass_too():
    def with_view(images):
        return images - images.mean(dim=(1, 2)).view(-1, 1, 1)

    def with_clamp(values):
        count = int((values < 0).sum())
        values.clamp_(min=0)
        return count

    def returns_a_tensor_count(values):
        negative = values < 0
        values[negative] = 0.0
        return negative.sum()

    assert_passes(lesson01, 1, centre_images=with_view)
    assert_passes(lesson01, 3, zero_negatives=with_clamp)
    assert_passes(lesson01, 3, zero_negatives=returns_a_tensor_count)
    assert_passes(lesson01, 2, predicted_shape=[5, 4, 3])


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        ((4, 5, 3), "Your size 5 at position 2 from the right"),
        ((5, 1, 3), "position 2 from the right"),
        ((4, 3), "has 2 dimensions"),
        ("5, 4, 3", "should be a tuple"),
    ],
)
def test_lesson01_exercise2(answer, fragment):
    assert_passes(lesson01, 2, predicted_shape=(5, 4, 3))
    assert_passes(lesson01, 2, predicted_shape=torch.Size([5, 4, 3]))
    assert_wrong(lesson01, 2, fragment, predicted_shape=answer)


def zero_negatives(values):
    negative = values < 0
    values[negative] = 0
    return int(negative.sum())


def counts_afterwards(values):
    values[values < 0] = 0
    return int((values < 0).sum())


def counts_zeros_too(values):
    mask = values <= 0
    values[mask] = 0
    return int(mask.sum())


def changes_a_copy(values):
    mask = values < 0
    return int(mask.sum()), values.clamp(min=0)[0]


def flips_the_sign(values):
    mask = values < 0
    values[mask] = -values[mask]
    return int(mask.sum())


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        (counts_afterwards, "count after replacing"),
        (counts_zeros_too, "exactly 0"),
        (lambda values: int((values < 0).sum()), "changed a copy"),
        (flips_the_sign, "did not become 0"),
        (lambda values: values.clamp(min=0), "returned a tensor of shape"),
        (changes_a_copy, "returned tuple"),
    ],
)
def test_lesson01_exercise3(answer, fragment):
    assert_passes(lesson01, 3, zero_negatives=zero_negatives)
    assert_wrong(lesson01, 3, fragment, zero_negatives=answer)


# --- lesson 02 -------------------------------------------------------------------


def derivatives(backward_twice: bool = False) -> dict:
    point = torch.tensor(1.5, requires_grad=True)
    for _ in range(2 if backward_twice else 1):
        (torch.sin(point) * point**2).backward()
    by_hand = torch.cos(point.detach()) * 1.5**2 + 2 * 1.5 * torch.sin(point.detach())
    return {"autograd_value": point.grad, "by_hand_value": by_hand}


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"autograd_value": None}, "is None"),
        ({"autograd_value": torch.sin(torch.tensor(1.5)) * 1.5**2}, "the function's value"),
        (derivatives(backward_twice=True), "twice the derivative"),
        ({"by_hand_value": torch.cos(torch.tensor(1.5)) * 1.5**2}, "lacks the 2x·sin(x) term"),
    ],
    ids=["no backward", "f itself", "backward twice", "half the product rule"],
)
def test_lesson02_exercise1(change, fragment):
    assert_passes(lesson02, 1, **derivatives())
    assert_wrong(lesson02, 1, fragment, **{**derivatives(), **change})


def test_lesson02_exercise1_takes_plain_numbers_and_rejects_a_vector():
    x = 1.5
    exact = math.cos(x) * x**2 + 2 * x * math.sin(x)
    assert_passes(lesson02, 1, autograd_value=exact, by_hand_value=exact)
    vector = torch.tensor([exact])
    assert_wrong(lesson02, 1, "it has shape (1,)", autograd_value=vector, by_hand_value=exact)
    only_the_second_term = 2 * x * math.sin(x)
    assert_wrong(
        lesson02,
        1,
        "lacks the cos(x)·x² term",
        autograd_value=exact,
        by_hand_value=only_the_second_term,
    )


def fit_quadratic(zero_grad: bool = True, steps: int = 500) -> dict:
    """The lesson's solution of exercise 2, optionally with a beginner's mistake."""
    inputs = torch.linspace(-1, 1, 50)
    targets = 3 * inputs**2 - inputs + 0.5
    features = torch.stack([inputs**2, inputs, torch.ones_like(inputs)], dim=1)
    final_losses, fitted = {}, {}
    for rate in (0.05, 0.5, 1.0):
        coefficients = torch.zeros(3, requires_grad=True)
        optimizer = torch.optim.SGD([coefficients], lr=rate)
        for _ in range(steps):
            loss = ((features @ coefficients - targets) ** 2).mean()
            loss.backward()
            optimizer.step()
            if zero_grad:
                optimizer.zero_grad()
        final_losses[rate] = loss.item()
        fitted[rate] = [round(value, 3) for value in coefficients.tolist()]
    return {"final_losses": final_losses, "fitted": fitted}


def test_lesson02_exercise2():
    solution = fit_quadratic()
    assert_passes(lesson02, 2, **solution)
    assert_wrong(lesson02, 2, "Did you call zero_grad()", **fit_quadratic(zero_grad=False))
    assert_wrong(lesson02, 2, "took 500 steps", **fit_quadratic(steps=50))
    reordered = {
        **solution,
        "fitted": {rate: list(reversed(v)) for rate, v in solution["fitted"].items()},
    }
    assert_wrong(lesson02, 2, "in the order of the features", **reordered)
    as_columns = {rate: torch.tensor(v).view(3, 1) for rate, v in solution["fitted"].items()}
    assert_passes(lesson02, 2, **{**solution, "fitted": as_columns})
    assert_wrong(
        lesson02, 2, "has no entry for 1.0", **{**solution, "final_losses": {0.05: 1, 0.5: 0}}
    )


def two_layers(freeze: str = "first") -> nn.Sequential:
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    if freeze == "first":
        model[0].requires_grad_(False)
    elif freeze == "attribute":
        model[0].requires_grad = False  # a plain attribute: PyTorch ignores it
    elif freeze == "weight only":
        model[0].weight.requires_grad = False
    elif freeze == "all":
        model.requires_grad_(False)
    return model


@pytest.mark.parametrize(
    ("freeze", "count", "fragment"),
    [
        ("none", 58, "still requires gradients"),
        ("attribute", 58, "which PyTorch ignores"),
        ("weight only", 26, "bias still requires gradients"),
        ("all", 0, "The last layer is frozen too"),
        ("first", 58, "`num_trainable` is 58"),
    ],
)
def test_lesson02_exercise3(freeze, count, fragment):
    assert_passes(lesson02, 3, two_layers=two_layers(), num_trainable=18)
    assert_wrong(lesson02, 3, fragment, two_layers=two_layers(freeze), num_trainable=count)


# --- lesson 03 -------------------------------------------------------------------


def history(num_epochs: int, val_acc: float = 0.9, **extra) -> list[dict]:
    return [
        {"train_loss": 0.5, "val_loss": 0.4, "val_acc": val_acc, "train_seconds": 1.0, **extra}
        for _ in range(num_epochs)
    ]


@pytest.fixture(scope="module")
def width_answer() -> dict:
    """Both networks, trained briefly on an easy problem they learn, and their accuracies."""
    generator = torch.Generator().manual_seed(4)
    images = torch.randn(1000, 1, 28, 28, generator=generator)
    labels = (images.flatten(1) @ torch.randn(784, 10, generator=generator)).argmax(dim=1)
    loader = DataLoader(TensorDataset(images, labels), batch_size=100)
    torch.manual_seed(4)
    models = {"128 units": MLP(784, [128], 10), "64 + 64 units": MLP(784, [64, 64], 10)}
    results = {}
    for label, model in models.items():
        fit(15, 0.005, model, loader, loader, opt_func=torch.optim.Adam)
        results[label] = evaluate(model, loader)["val_acc"]
    return {"width_models": models, "width_results": results, "val_loader": loader}


def test_lesson03_exercise1(width_answer):
    assert_passes(lesson03, 1, **width_answer)
    models, results = width_answer["width_models"], width_answer["width_results"]
    untrained = MLP(784, [128], 10)
    untrained_accuracy = evaluate(untrained, width_answer["val_loader"])["val_acc"]
    mistakes = {
        "not percentages": {"width_results": {label: 100 * v for label, v in results.items()}},
        "a whole history": {"width_results": {**results, "128 units": [{"val_acc": 0.9}]}},
        "no entry for '64 + 64 units'": {"width_results": {"128 units": 0.97}},
        "which is not the network the label names": {
            "width_models": {**models, "128 units": MLP(784, [32], 10)}
        },
        "store the final validation accuracy of that model's training": {
            "width_results": {**results, "128 units": results["128 units"] - 0.2}
        },
        "close to guessing": {
            "width_models": {**models, "128 units": untrained},
            "width_results": {**results, "128 units": untrained_accuracy},
        },
    }
    for fragment, change in mistakes.items():
        assert_wrong(lesson03, 1, fragment, **{**width_answer, **change})


def test_lesson03_exercise2():
    data = TensorDataset(torch.zeros(64, 1, 28, 28), torch.zeros(64, dtype=torch.long))
    small, large = DataLoader(data, batch_size=32), DataLoader(data, batch_size=128)
    solution = {
        "low_lr_history": history(3),
        "small_batch_history": history(3),
        "small_batch_loader": small,
        "exercise_epochs": 3,
    }
    assert_passes(lesson03, 2, **solution)
    same = history(3)
    assert_wrong(
        lesson03,
        2,
        "the same run",
        **{**solution, "low_lr_history": same, "small_batch_history": same},
    )
    assert_wrong(lesson03, 2, "has 1 epochs", **{**solution, "low_lr_history": history(1)})
    assert_wrong(lesson03, 2, "batches of 128", **{**solution, "small_batch_loader": large})
    assert_wrong(lesson03, 2, "has 1 epochs", **{**solution, "small_batch_history": history(1)})
    untrained = history(3, val_acc=0.09)
    assert_wrong(lesson03, 2, "close to guessing", **{**solution, "small_batch_history": untrained})


class Hidden32(ImageClassificationBase):
    def __init__(self, hidden_size: int = 32):
        super().__init__()
        self.hidden = nn.Linear(28 * 28, hidden_size)
        self.output = nn.Linear(hidden_size, 10)

    def forward(self, images):
        return self.output(F.relu(self.hidden(images.flatten(start_dim=1))))


@pytest.fixture(scope="module")
def fashion_answer() -> dict:
    """A model and 10,000 normalised, clothing-like validation images it labels perfectly."""
    torch.manual_seed(3)
    model = Hidden32()
    images = torch.randn(10_000, 1, 28, 28)
    with torch.no_grad():
        labels = model(images).argmax(dim=1)
    loader = DataLoader(TensorDataset(images, labels), batch_size=1000)
    return {"fashion_model": model, "fashion_val_loader": loader, "fashion_accuracy": 1.0}


def with_images(answer: dict, images: torch.Tensor) -> dict:
    labels = answer["fashion_val_loader"].dataset.tensors[1][: len(images)]
    return {**answer, "fashion_val_loader": DataLoader(TensorDataset(images, labels), 1000)}


def test_lesson03_exercise3(fashion_answer):
    assert_passes(lesson03, 3, **fashion_answer)
    images = fashion_answer["fashion_val_loader"].dataset.tensors[0]
    # MNIST-like: 87% of each image is background, the darkest value (0 once normalised
    # is -0.42), and the strokes are brighter.
    digits = torch.full_like(images, -0.4242)
    digits[:, :, 8:18, 8:18] = images[:, :, 8:18, 8:18].abs()
    mistakes = {
        "MnistModel(hidden_size=32)": {"fashion_model": Hidden32(hidden_size=128)},
        "as in MNIST's digits": with_images(fashion_answer, digits),
        "mean 0.50 and standard deviation": with_images(fashion_answer, images + 0.5),
        "holds 2,000 images": with_images(fashion_answer, images[:2000]),
        "`fashion_model` scores 1.000 on the validation set": {"fashion_accuracy": 0.82},
    }
    for fragment, change in mistakes.items():
        assert_wrong(lesson03, 3, fragment, **{**fashion_answer, **change})


# --- lesson 04 -------------------------------------------------------------------


CPU = [torch.device("cpu")]


def test_lesson04_exercise1():
    solution = {
        "big_model_seconds": {"cpu": 7.1},
        "big_model": MLP(28 * 28, [2048, 2048], 10),
        "devices": CPU,
    }
    assert_passes(lesson04, 1, **solution)
    small = {**solution, "big_model": MLP(28 * 28, [32], 10)}
    assert_wrong(lesson04, 1, "has linear layers [(784, 32), (32, 10)]", **small)
    assert_wrong(
        lesson04, 1, "no entry for 'cpu'", **{**solution, "big_model_seconds": {"cuda": 1}}
    )
    assert_wrong(lesson04, 1, "must be positive", **{**solution, "big_model_seconds": {"cpu": 0}})


def test_lesson04_exercise2():
    def seconds_per_step(batch_size, on, steps=20):
        return 1e-4 + 1e-6 * batch_size

    per_step = {size: {"cpu": seconds_per_step(size, CPU[0])} for size in (16, 64, 256, 1024)}
    solution = {"step_table": per_step, "seconds_per_step": seconds_per_step, "devices": CPU}
    assert_passes(lesson04, 2, **solution)
    summed = {size: {"cpu": size * 1e-5} for size in per_step}  # a time per image x the batch
    assert_wrong(lesson04, 2, "does not fall", **{**solution, "step_table": summed})
    totals = {size: {"cpu": 20 * row["cpu"]} for size, row in per_step.items()}  # 20 steps
    assert_wrong(
        lesson04, 2, "Store the mean seconds of one step", **{**solution, "step_table": totals}
    )
    per_image = {size: {"cpu": row["cpu"] / size} for size, row in per_step.items()}
    assert_wrong(lesson04, 2, "16 times less", **{**solution, "step_table": per_image})

    def no_device_argument(batch_size):
        return 0.001

    broken = {**solution, "seconds_per_step": no_device_argument}
    assert_wrong(lesson04, 2, "raised TypeError", **broken)


# --- lesson 05 -------------------------------------------------------------------


def losses(final_train_loss: float, num_epochs: int) -> list[dict]:
    return [
        {
            "train_loss": 2.0 - (2.0 - final_train_loss) * (epoch + 1) / num_epochs,
            "val_loss": 1.3,
            "val_acc": 0.5,
        }
        for epoch in range(num_epochs)
    ]


def test_lesson05_exercise1():
    full = {"augmented": losses(1.2, 15), "plain": losses(0.26, 15)}
    assert_passes(lesson05, 1, overfit_histories=full, overfit_epochs=15)
    smoke = {"augmented": losses(2.30, 2), "plain": losses(2.31, 2)}
    assert_passes(lesson05, 1, overfit_histories=smoke, overfit_epochs=2)
    swapped = {"augmented": full["plain"], "plain": full["augmented"]}
    assert_wrong(
        lesson05, 1, "Are the transforms swapped?", overfit_histories=swapped, overfit_epochs=15
    )
    same = {"augmented": full["plain"], "plain": copy.deepcopy(full["plain"])}
    assert_wrong(lesson05, 1, "the same training losses", overfit_histories=same, overfit_epochs=15)
    short = {"augmented": losses(1.2, 3), "plain": losses(0.26, 3)}
    assert_wrong(lesson05, 1, "has 3 epochs", overfit_histories=short, overfit_epochs=15)


class Widths(nn.Module):
    """Stands in for ResNet9: its parameter count grows with the width."""

    def __init__(self, width: int):
        super().__init__()
        self.layer = nn.Linear(width, width)


def test_lesson05_exercise2():
    counts = {width: width * width + width for width in (4, 8, 16)}
    solution = {width: (counts[width], 0.5, 1.0) for width in counts}
    answers = {"resnet_width": 16, "model_class": Widths}
    assert_passes(lesson05, 2, width_results=solution, **answers)
    last_model_only = {width: (counts[16], 0.5, 1.0) for width in counts}
    assert_wrong(
        lesson05,
        2,
        "count the parameters of the model trained at that width",
        width_results=last_model_only,
        **answers,
    )
    assert_wrong(
        lesson05, 2, "should be a tuple", width_results=dict.fromkeys(counts, 0.5), **answers
    )
    as_lists = {width: list(entry) for width, entry in solution.items()}
    assert_passes(lesson05, 2, width_results=as_lists, **answers)
    assert_wrong(
        lesson05, 2, "no entry for 4", width_results={8: solution[8], 16: solution[16]}, **answers
    )


# --- lesson 06 -------------------------------------------------------------------


def torchrun_result(processes: int, batch: int, rate: float, threads: int, seconds=(1.0, 1.2)):
    lines = [f"[rank {rank}] {threads} threads" for rank in range(processes)]
    lines.append(
        f"{processes} process(es) x {batch} images = effective batch {processes * batch}, "
        f"learning rate {rate}, 10 steps per epoch per process"
    )
    lines += [
        f"epoch {epoch}: {value:.2f} s training, val_loss 0.3, val_acc 0.9"
        for epoch, value in enumerate(seconds, start=1)
    ]
    return TorchrunResult(["torchrun"], "\n".join(lines), 3.0, 100.0, 50.0, 80.0)


def test_lesson06_exercise1():
    scaled_history = [
        {"epoch": 1, "seconds": 1.0012, "val_loss": 0.3, "val_acc": 0.93},
        {"epoch": 2, "seconds": 1.1987, "val_loss": 0.2, "val_acc": 0.945},
    ]
    solution = {
        "scaled_run": torchrun_result(2, 128, 0.4, 1, seconds=(1.0012, 1.1987)),
        "scaled_history": scaled_history,
        "num_epochs": 2,
    }
    other_run = [{**epoch, "seconds": 1.6} for epoch in scaled_history]
    assert_passes(lesson06, 1, **solution)
    mistakes = {
        "linear scaling rule": {"scaled_run": torchrun_result(2, 128, 0.2, 1)},
        "batches of 256": {"scaled_run": torchrun_result(2, 256, 0.4, 1)},
        "1 process(es)": {"scaled_run": torchrun_result(1, 128, 0.4, 1)},
        "close to guessing": {
            "scaled_history": [{**epoch, "val_acc": 0.1} for epoch in scaled_history]
        },
        "does not hold the epochs this run printed": {"scaled_history": other_run},
        "one dict for each": {"scaled_history": scaled_history[:1]},
        "what `run_torchrun` returned": {"scaled_run": None},
    }
    for fragment, change in mistakes.items():
        assert_wrong(lesson06, 1, fragment, **{**solution, **change})


def test_lesson06_exercise2():
    run_result = torchrun_result(1, 128, 0.2, 2, seconds=(1.0, 1.2))
    assert_passes(lesson06, 2, thread_run=run_result, two_thread_seconds=1.1)
    one_thread = torchrun_result(1, 128, 0.2, 1)
    assert_wrong(
        lesson06, 2, "ran with 1 intra-op thread", thread_run=one_thread, two_thread_seconds=1.1
    )
    assert_wrong(lesson06, 2, "store the mean", thread_run=run_result, two_thread_seconds=2.2)
    two_processes = torchrun_result(2, 128, 0.2, 2)
    assert_wrong(lesson06, 2, "had 2 processes", thread_run=two_processes, two_thread_seconds=1.1)


@pytest.mark.parametrize("script", LESSON_SCRIPTS, ids=[path.stem for path in LESSON_SCRIPTS])
def test_the_not_attempted_report_quotes_the_stub_line_of_the_student_version(script):
    """The report says which line to replace: it must be the line the learner sees."""
    student = nbformat.read(ROOT / "student" / f"{script.stem}.ipynb", as_version=4)
    stubs = [
        line
        for cell in student.cells
        if cell.cell_type == "code"
        for line in cell.source.splitlines()
        if line.endswith(" = ...")
    ]
    module = MODULES[script.stem[:2]]
    assert len(stubs) == len(module.EXERCISES)
    for (number, exercise), stub in zip(module.EXERCISES.items(), stubs, strict=True):
        names = stub.removesuffix(" = ...").split(" = ")
        answers = {
            name: NOT_ATTEMPTED if name in names else object() for name in exercise.answer_names()
        }
        result = run(module, number, **answers)
        assert f"in place of the line `{stub}`" in result.details[0], (number, stub)
