"""Lesson 05's section 7 on a CUDA GPU, run on the CPU: ResNet-9 in channels-last, under
bfloat16 autocast; and off a GPU, a plain float32 ResNet-9.

No GPU runs the tests, so the lesson's ``build_network`` runs here with ``on_gpu`` set and
the CPU standing in for the GPU. What it checks holds on any device: the weights are
channels-last, the convolutions compute in bfloat16 where ``bfloat16_support`` says the
device has it (and in float32 where it does not), and the loss comes out in float32.
"""

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.data import DataLoader, TensorDataset

from course_utils import fit_one_cycle, to_device
from instructor.lessons import lesson_definitions

NAMES = {"conv_block", "ResidualBlock", "ResNet9", "MixedPrecisionResNet9", "build_network"}


class _ConvDtypes(TorchDispatchMode):
    """Records the dtype of every convolution's input."""

    def __init__(self) -> None:
        super().__init__()
        self.dtypes: set[torch.dtype] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if "convolution" in str(func) and "backward" not in str(func):
            self.dtypes.add(args[0].dtype)
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("native", [True, False])
def test_on_a_gpu_section_7_trains_resnet9_channels_last_with_autocast_where_native(native):
    lesson = lesson_definitions(
        "05_cifar10_cnn.py",
        NAMES,
        {
            "on_gpu": True,
            "device": torch.device("cpu"),  # standing in for the GPU
            "resnet_width": 4,
            "bfloat16_support": lambda device: (native, "as the test says"),
            "to_device": to_device,
        },
    )
    torch.manual_seed(0)
    network = lesson["build_network"]()
    assert isinstance(network, lesson["MixedPrecisionResNet9"]) is native
    first_conv = network.layers[0][0]
    assert first_conv.weight.is_contiguous(memory_format=torch.channels_last)

    images, labels = torch.randn(16, 3, 32, 32), torch.randint(0, 10, (16,))
    loader = DataLoader(TensorDataset(images, labels), batch_size=8)
    recorder = _ConvDtypes()
    with recorder:
        history = fit_one_cycle(1, 0.01, network, loader, loader, grad_clip=0.1)
        loss = network.training_step((images, labels))
    assert recorder.dtypes == ({torch.bfloat16} if native else {torch.float32})
    assert loss.dtype == torch.float32
    assert torch.isfinite(torch.tensor(history[0]["train_loss"]))


def test_off_a_gpu_section_7_trains_a_plain_float32_resnet9():
    lesson = lesson_definitions(
        "05_cifar10_cnn.py",
        NAMES,
        {
            "on_gpu": False,
            "device": torch.device("cpu"),
            "resnet_width": 4,
            "bfloat16_support": lambda device: (True, "never asked off a GPU"),
            "to_device": to_device,
        },
    )
    network = lesson["build_network"]()
    assert type(network) is lesson["ResNet9"]
    first_conv = network.layers[0][0]
    assert not first_conv.weight.is_contiguous(memory_format=torch.channels_last)
    recorder = _ConvDtypes()
    with recorder:
        network(torch.randn(2, 3, 32, 32))
    assert recorder.dtypes == {torch.float32}
