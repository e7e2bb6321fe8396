"""Student versions: the stub generator, the checks, and each committed student version."""

import ast
import importlib
import re
from pathlib import Path

import nbformat
import pytest
from conftest import EXERCISE_LESSONS, LESSON_NOTEBOOKS, NOTEBOOKS, PAGES_WITHOUT_EXERCISES
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from instructor.student import (
    EXERCISE_HEADING,
    check_student_version,
    has_exercises,
    main,
    make_student_notebook,
    strip_solutions,
    student_path,
)

SOLUTION_CELL = """value = 3
### BEGIN SOLUTION
# Hint: square the value
answer = value**2
### END SOLUTION
print(answer)"""


def test_strip_solutions_replaces_the_region_with_a_stub_carrying_the_hint():
    source, removed = strip_solutions(SOLUTION_CELL, [["answer"]])
    assert source.splitlines() == [
        "value = 3",
        "# YOUR CODE HERE: define answer",
        "# Hint: square the value",
        "answer = ...",
        "print(answer)",
    ]
    assert removed == ["# Hint: square the value\nanswer = value**2"]
    two_names, _ = strip_solutions(SOLUTION_CELL, [["answer", "other"]])
    assert "answer = other = ..." in two_names.splitlines()


def test_a_stub_never_stops_the_notebook_it_binds_each_name_to_the_not_attempted_marker():
    from course_utils.checks import NOT_ATTEMPTED

    source, _ = strip_solutions(SOLUTION_CELL.replace("print(answer)", ""), [["answer"]])
    namespace: dict = {}
    exec(source, namespace)  # no exception: the notebook runs on to the check cell
    assert namespace["answer"] is NOT_ATTEMPTED


def test_strip_solutions_keeps_the_indentation_of_the_markers():
    source, _ = strip_solutions(
        "for x in y:\n    ### BEGIN SOLUTION\n    # Hint: h\n    pass\n    ### END SOLUTION"
    )
    assert source == "for x in y:\n    # YOUR CODE HERE\n    # Hint: h\n    pass"


@pytest.mark.parametrize(
    "source, message",
    [
        ("### BEGIN SOLUTION\n# Hint: h\nx = 1", "without ### END"),
        ("x = 1\n### END SOLUTION", "without ### BEGIN"),
        ("### BEGIN SOLUTION\nx = 1\n### END SOLUTION", "no '# Hint:' line"),
        ("### BEGIN SOLUTION\n# Hint: h\n### BEGIN SOLUTION\n### END SOLUTION", "nested"),
    ],
)
def test_strip_solutions_rejects_malformed_regions(source, message):
    with pytest.raises(ValueError, match=message):
        strip_solutions(source)


@pytest.mark.parametrize(
    "begin, end",
    [
        ("### BEGIN SOLUTION (ex 1)", "### END SOLUTION"),
        ("### BEGIN SOLUTION", "### END SOLUTION (ex 1)"),
        ("## BEGIN SOLUTION", "## END SOLUTION"),
        ("### begin solution", "### end solution"),
        ("###BEGIN SOLUTION", "###END SOLUTION"),
        ("# BEGIN SOLUTIONS", "# END SOLUTIONS"),
    ],
)
def test_a_misspelled_marker_is_an_error_never_a_leak(begin, end):
    source = f"{begin}\n# Hint: h\nsecret = 42\n{end}"
    with pytest.raises(ValueError, match="misspelled"):
        strip_solutions(source)


def test_a_misspelled_marker_fails_the_check_and_writes_nothing(tmp_path, capsys):
    lesson = toy_lesson(
        tmp_path, SOLUTION_CELL.replace("### BEGIN SOLUTION", "### BEGIN SOLUTION (ex 1)")
    )
    problems = check_student_version(lesson)
    assert len(problems) == 1 and "misspelled" in problems[0] and "01_toy.ipynb" in problems[0]
    assert main(["write", str(lesson)]) == 1
    assert not student_path(lesson).exists()
    assert "no student version written" in capsys.readouterr().err


@pytest.mark.parametrize(
    "hint",
    [
        'use "keepdim=True"',
        "it's a \\ backslash",
        "quotes ' and \" both",
        "ends with a backslash \\",
    ],
)
def test_a_stub_is_valid_python_whatever_its_hint_holds(hint):
    source, _ = strip_solutions(
        f"### BEGIN SOLUTION\n# Hint: {hint}\nx = 1\n### END SOLUTION", [["x"]]
    )
    ast.parse(source)
    assert source.splitlines()[1:] == [f"# Hint: {hint}", "x = ..."]


def test_check_reports_a_student_cell_that_is_not_valid_python(tmp_path):
    lesson = toy_lesson(tmp_path)
    assert main(["write", str(lesson)]) == 0
    student = nbformat.read(student_path(lesson), as_version=4)
    student.cells[4].source = 'raise NotImplementedError("Hint: say "hi"")'
    nbformat.write(student, student_path(lesson))
    assert any("not valid Python" in problem for problem in check_student_version(lesson))


def toy_lesson(
    tmp_path: Path,
    exercise_cell: str = SOLUTION_CELL,
    check_cell: str = "if check_exercise(1, answer=answer):\n    print(answer)",
) -> Path:
    notebook = new_notebook(
        cells=[
            new_markdown_cell("# Toy"),
            new_code_cell("x = 1"),
            new_markdown_cell("**Exercise 1.** Square it."),
            new_code_cell(exercise_cell),
            new_code_cell(check_cell),
        ]
    )
    notebook.cells[1].outputs = [nbformat.v4.new_output("stream", text="out\n")]
    notebook.cells[1].execution_count = 1
    (tmp_path / "notebooks").mkdir()
    path = tmp_path / "notebooks" / "01_toy.ipynb"
    nbformat.write(notebook, path)
    return path


def test_student_notebook_clears_outputs_and_keeps_everything_else(tmp_path):
    solution = nbformat.read(toy_lesson(tmp_path), as_version=4)
    student = make_student_notebook(solution, "01_toy.ipynb")
    note, *cells = student.cells
    assert "worked solutions" in note.source and "../notebooks/01_toy.ipynb" in note.source
    assert [cell.cell_type for cell in cells] == [cell.cell_type for cell in solution.cells]
    assert cells[1].outputs == [] and cells[1].execution_count is None
    assert cells[1].source == "x = 1" and cells[2].source == solution.cells[2].source
    assert "answer = value**2" not in cells[3].source


def test_check_reports_missing_stale_and_leaking_versions(tmp_path, capsys):
    lesson = toy_lesson(tmp_path)
    assert any("no student version" in problem for problem in check_student_version(lesson))
    assert main(["write", str(lesson)]) == 0
    assert check_student_version(lesson) == []
    student = nbformat.read(student_path(lesson), as_version=4)
    student.cells[4].source += "\nanswer = value**2"  # an instructor pasted the answer back
    nbformat.write(student, student_path(lesson))
    problems = check_student_version(lesson)
    assert any(
        "leaked into the student version: answer = value**2" in problem for problem in problems
    )
    assert any("stale" in problem for problem in problems)
    assert main(["check", str(lesson)]) == 1


@pytest.mark.parametrize(
    "check_cell",
    ["print(answer)", "check_exercise(2, answer=answer)"],
    ids=["none", "wrong number"],
)
def test_check_reports_an_exercise_without_its_check_cell(tmp_path, check_cell):
    lesson = toy_lesson(tmp_path, check_cell=check_cell)
    main(["write", str(lesson)])
    assert check_student_version(lesson) == [
        "01_toy.ipynb: Exercise 1 has no check cell after its solution "
        "(a cell that calls check_exercise(1, ...))"
    ]


def test_check_reports_an_exercise_without_a_stub(tmp_path):
    lesson = toy_lesson(tmp_path, exercise_cell="answer = 9")
    main(["write", str(lesson)])
    assert check_student_version(lesson) == [
        "01_toy.ipynb: Exercise 1 has no solution region, so its student version has no stub"
    ]


@pytest.mark.parametrize("lesson", LESSON_NOTEBOOKS, ids=[path.stem for path in LESSON_NOTEBOOKS])
def test_committed_student_version_is_current(lesson):
    assert check_student_version(lesson) == []


def test_exactly_the_pages_named_in_conftest_have_no_exercises():
    without = {path.stem for path in LESSON_NOTEBOOKS if not has_exercises(nbformat.read(path, 4))}
    assert without == PAGES_WITHOUT_EXERCISES
    for stem in PAGES_WITHOUT_EXERCISES:
        assert not student_path(NOTEBOOKS / f"{stem}.ipynb").exists()


def page_without_exercises(tmp_path: Path) -> Path:
    notebook = new_notebook(
        cells=[new_markdown_cell("# Troubleshooting"), new_code_cell("print('an error')")]
    )
    (tmp_path / "notebooks").mkdir()
    path = tmp_path / "notebooks" / "07_page.ipynb"
    nbformat.write(notebook, path)
    return path


def test_a_page_without_exercises_gets_no_student_version(tmp_path, capsys):
    page = page_without_exercises(tmp_path)
    assert main(["write", str(page)]) == 0
    assert "no exercises, so no student version" in capsys.readouterr().out
    assert not student_path(page).exists()
    assert check_student_version(page) == []
    assert main(["check", str(page)]) == 0


def test_a_student_version_left_behind_by_a_page_without_exercises_is_reported(tmp_path):
    page = page_without_exercises(tmp_path)
    student_path(page).parent.mkdir()
    nbformat.write(new_notebook(), student_path(page))
    problems = check_student_version(page)
    assert len(problems) == 1 and "has no exercises, so it has no student version" in problems[0]


def test_a_lesson_with_only_an_exercise_heading_still_needs_its_stub(tmp_path):
    lesson = toy_lesson(tmp_path, exercise_cell="answer = 9")
    assert has_exercises(nbformat.read(lesson, as_version=4))
    main(["write", str(lesson)])
    assert any("no solution region" in problem for problem in check_student_version(lesson))


def run_student_version(student, tmp_path: Path, monkeypatch) -> list[str]:
    """Execute a student version top to bottom (smoke mode under `make test`).

    Returns each code cell's printed output. The kernel inherits this process's
    environment: strict checks off, as for a learner.
    """
    from course_utils.checks import STRICT_ENV

    monkeypatch.setenv(STRICT_ENV, "0")
    client = NotebookClient(
        student, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError if any cell fails
    return [
        "".join(output.get("text", "") for output in cell.outputs)
        for cell in student.cells
        if cell.cell_type == "code"
    ]


def exercise_count(lesson: Path) -> int:
    solution = nbformat.read(lesson, as_version=4)
    return sum(
        1
        for cell in solution.cells
        if cell.cell_type == "markdown" and EXERCISE_HEADING.search(cell.source)
    )


@pytest.mark.slow
@pytest.mark.parametrize("lesson", EXERCISE_LESSONS, ids=[path.stem for path in EXERCISE_LESSONS])
def test_student_version_runs_top_to_bottom_and_each_exercise_says_not_attempted(
    lesson, tmp_path, monkeypatch
):
    student = nbformat.read(student_path(lesson), as_version=4)
    outputs = "\n".join(run_student_version(student, tmp_path, monkeypatch))
    number = lesson.name[:2]
    reports = re.findall(rf"\[ \] Lesson {number}, exercise (\d+): not attempted", outputs)
    assert reports == [str(n) for n in range(1, exercise_count(lesson) + 1)], outputs[-2000:]
    # The concept questions at the end are stubs too, each with its hint.
    questions = re.findall(rf"\[ \] Lesson {number}, question (\d+): not attempted", outputs)
    asked = importlib.import_module(f"course_utils.checks.lesson{number}").QUESTIONS
    assert questions == [name[1:] for name in asked], outputs[-2000:]
    assert outputs.count("    Hint: ") == len(reports) + len(questions)
    assert ": passed" not in outputs and "not right yet" not in outputs


@pytest.mark.slow
def test_filling_in_one_exercise_makes_it_pass_while_the_others_stay_not_attempted(
    tmp_path, monkeypatch
):
    lesson = NOTEBOOKS / "01_tensors.ipynb"
    solution = nbformat.read(lesson, as_version=4)
    student = nbformat.read(student_path(lesson), as_version=4)
    solved = {cell.id: cell.source for cell in solution.cells}
    for cell in student.cells:  # the learner writes exercise 2's answer, and only that
        if cell.cell_type == "code" and "define predicted_shape" in cell.source:
            cell.source = solved[cell.id]
    outputs = "\n".join(run_student_version(student, tmp_path, monkeypatch))
    assert "[ok] Lesson 01, exercise 2: passed" in outputs
    assert "[ ] Lesson 01, exercise 1: not attempted" in outputs
    assert "[ ] Lesson 01, exercise 3: not attempted" in outputs


def test_student_notebook_drops_the_runners_bookkeeping(tmp_path):
    from instructor.runner import HASH_KEY

    solution = nbformat.read(toy_lesson(tmp_path), as_version=4)
    solution.metadata[HASH_KEY] = "abc"
    assert HASH_KEY not in make_student_notebook(solution).metadata


def test_student_notebook_drops_widget_state_and_solution_discussions(tmp_path):
    solution = nbformat.read(toy_lesson(tmp_path), as_version=4)
    solution.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    discussion = new_markdown_cell("The answer, 9, shows that squaring works.")
    discussion.metadata["tags"] = ["solution"]
    solution.cells.append(discussion)
    student = make_student_notebook(solution, "01_toy.ipynb")
    assert "widgets" not in student.metadata
    assert all("squaring works" not in cell.source for cell in student.cells)


def test_the_student_note_is_the_same_every_time(tmp_path):
    solution = nbformat.read(toy_lesson(tmp_path), as_version=4)
    first = nbformat.writes(make_student_notebook(solution, "01_toy.ipynb"))
    assert nbformat.writes(make_student_notebook(solution, "01_toy.ipynb")) == first


@pytest.mark.parametrize("lesson", EXERCISE_LESSONS, ids=[path.stem for path in EXERCISE_LESSONS])
def test_committed_student_versions_say_where_the_solutions_are_and_hold_no_widgets(lesson):
    student = nbformat.read(student_path(lesson), as_version=4)
    assert f"notebooks/{lesson.name}" in student.cells[0].source
    assert "widgets" not in student.metadata


def test_each_stub_names_the_variables_that_later_cells_read(tmp_path):
    exercise = (
        "data = [1, 2, 3]\n"
        "### BEGIN SOLUTION\n"
        "# Hint: square each value\n"
        "def square(x):\n"
        "    return x * x\n"
        "squares = {}\n"
        "for value in data:\n"
        "    squares[value] = square(value)\n"
        "total = sum(squares.values())\n"
        "scratch = 0\n"
        "### END SOLUTION"
    )
    notebook = new_notebook(
        cells=[
            new_markdown_cell("**Exercise 1.** Squares."),
            new_code_cell(exercise),
            new_code_cell("for value in squares:\n    print(value, squares[value])\nprint(total)"),
        ]
    )
    student = make_student_notebook(notebook, "01_toy.ipynb")
    assert "# YOUR CODE HERE: define squares, total\n" in student.cells[2].source
    assert "scratch" not in student.cells[2].source and "square," not in student.cells[2].source


def test_a_stub_whose_region_defines_nothing_read_later_says_so_plainly():
    notebook = new_notebook(
        cells=[
            new_code_cell(
                "### BEGIN SOLUTION\n# Hint: freeze it\nlayer.frozen = True\n### END SOLUTION"
            )
        ]
    )
    student = make_student_notebook(notebook)
    assert student.cells[1].source.splitlines()[0] == "# YOUR CODE HERE"


def test_a_stub_follows_at_most_one_blank_line():
    source, _ = strip_solutions(
        "x = 1\n\n\n### BEGIN SOLUTION\n# Hint: h\ndef f():\n    pass\n\n\n### END SOLUTION",
        [["f"]],
    )
    assert source.splitlines() == [
        "x = 1",
        "",
        "# YOUR CODE HERE: define f",
        "# Hint: h",
        "f = ...",
    ]
