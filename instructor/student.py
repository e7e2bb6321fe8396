"""Student versions of the lessons: worked solutions replaced by stubs, outputs cleared.

Instructor tooling behind ``make solutions`` and ``make check-solutions``; no lesson
imports it. A solution region in a code cell is marked as nbgrader marks it::

    ### BEGIN SOLUTION
    # Hint: compute the mean of each image with keepdim=True
    image_means = pixels.mean(dim=(1, 2), keepdim=True)
    ### END SOLUTION

and becomes, in the student version (``student/NN_name.ipynb``)::

    # YOUR CODE HERE: define image_means
    # Hint: compute the mean of each image with keepdim=True
    image_means = ...

where ``image_means`` is each name the solution binds that later cells read. The
stub never stops the notebook: the exercise's check cell reports it as not attempted.
Everything else is kept as it is, except outputs, which are cleared. A page without
exercises (no solution region and no exercise heading, such as the troubleshooting
page) has no student version: ``write`` skips it and ``check`` reports one left behind. A line that
looks like a marker but is spelled otherwise (``### BEGIN SOLUTION (ex 1)``,
``## END SOLUTION``) is an error, never a solution that ships to students. This small
function does what nbgrader's ``ClearSolutions`` preprocessor does for these
markers, without nbgrader's database, server extension and their dependencies.
"""

from __future__ import annotations

import argparse
import ast
import copy
import re
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from instructor.runner import HASH_KEY, write_atomically

__all__ = [
    "BEGIN",
    "END",
    "check_student_version",
    "has_exercises",
    "main",
    "make_student_notebook",
    "strip_solutions",
    "student_path",
]

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
HINT = "# Hint:"
EXERCISE_HEADING = re.compile(r"\*\*Exercise \d+")
# Anything a person might mean as a marker: BEGIN/END and SOLUTION in a comment, in any
# case and spacing. Only the exact BEGIN and END lines are accepted as markers.
MARKER_LIKE = re.compile(r"#.*\b(BEGIN|END)\b.*\bSOLUTIONS?\b", re.IGNORECASE)


def _marker(line: str) -> str | None:
    """``BEGIN`` or ``END`` for an exact marker line, ``None`` for an ordinary line.

    Raises ``ValueError`` for a variant spelling, which would otherwise be kept as an
    ordinary line and leak the solution under it.
    """
    stripped = line.strip()
    if stripped in (BEGIN, END):
        return stripped
    if MARKER_LIKE.search(stripped):
        raise ValueError(
            f"a marker is misspelled: {stripped!r}; write exactly {BEGIN!r} or {END!r} "
            "on a line of its own"
        )
    return None


def _stub(indent: str, hint: str, defines: Sequence[str] = ()) -> list[str]:
    """The lines that replace a solution region.

    The names later cells read are bound to ``...`` (``NOT_ATTEMPTED`` in
    ``course_utils.checks``), so the notebook runs on and the exercise's check reports
    "not attempted yet" until the learner replaces them.
    """
    todo = f"# YOUR CODE HERE: define {', '.join(defines)}" if defines else "# YOUR CODE HERE"
    placeholder = f"{' = '.join(defines)} = ..." if defines else "pass"
    return [f"{indent}{todo}", f"{indent}{HINT} {hint}", f"{indent}{placeholder}"]


def strip_solutions(source: str, defines: Sequence[Sequence[str]] = ()) -> tuple[str, list[str]]:
    """Replace every solution region of a cell's source by a stub.

    ``defines`` gives, region by region, the names the stub should say to define.
    Returns the new source and the removed regions' text. Unbalanced markers or
    a region without a ``# Hint:`` line raise ``ValueError``.
    """
    lines = source.splitlines()
    markers = [_marker(line) for line in lines]
    output: list[str] = []
    removed: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        if markers[index] == END:
            raise ValueError(f"{END} without {BEGIN}")
        if markers[index] != BEGIN:
            output.append(line)
            index += 1
            continue
        indent = line[: len(line) - len(line.lstrip())]
        end = next((later for later in range(index + 1, len(lines)) if markers[later]), None)
        if end is None:
            raise ValueError(f"{BEGIN} without {END}")
        if markers[end] == BEGIN:
            raise ValueError(f"nested {BEGIN}")
        region = lines[index + 1 : end]
        hints = [
            text.strip()[len(HINT) :].strip() for text in region if text.strip().startswith(HINT)
        ]
        if not hints:
            raise ValueError(f"a solution region has no '{HINT}' line: {region[:1]}")
        region_defines = defines[len(removed)] if len(removed) < len(defines) else ()
        # The blank lines a formatter puts before a `def` in the solution: one is enough.
        blank = bool(output) and not output[-1].strip()
        while output and not output[-1].strip():
            output.pop()
        output += [""] * blank + _stub(indent, hints[0], region_defines)
        removed.append("\n".join(region))
        index = end + 1
    return "\n".join(output), removed


def _names(source: str, context: type) -> list[str]:
    """Names bound (``ast.Store``) or read (``ast.Load``) in ``source``, in order of appearance.

    Loop variables are not counted as bound: later code that reads a name of that
    kind is a loop of its own. Code that is not plain Python (a magic) yields no names.
    """
    try:
        tree = ast.parse(textwrap.dedent(source))
    except SyntaxError:
        return []
    loop_targets = {
        name.id
        for node in ast.walk(tree)
        if isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension))
        for name in ast.walk(node.target)
        if isinstance(name, ast.Name)
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, context):
            if context is ast.Load or node.id not in loop_targets:
                found.append(node.id)
        elif context is ast.Store and isinstance(
            node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
        ):
            found.append(node.name)
    return list(dict.fromkeys(found))


def _expected_names(cells: list[NotebookNode]) -> list[list[list[str]]]:
    """For each cell, for each solution region: the names it binds that later code reads."""
    stripped = [
        strip_solutions(cell.source) if cell.cell_type == "code" else ("", []) for cell in cells
    ]
    result = []
    for position, (kept, regions) in enumerate(stripped):
        later = kept + "\n" + "\n".join(code for code, _ in stripped[position + 1 :])
        read = set(_names(later, ast.Load))
        result.append(
            [[name for name in _names(region, ast.Store) if name in read] for region in regions]
        )
    return result


SOLUTION_TAG = "solution"  # a markdown cell that discusses a solution's result
NOTE_ID = "student-version-note"


def _student_note(lesson_name: str) -> NotebookNode:
    where = "`notebooks/`"
    if lesson_name:
        where = f"[`notebooks/{lesson_name}`](../notebooks/{lesson_name})"
    note = nbformat.v4.new_markdown_cell(
        "**Student version.** Each exercise below ends in a stub for you to fill in. The worked "
        f"solutions, with their outputs and what they mean, are in {where}."
    )
    note.id = NOTE_ID  # a fixed id, so that regenerating the file changes nothing
    return note


def make_student_notebook(solution: NotebookNode, lesson_name: str = "") -> NotebookNode:
    """Return a copy of ``solution`` for learners: solutions stubbed, outputs cleared.

    Also drops markdown cells tagged ``solution`` (the discussion of a solution's
    result), the widget state, and the runner's bookkeeping, and adds a first cell
    saying where the worked solutions are (``notebooks/<lesson_name>``).
    """
    student = copy.deepcopy(solution)
    student.metadata.pop(HASH_KEY, None)  # the runner's bookkeeping for the executed solutions
    student.metadata.pop("widgets", None)
    kept = [_student_note(lesson_name)]
    for cell, defines in zip(student.cells, _expected_names(student.cells), strict=True):
        if SOLUTION_TAG in cell.metadata.get("tags", []):
            if cell.cell_type != "markdown":
                raise ValueError(
                    f"only markdown cells may be tagged {SOLUTION_TAG!r}: {cell.source[:60]}"
                )
            continue
        if cell.cell_type == "code":
            cell.source, _ = strip_solutions(cell.source, defines)
            cell.outputs = []
            cell.execution_count = None
        kept.append(cell)
    student.cells = kept
    return student


def has_exercises(notebook: NotebookNode) -> bool:
    """Whether ``notebook`` has an exercise: a solution region or an exercise heading.

    A page without either (the troubleshooting page) has no student version.
    """
    for cell in notebook.cells:
        if cell.cell_type == "markdown" and EXERCISE_HEADING.search(cell.source):
            return True
        if cell.cell_type == "code" and any(
            MARKER_LIKE.search(line) for line in cell.source.splitlines()
        ):
            return True
    return False


def student_path(solution_path: Path) -> Path:
    """``notebooks/NN_name.ipynb`` -> ``student/NN_name.ipynb`` (beside ``notebooks/``)."""
    return solution_path.resolve().parent.parent / "student" / solution_path.name


def _exercise_problems(solution: NotebookNode, name: str) -> list[str]:
    """Every exercise heading must be followed by a solution region and then its check.

    The check is a code cell that calls ``check_exercise(N, ...)`` with the exercise's
    own number, after the cell with the solution region.
    """
    problems = []
    cells = solution.cells
    for position, cell in enumerate(cells):
        heading = EXERCISE_HEADING.search(cell.source) if cell.cell_type == "markdown" else None
        if heading is None:
            continue
        following = []
        for later in cells[position + 1 :]:
            if later.cell_type == "markdown" and EXERCISE_HEADING.search(later.source):
                break
            following.append(later)
        code = [later.source for later in following if later.cell_type == "code"]
        title = heading.group(0).strip("*")
        solved = [index for index, source in enumerate(code) if BEGIN in source]
        if not solved:
            problems.append(
                f"{name}: {title} has no solution region, so its student version has no stub"
            )
            continue
        number = title.split()[-1]
        check_call = re.compile(rf"\bcheck_exercise\(\s*{number}\s*,")
        if not any(check_call.search(source) for source in code[solved[0] + 1 :]):
            problems.append(
                f"{name}: {title} has no check cell after its solution "
                f"(a cell that calls check_exercise({number}, ...))"
            )
    return problems


def _leak_problems(solution: NotebookNode, student: NotebookNode, name: str) -> list[str]:
    """No line that only a solution contains may appear in the student version."""
    solution_lines: set[str] = set()
    other_lines: set[str] = set()
    for cell in solution.cells:
        if cell.cell_type != "code":
            continue
        kept, removed = strip_solutions(cell.source)
        other_lines |= {line.strip() for line in kept.splitlines()}
        for region in removed:
            solution_lines |= {
                line.strip()
                for line in region.splitlines()
                if line.strip() and not line.strip().startswith(HINT)
            }
    secret = solution_lines - other_lines
    student_text = {line.strip() for cell in student.cells for line in cell.source.splitlines()}
    return [
        f"{name}: solution line leaked into the student version: {line}"
        for line in sorted(secret & student_text)
    ]


def _syntax_problems(student: NotebookNode, name: str) -> list[str]:
    """Every code cell of a student version must still be valid Python."""
    problems = []
    for position, cell in enumerate(student.cells):
        if cell.cell_type != "code":
            continue
        try:
            ast.parse(cell.source)
        except SyntaxError as error:
            problems.append(
                f"{name}: cell {position} of the student version is not valid Python: {error}"
            )
    return problems


def check_student_version(solution_path: Path) -> list[str]:
    """Return what is wrong with the committed student version of a lesson (empty: nothing).

    A misspelled marker is reported as a problem, never skipped.
    """
    name = solution_path.name
    solution = nbformat.read(solution_path, as_version=4)
    if not has_exercises(solution):
        stray = student_path(solution_path)
        if stray.exists():
            return [
                f"{name}: has no exercises, so it has no student version; delete {stray} "
                "(learners would look for exercises in it)"
            ]
        return []
    try:
        expected = make_student_notebook(solution, name)
    except ValueError as error:
        return [f"{name}: {error}"]
    problems = _exercise_problems(solution, name) + _syntax_problems(expected, name)
    target = student_path(solution_path)
    if not target.exists():
        return problems + [f"{name}: no student version at {target} (run `make solutions`)"]
    committed = nbformat.read(target, as_version=4)
    problems += _leak_problems(solution, committed, name) + _syntax_problems(committed, name)
    if nbformat.writes(committed) != nbformat.writes(expected):
        problems.append(f"{name}: the student version is stale (run `make solutions`)")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m instructor.student", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("command", choices=["write", "check"])
    parser.add_argument("notebooks", nargs="+", type=Path)
    args = parser.parse_args(argv)
    if args.command == "write":
        # Build every student version before writing any, so a bad marker writes nothing.
        students = []
        for path in args.notebooks:
            solution = nbformat.read(path, as_version=4)
            if not has_exercises(solution):
                print(f"{path}: no exercises, so no student version")
                continue
            try:
                students.append((path, make_student_notebook(solution, path.name)))
            except ValueError as error:
                print(f"{path}: {error}; no student version written", file=sys.stderr)
                return 1
        for path, student in students:
            target = student_path(path)
            write_atomically(student, target)
            print(f"wrote {target}")
        return 0
    problems = [problem for path in args.notebooks for problem in check_student_version(path)]
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"student versions: {len(args.notebooks)} checked, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
