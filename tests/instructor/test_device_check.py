"""instructor.device_check: the table of a GPU run, and its smoke form on this CPU."""

import nbformat
import pytest
from conftest import NOTEBOOKS

from instructor.device_check import DEVICE_CELL, format_device_table, main, with_device_cell
from instructor.runner import LessonRun


def test_the_device_cell_goes_to_the_copy_only():
    lesson = nbformat.read(NOTEBOOKS / "01_tensors.ipynb", as_version=4)
    cells = len(lesson.cells)
    copy = with_device_cell(lesson)
    assert len(lesson.cells) == cells and len(copy.cells) == cells + 1
    assert copy.cells[-1].source == DEVICE_CELL


def test_the_table_names_the_device_and_its_peak_memory():
    results = [
        {"name": "device name", "value": "NVIDIA H200", "unit": ""},
        {"name": "peak device memory (MB)", "value": 1234, "unit": ""},
        {"name": "PyTorch", "value": "2.14.1", "unit": ""},
        {"name": "test accuracy", "value": 0.93, "unit": ""},
    ]
    runs = [
        LessonRun("05_cifar10_cnn", True, 61.25, 2100.0, results),
        LessonRun("06_distributed_training", False, 3.0, 900.0, error="ValueError: two GPUs"),
    ]
    table = format_device_table(runs, smoke=False).splitlines()
    assert table[0].startswith("Device: NVIDIA H200; PyTorch 2.14.1; full size; ")
    assert table[4] == "| 05_cifar10_cnn | ok | 61.2 | 2100 | 1234 | test accuracy = 0.93 |"
    assert (
        table[5] == "| 06_distributed_training | FAILED: ValueError: two GPUs | 3.0 | 900 | - | - |"
    )


@pytest.mark.slow
def test_the_smoke_form_runs_a_lesson_on_this_cpu(tmp_path):
    # CI has no GPU: the smoke form keeps the command working on the CPU.
    status = main(["--smoke", "--out", str(tmp_path), str(NOTEBOOKS / "01_tensors.ipynb")])
    table = (tmp_path / "RESULTS.md").read_text()
    assert status == 0, table
    assert table.startswith("Device: CPU (") and "smoke mode" in table.splitlines()[0]
    assert "| 01_tensors | ok |" in table
    assert (tmp_path / "01_tensors.ipynb").exists()
