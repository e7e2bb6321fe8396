"""Self-checks for the exercises: run your answer through a check and read what it finds.

Every exercise of every lesson is followed by a check cell, for example::

    if check_exercise(1, centre_images=centre_images):
        print(centre_images(pixels))

``check_exercise`` prints one of three reports and returns ``True`` only for the last:

- **not attempted yet**, while a name is still ``...`` (what a stub in a student
  version assigns), with the exercise's hint;
- **not right yet**, with what is wrong in specific terms (a shape, a value, a
  common mistake to look for);
- **passed**, with the list of what was checked.

The checks test the learner's own objects: values, shapes and dtypes; a model's
structure and its behaviour on a fixed input; a trained model's accuracy against a
threshold that holds in smoke and full mode; and a function on inputs the learner
never saw. A report never contains the expected answer, only what is wrong with the
one given.

Under the test suite, ``COURSE_STRICT_CHECKS=1`` (``STRICT_ENV``) makes a check that
does not pass raise ``AssertionError``, so that executing the worked solutions proves
each one passes its check; a learner never sets it.

Each lesson has a module here (``lesson01`` ... ``lesson06``) whose ``check_exercise``
knows that lesson's exercises (``EXERCISES``, numbered 1, 2, ...) and its concept checks
(``QUESTIONS``, named "Q1", "Q2", ...). A concept check is a multiple-choice question
about an idea of the lesson, built with ``concept_question``: the learner assigns a
letter, and a wrong letter is answered with the misconception behind it, never with the
right letter. Writing a check for a new exercise: see the README. Introduced in lesson 01.
"""

from __future__ import annotations

import inspect
import math
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import torch

from ..settings import parse_flag

__all__ = [
    "NOT_ATTEMPTED",
    "STRICT_ENV",
    "CheckResult",
    "Exercise",
    "Wrong",
    "call_learner_code",
    "concept_question",
    "make_checker",
    "require",
    "require_fraction",
    "require_keys",
    "require_number",
    "require_type",
    "run_check",
    "stored_entries",
]

NOT_ATTEMPTED = ...  # what a stub assigns; a name still bound to it was not attempted
STRICT_ENV = "COURSE_STRICT_CHECKS"
Status = Literal["not attempted", "not right yet", "passed"]


class Wrong(Exception):
    """Raised by a check: the answer is not right yet, for the reason in the message."""


@dataclass(frozen=True)
class Exercise:
    """One exercise's check.

    ``test`` takes the learner's answers as keyword arguments, raises ``Wrong`` with a
    specific message when one is not right, and otherwise returns the list of what it
    checked, in words. ``hint`` is the stub's hint, shown while it is not attempted.
    """

    hint: str
    test: Callable[..., list[str]]
    # The answers' names, for a ``test`` that takes ``**answers`` (a concept question).
    names: tuple[str, ...] = ()
    # The names the student version's stub binds where they are not answers: a stub inside
    # a loop that stores each run in the answers' dicts (lesson 05). Not attempted then
    # means every non-empty dict among the answers holds only ``...``.
    stub: tuple[str, ...] = ()

    def answer_names(self) -> list[str]:
        return list(self.names) or list(inspect.signature(self.test).parameters)


@dataclass(frozen=True)
class CheckResult:
    """What a check found: ``status``, and the lines of its report in ``details``."""

    lesson: str
    exercise: int | str
    status: Status
    details: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        mark = {"not attempted": "[ ]", "not right yet": "[!]", "passed": "[ok]"}[self.status]
        head = f"{mark} Lesson {self.lesson}, {_title(self.exercise)}: {self.status}"
        return "\n".join([head, *(f"    {line}" for line in self.details)])


def _title(number: int | str) -> str:
    """``exercise 2`` for an exercise, ``question 3`` for concept check "Q3"."""
    if isinstance(number, str) and number.startswith("Q"):
        return f"question {number[1:]}"
    return f"exercise {number}"


def stored_entries(value: Any) -> list:
    """What a loop stored under one key of an exercise's dict: the items of a list, or the
    value itself, so a stub's ``...`` is found in either."""
    return value if isinstance(value, list) else [value]


def _placeholders_only(answer: Any) -> bool:
    """Whether ``answer`` is a non-empty dict whose every entry, or every item of a list
    entry, is the ``...`` a loop stored from a stub."""
    if not isinstance(answer, dict) or not answer:
        return False
    entries = [item for value in answer.values() for item in stored_entries(value)]
    return all(entry is NOT_ATTEMPTED for entry in entries)


def _not_attempted(exercise: Exercise, answers: Mapping[str, Any]) -> list[str]:
    """The names to report as still ``...``: the answers bound to it; for an exercise whose
    stub sits in a loop (``exercise.stub``), its stub's names when every dict among the
    answers holds only ``...`` (a dict partly written is an attempt: its check names what
    is left)."""
    missing = [name for name, answer in answers.items() if answer is NOT_ATTEMPTED]
    if missing or not exercise.stub:
        return missing
    dicts = [answer for answer in answers.values() if isinstance(answer, dict) and answer]
    return list(exercise.stub) if dicts and all(map(_placeholders_only, dicts)) else []


def run_check(
    lesson: str, number: int | str, exercise: Exercise, answers: Mapping[str, Any]
) -> CheckResult:
    """Run one exercise's check on ``answers`` and return what it found (prints nothing).

    A name the check does not take, or one it needs and was not given, is a
    ``TypeError``: a mistake in the check cell, not in the answer.
    """
    expected = exercise.answer_names()
    if sorted(answers) != sorted(expected):
        wanted = ", ".join(f"{name}={name}" for name in expected)
        raise TypeError(
            f"check_exercise({number!r}, ...) takes {wanted}; it was given "
            f"{', '.join(sorted(answers)) or 'nothing'}"
        )
    missing = _not_attempted(exercise, {name: answers[name] for name in expected})
    if missing:
        names = ", ".join(f"`{name}`" for name in missing)
        verb = "is" if len(missing) == 1 else "are"
        stub_line = f"{' = '.join(missing)} = ..."
        details = (
            f"{names} {verb} still `...`. Write your answer in the cell above in place of the "
            f"line `{stub_line}` (delete that line: it would undo your answer), run the cell, "
            "then run this check again.",
            f"Hint: {exercise.hint}",
        )
        return CheckResult(lesson, number, "not attempted", details)
    try:
        # fork_rng: a check may draw random numbers or iterate a loader (which draws a
        # seed from the global generator), and must leave torch's global CPU random
        # stream as it found it. (A generator the learner made and passed is theirs.)
        with torch.random.fork_rng(devices=[]):
            checked = exercise.test(**answers)
    except Wrong as reason:
        return CheckResult(lesson, number, "not right yet", (str(reason),))
    except Exception as error:  # an answer of a shape or type the check did not foresee
        if _strict():
            raise
        return CheckResult(
            lesson,
            number,
            "not right yet",
            (
                "The check could not inspect your answer: "
                f"{type(error).__name__}: {error}. Compare the types and shapes of what you "
                "defined with what the exercise asks for.",
            ),
        )
    return CheckResult(lesson, number, "passed", ("Checked that:", *(f"- {c}" for c in checked)))


def make_checker(
    lesson: str,
    exercises: Mapping[int, Exercise],
    questions: Mapping[str, Exercise] | None = None,
) -> Callable[..., bool | None]:
    """Build a lesson's ``check_exercise(number, **answers)``: print the report, return a pass.

    ``number`` is an exercise's number (1, 2, ...) or a concept question's name ("Q1", ...).
    A question's check returns ``None`` instead: it is called on its own, not under an
    ``if``, and Jupyter would show a returned ``True`` under the report.
    """
    exercises = {**exercises, **(questions or {})}

    def check_exercise(number: int | str, **answers: Any) -> bool | None:
        if number not in exercises:
            known = ", ".join(repr(key) for key in exercises)
            raise ValueError(f"lesson {lesson} has exercises and questions {known}, not {number!r}")
        result = run_check(lesson, number, exercises[number], answers)
        print(result)
        if not result.passed and _strict():
            raise AssertionError(f"{STRICT_ENV} is set and a check did not pass:\n{result}")
        return None if isinstance(number, str) else result.passed

    check_exercise.__doc__ = (
        f"Check an answer to an exercise of lesson {lesson}: print what is right or wrong "
        "and return True when it passes. Pass each answer by name, as the check cell does."
    )
    return check_exercise


def _strict() -> bool:
    return parse_flag(STRICT_ENV, os.environ.get(STRICT_ENV, ""))


# Building blocks for the checks. Each raises Wrong with a message that says what
# was found and what to look at, and never what the answer should be.


def require(condition: bool, message: str) -> None:
    """Raise ``Wrong(message)`` unless ``condition`` holds."""
    if not condition:
        raise Wrong(message)


def require_type(value: Any, kinds: type | tuple[type, ...], name: str, what: str) -> None:
    """``value`` must be an instance of ``kinds``; ``what`` says what was asked for."""
    if not isinstance(value, kinds):
        raise Wrong(f"`{name}` should be {what}; it is a {type(value).__name__}.")


def require_number(value: Any, name: str) -> float:
    """A real number (Python, NumPy or a 0-dimensional tensor), finite; returned as a float."""
    if hasattr(value, "ndim") and hasattr(value, "item"):
        require(
            value.ndim == 0,
            f"`{name}` should be one number; it has shape {tuple(value.shape)}. A single "
            "number has no dimensions (`.item()` gives it as a Python number).",
        )
        value = value.item()
    require(
        isinstance(value, (int, float)) and not isinstance(value, bool),
        f"`{name}` should be a number; it is a {type(value).__name__}.",
    )
    require(math.isfinite(value), f"`{name}` is {value}: the training diverged.")
    return float(value)


def require_fraction(value: Any, name: str) -> float:
    """An accuracy: a number from 0 to 1, as ``fit`` reports it."""
    number = require_number(value, name)
    require(
        0 <= number <= 1,
        f"`{name}` is {number}; accuracies here are fractions from 0 to 1, as `fit` reports "
        "them (`history[-1]['val_acc']`), not percentages.",
    )
    return number


def require_keys(mapping: Any, keys: Iterable[Any], name: str) -> None:
    """A dict with exactly ``keys``."""
    require_type(mapping, dict, name, "a dict")
    wanted, found = list(keys), list(mapping)
    missing = [key for key in wanted if key not in mapping]
    extra = [key for key in found if key not in wanted]
    require(not missing, f"`{name}` has no entry for {', '.join(map(repr, missing))}.")
    require(not extra, f"`{name}` has entries the exercise did not ask for: {extra}.")


def call_learner_code(function: Callable[..., Any], *args: Any, name: str, advice: str = "") -> Any:
    """Call the learner's ``function``; an error it raises becomes a ``Wrong`` naming it.

    ``advice``, if given, is added to the message: what usually causes such an error.
    """
    try:
        return function(*args)
    except Exception as error:  # the learner's code failed: report it as a finding
        shown = ", ".join(_describe(arg) for arg in args)
        message = f"`{name}({shown})` raised {type(error).__name__}: {error}"
        raise Wrong(f"{message.rstrip('.')}. {advice}".strip()) from error


def _describe(value: Any) -> str:
    shape = getattr(value, "shape", None)
    return f"a tensor of shape {tuple(shape)}" if shape is not None else repr(value)


# Concept checks: a multiple-choice question about an idea, not about code.

LETTERS = "abcdef"


def concept_question(
    name: str, hint: str, right: str, why: str, misconceptions: Mapping[str, str]
) -> Exercise:
    """A concept check: the learner assigns one letter to ``name`` (for example
    ``answer_q1 = "b"``).

    ``right`` is the right letter and ``why`` what the passed report says about it;
    ``misconceptions`` maps every other letter to the misconception behind choosing it,
    written so that it does not give the right letter away. Returns an ``Exercise`` whose
    report for a wrong letter is that letter's misconception. Introduced in lesson 01.
    """
    letters = sorted([right, *misconceptions])
    if len(set(letters)) != len(letters) or "".join(letters) != LETTERS[: len(letters)]:
        raise ValueError(
            f"question {name}: the right letter and the misconceptions must cover the letters "
            f"a, b, ... once each; got right={right!r} and {sorted(misconceptions)}"
        )
    choices = ", ".join(f'"{letter}"' for letter in letters)

    def test(**answers: Any) -> list[str]:
        given = answers[name]
        require(
            isinstance(given, str),
            f"`{name}` should be one letter in quotes, one of {choices}; it is a "
            f"{type(given).__name__}.",
        )
        letter = given.strip().strip("()").strip().lower()
        require(
            letter in letters,
            f"`{name}` is {given!r}; write one of the letters {choices} (in quotes).",
        )
        if letter != right:
            raise Wrong(f"({letter}) is not it. {misconceptions[letter]}")
        return [f"({letter}) is right: {why}"]

    return Exercise(hint=hint, test=test, names=(name,))
