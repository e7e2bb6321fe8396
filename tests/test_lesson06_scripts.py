"""Lesson 06's torchrun scripts keep the model and every batch on their process group's device.

The scripts are files in notebooks/scripts/, which the lesson shows and runs.

With NCCL a process group carries only GPU tensors, on GPU number LOCAL_RANK. This machine
has no GPU, so the scripts run in this process against a stand-in: ``process_group`` yields
a group whose device is ``meta`` (tensors with shapes and no data, which autograd and the
optimizer handle), DDP and the collective calls are replaced by recorders, and a dispatch
mode fails any operation that mixes the group's device with the CPU. A script that left the
model or a batch on the CPU fails here as it would fail on a GPU.
"""

import ast
import contextlib
import json
import re
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import torch.distributed as dist
from conftest import NOTEBOOKS
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

import course_utils.distributed as distributed
from course_utils.distributed import GroupInfo
from course_utils.scaling import read_comm_cost

SCRIPTS = NOTEBOOKS / "scripts"
LESSON = NOTEBOOKS / "06_distributed_training.py"
STAND_IN = torch.device("meta")


def lesson_script(name: str) -> str:
    """The text of the lesson's script ``name`` (a file in notebooks/scripts/)."""
    return (SCRIPTS / name).read_text()


def test_the_lesson_shows_and_runs_every_script():
    lesson = LESSON.read_text()
    for script in sorted(SCRIPTS.glob("*.py")):
        shown = f'Code(filename=str(scripts / "{script.name}"), language="python")'
        assert shown in lesson, f"the lesson does not show {script.name}"
        assert f'run_torchrun(\n    scripts / "{script.name}"' in lesson or (
            f'run_torchrun(scripts / "{script.name}"' in lesson
        ), f"the lesson does not run {script.name}"


def test_the_lesson_names_only_arms_the_timing_script_trains():
    # The lesson reads arms.json by these names; a name the script does not train would
    # surface only as a KeyError, minutes into the lesson's run.
    trained = set(ast.literal_eval(_assigned(lesson_script("compare_arms.py"), "ARMS")))
    lesson = LESSON.read_text()
    named = re.findall(
        r"^(?:ONE_THREAD|TWO_THREADS|TWO_PROCESSES) = (.+?)(?:  #|$)", lesson, flags=re.MULTILINE
    )
    assert len(named) == 3, "the lesson's arm-name assignments moved: update this test"
    names = [ast.literal_eval(value) for value in named]
    assert len(set(names)) == 3 and set(names) == trained, (names, trained)


def _assigned(source: str, variable: str) -> str:
    """The literal assigned to ``variable`` at the top level of ``source``."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and [t.id for t in node.targets if hasattr(t, "id")] == [
            variable
        ]:
            return ast.get_source_segment(source, node.value)
    raise AssertionError(f"{variable} is not assigned at the top level")


class _Stop(Exception):
    """Raised by the first all-reduce of values the script would then read."""


class _NoDeviceMix(TorchDispatchMode):
    """Fails every operation whose tensors sit on more than one device.

    As on a GPU, a 0-dimensional CPU tensor may join a pointwise operation (it is used as a
    number), but not, for example, a ``torch.stack`` with GPU tensors.
    """

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        pointwise = torch.Tag.pointwise in func.tags
        devices = {
            leaf.device
            for leaf in tree_leaves((args, kwargs or {}))
            if isinstance(leaf, torch.Tensor)
            and not (pointwise and leaf.device.type == "cpu" and leaf.ndim == 0)
        }
        if len(devices) > 1:
            raise RuntimeError(f"{func} mixes devices {sorted(map(str, devices))}")
        return func(*args, **(kwargs or {}))


class _RecordingDDP(nn.Module):
    """Stands in for DistributedDataParallel: records where the wrapped model lives, and
    the process group it was given (None: the default group of all processes)."""

    wrapped: list = []
    groups: list = []

    def __init__(self, module: nn.Module, device_ids=None, **options):
        super().__init__()
        self.module = module
        _RecordingDDP.wrapped.append(({p.device for p in module.parameters()}, device_ids))
        _RecordingDDP.groups.append(options.get("process_group"))

    def forward(self, *inputs):
        return self.module(*inputs)

    @contextlib.contextmanager
    def no_sync(self):
        yield

    def register_comm_hook(self, state, hook):
        pass


def run_on_stand_in(
    script: str,
    argv: list[str],
    monkeypatch,
    backend: str = "nccl",
    device=STAND_IN,
    let_through: int = 0,
) -> dict:
    """Run ``script`` as rank 0 of 1 in a fake group; return what the recorders saw.

    The group's device is the stand-in for a GPU (NCCL), or the CPU (gloo). The first
    ``let_through`` all-reduces on the group's device return (leaving the tensor as it
    was) for a script that reads their results only at the end; the next one stops it.
    """
    seen = {"all_reduce": [], "barrier": 0}

    @contextlib.contextmanager
    def fake_group(*args, **kwargs):
        yield GroupInfo(0, 1, 0, backend, device)

    def all_reduce(tensor, op=None, **kwargs):
        seen["all_reduce"].append(tensor.device)
        if tensor.device == device and len(seen["all_reduce"]) <= let_through:
            return
        if tensor.device == device:
            raise _Stop  # its values would be read next (and the stand-in has none)
        raise RuntimeError(f"all_reduce of a {tensor.device} tensor in a group on {device}")

    def barrier(*args, **kwargs):
        seen["barrier"] += 1

    _RecordingDDP.wrapped = []
    monkeypatch.setattr(distributed, "process_group", fake_group)
    monkeypatch.setattr(torch.nn.parallel, "DistributedDataParallel", _RecordingDDP)
    monkeypatch.setattr(dist, "all_reduce", all_reduce)
    monkeypatch.setattr(dist, "barrier", barrier)
    monkeypatch.setattr(sys, "argv", ["script.py", *argv])
    with pytest.raises(_Stop), _NoDeviceMix():
        exec(compile(script, "script.py", "exec"), {"__name__": "__main__"})
    seen["ddp"] = _RecordingDDP.wrapped
    return seen


@pytest.fixture
def mnist_like(tmp_path) -> Path:
    generator = torch.Generator().manual_seed(0)
    path = tmp_path / "data.pt"
    torch.save(
        {
            "train_images": torch.randint(0, 256, (256, 1, 28, 28), dtype=torch.uint8),
            "train_labels": torch.randint(0, 10, (256,), generator=generator),
            "val_images": torch.randint(0, 256, (64, 1, 28, 28), dtype=torch.uint8),
            "val_labels": torch.randint(0, 10, (64,), generator=generator),
        },
        path,
    )
    return path


def test_the_training_script_keeps_model_batches_and_sums_on_the_group_device(
    mnist_like, tmp_path, monkeypatch
):
    argv = ["--data", str(mnist_like), "--out", str(tmp_path), "--epochs", "1"]
    seen = run_on_stand_in(lesson_script("train_ddp.py"), argv, monkeypatch)
    # The model was on the group's device when DDP wrapped it, and DDP was told which one
    # (as a device or as the GPU's number, which DDP takes alike).
    assert seen["ddp"] in ([({STAND_IN}, [STAND_IN])], [({STAND_IN}, [0])])
    # Every training step ran (the dispatch mode would have failed a CPU batch), then the
    # validation sums went to all_reduce from the group's device.
    assert seen["all_reduce"] == [STAND_IN]


@pytest.fixture
def batch(tmp_path) -> Path:
    path = tmp_path / "batch.pt"
    torch.save({"images": torch.randn(8, 1, 28, 28), "labels": torch.randint(0, 10, (8,))}, path)
    return path


def test_the_no_sync_script_keeps_model_and_batch_on_the_group_device(batch, monkeypatch):
    seen = run_on_stand_in(lesson_script("no_sync.py"), [str(batch)], monkeypatch)
    assert seen["ddp"] in ([({STAND_IN}, [STAND_IN])], [({STAND_IN}, [0])])
    assert seen["all_reduce"] == [STAND_IN]


def test_the_batch_norm_script_all_reduces_on_the_group_device(batch, monkeypatch):
    seen = run_on_stand_in(lesson_script("batch_norm.py"), [str(batch)], monkeypatch)
    assert seen["all_reduce"] == [STAND_IN]


def test_the_manual_script_compares_weights_and_gradients_on_the_group_device(batch, monkeypatch):
    # Four all-reduces of the weights (their smallest and largest copies, before and after
    # DDP wraps the model), whose results the script reads at the end; then the
    # gradients' all-reduce by hand.
    seen = run_on_stand_in(lesson_script("manual_ddp.py"), [str(batch)], monkeypatch, let_through=4)
    assert seen["ddp"] in ([({STAND_IN}, [STAND_IN])], [({STAND_IN}, [0])])
    assert seen["all_reduce"] == [STAND_IN] * 5


def test_the_timing_script_keeps_model_and_batch_on_the_group_device(monkeypatch):
    seen = run_on_stand_in(lesson_script("comm_cost.py"), [], monkeypatch)
    assert seen["ddp"] in ([({STAND_IN}, [STAND_IN])], [({STAND_IN}, [0])])
    assert seen["all_reduce"] == [STAND_IN]


def test_the_stand_in_catches_a_shard_left_on_the_cpu(batch, monkeypatch):
    script = lesson_script("manual_ddp.py").replace(
        'images, labels = batch["images"].to(device), batch["labels"].to(device)',
        'images, labels = batch["images"], batch["labels"]',
    )
    assert script != lesson_script("manual_ddp.py")
    with pytest.raises(RuntimeError, match="mixes devices"):
        run_on_stand_in(script, [str(batch)], monkeypatch, let_through=4)


def test_the_stand_in_catches_a_batch_left_on_the_cpu(mnist_like, tmp_path, monkeypatch):
    script = lesson_script("train_ddp.py").replace(
        "as_input(images.to(device)), labels.to(device)", "as_input(images), labels"
    )
    assert "as_input(images), labels" in script  # the batch now stays on the CPU
    argv = ["--data", str(mnist_like), "--out", str(tmp_path), "--epochs", "1"]
    with pytest.raises(RuntimeError, match="mixes devices"):
        run_on_stand_in(script, argv, monkeypatch)


@pytest.mark.parametrize(
    ("name", "needs_batch"),
    [("train_ddp.py", False), ("no_sync.py", True), ("comm_cost.py", False)],
)
def test_with_gloo_the_ddp_scripts_stay_on_the_cpu_and_give_ddp_no_device(
    name, needs_batch, mnist_like, batch, tmp_path, monkeypatch
):
    # DDP refuses device_ids for a model on the CPU.
    argv = {
        "train_ddp.py": ["--data", str(mnist_like), "--out", str(tmp_path), "--epochs", "1"],
        "no_sync.py": [str(batch)],
        "comm_cost.py": [],
    }[name]
    cpu = torch.device("cpu")
    seen = run_on_stand_in(lesson_script(name), argv, monkeypatch, backend="gloo", device=cpu)
    assert seen["ddp"] == [({cpu}, None)]
    assert seen["all_reduce"] == [cpu]


def test_the_stand_in_catches_a_cpu_count_stacked_with_device_sums(
    mnist_like, tmp_path, monkeypatch
):
    script = lesson_script("train_ddp.py").replace(
        "torch.tensor(float(len(my_val_labels)), device=device)",
        "torch.tensor(float(len(my_val_labels)))",
    )
    argv = ["--data", str(mnist_like), "--out", str(tmp_path), "--epochs", "1"]
    with pytest.raises(RuntimeError, match="mixes devices"):
        run_on_stand_in(script, argv, monkeypatch)


# The scripts' claims, in a real group of 2 gloo processes on the CPU.


@pytest.fixture
def batch_of_64(tmp_path) -> Path:
    generator = torch.Generator().manual_seed(0)
    path = tmp_path / "batch64.pt"
    images = torch.randn(64, 1, 28, 28, generator=generator)
    torch.save({"images": images, "labels": torch.randint(0, 10, (64,), generator=generator)}, path)
    return path


def test_ddp_makes_weights_drawn_per_rank_equal(batch_of_64):
    result = distributed.run_torchrun(
        SCRIPTS / "manual_ddp.py", 2, args=[batch_of_64], timeout=120, cpu_only=True
    )
    found = re.search(r"between the processes: (\S+) before DDP, (\S+) after", result.output)
    assert found, result.output
    before, after = map(float, found.groups())
    assert before > 0.01 and after == 0.0
    # From those equal weights the by-hand step still matches one process and DDP.
    assert result.output.count("== whole batch: True") == 2
    assert result.output.count("== DDP: True") == 2


@pytest.mark.parametrize("divide, matches", [(True, True), (False, False)])
def test_the_manual_script_runs_the_learner_s_average_against_ddp(
    batch_of_64, tmp_path, divide, matches
):
    # The lesson writes exercise 1's function to a file; without the division, DDP differs.
    division = "        parameter.grad /= dist.get_world_size()\n" if divide else ""
    learner = tmp_path / "learner_average.py"
    learner.write_text(
        "import torch.distributed as dist\n\n\n"
        "def average_gradients(model):\n"
        "    for parameter in model.parameters():\n"
        "        dist.all_reduce(parameter.grad)\n" + division
    )
    result = distributed.run_torchrun(
        SCRIPTS / "manual_ddp.py", 2, args=[batch_of_64, learner], timeout=120, cpu_only=True
    )
    assert "gradients averaged by: your average_gradients" in result.output, result.output
    assert result.output.count(f"== DDP: {matches}") == 2


def test_no_sync_saves_one_all_reduce_per_accumulated_step(batch_of_64):
    result = distributed.run_torchrun(
        SCRIPTS / "no_sync.py", 2, args=[batch_of_64], timeout=120, cpu_only=True
    )
    assert "2 micro-batches, with no_sync: 1\n" in result.output, result.output
    assert "2 micro-batches, without no_sync: 2\n" in result.output
    assert "whole shard: True" in result.output


def test_batch_norm_by_hand_matches_batch_norm_on_the_whole_batch(batch_of_64):
    result = distributed.run_torchrun(
        SCRIPTS / "batch_norm.py", 2, args=[batch_of_64], timeout=120, cpu_only=True
    )
    # Each rank's shard, normalised with the all-reduced statistics, matches one process's
    # BatchNorm2d on the whole batch ...
    assert result.output.count("BatchNorm2d on the whole batch: True") == 2, result.output
    # ... while its own shard's statistics give a visibly different result: not vacuous.
    own = re.findall(r"my shard's own statistics, largest gap: (\S+)", result.output)
    assert len(own) == 2 and all(float(gap) > 1e-3 for gap in own), result.output
    # On the CPU this PyTorch refuses SyncBatchNorm; the script says so instead of failing.
    assert "SyncBatchNorm on the cpu (gloo), refused as expected" in result.output


def test_the_timing_script_prints_its_world_size_once_before_its_timings(monkeypatch, capsys):
    # The stand-in group has 1 process; the script stops at its first all-reduce, after
    # timing the first batch size's works, before any timing line.
    run_on_stand_in(lesson_script("comm_cost.py"), [], monkeypatch)
    assert capsys.readouterr().out.splitlines() == ["world size: 1"]


def test_the_timing_script_times_the_one_process_baseline_on_rank_0_alone(monkeypatch):
    # Rank 1 of 2: it skips the baseline step, so the stand-in sees no work on it. Each
    # step records its batch size and whether it ran inside the stand-in DDP's no_sync.
    script = lesson_script("comm_cost.py")
    calls, inside = [], []
    namespace = {"__name__": "comm_cost"}
    exec(compile(script.split("with process_group(")[0], "comm_cost.py", "exec"), namespace)
    monkeypatch.setitem(
        namespace, "sgd_step", lambda *args: calls.append((len(args[1]), bool(inside)))
    )
    timed = {}

    def median_seconds(works, device):
        own = {"single": 0.003, "double": 0.005}  # rank 0's B and 2B steps, told apart
        for name, work in works.items():
            work()
            timed[name] = own.get(name, 0.001)
        return timed, {name: 0.002 for name in timed}  # its own, then the slowest rank's

    @contextlib.contextmanager
    def no_sync():
        inside.append(True)
        yield
        inside.pop()

    def stand_in_ddp(module, **kw):
        module.no_sync = no_sync
        return module

    monkeypatch.setitem(namespace, "median_seconds", median_seconds)
    monkeypatch.setitem(namespace, "DistributedDataParallel", stand_in_ddp)
    # What each rank would print, as rank_print prints it, after the main block's first
    # line, the world size (the test below checks the script prints it).
    printed = ["world size: 2"]

    def rank_print(*values, all_ranks=False, **kw):
        if all_ranks or rank == 0:
            printed.append((f"[rank {rank}] " if all_ranks else "") + " ".join(map(str, values)))

    monkeypatch.setitem(namespace, "rank_print", rank_print)
    monkeypatch.setattr(dist, "all_reduce", lambda *args, **kw: None)
    steps = [(4, False), (4, False), (4, True)]  # alone, DDP's step, DDP's inside no_sync
    for rank, expected in ((0, [*steps, (4, False), (8, False)]), (1, steps)):
        calls.clear()
        namespace["time_one_size"](4, GroupInfo(rank, 2, rank, "gloo", torch.device("cpu")))
        # Then (rank 0 only) one process on the B images and on twice as many, timed
        # alike; the all-reduce is a no-op here.
        assert calls == expected
    # The lines the script prints are the ones read_comm_cost, the lesson's reader, reads.
    cost = read_comm_cost("\n".join(printed))
    assert cost.per_rank[4][1]["no_sync"] == pytest.approx(1.0)
    assert cost.together[4]["no_sync"] == pytest.approx(2.0)  # the slowest rank's line
    assert cost.together[4]["double"] == pytest.approx(5.0)  # rank 0's own, alone, on 2B
    assert cost.together[4]["alone"] == pytest.approx(3.0)  # the same, on the B images


def test_the_timing_script_counts_each_repeat_s_slowest_rank_then_takes_the_median(monkeypatch):
    # One work, 3 repeats. This rank took 1, 5 and 2 s; the other rank 4, 1 and 3 s. Each
    # repeat waits for the slower: 4, 5 and 3 s, median 4 s, which neither rank's own
    # median (2 and 3 s) nor their largest (3 s) gives.
    script = lesson_script("comm_cost.py")
    namespace = {"__name__": "comm_cost"}
    exec(compile(script.split("with process_group(")[0], "comm_cost.py", "exec"), namespace)
    monkeypatch.setitem(namespace, "REPEATS", 3)
    monkeypatch.setitem(namespace, "WARM_UP", 0)
    events = []  # every clock read and every all-reduce, in the order they happen
    clock = iter([0.0, 1.0, 0.0, 5.0, 0.0, 2.0])  # start, end of each repeat

    def perf_counter():
        events.append("clock")
        return next(clock)

    monkeypatch.setitem(namespace, "time", SimpleNamespace(perf_counter=perf_counter))
    other_rank = torch.tensor([[4.0, 1.0, 3.0]])
    device = torch.device("cpu")

    def all_reduce(tensor, op=None, **kw):
        # The times travel as float32 on the group's device (NCCL carries GPU tensors only).
        assert tensor.dtype == torch.float32 and tensor.device == device
        events.append(op)
        if tensor.device == STAND_IN:
            raise _Stop  # a meta tensor holds no times to reduce
        tensor.copy_(torch.maximum(tensor, other_rank))  # the other rank's times, as MAX would

    monkeypatch.setattr(dist, "all_reduce", all_reduce)
    monkeypatch.setattr(dist, "barrier", lambda *args, **kw: None)
    own, together = namespace["median_seconds"]({"work": lambda: None}, device)
    assert own == {"work": 2.0}
    assert together == {"work": 4.0}
    # One all-reduce, with MAX, once every clock had stopped: after the last clock read.
    assert events == ["clock"] * 6 + [dist.ReduceOp.MAX]
    # On another device (a GPU's, here the stand-in), the times go there before the reduce.
    events.clear()
    clock = iter([0.0, 1.0, 0.0, 5.0, 0.0, 2.0])
    device = STAND_IN
    with pytest.raises(_Stop):
        namespace["median_seconds"]({"work": lambda: None}, device)
    assert events == ["clock"] * 6 + [dist.ReduceOp.MAX]


def test_the_training_script_trains_every_epoch_and_ends_with_equal_copies(mnist_like, tmp_path):
    out = tmp_path / "run"
    args = ["--data", mnist_like, "--out", out, "--epochs", 2, "--batch-size", 32]
    result = distributed.run_torchrun(
        SCRIPTS / "train_ddp.py", 2, args=args, timeout=120, cpu_only=True
    )
    history = json.loads((out / "history.json").read_text())
    assert [entry["epoch"] for entry in history] == [1, 2], result.output
    # Rank 0 alone prints each epoch's validation figures, summed over both shards.
    assert len(re.findall(r"^epoch \d: val_loss [\d.]+, val_acc [\d.]+$", result.output, re.M)) == 2
    assert (out / "checkpoint.pt").is_file()
    # The two copies of the model ended training equal to the last bit.
    assert "the largest gap between the processes' weights: 0.0e+00" in result.output


def test_the_training_script_s_weight_gap_sees_copies_that_differ(mnist_like, tmp_path):
    # Shift rank 1's copy of the weights just before they are compared: the gap must show it
    # (a measurement without its all-reduces would print 0 here too).
    original = lesson_script("train_ddp.py")
    compared = "    gap = largest_gap_between_processes(weights).item()\n"
    script = original.replace(compared, "    weights = weights + dist.get_rank()\n" + compared)
    assert script != original
    shifted = tmp_path / "train_ddp_shifted.py"
    shifted.write_text(script)
    args = ["--data", mnist_like, "--out", tmp_path / "run", "--epochs", 1, "--batch-size", 32]
    result = distributed.run_torchrun(shifted, 2, args=args, timeout=120, cpu_only=True)
    assert "the largest gap between the processes' weights: 1.0e+00" in result.output, result.output


def test_the_arms_script_keeps_every_arm_on_the_group_device(mnist_like, tmp_path, monkeypatch):
    # Rank 0 of 2, so that it trains the 1-process arms as well as its part of the 2-process
    # one; making the output folder, after the rounds, stops it.
    seen = {"groups": []}
    monkeypatch.setattr(dist, "new_group", lambda ranks: seen["groups"].append(ranks) or "alone")

    def stop(*args, **kwargs):
        raise _Stop

    monkeypatch.setattr(Path, "mkdir", stop)

    @contextlib.contextmanager
    def group_of_two(*args, **kwargs):
        yield GroupInfo(0, 2, 0, "nccl", STAND_IN)

    argv = ["--data", str(mnist_like), "--out", str(tmp_path), "--rounds", "1"]
    argv += ["--batch-size", "32"]
    monkeypatch.setattr(distributed, "process_group", group_of_two)
    monkeypatch.setattr(torch.nn.parallel, "DistributedDataParallel", _RecordingDDP)
    monkeypatch.setattr(dist, "barrier", lambda *args, **kwargs: None)
    monkeypatch.setattr(sys, "argv", ["compare_arms.py", *argv])
    _RecordingDDP.wrapped, _RecordingDDP.groups = [], []
    threads = torch.get_num_threads()
    try:
        with pytest.raises(_Stop), _NoDeviceMix():
            exec(
                compile(lesson_script("compare_arms.py"), "compare_arms.py", "exec"),
                {"__name__": "__main__"},
            )
    finally:
        torch.set_num_threads(threads)
    # The 2-process arm's model on the group's device, given to DDP with that device, in
    # the default group of both processes (None), and the 1-process arms' models, without
    # DDP, on that device too: no group of their own.
    assert _RecordingDDP.wrapped in ([({STAND_IN}, [STAND_IN])], [({STAND_IN}, [0])])
    assert _RecordingDDP.groups == [None]
    assert seen["groups"] == []


def test_the_arms_take_turns_on_the_same_batches(mnist_like, tmp_path):
    out = tmp_path / "arms"
    args = ["--data", mnist_like, "--out", out, "--rounds", 3, "--batch-size", 32]
    result = distributed.run_torchrun(
        SCRIPTS / "compare_arms.py", 2, args=args, timeout=120, cpu_only=True, threads_per_process=1
    )
    found = json.loads((out / "arms.json").read_text())
    arms = found["arms"]
    assert sorted(arms) == sorted(
        ["1 process, 1 thread", "1 process, 2 threads", "2 processes, 1 thread each"]
    ), result.output
    for row in arms.values():
        assert len(row["seconds"]) == 3
        assert all(
            0 < load < epoch
            for load, epoch in zip(row["loader_seconds"], row["seconds"], strict=True)
        )
    # Every round trains every arm once, each round in a new order.
    assert all(sorted(turn) == sorted(arms) for turn in found["rounds"])
    assert len({tuple(turn) for turn in found["rounds"]}) == 3
    # Rank 1 trained the 2-process arm in rank 0's order, round by round: its own lines.
    two = ["2 processes, 1 thread each"]
    rank_1 = re.findall(r"\[rank 1\] round (\d+), (.+?): [\d.]+ s", result.output)
    expected = [(str(n), arm) for n, turn in enumerate(found["rounds"], 1) for arm in turn]
    assert rank_1 == [(n, arm) for n, arm in expected if arm in two], result.output
    # The same starting weights and batches: every arm reaches the same accuracy, in 1
    # process or 2 (DDP averages the halves' gradients), on 1 thread or 2.
    assert len({row["val_acc"] for row in arms.values()}) == 1
    # ... and the same weights, up to float32 rounding: 1 process on 1 thread against DDP.
    assert 0 <= found["weight_gap"] < 1e-4, found["weight_gap"]
    assert re.search(
        r"\[rank 1\] waiting at the barrier: [\d.]+ s, of which on a CPU", result.output
    )


@pytest.mark.parametrize(("backend", "device"), [("gloo", torch.device("cpu")), ("nccl", STAND_IN)])
def test_the_fsdp_script_shards_on_a_mesh_of_the_group_device(backend, device, monkeypatch):
    # Left to itself, fully_shard lays its mesh on the machine's accelerator (CUDA, or MPS
    # on a Mac), whatever device the group has: a gloo group on the CPU would then fail.
    import torch.distributed.device_mesh as device_mesh
    import torch.distributed.fsdp as fsdp

    meshes, shapes = [], []

    class Mesh:
        def __init__(self, device_type, mesh_shape, **options):
            self.device_type = device_type
            shapes.append(mesh_shape)

    def fully_shard(module, *, mesh=None, **options):
        meshes.append(None if mesh is None else mesh.device_type)
        if isinstance(module, torch.nn.Linear):
            return module
        raise _Stop  # the whole model: every layer has been sharded by now

    @contextlib.contextmanager
    def fake_group(*args, **kwargs):
        yield GroupInfo(0, 2, 0, backend, device)

    monkeypatch.setattr(distributed, "process_group", fake_group)
    monkeypatch.setattr(device_mesh, "init_device_mesh", Mesh)
    monkeypatch.setattr(fsdp, "fully_shard", fully_shard)
    with pytest.raises(_Stop):
        exec(compile(lesson_script("fsdp.py"), "fsdp.py", "exec"), {"__name__": "__main__"})
    assert meshes == [device.type] * len(meshes) and len(meshes) >= 2
    assert shapes == [(2,)]


def test_the_fsdp_script_says_what_would_have_run_where_pytorch_lacks_fully_shard(
    monkeypatch, capsys
):
    # PyTorch 2.3 (the course's floor) has neither the public name (2.6 on) nor the
    # private one (2.4 and 2.5): the script says so and ends without an error.
    import types

    for name in ("torch.distributed.fsdp", "torch.distributed._composable.fsdp"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setattr(distributed, "process_group", None)  # never reached
    with pytest.raises(SystemExit) as stopped:
        exec(compile(lesson_script("fsdp.py"), "fsdp.py", "exec"), {"__name__": "__main__"})
    assert stopped.value.code == 0
    assert "fully_shard (FSDP2) needs PyTorch 2.4 or later" in capsys.readouterr().out
