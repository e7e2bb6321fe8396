"""Lesson 06's torchrun scripts keep the model and every batch on their process group's device.

The scripts are files in notebooks/scripts/, which the lesson shows and runs.

With NCCL a process group carries only GPU tensors, on GPU number LOCAL_RANK. This machine
has no GPU, so the scripts run in this process against a stand-in: ``process_group`` yields
a group whose device is ``meta`` (tensors with shapes and no data, which autograd and the
optimizer handle), DDP and the collective calls are replaced by recorders, and a dispatch
mode fails any operation that mixes the group's device with the CPU. A script that left the
model or a batch on the CPU fails here as it would fail on a GPU.
"""

import contextlib
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from conftest import NOTEBOOKS
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

import course_utils.distributed as distributed
from course_utils.distributed import GroupInfo

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
    """Stands in for DistributedDataParallel: records where the wrapped model lives."""

    wrapped: list = []

    def __init__(self, module: nn.Module, device_ids=None, **options):
        super().__init__()
        self.module = module
        _RecordingDDP.wrapped.append(({p.device for p in module.parameters()}, device_ids))

    def forward(self, *inputs):
        return self.module(*inputs)

    @contextlib.contextmanager
    def no_sync(self):
        yield


def run_on_stand_in(
    script: str, argv: list[str], monkeypatch, backend: str = "nccl", device=STAND_IN
) -> dict:
    """Run ``script`` as rank 0 of 1 in a fake group; return what the recorders saw.

    The group's device is the stand-in for a GPU (NCCL), or the CPU (gloo).
    """
    seen = {"all_reduce": [], "barrier": 0}

    @contextlib.contextmanager
    def fake_group(*args, **kwargs):
        yield GroupInfo(0, 1, 0, backend, device)

    def all_reduce(tensor, op=None, **kwargs):
        seen["all_reduce"].append(tensor.device)
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


@pytest.mark.parametrize("name", ["manual_ddp.py", "batch_norm.py"])
def test_the_batch_scripts_all_reduce_on_the_group_device(name, batch, monkeypatch):
    seen = run_on_stand_in(lesson_script(name), [str(batch)], monkeypatch)
    assert seen["all_reduce"] == [STAND_IN]


def test_the_timing_script_keeps_model_and_batch_on_the_group_device(monkeypatch):
    seen = run_on_stand_in(lesson_script("comm_cost.py"), [], monkeypatch)
    assert seen["ddp"] in ([({STAND_IN}, [STAND_IN])], [({STAND_IN}, [0])])
    assert seen["all_reduce"] == [STAND_IN]


def test_the_timing_script_all_reduces_alone_on_the_group_device(monkeypatch):
    # Without the two batch sizes, the first all-reduce is the one timed on its own.
    script = lesson_script("comm_cost.py").replace(
        "for batch_size in (64, 1024):", "for batch_size in ():"
    )
    assert script != lesson_script("comm_cost.py")
    seen = run_on_stand_in(script, [], monkeypatch)
    assert seen["ddp"] == [] and seen["all_reduce"] == [STAND_IN]


def test_the_stand_in_catches_a_shard_left_on_the_cpu(batch, monkeypatch):
    script = lesson_script("manual_ddp.py").replace(
        'images, labels = batch["images"].to(device), batch["labels"].to(device)',
        'images, labels = batch["images"], batch["labels"]',
    )
    assert script != lesson_script("manual_ddp.py")
    with pytest.raises(RuntimeError, match="mixes devices"):
        run_on_stand_in(script, [str(batch)], monkeypatch)


def test_the_stand_in_catches_a_batch_left_on_the_cpu(mnist_like, tmp_path, monkeypatch):
    script = lesson_script("train_ddp.py").replace(
        "images, labels = images.to(device), labels.to(device)", "pass"
    )
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
