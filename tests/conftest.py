"""Shared paths (the checkout, the lessons) and fixtures: tiny models and loaders."""

from __future__ import annotations

import io
import struct
import tarfile
from pathlib import Path

import matplotlib
import pytest
import torch
from PIL import Image
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.data import DataLoader, TensorDataset
from torchvision import datasets

matplotlib.use("Agg")

from course_utils import ImageClassificationBase  # noqa: E402
from course_utils.distributed import free_port  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
# The lessons, in order: the notebooks and their jupytext .py twins.
LESSON_NOTEBOOKS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
LESSON_SCRIPTS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))
# Pages without exercises, so without a student version (instructor.student.has_exercises):
# named here so that a lesson that loses its exercises by mistake is still caught.
PAGES_WITHOUT_EXERCISES = {"07_troubleshooting"}
EXERCISE_LESSONS = [path for path in LESSON_NOTEBOOKS if path.stem not in PAGES_WITHOUT_EXERCISES]


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


# --- The data path (tests/test_data.py, tests/test_prefetch.py) ---


@pytest.fixture
def offline(monkeypatch) -> str:
    """No network: torchvision's MNIST and Fashion-MNIST mirrors point at a closed port.
    Returns such a URL too, for a ``PublishedArchive`` (``replace(archive, url=offline)``)."""
    for dataset_class in (datasets.MNIST, datasets.FashionMNIST):
        monkeypatch.setattr(dataset_class, "mirrors", [f"http://127.0.0.1:{free_port()}/"])
    return f"http://127.0.0.1:{free_port()}/cifar10.tgz"


def png_bytes(value: int, size: tuple[int, int] = (4, 4)) -> bytes:
    """A grey PNG image of ``size`` pixels."""
    buffer = io.BytesIO()
    Image.new("RGB", size, (value, value, value)).save(buffer, format="PNG")
    return buffer.getvalue()


def tar_member(name: str, kind: bytes = tarfile.REGTYPE, payload: bytes = b"", link: str = ""):
    """An archive member ``(TarInfo, payload)``: a file by default, or a folder, a link..."""
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, link, len(payload)
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    return info, payload


def cifar_members(archive, skip: tuple[str, ...] = (), folders: bool = True) -> list:
    """The members of a ``cifar10.tgz`` for ``archive`` (a ``PublishedArchive``): its class
    folders (unless ``folders`` is false) and distinct PNG images (per ``splits``), but not
    the ``<split>/<class>`` folders in ``skip``."""
    members = [tar_member(archive.top_folder, tarfile.DIRTYPE)] if folders else []
    for split, per_class in archive.splits:
        for label, name in enumerate(archive.classes):
            if f"{split}/{name}" in skip:
                continue
            folder = f"{archive.top_folder}/{split}/{name}"
            members += [tar_member(folder, tarfile.DIRTYPE)] if folders else []
            for index in range(per_class):
                image = png_bytes((20 * label + index) % 256, archive.image_size)
                members.append(tar_member(f"{folder}/{index:04d}.png", payload=image))
    return members


def write_archive(path, members: list):
    """Write ``members`` (from ``tar_member``) into the ``.tgz`` archive ``path``; return it."""
    with tarfile.open(path, "w:gz") as tar:
        for info, payload in members:
            tar.addfile(info, io.BytesIO(payload) if info.isreg() else None)
    return path


def write_idx(path, count: int, images: bool, magic: int | None = None) -> None:
    """Write an IDX file of ``count`` 28x28 images (pixels 0, 1, 2, ...) or labels (5, 6, ...);
    ``magic`` overrides the magic number."""
    shape = (count, 28, 28) if images else (count,)
    magic = magic if magic is not None else (0x803 if images else 0x801)
    values = range(count * 784) if images else range(5, 5 + count)
    header = struct.pack(f">I{len(shape)}I", magic, *shape)
    path.write_bytes(header + bytes(value % 256 for value in values))


def make_idx_dataset(root, folder: str = "MNIST"):
    """Write ``root/<folder>/raw`` with 3 training and 2 test images and labels; return it."""
    raw = root / folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for prefix, count in (("train", 3), ("t10k", 2)):
        write_idx(raw / f"{prefix}-images-idx3-ubyte", count, images=True)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", count, images=False)
    return raw
