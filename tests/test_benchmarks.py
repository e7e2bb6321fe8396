"""The benchmark scripts run end to end in their smoke mode and print their figures.

They read the real datasets from COURSE_DATA_DIR, like the notebooks under nbval.
"""

import ast
import importlib
import inspect
import os
import re
import subprocess
import sys

import pytest
import torch
from conftest import ROOT

from course_utils.fastnet import FastNet


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


def find_call(tree: ast.AST, function: str, keyword: str | None = None) -> ast.Call:
    """The one call of ``function`` in a parsed file (with ``keyword``, if given)."""
    calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", None) == function
        and (keyword is None or any(k.arg == keyword for k in node.keywords))
    ]
    assert len(calls) == 1, f"expected one call of {function}, got {len(calls)}"
    return calls[0]


def keyword_values(call: ast.Call, constants: dict | None = None) -> dict:
    """The call's keyword arguments whose values are literals, or names that ``constants``
    (see ``module_constants``) binds to one."""
    values = {}
    for keyword in call.keywords:
        if isinstance(keyword.value, ast.Name) and keyword.value.id in (constants or {}):
            values[keyword.arg] = constants[keyword.value.id]
            continue
        try:
            values[keyword.arg] = ast.literal_eval(keyword.value)
        except ValueError:  # a name or an expression
            continue
    return values


def module_constants(tree: ast.Module) -> dict:
    """The module-level names bound to a literal, such as ``peak_rate = 0.01``."""
    constants = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            try:
                constants[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:  # not a literal
                continue
    return constants


def value_of(node: ast.expr, constants: dict):
    """A literal's value, or the value of a module-level name bound to one."""
    return constants[node.id] if isinstance(node, ast.Name) else ast.literal_eval(node)


def test_the_benchmarks_lesson_recipe_trains_as_lesson_05_trains_resnet9():
    lesson = ast.parse((ROOT / "notebooks" / "05_cifar10_cnn.py").read_text())
    constants = module_constants(lesson)
    (ladder,) = [node for node in lesson.body if getattr(node, "name", "") == "train_small_resnet"]
    in_ladder = {id(node) for node in ast.walk(ladder)}
    lesson_calls = [
        node
        for node in ast.walk(lesson)
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", None) == "fit_one_cycle"
        and id(node) not in in_ladder
    ]
    tree = ast.parse((ROOT / "benchmarks" / "cifar10_cpu.py").read_text())
    (train_lesson,) = [node for node in tree.body if getattr(node, "name", "") == "train_lesson"]
    benchmark = find_call(train_lesson, "fit_one_cycle")
    assert len(lesson_calls) == 2  # section 7's run and exercise 2's
    for call in lesson_calls:
        # the peak learning rate, written as a number or as a name bound to one
        assert value_of(call.args[1], constants) == ast.literal_eval(benchmark.args[1])
        # the recipe's keywords; `verbose` only says which runs print their epochs
        recipe = [ast.dump(k) for k in call.keywords if k.arg != "verbose"]
        assert recipe == [ast.dump(k) for k in benchmark.keywords]
    # Section 6 adds the recipe's ingredients one at a time, up to the full recipe (then
    # takes batch norm away from it).
    (ladder_call,) = [
        node
        for node in ast.walk(ladder)
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "fit_one_cycle"
    ]
    assert value_of(ladder_call.args[1], constants) == ast.literal_eval(benchmark.args[1])
    (runs,) = [
        node.value
        for node in lesson.body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "recipe_runs"
    ]
    names = [key.value if isinstance(key, ast.Constant) else None for key in runs.keys]
    full_recipe = keyword_values(runs.values[names.index("one-cycle, weight decay, clipping")])
    assert full_recipe == {
        k.arg: ast.literal_eval(k.value) for k in benchmark.keywords if k.arg != "opt_func"
    }


def test_lesson_05_trains_no_fastnet_and_states_the_benchmarks_fast_recipe(monkeypatch):
    """Lesson 05 trains section 6's ResNet-9 on every device; Appendix A shows FastNet's
    ideas on an untrained copy and states the benchmark's settings, so what it says of the
    benchmark's recipe must be what the benchmark runs."""
    tree = ast.parse((ROOT / "notebooks" / "05_cifar10_cnn.py").read_text())
    benchmark = load_benchmark("cifar10_cpu")
    monkeypatch.setattr(sys, "argv", ["cifar10_cpu.py"])
    defaults = benchmark.parse_args()
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)]
    assert not [call for call in calls if getattr(call.func, "id", None) == "fit_fast"], (
        "lesson 05 trains no FastNet: Appendix A states the benchmark's settings instead"
    )
    # Every FastNet the lesson builds smooths its labels as the benchmark's does: with
    # FastNet's default unless the call says otherwise.
    fastnet_calls = [call for call in calls if getattr(call.func, "id", None) == "FastNet"]
    assert fastnet_calls, "Appendix A builds an untrained FastNet"
    default = inspect.signature(FastNet).parameters["label_smoothing"].default
    for call in fastnet_calls:
        resolved = keyword_values(call, module_constants(tree))
        # A label_smoothing the test cannot read as a value must not pass as the default.
        assert "label_smoothing" in resolved or all(
            k.arg != "label_smoothing" for k in call.keywords
        )
        smoothing = resolved.get("label_smoothing", default)
        assert smoothing == defaults.label_smoothing
    # Appendix A states the benchmark's settings (its text as one line, comment marks gone).
    source = (ROOT / "notebooks" / "05_cifar10_cnn.py").read_text()
    appendix = source[source.index("# ## Appendix A") : source.index("# ## Appendix B")]
    text = " ".join(line.removeprefix("#").strip() for line in appendix.splitlines())
    momentum = inspect.signature(benchmark.fit_fast).parameters["momentum"].default
    decay = f"{defaults.weight_decay:.0e}".replace("e-0", "e-")  # 5e-4, as the lesson writes it
    benchmark_tree = ast.parse((ROOT / "benchmarks" / "cifar10_cpu.py").read_text())
    (train_fast,) = [
        node for node in benchmark_tree.body if getattr(node, "name", "") == "train_fast"
    ]
    augmentation = keyword_values(find_call(train_fast, "batch_transform", "crop_padding"))
    assert augmentation["flip"] is True
    for phrase in (
        f"peak learning rate of {defaults.lr}",
        f"`warm_up={defaults.warm_up}`",
        f"momentum {momentum}",
        f"weight decay {decay}",
        f"*label smoothing* at {defaults.label_smoothing}",
        f"batches of {defaults.batch_size}",
        f"padding by {augmentation['crop_padding']} pixels",
        f"trained `FastNet` for {defaults.epochs} epochs with these settings",
    ):
        # A whole figure: "momentum 0.9" must not pass for "momentum 0.95".
        found = re.search(re.escape(phrase) + r"(?![\d.]\d)", text)
        assert found, f"Appendix A should say {phrase!r}, as the benchmark runs"


def test_lesson_05_validates_on_the_images_the_benchmark_held_out():
    # Lesson 05 takes the first 5,000 of a shuffle seeded 0 for validation; the benchmark,
    # whose validation runs chose FastNet's settings, must hold out those very images.
    benchmark = load_benchmark("cifar10_cpu")
    count = 50_000
    data = {"train_images": torch.arange(count), "train_labels": torch.zeros(count)}
    held_out = benchmark.split_data(data, "val")["eval_images"]
    lesson = torch.randperm(count, generator=torch.Generator().manual_seed(0))[:5_000]
    assert torch.equal(held_out, lesson)
    lesson_text = (ROOT / "notebooks" / "05_cifar10_cnn.py").read_text()
    assert "torch.randperm(len(train_folder), generator=torch.Generator().manual_seed(0))" in (
        lesson_text
    )
    assert "val_indices = shuffled[:val_size]" in lesson_text
