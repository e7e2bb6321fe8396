"""The benchmark scripts run end to end in their smoke mode and print their figures.

They read the real datasets from COURSE_DATA_DIR, like the notebooks under nbval.
"""

import ast
import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from course_utils import ImageClassificationBase

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


@pytest.mark.slow
def test_cifar10_cpu_benchmark_prints_both_recipes_side_by_side():
    output = run_script("benchmarks/cifar10_cpu.py", "--smoke", "--threads", "1")
    assert re.search(r"^torch \S+, 1 threads$", output, re.MULTILINE)
    assert re.search(r"^data decoded and split: [\d.]+ s \(not timed\)$", output, re.MULTILINE)
    for recipe in ("fast", "lesson"):
        assert re.search(
            rf"^{recipe} +1 +[\d.]+ +[\d.]+ +[\d.]+ +(never|[\d.]+ s)$", output, re.MULTILINE
        ), output[-1500:]
    assert output.strip().splitlines()[-1] == "budget: 300 s of training (TTA included)"


def load_benchmark(name: str):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))


def lesson_namespace(script: str, names: set[str]) -> dict:
    """Execute only the named top-level definitions of a lesson's .py twin."""
    tree = ast.parse((ROOT / "notebooks" / script).read_text())
    keep = [
        node
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name in names
    ]
    namespace = {"torch": torch, "nn": nn, "ImageClassificationBase": ImageClassificationBase}
    exec(compile(ast.Module(body=keep, type_ignores=[]), script, "exec"), namespace)
    return namespace


def test_the_benchmarks_lesson_recipe_is_lesson_05s_resnet9():
    lesson = lesson_namespace("05_cifar10_cnn.py", {"conv_block", "ResidualBlock", "ResNet9"})
    benchmark = load_benchmark("cifar10_cpu")
    ours, theirs = benchmark.LessonResNet9(16), lesson["ResNet9"](16)
    assert repr(ours.layers) == repr(theirs.layers)  # the class names differ on purpose
    assert [p.shape for p in ours.parameters()] == [p.shape for p in theirs.parameters()]


def test_patch_whitening_gives_uncorrelated_unit_variance_features():
    benchmark = load_benchmark("cifar10_cpu")
    generator = torch.Generator().manual_seed(0)
    mixing = torch.randn(3, 3, generator=generator)
    # Correlated colour channels, and neighbouring pixels alike: far from white.
    images = torch.einsum("ij,njhw->nihw", mixing, torch.randn(256, 3, 32, 32, generator=generator))
    images = images + images.roll(1, dims=-1)
    model = benchmark.FastNet((8, 8, 8))
    model.whiten_from(images, eps=0.0)
    with torch.no_grad():
        features = model.whiten(images)[:, :12].permute(1, 0, 2, 3).reshape(12, -1)
    covariance = torch.cov(features)
    assert torch.allclose(covariance, torch.eye(12), atol=0.05)
    assert not model.whiten.weight.requires_grad
