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
# [![Open In
# Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/course-org/pytorch-from-zero/blob/main/notebooks/04_gpu_training.ipynb)
# [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/course-org/pytorch-from-zero/main?urlpath=lab/tree/notebooks/04_gpu_training.ipynb)
#
# # Lesson 04: Training on a GPU
#
# A GPU is built to run thousands of threads in parallel (NVIDIA's CUDA C++ Programming
# Guide<!-- source: https://docs.nvidia.com/cuda/cuda-c-programming-guide/, introduction -->),
# suited to the many multiplications of a neural network's matrix products. This lesson
# moves training onto your device and measures where an epoch's time goes: section 6 times
# how long a training loop waits for its batches.
#
# Without a GPU the lesson trains on the CPU. On Colab, first pick
# *Runtime > Change runtime type > GPU*.
#
# **By the end of this lesson you can**
# - choose a device (CUDA, then Apple MPS, then CPU) and move tensors and models to it;
# - explain `pin_memory` and `non_blocking` (for CUDA GPUs);
# - write a training loop on the device, and a generator that delivers its batches there;
# - time device work honestly (warm up, `synchronize`, repeat) and find the data-loading
#   bottleneck;
# - hold a whole dataset on the device, and try `torch.compile` and (where the hardware
#   has it) mixed precision.

# %% [markdown] tags=["last-verified"]
# > **Last verified** 2026-12-08: PyTorch 2.14.1+cu130 on CPU (Intel(R) Xeon(R) Processor,
# > 2 threads); the whole lesson ran in 82 s with a peak memory of 1196 MB. The course's
# > runner wrote this line from the run that produced the worked lesson's outputs.

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
import os
import statistics
import time

import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset, random_split
from torchvision import transforms

from course_utils import DeviceDataLoader, fit, get_default_device, to_device
from course_utils.data import mnist
from course_utils.device import synchronize
from course_utils.models import MLP
from course_utils.settings import full_or_smoke, seed_everything, smoke_mode

split_rng = seed_everything(0)
print(f"PyTorch {torch.__version__}")

# %% [markdown]
# **Settings.** Smoke mode, the test suite's quick run, uses fewer images and epochs.

# %%
# Sizes used later; you need not read them now.
train_size = full_or_smoke(full=50_000, smoke=2_000)
hand_size = full_or_smoke(full=10_240, smoke=1_024)
num_epochs = full_or_smoke(full=4, smoke=2)  # section 6: epoch 1, then 3 later epochs
wide_size = full_or_smoke(full=10_000, smoke=2_000)
wide_epochs = full_or_smoke(full=7, smoke=2)  # section 7: 7 rounds in full mode
exercise_size = full_or_smoke(full=10_000, smoke=1_000)
print(f"Smoke mode: {smoke_mode()}")

# %% [markdown]
# Every figure this lesson measured comes from one run on the CPU of the *Last verified*
# line, and nothing ran on a GPU: the box before the Summary lists what was not measured.
#
# ## 1. Which devices do we have?
#
# `torch.cuda.is_available()` says whether PyTorch sees an NVIDIA GPU (or an AMD one,
# with PyTorch's ROCm build); `torch.backends.mps.is_available()`, an Apple-silicon GPU.
# The cell picks the first of CUDA, MPS and the CPU by hand, and checks that
# `get_default_device` from `course_utils` agrees (Appendix A prints it).

# %%
has_cuda = torch.cuda.is_available()
has_mps = torch.backends.mps.is_available()
print(f"CUDA available: {has_cuda}; Apple MPS available: {has_mps}")
if has_cuda:
    print(f"GPU: {torch.cuda.get_device_name(0)}")
print(f"logical CPUs: {os.cpu_count()}")

if has_cuda:  # by hand: the first of CUDA, Apple MPS and the CPU that this machine has
    by_hand = torch.device("cuda")
elif has_mps:
    by_hand = torch.device("mps")
else:
    by_hand = torch.device("cpu")
device = get_default_device()
print(f"device chosen by hand equals get_default_device(): {by_hand == device}")
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
# A product of two n x n matrices is n³ multiply-adds, in independent sums that a GPU
# shares out among thousands of cores. But GPU work is *asynchronous*: Python queues it
# and goes on (PyTorch's CUDA semantics
# page<!-- source: https://pytorch.org/docs/stable/notes/cuda.html, asynchronous execution -->),
# so a timing must wait for it before reading the clock, with `synchronize(device)` from
# `course_utils` (on a CPU it does nothing).
#
# `SimulatedGPU` (Appendix A) sleeps to imitate a GPU's queue, so it runs on any machine:

# %%
from course_utils.checks.lesson04 import SimulatedGPU

simulated = SimulatedGPU(step_seconds=0.02)  # each step: 20 ms of simulated GPU work
start = time.perf_counter()
for _ in range(10):
    simulated.queue_step()  # returns at once, as a GPU operation does
print(
    f"simulated GPU, 10 steps, clock read without synchronize (s): "
    f"{time.perf_counter() - start:.2f}"
)
simulated.synchronize()  # wait for the queued steps, as synchronize(device) does
print(
    f"simulated GPU, 10 steps, clock read after synchronize (s): {time.perf_counter() - start:.2f}"
)

# %% [markdown]
# Without the wait the clock read
# **0.00 s**<!-- output: simulated GPU, 10 steps, clock read without synchronize (s) -->,
# only the queueing; after it,
# **0.20 s**<!-- output: simulated GPU, 10 steps, clock read after synchronize (s) -->.
#
# **A copy to the CPU waits too.** `loss.item()` copies a loss to the CPU, and on a GPU
# such a copy waits for the work queued before it (PyTorch's CUDA semantics
# page<!-- source: https://pytorch.org/docs/stable/notes/cuda.html, asynchronous execution -->).
# On the simulated GPU, `host_sync` stands for it. In each of 5 steps, Python first does
# its own work (`time.sleep(0.02)`, standing for loading the batch), then queues a
# simulated GPU step as long. The loop runs without, then with, a `loss.item()` each step:

# %%
for item_each_step in (False, True):
    sim_gpu = SimulatedGPU(step_seconds=0.02)  # each step: 20 ms of simulated GPU work
    start = time.perf_counter()
    for _ in range(5):
        time.sleep(0.02)  # Python's own work for the step: 20 ms
        sim_gpu.queue_step()  # returns at once
        if item_each_step:
            sim_gpu.host_sync("loss.item()")  # a copy to the CPU: waits for the queue
    sim_gpu.synchronize()  # the end of the loop: wait for what is still queued
    which = "a loss.item() each step" if item_each_step else "no loss.item() in the loop"
    print(f"simulated GPU, 5 steps, {which} (s): {time.perf_counter() - start:.2f}")
del sim_gpu

# %% [markdown]
# Without a `loss.item()`, the simulated queue ran while Python did its next step's work,
# so only the last queued step was left to wait for: 5 x 20 milliseconds of Python's work
# plus that last 20-millisecond step make 120 milliseconds, and the clock read
# **0.12 s**<!-- output: simulated GPU, 5 steps, no loss.item() in the loop (s) -->. With
# one each step, Python waited for each queued step before its next step's work:
# 5 x (20 + 20) milliseconds make 200 milliseconds, and the clock read
# **0.20 s**<!-- output: simulated GPU, 5 steps, a loss.item() each step (s) -->. The mock
# is built to behave so; on a real GPU, look for the same gap in your own loops.
#
# **An honest timing** does three things. It **warms up**: it runs the work once, untimed,
# so that one-off costs of a first run stay off the clock. Section 7 measures one such
# cost, compiling. It **synchronises** before each clock reading. And it **repeats**,
# quoting the median with the spread.
#
# On a GPU, look for other one-off costs in a slower first run. One is choosing a
# *kernel*. A kernel is the compiled function that the device runs for one operation.
#
# `seconds_per_product`, next, does all three. The cell after it times, in each repeat,
# 1,000 products of two 64 x 64 matrices, then 10 products of two 2048 x 2048 ones, and
# prints how fast each device worked at each size:


# %%
def seconds_per_product(a: torch.Tensor, b: torch.Tensor, products: int, repeats: int = 5):
    """Return, for each repeat after a warm-up, the mean seconds per product."""
    for _ in range(products):  # the warm-up: it pays any one-off set-up
        a @ b
    timings = []
    for _ in range(repeats):
        synchronize(a.device)  # nothing queued before may run into the clock
        start = time.perf_counter()
        for _ in range(products):
            a @ b
        synchronize(a.device)  # wait for the products themselves
        timings.append((time.perf_counter() - start) / products)
    return timings


# %%
devices = [torch.device("cpu")] + ([device] if device.type != "cpu" else [])  # and a GPU
timed = {}  # (device type, size) -> each repeat's mean seconds per product
for size, products in ((64, 1000), (2048, 10)):  # products per repeat, at each size
    for each_device in devices:
        a, b = (torch.randn(size, size, device=each_device) for _ in range(2))
        timed[each_device.type, size] = seconds_per_product(a, b, products)
for (kind, size), times in timed.items():  # one line a size
    median = statistics.median(times)  # seconds a product, at the median repeat
    # A product is size**3 multiply-adds: billions of them a second, at the median repeat
    rate = size**3 / median / 1e9
    slowest, fastest = size**3 / max(times) / 1e9, size**3 / min(times) / 1e9  # the range
    print(
        f"{kind} billions of multiply-adds per second, {size} x {size}: {rate:.1f} "
        f"(repeats {slowest:.1f} to {fastest:.1f}); {median * 1e3:.4g} ms a product"
    )

# %% [markdown]
# On this CPU a 2048 x 2048 product ran at a median
# **197.3 billion**<!-- output: cpu billions of multiply-adds per second, 2048 x 2048 -->
# multiply-adds a second, a 64 x 64 product at only **47.9
# billion**<!-- output: cpu billions of multiply-adds per second, 64 x 64 -->. In brackets:
# the slowest and fastest of the 5 repeats. Look for a wide spread in the 64 x 64 repeats:
# a tiny product takes only microseconds, so small disturbances (another process taking
# the CPU for a moment) likely swing a whole repeat. That is why the lesson reads the
# median.
#
# On a GPU, the CPU *launches* each operation: it queues one kernel on the device and
# goes on (PyTorch's CUDA semantics
# page<!-- source: https://pytorch.org/docs/stable/notes/cuda.html, asynchronous execution -->).
# Look for a cost per launch that does not depend on the product's size: with a GPU, its
# 64 x 64 rate would then lag its 2048 x 2048 rate further than the CPU's does.
#
# So on a GPU, look for little gain in two cases: **tiny models**, whose products may be
# too small to fill it (look for the lag above), and **starved GPUs**, which wait for the
# CPU to prepare each batch. Section 6 shows a loop on this CPU that waits for its
# batches. With a GPU, it also times a tiny model against a wide one.

# %% [markdown]
# ## 3. Moving data: `.to`, `pin_memory` and `non_blocking`
#
# A model and its inputs must be on the same device (lesson 01). `to_device` from
# `course_utils` moves a tensor, a model, or a list, tuple or dict of them. Its core is a
# few lines of recursion, checked against `to_device` on a nested batch:


# %%
def move(data, on: torch.device):
    """Tensors and modules move; lists, tuples and dicts are rebuilt around moved items."""
    if isinstance(data, (torch.Tensor, torch.nn.Module)):
        return data.to(on)
    if isinstance(data, dict):
        return {key: move(value, on) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return type(data)(move(item, on) for item in data)
    raise TypeError(f"cannot move an object of type {type(data).__name__}")


nested = {"images": torch.zeros(4, 1, 28, 28), "labels": (torch.arange(4),)}
mine_moved, helper = move(nested, device), to_device(nested, device)
pairs = [(mine_moved["images"], helper["images"]), (mine_moved["labels"][0], helper["labels"][0])]
agree = type(mine_moved["labels"]) is tuple and all(
    torch.equal(mine, theirs) and mine.device.type == theirs.device.type == device.type
    for mine, theirs in pairs
)
print(f"move and to_device agree, every tensor on {device.type}: {agree}")

# %% [markdown]
# For copies to a CUDA GPU, [PyTorch's CUDA
# notes](https://pytorch.org/docs/stable/notes/cuda.html) recommend two settings:
# - `pin_memory=True` in a `DataLoader` puts each batch in *pinned* (page-locked) CPU
#   memory, which the operating system may not move; PyTorch documents copies from it to
#   a CUDA GPU as faster, and as the only ones that can be asynchronous.
# - `.to(device, non_blocking=True)` from pinned memory is documented to queue the copy
#   and return at once.
#
# This lesson uses both on CUDA GPUs only: on an Apple GPU (MPS), non-blocking copies from
# ordinary memory have been reported to give wrong values (PyTorch issues
# [#139550](https://github.com/pytorch/pytorch/issues/139550),
# [#189690](https://github.com/pytorch/pytorch/issues/189690)).
#
# On a CUDA GPU, look for `non_blocking=True` to return far sooner than its copy finishes
# (the next cell times it there):

# %%
if device.type == "cuda":
    pinned = torch.ones(25_000_000).pin_memory()  # 25 million float32 numbers: 100 MB
    pinned.to(device)  # untimed: one-off costs, and GPU memory PyTorch keeps for reuse
    for non_blocking in (True, False):
        synchronize(device)  # nothing queued before may run into the clock
        copy_start = time.perf_counter()
        copied = pinned.to(device, non_blocking=non_blocking)
        returned = time.perf_counter() - copy_start  # Python has its tensor, maybe not its data
        synchronize(device)  # wait for the copy itself
        finished = time.perf_counter() - copy_start
        name = f"pinned 100 MB to the GPU, non_blocking={non_blocking}"
        print(f"{name}, ms until .to returned: {returned * 1e3:.2f}")
        if non_blocking:
            print(f"{name}, ms until synchronize finished: {finished * 1e3:.2f}")
        del copied  # frees its GPU memory for the next copy
    del pinned
else:
    print(
        "No CUDA GPU here, and this lesson pins only for one (see above): on a CUDA GPU, this "
        "cell would copy 100 MB of pinned memory to it with non_blocking=True, then False, "
        "and print how long .to took to return, and the non-blocking copy to finish. There, "
        "look for the first line to be far smaller than the second."
    )

# %% [markdown]
# ## 4. A training loop on the device, by hand
#
# **The data.** As in lesson 03, 10,000 of the 60,000 MNIST training images are held out
# for validation; the lesson never touches the test set.

# %%
MNIST_MEAN, MNIST_STD = (0.1307,), (0.3081,)
to_tensor = transforms.Compose([transforms.ToTensor(), transforms.Normalize(MNIST_MEAN, MNIST_STD)])
full_train = mnist(train=True, transform=to_tensor)
train_dataset, val_dataset = random_split(full_train, [50_000, 10_000], generator=split_rng)
train_dataset = Subset(train_dataset, range(train_size))  # the whole split, except in smoke mode
print(len(train_dataset), len(val_dataset))

# %% [markdown]
# The loop is lesson 03's (plain SGD, learning rate 0.2) with three changes:
# 1. the model moves to the device *before* its optimizer is built, as `torch.optim`'s
#    documentation<!-- source: https://pytorch.org/docs/stable/optim.html --> asks;
# 2. each batch moves just before use;
# 3. each loss stays on the device: a `loss.item()` each step would wait for the GPU's
#    queue every step (section 2's simulated GPU acted out what that costs).
#
# One epoch of the 32-unit model on the first 10,240 training images:

# %%
pin = device.type == "cuda"  # this lesson pins only for a CUDA GPU (section 3)
hand_train = Subset(train_dataset, range(hand_size))  # the first 10,240 training images


def shuffled_loader(dataset: Dataset, seed: int) -> DataLoader:
    """The dataset in batches of 128, shuffled in the order that seed decides."""
    return DataLoader(
        dataset,
        batch_size=128,
        shuffle=True,
        pin_memory=pin,
        generator=torch.Generator().manual_seed(seed),
    )


val_loader = DataLoader(val_dataset, batch_size=1000, pin_memory=pin)

# %%
seed_everything(0)
hand_model = MLP(28 * 28, [32], 10).to(device)  # change 1: move, then build the optimizer
hand_optimizer = torch.optim.SGD(hand_model.parameters(), lr=0.2)
hand_losses = []
hand_model.train()
for images, labels in shuffled_loader(hand_train, seed=1):
    images = images.to(device, non_blocking=pin)  # change 2: the batch joins the model
    labels = labels.to(device, non_blocking=pin)  # change 2
    loss = F.cross_entropy(hand_model(images), labels)
    loss.backward()
    hand_optimizer.step()
    hand_optimizer.zero_grad()
    hand_losses.append(loss.detach())  # change 3: the loss stays on the device
hand_train_loss = torch.stack(hand_losses).mean().item()  # one copy to the CPU, at the end
print(f"hand loop, mean training loss: {hand_train_loss:.4f}")

# %% [markdown]
# **The evaluation pass** is lesson 03's, on the device. It calls `.item()` twice a batch,
# so on a GPU it waits for the device 20 times over the 10 validation batches: the kind
# of wait that change 3 keeps out of training.

# %%
hand_model.eval()
total_loss, correct = 0.0, 0
with torch.no_grad():
    for images, labels in val_loader:
        images, labels = images.to(device, non_blocking=pin), labels.to(device, non_blocking=pin)
        logits = hand_model(images)
        total_loss += F.cross_entropy(logits, labels, reduction="sum").item()
        correct += (logits.argmax(dim=1) == labels).sum().item()
hand_val_loss, hand_val_acc = total_loss / len(val_dataset), correct / len(val_dataset)
print(f"hand loop, validation loss: {hand_val_loss:.4f}")
print(f"hand loop, validation accuracy: {hand_val_acc:.4f}")

# %% [markdown]
# After one epoch the model scores
# **89.01%**<!-- output: hand loop, validation accuracy --> on the validation set.

# %% [markdown]
# ## 5. A data loader that delivers to the device
#
# A loader that hands out batches already on the device removes the loop's two `.to`
# lines. The shortest way to write one is a *Python generator*: a function containing
# `yield`. Each `yield` hands over one value and pauses until the next is asked for:


# %%
def two_letters():
    yield "a"
    yield "b"


print(list(two_letters()))  # asks for every value
letters = two_letters()  # nothing has run yet
print(next(letters))  # runs to the first yield and pauses

# %% [markdown]
# The `__iter__` below is a generator too, yielding one batch at a time; `__len__` gives
# the number of batches, which `fit` needs:


# %%
class BatchesOnDevice:
    """Each batch of `loader`, moved to `device` only when the loop asks for it."""

    def __init__(self, loader: DataLoader, device: torch.device):
        self.loader, self.device = loader, device

    def __iter__(self):
        for images, labels in self.loader:  # a generator: one batch at a time
            yield images.to(self.device), labels.to(self.device)

    def __len__(self) -> int:
        return len(self.loader)


mine = BatchesOnDevice(shuffled_loader(hand_train, seed=1), device)
course = DeviceDataLoader(shuffled_loader(hand_train, seed=1), device)
same = all(
    torch.equal(my_images, its_images) and torch.equal(my_labels, its_labels)
    for (my_images, my_labels), (its_images, its_labels) in zip(mine, course, strict=True)
)
print(f"batches: {len(mine)}; the same as DeviceDataLoader's: {same}")
del mine, course  # they hold the loaders, and the dataset through them

# %% [markdown]
# `DeviceDataLoader` does the same for batches of any shape (Appendix A prints it).
#
# **`fit` takes over.** A second model, trained one epoch with the same seeds and
# settings, checks `fit` against the hand loop:

# %%
seed_everything(0)
fit_model = to_device(MLP(28 * 28, [32], 10), device)
fit_train = DeviceDataLoader(shuffled_loader(hand_train, seed=1), device, non_blocking=pin)
fit_val = DeviceDataLoader(val_loader, device, non_blocking=pin)
fit_result = fit(1, 0.2, fit_model, fit_train, fit_val)[0]

# %% tags=["nbval-check-output"]
weight_gap = max(
    (mine - its).abs().max().item()
    for mine, its in zip(hand_model.parameters(), fit_model.parameters(), strict=True)
)
print(f"largest weight difference, hand loop against fit: {weight_gap:.1e}")
hand_figures = torch.tensor([hand_train_loss, hand_val_loss, hand_val_acc])
fit_figures = torch.tensor([fit_result[key] for key in ("train_loss", "val_loss", "val_acc")])
print(
    "same training loss, validation loss and accuracy:", torch.allclose(hand_figures, fit_figures)
)

# %% [markdown]
# The weights match, and `fit`'s epoch line repeats the hand loop's figures: from here on
# `fit` trains. It returns a *history*, one dict per epoch, whose `train_seconds` times the
# training alone, waiting for the device at both ends (Appendix A).

# %% [markdown]
# ## 6. Where does an epoch's time go?
#
# A device trains only as fast as its batches arrive. Here the 32-unit model trains four
# epochs on all 50,000 training images through three data pipelines, each one step from
# the one before:
# - **(a) the classic pipeline**: a `DataLoader` fetches each image, which torchvision's
#   MNIST hands over as a PIL image<!-- source: torchvision's MNIST documentation -->,
#   transforms it (`ToTensor`, `Normalize`) and collates 128 into a batch, every epoch, in
#   the notebook's process (`num_workers=0`);
# - **(b) ready tensors**: the same `DataLoader`, over the images transformed once, into
#   one tensor;
# - **(c) the whole dataset on the device**: that tensor, with each batch gathered from it
#   in one indexing, and no `DataLoader`.
#
# (c) is the goal; (b) is the step between. All three draw the same batches in the same
# order each epoch, so they should train the same weights (checked after the table).
#
# > **How we time.** An epoch's time is `fit`'s `train_seconds`, training only. We leave
# > epoch 1 out by rule, since one-off costs would land there (Appendix B compares it
# > with the later ones), and quote the median of the three later epochs. `TimedBatches` adds up
# each epoch's waits for batches; the
# > loop gets the same batches as from the loader it wraps.


# %%
# How TimedBatches works: Appendix B.
class TimedBatches:
    """Adds up, each epoch, the seconds the loop waited for its batches."""

    def __init__(self, loader, device: torch.device):
        self.loader, self.device, self.waits = loader, device, []  # waits: one per epoch

    def __iter__(self):
        self.waits.append(0.0)  # a new epoch
        batches = iter(self.loader)
        while True:
            synchronize(self.device)
            start = time.perf_counter()
            batch = next(batches, None)
            synchronize(self.device)
            self.waits[-1] += time.perf_counter() - start
            if batch is None:
                return
            yield batch

    def __len__(self) -> int:
        return len(self.loader)  # fit needs the number of batches


# %% [markdown]
# **(a)** trains through `TimedBatches` and `fit`. Its `DataLoader` takes each epoch's order
# from `SeededShuffle`, a *sampler*, which draws the order that (c)'s loader draws (why not
# `shuffle=True`: Appendix B).

# %%
# SeededShuffle: a sampler drawing each epoch's order with torch.randperm, as (c)'s loader does
from course_utils import SeededShuffle

shuffle_seed = 0  # the same seed for every pipeline


def classic_loader(dataset: Dataset) -> TimedBatches:
    """Pipeline (a)'s batches of `dataset`: a DataLoader in SeededShuffle's order, each
    batch moved to the device, each epoch's waits timed."""
    return TimedBatches(
        DeviceDataLoader(
            DataLoader(
                dataset,
                batch_size=128,
                sampler=SeededShuffle(len(dataset), seed=shuffle_seed),
                pin_memory=pin,
            ),
            device,
            non_blocking=pin,
        ),
        device,
    )


classic_train = classic_loader(train_dataset)
seed_everything(0)
classic_model = to_device(MLP(28 * 28, [32], 10), device)
classic_history = fit(num_epochs, 0.2, classic_model, classic_train, fit_val)

# %% [markdown]
# **(b).** `dataset_to_tensors` fetches each transformed image once and stacks them into
# one tensor of images and one of labels. The cell times it and checks it by hand:

# %%
from course_utils.data import dataset_to_tensors

start = time.perf_counter()
train_images, train_labels = dataset_to_tensors(train_dataset)
convert_seconds = time.perf_counter() - start
val_images, val_labels = dataset_to_tensors(val_dataset)  # untimed: only training counts
print(f"training images as float32 (MB): {train_images.nbytes / 1e6:.1f}")
print(f"dataset_to_tensors seconds for the training images (one-off): {convert_seconds:.2f}")
# dataset_to_tensors by hand: fetch each transformed image and its label, then stack them.
pairs = [val_dataset[index] for index in range(1000)]  # (image, label)
stacked_images = torch.stack([image for image, _ in pairs])
stacked_labels = torch.tensor([label for _, label in pairs])
same = torch.equal(stacked_images, val_images[:1000].cpu())
same = same and torch.equal(stacked_labels, val_labels[:1000].cpu())
print(f"the first 1,000 validation images stacked by hand equal dataset_to_tensors': {same}")
del pairs, stacked_images, stacked_labels

# %% [markdown]
# The training images take **156.8 MB**<!-- output: training images as float32 (MB) -->,
# converted once, on this CPU, in
# **3.48 s**<!-- output: dataset_to_tensors seconds for the training images (one-off) -->.
# (b) puts them behind (a)'s `DataLoader`, sampler and batch order. (b) and (c) evaluate
# on the validation images, converted the same way:

# %%
from course_utils import DeviceTensorLoader

c_val = DeviceTensorLoader(val_images, val_labels, batch_size=1000, device=device)
b_train = classic_loader(TensorDataset(train_images, train_labels))
seed_everything(0)
b_model = to_device(MLP(28 * 28, [32], 10), device)
b_history = fit(num_epochs, 0.2, b_model, b_train, c_val)

# %% [markdown]
# **(c)** gathers each batch out of the same tensors. Each epoch, `DeviceTensorLoader`
# shuffles an index and takes those rows (`images[index]`): no per-image Python code.
# `slices` does the same as a generator, checked against it:


# %% tags=["nbval-check-output"]
def slices(images: torch.Tensor, labels: torch.Tensor, batch_size: int, rng: torch.Generator):
    """Shuffled batches cut out of whole tensors: one permutation an epoch, then slices."""
    order = torch.randperm(len(images), generator=rng).to(images.device)
    for start in range(0, len(images), batch_size):
        index = order[start : start + batch_size]
        yield images[index], labels[index]


sliced = slices(train_images, train_labels, 128, torch.Generator().manual_seed(0))
its_batches = DeviceTensorLoader(
    train_images,
    train_labels,
    batch_size=128,
    shuffle=True,
    generator=torch.Generator().manual_seed(0),
)
same = all(
    torch.equal(my_images, its_images) and torch.equal(my_labels, its_labels)
    for (my_images, my_labels), (its_images, its_labels) in zip(sliced, its_batches, strict=True)
)
print(f"the same batches as DeviceTensorLoader's: {same}")
del sliced, its_batches


# %%
def pipeline_c(on: torch.device) -> DeviceTensorLoader:
    """Pipeline (c)'s training batches on the device `on`, in (a)'s order."""
    return DeviceTensorLoader(
        train_images,
        train_labels,
        batch_size=128,
        shuffle=True,
        device=on,
        generator=torch.Generator().manual_seed(shuffle_seed),
    )


synchronize(device)
start = time.perf_counter()
# One timed copy to the device (none on a CPU).
c_train = TimedBatches(pipeline_c(device), device)
synchronize(device)
copy_seconds = time.perf_counter() - start

seed_everything(0)
c_model = to_device(MLP(28 * 28, [32], 10), device)
c_history = fit(num_epochs, 0.2, c_model, c_train, c_val)

# %% [markdown]
# The table splits each pipeline's median later epoch into its wait for batches and the
# rest: the forward, backward, the optimizer's step and Python's work (Appendix B reads
# the rest). Look for the wait to be most of (a)'s epoch.
#
# The table's seconds are not those in brackets on `fit`'s epoch lines above: `fit`
# prints each epoch's time with its evaluation included, and the table reads
# `train_seconds`, the training alone.

# %%
# later_epochs: the later epochs' median, fastest and slowest; parts: a pipeline's bar, its
# later epochs' wait and rest; rounded_parts: the bar's seconds as printed, rounded so that
# waiting + rest = epoch
from course_utils.epoch_times import later_epochs, parts, rounded_parts

a_name, b_name = "(a) classic pipeline", "(b) ready tensors"  # the bars' names
c_name = f"(c) dataset on {device.type}"
classic_times = [epoch["train_seconds"] for epoch in classic_history]
b_times = [epoch["train_seconds"] for epoch in b_history]
c_times = [epoch["train_seconds"] for epoch in c_history]
bars = {  # the ladder, top to bottom
    a_name: parts(classic_times, classic_train.waits),
    b_name: parts(b_times, b_train.waits),
    c_name: parts(c_times, c_train.waits),
}
for name, bar in bars.items():  # the seconds as the figure labels them: rounded_parts
    epoch, waited, rest = rounded_parts(statistics.median(bar["epochs"]), bar["loader"])
    letter = name[:3]  # "(a)", "(b)" or "(c)"
    print(f"{name}, median of the later epochs (s): {epoch:.3f}")
    print(f"{letter}, waiting for its batches, median of the later epochs (s): {waited:.3f}")
    print(f"{letter}, the rest, median of the later epochs (s): {rest:.3f}")
classic_seconds, c_seconds = later_epochs(classic_times)[0], later_epochs(c_times)[0]
speedup = classic_seconds / c_seconds
c_accuracy = c_history[-1]["val_acc"]
print(f"pipeline speed-up ({device.type}): {speedup:.1f}")

# %%
# Is the comparison fair? From the same starting weights, on the same batches in the same
# order, the three pipelines should end with the same weights:
same_weights = all(
    torch.equal(a, b) and torch.equal(a, c)
    for a, b, c in zip(
        classic_model.parameters(), b_model.parameters(), c_model.parameters(), strict=True
    )
)
print(f"pipelines (a), (b) and (c) end with the same weights: {same_weights}")
del classic_model, b_model, c_model

# %% [markdown]
# The same weights:
# **True**<!-- says: pipelines (a), (b) and (c) end with the same weights -->, so the three
# trained the same model on the same batches. The table, drawn:

# %%
from course_utils.plotting import plot_epoch_parts

plot_epoch_parts(  # each panel has its own scale: the second shows (b) and (c) alone
    {
        f"Later epochs on {device.type}": bars,
        "(b) and (c), on their own scale": {name: bars[name] for name in (b_name, c_name)},
    },
    where=device.type,
    labels=("waiting for batches", "the rest", "one later epoch"),
)

# %% [markdown]
# Each bar is one pipeline's median later epoch, split as in the table; dots: single later
# epochs. On this CPU, one step at a time:
# - **(a) to (b)** made every image's tensor once, instead of a PIL image and its
#   transforms for each image every epoch (the step also dropped the `Subset`'s look-ups).
#   The wait fell from
#   **3.863 s**<!-- output: (a), waiting for its batches, median of the later epochs (s) -->
#   to **0.230 s**<!-- output: (b), waiting for its batches, median of the later epochs (s) -->.
# - **(b) to (c)** replaced the whole loader. Out went the `DataLoader`, which fetches a
#   batch's 128 indices one by one and collates them (PyTorch's data-loading
#   documentation<!-- source: https://pytorch.org/docs/stable/data.html, automatic batching -->),
#   with `SeededShuffle`'s order as a Python list (its `tolist`) and the `DeviceDataLoader`
#   wrapper that moves each batch; in came `DeviceTensorLoader`, which gathers each batch
#   in one indexing. The wait fell to
#   **0.055 s**<!-- output: (c), waiting for its batches, median of the later epochs (s) -->;
#   the step does not tell these changes apart.
#
# Over both steps, (a)'s epoch of
# **4.25 s**<!-- output: (a) classic pipeline, median of the later epochs (s) --> took
# **14.6 times**<!-- output: pipeline speed-up (cpu) --> as long as (c)'s, (c)'s one-off
# conversion aside; Appendix B counts when (c) wins that back.
#
# (c) needs the data to fit on the device and transforms done once or per batch
# (lesson 05); else keep the `DataLoader`, and time `pin_memory` (CUDA) and `num_workers`
# on your own machine.
#
# **(c), CPU against GPU, a tiny model and a wide one.** On a GPU the next cell trains
# pipeline (c) with the 32-unit MLP and with one of two hidden layers of 2,048 units
# (learning rate 0.05, as in exercise 1), each from the same seeds on the GPU and then on
# the CPU, without `TimedBatches`'s extra `synchronize` calls. Look for the GPU to be no
# faster with the tiny model (section 2's first case), and faster with the wide one.

# %%
widths = {"32-unit": ([32], 0.2), "2048-2048": ([2048, 2048], 0.05)}  # hidden sizes, lr
if device.type == "cpu":
    print(
        "No GPU here: on one, this cell would train pipeline (c) with the 32-unit MLP and "
        "with a 2048-2048 MLP, on the GPU and on the CPU, and print each model's median of "
        "the later epochs on each device and the GPU's median over the CPU's."
    )
else:
    for name, (hidden_sizes, rate) in widths.items():
        c_medians = {}  # device type -> its later epochs' median
        for on in (device, torch.device("cpu")):
            seed_everything(0)  # the same starting weights on each device
            on_val = DeviceTensorLoader(val_images, val_labels, batch_size=1000, device=on)
            model = MLP(28 * 28, hidden_sizes, 10).to(on)
            history = fit(num_epochs, rate, model, pipeline_c(on), on_val, verbose=False)
            median, fastest, slowest = later_epochs([epoch["train_seconds"] for epoch in history])
            c_medians[on.type] = median
            print(
                f"{name} MLP, pipeline (c) on {len(train_images):,} images, median of the "
                f"later epochs on {on.type} (s): {median:.3f} ({fastest:.3f} to {slowest:.3f})"
            )
        gpu_over_cpu = c_medians[device.type] / c_medians["cpu"]  # above 1: the GPU slower
        print(
            f"{name} MLP, pipeline (c), {device.type} median / cpu median (one run, the "
            f"devices timed one after the other): {gpu_over_cpu:.2f}"
        )
    del model, history, on_val

# %%
# Free section 6's data for section 7, keeping a copy (not a slice) of 10,000 images.
import gc

del full_train, train_dataset, val_dataset, classic_train, b_train, c_train
del hand_train, val_loader, fit_train, fit_val, hand_model, fit_model
train_images, train_labels = train_images[:10_000].clone(), train_labels[:10_000].clone()
_ = gc.collect()
print(f"train_images now holds: {len(train_images):,} images")

# %% [markdown]
# ## 7. Next speed steps: mixed precision and `torch.compile`
#
# This section times two speed steps against `float32`: 16-bit arithmetic and compiling,
# on the **10,000 images**<!-- output: train_images now holds --> section 6 kept.
#
# **Mixed precision.** `torch.autocast` picks a type for each operation:
# [PyTorch's AMP documentation](https://pytorch.org/docs/stable/amp.html) calls linear
# layers much faster in a 16-bit float type, and says reductions often need `float32`'s
# range. We use `bfloat16`, with `float32`'s range but fewer digits (Appendix C's table),
# only where the device has bfloat16 units (`bfloat16_support`, two cells on). On a GPU
# without them, such as Colab's T4, Appendix D's `float16` loop is the alternative. The
# one change to the model: its `forward` runs under `torch.autocast`, and returns
# `float32`:


# %%
class MixedPrecisionMLP(MLP):
    """The lesson's MLP with its forward pass under autocast to ``dtype``."""

    def __init__(self, *args, dtype: torch.dtype = torch.bfloat16, **kwargs):
        super().__init__(*args, **kwargs)
        self.dtype = dtype

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=inputs.device.type, dtype=self.dtype):
            return super().forward(inputs).float()


# %%
from course_utils.device import autocast_runs_in, bfloat16_support, quiet_cpu_compiling

bf16_native, bf16_reason = bfloat16_support(device)
print(f"bfloat16 on this {device.type}: {'yes' if bf16_native else 'no'}, {bf16_reason}")

# %% [markdown]
# bfloat16 here (above): **yes, this CPU has AVX-512 BF16 and AMX
# instructions**<!-- says: bfloat16 on this cpu -->. Under autocast, linear layers run in
# bfloat16, on a bfloat16 copy of each weight
# (PyTorch's AMP documentation<!-- source: https://pytorch.org/docs/stable/amp.html -->):
# the weights themselves stay float32, and our `forward` returns the logits, and so the
# loss, in float32.
#
# **Which types autocast uses.** Where autocast runs on this device, follow one small
# batch through `forward`'s layers and `backward`, printing each result's type (the MLP's
# `layers`: a Flatten, a Linear, a ReLU, the last Linear):

# %%
if autocast_runs_in(device, torch.bfloat16):
    probe = MixedPrecisionMLP(28 * 28, [32], 10).to(device)
    probe_images = torch.randn(4, 1, 28, 28, device=device)
    with torch.autocast(device_type=device.type, dtype=torch.bfloat16):  # forward's steps
        hidden = probe.layers[1](probe.layers[0](probe_images))  # flatten, first Linear
        activated = probe.layers[2](hidden)  # its ReLU
        raw_logits = probe.layers[3](activated)  # the last Linear
        logits = raw_logits.float()  # cast as forward does
    hidden.retain_grad()  # keep the gradient that backward computes for this output
    probe_loss = F.cross_entropy(logits, torch.zeros(4, dtype=torch.long, device=device))
    probe_loss.backward()
    weight = probe.layers[1].weight
    print(f"first Linear's output under autocast: {hidden.dtype}, its ReLU's: {activated.dtype}")
    print(f"the last Linear's output: {raw_logits.dtype}, and once cast: {logits.dtype}")
    print(f"the loss: {probe_loss.dtype}")
    print(f"the gradient of the first Linear's output: {hidden.grad.dtype}")
    print(f"a weight, and its gradient after backward: {weight.dtype}, {weight.grad.dtype}")
    del probe, probe_images, hidden, activated, raw_logits, logits, probe_loss, weight
else:
    print(
        f"bfloat16 autocast does not run on this {device.type}: where it runs, this cell "
        "prints the type of each Linear's output and the ReLU's, the loss and the gradients."
    )

# %% [markdown]
# Where autocast runs, each Linear's output, and the ReLU's, is bfloat16 (the probe does
# not print the Flatten's), and so is the one gradient
# printed, that of the first Linear's output
# (**torch.bfloat16**<!-- says: the gradient of the first Linear's output -->); the weight
# and its gradient stay float32
# (**torch.float32, torch.float32**<!-- says: a weight, and its gradient after backward -->),
# and so does the loss: the optimizer updates float32 weights with float32 gradients. The
# probe does not print the bfloat16 copy of each weight that the products use (how
# autocast does it: PyTorch's AMP
# documentation<!-- source: https://pytorch.org/docs/stable/amp.html -->).

# %% [markdown]
# **[`torch.compile`](https://pytorch.org/docs/stable/generated/torch.compile.html)** is
# [documented](https://pytorch.org/docs/stable/torch.compiler_get_started.html) to turn the
# model's Python code into *fused* kernels (one kernel for several operations, say
# element-wise ones).
#
# **The comparison.** One MLP with two hidden layers of 1,024 units trains three ways,
# each an *arm*: `float32`, the baseline; `compiled`; and `bfloat16 autocast`. All start
# from the same seed and see the same batches of 256 at learning rate 0.05, not tuned.
# They train in 7 rounds of one epoch each; round 1 compiles, so it does not count
# (Appendix C: how the rounds run and how they are judged).


# %%
arm_models = {"float32": MLP, "compiled": MLP}  # the class each arm trains
# autocast turns itself off (with a warning) where this PyTorch lacks the type
if bf16_native and autocast_runs_in(device, torch.bfloat16):
    arm_models["bfloat16 autocast"] = MixedPrecisionMLP
else:  # which of the two tests left the arm out
    left_out_by = "autocast_runs_in" if bf16_native else "bfloat16_support"
    print(f"bfloat16 autocast arm left out by the test: {left_out_by}")


def wide_batches() -> DeviceTensorLoader:
    """The first wide_size training images in batches of 256, every batch full, shuffled by
    an RNG of its own seeded 0: the same batches wherever it is called."""
    return DeviceTensorLoader(
        train_images[:wide_size],
        train_labels[:wide_size],
        batch_size=256,
        shuffle=True,
        drop_last=True,
        device=device,
        generator=torch.Generator().manual_seed(0),
    )


# %% [markdown]
# The compiled model's one change: `model.compile()`, which compiles it *in place*, so
# that `fit` runs the compiled code. It compiles on the first run, and again when the
# batch shape changes
# ([notes](https://docs.pytorch.org/docs/stable/compile/programming_model.recompilation.html)):
# hence `drop_last=True` above. If compiling fails (on a CPU it needs a C++ compiler), the
# compiled arm is left out.

# %%
quiet_cpu_compiling(device)  # on a CPU only: one compile thread, to stay within memory
arms = {}  # arm -> its model, its loader, and each epoch's seconds
for arm, model_class in arm_models.items():
    seed_everything(0)  # the same starting weights for every arm
    model = to_device(model_class(28 * 28, [1024, 1024], 10), device)
    if arm == "compiled":
        model.compile()  # in place: the model itself now runs compiled code
    loader = wide_batches()  # the same batches for every arm
    arms[arm] = {"model": model, "loader": loader, "seconds": [], "with_evaluation": []}

order = list(arms)  # the rounds
for round_number in range(wide_epochs):  # a round: one epoch of each arm
    shift = round_number % len(order)  # a new order each round (Appendix C)
    for arm in order[shift:] + order[:shift]:
        if arm not in arms:  # compiling failed in an earlier round
            continue
        try:
            model, loader = arms[arm]["model"], arms[arm]["loader"]
            epoch = fit(1, 0.05, model, loader, c_val, verbose=False)[0]
        except Exception as error:  # for example, no C++ compiler for the CPU kernels
            if arm != "compiled":
                raise  # only compiling may fail and leave the other arms to compare
            print(f"torch.compile failed here, so its arm is skipped: {error}")
            del arms[arm]
            continue
        arms[arm]["seconds"].append(epoch["train_seconds"])
        arms[arm]["with_evaluation"].append(epoch["epoch_seconds"])
        arms[arm]["val_acc"] = epoch["val_acc"]

# %% [markdown]
# **Did either step speed up training?** The table gives each arm's median later epoch and
# its validation accuracy after the last round. Under it, each arm's median *speed-up*
# (`float32`'s epoch time over the arm's) and its verdict: faster or slower only when every
# counted round agrees (Appendix C).

# %%
from course_utils.epoch_times import after_first
from course_utils.rounds import count_rounds

float32_seconds = arms["float32"]["seconds"]
print(f"later rounds counted, each arm: {len(after_first(float32_seconds))}")
speed_ups_of = {}  # arm -> float32's epoch over the arm's, in each later round
for arm in arms:
    if arm != "float32":
        pairs = after_first(list(zip(arms[arm]["seconds"], float32_seconds, strict=True)))
        speed_ups_of[arm] = [theirs / mine for mine, theirs in pairs]
width = max(len(arm) for arm in arms)  # the table's first column
print(f"{'arm':<{width}} | epoch s | accuracy")
for arm in arms:
    median = later_epochs(arms[arm]["seconds"])[0]
    print(f"{arm:<{width}} | {median:7.3f} | {arms[arm]['val_acc']:8.4f}")
# Each round judged as Appendix C prints it, to 3 decimals (so a printed 1.100 is a tie).
verdicts = {arm: count_rounds(speed_ups, digits=3) for arm, speed_ups in speed_ups_of.items()}
for arm, rounds in verdicts.items():
    print(f"{arm} median speed-up over float32: {rounds.median:.2f}")
    print(f"{arm} against float32, verdict: {rounds.verdict}")
if "compiled" in arms:  # round 1: the compiled arm's first epoch against float32's
    compiling = arms["compiled"]["seconds"][0] - float32_seconds[0]
    print(f"compiling cost, first training epochs only (seconds): {compiling:.1f}")

# %% [markdown]
# On this CPU, over **6**<!-- output: later rounds counted, each arm --> counted rounds:
# - bfloat16 autocast: a median speed-up of
#   **1.94**<!-- output: bfloat16 autocast median speed-up over float32 -->,
#   **faster in every round**<!-- says: bfloat16 autocast against float32, verdict -->, on
#   a CPU with bfloat16 units (`bfloat16_support`'s line above).
# - compiled: a median speed-up of
#   **0.99**<!-- output: compiled median speed-up over float32 -->, **no clear winner: 0 faster, 6
#   tied, 0 slower**<!-- says: compiled against float32, verdict -->, after a
#   first training epoch
#   **17.1 s**<!-- output: compiling cost, first training epochs only (seconds) --> longer
#   than `float32`'s, in the round where it compiled. Appendix C asks whether the later
#   rounds win that back.
#
# The accuracies come from one seed, so no conclusion is drawn from them; Appendix C counts
# each arm's validation predictions unlike `float32`'s.

# %% [markdown]
# > **What this lesson measured on this CPU, and what it did not**
# > - Every measured figure comes from one run on the CPU of the *Last verified* line:
# >   compare ratios, not seconds. Accuracies come from one seed.
# > - Nothing ran on a GPU. The GPU-only cells print what they would do there, and
# >   Appendix E says what to look for. So `pin_memory` and `non_blocking` follow PyTorch's
# >   documented advice, unmeasured, and the float16 loop (Appendix D) did not run.
# > - `SimulatedGPU` (section 2) sleeps to imitate a GPU's queue: it illustrates, it does
# >   not measure.
# > - Not timed: `num_workers` above 0; bfloat16 on a CPU without bfloat16 units (the
# >   lesson leaves it out there); `torch.compile` with its default settings (the lesson
# >   compiles with one thread, to stay within memory); where a GPU overtakes the CPU.

# %% [markdown]
# ## Summary
#
# - `get_default_device()` picks CUDA, then Apple MPS, then the CPU; `to_device` moves
#   tensors, models and containers of them there.
# - On the device, move the model before building its optimizer, and each batch as it is
#   used (on CUDA, with pinned batches and `non_blocking=True`, as PyTorch advises); a
#   generator can deliver the batches already there.
# - GPU work is asynchronous: time it by warming up, calling `synchronize(device)` before
#   each clock reading, and repeating.
# - A product's size counts: on this CPU 64 x 64 products ran at **47.9
#   billion**<!-- output: cpu billions of multiply-adds per second, 64 x 64 --> multiply-adds
#   a second, 2048 x 2048 ones at **197.3
#   billion**<!-- output: cpu billions of multiply-adds per second, 2048 x 2048 -->. On a
#   GPU, section 6 times a 32-unit MLP and a 2048-2048 one on both devices: look for the
#   GPU to help the wide one only.
# - With `num_workers=0` on this CPU, the classic pipeline waited
#   **3.863 s**<!-- output: (a), waiting for its batches, median of the later epochs (s) -->
#   of its **4.25 s**<!-- output: (a) classic pipeline, median of the later epochs (s) -->
#   epoch for batches. Ready tensors cut the wait to
#   **0.230 s**<!-- output: (b), waiting for its batches, median of the later epochs (s) -->.
#   Against the dataset held as one tensor, batches gathered by indexing, the classic
#   epoch took **14.6 times**<!-- output: pipeline speed-up (cpu) --> as long (the
#   tensor's one-off conversion aside). On a GPU, look for a starved pipeline to gain little.
# - Time each speed step as an arm against `float32`, in rotated rounds, on your device:
#   on this CPU, over
#   **6**<!-- output: later rounds counted, each arm --> counted rounds, bfloat16 autocast:
#   **faster in every round**<!-- says: bfloat16 autocast against float32, verdict -->
#   (this CPU has bfloat16 units); compiling:
#   **no clear winner: 0 faster, 6 tied, 0 slower**<!-- says: compiled against float32, verdict -->,
#   after a first training epoch
#   **17.1 s**<!-- output: compiling cost, first training epochs only (seconds) --> longer
#   than `float32`'s.
#
# The exercises and the quiz come next; the appendices after them are optional.

# %%
# record_result prints the lesson's headline figures; a run of the whole course collects
# them into one summary table.
from course_utils.report import record_result

# The device type in each time's name: a CPU time is labelled a CPU time in the table.
record_result(f"classic pipeline seconds per epoch ({device.type})", round(classic_seconds, 2))
record_result(f"dataset-on-device seconds per epoch ({device.type})", round(c_seconds, 3))
record_result(f"pipeline speed-up ({device.type})", round(speedup, 1), unit="x")  # one run
# One seed's accuracy (one batch order).
record_result("dataset-on-device validation accuracy", round(c_accuracy, 4))

# %% [markdown]
# ## Exercises
#
# After each exercise, run its check cell: it says not attempted yet, not right yet
# (with what it found), or passed (with what it checked). The lines under
# `if check_exercise(...)` run only for a passing answer. Both checks also time your
# function on section 2's `SimulatedGPU`, whose queued work only a synchronize waits for:
# there a timing without `synchronize(on)` comes out too short, on any machine.
#
# **Exercise 1: time a wide model's epochs on each device you have.**
#
# 1. Write `train_epoch(model, loader, optimizer, on)`: one epoch of section 4's loop on
#    the device `on` (the model is already there; use `on`, not `device`). Copy each
#    batch with `.to(on, non_blocking=loader.pin_memory)`. Inside the loop, no loss copied
#    to the CPU and no `synchronize`. Return the epoch's seconds, the clock read after
#    `synchronize(on)` at both ends.
# 2. Fill `exercise_arms` (name -> (device, pinned)), one entry per *setting*:
#    `"cpu"`: (the CPU, False); with a GPU, its device type (`"cuda"` or `"mps"`): (the GPU,
#    False); on CUDA, `"cuda, pinned + non_blocking"`: (the GPU, True). For each one your
#    machine cannot run, print what would have run.
# 3. For each setting: `seed_everything(0)`, an MLP with hidden layers [2048, 2048] on its
#    device, SGD at learning rate 0.05, then two epochs of `train_epoch` on
#    `exercise_loader(pinned)`. Store the two times in `big_model_seconds` (name ->
#    [first, second]); keep the last model in `big_model`.
#
# With a GPU: which setting is fastest?

# %%
from course_utils.checks.lesson04 import check_exercise


def exercise_loader(pinned: bool) -> DataLoader:
    """The first exercise_size training images in batches of 256, on the CPU, in one order;
    in pinned memory only for the pinned setting (`pinned`), whose copies can then be queued."""
    images, labels = train_images[:exercise_size], train_labels[:exercise_size]
    return DataLoader(
        TensorDataset(images, labels),
        batch_size=256,
        shuffle=True,
        generator=torch.Generator().manual_seed(0),
        pin_memory=pinned,
    )


batches = exercise_loader(pinned=False)
print(
    f"exercise_loader(pinned=False): {len(batches)} batches of up to 256, "
    f"pinned: {batches.pin_memory}"
)
del batches


# %%
### BEGIN SOLUTION
# Hint: section 4's loop; .to(on, non_blocking=loader.pin_memory); synchronize(on) at each clock
def train_epoch(model, loader, optimizer, on: torch.device) -> float:
    """Train model (already on `on`) for one epoch of loader's batches; return its seconds."""
    model.train()
    synchronize(on)  # nothing queued before may run into the clock
    start = time.perf_counter()
    for images, labels in loader:
        # non_blocking from pinned batches only (the pinned setting): there the copy is queued.
        # On an Apple GPU, a non-blocking copy from ordinary memory has been reported to give
        # wrong values (PyTorch issues #139550 and #189690).
        queue = loader.pin_memory
        images, labels = images.to(on, non_blocking=queue), labels.to(on, non_blocking=queue)
        batch_loss = F.cross_entropy(model(images), labels)
        batch_loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    synchronize(on)  # wait for the queued steps, then read the clock
    return time.perf_counter() - start


exercise_arms = {"cpu": (torch.device("cpu"), False)}  # setting -> (device, pinned)
if device.type != "cpu":
    exercise_arms[device.type] = (device, False)  # step 2: only the device changes
if device.type == "cuda":
    # step 2: pinned batches and non_blocking copies, two changes made together
    exercise_arms["cuda, pinned + non_blocking"] = (device, True)
big_model_seconds = {}
for arm, (on, pinned) in exercise_arms.items():
    seed_everything(0)  # the same starting weights in every setting
    big_model = MLP(28 * 28, [2048, 2048], 10).to(on)
    big_optimizer = torch.optim.SGD(big_model.parameters(), lr=0.05)
    big_model_seconds[arm] = [
        train_epoch(big_model, exercise_loader(pinned), big_optimizer, on) for _ in range(2)
    ]
if device.type == "cpu":
    print(
        "No GPU here, so the GPU setting did not run: on a CUDA or Apple GPU it would train the "
        "same model from the same seed for two epochs there, on the same unpinned batches."
    )
if device.type != "cuda":
    print(
        "No CUDA GPU here, so the pinned setting did not run: on one it would repeat the GPU "
        "setting with pinned batches, copied with non_blocking=True (this lesson pins for "
        "CUDA only, section 3)."
    )
### END SOLUTION

# %%
from course_utils.rounds import TIE  # 0.10: a ratio within 1 + TIE is a tie (Appendix C)

if check_exercise(
    1,
    train_epoch=train_epoch,
    big_model_seconds=big_model_seconds,
    big_model=big_model,
    exercise_arms=exercise_arms,
    devices=devices,
    loader=exercise_loader(pinned=False),  # the settings' batches (the pinned one's, unpinned)
):
    steps_of_256 = exercise_size / 256  # the last batch is smaller, so count images
    for name, (first_epoch, second_epoch) in big_model_seconds.items():
        print(f"2048-2048 MLP on {name}, first epoch seconds: {first_epoch:.2f}")
        print(f"2048-2048 MLP on {name}, second epoch seconds: {second_epoch:.2f}")
        print(
            f"2048-2048 MLP on {name}, first / second epoch time: {first_epoch / second_epoch:.2f}"
        )
        # The tie band's 10 percent, both ways. One-off set-up can only lengthen the first
        # epoch; a second epoch longer by more than that shows noise of that size.
        ratio = first_epoch / second_epoch
        if ratio > 1 + TIE:
            set_up = "first epoch over 10 percent longer, as one-off set-up would make it"
        elif ratio < 1 / (1 + TIE):
            set_up = "none detected: the second epoch over 10 percent longer (noise can do it)"
        else:
            set_up = "none detected: the two epochs within 10 percent"
        print(f"one-off set-up on {name}: {set_up}")
        print(
            f"2048-2048 MLP on {name}, ms per batch of 256 images, loading included: "
            f"{second_epoch * 1e3 / steps_of_256:.1f}"
        )

# %% [markdown] tags=["solution"]
# **What the result means.** On this CPU the 2048-2048 MLP's first epoch over 10,000
# images took
# **1.36 s**<!-- output: 2048-2048 MLP on cpu, first epoch seconds --> and the second
# **1.34 s**<!-- output: 2048-2048 MLP on cpu, second epoch seconds -->, a ratio of
# **1.01**<!-- output: 2048-2048 MLP on cpu, first / second epoch time -->. One-off
# set-up, looked for as a gap of over 10 percent either way: **none detected: the two
# epochs within 10 percent**<!-- says: one-off set-up on cpu -->. A batch of 256 images
# took
# **34.4 ms**<!-- output: 2048-2048 MLP on cpu, ms per batch of 256 images, loading included -->,
# including the `DataLoader`'s work.
#
# With a GPU, compare each setting's ms-per-batch line with the one before: the GPU setting
# changes only the device; the pinned one changes the pinning and `non_blocking` together
# (the loader copies each batch into pinned memory, and `train_epoch` then queues its copy
# to the GPU), so it does not time either alone (Appendix E says what to look for in each).

# %% [markdown]
# **Exercise 2: how does a step's time grow with the batch (and, on a GPU, where does
# the GPU start to win)?** A few steps timed once can mislead
# (section 2). `make_step(batch_size, on)` below returns a function `step()` that trains
# the lesson's 32-unit MLP one step on a fixed batch of random images already on the
# device `on`, so only the step is timed, not the loading.
#
# 1. Write `time_step(step, on, repeats=...)`: run `step()` once to warm up, then time
#    `repeats` repeats (at least 5 by default) of at least 10 steps each, with
#    `synchronize(on)` before each clock reading; return the seconds per step, one
#    figure per repeat.
# 2. Write `time_in_rounds(steps, on, rounds=7)`, where `steps` maps each batch size to
#    its step function. Each round times one repeat (`time_step(..., repeats=1)`) of
#    every batch size, in a new order each round (rotate the list:
#    `order[k:] + order[:k]` with `k = round_number % len(order)`, as section 7's rounds
#    do); return batch size -> list of seconds per step, one per round.
# 3. For each batch size in `batch_sizes` (16 to 16,384, each 4 times the last), time
#    every device in `devices` with `time_in_rounds`, and store the lists in
#    `step_table` (batch size -> device type -> list of seconds per step).
#
# How do the time per step and the time per image change as batches grow? With a GPU:
# from which batch size is it faster than the CPU? Your run is the answer.


# %%
def make_step(batch_size: int, on: torch.device):
    """One SGD step of the 32-unit MLP on a fixed random batch on `on`, as a function."""
    seed_everything(0)
    model = MLP(28 * 28, [32], 10).to(on)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    images = torch.randn(batch_size, 1, 28, 28).to(on)
    labels = torch.randint(0, 10, (batch_size,)).to(on)

    def step() -> None:
        loss = F.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()

    return step


batch_sizes = (16, 64, 256, 1024, 4096, 16384)


# %%
### BEGIN SOLUTION
# Hint: warm up; per repeat: sync, clock, 10+ steps, sync, clock; a round: each size once
def time_step(step, on: torch.device, steps: int = 20, repeats: int = 7) -> list[float]:
    """Seconds per call of step() on device on, once per repeat, after a warm-up."""
    step()  # warm-up: the first step pays one-off set-up
    repeat_seconds = []
    for _ in range(repeats):
        synchronize(on)  # nothing queued before may run into the clock
        start = time.perf_counter()
        for _ in range(steps):
            step()
        synchronize(on)  # wait for the queued steps, then read the clock
        repeat_seconds.append((time.perf_counter() - start) / steps)
    return repeat_seconds


def time_in_rounds(steps: dict, on: torch.device, rounds: int = 7) -> dict:
    """Seconds per step of each batch size, one repeat per round, every size in each round."""
    by_size = {size: [] for size in steps}
    order = list(steps)
    for round_number in range(rounds):
        shift = round_number % len(order)  # a new order each round
        for size in order[shift:] + order[:shift]:
            by_size[size] += time_step(steps[size], on, repeats=1)
    return by_size


step_table = {size: {} for size in batch_sizes}
for each in devices:
    found = time_in_rounds({size: make_step(size, each) for size in batch_sizes}, each)
    for size in batch_sizes:
        step_table[size][each.type] = found[size]
### END SOLUTION

# %%
from course_utils.rounds import count_rounds  # section 7's verdicts (Appendix C)

if check_exercise(
    2, time_step=time_step, time_in_rounds=time_in_rounds, step_table=step_table, devices=devices
):
    for name in step_table[16]:
        for size, timings in step_table.items():
            per_step = statistics.median(timings[name]) * 1e3
            low, high = min(timings[name]) * 1e3, max(timings[name]) * 1e3
            print(
                f"{name} ms per step, batch {size}: {per_step:.3f} "
                f"({len(timings[name])} rounds of one repeat, from {low:.3f} to {high:.3f})"
            )
        per_image_us = [
            statistics.median(step_table[size][name]) * 1e6 / size for size in batch_sizes
        ]
        for size, microseconds in zip(batch_sizes, per_image_us, strict=True):
            print(f"{name} microseconds per image, batch {size}: {microseconds:.2f}")
        # The last step up in batch size, round by round (each round timed both sizes):
        # 4096's time per image over 16384's, above 1 where 16384 cost less per image.
        pairs = zip(step_table[4096][name], step_table[16384][name], strict=True)
        per_image = [(b4096 / 4096) / (b16384 / 16384) for b4096, b16384 in pairs]
        counted = count_rounds(per_image)  # counted as section 7's rounds
        # count_rounds says "faster" and "slower"; per image, that is cheaper and costlier
        cost_verdict = counted.verdict_as("cheaper per image", "costlier per image")
        print(f"{name}, batch 16384 against 4096, time per image, verdict: {cost_verdict}")
        smallest = statistics.median(step_table[16][name])
        for size in (1024, 16384):
            ratio = statistics.median(step_table[size][name]) / smallest
            print(f"{name} step time, batch {size} / batch 16: {ratio:.1f}")
    gpu_names = [name for name in step_table[16] if name != "cpu"]
    for name in gpu_names:
        wins = [
            size
            for size in batch_sizes
            if max(step_table[size][name]) < min(step_table[size]["cpu"])
        ]
        print(f"{name} faster than the CPU in every repeat at batch sizes: {wins or 'none'}")
    if not gpu_names:
        print(
            "No GPU here: with one, this cell would also print the batch sizes at which it "
            "beat the CPU in every repeat."
        )

# %% [markdown] tags=["solution"]
# **What the result means.** The figures below are the worked CPU run's; with a GPU,
# compare your two devices' lines. On this CPU a step took a median of
# **0.303 ms**<!-- output: cpu ms per step, batch 16 --> at batch 16 and
# **1.361 ms**<!-- output: cpu ms per step, batch 1024 --> at batch 1024, over 7 rounds:
# 64 times the images in only
# **4.5 times**<!-- output: cpu step time, batch 1024 / batch 16 --> the time.
#
# Per image, the median time fell from
# **18.96 microseconds**<!-- output: cpu microseconds per image, batch 16 --> at batch 16
# to **1.33**<!-- output: cpu microseconds per image, batch 1024 --> at 1024, then was
# **0.76**<!-- output: cpu microseconds per image, batch 4096 --> at 4,096 and
# **0.67**<!-- output: cpu microseconds per image, batch 16384 --> at 16,384.
# Counted in rounds as in section 7 (a tie: within 10 percent), batch 16,384 against
# 4,096, per image:
# **no clear winner: 5 cheaper per image, 2 tied, 0 costlier per
# image**<!-- says: cpu, batch 16384 against 4096, time per image, verdict -->.
#
# The worked run had no GPU (its last line says so); with a GPU, the last line names the
# batch sizes at which it beat the CPU in every repeat.

# %% [markdown]
# ## Check your understanding
#
# Five questions on this lesson's ideas. Answer each with one letter in quotes, for
# example `answer_q1 = "b"`, and run its cell: a wrong letter is answered with the idea
# to revisit and the section that shows it.

# %% [markdown]
# **Question 1.** On a GPU, a loop queues 100 training steps, and the clock is read
# straight after the loop, with no `synchronize` before it. What does that time measure?
#
# - (a) the full time of the 100 steps: Python runs each operation to its end before
#   going on
# - (b) mostly the time Python took to queue the steps; the GPU may still be running them
# - (c) a time that is too long: `synchronize` is what lets the GPU run at full speed

# %% tags=["nbval-check-output"]
### BEGIN SOLUTION
# Hint: section 2: what does Python do while the GPU runs the work it queued?
answer_q1 = "b"
### END SOLUTION
check_exercise("Q1", answer_q1=answer_q1)

# %% [markdown] tags=["solution"]
# **(b).** GPU work is asynchronous: Python queues each operation and moves on, so the
# loop can end long before the GPU does. On section 2's simulated GPU, 10 queued steps
# read
# **0.00 s**<!-- output: simulated GPU, 10 steps, clock read without synchronize (s) -->
# without `synchronize` and
# **0.20 s**<!-- output: simulated GPU, 10 steps, clock read after synchronize (s) -->
# after it.

# %% [markdown]
# **Question 2.** In section 6 the three pipelines trained the same model on the same
# batches. Where did most of the classic pipeline's extra training time per epoch go?
#
# - (a) into the forward and backward passes, which run slower on batches that a
#   `DataLoader` built
# - (b) into copying each batch to the GPU
# - (c) into remaking every image's tensor each epoch (PIL image, transforms, look-ups),
#   which the tensor pipeline did once
# - (d) into the evaluation on the validation set, image by image, counted in the classic
#   pipeline's training time per epoch

# %% tags=["nbval-check-output"]
### BEGIN SOLUTION
# Hint: section 6: same model, same batches; what did each pipeline do before every step?
answer_q2 = "c"
### END SOLUTION
check_exercise("Q2", answer_q2=answer_q2)

# %% [markdown] tags=["solution"]
# **(c).** On this CPU the classic pipeline waited
# **3.863 s**<!-- output: (a), waiting for its batches, median of the later epochs (s) -->
# for its batches in an epoch of
# **4.25 s**<!-- output: (a) classic pipeline, median of the later epochs (s) --> (median
# of the later epochs). Section 6's first step, to (b), changed the dataset behind the same
# `DataLoader`: tensors made once, in place of torchvision's images and the `Subset`'s
# look-ups. Its wait fell to
# **0.230 s**<!-- output: (b), waiting for its batches, median of the later epochs (s) -->.
# The step does not tell the PIL images and transforms apart from the look-ups. Why not
# (a): all three pipelines trained the same weights on the same batches, and the forward
# and backward passes fall outside the wait. `dataset_to_tensors` made the ready tensors
# once, in
# **3.48 s**<!-- output: dataset_to_tensors seconds for the training images (one-off) -->,
# a one-off won back once the time saved each epoch adds up to it (Appendix B).

# %% [markdown]
# **Question 3.** In exercise 2, on this CPU, the batch grew from 16 to 1024 images (64
# times as many). What happened to the time of one training step, and to the time per
# image? (If you skipped exercise 2, read its worked figures in the cell after it.)
#
# - (a) the step took about 64 times as long, so the time per image stayed about the same
# - (b) the step took about as long, because a step's time is all fixed cost
# - (c) both fell: a bigger batch makes each step faster
# - (d) the step took longer, but far less than 64 times as long, so the time per image
#   fell

# %% tags=["nbval-check-output"]
### BEGIN SOLUTION
# Hint: exercise 2: ms per step and microseconds per image, at batch 16 against batch 1024
answer_q3 = "d"
### END SOLUTION
check_exercise("Q3", answer_q3=answer_q3)

# %% [markdown] tags=["solution"]
# **(d).** On this CPU, the step at batch 1024 took
# **4.5 times**<!-- output: cpu step time, batch 1024 / batch 16 --> as long as at
# batch 16, for 64 times the images: consistent with a fixed cost per step shared
# among more images. That fixed cost may be Python, the optimizer's loop over tensors
# and, on a GPU, launching kernels: the lesson did not time them apart. Cheaper per image
# is not faster per step.

# %% [markdown]
# **Question 4.** When does compiling a model with `model.compile()` pay off?
#
# - (a) once the seconds saved per epoch add up to more than the compiling cost, with
#   batches of one shape
# - (b) from the first epoch on: compiled code is faster, so every run that compiles is
#   shorter
# - (c) always after the first batch: a batch of a new shape, such as a shorter last
#   batch, reuses the compiled kernels at no cost

# %% tags=["nbval-check-output"]
### BEGIN SOLUTION
# Hint: section 7's compiling cost and verdict, and its drop_last=True
answer_q4 = "a"
### END SOLUTION
check_exercise("Q4", answer_q4=answer_q4)

# %% [markdown] tags=["solution"]
# **(a).** Compiling pays only once the seconds it saves per epoch add up to its cost,
# with batches of one shape so that it does not compile again. On this machine, with
# 2<!-- output: logical CPUs --> logical CPUs, section 7's first compiled training epoch
# took
# **17.1 s**<!-- output: compiling cost, first training epochs only (seconds) --> longer
# than `float32`'s, and its later rounds gave the compiled arm a median speed-up of
# **0.99**<!-- output: compiled median speed-up over float32 -->, the result **no clear winner: 0
# faster, 6 tied, 0 slower**<!-- says: compiled against float32, verdict -->:
# no clear saving to win the cost back with. Appendix C's payback line does the
# arithmetic: whether, and after how many epochs, compiling paid for itself.

# %% [markdown]
# **Question 5.** Section 7 trains the same model in float32 and, where the device
# has bfloat16 units, under bfloat16 autocast. What does autocast trade?
#
# - (a) it stores the weights in 16 bits, and needs a gradient scaler so that small
#   gradients do not round to zero
# - (b) the matrix products run with fewer digits (float32's range), for speed on chips
#   that compute in bfloat16; the weights and the loss stay float32
# - (c) precision for speed on every device: 16-bit numbers are half the size, so any
#   processor computes with them faster

# %% tags=["nbval-check-output"]
### BEGIN SOLUTION
# Hint: section 7: what stays in float32 under autocast? Appendix D: which type needs a scaler?
answer_q5 = "b"
### END SOLUTION
check_exercise("Q5", answer_q5=answer_q5)

# %% [markdown] tags=["solution"]
# **(b).** Under autocast the linear layers run in bfloat16 while the weights stay float32
# (section 7's probe prints each type, and the loss's, on your device).
# PyTorch's AMP documentation<!-- source: https://pytorch.org/docs/stable/amp.html --> pairs
# a gradient scaler with float16 training, and shows bfloat16 training on a CPU with
# autocast alone; Appendix C's table of types shows bfloat16's range close to float32's,
# float16's far narrower. Whether autocast is faster has to be measured: on the CPU that
# made these outputs, which has bfloat16 instructions, section 7's bfloat16 epochs had a
# median per-round speed-up of
# **1.94**<!-- output: bfloat16 autocast median speed-up over float32 --> over `float32`
# (**faster in every round**<!-- says: bfloat16 autocast against float32, verdict -->).


# %% [markdown]
# ## Appendix A: The helpers' code
#
# This appendix extends sections 1, 2 and 5: the code of the helpers they use.
#
# **`get_default_device`** (section 1) tries CUDA, then Apple MPS, then the CPU:

# %% tags=["nbval-check-output"]
print(inspect.getsource(get_default_device))

# %% [markdown]
# **`synchronize`** (section 2) waits for a CUDA or Apple GPU, and does nothing on a CPU:

# %% tags=["nbval-check-output"]
print(inspect.getsource(synchronize))

# %% [markdown]
# **`SimulatedGPU`** (section 2): queueing a step moves forward the time at which its
# queue will be empty, and `synchronize()` sleeps until then. Nothing runs in the
# background. (`setup_seconds`, 0 unless given, adds a one-off cost to the first step,
# as a GPU's warm-up would; exercise checks use it.)

# %%
print(inspect.getsource(SimulatedGPU.queue_step))  # a step: its seconds, queued...
print(inspect.getsource(SimulatedGPU.queue))  # ...moving the queue's end forward...
print(inspect.getsource(SimulatedGPU._wait))  # ...and synchronize() sleeps until then

# %% [markdown]
# **`DeviceDataLoader`** (section 5) does what `BatchesOnDevice` does, for batches of
# any shape (with `to_device`) and with `non_blocking` for pinned batches:

# %% tags=["nbval-check-output"]
print(inspect.getsource(DeviceDataLoader))

# %% [markdown]
# **`fit`'s clock** (section 5): the lines of its training loop that start and read the
# clock of `train_seconds`, each after waiting for the device:

# %% tags=["nbval-check-output"]
from course_utils import training

for line in inspect.getsource(training._train).splitlines():
    # the clock of train_seconds: its two waits, its start and its reading
    if "synchronize(" in line or "start = time" in line or "train_seconds =" in line:
        print(line.strip())

# %% [markdown]
# ## Appendix B: Section 6's pipelines in detail
#
# This appendix extends section 6: how `TimedBatches` times a wait, the rest, the
# epochs one by one, when (c) wins back its one-off, how the pipelines get the same
# batches, and worker processes.
#
# **How `TimedBatches` works.** It hands the loop the batches of the loader it wraps, and
# reads the clock just before and just after asking for each one. `next(batches, None)`
# asks for the next batch, or gives `None` at the end; `return` inside a generator ends
# it. It calls `synchronize` twice for each batch:
# - before it starts the clock: on a GPU the step before may still be running, and
#   waiting for it first keeps that step's time out of the batch's wait;
# - after the batch arrives: the batch's queued copy to the device is part of the wait.
#
# On a GPU the first call also makes Python wait for each step to finish before it asks
# for the next batch, so loading no longer overlaps the step: with a GPU, look for
# longer epochs with `TimedBatches` than without it.
#
# **The rest.** Section 6's table splits each later epoch into the wait and the
# rest. The three pipelines did the same compute (the same model and batches), yet their
# rests were
# **0.384 s**<!-- output: (a), the rest, median of the later epochs (s) -->,
# **0.252 s**<!-- output: (b), the rest, median of the later epochs (s) --> and
# **0.236 s**<!-- output: (c), the rest, median of the later epochs (s) -->. So the split
# is approximate, and the outputs do not say why the rests differ.
#
# **Every epoch, and the one-off.** Section 6 drops epoch 1 and quotes the later ones.
# Each pipeline's epochs, one by one:

# %%
from course_utils.rounds import count_rounds  # the lesson's 10 percent rule (Appendix C)

for pipeline, times in (("(a)", classic_times), ("(c)", c_times)):
    each_later = ", ".join(f"{seconds:.3f}" for seconds in after_first(times))
    print(f"{pipeline} first epoch, train_seconds (s): {times[0]:.3f}")
    print(f"{pipeline} later epochs, train_seconds each (s): {each_later}")
    # Epoch 1 is dropped by rule; where did it fall here, by the 10 percent rule?
    ratios = [times[0] / later for later in after_first(times)]
    print(f"{pipeline} first epoch / each later one: {', '.join(f'{r:.2f}' for r in ratios)}")
    judged = count_rounds(ratios, digits=2)  # each ratio as printed: faster, tied or slower
    if judged.tied == len(ratios):
        rule = "within 10 percent of each: no clear difference"
    else:
        rule = "over 10 percent from at least one"
    print(f"{pipeline} first epoch against its later ones, by the 10 percent rule: {rule}")
    later = after_first(times)  # how far apart the later epochs fell, for scale
    print(f"{pipeline} slowest later epoch / fastest later one: {max(later) / min(later):.2f}")

# %% [markdown]
# Epoch 1 took (a) **0.93, 0.94, 0.97**<!-- says: (a) first epoch / each later one -->
# times each later epoch, and (c)
# **0.88, 1.03, 0.94**<!-- says: (c) first epoch / each later one -->: by the lesson's 10
# percent rule, (a) **within 10 percent of each: no clear
# difference**<!-- says: (a) first epoch against its later ones, by the 10 percent rule -->,
# (c) **over 10 percent from at least
# one**<!-- says: (c) first epoch against its later ones, by the 10 percent rule -->
# (one run). For scale, the slowest later epoch was
# 1.04<!-- output: (a) slowest later epoch / fastest later one --> times the fastest for
# (a), and 1.17<!-- output: (c) slowest later epoch / fastest later one --> times for (c):
# one run cannot tell a warm-up smaller than that spread from noise. Section 6 drops epoch
# 1 whichever it is.
#
# The next cell adds up each pipeline's `train_seconds`, epoch by epoch, (c)'s from its
# one-off cost: the training images' conversion and copy (the validation images'
# conversion, like all evaluation, is left out on both sides). It prints after which epoch
# (c)'s total fell below (a)'s, and draws the totals:

# %%
from course_utils.plotting import plot_running_totals

one_off_seconds = convert_seconds + copy_seconds  # (c)'s one-off: the conversion and the copy
print(f"(c)'s one-off, conversion and copy (s): {one_off_seconds:.2f}")
# The seconds spent by the end of each epoch; pipeline (c) starts with its one-off cost.
classic_totals = [sum(classic_times[: n + 1]) for n in range(len(classic_times))]
c_totals = [one_off_seconds + sum(c_times[: n + 1]) for n in range(len(c_times))]
print("after epoch | (a) seconds so far | (c) seconds so far, its one-off included")
print(f"{0:11} | {0:18.2f} | {one_off_seconds:.2f}")  # (c) pays its one-off before epoch 1
for number, totals in enumerate(zip(classic_totals, c_totals, strict=True), start=1):
    print(f"{number:11} | {totals[0]:18.2f} | {totals[1]:.2f}")
ahead = [n + 1 for n in range(num_epochs) if c_totals[n] < classic_totals[n]]
print(f"first epoch after which (c)'s total is below (a)'s: {ahead[0] if ahead else 'none'}")
# The gap after that epoch (after the last one if (c) never got ahead); above 0: (c) below.
at = ahead[0] if ahead else num_epochs
print(f"the gap below is read after epoch: {at}{'' if ahead else ' (the last)'}")
margin = classic_totals[at - 1] - c_totals[at - 1]
print(f"(a)'s total minus (c)'s after that epoch (s): {margin:.2f}")
if abs(margin) < 0.1 * classic_totals[at - 1]:  # a margin under 10% of (a)'s total, one run
    closeness = "a near tie (under 10 percent of (a)'s total)"
else:
    closeness = f"{'below' if margin > 0 else 'above'} by over 10 percent of (a)'s total"
print(f"(c)'s total against (a)'s after that epoch: {closeness}")
drawn_a, drawn_c = [0.0, *classic_totals], [one_off_seconds, *c_totals]  # from epoch 0
plot_running_totals(  # the table's running totals, epoch 0 before training: (c)'s one-off
    {a_name: drawn_a, f"(c) dataset on {device.type}, its one-off included": drawn_c},
    where=device.type,
    title=f"Seconds spent so far, {num_epochs} epochs each on {device.type}",
)

# %% [markdown]
# On this CPU, in one run, counted epoch by epoch, (c)'s total, one-off included, fell
# below (a)'s after epoch
# **1**<!-- output: first epoch after which (c)'s total is below (a)'s -->, by
# **0.25 s**<!-- output: (a)'s total minus (c)'s after that epoch (s) -->:
# **a near tie (under 10 percent of (a)'s
# total)**<!-- says: (c)'s total against (a)'s after that epoch -->. Look at the table's
# rows for the gap after each epoch.
#
# In the figure, the cross marks where the straight lines drawn between epochs cross. It
# is not a measured moment: what was measured is each total after each epoch (the dots,
# and the table's rows).

# %% [markdown]
# **How the pipelines get the same batches.** `SeededShuffle` is a *sampler*: what a
# `DataLoader` asks for each epoch's order. Pipeline (c) draws each epoch's order with
# `torch.randperm` from its own seeded RNG (a `torch.Generator`); `SeededShuffle` draws the
# same orders for pipelines (a) and (b):

# %% tags=["nbval-check-output"]
print(inspect.getsource(SeededShuffle.__iter__))

# %% [markdown]
# **Why not `shuffle=True`?** With a seeded RNG, a `DataLoader`'s `shuffle=True` gives
# another order than `randperm` with the same seed, as 10 items show. `SeededShuffle`
# gives `randperm`'s order, as pipeline (c) does; so section 6's three models, from the
# same seed, end with the same weights (section 6 checks them, right after its table):

# %%
seeded = torch.Generator().manual_seed(0)
loader_order = next(iter(DataLoader(range(10), batch_size=10, shuffle=True, generator=seeded)))
loader_order = loader_order.tolist()
randperm_order = torch.randperm(10, generator=torch.Generator().manual_seed(0)).tolist()
print(f"shuffle=True, seed 0: {loader_order}; randperm, seed 0: {randperm_order}")
print(f"SeededShuffle, seed 0: {list(SeededShuffle(10, seed=0))}")

# %% [markdown]
# **`DeviceTensorLoader.__iter__`** is section 6's `slices` loop, with a choice not to
# shuffle and an optional transform of each batch (lesson 05 uses it for augmentation):

# %% tags=["nbval-check-output"]
print(inspect.getsource(DeviceTensorLoader.__iter__))

# %% [markdown]
# **Worker processes.** To see whether `num_workers` above 0 closes the gap between the
# pipelines, time pipeline (a) with `num_workers` at 0, 2 and 4 on your own machine. This
# one has 2<!-- output: logical CPUs --> logical CPUs, which worker processes would share
# with the training process.

# %% [markdown]
# ## Appendix C: Section 7's rounds, compiling and number formats
#
# This appendix extends section 7: how its rounds run and are judged, what compiling cost
# and whether it was won back, how alike the arms predict, and its number formats.
#
# **Rounds.** A *round* trains one epoch of each arm. The order of the arms rotates from
# round to round, so any drift in the machine's speed is spread over every arm. This is a
# design choice; no output here shows that it was needed. Round 1 compiles, so it does not
# count. In each round, an arm's *speed-up* is `float32`'s epoch time divided by that
# arm's epoch time: above 1, the arm was faster than `float32`.
#
# **Verdicts.** A speed-up above 1.1 counts as faster, below 1/1.1 as slower, and anything
# between as a tie (the tie band: `TIE` in `course_utils.rounds`). An arm's verdict, from
# `count_rounds`, calls it faster or slower only when every counted round agrees, and
# otherwise counts its rounds faster, tied and slower. Each arm's speed-up in each counted
# round:

# %%
later_rounds = range(2, len(float32_seconds) + 1)  # round 1, which compiles, is left out
print(f"{'arm':<{width}} | " + " | ".join(f"round {number}" for number in later_rounds))
for arm, speed_ups in speed_ups_of.items():
    print(f"{arm:<{width}} | " + " | ".join(f"{speed_up:7.3f}" for speed_up in speed_ups))

# %% [markdown]
# **What compiling cost, and its payback.** Section 7 set the compiled arm's first training
# epoch against `float32`'s. The next cell sets the two first epochs against each other
# with their evaluation, then asks whether the later rounds won that back:

# %%
if "compiled" in arms:
    compiled, plain = arms["compiled"]["with_evaluation"], arms["float32"]["with_evaluation"]
    compiling = compiled[0] - plain[0]
    print(f"compiling cost, first epochs with their evaluation (seconds): {compiling:.1f}")
    later_pairs = list(zip(plain, compiled, strict=True))[1:]
    saving = statistics.median(theirs - mine for theirs, mine in later_pairs)
    if verdicts["compiled"].verdict == "faster in every round" and saving > 0:
        print(f"epochs to win back the compiling: {compiling / saving:.0f}")
    else:
        print("epochs to win back the compiling: none (the rounds show no clear saving)")

# %% [markdown]
# This is the second of two compiling costs. On this CPU, the compiled arm's first epoch
# took
# **19.0 s**<!-- output: compiling cost, first epochs with their evaluation (seconds) -->
# longer than `float32`'s *with* its first evaluation (this cell), and
# **17.1 s**<!-- output: compiling cost, first training epochs only (seconds) --> longer
# *without* it, in training alone (section 7). The two differ only in what the first
# holds besides training: the first evaluation and the epoch's small bookkeeping (this
# lesson does not time them apart). Epochs to win it back:
# **none (the rounds show no clear saving)**<!-- says: epochs to win back the compiling -->.
# That cost was measured with one compile thread (`quiet_cpu_compiling`, set in section 7
# to stay within memory).
#
# **Do the arms predict alike?** Section 7's table gives each arm's validation accuracy
# after the last round, from one seed. The next cell counts the validation images each arm
# labels unlike `float32`:

# %%
predicted = {}  # arm -> its final predictions on the validation images
for arm in arms:
    with torch.no_grad():  # as fit's evaluation: eval mode, no gradients
        arms[arm]["model"].eval()
        logits = [arms[arm]["model"](images) for images, _ in c_val]
        predicted[arm] = torch.cat(logits).argmax(dim=1)
for arm in speed_ups_of:  # the other arms, one by one against float32
    differ = (predicted[arm] != predicted["float32"]).sum().item()
    print(f"{arm}, validation predictions unlike float32's: {differ:,} of {len(predicted[arm]):,}")
del logits, predicted

# %% [markdown]
# Of 10,000 validation predictions, compiled's differed from `float32`'s in
# **1**<!-- output: compiled, validation predictions unlike float32's -->, bfloat16
# autocast's in
# **11**<!-- output: bfloat16 autocast, validation predictions unlike float32's -->.
#
# **The three float types.** `torch.finfo` gives each type's range and its relative step
# (`eps`, the gap between 1 and the next number: about 10 to the power of minus the
# significant digits). The last column sends a small gradient value, 1e-8, through each
# type:

# %% tags=["nbval-check-output"]
for dtype in (torch.float32, torch.bfloat16, torch.float16):
    info = torch.finfo(dtype)
    small = torch.tensor(1e-8).to(dtype).item()
    print(
        f"{str(dtype):14}  largest {info.max:.2e}  smallest normal {info.tiny:.2e}  "
        f"eps {info.eps:.1e}  1e-8 becomes {small:.2e}"
    )
for tiny in (6e-8, 2e-8):  # float16 below its smallest normal number
    print(f"float16: {tiny:.0e} becomes {torch.tensor(tiny).to(torch.float16).item():.2e}")

# %% [markdown]
# bfloat16 keeps about float32's range (nearly the same largest number, the same
# smallest normal one) with a step of about 1 in 128, 2 to 3 significant digits; float16
# has a finer step but tops out at 6.55e+04. Below its smallest normal number
# (*subnormal* numbers), float16 turned 6e-8 into 5.96e-08, but 2e-8 and 1e-8 into 0:
# a gradient that small would be lost.
#
# **Which types autocast uses** is printed in section 7, by the probe after its bfloat16
# check.

# %% [markdown]
# ## Appendix D: `float16` with a gradient scaler
#
# This appendix extends section 7's mixed precision. `float16` has more digits than
# `bfloat16` but a much narrower range: small gradients would round to zero (Appendix
# C's table). PyTorch's AMP
# documentation<!-- source: https://pytorch.org/docs/stable/amp.html, gradient scaling -->
# pairs it with a *gradient scaler* (`torch.amp.GradScaler`), which multiplies the loss
# before `backward` and divides the gradients again before the step. On this CPU the
# float16 loop below did not run: no output here shows float16 with or without a scaler.
# `fit` has no gradient scaler, so `float16` gets its own short loop, run on a CUDA or
# Apple GPU apart from section 7's rounds, with no evaluation between epochs: compare its
# times with `float32`'s only roughly.


# %%
from course_utils import evaluate


def train_epoch_float16(
    model: MLP,
    loader: DeviceTensorLoader,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
) -> float:
    """One epoch of training with a gradient scaler; return its seconds."""
    model.train()
    synchronize(device)
    began = time.perf_counter()
    for batch in loader:
        loss = model.training_step(batch)
        scaler.scale(loss).backward()  # backward on loss x scale, so gradients stay in range
        scaler.step(optimizer)  # unscales the gradients; skips the step if any is inf or NaN
        scaler.update()  # a smaller scale after an overflow, a bigger one after a while without
        optimizer.zero_grad()
    synchronize(device)
    return time.perf_counter() - began


half_seconds = None  # stays None where float16 does not run
if device.type not in ("cuda", "mps"):
    print(
        "No GPU here: on a CUDA or Apple GPU, whose float16 units it is meant for, this cell "
        "would train section 7's model with float16 autocast and a GradScaler and print its "
        "epoch times and validation accuracy."
    )
elif not autocast_runs_in(device, torch.float16):
    print(
        f"Skipped float16 training: this PyTorch turns float16 autocast off on {device.type}, "
        "or refuses the device (update PyTorch)."
    )
else:
    seed_everything(0)
    half_train = wide_batches()  # the batches of section 7's arms
    half_model = to_device(
        MixedPrecisionMLP(28 * 28, [1024, 1024], 10, dtype=torch.float16), device
    )
    # One optimizer and one scaler for the whole training, so the scale carries over.
    half_optimizer = torch.optim.SGD(half_model.parameters(), 0.05)
    try:
        scaler = torch.amp.GradScaler(device.type)
        if not scaler.is_enabled():  # it turns itself off, with a warning, where it cannot run
            raise NotImplementedError("the GradScaler turned itself off")
        half_seconds = [
            train_epoch_float16(half_model, half_train, half_optimizer, scaler)
            for _ in range(wide_epochs)
        ]
    except (NotImplementedError, RuntimeError, ValueError) as error:
        # An older PyTorch has no GradScaler for Apple GPUs.
        print(f"Skipped float16 training: no gradient scaler for {device.type} here: {error}")
if half_seconds is not None:
    half_accuracy = evaluate(half_model, c_val)["val_acc"]
    each = ", ".join(f"{seconds:.2f}" for seconds in half_seconds)
    median, fastest, slowest = later_epochs(half_seconds)
    print(f"float16 autocast + GradScaler, seconds of each epoch: {each}")
    print(f"float16 median seconds, later epochs: {median:.2f} ({fastest:.2f} to {slowest:.2f})")
    print(f"float16 autocast + GradScaler validation accuracy: {half_accuracy:.4f}")


# %% [markdown]
# ## Appendix E: On your GPU, what to look for
#
# This appendix extends sections 2, 6 and 7 and exercise 1. With a GPU, the GPU-only cells
# run too (section 3's pinned copy and exercise 1's pinned setting on CUDA only). What to
# look for in your own outputs:
#
# - **Section 2.** The GPU's 2048 x 2048 rate against the CPU's, and its 64 x 64 rate
#   against its own 2048 x 2048 rate: a cost per launch would hold the small products'
#   rate down, perhaps below the CPU's.
# - **Section 6.** How much of pipeline (a)'s epoch is still waiting, with the CPU
#   preparing every batch: a starved GPU. In the CPU-against-GPU cell, each model's GPU /
#   CPU line: above 1, the GPU slower; below 1, faster. Section 2 gives reasons to look for
#   the 32-unit MLP near or above 1 and the 2048-2048 MLP below it.
# - **Section 7.** bfloat16 is timed only where the GPU has bfloat16 units (on NVIDIA GPUs,
#   compute capability 8.0 or more: not on Colab's T4, which has
#   7.5<!-- source: https://developer.nvidia.com/cuda-gpus -->). A 1,024-unit MLP's epoch is
#   short on a GPU, so launching may weigh more than the arithmetic: read the verdicts.
#   Compiling costs time once, in round 1; Appendix C's payback line says whether the later
#   rounds won it back.
# - **In exercise 1.** The GPU setting's ms per batch of 256 against the CPU setting's, and
#   its first epoch against its second (choosing kernels for new shapes; CUDA itself
#   [starts at first use](https://pytorch.org/docs/stable/cuda.html), sections earlier).
#   The pinned setting against the plain GPU setting: a batch is under a megabyte (256
#   images x 784 floats x 4 bytes each, by arithmetic), and the loader first copies it into
#   pinned memory, so look at the size of the difference, and compare it with the
#   spread of the repeats.

# %% [markdown]
# **End of lesson 04.** Whatever your device, measure a speed step before you trust it,
# as sections 6 and 7 did; lesson 05 holds CIFAR-10 on the device the same way to train
# convolutional networks.
