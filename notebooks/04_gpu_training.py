# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/course-org/pytorch-from-zero/blob/main/notebooks/04_gpu_training.ipynb)
# [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/course-org/pytorch-from-zero/main?urlpath=lab/tree/notebooks/04_gpu_training.ipynb)
#
# # Lesson 04: Training on a GPU
#
# A GPU runs thousands of multiplications at once, which is exactly what the
# matrix products of a neural network need. But a GPU only helps when it is kept
# busy: with a tiny model, or while it waits for the CPU to prepare data, it
# sits idle. This lesson moves training onto whatever device you have and
# measures where the time really goes.
#
# This notebook runs on any machine. Without a GPU it says so, trains on the CPU
# and skips the GPU-only steps with a sentence saying why. On Colab, pick
# *Runtime > Change runtime type > GPU* first.
#
# **By the end of this lesson you can**
# - choose a device (CUDA, then Apple MPS, then CPU) and move tensors and models to it;
# - explain `pin_memory` and `non_blocking`, and write a Python generator;
# - wrap a data loader so its batches arrive on the device;
# - measure time per epoch, and find the data-loading bottleneck;
# - hold a whole dataset on the device, and try mixed precision and `torch.compile`.

# %%
# On Colab, install the course helpers from GitHub; elsewhere `make` installed them.
import subprocess
import sys

if "google.colab" in sys.modules:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "git+https://github.com/course-org/pytorch-from-zero",
        ],
        check=True,
    )

# %%
import inspect
import statistics
import time

import matplotlib.pyplot as plt
import torch
from torch.utils.data import DataLoader, Subset
from torchvision import transforms

from course_utils import DeviceDataLoader, DeviceTensorLoader, fit, get_default_device, to_device
from course_utils.data import dataset_to_tensors, mnist
from course_utils.models import MLP
from course_utils.report import record_result
from course_utils.settings import full_or_smoke, seed_everything, smoke_mode

generator = seed_everything(0)
print(f"PyTorch {torch.__version__}")

# %% [markdown]
# **Settings.** Smoke mode (the quick run the test suite uses) times one epoch on
# a small slice of MNIST instead of two on all of it.

# %%
train_size = full_or_smoke(full=60_000, smoke=2_000)
num_epochs = full_or_smoke(full=2, smoke=1)
print(f"Smoke mode: {smoke_mode()}; training images: {train_size}; ", end="")
print(f"epochs per measurement: {num_epochs}")

# %% [markdown]
# ## 1. Which devices do we have?
#
# `torch.cuda.is_available()` says whether PyTorch can see an NVIDIA GPU (or an
# AMD one, with a ROCm build); `torch.backends.mps.is_available()` whether it can
# use an Apple-silicon GPU.

# %%
has_cuda = torch.cuda.is_available()
has_mps = torch.backends.mps.is_available()
print(f"CUDA available: {has_cuda}; Apple MPS available: {has_mps}")
if has_cuda:
    print(f"GPU: {torch.cuda.get_device_name(0)}")

# %% [markdown]
# `get_default_device` from `course_utils` picks the best of them. It is short
# enough to read in full:

# %% tags=["nbval-check-output"]
print(inspect.getsource(get_default_device))

# %%
device = get_default_device()
if device.type == "cpu":
    print(
        "No GPU found: this lesson trains on the CPU, and the GPU-only steps below "
        "say so and are skipped."
    )
else:
    print(f"Training on {device}.")

# %% [markdown]
# ## 2. When a GPU helps
#
# One large matrix product: 2048 x 2048 times 2048 x 2048 is about 17 billion
# multiply-adds. A GPU finishes it far faster than a CPU. GPU work is
# *asynchronous* (Python queues it and moves on), so timing code must wait for it
# with `torch.cuda.synchronize()` before reading the clock.


# %%
def seconds_per_matmul(size: int, on: torch.device, repeats: int = 3) -> float:
    """Median time of one size x size matrix product on a device."""
    a, b = torch.randn(size, size, device=on), torch.randn(size, size, device=on)
    timings = []
    for _ in range(repeats + 1):  # the first run includes one-off set-up: skip it
        if on.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        a @ b
        if on.type == "cuda":
            torch.cuda.synchronize()
        timings.append(time.perf_counter() - start)
    return statistics.median(timings[1:])


devices = [torch.device("cpu")] + ([device] if device.type != "cpu" else [])
for size in (64, 2048):
    print(
        f"{size} x {size}: "
        + ", ".join(f"{d.type} {seconds_per_matmul(size, d) * 1000:.2f} ms" for d in devices)
    )

# %% [markdown]
# For a 64 x 64 product there is too little work to share out: launching it on a
# GPU costs about as much as doing it on the CPU. That is the first way a GPU
# fails to help: **tiny models**. The second is **starved GPUs**: if each batch takes
# longer to prepare than to compute, a faster processor changes nothing.
# Section 5 measures exactly that.
#
# ## 3. Moving data: `.to`, `pin_memory` and `non_blocking`
#
# A model and its inputs must be on the same device (lesson 01). `to_device` moves
# a tensor, a model, or a list, tuple or dict of them:

# %% tags=["nbval-check-output"]
batch = [torch.zeros(4, 1, 28, 28), torch.zeros(4, dtype=torch.long)]
moved = to_device(batch, torch.device("cpu"))
print([type(item).__name__ for item in moved], [tuple(item.shape) for item in moved])
try:
    to_device("not a tensor", torch.device("cpu"))
except TypeError as error:
    print("TypeError:", error)

# %% [markdown]
# Copies from CPU memory to a GPU go through *pinned* (page-locked) memory. A
# tensor that is already pinned skips one copy, and `non_blocking=True` lets the
# transfer run while the GPU computes. `DataLoader(..., pin_memory=True)` pins
# every batch. Both only matter for CUDA GPUs:

# %%
if device.type == "cuda":
    pinned = torch.zeros(1000, 784).pin_memory()
    on_gpu = pinned.to(device, non_blocking=True)
    print(f"pinned: {pinned.is_pinned()}, copied to {on_gpu.device}")
else:
    print("Skipped: pinned memory speeds up copies to a CUDA GPU, and there is none here.")

# %% [markdown]
# ## 4. A data loader that delivers to the device
#
# **Python generators.** A function containing `yield` returns a generator: each
# time a `for` loop asks for the next item, the function runs until its next
# `yield`, hands over the value and pauses there. Nothing is computed ahead.


# %% tags=["nbval-check-output"]
def squares(limit: int):
    """Yield 0, 1, 4, 9, ... below limit, one at a time."""
    number = 0
    while number * number < limit:
        yield number * number
        number += 1


print(list(squares(50)))

# %% [markdown]
# `DeviceDataLoader` uses one to move each batch to the device just before it is
# used, so the rest of the code never thinks about devices. It also has a
# length (the wrapped loader's number of batches), which `fit` needs.

# %% tags=["nbval-check-output"]
print(inspect.getsource(DeviceDataLoader))

# %% [markdown]
# ## 5. Where does an epoch's time go?
#
# The same model as lesson 03 (784 -> 32 -> 10), trained the same way, with two
# data pipelines:
#
# **(a) The classic pipeline.** The torchvision dataset runs `ToTensor` and
# `Normalize` on each image when it is fetched; a `DataLoader` collates 128 of them
# into a batch; `DeviceDataLoader` moves each batch to the device.

# %%
MNIST_MEAN, MNIST_STD = (0.1307,), (0.3081,)
to_tensor = transforms.Compose([transforms.ToTensor(), transforms.Normalize(MNIST_MEAN, MNIST_STD)])
train_dataset = Subset(mnist(train=True, transform=to_tensor), range(train_size))
test_dataset = mnist(train=False, transform=to_tensor)
pin = device.type == "cuda"
classic_train = DeviceDataLoader(
    DataLoader(train_dataset, batch_size=128, shuffle=True, pin_memory=pin, generator=generator),
    device,
    non_blocking=pin,
)
classic_test = DeviceDataLoader(
    DataLoader(test_dataset, batch_size=1000, pin_memory=pin), device, non_blocking=pin
)

seed_everything(0)
classic_model = to_device(MLP(28 * 28, [32], 10), device)
classic_history = fit(num_epochs, 0.2, classic_model, classic_train, classic_test)

# %% [markdown]
# **(b) The whole dataset on the device.** MNIST is 60,000 x 784 numbers: 188 MB as
# `float32`, small for any GPU and for the CPU's memory. So transform every image
# once (`dataset_to_tensors`), put the result on the device in one copy, and let
# `DeviceTensorLoader` cut shuffled batches out of it with tensor indexing. No
# per-image Python code runs during training, and nothing crosses from CPU to GPU.

# %%
train_images, train_labels = dataset_to_tensors(train_dataset)
test_images, test_labels = dataset_to_tensors(test_dataset)
course_train = DeviceTensorLoader(
    train_images, train_labels, batch_size=128, shuffle=True, device=device, generator=generator
)
course_test = DeviceTensorLoader(test_images, test_labels, batch_size=1000, device=device)
print(course_train)

# %% [markdown]
# Each batch is a slice of those tensors, already on the device:

# %% tags=["nbval-check-output"]
batch_images, batch_labels = next(iter(course_train))
print(batch_images.shape, batch_labels.shape, batch_images.device.type == device.type)

# %%
seed_everything(0)
course_model = to_device(MLP(28 * 28, [32], 10), device)
course_history = fit(num_epochs, 0.2, course_model, course_train, course_test)

# %% [markdown]
# Compare the training time per epoch (without the evaluation) and the accuracy
# reached. The model, the learning rate and the number of steps are the same; only
# the way batches are produced differs.

# %%
classic_seconds = statistics.median(epoch["train_seconds"] for epoch in classic_history)
course_seconds = statistics.median(epoch["train_seconds"] for epoch in course_history)
speedup = classic_seconds / course_seconds
classic_accuracy = classic_history[-1]["val_acc"]
print(
    f"classic pipeline:   {classic_seconds:.2f} s per epoch, test accuracy {classic_accuracy:.2%}"
)
course_accuracy = course_history[-1]["val_acc"]
print(
    f"dataset on {device.type}: {course_seconds:.2f} s per epoch, "
    f"test accuracy {course_accuracy:.2%}"
)
print(f"speed-up: {speedup:.1f}x")

# %%
fig, ax = plt.subplots(figsize=(6, 2.2))
ax.barh(
    ["(a) classic pipeline", f"(b) dataset on {device.type}"],
    [classic_seconds, course_seconds],
    color=["tab:gray", "tab:green"],
)
ax.set_xlabel("seconds per training epoch")
ax.set_title(f"Same model, same steps: {speedup:.0f}x faster")
plt.show()

# %% [markdown]
# On the 2-core CPU this course is tested on, the classic pipeline took 19 to 28
# times as long per epoch as the dataset held in memory, over the runs made while
# writing this lesson (about 6.5 to 7.4 s against 0.25 to 0.33 s), and both
# reached 96.0% test accuracy within a tenth of a point. Almost all of its time went into
# turning images into tensors, one at a time, again every epoch; the network
# itself is tiny. On a GPU the gap is wider still, because the GPU computes faster
# while the CPU still prepares images at the same speed.
#
# Holding the data on the device works whenever it fits in the device's memory
# (MNIST and CIFAR-10 fit easily). Datasets too big for that, or augmentation
# done per image, need the `DataLoader`: then `num_workers`, `pin_memory` and
# transforms that work on whole batches are the tools.
#
# ## 6. CPU against GPU for the same training
#
# The same pipeline (b) and model, one epoch on each device we have:

# %%
epoch_seconds = {}
for each_device in devices:
    seed_everything(0)
    timing_model = to_device(MLP(28 * 28, [32], 10), each_device)
    timing_train = DeviceTensorLoader(
        train_images, train_labels, batch_size=128, shuffle=True, device=each_device
    )
    timing_test = DeviceTensorLoader(test_images, test_labels, batch_size=1000, device=each_device)
    epoch_seconds[each_device.type] = fit(1, 0.2, timing_model, timing_train, timing_test)[0][
        "train_seconds"
    ]
print({name: f"{seconds:.2f} s" for name, seconds in epoch_seconds.items()})
if len(epoch_seconds) == 1:
    print("Only the CPU is available here, so there is nothing to compare it with.")

# %% [markdown]
# With a 32-unit model even a GPU has little to do: each step is a few tiny matrix
# products, and the time per step is mostly Python and kernel-launch overhead.
# Bigger models and bigger batches are where a GPU pulls ahead (see the exercises).
#
# ## 7. Next speed steps: mixed precision and `torch.compile`
#
# **Mixed precision.** `torch.autocast` runs matrix products in `bfloat16`, a
# 16-bit float with `float32`'s range but fewer digits, and keeps the rest in
# `float32`. Hardware with bfloat16 units (recent NVIDIA GPUs, CPUs with AVX-512
# BF16 or AMX) does such products up to twice as fast or more, and the data moved
# is halved. The model's `forward` is wrapped in autocast; the loss and the
# weights stay in `float32`.


# %%
class MixedPrecisionMLP(MLP):
    """The lesson's MLP with its forward pass under bfloat16 autocast."""

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=inputs.device.type, dtype=torch.bfloat16):
            return super().forward(inputs).float()


wide_train = DeviceTensorLoader(
    train_images, train_labels, batch_size=256, shuffle=True, device=device
)
bf16_supported = (device.type == "cuda" and torch.cuda.is_bf16_supported()) or device.type == "cpu"
if bf16_supported:
    precision_seconds = {}
    for label, model_class in (("float32", MLP), ("bfloat16 autocast", MixedPrecisionMLP)):
        seed_everything(0)
        wide_model = to_device(model_class(28 * 28, [1024, 1024], 10), device)
        result = fit(1, 0.05, wide_model, wide_train, course_test)[0]
        precision_seconds[label] = result["train_seconds"]
        seconds, accuracy = result["train_seconds"], result["val_acc"]
        print(f"{label}: {seconds:.2f} s per epoch, test accuracy {accuracy:.2%}")
else:
    print(f"Skipped: bfloat16 autocast is not supported on this {device.type} device.")

# %% [markdown]
# A 1024-1024 MLP gives the processor enough matrix work for precision to matter.
# Where the hardware has no bfloat16 units, autocast makes training *slower*
# (every product is converted back and forth), so always measure.
#
# **`torch.compile`** turns the model's Python code into fused, optimised kernels.
# Compiling takes a while the first time a model runs, then every step is faster.
# It pays off on GPUs and for long trainings.

# %%
if device.type == "cuda":
    seed_everything(0)
    compiled_model = torch.compile(to_device(MLP(28 * 28, [1024, 1024], 10), device))
    compile_history = fit(2, 0.05, compiled_model, wide_train, course_test)
    print(
        f"first epoch (with compiling) {compile_history[0]['train_seconds']:.1f} s, "
        f"second epoch {compile_history[1]['train_seconds']:.2f} s"
    )
else:
    print(
        "Skipped on the CPU: torch.compile works there too, but on the course's 2-core test "
        "machine it spent about 19 s compiling a 512-256 MLP to make each step about 7% faster, "
        "a loss for trainings as short as this lesson's."
    )

# %% [markdown]
# ## Summary
#
# - `get_default_device()` picks CUDA, then MPS, then the CPU; `to_device` moves
#   tensors, models and containers of them; operands must share a device.
# - GPUs win on big matrix work; they do not help tiny models or starved pipelines.
# - `pin_memory` and `non_blocking` speed up CPU-to-GPU copies; a generator
#   (`yield`) lets `DeviceDataLoader` move each batch just in time.
# - Per-image transforms in a `DataLoader` can cost far more than the training
#   itself; a dataset that fits on the device should live there as one tensor
#   (`dataset_to_tensors` + `DeviceTensorLoader`).
# - Mixed precision and `torch.compile` are the next steps, where the hardware
#   supports them: measure before keeping either.

# %%
record_result("device", device.type)
record_result("classic pipeline seconds per epoch", round(classic_seconds, 2))
record_result("dataset-on-device seconds per epoch", round(course_seconds, 2))
record_result("pipeline speed-up", round(speedup, 1), unit="x")

# %% [markdown]
# ## Exercises
#
# **Exercise 1: a bigger model on each device.** Time one epoch of an MLP with
# hidden layers [2048, 2048] on every device in `devices`, with pipeline (b).
# Which is faster, and by how much?

# %%
### BEGIN SOLUTION
# Hint: per device, move an MLP(784, [2048, 2048], 10) and a DeviceTensorLoader there, fit 1 epoch
big_model_seconds = {}
for each_device in devices:
    seed_everything(0)
    big_model = to_device(MLP(28 * 28, [2048, 2048], 10), each_device)
    big_train = DeviceTensorLoader(
        train_images, train_labels, batch_size=256, shuffle=True, device=each_device
    )
    big_test = DeviceTensorLoader(test_images, test_labels, batch_size=1000, device=each_device)
    big_model_seconds[each_device.type] = fit(1, 0.05, big_model, big_train, big_test)[0][
        "train_seconds"
    ]
### END SOLUTION
print({name: f"{seconds:.2f} s" for name, seconds in big_model_seconds.items()})

# %% [markdown]
# **Exercise 2: where does the GPU start to win?** For batch sizes 16, 64, 256 and
# 1024, time 20 training steps of the lesson's 32-unit MLP on each device. At
# which batch size is the GPU faster than the CPU? (Without a GPU, watch how the
# CPU's time per image falls as batches grow.)


# %%
### BEGIN SOLUTION
# Hint: time steps on random data; on a GPU call torch.cuda.synchronize() before reading the clock
def seconds_per_step(batch_size: int, on: torch.device, steps: int = 20) -> float:
    """Mean time of one training step of the 32-unit MLP on random data."""
    step_model = to_device(MLP(28 * 28, [32], 10), on)
    optimizer = torch.optim.SGD(step_model.parameters(), lr=0.1)
    inputs = torch.randn(batch_size, 1, 28, 28, device=on)
    labels = torch.randint(0, 10, (batch_size,), device=on)
    for step in range(steps + 1):
        if step == 1:  # the first step includes one-off set-up
            if on.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
        loss = step_model.training_step((inputs, labels))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    if on.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / steps


step_table = {
    size: {d.type: seconds_per_step(size, d) for d in devices} for size in (16, 64, 256, 1024)
}
### END SOLUTION
for size, timings in step_table.items():
    print(
        f"batch {size:5}: "
        + ", ".join(
            f"{name} {seconds * 1e6 / size:.1f} µs per image" for name, seconds in timings.items()
        )
    )
