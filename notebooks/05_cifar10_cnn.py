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
# CIFAR-10 is 60,000 colour photographs, 32 x 32 pixels, of ten classes (airplane,
# automobile, bird, cat, deer, dog, frog, horse, ship, truck). An MLP (lesson 03) struggles
# here; convolutional networks, which reuse small filters all over the image, did better
# in this lesson's runs.
#
# **By the end of this lesson you can**
# - load an image-folder dataset, normalise it per channel and keep it on the device;
# - work out the output shapes of convolutions and pooling by hand;
# - train a small CNN, compare it with an MLP trained the same way, and test why it wins;
# - build a ResNet-9 (batch norm, residual blocks) and check its training recipe's parts
#   (augmentation, Adam, one-cycle) by hand;
# - train that ResNet-9 on all the training images and decide test-time augmentation on
#   validation;
# - test each final model once, then inspect its mistakes, and save and reload it.
#
# **From lesson 04.** `device` is where the work runs (CUDA
# GPU, Mac GPU or CPU), and `to_device` moves a model or batch there. `DeviceTensorLoader`
# serves batches, `(images, labels)`, from tensors already in memory on `device`.
# `dataset_to_tensors` stacks a dataset into two such tensors. `torch.autocast` runs matrix
# products in a 16-bit type such as bfloat16.

# %% [markdown] tags=["last-verified"]
# > **Last verified** 2026-12-07: PyTorch 2.14.1+cu130 on CPU (Intel(R) Xeon(R) Processor,
# > 2 threads); the whole lesson ran in 480 s with a peak memory of 1190 MB. The course's
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
import math
import statistics
import time
from pathlib import Path

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Subset
from torchvision.datasets import ImageFolder
from torchvision.io import decode_image

# The course's helpers used from section 1 on; the others come where first used.
from course_utils import (
    DeviceTensorLoader,
    ImageClassificationBase,
    fit,
    fit_one_cycle,
    get_default_device,
    to_device,
)
from course_utils.augment import batch_transform, random_crop, random_horizontal_flip
from course_utils.data import cifar10, dataset_to_tensors
from course_utils.metrics import confusion_matrix, per_class_accuracy
from course_utils.models import MLP
from course_utils.plotting import show_batch
from course_utils.settings import seed_everything
from course_utils.training import eval_mode, predict

generator = seed_everything(0)
device = get_default_device()
print(f"PyTorch {torch.__version__}, training on {device}")

# %%
# (plumbing: run it, skip reading) Smoke-mode sizes, recorded results, memory, checks.
from course_utils.checks.lesson05 import check_exercise
from course_utils.memory import release_memory
from course_utils.report import record_result
from course_utils.settings import full_or_smoke, smoke_mode

# %% [markdown]
# **Settings.** `full_or_smoke` picks the full size; the small one is for the course's
# tests (*smoke mode*).
#
# **Figures.** Measured ones come from the run shown, on the CPU the *Last verified* line names;
# *the course's benchmark* is `benchmarks/RESULTS.md`, mostly run on a 2-core Intel Xeon.
# Yours will differ.

# %% [markdown]
# ## 1. The data, as an image folder
#
# `course_utils.data.cifar10` downloads, checks and unpacks a public CIFAR-10 archive once:
# one folder per class, `cifar10/train/<class>/` and `cifar10/test/<class>/`. torchvision's
# `ImageFolder` reads this layout, taking the folder names in alphabetical order (CIFAR-10's
# official label order) as the classes.

# %%
train_folder = cifar10(train=True)
test_folder = cifar10(train=False)
classes = train_folder.classes
print(len(train_folder), len(test_folder))
print(classes)
print("image files:", Path(train_folder.samples[0][0]).suffix)

# %% [markdown]
# The run shown read **.jpg**<!-- says: image files --> files, a JPEG copy of CIFAR-10.
# The archive that `cifar10` downloads, fast.ai's `cifar10.tgz`, holds PNG
# files<!-- source: fast.ai's cifar10.tgz, the archive course_utils.data.CIFAR10 names -->.
# So a learner's figures will differ from these, by an amount not measured.
#
# As in lesson 04, prepare the images **once**, not every epoch: as `ImageFolder`'s
# `loader`, `decode_image` reads each file straight into a `uint8` tensor, a quarter of
# `float32`'s memory. The cell prints what decoding once cost (Appendix B).
#
# **Three splits.** As in lesson 03, a seeded shuffle takes a *validation set* of 5,000
# from the 50,000 training images (the folder is sorted by class); every training curve
# and choice uses it. The 10,000 test images score each final model once, in section 8.

# %%
# The three splits: their sizes, then which images each takes.
val_size = full_or_smoke(full=5_000, smoke=200)
train_size = full_or_smoke(full=45_000, smoke=1_000)
test_size = full_or_smoke(full=10_000, smoke=500)
print(f"Smoke mode: {smoke_mode()}; training images {train_size}, validation images {val_size}")
shuffled = torch.randperm(len(train_folder), generator=torch.Generator().manual_seed(0))
val_indices = shuffled[:val_size].tolist()
train_indices = shuffled[val_size : val_size + train_size].tolist()
# Shuffled, so smoke mode's 500 test images are a random draw (the folder is sorted by class).
test_indices = torch.randperm(len(test_folder), generator=generator)[:test_size].tolist()

# %%
# Decode every image once, into uint8 tensors in memory.
train_bytes_folder = ImageFolder(train_folder.root, loader=decode_image)  # uint8 tensors
start = time.perf_counter()  # the one-off cost of decoding every image (Appendix B)
train_images, train_labels = dataset_to_tensors(Subset(train_bytes_folder, train_indices))
decode_seconds = time.perf_counter() - start
print(f"decoding the training images once (seconds): {decode_seconds:.1f}")
val_images, val_labels = dataset_to_tensors(Subset(train_bytes_folder, val_indices))
test_images, test_labels = dataset_to_tensors(
    Subset(ImageFolder(test_folder.root, loader=decode_image), test_indices)
)
print(f"training {tuple(train_images.shape)} {train_images.dtype}", end=", ")
print(f"validation {tuple(val_images.shape)}, test {tuple(test_images.shape)}")
print(f"training images in memory: {train_images.numel() / 2**20:.0f} MiB as uint8")
float32_bytes = torch.finfo(torch.float32).bits // 8  # 4 bytes a value, against uint8's 1
print(f"the same as float32: {float32_bytes * train_images.numel() / 2**20:.0f} MiB")

# %% [markdown]
# ## 2. Per-channel normalisation
#
# Each colour channel gets its own mean and standard deviation, measured on the training
# images. `batch_transform` turns a `uint8` batch into normalised floats, and
# `DeviceTensorLoader` applies it to every batch. `training_batches(seed)` serves plain
# normalised batches of 64, shuffled from its seed (0 unless given).

# %%
channel_mean = tuple(  # one channel at a time, to keep the float32 copy small
    round(train_images[:, channel].float().mean().item() / 255, 4) for channel in range(3)
)
channel_std = tuple(
    round(train_images[:, channel].float().std().item() / 255, 4) for channel in range(3)
)
print(f"mean {channel_mean}, std {channel_std}")
normalise = batch_transform(channel_mean, channel_std)


# %%
def training_batches(seed: int = 0, transform=normalise) -> DeviceTensorLoader:
    """Training batches of 64 through ``transform`` (plain normalising unless given),
    shuffled by a generator seeded ``seed`` (0 unless given): the same seed gives the same
    batches in the same order."""
    return DeviceTensorLoader(
        train_images,
        train_labels,
        batch_size=64,
        shuffle=True,
        device=device,
        generator=torch.Generator().manual_seed(seed),
        transform=transform,
    )


# Batches of 250 keep each evaluation's memory small.
val_loader = DeviceTensorLoader(
    val_images, val_labels, batch_size=250, device=device, transform=normalise
)
test_loader = DeviceTensorLoader(
    test_images, test_labels, batch_size=250, device=device, transform=normalise
)
batch_images, batch_labels = next(iter(training_batches()))
first_batch_means = batch_images.mean(dim=(0, 2, 3)).cpu().numpy().round(2)
print(f"channel means of the first batch: {first_batch_means}")

# %% [markdown]
# Look for means near 0: each channel is now centred. By hand:

# %%
mean_by_channel = torch.as_tensor(channel_mean).view(1, 3, 1, 1)
spread_by_channel = torch.as_tensor(channel_std).view(1, 3, 1, 1)
by_hand = (train_images[:8].float() / 255 - mean_by_channel) / spread_by_channel
print(
    "normalise by hand, (pixels / 255 - mean) / spread:",
    torch.allclose(normalise(train_images[:8]), by_hand),
)

# %%
show_batch(
    batch_images[:16].cpu(),
    nrow=8,
    mean=channel_mean,
    std=channel_std,
    title="top row: " + ", ".join(classes[label] for label in batch_labels[:8].tolist()),
)

# %% [markdown]
# ## 3. Convolution, padding, stride and pooling
#
# A convolution layer slides small filters (here 3 x 3 or 5 x 5) over the image: each
# output pixel is a weighted sum of an input patch across all channels, with the same
# weights at every position. The output size follows from the input size `n`, kernel
# size `k`, padding `p` per side and stride `s` (the step between positions):
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
# There are as many output channels as filters (8 here); pooling keeps the channels.
# Each 5 x 5 filter over 3 channels has 5 · 5 · 3 = 75 weights plus a bias, whatever the
# image size. Section 4's first layer has 16 such filters (padding 2); a linear layer
# that turns a 3 x 32 x 32 image into their 16 x 32 x 32 outputs needs a weight for every
# pair of input and output values:


# %% tags=["nbval-check-output"]
def count_parameters(model: nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters())


inputs_per_image, outputs_per_image = 3 * 32 * 32, 16 * 32 * 32
conv_parameters = count_parameters(nn.Conv2d(3, 16, kernel_size=5, padding=2))
assert conv_parameters == 16 * (5 * 5 * 3 + 1)  # 16 filters of 75 weights and a bias
linear_parameters = inputs_per_image * outputs_per_image + outputs_per_image  # weights + biases
print(f"convolution: {conv_parameters:,} parameters")
print(f"linear layer, same inputs and outputs: {linear_parameters:,} parameters")
print(f"linear parameters per convolution parameter: {linear_parameters / conv_parameters:,.0f}")

# %% [markdown]
# About 41,405<!-- output: linear parameters per convolution parameter --> times more.
# The convolution needs only 1,216 because each output sees only a 5 x 5 patch
# (*locality*: nearby pixels belong together; section 5's control tests it) and every
# position shares the same weights (*weight sharing*: the design idea that one filter
# serves the whole image).
#
# **A convolution by hand.** For every output row and column, multiply the patch under
# the filter by the filter, over all channels, and sum. Two nested loops give the same
# numbers as `F.conv2d`, which does not flip the filter: strictly, a cross-correlation.
# **Max pooling by hand**: a reshape turns (1, 3, 6, 6) into (1, 3, 3, 2, 3, 2), rows and
# columns split into blocks of 2; `amax` over axes 3 and 5, the positions inside a block,
# keeps each block's largest.


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
print("convolution by hand", tuple(by_hand.shape), torch.allclose(by_hand, by_pytorch, atol=1e-5))
maps = torch.randn(1, 3, 6, 6, generator=torch.Generator().manual_seed(2))
# (image, channel, block row, row in block, block column, column in block)
pooled_by_hand = maps.reshape(1, 3, 3, 2, 3, 2).amax(dim=(3, 5))
pooled = nn.MaxPool2d(2)(maps)
print("pooling by hand", tuple(pooled_by_hand.shape), torch.equal(pooled_by_hand, pooled))

# %% [markdown]
# **What a filter finds.** This hand-made *Sobel* filter subtracts the grey pixels left
# of each point from those on its right, over three rows (the middle one twice), so it
# responds to vertical edges: bright where the picture gets lighter from left to right,
# dark where it gets darker, grey elsewhere. Right: a validation truck; look for its
# upright edges as lines.

# %%
vertical_edges = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
edge_image = val_images[(val_labels == classes.index("truck")).nonzero()[0, 0]]  # the first
grey = edge_image.float().mean(dim=0, keepdim=True) / 255
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
    ("a validation image\n(truck)", edge_image.permute(1, 2, 0), None),
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
# Two blocks of convolution, ReLU and 2 x 2 pooling shrink the image from 32 to 16 to 8
# pixels a side while the channels grow from 3 to 16 to 32; three linear layers classify
# the 32 · 8 · 8 = 2048 features. As in lesson 03, it subclasses
# `ImageClassificationBase`, whose `training_step` and `validation_step` `fit` calls.


# %% tags=["nbval-check-output"]
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


cnn = SmallCnn()
print(tuple(cnn.features(one_image).shape), f"{count_parameters(cnn):,} parameters")

# %% [markdown]
# Train it with SGD with *momentum*. Momentum keeps a *velocity* v, a running sum of past
# gradients, older ones weighted less, and moves the weights along it: v ← 0.9 v + g,
# then w ← w − lr · v (v starts at 0). It is meant to smooth small batches' noise (not
# measured here). By hand, on two weights, three fixed gradients and the CNN's rate
# (0.02), against `torch.optim.SGD`:

# %% tags=["nbval-check-output"]
momentum_gradients = [torch.tensor(g) for g in ([1.0, -2.0], [0.5, 1.0], [-1.0, 0.0])]
momentum_start = torch.tensor([1.0, 1.0])
hand_weights, velocity = momentum_start.clone(), torch.zeros(2)
for gradient in momentum_gradients:
    velocity = 0.9 * velocity + gradient  # the running sum of past gradients
    hand_step = -0.02 * velocity
    hand_weights = hand_weights + hand_step
sgd_weights = nn.Parameter(momentum_start.clone())
sgd = torch.optim.SGD([sgd_weights], lr=0.02, momentum=0.9)
for gradient in momentum_gradients:
    sgd_weights.grad = gradient.clone()
    sgd.step()
print("momentum by hand matches torch.optim.SGD:", torch.allclose(hand_weights, sgd_weights))
print("weights after 3 steps:", ", ".join(f"{w:.4f}" for w in sgd_weights.tolist()))
print(f"first weight, its change at the third step: {hand_step[0]:+.4f}")

# %% [markdown]
# The hand version matches PyTorch's:
# **True**<!-- says: momentum by hand matches torch.optim.SGD -->. The first weight's
# third gradient, −1, would on its own raise it, yet that step changed it by
# -0.0052<!-- output: first weight, its change at the third step -->: the velocity
# still held the two earlier gradients (1 and 0.5), which pushed the other way.
#
# `sgd_momentum` is `torch.optim.SGD` with `momentum=0.9` preset by `functools.partial`.
# The CNN trains two epochs, to keep this notebook within its
# 10-minute<!-- source: benchmarks/RESULTS.md, a 600 s budget --> budget on a 2-core CPU;
# its rate, 0.02, was set, not searched.

# %%
cnn_epochs = full_or_smoke(full=2, smoke=1)
seed_everything(0)
cnn = to_device(SmallCnn(), device)
sgd_momentum = functools.partial(torch.optim.SGD, momentum=0.9)
cnn_loader = training_batches()
cnn_history = fit(cnn_epochs, 0.02, cnn, cnn_loader, val_loader, opt_func=sgd_momentum)
cnn_train_seconds = sum(epoch["train_seconds"] for epoch in cnn_history)
record_result("small CNN validation accuracy", cnn_history[-1]["val_acc"])
record_result("small CNN training seconds", round(cnn_train_seconds, 1))

# %% [markdown]
# On this CPU the small CNN reached
# **58.8%**<!-- output: small CNN validation accuracy --> validation accuracy in
# 27.2 s<!-- output: small CNN training seconds --> of training (the epoch lines' times also
# count validation). Per-class accuracy (lesson 03's `per_class_accuracy`, checked by
# hand) shows where it struggles:

# %%
cnn_predictions, cnn_truth = predict(cnn, val_loader)  # predicted and true labels
cnn_class_accuracy = per_class_accuracy(
    confusion_matrix(cnn_predictions, cnn_truth, num_classes=10)
)
# Each class's share of its images predicted right, by hand.
shares = [
    int((cnn_predictions[cnn_truth == c] == c).sum()) / int((cnn_truth == c).sum())
    for c in range(10)
]
print(f"per_class_accuracy equals the shares by hand: {shares == cnn_class_accuracy.tolist()}")
ranking = sorted(zip(cnn_class_accuracy.tolist(), classes, strict=True))  # hardest first
print("hardest first:", ", ".join(f"{name} {accuracy:.0%}" for accuracy, name in ranking))
class_counts = val_labels.bincount(minlength=10)
print(f"validation images per class: {class_counts.tolist()}")
# A class's accuracy p over n images varies by about √(p(1 − p) / n) (lesson 03's SE);
# here p is the overall accuracy and n the mean count.
overall, mean_count = cnn_history[-1]["val_acc"], class_counts.float().mean().item()
class_se = 100 * math.sqrt(overall * (1 - overall) / mean_count)
print(f"one class's accuracy, its standard error (points): {class_se:.1f}")

# %% [markdown]
# With about 500 images a class, one class's accuracy has a standard error of about
# 2.2<!-- output: one class's accuracy, its standard error (points) --> points, so
# classes a few points apart could swap places on another validation set.
# (Appendix C: are animals harder?)

# %% [markdown]
# **What the network sees.** A training car and eight of its 16 first-layer *feature
# maps*, after the ReLU, each scaled to its own range so that every one is visible:


# %%
def to_unit_range(images: torch.Tensor) -> torch.Tensor:
    """Scale each image of a batch to [0, 1] on its own, so every one is visible."""
    flat = images.flatten(start_dim=1)
    low, high = flat.min(dim=1).values, flat.max(dim=1).values
    return (images - low.view(-1, 1, 1, 1)) / (high - low).clamp_min(1e-8).view(-1, 1, 1, 1)


# A training car, seen again in sections 6 and 7.
example_image = train_images[(train_labels == classes.index("automobile")).nonzero()[0, 0]]
with eval_mode(cnn):  # eval mode, no gradients
    car = normalise(example_image.unsqueeze(0).to(device))
    all_first_maps = cnn.features[:2](car)[0].cpu()  # conv + ReLU: 16 maps of 32 x 32
print(f"first-layer values that are 0 on the car: {(all_first_maps == 0).float().mean():.2f}")
first_maps = all_first_maps[:8].unsqueeze(1).expand(-1, 3, -1, -1)  # eight, grey as RGB
car_and_maps = torch.cat([example_image.unsqueeze(0).float() / 255, to_unit_range(first_maps)])
show_batch(car_and_maps, nrow=9, title="the car, then 8 of its 16 first-layer maps, 32 x 32")

# %% [markdown]
# On the car, 76%<!-- output: first-layer values that are 0 on the car --> of
# first-layer values are 0: the ReLU cut every negative value (second-layer channels:
# Appendix C). Look for maps that respond where the image changes sharply.

# %% [markdown]
# ## 5. Why an MLP does worse
#
# A convolution, unlike an MLP, reuses its filters at every position and sees
# neighbouring pixels together; a control below keeps the reuse but scrambles the
# neighbourhoods. Give lesson 03's `MLP` class the small CNN's optimizer, epochs and
# batches (seed 0), at one rate (0.02), tuned for neither. A second MLP trains for a fixed
# 7 epochs, a count set near the CNN's training seconds on the CPU of the committed run;
# the table after it prints the seconds each run took.


# %%
def build_mlp() -> nn.Module:
    """The MLP: hidden layers of 512 and 256 units, ReLU."""
    return MLP(3 * 32 * 32, [512, 256], 10)


release_memory()  # hands freed memory back: the lesson's budget is 1.5 GB (README.md)
seed_everything(0)
mlp = to_device(build_mlp(), device)
mlp_history = fit(  # training_batches() from seed 0, as for the CNN
    cnn_epochs, 0.02, mlp, training_batches(), val_loader, opt_func=sgd_momentum
)
mlp_train_seconds = sum(epoch["train_seconds"] for epoch in mlp_history)
record_result("MLP validation accuracy (same epochs)", mlp_history[-1]["val_acc"])
record_result("MLP training seconds", round(mlp_train_seconds, 1))

# %%
# The second MLP: a fixed epoch count, not one computed from this run's timings.
matched_epochs = full_or_smoke(full=7, smoke=2)
print(f"second MLP's epochs: {matched_epochs}")
matched_name = f"MLP, {matched_epochs} epochs"  # the table's name for it
release_memory()
seed_everything(0)
matched_mlp = to_device(build_mlp(), device)
matched_history = fit(
    matched_epochs,
    0.02,
    matched_mlp,
    training_batches(),
    val_loader,
    opt_func=sgd_momentum,
    verbose=False,
)
del matched_mlp  # the same architecture as mlp: only its history is needed
release_memory()

# %%
# The three runs side by side.
header = f"{'model, seed 0':<25}{'epochs':>7}{'parameters':>12}{'training (s)':>14}"
print(f"{header}{'validation (%)':>16}")
matched_seconds = sum(epoch["train_seconds"] for epoch in matched_history)
for name, model, history, seconds in (
    ("small CNN", cnn, cnn_history, cnn_train_seconds),
    ("MLP", mlp, mlp_history, mlp_train_seconds),
    (matched_name, mlp, matched_history, matched_seconds),  # mlp: the same architecture
):
    accuracy = 100 * history[-1]["val_acc"]
    row = f"{name:<25}{len(history):>7}{count_parameters(model):>12,}{seconds:14.1f}"
    print(f"{row}{accuracy:16.1f}")
print(f"second MLP's training seconds per small CNN's: {matched_seconds / cnn_train_seconds:.2f}")
print(
    f"MLP parameters per small-CNN parameter: {count_parameters(mlp) / count_parameters(cnn):.1f}"
)
cnn_lead = 100 * (cnn_history[-1]["val_acc"] - mlp_history[-1]["val_acc"])
print(f"CNN's lead over the MLP in points (below 0 if the MLP leads): {cnn_lead:+.1f}")
matched_lead = 100 * (cnn_history[-1]["val_acc"] - matched_history[-1]["val_acc"])
matched_line = "CNN's lead over the second MLP in points (below 0 if the MLP leads)"
print(f"{matched_line}: {matched_lead:+.1f}")

# %% [markdown]
# With one seed (0) and one rate (0.02) for both models, the small CNN
# led the first MLP by
# **+13.0**<!-- output: CNN's lead over the MLP in points (below 0 if the MLP leads) --> points,
# although the MLP has
# 6.3<!-- output: MLP parameters per small-CNN parameter --> times its parameters. The
# second MLP trained
# 1.00<!-- output: second MLP's training seconds per small CNN's --> times as long as the
# CNN on this CPU. The CNN's lead over it was
# +11.0<!-- output: CNN's lead over the second MLP in points (below 0 if the MLP leads) -->
# points.

# %% [markdown]
# **The control.** Shuffle the 1,024 pixel positions once, the same way for every image
# and channel, in training and validation batches, and train both models afresh: each
# 5 x 5 filter now covers 25 scattered pixels.


# %%
pixel_order = torch.randperm(32 * 32, generator=torch.Generator().manual_seed(0)).to(device)


def normalise_and_shuffle(images: torch.Tensor) -> torch.Tensor:
    """Normalise a uint8 batch, then move every image's pixels, in all three channels, to
    the same shuffled positions."""
    return normalise(images).flatten(start_dim=2)[:, :, pixel_order].unflatten(2, (32, 32))


shuffled_val_loader = DeviceTensorLoader(
    val_images, val_labels, batch_size=250, device=device, transform=normalise_and_shuffle
)
shuffled_accuracy = {}
for name, build in (("small CNN", SmallCnn), ("MLP", build_mlp)):
    release_memory()
    seed_everything(0)  # the starting weights of the runs above
    control = to_device(build(), device)
    shuffled_batches = training_batches(transform=normalise_and_shuffle)  # seed 0's order
    control_history = fit(
        cnn_epochs,
        0.02,
        control,
        shuffled_batches,
        shuffled_val_loader,
        opt_func=sgd_momentum,
        verbose=False,
    )
    shuffled_accuracy[name] = control_history[-1]["val_acc"]
del control, control_history, shuffled_batches, shuffled_val_loader  # the two extra models
release_memory()

# %%
# Each model on original and on shuffled pixels, and the CNN's lead with shuffled pixels.
original_accuracy = {"small CNN": cnn_history[-1]["val_acc"], "MLP": mlp_history[-1]["val_acc"]}
print(f"{'validation (%), seed 0':<24}{'original pixels':>16}{'shuffled pixels':>17}")
for name, accuracy in original_accuracy.items():
    print(f"{name:<24}{100 * accuracy:16.1f}{100 * shuffled_accuracy[name]:17.1f}")
pixel_changes = {}
for name, accuracy in original_accuracy.items():
    pixel_changes[name] = 100 * (shuffled_accuracy[name] - accuracy)
    print(f"{name}, change with shuffled pixels (points): {pixel_changes[name]:+.1f}")
shuffled_lead = 100 * (shuffled_accuracy["small CNN"] - shuffled_accuracy["MLP"])
shuffled_line = "CNN's lead with shuffled pixels in points (below 0 if the MLP leads)"
print(f"{shuffled_line}: {shuffled_lead:+.1f}")

# %% [markdown]
# Shuffling changed the CNN's accuracy by
# **-15.8**<!-- output: small CNN, change with shuffled pixels (points) --> points and the
# MLP's by **+0.5**<!-- output: MLP, change with shuffled pixels (points) -->. For an MLP, a
# fixed shuffle only reorders its inputs, which its first layer could match (not checked).
# Its change would then be that of another random start, with the same batch order. The
# CNN's lead went from
# +13.0<!-- output: CNN's lead over the MLP in points (below 0 if the MLP leads) --> to
# -3.2<!-- output: CNN's lead with shuffled pixels in points (below 0 if the MLP leads) -->
# points. Each model ran from one seed; other seeds were not run.

# %% [markdown]
# ## 6. ResNet-9 and its training recipe
#
# This section builds ResNet-9 and checks each part of its training recipe by hand;
# section 7 trains it on all the training images. (Which parts a short run can detect:
# Appendix D.)
#
# ResNet-9 and its recipe rest on three ideas:
# - **batch normalisation** (Ioffe and Szegedy, 2015): each channel of a batch rescaled
#   to mean 0 and spread 1, then given a learned scale and shift;
# - **residual blocks** (He et al., 2016), which output `x + f(x)`: the added `x` is a
#   path for the gradient past `f` (the next cell measures it, before any training);
# - **augmentation**: random crops and flips vary each image every epoch, so memorising
#   should pay less (exercise 1 looks for it).
#
# **A residual block's path for the gradient.** An untrained stack of 21 convolutions
# with ReLU and no batch norm, three ways: plain, at PyTorch's default initialisation;
# with `x + f(x)` around each pair; and plain, re-initialised the *He* way
# (`kaiming_normal_`: weights with a spread of √(2 / inputs per output), meant to keep a
# ReLU stack's signal in range; biases 0). One backward pass of a loss on 32 validation
# images compares the gradient that reaches the first convolution with the one that
# reaches the last. Nothing is trained.


# %%
class AddInput(nn.Module):
    """x + body(x): a residual block around any body of the same shape."""

    def __init__(self, body: nn.Module):
        super().__init__()
        self.body = body

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs + self.body(inputs)


def deep_stack(residual: bool, he_init: bool = False, pairs: int = 10) -> nn.Sequential:
    """A 3 x 3 convolution to 16 channels, then pairs of (conv, ReLU, conv, ReLU), each
    pair as x + f(x) if residual; PyTorch's default initialisation, seeded alike, then
    He's (kaiming_normal_ weights, zero biases) if he_init."""
    torch.manual_seed(0)
    blocks = []
    for _ in range(pairs):
        body = nn.Sequential(
            nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1), nn.ReLU()
        )
        blocks.append(AddInput(body) if residual else body)
    stack = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), *blocks)
    if he_init:
        for layer in stack.modules():
            if isinstance(layer, nn.Conv2d):
                nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
                nn.init.zeros_(layer.bias)
    return stack


stacks = (("plain", False, False), ("residual", True, False), ("He-initialised plain", False, True))
release_memory()  # room for the stacks' activations, within the lesson's memory budget
with torch.random.fork_rng(devices=[]):  # leave the lesson's random stream as it was
    stack_batch = normalise(val_images[:32].to(device))
    for name, residual, he_init in stacks:
        stack = to_device(deep_stack(residual, he_init), device)
        stack(stack_batch).square().mean().backward()  # any loss of the output will do
        convolutions = [m for m in stack.modules() if isinstance(m, nn.Conv2d)]
        first, last = convolutions[0].weight.grad.norm(), convolutions[-1].weight.grad.norm()
        print(f"{name} stack, first layer's gradient / last's: {first / last:.2g}")
del stack, stack_batch, convolutions

# %% [markdown]
# At PyTorch's default initialisation, the plain stack's first-layer gradient was
# 1.1e-09<!-- output: plain stack, first layer's gradient / last's --> times the last's.
# With the additions it was
# 3.6<!-- output: residual stack, first layer's gradient / last's --> times the last's:
# each `x + f(x)` hands the gradient back unchanged, besides `f`'s share. The
# He-initialised plain stack kept its gradient too:
# 0.67<!-- output: He-initialised plain stack, first layer's gradient / last's --> times
# the last's. That re-initialisation changed two things (the weights' scale and zero
# biases), and this demo does not separate them. ResNet-9, which has batch norm, was not
# run without its additions. He et al. (2016) introduced residual blocks because deeper
# plain networks trained *worse* than shallower ones, even with batch
# norm<!-- source: He et al., arXiv 1512.03385, section 4.1, plain nets with BN --> (the
# *degradation* problem); this demo does not train.
#
# **Batch norm in train and eval mode.** What does a fresh `BatchNorm2d` do to one batch
# whose channels have means near 2, in each mode?


# %% tags=["nbval-check-output"]
def channel_means(batch: torch.Tensor) -> list[float]:
    """The mean of each channel, rounded (+ 0.0 turns -0.0 into 0.0)."""
    return [round(value, 2) + 0.0 for value in batch.mean(dim=(0, 2, 3)).tolist()]


def rounded(values: torch.Tensor, digits: int = 2) -> list[float]:
    return [round(value, digits) for value in values.flatten().tolist()]


batch_norm = nn.BatchNorm2d(3)
shifted_batch = torch.randn(16, 3, 8, 8, generator=torch.Generator().manual_seed(0)) * 4 + 2
batch_var = shifted_batch.var(dim=(0, 2, 3), unbiased=False)  # biased, as batch norm uses
input_variances = rounded(batch_var, 1)
print(f"input batch, channel means {channel_means(shifted_batch)}, variances {input_variances}")
with torch.no_grad():
    batch_norm.train()
    train_output = batch_norm(shifted_batch)
    spreads = rounded(train_output.std(dim=(0, 2, 3)))
    print(f"train mode, output channel means {channel_means(train_output)}, spreads {spreads}")
    # By hand: each channel's batch mean and (biased) variance over images and positions.
    batch_mean = shifted_batch.mean(dim=(0, 2, 3), keepdim=True)
    train_by_formula = (shifted_batch - batch_mean) / torch.sqrt(
        batch_var.view(1, 3, 1, 1) + batch_norm.eps
    )
    print(
        "train output equals (x - batch mean) / sqrt(batch var):",
        torch.allclose(train_output, train_by_formula, atol=1e-5),
    )
    print(
        f"after one batch, running means {rounded(batch_norm.running_mean)}, "
        f"running variances {rounded(batch_norm.running_var)}"
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
    alone = batch_norm(shifted_batch[:1])  # the first image, in a batch of its own
    alone_words = "the same" if torch.allclose(alone, eval_output[:1]) else "different"
    print(f"eval mode, the first image's output alone and in its batch: {alone_words}")

# %% [markdown]
# Train mode normalised with the batch's own statistics and moved its *running* averages
# only 10%<!-- source: PyTorch's BatchNorm2d, momentum=0.1 --> of the way towards the
# batch's.
# Eval mode uses those running averages, so an image's output does not depend on the rest
# of its batch, and after one batch it centres the batch only partly: look for eval-mode
# channel means away from 0.
#
# **ResNet-9's layers.** The building block is a 3 x 3 convolution, batch norm and ReLU
# (no bias in the convolution: batch norm's shift replaces it). A blank image goes
# through the full-size network (width 64), layer by layer:


# %% tags=["nbval-check-output"]
from course_utils.layers import layer_table


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


def describe_layer(layer: nn.Module) -> str:
    """A short name for one entry of ResNet9.layers."""
    if isinstance(layer, ResidualBlock):
        return "residual block"
    if isinstance(layer, nn.Sequential):  # a conv_block
        pooled = any(isinstance(part, nn.MaxPool2d) for part in layer)
        return "conv block + max pool" if pooled else "conv block"
    return type(layer).__name__


full_size = ResNet9(64)
layer_rows = layer_table(full_size.layers, torch.zeros(1, 3, 32, 32), name=describe_layer)
print(f"{'':<3}{'layer':<22}{'output shape':<18}parameters")
for row in layer_rows:  # index, name, output shape and parameters of each entry
    shape = str(row["output_shape"])
    print(f"{row['index']:<3}{row['name']:<22}{shape:<18}{row['parameters']:,}")
print(f"{'':<3}{'total':<40}{count_parameters(full_size):,}")
last_block_share = layer_rows[5]["parameters"] / count_parameters(full_size)
print(f"share of the parameters in the last residual block: {last_block_share:.2f}")
del full_size  # 26 MB of weights that the rest of the lesson does not need

# %% [markdown]
# Each "+ max pool" block doubles the channels and halves the image. The residual blocks
# keep the shape, so they can add their input to their output; the last holds most of the
# parameters.
#
# **Augmentation.** Pad the image by 4 pixels (reflecting its border), crop 32 x 32 at a
# random offset, flip or not: 9 x 9 offsets x 2 flips = 162 possible views. By hand on four
# images, against the course's `random_crop` and `random_horizontal_flip`:

# %% tags=["nbval-check-output"]
few = normalise(train_images[:4].to(device))
draw = torch.Generator().manual_seed(1)
offsets = torch.randint(0, 9, (2, len(few)), generator=draw)  # row and column offsets, 0 to 8
coins = torch.rand(len(few), generator=draw) < 0.5  # flip or not, a coin each
crops_by_hand = []
for image, top, left, coin in zip(
    few, offsets[0].tolist(), offsets[1].tolist(), coins.tolist(), strict=True
):
    padded = F.pad(image.unsqueeze(0), (4, 4, 4, 4), mode="reflect")[0]
    crop = padded[:, top : top + 32, left : left + 32]
    crops_by_hand.append(crop.flip(-1) if coin else crop)
draw.manual_seed(1)  # the same random numbers again, for the course's functions
course = random_horizontal_flip(random_crop(few, 4, generator=draw), generator=draw)
print("crop and flip by hand equal the course's:", torch.equal(torch.stack(crops_by_hand), course))
del few, crops_by_hand, course

# %% [markdown]
# `augment` normalises a batch, then crops and flips each image on the device. Eight views
# of one image:

# %%
augment = batch_transform(channel_mean, channel_std, crop_padding=4, flip=True)
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
# **The training.** Section 7's training uses these parts, each with its aim:
# - *Adam*: scales each weight's step by its own gradient history (by hand next);
# - *one-cycle* (`fit_one_cycle`), meant to train at a large rate mid-run without an
#   unstable start: the rate rises to a peak, then falls (section 7 plots it and checks it
#   by hand);
# - *weight decay*, meant to keep the weights small: adds 1e-4 times each weight to its
#   gradient;
# - *gradient clipping*: caps each gradient value at 0.1.
#
# **Adam by hand.** Adam (lesson 03 used it in a line) keeps two running averages for each
# weight: one of its gradient, which at each step keeps a share *beta1* =
# 0.9<!-- source: PyTorch docs, torch.optim.Adam, default betas=(0.9, 0.999) --> of the
# old average, and one of the gradient's square (beta2 = 0.999). Both start at 0, so
# *bias correction* divides them at step t by 1 − beta1^t and 1 − beta2^t. Each step moves
# the weight by the learning rate times the corrected first average over the square root
# of the corrected second (plus eps = 1e-8): the gradient's scale cancels. By hand, with
# PyTorch's defaults, on two weights whose gradients are always 1,000 and 0.001, at a rate
# of 0.01:

# %% tags=["nbval-check-output"]
adam_gradient = torch.tensor([1000.0, 0.001])  # the same at every step: one huge, one tiny
beta1, beta2, adam_eps, adam_lr = 0.9, 0.999, 1e-8, 0.01  # PyTorch's defaults; the rate
adam_by_hand, adam_m, adam_v = torch.zeros(2), torch.zeros(2), torch.zeros(2)
adam_weights = nn.Parameter(torch.zeros(2))
adam = torch.optim.Adam([adam_weights], lr=adam_lr)
adam_steps = []  # each step's change of the two weights, by hand
for t in (1, 2, 3):
    adam_m = beta1 * adam_m + (1 - beta1) * adam_gradient  # the gradient's running average
    adam_v = beta2 * adam_v + (1 - beta2) * adam_gradient**2  # its square's running average
    m_hat, v_hat = adam_m / (1 - beta1**t), adam_v / (1 - beta2**t)  # the bias correction
    adam_steps.append(-adam_lr * m_hat / (v_hat.sqrt() + adam_eps))
    adam_by_hand = adam_by_hand + adam_steps[-1]
    adam_weights.grad = adam_gradient.clone()
    adam.step()
print(f"Adam by hand matches torch.optim.Adam: {torch.allclose(adam_by_hand, adam_weights)}")
for index, gradient in enumerate(adam_gradient.tolist()):
    sizes = ", ".join(f"{abs(step[index]):.4f}" for step in adam_steps)
    print(f"weight with gradient {gradient:g}, its 3 step sizes: {sizes}")
# The first step without the correction: the averages after one step, 0.1 g and 0.001 g².
first_m, first_v = (1 - beta1) * adam_gradient, (1 - beta2) * adam_gradient**2
uncorrected = first_m / (first_v.sqrt() + adam_eps)  # in learning rates
ratios = ", ".join(f"{ratio:.2f}" for ratio in uncorrected.tolist())
print(f"first step without bias correction, in learning rates: {ratios}")

# %% [markdown]
# The hand version matches PyTorch's:
# **True**<!-- says: Adam by hand matches torch.optim.Adam -->. Both weights moved
# **0.0100**<!-- output: weight with gradient 1000, its 3 step sizes --> and
# **0.0100**<!-- output: weight with gradient 0.001, its 3 step sizes --> at their first
# step: the learning rate, for gradients a million times apart. Without the correction,
# the first step would have been
# 3.16<!-- output: first step without bias correction, in learning rates --> learning
# rates.
#
# One-cycle (built on PyTorch's `OneCycleLR`) also moves beta1 against the rate, from
# 0.95<!-- source: PyTorch docs, OneCycleLR, max_momentum=0.95 --> at the start down to
# 0.85<!-- source: PyTorch docs, OneCycleLR, base_momentum=0.85 --> at the peak and back
# (Appendix D plots it).
#
# Weight decay and clipping, by hand, against PyTorch (their sizes: Appendix D):

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


# %% [markdown]
# ## 7. ResNet-9 on all the training images
#
# Section 6's network and its full recipe (one-cycle peaking at `peak_rate`, Adam, weight
# decay 1e-4, clipping at 0.1, crops and flips, batches of 128), on all 45,000 training
# images. On a CPU or an Apple GPU it is width 8, for 3 epochs. On a CUDA GPU it is width
# 64 (section 6's layer table) for 16 epochs, in channels-last and, where the GPU has
# bfloat16 units, under lesson 04's bfloat16 autocast (the second cell below). No run on
# this page reaches the course outline's
# 90%<!-- source: course outline, lesson 05 --> goal: this page's run is width 8 on a CPU,
# and the
# 89.3%<!-- source: benchmarks/RESULTS.md, H200 run of 2026-12-04, torch 2.11.0 --> that
# Appendix E quotes for width 64 on a GPU came from an older version of this lesson.
# Appendix A shows the ideas of `FastNet`, after airbench, without training it; by the
# course benchmark's figures, quoted there, it trained in a few minutes on a CPU.


# %%
on_gpu = device.type == "cuda"
resnet_width = 64 if on_gpu else 8  # also exercise 2's largest width
if on_gpu:
    resnet_epochs = full_or_smoke(full=16, smoke=1)  # lower it if too slow (Appendix E)
else:
    resnet_epochs = full_or_smoke(full=3, smoke=1)
network_name = f"ResNet-9, width {resnet_width}"
print(f"{network_name}, epochs: {resnet_epochs}")
peak_rate = 0.01  # one-cycle's peak learning rate (exercise 2's and Appendix D's too)
# The sample: the first 3,000 training images, which the exercises and Appendix D train on.
sample_size = full_or_smoke(full=3_000, smoke=500)
sample_images, sample_labels = train_images[:sample_size], train_labels[:sample_size]


# %%
# (for a CUDA GPU: run it, skip reading; Appendix E explains) `build_network`, section 7's
# network: a plain float32 ResNet-9 off a CUDA GPU.
from course_utils.device import bfloat16_support


class MixedPrecisionResNet9(ResNet9):
    """ResNet-9 with its forward pass under bfloat16 autocast, as in lesson 04."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=images.device.type, dtype=torch.bfloat16):
            return super().forward(images).float()


def build_network() -> nn.Module:
    """Section 7's network, untrained: ResNet-9 of width ``resnet_width``; on a CUDA GPU in
    channels-last, under bfloat16 autocast where ``bfloat16_support`` finds the units."""
    if not on_gpu:
        return to_device(ResNet9(resnet_width), device)  # float32, the default layout
    bf16_native, bf16_reason = bfloat16_support(device)
    print(f"bfloat16 autocast: {'on' if bf16_native else 'off'} ({bf16_reason})")
    network = (MixedPrecisionResNet9 if bf16_native else ResNet9)(resnet_width)
    return to_device(network, device).to(memory_format=torch.channels_last)


# %%
# Section 6's ResNet-9 and full recipe on all the training images, on every device.
release_memory()
seed_everything(0)
network = build_network()
augmented_loader = DeviceTensorLoader(
    train_images,
    train_labels,
    batch_size=128,
    shuffle=True,
    device=device,
    generator=torch.Generator().manual_seed(0),
    transform=augment,
)
network_history = fit_one_cycle(
    resnet_epochs,
    peak_rate,
    network,
    augmented_loader,
    val_loader,
    weight_decay=1e-4,
    grad_clip=0.1,
    opt_func=torch.optim.Adam,
)

# %%
from course_utils.plotting import plot_history

training_minutes = sum(epoch["train_seconds"] for epoch in network_history) / 60
print(f"{network_name} parameters: {count_parameters(network):,}")
print(f"{network_name}, training steps: {resnet_epochs * len(augmented_loader):,}")
record_result("ResNet-9 validation accuracy", network_history[-1]["val_acc"])
record_result("ResNet-9 training minutes", round(training_minutes, 2))
print(f"{network_name} training seconds: {60 * training_minutes:.0f}")  # for section 8
plot_history(network_history, title=network_name)

# %% [markdown]
# The width-8 ResNet-9 (section 6's network, narrower) and the full recipe, trained for
# 1,056<!-- output: ResNet-9, width 8, training steps --> steps on all the training
# images, reached **74.1%**<!-- output: ResNet-9 validation accuracy --> validation
# accuracy in 88 s<!-- output: ResNet-9, width 8 training seconds --> of training on this
# CPU (one run, seed 0). In the figure, the training loss is each epoch's average over
# augmented batches in train mode, taken while the weights changed; the validation loss
# is measured on plain images after the epoch. Look at how the two compare; the next cell
# splits their difference.

# %%
# The last epoch's gap, validation loss minus training loss, in two parts that add up to
# it: the fit's own gap, the validation loss minus the loss on training images scored as
# validation is (no augmentation, eval mode), and the rest, what the subtraction leaves.
gap_count = full_or_smoke(full=5_000, smoke=500)  # training images, scored as validation is
with eval_mode(network):  # eval mode, and no gradients kept
    val_logits = torch.cat([network(normalise(b.to(device))) for b in val_images.split(250)])
    some_train = train_images[:gap_count].split(250)  # no augmentation
    train_logits = torch.cat([network(normalise(b.to(device))) for b in some_train])
train_targets = train_labels[:gap_count].to(device)
train_losses = F.cross_entropy(train_logits, train_targets, reduction="none")
val_losses = F.cross_entropy(val_logits, val_labels.to(device), reduction="none")
last_epoch = network_history[-1]
loss_gap = last_epoch["val_loss"] - last_epoch["train_loss"]  # validation minus training
fit_gap = last_epoch["val_loss"] - train_losses.mean().item()  # both plain, in eval mode
rest = loss_gap - fit_gap  # what the subtraction leaves
print(f"the gap, validation loss minus training loss, last epoch: {loss_gap:+.2f}")
print(f"the fit's own gap: {fit_gap:+.2f}")
print(f"the rest, what the subtraction leaves: {rest:+.2f}")
# The fit's own gap's standard error (SE), from the per-image losses' variances.
fit_gap_se = (train_losses.var() / len(train_losses) + val_losses.var() / len(val_losses)).sqrt()
fit_gap_se = fit_gap_se.item()
print(f"the fit's own gap, its standard error (SE): {fit_gap_se:.3f}")
if abs(fit_gap) <= 2 * fit_gap_se:
    fit_words = "within two SE of 0"
else:
    fit_words = "beyond two SE " + ("below 0" if fit_gap < 0 else "above 0")
print(f"the fit's own gap, against chance: {fit_words}")
del val_logits, train_logits, train_losses, val_losses

# %% [markdown]
# The gap was -0.08<!-- output: the gap, validation loss minus training loss, last epoch -->.
# The fit's own gap was +0.06<!-- output: the fit's own gap -->, with an SE of
# 0.019<!-- output: the fit's own gap, its standard error (SE) -->:
# **beyond two SE above 0**<!-- says: the fit's own gap, against chance -->. The rest,
# -0.14<!-- output: the rest, what the subtraction leaves -->, holds augmentation, batch
# norm's train mode and an epoch's average over improving weights; one run cannot split them.

# %% [markdown]
# **One-cycle's learning rate.** Each epoch of `network_history` keeps, under `lrs`, the
# rate of every step of that run. Look for it to climb to `peak_rate` early, then fall
# almost to 0. **By hand** (the cell after the plot): `fit_one_cycle` gives PyTorch's
# `OneCycleLR` the peak and the step count; its defaults start at peak / 25, rise along a
# cosine to the peak over the first 0.3 of the steps, then fall along a cosine to start /
# 10,000.

# %%
one_cycle_rates = [lr for epoch in network_history for lr in epoch["lrs"]]  # every step's
cycle_peak, cycle_end = one_cycle_rates.index(max(one_cycle_rates)), len(one_cycle_rates) - 1
print(
    f"one-cycle's learning rate, first step, peak, last step: {one_cycle_rates[0]:.4f} at "
    f"step 0, {one_cycle_rates[cycle_peak]:.4f} at step {cycle_peak}, "
    f"{one_cycle_rates[cycle_end]:.1e} at step {cycle_end}"
)
fig, lr_ax = plt.subplots(figsize=(6, 3), layout="constrained")
lr_ax.plot(one_cycle_rates)
lr_ax.set(xlabel="training step", ylabel="learning rate", title=f"one-cycle, {network_name}")
plt.show()

# %%
# Five of the run's steps by hand. A step's rate is low + (peak − low) / 2 · (1 + cos(π · a)):
# low is the end of its side (the start or the end), a the step's distance from the peak
# step, as a share of that side.
cycle_steps, peak_step = len(one_cycle_rates), 0.3 * len(one_cycle_rates) - 1  # as PyTorch
same = True
for step in sorted({0, cycle_steps // 4, round(peak_step), cycle_steps // 2, cycle_steps - 1}):
    rising = step <= peak_step  # the low end: the start, peak / 25, or the end, start / 1e4
    low = peak_rate / 25 / (1 if rising else 1e4)
    away = abs(step - peak_step) / (peak_step if rising else cycle_steps - 1 - peak_step)
    rate_by_hand = low + (peak_rate - low) / 2 * (1 + math.cos(math.pi * away))
    same = same and math.isclose(rate_by_hand, one_cycle_rates[step], rel_tol=1e-6)
print(f"one-cycle's rates by hand equal the schedule's: {same}")

# %% [markdown]
# **Test-time augmentation** (`TestTimeAugmentation`) averages the logits over four views:
# as it is, mirrored, shifted by a pixel (too small to see; checked below), both:

# %%
from course_utils.fastnet import TestTimeAugmentation

with_tta = TestTimeAugmentation(network)
car_views = [view.cpu() for view in with_tta.views(normalise(example_image.unsqueeze(0)))]
show_batch(
    torch.cat(car_views),
    nrow=4,
    mean=channel_mean,
    std=channel_std,
    title="the image, mirrored, shifted down and right by a pixel, both",
)

# %% [markdown]
# Are the views what they say? And by hand, the wrapper should predict their mean logits:

# %%
original, mirrored, shifted, both = car_views  # the four views drawn above
views_right = (
    torch.equal(mirrored, original.flip(-1))  # column c is the image's column 31 - c
    and torch.equal(shifted[..., 1:, 1:], original[..., :-1, :-1])  # (r + 1, c + 1) is (r, c)
    and torch.equal(both, shifted.flip(-1))  # the shifted view, mirrored
)
print(f"the views, checked by hand against the image: {views_right}")
shift_size = (shifted - original).abs().mean()  # in the channels' standard deviations
print(f"shifted view, mean size of its change from the image: {shift_size:.2f}")
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

# %% [markdown]
# Mirrored, shifted a pixel down and right, and both, as drawn:
# **True**<!-- says: the views, checked by hand against the image -->; the shift changes
# a normalised value by
# 0.40<!-- output: shifted view, mean size of its change from the image --> of its
# channel's standard deviation on average. The prediction by hand matches:
# **True**<!-- says: prediction by hand, the mean of the 4 views' logits -->.
#
# **Does it help?** Four views cost four forward passes, so the validation set decides.
# Only the *disagreements*, the n validation images that exactly one way (with or without
# the views) gets right, can move the gain. Were the views no better, each would be a coin
# toss, +1 or −1 image, so the gain would have a standard deviation of √n images. Keep
# the views only if they gain more than 2 √n images, which chance alone passes about
# 2.3%<!-- source: the normal distribution, 1 - Φ(2) = 0.0228 --> of the time.

# %%
plain_predictions, plain_truth = predict(network, val_loader)
tta_predictions, tta_truth = predict(with_tta, val_loader)
plain_right = plain_predictions == plain_truth  # True where the prediction is right
tta_right = tta_predictions == tta_truth
tta_accuracy = tta_right.float().mean().item()
record_result("validation accuracy with test-time augmentation", tta_accuracy)
gain_points = 100 * (tta_accuracy - plain_right.float().mean().item())
disagreements = (plain_right != tta_right).sum().item()
noise_points = 100 * 2 * math.sqrt(disagreements) / len(tta_right)
print(f"test-time augmentation, gain (points): {gain_points:.1f}")
print(f"validation images only one of the two gets right: {disagreements}")
print(f"noise level of the gain (two standard deviations): {noise_points:.1f} points")
final_model = with_tta if gain_points > noise_points else network
choice = "with" if final_model is with_tta else "without"
print(f"test-time augmentation, the rule's choice: predict {choice} it")

# %% [markdown]
# In this one run (seed 0) the views gained
# 1.6<!-- output: test-time augmentation, gain (points) --> points against a
# bar of 0.7<!-- output: noise level of the gain (two standard deviations) --> points
# (2 √n as points of the validation set, from n =
# 346<!-- output: validation images only one of the two gets right --> disagreements), so
# the rule chose to **predict with it**<!-- says: test-time augmentation, the rule's choice -->.
# A gain inside the bar might not repeat, so the rule can keep the lower-scoring option.

# %% [markdown]
# ## 8. The test set, once
#
# Every choice this lesson's own runs made used validation scores; section 7's recipe was
# chosen outside this lesson (Appendix D tests which of its parts short runs can detect).
# Each final model now meets the test set once: choosing by test accuracy would make it a
# second, flattering validation set. Still, the test set is not perfectly fresh: the
# course's benchmark looked at test scores of this recipe (Appendix A's last list).

# %%
from course_utils.stats import difference_se

release_memory()
# The final model's validation score: with the views, the score that chose them.
final_val_accuracy = tta_accuracy if final_model is with_tta else network_history[-1]["val_acc"]
validation_accuracy = {
    "small CNN": cnn_history[-1]["val_acc"],
    "MLP": mlp_history[-1]["val_acc"],
    network_name: final_val_accuracy,
}
test_accuracy = {}
for name, model in (("small CNN", cnn), ("MLP", mlp), (network_name, final_model)):
    model_predictions, model_truth = predict(model, test_loader)
    test_accuracy[name] = (model_predictions == model_truth).float().mean().item()
    if model is final_model:  # kept for the confusion matrix and the mistakes below
        predicted_labels, true_labels = model_predictions, model_truth
    record_result(f"{name} test accuracy", test_accuracy[name])
# The difference, test minus validation, over its standard error (SE), as in lesson 03.
print(f"{'model':19}{'validation (%)':>16}{'test (%)':>10}{'diff / SE':>10}")
beyond = []  # models whose difference is beyond two standard errors
for name, validation in validation_accuracy.items():
    test = test_accuracy[name]
    standard_error = difference_se(test, len(test_labels), validation, len(val_labels))
    difference = test - validation
    if abs(difference) > 2 * standard_error:
        beyond.append(name)
    print(
        f"{name:19}{100 * validation:16.1f}{100 * test:10.1f}{difference / standard_error:+10.2f}"
    )
verdict = f"beyond two SE for {', '.join(beyond)}" if beyond else "every difference within two SE"
print(f"test against validation: {verdict}")

# %% [markdown]
# On the test set the small CNN scored 59.6%<!-- output: small CNN test accuracy -->,
# the 2-epoch MLP 45.7%<!-- output: MLP test accuracy --> and section 7's ResNet-9
# **76.2%**<!-- output: ResNet-9, width 8 test accuracy -->; the three rows are not a comparison
# of networks (network, optimiser, batch size and training time all differ). The last
# column gives each difference in standard errors (SE, lesson 03); chance alone seldom
# gives more than two. Here:
# **every difference within two SE**<!-- says: test against validation -->.
#
# The ResNet-9's validation figure in the table,
# 75.8%<!-- output: validation accuracy with test-time augmentation -->, is its score with
# test-time augmentation: the very score the rule used to choose to
# **predict with it**<!-- says: test-time augmentation, the rule's choice -->, so that
# choice can flatter it. Its test score was measured after the choice.
#
# The final model's test confusion matrix (rows: true class, columns: predicted), and
# its three most frequent mistakes:

# %%
from course_utils.plotting import plot_confusion_matrix

matrix = confusion_matrix(predicted_labels, true_labels, num_classes=10)
mistakes = matrix.clone()
mistakes.fill_diagonal_(0)  # keep only the wrong predictions
top_pairs = [divmod(index, 10) for index in mistakes.flatten().topk(3).indices.tolist()]
for rank, (true_class, predicted_class) in enumerate(top_pairs, start=1):
    count = mistakes[true_class, predicted_class]
    pair = f"{classes[true_class]} taken for {classes[predicted_class]}"
    print(f"mistake {rank}, test images: {count} ({pair})")
plot_confusion_matrix(matrix, classes)

# %% [markdown]
# The three largest mistakes held 159<!-- output: mistake 1, test images -->,
# 151<!-- output: mistake 2, test images --> and
# 80<!-- output: mistake 3, test images --> test images. Below, up to 16 cat-dog
# confusions (titled true, predicted): what makes them hard at 32 x 32?

# %%
from course_utils.plotting import show_misclassified

cat, dog = classes.index("cat"), classes.index("dog")
cat_dog = ((true_labels == cat) & (predicted_labels == dog)) | (
    (true_labels == dog) & (predicted_labels == cat)
)
show_misclassified(
    test_images[cat_dog], true_labels[cat_dog], predicted_labels[cat_dog], classes, max_images=16
)

# %% [markdown]
# **Single images.** Normalise as the loader does, add a batch dimension, and take the
# largest logit.


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
# **Saving and reloading.** By hand, as in lesson 03: `torch.save` writes the network's
# `state_dict()` (batch norm's running averages included), and a fresh network from
# `build_network` loads it with `load_state_dict`:

# %%
import tempfile

checkpoint_folder = Path(tempfile.mkdtemp(prefix="lesson05-"))  # a temporary folder
weights_path = checkpoint_folder / "network_weights.pt"
torch.save(network.state_dict(), weights_path)
reloaded_by_hand = build_network()
reloaded_by_hand.load_state_dict(torch.load(weights_path, weights_only=True))
saved_weights, reloaded_weights = network.state_dict(), reloaded_by_hand.state_dict()
same_weights = all(
    torch.equal(saved_weights[name], reloaded_weights[name]) for name in saved_weights
)
print(f"weights reloaded by hand equal the saved ones: {same_weights}")
del reloaded_by_hand, saved_weights, reloaded_weights

# %% [markdown]
# `save_checkpoint` adds the network's name, the classes and the accuracy. The test-time
# wrapper has no weights, so the checkpoint records whether to wrap the reloaded network.

# %%
from course_utils.checkpoint import load_checkpoint, save_checkpoint

checkpoint_path = checkpoint_folder / "network.pt"
save_checkpoint(
    checkpoint_path,
    network,
    epoch=len(network_history),
    network=network_name,
    classes=classes,
    val_accuracy=network_history[-1]["val_acc"],  # the network alone, one view per image
    test_time_augmentation=final_model is with_tta,  # how the final model predicts
    val_accuracy_with_tta=tta_accuracy,
)
reloaded = build_network()
saved = load_checkpoint(checkpoint_path, reloaded)
print(
    f"{saved['network']}, saved after epoch {saved['epoch']} with validation accuracy "
    f"{saved['val_accuracy']:.2%}"
)
# The reloaded network's prediction for each validation image, against the saved network's
# (section 7's plain_predictions).
reloaded_predictions, _ = predict(reloaded, val_loader)
reload_words = "identical" if torch.equal(reloaded_predictions, plain_predictions) else "different"
print(f"reloaded network's validation predictions, against the saved one's: {reload_words}")
print(
    f"saved setting, predict with test-time augmentation: {saved['test_time_augmentation']} "
    f"(validation accuracy with it {saved['val_accuracy_with_tta']:.2%})"
)

# %% [markdown]
# Reloaded, its predictions on the validation images came out
# **identical**<!-- says: reloaded network's validation predictions, against the saved one's -->
# to the saved network's.

# %% [markdown]
# ## Summary
#
# - **Shapes.** A convolution or a pooling outputs ⌊(n + 2p − k) / s⌋ + 1 pixels a side;
#   a convolution gives one channel per filter, a pooling keeps the channels. A
#   convolution reuses its small filters at every position: a linear layer with the same
#   inputs and outputs needs about
#   41,405<!-- output: linear parameters per convolution parameter --> times its weights.
# - **Why the CNN beats the MLP.** In this run (seed 0; same epochs, batches and rate)
#   the small CNN led the MLP by
#   **+13.0**<!-- output: CNN's lead over the MLP in points (below 0 if the MLP leads) -->
#   points. Shuffling the pixel positions scrambles neighbourhoods; it turned the lead into
#   -3.2<!-- output: CNN's lead with shuffled pixels in points (below 0 if the MLP leads) -->
#   points (one seed per model). For an MLP the shuffle only reorders its inputs, which its
#   first layer could match (not checked).
# - **Batch norm's two modes.** Train mode normalises each channel with the batch's own
#   mean and variance and moves running averages a tenth of the way towards them; eval
#   mode uses the running averages, so an image's output does not depend on its batch.
# - **Residual blocks** output `x + f(x)`: the added `x` is a path for the gradient past
#   `f` (section 6 measured it at initialisation, in a stack without batch norm).
# - **Augmentation.** Random crops after padding by 4 and flips give each image 162
#   possible views, so memorising should pay less; exercise 1 removes it and looks for
#   overfitting.
# - **Adam and one-cycle.** Adam scales each weight's step by its own gradient history;
#   one-cycle raises the rate to a peak, then lowers it almost to 0. Both were checked by
#   hand against PyTorch.
# - **ResNet-9 on this CPU.** Width 8 with the full recipe, 3 epochs on all the training
#   images: **74.1%**<!-- output: ResNet-9 validation accuracy --> on validation in
#   88 s<!-- output: ResNet-9, width 8 training seconds --> of training (one run).
#   Test-time augmentation was chosen on validation
#   (75.8%<!-- output: validation accuracy with test-time augmentation --> with it): the
#   rule chose to **predict with it**<!-- says: test-time augmentation, the rule's choice -->.
# - **The test set, once.** The small CNN
#   59.6%<!-- output: small CNN test accuracy -->, the MLP
#   45.7%<!-- output: MLP test accuracy --> and ResNet-9
#   **76.2%**<!-- output: ResNet-9, width 8 test accuracy -->; not a comparison of networks
#   (network, optimiser, batch size and training time all differ). Validation, not the test
#   set, made this lesson's choices; the recipe and FastNet's settings came from the
#   course's benchmark, which saw test scores (section 8, Appendix A).
# - Which of the recipe's parts a short run can detect, read seed by seed: Appendix D.

# %% [markdown]
# ## Exercises
#
# Both exercises train on the *sample*, the first 3,000 training images (section 7's
# first cell), and compare models on the validation set, never the test set. Each stands
# alone.
#
# After each exercise, run its check cell: it reports not attempted yet, not right yet
# (and what it found), or passed (and what it checked). The lines under
# `if check_exercise(...)` run only on a pass (exercise 1 keeps the check's result as
# `exercise_1_passed` for its next two cells).

# %% [markdown]
# **Exercise 1: remove augmentation and watch overfitting.** Train section 4's small CNN
# twice on the sample's first `overfit_size` images for `overfit_epochs` epochs: once on
# augmented batches (`augment`), once on plain normalised ones (`normalise`). Change
# nothing else:
# - `seed_everything(0)` right before building each model;
# - batches of 64 from a loader with its own generator, seeded 0;
# - section 4's optimizer (`sgd_momentum`) at a learning rate of 0.02;
# - one call of `fit` per run, with the validation set.
#
# Write one run inside the loop two cells below; its comment names the variables the
# check reads. The cells after it plot the losses, print each run's figures and score both
# models on equal terms.

# %%
overfit_size = full_or_smoke(full=1_250, smoke=500)  # exercise 1's images
overfit_epochs = full_or_smoke(full=15, smoke=2)
print(f"overfit_size {overfit_size}, overfit_epochs {overfit_epochs}")

# %%
# The dicts the check reads, keyed "augmented" and "plain", and the loop that fills them,
# one run per transform. Inside the loop, name the run's parts as the lines after it
# expect: `model`, `start` (a copy of its weights before training,
# copy.deepcopy(model.state_dict())), `loader`, `lr` (its learning rate) and `history`
# (what `fit` returns).
overfit_histories, overfit_models, overfit_starts = {}, {}, {}
overfit_loaders, overfit_lrs = {}, {}
for label, transform in (("augmented", augment), ("plain", normalise)):
    print(f"-- {label} batches")
    ### BEGIN SOLUTION
    # Hint: seed 0, a new SmallCnn, a copy of its state_dict, a DeviceTensorLoader, fit
    seed_everything(0)
    model = to_device(SmallCnn(), device)
    start = copy.deepcopy(model.state_dict())  # before any training
    loader = DeviceTensorLoader(
        sample_images[:overfit_size],
        sample_labels[:overfit_size],
        batch_size=64,
        shuffle=True,
        device=device,
        generator=torch.Generator().manual_seed(0),  # the same batches for both runs
        transform=transform,
    )
    lr = 0.02
    history = fit(overfit_epochs, lr, model, loader, val_loader, opt_func=sgd_momentum)
    ### END SOLUTION
    overfit_models[label], overfit_starts[label], overfit_loaders[label] = model, start, loader
    overfit_lrs[label], overfit_histories[label] = lr, history

# %%
from course_utils.curves import overfitting_summary, wrong_answers

exercise_1_passed = check_exercise(
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
)
if exercise_1_passed:  # the next two cells run only on a pass too
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), sharey=True)
    for ax, (label, history) in zip(axes, overfit_histories.items(), strict=True):
        epochs = range(1, len(history) + 1)
        ax.plot(epochs, [epoch["train_loss"] for epoch in history], "o-", label="training loss")
        ax.plot(epochs, [epoch["val_loss"] for epoch in history], "o-", label="validation loss")
        ax.set(title=f"small CNN, {label} batches", xlabel="epoch")
        ax.legend()
    axes[0].set_ylabel("cross-entropy")
    plt.show()

# %%
if exercise_1_passed:
    print(f"epochs in each run: {overfit_epochs}")
    # Each run's figures. Its rise: the last 3 epochs' mean validation loss (fewer if the run
    # has fewer) minus the lowest, a mean so that one epoch's wobble does not set it alone.
    runs = {label: overfitting_summary(history) for label, history in overfit_histories.items()}
    for label, run in runs.items():  # one line for each figure that the text quotes
        print(f"{label}, final validation loss: {run['final_val_loss']:.2f}")
        print(f"{label}, lowest validation loss at epoch: {run['lowest_epoch']}")
        rise_line = (
            f"{label}, rise, last {run['averaged']} epochs' mean validation loss minus lowest"
        )
        print(f"{rise_line}: {run['rise']:.2f}")
        print(f"{label}, final validation accuracy: {run['final_val_acc']:.4f}")
    plain = runs["plain"]
    print(f"plain, final training loss: {plain['final_train_loss']:.2f}")
    print(f"plain, lowest validation loss: {plain['lowest_val_loss']:.2f}")
    print(f"plain, validation accuracy at that epoch: {plain['val_acc_at_lowest']:.4f}")
    held = runs["plain"]["final_val_acc"] - runs["plain"]["val_acc_at_lowest"]  # fractions
    if abs(held) <= 0.01:
        held_words = "within 1 point"
    else:
        held_words = ("higher" if held > 0 else "lower") + " by more than 1 point"
    print(f"plain, final accuracy against that at the lowest loss: {held_words}")
    rise_words = "larger" if runs["plain"]["rise"] > runs["augmented"]["rise"] else "not larger"
    print(f"rise, the plain run's against the augmented run's: {rise_words}")

# %%
from course_utils import evaluate

if exercise_1_passed:
    # The training losses above were measured on the batches each run trained on: flipped
    # and shifted for one, plain for the other. Score both trained models the same way, on
    # their own training images without augmentation.
    own_images = DeviceTensorLoader(
        sample_images[:overfit_size],
        sample_labels[:overfit_size],
        batch_size=250,
        device=device,
        transform=normalise,
    )
    own_losses, gaps = {}, {}
    for label, trained in overfit_models.items():
        own = own_losses[label] = evaluate(trained, own_images)["val_loss"]
        gap = gaps[label] = overfit_histories[label][-1]["val_loss"] - own
        print(f"{label}, loss on its training images without augmentation: {own:.2f}")
        print(f"{label}, final validation loss minus that: {gap:.2f}")
    fitted_words = "higher" if own_losses["augmented"] > own_losses["plain"] else "not higher"
    print(f"loss on its own images, the augmented model's against the plain's: {fitted_words}")
    gap_words = "larger" if gaps["plain"] > gaps["augmented"] else "not larger"
    print(f"validation minus own-image loss, plain model against augmented: {gap_words}")
    wrong = {}  # each model's wrong validation answers: mean confidence and mean loss
    for label, trained in overfit_models.items():
        answers = wrong[label] = wrong_answers(trained, val_loader)
        print(f"{label}, mean confidence on wrong validation answers: {answers['confidence']:.2f}")
        print(f"{label}, mean loss on wrong validation answers: {answers['loss']:.2f}")
    surer = wrong["plain"]["confidence"] > wrong["augmented"]["confidence"]
    surer_words = "higher" if surer else "not higher"
    print(f"confidence on wrong answers, plain model against augmented: {surer_words}")
    costlier = wrong["plain"]["loss"] > wrong["augmented"]["loss"]
    costlier_words = "higher" if costlier else "not higher"
    print(f"mean loss on wrong answers, plain model against augmented: {costlier_words}")

# %% [markdown] tags=["solution"]
# **What the result means.** Without augmentation the network sees the same 1,250 images
# every epoch and can learn them by heart. In the right panel, look for the training loss
# still falling while the validation loss, past its lowest point, climbs and stays up:
# overfitting. Here the plain run's training loss ended at
# 0.56<!-- output: plain, final training loss -->; its validation loss was lowest at
# epoch 10<!-- output: plain, lowest validation loss at epoch -->, at
# 1.70<!-- output: plain, lowest validation loss -->, and ended at
# 2.39<!-- output: plain, final validation loss -->. With augmentation (left panel) the
# validation loss ended at 1.61<!-- output: augmented, final validation loss -->, its lowest
# at epoch 15<!-- output: augmented, lowest validation loss at epoch --> of
# 15<!-- output: epochs in each run -->.
#
# The two training losses were measured on different batches (one run's flipped and
# shifted). On equal terms, each model scored on its own 1,250 training images without
# augmentation, the augmented model's loss was
# **higher**<!-- says: loss on its own images, the augmented model's against the plain's -->:
# 1.33<!-- output: augmented, loss on its training images without augmentation -->
# against 0.36<!-- output: plain, loss on its training images without augmentation -->.
# Validation minus that loss, the *generalisation gap*, was
# **larger**<!-- says: validation minus own-image loss, plain model against augmented -->
# for the plain model (2.03<!-- output: plain, final validation loss minus that -->
# against 0.28<!-- output: augmented, final validation loss minus that -->).
#
# The plain run's validation loss rose after its lowest point; its final accuracy, against
# that at the lowest loss, was
# **within 1 point**<!-- says: plain, final accuracy against that at the lowest loss -->:
# 39.6%<!-- output: plain, validation accuracy at that epoch --> at that epoch,
# 40.1%<!-- output: plain, final validation accuracy --> at the end. The loss also punishes
# confidence (*confidence*: the softmax probability the model gave its wrong prediction):
# the plain model was surer on its wrong validation answers than the augmented one (mean
# confidence
# **higher**<!-- says: confidence on wrong answers, plain model against augmented -->:
# 0.65<!-- output: plain, mean confidence on wrong validation answers --> against
# 0.42<!-- output: augmented, mean confidence on wrong validation answers -->), and they
# cost it more (mean loss
# **higher**<!-- says: mean loss on wrong answers, plain model against augmented -->:
# 3.77<!-- output: plain, mean loss on wrong validation answers --> against
# 2.32<!-- output: augmented, mean loss on wrong validation answers -->).
#
# Each model is one run from one seed; other seeds were not run. From these runs the final
# accuracies, 42.9%<!-- output: augmented, final validation accuracy --> (augmented)
# and 40.1%<!-- output: plain, final validation accuracy --> (plain), do not say which
# scores higher.

# %% [markdown]
# **Exercise 2: change the width.** Train ResNet-9 at a quarter, half and all of
# `resnet_width` (the largest width this device trains here: 8 on a CPU, as in section
# 7; 64 on a GPU) on the sample, with augmentation, for `width_epochs` epochs, from each
# seed in `width_seeds` (0, 1 and 2):
# - with the lesson's `fit_one_cycle` settings: batches of 128, Adam, one learning rate
#   (peak 0.01) at every width, not tuned per width, weight decay 1e-4, clipping at 0.1,
#   each epoch measured on the validation set;
# - `seed_everything(seed)` right before building each model;
# - the same order of batches for every width within a seed: each loader with its own
#   generator, seeded `seed`.
#
# Write one run inside the inner loop two cells below; its comment names the variables
# the check reads. The cell after it, on a pass, prints each width's parameters, final
# validation accuracies and training seconds in the second epoch (seed 0's run; the epoch
# lines' seconds also include validation), then reads each change between widths within
# each seed, by a rule for few seeds (Appendix D explains and checks it): subtract two
# widths' final accuracies seed by seed; the change is *shown*, up or down, when the mean
# of those changes is more than t standard errors (SE: their SD / √3) from 0, with t from
# the t-table (printed), and *undecided* otherwise. How do the widths' figures change with
# the width?

# %%
width_epochs = full_or_smoke(full=2, smoke=1)
width_seeds = (0, 1, 2)  # every width from each seed; seed 0's runs are the ones kept
print(f"resnet_width {resnet_width}, width_epochs {width_epochs}, width_seeds {width_seeds}")

# %%
# The dicts the check reads, keyed by width, and the loops that fill them: seed 0's runs
# whole, and each width's final validation accuracy from every seed (seed 0 first). Inside
# the inner loop, name the run's parts as the lines after it expect: `run_model`,
# `run_start` (a copy of its weights before training), `run_loader`, `run_history` and
# `run_final` (its final validation accuracy).
width_histories, width_models, width_starts, width_loaders, width_finals = {}, {}, {}, {}, {}
for seed in width_seeds:
    for width in (resnet_width // 4, resnet_width // 2, resnet_width):
        if seed == 0:
            print(f"-- width {width}")
        ### BEGIN SOLUTION
        # Hint: seed, ResNet9(width), copy its state_dict, a loader seeded `seed`, fit_one_cycle
        seed_everything(seed)
        run_model = to_device(ResNet9(width), device)
        run_start = copy.deepcopy(run_model.state_dict())  # before any training
        run_loader = DeviceTensorLoader(
            sample_images,
            sample_labels,
            batch_size=128,
            shuffle=True,
            device=device,
            generator=torch.Generator().manual_seed(seed),  # the same batches for every width
            transform=augment,
        )
        run_history = fit_one_cycle(
            width_epochs,
            0.01,
            run_model,
            run_loader,
            val_loader,
            weight_decay=1e-4,
            grad_clip=0.1,
            opt_func=torch.optim.Adam,
            verbose=seed == 0,  # epoch lines for seed 0's runs only
        )
        run_final = run_history[-1]["val_acc"]
        ### END SOLUTION
        width_finals.setdefault(width, []).append(run_final)
        if seed == 0:  # the runs the check inspects
            width_histories[width], width_models[width] = run_history, run_model
            width_starts[width], width_loaders[width] = run_start, run_loader
    print(f"finished seed {seed}, all widths")

# %%
import itertools

from course_utils.stats import T_95, paired_changes

if check_exercise(
    2,
    width_histories=width_histories,
    width_models=width_models,
    width_starts=width_starts,
    width_loaders=width_loaders,
    width_finals=width_finals,
    width_epochs=width_epochs,
    resnet_width=resnet_width,
    model_class=ResNet9,
    augment=augment,
    val_loader=val_loader,
    sample_size=sample_size,
    sample_images=sample_images,
    sample_labels=sample_labels,
):
    for width, history in width_histories.items():
        by_seed = ", ".join(f"{accuracy:.4f}" for accuracy in width_finals[width])
        print(f"width {width}, parameters: {count_parameters(width_models[width])}")
        print(f"width {width}, validation accuracy by seed: {by_seed}")
        mean_accuracy = statistics.mean(width_finals[width])
        print(f"width {width}, mean validation accuracy: {mean_accuracy:.4f}")
        if len(history) > 1:  # one epoch's training seconds (the epoch lines: both epochs)
            seconds = history[1]["train_seconds"]
            print(f"width {width}, training seconds, second epoch: {seconds:.2f}")
    # Appendix D's rule: each pair of widths compared within each seed (same seed, same
    # batch order), the changes' mean against t x SE, the SE from the changes themselves.
    names = {width: f"width {width}" for width in sorted(width_finals)}
    width_changes = paired_changes(
        {names[width]: accuracies for width, accuracies in width_finals.items()},
        {
            f"{names[low]} to {high}": (names[low], names[high])
            for low, high in itertools.combinations(names, 2)
        },
    )
    for what, row in width_changes.items():
        changes = ", ".join(f"{change:+.2f}" for change in row["changes"])
        print(f"{what}, accuracy change by seed (points): {changes}")
        print(
            f"{what}, mean accuracy change (points): {row['mean']:+.2f}, SE {row['se']:.2f}, "
            f"t x SE {row['needed']:.2f}, {row['rule_word']}"
        )
    width_df = len(width_seeds) - 1  # three paired changes per row: 2 degrees of freedom
    print(f"t for {width_df} degrees of freedom: {T_95[width_df]:.2f}")
    width_shown = [
        f"{what} ({row['rule_word']})"
        for what, row in width_changes.items()
        if row["rule_word"] != "undecided"
    ]
    print(f"width changes the rule shows: {', '.join(width_shown) or 'none'}")
    width_one_way = [  # undecided, though every seed moved the same way (as in Appendix D)
        what
        for what, row in width_changes.items()
        if row["rule_word"] == "undecided" and row["one_way"]
    ]
    one_way_words = ", ".join(width_one_way) or "none"
    print(f"undecided width changes whose seeds all moved one way: {one_way_words}")

# %% [markdown] tags=["solution"]
# **What the result means.** Each doubling of the width nearly quadruples the
# parameters, from 6,772<!-- output: width 2, parameters --> at width 2 to
# 103,954<!-- output: width 8, parameters --> at width 8, since every convolution after
# the first has twice the channels in and out. On this CPU the second epoch's training
# took
# 0.95 s<!-- output: width 2, training seconds, second epoch --> at width 2 and
# 2.23 s<!-- output: width 8, training seconds, second epoch --> at width 8, in seed 0's
# run, timed once per width. The epoch lines above give both epochs' seconds, validation
# included. Look for the seconds to grow far less than the parameters. Python's fixed
# cost per step is one possible reason; it was not measured.
#
# Mean validation accuracy over the three seeds was
# 27.20%<!-- output: width 2, mean validation accuracy --> at width 2,
# 35.49%<!-- output: width 4, mean validation accuracy --> at 4 and
# 38.75%<!-- output: width 8, mean validation accuracy --> at 8. The rule reads each
# change seed by seed, with the SE from its three changes and t at
# 4.30<!-- output: t for 2 degrees of freedom -->. The mean change was
# +8.29<!-- output: width 2 to 4, mean accuracy change (points) --> points from width 2 to
# 4, +3.26<!-- output: width 4 to 8, mean accuracy change (points) --> from 4 to 8 and
# +11.55<!-- output: width 2 to 8, mean accuracy change (points) --> from 2 to 8; each
# line also prints the bar it had to pass, t x SE. The width changes the rule shows:
# **width 2 to 4 (up), width 2 to 8 (up)**<!-- says: width changes the rule shows -->.
# Undecided changes whose seeds all moved one way:
# **width 4 to 8**<!-- says: undecided width changes whose seeds all moved one way -->.
# The rule asks for a mean beyond t x SE, not for seeds that agree. In an undecided line
# whose seeds all moved one way, look for one seed far from the others: it widens the SE,
# and with two degrees of freedom the bar is
# 4.30<!-- output: t for 2 degrees of freedom --> times the SE. An undecided change is one
# that three seeds could not tell; it may still have an effect. A shown change holds for
# these short runs on the sample, at one learning rate (0.01) for every width. Longer
# training was not tested.

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
# **(b).** A convolution's parameters are its filters, 16 · (5 · 5 · 3 + 1) = 1,216,
# with no image size in the count: each filter slides one 5 x 5 patch at a time over
# every position. A linear layer needs a weight per pair of input and output values:
# section 3 printed 50,348,032 for 32 x 32; at 64 x 64 its weights would grow 4 x 4 = 16
# times: four times the inputs and four times the outputs.

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
# Section 4 printed (1, 32, 8, 8) after the two blocks: 32 channels of 8 x 8, the 2,048
# features the linear layers classify.

# %% [markdown]
# **Question 3.** The cell after exercise 1's check printed each run's *rise*: its last
# three epochs' mean validation loss minus its lowest. A lasting rise, while the training loss keeps
# falling, is what overfitting looks like; a one-epoch spike that falls back moves that
# mean little. In this run the plain run's rise was
# 0.53<!-- output: plain, rise, last 3 epochs' mean validation loss minus lowest -->, its
# training loss ending at 0.56<!-- output: plain, final training loss -->; the augmented
# run's rise was
# 0.03<!-- output: augmented, rise, last 3 epochs' mean validation loss minus lowest -->.
# Why can a run without augmentation show a lasting rise, which augmentation is
# meant to prevent?
#
# - (a) Seeing the same unaltered images every epoch, the network began to learn them
#   by heart, details that do not hold for new images; augmented images differ every
#   epoch, so memorising pays less.
# - (b) The learning rate rose after the lowest point.
# - (c) The validation images were augmented in the augmented run, which made them
#   easier.
# - (d) A rising validation loss always means falling validation accuracy, so the loss
#   rose only because the run classified worse.

# %% tags=["nbval-check-output"]
### BEGIN SOLUTION
# Hint: which run sees the very same pictures every epoch, and what can it memorise?
answer_q3 = "a"
### END SOLUTION
check_exercise("Q3", answer_q3=answer_q3)

# %% [markdown] tags=["solution"]
# **(a).** A lasting rise while the training loss falls means the network has begun to
# fit details of its own images that do not hold for new ones. Without augmentation it
# saw the same 1,250 pictures every epoch and could learn them by heart; random crops
# and flips give each image 162 possible views, so fitting the training images exactly
# pays less. A one-epoch spike is another thing: the next epochs fall back, and the mean
# over three epochs keeps it from passing for a lasting rise. Here the plain run's rise
# was **larger**<!-- says: rise, the plain run's against the augmented run's --> than the
# augmented run's, in one run each: another seed could narrow or widen the contrast. The
# accuracies can tell a different story from the losses: watch both.

# %% [markdown]
# **Question 4.** Section 6 passed one batch whose channels have means of about 2
# through a fresh `BatchNorm2d`. In train mode the output's channel means were 0.0;
# right after, in eval mode, the same batch came out with channel means near 1. Why do
# the two modes differ?
#
# - (a) Eval mode switches normalisation off.
# - (b) The layer has a different learned scale and shift in eval mode.
# - (c) Eval mode adds random noise, as dropout does in train mode.
# - (d) Train mode uses the batch's own mean and spread; eval mode uses running
#   averages, which one batch moved only a tenth of the way.

# %% tags=["nbval-check-output"]
### BEGIN SOLUTION
# Hint: section 6's cell on batch normalisation: what statistics does each mode use?
answer_q4 = "d"
### END SOLUTION
check_exercise("Q4", answer_q4=answer_q4)

# %% [markdown] tags=["solution"]
# **(d).** Train mode normalises with the batch's own statistics, so the batch comes out
# centred on 0, and moves the running means a tenth of the way towards the batch's: from
# 0 to about 0.2, and the running variances a tenth of the way from 1 towards the batch's.
# Eval mode uses those running averages, so a prediction does not depend on the other
# images in its batch; after one batch both are far from the batch's: the means too small
# to centre it, the variances too small to scale it down enough, hence channel means near 1.

# %% [markdown]
# ## Appendix A: a faster network: FastNet and airbench's ideas
#
# *Optional: read after the exercises.*
#
# `FastNet` (in `course_utils.fastnet`) is a small CNN after Keller Jordan's *airbench*
# (arXiv 2404.00498), which, by the course benchmark's figures (quoted at the end),
# trains in a few minutes on a CPU. This lesson does not train it: no demonstration below
# trains a `FastNet`, and what its ideas were worth comes from the benchmark's runs,
# quoted at the end (benchmark machine, not this run). It keeps ResNet-9's 3 x 3 convolutions, batch
# norm and max-pooling. Its changes, each with its aim:
# - *patch whitening*: a first layer of 2 x 2 filters computed from the pixels'
#   *covariance* (how two values vary together, as neighbouring pixels do), never
#   trained: it hands the next layer uncorrelated inputs from the first step;
# - *identity initialisation* instead of residual additions: each convolution's first
#   output channels start as copies of its input, the rest random, to let the stack train
#   from the start as residual blocks do;
# - batch norm with its scale fixed at 1 (fewer weights for the optimizer to move), its
#   running averages moving 0.4 of the way to each batch's statistics, not PyTorch's 0.1
#   (to keep up with a network that changes fast);
# - *GELU*, a smooth ReLU: lets small negative values and their gradients through;
# - an image that shrinks sooner, through narrower stages (32, 64 and 128 channels,
#   against ResNet-9's 64 to 512): we expect less computation per image (not counted);
# - logits divided by 9: an untrained network predicts almost evenly;
# - *label smoothing* at 0.2: targets of 0.82 for the right class and 0.02 for each
#   other, not 1 and 0, to keep predictions from being pushed ever closer to certainty;
# - channels-last weights and batches, each pixel's channels side by side in memory: to
#   speed up training;
# - `fit_fast`'s peak learning rate of 2.0, up and back down in a triangle: big steps for
#   weights whose size batch norm ignores, a gentle start, a settled end; with SGD's
#   *Nesterov* momentum 0.85, and weight decay 5e-4 on the weights only;
# - *test-time augmentation*: logits averaged over four views of each image (section 7
#   uses it on ResNet-9, where its rule decides whether to keep it).
#
# Most of these choices come from airbench, and whether they help is not measured here.
# The benchmark's evidence is thin: for patch whitening it reported
# +0.95 points<!-- source: benchmarks/RESULTS.md, 3 seeds, validation split --> on
# validation over 3 seeds (one run of its script, benchmark machine: a quoted figure, not
# read with Appendix D's rule); identity initialisation had one seed, and the fixed scale's
# 3 seeds with and without it overlapped (no conclusion either way; both from the same
# section of `benchmarks/RESULTS.md`, "The airbench ideas, one at a time", runs of
# `benchmarks/cifar10_cpu.py --without IDEA`); channels-last was timed on random data.
# Not tested at all: the benchmark's batches of 512 with `drop_last` (each epoch leaves
# out its last, smaller batch; batch sizes were timed on random data), crops after
# padding by 2 pixels, not 4, and batch norm's `eps=1e-12` and the final layer's missing
# bias.
#
# **How `FastNet` was chosen.** The benchmark chose `FastNet` over a width-16 ResNet-9 on
# the validation split, from one seed each, in runs that also differed in epochs and
# test-time augmentation: not a one-change comparison (the benchmark's figures end this
# appendix).
#
# **Its layers.** `FastNet` is a 2 x 2 *patch whitening* layer, three *conv groups* and a
# linear layer. An untrained copy, `fast_demo`, its whitening set from 500 training
# images: its layers, then one image's shape after each stage:

# %%
from course_utils.fastnet import FastNet

release_memory()
seed_everything(0)  # fast_demo's weights, whatever ran before
fast_demo = to_device(FastNet(), device)  # untrained, with the benchmark's settings
whitening_images = normalise(train_images[:500].to(device))
fast_demo.whiten_from(whitening_images)
for name, layer in fast_demo.named_modules():
    if not list(layer.children()):  # a layer, not a container of layers
        print(f"{name:10} {layer}")
print(f"FastNet parameters: {count_parameters(fast_demo):,}")
with eval_mode(fast_demo):
    features = fast_demo.whiten(whitening_images[:1])
    print("after the 2 x 2 whitening layer:", tuple(features.shape))
    for number, group in enumerate(fast_demo.groups, start=1):
        features = group(features)
        print(f"after conv group {number}:", tuple(features.shape))
print(f"fast_demo, 1 / output_scale: {1 / fast_demo.output_scale:g}")  # forward's divisor

# %% [markdown]
# `FastNet` has
# 295,096<!-- output: FastNet parameters --> parameters. The whitening layer's 24
# channels start with 12 filters (a 2 x 2 patch of 3 colours is 12 numbers); unpadded, it
# gives (32 − 2) / 1 + 1 = 31 pixels a side (section 3). Each group's pooling halves the
# size, rounding down: 15, 7, 3. In `forward`, `amax` takes each channel's largest value
# and `output_scale` divides the logits by
# 9<!-- output: fast_demo, 1 / output_scale -->:

# %% tags=["nbval-check-output"]
import inspect

print(inspect.getsource(FastNet.forward))

# %% [markdown]
# Below, its ideas one at a time on `fast_demo`, then what the course's benchmark
# measured. First, the `forward` written out by hand, on eight images:

# %%
with eval_mode(fast_demo):
    probe_batch = whitening_images[:8]
    features = fast_demo.groups(F.gelu(fast_demo.whiten(probe_batch)))
    logits_by_hand = fast_demo.head(features.amax(dim=(2, 3))) * fast_demo.output_scale
    same = torch.allclose(logits_by_hand, fast_demo(probe_batch), rtol=1e-4, atol=1e-5)
print(f"FastNet's forward by hand equals FastNet's: {same}")
del probe_batch, features, logits_by_hand

# %% [markdown]
# Equal: **True**<!-- says: FastNet's forward by hand equals FastNet's -->.
#
# **A `ConvGroup`, written out.** Each of the three groups chains an
# identity-initialised 3 x 3 convolution, a 2 x 2 max-pool, the shift-only batch norm
# and GELU, then a second convolution, batch norm and GELU. Here the first group is
# written with `torch.nn.functional` calls on its own weights, in training mode (each
# batch norm uses the batch's statistics), and compared with the group itself, on a
# copy so that `fast_demo`'s running statistics stay as they were:

# %%
group = copy.deepcopy(fast_demo.groups[0]).train()
first_conv, _, first_norm, _, second_conv, second_norm, _ = group  # the 7 layers in order
with torch.no_grad():
    group_input = F.gelu(fast_demo.whiten(whitening_images[:64]))  # what the group receives
    x = F.conv2d(group_input, first_conv.weight, padding=1)  # 3 x 3, no bias
    x = F.max_pool2d(x, 2)  # the largest of each 2 x 2 block: half the height and width
    x = F.batch_norm(x, None, None, first_norm.weight, first_norm.bias, True, eps=first_norm.eps)
    x = F.conv2d(F.gelu(x), second_conv.weight, padding=1)
    x = F.batch_norm(x, None, None, second_norm.weight, second_norm.bias, True, eps=second_norm.eps)
    group_by_hand, from_group = F.gelu(x), group(group_input)
print(f"into the group: {tuple(group_input.shape)}, out of it: {tuple(from_group.shape)}")
same = torch.allclose(group_by_hand, from_group, rtol=1e-4, atol=1e-4)
print(f"the first ConvGroup's output equals the one by hand: {same}")
del group, group_input, x, group_by_hand, from_group

# %% [markdown]
# **Patch whitening.** A 2 x 2 patch of 3 colours is 12 numbers. Neighbouring pixels and
# colours are strongly correlated, so the numbers vary a lot along a few directions and
# hardly at all along others (for two neighbouring pixels that move together, their sum
# varies a lot, their difference little). `whiten_from` finds the 12 directions as the
# eigenvectors of the training patches' covariance (each at right angles to the others;
# the covariance's eigenvalues are the variances along them) and turns each into a filter
# that measures it, divided by the spread along it. It stacks these 12 filters and a copy
# with every weight's sign flipped (`torch.cat([filters, -filters])`, so that the GELU after
# them keeps both signs) as the first layer's weights, `whiten.weight`, never trained.
# On their source images the 12 outputs should be uncorrelated, with variance about 1
# except along the weakest directions, which a small constant (`eps`) damps. `F.unfold`
# cuts out every 2 x 2 patch; each row of `patches` is one patch's 12 numbers:

# %%
with torch.no_grad():  # fast_demo and whitening_images: this appendix's
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
# By hand, as whiten_from does it, on the CPU in float64 (PyTorch's MPS backend has no
# float64): the eigenvalues of the patches' covariance are their variances along the 12
# directions (weakest first), and each filter is an eigenvector divided by
# sqrt(eigenvalue + eps).
eps = inspect.signature(FastNet.whiten_from).parameters["eps"].default
eigenvalues, eigenvectors = torch.linalg.eigh(torch.cov(patches.T.cpu().double()))
print("patches, variance along each direction:", " ".join(f"{v:.1e}" for v in eigenvalues))
spread_of_directions = (eigenvalues[-1] / eigenvalues[0]).item()
print(f"patches, strongest direction's variance / weakest's: {spread_of_directions:,.0f}")
by_hand = (eigenvalues / (eigenvalues + eps)).float()  # each output's variance
print(f"whitened variances equal λ / (λ + eps): {torch.allclose(by_hand, variances, atol=0.01)}")
filters = (eigenvectors / torch.sqrt(eigenvalues.clamp_min(0) + eps)).T
layer = fast_demo.whiten.weight[:12].detach().cpu().double().reshape(12, 12)
signs = (filters * layer).sum(dim=1).sign().unsqueeze(1)  # an eigenvector's sign is free
same_filters = torch.allclose(filters * signs, layer, rtol=1e-3, atol=1e-3)
print(f"whiten's 12 filters equal the ones by hand: {same_filters}")
del patches, whitened  # the lesson needs their 12 x 12 summaries only
fig, axes = plt.subplots(1, 2, figsize=(9.6, 3.6), layout="constrained")
matrices = (
    ("2 x 2 patches: correlation", patch_correlation, "value in the patch (R 0-3, G 4-7, B 8-11)"),
    ("whitened: covariance", whitened_covariance, "filter (0: weakest direction, 11: strongest)"),
)
for side, ax, (title, matrix, label) in zip(("left", "right"), axes, matrices, strict=True):
    low = 0 if matrix.min() >= 0 else -1  # each panel its own scale, from -1 only if needed
    if side == "left" and low == 0:  # correlations all above 0: from the tenth below the least
        low = math.floor(10 * matrix.min().item()) / 10
    cmap = "Reds" if low >= 0 else "RdBu_r"  # white at 0 when the scale runs from -1
    image = ax.imshow(matrix.numpy(), cmap=cmap, vmin=low, vmax=1)
    ax.set(title=title, xlabel=label, ylabel=label, xticks=range(12), yticks=range(12))
    fig.colorbar(image, ax=ax, shrink=0.8)
    print(f"{side} panel's colour scale: {low} to 1")
plt.show()

# %% [markdown]
# Each panel has its own colour scale:
# **0.6 to 1**<!-- says: left panel's colour scale --> on the left, from the tenth below
# its smallest correlation so that the pairs' differences show;
# **-1 to 1**<!-- says: right panel's colour scale --> on the right. On the left, every
# pair of a patch's 12 values correlates
# (0.68<!-- output: patches, smallest correlation of two numbers --> to
# 0.94<!-- output: patches, largest correlation of two numbers --> off the diagonal), and the
# variance along the strongest direction is
# 78,411<!-- output: patches, strongest direction's variance / weakest's --> times that
# along the weakest. On the right the outputs are uncorrelated (largest covariance about
# 0), and not every variance is 1: the paler squares at the start of the diagonal are
# the weakest directions, where dividing by √(λ + eps) instead of √λ damps them instead
# of blowing them up, as the formula by hand confirms.
#
# **Identity initialisation.** In each 3 x 3 convolution, output channel *i* starts as a
# copy of input channel *i* (PyTorch's `dirac_`); extra output channels start random. So
# the convolutions start by passing much of their input through, and training can
# then learn corrections, as ResNet-9's residual additions do (only the start is shown
# here). First one convolution, then a whole conv group:

# %% tags=["nbval-check-output"]
from course_utils.fastnet import identity_conv

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
# On `fast_demo`, correlate the first conv group's output (two convolutions, pooling,
# batch norms, GELUs) with its input, pooled the same way, channel by channel over the
# 24 channels the identity copies. A copy with PyTorch's default random weights is the
# contrast.


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
# With identity initialisation the output follows the input closely, a correlation of
# 0.98<!-- output: group 1 against its input, identity initialisation -->; with random
# weights, 0.05<!-- output: group 1 against its input, default initialisation -->, as
# the convolutions mix the channels. Whether identity initialisation helps training is
# not measured here (the benchmark's one seed: no conclusion, as listed above).

# %% [markdown]
# **Batch normalisation with its scale fixed at 1.** It still normalises, but learns
# only its shift: airbench's choice, with fewer weights for the optimizer to move. Its
# running averages move four tenths of the way to each batch's statistics, not one tenth
# (airbench's value). Section 6's batch again:

# %%
from course_utils.fastnet import shift_only_batch_norm

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
# The running means reached about 0.8, four tenths of the batch's means of about 2
# (section 6's default layer: about 0.2).
#
# **GELU**, a smooth ReLU, follows the first layer and every batch norm. It multiplies
# each input by the probability that a standard normal value is smaller, `x · Φ(x)`:
# large positive inputs pass almost unchanged, large negative ones become almost 0, and
# near 0 it bends smoothly rather than at a corner, dipping a little below 0 for small
# negative inputs:

# %% tags=["nbval-check-output"]
points = torch.tensor([-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0])
print("x    ", points.tolist())
print("ReLU ", F.relu(points).tolist())
print("GELU ", [round(value, 2) + 0.0 for value in F.gelu(points).tolist()])

# %% [markdown]
# **Shrink early, and start with small logits** (neither measured apart). The unpadded
# 2 x 2 first layer and a pooling step per conv group take the image from 32 x 32 to
# 3 x 3 (`FastNet`'s stages, printed above) while the channels grow to 32, 64 and 128; only
# the whitening layer and group 1's first convolution work at 31 x 31. Each final
# channel's largest value feeds one linear layer, whose logits are divided by 9
# (airbench's hyperparameter `scaling_factor`, 1/9, in airbench94.py of arXiv
# 2404.00498). An untrained network in eval mode then predicts almost evenly, with a
# loss near ln 10 = 2.30, that of an even guess over 10 classes;
# without the division its loss starts higher:

# %%
with eval_mode(fast_demo):
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
del whitening_images, logits  # not needed again

# %% [markdown]
# The untrained values are the 24 whitening filters (`whiten.weight`: 24 · 3 · 2 · 2 =
# 288 values, set by `whiten_from`; that layer's bias *is* trained) and the six
# batch-norm scales (448 values). The convolutions, batch-norm shifts and linear layer
# are trained.

# %% [markdown]
# **Label smoothing.** `FastNet`'s training loss scores *smoothed* targets, most of their
# weight on the right class and a little on each other (`label_smoothing=0.2`); its
# validation loss scores the plain labels. Smoothing alone, on one confident right
# prediction:

# %%
confident, right_class = torch.tensor([[4.0] + [0.0] * 9]), torch.tensor([0])  # class 0
for smoothing in (0.0, fast_demo.label_smoothing):  # the plain label, then FastNet's targets
    loss = F.cross_entropy(confident, right_class, label_smoothing=smoothing)
    print(f"a confident right prediction, loss at label smoothing {smoothing}: {loss:.2f}")

# %% [markdown]
# Against the plain label it costs
# 0.15<!-- output: a confident right prediction, loss at label smoothing 0.0 -->; against
# the smoothed targets,
# 0.87<!-- output: a confident right prediction, loss at label smoothing 0.2 -->, as they
# ask 0.02 for each wrong class. So smoothing alone raises a `FastNet` training loss,
# which the validation loss, on plain labels, does not pay (no `FastNet` run here shows
# it).
#
# The smoothed target gives the right class 0.82 (0.8 + 0.2 / 10) and every other class
# 0.02, not 1 and 0. The cell builds the target by hand and checks it against PyTorch's:
# even a prediction that matches it exactly has a loss equal to the target's *entropy*,
# −Σ p ln p over its 10 values (the smallest cross-entropy any prediction can reach
# against that target), not 0, and a sharper prediction than the target costs more.
# Validation scores the plain labels, as its line of the course's `validation_step` shows.

# %% tags=["nbval-check-output"]
smoothed = F.one_hot(torch.tensor(3), 10).float() * 0.8 + 0.2 / 10
print("target for class 3:", [round(p, 2) for p in smoothed.tolist()])
best_logits = smoothed.log().unsqueeze(0)  # a prediction equal to the target
floor = F.cross_entropy(best_logits, torch.tensor([3]), label_smoothing=0.2)
print(f"PyTorch's loss for that prediction: {floor:.4f}")
print(f"the target's entropy by hand, −Σ p ln p: {-(smoothed * smoothed.log()).sum():.4f}")
sharper = F.cross_entropy(2 * best_logits, torch.tensor([3]), label_smoothing=0.2)
print(f"PyTorch's loss for a sharper prediction (the logits doubled): {sharper:.4f}")
# Validation, by contrast, scores the plain labels (the course's validation_step):
print(
    next(
        line.strip()
        for line in inspect.getsource(FastNet.validation_step).splitlines()
        if "cross_entropy" in line
    )
)

# %% [markdown]
# So a `FastNet` training loss has a floor that its validation loss has not: the
# target's entropy.

# %% [markdown]
# **Channels-last.** A batch is one long row of numbers; its *strides* say how far apart
# two neighbours along each dimension (image, channel, row, column) sit. By default each
# channel comes whole, so a pixel's three colours are 1,024 numbers apart. Channels-last
# puts them side by side; the course's benchmark measured `FastNet` training about
# 1.5 times<!-- source: benchmarks/RESULTS.md --> faster that way, on random data
# (benchmark machine, not this run).
# `FastNet` keeps its weights and input batches this way, by default:

# %% tags=["nbval-check-output"]
layout_batch = torch.zeros(2, 3, 32, 32)
print("default strides:      ", layout_batch.stride())
print("channels-last strides:", layout_batch.contiguous(memory_format=torch.channels_last).stride())
first_filters = fast_demo.groups[0][0].weight
print(f"FastNet's channels_last: {fast_demo.channels_last}; its first ConvGroup's filters are")
print(f"  stored channels-last: {first_filters.is_contiguous(memory_format=torch.channels_last)}")

# %% [markdown]
# **Memory for the backward pass.** A training step keeps layers' outputs for the
# backward pass, so what it keeps grows with the batch. The benchmark trains `FastNet` on
# batches of 512. Count what a fresh `FastNet` keeps for 8 images:

# %%
probe = to_device(FastNet(), device).train()  # the benchmark's settings, as fast_demo
weight_pointers = {weight.data_ptr() for weight in probe.parameters()}
saved_bytes = []  # one entry per tensor the forward pass saves for backward


def count_saved(tensor: torch.Tensor) -> torch.Tensor:
    """Note a tensor's size as autograd saves it (weights aside), and keep it as it is."""
    if tensor.data_ptr() not in weight_pointers:  # the weights do not grow with the batch
        saved_bytes.append(tensor.numel() * tensor.element_size())
    return tensor


probe_images = normalise(train_images[:8].to(device))
with torch.autograd.graph.saved_tensors_hooks(count_saved, lambda tensor: tensor):
    probe(probe_images)  # gradients on: the weights require them
per_image_mb = sum(saved_bytes) / len(probe_images) / 2**20
print(f"saved for backward, MB per image: {per_image_mb:.2f}")
print(f"saved for backward, MB per batch of 512: {512 * per_image_mb:.0f}")
del probe, probe_images  # not needed again

# %% [markdown]
# A batch of 512 would keep
# 377 MB<!-- output: saved for backward, MB per batch of 512 --> (an estimate: 512 x the
# per-image figure from an 8-image probe,
# 0.74 MB<!-- output: saved for backward, MB per image -->). It grows with the batch by
# construction: no step of 512 was measured.

# %% [markdown]
# **The benchmark's training, `fit_fast`: large batches, a high learning rate.** 512
# images a step; the rate climbs in a straight line to 2.0 over the first fifth of the
# steps (`warm_up=0.2`), then falls in a straight line towards 0 (`fit_fast`'s
# docstring; this lesson does not run it). By the benchmark's figures (quoted at the end:
# peak rates from 0.8 to 3.2), such rates trained without blowing up. Why might 100 times
# the small CNN's rate be safe there?
# With batch norm after a convolution, the weights' size does not change what the pair
# computes (*scale invariance*); only their direction matters. The cell scales a
# convolution's weights by 10, with batch norm after it in training mode, and compares
# the output and the weights' gradient:


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
# 0.000069<!-- output: weights x 10, largest change of the output -->. Batch norm's
# `eps` (1e-5, added to the variance) does not scale with the weights; whether it caused
# that change was not tested. The gradient came out
# 0.10<!-- output: weights x 10, gradient length / before --> times as long: larger
# weights, smaller gradient. A step turns a weight vector by about (learning
# rate) x |gradient| / |w|, so at 10 times the weights a step of the same rate turned
# them 0.010<!-- output: weights x 10, turn per step / before --> times as far: a step's
# effect depends on the rate and the weights' length together. The rest is the recipe's
# argument, not measured here: big steps lengthen the weights, which shrinks later
# turns, and weight decay stops the length growing without end. The final linear layer
# has no batch norm; dividing its logits by 9 keeps them small at first.
#
# **Nesterov momentum** (SGD with `nesterov=True`, momentum 0.85) takes each gradient
# where momentum is about to carry the weights; Sutskever et al. (2013) report it
# behaves more stably than plain momentum, especially when momentum is
# high<!-- source: Sutskever et al., ICML 2013, proceedings.mlr.press/v28/sutskever13.html -->.
#
# Momentum also scales the step: with momentum *m*, a constant gradient builds up until
# each step is lr / (1 − m) times it. The cell runs SGD for 100 steps on one number
# whose gradient is always 1, at the small CNN's settings (0.02, momentum 0.9) and
# `FastNet`'s (2.0, Nesterov momentum 0.85), and prints the last step:

# %% tags=["nbval-check-output"]
step_sizes, first_steps = {}, {}
for name, lr, momentum, nesterov in (
    ("small CNN", 0.02, 0.9, False),
    ("FastNet", 2.0, 0.85, True),
    ("FastNet's settings, plain momentum", 2.0, 0.85, False),
):
    weight = nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([weight], lr=lr, momentum=momentum, nesterov=nesterov)
    for step in range(100):
        before = weight.item()
        weight.grad = torch.ones(1)
        optimizer.step()
        if step == 0:
            first_steps[name] = before - weight.item()
    step_sizes[name] = before - weight.item()
    print(
        f"{name}: lr {lr}, momentum {momentum}, first step {first_steps[name]:.3f}, "
        f"last step {step_sizes[name]:.3f}, lr / (1 - m) = {lr / (1 - momentum):.3f}"
    )
print(f"FastNet's lr per small CNN's lr: {2.0 / 0.02:.0f}")
print(f"FastNet's step per small CNN's step: {step_sizes['FastNet'] / step_sizes['small CNN']:.1f}")

# %% [markdown]
# All three last steps match lr / (1 − m), Nesterov or not; Nesterov's difference shows at
# the start, where its first step is lr (1 + m) = 3.70 against plain momentum's lr = 2.00
# (the `first step` values). So, after 100 steps of the same constant gradient, `FastNet`'s
# step was 66.7<!-- output: FastNet's step per small CNN's step --> times the small
# CNN's, not the 100 times their learning rates suggest: the CNN's higher momentum makes
# up part of it. (Real gradients differ with batch size and batch norm; the small CNN has no
# batch norm, so there the weights' size would be expected to matter: not measured here.)
#
# **Weight decay on the weights only** (5e-4): filters and linear weights decay; the few
# biases and batch-norm shifts do not, as decay would only pull them from where the data
# needs them (the recipe's reason, not measured here). The split by hand, and
# `fit_fast`'s two optimizer groups and its Nesterov setting:

# %%
from course_utils.fastnet import fit_fast

decayed = [name for name, p in fast_demo.named_parameters() if p.requires_grad and p.ndim > 1]
not_decayed = [name for name, p in fast_demo.named_parameters() if p.requires_grad and p.ndim <= 1]
print(f"decayed: {len(decayed)} tensors, such as {decayed[:2]}")
print(f"not decayed: {len(not_decayed)} tensors, such as {not_decayed[:2]}")
print("fit_fast's optimizer groups, from its source:")
for line in inspect.getsource(fit_fast).splitlines():
    if '"params"' in line or "nesterov" in line:
        print(line.strip())

# %% [markdown]
# **Test-time augmentation.** Section 7 checks the four views against the image and
# explains its bar for keeping them (a gain beyond 2 √n images, n the disagreements).
#
# **Gentler augmentation.** The benchmark's `FastNet` runs take crops after padding by 2
# pixels (not section 6's 4), and flips, as in airbench (arXiv 2404.00498; not measured
# here).
#
# **What the course's benchmark measured** (`benchmarks/RESULTS.md`, on its 2-core Intel
# Xeon, in a separate script run). Its runs trained `FastNet` for 7 or 6 epochs; this
# lesson trains no `FastNet`:
# - *The choice of FastNet* (1 seed each, validation split, timed training of
#   223.8 s<!-- source: benchmarks/RESULTS.md, lesson recipe, timed seconds --> and
#   237.9 s<!-- source: benchmarks/RESULTS.md, the chosen fast run, timed seconds -->):
#   the width-16 ResNet-9 recipe reached
#   80.8%<!-- source: benchmarks/RESULTS.md, validation split, lesson recipe 0.8076 -->
#   and FastNet
#   86.5%<!-- source: benchmarks/RESULTS.md, validation split, 7 epochs, TTA --> (7
#   epochs, test-time augmentation, an earlier copy of the recipe). The runs differ in
#   more than the network, so the margin, 5.7 points, is not the network's alone, and
#   these runs do not say how much of it is.
# - *FastNet against the width-16 ResNet-9* (3 seeds, all training images, test set;
#   measured after `FastNet` was chosen): `FastNet`, trained for 6 epochs, reached
#   84.6%<!-- source: benchmarks/RESULTS.md --> without test-time augmentation
#   (85.7%<!-- source: benchmarks/RESULTS.md --> with it) in
#   265 s<!-- source: benchmarks/RESULTS.md --> of training and test-time prediction;
#   the ResNet-9 with the full recipe, 4 epochs,
#   81.1%<!-- source: benchmarks/RESULTS.md --> in
#   216 s<!-- source: benchmarks/RESULTS.md -->, timed the same way. The times were not
#   equal: `FastNet` had about
#   50 s<!-- source: benchmarks/RESULTS.md, 265.3 s minus 215.8 s, 49.5 s --> more, so this is
#   not a comparison at equal time.
# - *The peak learning rate* (1 seed, validation split): rates from 0.8 to 3.2 reached
#   80%<!-- source: benchmarks/RESULTS.md --> to
#   82%<!-- source: benchmarks/RESULTS.md -->; 0.1 only
#   63%<!-- source: benchmarks/RESULTS.md -->.
# - *Test-time augmentation* (3 seeds; measured on the test set, after the choice was
#   made on validation): 0.8 to 1.4 points<!-- source: benchmarks/RESULTS.md -->.
#   Section 7's one run, of ResNet-9 (another network), measured a gain of
#   1.6<!-- output: test-time augmentation, gain (points) --> points against a bar of
#   0.7<!-- output: noise level of the gain (two standard deviations) --> points; its
#   rule's choice: **predict with it**<!-- says: test-time augmentation, the rule's choice -->
#   (a gain inside the bar would not be evidence of no gain).
# - *Channels-last*: about 1.5 times<!-- source: benchmarks/RESULTS.md --> the training
#   speed, on random data (benchmark machine, not this run).
# - *Batch size* (training images a second on random data, `FastNet`; benchmark machine,
#   not this run):
#   1,289<!-- source: benchmarks/RESULTS.md, throughput, batch 256 --> with batches of
#   256, 1,251<!-- source: benchmarks/RESULTS.md, throughput, batch 512 --> with 512 and
#   1,198<!-- source: benchmarks/RESULTS.md, throughput, batch 1,024 --> with 1,024:
#   within 8%<!-- source: benchmarks/RESULTS.md, 1,289 / 1,198 = 1.076 --> of each other
#   (one timing each): on that machine, batches of 256 to 1,024 processed images about
#   as fast.

# %% [markdown]
# ## Appendix B: decoding once
#
# Lesson 04 timed a `DataLoader` that transforms each image every epoch against a
# dataset transformed once and served by `DeviceTensorLoader`: in its run, on MNIST, the
# per-image pipeline spent most of each epoch waiting for its batches (lesson 04's
# figures, not rerun here). Section 1 takes the second way: decoding the training images
# once took
# 7.8<!-- output: decoding the training images once (seconds) --> s on this CPU, paid
# once rather than every epoch; this page does not time a per-image `DataLoader` on
# CIFAR-10.

# %% [markdown]
# ## Appendix C: the small CNN's classes and receptive fields
#
# *Optional: read after the exercises.*
#
# This appendix extends section 4.
#
# **Are animals harder?** At 32 x 32 pixels, do cats, dogs and deer look more alike than
# cars, ships and trucks? The 5 hardest classes of section 4's ranking:

# %%
animals = {"bird", "cat", "deer", "dog", "frog", "horse"}  # the other four are vehicles
hardest_half = [name for _, name in ranking[:5]]  # section 4's ranking, hardest first
print("the 5 hardest classes:", ", ".join(hardest_half))
# Section 4 printed whole percents: a class left out may print the same as the fifth.
fifth = f"{ranking[4][0]:.0%}"
tied = [name for accuracy, name in ranking[5:] if f"{accuracy:.0%}" == fifth]
print(f"left out, tied with the fifth at whole percents: {', '.join(tied) or 'none'}")
found = sum(name in animals for name in hardest_half)
print(f"animals among the 5 hardest classes: {found}")
# A ranking blind to the classes: of the ways to pick 5 classes of the 10, how many hold
# at least that many of the 6 animals (k animals and 5 - k of the 4 vehicles)?
ways = sum(math.comb(6, k) * math.comb(4, 5 - k) for k in range(found, 6))
print(f"ways to pick 5 of the 10 classes with at least {found} animals: {ways} of 252")
# A finer measure: each group's mean per-class accuracy (section 4's, from its confusion matrix).
is_animal = torch.tensor([name in animals for name in classes])
animal_mean = 100 * cnn_class_accuracy[is_animal].nanmean().item()
vehicle_mean = 100 * cnn_class_accuracy[~is_animal].nanmean().item()
print(f"mean per-class accuracy, the 6 animals (%): {animal_mean:.1f}")
print(f"mean per-class accuracy, the 4 vehicles (%): {vehicle_mean:.1f}")
if animal_mean == vehicle_mean:
    animal_words = "equal"
else:
    animal_words = "lower" if animal_mean < vehicle_mean else "higher"
print(f"the animals' mean, against the vehicles': {animal_words}")

# %% [markdown]
# Of the 5 hardest classes,
# 3<!-- output: animals among the 5 hardest classes --> are animals, but with 6 animals
# among 10 classes a ranking blind to classes would average 3, and give at least 3 in
# 186<!-- output: ways to pick 5 of the 10 classes with at least 3 animals --> of the
# 252 ways to pick 5: the count alone cannot tell. Section 4 printed whole percents, so a
# class just outside the five can print the same as the fifth and could as well be fifth.
# Such classes here: **bird**<!-- says: left out, tied with the fifth at whole percents -->.
# The means per
# class are finer: the animals averaged
# 55.5%<!-- output: mean per-class accuracy, the 6 animals (%) --> and the vehicles
# 63.6%<!-- output: mean per-class accuracy, the 4 vehicles (%) -->, so the animals' mean
# was **lower**<!-- says: the animals' mean, against the vehicles' -->, for the small CNN
# on the validation images (one run; not tested against chance). Section 4's ranking shows
# which classes pull each mean. Section 8's confusion matrix is another model's,
# section 7's ResNet-9's, on the test images: its diagonal is grey, so read the numbers on
# it for where the animals fall.

# %% [markdown]
# **Receptive fields.** What makes a second-layer channel of the small CNN respond most?
# Each second-layer value sees a 14 x 14 patch of pixels, its *receptive field*.
# Counting back along one row:
# - its 5 x 5 window covers 5 pooled values;
# - each is the largest of 2 first-layer values (a 2 x 2 pool), so the 5 come from 10
#   first-layer values side by side;
# - each of those saw 5 pixels, each neighbour the same 5 shifted by one, so the 10 saw
#   10 + 4 = 14 pixels.
#
# With indices (each 5 x 5 convolution pads by 2), the value in row r of a 16 x 16 map
# reads pooled rows r − 2 to r + 2; pooled row p is the larger of first-layer rows 2p
# and 2p + 1, so first-layer rows 2r − 4 to 2r + 5; first-layer row q read pixel rows
# q − 2 to q + 2, so pixel rows 2r − 6 to 2r + 7, and the same for columns.
#
# Autograd can check the count: a pixel a value cannot see has zero gradient. The cell
# sums the 32 second-layer values at map position (8, 8), takes the gradient over 200
# validation images, and marks the pixels where it is not 0 (beyond round-off) for any
# image, channel or colour. One image alone can miss some: where a ReLU outputs 0, or
# the pool passes on another value, no gradient flows back.

# %%
second_layer = cnn.features[:5]  # conv, ReLU, pool, conv, ReLU: 32 maps of 16 x 16
pixels = normalise(val_images[:200].to(device)).requires_grad_()
centre_values = second_layer(pixels)[:, :, 8, 8].sum()  # all 32 channels, every image
(gradient,) = torch.autograd.grad(centre_values, pixels)  # leaves the CNN's .grad alone
# A threshold, not exactly 0, allows for round-off: PyTorch's reproducibility notes say
# cuDNN may pick among several convolution algorithms on a GPU.
moved = (gradient.abs() > 1e-4 * gradient.abs().max()).any(dim=1).any(dim=0).cpu()
rows = moved.any(dim=1).nonzero().flatten().tolist()
columns = moved.any(dim=0).nonzero().flatten().tolist()
print(f"first row seen: {rows[0]}")
print(f"last row seen: {rows[-1]}")
print(f"columns seen: {columns[0]} to {columns[-1]}")
print(f"patch seen by a second-layer value: {len(rows)} x {len(columns)} pixels")
print(f"pixels with a gradient: {moved.sum()} of the patch's {len(rows) * len(columns)}")

# %% [markdown]
# The gradient reaches 14 x 14<!-- output: patch seen by a second-layer value --> pixels
# (all 196<!-- output: pixels with a gradient --> of them), rows
# 10<!-- output: first row seen --> to 23<!-- output: last row seen -->: for r = 8, the
# rows 2r − 6 to 2r + 7 of the count. With that rule, search the validation images for
# the patches where each channel responds most:


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
# Each row is one channel's eight strongest patches among the 5,000 validation images
# (black borders: the patch passes its image's edge). Look for what a row shares: dark
# diagonal edges, patches or stripes of one colour against another, a texture. Another seed
# may give other patterns (only seed 0 was run). At 14 x 14 pixels, against a first-layer
# filter's 5 x 5, a second-layer channel can respond to larger patterns.

# %% [markdown]
# ## Appendix D: which parts of the recipe can a short run detect?
#
# *Optional: read after the exercises.*
#
# This appendix tests which of the recipe's parts a
# 48<!-- output: steps per recipe run -->-step run (printed with the runs) can detect, and
# ends with the answer. First, a look that needs no new training: one-cycle's beta1 in
# section 7's run. Then the runs: five recipes from five seeds, a rule that reads each
# change seed by seed, its table, and the checks and limits behind it.

# %% [markdown]
# **One-cycle's beta1** (section 7's run).
# `OneCycleLR` also moves Adam's beta1 against the learning rate. Replaying section 7's
# one-cycle schedule on a stand-in parameter records both at every step; the `assert`
# checks that the replayed rates are the run's own. Look for beta1 (dotted) falling while
# the rate rises:

# %%
stand_in = torch.optim.Adam([nn.Parameter(torch.zeros(1))], lr=peak_rate)
steps = len(one_cycle_rates)  # section 7's run: every step's learning rate
replay = torch.optim.lr_scheduler.OneCycleLR(
    stand_in, peak_rate, epochs=resnet_epochs, steps_per_epoch=len(augmented_loader)
)
replayed_lrs, beta1s = [], []
for _ in range(steps):
    replayed_lrs.append(stand_in.param_groups[0]["lr"])
    beta1s.append(stand_in.param_groups[0]["betas"][0])
    stand_in.step()
    replay.step()
assert replayed_lrs == one_cycle_rates, "the replay must follow the run's own schedule"
print(
    f"replayed beta1: {beta1s[0]:.3f} at the first step, {beta1s[cycle_peak]:.3f} at the "
    f"peak rate (step {cycle_peak}), {beta1s[-1]:.3f} at the last"
)
fig, lr_ax = plt.subplots(figsize=(6.4, 3.6), layout="constrained")
lr_ax.plot(one_cycle_rates, label="learning rate (left axis)")
lr_ax.set(xlabel="training step", ylabel="learning rate", title="one-cycle, section 7")
beta_ax = lr_ax.twinx()
beta_ax.plot(beta1s, ":", color="grey", label="Adam's beta1 (right axis)")
beta_ax.set_ylabel("Adam's beta1")
schedule_lines = lr_ax.get_lines() + beta_ax.get_lines()
lr_ax.legend(  # below the axes, clear of both curves
    schedule_lines,
    [line.get_label() for line in schedule_lines],
    fontsize=8,
    loc="upper center",
    bbox_to_anchor=(0.5, -0.25),
    ncol=2,
)
plt.show()
del stand_in, replay, replayed_lrs, beta1s

# %% [markdown]
# **Short runs.** A width-8 ResNet-9 trains for 2 epochs
# (`recipe_epochs`) from each of 5 seeds (`recipe_seeds`) on the *sample*, the first
# 3,000 training images, always with augmentation. Each recipe changes one thing from the
# one before, except runs 2 and 5:
#
# 1. the baseline: a constant rate of 0.005 (`fit`), half of one-cycle's peak, near its mean
#    (printed below as a share of the peak);
# 2. one-cycle peaking at 0.01, which changes three things: the rate's shape, Adam's beta1
#    (one-cycle varies it, above) and the training function (`fit` -> `fit_one_cycle`);
# 3. plus weight decay;
# 4. plus clipping: the full recipe;
# 5. the full recipe without batch norm, each convolution given a bias instead, from the
#    same starting weights.
#
# `small_resnet_and_loader` builds each run's model and loader (the checks below rebuild
# them with it); `train_small_resnet` trains one run.

# %%
from course_utils.layers import remove_batch_norm


def small_resnet_and_loader(seed, batch_norm=True):
    """Seed, then build an untrained width-8 ResNet-9 and its augmented loader over the
    sample, as every recipe run does (the checks below rebuild them the same way)."""
    seed_everything(seed)
    model = ResNet9(8) if batch_norm else remove_batch_norm(ResNet9(8))
    model = to_device(model, device)
    loader = DeviceTensorLoader(
        sample_images,
        sample_labels,
        batch_size=128,
        shuffle=True,
        device=device,
        generator=torch.Generator().manual_seed(seed),
        transform=augment,
    )
    return model, loader


# %%
recipe_epochs = full_or_smoke(full=2, smoke=1)  # peak_rate (section 7): one-cycle's peak


def train_small_resnet(
    seed, one_cycle=True, lr=peak_rate, weight_decay=0.0, grad_clip=None, batch_norm=True
):
    """A width-8 ResNet-9 trained on the sample; returns it and its history. ``lr`` is the
    constant rate of a run without one-cycle; one-cycle always peaks at ``peak_rate``."""
    model, loader = small_resnet_and_loader(seed, batch_norm)
    if not one_cycle:
        history = fit(
            recipe_epochs, lr, model, loader, val_loader, opt_func=torch.optim.Adam, verbose=False
        )  # verbose=False: no line per epoch, the table below instead
        return model, history
    history = fit_one_cycle(
        recipe_epochs,
        peak_rate,
        model,
        loader,
        val_loader,
        weight_decay=weight_decay,
        grad_clip=grad_clip,
        opt_func=torch.optim.Adam,
        verbose=False,
    )
    return model, history


# %%
# Five recipes, each from every seed in recipe_seeds.
constant_name = f"constant learning rate {peak_rate / 2}"  # run 1, the baseline
recipe_runs = {
    constant_name: dict(one_cycle=False, lr=peak_rate / 2),  # about one-cycle's mean rate
    "one-cycle": dict(),
    "one-cycle, weight decay": dict(weight_decay=1e-4),
    "one-cycle, weight decay, clipping": dict(weight_decay=1e-4, grad_clip=0.1),
    "the recipe, without batch norm": dict(weight_decay=1e-4, grad_clip=0.1, batch_norm=False),
}
# Every recipe from each seed: how far does the seed move it? (Smoke mode: three seeds.)
recipe_seeds = full_or_smoke(full=(0, 1, 2, 3, 4), smoke=(0, 1, 2))
recipe_histories = {}  # seed 0's histories (drawn below)
finals = {name: [] for name in recipe_runs}  # each recipe's final accuracy, seed by seed
for seed in recipe_seeds:
    for name, settings in recipe_runs.items():
        _, history = train_small_resnet(seed, **settings)
        finals[name].append(history[-1]["val_acc"])
        if seed == 0:
            recipe_histories[name] = history
        elif seed == 1 and name == "one-cycle, weight decay, clipping":
            repeat_history = history  # drawn dashed below
    print(f"finished seed {seed}, all {len(recipe_runs)} recipes")  # progress; tables below
# Every recipe run takes as many steps (same sample, batch size and epochs).
run_2_rates = [lr for epoch in recipe_histories["one-cycle"] for lr in epoch["lrs"]]
recipe_steps, recipe_batches = len(run_2_rates), len(run_2_rates) // recipe_epochs
print(f"steps per recipe run: {recipe_steps} ({recipe_epochs} epochs of {recipe_batches} batches)")
mean_share = statistics.mean(run_2_rates) / peak_rate  # run 2, seed 0: against run 1's rate
print(f"one-cycle's mean learning rate / its peak: {mean_share:.2f}")

# %% [markdown]
# **Which changes did the runs show?** Within each seed, subtract the two recipes' final
# accuracies (a seed's runs start from the same weights and the same shuffle seed; below,
# checks of the first batch and of run 5's weights). One rule reads every change: it is
# *shown*, up or down, when the mean of the seeds' changes is more than t standard errors
# (SE, lesson 03: their SD / √5) from 0, with
# t = 2.78<!-- output: t for 4 degrees of freedom --> for five seeds, and *undecided*
# otherwise (below: one row by hand, and why t, not 2). The table gives each change's
# mean over the seeds, its lowest and highest seed, and the rule's word:

# %%
# Each change: the after recipe's accuracy minus the before's, within each seed (points).
from course_utils.stats import T_95, paired_changes

full_name = "one-cycle, weight decay, clipping"  # run 4, the full recipe
no_norm_name = "the recipe, without batch norm"  # run 5
recipe_numbers = {name: number for number, name in enumerate(recipe_runs, start=1)}
full_row = f"full recipe vs constant {peak_rate / 2} (5 changes)"  # the last comparison
removal_row = "removing batch norm (+ conv biases)"  # run 5 vs run 4
steps_compared = {  # what changed: (the recipe before, the recipe after)
    "one-cycle (3 changes)": (constant_name, "one-cycle"),
    "weight decay": ("one-cycle", "one-cycle, weight decay"),
    "clipping": ("one-cycle, weight decay", full_name),
    removal_row: (full_name, no_norm_name),
    full_row: (constant_name, full_name),
}
step_changes = paired_changes(finals, steps_compared)
recipe_df = len(recipe_seeds) - 1  # degrees of freedom: n - 1 for n seeds
print(f"t for {recipe_df} degrees of freedom: {T_95[recipe_df]:.2f}")
label_width = max(len(what) for what in step_changes) + 2
print(f"{'':{8 + label_width}}{'accuracy change (points)':>37}")
heading = f"{'runs':8}{'what changed':{label_width}}{'mean':>9}{'lowest seed':>14}"
print(f"{heading}{'highest seed':>14}  the rule")
for what, row in step_changes.items():
    before, after = steps_compared[what]
    compared = f"{recipe_numbers[after]} vs {recipe_numbers[before]}"  # numbered as listed
    lowest, highest = min(row["changes"]), max(row["changes"])  # the seeds' extremes
    numbers = f"{row['mean']:+9.2f}{lowest:+14.2f}{highest:+14.2f}"
    print(f"{compared:8}{what:{label_width}}{numbers}  {row['rule_word']}")
shown = [
    f"{what}, accuracy {row['rule_word']}"
    for what, row in step_changes.items()
    if row["rule_word"] != "undecided"
]
print(f"rows the rule shows: {'; '.join(shown) or 'none'}")
print(f"rows the rule decided: {len(shown)} of {len(step_changes)}")
print(f"weight decay, the rule's word: {step_changes['weight decay']['rule_word']}")

# %% [markdown]
# **The runs, seed by seed.** Each recipe's final validation accuracy from each
# seed, with their mean and standard deviation (SD), in points:

# %%
seed_columns = "".join(f"{seed:>7}" for seed in recipe_seeds)
print(f"{'':38}{'accuracy (%), seed':>{7 * len(recipe_seeds)}}")
print(f"{'recipe':38}{seed_columns}{'mean':>8}{'SD':>8}")
seed_sds = {}  # each recipe's seed SD, the standard deviation of its seeds' finals (points)
for name, recipe_finals in finals.items():
    recipe_accuracies = [100 * accuracy for accuracy in recipe_finals]
    seed_sds[name] = statistics.stdev(recipe_accuracies)
    row = "".join(f"{a:7.2f}" for a in recipe_accuracies)
    label = f"{recipe_numbers[name]}. {name}"  # numbered as in the list of recipes
    print(f"{label:38}{row}{statistics.mean(recipe_accuracies):8.2f}{seed_sds[name]:8.2f}")

# %% [markdown]
# **One row by hand**: removing batch norm (run 5 minus run 4). For each seed, subtract
# the two recipes' accuracies. Average the n differences (n seeds); their SE (lesson 03)
# is their SD / √n. t is the t-table's
# 95%<!-- source: the t distribution, two-sided table --> value for n − 1 *degrees of
# freedom* (4 here): with five seeds the SE is itself uncertain, so the bar is t SE, not
# 2 SE (simulated below). Then `paired_changes`' row against the one by hand:

# %%
no_norm_finals, full_finals = finals[no_norm_name], finals[full_name]
removal_by_hand = [100 * (a - b) for a, b in zip(no_norm_finals, full_finals, strict=True)]
removal_mean = statistics.mean(removal_by_hand)
removal_se = statistics.stdev(removal_by_hand) / math.sqrt(len(removal_by_hand))
print(f"removing batch norm, mean change by hand (points): {removal_mean:+.2f}")
print(f"removing batch norm, its SE by hand (points): {removal_se:.2f}")
print(f"removing batch norm, its mean in SEs from 0: {abs(removal_mean) / removal_se:.2f}")
print(f"removing batch norm, t x SE by hand (points): {T_95[recipe_df] * removal_se:.2f}")
removal = step_changes[removal_row]  # the table's row, from paired_changes
same_row = all(
    math.isclose(by_hand, helper)
    for by_hand, helper in zip(
        [*removal_by_hand, removal_mean, removal_se],
        [*removal["changes"], removal["mean"], removal["se"]],
        strict=True,
    )
)
print(f"removing batch norm by hand, the same as paired_changes': {same_row}")

# %% [markdown]
# The same row: **True**<!-- says: removing batch norm by hand, the same as paired_changes' -->.
#
# **The whole table**, seed by seed: each row's changes, their mean, SE, t x SE and the
# rule's word.

# %%
label_width = max(len(what) for what in step_changes) + 2
print(f"{'':{8 + label_width}}{'accuracy change (points), seed':>{8 * len(recipe_seeds)}}")
seed_columns = "".join(f"{seed:>8}" for seed in recipe_seeds)
heading = f"{'runs':8}{'what changed':{label_width}}{seed_columns}"
print(f"{heading}{'mean':>8}{'SE':>7}{'t x SE':>8}  the rule")
for what, row in step_changes.items():
    before, after = steps_compared[what]
    compared = f"{recipe_numbers[after]} vs {recipe_numbers[before]}"  # numbered as listed
    changes = "".join(f"{c:+8.2f}" for c in row["changes"])
    numbers = f"{row['mean']:+8.2f}{row['se']:7.2f}{row['needed']:8.2f}"
    print(f"{compared:8}{what:{label_width}}{changes}{numbers}  {row['rule_word']}")

# %% [markdown]
# **The row nearest its bar.** Which undecided row came closest to
# being decided?

# %%
# Of the undecided rows, the one whose |mean| fell short of its t x SE by the fewest points.
shortfalls = {
    what: row["needed"] - abs(row["mean"])
    for what, row in step_changes.items()
    if row["rule_word"] == "undecided"
}
if shortfalls:
    nearest = min(shortfalls, key=shortfalls.get)
    print(f"row nearest its bar: {nearest}")
    print(f"row nearest its bar, its |mean| (points): {abs(step_changes[nearest]['mean']):.2f}")
    print(f"row nearest its bar, its t x SE (points): {step_changes[nearest]['needed']:.2f}")

# %% [markdown]
# The undecided row nearest its bar was **weight decay**<!-- says: row nearest its bar -->,
# |mean| 0.82<!-- output: row nearest its bar, its |mean| (points) --> against t x SE
# 0.83<!-- output: row nearest its bar, its t x SE (points) -->. Near the bar is still
# undecided: another draw of seeds would move both the mean and the bar. (Weight decay's
# size next to the gradient comes later in this appendix.)

# %% [markdown]
# **Rows whose seeds all moved one way.** The rule asks for a mean
# beyond t x SE, not for seeds that agree. How many of each row's seeds moved down?

# %%
# Each row: how many of its seeds moved down (below 0)?
one_way = []  # undecided rows whose seeds all moved the same way (a 0 is neither way)
for what, row in step_changes.items():
    short_name, seeds_down = what.split(" (")[0], sum(c < 0 for c in row["changes"])
    print(f"{short_name}, seeds that moved down: {seeds_down} of {len(row['changes'])}")
    if row["rule_word"] == "undecided" and row["one_way"]:
        one_way.append(short_name)
print(f"undecided rows whose seeds all moved one way: {', '.join(one_way) or 'none'}")
# With no effect, each seed a coin toss: all n seeds up, or all down, 2 x (1/2)^n.
one_way_chance = 2 * 0.5 ** len(recipe_seeds)
print(f"a row's seeds all one way by chance, 1 time in: {1 / one_way_chance:.0f}")

# %% [markdown]
# Undecided rows whose seeds all moved one way:
# **weight decay**<!-- says: undecided rows whose seeds all moved one way -->.
# Undecided
# is not "no effect", but seeds that agree can be chance too: with no effect, a row's
# seeds all move one way 1 time in
# 16<!-- output: a row's seeds all one way by chance, 1 time in --> (printed above).

# %% [markdown]
# **Why t, not 2, with few seeds.** With many runs, chance alone puts
# a mean more than two SE (lesson 03's bar) from 0 about once in 20. With the runs' five
# seeds the SE is itself estimated from five changes and often comes out too small, so two
# SE would be passed more often; the t-table's
# 2.78<!-- output: t for 4 degrees of freedom --> allows for that. The cell draws 20,000
# seeded sets of changes of true size 0, pure noise, one change per seed of the runs,
# and counts the sets each bar calls up or down. Scaling the changes scales their mean and
# SE alike, so standard normal draws stand for noise of any size.

# %%
noise = torch.randn(20_000, len(recipe_seeds), generator=torch.Generator().manual_seed(0))
noise_df = noise.shape[1] - 1  # one set: one row of changes, one per seed
noise_se = noise.std(dim=1) / math.sqrt(noise.shape[1])  # SD / √n, as in the rule
noise_ratio = noise.mean(dim=1).abs() / noise_se  # each mean, in SEs from 0
rule_share = (noise_ratio > T_95[noise_df]).float().mean().item()
print(f"pure noise called up or down by the rule, t = {T_95[noise_df]:.2f}: {rule_share:.3f}")
print(f"pure noise called up or down by two SE: {(noise_ratio > 2).float().mean():.3f}")
# The recipe table reads several rows at one in 20 each. Were every true change 0, and the
# rows independent (they are not: they share runs), at least one row would read up or down
# with this chance: 1 - 0.95^rows.
table_rows = len(step_changes)
any_row_line = f"chance of at least one false up or down in {table_rows} rows, true changes all 0"
print(f"{any_row_line}: {1 - 0.95**table_rows:.2f}")
# Each row's seeds all one way, with no effect: 1 time in 16 for five seeds (one_way_chance
# above, 2 x 1/32); at least one row of the table so: 1 - (15/16)^rows.
any_one_way = 1 - (1 - one_way_chance) ** table_rows
print(f"chance that some row's seeds all move one way, true changes all 0: {any_one_way:.2f}")
del noise, noise_se, noise_ratio

# %% [markdown]
# The rule called
# **0.053**<!-- output: pure noise called up or down by the rule, t = 2.78 --> of the
# noise sets up or down, about the one in 20 its t value is set for; two SE called
# 0.116<!-- output: pure noise called up or down by two SE -->. With
# more seeds the SE firms up and t falls towards 2
# (2.23<!-- source: the t distribution, two-sided table --> at 10 degrees of freedom).
#
# One in 20 is per row. The recipe table reads five rows, so were every true change 0 it
# would call at least one up or down by chance about
# 0.23<!-- output: chance of at least one false up or down in 5 rows, true changes all 0 -->
# of the time (1 − 0.95⁵, as if the rows were independent; they share runs).
#
# Seeds that all agree can be chance too. With no effect at all (each seed a coin toss),
# all five seeds of a row move the same way 1 time in
# 16<!-- output: a row's seeds all one way by chance, 1 time in --> (2 x 1/32,
# printed above). Over the table's 5 rows, at least one row does so a little over
# 1 time in 4
# (0.28<!-- output: chance that some row's seeds all move one way, true changes all 0 -->).
# The rows share runs, so they are not independent: this is a rough figure.
#
# **Why seeds, not the draw of images?** A new seed changes the starting weights and the
# batch order; a new draw of validation images would move a run's accuracy too, by lesson
# 03's SE. Which moved a run more?

# %%
# The draw of validation images moves one run's accuracy p by about √(p(1 − p) / n)
# (lesson 03's SE), here at the mean accuracy of the runs with batch norm.
with_norm_finals = [a for name, runs in finals.items() if name != no_norm_name for a in runs]
mean_with_norm = statistics.mean(with_norm_finals)
image_se = 100 * math.sqrt(mean_with_norm * (1 - mean_with_norm) / len(val_labels))
print(f"one run's accuracy, its SE from the validation images drawn (points): {image_se:.2f}")
with_norm_sds = [spread for name, spread in seed_sds.items() if name != no_norm_name]
print(f"smallest seed SD with batch norm (points): {min(with_norm_sds):.2f}")
print(f"largest seed SD with batch norm (points): {max(with_norm_sds):.2f}")
seed_words = "all larger" if min(with_norm_sds) > image_se else "not all larger"
print(f"seed SDs with batch norm, against that SE: {seed_words}")

# %% [markdown]
# The seed SDs with batch norm, from
# 1.49<!-- output: smallest seed SD with batch norm (points) --> to
# 3.12<!-- output: largest seed SD with batch norm (points) --> points (5 seeds each: a
# rough SD), were
# **all larger**<!-- says: seed SDs with batch norm, against that SE --> than one run's SE
# from the validation images drawn,
# 0.69<!-- output: one run's accuracy, its SE from the validation images drawn (points) -->
# points.
#
# **What the rows cannot separate.** Weight decay and clipping each change one setting;
# three rows change more. One-cycle's mean rate (printed with the runs) was
# 0.50<!-- output: one-cycle's mean learning rate / its peak --> of its peak, so its row
# (run 2 against run 1, a constant rate at about that mean) measures the rate's shape,
# beta1's movement and the swap of `fit` for `fit_one_cycle` (another code path, with its
# own optimizer set-up and scheduler) together. *Removing batch norm* (run 5 against run 4)
# also gives each convolution a bias, and keeps the rate set for the network with batch
# norm: it does not say what batch norm is worth with each network at its own best rate.
# The last row sets the full recipe against the constant 0.005: shape, beta1, the code
# path, weight decay and clipping at once. And the rows follow the list's order, each on
# top of the run before; other orders were not tested.
#
# Where the recipe this course follows comes from, since these runs did not choose it:
# the take-away at the end.
#
# **The runs, epoch by epoch.** Each recipe's validation accuracy after each epoch from
# seed 0 (run 1 holds a constant rate; one-cycle's shape is section 7's plot, over these
# runs' fewer steps). The dashed line is
# the full recipe again, from seed 1: how far the seed alone moves a run. Look for
# how far the dashed seed-1 line ends from its solid seed-0 twin: a gap that size between
# two recipes could be the seed's doing. Whichever recipe ends on top here, that is one
# seed: the recipe table has all five.

# %%
fig, accuracy_ax = plt.subplots(figsize=(7, 4), layout="constrained")
colours = {}  # each recipe's colour, so that its seed-1 twin can share it
for name, history in recipe_histories.items():
    epochs = range(1, len(history) + 1)
    (line,) = accuracy_ax.plot(epochs, [e["val_acc"] for e in history], "o-", label=name)
    colours[name] = line.get_color()
accuracy_ax.plot(
    range(1, recipe_epochs + 1),
    [e["val_acc"] for e in repeat_history],
    "o--",
    linewidth=2.5,  # thicker than the solid lines, so that the dashes show
    color=colours[full_name],  # the seed-0 run's colour
    label=f"{full_name}; seed 1",
)
accuracy_ax.set(
    xlabel="epoch",
    ylabel="validation accuracy",
    title="width-8 ResNet-9, sample, seed 0 (dashed: seed 1)",
)
accuracy_ax.set_xticks(range(1, recipe_epochs + 1))
accuracy_ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)
plt.show()

# %% [markdown]
# **Each change, within each seed.** Two runs from one seed start from the same weights
# and shuffle with the same seed. Do they draw the same crops and flips? For seed 0, the
# cell rebuilds each recipe's model and loader as its run did and draws the first batch:

# %%
first_batches = []  # seed 0's first augmented batch in each recipe, without training
for settings in recipe_runs.values():
    recipe_model, recipe_loader = small_resnet_and_loader(0, settings.get("batch_norm", True))
    first_batches.append(next(iter(recipe_loader)))  # crops and flips: the global stream
same_first_batch = all(
    torch.equal(images, first_batches[0][0]) and torch.equal(labels, first_batches[0][1])
    for images, labels in first_batches
)
recipe_count = len(first_batches)
print(f"seed 0, first augmented batch the same in all {recipe_count} recipes: {same_first_batch}")
del first_batches, recipe_model, recipe_loader

# %% [markdown]
# The same first batch in all five recipes?
# **True**<!-- says: seed 0, first augmented batch the same in all 5 recipes -->. Later
# batches were not checked: the table assumes they match too. Crops and flips come from
# the global random stream, so a recipe whose training drew from it would shift them.

# %% [markdown]
# **The run without batch norm starts from the same weights** (run 5).
# `remove_batch_norm` swaps each `BatchNorm2d` for `nn.Identity` and gives the convolution
# before it a bias starting at 0. Built after the same seed, with and without batch norm,
# the two networks should have equal convolution and linear weights:

# %%
seed_everything(0)
with_norm = ResNet9(8)
seed_everything(0)
without_norm = remove_batch_norm(ResNet9(8))
left = sum(isinstance(layer, nn.BatchNorm2d) for layer in without_norm.modules())
same_start = all(
    torch.equal(mine.weight, theirs.weight)
    for mine, theirs in zip(with_norm.modules(), without_norm.modules(), strict=True)
    if isinstance(mine, (nn.Conv2d, nn.Linear))
)
print(f"without batch norm: {left} BatchNorm2d layers left; same starting weights: {same_start}")
del with_norm, without_norm

# %% [markdown]
# **Where `fit_one_cycle` applies each setting.** Its set-up (in
# `course_utils/training.py`), and the clipping and scheduler lines of its loop:

# %%
import inspect  # as in Appendix A, imported again so that this appendix runs on its own

from course_utils import training

recipe_source = inspect.getsource(fit_one_cycle)
first = recipe_source.index("    optimizer = opt_func(")
print(inspect.cleandoc(recipe_source[first : recipe_source.index("    return _train(")]))
loop_lines = inspect.getsource(training._train_epoch).splitlines()
print(next(line.strip() for line in loop_lines if "clip_grad_value_" in line))
print(next(line.strip() for line in loop_lines if "scheduler.step()" in line))

# %% [markdown]
# Weight decay goes to the optimizer, `OneCycleLR` steps every batch, and
# `clip_grad_value_` caps each gradient value at `grad_clip` (section 6 checks weight
# decay and clipping by hand, section 7 one-cycle's rates).
#
# **How much each does.** Are decay and clipping large next to the gradient? On a fresh
# width-8 ResNet-9's first augmented batch from the sample, built as the runs above are:

# %%
fresh, first_batch_loader = small_resnet_and_loader(0)
fresh.training_step(next(iter(first_batch_loader))).backward()
gradients = torch.cat([p.grad.flatten() for p in fresh.parameters()]).abs()
decay_term = 1e-4 * torch.cat([p.detach().flatten() for p in fresh.parameters()])
decay_share = (decay_term.norm() / gradients.norm()).item()
print(f"weight decay's term / gradient, lengths, first batch: {decay_share:.6f}")
decay_median = (decay_term.abs() / gradients).median().item()  # value by value, as in Adam
print(f"weight decay's term / gradient, per value, median, first batch: {decay_median:.6f}")
print(f"largest gradient value, first batch: {gradients.max():.2f}")
print(f"gradient values above 0.1, first batch: {(gradients > 0.1).float().mean():.4f}")
del fresh, first_batch_loader, gradients, decay_term

# %% [markdown]
# Weight decay's term was
# 0.013%<!-- output: weight decay's term / gradient, lengths, first batch --> of the
# gradient's length (a vector's *length*: the square root of the sum of its squared
# values). Only
# 1.02%<!-- output: gradient values above 0.1, first batch --> of gradient values were
# above 0.1 (the largest: 1.50<!-- output: largest gradient value, first batch -->), and in
# this batch clipping trims only those. Adam divides each value's step by a running
# average of that value's own size, so what counts is the decay next to each value's own
# gradient. For the median value it was
# 0.018%<!-- output: weight decay's term / gradient, per value, median, first batch -->
# of that gradient. What clipping does through Adam's averages is not measured here.
#
# Weight decay's effect on the runs' accuracies is read from its row of the recipe table
# and from the line "weight decay, seeds that moved down" above. With no effect, a row's
# seeds all move one way 1 time in
# 16<!-- output: a row's seeds all one way by chance, 1 time in -->. The ratio above comes
# from one batch of an untrained network and does not decide it.

# %% [markdown]
# **The answer.** Of the table's rows, the rule decided
# 1<!-- output: rows the rule decided -->:
# **removing batch norm (+ conv biases), accuracy
# down**<!-- says: rows the rule shows -->. A row that changed several things cannot split
# them. Run 5, without batch norm, used the other runs' rate, which was set, not searched
# for the network without it. Undecided is not "no effect": these seeds could not tell
# (see the rows whose seeds all moved one way, above).
#
# Weight decay's row reads
# **undecided**<!-- says: weight decay, the rule's word -->. It adds 1e-4 x w to each
# weight's gradient (checked by hand in section 6); "How much each does", above, prints
# that term's share of the gradient on a first batch. The table says only that these
# 48<!-- output: steps per recipe run -->-step runs from five seeds could not tell whether
# decay moved accuracy. It says nothing about longer runs: section 7's longer run keeps
# decay throughout, so it cannot tell either.
#
# **Take-away.** These short runs decided only the rows named above and could not judge
# the recipe's other parts. This course's recipe was chosen outside this lesson; section 7
# and exercise 2 keep it.

# %% [markdown]
# ## Appendix E: section 7 on a GPU
#
# *Optional: read after the exercises.*
#
# This appendix extends section 7. ResNet-9's widths in this lesson: 8 in Appendix D on every
# device and in section 7 on a CPU, 2 to 8 in exercise 2, 16 in the benchmark, 64 on a CUDA GPU.
#
# **Width 64 on a CUDA GPU.** There, section 7 trains section 6's ResNet-9 at width 64
# for `resnet_epochs` (16) epochs with the full recipe, channels-last weights (each
# pixel's channels stored side by side) and, where `bfloat16_support` finds bfloat16
# units, lesson 04's bfloat16 autocast. Section 7's `build_network` (the cell for a CUDA
# GPU) sets both: it asks `bfloat16_support`, picks `MixedPrecisionResNet9` (ResNet-9
# with its forward pass under autocast, its logits returned as float32) where the units
# exist, and moves the weights to channels-last. This page's outputs come from a CPU, so
# they do not show the course outline's
# 90%<!-- source: course outline, lesson 05 --> goal.
# An earlier version of the lesson, run once as a script on an NVIDIA H200 with PyTorch
# 2.11, trained it for
# 0.53 minutes<!-- source: benchmarks/RESULTS.md, H200 run of 2026-12-04, torch 2.11.0 -->
# and reached
# 89.3%<!-- source: benchmarks/RESULTS.md, H200 run of 2026-12-04, torch 2.11.0 --> test
# accuracy with test-time augmentation, which section 7's rule had kept on validation:
# short of the goal. On your GPU
# every figure will differ. Where `bfloat16_support` finds no bfloat16 units (Colab's
# free T4, compute capability 7.5, has none: they came with
# 8.0<!-- source: https://developer.nvidia.com/cuda-gpus -->), the ResNet-9 trains in
# float32, which the course has not timed: if it is slow, lower `resnet_epochs`.
#
# **Airbench's own figures.** By its authors' figures (not run here), airbench reaches
# 94%<!-- source: arXiv 2404.00498 (airbench94.py) --> test accuracy in
# 3.83 seconds<!-- source: github.com/KellerJordan/airbench README (airbench94.py) -->
# on one NVIDIA A100 GPU, with a wider network and more tricks, on the original CIFAR-10
# images (this page's copy is JPEG: see the data note in section 1).
