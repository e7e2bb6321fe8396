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
# - train a small CNN, compare it with an MLP trained the same way (one seed each), and
#   test with a shuffled-pixel control why the CNN led;
# - build a ResNet-9 (batch norm, residual blocks) and its training recipe (augmentation,
#   Adam, one-cycle, weight decay, clipping);
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
# > **Last verified** 2026-12-08: PyTorch 2.14.1+cu130 on CPU (Intel(R) Xeon(R) Processor,
# > 2 threads); the whole lesson ran in 270 s with a peak memory of 1395 MB. The course's
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
from course_utils.checks.lesson05 import check_exercise
from course_utils.data import cifar10, dataset_to_tensors
from course_utils.memory import release_memory
from course_utils.metrics import confusion_matrix, per_class_accuracy
from course_utils.models import MLP
from course_utils.plotting import show_batch
from course_utils.report import record_result
from course_utils.settings import full_or_smoke, seed_everything, smoke_mode
from course_utils.training import eval_mode, predict

generator = seed_everything(0)
device = get_default_device()
print(f"PyTorch {torch.__version__}, training on {device}")

# %% [markdown]
# **Settings.** `full_or_smoke` sets each split's size and each run's epochs below (full
# here); its small ones (*smoke mode*) are for the course's tests.

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
# As in lesson 04, decode the images once, before training: as `ImageFolder`'s `loader`,
# `decode_image` reads each file straight into a `uint8` tensor, a quarter of `float32`'s
# memory. The cell times that one decoding
# (7.4 s<!-- output: decoding the training images once (seconds) --> on this CPU, the run shown),
# paid once rather than every epoch. Lesson 04 timed a `DataLoader` that transforms each image
# every epoch; this lesson times no such loader.
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
start = time.perf_counter()  # the one-off cost of decoding every image
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
# The CNN trains 2 epochs, to keep the lesson short on a CPU; its rate, 0.02, was set, not searched.

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
# 21.8 s<!-- output: small CNN training seconds --> of training (the epoch lines' times also
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
# first-layer values are 0: the ReLU cut every negative value. Look for maps that respond
# where the image changes sharply (Appendix B looks at the second layer and the classes).

# %% [markdown]
# ## 5. Why an MLP does worse
#
# A convolution, unlike an MLP, reuses its filters at every position and sees
# neighbouring pixels together. Give lesson 03's `MLP` the small CNN's optimizer, epochs,
# batches (seed 0) and rate (0.02, tuned for neither). A second MLP trains for 7 epochs, a
# count set to take about as long as the CNN on this CPU (the table prints the seconds).


# %%
def build_mlp() -> nn.Module:
    """The MLP: hidden layers of 512 and 256 units, ReLU."""
    return MLP(3 * 32 * 32, [512, 256], 10)


release_memory()  # frees memory between runs, to keep within the course's memory budget
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
# The small CNN led the MLP by
# **+13.0**<!-- output: CNN's lead over the MLP in points (below 0 if the MLP leads) --> points,
# though the MLP has 6.3<!-- output: MLP parameters per small-CNN parameter --> times its
# parameters, and led the second MLP, which trained
# 0.97<!-- output: second MLP's training seconds per small CNN's --> times as long, by
# +11.0<!-- output: CNN's lead over the second MLP in points (below 0 if the MLP leads) -->.
#
# **The control.** Shuffle the 1,024 pixel positions once, the same way for every image
# and channel, in training and validation batches, and train both models afresh from the
# starting weights of the runs above: each 5 x 5 filter now covers 25 scattered pixels.
# The MLP has one first-layer weight column per input value, so its columns are reordered
# the same way: it then starts as the same network, seeing the same values in a new order
# (the cell after the table checks this on trained weights). The CNN has no such columns.


# %%
pixel_order = torch.randperm(32 * 32, generator=torch.Generator().manual_seed(0)).to(device)


def normalise_and_shuffle(images: torch.Tensor) -> torch.Tensor:
    """Normalise a uint8 batch, then move every image's pixels, in all three channels, to
    the same shuffled positions."""
    return normalise(images).flatten(start_dim=2)[:, :, pixel_order].unflatten(2, (32, 32))


# In a flattened image, channel c's pixel p sits at index c * 1024 + p; a shuffled image
# holds there the original's c * 1024 + pixel_order[p]: the MLP's column for that input.
columns = (torch.arange(3, device=device)[:, None] * 1024 + pixel_order[None, :]).flatten()
shuffled_val_loader = DeviceTensorLoader(
    val_images, val_labels, batch_size=250, device=device, transform=normalise_and_shuffle
)
shuffled_accuracy = {}
for name, build in (("small CNN", SmallCnn), ("MLP", build_mlp)):
    release_memory()
    seed_everything(0)  # the starting weights of the runs above
    control = to_device(build(), device)
    if name == "MLP":  # its first-layer columns in the shuffled order (layers[0] flattens)
        with torch.no_grad():
            control.layers[1].weight.copy_(control.layers[1].weight[:, columns])
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
# MLP's by **-0.1**<!-- output: MLP, change with shuffled pixels (points) -->, so the CNN's
# lead became
# -2.6<!-- output: CNN's lead with shuffled pixels in points (below 0 if the MLP leads) -->
# points. Each model ran from one seed; other seeds were not run. Look for the MLP's change
# to be near 0, though it need not be exactly 0: its sums add the same values in another
# order, so float32 rounding can differ (not measured here).
#
# Why the reordered columns make the same network: reorder the trained MLP's first-layer
# columns the same way, and it should give the same logits on shuffled images as on the
# originals. `columns` (built above) gives each column's index from the channel and the
# shuffled pixel position:

# %% tags=["nbval-check-output"]
rewired = copy.deepcopy(mlp)  # the MLP trained on original pixels in section 5
few = val_images[:8].to(device)
with torch.no_grad(), eval_mode(mlp), eval_mode(rewired):
    rewired.layers[1].weight.copy_(mlp.layers[1].weight[:, columns])  # layers[0] flattens
    alike = torch.allclose(rewired(normalise_and_shuffle(few)), mlp(normalise(few)), atol=1e-4)
print(f"reordered MLP, same logits on shuffled images: {alike}")
del rewired, columns, few

# %% [markdown]
# The same logits: **True**<!-- says: reordered MLP, same logits on shuffled images -->.
# So any MLP weights learnt on the original pixels, their columns reordered, give the same
# logits on the shuffled ones (checked here on 8 images). A convolution has no such
# columns: its filters are shared over neighbouring positions (reasoning, not run).

# %% [markdown]
# ## 6. ResNet-9 and its training recipe
#
# This section builds ResNet-9 and the parts of its training recipe; section 7 trains it
# on all the training images. Three ideas:
# - **batch normalisation** (Ioffe and Szegedy, 2015): each channel of a batch rescaled
#   to mean 0 and spread 1, then given a learned scale and shift;
# - **residual blocks** (He et al., 2016), which output `x + f(x)`: the added `x` is a
#   path for the gradient past `f`;
# - **augmentation**: random crops and flips vary each image every epoch, so memorising
#   should pay less (exercise 1 looks for it).
#
# **A residual block's path for the gradient.** An untrained stack of 21 convolutions
# with ReLU and no batch norm, at PyTorch's default initialisation, two ways: plain, and
# with `x + f(x)` around each pair. One backward pass of a loss on 32 validation images
# compares the gradient that reaches the first convolution with the one that reaches the
# last. Nothing is trained.


# %%
class AddInput(nn.Module):
    """x + body(x): a residual block around any body of the same shape."""

    def __init__(self, body: nn.Module):
        super().__init__()
        self.body = body

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs + self.body(inputs)


def deep_stack(residual: bool, pairs: int = 10) -> nn.Sequential:
    """A 3 x 3 convolution to 16 channels, then pairs of (conv, ReLU, conv, ReLU), each
    pair as x + f(x) if residual; PyTorch's default initialisation, seeded alike."""
    torch.default_generator.manual_seed(0)  # the CPU stream: gradient_ratio restores it
    blocks = []
    for _ in range(pairs):
        body = nn.Sequential(
            nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1), nn.ReLU()
        )
        blocks.append(AddInput(body) if residual else body)
    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), *blocks)


def gradient_ratio(build, *args) -> float:
    """A fresh stack, build(*args): its first convolution's gradient length over its
    last's, after one backward pass of a loss on 32 validation images."""
    with torch.random.fork_rng(devices=[]):  # leave the lesson's random stream as it was
        stack = to_device(build(*args), device)
        stack(normalise(val_images[:32].to(device))).square().mean().backward()  # any loss
        convolutions = [m for m in stack.modules() if isinstance(m, nn.Conv2d)]
        first, last = convolutions[0].weight.grad.norm(), convolutions[-1].weight.grad.norm()
        return (first / last).item()


release_memory()  # room for the stacks' activations, within the lesson's memory budget
for name, residual in (("plain", False), ("residual", True)):
    ratio = gradient_ratio(deep_stack, residual)
    print(f"{name} stack, first layer's gradient / last's: {ratio:.2g}")

# %% [markdown]
# The plain stack's first-layer gradient was
# 1.1e-09<!-- output: plain stack, first layer's gradient / last's --> times the last's;
# with the additions,
# 3.6<!-- output: residual stack, first layer's gradient / last's --> times: each
# `x + f(x)` passes the gradient back through its `x` path unchanged and adds `f`'s share
# to it. Appendix E shows that He's initialisation also keeps a plain stack's gradient,
# and gives the published reason (not run here) why ResNet-9 keeps the additions.
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
# **ResNet-9's layers.** The building block is a 3 x 3 convolution, batch norm and ReLU,
# with no bias in the convolution: batch norm subtracts each channel's mean, bias included,
# so a bias would change nothing. A convolution with a bias and the same one without it,
# each followed by batch norm in train mode:

# %% tags=["nbval-check-output"]
with torch.random.fork_rng(devices=[]):  # leave the lesson's random stream as it was
    torch.default_generator.manual_seed(0)  # the CPU stream only, which fork_rng restores
    with_bias = nn.Conv2d(3, 4, 3, padding=1)
    without_bias = nn.Conv2d(3, 4, 3, padding=1, bias=False)
    probe = torch.randn(8, 3, 8, 8)
with torch.no_grad():
    without_bias.weight.copy_(with_bias.weight)  # the same weights, only the bias differs
    after_norm = [nn.BatchNorm2d(4)(conv(probe)) for conv in (with_bias, without_bias)]
same_output = torch.allclose(*after_norm, atol=1e-5)
print(f"batch norm after a conv, with and without its bias, the same: {same_output}")
del with_bias, without_bias, probe, after_norm

# %% [markdown]
# The same: **True**<!-- says: batch norm after a conv, with and without its bias, the same -->.
# A blank image goes through the full-size network (width 64), layer by layer:


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
# **The training.** Section 7 trains with these parts, each with its aim (section 7 checks
# one-cycle's rates by hand; Appendix E checks Adam by hand and measures weight decay's
# term):
# - *Adam*: scales each weight's step by its own gradient history;
# - *one-cycle* (`fit_one_cycle`): the rate rises to a peak, then falls, meant to train at
#   a large rate mid-run without an unstable start;
# - *weight decay*: adds 1e-4 times each weight to its gradient, meant to keep the weights
#   small;
# - *gradient clipping*: caps each gradient value at 0.1.
#
# The recipe was chosen outside this lesson, which tests none of these aims: it keeps weight
# decay and clipping without validating them (Appendix C's short runs do not show them
# helping). Weight decay and clipping, by hand, against PyTorch:

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
# Section 6's network and full recipe (one-cycle peaking at `peak_rate`, Adam, weight decay
# 1e-4, clipping at 0.1, crops and flips, batches of 128) on all 45,000 training images. On
# a CPU or an Apple GPU: width 8 for 2 epochs, the run shown. On a CUDA GPU the code sets
# width 64 and 16 epochs, channels-last and, where the GPU has the units, lesson 04's
# bfloat16 autocast (the second cell below). Those settings were not run here: Appendix D
# covers them and the course outline's
# 90%<!-- source: course outline, lesson 05 --> goal, which no run on this page reaches.


# %%
on_gpu = device.type == "cuda"
resnet_width = 64 if on_gpu else 8  # also exercise 2's largest width
if on_gpu:
    resnet_epochs = full_or_smoke(full=16, smoke=1)  # lower it if too slow
else:
    resnet_epochs = full_or_smoke(full=2, smoke=1)  # the lesson's time budget on a CPU
network_name = f"ResNet-9, width {resnet_width}"
print(f"{network_name}, epochs: {resnet_epochs}")
peak_rate = 0.01  # one-cycle's peak learning rate (exercise 2's too)
# The sample: the first 3,000 training images, which the exercises train on.
sample_size = full_or_smoke(full=3_000, smoke=500)
sample_images, sample_labels = train_images[:sample_size], train_labels[:sample_size]


# %%
# (for a CUDA GPU: run it, skip reading) `build_network`, section 7's
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
plot_history(network_history, title=f"{network_name}, on {device.type.upper()}")

# %% [markdown]
# In 704<!-- output: ResNet-9, width 8, training steps --> steps the width-8 ResNet-9
# reached **71.1%**<!-- output: ResNet-9 validation accuracy --> validation accuracy in
# 44 s<!-- output: ResNet-9, width 8 training seconds --> of training on this CPU (one
# run, seed 0).
#
# The figure's two losses are measured differently: the training loss averages augmented
# batches in train mode while the weights change; the validation loss scores plain images
# in eval mode after the epoch. Look for the validation loss to sit below the training
# loss: either difference could cause that, and this run does not separate them.

# %% [markdown]
# **One-cycle's learning rate.** Each epoch of `network_history` keeps, under `lrs`, the
# rate of every step of that run. Look for it to climb to `peak_rate` early, then fall
# almost to 0.

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

# %% [markdown]
# **One-cycle by hand.** `fit_one_cycle` gives PyTorch's `OneCycleLR` the peak and the
# step count; its defaults start at peak / 25, rise along a cosine to the peak over the
# first 0.3 of the steps, then fall along a cosine to start / 10,000. Five steps of the
# run, by hand, against the rates it recorded:

# %%
# A step's rate is low + (peak − low) / 2 · (1 + cos(π · a)): low is the end of its side
# (the start or the end), a the step's distance from the peak step, as a share of that
# side. PyTorch's OneCycleLR counts the N steps from 0 and places the peak 30% of the way
# through them: at the last of the first 0.3 N steps, step 0.3 N - 1 (it need not be a
# whole step).
cycle_steps, peak_step = len(one_cycle_rates), 0.3 * len(one_cycle_rates) - 1
same = True
for step in sorted({0, cycle_steps // 4, round(peak_step), cycle_steps // 2, cycle_steps - 1}):
    rising = step <= peak_step  # the low end: the start, peak / 25, or the end, start / 1e4
    low = peak_rate / 25 / (1 if rising else 1e4)
    away = abs(step - peak_step) / (peak_step if rising else cycle_steps - 1 - peak_step)
    rate_by_hand = low + (peak_rate - low) / 2 * (1 + math.cos(math.pi * away))
    same = same and math.isclose(rate_by_hand, one_cycle_rates[step], rel_tol=1e-6)
print(f"one-cycle's rates by hand equal the schedule's: {same}")

# %% [markdown]
# The rates by hand equal the schedule's:
# **True**<!-- says: one-cycle's rates by hand equal the schedule's -->.

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
# The views are as drawn:
# **True**<!-- says: the views, checked by hand against the image -->; the shift changes
# a normalised value by
# 0.40<!-- output: shifted view, mean size of its change from the image --> of its
# channel's standard deviation on average. The wrapper predicts the mean logits:
# **True**<!-- says: prediction by hand, the mean of the 4 views' logits -->.
#
# **Does it help?** Four views cost four forward passes, so the validation set decides.
# Only the n validation images that exactly one way (with or without the views) gets right
# can move the score. Were the views no better, each of those n would be a coin toss, and
# the gain would have a standard deviation of √n images: keep the views only if they gain
# more than 2 √n.

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
# The views gained
# 1.4<!-- output: test-time augmentation, gain (points) --> points against a
# bar of 0.7<!-- output: noise level of the gain (two standard deviations) --> points
# (n = 332<!-- output: validation images only one of the two gets right -->), so
# the rule chose to **predict with it**<!-- says: test-time augmentation, the rule's choice -->.

# %% [markdown]
# ## 8. The test set, once
#
# Each final model now meets the test set once: choosing by test accuracy would make it a
# second, flattering validation set. The one choice this lesson made from scores, the
# test-time views, used validation scores; the rates, epochs and widths were set by hand
# or taken from the course's benchmark, which had already scored its recipe on these test
# images<!-- source: benchmarks/RESULTS.md --> (Appendix A).

# %%
release_memory()
# Validation with one view per image, alike for all three; the views' score (the score
# that chose them) only where the final model predicts with them.
validation_accuracy = {
    "small CNN": cnn_history[-1]["val_acc"],
    "MLP": mlp_history[-1]["val_acc"],
    network_name: network_history[-1]["val_acc"],
}
views_accuracy = {network_name: tta_accuracy} if final_model is with_tta else {}
test_accuracy = {}
for name, model in (("small CNN", cnn), ("MLP", mlp), (network_name, final_model)):
    model_predictions, model_truth = predict(model, test_loader)
    test_accuracy[name] = (model_predictions == model_truth).float().mean().item()
    if model is final_model:  # kept for the confusion matrix and the mistakes below
        predicted_labels, true_labels = model_predictions, model_truth
    record_result(f"{name} test accuracy", test_accuracy[name])
print(f"{'model':19}{'validation (%)':>16}{'with the views (%)':>20}{'test (%)':>10}")
for name, validation in validation_accuracy.items():
    views = f"{100 * views_accuracy[name]:.1f}" if name in views_accuracy else "-"
    print(f"{name:19}{100 * validation:16.1f}{views:>20}{100 * test_accuracy[name]:10.1f}")

# %% [markdown]
# On the test set the small CNN scored 59.6%<!-- output: small CNN test accuracy -->,
# the MLP 45.7%<!-- output: MLP test accuracy --> and the ResNet-9
# **72.2%**<!-- output: ResNet-9, width 8 test accuracy -->. The ResNet-9 against the other
# two is not a comparison of networks: its whole recipe (optimiser, schedule, weight decay,
# clipping, batch size, augmentation; on a GPU, its epochs too) differs from theirs, and
# only its test score
# used the four views. The "with the views" column,
# 72.4%<!-- output: validation accuracy with test-time augmentation -->, is the score that
# chose the views, so it can flatter them; the test column comes after that choice.
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
# Below, up to 16 cat-dog confusions (titled true, predicted): what makes them hard at
# 32 x 32?

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
# `state_dict()`, and a fresh network from
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
# `save_checkpoint` adds the network's name, the classes and the accuracy. It holds only
# the plain network's weights, so it also stores a flag, `test_time_augmentation`: True if
# section 7's rule chose the four views, and whoever reloads the network should then wrap
# it in `TestTimeAugmentation` again. The cell first counts the wrapper's own parameters.

# %%
from course_utils.checkpoint import load_checkpoint, save_checkpoint

wrapper_extra = count_parameters(with_tta) - count_parameters(network)
print(f"test-time wrapper, parameters beyond its network's: {wrapper_extra}")

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
# The wrapper has 0<!-- output: test-time wrapper, parameters beyond its network's -->
# parameters of its own, so recording whether to wrap is enough. The reloaded network's
# validation predictions came out
# **identical**<!-- says: reloaded network's validation predictions, against the saved one's -->
# to the saved network's.

# %% [markdown]
# ## Summary
#
# - **Shapes.** A convolution or a pooling outputs ⌊(n + 2p − k) / s⌋ + 1 pixels a side;
#   a convolution gives one channel per filter, a pooling keeps the channels. A
#   convolution reuses its small filters at every position: a linear layer with the same
#   inputs and outputs needs about
#   41,405<!-- output: linear parameters per convolution parameter --> times its parameters,
#   biases included.
# - **Why the CNN led the MLP.** In this run (one seed per model; same epochs, batches and
#   rate) the small CNN led the MLP by
#   **+13.0**<!-- output: CNN's lead over the MLP in points (below 0 if the MLP leads) -->
#   points. The evidence for why is the shuffled-pixel control, also one seed per model:
#   scrambling the neighbourhoods changed the CNN's accuracy by
#   -15.8<!-- output: small CNN, change with shuffled pixels (points) --> points and the
#   MLP's, started from its reordered starting weights, by
#   -0.1<!-- output: MLP, change with shuffled pixels (points) -->. The CNN's lead with
#   shuffled pixels rests on that one seed each, so read the CNN's loss, not the lead's
#   sign. For an MLP the shuffle
#   only reorders its inputs: the trained MLP, its first layer's columns reordered, gave the
#   same logits on shuffled images (section 5).
# - **Batch norm's two modes.** Train mode normalises each channel with the batch's own
#   mean and variance and moves running averages a tenth of the way towards them; eval
#   mode uses the running averages, so an image's output does not depend on its batch.
# - **Residual blocks** output `x + f(x)`: the added `x` is a path for the gradient past
#   `f`. In an untrained stack without batch norm it kept the gradient that a plain stack
#   lost (section 6; Appendix E shows He's initialisation, and cites why ResNet-9 keeps
#   the additions).
# - **Augmentation.** Random crops after padding by 4 and flips give each image 162
#   possible views, so memorising should pay less; exercise 1 removes it and looks for
#   overfitting.
# - **Adam and one-cycle.** Adam scales each weight's step by its own gradient history;
#   one-cycle raises the rate to a peak, then lowers it almost to 0. Section 7 checks
#   one-cycle's rates by hand, Appendix E Adam, both against PyTorch.
# - **ResNet-9 on this CPU.** Width 8 with the full recipe, 2 epochs on all the training
#   images: **71.1%**<!-- output: ResNet-9 validation accuracy --> on validation in
#   44 s<!-- output: ResNet-9, width 8 training seconds --> of training (one run).
#   Test-time augmentation was chosen on validation
#   (72.4%<!-- output: validation accuracy with test-time augmentation --> with it): the
#   rule chose to **predict with it**<!-- says: test-time augmentation, the rule's choice -->.
# - **The test set, once.** The small CNN
#   59.6%<!-- output: small CNN test accuracy -->, the MLP
#   45.7%<!-- output: MLP test accuracy --> and ResNet-9
#   **72.2%**<!-- output: ResNet-9, width 8 test accuracy -->, whose whole recipe differs
#   from theirs, not only its network. Validation made this lesson's choices; the recipe
#   came from the course's benchmark, which saw test
#   scores<!-- source: benchmarks/RESULTS.md --> (section 8).
# - Which of the recipe's parts a short run can detect, seed by seed: Appendix C.

# %% [markdown]
# ## Exercises
#
# Both exercises train on the *sample*, the first 3,000 training images (section 7's first
# cell): exercise 1 on the sample's first `overfit_size` images, exercise 2 on the whole
# sample. Both compare models on the validation set, never the test set. Each stands alone.
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
    # Each run's figures. Its rise: the last 3 epochs' mean validation loss (fewer if the run
    # has fewer) minus the lowest, a mean so that one epoch's wobble does not set it alone.
    # overfitting_summary returns a dict of one run's figures read from its history (final
    # losses and accuracy, the lowest validation loss and its epoch, the rise).
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
    lowest_line = "plain, validation accuracy at its lowest validation loss"
    print(f"{lowest_line}: {plain['val_acc_at_lowest']:.4f}")
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
    # wrong_answers returns a dict on a model's wrong answers over a loader: their count,
    # their mean confidence (softmax probability of the chosen class) and their mean loss.
    confidence = {}  # each model's mean confidence on its wrong validation answers
    for label, trained in overfit_models.items():
        answers = wrong_answers(trained, val_loader)  # each model's own wrong answers
        confidence[label] = answers["confidence"]
        print(f"{label}, wrong validation answers: {answers['count']:,}")
        print(f"{label}, mean confidence on wrong validation answers: {confidence[label]:.2f}")
    surer_words = "higher" if confidence["plain"] > confidence["augmented"] else "not higher"
    print(f"confidence on wrong answers, plain model against augmented: {surer_words}")

# %% [markdown] tags=["solution"]
# **What the result means.** Without augmentation the network sees the same 1,250 images
# every epoch and can learn them by heart. In the right panel, look for overfitting: the
# training loss still falls while the validation loss passes its lowest point, then climbs
# and stays up. The plain run's training loss ended at
# 0.56<!-- output: plain, final training loss -->; its validation loss was lowest at
# epoch 10<!-- output: plain, lowest validation loss at epoch --> and ended at
# 2.39<!-- output: plain, final validation loss -->. With augmentation (left panel) the
# validation loss was lowest at
# epoch 15<!-- output: augmented, lowest validation loss at epoch --> of 15 and ended at
# 1.61<!-- output: augmented, final validation loss -->.
#
# The two training losses were measured on different batches (one run's flipped and
# shifted), so each model was also scored on its own 1,250 training images without
# augmentation. There the augmented model's loss was
# **higher**<!-- says: loss on its own images, the augmented model's against the plain's -->:
# 1.33<!-- output: augmented, loss on its training images without augmentation -->
# against 0.36<!-- output: plain, loss on its training images without augmentation -->.
# Validation loss minus that loss, the *generalisation gap*, was
# **larger**<!-- says: validation minus own-image loss, plain model against augmented -->
# for the plain model: 2.03<!-- output: plain, final validation loss minus that -->
# against 0.28<!-- output: augmented, final validation loss minus that -->.
#
# On its wrong validation answers the plain model was surer: its mean *confidence* (the
# softmax probability of its wrong prediction) was
# **higher**<!-- says: confidence on wrong answers, plain model against augmented -->,
# 0.65<!-- output: plain, mean confidence on wrong validation answers --> against
# 0.42<!-- output: augmented, mean confidence on wrong validation answers -->, each over
# that model's own wrong answers
# (2,997<!-- output: plain, wrong validation answers --> and
# 2,857<!-- output: augmented, wrong validation answers -->), not one shared set.
#
# Accuracy says less. The plain run ended at
# 40.1%<!-- output: plain, final validation accuracy -->,
# **within 1 point**<!-- says: plain, final accuracy against that at the lowest loss --> of
# its 39.6%<!-- output: plain, validation accuracy at its lowest validation loss --> at
# the lowest loss,
# and the augmented run at 42.9%<!-- output: augmented, final validation accuracy -->. Each
# model is one run from one seed, so these do not say which scores higher.

# %% [markdown]
# **Exercise 2: change the width.** Train ResNet-9 at a quarter, half and all of
# `resnet_width` (8, or 64 on a CUDA GPU) on the sample, with augmentation, for `width_epochs`
# epochs, from each seed in `width_seeds` (0, 1, 2). Use section 7's `fit_one_cycle` settings
# (batches of 128, Adam, peak 0.01 at every width, weight decay 1e-4, clipping at 0.1, a
# validation score each epoch). Call `seed_everything(seed)` right before building each model,
# and seed each loader's generator with `seed`. Write one run in the inner loop two cells below
# (its comment names what the check reads). On a pass, the next cell prints each width's
# figures, then each change of width seed by seed. How do the figures change with the width?

# %%
width_epochs = full_or_smoke(full=2, smoke=1)
width_seeds = (0, 1, 2)  # every width from each seed; seed 0's models are the ones kept
print(f"resnet_width {resnet_width}, width_epochs {width_epochs}, width_seeds {width_seeds}")

# %%
# The dicts the check reads, keyed by width, and the loops that fill them: seed 0's model
# and history, and each width's start, loader and final validation accuracy from every
# seed (seed 0 first), so that the check sees every seed's seeding. Inside the inner loop,
# name the run's parts as the lines after it expect: `run_model`, `run_start` (a copy of
# its weights before training), `run_loader`, `run_history` and `run_final` (its final
# validation accuracy).
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
        width_starts.setdefault(width, []).append(run_start)  # every seed's, seed 0 first
        width_loaders.setdefault(width, []).append(run_loader)
        width_finals.setdefault(width, []).append(run_final)
        if seed == 0:  # the runs the check inspects whole
            width_histories[width], width_models[width] = run_history, run_model
    print(f"finished seed {seed}, all widths")

# %%
import itertools

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
    # Each doubling of the width: the parameters' growth.
    widths = sorted(width_models)
    for low, high in itertools.pairwise(widths):
        growth = count_parameters(width_models[high]) / count_parameters(width_models[low])
        print(f"width {low} to {high}, parameters grew (times): {growth:.2f}")
    # Each change of width within each seed (same seed, same batch order), in points.
    for low, high in itertools.combinations(sorted(width_finals), 2):
        pairs = zip(width_finals[low], width_finals[high], strict=True)
        changes = [100 * (after - before) for before, after in pairs]
        what, by_seed = f"width {low} to {high}", ", ".join(f"{c:+.2f}" for c in changes)
        print(f"{what}, accuracy change by seed (points): {by_seed}")
        print(f"{what}, mean accuracy change (points): {statistics.mean(changes):+.2f}")
        print(f"{what}, seeds that moved up: {sum(c > 0 for c in changes)} of {len(changes)}")

# %% [markdown] tags=["solution"]
# **What the result means.** Each doubling of the width multiplied the parameters by
# 3.89<!-- output: width 2 to 4, parameters grew (times) --> and
# 3.95<!-- output: width 4 to 8, parameters grew (times) -->, from
# 6,772<!-- output: width 2, parameters --> at width 2 to
# 103,954<!-- output: width 8, parameters --> at width 8: every convolution after the
# first has twice the channels in and out, so four times the weights. On this CPU the
# second epoch's training took
# 0.62 s<!-- output: width 2, training seconds, second epoch --> at width 2 and
# 1.58 s<!-- output: width 8, training seconds, second epoch --> at width 8 (seed 0, timed
# once per width): look for the seconds to grow far less than the parameters. Python's
# fixed cost per step may be one reason; it was not measured.
#
# Mean validation accuracy over the three seeds was
# 27.20%<!-- output: width 2, mean validation accuracy --> at width 2,
# 35.49%<!-- output: width 4, mean validation accuracy --> at 4 and
# 38.75%<!-- output: width 8, mean validation accuracy --> at 8. Within each seed, from
# width 2 to 4,
# 3<!-- output: width 2 to 4, seeds that moved up --> of 3 seeds moved up, by
# +8.29<!-- output: width 2 to 4, mean accuracy change (points) --> points on average; from
# 4 to 8, 3<!-- output: width 4 to 8, seeds that moved up --> of 3, by
# +3.26<!-- output: width 4 to 8, mean accuracy change (points) -->; from 2 to 8,
# 3<!-- output: width 2 to 8, seeds that moved up --> of 3, by
# +11.55<!-- output: width 2 to 8, mean accuracy change (points) -->. Where a line's three
# changes point the same way and lie close together, the seeds agree; where they scatter,
# the mean rests on less. These are short runs on the sample at one learning rate (0.01)
# for every width; longer training was not tested.

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
# (arXiv 2404.00498). This lesson trains no `FastNet`: it builds one, untrained, and shows
# three of its ideas at work below (patch whitening, identity initialisation, label
# smoothing). The others, one line each with its source:
# - *GELU*, a smooth ReLU, `x · Φ(x)`, after the first layer and every batch
#   norm<!-- source: airbench94.py, arXiv 2404.00498 -->;
# - batch norm with its scale fixed at 1 (only its shift is learned), its running averages
#   moving 0.4<!-- source: airbench94.py, arXiv 2404.00498 --> of the way to each batch's
#   statistics, not PyTorch's 0.1;
# - narrower stages than ResNet-9's (32, 64 and 128 channels against 64 to 512), after an
#   unpadded 2 x 2 first layer<!-- source: course_utils/fastnet.py, FastNet -->;
# - logits divided by 9<!-- source: airbench94.py, scaling_factor 1/9, arXiv 2404.00498 -->,
#   meant to keep an untrained network's predictions near even (`fast_demo` below shows an
#   untrained FastNet's largest probability on 8 images, with and without the division);
# - channels-last weights and batches (`FastNet`'s default, `channels_last=True`);
# - SGD with *Nesterov* momentum 0.85, which takes each gradient where momentum is about to
#   carry the weights<!-- source: Sutskever et al., ICML 2013 (proceedings.mlr.press/v28) -->;
# - weight decay 5e-4 on the weights only, not on biases and batch-norm
#   shifts<!-- source: course_utils/fastnet.py, fit_fast -->;
# - `fit_fast`'s schedule: batches of 512, a peak learning rate of 2.0, reached in a straight
#   line over the first fifth of the steps (`warm_up=0.2`), then falling in a straight line
#   towards 0<!-- source: course_utils/fastnet.py, fit_fast; benchmarks/cifar10_cpu.py -->;
# - crops after padding by 2 pixels (not section 6's 4), and
#   flips<!-- source: benchmarks/cifar10_cpu.py, train_fast -->;
# - *label smoothing* at 0.2 (below), and test-time augmentation as in section 7.
#
# **The course's benchmark** (`benchmarks/RESULTS.md`, on a CPU, not this run) trained
# `FastNet` for 6 epochs with these settings and scored it on the test images. It also
# scored a width-16 ResNet-9 with section 7's recipe on the test images, so the test set
# has been looked at for both recipes (section 8). This lesson quotes neither score: the
# two runs differed in network, optimiser, epochs, time and seeds, so they do not say what
# `FastNet`, or any one of its ideas, is worth.
#
# **An untrained `FastNet`**, `fast_demo`, with the benchmark's settings, its first layer set
# from 500 training images:

# %%
from course_utils.fastnet import FastNet, identity_conv

release_memory()
seed_everything(0)  # fast_demo's weights, whatever ran before
fast_demo = to_device(FastNet(), device)  # untrained, with the benchmark's settings
whitening_images = normalise(train_images[:500].to(device))
fast_demo.whiten_from(whitening_images)  # the first layer's filters, from these images
print(f"FastNet parameters: {count_parameters(fast_demo):,}")
with eval_mode(fast_demo):  # untrained: how evenly does it spread its predictions?
    demo_logits = fast_demo(normalise(val_images[:8].to(device)))  # already divided by 9
largest_probability = F.softmax(demo_logits, dim=1).max().item()
# The same logits multiplied back by 9 (divided by output_scale, 1/9): no division.
unscaled_probability = F.softmax(demo_logits / fast_demo.output_scale, dim=1).max().item()
print(f"untrained FastNet, largest softmax probability on 8 images: {largest_probability:.2f}")
print(f"same logits without the division by 9, largest probability: {unscaled_probability:.2f}")

# %% [markdown]
# Untrained, `fast_demo`'s largest softmax probability on 8 validation images was
# 0.13<!-- output: untrained FastNet, largest softmax probability on 8 images -->, and
# 0.38<!-- output: same logits without the division by 9, largest probability --> from the
# same logits without the division by 9; an even split gives each of the 10 classes 0.10.
#
# **Patch whitening.** A 2 x 2 patch of 3 colours is 12 numbers, and neighbouring pixels and
# colours are strongly correlated. `whiten_from` finds the 12 directions along which the
# patches vary (the eigenvectors of their covariance) and turns each into a 2 x 2 filter that
# measures it, divided by its spread (the square root of its variance plus a small `eps`).
# The first layer holds these 12 filters and their negatives, never trained. On their own
# images the 12 outputs should be uncorrelated (covariance 0 between outputs), each with a
# variance near 1, except along the weakest directions, where `eps` holds it lower.

# %%
with torch.no_grad():  # every 2 x 2 patch as a row of 12 numbers, and its 12 outputs
    patches = F.unfold(whitening_images, kernel_size=2).transpose(1, 2).reshape(-1, 12).cpu()
    whitened = fast_demo.whiten(whitening_images)[:, :12]  # the 12 filters, not their negatives
    whitened = whitened.permute(0, 2, 3, 1).reshape(-1, 12).cpu()  # one row per patch
off_diagonal = ~torch.eye(12, dtype=torch.bool)
correlations = torch.corrcoef(patches.T)[off_diagonal]
print(f"patches, correlations of two numbers: {correlations.min():.2f} to {correlations.max():.2f}")
whitened_covariance = torch.cov(whitened.T)
largest_covariance = whitened_covariance[off_diagonal].abs().max()
print(f"whitened, largest covariance of two outputs: {largest_covariance:.4f}")
variances = whitened_covariance.diag()
print(f"whitened, variances: {variances.min():.2f} to {variances.max():.2f}")
print(f"whitened, variances above 0.9: {(variances > 0.9).sum()} of 12")
# The patches' weakest direction: its variance, and what dividing by sqrt(variance + eps)
# leaves of it, variance / (variance + eps), against the lowest whitened variance above.
weakest = torch.linalg.eigvalsh(torch.cov(patches.T)).min().item()
print(f"patches, variance along the weakest direction: {weakest:.1e}")
print(f"weakest direction, variance / (variance + eps): {weakest / (weakest + 5e-4):.2f}")
del patches, whitened, whitening_images

# %% [markdown]
# Every pair of a patch's 12 numbers correlated, from
# 0.68<!-- output: patches, correlations of two numbers --> up. The whitened outputs'
# covariance is diagonal: off the diagonal about 0 (largest
# 0.0000<!-- output: whitened, largest covariance of two outputs -->), on it
# 7<!-- output: whitened, variances above 0.9 --> of 12 variances above 0.9. The rest were
# lower, down to 0.21<!-- output: whitened, variances -->. The patches' weakest direction
# had a variance of
# 1.3e-04<!-- output: patches, variance along the weakest direction -->, and the formula
# below leaves
# 0.21<!-- output: weakest direction, variance / (variance + eps) --> of it: the lowest
# whitened variance.
# `whiten_from` adds
# `eps` = 5e-4<!-- source: course_utils/fastnet.py, whiten_from, eps=5e-4 --> to each
# direction's variance before taking the square root and dividing, so a direction of variance
# v comes out with variance v / (v + eps): near 1 where v is much larger than `eps`, lower
# where v is not. The variances above were measured with `eps`. Without it, the formula would
# give v / v = 1: it would scale even the weakest directions up to variance 1, however little
# the patches vary along them (reasoning only; no cell here drops `eps`).
#
# **Identity initialisation**, instead of residual additions. In each 3 x 3 convolution,
# output channel *i* starts as a copy of input channel *i* (PyTorch's `dirac_`); extra output
# channels start random. So each such convolution starts by passing its input through, as
# ResNet-9's additions do, and training would then learn corrections (only the start is
# shown here).
# One such layer, 3 channels in and 8 out, on the car:

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
# The first 3 channels pass the car through:
# **True**<!-- says: first 3 output channels equal the input -->; any of the other 5 equal to
# an input channel: **False**<!-- says: any of the other 5 equal to an input channel -->.
#
# **Label smoothing.** `FastNet`'s training loss scores *smoothed* targets: 0.8 of the weight
# on the right class and 0.2 spread evenly over all 10, so 0.82 for the right class and 0.02
# for each other, not 1 and 0 (its validation loss scores the plain labels). By hand, against
# PyTorch's `label_smoothing`, on some random logits:

# %% tags=["nbval-check-output"]
smoothing = fast_demo.label_smoothing  # the benchmark's 0.2
smoothed = F.one_hot(torch.tensor(3), 10).float() * (1 - smoothing) + smoothing / 10
print("target for class 3:", [round(p, 2) for p in smoothed.tolist()])
some_logits = torch.randn(1, 10, generator=torch.Generator().manual_seed(0))
by_hand = -(smoothed * F.log_softmax(some_logits, dim=1)).sum()  # cross-entropy, that target
by_pytorch = F.cross_entropy(some_logits, torch.tensor([3]), label_smoothing=smoothing)
smoothing_same = torch.allclose(by_hand, by_pytorch)
print(f"PyTorch's smoothed loss equals the cross-entropy with that target: {smoothing_same}")
del fast_demo, car_input, copied, some_logits

# %% [markdown]
# The same:
# **True**<!-- says: PyTorch's smoothed loss equals the cross-entropy with that target -->. So
# a `FastNet`'s training loss scores these softer targets; its validation loss, plain labels.

# %% [markdown]
# ## Appendix B: the small CNN's classes and receptive fields
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
# ## Appendix C: which parts of the recipe can a short run detect?
#
# *Optional: read after the exercises.*
#
# A width-8 ResNet-9 trains for one epoch over the first 6,000 training images
# (`recipe_images`: each image seen once, one validation score per run) from each of 3
# seeds (`recipe_seeds`), with augmentation, in five recipes, each adding one thing to the
# one before except runs 2 and 5: (1) Adam at a constant rate of 0.005 (`fit`), half of
# one-cycle's peak; (2) one-cycle peaking at 0.01, three changes at once (the rate's shape,
# Adam's beta1 as Appendix E explains, `fit_one_cycle` for `fit`); (3) plus weight decay;
# (4) plus clipping: the full recipe; (5) the full recipe without batch norm, each
# convolution given a bias instead.
# Three seeds and one epoch keep the lesson inside its time budget; with only three seeds,
# even "3 of 3 seeds down" is weaker evidence than "5 of 5" would be.
# `small_resnet_and_loader` seeds, then builds a run's model and loader;
# `train_small_resnet` trains one run.

# %%
from course_utils.layers import remove_batch_norm

recipe_images = full_or_smoke(full=6_000, smoke=500)  # the first training images


def small_resnet_and_loader(seed, batch_norm=True):
    """Seed, then build an untrained width-8 ResNet-9 and its augmented loader over the
    first ``recipe_images`` training images."""
    seed_everything(seed)
    model = ResNet9(8) if batch_norm else remove_batch_norm(ResNet9(8))
    model = to_device(model, device)
    loader = DeviceTensorLoader(
        train_images[:recipe_images],
        train_labels[:recipe_images],
        batch_size=128,
        shuffle=True,
        device=device,
        generator=torch.Generator().manual_seed(seed),
        transform=augment,
    )
    return model, loader


# %%
recipe_epochs = 1  # peak_rate (section 7): one-cycle's peak


def train_small_resnet(
    seed, one_cycle=True, lr=peak_rate, weight_decay=0.0, grad_clip=None, batch_norm=True
):
    """A width-8 ResNet-9 and loader from ``small_resnet_and_loader``, trained; returns the
    model and its history. ``lr`` is the constant rate of a run without one-cycle;
    one-cycle always peaks at ``peak_rate``."""
    model, loader = small_resnet_and_loader(seed, batch_norm)
    if not one_cycle:
        history = fit(
            recipe_epochs, lr, model, loader, val_loader, opt_func=torch.optim.Adam, verbose=False
        )  # verbose=False: no line per epoch, the tables below instead
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
# Five recipes, each from every seed in recipe_seeds; each run's final accuracy in percent.
constant_name = f"constant learning rate {peak_rate / 2}"  # run 1, the baseline
recipe_runs = {
    constant_name: dict(one_cycle=False, lr=peak_rate / 2),  # half of one-cycle's peak
    "one-cycle": dict(),
    "one-cycle, weight decay": dict(weight_decay=1e-4),
    "one-cycle, weight decay, clipping": dict(weight_decay=1e-4, grad_clip=0.1),
    "the recipe, without batch norm": dict(weight_decay=1e-4, grad_clip=0.1, batch_norm=False),
}
recipe_seeds = (0, 1, 2)  # three seeds, in both modes: the lesson's time budget
finals = {name: [] for name in recipe_runs}  # each recipe's final accuracy, seed by seed
for seed in recipe_seeds:
    for name, settings in recipe_runs.items():
        _, history = train_small_resnet(seed, **settings)
        finals[name].append(100 * history[-1]["val_acc"])
    print(f"finished seed {seed}, all {len(recipe_runs)} recipes")
recipe_steps = sum(len(epoch["lrs"]) for epoch in history)  # the same for every run
print(f"steps per recipe run: {recipe_steps}")

# Table 1: each recipe's accuracy seed by seed, its mean and its seeds' SD.
seed_columns = "".join(f"{seed:>8}" for seed in recipe_seeds)
print(f"\n{'recipe, accuracy (%) by seed':38}{seed_columns}{'mean':>8}{'SD':>7}")
for number, (name, accuracies) in enumerate(finals.items(), start=1):
    row = "".join(f"{accuracy:8.2f}" for accuracy in accuracies)
    mean, spread = statistics.mean(accuracies), statistics.stdev(accuracies)
    print(f"{f'{number}. {name}':38}{row}{mean:8.2f}{spread:7.2f}")
seed_sds = [statistics.stdev(accuracies) for accuracies in finals.values()]
smallest_sd, largest_sd = min(seed_sds), max(seed_sds)

# Table 2: each change, the after recipe's accuracy minus the before's, seed by seed.
full_name, no_norm_name = "one-cycle, weight decay, clipping", "the recipe, without batch norm"
steps_compared = {  # what changed (runs): (the recipe before, the recipe after)
    "one-cycle, 3 changes (2 vs 1)": (constant_name, "one-cycle"),
    "weight decay (3 vs 2)": ("one-cycle", "one-cycle, weight decay"),
    "clipping (4 vs 3)": ("one-cycle, weight decay", full_name),
    "removing batch norm (5 vs 4)": (full_name, no_norm_name),
    "the recipe, 5 changes (4 vs 1)": (constant_name, full_name),
}
step_changes = {
    what: [after - before for before, after in zip(finals[a], finals[b], strict=True)]
    for what, (a, b) in steps_compared.items()
}
print(f"\n{'change (runs)':32}  seeds down{seed_columns}{'mean':>8}  (points by seed)")
for what, changes in step_changes.items():  # each row starts "what: seeds down"
    row = "".join(f"{change:+8.2f}" for change in changes)
    down = f"{sum(change < 0 for change in changes)} of {len(changes)}"
    print(f"{what:32}: {down:10}{row}{statistics.mean(changes):+8.2f}")
removal, decay = step_changes["removing batch norm (5 vs 4)"], step_changes["weight decay (3 vs 2)"]
print(f"removing batch norm, smallest drop of a seed (points): {-max(removal):.2f}")
print(f"smallest seed SD of any recipe (points): {smallest_sd:.2f}")
print(f"largest seed SD of any recipe (points): {largest_sd:.2f}")
print(f"weight decay, its seeds' changes from (points): {min(decay):+.2f}")
print(f"weight decay, its seeds' changes up to (points): {max(decay):+.2f}")
one_cycle = step_changes["one-cycle, 3 changes (2 vs 1)"]
print(f"one-cycle, its seeds' changes from (points): {min(one_cycle):+.2f}")
print(f"one-cycle, its seeds' changes up to (points): {max(one_cycle):+.2f}")

# %% [markdown]
# **Reading the tables.** Removing batch norm moved
# 3<!-- output: removing batch norm (5 vs 4) --> of 3 seeds down. Each dropped by at
# least 10.54<!-- output: removing batch norm, smallest drop of a seed (points) --> points.
# That is more than any recipe's seed SD (at most
# 5.40<!-- output: largest seed SD of any recipe (points) --> points). That run also gave
# each convolution a bias. It kept the rate of the recipe with batch norm (not retuned).
#
# Weight decay moved
# 1<!-- output: weight decay (3 vs 2) --> of 3 seeds down. Its seeds' changes ran from
# -0.80<!-- output: weight decay, its seeds' changes from (points) --> to
# +0.66<!-- output: weight decay, its seeds' changes up to (points) --> points. Each change
# compares two runs from the same seed. The runs were
# 47<!-- output: steps per recipe run --> steps long.
#
# One-cycle's three changes also change the rate at every step: a constant 0.005 against a
# cycle peaking at 0.01. They moved
# 1<!-- output: one-cycle, 3 changes (2 vs 1) --> of 3 seeds down. Its seeds' changes
# ran from
# -0.96<!-- output: one-cycle, its seeds' changes from (points) --> to
# +12.76<!-- output: one-cycle, its seeds' changes up to (points) --> points.
#
# Clipping moved
# 2<!-- output: clipping (4 vs 3) --> of 3 seeds down. The whole recipe against run 1
# makes one-cycle's changes, weight decay and clipping at once. It moved
# 1<!-- output: the recipe, 5 changes (4 vs 1) --> of 3 seeds down.
#
# Appendix E measures how large weight decay's term is, and what that means for the second
# table's weight-decay row.

# %% [markdown]
# ## Appendix D: section 7 on a GPU
#
# *Optional: read after the exercises.*
#
# This appendix extends section 7. ResNet-9's widths in this lesson: 8 in Appendix C on every
# device and in section 7 on a CPU; in exercise 2, 2 to 8 on a CPU (a quarter, half and all
# of section 7's width); 16 in the benchmark; 64 on a CUDA GPU.
#
# **Width 64 on a CUDA GPU.** There, section 7's code sets section 6's ResNet-9 to width
# 64 and `resnet_epochs` to 16, with the full recipe, channels-last weights (each pixel's
# channels stored side by side) and, where `bfloat16_support` finds bfloat16 units,
# lesson 04's bfloat16 autocast: the code's settings for a CUDA GPU, not run here.
# Section 7's `build_network` (the cell for a CUDA GPU) sets both: it asks
# `bfloat16_support`, picks `MixedPrecisionResNet9` (ResNet-9 with its forward pass under
# autocast, its logits returned as float32) where the units exist, and moves the weights
# to channels-last. This page's outputs come from a CPU, so they do not show the course
# outline's
# 90%<!-- source: course outline, lesson 05 --> goal.
# An earlier version of this code, run once as a script on another machine (an NVIDIA H200,
# PyTorch 2.11), trained it for
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
# **Airbench**, by its authors (not run here), reaches
# 94%<!-- source: arXiv 2404.00498 (airbench94.py) --> test accuracy in
# 3.83 seconds<!-- source: github.com/KellerJordan/airbench README (airbench94.py) --> on
# one NVIDIA A100.

# %% [markdown]
# ## Appendix E: He's initialisation and the recipe's parts by hand
#
# *Optional: read after the exercises.*
#
# This appendix extends sections 6 and 7: He's initialisation against residual blocks, the
# size of weight decay's term, Adam's beta1 under one-cycle, and Adam checked by hand.
#
# **He's initialisation.** Section 6's plain stack, at PyTorch's default initialisation,
# lost its gradient on the way back. Initialise its weights the *He* way instead
# (`kaiming_normal_`, with a spread of √(2 / inputs per output), meant to keep a ReLU
# stack's signal in range; the biases keep PyTorch's default) and compare its gradients
# as section 6 did:


# %%
def he_stack() -> nn.Sequential:
    """Section 6's plain deep_stack, its convolutions' weights then drawn the He way."""
    stack = deep_stack(residual=False)
    for layer in stack.modules():
        if isinstance(layer, nn.Conv2d):
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
    return stack


release_memory()  # room for the stack's activations, within the lesson's memory budget
he_ratio = gradient_ratio(he_stack)
print(f"He-initialised plain stack, first layer's gradient / last's: {he_ratio:.2g}")

# %% [markdown]
# The He-initialised plain stack kept its gradient:
# 0.68<!-- output: He-initialised plain stack, first layer's gradient / last's --> times
# the last's, so at the start the additions are one remedy, not the only one.
#
# **Why does ResNet-9 keep residual blocks, then?** Because training, not the start, is the
# problem: He et al. (2016) found that deeper plain networks trained *worse* than shallower
# ones, even with batch
# norm<!-- source: He et al., arXiv 1512.03385, section 4.1, plain nets with BN --> (the
# *degradation* problem), and introduced the additions to fix it. This lesson trains no
# deep plain stack, so it shows only the gradient at the start.
#
# **How big is weight decay's term?** With Adam, `weight_decay=1e-4` adds 1e-4 x w to each
# weight's gradient (section 6 checked it by hand). A fresh width-8 ResNet-9 (seed 0), one
# batch of the first 128 training images, one backward pass of the cross-entropy: the
# term's length against the gradient's (each the square root of its sum of squares), and
# the share of the gradient's values that clipping at 0.1 would cut:

# %%
with torch.random.fork_rng(devices=[]):  # leave the lesson's random stream as it was
    torch.default_generator.manual_seed(0)  # the CPU stream only, which fork_rng restores
    fresh = to_device(ResNet9(8), device)  # untrained, float32, in train mode
fresh_batch = normalise(train_images[:128].to(device))
F.cross_entropy(fresh(fresh_batch), train_labels[:128].to(device)).backward()
gradients = torch.cat([p.grad.flatten() for p in fresh.parameters()])
decay_term = 1e-4 * torch.cat([p.detach().flatten() for p in fresh.parameters()])
decay_share = (decay_term.norm() / gradients.norm()).item()  # lengths: root sums of squares
print(f"weight decay's term / gradient, lengths, first batch: {decay_share:.6f}")
clipped_share = (gradients.abs() > 0.1).float().mean().item()  # values beyond ±0.1
print(f"share of the gradient's values that clipping at 0.1 cuts, first batch: {clipped_share:.4f}")
del fresh, fresh_batch, gradients, decay_term

# %% [markdown]
# Weight decay's term was
# 0.014%<!-- output: weight decay's term / gradient, lengths, first batch --> of the
# gradient's length: the two vectors that Adam's `weight_decay` sums, compared before
# Adam's per-weight scaling, on one batch of an untrained network. Appendix C's runs cannot
# tell whether decay this small acted as decay; it may only have nudged each run onto
# another path. A run with an even smaller decay would be the control (not run here). So
# read Appendix C's weight-decay row as what this decay did in 47 steps, not as what decay
# does over a longer training (not run here). On the same batch, clipping at 0.1 touched
# 1.1%<!-- output: share of the gradient's values that clipping at 0.1 cuts, first batch -->
# of the gradient's values.
#
# **Adam by hand.** Adam (lesson 03's section 8 used it) keeps two running averages for each
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
# **Adam's beta1 under one-cycle.** Section 7 checked `fit_one_cycle`'s rates by hand. The
# same schedule also moves Adam's beta1: here it drives an Adam over one dummy weight (no
# gradient, no training), to read beta1 at the first step, at the peak step (`cycle_peak`,
# section 7's) and at the last step:

# %%
# Adam's beta1 is the first of its `betas`; OneCycleLR sets it at every step.
dummy_weight = nn.Parameter(torch.zeros(1))
beta1_adam = torch.optim.Adam([dummy_weight], lr=peak_rate)
beta1_cycle = torch.optim.lr_scheduler.OneCycleLR(beta1_adam, peak_rate, total_steps=cycle_steps)
first_beta1 = beta1_adam.param_groups[0]["betas"][0]  # step 0
for _ in range(cycle_peak):  # on to the peak step
    beta1_adam.step()  # no gradient, so the weight stays as it is
    beta1_cycle.step()
peak_beta1 = beta1_adam.param_groups[0]["betas"][0]
print(f"Adam's beta1 under one-cycle, first step: {first_beta1:.2f}")
print(f"Adam's beta1 under one-cycle, peak step: {peak_beta1:.2f}")
for _ in range(cycle_steps - 1 - cycle_peak):  # on to the last step, cycle_steps - 1
    beta1_adam.step()
    beta1_cycle.step()
last_beta1 = beta1_adam.param_groups[0]["betas"][0]
print(f"Adam's beta1 under one-cycle, last step: {last_beta1:.2f}")
del dummy_weight, beta1_adam, beta1_cycle

# %% [markdown]
# One-cycle (built on PyTorch's `OneCycleLR`) also moves Adam's beta1 against the rate, by
# its default
# `cycle_momentum=True`<!-- source: PyTorch docs, OneCycleLR, cycle_momentum=True -->:
# beta1 was 0.95<!-- output: Adam's beta1 under one-cycle, first step --> at the first step
# and 0.85<!-- output: Adam's beta1 under one-cycle, peak step --> at the peak step. As the
# rate falls it climbs back, to
# 0.95<!-- output: Adam's beta1 under one-cycle, last step --> at the last step, the default
# `max_momentum=0.95`<!-- source: PyTorch docs, torch.optim.lr_scheduler.OneCycleLR -->.
