"""Shared fixtures: tiny models and loaders the tests build themselves."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import matplotlib
import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.data import DataLoader, TensorDataset

matplotlib.use("Agg")

from course_utils import ImageClassificationBase  # noqa: E402

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def lesson_namespace(script: str, names: set[str], extra: dict[str, Any] | None = None) -> dict:
    """Execute only the named top-level functions and classes of a lesson's .py twin.

    They run in a namespace holding ``torch``, ``nn``, ``ImageClassificationBase`` and
    ``extra``: whatever else the definitions read when they are called.
    """
    tree = ast.parse((NOTEBOOKS / script).read_text())
    keep = [
        node
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name in names
    ]
    found = {node.name for node in keep}
    assert found == names, f"{script} defines no {sorted(names - found)}"
    namespace = {"torch": torch, "nn": nn, "ImageClassificationBase": ImageClassificationBase}
    namespace.update(extra or {})
    exec(compile(ast.Module(body=keep, type_ignores=[]), script, "exec"), namespace)
    return namespace


class Float64Recorder(TorchDispatchMode):
    """Records every operation that makes a float64 tensor (on ``device_type`` only, if given).

    Apple's MPS has no float64: on the CPU every operation still passes through the
    dispatcher, so recording them all shows what a device would have been asked to do.
    """

    def __init__(self, device_type: str | None = None) -> None:
        super().__init__()
        self.device_type = device_type
        self.float64_ops: list[str] = []

    def _record(self, func, result):
        outputs = result if isinstance(result, (tuple, list)) else [result]
        if any(
            isinstance(out, torch.Tensor)
            and out.dtype == torch.float64
            and self.device_type in (None, out.device.type)
            for out in outputs
        ):
            self.float64_ops.append(str(func))
        return result

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        return self._record(func, func(*args, **(kwargs or {})))


class MetaAsDevice(Float64Recorder):
    """Lets the ``meta`` device stand in for a GPU without float64 (Apple's MPS).

    Records float64 made on ``meta``. A copy from ``meta`` to the CPU, which has no data
    to copy, returns zeros of the same shape and dtype, so code that moves its tensors to
    the CPU first runs on.
    """

    def __init__(self) -> None:
        super().__init__(device_type="meta")

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        source = args[0] if args else None
        if (
            func is torch.ops.aten._to_copy.default
            and isinstance(source, torch.Tensor)
            and source.device.type == "meta"
            and torch.device(kwargs.get("device", "meta")).type == "cpu"
        ):
            return torch.zeros(source.shape, dtype=kwargs.get("dtype") or source.dtype)
        return self._record(func, func(*args, **kwargs))


def fake_cuda(
    monkeypatch,
    gpus: int = 1,
    name: str = "NVIDIA A100",
    capability: tuple[int, int] = (8, 0),
) -> list:
    """Make PyTorch report ``gpus`` CUDA GPUs; returns the devices ``set_device`` was given.

    ``torch.cuda.is_bf16_supported()`` answers True, as it does on a T4 (it counts emulation).
    """
    chosen: list = []
    monkeypatch.setattr(torch.version, "hip", None)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus)
    monkeypatch.setattr(torch.cuda, "set_device", chosen.append)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: name)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    return chosen


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every notebook that nbval executes as slow (`pytest -m "not slow"` skips them)."""
    for item in items:
        if item.path.suffix == ".ipynb":
            item.add_marker(pytest.mark.slow)


class TinyClassifier(ImageClassificationBase):
    """Linear classifier on 2-D points: enough to learn a separable toy problem."""

    def __init__(self, in_features: int = 2, num_classes: int = 2):
        super().__init__()
        self.linear = nn.Linear(in_features, num_classes)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.linear(inputs)


@pytest.fixture
def tiny_model() -> TinyClassifier:
    torch.manual_seed(0)
    return TinyClassifier()


@pytest.fixture
def separable_loaders() -> tuple[DataLoader, DataLoader]:
    """Two well-separated 2-D blobs: class = sign of the first coordinate."""
    generator = torch.Generator().manual_seed(0)
    points = torch.randn(256, 2, generator=generator)
    points[:, 0] += torch.where(points[:, 0] > 0, 2.0, -2.0)
    labels = (points[:, 0] > 0).long()
    train = TensorDataset(points[:192], labels[:192])
    val = TensorDataset(points[192:], labels[192:])
    return DataLoader(train, batch_size=32, shuffle=True, generator=generator), DataLoader(
        val, batch_size=50
    )
