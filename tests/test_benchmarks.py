"""The benchmark scripts run end to end in their smoke mode and print their figures.

They read the real datasets from COURSE_DATA_DIR, like the notebooks under nbval.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_script(*arguments: str) -> str:
    environment = {**os.environ, "TQDM_DISABLE": "1"}
    completed = subprocess.run(
        [sys.executable, *arguments],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    return completed.stdout


@pytest.mark.slow
def test_mnist_pipeline_benchmark_prints_its_figures():
    output = run_script("benchmarks/mnist_pipeline.py", "--smoke")
    lines = output.strip().splitlines()
    assert re.fullmatch(r"ratio: \d+(\.\d+)?", lines[-1]), lines[-1]
    assert re.search(r"^time_to_98: (never|\d+\.\d)$", output, re.MULTILINE)
    assert re.search(
        r"^classic: [\d.]+ s per epoch \(median\), test accuracy 0\.\d{4}$", output, re.MULTILINE
    )
    assert re.search(
        r"^course: [\d.]+ s per epoch \(median\), test accuracy 0\.\d{4}$", output, re.MULTILINE
    )


@pytest.mark.slow
def test_cifar10_speedrun_smoke_run_prints_per_epoch_figures_and_time_to_94():
    output = run_script("benchmarks/cifar10_speedrun.py", "--smoke", "--seeds", "2")
    lines = output.strip().splitlines()
    assert re.fullmatch(r"time_to_94: (never|\d+\.\d\d)", lines[-1]), lines[-1]
    assert re.search(
        r"^process start and data on the device: [\d.]+ s \(not timed\)$", output, re.MULTILINE
    )
    epochs = re.findall(
        r"epoch  1: test accuracy (0\.\d{4}|1\.0000) \(flip-averaged\), elapsed [\d.]+ s", output
    )
    assert len(epochs) == 2  # one line per seed
    assert re.search(r"^mean over 2 seeds: accuracy [\d.]+, time [\d.]+ s$", output, re.MULTILINE)


def test_cifar10_speedrun_stays_short_enough_to_read():
    """One readable file: at most 250 lines of code (blank and comment lines not counted),
    as `ruff format` lays it out."""
    lines = (ROOT / "benchmarks" / "cifar10_speedrun.py").read_text().splitlines()
    code = [line for line in lines if line.strip() and not line.strip().startswith("#")]
    assert len(code) <= 250
