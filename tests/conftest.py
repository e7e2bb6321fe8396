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


class MetaAsDevice(TorchDispatchMode):
    """Lets the ``meta`` device stand in for a GPU without float64 (Apple's MPS).

    Any operation that makes a float64 tensor on ``meta`` is recorded in ``float64_ops``.
    A copy from ``meta`` to the CPU, which has no data to copy, returns zeros of the
    same shape and dtype, so code that moves its tensors to the CPU first runs on.
    """

    def __init__(self) -> None:
        super().__init__()
        self.float64_ops: list[str] = []

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
        result = func(*args, **kwargs)
        outputs = result if isinstance(result, (tuple, list)) else [result]
        if any(
            isinstance(out, torch.Tensor)
            and out.dtype == torch.float64
            and out.device.type == "meta"
            for out in outputs
        ):
            self.float64_ops.append(str(func))
        return result


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
