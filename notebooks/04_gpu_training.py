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
# - time GPU work honestly (`synchronize`), and find the data-loading bottleneck;
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
import gc
import inspect
import logging
import statistics
import time

import matplotlib.pyplot as plt
import torch
import torch._inductor.config as inductor_config
from torch.utils.data import DataLoader, Subset, random_split
from torchvision import transforms

from course_utils import (
    DeviceDataLoader,
    DeviceTensorLoader,
    evaluate,
    fit,
    get_default_device,
    to_device,
    training,
)
from course_utils.checks.lesson04 import check_exercise
from course_utils.data import dataset_to_tensors, mnist
from course_utils.device import bfloat16_support, synchronize
from course_utils.models import MLP
from course_utils.report import record_result
from course_utils.settings import full_or_smoke, seed_everything, smoke_mode

generator = seed_everything(0)
print(f"PyTorch {torch.__version__}")

# %% [markdown]
# **Settings.** Smoke mode (the quick run the test suite uses) times one epoch on
# a small slice of the training images instead of two on all of them, and the
# `torch.compile` comparison of section 7 trains 2 epochs instead of 4. The
# validation set is the same 10,000 images in both.

# %%
train_size = full_or_smoke(full=50_000, smoke=2_000)
num_epochs = full_or_smoke(full=2, smoke=1)
compile_epochs = full_or_smoke(full=4, smoke=2)
print(f"Smoke mode: {smoke_mode()}; training images: {train_size}; ", end="")
print(f"epochs per measurement: {num_epochs}; compile comparison epochs: {compile_epochs}")

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
# A product of two n x n matrices has n x n entries, each a sum of n products:
# n³ multiply-adds in all. For n = 2048:

# %% tags=["nbval-check-output"]
size = 2048
print(f"multiply-adds in a {size} x {size} product (billions): {size**3 / 1e9:.2f}")

# %% [markdown]
# That is about **8.6 billion**<!-- output: multiply-adds in a 2048 x 2048 product (billions) -->
# multiply-adds, all independent of each other: a GPU can share them out among
# thousands of cores. GPU work is *asynchronous*, though: Python queues it and
# moves on. Timing code must wait for the queued work to finish before reading
# the clock, or it measures only the queueing. `synchronize` from `course_utils`
# waits for a CUDA or Apple GPU, and does nothing on the CPU, which runs each
# operation as it is called:

# %% tags=["nbval-check-output"]
print(inspect.getsource(synchronize))

# %% [markdown]
# The course's `fit`, which trains most models in this lesson, does the same. After
# the last step of an epoch it waits for the device (the one the losses were
# computed on), and only then reads the clock for `train_seconds`. Here are those
# lines of its loop (`course_utils/training.py`). The time that `fit` prints after
# each epoch, in brackets, also includes the evaluation on the validation set, so it
# is longer than `train_seconds`, which the lesson's tables use.

# %% tags=["nbval-check-output"]
loop_source = inspect.getsource(training._train)
first = loop_source.index("start = time.perf_counter()")
last = loop_source.index("train_seconds = time.perf_counter() - start")
print(inspect.cleandoc(loop_source[first:last]) + "\ntrain_seconds = time.perf_counter() - start")


# %%
def seconds_per_matmul(size: int, on: torch.device, repeats: int = 3) -> float:
    """Median time of one size x size matrix product on a device."""
    a, b = torch.randn(size, size, device=on), torch.randn(size, size, device=on)
    timings = []
    for _ in range(repeats + 1):  # the first run includes one-off set-up: skip it
        synchronize(on)
        start = time.perf_counter()
        a @ b
        synchronize(on)
        timings.append(time.perf_counter() - start)
    return statistics.median(timings[1:])


devices = [torch.device("cpu")] + ([device] if device.type != "cpu" else [])
for size in (64, 2048):
    print(
        f"{size} x {size}: "
        + ", ".join(f"{d.type} {seconds_per_matmul(size, d) * 1000:.2f} ms" for d in devices)
    )
if device.type == "cpu":
    print("No GPU here, so only the CPU is timed; on a GPU each line would also show its time.")

# %% [markdown]
# With a GPU, the lines above show both devices. For a 64 x 64 product there is
# too little work to share out, and we expect launching it on a GPU to cost about
# as much as doing it on the CPU. That is the first way a GPU fails to help:
# **tiny models**. The second is **starved GPUs**: if each batch takes longer to
# prepare than to compute, a faster processor changes nothing. Section 5
# measures exactly that.
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
# A CUDA GPU copies from *pinned* (page-locked: the operating system may not move
# it or swap it out) CPU memory: an ordinary tensor is
# first copied into a pinned buffer, so a tensor that is already pinned skips that
# step. `DataLoader(..., pin_memory=True)` pins every batch. `non_blocking=True` then
# makes the copy return at once: it is queued on the GPU behind the work already
# there, and Python goes on (to queue the next step, or to fetch the next batch)
# instead of waiting for it. The copy does not run *during* the GPU's computation:
# that needs a second CUDA stream, which this course does not use. Both only matter
# for CUDA GPUs:

# %%
if device.type == "cuda":
    pinned = torch.zeros(1000, 784).pin_memory()
    on_gpu = pinned.to(device, non_blocking=True)
    print(f"pinned: {pinned.is_pinned()}, copied to {on_gpu.device}")
else:
    print(
        "Skipped: on a CUDA GPU this cell would pin a 1000 x 784 tensor and copy it to the "
        "GPU with non_blocking=True. Pinning only speeds up copies to a CUDA GPU, and there "
        "is none here."
    )

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
# length (the wrapped loader's number of batches), which `fit` needs. With
# `non_blocking=True` and a pinned batch, `to_device` queues the copy and the
# generator hands the batch over at once; the GPU runs the copy before the step
# that uses it, because both sit in the same queue.

# %% tags=["nbval-check-output"]
print(inspect.getsource(DeviceDataLoader))

# %% [markdown]
# ## 5. Where does an epoch's time go?
#
# **A validation set.** As in lesson 03, we hold out 10,000 of the 60,000 MNIST
# training images, split the same way on every run by a seeded generator, and
# measure accuracy on them. This lesson measures speed and chooses nothing, so
# it never touches the test set: every accuracy below is a *validation* accuracy.

# %%
MNIST_MEAN, MNIST_STD = (0.1307,), (0.3081,)
to_tensor = transforms.Compose([transforms.ToTensor(), transforms.Normalize(MNIST_MEAN, MNIST_STD)])
full_train = mnist(train=True, transform=to_tensor)
train_dataset, val_dataset = random_split(full_train, [50_000, 10_000], generator=generator)
train_dataset = Subset(train_dataset, range(train_size))  # the whole split, except in smoke mode
print(len(train_dataset), len(val_dataset))

# %% [markdown]
# The same model as lesson 03 (784 -> 32 -> 10), trained the same way, with two
# data pipelines:
#
# **(a) The classic pipeline.** The torchvision dataset runs `ToTensor` and
# `Normalize` on each image when it is fetched; a `DataLoader` collates 128 of them
# into a batch; `DeviceDataLoader` moves each batch to the device.

# %%
pin = device.type == "cuda"
classic_train = DeviceDataLoader(
    DataLoader(train_dataset, batch_size=128, shuffle=True, pin_memory=pin, generator=generator),
    device,
    non_blocking=pin,
)
classic_val = DeviceDataLoader(
    DataLoader(val_dataset, batch_size=1000, pin_memory=pin), device, non_blocking=pin
)

seed_everything(0)
classic_model = to_device(MLP(28 * 28, [32], 10), device)
classic_history = fit(num_epochs, 0.2, classic_model, classic_train, classic_val)

# %% [markdown]
# **(b) The whole dataset on the device.** Transform every image once
# (`dataset_to_tensors`) and keep the results as one tensor of images and one of
# labels:

# %%
train_images, train_labels = dataset_to_tensors(train_dataset)
val_images, val_labels = dataset_to_tensors(val_dataset)
print(tuple(train_images.shape), train_images.dtype)
print(f"training images as float32 (MB): {train_images.nbytes / 1e6:.1f}")

# %% [markdown]
# That is **156.8 MB**<!-- output: training images as float32 (MB) -->, small for
# any GPU and for the CPU's memory. `DeviceTensorLoader` puts the tensors on the
# device in one copy and cuts shuffled batches out of them with tensor indexing.
# No per-image Python code runs during training, and the only thing that crosses
# from CPU to GPU is the shuffled order of the indices, once per epoch.

# %%
course_train = DeviceTensorLoader(
    train_images, train_labels, batch_size=128, shuffle=True, device=device, generator=generator
)
course_val = DeviceTensorLoader(val_images, val_labels, batch_size=1000, device=device)
print(course_train)

# %% [markdown]
# Compare it with `DeviceDataLoader` from section 4, which it replaces. That one
# wraps a `DataLoader`, which builds every batch image by image on the CPU, and then
# copies the batch to the device. `DeviceTensorLoader` moved its tensors to the
# device once, when it was created; its `__iter__` only shuffles an index and cuts
# slices:

# %% tags=["nbval-check-output"]
print(inspect.getsource(DeviceTensorLoader.__iter__))

# %% [markdown]
# Each batch is a slice of those tensors, already on the device:

# %% tags=["nbval-check-output"]
batch_images, batch_labels = next(iter(course_train))
print(batch_images.shape, batch_labels.shape, batch_images.device.type == device.type)

# %%
seed_everything(0)
course_model = to_device(MLP(28 * 28, [32], 10), device)
course_history = fit(num_epochs, 0.2, course_model, course_train, course_val)

# %% [markdown]
# Compare the training time per epoch (without the evaluation) and the validation
# accuracy reached. The model, its starting weights, the learning rate and the
# number of steps are the same; only the way batches are produced differs.

# %%
classic_seconds = statistics.median(epoch["train_seconds"] for epoch in classic_history)
course_seconds = statistics.median(epoch["train_seconds"] for epoch in course_history)
speedup = classic_seconds / course_seconds
classic_accuracy = classic_history[-1]["val_acc"]
course_accuracy = course_history[-1]["val_acc"]
# Both are fractions of the same 10,000 images, so the gap is a whole number of images.
gap_points = abs(course_accuracy - classic_accuracy) * 100
print(f"classic pipeline seconds per epoch: {classic_seconds:.2f}")
print(f"dataset-on-device seconds per epoch: {course_seconds:.2f}")
print(f"pipeline speed-up: {speedup:.1f}")
print(f"classic pipeline validation accuracy: {classic_accuracy:.4f}")
print(f"dataset-on-device validation accuracy: {course_accuracy:.4f}")
print(f"validation accuracy difference (points): {gap_points:.2f}")

# %%
fig, ax = plt.subplots(figsize=(6, 2.2))
ax.barh(
    ["(a) classic pipeline", f"(b) dataset on {device.type}"],
    [classic_seconds, course_seconds],
    color=["tab:gray", "tab:green"],
)
ax.set_xlabel("seconds per training epoch")
ax.set_title(f"Same model, same steps: {speedup:.1f}x faster")
plt.show()

# %% [markdown]
# In this run the classic pipeline took
# **5.65 s**<!-- output: classic pipeline seconds per epoch --> per epoch and the
# dataset held in memory **0.36 s**<!-- output: dataset-on-device seconds per epoch -->:
# the classic pipeline took **15.9 times**<!-- output: pipeline speed-up --> as long.
# The two models reached
# **94.98%**<!-- output: classic pipeline validation accuracy --> and
# **94.56%**<!-- output: dataset-on-device validation accuracy --> validation
# accuracy, **0.42 points**<!-- output: validation accuracy difference (points) -->
# apart. The two pipelines shuffle the images into different batches, and that is
# the only difference between the trainings, so a different random order alone
# moves the result by that much. Almost all of the classic
# pipeline's time went into turning images into tensors, one at a time, again
# every epoch; the network itself is tiny. We expect the gap to be wider still on
# a GPU, because the GPU computes each step faster while the CPU prepares images
# at the same speed as before.
#
# Holding the data on the device works whenever it fits in the device's memory
# (MNIST and CIFAR-10 fit easily). Datasets too big for that, or augmentation
# done per image, need the `DataLoader`: then `num_workers` (background processes
# that build the next batches while the model trains), `pin_memory` and
# transforms that work on whole batches are the tools.
#
# The classic pipeline has made its point. Its dataset and loaders still hold
# memory that the 1024-unit models and the compiler below need, so let them go.
# `del` removes the names; `gc.collect()` also frees at once any objects that only
# refer to each other, which Python would otherwise free later. (On a GPU, PyTorch
# keeps freed GPU memory for its next tensors; `torch.cuda.empty_cache()` hands it
# back to the driver.)

# %%
del full_train, train_dataset, val_dataset, classic_train, classic_val, classic_model
_ = gc.collect()

# %% [markdown]
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
    timing_val = DeviceTensorLoader(val_images, val_labels, batch_size=1000, device=each_device)
    timing_history = fit(1, 0.2, timing_model, timing_train, timing_val)
    epoch_seconds[each_device.type] = timing_history[0]["train_seconds"]
for name, seconds in epoch_seconds.items():
    print(f"32-unit MLP seconds per epoch on {name}: {seconds:.2f}")
if len(epoch_seconds) == 1:
    print("Skipped the GPU epoch: there is no GPU here, so the CPU has nothing to compare with.")

# %% [markdown]
# With a 32-unit model we expect even a GPU to have little to do: each step is a
# few tiny matrix products, so the time per step is mostly Python and
# kernel-launch overhead. Bigger models and bigger batches are where a GPU pulls
# ahead (see the exercises).
#
# ## 7. Next speed steps: mixed precision and `torch.compile`
#
# **Mixed precision.** `torch.autocast` runs matrix products in a 16-bit float
# type and keeps the rest in `float32`. Hardware with 16-bit units can compute
# such products faster, and the data moved is halved. There are two such types:
# - `bfloat16` has `float32`'s range but fewer digits. It needs no gradient scaler, and
#   recent NVIDIA GPUs and some CPUs (AVX-512 BF16 or AMX) compute in it.
# - `float16` has more digits but a much narrower range: small gradients would
#   round to zero. A *gradient scaler* (`torch.amp.GradScaler`) multiplies the
#   loss before `backward` and divides the gradients again before the step.
#   NVIDIA GPUs compute fast in it, older ones too.
#
# The model's `forward` is wrapped in autocast; the loss and the weights stay in
# `float32`.
#
# Which devices compute in bfloat16 themselves? `torch.cuda.is_bf16_supported()`
# answers `True` also on GPUs that only *emulate* it, converting every product to
# and from float32 (Colab's T4 is one), where autocast would make training slower.
# `bfloat16_support` from `course_utils` says whether the device has bfloat16
# arithmetic of its own, and why:

# %%
bf16_native, bf16_reason = bfloat16_support(device)
print(f"bfloat16 on this {device.type}: {'yes' if bf16_native else 'no'}, {bf16_reason}")


# %%
class MixedPrecisionMLP(MLP):
    """The lesson's MLP with its forward pass under autocast to ``dtype``."""

    def __init__(self, *args, dtype: torch.dtype = torch.bfloat16, **kwargs):
        super().__init__(*args, **kwargs)
        self.dtype = dtype

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=inputs.device.type, dtype=self.dtype):
            return super().forward(inputs).float()


wide_train = DeviceTensorLoader(
    train_images, train_labels, batch_size=256, shuffle=True, device=device
)
precisions = {"float32": MLP}
if bf16_native:
    precisions["bfloat16 autocast"] = MixedPrecisionMLP
else:
    print(
        "Skipped bfloat16: this cell would also train the model under bfloat16 autocast, "
        f"but this {device.type} has no bfloat16 arithmetic of its own ({bf16_reason}). "
        "The float32 run below still runs."
    )
for label, model_class in precisions.items():
    seed_everything(0)
    wide_model = to_device(model_class(28 * 28, [1024, 1024], 10), device)
    result = fit(1, 0.05, wide_model, wide_train, course_val)[0]
    print(f"{label} seconds per epoch: {result['train_seconds']:.2f}")
    print(f"{label} validation accuracy: {result['val_acc']:.4f}")

# %% [markdown]
# `fit` has no gradient scaler, so `float16` gets a short training loop of its
# own. It runs on a CUDA GPU, and on an Apple GPU, where current PyTorch has float16
# autocast and `GradScaler("mps")` too (the course has not timed it there, and an
# older PyTorch lacks them). Most CPUs have no fast float16 arithmetic, so on a CPU
# the cell says what it would do:


# %%
def train_epoch_float16(model: MLP, loader: DeviceTensorLoader, lr: float) -> float:
    """One epoch of SGD with a gradient scaler; return its seconds."""
    optimizer = torch.optim.SGD(model.parameters(), lr)
    scaler = torch.amp.GradScaler(device.type)
    model.train()
    synchronize(device)
    start = time.perf_counter()
    for batch in loader:
        loss = model.training_step(batch)
        scaler.scale(loss).backward()  # backward on loss x scale, so gradients stay in range
        scaler.step(optimizer)  # unscales the gradients; skips the step if any is inf or NaN
        scaler.update()  # a smaller scale after an overflow, a bigger one after a while without
        optimizer.zero_grad()
    synchronize(device)
    return time.perf_counter() - start


if device.type in ("cuda", "mps"):
    seed_everything(0)
    half_model = to_device(
        MixedPrecisionMLP(28 * 28, [1024, 1024], 10, dtype=torch.float16), device
    )
    half_seconds = train_epoch_float16(half_model, wide_train, lr=0.05)
    half_accuracy = evaluate(half_model, course_val)["val_acc"]
    print(f"float16 autocast + GradScaler seconds per epoch: {half_seconds:.2f}")
    print(f"float16 autocast + GradScaler validation accuracy: {half_accuracy:.4f}")
else:
    print(
        "Skipped: this is a CPU. On a CUDA or Apple GPU this cell would train the same "
        "model for one epoch with float16 autocast and a GradScaler, and print its time "
        "and validation accuracy beside the lines above. float16 pays off through a GPU's "
        "float16 units, which a CPU lacks."
    )

# %% [markdown]
# A 1024-1024 MLP gives the processor enough matrix work for precision to matter.
# In the run whose outputs you see, made on a 2-core CPU (the line above the timings
# names its bfloat16 instructions), one epoch took
# **4.17 s**<!-- output: float32 seconds per epoch --> in `float32` and
# **2.08 s**<!-- output: bfloat16 autocast seconds per epoch --> under bfloat16
# autocast, for validation accuracies of
# **89.13%**<!-- output: float32 validation accuracy --> and
# **89.12%**<!-- output: bfloat16 autocast validation accuracy -->: the fewer
# digits cost almost nothing in accuracy. The speed depends on the hardware. With
# fast bfloat16 units autocast can pay; without them every product is converted
# back and forth, which can make training *slower*. Always measure on your own
# machine before keeping it.
#
# **`torch.compile`** turns the model's Python code into fused, optimised kernels.
# Compiling takes a while the first time a model runs (and again for a new batch
# shape, such as a smaller last batch); after that, each step may run faster. It
# works on CPUs and NVIDIA GPUs; on Apple GPUs its support is still young, and on a
# CPU it needs a C++ compiler (on a Mac, Xcode's command-line tools).
#
# How you compile matters with `fit`. `torch.compile(model)` returns a *wrapper*
# whose `forward` is compiled, but `fit` calls `model.training_step(batch)`, and on
# the wrapper that is the original model's method, which calls the original,
# uncompiled `forward`: the timing would show no gain because nothing compiled ran.
# `fit` therefore refuses such a wrapper, with a message that says what to do:

# %% tags=["nbval-check-output"]
try:
    fit(1, 0.05, torch.compile(MLP(28 * 28, [32], 10)), course_train, course_val)
except TypeError as error:
    print("TypeError:", error)

# %% [markdown]
# `model.compile()` compiles the model *in place*: every call of the model, also the
# one inside `training_step`, then runs the compiled code. The same model, seed and
# batches, on 20,000 of the training images, trained for `compile_epochs` epochs
# without and with it. The first epoch of the compiled model includes the compiling;
# the median of the later epochs is the speed that follows, and their spread shows
# how much the same work varies from epoch to epoch on this machine:

# %%
# A CUDA build of PyTorch on a machine without a CUDA GPU logs "No CUDA runtime is
# found" when torch.compile first loads its C++ tools; CPU kernels do not need CUDA.
logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
if device.type == "cpu":
    # On a CPU, torch.compile builds its kernels with the system's C++ compiler: by
    # default several builds at once, after precompiling PyTorch's headers. The course
    # keeps every lesson within 1.5 GB of memory (Binder gives 2 GB), and that needs
    # more: build one at a time, without precompiled headers (a few seconds slower).
    inductor_config.compile_threads = 1
    if hasattr(inductor_config, "cpp_cache_precompile_headers"):  # not in older PyTorch
        inductor_config.cpp_cache_precompile_headers = False
compile_train = DeviceTensorLoader(
    train_images[:20_000], train_labels[:20_000], batch_size=256, shuffle=True, device=device
)
compile_seconds = {}
for label in ("eager", "compiled"):
    seed_everything(0)  # the same initial weights and the same shuffles for both
    compile_model = to_device(MLP(28 * 28, [1024, 1024], 10), device)
    if label == "compiled":
        compile_model.compile()
    try:
        compile_history = fit(compile_epochs, 0.05, compile_model, compile_train, course_val)
    except Exception as error:  # for example, no C++ compiler for the CPU kernels
        print(f"torch.compile failed here, so this comparison is skipped: {error}")
        break
    compile_seconds[label] = [epoch["train_seconds"] for epoch in compile_history]
if len(compile_seconds) == 2:
    for label, seconds in compile_seconds.items():
        print(f"{label}, seconds per epoch: {', '.join(f'{each:.2f}' for each in seconds)}")
    eager = statistics.median(compile_seconds["eager"][1:])
    compiled = statistics.median(compile_seconds["compiled"][1:])
    compiling = compile_seconds["compiled"][0] - compiled
    print(f"compiling cost, first training epoch (seconds): {compiling:.1f}")
    print(f"after the first epoch, eager / compiled median time: {eager / compiled:.2f}")
    if compiled < eager:
        print(f"epochs to win back the compiling: {compiling / (eager - compiled):.0f}")
    else:
        print("epochs to win back the compiling: never (the compiled epochs were not faster)")

# %% [markdown]
# In the run whose outputs you see, on the 2-core CPU, compiling cost
# **31.0 s**<!-- output: compiling cost, first training epoch (seconds) --> in the first
# training epoch (the evaluation compiles a graph of its own, which the epoch's line
# in brackets includes), and after it the eager / compiled ratio of median epoch
# times was **1.14**<!-- output: after the first epoch, eager / compiled median time -->.
# Compare that ratio with the spread of each model's later epochs in the first two
# lines: a difference smaller than the spread is not a gain you can count on. The
# last line says whether, and after how many epochs, the compiling would be won back.
# The validation accuracies of the two models differ in the last digits: fused
# kernels add the same numbers in another order, and round differently.
#
# On a CPU the matrix products of this MLP run in the same library kernels with or
# without compiling; what the compiler can fuse is the small work around them
# (adding the bias, the ReLU), so any gain is small. On a GPU, where each step of a
# small model is many short kernels, fusing them can save more: measure it there
# with the same cell. Run the cell a second time and compare the compiling cost: it
# should drop, because PyTorch keeps the kernels it compiled in a cache on disk.

# %% [markdown]
# ## Summary
#
# - `get_default_device()` picks CUDA, then MPS, then the CPU; `to_device` moves
#   tensors, models and containers of them; operands must share a device.
# - GPU work is asynchronous: call `synchronize(device)` before reading the clock.
# - GPUs are expected to win on big matrix work, and not to help tiny models or
#   starved pipelines: measure it with the cells above on a machine with a GPU.
# - `pin_memory` skips the extra copy into a pinned buffer, and `non_blocking` lets
#   Python go on while a copy is queued; a generator (`yield`) lets
#   `DeviceDataLoader` move each batch just in time.
# - Per-image transforms in a `DataLoader` can cost far more than the training
#   itself; a dataset that fits on the device should live there as one tensor
#   (`dataset_to_tensors` + `DeviceTensorLoader`).
# - Mixed precision (`bfloat16` where the device has it natively, or `float16` with
#   a gradient scaler) and `torch.compile` (in place, `model.compile()`) are the next
#   steps: measure before keeping either.

# %%
record_result("device", device.type)
record_result("classic pipeline seconds per epoch", round(classic_seconds, 2))
record_result("dataset-on-device seconds per epoch", round(course_seconds, 2))
record_result("pipeline speed-up", round(speedup, 1), unit="x")
record_result("dataset-on-device validation accuracy", round(course_accuracy, 4))

# %% [markdown]
# ## Exercises
#
# After each exercise, run its check cell: it says whether the exercise is not
# attempted yet, not right yet (and what it found), or passed (and what it checked).
# The lines under `if check_exercise(...)` run only for a passing answer.
#
# **Exercise 1: a bigger model on each device.** Time one epoch of an MLP with
# hidden layers [2048, 2048] on every device in `devices`, with pipeline (b).
# Which is faster, and by how much? Store the seconds in a dict `big_model_seconds`
# (device type -> seconds) and keep the last model you timed in `big_model`.

# %%
### BEGIN SOLUTION
# Hint: per device, fit MLP(784, [2048, 2048], 10) 1 epoch; store its seconds in big_model_seconds
big_model_seconds = {}
for each_device in devices:
    seed_everything(0)
    big_model = to_device(MLP(28 * 28, [2048, 2048], 10), each_device)
    big_train = DeviceTensorLoader(
        train_images, train_labels, batch_size=256, shuffle=True, device=each_device
    )
    big_val = DeviceTensorLoader(val_images, val_labels, batch_size=1000, device=each_device)
    big_history = fit(1, 0.05, big_model, big_train, big_val)
    big_model_seconds[each_device.type] = big_history[0]["train_seconds"]
### END SOLUTION

# %%
if check_exercise(1, big_model_seconds=big_model_seconds, big_model=big_model, devices=devices):
    for name, seconds in big_model_seconds.items():
        print(f"2048-2048 MLP seconds per epoch on {name}: {seconds:.2f}")

# %% [markdown] tags=["solution"]
# Only the CPU ran here, so there is no GPU to compare it with: one epoch of the
# 2048-2048 MLP took **10.85 s**<!-- output: 2048-2048 MLP seconds per epoch on cpu -->,
# against **0.26 s**<!-- output: 32-unit MLP seconds per epoch on cpu --> for
# the 32-unit model in section 6 (with batches of 128 rather than 256). This is
# the kind of model where we expect a GPU to pull far ahead, because each step is
# a few large matrix products.

# %% [markdown]
# **Exercise 2: where does the GPU start to win?** For batch sizes 16, 64, 256 and
# 1024, time 20 training steps of the lesson's 32-unit MLP on each device. At
# which batch size is the GPU faster than the CPU? (Without a GPU, watch how the
# CPU's time per image falls as batches grow.) Write the timing as a function
# `seconds_per_step(batch_size, on)` (the check tries it on a batch size of its own)
# and store its results in `step_table` (batch size -> device type -> seconds).


# %%
### BEGIN SOLUTION
# Hint: step_table[batch_size][device.type] = seconds per step; synchronize(on) before clock reads
def seconds_per_step(batch_size: int, on: torch.device, steps: int = 20) -> float:
    """Mean time of one training step of the 32-unit MLP on random data."""
    step_model = to_device(MLP(28 * 28, [32], 10), on)
    optimizer = torch.optim.SGD(step_model.parameters(), lr=0.1)
    inputs = torch.randn(batch_size, 1, 28, 28, device=on)
    labels = torch.randint(0, 10, (batch_size,), device=on)
    for step in range(steps + 1):
        if step == 1:  # the first step includes one-off set-up
            synchronize(on)
            start = time.perf_counter()
        loss = step_model.training_step((inputs, labels))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    synchronize(on)
    return (time.perf_counter() - start) / steps


step_table = {
    size: {d.type: seconds_per_step(size, d) for d in devices} for size in (16, 64, 256, 1024)
}
### END SOLUTION

# %%
if check_exercise(2, step_table=step_table, seconds_per_step=seconds_per_step, devices=devices):
    for size, timings in step_table.items():
        for name, seconds in timings.items():
            print(f"{name} microseconds per image, batch {size}: {seconds * 1e6 / size:.1f}")

# %% [markdown] tags=["solution"]
# Only the CPU ran here, so there is no crossover to find. Its time per image
# was **36.1 microseconds**<!-- output: cpu microseconds per image, batch 16 -->
# at batch 16 and
# **1.2 microseconds**<!-- output: cpu microseconds per image, batch 1024 --> at
# batch 1024: each step has a fixed cost (Python, and launching each operation)
# that a bigger batch shares among more images. Between the larger batches the
# figures need not keep falling (compare the lines above): each comes from one run
# of 20 steps, and once the fixed cost is shared out, the arithmetic per image is
# what is left. On a GPU that fixed cost is
# larger and the work per image smaller, so we expect it to win only from some
# batch size on.
