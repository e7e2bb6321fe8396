"""Choosing a device and moving data to it.

Lesson 01 shows ``tensor.to(device)`` by hand; lesson 04 explains these helpers and
every later lesson uses them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import torch
from torch import nn

__all__ = ["get_default_device", "to_device", "DeviceDataLoader"]


def get_default_device() -> torch.device:
    """Return the best available device: CUDA, then Apple MPS, then the CPU.

    Introduced in lesson 01 (devices), explained in lesson 04.
    """
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def to_device(data: Any, device: torch.device | str, non_blocking: bool = False) -> Any:
    """Move ``data`` to ``device`` and return it.

    Works on tensors, modules (moved in place and returned), and on lists, tuples
    and dicts of them, recursively; containers keep their type. Anything else
    raises ``TypeError`` naming the type, so a batch of the wrong shape fails
    loudly instead of silently staying on the CPU. ``non_blocking=True`` lets a
    copy from pinned memory overlap with computation (lesson 04).
    Introduced in lesson 04.
    """
    if isinstance(data, (torch.Tensor, nn.Module)):
        if isinstance(data, nn.Module):
            return data.to(device)
        return data.to(device, non_blocking=non_blocking)
    if isinstance(data, Mapping):
        return type(data)({key: to_device(value, device, non_blocking) for key, value in data.items()})
    if isinstance(data, tuple) and hasattr(data, "_fields"):  # a namedtuple
        return type(data)(*(to_device(item, device, non_blocking) for item in data))
    if isinstance(data, (list, tuple)):
        return type(data)(to_device(item, device, non_blocking) for item in data)
    raise TypeError(
        f"to_device cannot move an object of type {type(data).__name__}; "
        "expected a tensor, a module, or a list, tuple or dict of them"
    )


class DeviceDataLoader:
    """Wrap a data loader so that every batch it yields is already on ``device``.

    ``len()`` is the wrapped loader's number of batches. Introduced in lesson 04.
    """

    def __init__(self, loader: Iterable, device: torch.device | str, non_blocking: bool = False):
        self.loader = loader
        self.device = torch.device(device)
        self.non_blocking = non_blocking

    def __iter__(self) -> Iterator[Any]:
        for batch in self.loader:
            yield to_device(batch, self.device, self.non_blocking)

    def __len__(self) -> int:
        return len(self.loader)

    def __repr__(self) -> str:
        return f"DeviceDataLoader({len(self)} batches on {self.device})"
