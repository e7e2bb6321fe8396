import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from course_utils.runner import LessonRun, format_table, main, run_notebook


def write_notebook(path, *sources):
    notebook = new_notebook(cells=[new_markdown_cell("# A lesson")] + [new_code_cell(source) for source in sources])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, path)
    return path


def test_run_notebook_records_results_and_memory(tmp_path):
    source = write_notebook(
        tmp_path / "01_demo.ipynb",
        "from course_utils.settings import SMOKE\nfrom course_utils.report import record_result",
        "record_result('smoke', SMOKE)\nrecord_result('answer', 42, unit='units')",
    )
    run = run_notebook(source, tmp_path / "out" / "01_demo.ipynb", smoke=True, show_progress=False)
    assert run.ok and run.error == ""
    assert [(r["name"], r["value"]) for r in run.results] == [("smoke", True), ("answer", 42)]
    assert run.peak_mb > 10  # a Python kernel with torch loaded is tens of MB at least
    executed = nbformat.read(tmp_path / "out" / "01_demo.ipynb", as_version=4)
    assert executed.cells[2].outputs[0]["text"] == "smoke: True\nanswer: 42 units\n"
    assert nbformat.read(source, as_version=4).cells[2].outputs == []  # the source is untouched


def test_a_failing_notebook_is_saved_up_to_the_error(tmp_path):
    source = write_notebook(tmp_path / "02_broken.ipynb", "print('before')", "1 / 0", "print('never')")
    run = run_notebook(source, tmp_path / "out.ipynb", show_progress=False)
    assert not run.ok and "ZeroDivisionError" in run.error
    executed = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    assert executed.cells[1].outputs[0]["text"] == "before\n"
    assert executed.cells[3].outputs == []


def test_format_table_lists_each_lesson():
    runs = [
        LessonRun("01_tensors", True, 3.21, 250.4, [{"name": "checks", "value": True, "unit": ""}]),
        LessonRun("02_autograd", False, 1.0, 100.0, [], error="ValueError: bad"),
    ]
    table = format_table(runs).splitlines()
    assert table[2] == "| 01_tensors | ok | 3.2 | 250 | checks = True |"
    assert table[3] == "| 02_autograd | FAILED: ValueError: bad | 1.0 | 100 | - |"


def test_main_exits_non_zero_when_a_lesson_fails_and_writes_a_summary(tmp_path, capsys):
    good = write_notebook(tmp_path / "01_good.ipynb", "x = 1")
    bad = write_notebook(tmp_path / "02_bad.ipynb", "raise ValueError('bad input')")
    assert main([str(good), str(bad), "--out", str(tmp_path / "run")]) == 1
    summary = (tmp_path / "run" / "summary.md").read_text()
    assert "| 01_good | ok |" in summary and "FAILED: ValueError: bad input" in summary


def test_main_refuses_a_missing_notebook(tmp_path):
    with pytest.raises(SystemExit):
        main([str(tmp_path / "nope.ipynb")])


def test_changed_only_skips_a_notebook_whose_inputs_did_not_change(tmp_path, capsys):
    lesson = write_notebook(tmp_path / "01_demo.ipynb", "print('ran')")
    assert main([str(lesson), "--in-place", "--changed-only"]) == 0  # never run: runs
    assert nbformat.read(lesson, as_version=4).metadata["course_inputs_sha256"]
    capsys.readouterr()
    assert main([str(lesson), "--in-place", "--changed-only"]) == 0
    assert "unchanged since its last run, not re-executed" in capsys.readouterr().out
    notebook = nbformat.read(lesson, as_version=4)
    notebook.cells[0].source = "# A lesson with new words"
    nbformat.write(notebook, lesson)
    assert main([str(lesson), "--in-place", "--changed-only"]) == 0  # prose alone changes no output
    assert "not re-executed" in capsys.readouterr().out
    notebook.cells[1].source = "print('edited')"
    nbformat.write(notebook, lesson)
    assert main([str(lesson), "--in-place", "--changed-only"]) == 0
    assert nbformat.read(lesson, as_version=4).cells[1].outputs[0]["text"] == "edited\n"


def test_a_failed_run_records_no_hash(tmp_path):
    lesson = write_notebook(tmp_path / "01_broken.ipynb", "1 / 0")
    run_notebook(lesson, lesson, show_progress=False)
    assert "course_inputs_sha256" not in nbformat.read(lesson, as_version=4).metadata


def test_inputs_hash_ignores_the_instructor_tools(monkeypatch, tmp_path):
    import course_utils.runner as runner

    notebook = nbformat.read(write_notebook(tmp_path / "01_demo.ipynb", "x = 1"), as_version=4)
    before = runner.inputs_hash(notebook)
    monkeypatch.setattr(runner, "TOOL_MODULES", set())
    assert runner.inputs_hash(notebook) != before  # the tools are left out of the default hash
