import datetime
import errno
import shutil
import subprocess
import sys
import time
from pathlib import Path

import jupytext
import nbformat
import pytest
import torch
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

import instructor.runner as runner
from course_utils.doctor import cpu_name
from instructor.runner import (
    DEFAULT_CELL_TIMEOUT,
    HASH_KEY,
    LessonRun,
    PeakMemory,
    format_table,
    inputs_hash,
    main,
    run_notebook,
)

ROOT = Path(__file__).resolve().parents[2]
LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.fixture(autouse=True)
def full_size_by_default(monkeypatch):
    """`make test` sets COURSE_SMOKE=1; these tests choose the mode themselves."""
    monkeypatch.delenv("COURSE_SMOKE", raising=False)


def code(notebook):
    """The notebook's code cells, in order (a stamp cell may sit among the others)."""
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def write_notebook(path, *sources):
    notebook = new_notebook(
        cells=[new_markdown_cell("# A lesson")] + [new_code_cell(source) for source in sources]
    )
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(notebook, path)
    return path


@pytest.mark.slow
def test_run_notebook_records_results_and_memory(tmp_path):
    source = write_notebook(
        tmp_path / "01_demo.ipynb",
        "from course_utils.settings import smoke_mode\n"
        "from course_utils.report import record_result",
        "record_result('smoke', smoke_mode())\nrecord_result('answer', 42, unit='units')",
    )
    run = run_notebook(source, tmp_path / "out" / "01_demo.ipynb", smoke=True, show_progress=False)
    assert run.ok and run.error == ""
    assert [(r["name"], r["value"]) for r in run.results] == [("smoke", True), ("answer", 42)]
    assert run.peak_mb > 10  # a Python kernel with torch loaded is tens of MB at least
    executed = nbformat.read(tmp_path / "out" / "01_demo.ipynb", as_version=4)
    assert code(executed)[1].outputs[0]["text"] == "smoke: True\nanswer: 42 units\n"
    assert code(nbformat.read(source, as_version=4))[1].outputs == []  # the source is untouched


@pytest.mark.slow
def test_each_run_compiles_into_an_empty_cache_of_its_own(tmp_path, monkeypatch):
    # Lesson 04 times torch.compile's cost; a cache left by an earlier run would hide it.
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "shared_cache"))
    source = write_notebook(
        tmp_path / "01_demo.ipynb",
        "import os\nfrom pathlib import Path\nfrom course_utils.report import record_result\n"
        "cache = Path(os.environ['TORCHINDUCTOR_CACHE_DIR'])\n"
        "record_result('cache', str(cache))\nrecord_result('empty', not cache.exists())\n"
        "cache.mkdir(parents=True)",
    )
    caches = []
    for attempt in range(2):
        run = run_notebook(source, tmp_path / f"out{attempt}.ipynb", show_progress=False)
        assert run.ok, run.error
        found = {result["name"]: result["value"] for result in run.results}
        assert found["empty"] is True
        caches.append(found["cache"])
    assert caches[0] != caches[1] and str(tmp_path / "shared_cache") not in caches


@pytest.mark.slow
def test_a_failing_notebook_is_saved_up_to_the_error(tmp_path):
    source = write_notebook(
        tmp_path / "02_broken.ipynb", "print('before')", "1 / 0", "print('never')"
    )
    run = run_notebook(source, tmp_path / "out.ipynb", show_progress=False)
    assert not run.ok and "ZeroDivisionError" in run.error
    executed = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    assert code(executed)[0].outputs[0]["text"] == "before\n"
    assert code(executed)[2].outputs == []


def test_format_table_lists_each_lesson():
    runs = [
        LessonRun("01_tensors", True, 3.21, 250.4, [{"name": "checks", "value": True, "unit": ""}]),
        LessonRun("02_autograd", False, 1.0, 100.0, [], error="ValueError: bad"),
    ]
    table = format_table(runs).splitlines()
    assert table[2] == "| 01_tensors | ok | 3.2 | 250 | checks = True |"
    assert table[3] == "| 02_autograd | FAILED: ValueError: bad | 1.0 | 100 | - |"


@pytest.mark.slow
def test_main_exits_non_zero_when_a_lesson_fails_and_writes_a_summary(tmp_path, capsys):
    good = write_notebook(tmp_path / "01_good.ipynb", "x = 1")
    bad = write_notebook(tmp_path / "02_bad.ipynb", "raise ValueError('bad input')")
    assert main([str(good), str(bad), "--out", str(tmp_path / "run")]) == 1
    summary = (tmp_path / "run" / "summary.md").read_text()
    assert "| 01_good | ok |" in summary and "FAILED: ValueError: bad input" in summary


def test_main_refuses_a_missing_notebook(tmp_path):
    with pytest.raises(SystemExit):
        main([str(tmp_path / "nope.ipynb")])


@pytest.mark.slow
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
    code(notebook)[0].source = "print('edited')"
    nbformat.write(notebook, lesson)
    assert main([str(lesson), "--in-place", "--changed-only"]) == 0
    assert code(nbformat.read(lesson, as_version=4))[0].outputs[0]["text"] == "edited\n"


@pytest.mark.slow
def test_a_failed_run_records_no_hash(tmp_path):
    lesson = write_notebook(tmp_path / "01_broken.ipynb", "1 / 0")
    run_notebook(lesson, lesson, show_progress=False)
    assert "course_inputs_sha256" not in nbformat.read(lesson, as_version=4).metadata


def test_inputs_hash_covers_the_code_the_helpers_the_versions_and_the_smoke_flag(
    monkeypatch, tmp_path
):
    lesson = write_notebook(tmp_path / "01_demo.ipynb", "from course_utils import fit")
    notebook = nbformat.read(lesson, as_version=4)
    before = inputs_hash(notebook)
    assert inputs_hash(notebook, smoke=True) != before
    constraints = tmp_path / "constraints.txt"
    constraints.write_text(runner.CONSTRAINTS.read_text() + "extra-package==1.0\n")
    monkeypatch.setattr(runner, "CONSTRAINTS", constraints)
    assert inputs_hash(notebook) != before
    monkeypatch.undo()
    modules = tmp_path / "course_utils"
    shutil.copytree(runner.LESSON_MODULES, modules)
    monkeypatch.setattr(runner, "LESSON_MODULES", modules)
    assert inputs_hash(notebook) == before
    training = modules / "training.py"
    source = training.read_text()
    training.write_text(source + "\nEDITED = True\n")  # a line of code
    assert inputs_hash(notebook) != before


def test_inputs_hash_covers_the_scripts_the_lesson_names(monkeypatch, tmp_path):
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "train.py").write_text("print('one')\n")
    (scripts / "other.py").write_text("print('other')\n")
    monkeypatch.setattr(runner, "LESSON_SCRIPTS", scripts)
    lesson = write_notebook(tmp_path / "06_demo.ipynb", "run(scripts / 'train.py')")
    notebook = nbformat.read(lesson, as_version=4)
    before = inputs_hash(notebook)
    (scripts / "other.py").write_text("print('changed, but not run')\n")
    assert inputs_hash(notebook) == before
    (scripts / "train.py").write_text("print('two')\n")
    assert inputs_hash(notebook) != before


def test_comments_and_docstrings_of_a_helper_are_not_in_the_hash(monkeypatch, tmp_path):
    lesson = write_notebook(tmp_path / "01_demo.ipynb", "from course_utils import fit")
    notebook = nbformat.read(lesson, as_version=4)
    modules = tmp_path / "course_utils"
    shutil.copytree(runner.LESSON_MODULES, modules)
    monkeypatch.setattr(runner, "LESSON_MODULES", modules)
    before = inputs_hash(notebook)
    training = modules / "training.py"
    source = training.read_text()
    edited = source.replace('"""The training loop shared', '"""The loop shared', 1)
    edited = edited.replace(
        "    was_training = model.training\n", "    was_training = model.training  # kept\n"
    )
    assert edited.count("# kept") == 1 and "The loop shared" in edited
    training.write_text(edited + "\n\n# a comment at the end\n")
    assert inputs_hash(notebook) == before


_OPENED: list[str] | None = None


def _record_opened(event: str, args: tuple) -> None:
    if event == "open" and _OPENED is not None and isinstance(args[0], (str, Path)):
        _OPENED.append(str(args[0]))


sys.addaudithook(_record_opened)  # records only while a test sets _OPENED


def test_the_hash_reads_the_lessons_helpers_and_constraints_and_nothing_else(tmp_path):
    global _OPENED
    notebook = nbformat.read(
        write_notebook(tmp_path / "01_demo.ipynb", "from course_utils import fit"), as_version=4
    )
    _OPENED = []
    try:
        inputs_hash(notebook)
        opened = sorted(set(_OPENED))
    finally:
        _OPENED = None
    helpers = {str(path) for path in runner.lesson_modules(notebook)}
    assert str(runner.LESSON_MODULES / "training.py") in helpers
    # Not the instructor tools (runner.py, student.py...), nor any other file.
    assert set(opened) == helpers | {str(runner.CONSTRAINTS)}


def test_every_committed_lesson_is_current():
    stale = [path.name for path in LESSONS if not runner._unchanged(path, smoke=False)]
    assert stale == [], "run `make solutions` to re-execute these lessons"


def test_editing_constraints_marks_every_lesson_stale(monkeypatch, tmp_path):
    assert LESSONS
    constraints = tmp_path / "constraints.txt"
    constraints.write_text(runner.CONSTRAINTS.read_text().replace("torch==", "torch==0.0.0+", 1))
    monkeypatch.setattr(runner, "CONSTRAINTS", constraints)
    current = [path.name for path in LESSONS if runner._unchanged(path, smoke=False)]
    assert current == []


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_smoke_outputs_are_never_written_in_place(monkeypatch, tmp_path, capsys, how):
    lesson = write_notebook(tmp_path / "01_demo.ipynb", "print('ran')")
    before = lesson.read_bytes()
    argv = [str(lesson), "--in-place"]
    if how == "flag":
        argv.append("--smoke")
    else:
        monkeypatch.setenv("COURSE_SMOKE", "1")
    with pytest.raises(SystemExit):
        main(argv)
    assert "refusing to write smoke-mode outputs in place" in capsys.readouterr().err
    assert lesson.read_bytes() == before


def test_a_bad_smoke_spelling_stops_the_runner(monkeypatch, tmp_path, capsys):
    lesson = write_notebook(tmp_path / "01_demo.ipynb", "print('ran')")
    monkeypatch.setenv("COURSE_SMOKE", "yes please")
    with pytest.raises(SystemExit):
        main([str(lesson), "--out", str(tmp_path / "run")])
    assert "COURSE_SMOKE='yes please'" in capsys.readouterr().err


@pytest.mark.slow
def test_a_failed_in_place_run_clears_the_outputs_after_the_error_and_forgets_its_hash(tmp_path):
    lesson = write_notebook(
        tmp_path / "01_demo.ipynb", "print('one')", "print('two')", "print('3')"
    )
    assert main([str(lesson), "--in-place"]) == 0
    notebook = nbformat.read(lesson, as_version=4)
    assert code(notebook)[2].outputs[0]["text"] == "3\n" and HASH_KEY in notebook.metadata
    code(notebook)[1].source = "raise ValueError('broken now')"
    nbformat.write(notebook, lesson)
    assert main([str(lesson), "--in-place", "--changed-only"]) == 1
    failed = nbformat.read(lesson, as_version=4)
    assert code(failed)[0].outputs[0]["text"] == "one\n"
    assert code(failed)[2].outputs == [] and code(failed)[2].execution_count is None
    assert HASH_KEY not in failed.metadata
    code(failed)[1].source = "print('fixed')"
    nbformat.write(failed, lesson)
    assert main([str(lesson), "--in-place", "--changed-only"]) == 0  # runs again, not skipped
    assert code(nbformat.read(lesson, as_version=4))[2].outputs[0]["text"] == "3\n"


def test_an_in_place_write_that_fails_leaves_the_lesson_whole(monkeypatch, tmp_path):
    lesson = write_notebook(tmp_path / "01_demo.ipynb", "print('ran')")
    before = lesson.read_bytes()

    def disk_full(notebook, out, **kwargs):
        out.write('{"cells": [')  # half a notebook, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(runner.nbformat, "write", disk_full)
    with pytest.raises(OSError, match="No space left"):
        run_notebook(lesson, lesson, show_progress=False)
    assert lesson.read_bytes() == before
    assert [path.name for path in tmp_path.iterdir()] == ["01_demo.ipynb"]  # no temporary file


@pytest.mark.slow
def test_cells_have_a_time_limit_by_default(tmp_path, monkeypatch):
    assert DEFAULT_CELL_TIMEOUT and DEFAULT_CELL_TIMEOUT <= 3600
    seen = {}
    real_run = runner.run_notebook

    def spy(source, output, **kwargs):
        seen["timeout"] = kwargs["timeout"]
        return real_run(source, output, **kwargs)

    monkeypatch.setattr(runner, "run_notebook", spy)
    lesson = write_notebook(tmp_path / "01_demo.ipynb", "x = 1")
    assert main([str(lesson), "--out", str(tmp_path / "run")]) == 0
    assert seen["timeout"] == DEFAULT_CELL_TIMEOUT


@pytest.mark.slow
def test_an_endless_cell_is_stopped_by_the_timeout(tmp_path):
    lesson = write_notebook(
        tmp_path / "01_endless.ipynb", "while True:\n    pass", "print('after')"
    )
    assert main([str(lesson), "--out", str(tmp_path / "run"), "--timeout", "3"]) == 1
    summary = (tmp_path / "run" / "summary.md").read_text()
    assert "| 01_endless | FAILED:" in summary


@pytest.mark.slow
def test_an_unreadable_notebook_is_named_and_the_run_goes_on(tmp_path, capsys):
    broken = tmp_path / "01_broken.ipynb"
    broken.write_text('{"cells": [')
    good = write_notebook(tmp_path / "02_good.ipynb", "print('fine')")
    assert main([str(broken), str(good), "--out", str(tmp_path / "run")]) == 1
    assert f"cannot read {broken}" in capsys.readouterr().err
    summary = (tmp_path / "run" / "summary.md").read_text()
    assert "| 01_broken | FAILED: cannot read" in summary and "| 02_good | ok |" in summary
    assert (tmp_path / "run" / "02_good.ipynb").exists()


@pytest.mark.slow
def test_progress_bars_and_widget_state_are_not_saved(tmp_path):
    lesson = write_notebook(
        tmp_path / "01_bars.ipynb",
        "from tqdm.auto import tqdm\nfor step in tqdm(range(3), desc='Training'):\n    pass\n"
        "print('trained')",
    )
    assert main([str(lesson), "--out", str(tmp_path / "run")]) == 0
    executed = nbformat.read(tmp_path / "run" / "01_bars.ipynb", as_version=4)
    assert code(executed)[0].outputs == [
        nbformat.v4.new_output("stream", name="stdout", text="trained\n")
    ]
    assert "widgets" not in executed.metadata


def test_a_lesson_hashes_only_the_helpers_it_runs(monkeypatch, tmp_path):
    modules = tmp_path / "course_utils"
    shutil.copytree(runner.LESSON_MODULES, modules, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(runner, "LESSON_MODULES", modules)
    settings_only = nbformat.read(
        write_notebook(tmp_path / "01_a.ipynb", "from course_utils.settings import smoke_mode"),
        as_version=4,
    )
    plots = nbformat.read(
        write_notebook(tmp_path / "02_b.ipynb", "import torch\nimport course_utils.plotting"),
        as_version=4,
    )
    # Any import runs the package's __init__, which imports nothing until a name is used.
    assert [path.stem for path in runner.lesson_modules(settings_only)] == ["__init__", "settings"]
    assert "plotting" in {path.stem for path in runner.lesson_modules(plots)}
    before = inputs_hash(settings_only), inputs_hash(plots)
    (modules / "plotting.py").write_text(
        (modules / "plotting.py").read_text() + "\nEDITED = True\n"
    )
    assert inputs_hash(settings_only) == before[0]  # it never runs plotting.py
    assert inputs_hash(plots) != before[1]
    (modules / "settings.py").write_text(
        (modules / "settings.py").read_text() + "\nEDITED = True\n"
    )
    assert inputs_hash(settings_only) != before[0]


def test_a_lesson_runs_its_own_checks_module_and_no_other_lessons(monkeypatch, tmp_path):
    modules = tmp_path / "course_utils"
    shutil.copytree(runner.LESSON_MODULES, modules, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(runner, "LESSON_MODULES", modules)
    lessons = {
        number: nbformat.read(
            write_notebook(
                tmp_path / f"{number}_x.ipynb",
                f"from course_utils.checks.lesson{number} import check_exercise",
            ),
            as_version=4,
        )
        for number in ("01", "03")
    }
    ran = {
        number: {str(path.relative_to(modules)) for path in runner.lesson_modules(notebook)}
        for number, notebook in lessons.items()
    }
    # A submodule runs its package's __init__ and what its relative imports name
    # (lesson03.py: from ..training import evaluate; from . import ...).
    assert {"__init__.py", "checks/__init__.py", "checks/lesson03.py", "training.py"} <= ran["03"]
    assert "checks/lesson03.py" not in ran["01"] and "settings.py" in ran["01"]
    before = {number: inputs_hash(notebook) for number, notebook in lessons.items()}
    edited = modules / "checks" / "lesson03.py"
    edited.write_text(edited.read_text() + "\nEDITED = True\n")
    assert inputs_hash(lessons["01"]) == before["01"]
    assert inputs_hash(lessons["03"]) != before["03"]
    shared = modules / "checks" / "__init__.py"
    shared.write_text(shared.read_text() + "\nEDITED = True\n")
    assert inputs_hash(lessons["01"]) != before["01"]


def test_a_cell_that_is_not_plain_python_counts_as_importing_everything(tmp_path):
    lesson = write_notebook(tmp_path / "01_magic.ipynb", "%timeit 1 + 1")
    modules = runner.lesson_modules(nbformat.read(lesson, as_version=4))
    every_module = set(runner.LESSON_MODULES.rglob("*.py"))
    assert set(modules) == every_module
    assert runner.LESSON_MODULES / "checks" / "lesson05.py" in every_module


def test_a_new_helper_module_leaves_the_lessons_that_do_not_import_it_current(
    monkeypatch, tmp_path
):
    modules = tmp_path / "course_utils"
    shutil.copytree(runner.LESSON_MODULES, modules, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(runner, "LESSON_MODULES", modules)
    (modules / "brand_new.py").write_text("VALUE = 1\n")
    current = [path.name for path in LESSONS if runner._unchanged(path, smoke=False)]
    assert current == [path.name for path in LESSONS]


def test_importing_the_package_loads_no_helper_module():
    code = (
        "import sys, course_utils, course_utils.settings\n"
        "print(sorted(m for m in sys.modules if m.startswith('course_utils')))\n"
        "from course_utils import accuracy\n"
        "print(sorted(m for m in sys.modules if m.startswith('course_utils')))"
    )
    lines = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout.splitlines()
    assert lines == [
        "['course_utils', 'course_utils.settings']",
        "['course_utils', 'course_utils.metrics', 'course_utils.settings']",
    ]


def test_every_name_the_package_offers_comes_from_the_module_it_names():
    import importlib

    import course_utils

    assert course_utils.__all__ == sorted(course_utils.DEFINED_IN)
    for name, module in course_utils.DEFINED_IN.items():
        defined = getattr(importlib.import_module(f"course_utils.{module}"), name)
        assert getattr(course_utils, name) is defined
        assert defined.__module__ == f"course_utils.{module}", name
    with pytest.raises(AttributeError, match="no attribute 'fitt'"):
        course_utils.fitt  # noqa: B018


@pytest.mark.parametrize(
    "source, expected",
    [
        ("from course_utils import fit", {"training", "device", "metrics"}),
        ("from course_utils import accuracy", {"metrics"}),
        ("import course_utils\ncourse_utils.to_device", {"training", "device", "metrics"}),
        ("from course_utils import *", {"training", "device", "metrics"}),
        ("from course_utils.plotting import *", {"plotting"}),
    ],
)
def test_a_name_imported_from_the_package_runs_its_module(tmp_path, source, expected):
    notebook = nbformat.read(write_notebook(tmp_path / "01_x.ipynb", source), as_version=4)
    ran = {path.stem for path in runner.lesson_modules(notebook)} - {"__init__"}
    assert expected <= ran
    assert "data" not in ran and "checkpoint" not in ran


def lessons_whose_hash_changes(monkeypatch, tmp_path, edit) -> list[str]:
    """The committed lessons whose inputs hash ``edit(copy of course_utils)`` changes."""
    modules = tmp_path / "course_utils"
    shutil.copytree(runner.LESSON_MODULES, modules, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(runner, "LESSON_MODULES", modules)
    notebooks = {path.stem: nbformat.read(path, as_version=4) for path in LESSONS}
    before = {name: inputs_hash(notebook) for name, notebook in notebooks.items()}
    edit(modules)
    return sorted(name for name, nb in notebooks.items() if inputs_hash(nb) != before[name])


def test_a_docstring_edit_in_training_re_runs_no_lesson(monkeypatch, tmp_path):
    def edit(modules):
        training = modules / "training.py"
        source = training.read_text()
        edited = source.replace('"""Train ``model``', '"""Train the model ``model``', 1)
        assert edited != source
        training.write_text(edited)

    assert lessons_whose_hash_changes(monkeypatch, tmp_path, edit) == []


def test_a_code_edit_in_training_re_runs_only_the_lessons_that_train(monkeypatch, tmp_path):
    def edit(modules):
        training = modules / "training.py"
        training.write_text(training.read_text() + "\nEDITED = True\n")

    changed = lessons_whose_hash_changes(monkeypatch, tmp_path, edit)
    assert changed == [
        "03_hidden_layers_relu",
        "04_gpu_training",
        "05_cifar10_cnn",
        "06_distributed_training",
        "07_troubleshooting",  # its section on a nan loss runs fit
    ]


def test_peak_memory_counts_the_processes_a_lesson_starts_and_reads_pss_rarely():
    # A child that starts a grandchild holding 200 MB for two seconds.
    grandchild = "b = bytearray(200 * 2**20); import time; time.sleep(2)"
    child = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {grandchild!r}])"
    with PeakMemory(interval=0.02) as memory:
        process = subprocess.Popen([sys.executable, "-c", child])
        process.wait(timeout=60)
        time.sleep(0.1)
    assert memory.peak_bytes > 200 * 2**20
    assert memory.samples > 50
    # PSS is read while memory climbs to a new high, not on every sample.
    assert memory.pss_readings < memory.samples / 4


@pytest.mark.slow
def test_the_kernel_does_not_warn_about_an_unencrypted_connection(tmp_path, capfd):
    source = write_notebook(tmp_path / "01_demo.ipynb", "print('hello')")
    run = run_notebook(source, tmp_path / "out.ipynb", show_progress=False)
    assert run.ok
    assert run.runner_cpu_seconds > 0
    err = capfd.readouterr().err
    assert "without encryption" not in err


# --- the "last verified" stamp --------------------------------------------------------


def stamps(notebook):
    return [cell for cell in notebook.cells if runner.STAMP_TAG in cell.metadata.get("tags", [])]


@pytest.mark.slow
def test_a_lesson_that_runs_to_the_end_is_stamped_under_its_title_and_its_twin_too(tmp_path):
    lesson = write_notebook(tmp_path / "01_demo.ipynb", "print('ran')")
    lesson.with_suffix(".py").write_text(jupytext.writes(nbformat.read(lesson, 4), "py:percent"))
    assert main([str(lesson), "--in-place"]) == 0
    notebook = nbformat.read(lesson, as_version=4)
    (cell,) = stamps(notebook)
    assert notebook.cells.index(cell) == 1 and notebook.cells[0].source == "# A lesson"
    facts = notebook.metadata[runner.STAMP_KEY]
    assert facts["date"] == datetime.date.today().isoformat() and facts["smoke"] is False
    assert facts["torch"] == torch.__version__ and facts["device"].startswith("CPU (")
    assert facts["peak_mb"] > 10 and facts["seconds"] > 0
    assert cell.source == runner.stamp_text(facts)
    assert f"PyTorch {torch.__version__} on CPU (" in cell.source
    twin = jupytext.read(lesson.with_suffix(".py"))
    assert [c.source for c in twin.cells] == [c.source for c in notebook.cells]
    assert runner._is_current(notebook, smoke=False)  # the stamp is not an input
    assert main([str(lesson), "--in-place"]) == 0  # a second run replaces it: still one
    assert len(stamps(nbformat.read(lesson, as_version=4))) == 1
    assert len(stamps(jupytext.read(lesson.with_suffix(".py")))) == 1


@pytest.mark.slow
def test_a_failed_run_keeps_no_stamp(tmp_path):
    lesson = write_notebook(tmp_path / "01_demo.ipynb", "x = 1")
    assert main([str(lesson), "--in-place"]) == 0
    notebook = nbformat.read(lesson, as_version=4)
    code(notebook)[0].source = "1 / 0"
    nbformat.write(notebook, lesson)
    assert main([str(lesson), "--in-place"]) == 1
    failed = nbformat.read(lesson, as_version=4)
    assert stamps(failed) == [] and runner.STAMP_KEY not in failed.metadata


def test_a_smoke_run_says_so_in_its_stamp():
    facts = {"date": "2026-12-02", "torch": "2.9.1", "device": "Apple GPU (MPS)"}
    facts.update(seconds=12.34, peak_mb=812, smoke=True)
    text = runner.stamp_text(facts)
    assert all(line.startswith("> ") and len(line) <= 90 for line in text.splitlines())
    assert " ".join(line.removeprefix("> ") for line in text.splitlines()).startswith(
        "**Last verified** 2026-12-02 in smoke mode (a quick, reduced run): PyTorch 2.9.1 on "
        "Apple GPU (MPS); the whole lesson ran in 12 s with a peak memory of 812 MB."
    )


def test_the_device_probe_names_the_device_the_lessons_use():
    facts = runner.machine_facts()
    assert facts["torch"] == torch.__version__
    assert facts["device"] == f"CPU ({cpu_name()}, {torch.get_num_threads()} threads)"


@pytest.mark.parametrize("lesson", LESSONS, ids=[path.stem for path in LESSONS])
def test_every_committed_lesson_carries_the_stamp_of_its_full_size_run(lesson):
    notebook = nbformat.read(lesson, as_version=4)
    (cell,) = stamps(notebook)
    facts = notebook.metadata[runner.STAMP_KEY]
    assert notebook.cells.index(cell) == 1 and cell.source == runner.stamp_text(facts)
    assert facts["smoke"] is False


def scripted_sums(monkeypatch, steps):
    """Replace the runner's sums of the children's memory with scripted ones: ``steps`` of
    (RSS sum, PSS sum, RSS sum right after a PSS reading), in MiB, one step per sample (the
    last repeats). Returns a dict counting the samples taken."""
    taken = {"samples": 0, "last": None}

    def scripted(children, measure):
        step = steps[min(max(taken["samples"] - 1, 0), len(steps) - 1)]
        if measure is runner._pss:
            taken["last"] = "pss"
            return step[1] * 2**20
        if taken["last"] == "pss":  # the sum right after a PSS reading
            taken["last"] = "after"
            return step[2] * 2**20
        taken["samples"] += 1
        taken["last"] = "rss"
        return steps[min(taken["samples"] - 1, len(steps) - 1)][0] * 2**20

    monkeypatch.setattr(runner, "_summed", scripted)
    return taken


def sample(steps, monkeypatch):
    taken = scripted_sums(monkeypatch, steps)
    with PeakMemory(interval=0.001) as memory:
        deadline = time.monotonic() + 10  # a guard only: the test waits on the samples
        while taken["samples"] < 3 * len(steps) and time.monotonic() < deadline:
            time.sleep(0.01)
    return memory


@pytest.mark.parametrize(
    "steps",
    [
        # A child forked from the runner shows the runner's 400 MiB of RSS while its PSS,
        # read an instant later, is the exec'd kernel's 2 MiB; the next sample finds the
        # kernel small, and it grows to 80 MiB.
        [(400, 2, 400), (10, 10, 10), (20, 20, 20), (40, 40, 40), (80, 80, 80)],
        # The same, but the RSS summed right after the reading already shows the exec'd
        # kernel (250 MiB, past half of 400): only that sum lets the growth be read.
        [(400, 2, 250), (250, 250, 250), (300, 300, 300), (350, 350, 350), (390, 390, 390)],
    ],
)
def test_peak_memory_follows_a_kernel_launched_after_a_large_instant_between_fork_and_exec(
    monkeypatch, steps
):
    assert sample(steps, monkeypatch).peak_bytes == steps[-1][1] * 2**20


def test_peak_memory_reads_pss_again_only_on_a_new_climb(monkeypatch):
    # Climbs of more than 1%, then dips of under half and returns: the dips read nothing.
    rss = [100, 110, 120, 118, 120, 119, 120, 118, 120]
    memory = sample([(r, r - 5, r) for r in rss], monkeypatch)
    assert memory.peak_bytes == 115 * 2**20
    assert memory.pss_readings == 3  # at 100, 110 and 120
