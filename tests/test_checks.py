"""The exercise checks: for every exercise, a solution passes, the stub reports "not
attempted" with its hint, and common wrong answers get their own specific message.

Answers for lessons 01 and 02 are the lessons' own solution code; for the training
exercises of lessons 03 to 06 they are small objects of the same kind (histories,
models, loaders, a torchrun result). That the real worked solutions pass is proven by
executing them: ``make test`` runs every lesson with ``COURSE_STRICT_CHECKS=1``, and
``test_every_committed_check_output_says_passed`` reads the full-size outputs.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import io
import math
import re
import time
from functools import partial
from pathlib import Path

import jupytext
import nbformat
import pytest
import torch
import torch.distributed as dist
from conftest import LESSON_SCRIPTS, PAGES_WITHOUT_EXERCISES, ROOT
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data.distributed import DistributedSampler

from course_utils import ImageClassificationBase, evaluate, fit, fit_one_cycle
from course_utils.checks import (
    NOT_ATTEMPTED,
    STRICT_ENV,
    Exercise,
    Wrong,
    call_learner_code,
    concept_question,
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
from course_utils.models import MLP

# The lessons with exercises (the troubleshooting page has none).
EXERCISE_SCRIPTS = [path for path in LESSON_SCRIPTS if path.stem not in PAGES_WITHOUT_EXERCISES]

MODULES = {
    "01": lesson01,
    "02": lesson02,
    "03": lesson03,
    "04": lesson04,
    "05": lesson05,
    "06": lesson06,
}


def run(module, number: int | str, **answers):
    checks = {**module.EXERCISES, **module.QUESTIONS}  # exercises 1, 2, ...; questions "Q1", ...
    return run_check(module.LESSON, number, checks[number], answers)


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


def test_a_loop_stub_reports_not_attempted_while_its_dicts_hold_only_the_placeholder():
    # A stub inside a loop binds names that are not answers; the loop stores them in dicts.
    def test(runs):
        return ["`runs` was read"]

    exercise = Exercise(hint="train each run", test=test, stub=("model", "history"))
    for stored in ({"a": ..., "b": ...}, {"a": [..., ...], "b": [...]}):
        result = run_check("00", 1, exercise, {"runs": stored})
        assert result.status == "not attempted", stored
        assert "in place of the line `model = history = ...`" in result.details[0]
    # One entry written: attempted, so the exercise's own check reads it.
    for stored in ({"a": 1, "b": ...}, {"a": [..., 0.5]}, {}):
        assert run_check("00", 1, exercise, {"runs": stored}).status == "passed", stored

    # Two dicts, one written in full and one still placeholders (say, `lr = ...` left in):
    # attempted, so the check can name the dict that is left.
    def two(runs, rates):
        return ["`runs` and `rates` were read"]

    pair = Exercise(hint="train each run", test=two, stub=("model", "lr"))
    answers = {"runs": {"a": 1}, "rates": {"a": ...}}
    assert run_check("00", 1, pair, answers).status == "passed"
    answers = {"runs": {"a": ...}, "rates": {"a": ...}}
    assert run_check("00", 1, pair, answers).status == "not attempted"
    # Without a loop stub, a dict of placeholders is an answer like any other.
    plain = Exercise(hint="train each run", test=test)
    assert run_check("00", 1, plain, {"runs": {"a": ...}}).status == "passed"


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
    with pytest.raises(ValueError, match=r"has exercises and questions 1, not 2"):
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


# --- concept checks -----------------------------------------------------------------


def toy_question() -> Exercise:
    return concept_question(
        "answer_q1",
        hint="what does a gradient point along?",
        right="b",
        why="the gradient points uphill, so a step against it goes down",
        misconceptions={
            "a": "A step along the gradient climbs the loss.",
            "c": "The size of a step depends on the learning rate too.",
        },
    )


@pytest.mark.parametrize("given", ["b", "B", " (b) ", "(B)"])
def test_a_concept_question_takes_its_letter_in_any_common_spelling(given):
    result = run_check("00", "Q1", toy_question(), {"answer_q1": given})
    assert result.passed, str(result)
    assert str(result).splitlines()[0] == "[ok] Lesson 00, question 1: passed"
    assert "the gradient points uphill" in result.details[1]


def test_a_wrong_letter_gets_its_misconception_and_not_the_right_letter():
    result = run_check("00", "Q1", toy_question(), {"answer_q1": "c"})
    assert result.status == "not right yet"
    assert result.details == (
        "(c) is not it. The size of a step depends on the learning rate too.",
    )
    assert "(b)" not in str(result)


@pytest.mark.parametrize(
    ("given", "fragment"), [(2, "one letter in quotes"), ("e", "write one of the letters")]
)
def test_an_answer_that_is_not_a_choice_says_what_to_write(given, fragment):
    result = run_check("00", "Q1", toy_question(), {"answer_q1": given})
    assert result.status == "not right yet" and fragment in result.details[0]


def test_a_concept_stub_reports_not_attempted_with_its_own_name_and_hint(capsys, monkeypatch):
    monkeypatch.delenv(STRICT_ENV, raising=False)
    check = make_checker("00", {1: toy_exercise()}, {"Q1": toy_question()})
    assert check("Q1", answer_q1=...) is None  # a bare call: Jupyter shows no `True`
    assert check("Q1", answer_q1="b") is None
    printed = capsys.readouterr().out
    assert "question 1: passed" in printed
    assert "question 1: not attempted" in printed and "`answer_q1 = ...`" in printed
    assert "Hint: what does a gradient point along?" in printed
    with pytest.raises(TypeError, match="takes answer_q1=answer_q1"):
        check("Q1", answer=...)


def test_a_question_must_give_every_other_letter_a_misconception():
    with pytest.raises(ValueError, match="cover the letters"):
        concept_question("q", hint="", right="a", why="", misconceptions={"c": "no"})
    with pytest.raises(ValueError, match="cover the letters"):
        concept_question("q", hint="", right="a", why="", misconceptions={"a": "no", "b": "x"})


def question_ids() -> list[tuple[str, str]]:
    return [(lesson, name) for lesson, module in MODULES.items() for name in module.QUESTIONS]


@pytest.mark.parametrize("lesson", list(MODULES))
def test_every_lesson_has_three_to_five_concept_questions(lesson):
    questions = MODULES[lesson].QUESTIONS
    assert 3 <= len(questions) <= 5
    assert list(questions) == [f"Q{n}" for n in range(1, len(questions) + 1)]


@pytest.mark.parametrize(("lesson", "name"), question_ids())
def test_every_wrong_letter_of_every_question_explains_itself(lesson, name):
    module = MODULES[lesson]
    question = module.QUESTIONS[name]
    (answer_name,) = question.answer_names()
    assert answer_name == f"answer_{name.lower()}"
    reports = {letter: run(module, name, **{answer_name: letter}) for letter in "abcdef"[:6]}
    right = [letter for letter, report in reports.items() if report.passed]
    assert len(right) == 1, "exactly one letter passes"
    for letter, report in reports.items():
        if letter == right[0] or "write one of the letters" in report.details[0]:
            continue
        text = report.details[0]
        assert text.startswith(f"({letter}) is not it. ") and len(text) > 40, text
        assert f"({right[0]})" not in text, f"{name} ({letter}) gives the right letter away"
    stub = run(module, name, **{answer_name: NOT_ATTEMPTED})
    assert stub.status == "not attempted" and stub.details[-1] == f"Hint: {question.hint}"


def lesson_questions(script: Path) -> dict[str, tuple[str, str]]:
    """Question name -> (the hint of its solution region, its check cell), from the lesson."""
    found, name = {}, None
    for cell in jupytext.read(script).cells:
        heading = re.search(r"\*\*Question (\d+)\.\*\*", cell.source)
        if cell.cell_type == "markdown" and heading:
            name = f"Q{heading.group(1)}"
        elif cell.cell_type == "code" and name is not None and "# Hint:" in cell.source:
            hint = next(line for line in cell.source.splitlines() if "# Hint:" in line)
            found.setdefault(name, (hint.split("# Hint:", 1)[1].strip(), cell.source))
    return found


@pytest.mark.parametrize("script", EXERCISE_SCRIPTS, ids=[path.stem for path in EXERCISE_SCRIPTS])
def test_every_question_in_a_lesson_has_its_check_and_hint(script):
    module = MODULES[script.stem[:2]]
    found = lesson_questions(script)
    assert sorted(found) == sorted(module.QUESTIONS), "a question has no check, or no hint"
    for name, (hint, source) in found.items():
        assert module.QUESTIONS[name].hint == hint, f"{name}: hints differ"
        answer = f"answer_{name.lower()}"
        assert f'check_exercise("{name}", {answer}={answer})' in source, source


@pytest.mark.parametrize("script", EXERCISE_SCRIPTS, ids=[path.stem for path in EXERCISE_SCRIPTS])
def test_every_committed_question_output_says_passed(script):
    """The worked versions answer every question, and the committed run shows it."""
    notebook = nbformat.read(script.with_suffix(".ipynb"), as_version=4)
    module = MODULES[script.stem[:2]]
    outputs = {
        name: "".join(output.get("text", "") for output in cell.outputs)
        for cell in notebook.cells
        if cell.cell_type == "code"
        for name in module.QUESTIONS
        if f'check_exercise("{name}"' in cell.source
    }
    assert sorted(outputs) == sorted(module.QUESTIONS)
    for name, text in outputs.items():
        head = f"[ok] Lesson {module.LESSON}, question {name[1:]}: passed"
        assert text.startswith(head), text


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


@pytest.mark.parametrize("script", EXERCISE_SCRIPTS, ids=[path.stem for path in EXERCISE_SCRIPTS])
def test_every_exercise_has_a_check_whose_hint_is_the_stubs(script):
    module = importlib.import_module(f"course_utils.checks.lesson{script.stem[:2]}")
    hints = lesson_hints(script)
    assert sorted(hints) == sorted(module.EXERCISES), "an exercise has no check, or no hint"
    for number, hint in hints.items():
        assert module.EXERCISES[number].hint == hint, f"exercise {number}: hints differ"


@pytest.mark.parametrize("script", EXERCISE_SCRIPTS, ids=[path.stem for path in EXERCISE_SCRIPTS])
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


def lesson04_train_epoch(
    model,
    loader,
    optimizer,
    on,
    *,
    sync_after=True,
    zero_grad=True,
    train=True,
    clock_before_sync=False,
    scale=1.0,
    epochs=1,
    sync_before=True,
    move_images=True,
    move_labels=True,
    read_loss=None,
    sync_each_step=False,
    only_on=None,
    blocking=False,
    sync_on=None,
    always_non_blocking=False,
    never_non_blocking=False,
    non_blocking_on_cuda=False,
    ask_the_tensor=False,
):
    """Exercise 1's train_epoch, or the same with one named mistake (or ``ask_the_tensor``,
    a right variant: ``non_blocking=images.is_pinned()`` in place of the loader's flag).

    ``read_loss``: a way to read the loss on the CPU at every step ("item", "float",
    "print", "cpu"), or "once": the losses kept on the device and averaged after the loop.
    ``only_on``: synchronize only when ``on`` is of that type, with PyTorch's own call for it.
    ``non_blocking_on_cuda``: queue every copy to a CUDA GPU, pinned or not (so the plain GPU
    arm changes more than the device); ``never_non_blocking``: not even in the pinned arm.
    """

    def synchronize(on):
        if only_on is None:
            lesson04.device_module.synchronize(sync_on or on)
        elif on.type == only_on:
            getattr(torch, only_on).synchronize()

    model.train(train)
    if sync_before:
        synchronize(on)
    start = time.perf_counter()
    losses = []
    for _ in range(epochs):
        for images, labels in loader:
            # non_blocking from pinned batches only (the pinned arm), unless a mistake says
            pinned = images.is_pinned() if ask_the_tensor else getattr(loader, "pin_memory", 0)
            queue = pinned or always_non_blocking
            queue = queue or (non_blocking_on_cuda and on.type == "cuda")
            queue = queue and not never_non_blocking
            images = images.to(on, non_blocking=queue and not blocking) if move_images else images
            labels = labels.to(device=on, non_blocking=queue) if move_labels else labels
            loss = F.cross_entropy(model(images), labels)
            loss.backward()
            optimizer.step()
            if zero_grad:
                optimizer.zero_grad()
            if sync_each_step:
                synchronize(on)
            if read_loss == "item":
                losses.append(loss.item())
            elif read_loss == "float":
                losses.append(float(loss))
            elif read_loss == "print":
                print(f"loss {loss:.3f}")
            elif read_loss == "cpu":
                losses.append(loss.detach().cpu())
            elif read_loss == "once":
                losses.append(loss.detach())
            elif read_loss == "every other step" and len(losses) % 2 == 0:
                losses.append(loss.item())
            elif read_loss == "every other step":
                losses.append(0.0)
    if read_loss == "once":
        torch.stack(losses).mean().item()
    if clock_before_sync:
        seconds = time.perf_counter() - start
        synchronize(on)
        return seconds * scale
    if sync_after:
        synchronize(on)
    return (time.perf_counter() - start) * scale


LESSON04_TIMED = []  # what lesson04_timed_epochs measured, for the tests that follow


def lesson04_timed_epochs():
    """A 2048-2048 MLP, a small loader, and two epochs of it, timed as exercise 1 does."""
    if not LESSON04_TIMED:  # measured once, for all the tests
        from course_utils.device import DeviceTensorLoader

        generator = torch.Generator().manual_seed(0)
        loader = DeviceTensorLoader(
            torch.randn(600, 1, 28, 28, generator=generator),
            torch.randint(0, 10, (600,), generator=generator),
            batch_size=256,
            shuffle=True,
            generator=generator,
        )
        torch.manual_seed(0)
        model = MLP(28 * 28, [2048, 2048], 10)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
        seconds = [
            lesson04_train_epoch(model, loader, optimizer, torch.device("cpu")) for _ in range(2)
        ]
        LESSON04_TIMED.append((model, loader, seconds))
    return LESSON04_TIMED[0]


def lesson04_exercise1(**mistake):
    big_model, loader, seconds = lesson04_timed_epochs()
    return {
        "train_epoch": lambda *args: lesson04_train_epoch(*args, **mistake),
        "big_model_seconds": {"cpu": list(seconds)},
        "big_model": big_model,
        "exercise_arms": {"cpu": (torch.device("cpu"), False)},
        "devices": CPU,
        "loader": loader,
    }


def test_lesson04_exercise1_passes_the_lessons_loop():
    assert_passes(lesson04, 1, **lesson04_exercise1())


def test_lesson04_exercise1_passes_a_loop_that_reads_the_losses_once_after_it():
    result = run(lesson04, 1, **lesson04_exercise1(read_loss="once"))
    assert result.passed, str(result)
    assert "(1 copy in 6 steps)" in str(result)


@pytest.mark.parametrize(
    ("read_loss", "how"),
    [
        ("item", "`.item()`"),
        ("float", "`float(...)`"),
        ("print", "an f-string"),
        ("cpu", "`.cpu()`"),
    ],
)
def test_lesson04_exercise1_finds_a_copy_of_the_loss_to_the_cpu_at_every_step(read_loss, how):
    fragment = f"to the CPU in 6 of the 6 steps, with {how}. On a GPU each such copy"
    assert_wrong(lesson04, 1, fragment, **lesson04_exercise1(read_loss=read_loss))


def test_lesson04_exercise1_finds_a_copy_of_the_loss_in_some_of_the_steps():
    fragment = "to the CPU in 3 of the 6 steps, with `.item()`"
    assert_wrong(lesson04, 1, fragment, **lesson04_exercise1(read_loss="every other step"))


@pytest.mark.parametrize(
    ("mistake", "fragment"),
    [
        ({"sync_after": False}, "it read the clock while steps were still queued"),
        ({"clock_before_sync": True}, "it read the clock while steps were still queued"),
        ({"zero_grad": False}, "never clears the gradients"),
        ({"train": False}, "call `model.train()` first"),
        ({"scale": 1000.0}, "return the epoch's time in seconds"),
        ({"epochs": 2}, "made 12 optimizer steps for a loader of 6 batches"),
        ({"sync_before": False}, "Call `synchronize(on)` before starting the clock, too"),
        ({"move_images": False}, "did not move the images of 6 of 6 batches to `on`"),
        ({"move_labels": False}, "did not move the labels of 6 of 6 batches to `on`"),
    ],
)
def test_lesson04_exercise1_finds_each_mistake_in_train_epoch(mistake, fragment):
    assert_wrong(lesson04, 1, fragment, **lesson04_exercise1(**mistake))


def test_lesson04_exercise1_passes_a_synchronize_written_for_the_learners_gpu_alone():
    # `if on.type == "cuda": torch.cuda.synchronize()` is right on a GPU; the check passes a
    # simulated GPU's device as `on`, so the guarded call runs there. A Mac's learner
    # guards with "mps" and has MPS in `devices`. The timed epochs themselves stay the CPU's.
    answer = lesson04_exercise1(only_on="cuda")
    result = run(lesson04, 1, **answer)
    assert result.passed, str(result)
    assert "`on` was `torch.device('cuda')`" in str(result)
    on_a_mac = lesson04_exercise1(only_on="mps")["train_epoch"]
    checked = lesson04._check_train_epoch(on_a_mac, "mps")
    assert "`on` was `torch.device('mps')`" in checked[-1]
    assert lesson04._simulated_type([*CPU, torch.device("mps")]) == "mps"
    assert lesson04._simulated_type(CPU) == "cuda"
    # Guarded for the wrong GPU, the synchronize never runs on the simulated one.
    fragment = "it read the clock while steps were still queued"
    assert_wrong(lesson04, 1, fragment, **lesson04_exercise1(only_on="mps"))


def test_lesson04_exercise1_finds_a_blocking_copy_from_pinned_batches():
    # The pinned arm's one change is pinned batches copied with non_blocking=True: the
    # check hands train_epoch pinned batches on a simulated CUDA GPU, even on a CPU.
    fragment = "moved 6 of its 12 batch tensors to `on` without `non_blocking=True`, from pinned"
    assert_wrong(lesson04, 1, fragment, **lesson04_exercise1(blocking=True))
    fragment = "moved 12 of its 12 batch tensors to `on` without `non_blocking=True`, from pinned"
    assert_wrong(lesson04, 1, fragment, **lesson04_exercise1(never_non_blocking=True))
    # On an Apple GPU, where nothing is pinned, the check asks for no non-blocking copies.
    blocking = lesson04_exercise1(blocking=True)["train_epoch"]
    assert "`on` was `torch.device('mps')`" in lesson04._check_train_epoch(blocking, "mps")[-1]


def test_lesson04_exercise1_finds_a_non_blocking_copy_of_unpinned_batches():
    # The plain GPU arm changes only the device: no non_blocking from unpinned batches. The
    # lesson's earlier rule, non_blocking on any CUDA GPU, now fails there.
    fragment = "moved 12 of its 12 batch tensors to `on` with `non_blocking=True`, from batches"
    assert_wrong(lesson04, 1, fragment, **lesson04_exercise1(non_blocking_on_cuda=True))
    # Unpinned batches copied to MPS with non_blocking=True can be read after they are freed
    # (pytorch/pytorch#139550, #189690): on a Mac the check wants plain copies too.
    queued = lesson04_exercise1(always_non_blocking=True)["train_epoch"]
    with pytest.raises(Wrong, match="moved 12 of its 12 batch tensors to `on` with"):
        lesson04._check_train_epoch(queued, "mps")
    # The same function is right for the pinned arm's batches on a CUDA GPU.
    assert lesson04._check_train_epoch(queued, "cuda", pinned=True)


def test_lesson04_exercise1_passes_non_blocking_asked_of_the_batch_itself():
    # `non_blocking=images.is_pinned()` is as right as the loader's flag: blocking copies of
    # the plain arm's batches, queued copies of the pinned arm's.
    asks = lesson04_exercise1(ask_the_tensor=True)
    assert_passes(lesson04, 1, **asks)
    assert lesson04._check_train_epoch(asks["train_epoch"], "cuda", pinned=True)


def test_lesson04_exercise1_wants_one_change_per_arm():
    cpu, cuda, mps = (torch.device(name) for name in ("cpu", "cuda", "mps"))
    pinned_arm = "cuda, pinned + non_blocking"
    right = {"cpu": (cpu, False), "cuda": (cuda, False), pinned_arm: (cuda, True)}
    assert lesson04._check_arms(right, [cpu, cuda]) == ["cpu", "cuda", pinned_arm]
    assert lesson04._check_arms({"cpu": (cpu, False), "mps": (mps, False)}, [cpu, mps])
    mistakes = {
        "the plain GPU arm should change only the device": {**right, "cuda": (cuda, True)},
        f"`exercise_arms[{pinned_arm!r}]` does not pin": {**right, pinned_arm: (cuda, False)},
        f"no entry for {pinned_arm!r}": {"cpu": (cpu, False), "cuda": (cuda, False)},
        "`exercise_arms['cuda']` runs on cpu": {**right, "cuda": (cpu, False)},
    }
    for fragment, arms in mistakes.items():
        with pytest.raises(Wrong, match=re.escape(fragment)):
            lesson04._check_arms(arms, [cpu, cuda])
    # On a CPU alone, through the whole check: the CPU arm pins nothing.
    pinned_cpu = {**lesson04_exercise1(), "exercise_arms": {"cpu": (cpu, True)}}
    assert_wrong(lesson04, 1, "the CPU arm is the baseline", **pinned_cpu)


def test_lesson04_exercise1_finds_a_synchronize_on_another_device_than_on():
    # The notebook's global `device` (the CPU here) in place of the function's `on`:
    # synchronize(cpu) waits for nothing on a GPU machine.
    fragment = "called `synchronize` with `cpu` while `on` was `torch.device('cuda')`"
    assert_wrong(lesson04, 1, fragment, **lesson04_exercise1(sync_on=torch.device("cpu")))


def test_lesson04_exercise1_finds_a_synchronize_inside_the_loop():
    fragment = "called `synchronize` inside the loop (5 times in 6 steps)"
    assert_wrong(lesson04, 1, fragment, **lesson04_exercise1(sync_each_step=True))


def test_lesson04_exercise1_finds_mistakes_in_the_timings_and_the_model():
    answer = lesson04_exercise1()
    small = {**answer, "big_model": MLP(28 * 28, [32], 10)}
    assert_wrong(lesson04, 1, "has linear layers [(784, 32), (32, 10)]", **small)
    one_time = {**answer, "big_model_seconds": {"cpu": 7.1}}
    assert_wrong(lesson04, 1, "should be a list of times, one per repeat", **one_time)
    one_epoch = {**answer, "big_model_seconds": {"cpu": [7.1]}}
    assert_wrong(lesson04, 1, "repeat the measurement at least 2 times", **one_epoch)
    gpu_only = {**answer, "big_model_seconds": {"cuda": [1.0, 1.0]}}
    assert_wrong(lesson04, 1, "no entry for 'cpu'", **gpu_only)
    zero = {**answer, "big_model_seconds": {"cpu": [0, 1.0]}}
    assert_wrong(lesson04, 1, "must be positive", **zero)
    meta = {**answer, "big_model": MLP(28 * 28, [2048, 2048], 10).to("meta")}
    assert_wrong(lesson04, 1, "`big_model` is on meta", **meta)


def test_lesson04_exercise1_finds_epoch_times_that_are_not_the_big_models():
    answer = lesson04_exercise1()
    result = run(lesson04, 1, **answer)
    assert "within 10 times of the check's own timing" in result.details[-1], str(result)
    # On a CPU a step of the 32-unit model at batch 256 is about 100 times shorter than one
    # of the 2048-2048 model (exercises 2 and 1); timed here, a busy CPU would blur that.
    small_seconds = [each / 100 for each in answer["big_model_seconds"]["cpu"]]
    small = {**answer, "big_model_seconds": {"cpu": small_seconds}}
    assert_wrong(lesson04, 1, "not the times of another model or of part of an epoch", **small)
    in_ms = {
        **answer,
        "big_model_seconds": {"cpu": [each * 1e3 for each in answer["big_model_seconds"]["cpu"]]},
    }
    assert_wrong(lesson04, 1, "Store seconds (not milliseconds) of one epoch", **in_ms)


def test_lesson04_exercise1_counts_the_loaders_own_time_in_an_epoch():
    # On a fast GPU an epoch of exercise_loader() can be mostly its loading on the CPU
    # (indexing, stacking and pinning image by image): the check's estimate includes it.
    answer = lesson04_exercise1()
    steps_only = lesson04._check_provenance(
        answer["big_model"], answer["big_model_seconds"], ["cpu"], answer["loader"]
    )
    estimate = float(re.search(r"against about ([\d.]+) s", steps_only[0]).group(1))

    class SlowLoader:  # the same batches, each taking a while to load
        def __init__(self, loader, pause):
            self.loader, self.pause = loader, pause

        def __len__(self):
            return len(self.loader)

        def __iter__(self):
            for batch in self.loader:
                time.sleep(self.pause)
                yield batch

    pause = 12 * estimate / len(answer["loader"])  # loading: 12 times the steps' time
    slow = SlowLoader(answer["loader"], pause)
    loaded = [seconds + 12 * estimate for seconds in answer["big_model_seconds"]["cpu"]]
    found = lesson04._check_provenance(answer["big_model"], {"cpu": loaded}, ["cpu"], slow)
    assert "one pass over `loader`" in found[0]


def test_lesson04_the_simulated_gpu_restores_every_synchronize():
    namespace = {"synchronize": lesson04.device_module.synchronize}
    function = eval("lambda: synchronize", namespace)  # a learner's function in its notebook
    originals = (lesson04.device_module.synchronize, torch.cuda.synchronize, torch.mps.synchronize)
    gpu = lesson04.SimulatedGPU(0.01)
    with lesson04.simulated_synchronize(gpu, function):
        assert function() is lesson04.device_module.synchronize  # the learner's name too
        gpu.queue_step()
        start = time.perf_counter()
        torch.cuda.synchronize()
        assert time.perf_counter() - start >= 0.009
        gpu.queue_step()
        function()(torch.device("cpu"))  # the CPU's synchronize waits for no GPU
        assert gpu.elsewhere == ["cpu"] and gpu.busy_until > time.perf_counter()
        function()("cuda")
        assert gpu.busy_until <= time.perf_counter()
    assert function() is originals[0]
    assert originals == (
        lesson04.device_module.synchronize,
        torch.cuda.synchronize,
        torch.mps.synchronize,
    )


def lesson04_time_step(
    step, on, *, steps=10, repeats=5, warm_up=True, sync_before=True, sync_after=True, per_step=True
):
    """Exercise 2's time_step, or the same with one named mistake."""
    if warm_up:
        step()
    timings = []
    for _ in range(repeats):
        if sync_before:
            lesson04.device_module.synchronize(on)
        start = time.perf_counter()
        for _ in range(steps):
            step()
        if sync_after:
            lesson04.device_module.synchronize(on)
        timings.append((time.perf_counter() - start) / (steps if per_step else 1))
    return timings


def lesson04_step_table(per_step_ms):
    return {
        size: {"cpu": [per_step_ms(size) / 1e3 * (1 + 0.01 * k) for k in range(5)]}
        for size in lesson04.BATCH_SIZES
    }


def lesson04_measured_table():
    """A table measured as the lesson measures it, on this machine's CPU: in 5 rounds of one
    repeat per batch size, so that a busy moment of the CPU falls on every size alike."""
    cpu = torch.device("cpu")
    steps = {size: lesson04._cpu_step(size) for size in lesson04.BATCH_SIZES}
    table = {size: {"cpu": []} for size in steps}
    for _ in range(5):
        for size, step in steps.items():
            table[size]["cpu"] += lesson04_time_step(step, cpu, repeats=1)
    return table


def lesson04_time_in_rounds(
    steps, on, rounds=7, *, in_rounds=True, per_round=1, rotate=True, own_clock=False
):
    """Exercise 2's time_in_rounds, or the same with one named mistake: every repeat of one
    batch size before the next (`in_rounds=False`), several repeats a round, the same order
    in every round, or a clock of its own without a warm-up or synchronize."""
    timings = {size: [] for size in steps}
    if not in_rounds:
        for size, step in steps.items():
            timings[size] += lesson04_time_step(step, on, repeats=rounds)
        return timings
    order = list(steps)
    for round_number in range(rounds):
        shift = round_number % len(order) if rotate else 0
        for size in order[shift:] + order[:shift]:
            if own_clock:
                start = time.perf_counter()
                for _ in range(10):
                    steps[size]()
                timings[size].append((time.perf_counter() - start) / 10)
            else:
                timings[size] += lesson04_time_step(steps[size], on, repeats=per_round)
    return timings


def lesson04_exercise2(**mistake):
    return {
        "time_step": lambda step, on: lesson04_time_step(step, on, **mistake),
        "time_in_rounds": lesson04_time_in_rounds,
        "step_table": lesson04_measured_table(),
        "devices": CPU,
    }


def test_lesson04_exercise2_simulates_the_learners_own_gpu_type():
    # A Mac's learner may guard with `if on.type == "mps": torch.mps.synchronize()`: right
    # there, and the check (like exercise 1's) then simulates an Apple GPU.
    def guarded_for(kind):
        def synchronize_on(on):
            if on.type == kind:
                getattr(torch, kind).synchronize()

        def time_step(step, on):
            step()
            timings = []
            for _ in range(5):
                synchronize_on(on)
                start = time.perf_counter()
                for _ in range(10):
                    step()
                synchronize_on(on)
                timings.append((time.perf_counter() - start) / 10)
            return timings

        return time_step

    assert lesson04._simulated_type([*CPU, torch.device("mps")]) == "mps"
    checked, _ = lesson04._check_time_step(guarded_for("mps"), "mps")
    assert "`time_step` returned 5 repeats" in checked[0]
    with pytest.raises(Wrong, match="it timed only the queueing"):
        lesson04._check_time_step(guarded_for("cuda"), "mps")


def test_lesson04_exercise2_passes_a_timing_that_warms_up_waits_and_repeats():
    result = run(lesson04, 2, **lesson04_exercise2())
    assert result.status == "passed", str(result)
    assert "`time_step` returned 5 repeats, median" in result.details[1], str(result)


@pytest.mark.parametrize(
    ("mistake", "fragment"),
    [
        ({"sync_after": False}, "it timed only the queueing"),
        ({"warm_up": False}, "one-off set-up (0.5 s on this simulated GPU) was still queued"),
        ({"sync_before": False}, "one-off set-up (0.5 s on this simulated GPU) was still queued"),
        ({"steps": 3}, "fewer than 10 a repeat"),
        ({"repeats": 1}, "holds 1 time; repeat the measurement at least 5 times"),
        ({"per_step": False}, "return seconds per step"),
    ],
)
def test_lesson04_exercise2_finds_each_mistake_in_time_step(mistake, fragment):
    assert_wrong(lesson04, 2, fragment, **lesson04_exercise2(**mistake))


def test_lesson04_exercise2_wants_the_repeats_in_rounds():
    answer = lesson04_exercise2()
    passed = run(lesson04, 2, **answer)
    assert any("one repeat of every size per round" in line for line in passed.details), passed
    size_by_size = {
        **answer,
        "time_in_rounds": partial(lesson04_time_in_rounds, in_rounds=False),
    }
    order = "in this order (each number a run of steps of one size): 16 64 256 1024. Take"
    assert_wrong(lesson04, 2, order, **size_by_size)
    fixed = {**answer, "time_in_rounds": partial(lesson04_time_in_rounds, rotate=False)}
    assert_wrong(lesson04, 2, "in the same order in every round (16 64 256 1024 16", **fixed)
    own_clock = {**answer, "time_in_rounds": partial(lesson04_time_in_rounds, own_clock=True)}
    assert_wrong(lesson04, 2, "not with a clock of its own", **own_clock)
    two_a_round = {**answer, "time_in_rounds": partial(lesson04_time_in_rounds, per_round=2)}
    assert_wrong(lesson04, 2, "returned 6 times for batch 16: return one per round", **two_a_round)


def test_lesson04_exercise2_reads_a_busy_cpu_by_its_fastest_repeats():
    # CI once failed a right answer: the CPU was shared with another test run, and batch
    # 16's median step came out above twice batch 1024's. A busy CPU slows repeats down and
    # never speeds one up, so here every repeat at batch 16 but the fastest is 40 times as
    # long: judged by medians, this table reads as one of times per image.
    answer = lesson04_exercise2()
    table = {size: {"cpu": list(row["cpu"])} for size, row in answer["step_table"].items()}
    fastest = min(table[16]["cpu"])
    table[16]["cpu"] = [fastest] + [40 * fastest] * (len(table[16]["cpu"]) - 1)
    result = run(lesson04, 2, **{**answer, "step_table": table})
    assert not any("not per image" in line for line in result.details), result


def test_lesson04_exercise2_finds_mistakes_in_the_table():
    answer = lesson04_exercise2()
    per_image = {
        size: {"cpu": [each / size for each in row["cpu"]]}
        for size, row in answer["step_table"].items()
    }
    assert_wrong(lesson04, 2, "not per image", **{**answer, "step_table": per_image})
    summed = lesson04_step_table(lambda size: 0.01 * size)  # a time per image x the batch
    assert_wrong(lesson04, 2, "does not fall", **{**answer, "step_table": summed})
    once = {size: {"cpu": [row["cpu"][0]]} for size, row in answer["step_table"].items()}
    assert_wrong(lesson04, 2, "holds 1 time", **{**answer, "step_table": once})
    # The lesson's first four sizes only: the two large ones give a GPU room to win.
    small = {size: row for size, row in answer["step_table"].items() if size <= 1024}
    assert_wrong(lesson04, 2, "4096", **{**answer, "step_table": small})
    # Each repeat's total of its 20 steps (as the lesson's time_step runs) instead of its
    # time per step: 20 times too long, which the old tolerance of 30 times let through.
    totals = {
        size: {"cpu": [each * 20 for each in row["cpu"]]}
        for size, row in answer["step_table"].items()
    }
    answer_20 = {**lesson04_exercise2(steps=20), "step_table": totals}
    assert_wrong(lesson04, 2, "runs 20 steps a repeat: a table of each", **answer_20)

    def no_device_argument(step):
        return [0.001] * 5

    broken = {**answer, "time_step": no_device_argument}
    assert_wrong(lesson04, 2, "raised TypeError", **broken)


@pytest.mark.parametrize("letter", ["a", "b"])
def test_lesson04_question2_misconceptions_point_at_the_waiting_and_claim_not_all_of_it(letter):
    # Section 6's table splits each epoch into waiting for batches and the rest, and the rest
    # differs between the pipelines too: the feedback must not put all the gap in the batches.
    assert_wrong(lesson04, "Q2", "section 6's table", answer_q2=letter)
    feedback = run(lesson04, "Q2", answer_q2=letter).details[0]
    assert "most of" in feedback
    assert "goes into making the batches" not in feedback
    assert "The difference lies before each step" not in feedback


# --- lesson 05 -------------------------------------------------------------------


def losses(final_train_loss: float, num_epochs: int, rising: bool = True) -> list[dict]:
    """A history whose training loss falls to final_train_loss; with rising, the
    validation loss is lowest mid-way and climbs after it (overfitting)."""
    return [
        {
            "train_loss": 2.0 - (2.0 - final_train_loss) * (epoch + 1) / num_epochs,
            "val_loss": 1.3 + (0.05 * abs(epoch - num_epochs // 2) if rising else -0.01 * epoch),
            "val_acc": 0.5,
            "train_seconds": 1.0,
        }
        for epoch in range(num_epochs)
    ]


class Tiny(ImageClassificationBase):
    """Stands in for SmallCnn and ResNet9: a classifier of 3 x 8 x 8 images whose parameter
    count grows with the width."""

    def __init__(self, width: int = 4):
        super().__init__()
        # Batch norm, as in both networks: it makes the first layer's weights free to grow
        # or shrink without changing the output, so the optimizer and weight decay matter.
        self.layers = nn.Sequential(
            nn.Flatten(),
            nn.Linear(3 * 8 * 8, width, bias=False),
            nn.BatchNorm1d(width),
            nn.ReLU(),
            nn.Linear(width, 3),
        )

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.layers(inputs)


def tiny_loader(seed: int) -> DataLoader:
    """40 normalised-looking 3 x 8 x 8 images with labels 0, 1, 2: a validation or test set."""
    generator = torch.Generator().manual_seed(seed)
    data = TensorDataset(torch.randn(40, 3, 8, 8, generator=generator), torch.arange(40) % 3)
    return DataLoader(data, batch_size=20)


LESSON05_VAL, LESSON05_TEST = tiny_loader(0), tiny_loader(1)


def tiny_run(history: list[dict], seed: int = 0, width: int = 4, scored_on=LESSON05_VAL):
    """A model built after seeding, a copy of its start, a nudge of "training", and the
    history moved so that its last epoch is the model's score on ``scored_on``:
    (history, model, start)."""
    torch.manual_seed(seed)
    model = Tiny(width)
    start = copy.deepcopy(model.state_dict())
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.1)
    history, measured = copy.deepcopy(history), evaluate(model, scored_on)
    shift = measured["val_loss"] - history[-1]["val_loss"]  # keeps the curve's shape
    for epoch in history:
        epoch["val_loss"] += shift
    history[-1]["val_acc"] = measured["val_acc"]
    return history, model, start


# Stand-ins for the lesson's uint8 images and its two batch transforms.
LESSON05_IMAGES = torch.randint(
    0, 256, (5_000, 3, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(2)
)
LESSON05_LABELS = torch.arange(5_000) % 3
LESSON05_OVERFIT_SIZE = 200  # 4 batches of 64: enough steps for momentum to show


def lesson05_transform(augmented: bool):
    from course_utils.augment import batch_transform

    options = {"crop_padding": 4, "flip": True} if augmented else {}
    return batch_transform((0.5, 0.5, 0.5), (0.25, 0.25, 0.25), **options)


LESSON05_NORMALISE, LESSON05_AUGMENT = lesson05_transform(False), lesson05_transform(True)


def lesson05_loader(
    transform, size: int, batch_size: int, seed: int | None = 0, generator=None, offset: int = 0
):
    """A DeviceTensorLoader as the exercises build one: its own generator, seeded ``seed``,
    over ``size`` images of the sample from ``offset`` on (0: the sample's first ones)."""
    from course_utils import DeviceTensorLoader

    if generator is None and seed is not None:
        generator = torch.Generator().manual_seed(seed)
    return DeviceTensorLoader(
        LESSON05_IMAGES[offset : offset + size],
        LESSON05_LABELS[offset : offset + size],
        batch_size=batch_size,
        shuffle=True,
        generator=generator,
        transform=transform,
    )


def overfit_loaders(**changes) -> dict:
    """The two runs' loaders; ``changes`` maps a label to other options for its loader."""
    loaders = {}
    for label, transform in (("augmented", LESSON05_AUGMENT), ("plain", LESSON05_NORMALISE)):
        options = {"transform": transform, "size": LESSON05_OVERFIT_SIZE, "batch_size": 64}
        loaders[label] = lesson05_loader(**{**options, **changes.get(label, {})})
    return loaders


def overfit_answer(runs: dict, overfit_epochs: int, loaders=None, lrs=None) -> dict:
    return {
        "overfit_histories": {label: run[0] for label, run in runs.items()},
        "overfit_models": {label: run[1] for label, run in runs.items()},
        "overfit_starts": {label: run[2] for label, run in runs.items()},
        "overfit_loaders": overfit_loaders() if loaders is None else loaders,
        "overfit_lrs": {"augmented": 0.02, "plain": 0.02} if lrs is None else lrs,
        "overfit_epochs": overfit_epochs,
        "overfit_size": LESSON05_OVERFIT_SIZE,
        "sample_images": LESSON05_IMAGES,
        "sample_labels": LESSON05_LABELS,
        "augment": LESSON05_AUGMENT,
        "normalise": LESSON05_NORMALISE,
        "val_loader": LESSON05_VAL,
        "model_class": Tiny,
    }


def with_first_epoch(run: tuple, loader, train, seed: int = 0, width: int = 4) -> tuple:
    """``run`` (from tiny_run) with its history's first epoch trained for real by
    ``train(model, loader)`` from the run's start, on a fresh ``loader``, with the global
    random numbers where seeding and building the model left them: what the exercise
    checks replay. The later epochs and the final model stay tiny_run's."""
    history, model, start = run
    torch.manual_seed(seed)
    replay = Tiny(width)
    replay.load_state_dict(start)
    with contextlib.redirect_stdout(io.StringIO()):
        first = train(replay, loader)[0]
    history = copy.deepcopy(history)
    history[0] = {**history[0], "train_loss": first["train_loss"], "val_loss": first["val_loss"]}
    return history, model, start


def with_whole_run(run: tuple, loader, train) -> tuple:
    """``run`` (from tiny_run) trained for real by ``train(model, loader)`` from its start
    (no random numbers drawn: the plain run): every epoch's training loss is the real one,
    the validation losses keep tiny_run's curve, moved to end at the trained model's, and
    the model is the trained one. What exercise 1's check replays on a CPU."""
    history, _, start = run
    trained = Tiny()
    trained.load_state_dict(start)
    with contextlib.redirect_stdout(io.StringIO()):
        real = train(trained, loader)
    history = copy.deepcopy(history)
    shift = real[-1]["val_loss"] - history[-1]["val_loss"]
    for epoch, real_epoch in zip(history, real, strict=True):
        epoch["train_loss"] = real_epoch["train_loss"]
        epoch["val_loss"] += shift
    history[-1]["val_acc"] = real[-1]["val_acc"]
    return history, trained, start


def section4_fit(lr: float = 0.02, opt_func=None, epochs: int = 1):
    """Exercise 1's training: SGD with momentum 0.9 (section 4's sgd_momentum)."""
    opt_func = opt_func or partial(torch.optim.SGD, momentum=0.9)
    return lambda model, loader: fit(epochs, lr, model, loader, LESSON05_VAL, opt_func=opt_func)


def last_epoch_at_a_tenth(epochs: int):
    """Section 4's habit, which exercise 1 leaves out: a last epoch at a tenth of the rate."""
    return lambda model, loader: (
        section4_fit(epochs=epochs - 1)(model, loader) + section4_fit(lr=0.002)(model, loader)
    )


def fit_twice(epochs: int):
    """The right rate throughout, but two calls of fit: the second starts a new optimizer."""
    return lambda model, loader: (
        section4_fit(epochs=epochs - 1)(model, loader) + section4_fit()(model, loader)
    )


def plain_replayable(runs: dict, train=None, augmented_train=None) -> dict:
    """``runs`` trained for real where the check replays them: the whole plain run (by
    section 4's fit, or ``train``) and the augmented run's first epoch."""
    loaders = overfit_loaders()
    epochs = len(runs["plain"][0])
    plain = with_whole_run(runs["plain"], loaders["plain"], train or section4_fit(epochs=epochs))
    augmented = with_first_epoch(
        runs["augmented"], loaders["augmented"], augmented_train or section4_fit()
    )
    return {**runs, "plain": plain, "augmented": augmented}


def test_lesson05_exercise1():
    full = plain_replayable(
        {"augmented": tiny_run(losses(1.2, 15)), "plain": tiny_run(losses(0.26, 15))}
    )
    assert_passes(lesson05, 1, **overfit_answer(full, 15))
    smoke = plain_replayable(
        {"augmented": tiny_run(losses(2.30, 2)), "plain": tiny_run(losses(2.31, 2))}
    )
    assert_passes(lesson05, 1, **overfit_answer(smoke, 2))
    swapped = {"augmented": full["plain"], "plain": full["augmented"]}
    assert_wrong(lesson05, 1, "Are the transforms swapped?", **overfit_answer(swapped, 15))
    same = {"augmented": full["plain"], "plain": copy.deepcopy(full["plain"])}
    assert_wrong(lesson05, 1, "the same training losses", **overfit_answer(same, 15))
    short = {"augmented": tiny_run(losses(1.2, 3)), "plain": tiny_run(losses(0.26, 3))}
    assert_wrong(lesson05, 1, "has 3 epochs", **overfit_answer(short, 15))
    still_falling = {**full, "plain": tiny_run(losses(0.26, 15, rising=False))}
    assert_wrong(lesson05, 1, "trained some other way", **overfit_answer(still_falling, 15))


def test_lesson05_exercise1_reports_a_small_rise_that_the_whole_replay_matches():
    # On a CPU the replay trains the whole plain run again: a run below the bar that it
    # matches followed the recipe (another copy of the data, other arithmetic).
    runs = {"augmented": tiny_run(losses(1.2, 15)), "plain": tiny_run(losses(0.26, 15))}
    bump = losses(0.26, 15, rising=False)
    bump[-1]["val_loss"] = min(epoch["val_loss"] for epoch in bump) + 0.04
    answer = overfit_answer(plain_replayable({**runs, "plain": tiny_run(bump)}), 15)
    result = run(lesson05, 1, **answer)
    assert result.status == "passed", str(result)
    note = "not shown by this run: the plain run's last 3 epochs' mean validation loss was only 0.0"
    assert note in result.details[-1], result.details


@pytest.mark.parametrize(
    "train",
    [
        section4_fit(opt_func=torch.optim.SGD, epochs=15),  # no momentum
        section4_fit(opt_func=torch.optim.Adam, epochs=15),
        section4_fit(lr=0.01, epochs=15),  # while `overfit_lrs` says 0.02
        last_epoch_at_a_tenth(15),
        fit_twice(15),
    ],
    ids=["no momentum", "Adam", "another rate", "a last epoch at lr/10", "fit called twice"],
)
def test_lesson05_exercise1_replays_the_plain_run_with_section_4_s_training(train):
    runs = {"augmented": tiny_run(losses(1.2, 15)), "plain": tiny_run(losses(0.26, 15))}
    answer = overfit_answer(plain_replayable(runs, train), 15)
    assert_wrong(lesson05, 1, "Your run trained some other way", **answer)


@pytest.mark.parametrize("train", [last_epoch_at_a_tenth(15), fit_twice(15)])
def test_lesson05_exercise1_names_the_epoch_where_the_replay_parted(train):
    # Only the last epoch differs: the whole-run replay finds it, and says so.
    runs = {"augmented": tiny_run(losses(1.2, 15)), "plain": tiny_run(losses(0.26, 15))}
    answer = overfit_answer(plain_replayable(runs, train), 15)
    assert_wrong(lesson05, 1, "the training loss of epoch 15 came out", **answer)
    assert_wrong(lesson05, 1, "(epochs 1 to 14 agreed)", **answer)


@pytest.mark.parametrize(
    "train",
    [section4_fit(opt_func=torch.optim.SGD), section4_fit(opt_func=torch.optim.Adam)],
    ids=["no momentum", "Adam"],
)
def test_lesson05_exercise1_replays_the_augmented_run_s_first_epoch(train):
    runs = {"augmented": tiny_run(losses(1.2, 15)), "plain": tiny_run(losses(0.26, 15))}
    answer = overfit_answer(plain_replayable(runs, augmented_train=train), 15)
    assert_wrong(lesson05, 1, "Your run trained some other way", **answer)


def test_lesson05_exercise1_wants_seed_0_s_start():
    runs = {
        "augmented": tiny_run(losses(1.2, 15), seed=1),
        "plain": tiny_run(losses(0.26, 15), seed=1),
    }
    answer = overfit_answer(plain_replayable(runs), 15)
    assert_wrong(lesson05, 1, "`seed_everything(0)` then `Tiny()` gives", **answer)


@pytest.mark.parametrize("exercise", [1, 2])
def test_lesson05_exercises_leave_a_gpu_s_random_stream_alone(monkeypatch, exercise):
    # fork_rng in the checks restores the CPU's stream only: a check that seeded with
    # torch.manual_seed would also reseed every GPU's generator under the lesson's feet.
    if exercise == 1:
        runs = {"augmented": tiny_run(losses(1.2, 15)), "plain": tiny_run(losses(0.26, 15))}
        answer = overfit_answer(plain_replayable(runs), 15)
    else:
        answer = lesson05_width_answer(width_runs())
    reseeded = []
    monkeypatch.setattr(torch.cuda, "manual_seed_all", lambda seed: reseeded.append(seed))
    assert_passes(lesson05, exercise, **answer)
    assert reseeded == []


def test_lesson05_exercise1_wants_a_clear_rise_and_a_wider_gap_for_the_plain_run():
    full = {"augmented": tiny_run(losses(1.2, 15)), "plain": tiny_run(losses(0.26, 15))}
    # A bump of noise: the last validation loss only 0.04 above the lowest.
    bump = losses(0.26, 15, rising=False)
    bump[-1]["val_loss"] = min(epoch["val_loss"] for epoch in bump) + 0.04
    small_rise = {**full, "plain": tiny_run(bump)}
    assert_wrong(lesson05, 1, "trained some other way", **overfit_answer(small_rise, 15))
    # Off the CPU the replay covers the first epoch only: there the bar itself fails it,
    # before any replay.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(lesson05, "_device_type", lambda model: "cuda")
        patch.setattr(lesson05, "_replay", lambda *args, **kwargs: pytest.fail("replayed"))
        assert_wrong(lesson05, 1, "no clear overfitting yet", **overfit_answer(small_rise, 15))
    # The augmented run ends further above its training loss: a model made confidently
    # wrong (its last layer scaled up) has a far higher validation loss.
    history, model, start = tiny_run(losses(1.2, 15))
    with torch.no_grad():
        model.layers[-1].weight.mul_(50)
    measured = evaluate(model, LESSON05_VAL)
    for epoch in history:
        epoch["val_loss"] += measured["val_loss"] - history[-1]["val_loss"]
    history[-1]["val_acc"] = measured["val_acc"]
    parted = {**full, "augmented": (history, model, start)}
    assert_wrong(lesson05, 1, "should part from the validation", **overfit_answer(parted, 15))


def test_lesson05_exercise1_measures_the_rise_as_the_lesson_does_not_by_one_last_spike():
    # The lesson's rise is the last three epochs' mean minus the lowest: a last-epoch spike
    # of 0.29 averages to 0.100, under the bar, so off the CPU it is no clear overfitting.
    full = {"augmented": tiny_run(losses(1.2, 15)), "plain": tiny_run(losses(0.26, 15))}
    spike = losses(0.26, 15, rising=False)
    spike[-1]["val_loss"] = min(epoch["val_loss"] for epoch in spike[:-1]) + 0.29
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(lesson05, "_device_type", lambda model: "cuda")
        patch.setattr(lesson05, "_replay", lambda *args, **kwargs: pytest.fail("replayed"))
        answer = overfit_answer({**full, "plain": tiny_run(spike)}, 15)
        assert_wrong(lesson05, 1, "last 3 epochs' mean validation loss is only 0.100", **answer)


def test_lesson05_exercise1_finds_an_unfair_or_misjudged_comparison():
    full = {"augmented": tiny_run(losses(1.2, 15)), "plain": tiny_run(losses(0.26, 15))}
    other_seed = {**full, "plain": tiny_run(losses(0.26, 15), seed=1)}
    assert_wrong(lesson05, 1, "started from different weights", **overfit_answer(other_seed, 15))
    on_test = {**full, "plain": tiny_run(losses(0.26, 15), scored_on=LESSON05_TEST)}
    assert_wrong(lesson05, 1, "measured on another set", **overfit_answer(on_test, 15))
    history, model, _ = full["plain"]
    copied_after = {**full, "plain": (history, model, copy.deepcopy(model.state_dict()))}
    assert_wrong(lesson05, 1, "copy the weights before", **overfit_answer(copied_after, 15))
    whole_model = {**full, "plain": (history, model, model)}
    assert_wrong(
        lesson05, 1, "copy.deepcopy(model.state_dict())", **overfit_answer(whole_model, 15)
    )
    answer = overfit_answer(full, 15)
    answer["overfit_models"] = {"augmented": model}
    assert_wrong(lesson05, 1, "no entry for 'plain'", **answer)
    # fit_one_cycle records each step's learning rate: the exercise trains at one rate.
    one_cycle = overfit_answer(copy.deepcopy(full), 15)
    for epoch in one_cycle["overfit_histories"]["plain"]:
        epoch["lrs"] = [0.02]
    assert_wrong(lesson05, 1, "as `fit_one_cycle` does", **one_cycle)


def test_lesson05_exercise1_wants_the_same_batches_transforms_and_learning_rate():
    full = {"augmented": tiny_run(losses(1.2, 15)), "plain": tiny_run(losses(0.26, 15))}
    # Another shuffle seed for one run: other batches.
    other_order = overfit_loaders(plain={"seed": 1})
    assert_wrong(
        lesson05, 1, "shuffled their batches in different", **overfit_answer(full, 15, other_order)
    )
    # One generator for both runs: the second shuffles on from where the first stopped.
    shared = torch.Generator().manual_seed(0)
    one_generator = overfit_loaders(augmented={"generator": shared}, plain={"generator": shared})
    assert_wrong(lesson05, 1, "share one generator", **overfit_answer(full, 15, one_generator))
    # No generator: the order comes from the global random numbers.
    global_order = overfit_loaders(augmented={"seed": None}, plain={"seed": None})
    assert_wrong(
        lesson05, 1, "has no generator of its own", **overfit_answer(full, 15, global_order)
    )
    # Another learning rate for one run, or for both.
    other_lr = {"augmented": 0.02, "plain": 0.05}
    assert_wrong(lesson05, 1, "different learning rates", **overfit_answer(full, 15, lrs=other_lr))
    both_other = {"augmented": 0.05, "plain": 0.05}
    assert_wrong(
        lesson05, 1, "keeps section 4's rate, 0.02", **overfit_answer(full, 15, lrs=both_other)
    )
    # The transforms swapped, or no transform at all.
    swapped = overfit_loaders(
        augmented={"transform": LESSON05_NORMALISE}, plain={"transform": LESSON05_AUGMENT}
    )
    assert_wrong(
        lesson05,
        1,
        "as `augment` does: pass `transform=augment`",
        **overfit_answer(full, 15, swapped),
    )
    untransformed = overfit_loaders(plain={"transform": None})
    assert_wrong(lesson05, 1, "has no `transform`", **overfit_answer(full, 15, untransformed))
    # Other batch sizes, or the whole sample instead of the first `overfit_size` images.
    assert_wrong(
        lesson05,
        1,
        "makes batches of 128",
        **overfit_answer(full, 15, overfit_loaders(augmented={"batch_size": 128})),
    )
    assert_wrong(
        lesson05,
        1,
        "holds 500 images",
        **overfit_answer(full, 15, overfit_loaders(plain={"size": 500})),
    )


LESSON05_SAMPLE = 500  # sample_size in smoke mode: 4 batches of 128


def one_cycle_lrs(history: list[dict], steps: int = 4, peak: float = 0.01) -> list[dict]:
    """The history with the learning rates fit_one_cycle records, for ``steps`` per epoch."""
    weight = nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.Adam([weight], lr=peak)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, peak, epochs=len(history), steps_per_epoch=steps
    )
    history = copy.deepcopy(history)
    for epoch in history:
        epoch["lrs"] = []
        for _ in range(steps):
            epoch["lrs"].append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            scheduler.step()
    return history


def width_loaders(sample_size: int = LESSON05_SAMPLE, changes: dict | None = None) -> dict:
    """Exercise 2's loaders; ``changes`` maps a width to other options for its loader."""
    changes = changes or {}
    options = {"transform": LESSON05_AUGMENT, "size": sample_size, "batch_size": 128}
    return {width: lesson05_loader(**{**options, **changes.get(width, {})}) for width in (4, 8, 16)}


def later_seeds_starts(widths=(4, 8, 16), seeds=(1, 2)) -> dict:
    """Seeds 1 and 2's starting weights for each width, each built right after seeding
    with its seed, as the exercise asks."""
    starts = {}
    for width in widths:
        for seed in seeds:
            torch.manual_seed(seed)
            starts.setdefault(width, []).append(copy.deepcopy(Tiny(width).state_dict()))
    return starts


def later_seeds_loaders(sample_size: int = LESSON05_SAMPLE, seeds=(1, 2)) -> dict:
    """Seeds 1 and 2's loaders for each width, each generator seeded with its seed."""
    loaders = {}
    for seed in seeds:
        changes = dict.fromkeys((4, 8, 16), {"seed": seed})
        for width, loader in width_loaders(sample_size, changes).items():
            loaders.setdefault(width, []).append(loader)
    return loaders


def lesson05_width_answer(
    runs: dict, width_epochs: int = 3, loaders=None, later=None, **lrs_settings
) -> dict:
    """Seed 0's ``runs`` and ``loaders`` (width_loaders() if None), then seeds 1 and 2's
    starts and loaders, ``later`` (later_seeds_starts(), later_seeds_loaders() if None)."""
    loaders = width_loaders() if loaders is None else loaders
    size = next(iter(loaders.values())).num_samples  # seed 0's sample size, for seeds 1 and 2
    later_starts, later_loaders = later or (later_seeds_starts(), later_seeds_loaders(size))
    return {
        "width_histories": {
            width: one_cycle_lrs(run[0], **lrs_settings) for width, run in runs.items()
        },
        "width_models": {width: run[1] for width, run in runs.items()},
        # Each width's starts and loaders from every seed, seed 0's first, as the loop appends.
        "width_starts": {width: [run[2], *later_starts[width]] for width, run in runs.items()},
        "width_loaders": {
            width: [loader, *later_loaders[width]] for width, loader in loaders.items()
        },
        # Seed 0's final accuracy (its history's last), then seeds 1 and 2's.
        "width_finals": {width: [run[0][-1]["val_acc"], 0.4, 0.45] for width, run in runs.items()},
        "width_epochs": width_epochs,
        "resnet_width": 16,
        "model_class": Tiny,
        "augment": LESSON05_AUGMENT,
        "val_loader": LESSON05_VAL,
        "sample_size": LESSON05_SAMPLE,
        "sample_images": LESSON05_IMAGES,
        "sample_labels": LESSON05_LABELS,
    }


def recipe(epochs: int = 3, **changes):
    """Exercise 2's training (the lesson's fit_one_cycle settings), with ``changes``."""
    settings = {"weight_decay": 1e-4, "grad_clip": 0.1, "opt_func": torch.optim.Adam, **changes}
    return lambda model, loader: fit_one_cycle(
        epochs, 0.01, model, loader, LESSON05_VAL, **settings
    )


def width_runs(sample_size: int = LESSON05_SAMPLE, train=None, width_epochs: int = 3) -> dict:
    """Three widths' runs from tiny_run, the narrowest with its first epoch trained for real."""
    runs = {width: tiny_run(losses(1.4, width_epochs), width=width) for width in (4, 8, 16)}
    loader = width_loaders(sample_size)[4]
    runs[4] = with_first_epoch(runs[4], loader, train or recipe(width_epochs), width=4)
    return runs


def test_lesson05_exercises_want_the_sample_s_own_images_and_labels():
    # Other images of the same count (validation or test images, say) in both loaders.
    full = {"augmented": tiny_run(losses(1.2, 15)), "plain": tiny_run(losses(0.26, 15))}
    elsewhere = overfit_loaders(augmented={"offset": 1_000}, plain={"offset": 1_000})
    assert_wrong(
        lesson05, 1, "does not hold the first `overfit_size`", **overfit_answer(full, 15, elsewhere)
    )
    runs = {width: tiny_run(losses(1.4, 3), width=width) for width in (4, 8, 16)}
    moved = width_loaders(changes={width: {"offset": 1_000} for width in (4, 8, 16)})
    answer = lesson05_width_answer(runs, loaders=moved)
    assert_wrong(lesson05, 2, "Training on validation or test images", **answer)
    # The right images with the labels of others.
    answer = lesson05_width_answer(runs)
    answer["sample_labels"] = (LESSON05_LABELS + 1) % 3
    assert_wrong(lesson05, 2, "with their labels", **answer)


def test_lesson05_exercise2():
    runs = width_runs()
    assert_passes(lesson05, 2, **lesson05_width_answer(runs))
    last_model_only = {width: (runs[width][0], runs[16][1], runs[16][2]) for width in runs}
    assert_wrong(
        lesson05,
        2,
        "store the model trained at that width",
        **lesson05_width_answer(last_model_only),
    )
    other_seed = {**runs, 8: tiny_run(losses(1.4, 3), seed=1, width=8)}
    assert_wrong(
        lesson05, 2, "Width 8 did not start from the weights", **lesson05_width_answer(other_seed)
    )
    on_test = {**runs, 16: tiny_run(losses(1.4, 3), width=16, scored_on=LESSON05_TEST)}
    assert_wrong(lesson05, 2, "measured on another set", **lesson05_width_answer(on_test))
    two_epochs = {width: tiny_run(losses(1.4, 2), width=width) for width in runs}
    assert_wrong(
        lesson05, 2, "has 2 epochs; the exercise trains", **lesson05_width_answer(two_epochs)
    )
    missing = {8: runs[8], 16: runs[16]}
    assert_wrong(lesson05, 2, "no entry for 4", **lesson05_width_answer(missing))


def test_lesson05_exercise2_checks_every_seed_s_start_and_loader_not_only_seed_0_s():
    runs = width_runs()
    seeded = lesson05_width_answer(runs)
    assert_passes(lesson05, 2, **seeded)
    # Seeded once: seed 0's runs right, seeds 1 and 2's models built on from where the
    # random numbers stood, without `seed_everything(seed)` before each.
    torch.manual_seed(0)
    for width in (4, 8, 16):
        Tiny(width)  # seed 0's three runs come first and draw their weights
    unseeded = {width: [] for width in (4, 8, 16)}
    for _ in (1, 2):
        for width in unseeded:
            unseeded[width].append(copy.deepcopy(Tiny(width).state_dict()))
    answer = lesson05_width_answer(runs, later=(unseeded, later_seeds_loaders()))
    assert_wrong(lesson05, 2, "`seed_everything(1)` then `Tiny(4)` give", **answer)
    assert_wrong(lesson05, 2, "`width_starts[4][1]`, seed 1's run", **answer)
    # `seed_everything(0)` before every run: seeds 1 and 2 start from seed 0's weights.
    zeros = {width: [runs[width][2]] * 2 for width in unseeded}
    answer = lesson05_width_answer(runs, later=(zeros, later_seeds_loaders()))
    assert_wrong(lesson05, 2, "`seed_everything(1)` then `Tiny(4)` give", **answer)
    # Every loader seeded 0: seeds 1 and 2 shuffle as seed 0 does.
    zero_loaders = {width: [width_loaders()[width] for _ in (1, 2)] for width in unseeded}
    answer = lesson05_width_answer(runs, later=(later_seeds_starts(), zero_loaders))
    assert_wrong(lesson05, 2, "`width_loaders[4][1]`'s generator was seeded 0", **answer)
    # One seed's list short: the loop's lines after the run were changed.
    short = lesson05_width_answer(runs)
    short["width_starts"][8] = short["width_starts"][8][:2]
    assert_wrong(lesson05, 2, "`width_starts[8]` should be a list of 3", **short)


def test_lesson05_exercises_name_the_placeholder_a_stubbed_run_left_in_the_loop():
    # The student version's stub binds a run's parts to `...` inside the lesson's loop,
    # which stores them in the dicts: the check names that placeholder and the stub line.
    # Untouched, every dict holds only placeholders: not attempted, with the stub's line.
    stubbed = {"augmented": (..., ..., ...), "plain": (..., ..., ...)}
    placeholders = {"augmented": ..., "plain": ...}
    answer = overfit_answer(stubbed, 15, loaders=placeholders, lrs=placeholders)
    result = run(lesson05, 1, **answer)
    assert result.status == "not attempted", str(result)
    assert "`model = start = loader = lr = history = ...`" in result.details[0]
    # One run written, the other still the placeholder: named by the check.
    stubbed = {"augmented": tiny_run(losses(1.2, 15)), "plain": (..., ..., ...)}
    answer = overfit_answer(stubbed, 15, lrs={"augmented": 0.02, "plain": ...})
    assert_wrong(lesson05, 1, "`overfit_histories['plain']` holds `...`", **answer)
    assert_wrong(lesson05, 1, "sets `model`, `start`, `loader`, `lr` and `history`", **answer)
    answer = lesson05_width_answer(width_runs())
    for name in ("width_histories", "width_models"):
        answer[name] = dict.fromkeys(answer[name], ...)
    for name in ("width_starts", "width_loaders"):  # the loop appends each seed's
        answer[name] = {width: [..., ..., ...] for width in answer[name]}
    answer["width_finals"] = {width: [..., ..., ...] for width in answer["width_finals"]}
    result = run(lesson05, 2, **answer)
    assert result.status == "not attempted", str(result)
    assert (
        "`run_model = run_start = run_loader = run_history = run_final = ...`"
        in (result.details[0])
    )
    # One seed's final accuracy still the placeholder, in a list the loop filled.
    answer = lesson05_width_answer(width_runs())
    answer["width_finals"][8][2] = ...
    assert_wrong(lesson05, 2, "`width_finals[8]` holds `...`", **answer)


def test_lesson05_exercise2_wants_three_seeds_finals_for_each_width_seed_0_first():
    runs = width_runs()
    answer = lesson05_width_answer(runs)
    assert_passes(lesson05, 2, **answer)
    seed_0 = {width: run[0][-1]["val_acc"] for width, run in runs.items()}
    wrong = {
        "`width_finals` has no entry for 16": {
            4: [seed_0[4], 0.4, 0.45],
            8: [seed_0[8], 0.4, 0.45],
        },
        "`width_finals[8]` should be a list of 3": {**answer["width_finals"], 8: [seed_0[8], 0.4]},
        "`width_finals[4][1]` is 40.0": {**answer["width_finals"], 4: [seed_0[4], 40.0, 0.45]},
        "but seed 0's run, `width_histories[16]`, ended": {
            **answer["width_finals"],
            16: [0.4, seed_0[16], 0.45],
        },
        # Every seed seeded 0 again: three copies of seed 0's run.
        "a seed repeated another's run": {width: [seed_0[width]] * 3 for width in seed_0},
        # Seeds 1 and 2 both seeded 1: the last two runs alike at every width.
        "Widths [4, 8, 16] ended at the same": {
            width: [seed_0[width], 0.4, 0.4] for width in seed_0
        },
    }
    for fragment, finals in wrong.items():
        assert_wrong(lesson05, 2, fragment, **{**answer, "width_finals": finals})
    # The fix names what the lesson's loop appends: the learner's `run_final`.
    short = {**answer["width_finals"], 8: [seed_0[8], 0.4]}
    fix = '`run_final = run_history[-1]["val_acc"]`'
    assert_wrong(lesson05, 2, fix, **{**answer, "width_finals": short})


@pytest.mark.parametrize(
    "train",
    [
        recipe(weight_decay=0.0),
        recipe(weight_decay=1e-2),
        recipe(grad_clip=None),
        recipe(opt_func=partial(torch.optim.SGD, momentum=0.9)),
        recipe(opt_func=torch.optim.AdamW),
    ],
    ids=["no weight decay", "weight decay 1e-2", "no clipping", "SGD", "AdamW"],
)
def test_lesson05_exercise2_replays_the_narrowest_width_with_the_recipe(train):
    # The lesson's full-size sample: 40 steps in the first epoch, as in the lesson.
    runs = width_runs(5_000, train=train)
    answer = lesson05_width_answer(runs, loaders=width_loaders(5_000), steps=40)
    answer["sample_size"] = 5_000
    assert_wrong(lesson05, 2, "Your run trained some other way", **answer)


def test_lesson05_a_batch_norm_network_off_the_cpu_is_not_replayed_and_the_check_says_so():
    # On a GPU the sums vary from run to run: exercise 2's replay says what it would have
    # done instead of failing a right answer (a meta model stands in for one on a GPU).
    def no_optimizer(parameters):
        raise AssertionError("the replay built an optimizer off the CPU")

    model = Tiny().to("meta")
    said = lesson05._replay(
        model, width_loaders()[4], LESSON05_VAL, [{}], "the recipe", no_optimizer
    )
    assert said.startswith("was not trained again here: on meta"), said
    assert "on a CPU it would have replayed the first epoch" in said


def test_lesson05_exercise2_checks_the_data_and_the_schedule_from_the_learning_rates():
    runs = {width: tiny_run(losses(1.4, 3), width=width) for width in (4, 8, 16)}
    full_loaders = width_loaders(5_000)
    full_size = lesson05_width_answer(width_runs(5_000), loaders=full_loaders, steps=40)
    full_size["sample_size"] = 5_000
    assert_passes(lesson05, 2, **full_size)
    # Trained on fewer images (20 steps: 2,500 images), or on the whole training set.
    for steps in (20, 352):
        assert_wrong(
            lesson05,
            2,
            f"took {steps} steps per epoch, but `sample_size` (5000)",
            **{
                **lesson05_width_answer(runs, loaders=full_loaders, steps=steps),
                "sample_size": 5_000,
            },
        )
    assert_wrong(
        lesson05, 2, "the lesson's peak of 0.01 reaches", **lesson05_width_answer(runs, peak=0.02)
    )
    constant = lesson05_width_answer(runs)
    for history in constant["width_histories"].values():
        for epoch in history:
            epoch["lrs"] = [0.01] * len(epoch["lrs"])
    assert_wrong(lesson05, 2, "do not follow the one-cycle shape", **constant)
    with_fit = lesson05_width_answer(runs)
    for history in with_fit["width_histories"].values():
        for epoch in history:
            del epoch["lrs"]
    assert_wrong(lesson05, 2, "train with `fit_one_cycle`", **with_fit)


def test_lesson05_exercise2_wants_the_same_batches_and_augmentation():
    runs = {width: tiny_run(losses(1.4, 3), width=width) for width in (4, 8, 16)}
    other_order = width_loaders(changes={8: {"seed": 1}})
    assert_wrong(
        lesson05,
        2,
        "`width_loaders[4][0]` and `width_loaders[8][0]` shuffled their batches in different",
        **lesson05_width_answer(runs, loaders=other_order),
    )
    plain = width_loaders(changes={16: {"transform": LESSON05_NORMALISE}})
    assert_wrong(
        lesson05,
        2,
        "`width_loaders[16][0]` does not transform its batches as `augment`",
        **lesson05_width_answer(runs, loaders=plain),
    )
    exercise_1_data = width_loaders(changes={4: {"size": LESSON05_OVERFIT_SIZE}})
    assert_wrong(
        lesson05, 2, "holds 200 images", **lesson05_width_answer(runs, loaders=exercise_1_data)
    )
    missing = width_loaders()
    del missing[16]
    assert_wrong(lesson05, 2, "no entry for 16", **lesson05_width_answer(runs, loaders=missing))


# --- lesson 06 -------------------------------------------------------------------


def rank0_orders(call_set_epoch: bool) -> list[list[int]]:
    sampler = DistributedSampler(range(10), num_replicas=2, rank=0, seed=0)
    orders = []
    for epoch in range(3):
        if call_set_epoch:
            sampler.set_epoch(epoch)
        orders.append(list(sampler))
    return orders


def orders_with_sampler(**options):
    def orders(call_set_epoch: bool) -> list[list[int]]:
        sampler = DistributedSampler(range(10), **{"num_replicas": 2, "rank": 0, **options})
        found = []
        for epoch in range(3):
            if call_set_epoch:
                sampler.set_epoch(epoch)
            found.append(list(sampler))
        return found

    return orders


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        (lambda flag: rank0_orders(True), "must not call `sampler.set_epoch`"),
        (lambda flag: rank0_orders(False), "gives the same order every epoch, the mistake"),
        (orders_with_sampler(rank=1, seed=0), "does not give rank 0's shard"),
        (orders_with_sampler(seed=1), "check the rank, the seed"),
        (orders_with_sampler(num_replicas=1), "epochs of [10] indices"),
        (lambda flag: rank0_orders(flag)[:2], "a list of 3 lists"),
        ("not a function", "should be a function"),
    ],
)
def test_lesson06_exercise2(answer, fragment):
    assert_passes(lesson06, 2, rank0_orders=rank0_orders)
    assert_wrong(lesson06, 2, fragment, rank0_orders=answer)


def test_lesson06_exercise2_names_the_missing_set_epoch_without_writing_the_code():
    result = run(lesson06, 2, rank0_orders=lambda flag: rank0_orders(False))
    report = result.details[0]
    assert "never tells the sampler which epoch it is in" in report
    assert "`set_epoch`" in report
    assert "set_epoch(epoch)" not in report  # the call itself is the learner's to write


def test_lesson06_exercise2_also_passes_a_sampler_built_with_a_fresh_order_each_epoch():
    def fresh(call_set_epoch: bool) -> list[list[int]]:
        orders = []
        for epoch in range(3):
            sampler = DistributedSampler(range(10), num_replicas=2, rank=0, seed=0)
            sampler.set_epoch(epoch if call_set_epoch else 0)
            orders.append(list(sampler))
        return orders

    assert_passes(lesson06, 2, rank0_orders=fresh)


def average_gradients(model):
    for parameter in model.parameters():
        dist.all_reduce(parameter.grad)
        parameter.grad /= dist.get_world_size()


def sums_only(model):
    for parameter in model.parameters():
        dist.all_reduce(parameter.grad)


def divides_twice(model):
    for parameter in model.parameters():
        parameter.grad /= dist.get_world_size()
        dist.all_reduce(parameter.grad)
        parameter.grad /= dist.get_world_size()


def weights_only(model):
    for name, parameter in model.named_parameters():
        if name.endswith("weight"):
            dist.all_reduce(parameter.grad)
            parameter.grad /= dist.get_world_size()


def divides_by_two(model):
    for parameter in model.parameters():
        dist.all_reduce(parameter.grad)
        parameter.grad /= 2


def divides_by_three(model):  # right in the first pretend group (3), wrong in the second (4)
    for parameter in model.parameters():
        dist.all_reduce(parameter.grad)
        parameter.grad /= 3


def asks_for_the_average(model):
    for parameter in model.parameters():
        dist.all_reduce(parameter.grad, op=dist.ReduceOp.AVG)


def steps_too(model):
    average_gradients(model)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter -= 0.1 * parameter.grad


def rank0_skips(model):
    if dist.get_rank() != 0:
        average_gradients(model)


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        (sums_only, "holds the sum of the 3 processes' gradients"),
        (divides_twice, "divided by the world size once more"),
        (weights_only, "bias.grad` still holds only this process's own gradient"),
        (divides_by_two, "sum divided by 2, but this group has 3 processes"),
        (divides_by_three, "sum divided by 3, but this group has 4 processes"),
        (asks_for_the_average, "no ReduceOp.AVG"),
        (steps_too, "changed the weights"),
        (rank0_skips, "did not make the same all_reduce calls"),
        (lambda model: None, "still holds only this process's own gradient"),
    ],
)
def test_lesson06_exercise1(answer, fragment):
    assert_passes(lesson06, 1, average_gradients=average_gradients)
    assert_wrong(lesson06, 1, fragment, average_gradients=answer)


def test_lesson06_exercise1_passes_an_average_with_the_division_first():
    def divide_then_sum(model):
        for parameter in model.parameters():
            parameter.grad = parameter.grad / dist.get_world_size()
            dist.all_reduce(parameter.grad)

    assert_passes(lesson06, 1, average_gradients=divide_then_sum)


def choose_backend(cuda_available, gpu_count, rank, local_rank, local_world_size):
    if not cuda_available:
        return "gloo", torch.device("cpu"), None
    if gpu_count < local_world_size:
        raise ValueError(f"{local_world_size} processes but {gpu_count} GPUs")
    return "nccl", torch.device("cuda", local_rank), [local_rank]


def falls_back_to_gloo(cuda_available, gpu_count, rank, local_rank, local_world_size):
    if cuda_available and gpu_count >= local_world_size:
        return "nccl", torch.device("cuda", local_rank), [local_rank]
    return "gloo", torch.device("cpu"), None  # silently, even on a machine with CUDA


def choose_with(**changes):
    def choose(cuda_available, gpu_count, rank, local_rank, local_world_size):
        facts = (cuda_available, gpu_count, rank, local_rank, local_world_size)
        backend, device, ids = choose_backend(*facts)
        if backend == "nccl":
            backend = changes.get("nccl_backend", backend)
            device = changes.get("gpu_device", device)
            ids = changes.get("gpu_ids", [local_rank])
        else:
            backend = changes.get("cpu_backend", backend)
            ids = changes.get("cpu_ids", ids)
        return backend, device, ids

    return choose


def per_process_choice(cuda_available, gpu_count, rank, local_rank, local_world_size):
    if cuda_available and local_rank < gpu_count:  # a GPU for me: not enough for the group
        return "nccl", torch.device("cuda", local_rank), [local_rank]
    return "gloo", torch.device("cpu"), None


def nccl_whenever_cuda(cuda_available, gpu_count, rank, local_rank, local_world_size):
    if cuda_available:  # even with fewer GPUs than processes
        return "nccl", torch.device("cuda", local_rank), [local_rank]
    return "gloo", torch.device("cpu"), None


def copies_the_notebooks_rule(cuda_available, gpu_count, rank, local_rank, local_world_size):
    if cuda_available and gpu_count >= 2:  # the notebook's cpu_only, not this exercise's rule
        return "nccl", torch.device("cuda", local_rank), [local_rank]
    return "gloo", torch.device("cpu"), None


def gpu_by_global_rank(cuda_available, gpu_count, rank, local_rank, local_world_size):
    if cuda_available and gpu_count >= local_world_size:  # right on one machine only
        return "nccl", torch.device("cuda", rank), [rank]
    return "gloo", torch.device("cpu"), None


def gpu_by_rank_modulo_gpus(cuda_available, gpu_count, rank, local_rank, local_world_size):
    if cuda_available and gpu_count >= local_world_size:  # a GPU that exists, not its own
        gpu = rank % gpu_count
        return "nccl", torch.device("cuda", gpu), [gpu]
    return "gloo", torch.device("cpu"), None


def ids_by_global_rank(cuda_available, gpu_count, rank, local_rank, local_world_size):
    if cuda_available and gpu_count >= local_world_size:
        return "nccl", torch.device("cuda", local_rank), [rank]
    return "gloo", torch.device("cpu"), None


def wrong_only_for(case, answer):
    """choose_backend, except for the facts ``case``, where it gives ``answer``."""

    def choose(*facts):
        return answer if facts == case else choose_backend(*facts)

    return choose


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        (choose_with(gpu_device="cuda"), "plain 'cuda', which means GPU 0"),
        (choose_with(gpu_device=torch.device("cuda", 0)), "the device is cuda:0"),
        (choose_with(gpu_ids=None), "DDP should be told this process's one GPU"),
        (choose_with(cpu_ids=[0]), "it refuses a list"),
        (choose_with(nccl_backend="gloo"), "NCCL is the backend to use"),
        (per_process_choice, "all processes of a group must use the same backend"),
        (falls_back_to_gloo, "you chose 'gloo': with CUDA present but fewer GPUs"),
        (nccl_whenever_cuda, "fewer GPUs than processes"),
        (lambda *facts: ("nccl", "cuda:0", [0]), "which runs only between GPUs"),
        (choose_with(cpu_backend="cpu"), "you chose 'cpu': without GPUs"),
        (lambda *facts: ("gloo", "cpu"), "should return (backend, device, device_ids)"),
        # The multi-node mistake: cuda:RANK is right on the first machine only.
        (gpu_by_global_rank, "rank 3 (local rank 1 of 2) the device is cuda:3, numbered by the"),
        (ids_by_global_rank, "device_ids is [3], numbered by the global rank"),
        (gpu_by_rank_modulo_gpus, "with CUDA and 4 GPU(s), for rank 2 (local rank 0 of 2)"),
        # 4 processes on 2 GPUs, and one process on one GPU.
        (copies_the_notebooks_rule, "for rank 0 (local rank 0 of 2) you chose 'gloo'"),
        (
            wrong_only_for((True, 2, 3, 3, 4), ("nccl", torch.device("cuda", 3), [3])),
            "with CUDA and 2 GPU(s), for rank 3 (local rank 3 of 4) you chose 'nccl'",
        ),
        (
            wrong_only_for((True, 1, 0, 0, 1), ("gloo", torch.device("cpu"), None)),
            "with CUDA and 1 GPU(s), for rank 0 (local rank 0 of 1) you chose 'gloo'",
        ),
    ],
)
def test_lesson06_exercise3(answer, fragment):
    assert_passes(lesson06, 3, choose_backend=choose_backend)
    assert_wrong(lesson06, 3, fragment, choose_backend=answer)


def test_lesson06_exercise3_takes_devices_as_strings_and_ids_as_devices():
    def as_strings(cuda_available, gpu_count, rank, local_rank, local_world_size):
        if cuda_available and gpu_count >= local_world_size:
            return "nccl", f"cuda:{local_rank}", [torch.device("cuda", local_rank)]
        if cuda_available:
            raise ValueError(f"{gpu_count} GPUs for {local_world_size} processes")
        return "gloo", "cpu", None

    assert_passes(lesson06, 3, choose_backend=as_strings)


def test_lesson06_exercise3_wants_a_value_error_that_gives_the_counts():
    def refuses_with(error):
        def choose(cuda_available, gpu_count, rank, local_rank, local_world_size):
            if cuda_available and gpu_count < local_world_size:
                raise error
            return choose_backend(cuda_available, gpu_count, rank, local_rank, local_world_size)

        return choose

    wrong_type = refuses_with(RuntimeError("1 GPU, 2 processes"))
    assert_wrong(
        lesson06, 3, "raised RuntimeError: 1 GPU, 2 processes. Refuse", choose_backend=wrong_type
    )
    silent = refuses_with(ValueError("not enough GPUs"))
    assert_wrong(
        lesson06, 3, "does not give the 1 GPU(s) and the 2 processes", choose_backend=silent
    )


@pytest.mark.parametrize(
    ("letter", "fragment"),
    [
        ("a", "section 6 printed `overlap: none` for its shards"),
        ("b", "printed rank 0's indices, the same 5 every epoch, with no error and no warning"),
    ],
)
def test_lesson06_question2_misconceptions_cite_what_the_lesson_printed(letter, fragment):
    assert_wrong(lesson06, "Q2", fragment, answer_q2=letter)
    # No training loss is printed without set_epoch in lesson 06: a report must not cite one.
    assert "loss" not in run(lesson06, "Q2", answer_q2=letter).details[0]


@pytest.mark.parametrize("script", EXERCISE_SCRIPTS, ids=[path.stem for path in EXERCISE_SCRIPTS])
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
    checks = {**module.EXERCISES, **module.QUESTIONS}  # the questions come last in a lesson
    assert len(stubs) == len(checks)
    for (number, exercise), stub in zip(checks.items(), stubs, strict=True):
        stub = stub.strip()  # a stub in a loop is indented; the report quotes it without
        names = stub.removesuffix(" = ...").split(" = ")
        answers = {
            name: NOT_ATTEMPTED if name in names else object() for name in exercise.answer_names()
        }
        if exercise.stub:  # a stub in a loop: it binds these names, the loop fills the dicts
            assert tuple(names) == exercise.stub, (number, stub)
            answers = {name: {"a run": NOT_ATTEMPTED} for name in exercise.answer_names()}
        result = run(module, number, **answers)
        assert f"in place of the line `{stub}`" in result.details[0], (number, stub)
