"""Choosing a device and moving data to it.

Lesson 01 shows ``tensor.to(device)`` by hand; lesson 04 explains these helpers and
every later lesson uses them.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import torch
from torch import nn
from torch.utils.data import Sampler

__all__ = [
    "autocast_runs_in",
    "bfloat16_support",
    "get_default_device",
    "quiet_cpu_compiling",
    "synchronize",
    "to_device",
    "DeviceDataLoader",
    "DeviceTensorLoader",
    "SeededShuffle",
]


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


def bfloat16_support(device: torch.device | str) -> tuple[bool, str]:
    """Whether ``device`` has bfloat16 arithmetic of its own, with the reason in one sentence.

    Returns ``(True, reason)`` where autocast to bfloat16 runs on the hardware's own
    bfloat16 units: NVIDIA GPUs from Ampere on (compute capability 8.0), AMD GPUs, and
    CPUs with AVX-512 BF16 or AMX instructions. AMD GPUs count as native, as PyTorch's
    ROCm build reports them (older ones may emulate it). Apple GPUs under macOS 14 or
    later also return ``True``: bfloat16 runs on all of them there, but PyTorch does not
    say which chips have fast units for it, so the reason says to measure it.
    Elsewhere it returns ``(False, reason)``: PyTorch may still run bfloat16 there by
    converting to and from float32 (``torch.cuda.is_bf16_supported()`` counts such
    emulation, on Colab's T4 for example), which is slower than float32 alone.
    Introduced in lesson 04.
    """
    device = torch.device(device)
    if device.type == "cuda":
        if torch.version.hip:
            name = torch.cuda.get_device_name(device)
            # ROCm builds report bfloat16 on every AMD GPU; the oldest emulate it.
            return True, f"{name} (AMD, ROCm) runs bfloat16; on older AMD GPUs, measure it"
        major, minor = torch.cuda.get_device_capability(device)
        name = f"{torch.cuda.get_device_name(device)} (compute capability {major}.{minor})"
        if major >= 8:
            return True, f"{name} has bfloat16 tensor cores"
        return False, (
            f"{name} has no bfloat16 units (they came with compute capability 8.0): PyTorch "
            "would emulate bfloat16 there, slower than float32; float16 with a GradScaler "
            "is this GPU's fast type"
        )
    if device.type == "mps":
        if torch.backends.mps.is_macos_or_newer(14, 0):
            return True, (
                "Apple GPUs run bfloat16 from macOS 14 on; whether this chip runs it faster "
                "than float32 is not known in advance: measure it"
            )
        return False, "bfloat16 on Apple GPUs needs macOS 14 or later"
    if device.type == "cpu":
        # Private, but the only place PyTorch says which instructions the CPU has.
        checks = {
            "AVX-512 BF16": getattr(torch.cpu, "_is_avx512_bf16_supported", None),
            "AMX": getattr(torch.cpu, "_is_amx_tile_supported", None),
        }
        found = [name for name, check in checks.items() if check is not None and check()]
        if found:
            return True, f"this CPU has {' and '.join(found)} instructions"
        return False, (
            "PyTorch finds no AVX-512 BF16 or AMX instructions on this CPU: every bfloat16 "
            "product would be converted to and from float32"
        )
    return False, f"bfloat16 support on {device.type} devices is not known to this course"


def autocast_runs_in(device: torch.device | str, dtype: torch.dtype) -> bool:
    """Whether a linear layer on ``device`` computes in ``dtype`` under ``torch.autocast``.

    Where a device or a PyTorch version lacks the type (float16 on an older PyTorch's
    Apple GPU backend, bfloat16 there before macOS 14), ``torch.autocast`` turns itself
    off with only a warning, and the "mixed precision" model trains in float32; older
    still (PyTorch 2.3 and 2.4 on an Apple GPU) it refuses the device type with a
    ``RuntimeError``. Returns ``True`` only if a real layer's output came out in
    ``dtype``, ``False`` in both of those cases. Introduced in lesson 04.
    """
    device = torch.device(device)
    layer = nn.Linear(4, 4).to(device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the warning that autocast is off: the dtype says it
        try:
            autocast = torch.autocast(device_type=device.type, dtype=dtype)
        except RuntimeError:  # "unsupported autocast device_type": no autocast here at all
            return False
        with autocast:  # an error from the layer itself is not an answer: let it raise
            output = layer(torch.ones(2, 4, device=device))
    return output.dtype == dtype


def quiet_cpu_compiling(device: torch.device | str) -> dict[str, Any]:
    """Set ``torch.compile`` up to compile a CPU model within the course's memory, quietly.

    On a CPU, ``torch.compile``'s code generator (inductor) builds C++ kernels, by default
    several at once and with precompiled headers; one at a time and without them, the
    course's lessons stay within 1.5 GB of memory. On a CPU this sets inductor's
    ``compile_threads`` to 1 and, where this PyTorch has it, ``cpp_cache_precompile_headers``
    to False, and sets the ``torch.utils.cpp_extension`` logger to ERROR (a CUDA build of
    PyTorch otherwise warns "No CUDA runtime is found", which CPU kernels do not need). On
    any other device it changes nothing.

    The settings are global and last for the rest of the Python process. Returns what it
    set, name -> new value (an empty dict where it set nothing). Introduced in lesson 04.
    """
    if torch.device(device).type != "cpu":
        return {}
    import torch._inductor.config as inductor_config  # torch.compile's code generator

    changed: dict[str, Any] = {"compile_threads": 1}
    if hasattr(inductor_config, "cpp_cache_precompile_headers"):  # newer PyTorch only
        changed["cpp_cache_precompile_headers"] = False
    for name, value in changed.items():
        setattr(inductor_config, name, value)
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    changed["torch.utils.cpp_extension log level"] = logging.ERROR
    return changed


def synchronize(device: torch.device | str) -> None:
    """Wait until every operation queued on ``device`` has finished.

    GPU work is asynchronous: Python queues it and moves on, so a clock read
    straight after it measures only the queueing. Call this before each clock
    read when timing: it waits for a CUDA GPU (``torch.cuda.synchronize``) or an
    Apple-silicon GPU (``torch.mps.synchronize``); on the CPU, which runs
    operations as they are called, it does nothing. Introduced in lesson 04.
    """
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def to_device(data: Any, device: torch.device | str, non_blocking: bool = False) -> Any:
    """Move ``data`` to ``device`` and return it.

    Works on tensors, modules (moved in place and returned), and on lists, tuples
    and dicts of them, recursively; containers keep their type. Anything else
    raises ``TypeError`` naming the type, so a batch of the wrong shape fails
    loudly instead of silently staying on the CPU. ``non_blocking=True`` makes a
    copy from pinned memory to a CUDA GPU return at once: the copy is queued behind
    the GPU's work and Python goes on; it does not run during the GPU's computation,
    which would take a second CUDA stream (lesson 04). Introduced in lesson 04.
    """
    if isinstance(data, (torch.Tensor, nn.Module)):
        if isinstance(data, nn.Module):
            return data.to(device)
        return data.to(device, non_blocking=non_blocking)
    if isinstance(data, Mapping):
        return type(data)(
            {key: to_device(value, device, non_blocking) for key, value in data.items()}
        )
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


class DeviceTensorLoader:
    """Iterate over mini-batches of tensors that are already on the device.

    ``DeviceTensorLoader(images, labels, batch_size=512, shuffle=True,
    device=device)`` moves the tensors to ``device`` once; every epoch then
    only shuffles an index. There is no per-sample Python code, no worker
    processes and no copy from the CPU, which makes it far faster than a
    ``DataLoader`` over a dataset with per-sample transforms whenever the whole
    dataset fits in the device's memory. Yields tuples of tensors, one per
    tensor given; ``len()`` is the number of batches. ``transform``, if given, is
    applied to the first tensor of every batch (for example
    ``augment.batch_transform``: normalising uint8 images, random crops and
    flips, done on the device). Introduced in lesson 04.
    """

    def __init__(
        self,
        *tensors: torch.Tensor,
        batch_size: int,
        shuffle: bool = False,
        drop_last: bool = False,
        device: torch.device | str | None = None,
        generator: torch.Generator | None = None,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ):
        if not tensors:
            raise ValueError("DeviceTensorLoader needs at least one tensor")
        sizes = {len(tensor) for tensor in tensors}
        if len(sizes) != 1:
            raise ValueError(f"all tensors must have the same length, got {sorted(sizes)}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.tensors = (
            tuple(tensor.to(device) for tensor in tensors) if device is not None else tensors
        )
        self.device = self.tensors[0].device
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.generator = generator
        self.transform = transform

    @property
    def num_samples(self) -> int:
        return len(self.tensors[0])

    def __len__(self) -> int:
        if self.drop_last:
            return self.num_samples // self.batch_size
        return -(-self.num_samples // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        if self.shuffle:
            # The permutation is drawn on the CPU so a CPU generator can seed it on any device.
            order = torch.randperm(self.num_samples, generator=self.generator).to(self.device)
        for batch_index in range(len(self)):
            start = batch_index * self.batch_size
            if self.shuffle:
                index = order[start : start + self.batch_size]
                batch = tuple(tensor[index] for tensor in self.tensors)
            else:
                batch = tuple(tensor[start : start + self.batch_size] for tensor in self.tensors)
            if self.transform is not None:
                batch = (self.transform(batch[0]), *batch[1:])
            yield batch

    def __repr__(self) -> str:
        return (
            f"DeviceTensorLoader({self.num_samples} samples, {len(self)} batches of "
            f"{self.batch_size} on {self.device})"
        )


class SeededShuffle(Sampler):
    """A ``DataLoader`` sampler: each epoch a new shuffled order of ``range(size)``, drawn
    from its own generator seeded with ``seed``.

    It draws the orders as ``DeviceTensorLoader(..., shuffle=True, generator=
    torch.Generator().manual_seed(seed))`` does, so a ``DataLoader`` with this sampler and
    that loader, at the same batch size, give the same batches epoch after epoch, whatever
    else draws random numbers. (``DataLoader(shuffle=True, generator=...)`` orders
    differently, since it draws its permutation another way.) Introduced in lesson 04.
    """

    def __init__(self, size: int, seed: int):
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise ValueError(f"size must be a whole number of at least 1, got {size!r}")
        self.size = size
        self.generator = torch.Generator().manual_seed(seed)

    def __iter__(self) -> Iterator[int]:
        return iter(torch.randperm(self.size, generator=self.generator).tolist())

    def __len__(self) -> int:
        return self.size
