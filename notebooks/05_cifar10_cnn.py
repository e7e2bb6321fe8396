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
# Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/course-org/pytorch-from-zero/blob/main/notebooks/05_cifar10_cnn.ipynb)
# [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/course-org/pytorch-from-zero/main?urlpath=lab/tree/notebooks/05_cifar10_cnn.ipynb)
#
# # Lesson 05: Convolutional networks on CIFAR-10
#
# CIFAR-10 is 60,000 colour photographs, 32 x 32 pixels, of ten kinds of things:
# aeroplanes, cars, birds, cats, deer, dogs, frogs, horses, ships and lorries.
# An MLP that did well on digits struggles here. Convolutional networks, which
# look at small patches and reuse the same filters everywhere in the image, do
# much better. A residual network with a few training tricks is the standard next
# step on a GPU; on a CPU, a network and recipe built for a small budget learn fast
# enough to finish in a few minutes.
#
# **By the end of this lesson you can**
# - load an image-folder dataset, normalise it per channel and hold it on the device;
# - work out the output shape of convolutions and pooling by hand;
# - build and train a small CNN, and explain why it beats an MLP on photographs;
# - build a ResNet-9 (batch normalisation, residual blocks) and train it with data
#   augmentation, a one-cycle schedule, weight decay and gradient clipping, adding the
#   last three one at a time (a small one, on a sample);
# - train a small network built for a CPU's budget, and improve its predictions with
#   test-time augmentation (Appendix A, optional, shows the ideas behind the network);
# - make every choice on a validation split, and measure each final model on the
#   test set once, at the end;
# - inspect the result (per-class accuracy, confusion matrix, mistakes), predict
#   single images, and save and reload the model.
#
# **From lesson 04.** `device` is where the work runs (a CUDA GPU, a Mac's GPU or the
# CPU), and `to_device` moves a model or a batch there. `DeviceTensorLoader` holds a
# whole dataset as one tensor on the device and hands out shuffled slices of it, so no
# batch is built image by image. A GPU runs queued work after Python has moved on, so a
# timing reads the clock only after `synchronize(device)` has waited for it. Under
# `torch.autocast`, matrix products run in a 16-bit type such as bfloat16.

# %% [markdown] tags=["last-verified"]
# > **Last verified** 2026-12-04: PyTorch 2.14.1+cu130 on CPU (Intel(R) Xeon(R) Processor,
# > 2 threads); the whole lesson ran in 235 s with a peak memory of 1458 MB. The course's
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
import copy
import functools
import inspect
import math
import statistics
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Subset
from torchvision import transforms
from torchvision.datasets import ImageFolder
from torchvision.io import decode_image

from course_utils import (
    DeviceTensorLoader,
    ImageClassificationBase,
    evaluate,
    fit,
    fit_one_cycle,
    get_default_device,
    to_device,
    training,
)
from course_utils.augment import batch_transform, random_crop, random_horizontal_flip
from course_utils.checkpoint import load_checkpoint, save_checkpoint
from course_utils.checks.lesson05 import check_exercise
from course_utils.data import cifar10, dataset_to_tensors
from course_utils.device import bfloat16_support, synchronize
from course_utils.fastnet import (
    FastNet,
    TestTimeAugmentation,
    fit_fast,
    identity_conv,
    shift_only_batch_norm,
)
from course_utils.memory import release_memory
from course_utils.metrics import confusion_matrix, per_class_accuracy
from course_utils.models import MLP
from course_utils.plotting import (
    plot_confusion_matrix,
    plot_history,
    plot_lrs,
    show_batch,
    show_misclassified,
)
from course_utils.report import record_result
from course_utils.settings import full_or_smoke, seed_everything, smoke_mode
from course_utils.training import eval_mode, predict

generator = seed_everything(0)
device = get_default_device()
print(f"PyTorch {torch.__version__}, training on {device}")

# %% [markdown]
# **Settings.** Smoke mode (the quick run the test suite uses) trains on 1,000
# images for one epoch. At full size the expensive part is the strongest network, and
# which one trains depends on the device:
# - On a CUDA GPU (Colab's, say), the ResNet-9 of section 6 at full size: 64 channels
#   wide, 16 epochs.
# - On a CPU or a Mac's GPU (MPS), `FastNet` for 2 epochs: a network and recipe that
#   section 7 trains in a few minutes on a CPU. (Macs take this path as a cautious
#   choice: the ResNet-9 branch was written and timed for CUDA only, and no part of this
#   lesson has been run on an Apple GPU.)
#   This keeps the notebook
#   within the course's ten-minute budget for this lesson on a 2-core CPU.
# - On every device, section 6 trains small ResNet-9 networks (width 8) on a sample of
#   `sample_size` images, and exercise 2 trains widths up to `resnet_width` on the same
#   sample.
#
# **Where the figures come from.**
# - Every time and accuracy the text quotes as measured comes from the run whose outputs
#   you see: a 2-core CPU (an Intel Xeon), on the copy of CIFAR-10 that section 1
#   describes.
# - Figures the text attributes to *the course's benchmark* come from
#   `benchmarks/RESULTS.md` in the course's repository (a `pip install` of `course_utils`
#   does not bring it): runs on another 2-core CPU, an Intel Xeon of another model,
#   called "machine B" there.
# - The GPU branch did not make these outputs. Its figures quoted in section 7 come from
#   one run of this lesson as a script on an NVIDIA H200 (`benchmarks/RESULTS.md`); on
#   your GPU, your figures will differ from every one printed here.

# %%
on_gpu = device.type == "cuda"
val_size = full_or_smoke(full=5_000, smoke=200)
train_size = full_or_smoke(full=45_000, smoke=1_000)
test_size = full_or_smoke(full=10_000, smoke=500)
cnn_epochs = full_or_smoke(full=2, smoke=1)
resnet_width = 64 if on_gpu else 8
resnet_epochs = full_or_smoke(full=16, smoke=1)  # on a GPU
fast_epochs = full_or_smoke(full=2, smoke=1)  # on a CPU
network_name = f"ResNet-9, width {resnet_width}" if on_gpu else "FastNet"
sample_size = full_or_smoke(full=5_000, smoke=500)  # section 6's recipe runs and the exercises
recipe_epochs = full_or_smoke(full=2, smoke=1)
overfit_size = full_or_smoke(full=2_500, smoke=500)  # exercise 1
overfit_epochs = full_or_smoke(full=12, smoke=2)
width_epochs = full_or_smoke(full=2, smoke=1)
print(f"Smoke mode: {smoke_mode()}; training images {train_size}, validation images {val_size}")
print(f"small CNN epochs {cnn_epochs}")
print(f"strongest network: {network_name}, epochs {resnet_epochs if on_gpu else fast_epochs}")
print(f"largest ResNet-9 width in exercise 2: {resnet_width}")
print(f"sample_size {sample_size}, recipe_epochs {recipe_epochs}, width_epochs {width_epochs}")
print(f"overfit_size {overfit_size}, overfit_epochs {overfit_epochs}")

# %% [markdown]
# ## 1. The data, as an image folder
#
# The course's CIFAR-10 archive (`cifar10.tgz`) is laid out as one folder per
# class, `cifar10/train/<class>/NNNN.png` and `cifar10/test/<class>/NNNN.png`.
# torchvision's `ImageFolder` reads such a layout: the folder names become the
# classes, in alphabetical order (which is CIFAR-10's official label order).
# `course_utils.data.cifar10` downloads, checks and unpacks the archive the first
# time.
#
# **Which copy made these outputs.** The archive a learner downloads stores every
# image as a PNG file: the original pixels. The outputs committed with this lesson
# were made on a machine without internet, from a copy of the same 60,000 images
# stored as JPEG files, which changes pixel values a little (JPEG compression loses
# some detail). `ImageFolder` reads either. The cell below prints the file type your
# copy holds; with PNGs, expect your accuracies to differ from the ones quoted here
# (by how much was not measured).

# %%
train_folder = cifar10(train=True)
test_folder = cifar10(train=False)
classes = train_folder.classes
print(len(train_folder), len(test_folder))
print(classes)
print("image files:", Path(train_folder.samples[0][0]).suffix)

# %% [markdown]
# **The plain way** is what lesson 03 did with MNIST: transforms that run on each
# image as it is fetched, and a `DataLoader`. This loader also *augments*: a random crop
# after padding by 4 pixels and a random left-right flip give the network a slightly
# different picture each epoch. Sections 4 and 5 train on plain batches; section 6
# brings augmentation into training and explains why.

# %%
# Placeholders until section 2 measures the real mean and spread of each channel.
plain_mean, plain_std = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)
per_image_transforms = transforms.Compose(
    [
        transforms.RandomCrop(32, padding=4, padding_mode="reflect"),
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),
        transforms.Normalize(plain_mean, plain_std),
    ]
)
plain_loader = DataLoader(
    cifar10(train=True, transform=per_image_transforms),
    batch_size=128,
    shuffle=True,
    generator=generator,
)
images, labels = next(iter(plain_loader))
print(images.shape, labels[:8].tolist())
show_batch(images[:16], nrow=8, mean=plain_mean, std=plain_std, title="a shuffled training batch")

# %% [markdown]
# Such a loader decodes the same 50,000 image files again every epoch (section 2 times
# it). Instead, as in lesson 04, decode them **once** into a tensor of bytes, keep that
# on the device, and normalise and augment whole batches there. `decode_image` from
# `torchvision.io` reads a PNG or JPEG file straight into a tensor of its 0-255 values as
# `uint8` (a quarter of the memory of `float32`), without the PIL image that
# `ImageFolder`'s default loader makes first; an `ImageFolder` given it as its `loader`
# decodes every image that way.
#
# **Three splits.** As in lesson 03, a *validation set* is cut from the training
# images: 5,000 of the 50,000, chosen by a seeded shuffle (the folder is sorted by
# class, so the first images would all be aeroplanes). Every training curve and
# every choice in this lesson uses the validation set. The 10,000 test images are
# used once per final model, at the very end: a score on data that no choice has
# seen is the only honest estimate of how a model does on new images. Smoke mode
# takes smaller samples of each.
#
# The shuffle has a generator of its own, seeded 0, and the split takes the first
# 5,000 images of it for validation. (The course's benchmark, `benchmarks/cifar10_cpu.py`,
# holds out the same 5,000 images, so that section 7's `FastNet`, whose settings were
# chosen there, is judged here on the same validation images.)

# %%
shuffled = torch.randperm(len(train_folder), generator=torch.Generator().manual_seed(0))
val_indices = shuffled[:val_size].tolist()
train_indices = shuffled[val_size : val_size + train_size].tolist()
print("first five validation images:", val_indices[:5])
test_indices = torch.randperm(len(test_folder), generator=generator)[:test_size].tolist()
train_bytes_folder = ImageFolder(train_folder.root, loader=decode_image)  # uint8 tensors
start = time.perf_counter()  # the one-off cost of decoding every image once
train_images, train_labels = dataset_to_tensors(Subset(train_bytes_folder, train_indices))
decode_seconds = time.perf_counter() - start
val_images, val_labels = dataset_to_tensors(Subset(train_bytes_folder, val_indices))
test_images, test_labels = dataset_to_tensors(
    Subset(ImageFolder(test_folder.root, loader=decode_image), test_indices)
)
print(f"training images decoded: {len(train_indices):,}")
print(f"decoding the training images once (seconds): {decode_seconds:.1f}")
print("training", tuple(train_images.shape), train_images.dtype)
print("validation", tuple(val_images.shape), "test", tuple(test_images.shape))
print(f"training images in memory: {train_images.numel() / 2**20:.0f} MiB as uint8")

# %% [markdown]
# Decoding the training images once took
# 8.4<!-- output: decoding the training images once (seconds) --> s on this 2-core CPU.
# Section 2 sets that against an epoch of the per-image loader.

# %% [markdown]
# ## 2. Per-channel normalisation, and what decoding once saves
#
# Each colour channel gets its own mean and standard deviation, measured on the
# training images, so that every input channel has mean 0 and spread 1. (One
# channel at a time keeps the temporary `float32` copy small.)

# %%
channel_mean = tuple(
    round(train_images[:, channel].float().mean().item() / 255, 4) for channel in range(3)
)
channel_std = tuple(
    round(train_images[:, channel].float().std().item() / 255, 4) for channel in range(3)
)
print(f"mean {channel_mean}, std {channel_std}")

# %% [markdown]
# `batch_transform` from `course_utils.augment` turns a `uint8` batch into
# normalised floats and, for training, crops and flips each image with its own
# random choice. `DeviceTensorLoader` applies it to every batch. Normalising is one line
# by hand, which the cell checks against `normalise` (the crop and flip come by hand in
# section 6).
# Sections 4 and 5 train on plain normalised batches (`normalise`), so that their short
# trainings show the networks alone; section 6 adds augmentation (`augment`), and
# exercise 1 measures what it changes. The `train_loader` below is only for looking at one batch:
# every training in the lesson builds its own loader. That batch's channel means come
# out near 0 (64 images differ a little from the whole training set).

# %%
normalise = batch_transform(channel_mean, channel_std)
augment = batch_transform(channel_mean, channel_std, crop_padding=4, flip=True)
train_loader = DeviceTensorLoader(
    train_images,
    train_labels,
    batch_size=64,
    shuffle=True,
    device=device,
    generator=generator,
    transform=normalise,
)
# Evaluation batches of 250: the size changes no result, and a smaller batch keeps the
# memory of each evaluation small.
val_loader = DeviceTensorLoader(
    val_images, val_labels, batch_size=250, device=device, transform=normalise
)
test_loader = DeviceTensorLoader(
    test_images, test_labels, batch_size=250, device=device, transform=normalise
)
batch_images, batch_labels = next(iter(train_loader))
print(
    batch_images.shape,
    batch_images.dtype,
    f"channel means of a batch: {batch_images.mean(dim=(0, 2, 3)).cpu().numpy().round(2)}",
)
mean_by_channel = torch.as_tensor(channel_mean).view(1, 3, 1, 1)
spread_by_channel = torch.as_tensor(channel_std).view(1, 3, 1, 1)
by_hand = (train_images[:8].float() / 255 - mean_by_channel) / spread_by_channel
print(
    "normalise by hand, (pixels / 255 - mean) / spread:",
    torch.allclose(normalise(train_images[:8]), by_hand),
)

# %% [markdown]
# Is it worth it? Time seven passes of each over the same 2,560 training images (20
# batches of 128, at full size), with the same augmentation: random crops after
# reflect-padding by 4, flips, and normalising with the measured mean and spread. The
# plain `DataLoader` reads and transforms each image file as it goes;
# `DeviceTensorLoader` works on the decoded bytes (decoding them once, in section 1, is
# not counted here). The two loaders take turns, each pass after one untimed batch, and
# the cell compares the medians and the fastest passes.


# %%
def seconds_per_batch_of(loader) -> float:
    """One full pass over ``loader``, each batch moved to the device where training needs
    it (no work for batches already there), after one untimed batch that pays any one-off
    start-up costs: the mean seconds per batch. On a GPU the batches are made by queued
    work, so the clock is read only after synchronize (lesson 04) has waited for it."""
    next(iter(loader))
    synchronize(device)
    start = time.perf_counter()
    for images, labels in loader:
        images.to(device), labels.to(device)
    synchronize(device)
    return (time.perf_counter() - start) / len(loader)


timed_count = min(2_560, train_size)
per_image_measured = transforms.Compose(
    [*per_image_transforms.transforms[:3], transforms.Normalize(channel_mean, channel_std)]
)
files_loader = DataLoader(
    Subset(cifar10(train=True, transform=per_image_measured), train_indices[:timed_count]),
    batch_size=128,
)
tensor_loader = DeviceTensorLoader(
    train_images[:timed_count],
    train_labels[:timed_count],
    batch_size=128,
    device=device,
    transform=augment,
)
# Seven passes of each, taken in turns: a pass of the tensors lasts a fraction of a second,
# short enough for one busy moment of the machine to move it.
passes = {"files": [], "tensors": []}
for _ in range(7):
    passes["files"].append(seconds_per_batch_of(files_loader))
    passes["tensors"].append(seconds_per_batch_of(tensor_loader))
files_seconds = statistics.median(passes["files"])
tensor_seconds = statistics.median(passes["tensors"])
for what, loader_name in (
    ("files", "DataLoader over image files"),
    ("tensors", "DeviceTensorLoader"),
):
    each = ", ".join(f"{1000 * seconds:.1f}" for seconds in passes[what])
    print(f"{loader_name}, ms per batch in each pass: {each}")
print(f"DataLoader over image files, ms per batch: {1000 * files_seconds:.1f}")
print(f"DeviceTensorLoader, ms per batch: {1000 * tensor_seconds:.1f}")
fastest_ratio = min(passes["files"]) / min(passes["tensors"])
print(f"DataLoader time per DeviceTensorLoader time, fastest passes: {fastest_ratio:.1f}")
# Section 1's one-off decoding against an epoch of the per-image DataLoader at this rate.
epoch_of_files = files_seconds * len(train_indices) / 128
print(f"per-image DataLoader, one epoch of the training images (seconds): {epoch_of_files:.1f}")
ratio = decode_seconds / epoch_of_files
print(f"decoding once / one epoch of the per-image DataLoader: {ratio:.2f}")
print(f"DataLoader time per DeviceTensorLoader time: {files_seconds / tensor_seconds:.1f}")
print("faster here:", "DeviceTensorLoader" if tensor_seconds < files_seconds else "DataLoader")
del files_loader, tensor_loader

# %% [markdown]
# The last line says which was faster on this machine, and the line before it by how
# much: the `DataLoader` needed a median of
# 57.5 ms<!-- output: DataLoader over image files, ms per batch --> per batch over seven
# passes, the `DeviceTensorLoader`
# 2.2 ms<!-- output: DeviceTensorLoader, ms per batch -->, both on this 2-core CPU. The
# tensor loader's passes are short enough for one busy moment of the machine to move one
# of them (the first two lines list every pass), so the fastest passes give a second
# reading of the ratio: the line `fastest passes`. The
# `DataLoader` ran in the notebook's own process (`num_workers=0`, lesson 04's classic
# pipeline); worker processes were not measured here, nor a GPU. At the `DataLoader`'s
# rate, one epoch of the 45,000 training images would take
# 20.2<!-- output: per-image DataLoader, one epoch of the training images (seconds) --> s,
# and section 1's one-off decoding took
# 0.42<!-- output: decoding once / one epoch of the per-image DataLoader --> of that. The
# decoding is paid once; the per-image loader pays its cost again in every epoch.

# %% [markdown]
# ## 3. Convolution, padding, stride and pooling
#
# A convolution layer slides small filters (here 3 x 3 or 5 x 5) over the image;
# each output pixel is a weighted sum of a patch of input pixels across all input
# channels. The same filter weights are used at every position.
#
# The output size follows from the input size `n`, the kernel size `k`, the
# padding `p` added on each side and the stride `s` (step between positions):
#
# &nbsp;&nbsp;&nbsp;&nbsp; out = ⌊(n + 2p − k) / s⌋ + 1
#
# - 5 x 5 kernel, no padding, stride 1 on 32 pixels: (32 + 0 − 5) / 1 + 1 = **28**;
# - the same with padding 2: (32 + 4 − 5) / 1 + 1 = **32** ("same" size);
# - 3 x 3 kernel, padding 1, stride 2: ⌊(32 + 2 − 3) / 2⌋ + 1 = 15 + 1 = **16**;
# - max pooling 2 x 2 (kernel 2, stride 2) keeps the largest value of each 2 x 2
#   block: ⌊(32 − 2) / 2⌋ + 1 = **16**.
#
# Check each against the layers:


# %% tags=["nbval-check-output"]
def output_size(n: int, kernel: int, padding: int = 0, stride: int = 1) -> int:
    """The formula above."""
    return (n + 2 * padding - kernel) // stride + 1


one_image = torch.zeros(1, 3, 32, 32)
cases = [
    ("5x5, no padding", nn.Conv2d(3, 8, kernel_size=5), output_size(32, 5)),
    ("5x5, padding 2", nn.Conv2d(3, 8, kernel_size=5, padding=2), output_size(32, 5, padding=2)),
    (
        "3x3, padding 1, stride 2",
        nn.Conv2d(3, 8, kernel_size=3, padding=1, stride=2),
        output_size(32, 3, padding=1, stride=2),
    ),
    ("max pool 2x2", nn.MaxPool2d(2), output_size(32, 2, stride=2)),
]
for name, layer, by_hand in cases:
    shape = tuple(layer(one_image).shape)
    print(f"{name:26} by hand {by_hand}, layer {shape}, match {shape[-1] == by_hand}")

# %% [markdown]
# The number of output channels is the number of filters (8 here); a pooling layer
# keeps the channels. Each 5 x 5 filter over 3 channels has 5 · 5 · 3 = 75 weights
# plus a bias, whatever the image size: that is why convolutions need so few
# parameters.

# %% tags=["nbval-check-output"]
print(sum(p.numel() for p in nn.Conv2d(3, 8, kernel_size=5).parameters()), "=", 8 * (5 * 5 * 3 + 1))

# %% [markdown]
# Compare with a linear layer on the same image. A convolution with 16 filters of
# 5 x 5 and padding 2 turns a 3 x 32 x 32 image into 16 x 32 x 32 outputs. A linear
# layer making the same number of outputs from the same inputs needs one weight for
# every pair of input and output values:


# %% tags=["nbval-check-output"]
def count_parameters(model: nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters())


inputs_per_image, outputs_per_image = 3 * 32 * 32, 16 * 32 * 32
conv_parameters = count_parameters(nn.Conv2d(3, 16, kernel_size=5, padding=2))
linear_parameters = inputs_per_image * outputs_per_image + outputs_per_image  # weights + biases
print(f"convolution: {conv_parameters:,} parameters")
print(f"linear layer, same inputs and outputs: {linear_parameters:,} parameters")
print(f"linear parameters per convolution parameter: {linear_parameters / conv_parameters:,.0f}")

# %% [markdown]
# About 41,405<!-- output: linear parameters per convolution parameter --> times more.
# The convolution gets away with 1,216 because each output
# looks only at a 5 x 5 patch (not the whole image) and every position shares the
# same filter weights. Both are assumptions about images that happen to be true:
# nearby pixels belong together, and an edge is an edge wherever it appears.
#
# **A convolution by hand.** Each output value is the sum of a filter times the
# patch of input under it, over all input channels. Two nested loops make that
# literal: for every output row and column, take the patch, multiply it by the filter
# element by element, and add everything up. It gives the same numbers as PyTorch's
# `F.conv2d` (which computes it with optimised code, and, like most deep-learning
# libraries, does not flip the filter, so strictly it is a cross-correlation).


# %% tags=["nbval-check-output"]
def convolve(image: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Slide kernel (C, k, k) over image (C, H, W): no padding, stride 1, one output channel."""
    size = kernel.shape[-1]
    rows, columns = image.shape[1] - size + 1, image.shape[2] - size + 1
    output = torch.zeros(rows, columns)
    for row in range(rows):
        for column in range(columns):
            patch = image[:, row : row + size, column : column + size]
            output[row, column] = (patch * kernel).sum()
    return output


small_input = torch.randn(3, 6, 6, generator=torch.Generator().manual_seed(0))
kernel = torch.randn(3, 3, 3, generator=torch.Generator().manual_seed(1))
by_hand = convolve(small_input, kernel)
by_pytorch = F.conv2d(small_input.unsqueeze(0), kernel.unsqueeze(0)).squeeze()
print(tuple(by_hand.shape), torch.allclose(by_hand, by_pytorch, atol=1e-5))

# %% [markdown]
# **What a filter finds.** A hand-made filter shows what one convolution can do.
# This one subtracts the pixels on the left of each point from those on the right
# (on the grey version of the image), so it responds to vertical edges: bright
# where the image gets lighter from left to right, dark where it gets darker, and
# grey where nothing changes. On a white square it draws a bright line down the left
# side and a dark one down the right; on the car, look for the same lines at its
# upright edges.

# %%
vertical_edges = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
example_image = train_images[(train_labels == classes.index("automobile")).nonzero()[0, 0]]
grey = example_image.float().mean(dim=0, keepdim=True) / 255
square = torch.zeros(1, 32, 32)  # a white square on black: two clear vertical edges
square[:, 8:24, 8:24] = 1.0


def vertical_edges_of(picture: torch.Tensor) -> torch.Tensor:
    """The filter's response on a (1, H, W) grey picture, the same size as the picture."""
    # Repeat the border pixels for padding: zeros would make the image's own border an edge.
    padded = F.pad(picture.unsqueeze(0), (1, 1, 1, 1), mode="replicate")
    return F.conv2d(padded, vertical_edges.view(1, 1, 3, 3))[0, 0]


fig, axes = plt.subplots(1, 4, figsize=(10, 2.8))
panels = (
    ("a white square", square[0], "gray"),
    ("its vertical edges", vertical_edges_of(square), "gray"),
    ("a training image", example_image.permute(1, 2, 0), None),
    ("its vertical edges", vertical_edges_of(grey), "gray"),
)
for ax, (title, picture, cmap) in zip(axes, panels, strict=True):
    if cmap is None:
        ax.imshow(picture.numpy(), interpolation="nearest")
    else:  # edges: grey is 0, white the largest rise, black the largest fall
        bound = picture.abs().max().item() if "edges" in title else 1.0
        low = -bound if "edges" in title else 0.0
        ax.imshow(picture.numpy(), cmap=cmap, vmin=low, vmax=bound, interpolation="nearest")
    ax.set_title(title)
    ax.set_axis_off()
plt.show()

# %% [markdown]
# ## 4. A small CNN
#
# Two blocks of convolution, ReLU and 2 x 2 pooling shrink the image from 32 x 32
# to 16 x 16 to 8 x 8 while the channels grow from 3 to 16 to 32; then three
# linear layers classify the 32 · 8 · 8 = 2048 features. As in lesson 03, the model
# subclasses `ImageClassificationBase`, whose `training_step(batch)` returns the batch's
# cross-entropy loss and whose `validation_step` the loss and accuracy, which `fit` calls.


# %%
class SmallCnn(ImageClassificationBase):
    """conv(5x5, 16)-pool, conv(5x5, 32)-pool, then 2048 -> 120 -> 84 -> 10."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, kernel_size=5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 16 x 16 x 16
            nn.Conv2d(16, 32, kernel_size=5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 32 x 8 x 8
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(32 * 8 * 8, 120),
            nn.ReLU(),
            nn.Linear(120, 84),
            nn.ReLU(),
            nn.Linear(84, 10),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(images))


# %% tags=["nbval-check-output"]
cnn = SmallCnn()
print(tuple(cnn.features(one_image).shape), f"{count_parameters(cnn):,} parameters")

# %% [markdown]
# Train it with SGD with *momentum*: each step continues part of the previous
# step's direction, which (by the usual reasoning, not measured here) smooths out the
# noise of small batches.
# `functools.partial(torch.optim.SGD, momentum=0.9)` (`sgd_momentum` below) is
# `torch.optim.SGD` with `momentum=0.9` filled in: `fit` calls it with the parameters
# and the learning rate, as it calls any `opt_func`. Two epochs at a learning rate of
# 0.02: a short training, to fit the lesson's time budget (the exercises train small
# models for longer, and section 7 trains a stronger network). `training_batches` gives
# the loader its own generator, seeded 0, so that section 5's MLP can get the very same
# order of batches. (`record_result` prints a `name: value` line for the course's table
# of results.)


# %%
def training_batches() -> DeviceTensorLoader:
    """Plain normalised training batches of 64, in the order a generator seeded 0 gives."""
    return DeviceTensorLoader(
        train_images,
        train_labels,
        batch_size=64,
        shuffle=True,
        device=device,
        generator=torch.Generator().manual_seed(0),
        transform=normalise,
    )


seed_everything(0)
cnn = to_device(SmallCnn(), device)
untrained_filters = cnn.features[0].weight.detach().cpu().clone()  # for section 4's figure
sgd_momentum = functools.partial(torch.optim.SGD, momentum=0.9)
cnn_loader = training_batches()
cnn_history = fit(cnn_epochs, 0.02, cnn, cnn_loader, val_loader, opt_func=sgd_momentum)
cnn_train_seconds = sum(epoch["train_seconds"] for epoch in cnn_history)
record_result("small CNN validation accuracy", cnn_history[-1]["val_acc"])
record_result("small CNN training seconds", round(cnn_train_seconds, 1))

# %% [markdown]
# At full size, on the 2-core CPU that made these outputs, the small CNN reached
# **58.8%**<!-- output: small CNN validation accuracy --> validation accuracy after 2 epochs
# and 22 s<!-- output: small CNN training seconds --> of training. That figure, like every
# training time this lesson measures, adds up `train_seconds`, the training passes alone;
# the seconds in brackets on the epoch line also include measuring the validation set.
# Other programs sharing the CPU slow whatever runs while they do, so read a single
# run's times loosely.
#
# Accuracy per class, on the validation set, shows where it struggles:

# %%
cnn_predictions, cnn_truth = predict(cnn, val_loader)
cnn_class_accuracy = per_class_accuracy(
    confusion_matrix(cnn_predictions, cnn_truth, num_classes=10)
)
animals = {"bird", "cat", "deer", "dog", "frog", "horse"}  # the other four are vehicles
ranking = sorted(zip(cnn_class_accuracy.tolist(), classes, strict=True))  # hardest first
print("classes from hardest to easiest (a tie is ordered by name):")
for class_accuracy, name in ranking:
    print(f"  {name:11} {class_accuracy:.1%}  {'animal' if name in animals else 'vehicle'}")
hardest_half = [name for _, name in ranking[:5]]
found = sum(name in animals for name in hardest_half)
print(f"animals among the 5 hardest classes: {found}")
print(f"validation images per class: {val_labels.bincount(minlength=10).tolist()}")
# A ranking blind to the classes: of the ways to pick 5 classes of the 10, how many hold
# at least that many of the 6 animals (k animals and 5 - k of the 4 vehicles)?
ways = sum(math.comb(6, k) * math.comb(4, 5 - k) for k in range(found, 6))
print(f"ways to pick 5 of the 10 classes with at least {found} animals: {ways} of 252")
gap = 100 * (ranking[2][0] - ranking[1][0])  # the third hardest class over the second
print(f"the 2 hardest classes, the second's points below the third: {gap:.1f}")

# %% [markdown]
# We might expect animals among the hardest classes, since several look alike at 32 x 32
# pixels. Here
# 3<!-- output: animals among the 5 hardest classes --> of the 5 hardest are animals,
# but with 6 animals among the 10 classes, a ranking blind to the classes would put 3
# among the 5 hardest on average (and at least 3 in
# 186<!-- output: ways to pick 5 of the 10 classes with at least 3 animals --> of the 252
# ways to pick 5 classes): no sign that animals as a group are harder. Single classes
# tell more: the second hardest stands
# 21.3<!-- output: the 2 hardest classes, the second's points below the third --> points
# below the third (the last line), and the hardest lower still; section 8 shows which
# classes the final model mistakes for which. Each class has
# about 500 validation images, so classes a few
# points apart could swap places in another run; this lesson trains the small CNN once.

# %% [markdown]
# **What the network sees.** The 16 filters of the first layer, drawn as tiny
# 5 x 5 colour images (each scaled to its own full range). Training started them
# as random noise; after two epochs, look for filters with a smooth patch of one colour
# or a change from light to dark across the filter: the beginnings of detectors for
# colours and edges (after so short a training, many may still look noisy).


# %%
def to_unit_range(images: torch.Tensor) -> torch.Tensor:
    """Scale each image of a batch to [0, 1] on its own, so every one is visible."""
    flat = images.flatten(start_dim=1)
    low, high = flat.min(dim=1).values, flat.max(dim=1).values
    return (images - low.view(-1, 1, 1, 1)) / (high - low).clamp_min(1e-8).view(-1, 1, 1, 1)


first_filters = cnn.features[0].weight.detach().cpu()  # (16, 3, 5, 5)
show_batch(
    to_unit_range(torch.cat([untrained_filters, first_filters])),
    nrow=16,
    title="first-layer filters: before training (top), after (bottom)",
)

# %% [markdown]
# *Feature maps* are what those filters produce on an image. In each of the eight
# first-layer maps drawn (after the ReLU), look for the car's edges or colour regions
# at full resolution; where a filter found nothing, its map is 0 (the first printed line
# counts those zeros over all 16 maps).

# %%
second_layer = cnn.features[:5]  # conv, ReLU, pool, conv, ReLU: 32 maps of 16 x 16
with eval_mode(cnn):
    car = normalise(example_image.unsqueeze(0).to(device))
    all_first_maps = cnn.features[:2](car)[0].cpu()  # conv + ReLU: 16 maps of 32 x 32
    second_maps = second_layer(car)[0].cpu()
first_maps = all_first_maps[:8].unsqueeze(1)  # eight of them, to draw
print(f"first-layer values that are 0 on the car: {(all_first_maps == 0).float().mean():.2f}")
print(f"second-layer values that are 0 on the car: {(second_maps == 0).float().mean():.2f}")
show_batch(to_unit_range(first_maps), nrow=8, title="first layer: 8 of 16 maps, 32 x 32")

# %% [markdown]
# In the first layer 76%<!-- output: first-layer values that are 0 on the car --> of the
# values on the car are 0, and in the second layer (not drawn)
# 82%<!-- output: second-layer values that are 0 on the car --> of its values on the car
# are exactly 0 (the ReLU cut off every negative value). Rather than draw those sparse
# maps, ask *what makes a second-layer channel respond most?* Each of its values looks
# at a 14 x 14 patch of the image. Count one direction, from the second layer back to
# the pixels:
# - its 5 x 5 window covers 5 pooled values;
# - each pooled value is the largest of 2 first-layer values (a 2 x 2 pool), so the 5
#   come from 2 x 5 = 10 first-layer values side by side;
# - each first-layer value saw 5 pixels, and its neighbour saw the same 5 shifted by one,
#   so 10 neighbouring values saw 10 + 4 = 14 pixels.
#
# Autograd can check that count. A pixel a value cannot see has no effect on it, so the
# value's gradient with respect to that pixel is 0. The cell takes the gradient of the
# 32 second-layer values at map position (8, 8) (their sum) on 200 validation images,
# and finds the pixels where it is not 0 (beyond round-off) for any image, channel or
# colour. (One image alone can miss some: where a ReLU outputs 0, or the pool passes on
# another value, no gradient flows back.)

# %%
pixels = normalise(val_images[:200].to(device)).requires_grad_()
centre_values = second_layer(pixels)[:, :, 8, 8].sum()  # all 32 channels, every image
(gradient,) = torch.autograd.grad(centre_values, pixels)  # leaves the CNN's .grad alone
# Not exactly 0: some GPU algorithms leave round-off where the true gradient is 0.
moved = (gradient.abs() > 1e-4 * gradient.abs().max()).any(dim=1).any(dim=0).cpu()
rows = moved.any(dim=1).nonzero().flatten().tolist()
columns = moved.any(dim=0).nonzero().flatten().tolist()
print(f"first row seen: {rows[0]}")
print(f"last row seen: {rows[-1]}")
print(f"columns seen: {columns[0]} to {columns[-1]}")
print(f"patch seen by a second-layer value: {len(rows)} x {len(columns)} pixels")
print(f"pixels with a gradient: {moved.sum()} of the patch's {len(rows) * len(columns)}")

# %% [markdown]
# The gradient reaches
# 14 x 14<!-- output: patch seen by a second-layer value --> pixels (all
# 196<!-- output: pixels with a gradient --> of them), in rows
# 10<!-- output: first row seen --> to 23<!-- output: last row seen -->, as counted
# above. So we can search the validation images for the patches where a channel's value
# is largest, and draw those patches.


# %%
def strongest_patches(
    images: torch.Tensor, channel_count: int, per_channel: int
) -> tuple[list[int], torch.Tensor]:
    """For the channel_count second-layer channels with the largest responses: the
    per_channel uint8 image patches (14 x 14) where each responds most."""
    strongest, where = [], []
    with eval_mode(cnn):
        for batch in images.split(250):  # small batches keep memory low
            maps = second_layer(normalise(batch.to(device))).flatten(start_dim=2).cpu()
            values, positions = maps.max(dim=2)  # each image's largest value per channel
            strongest.append(values)
            where.append(positions)
    strongest, where = torch.cat(strongest), torch.cat(where)  # (images, 32) each
    channels = strongest.max(dim=0).values.topk(channel_count).indices.tolist()
    # Value (row, column) of a 16 x 16 map sees input rows 2 row - 6 to 2 row + 7; pad by
    # 6 pixels so that patches at the border keep their size.
    padded = F.pad(images, (6, 6, 6, 6))
    patches = []
    for channel in channels:
        for index in strongest[:, channel].topk(per_channel).indices.tolist():
            row, column = divmod(where[index, channel].item(), 16)
            patches.append(padded[index, :, 2 * row : 2 * row + 14, 2 * column : 2 * column + 14])
    return channels, torch.stack(patches)


top_channels, patches = strongest_patches(val_images, channel_count=6, per_channel=8)
print("channels, one per row:", top_channels)
show_batch(patches.float() / 255, nrow=8, title="where six second-layer channels respond most")

# %% [markdown]
# Read the figure row by row: each row is one channel's eight strongest patches, from
# 5,000 validation images (black borders: the patch reaches past the edge of its
# image). Look for what the patches of a row share (a colour against another, an edge
# at one angle, a texture) and how that differs from row to row; which pattern each
# channel picks up changes with the seed, so this text does not name them. Each patch
# covers
# 14 x 14 pixels, far more than a first-layer filter's 5 x 5: a second-layer channel
# can respond to a pattern spread over that larger area, which a single 5 x 5 filter
# cannot see.

# %% [markdown]
# ## 5. Why an MLP does worse
#
# Give an MLP (two hidden layers of 512 and 256 units with ReLU, no dropout) the same
# training as the small CNN: the same data in the same order of batches, the same
# optimizer, learning rate and epochs. The same epochs, not the same time: the cell
# prints each model's training seconds. The settings were set for the CNN (not searched,
# and not tuned for the MLP), so read the gap as rough.
#
# (`release_memory` hands memory that earlier cells freed back to the system, to keep the
# lesson within its memory budget; it changes no result.)

# %%
release_memory()
seed_everything(0)
mlp = to_device(MLP(3 * 32 * 32, [512, 256], 10), device)
mlp_loader = training_batches()  # a fresh generator: the CNN's order of batches
mlp_history = fit(cnn_epochs, 0.02, mlp, mlp_loader, val_loader, opt_func=sgd_momentum)
record_result("MLP validation accuracy (same budget)", mlp_history[-1]["val_acc"])
mlp_train_seconds = sum(epoch["train_seconds"] for epoch in mlp_history)
record_result("MLP training seconds", round(mlp_train_seconds, 1))
print(f"small CNN training seconds: {cnn_train_seconds:.1f}")
print("faster to train:", "MLP" if mlp_train_seconds < cnn_train_seconds else "small CNN")
print(f"parameters: MLP {count_parameters(mlp):,}, small CNN {count_parameters(cnn):,}")
print(
    f"MLP parameters per small-CNN parameter: {count_parameters(mlp) / count_parameters(cnn):.1f}"
)

# %% [markdown]
# The MLP has about 6.3<!-- output: MLP parameters per small-CNN parameter --> times as
# many parameters and still does worse: 45.8%<!-- output: MLP validation accuracy (same budget) -->
# against 58.8%<!-- output: small CNN validation accuracy --> validation accuracy at full
# size, after the same 2 epochs. Its training took
# 5 s<!-- output: MLP training seconds --> against the CNN's
# 22 s<!-- output: small CNN training seconds --> on this 2-core CPU (the `faster to
# train` line names the quicker one), so this is a comparison at equal epochs, not at
# equal time.
# An MLP has no built-in notion of which pixels are neighbours (the CNN flattens only after
# its convolutions), so what it learns about "an edge here" does not carry over to other
# positions. A convolution learns a filter once and
# applies it everywhere, and pooling lets later layers see larger regions. In this run
# the CNN, with that built-in structure, scored higher than the MLP with its many more
# parameters (the `parameters` line above), which is in line with that reasoning. The
# gap rests on one run of each model; this lesson does not measure how far another seed
# would move it (section 6 measures that for another model and recipe).

# %% [markdown]
# ## 6. A deeper network: ResNet-9
#
# This section runs only small versions of ResNet-9, on a sample, to show its parts and
# its recipe; the full-width network trains in section 7, and only on a CUDA GPU. Four
# ideas, each a standard part of modern image models:
# - **Batch normalisation** (`BatchNorm2d`) rescales each channel of a batch to mean 0
#   and spread 1 (then learns its own scale and shift), which, as Ioffe and Szegedy
#   (2015) found, keeps deep networks trainable with large learning rates. The cell
#   after this list shows what it computes; Appendix A shows why the weights' size then
#   stops mattering.
# - **Residual blocks** add a block's input to its output, `x + f(x)`: the block only
#   has to learn a correction, and since the derivative of `x + f(x)` is 1 plus that of
#   `f`, gradients pass the addition undiminished. He et al. (2016) introduced them to
#   train networks of a hundred layers and more; this lesson does not compare ResNet-9
#   with and without them.
# - **Data augmentation** (random crops and flips) shows a slightly different image
#   every epoch, so memorising the training images pays less.
# - **One-cycle learning rate, weight decay and gradient clipping**: `fit_one_cycle`
#   raises the learning rate from low to a peak over the first part of the steps, then
#   lowers it smoothly almost to 0 (plotted further down); weight decay pulls weights
#   towards 0
#   a little each step; clipping caps each gradient value, a guard against one bad
#   batch throwing training off (a reason from the recipe, not shown here).


# %% [markdown]
# **Batch normalisation in train and eval mode.** In train mode a `BatchNorm2d`
# layer normalises with the mean and spread of the batch in front of it, and also
# updates *running* averages of them: by default it moves them
# 10%<!-- source: PyTorch's BatchNorm2d, momentum=0.1 --> of the way towards each new
# batch's values. In eval mode it uses those running averages instead, so a
# prediction does not depend on which other images share its batch. That is one
# more reason to evaluate in
# eval mode (`evaluate` and `predict` switch to it).
#
# Below, a batch whose channels have mean about 2 comes out of train mode centred
# on 0. The running means have moved only a tenth of the way, from 0 to about 0.2,
# so in eval mode, after this single batch, the same inputs are not centred yet.
# Over the hundreds of batches of a real training, the running averages are meant to
# follow the statistics of the data the layer sees.


# %% tags=["nbval-check-output"]
def channel_means(batch: torch.Tensor) -> list[float]:
    """The mean of each channel, rounded (+ 0.0 turns -0.0 into 0.0)."""
    return [round(value, 2) + 0.0 for value in batch.mean(dim=(0, 2, 3)).tolist()]


batch_norm = nn.BatchNorm2d(3)
shifted_batch = torch.randn(16, 3, 8, 8, generator=torch.Generator().manual_seed(0)) * 4 + 2
print("input batch, channel means:", channel_means(shifted_batch))
with torch.no_grad():
    batch_norm.train()
    print("train mode, output channel means:", channel_means(batch_norm(shifted_batch)))
    print("running means after one batch:", [round(v, 2) for v in batch_norm.running_mean.tolist()])
    print(
        "running variances after one batch:", [round(v, 2) for v in batch_norm.running_var.tolist()]
    )
    batch_norm.eval()
    eval_output = batch_norm(shifted_batch)
    print("eval mode, output channel means:", channel_means(eval_output))
    by_formula = (shifted_batch - batch_norm.running_mean.view(1, 3, 1, 1)) / torch.sqrt(
        batch_norm.running_var.view(1, 3, 1, 1) + batch_norm.eps
    )
    print(
        "eval output equals (x - running mean) / sqrt(running var):",
        torch.allclose(eval_output, by_formula, atol=1e-5),
    )

# %% [markdown]
# The running variances moved a tenth of the way too, from 1 towards the batch's
# variance of about 16 (its spread was 4), to about 2.5. Eval mode computes
# (x − running mean) / √(running variance) per channel (then the scale 1 and shift 0
# of a fresh layer), as the last line confirms: a channel mean of about 2 comes out as
# about (2 − 0.2) / √2.5 ≈ 1.1.
#
# The building block below is a 3 x 3 convolution, batch norm and ReLU. Its convolution
# has no bias (`bias=False`): the batch norm right after it subtracts each channel's
# mean, which would cancel any bias, and adds a learned shift of its own. The ReLU
# works in place (`inplace=True`): it overwrites its input instead of making a new
# tensor, so no second tensor is stored for its output, and that is safe here because
# nothing else needs the values before the ReLU. At the end of the network,
# `AdaptiveMaxPool2d(1)` keeps the largest value of each channel, wherever in the image
# it is (the table after the code shows the shapes).


# %%
def conv_block(in_channels: int, out_channels: int, pool: bool = False) -> nn.Sequential:
    """3x3 convolution, batch normalisation, ReLU, and optionally 2x2 max pooling."""
    layers = [
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    ]
    if pool:
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


class ResidualBlock(nn.Module):
    """Two conv blocks whose output is added to their input: x + f(x)."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(conv_block(channels, channels), conv_block(channels, channels))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs + self.body(inputs)


class ResNet9(ImageClassificationBase):
    """Widths w, 2w, 4w, 8w (w = 64 in the full-size network); 32 -> 16 -> 8 -> 4 pixels."""

    def __init__(self, width: int = 64, num_classes: int = 10):
        super().__init__()
        self.layers = nn.Sequential(
            conv_block(3, width),
            conv_block(width, 2 * width, pool=True),
            ResidualBlock(2 * width),
            conv_block(2 * width, 4 * width, pool=True),
            conv_block(4 * width, 8 * width, pool=True),
            ResidualBlock(8 * width),
            nn.AdaptiveMaxPool2d(1),
            nn.Flatten(),
            nn.Linear(8 * width, num_classes),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.layers(images)


# %% tags=["nbval-check-output"]
print(
    f"full size: {count_parameters(ResNet9(64)):,} parameters; "
    f"width 16: {count_parameters(ResNet9(16)):,}"
)
print(tuple(ResNet9(16)(torch.zeros(2, 3, 32, 32)).shape))

# %% [markdown]
# **ResNet-9, layer by layer.** The next cell sends one blank image through the full-size
# network (width 64), one entry of `layers` at a time, and prints what each entry is,
# the shape that comes out, and its parameters.


# %% tags=["nbval-check-output"]
def describe_layer(layer: nn.Module) -> str:
    """A short name for one entry of ResNet9.layers."""
    if isinstance(layer, ResidualBlock):
        return "residual block"
    if isinstance(layer, nn.Sequential):  # a conv_block
        pooled = any(isinstance(part, nn.MaxPool2d) for part in layer)
        return "conv block + max pool" if pooled else "conv block"
    return type(layer).__name__


full_size = ResNet9(64).eval()
flowing = torch.zeros(1, 3, 32, 32)
print(f"{'':<3}{'layer':<22}{'output shape':<18}parameters")
with torch.no_grad():
    for index, layer in enumerate(full_size.layers):
        flowing = layer(flowing)
        print(
            f"{index:<3}{describe_layer(layer):<22}{str(tuple(flowing.shape)):<18}"
            f"{count_parameters(layer):,}"
        )
last_block_share = count_parameters(full_size.layers[5]) / count_parameters(full_size)
print(f"share of the parameters in the last residual block: {last_block_share:.2f}")
del full_size, flowing  # 26 MB of weights that the rest of the lesson does not need

# %% [markdown]
# Read the table top to bottom. The first conv block turns the 3 colour channels into 64
# feature maps of 32 x 32 pixels. Each block "+ max pool" doubles the channels and halves
# the image: 128 maps of 16 x 16, then 256 of 8 x 8, then 512 of 4 x 4, so each later
# map looks at a larger patch of the image with more filters. The two residual blocks
# leave the shape as it is, which is what lets them add their input to their output.
# `AdaptiveMaxPool2d(1)` keeps each of the 512 maps' largest value, wherever in the
# image it was; `Flatten` makes that a vector of 512, and the `Linear` layer turns it
# into the 10 class scores. The parameter counts show where the weights sit: the last
# residual block alone holds
# 0.72<!-- output: share of the parameters in the last residual block --> of them,
# because a 3 x 3 convolution from 512 channels to 512 has 512 x 512 x 9 weights.
#
# The augmented batches, drawn from the tensors on the device (each image cropped
# and flipped with its own random choice):

# %%
augmented_loader = DeviceTensorLoader(
    train_images,
    train_labels,
    batch_size=128,
    shuffle=True,
    device=device,
    generator=generator,
    transform=augment,
)
show_batch(
    next(iter(augmented_loader))[0][:16].cpu(),
    nrow=8,
    mean=channel_mean,
    std=channel_std,
    title="augmented training images",
)

# %% [markdown]
# The padding reflects the image rather than adding black, so an image shifted away
# from an edge shows, along that edge, a strip that mirrors the pixels next to it. At 32
# x 32 such strips are hard to spot in a batch of different images; look for them along
# the edges of the car in the next figure.
#
# The same training image, augmented eight times. A crop of 32 pixels from the image
# padded by 4 on each side can start at any of 9 x 9 offsets, flipped or not: 9 x 9 x 2
# = 162 possible views of each image, so across epochs the network sees each image in
# many versions rather than the same picture every time.

# %%
one_image_eight_times = example_image.unsqueeze(0).repeat(8, 1, 1, 1).to(device)
show_batch(
    torch.cat(
        [normalise(example_image.unsqueeze(0).to(device)), augment(one_image_eight_times)]
    ).cpu(),
    nrow=9,
    mean=channel_mean,
    std=channel_std,
    title="the original, then eight augmentations",
)

# %% [markdown]
# **Crop and flip, by hand.** For one image, a random crop is: pad it by 4 pixels
# (reflecting its border), pick a top-left corner among the 9 x 9 offsets, and cut out
# 32 x 32 pixels; a flip reverses its columns. The cell does that for four images, with
# seeded random numbers drawn in the order the course's `random_crop` and
# `random_horizontal_flip` draw them (all the offsets, then a coin for each image), and
# compares the result with theirs:

# %% tags=["nbval-check-output"]
few = normalise(train_images[:4].to(device))
draw = torch.Generator().manual_seed(1)
offsets = torch.randint(0, 9, (2, len(few)), generator=draw)  # row and column offsets, 0 to 8
coins = torch.rand(len(few), generator=draw) < 0.5  # flip or not, a coin each
by_hand = []
for image, top, left, coin in zip(
    few, offsets[0].tolist(), offsets[1].tolist(), coins.tolist(), strict=True
):
    padded = F.pad(image.unsqueeze(0), (4, 4, 4, 4), mode="reflect")[0]
    crop = padded[:, top : top + 32, left : left + 32]
    by_hand.append(crop.flip(-1) if coin else crop)
draw.manual_seed(1)  # the same random numbers again, for the course's functions
course = random_horizontal_flip(random_crop(few, 4, generator=draw), generator=draw)
print("crop and flip by hand equal the course's:", torch.equal(torch.stack(by_hand), course))
del few, by_hand, course

# %% [markdown]
# **The recipe, one ingredient at a time.** A full-size ResNet-9 needs a GPU, but a
# small one (width 8) trains on a sample of `sample_size` training images in a few
# seconds per epoch (on this 2-core CPU, as printed). Each run below adds one ingredient to
# the one before, and changes
# nothing else: the same seed (so the same starting weights, batches and
# augmentations), the same data, Adam with the same peak learning rate of 0.01, and
# `recipe_epochs` epochs.
#
# *Adam* and the one-cycle schedule are lesson 03's; Adam's momentum is a running
# average of past gradients that keeps a share *beta1* (0.9 by default) at each step.
#
# 1. a constant learning rate (`fit`);
# 2. the one-cycle schedule (`fit_one_cycle`): the rate climbs to 0.01, then falls
#    almost to 0. (PyTorch's `OneCycleLR` also moves Adam's beta1 the other way, between
#    0.95 and 0.85, its defaults, so this step changes the two together);
# 3. plus weight decay, 1e-4: `weight_decay` adds 1e-4 times each weight to its
#    gradient, a pull towards 0;
# 4. plus gradient clipping at 0.1: the lesson's recipe.
#
# A fifth run repeats the fourth with another seed (the dashed line in the figure
# below). How far apart those two land
# shows how much a single run's accuracy moves by chance.
#
# Do not set these runs against section 4's small CNN: each makes 80 steps, where the
# small CNN made 1,408, and at width 8 each layer is narrow. They are there to compare
# the ingredients with each other, on the same budget.
#
# First, what `fit_one_cycle` (in `course_utils/training.py`) sets up, and the line of
# its loop that clips:

# %%
recipe_source = inspect.getsource(fit_one_cycle)
first = recipe_source.index("    optimizer = opt_func(")
print(inspect.cleandoc(recipe_source[first : recipe_source.index("    return _train(")]))
loop_lines = inspect.getsource(training._train_epoch).splitlines()
print(next(line.strip() for line in loop_lines if "clip_grad_value_" in line))
print(next(line.strip() for line in loop_lines if "scheduler.step()" in line))

# %% [markdown]
# Weight decay goes to the optimizer; `OneCycleLR` is stepped after every batch; and
# `clip_grad_value_` caps each gradient value at `grad_clip` on its own, not the
# gradient's overall length. Both are a line by hand. Clipping is `clamp` on each
# gradient; `Adam`'s `weight_decay` adds 1e-4 times each weight to its gradient before
# the step. The cell does each by hand on a small tensor and compares it with PyTorch's:

# %% tags=["nbval-check-output"]
values = torch.tensor([0.5, -0.05, 0.2, -0.3])
parameter = nn.Parameter(torch.zeros(4))
parameter.grad = values.clone()
nn.utils.clip_grad_value_([parameter], 0.1)
clipped_by_hand = values.clamp(-0.1, 0.1)
print("clipping by hand equals clip_grad_value_:", torch.equal(clipped_by_hand, parameter.grad))
weights = torch.tensor([1.0, -2.0, 0.5, 3.0])
with_decay, by_hand = nn.Parameter(weights.clone()), nn.Parameter(weights.clone())
with_decay.grad, by_hand.grad = values.clone(), values + 1e-4 * weights  # decay added by hand
torch.optim.Adam([with_decay], lr=0.01, weight_decay=1e-4).step()
torch.optim.Adam([by_hand], lr=0.01).step()
print("weight decay by hand equals Adam's weight_decay:", torch.allclose(with_decay, by_hand))
del values, parameter, clipped_by_hand, weights, with_decay, by_hand

# %%
sample_images, sample_labels = train_images[:sample_size], train_labels[:sample_size]


def train_small_resnet(seed, one_cycle=True, weight_decay=0.0, grad_clip=None):
    """A width-8 ResNet-9 trained on the sample; returns it and its history."""
    seed_everything(seed)
    model = to_device(ResNet9(8), device)
    loader = DeviceTensorLoader(
        sample_images,
        sample_labels,
        batch_size=128,
        shuffle=True,
        device=device,
        generator=torch.Generator().manual_seed(seed),
        transform=augment,
    )
    if not one_cycle:
        history = fit(recipe_epochs, 0.01, model, loader, val_loader, opt_func=torch.optim.Adam)
        return model, history
    history = fit_one_cycle(
        recipe_epochs,
        0.01,
        model,
        loader,
        val_loader,
        weight_decay=weight_decay,
        grad_clip=grad_clip,
        opt_func=torch.optim.Adam,
    )
    return model, history


recipe_runs = {
    "constant learning rate": dict(one_cycle=False),
    "one-cycle": dict(),
    "one-cycle, weight decay": dict(weight_decay=1e-4),
    "one-cycle, weight decay, clipping": dict(weight_decay=1e-4, grad_clip=0.1),
}
recipe_models, recipe_histories = {}, {}
for name, settings in recipe_runs.items():
    print(f"-- {name}")
    recipe_models[name], recipe_histories[name] = train_small_resnet(0, **settings)
print("-- one-cycle, weight decay, clipping; seed 1")
_, repeat_history = train_small_resnet(1, weight_decay=1e-4, grad_clip=0.1)

# %%
fig, (lr_ax, accuracy_ax) = plt.subplots(1, 2, figsize=(11, 3.4))
steps = sum(len(epoch["lrs"]) for epoch in recipe_histories["one-cycle"])
lr_ax.plot([0.01] * steps, label="constant")
lr_ax.plot(
    [lr for epoch in recipe_histories["one-cycle"] for lr in epoch["lrs"]], label="one-cycle"
)
lr_ax.set(xlabel="training step", ylabel="learning rate", title="the two schedules")
for name, history in recipe_histories.items():
    accuracy_ax.plot(range(1, len(history) + 1), [e["val_acc"] for e in history], "o-", label=name)
accuracy_ax.plot(
    range(1, recipe_epochs + 1),
    [e["val_acc"] for e in repeat_history],
    "o--",
    label="one-cycle, weight decay, clipping; seed 1",
)
accuracy_ax.set(xlabel="epoch", ylabel="validation accuracy", title="width-8 ResNet-9, sample")
accuracy_ax.set_xticks(range(1, recipe_epochs + 1))
for ax in (lr_ax, accuracy_ax):
    ax.legend(fontsize=8)
plt.show()
previous = None
for name, history in recipe_histories.items():
    accuracy = history[-1]["val_acc"]
    change = "" if previous is None else f" ({100 * (accuracy - previous):+.1f} points)"
    print(f"{name}, validation accuracy: {accuracy:.4f}{change}")
    previous = accuracy
one_cycle_rates = [lr for epoch in recipe_histories["one-cycle"] for lr in epoch["lrs"]]
mean_share = statistics.mean(one_cycle_rates) / 0.01
print(f"one-cycle's mean learning rate, over the constant 0.01: {mean_share:.2f}")
seed_swing = 100 * abs(repeat_history[-1]["val_acc"] - previous)
print(f"the same recipe with seed 1, validation accuracy: {repeat_history[-1]['val_acc']:.4f}")
print(f"swing between the two seeds: {seed_swing:.1f} points")
print(f"seed 1, validation accuracy after epoch 1: {repeat_history[0]['val_acc']:.2f}")
seed_0_start = recipe_histories["one-cycle, weight decay, clipping"][0]["val_acc"]
print(f"seed 0, the same recipe, validation accuracy after epoch 1: {seed_0_start:.2f}")
names = list(recipe_histories)
for before, after in zip(names[:-1], names[1:], strict=True):
    change = 100 * (
        recipe_histories[after][-1]["val_acc"] - recipe_histories[before][-1]["val_acc"]
    )
    verdict = "larger than" if abs(change) > seed_swing else "within"
    print(f"{after}, change {verdict} the swing (points): {abs(change):.1f}")

# %% [markdown]
# The two seeds of the same recipe started apart: after epoch 1 seed 1's validation
# accuracy was 0.25<!-- output: seed 1, validation accuracy after epoch 1 -->, seed 0's
# 0.32<!-- output: seed 0, the same recipe, validation accuracy after epoch 1 --> (0.10
# would be guessing). Only the seed differed: the starting weights, the order of the
# batches and the random crops and flips. How much that alone moves the final accuracy is
# the *swing* below.
#
# Read each printed change against the swing between the two seeds of the same
# recipe, 3.4<!-- output: swing between the two seeds --> points: a change smaller
# than that could be chance. The last three lines give the size of each change and say
# whether it is larger than the swing or within it. Each row rests on one run, and the
# swing on one pair of seeds, so the reading is a first look, not a proof.
# - The schedule change (learning rate and Adam's momentum, its first beta, together)
#   took accuracy from
#   36.2%<!-- output: constant learning rate, validation accuracy --> to
#   45.0%<!-- output: one-cycle, validation accuracy -->, a change of
#   8.8<!-- output: one-cycle, change larger than the swing (points) -->
#   points, larger than the swing. This run cannot say which of the two schedules did it, nor
#   why: the step changed the learning rate's shape, its average (one-cycle's mean was
#   0.50<!-- output: one-cycle's mean learning rate, over the constant 0.01 --> of the
#   constant rate) and Adam's momentum together. The left panel shows the
#   shape: it starts low and ends near 0, meant to let the last steps settle.
# - Weight decay, then clipping, moved accuracy to
#   45.0%<!-- output: one-cycle, weight decay, validation accuracy --> and
#   46.4%<!-- output: one-cycle, weight decay, clipping, validation accuracy --> (the lines
#   above give each change with its sign), changes of
#   0.1<!-- output: one-cycle, weight decay, change within the swing (points) --> and
#   1.4<!-- output: one-cycle, weight decay, clipping, change within the swing (points) -->
#   points in size, both within the swing. A change within the swing does not show that an
#   ingredient helps in two epochs on 5,000 images; one run beyond it would be a first
#   sign, no more. They are in the recipe for long trainings, where weights have time to
#   grow and a rare bad batch has time to come (the recipe's reason, not measured here).
#
# They still act on every step. Weight decay adds 1e-4 times each weight to its
# gradient, a pull towards 0; clipping caps every gradient value at 0.1, so it changes a
# step only where some values are larger than that. The cell measures both ingredients
# on a fresh network's first batch:

# %%
seed_everything(0)
fresh = to_device(ResNet9(8), device)
fresh.training_step(next(iter(augmented_loader))).backward()
gradients = torch.cat([p.grad.flatten() for p in fresh.parameters()]).abs()
decay_term = 1e-4 * torch.cat([p.detach().flatten() for p in fresh.parameters()])
decay_share = (decay_term.norm() / gradients.norm()).item()
print(f"weight decay's term / gradient, lengths, first batch: {decay_share:.6f}")
print(f"largest gradient value, first batch: {gradients.max():.2f}")
print(f"gradient values above 0.1, first batch: {(gradients > 0.1).float().mean():.4f}")

# %% [markdown]
# The first batch suggests why two epochs are unlikely to show weight decay's effect: its
# term was
# 0.013%<!-- output: weight decay's term / gradient, lengths, first batch --> of the
# gradient's length, so over the whole gradient it changes each step very little (Adam
# rescales each value on its own, so for values with tiny gradients the decay can weigh
# more; not measured here). On the same batch the largest
# gradient value was 1.36<!-- output: largest gradient value, first batch -->, but only
# 1.08%<!-- output: gradient values above 0.1, first batch --> of the values were above
# 0.1: clipping trims those few values of the gradient and leaves the others as they
# are. Adam then rescales every value by its own running averages, so how much a trim
# changes the step depends on those averages; this lesson does not measure it.

# %% [markdown]
# ## 7. Training within the budget
#
# Which network this section trains depends on the device:
#
# | device | network | epochs |
# |---|---|---|
# | CUDA GPU | ResNet-9 of section 6, width 64 | 16 |
# | CPU, or an Apple GPU (MPS) | `FastNet`, below | 2 |
#
# **On a GPU** the lesson trains section 6's ResNet-9 at full size, width 64, for 16
# epochs with the full recipe (`fit_one_cycle` with weight decay and clipping), with
# bfloat16 autocast from lesson 04 where `bfloat16_support` says the GPU has bfloat16
# units, and with its weights in the channels-last layout. (Colab's free T4 has no
# bfloat16 units, so there it trains in float32, which the course has not timed.) That
# branch did not make these outputs; run once as a script on an NVIDIA H200, with
# PyTorch 2.11, it trained for
# 0.53 minutes<!-- source: benchmarks/RESULTS.md, one H200 run --> and reached
# 89.3%<!-- source: benchmarks/RESULTS.md, one H200 run --> test accuracy with test-time
# augmentation: short of the 90%<!-- source: course outline, lesson 05 --> the course's
# outline aims at. We expect slower GPUs to
# take longer.
#
# **On a CPU** that network is far beyond the lesson's budget: the course's benchmark
# trained a width-16 ResNet-9 for 4 epochs in
# 216 s<!-- source: benchmarks/RESULTS.md --> on a 2-core CPU, and the full width has
# four times the channels into and out of every convolution: about 16 times the
# computation per image in each (4 times in the first, whose input is the 3 colours). So
# on a CPU the lesson trains `FastNet` from `course_utils.fastnet` instead: a small
# network and recipe in the style of Keller Jordan's *airbench* (arXiv 2404.00498),
# sized for a few minutes on a CPU, which beat the width-16 ResNet-9 on the validation
# split in the course's benchmark (one seed each; Appendix A gives the figures and what
# else differed). In brief, it is a small network whose first layer is computed from the
# data, then three groups of convolutions with batch norm, trained with a high learning
# rate on large batches, label smoothing and light augmentation. Appendix A (optional
# reading) prints it and takes its ideas one at a time, each with a cell that shows it
# at work.
#
# Now the lesson's strongest network: on a CUDA GPU a full-size ResNet-9, on a CPU or
# a Mac's GPU `FastNet`, whitened from 5,000 training images and trained for
# `fast_epochs` epochs. The text from here on describes the CPU run that made these
# outputs; on a CUDA GPU, your figures are ResNet-9's.


# %%
class MixedPrecisionResNet9(ResNet9):
    """ResNet-9 with its forward pass under bfloat16 autocast, as in lesson 04."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=images.device.type, dtype=torch.bfloat16):
            return super().forward(images).float()


def build_network() -> nn.Module:
    """The lesson's strongest network, untrained: ResNet-9 on a GPU, FastNet on a CPU."""
    if not on_gpu:
        return to_device(FastNet(label_smoothing=0.2), device)
    bf16_native, bf16_reason = bfloat16_support(device)
    print(f"bfloat16 autocast: {'on' if bf16_native else 'off'} ({bf16_reason})")
    network = (MixedPrecisionResNet9 if bf16_native else ResNet9)(resnet_width)
    return to_device(network, device).to(memory_format=torch.channels_last)


release_memory()
seed_everything(0)
network = build_network()
if on_gpu:
    history = fit_one_cycle(
        resnet_epochs,
        0.01,
        network,
        augmented_loader,
        val_loader,
        weight_decay=1e-4,
        grad_clip=0.1,
        opt_func=torch.optim.Adam,
    )
else:
    network.whiten_from(normalise(train_images[:5000].to(device)))  # in shuffled order
    fast_loader = DeviceTensorLoader(
        train_images,
        train_labels,
        batch_size=512,
        shuffle=True,
        drop_last=True,  # a small last batch would jolt the batch-norm statistics
        device=device,
        generator=generator,
        transform=batch_transform(channel_mean, channel_std, crop_padding=2, flip=True),
    )
    history = fit_fast(
        fast_epochs,
        2.0,
        network,
        fast_loader,
        val_loader,
        weight_decay=5e-4,
        momentum=0.85,
        warm_up=0.2,
    )
training_minutes = sum(epoch["train_seconds"] for epoch in history) / 60
print(f"{network_name}, {len(history)} epochs, {count_parameters(network):,} parameters")
record_result("strongest network validation accuracy", history[-1]["val_acc"])
record_result("strongest network training minutes", round(training_minutes, 2))

# %%
plot_history(history, title=network_name)

# %%
plot_lrs(history, title="One-cycle schedule" if on_gpu else "Triangular schedule of fit_fast")

# %% [markdown]
# On the 2-core CPU that made these outputs, `FastNet` trained for
# 1.2 minutes<!-- output: strongest network training minutes --> and reached
# **78.5%**<!-- output: strongest network validation accuracy --> validation accuracy.
# The training loss stays above the validation loss. Three things can keep it there, and
# this lesson does not measure them apart: it is measured against the smoothed targets,
# whose loss cannot fall below the targets' own entropy (about 0.87, computed in
# Appendix A), on
# augmented batches, and averaged over an epoch while the network was still improving.
# (On a CUDA GPU, ResNet-9 trains on the plain targets and this floor does not apply.)
# The learning-rate plot shows the triangle of `fit_fast` (on a CUDA GPU, the one-cycle
# schedule of `fit_one_cycle`).
#
# How far this kind of network can go, by its authors' figure (not run here): airbench
# reaches 94%<!-- source: arXiv 2404.00498 (airbench94.py) --> test accuracy in 3.83
# seconds<!-- source: arXiv 2404.00498 (airbench94.py) --> on one NVIDIA A100 GPU,
# with a wider network and more tricks.
#
# **Test-time augmentation.** One more trick costs no training at all: predict each
# image from several views of it and average the logits of the views. A mistake one
# view makes, the others can outvote. `TestTimeAugmentation` wraps a trained network
# this way; its `views` are the batches the network sees, and the cell checks its
# prediction against the mean of the views' logits, by hand:

# %%
with_tta = TestTimeAugmentation(network)
car_views = [view.cpu() for view in with_tta.views(normalise(example_image.unsqueeze(0)))]
original, mirrored, shifted, both = car_views
print("mirrored: column c is the image's column 31 - c:", torch.equal(mirrored, original.flip(-1)))
print(
    "shifted: pixel (r + 1, c + 1) is the image's pixel (r, c):",
    torch.equal(shifted[..., 1:, 1:], original[..., :-1, :-1]),
)
print(
    "shifted: its top row and left column reflect the image's second row and column:",
    torch.equal(shifted[..., 0, 1:], original[..., 1, :-1])
    and torch.equal(shifted[..., 1:, 0], original[..., :-1, 1]),
)
print("both: the shifted view, mirrored:", torch.equal(both, shifted.flip(-1)))
with eval_mode(network):
    car_batch = normalise(example_image.unsqueeze(0).to(device))
    # The four views by hand: as they are, mirrored, shifted by reflecting one row and
    # column in at the top and left, and shifted then mirrored.
    shifted_by_hand = F.pad(car_batch, (1, 1, 1, 1), mode="reflect")[..., :32, :32]
    views_by_hand = [car_batch, car_batch.flip(-1), shifted_by_hand, shifted_by_hand.flip(-1)]
    mean_logits = torch.stack([network(view) for view in views_by_hand]).mean(dim=0)
    print(
        "prediction by hand, the mean of the 4 views' logits:",
        torch.allclose(with_tta(car_batch), mean_logits),
    )
print(
    f"shifted view, mean size of its change from the image: {(shifted - original).abs().mean():.2f}"
)
show_batch(
    torch.cat(car_views),
    nrow=4,
    mean=channel_mean,
    std=channel_std,
    title="the image, mirrored, shifted down and right by a pixel, both",
)

# %% [markdown]
# At 32 x 32 the shifted views are hard to tell from the unshifted ones by eye; the
# printed lines show the shift is there: every pixel moved one row down and one
# column right, and the top row and left column are filled by reflecting the image (its
# second row and column, mirrored across the edge). The
# last line is in units of the normalised input, that is in standard deviations of each
# channel: a one-pixel shift changes a value by
# 0.40<!-- output: shifted view, mean size of its change from the image --> of a
# standard deviation on average.
#
# Predicting costs four forward passes instead of one. Whether that is worth it is a
# choice, so the validation set decides, with a rule fixed before looking: keep the
# four views only if their gain is larger than the noise of a gain measured on 5,000
# images. That noise comes from the images that only one of the two ways gets right.
# If the views made no difference, each of those would favour either side like a coin
# toss: it adds +1 or −1 to the gain, in images, each with probability 1/2, so its
# variance is 1, and the sum over `count` such images has a variance of `count` and a
# standard deviation of √count. A gain of more than two standard deviations, 2 √count
# images, would then come by chance about once in forty times.

# %%
plain_right = torch.eq(*predict(network, val_loader))  # True where the prediction is right
tta_right = torch.eq(*predict(with_tta, val_loader))
tta_accuracy = tta_right.float().mean().item()
record_result("validation accuracy with test-time augmentation", tta_accuracy)
gain_points = 100 * (tta_accuracy - plain_right.float().mean().item())
disagreements = (plain_right != tta_right).sum().item()
noise_points = 100 * 2 * math.sqrt(disagreements) / len(tta_right)
print(f"test-time augmentation: {gain_points:+.1f} points, for 4 times the prediction work")
print(f"validation images only one of the two gets right: {disagreements}")
print(f"noise level of the gain (two standard deviations): {noise_points:.1f} points")
final_model = with_tta if gain_points > noise_points else network
print("the final model predicts", "with" if final_model is with_tta else "without", "it")

# %% [markdown]
# With the four views, validation accuracy was
# **79.8%**<!-- output: validation accuracy with test-time augmentation -->; the lines
# above give the change in points and the noise level it is measured against,
# 0.7<!-- output: noise level of the gain (two standard deviations) --> points. Here the
# gain was the larger, so the final model keeps the four views. The noise level covers
# the choice of 5,000 validation images only, for this one trained network: with
# another seed the network, and its gain, would differ too, so one gain beyond the
# noise is a first sign, not a measurement of what test-time augmentation is worth (the
# benchmark's list in Appendix A gives its 3-seed figure on the test set). Either way,
# the choice stands because the validation set made it.

# %% [markdown]
# ## 8. The test set, once
#
# Every choice is made. `FastNet` over the ResNet-9, its peak learning rate and
# test-time augmentation were chosen on the validation split, here or in the course's
# benchmark on this same split (the small CNN's and the ResNet-9's rates were set, not
# searched), and the number of epochs was set by the time budget. Now, and only now,
# each final model meets the test set, once. Had we looked at test accuracy while
# choosing, the test set would have become a second validation set, and its score would
# flatter the model. (The course's benchmark has looked at this test set before: after
# choosing `FastNet`, it measured recipe variants there, listed in Appendix A. This
# lesson's choices did not use those figures.)

# %%
release_memory()
test_accuracy = {}
for name, model in (("small CNN", cnn), ("MLP", mlp), (network_name, final_model)):
    model_predictions, model_truth = predict(model, test_loader)
    test_accuracy[name] = (model_predictions == model_truth).float().mean().item()
    if model is final_model:  # kept for the confusion matrix and the mistakes below
        predicted_labels, true_labels = model_predictions, model_truth
    record_result(f"{name} test accuracy", test_accuracy[name])
print(f"{network_name} predicts with test-time augmentation: {final_model is with_tta}")
final_val_accuracy = tta_accuracy if final_model is with_tta else history[-1]["val_acc"]
within = {}  # model -> whether its test - validation gap is within two standard errors
for name, validation in (
    ("small CNN", cnn_history[-1]["val_acc"]),
    ("MLP", mlp_history[-1]["val_acc"]),
    (network_name, final_val_accuracy),
):
    test = test_accuracy[name]
    # How far two accuracies of one model, on len(val) and len(test) images, differ by chance.
    spread = math.sqrt(
        validation * (1 - validation) / len(val_labels) + test * (1 - test) / len(test_labels)
    )
    gap = test - validation
    side = "below" if gap < 0 else "above"  # a gap of exactly 0 reads "above, by 0.00"
    print(f"{name}, test accuracy {side} validation, by (points): {100 * abs(gap):.2f}")
    print(f"{name}, standard error of the gap (points): {100 * spread:.2f}")
    print(f"{name}, gap in standard errors: {abs(gap) / spread:.2f}")
    within[name] = abs(gap) < 2 * spread
print(f"models whose gap is beyond two standard errors: {len(within) - sum(within.values())}")

# %% [markdown]
# On the test set the small CNN scored
# 59.6%<!-- output: small CNN test accuracy -->, the MLP
# 45.7%<!-- output: MLP test accuracy --> and `FastNet`
# **79.2%**<!-- output: FastNet test accuracy --> (with test-time augmentation or
# without, as the rule above chose: the line after the accuracies says which). Chance
# alone makes a model's accuracies on two sets of images differ: the standard error of
# the gap comes from the two accuracies and the sizes of the two sets (5,000 and
# 10,000 images here), as in lesson 03. For `FastNet` the test accuracy was
# 0.53<!-- output: FastNet, test accuracy below validation, by (points) --> points
# below the validation accuracy, against a standard error of
# 0.70<!-- output: FastNet, standard error of the gap (points) --> points:
# 0.76<!-- output: FastNet, gap in standard errors --> standard errors. A gap within
# about two standard errors is one that chance alone often gives, and
# 0<!-- output: models whose gap is beyond two standard errors --> of the three models had
# a gap beyond two (the last line). `FastNet`'s recipe was tuned in the course's
# benchmark on this same validation split (section 1 repeated the benchmark's rule for
# the split); tuning on a set tends to flatter that set's score a little, which is one reason
# to report the test score.
#
# Confusion matrix of the final model on the test set (rows: true class, columns:
# predicted class). The largest numbers off the diagonal are the mistakes it makes
# most; the cell prints the three largest.

# %%
matrix = confusion_matrix(predicted_labels, true_labels, num_classes=10)
mistakes = matrix.clone()
mistakes.fill_diagonal_(0)  # keep only the wrong predictions
top_pairs = [divmod(index, 10) for index in mistakes.flatten().topk(3).indices.tolist()]
for rank, (true_class, predicted_class) in enumerate(top_pairs, start=1):
    print(f"mistake {rank}, {classes[true_class]} taken for {classes[predicted_class]}")
    print(f"mistake {rank}, test images: {mistakes[true_class, predicted_class]}")
fourth = mistakes.flatten().topk(4).values[-1].item()
third = mistakes[top_pairs[-1]].item()
tied = fourth == third
print(f"third place tied with another pair: {tied}")
for true_class, predicted_class in (mistakes == third).nonzero().tolist() if tied else []:
    if (true_class, predicted_class) != top_pairs[-1]:
        print(f"  tied: {classes[true_class]} taken for {classes[predicted_class]}")
cat_dog = {classes.index("cat"), classes.index("dog")}
cat_dog_pairs = sum(set(pair) == cat_dog for pair in top_pairs[:2])
print(f"of the two largest, cat taken for dog or dog for cat: {cat_dog_pairs}")
plot_confusion_matrix(matrix, classes)

# %% [markdown]
# The three largest cells off the diagonal are printed with their classes: in these
# outputs the largest held 146<!-- output: mistake 1, test images --> test images, the
# second 140<!-- output: mistake 2, test images --> and the third
# 70<!-- output: mistake 3, test images --> (the line `third place tied` says whether
# another pair of classes held as many, and the lines after it name those pairs: then
# the third place is a toss-up). Of the two
# largest,
# 2<!-- output: of the two largest, cat taken for dog or dog for cat --> were cat taken
# for dog or dog for cat: look at a few cats and dogs at 32 x 32 pixels in
# the labelled mistakes below to see why that pair is hard.

# %% [markdown]
# Some of the test images it got wrong:

# %%
show_misclassified(test_images, true_labels, predicted_labels, classes, max_images=16)

# %% [markdown]
# `show_misclassified` takes the raw `uint8` images here (no mean and std to undo);
# it scales them to [0, 1] itself.
#
# **Single images.** Normalise one image as the loader does, add a batch dimension,
# and take the largest logit.


# %%
def predict_image(image: torch.Tensor, classifier: nn.Module) -> str:
    """The class name the classifier predicts for one uint8 image (3, 32, 32)."""
    with eval_mode(classifier):
        logits = classifier(normalise(image.unsqueeze(0).to(device)))
    return classes[logits.argmax(dim=1).item()]


for index in range(4):
    predicted = predict_image(test_images[index], final_model)
    print(f"test image {index}: {classes[test_labels[index]]:10} predicted {predicted}")

# %% [markdown]
# **Saving and reloading.** `save_checkpoint` writes the weights with anything
# else worth keeping (here the network's name, the classes and the accuracy); a
# fresh network from `build_network` loads them and gives the same accuracy. The
# trained network is saved, not the test-time wrapper, which has no weights of its
# own; so the checkpoint also records whether the final model predicts with
# test-time augmentation, and its validation accuracy that way: whoever reloads it
# wraps the network in `TestTimeAugmentation` when that setting is `True`, to predict
# as the reported accuracy was measured. (`FastNet`'s whitening filters are among the
# weights saved.)

# %%
checkpoint_path = Path(tempfile.mkdtemp(prefix="lesson05-")) / "network.pt"
save_checkpoint(
    checkpoint_path,
    network,
    epoch=len(history),
    network=network_name,
    classes=classes,
    val_accuracy=history[-1]["val_acc"],  # the network alone, one view per image
    test_time_augmentation=final_model is with_tta,  # how the final model predicts
    val_accuracy_with_tta=tta_accuracy,
)
reloaded = build_network()
saved = load_checkpoint(checkpoint_path, reloaded)
reloaded_accuracy = evaluate(reloaded, val_loader)["val_acc"]
print(
    f"{saved['network']}, saved after epoch {saved['epoch']} with validation accuracy "
    f"{saved['val_accuracy']:.2%}; reloaded: {reloaded_accuracy:.2%}"
)
print(
    f"saved setting, predict with test-time augmentation: {saved['test_time_augmentation']} "
    f"(validation accuracy with it {saved['val_accuracy_with_tta']:.2%})"
)

# %% [markdown]
# ## Summary
#
# - `ImageFolder` reads one-folder-per-class datasets; decode once into `uint8`
#   tensors and normalise (and augment) whole batches on the device.
# - Output size of a convolution or pooling: ⌊(n + 2p − k) / s⌋ + 1.
# - In this lesson's runs a small CNN beat a much larger MLP at the same epochs (one run
#   each, with settings set for the CNN; the MLP took less time, and an equal-time
#   comparison is not shown); convolutions reuse filters across the image and keep
#   its spatial structure.
# - Choices are made on a validation split; the test set scores each final model
#   once, at the end.
# - Batch normalisation, residual blocks, augmentation, a one-cycle schedule, weight
#   decay and gradient clipping are the standard recipe for a ResNet-9, the lesson's
#   network on a GPU. Adding the schedule, weight decay and clipping one at a time,
#   with everything else fixed, and a second seed to show how much of a difference is
#   chance: on a small ResNet-9, a sample and 2 epochs, only the schedule change (the
#   learning rate and Adam's momentum together) helped by more than the swing between
#   seeds; weight decay and clipping were not shown to help there.
# - Augmentation: exercise 1 shows what it does to the losses of a small CNN trained on
#   a few images for many epochs; what it is worth in accuracy is not measured in this
#   lesson.
# - On a CPU, `FastNet`, a small network and recipe built for the budget, trains to a
#   useful accuracy in minutes (here
#   78.5%<!-- output: strongest network validation accuracy --> on the validation images
#   after 1.2 minutes<!-- output: strongest network training minutes --> of training, on
#   this CPU). Appendix A shows each of its ideas at work and
#   lists which the course's benchmark measured to help (a high peak learning rate,
#   patch whitening), which it did not show to help, and which it did not measure.
#   Test-time augmentation costs no training, and is kept only if its gain on the
#   validation set is larger than that set's noise.
# - Per-class accuracy, the confusion matrix and the misclassified images show what
#   is left to learn; `save_checkpoint` and `load_checkpoint` keep the result.

# %% [markdown]
# ## Exercises
#
# Both exercises train on section 6's sample of training images, and choose
# nothing with the test set: they compare models on the validation set. Each one
# stands alone.
#
# After each exercise, run its check cell: it says whether the exercise is not
# attempted yet, not right yet (and what it found), or passed (and what it checked).
# The lines under `if check_exercise(...)` run only for a passing answer. In smoke
# mode every model here stays near chance, so the checks test how you ran the
# comparison (the runs and their lengths, equal starting weights, histories measured
# on the validation set, the parameter counts), not how well it learned.
#
# **Exercise 1: remove augmentation and watch overfitting.** Train section 4's small CNN
# twice on the first `overfit_size` images of the sample, for `overfit_epochs` epochs:
# once on augmented batches (`augment`), once on plain normalised ones (`normalise`).
# Change nothing else:
# - `seed_everything(0)` right before building each model;
# - batches of 64 from a loader with a generator of its own, seeded 0;
# - section 4's optimizer (`sgd_momentum`) at a learning rate of 0.02;
# - one call of `fit` per run, with the validation set.
#
# Keep, under the keys `"augmented"` and `"plain"`:
# - each run's history in `overfit_histories` and its trained model in `overfit_models`;
# - a copy of its weights before training (`copy.deepcopy(model.state_dict())`) in
#   `overfit_starts`;
# - its loader in `overfit_loaders` and its learning rate in `overfit_lrs`.
#
# The check compares the two runs' set-ups and trains them again from their starts to
# see that your histories came from that recipe; the next cell plots the losses.

# %%
### BEGIN SOLUTION
# Hint: for augment and normalise: seed, new SmallCnn, copy its state_dict, DeviceTensorLoader, fit
overfit_histories, overfit_models, overfit_starts = {}, {}, {}
overfit_loaders, overfit_lrs = {}, {}
for label, transform in (("augmented", augment), ("plain", normalise)):
    print(f"-- {label} batches")
    seed_everything(0)
    model = to_device(SmallCnn(), device)
    overfit_starts[label] = copy.deepcopy(model.state_dict())  # before any training
    overfit_loaders[label] = DeviceTensorLoader(
        sample_images[:overfit_size],
        sample_labels[:overfit_size],
        batch_size=64,
        shuffle=True,
        device=device,
        generator=torch.Generator().manual_seed(0),  # the same batches for both runs
        transform=transform,
    )
    overfit_lrs[label] = 0.02
    overfit_histories[label] = fit(
        overfit_epochs,
        overfit_lrs[label],
        model,
        overfit_loaders[label],
        val_loader,
        opt_func=sgd_momentum,
    )
    overfit_models[label] = model
### END SOLUTION

# %%
if check_exercise(
    1,
    overfit_histories=overfit_histories,
    overfit_models=overfit_models,
    overfit_starts=overfit_starts,
    overfit_loaders=overfit_loaders,
    overfit_lrs=overfit_lrs,
    overfit_epochs=overfit_epochs,
    overfit_size=overfit_size,
    sample_images=sample_images,
    sample_labels=sample_labels,
    augment=augment,
    normalise=normalise,
    val_loader=val_loader,
    model_class=SmallCnn,
):
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), sharey=True)
    for ax, (label, history) in zip(axes, overfit_histories.items(), strict=True):
        epochs = range(1, len(history) + 1)
        ax.plot(epochs, [epoch["train_loss"] for epoch in history], "o-", label="training loss")
        ax.plot(epochs, [epoch["val_loss"] for epoch in history], "o-", label="validation loss")
        ax.set_title(f"small CNN, {label} batches")
        ax.set_xlabel("epoch")
        ax.legend()
    axes[0].set_ylabel("cross-entropy")
    plt.show()
    for label, history in overfit_histories.items():
        best = min(range(len(history)), key=lambda index: history[index]["val_loss"])
        print(f"{label}, final training loss: {history[-1]['train_loss']:.2f}")
        print(f"{label}, final validation loss: {history[-1]['val_loss']:.2f}")
        print(f"{label}, lowest validation loss: {history[best]['val_loss']:.2f}")
        print(f"{label}, lowest validation loss at epoch: {best + 1}")
        print(f"{label}, validation accuracy at that epoch: {history[best]['val_acc']:.4f}")
        rise = history[-1]["val_loss"] - history[best]["val_loss"]
        print(f"{label}, rise of the validation loss after its lowest: {rise:.2f}")
        print(f"{label}, final validation accuracy: {history[-1]['val_acc']:.4f}")
    final_gap = (
        overfit_histories["augmented"][-1]["val_acc"] - overfit_histories["plain"][-1]["val_acc"]
    )
    print(f"augmented minus plain, final validation accuracy (points): {100 * final_gap:+.1f}")

    def answers(trained: nn.Module) -> dict:
        """On the validation images: the mean confidence on wrong answers (the probability
        of the class chosen) and their mean loss."""
        with eval_mode(trained):  # eval mode, and no gradients kept
            scored = [(F.softmax(trained(images), dim=1), labels) for images, labels in val_loader]
        probabilities = torch.cat([batch[0] for batch in scored])
        truth = torch.cat([batch[1] for batch in scored])
        confidence, guessed = probabilities.max(dim=1)
        wrong = guessed != truth
        right_class = probabilities[wrong].gather(1, truth[wrong].unsqueeze(1)).squeeze(1)
        return {
            "confidence on wrong validation answers": confidence[wrong].mean().item(),
            "loss on wrong validation answers": -right_class.log().mean().item(),
        }

    found = {label: answers(trained) for label, trained in overfit_models.items()}
    for label, figures in found.items():
        for what, value in figures.items():
            print(f"{label}, mean {what}: {value:.2f}")

# %% [markdown] tags=["solution"]
# **What the result means.** Without augmentation the network sees the same 2,500
# images every epoch and starts to learn them by heart: its training loss falls to
# 1.03<!-- output: plain, final training loss --> while its validation loss is lowest
# at epoch 7<!-- output: plain, lowest validation loss at epoch --> and ends at
# 2.09<!-- output: plain, final validation loss -->. The two curves part: that is
# overfitting. With augmentation every epoch shows slightly different pictures, so
# memorising pays less: the training loss ends at
# 1.57<!-- output: augmented, final training loss --> and the validation loss at
# 1.71<!-- output: augmented, final validation loss -->, and its lowest validation loss
# came at epoch 11<!-- output: augmented, lowest validation loss at epoch --> of 12.
#
# **The loss moved more than the accuracy.** After its lowest point the plain run's
# validation loss rose by
# 0.49<!-- output: plain, rise of the validation loss after its lowest -->, while its
# validation accuracy went from
# 43.2%<!-- output: plain, validation accuracy at that epoch --> to
# 41.4%<!-- output: plain, final validation accuracy -->. Accuracy counts only whether
# the largest logit is the right class; the cross-entropy is −ln of the probability
# given to the right class, so a wrong answer made with confidence costs a lot. The plain
# run's wrong answers had a mean confidence of
# 0.62<!-- output: plain, mean confidence on wrong validation answers --> and cost
# 3.31<!-- output: plain, mean loss on wrong validation answers --> each, the augmented
# run's 0.46<!-- output: augmented, mean confidence on wrong validation answers --> and
# 2.44<!-- output: augmented, mean loss on wrong validation answers -->. So a rising
# validation loss is the sign of overfitting to look for, even while accuracy moves less.
#
# In accuracy the runs ended at
# 41.0%<!-- output: augmented, final validation accuracy --> (augmented) and
# 41.4%<!-- output: plain, final validation accuracy --> (plain). From one run each,
# this exercise cannot say which scores higher: what it shows in 12 epochs on 2,500
# images is augmentation's effect on the losses.

# %% [markdown]
# **Exercise 2: change the width.** Train ResNet-9 at a quarter, half and the whole
# of `resnet_width` (the largest width this device trains here: 8 on a CPU, as in
# section 6, and 64 on a GPU) on the sample, with augmentation, for `width_epochs`
# epochs:
# - with the lesson's `fit_one_cycle` settings: batches of 128, Adam, a peak learning
#   rate of 0.01, weight decay 1e-4, clipping at 0.1, each epoch measured on the
#   validation set;
# - `seed_everything(0)` right before building each model, and nothing random drawn
#   between that and its training (the check trains the first epoch again from there);
# - the same order of batches for every run: each loader with a generator of its own,
#   seeded 0.
#
# Keep, for each width (the dict key): its history in `width_histories`, its trained
# model in `width_models`, a copy of its weights taken before training in
# `width_starts`, and its training loader in `width_loaders`.
#
# The check reads each run's schedule from its history and, on a CPU, trains the
# narrowest width's first epoch again with the recipe to compare its losses with your
# history's, so another optimizer, weight decay or clipping shows (on a GPU it checks
# the schedule only). The next cell prints each width's number of parameters, final
# validation accuracy and training seconds per epoch. How do they change with the
# width?

# %%
### BEGIN SOLUTION
# Hint: for each width: seed, ResNet9(width), copy its state_dict, fit_one_cycle on the sample
width_histories, width_models, width_starts, width_loaders = {}, {}, {}, {}
for width in (resnet_width // 4, resnet_width // 2, resnet_width):
    print(f"-- width {width}")
    seed_everything(0)
    model = to_device(ResNet9(width), device)
    width_starts[width] = copy.deepcopy(model.state_dict())  # before any training
    width_loaders[width] = DeviceTensorLoader(
        sample_images,
        sample_labels,
        batch_size=128,
        shuffle=True,
        device=device,
        generator=torch.Generator().manual_seed(0),  # the same batches for every width
        transform=augment,
    )
    width_histories[width] = fit_one_cycle(
        width_epochs,
        0.01,
        model,
        width_loaders[width],
        val_loader,
        weight_decay=1e-4,
        grad_clip=0.1,
        opt_func=torch.optim.Adam,
    )
    width_models[width] = model
### END SOLUTION

# %%
if check_exercise(
    2,
    width_histories=width_histories,
    width_models=width_models,
    width_starts=width_starts,
    width_loaders=width_loaders,
    width_epochs=width_epochs,
    resnet_width=resnet_width,
    model_class=ResNet9,
    augment=augment,
    val_loader=val_loader,
    sample_size=sample_size,
    sample_images=sample_images,
    sample_labels=sample_labels,
):
    width_results = {}  # width -> (parameters, validation accuracy, seconds per epoch)
    for width, history in width_histories.items():
        seconds = sum(epoch["train_seconds"] for epoch in history) / len(history)
        width_results[width] = (
            count_parameters(width_models[width]),
            history[-1]["val_acc"],
            seconds,
        )
        print(f"width {width}, parameters: {width_results[width][0]}")
        print(f"width {width}, validation accuracy: {width_results[width][1]:.4f}")
        print(f"width {width}, seconds per epoch: {seconds:.2f}")
    narrow, wide = width_results[min(width_results)], width_results[max(width_results)]
    print(f"widest against narrowest, parameters: {wide[0] / narrow[0]:.1f} times")
    print(f"widest against narrowest, seconds per epoch: {wide[2] / narrow[2]:.1f} times")
    if 8 in width_histories:  # on a CPU: the same seed, batches and recipe as section 6's run
        section_6_run = recipe_histories["one-cycle, weight decay, clipping"][-1]["val_acc"]
        same_run = width_histories[8][-1]["val_acc"] == section_6_run
        print(f"width 8 scored as section 6's run with the same recipe and seed: {same_run}")
    ordered = sorted(width_results)
    print(f"section 6's swing between two seeds, two decimals (points): {seed_swing:.2f}")
    for low, high in [(ordered[0], ordered[1]), (ordered[1], ordered[2]), (ordered[0], ordered[2])]:
        change = 100 * (width_results[high][1] - width_results[low][1])
        way = "rose" if change > 0 else "fell or held"
        verdict = "larger than" if abs(change) > seed_swing else "within"
        print(
            f"width {low} to {high}, accuracy {way}, {verdict} section 6's swing (points): "
            f"{abs(change):.2f}"
        )

# %% [markdown] tags=["solution"]
# **What the result means.** Each doubling of the width multiplies the parameters by
# almost four, from 6,772<!-- output: width 2, parameters --> at width 2 to
# 103,954<!-- output: width 8, parameters --> at width 8
# (15.4<!-- output: widest against narrowest, parameters --> times), because every
# convolution has twice the channels in and twice out. The time per epoch, on this
# 2-core CPU, went from 1.02 s<!-- output: width 2, seconds per epoch --> to
# 2.45 s<!-- output: width 8, seconds per epoch -->
# (2.4<!-- output: widest against narrowest, seconds per epoch --> times): far less
# than the parameters. Part of each step's work does not grow with the width (the
# Python, the data) and part grows only in proportion to it (batch norm, ReLU and the
# other element-by-element work), while the convolutions' arithmetic grows with the
# parameters; this exercise does not time those parts apart.
#
# Validation accuracy went from
# 30.6%<!-- output: width 2, validation accuracy --> at width 2 to
# 40.4%<!-- output: width 4, validation accuracy --> at width 4 and
# 46.4%<!-- output: width 8, validation accuracy --> at width 8, one run each. On a
# CPU the width-8 run is section 6's recipe run again, the same seed, batches and recipe, and
# it scored the same (the line `width 8 scored as section 6's run ...` says so): on one
# CPU the same steps give the same result. Read the changes against the swing between
# two seeds in section 6,
# 3.36<!-- output: section 6's swing between two seeds, two decimals (points) -->
# points (measured once, at width 8; other widths may swing more or less). From
# width 2 to 4 accuracy rose by
# 9.82<!-- output: width 2 to 4, accuracy rose, larger than section 6's swing (points) -->
# points, larger than the swing; from 4 to 8 by
# 5.92<!-- output: width 4 to 8, accuracy rose, larger than section 6's swing (points) -->,
# larger too; and from 2 to 8 by
# 15.74<!-- output: width 2 to 8, accuracy rose, larger than section 6's swing (points) -->.
# So on a small sample and a short training, each doubling of the width helped by more
# than two seeds of one network moved apart, in this run. Each of these rests on one run
# per width (and on one learning rate, 0.01, for every width: a rate tuned for each
# could change the picture). The check compared the runs' starts, batches and
# schedules, and, on a CPU, trained the narrowest width's first epoch again with the
# recipe (the check's last line says so; on a GPU it says why it did not); the other
# widths share that loop.

# %% [markdown]
# ## Check your understanding
#
# Answer each question with one letter in quotes, for example `answer_q1 = "b"`, then
# run its check; a wrong letter tells you which idea to revisit.

# %% [markdown]
# **Question 1.** Section 3's convolution (16 filters of 5 x 5 over 3 colour channels,
# padding 2) has 1,216 parameters on a 32 x 32 image. How many would the same layer have
# on a 64 x 64 image?
#
# - (a) 4,864: four times the pixels need four times the weights.
# - (b) 1,216: the same filters are used at every position, whatever the image size.
# - (c) 2,432: a larger image needs more filters.
# - (d) More than 1,216: the padding adds border pixels that need weights of their own.

# %% tags=["nbval-check-output"]
### BEGIN SOLUTION
# Hint: section 3: count a filter's weights; does the image size appear in the count?
answer_q1 = "b"
### END SOLUTION
check_exercise("Q1", answer_q1=answer_q1)

# %% [markdown] tags=["solution"]
# **(b).** A convolution's parameters are its filters: 16 · (5 · 5 · 3 + 1) = 1,216,
# with no image size in the count, because each filter looks at one 5 x 5 patch at a
# time and slides over every position. A linear layer needs a weight for every pair of
# input and output values: section 3 printed 50,348,032 for the 32 x 32 image, and that
# number would grow sixteenfold at 64 x 64.

# %% [markdown]
# **Question 2.** A 32 x 32 image goes through the small CNN's two blocks (each a 5 x 5
# convolution with padding 2, a ReLU, then 2 x 2 max pooling). What height and width
# does each map have after them?
#
# - (a) 5 x 5: each 5 x 5 convolution takes 4 pixels off, then its pooling halves the
#   rest.
# - (b) 32 x 32: pooling reduces the channels, not the size of the maps.
# - (c) 8 x 8: the convolutions keep the size and each pooling halves it.
# - (d) 2 x 2: each 2 x 2 pooling divides each side by 4.

# %% tags=["nbval-check-output"]
### BEGIN SOLUTION
# Hint: section 3's formula, then section 4's printed shape after the two blocks
answer_q2 = "c"
### END SOLUTION
check_exercise("Q2", answer_q2=answer_q2)

# %% [markdown] tags=["solution"]
# **(c).** With padding 2 a 5 x 5 convolution keeps the size, (32 + 4 − 5) / 1 + 1 = 32,
# and a 2 x 2 pooling with stride 2 halves it, (32 − 2) / 2 + 1 = 16; twice gives 8.
# Section 4 printed the shape after the two blocks, (1, 32, 8, 8): 32 channels of
# 8 x 8, the 2,048 features the linear layers classify.

# %% [markdown]
# **Question 3.** In exercise 1 the plain run's validation loss was lowest at epoch
# 7<!-- output: plain, lowest validation loss at epoch -->, at
# 1.60<!-- output: plain, lowest validation loss -->, then rose to
# 2.09<!-- output: plain, final validation loss --> while its training loss fell
# overall, to 1.03<!-- output: plain, final training loss -->. The augmented run's validation
# loss was lowest at epoch 11<!-- output: augmented, lowest validation loss at epoch -->
# of 12 and ended
# 0.03<!-- output: augmented, rise of the validation loss after its lowest --> above
# that lowest, against the plain run's
# 0.49<!-- output: plain, rise of the validation loss after its lowest -->. Why did the
# plain run's validation loss rise so much more after its lowest point?
#
# - (a) The plain run saw the same unaltered images every epoch and began to learn them
#   by heart, learning details that do not hold for new images; augmented images
#   differ every epoch, so memorising them pays less.
# - (b) The plain run's learning rate rose after its lowest point.
# - (c) The validation images were augmented in the augmented run, which made them
#   easier.
# - (d) A rising validation loss always means falling validation accuracy, so the loss
#   rose only because the plain run classified worse.

# %% tags=["nbval-check-output"]
### BEGIN SOLUTION
# Hint: which run sees the very same pictures every epoch, and what can it memorise?
answer_q3 = "a"
### END SOLUTION
check_exercise("Q3", answer_q3=answer_q3)

# %% [markdown] tags=["solution"]
# **(a).** Without augmentation the network saw the same 2,500 pictures every epoch and
# started to learn them by heart: its training loss fell overall while its validation
# loss rose after epoch 7<!-- output: plain, lowest validation loss at epoch -->: what
# it learned about its own images did not hold for new ones, and the loss punishes
# every wrong answer by how little probability it left the right class (exercise 1's
# solution measures how confident each run was when wrong). With random crops
# and flips the network sees each image in many versions (162 possible views of each
# image), so fitting the training images exactly pays less. The accuracies tell a
# less clear story (exercise 1's solution compares them): watch the loss first.

# %% [markdown]
# **Question 4.** Section 6 passed one batch whose channels have means of about 2
# through a fresh `BatchNorm2d`. In train mode the output's channel means were 0.0; right
# after, in eval mode, the same batch came out with channel means near 1, far from 0 (the
# line `eval mode, output channel means` there). Why do the two modes differ?
#
# - (a) Eval mode switches normalisation off.
# - (b) The layer has a different learned scale and shift in eval mode.
# - (c) Eval mode adds random noise, as dropout does in train mode.
# - (d) Train mode uses the batch's own mean and spread; eval mode uses running averages,
#   which one batch moved only a tenth of the way.

# %% tags=["nbval-check-output"]
### BEGIN SOLUTION
# Hint: section 6's cell on batch normalisation: what statistics does each mode use?
answer_q4 = "d"
### END SOLUTION
check_exercise("Q4", answer_q4=answer_q4)

# %% [markdown] tags=["solution"]
# **(d).** In train mode the layer divides by the batch's own statistics, so the batch
# comes out centred on 0, and it moves its running means a tenth of the way towards the
# batch's: from 0 to about 0.2, as printed. Eval mode normalises with those running
# averages, so a prediction does not depend on the other images in its batch; after a
# single batch they are far from the true means, hence the channel means near 1 that
# section 6 printed. Over a real training they settle on the data's statistics.


# %% [markdown]
# ## Appendix A: how `FastNet` trains fast
#
# Section 7 trained `FastNet` with its recipe given in brief. Here is the network, then
# its ideas one at a time, each with a cell that shows it at work on an untrained
# `FastNet`, `fast_demo`, then what the course's benchmark measured of each.
#
# First the whole network, as PyTorch prints a module: the frozen 2 x 2 convolution
# (`whiten`), then three `ConvGroup`s, each numbering its parts 0 to 6, then the linear
# layer `head`:

# %%
release_memory()  # the appendix needs only the data and an untrained FastNet
print(FastNet())

# %% [markdown]
# `forward` is short: the batch in the channels-last layout, the frozen whitening
# filters and a GELU, the three groups, then the largest value of each channel over the
# image (`amax` over its height and width: it has no layer of its own, so the print
# above does not list it), the linear layer, and a fixed scale on the logits
# (`output_scale`, a division by 9):

# %% tags=["nbval-check-output"]
print(inspect.getsource(FastNet.forward))

# %% [markdown]
# **Patch whitening.** A 2 x 2 patch of 3 colours is 12 numbers. Neighbouring pixels
# and the three colours are strongly correlated, so those 12 numbers vary a lot along
# a few directions and hardly at all along others. (With just two numbers that move
# together, such as two neighbouring pixels, their sum varies a lot and their
# difference little: those are the two directions.) `whiten_from` finds the 12
# directions from training images (the eigenvectors of the patches' covariance: the
# direction along which the 12 numbers vary most, then, at right angles to it, the one
# along which they vary next most, and so on) and turns each into a filter that
# measures it, divided by the spread along it. Those filters, and their negatives (so
# that the GELU after them, a smooth ReLU compared with ReLU further down, keeps both
# signs), are the first layer's weights (`whiten.weight`), and they are never trained. On the images
# they were computed from, the 12 filters' outputs should be uncorrelated, each with
# variance about 1, except along the weakest directions, which a small constant
# (`eps`) damps. In the cell, `F.unfold` cuts the images into every 2 x 2 patch, and
# each row of `patches` is one 2 x 2 x 3 patch, its 12 numbers:

# %%
fast_demo = to_device(FastNet(), device)
whitening_images = normalise(train_images[:500].to(device))
fast_demo.whiten_from(whitening_images)
with torch.no_grad():
    patches = F.unfold(whitening_images, kernel_size=2).transpose(1, 2).reshape(-1, 12)
    whitened = fast_demo.whiten(whitening_images)[:, :12]  # the 12 filters, not their negatives
    whitened = whitened.permute(0, 2, 3, 1).reshape(-1, 12)  # one row per patch
patch_correlation = torch.corrcoef(patches.T).cpu()
whitened_covariance = torch.cov(whitened.T).cpu()
off_diagonal = ~torch.eye(12, dtype=torch.bool)
print(f"patches, largest correlation of two numbers: {patch_correlation[off_diagonal].max():.2f}")
print(f"patches, smallest correlation of two numbers: {patch_correlation[off_diagonal].min():.2f}")
largest_covariance = whitened_covariance[off_diagonal].abs().max()
print(f"whitened, largest covariance of two outputs: {largest_covariance:.4f}")
variances = whitened_covariance.diag()
print(f"whitened, variances: {variances.min():.2f} to {variances.max():.2f}")
del patches, whitened  # the lesson needs their 12 x 12 summaries only
fig, axes = plt.subplots(1, 2, figsize=(8.4, 3.6), layout="constrained")
matrices = (
    ("2 x 2 patches: correlation", patch_correlation, "value in the patch (R 0-3, G 4-7, B 8-11)"),
    ("whitened: covariance", whitened_covariance, "filter (0: weakest direction, 11: strongest)"),
)
for ax, (title, matrix, label) in zip(axes, matrices, strict=True):
    image = ax.imshow(matrix.numpy(), cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set(title=title, xlabel=label, ylabel=label, xticks=range(12), yticks=range(12))
fig.colorbar(image, ax=axes, shrink=0.8)
plt.show()

# %% [markdown]
# On the left, the 12 values in a patch are correlated in pairs, from
# 0.68<!-- output: patches, smallest correlation of two numbers --> to
# 0.94<!-- output: patches, largest correlation of two numbers -->
# (red). On the right, what the filters measure is uncorrelated: the printed largest
# covariance between two outputs is about 0. The variances come out between the two
# printed figures, not all exactly 1 (look for the paler squares at the start of the
# diagonal, the weakest directions), because `whiten_from` adds a small constant
# (`eps`) to each spread before dividing: the weakest directions, which vary almost
# not at all and carry mostly noise, are damped instead of blown up.
#
# **Identity initialisation.** In each 3 x 3 convolution, output channel *i* starts
# as a copy of input channel *i* (PyTorch's `dirac_` initialisation; any extra output
# channels start random). So the stack of six convolutions starts out passing much of
# its input through and learns corrections: the job the residual additions do in
# ResNet-9. First on one convolution, then on a whole conv group:

# %% tags=["nbval-check-output"]
car_input = normalise(example_image.unsqueeze(0))
copied = identity_conv(3, 8)(car_input)
print("first 3 output channels equal the input:", torch.allclose(copied[:, :3], car_input))
extra_same = any(
    torch.allclose(copied[:, c : c + 1], car_input[:, i : i + 1])
    for c in range(3, 8)
    for i in range(3)
)
print("any of the other 5 equal to an input channel:", extra_same)

# %% [markdown]
# On the untrained `fast_demo`, compare what its first conv group (two convolutions,
# a pooling step, batch norms and GELUs) puts out with what it receives, channel by
# channel (the first 24, those the identity copies), after pooling the input the same
# way. A copy of the group with PyTorch's default random weights is the contrast.


# %%
def mean_channel_correlation(first: torch.Tensor, second: torch.Tensor, channels: int) -> float:
    """The correlation of first[:, c] and second[:, c] over all their values, averaged over c."""
    return (
        sum(
            torch.corrcoef(torch.stack([first[:, c].flatten(), second[:, c].flatten()]))[
                0, 1
            ].item()
            for c in range(channels)
        )
        / channels
    )


default_group = copy.deepcopy(fast_demo.groups[0])
with torch.random.fork_rng(devices=[]):  # leave the lesson's random stream as it was
    for layer in default_group:
        if isinstance(layer, nn.Conv2d):
            layer.reset_parameters()  # PyTorch's default, random initialisation
with eval_mode(fast_demo), eval_mode(default_group):
    group_input = F.gelu(fast_demo.whiten(whitening_images[:200]))  # what group 1 receives
    pooled_input = F.max_pool2d(group_input, 2)
    for name, group in (("identity", fast_demo.groups[0]), ("default", default_group)):
        correlation = mean_channel_correlation(group(group_input), pooled_input, 24)
        print(f"group 1 against its input, {name} initialisation: {correlation:.2f}")
del group_input, pooled_input, default_group

# %% [markdown]
# With identity initialisation the group's output follows its input closely, a
# correlation of
# 0.98<!-- output: group 1 against its input, identity initialisation -->; with random
# weights it is 0.02<!-- output: group 1 against its input, default initialisation -->:
# the random convolutions mix the channels. (Whether that slows training is not shown
# here: the benchmark's list below says identity initialisation was tested with one seed
# only.)

# %% [markdown]
# **Batch normalisation with its scale fixed at 1.** It still normalises, but only its
# shift is learned (airbench's choice, with fewer weights for the optimizer to move; the
# course's benchmark, quoted at the end of this appendix, measured what it changes). Its
# running averages move four tenths of the way towards each batch's statistics, not one
# tenth as in section 6 (airbench's value). The same batch as in section 6:

# %%
shift_only = shift_only_batch_norm(3)
with torch.no_grad():
    shift_only(shifted_batch)  # train mode
print(
    "scale trained:",
    shift_only.weight.requires_grad,
    "| shift trained:",
    shift_only.bias.requires_grad,
)
print("running means after one batch:", [round(v, 2) for v in shift_only.running_mean.tolist()])

# %% [markdown]
# The running means moved to about 0.8, four tenths of the batch's means of about
# 2 (section 6's default layer moved to about 0.2).
#
# **GELU**, a smooth version of ReLU, follows the first layer and every batch norm.
# It multiplies each input by the probability that a standard normal value is
# smaller (`x · Φ(x)`): large positive inputs pass almost unchanged, large negative
# ones become almost 0, and near 0 it bends smoothly instead of at a corner:

# %% tags=["nbval-check-output"]
points = torch.tensor([-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0])
print("x    ", points.tolist())
print("ReLU ", F.relu(points).tolist())
print("GELU ", [round(value, 2) + 0.0 for value in F.gelu(points).tolist()])

# %% [markdown]
# **Shrink early, and start with small logits.** A 2 x 2 first layer without
# padding, then a pooling step in each of three conv groups, take the image from
# 32 x 32 to 3 x 3 pixels while the channels grow to 32, 64 and 128. The printed
# shapes show where the work happens: only the whitening layer and group 1's first
# convolution work at 31 x 31; every later convolution works at 15 x 15 or smaller.
# The largest value of each of the last 128 channels feeds
# one linear layer, whose logits are divided by 9 (airbench's hyperparameter
# `scaling_factor`, 1/9, in airbench94.py of arXiv 2404.00498). An untrained
# network, in eval mode as when it predicts, then predicts
# close to evenly, with a loss near ln 10 = 2.30, the loss of a guess spread evenly over
# 10 classes; without the division its loss starts higher:

# %%
with eval_mode(fast_demo):
    features = fast_demo.whiten(car_input.to(device))
    print("after the 2 x 2 whitening layer:", tuple(features.shape))
    for number, group in enumerate(fast_demo.groups, start=1):
        features = group(features)
        print(f"after conv group {number}:", tuple(features.shape))
    logits = fast_demo(whitening_images[:500])  # eval_mode keeps no graph for a backward
for name, scaled in (("with the division by 9", logits), ("without it", logits * 9)):
    loss = F.cross_entropy(scaled, train_labels[:500].to(device))
    print(f"{name}: spread of the logits {scaled.std():.2f}, loss {loss:.2f}")
del loss, scaled
trained = sum(p.numel() for p in fast_demo.parameters() if p.requires_grad)
print(f"{count_parameters(fast_demo):,} parameters, {trained:,} of them trained")
for name, parameter in fast_demo.named_parameters():
    if not parameter.requires_grad:
        print(f"not trained: {name}, {parameter.numel()} values")
del whitening_images, logits  # not needed again: free them before the long training

# %% [markdown]
# The untrained values are the first layer's 24 whitening filters (`whiten.weight`:
# 24 · 3 · 2 · 2 = 288 values, set from the data by `whiten_from`; that layer's bias
# *is* trained) and the scales of the six batch-norm layers (`groups.N.2.weight` and
# `groups.N.5.weight`: 32 + 32 + 64 + 64 + 128 + 128 = 448 values, fixed at 1).
# Everything else, the convolutions, the batch-norm shifts and the linear layer, is
# trained.

# %% [markdown]
# **Label smoothing.** The training loss (`FastNet`'s `training_step`) uses
# `label_smoothing=0.2`: a target that gives the right class a probability of 0.82
# (0.8 + 0.2 / 10) and every other class 0.02, rather than 1 and 0. The network
# gains nothing by pushing its logits to extremes on images it already gets right.
# The cell builds that target by hand and checks it against PyTorch's: the best a
# prediction can do is to match it exactly, and even then the loss is the target's
# entropy, not 0.

# %% tags=["nbval-check-output"]
smoothed = F.one_hot(torch.tensor(3), 10).float() * 0.8 + 0.2 / 10
print("target for class 3:", [round(p, 2) for p in smoothed.tolist()])
best_logits = smoothed.log().unsqueeze(0)  # a prediction equal to the target
floor = F.cross_entropy(best_logits, torch.tensor([3]), label_smoothing=0.2)
print(f"PyTorch's loss for that prediction: {floor:.4f}")
print(f"the target's entropy: {-(smoothed * smoothed.log()).sum():.4f}")

# %% [markdown]
# So `FastNet`'s training loss can never fall below about 0.87, while its validation
# loss, against the plain labels, can. That is one reason to expect the training
# curve to stay above the validation curve in section 7; the others are that training
# batches are augmented, and that the training loss is averaged over an epoch in
# which the network was still improving.
#
# **Channels-last.** A batch is stored as one long row of numbers; its *strides* say
# how far apart in that row two neighbours along each dimension (image, channel,
# row, column) are. By default all of one channel comes before the next, so a
# pixel's three colours are 1,024 numbers apart. In the channels-last layout the
# colours of a pixel sit side by side, a layout that convolution code is often faster
# on (the benchmark's list below says what it gave `FastNet` on one CPU). `FastNet`
# keeps its weights and every input batch this way.

# %% tags=["nbval-check-output"]
layout_batch = torch.zeros(2, 3, 32, 32)
print("default strides:      ", layout_batch.stride())
print("channels-last strides:", layout_batch.contiguous(memory_format=torch.channels_last).stride())

# %% [markdown]
# **The training, `fit_fast`: large batches, a high learning rate.** 512 images a step.
# The learning rate climbs in a straight line to 2.0 over the first fifth of the steps
# (`warm_up=0.2`), then falls in a straight line towards 0 (section 7 plots it). Why
# does a rate 100 times the small CNN's not blow up? With batch norm after a
# convolution, the size of the convolution's weights does not change what the pair
# computes (*scale invariance*): only the weights' direction matters. The cell scales a
# convolution's weights by 10, with a batch norm after it (in training mode, as in a
# step), and compares the output and the gradient of the weights:


# %%
def conv_then_norm_with_weights_times(scale: float) -> tuple[torch.Tensor, float, float]:
    """The same convolution (seed 0) with its weights times scale, then batch norm: its
    output on a fixed batch, its weights' length, and the length of their gradient."""
    torch.manual_seed(0)
    pair = nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.BatchNorm2d(8))
    with torch.no_grad():
        pair[0].weight.mul_(scale)
    batch = torch.randn(16, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    target = torch.randn(16, 8, 6, 6, generator=torch.Generator().manual_seed(2))
    output = pair(batch)
    (output * target).sum().backward()  # a loss that depends on the output
    weights = pair[0].weight
    return output.detach(), weights.norm().item(), weights.grad.norm().item()


plain_out, plain_w, plain_g = conv_then_norm_with_weights_times(1.0)
large_out, large_w, large_g = conv_then_norm_with_weights_times(10.0)
print(f"weights x 10, largest change of the output: {(large_out - plain_out).abs().max():.6f}")
print(f"weights x 10, gradient length / before: {large_g / plain_g:.2f}")
# How far one step of the same learning rate turns the weights: |step| / |w| = lr |g| / |w|.
print(f"weights x 10, turn per step / before: {(large_g / large_w) / (plain_g / plain_w):.3f}")

# %% [markdown]
# The output changed by at most
# 0.000069<!-- output: weights x 10, largest change of the output --> (batch norm adds a
# small `eps`, 1e-5, to the variance before dividing, the one part that does not scale),
# while the gradient came out
# 0.10<!-- output: weights x 10, gradient length / before --> times as long: the larger
# the weights, the smaller their gradient. A step turns a weight vector by about
# (step size) x |gradient| / |w|, so with 10 times the weights one step of the same
# learning rate turned them
# 0.010<!-- output: weights x 10, turn per step / before --> times as far. That is the
# answer this cell shows: for a convolution followed by batch norm, what a step does
# depends on the rate and the weights' length together, so the rate alone does not say
# how large a step is. The rest of the argument is the recipe's, not
# measured here: big steps make the weights longer, which shrinks the turn of later steps,
# and weight decay keeps the length from growing without end. The final linear layer
# has no batch norm after it; the division of its logits by 9 keeps them small at the
# start (the cell above showed it on the untrained network). (The benchmark's list below
# gives what a range of peak rates reached.)
#
# **Nesterov momentum** (SGD with `nesterov=True`, momentum 0.85): each step takes the
# gradient where the momentum is about to carry the weights, a correction that, as
# Sutskever et al. (2013) report, behaves better than plain momentum when the momentum
# is high.
#
# The learning rate alone does not give the size of a step: with momentum *m*, a
# gradient that stays the same builds up until each step is lr / (1 − m) times it.
# The cell runs PyTorch's SGD for 100 steps on one number whose gradient is always 1,
# with the small CNN's settings (0.02, momentum 0.9, section 4) and with `FastNet`'s
# (2.0, Nesterov momentum 0.85), and prints the last step's size:

# %% tags=["nbval-check-output"]
step_sizes = {}
for name, lr, momentum, nesterov in (
    ("small CNN", 0.02, 0.9, False),
    ("FastNet", 2.0, 0.85, True),
):
    weight = nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([weight], lr=lr, momentum=momentum, nesterov=nesterov)
    for _ in range(100):
        before = weight.item()
        weight.grad = torch.ones(1)
        optimizer.step()
    step_sizes[name] = before - weight.item()
    print(
        f"{name}: lr {lr}, momentum {momentum}, last step {step_sizes[name]:.3f}, "
        f"lr / (1 - m) = {lr / (1 - momentum):.3f}"
    )
print(f"FastNet's lr per small CNN's lr: {2.0 / 0.02:.0f}")
print(f"FastNet's step per small CNN's step: {step_sizes['FastNet'] / step_sizes['small CNN']:.1f}")

# %% [markdown]
# Both last steps match lr / (1 − m). So, for the same gradient, `FastNet`'s steps are
# about
# 66.7<!-- output: FastNet's step per small CNN's step --> times the small CNN's, not the
# 100 times their learning rates suggest (real gradients differ between the two, with
# their batch sizes and batch norm): the small CNN's higher momentum makes up part
# of the difference. (The small CNN has no batch norm, so there the weights' size does
# matter.)
#
# - **Weight decay on the weights only** (5e-4): it pulls on the filters and the
#   linear layer's weights, not on biases or batch-norm shifts, which are few and
#   which decay would only push away from where the data needs them (the recipe's
#   reason, not measured here). The split on the network above, by hand, and the two
#   groups in `fit_fast`'s source:

# %%
decayed = [name for name, p in fast_demo.named_parameters() if p.requires_grad and p.ndim > 1]
not_decayed = [name for name, p in fast_demo.named_parameters() if p.requires_grad and p.ndim <= 1]
print(f"decayed: {len(decayed)} tensors, such as {decayed[:2]}")
print(f"not decayed: {len(not_decayed)} tensors, such as {not_decayed[:2]}")
print("fit_fast's optimizer groups, from its source:")
for line in inspect.getsource(fit_fast).splitlines():
    if '"params"' in line:
        print(line.strip())

# %% [markdown]
# - **Gentler augmentation.** Random crops after padding by 2 pixels (not 4), and
#   flips, as airbench does (arXiv 2404.00498; not measured here).
#
# **What the course's benchmark measured.** The lesson's budget has no room to measure
# each idea's worth, so here are the course's benchmark's measurements
# (`benchmarks/RESULTS.md`), from its 2-core Intel Xeon, not the CPU that made these
# outputs:
# - *The choice of FastNet* (1 seed each, validation split, similar training times): the
#   width-16 ResNet-9 recipe reached
#   80.8%<!-- source: benchmarks/RESULTS.md, validation split, lesson recipe 0.8076 -->
#   and FastNet
#   86.5%<!-- source: benchmarks/RESULTS.md, validation split, 7 epochs, TTA -->, with 7
#   epochs and test-time augmentation, from an earlier copy of the recipe. Those differ
#   from the ResNet-9's run in more than the network, but the margin, 5.7 points, is
#   several times what test-time augmentation was measured to add (below).
# - *FastNet against the width-16 ResNet-9* (3 seeds, all training images, test set):
#   `FastNet`, trained for 6 epochs, reached
#   84.6%<!-- source: benchmarks/RESULTS.md --> without test-time augmentation
#   (85.7%<!-- source: benchmarks/RESULTS.md --> with it) in
#   265 s<!-- source: benchmarks/RESULTS.md --> of training and test-time prediction, the
#   ResNet-9 with the full recipe, 4 epochs,
#   81.1%<!-- source: benchmarks/RESULTS.md --> in
#   216 s<!-- source: benchmarks/RESULTS.md -->, measured after the choice of `FastNet`,
#   which section 7's validation figures made.
# - *Patch whitening* (3 seeds, validation split): about a point, every seed without it
#   below every seed with it.
# - *The peak learning rate* (1 seed, validation split): rates from 0.8 to 3.2 reached
#   80%<!-- source: benchmarks/RESULTS.md --> to
#   82%<!-- source: benchmarks/RESULTS.md -->; 0.1 only
#   63%<!-- source: benchmarks/RESULTS.md -->.
# - *Test-time augmentation* (3 seeds, test set): 0.8 to
#   1.4 points<!-- source: benchmarks/RESULTS.md -->.
# - *Channels-last*: about 1.5 times<!-- source: benchmarks/RESULTS.md --> the training
#   speed, on random data.
# - *Shown neither to help nor not to*: the frozen batch-norm scale (no difference beyond
#   3 seeds' spread) and identity initialisation (one seed only).
# - *Not measured one at a time*: GELU, the 1/9 output scale, label smoothing, Nesterov
#   momentum, the 2-pixel crops and leaving biases out of weight decay. They come from
#   airbench's recipe.
