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
# Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/course-org/pytorch-from-zero/blob/main/notebooks/03_hidden_layers_relu.ipynb)
# [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/course-org/pytorch-from-zero/main?urlpath=lab/tree/notebooks/03_hidden_layers_relu.ipynb)
#
# # Lesson 03: Hidden layers and ReLU on MNIST
#
# MNIST is 70,000 photographs of handwritten digits, 28 x 28 pixels each. In this
# lesson a network learns to read them, and you will see why it needs a
# *hidden layer* with a *non-linearity* between its linear layers.
#
# **By the end of this lesson you can**
# - load MNIST with torchvision, split off a validation set and batch it with a `DataLoader`;
# - compute a linear layer by hand, and show why two linear layers without an activation
#   are just one;
# - explain ReLU, softmax and cross-entropy, and why accuracy is a metric but not a loss;
# - define a model class, train it with `fit`, plot its history, and reach about
#   96.5%<!-- output: 32-unit model validation accuracy --> validation accuracy;
# - improve it (wider, deeper, dropout, Adam with a one-cycle schedule) to about
#   98.4%<!-- output: improved MLP test accuracy --> test accuracy, and see one overfit;
# - evaluate on the test set: single predictions, per-class accuracy, mistakes, a confusion matrix;
# - save weights, and save and resume a training checkpoint.

# %% [markdown] tags=["last-verified"]
# > **Last verified** 2026-12-08: PyTorch 2.14.1+cu130 on CPU (Intel(R) Xeon(R) Processor,
# > 2 threads); the whole lesson ran in 71 s with a peak memory of 1310 MB. The course's
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
import inspect
import math
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Subset, TensorDataset, random_split
from torchvision import transforms

from course_utils import ImageClassificationBase, accuracy, evaluate, fit, fit_one_cycle, training
from course_utils.checkpoint import load_checkpoint, save_checkpoint
from course_utils.checks.lesson03 import check_exercise
from course_utils.data import dataset_to_tensors, fashion_mnist, mnist
from course_utils.metrics import confusion_matrix, per_class_accuracy
from course_utils.models import MLP
from course_utils.plotting import (
    plot_confusion_matrix,
    plot_history,
    plot_lrs,
    show_batch,
    show_misclassified,
    show_prediction,
)
from course_utils.report import record_result
from course_utils.settings import full_or_smoke, seed_everything, smoke_mode
from course_utils.training import eval_mode, predict, predict_probabilities

generator = seed_everything(42)
print(f"PyTorch {torch.__version__}")

# %% [markdown]
# **Settings.** Smoke mode (the quick run the test suite uses) trains on a small
# slice of the data for one epoch; the full run uses everything.

# %%
train_size = full_or_smoke(full=50_000, smoke=2_000)
num_epochs = full_or_smoke(full=6, smoke=1)
num_epochs_low_lr = full_or_smoke(full=3, smoke=1)
ladder_epochs = full_or_smoke(full=8, smoke=1)
hand_epochs = full_or_smoke(full=2, smoke=1)
overfitting_epochs = full_or_smoke(full=25, smoke=2)
exercise_epochs = full_or_smoke(full=3, smoke=1)
print(
    f"Smoke mode: {smoke_mode()}; training images: {train_size}; "
    f"epochs: {num_epochs} + {num_epochs_low_lr}, and {ladder_epochs} per improvement"
)

# %% [markdown]
# ## 1. The data
#
# `course_utils.data.mnist` returns torchvision's `MNIST` dataset from the course's
# data folder (downloading it the first time). Without a transform, each item is a
# pair: a PIL image and its label.

# %% tags=["nbval-check-output"]
raw_train = mnist(train=True)
raw_test = mnist(train=False)
print(len(raw_train), len(raw_test))
image, label = raw_train[0]
print(type(image).__name__, image.size, label)

# %%
plt.figure(figsize=(2.5, 2.5))
plt.imshow(image, cmap="gray")
plt.title(f"label: {label}")
plt.axis("off")
plt.show()

# %% [markdown]
# A network needs tensors, not PIL images. `transforms.ToTensor()` turns each image
# into a float tensor of shape (channels, height, width) = (1, 28, 28) with
# values in [0, 1]. `Normalize` then shifts and scales them to mean 0 and standard
# deviation 1 (MNIST's pixel mean is 0.1307 and standard deviation 0.3081), which
# makes the first steps of training better behaved.

# %% tags=["nbval-check-output"]
MNIST_MEAN, MNIST_STD = (0.1307,), (0.3081,)
to_tensor = transforms.Compose([transforms.ToTensor(), transforms.Normalize(MNIST_MEAN, MNIST_STD)])
full_train = mnist(train=True, transform=to_tensor)
test_dataset = mnist(train=False, transform=to_tensor)
tensor_image, label = full_train[0]
print(tensor_image.shape, tensor_image.dtype, label)
print(f"min {tensor_image.min():.4f}, max {tensor_image.max():.4f}")

# %% [markdown]
# **A validation set.** The 60,000 training images are for learning; the 10,000
# test images are kept for the very end. To choose settings along the way we hold
# out 10,000 training images as a *validation set*. `random_split` with a seeded
# generator makes the split the same on every run.

# %%
train_dataset, val_dataset = random_split(full_train, [50_000, 10_000], generator=generator)
train_dataset = Subset(train_dataset, range(train_size))  # the whole split, except in smoke mode
print(len(train_dataset), len(val_dataset))

# %% [markdown]
# **Data loaders.** A `DataLoader` cuts a dataset into mini-batches:
# - `batch_size`: how many images go through the network per step (128 here);
# - `shuffle=True`: a new random order every epoch, so batches differ each time
#   (only for training: the validation order does not matter);
# - `num_workers`: how many extra processes prepare batches in parallel (0, the
#   default, means the main process does it).

# %%
batch_size = 128
plain_loader = DataLoader(train_dataset, batch_size=batch_size, shuffle=True, generator=generator)
images, labels = next(iter(plain_loader))
print(images.shape, labels.shape, f"{len(plain_loader)} batches per epoch")

# %% [markdown]
# **Decode once.** This loader runs `ToTensor` and `Normalize` in Python on every
# image, every epoch, work that lesson 04 times against the training itself. MNIST
# fits in memory many times over, so we run the transforms once
# (`dataset_to_tensors`), keep the results as tensors, and let a `DataLoader`
# over a `TensorDataset` batch and shuffle those. Lesson 04 measures the difference.

# %%
train_images, train_labels = dataset_to_tensors(train_dataset)
val_images, val_labels = dataset_to_tensors(val_dataset)
test_images, test_labels = dataset_to_tensors(test_dataset)
print(train_images.shape, val_images.shape, test_images.shape)

# %%
train_loader = DataLoader(
    TensorDataset(train_images, train_labels),
    batch_size=batch_size,
    shuffle=True,
    generator=generator,
)
val_loader = DataLoader(TensorDataset(val_images, val_labels), batch_size=1000)
test_loader = DataLoader(TensorDataset(test_images, test_labels), batch_size=1000)

# %% [markdown]
# `show_batch` draws a batch as one grid (torchvision's `make_grid`), undoing the
# normalisation so the digits look like digits.

# %%
show_batch(
    images[:32],
    nrow=16,
    mean=MNIST_MEAN,
    std=MNIST_STD,
    title=" ".join(str(int(label)) for label in labels[:16]) + " ...",
)

# %% [markdown]
# ## 2. A linear layer by hand
#
# `nn.Linear(784, 10)` holds a weight matrix W of shape (10, 784) and a bias b of
# shape (10,). For a batch x of shape (batch, 784) it computes x @ W.T + b: ten
# weighted sums of the 784 pixels. Check that this is all it does.

# %% tags=["nbval-check-output"]
linear = nn.Linear(784, 10)
flat_images = images.flatten(start_dim=1)  # (128, 1, 28, 28) -> (128, 784)
by_hand = flat_images @ linear.weight.T + linear.bias
print(linear.weight.shape, linear.bias.shape, by_hand.shape)
print(torch.allclose(linear(flat_images), by_hand))

# %% [markdown]
# **Two linear layers are still one.** Stack 784 -> 32 -> 10 without anything in
# between: y = (x W1ᵀ + b1) W2ᵀ + b2 = x (W2 W1)ᵀ + (b1 W2ᵀ + b2). That is a
# single linear layer with weight W2 W1 and bias W2 b1 + b2. Build it and compare.

# %%
first, second = nn.Linear(784, 32), nn.Linear(32, 10)
collapsed = nn.Linear(784, 10)
with torch.no_grad():
    collapsed.weight.copy_(second.weight @ first.weight)
    collapsed.bias.copy_(second.weight @ first.bias + second.bias)
stacked_output = second(first(flat_images))
collapsed_output = collapsed(flat_images)

# %% [markdown]
# The two compute the same function but add the numbers up in a different order,
# and `float32` rounds each step (about 7 significant digits). So the outputs
# differ by rounding noise (the next cell prints how much), and an exact comparison (or
# `allclose` with its default tolerances, 1e-5 relative and 1e-8 absolute, which
# allow less than that for outputs near zero) can wrongly report `False`. Choose the
# tolerance from the precision: a few hundred times float32's resolution is still far
# below any real difference.

# %% tags=["nbval-check-output"]
difference = (stacked_output - collapsed_output).abs().max().item()
print(f"largest difference: {difference:.1e}")
print(f"largest difference below 1e-5: {difference < 1e-5}")
print(torch.allclose(stacked_output, collapsed_output, rtol=1e-4, atol=1e-5))

# %% [markdown]
# In `float64` (about 16 digits) the same check passes with a far tighter
# tolerance, which confirms the gap was only rounding:

# %% tags=["nbval-check-output"]
# .double() converts a module in place, so convert copies
first64, second64, collapsed64 = (
    copy.deepcopy(layer).double() for layer in (first, second, collapsed)
)
with torch.no_grad():
    collapsed64.weight.copy_(second64.weight @ first64.weight)
    collapsed64.bias.copy_(second64.weight @ first64.bias + second64.bias)
print(
    torch.allclose(
        second64(first64(flat_images.double())),
        collapsed64(flat_images.double()),
        rtol=1e-12,
        atol=1e-12,
    )
)

# %% [markdown]
# So stacking linear layers adds parameters but no power: the model can still
# only draw straight boundaries between classes. Put a non-linear function
# between them and the collapse no longer works:

# %% tags=["nbval-check-output"]
with_relu = second(F.relu(first(flat_images)))
print(torch.allclose(with_relu, collapsed_output, rtol=1e-4, atol=1e-5))

# %% [markdown]
# ## 3. ReLU
#
# The rectified linear unit is the simplest useful non-linearity:
# ReLU(x) = max(0, x). Negative inputs become 0; positive inputs pass unchanged.

# %%
points = torch.linspace(-3, 3, 101)
plt.figure(figsize=(4, 2.5))
plt.plot(points, F.relu(points))
plt.title("ReLU(x) = max(0, x)")
plt.grid(alpha=0.3)
plt.show()

# %% [markdown]
# On a batch of hidden-layer outputs, almost half the values were negative; after
# ReLU the smallest value is exactly 0.

# %%
hidden = first(flat_images)
print(f"before ReLU: min {hidden.min():.3f}, negative {(hidden < 0).float().mean():.0%}")
print(f"after ReLU:  min {F.relu(hidden).min():.3f}")

# %% [markdown]
# Why does this help? Each hidden unit now switches on only for inputs on one side
# of a boundary, and the next layer combines these pieces. With enough hidden
# units, such piecewise-linear functions can approximate any shape of decision
# boundary, which one linear map cannot.
#
# ## 4. Softmax, cross-entropy and accuracy
#
# The network outputs ten numbers per image, called *logits*. Softmax turns them
# into probabilities: exponentiate, then divide by the sum.

# %% tags=["nbval-check-output"]
logits = torch.tensor([[2.0, 1.0, 0.1]])
probabilities = F.softmax(logits, dim=1)
print(probabilities, probabilities.sum().item())

# %% [markdown]
# Cross-entropy is the loss for classification: minus the log of the probability
# given to the correct class. `F.cross_entropy` takes the *logits* (it applies a
# numerically safe log-softmax itself), so never softmax before it. It equals
# `LogSoftmax` followed by `NLLLoss` (negative log-likelihood).

# %% tags=["nbval-check-output"]
target = torch.tensor([0])
print(F.cross_entropy(logits, target).item(), -torch.log(probabilities[0, 0]).item())
pair = nn.NLLLoss()(nn.LogSoftmax(dim=1)(logits), target)
print(torch.allclose(F.cross_entropy(logits, target), pair))

# %% [markdown]
# **Accuracy** is the fraction of images whose largest logit is at the right class.
# `course_utils.accuracy` computes it; by hand it is one line:

# %% tags=["nbval-check-output"]
example_outputs = torch.tensor([[0.1, 2.0], [1.5, 0.2], [0.3, 0.4]])
example_labels = torch.tensor([1, 1, 1])
print(
    (example_outputs.argmax(dim=1) == example_labels).float().mean(),
    accuracy(example_outputs, example_labels),
)

# %% [markdown]
# Accuracy is what we care about, but it is a poor loss: nudging the logits a little
# (as a small change of the weights would) almost never changes which logit is largest,
# so accuracy is flat almost everywhere and its gradient is zero. Cross-entropy changes
# smoothly with every logit, so its gradient always says which way to move. Below, the
# first line says whether the accuracy stayed the same after a nudge towards the right
# class, the second whether the cross-entropy went down.

# %% tags=["nbval-check-output"]
nudged = example_outputs + torch.tensor([[0.0, 0.1], [0.0, 0.1], [0.0, 0.1]])
print(accuracy(nudged, example_labels).item() == accuracy(example_outputs, example_labels).item())
print(
    F.cross_entropy(nudged, example_labels).item()
    < F.cross_entropy(example_outputs, example_labels).item()
)

# %% [markdown]
# ## 5. A model with one hidden layer
#
# The model subclasses `ImageClassificationBase` from `course_utils`, which supplies
# the training and validation steps (cross-entropy loss, accuracy) that `fit`
# calls, so the class only says what the layers are and how data flows through them.


# %%
class MnistModel(ImageClassificationBase):
    """784 pixels -> hidden_size units with ReLU -> 10 logits."""

    def __init__(self, hidden_size: int = 32):
        super().__init__()
        self.hidden = nn.Linear(28 * 28, hidden_size)
        self.output = nn.Linear(hidden_size, 10)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        flat = images.flatten(start_dim=1)
        return self.output(F.relu(self.hidden(flat)))


model = MnistModel(hidden_size=32)
for name, parameter in model.named_parameters():
    print(f"{name:15} {tuple(parameter.shape)}")

# %% [markdown]
# Before training, the model guesses. Ten classes guessed evenly would give an
# accuracy of 10%<!-- output: accuracy of an even guess --> and a loss of
# -ln(1/10) = ln 10 ≈ 2.30; random weights are not perfectly even, so expect
# numbers near those. (`evaluate` runs the evaluation pass that section 6 writes by
# hand.) The accuracy can come out below an even guess's: with random weights the answer
# depends on the image in an arbitrary way, and by chance it can match the labels less
# often than always answering the same digit would.

# %%
untrained = evaluate(model, val_loader)
print(f"accuracy of an even guess: {1 / 10}")
print(
    f"untrained: loss {untrained['val_loss']:.3f} (ln 10 = {torch.log(torch.tensor(10.0)):.3f}), "
    f"accuracy {untrained['val_acc']:.1%}"
)

# %% [markdown]
# ## 6. The training loop, by hand
#
# Training is lesson 02's gradient descent, run on one mini-batch at a time. For
# every batch:
# 1. **forward**: the model's logits for the batch's images;
# 2. **loss**: cross-entropy between the logits and the labels;
# 3. **backward**: the gradient of the loss for every parameter;
# 4. **step**: the optimizer moves each parameter a little against its gradient;
# 5. **zero_grad**: clear the gradients, or the next `backward` adds to them.
#
# One pass over all the batches is an *epoch*. `model.train()` first puts layers
# such as dropout into training behaviour (section 8 shows why that matters).


# %%
def train_one_epoch(
    model: nn.Module, loader: DataLoader, optimizer: torch.optim.Optimizer
) -> float:
    """One epoch of mini-batch training; returns the mean loss of its batches."""
    model.train()
    total_loss, num_batches = 0.0, 0
    for images, labels in loader:
        logits = model(images)  # 1. forward
        loss = F.cross_entropy(logits, labels)  # 2. loss
        loss.backward()  # 3. backward
        optimizer.step()  # 4. step
        optimizer.zero_grad()  # 5. zero the gradients
        total_loss += loss.item()
        num_batches += 1
    return total_loss / num_batches


# %% [markdown]
# **An evaluation pass** runs the model over the validation set without learning.
# `model.eval()` switches layers like dropout to their evaluation behaviour, and
# `torch.no_grad()` stops autograd from recording a graph nobody will use, which
# saves memory and time. The loss is summed over images and divided by their
# number, so a smaller last batch counts for exactly as many images as it holds.


# %%
def evaluate_by_hand(model: nn.Module, loader: DataLoader) -> tuple[float, float]:
    """Mean loss and accuracy over every example in loader, in eval mode."""
    model.eval()
    total_loss, correct, count = 0.0, 0, 0
    with torch.no_grad():
        for images, labels in loader:
            logits = model(images)
            total_loss += F.cross_entropy(logits, labels, reduction="sum").item()
            correct += (logits.argmax(dim=1) == labels).sum().item()
            count += len(labels)
    model.train()
    return total_loss / count, correct / count


# %% [markdown]
# Train a fresh 32-unit model for `hand_epochs` epochs with these two functions, and
# record each epoch's training and validation loss. Its loader gets a generator of
# its own, seeded, so that the same shuffles can be replayed below.


# %%
def seeded_train_loader(seed: int) -> DataLoader:
    """The training batches, shuffled in an order fixed by seed."""
    shuffle_order = torch.Generator().manual_seed(seed)
    dataset = TensorDataset(train_images, train_labels)
    return DataLoader(dataset, batch_size=batch_size, shuffle=True, generator=shuffle_order)


seed_everything(1)
hand_model = MnistModel(hidden_size=32)
hand_optimizer = torch.optim.SGD(hand_model.parameters(), lr=0.2)
hand_loader = seeded_train_loader(seed=7)
hand_losses = []
for epoch in range(hand_epochs):
    train_loss = train_one_epoch(hand_model, hand_loader, hand_optimizer)
    val_loss, val_accuracy = evaluate_by_hand(hand_model, val_loader)
    hand_losses.append([train_loss, val_loss])
    print(f"epoch {epoch + 1}: train_loss {train_loss:.4f}, val_loss {val_loss:.4f}, ", end="")
    print(f"val_acc {val_accuracy:.4f}")

# %% [markdown]
# **The same with `fit`.** `fit(epochs, lr, model, train_loader, val_loader)` from
# `course_utils` runs exactly this loop, plus an evaluation after every epoch, a
# progress bar and a check that the loss stays finite. From the same starting
# weights and the same shuffles it must give the same losses:

# %%
seed_everything(1)
fit_model = MnistModel(hidden_size=32)
fit_history = fit(hand_epochs, 0.2, fit_model, seeded_train_loader(seed=7), val_loader)

# %% tags=["nbval-check-output"]
fit_losses = [[epoch["train_loss"], epoch["val_loss"]] for epoch in fit_history]
print(torch.allclose(torch.tensor(hand_losses), torch.tensor(fit_losses), rtol=1e-4))

# %% [markdown]
# `True`: the same losses, to the fourth significant digit. Here is the part of
# `course_utils.training` that trains one epoch (the leading underscore marks it as
# internal: lessons call `fit`).

# %% tags=["nbval-check-output"]
print(inspect.getsource(training._train_epoch))

# %% [markdown]
# Your five steps are all there: `training_step` is the forward pass and the loss (the
# model class supplies it, as section 5 said), then `backward`, `step` and `zero_grad`.
# The other lines are options and safeguards, each for a later need:
# - the non-finite check stops with the epoch and batch as soon as the loss becomes NaN
#   or infinite, instead of training on garbage (`_checks_every_step` says whether to
#   look at every step; on a GPU, looking would make Python wait at every step, so there
#   it looks once per epoch);
# - `grad_clip` caps each gradient value (off unless you pass it; lesson 05 uses it);
# - `scheduler` changes the learning rate after every batch (`fit_one_cycle` passes
#   one; section 8 plots it);
# - the losses are kept as tensors and read once per epoch, for the same reason as the
#   non-finite check; `progress` is the progress bar.
#
# With clipping and the schedule off, as `fit` leaves them, and the loss finite, it is
# your loop. From here on the lessons use `fit`. Everything in this lesson runs on the
# CPU, even where a GPU is available (on Colab, say): lesson 04 moves the work to a
# device.

# %% [markdown]
# ## 7. Training with `fit`
#
# `fit` returns the history: one dict per epoch, with the training loss, the
# validation loss and accuracy, and timings. Plain SGD with a learning rate of 0.2
# first; then a few epochs at a
# tenth of that, so that the last steps are small enough to settle instead of
# bouncing around the minimum. The second history continues the first: its epochs
# print as 1 to 3, and they are epochs 7 to 9 in the figure.
#
# `fit` stops with an error naming the epoch and batch if the loss ever becomes
# NaN or infinite. If you stop a long run yourself (the stop button, or *Kernel >
# Interrupt*), `fit` returns the history of the epochs it finished, so you can still
# plot them.

# %%
history = fit(num_epochs, 0.2, model, train_loader, val_loader)
history += fit(num_epochs_low_lr, 0.02, model, train_loader, val_loader)

# %%
figure = plot_history(history, title="One hidden layer of 32 units")
for axes in figure.axes:  # where the learning rate dropped
    axes.axvline(num_epochs + 0.5, color="grey", linestyle="--")
figure

# %%
small_model_val_acc = history[-1]["val_acc"]
lowest_val_loss_epoch = min(range(len(history)), key=lambda i: history[i]["val_loss"]) + 1
print(f"epochs: {len(history)}")
print(f"epoch with the lowest validation loss: {lowest_val_loss_epoch}")
record_result("32-unit model validation accuracy", small_model_val_acc)

# %% [markdown]
# At full size (the course's `make run`) this model reached
# **96.5%**<!-- output: 32-unit model validation accuracy --> validation accuracy after
# 9<!-- output: epochs --> epochs. The dashed line marks where the learning rate dropped;
# look at how the curves change there. (In epoch 1 the training loss is above the
# validation loss: section 8 explains why. At epoch 3 the validation loss bounces up
# for one epoch; at a learning rate of 0.2 it moves around like that.) The lowest
# validation loss came at
# epoch 9<!-- output: epoch with the lowest validation loss -->, the last, so the model
# had not started to overfit. That sign would be a validation loss that turns upward
# while the training loss keeps dropping; section 8 makes it happen on purpose.
#
# ## 8. Improvements, step by step
#
# Four changes are common steps up from one small hidden layer:
# - **wider and deeper**: two hidden layers of 256 and 128 units (two changes in one
#   step: more units and one more layer);
# - **dropout**: during training each hidden unit is zeroed with probability 0.2,
#   so no unit can rely on another; it is meant to reduce overfitting, and is off at
#   evaluation
#   (the next cell shows how it keeps the two modes on the same scale);
# - **Adam**: an optimizer that adapts the step size of every parameter (it needs its
#   own, smaller learning rate, so this step changes the optimizer, the schedule and the
#   rate together);
# - **one-cycle schedule**: the learning rate rises, then falls to almost zero,
#   which lets training move fast early and settle at the end.
#
# To see what each one buys, add them one at a time, starting from a model with no
# hidden layer at all (a single linear layer, the baseline that shows what the
# hidden layer and ReLU are worth), and train every step for the same
# `ladder_epochs` epochs, from the same seed, on the same batches
# (`seeded_train_loader(0)`). Every comparison is on the validation set.
#
# Writing a new class per architecture gets repetitive, so `course_utils.models.MLP`
# builds the same Linear-ReLU pattern for any list of hidden sizes (an empty list
# gives the linear model). Here is all of it:

# %%
print(inspect.getsource(MLP.__init__))

# %% [markdown]
# **Dropout, up close.** `nn.Dropout(0.2)` in train mode zeroes each value with
# probability 0.2 and multiplies the survivors by 1 / (1 − 0.2) = 1.25. On average a
# unit's output is then what it would be with nothing dropped, so at evaluation, where
# dropout does nothing, the next layer sees values on the same scale as in training.

# %% tags=["nbval-check-output"]
dropout = nn.Dropout(0.2)
ones = torch.ones(100_000)
dropped = dropout.train()(ones)
print(f"values after dropout: {sorted(set(dropped.tolist()))}")
print(f"share zeroed: {(dropped == 0).float().mean():.3f}, mean: {dropped.mean():.3f}")
print(f"eval mode changes nothing: {torch.equal(dropout.eval()(ones), ones)}")

# %% [markdown]
# `fit_one_cycle` is `fit` with the schedule (PyTorch's `OneCycleLR`, stepped after
# every batch).

# %%
ladder = [
    ("linear, no hidden layer", [], 0.0, "SGD"),
    ("one hidden layer of 32", [32], 0.0, "SGD"),
    ("wider and deeper, 256-128", [256, 128], 0.0, "SGD"),
    ("+ dropout 0.2", [256, 128], 0.2, "SGD"),
    ("+ Adam and one cycle", [256, 128], 0.2, "Adam"),
]
ladder_histories, ladder_models = {}, {}
for name, hidden_sizes, dropout, optimizer_name in ladder:
    seed_everything(0)
    step_model = MLP(28 * 28, hidden_sizes, 10, dropout=dropout)
    if optimizer_name == "SGD":
        step_history = fit(ladder_epochs, 0.2, step_model, seeded_train_loader(0), val_loader)
    else:
        step_history = fit_one_cycle(
            ladder_epochs,
            2e-3,
            step_model,
            seeded_train_loader(0),
            val_loader,
            opt_func=torch.optim.Adam,
        )
    ladder_histories[name], ladder_models[name] = step_history, step_model

# %%
print(f"{'step':27} {'val acc':>8} {'train loss':>11} {'val loss':>9} {'gap':>7}")
for name, step_history in ladder_histories.items():
    last = step_history[-1]
    gap = last["val_loss"] - last["train_loss"]
    print(
        f"{name:27} {last['val_acc']:8.2%} {last['train_loss']:11.4f} "
        f"{last['val_loss']:9.4f} {gap:7.4f}"
    )
for name, step_history in ladder_histories.items():
    print(f"{name}, validation accuracy: {step_history[-1]['val_acc']:.4f}")
for name, step_history in ladder_histories.items():
    print(f"{name}, final gap: {step_history[-1]['val_loss'] - step_history[-1]['train_loss']:.3f}")
for name, step_history in ladder_histories.items():
    lowest = min(range(len(step_history)), key=lambda i: step_history[i]["val_loss"]) + 1
    print(f"{name}, epoch of lowest validation loss: {lowest}")

# %% [markdown]
# The *gap* is the validation loss minus the training loss. The figure's right panel
# starts at epoch 2: an epoch's training loss is the average over all its batches,
# and during epoch 1 the model starts out untrained, so that average is far above the
# validation loss measured at the end of the epoch, and the first gap comes out
# negative for every model.

# %%
fig, (accuracy_ax, gap_ax) = plt.subplots(1, 2, figsize=(11, 4))
for name, step_history in ladder_histories.items():
    epochs = range(1, len(step_history) + 1)
    accuracy_ax.plot(epochs, [epoch["val_acc"] for epoch in step_history], "o-", label=name)
    gaps = [epoch["val_loss"] - epoch["train_loss"] for epoch in step_history]
    gap_ax.plot(epochs[1:], gaps[1:], "o-")
accuracy_ax.set(xlabel="epoch", ylabel="validation accuracy", title="Each step up, on validation")
lowest = min(epoch["val_acc"] for step in ladder_histories.values() for epoch in step)
accuracy_ax.set_ylim(lowest - 0.005, 1.0)
gap_ax.axhline(0, color="grey", linewidth=0.8)
gap_ax.set(
    xlabel="epoch", ylabel="validation - training loss", title="Gap between the losses (epoch 2 on)"
)
for ax in (accuracy_ax, gap_ax):
    ax.grid(alpha=0.3)
    ax.xaxis.get_major_locator().set_params(integer=True)
fig.legend(loc="lower center", ncol=3, fontsize=9)  # below both panels: it hides no line
fig.tight_layout(rect=(0, 0.12, 1, 1))
plt.show()

# %% [markdown]
# The learning rate of the ladder's last row (Adam and one cycle), rising then annealing
# over its one cycle:

# %%
plot_lrs(ladder_histories["+ Adam and one cycle"], title="One-cycle learning-rate schedule")

# %% [markdown]
# Read the table from top to bottom. Without a hidden layer the model reaches
# 90.7%<!-- output: linear, no hidden layer, validation accuracy -->: a linear map of the
# pixels can only draw straight boundaries between digits (its line dips at epoch 2,
# then levels off). One hidden layer of 32 units with ReLU lifts it to
# 96.2%<!-- output: one hidden layer of 32, validation accuracy --> (section 7's run of
# the same model differs in seed, batches, epochs and its lower-rate finish), and
# 256-128 to 97.6%<!-- output: wider and deeper, 256-128, validation accuracy -->. Dropout
# gives 97.5%<!-- output: + dropout 0.2, validation accuracy -->, and Adam with a
# one-cycle schedule on top
# **98.0%**<!-- output: + Adam and one cycle, validation accuracy -->. Each row is one run
# with one seed: a difference of a few tenths of a point between two rows could change
# sign with another seed, so read those as ties. 256-128 against dropout is one. Adam
# with one cycle leads dropout by about half a point at the last epoch, but that compares
# an annealed finish with dropout's last epoch at a constant rate of 0.2, below its own
# best epoch; against that best the lead is about a third of a point. It comes from one
# run that changes three things at once: it suggests a gain, but neither establishes one
# nor says which of the three changes made it.
#
# In the gap panel, a line that climbs belongs to a model fitting its own training
# images more closely than new ones. Every line climbs overall here, the linear model's
# from epoch 3 too; the SGD lines without dropout zig-zag on the way. The last printed
# lines say where each model's validation loss was lowest. A best epoch before the last
# is section 7's sign that overfitting may have begun, but the validation loss of the
# SGD rows without dropout bounces from epoch to epoch at a learning rate of 0.2, so one
# early best epoch says little there (section 7's run, after its rate drop, had its best
# epoch last). The dropout row's validation loss rose only in its last epoch: one
# uptick, too little to call.
# The final gaps are 0.075<!-- output: wider and deeper, 256-128, final gap --> for
# 256-128 without dropout and 0.036<!-- output: + dropout 0.2, final gap --> with it, but
# that comparison flatters dropout: its training loss is measured with a fifth of the
# units dropped, which inflates it and so shrinks the gap, in the first epochs even
# below zero. Whether dropout reduced overfitting here, this table cannot say; the
# validation accuracies are a tie.
#
# **Train and eval modes.** Dropout is why `evaluate` switches the model to eval
# mode. In train mode every pass zeroes a different random fifth of the hidden units,
# so the same images give different outputs; in eval mode dropout is off and
# every pass gives the same answer:

# %% tags=["nbval-check-output"]
improved_model = ladder_models["+ Adam and one cycle"]
some_images = val_images[:8]
improved_model.train()
with torch.no_grad():
    print(
        "train mode, two passes agree:",
        torch.equal(improved_model(some_images), improved_model(some_images)),
    )
improved_model.eval()
with torch.no_grad():
    print(
        "eval mode, two passes agree:",
        torch.equal(improved_model(some_images), improved_model(some_images)),
    )

# %% [markdown]
# Forgetting `model.eval()` when evaluating is a classic bug: the score comes out
# lower, and it changes from one evaluation to the next, because a different fifth of
# the units is missing each time.


# %%
def accuracy_in_train_mode(model: nn.Module, loader: DataLoader) -> float:
    """The bug on purpose: accuracy computed with dropout still switched on."""
    model.train()
    with torch.no_grad():
        correct = sum(
            (model(images).argmax(dim=1) == labels).sum().item() for images, labels in loader
        )
    return correct / len(loader.dataset)


print(f"validation accuracy, eval mode: {evaluate(improved_model, val_loader)['val_acc']:.4f}")
for attempt in (1, 2):
    mistaken_accuracy = accuracy_in_train_mode(improved_model, val_loader)
    print(f"validation accuracy, train mode by mistake, try {attempt}: {mistaken_accuracy:.4f}")

# %% [markdown]
# **Overfitting, and keeping the best epoch.** Give a big network few images and many
# epochs and it overfits: it learns its training images by heart, and from some epoch
# on its validation loss rises again while its training loss keeps falling. Here the
# 256-128 network, without dropout, trains with Adam on only 1,000 images for
# `overfitting_epochs` epochs. `fit(..., restore_best=True)` keeps a copy of the
# weights of the epoch with the lowest validation loss and puts them back at the end.

# %%
seed_everything(0)
few_images = DataLoader(
    TensorDataset(train_images[:1000], train_labels[:1000]),
    batch_size=batch_size,
    shuffle=True,
    generator=generator,
)
overfitting_model = MLP(28 * 28, [256, 128], 10)
best_history = fit(
    overfitting_epochs,
    2e-3,
    overfitting_model,
    few_images,
    val_loader,
    opt_func=torch.optim.Adam,
    restore_best=True,
)

# %%
best_epoch = next(index for index, epoch in enumerate(best_history) if epoch["best"]) + 1
best_accuracy_epoch = max(range(len(best_history)), key=lambda i: best_history[i]["val_acc"]) + 1
print(f"best epoch: {best_epoch}")
print(f"epochs trained: {len(best_history)}")
print(f"lowest validation loss: {best_history[best_epoch - 1]['val_loss']:.3f}")
print(f"last validation loss: {best_history[-1]['val_loss']:.3f}")
print(f"last training loss: {best_history[-1]['train_loss']:.4f}")
print(f"validation accuracy at the best epoch: {best_history[best_epoch - 1]['val_acc']:.4f}")
print(f"epoch with the highest validation accuracy: {best_accuracy_epoch}")
print(f"highest validation accuracy: {best_history[best_accuracy_epoch - 1]['val_acc']:.4f}")
print(f"validation loss restored: {evaluate(overfitting_model, val_loader)['val_loss']:.3f}")

# %% [markdown]
# The figure shows the three curves side by side: both losses on a log scale (the
# training loss falls nearly a thousandfold), the validation loss alone on its own scale, and
# the validation accuracy. The dashed line marks the epoch with the lowest validation
# loss.

# %%
epochs = range(1, len(best_history) + 1)
fig, (loss_ax, val_loss_ax, val_acc_ax) = plt.subplots(1, 3, figsize=(13, 3.6))
for key, label in (("train_loss", "training"), ("val_loss", "validation")):
    loss_ax.plot(epochs, [epoch[key] for epoch in best_history], "o-", label=label)
loss_ax.set(yscale="log", xlabel="epoch", ylabel="loss (log scale)", title="Both losses")
loss_ax.legend()
val_loss_ax.plot(epochs, [epoch["val_loss"] for epoch in best_history], "o-", color="tab:orange")
val_loss_ax.set(xlabel="epoch", ylabel="loss", title="Validation loss")
val_acc_ax.plot(epochs, [epoch["val_acc"] for epoch in best_history], "o-", color="tab:green")
val_acc_ax.set(xlabel="epoch", ylabel="accuracy", title="Validation accuracy")
for ax in (loss_ax, val_loss_ax, val_acc_ax):
    ax.axvline(best_epoch, color="grey", linestyle="--")
    ax.grid(alpha=0.3)
fig.suptitle("256-128 on 1,000 images: overfitting (dashed: lowest validation loss)")
fig.tight_layout()
plt.show()

# %% [markdown]
# The validation loss was lowest at epoch 8<!-- output: best epoch -->, at
# 0.410<!-- output: lowest validation loss -->, and by epoch
# 25<!-- output: epochs trained --> it had risen to
# 0.499<!-- output: last validation loss -->, while the training loss fell to
# 0.0018<!-- output: last training loss -->: the model grew ever more certain of its own
# 1,000 images, and its mistakes on new images grew more confident, so the validation
# loss rose even while the accuracy still crept up. The model now holds the weights of
# the best epoch, as the re-evaluated validation loss confirms.
#
# Accuracy tells a different story: it peaked at epoch
# 25<!-- output: epoch with the highest validation accuracy --> with
# 89.8%<!-- output: highest validation accuracy -->, against
# 88.9%<!-- output: validation accuracy at the best epoch --> at the epoch with the lowest
# loss. The loss also punishes confident mistakes, accuracy only counts them, so the two
# can pick different epochs. Choose the one that matches what you will report:
# `restore_best` goes by the loss.

# %% [markdown]
# ## 9. The test set
#
# Choices such as the model, the optimizer and the number of epochs are made on
# validation scores. Here the final model is the ladder's last row, which also scored
# best on validation. Choosing the best of several by one set's score tends to flatter
# that score a little, so the figure to report comes from images that played no part in
# any choice: the test set, used once, here, for the two final models.

# %%
test_result = evaluate(improved_model, test_loader)
small_test_result = evaluate(model, test_loader)
record_result("32-unit model test accuracy", small_test_result["val_acc"])
record_result("improved MLP test accuracy", test_result["val_acc"])
for name, validation, test in (
    ("32-unit model", small_model_val_acc, small_test_result["val_acc"]),
    ("improved MLP", evaluate(improved_model, val_loader)["val_acc"], test_result["val_acc"]),
):
    # How far two accuracies measured on 10,000 images each can differ by chance alone.
    spread = math.sqrt(
        validation * (1 - validation) / len(val_dataset) + test * (1 - test) / len(test_dataset)
    )
    print(
        f"{name}: test - validation = {100 * (test - validation):+.2f} points, "
        f"standard error {100 * spread:.2f} points, "
        f"within two standard errors: {abs(test - validation) < 2 * spread}"
    )
small_mistakes = round((1 - small_test_result["val_acc"]) * len(test_dataset))
improved_mistakes = round((1 - test_result["val_acc"]) * len(test_dataset))
print(f"test mistakes, one hidden layer: {small_mistakes}")
print(f"test mistakes, improved MLP: {improved_mistakes}")
print(f"share of the mistakes gone: {1 - improved_mistakes / small_mistakes:.3f}")

# %% [markdown]
# At full size the improved MLP reached
# **98.4%**<!-- output: improved MLP test accuracy --> test accuracy, against
# 97.0%<!-- output: 32-unit model test accuracy --> for the 32-unit model: of its
# 304<!-- output: test mistakes, one hidden layer --> mistakes on the 10,000 test
# digits, 46%<!-- output: share of the mistakes gone --> are gone.
#
# Here both test accuracies came out *above* the validation ones. With 10,000 images in
# each set, chance alone makes two accuracies of the same model differ by a standard
# error of about two tenths of a point: the 32-unit model's difference stays within two
# of them, and the improved MLP's sits right at two (the printout's last lines), too
# close to call on one pair of sets. The
# test figures are the ones to report; the validation figures did their job, which was
# to choose.
#
# **Single images.** A prediction is the index of the largest logit. `unsqueeze(0)`
# makes a batch of one, since models expect a batch dimension. `eval_mode(model)`
# switches the model to evaluation mode (dropout off), turns off gradient tracking,
# and when the `with` block ends puts the model back in the mode it found it in, so
# a later training step still uses dropout. `evaluate` and `predict` use it too.


# %%
def predict_image(image: torch.Tensor, classifier: nn.Module) -> int:
    """The class the classifier predicts for one image."""
    with eval_mode(classifier):
        return classifier(image.unsqueeze(0)).argmax(dim=1).item()


for index in (0, 1, 2):
    predicted = predict_image(test_images[index], improved_model)
    print(f"test image {index}: label {test_labels[index]}, predicted {predicted}")

# %% [markdown]
# **How sure is it?** Softmax turns the ten logits into probabilities that sum to
# 1. `predict_probabilities` does that for an image under `eval_mode`, and
# `show_prediction` draws the image beside them. A confident right answer puts
# nearly all the probability on one digit. On the mistake shown second, look where the
# probability goes: split between the answer and the truth. Not every mistake is that
# hesitant; some are confidently wrong.

# %%
digit_names = [str(digit) for digit in range(10)]
show_prediction(
    test_images[0],
    predict_probabilities(improved_model, test_images[0]),
    digit_names,
    true_label=int(test_labels[0]),
    mean=MNIST_MEAN,
    std=MNIST_STD,
)

# %%
test_predictions = predict_probabilities(improved_model, test_images).argmax(dim=1)
first_mistake = int((test_predictions != test_labels).nonzero()[0])
show_prediction(
    test_images[first_mistake],
    predict_probabilities(improved_model, test_images[first_mistake]),
    digit_names,
    true_label=int(test_labels[first_mistake]),
    mean=MNIST_MEAN,
    std=MNIST_STD,
)

# %% [markdown]
# **Where does it go wrong?** `predict` returns the predicted and true label of
# every test image. From them: a confusion matrix (rows: true digit, columns:
# predicted), accuracy per digit, and a grid of mistakes.

# %%
predicted_labels, true_labels = predict(improved_model, test_loader)
matrix = confusion_matrix(predicted_labels, true_labels, num_classes=10)
for digit, digit_accuracy in zip(digit_names, per_class_accuracy(matrix), strict=True):
    print(f"digit {digit}: {digit_accuracy:.1%}")

# %%
plot_confusion_matrix(matrix, digit_names)

# %% [markdown]
# **Reading it.** Each row is one true digit, and its cells say what the model
# answered for those test images; the row adds up to how many there are. The grey
# diagonal counts the right answers. The coloured cells are the mistakes, coloured by
# how many there are, so the darkest cells are the most common confusions. The next
# cell lists the largest (all of those tied with the third largest, too): find them in
# the matrix. The grid of mistakes below shows the first 16 mistakes in the test set,
# whatever their kind.

# %%
mistakes = matrix.clone()
mistakes.fill_diagonal_(0)
third_largest = mistakes.flatten().topk(3).values[-1].item()
for place in mistakes.flatten().argsort(descending=True, stable=True).tolist():
    true_digit, predicted_digit = divmod(place, 10)
    count = mistakes[true_digit, predicted_digit].item()
    if count < third_largest:
        break
    print(f"a true {true_digit} predicted as {predicted_digit}: {count} times")

# %%
show_misclassified(
    test_images,
    true_labels,
    predicted_labels,
    digit_names,
    max_images=16,
    mean=MNIST_MEAN,
    std=MNIST_STD,
)

# %% [markdown]
# Many mistakes are digits a person would hesitate over too; others (a clear
# digit called something else) show what the model has not learned.
#
# ## 10. Saving and loading
#
# **Weights only.** A model's `state_dict` maps each parameter's name to its
# tensor. Save it, load it into a fresh model of the same class, and the two agree.
# `weights_only=True` loads only tensors and plain Python data (dictionaries, lists,
# numbers) and refuses anything that could run code: far safer for a file from
# someone else.

# %% tags=["nbval-check-output"]
checkpoint_folder = Path(tempfile.mkdtemp(prefix="lesson03-"))
weights_path = checkpoint_folder / "mnist_mlp.pt"
torch.save(improved_model.state_dict(), weights_path)
reloaded = MLP(28 * 28, [256, 128], 10, dropout=0.2)
reloaded.load_state_dict(torch.load(weights_path, weights_only=True))
with eval_mode(reloaded), eval_mode(improved_model):
    print(torch.equal(reloaded(images), improved_model(images)))

# %% [markdown]
# **A resumable checkpoint.** To continue training later you also need the
# optimizer's state (Adam keeps running averages for every parameter) and the number
# of the epoch you stopped after. The usual idiom is one dictionary of the
# `state_dict`s and the epoch, saved with `torch.save`. Here is one epoch with section
# 6's `train_one_epoch`, then a save. `epoch_loader` shuffles each epoch in an order
# fixed by the epoch's number, so that a run can be replayed exactly.


# %%
def epoch_loader(epoch: int) -> DataLoader:
    """The training batches of epoch number ``epoch``, in an order fixed by it."""
    return seeded_train_loader(seed=100 + epoch)


seed_everything(3)
resumable_model = MnistModel(hidden_size=32)
optimizer = torch.optim.Adam(resumable_model.parameters(), lr=1e-3)
train_one_epoch(resumable_model, epoch_loader(1), optimizer)
checkpoint_path = checkpoint_folder / "resume.pt"
torch.save(
    {"model": resumable_model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": 1},
    checkpoint_path,
)
print(checkpoint_path.name, f"{checkpoint_path.stat().st_size / 1024:.0f} KB")

# %% [markdown]
# Later, perhaps in a new session: build new objects, load the dictionary (tensors and
# plain numbers only, so `weights_only=True` works), put each state back, and carry on
# with epoch 2.

# %%
restored_model = MnistModel(hidden_size=32)
restored_optimizer = torch.optim.Adam(restored_model.parameters(), lr=1e-3)
saved = torch.load(checkpoint_path, weights_only=True)
restored_model.load_state_dict(saved["model"])
restored_optimizer.load_state_dict(saved["optimizer"])
print(f"resuming after epoch {saved['epoch']}")
_ = train_one_epoch(restored_model, epoch_loader(saved["epoch"] + 1), restored_optimizer)

# %% [markdown]
# Did the interruption change anything? Train the same model for the same two epochs
# without stopping (same seed, same batches) and compare every weight.

# %% tags=["nbval-check-output"]
seed_everything(3)
straight_model = MnistModel(hidden_size=32)
straight_optimizer = torch.optim.Adam(straight_model.parameters(), lr=1e-3)
for epoch in (1, 2):
    train_one_epoch(straight_model, epoch_loader(epoch), straight_optimizer)
same = all(
    torch.equal(resumed, straight)
    for resumed, straight in zip(
        restored_model.state_dict().values(), straight_model.state_dict().values(), strict=True
    )
)
print(f"resumed and uninterrupted training give identical weights: {same}")

# %% [markdown]
# Identical, to the last bit. Restoring only the model and not the optimizer would not
# replay this run: the second epoch would start Adam's running averages from zero.
#
# `course_utils.checkpoint` wraps this idiom in `save_checkpoint` and
# `load_checkpoint`, and adds two safeguards: the file is written to a temporary name
# and then renamed, so a crash while saving never destroys the previous checkpoint;
# and loading checks that the model matches before changing anything.

# %%
helper_path = save_checkpoint(
    checkpoint_folder / "resume-helper.pt", restored_model, restored_optimizer, epoch=2
)
again = MnistModel(hidden_size=32)
print(f"saved epoch: {load_checkpoint(helper_path, again)['epoch']}")

# %% [markdown]
# Loading into a model of another shape fails with a message that says so,
# rather than half-loading:

# %% tags=["nbval-check-output"]
try:
    load_checkpoint(helper_path, MnistModel(hidden_size=64))
except ValueError as error:
    print(str(error).split(":")[0].replace(str(checkpoint_folder), "..."))

# %% [markdown]
# ## Summary
#
# - torchvision loads MNIST; `ToTensor` and `Normalize` make tensors; `random_split`
#   with a seeded generator holds out a validation set; `DataLoader` batches and shuffles.
# - A linear layer is `x @ W.T + b`. Linear layers without an activation collapse
#   into one (compare float results with a tolerance that fits their precision).
# - ReLU between layers makes a network more than a linear map.
# - `F.cross_entropy` takes logits; accuracy is the metric, cross-entropy the loss.
# - One hidden layer of 32 units reaches about
#   96.5%<!-- output: 32-unit model validation accuracy --> (validation); wider and deeper
#   with dropout, Adam and a one-cycle schedule reaches about
#   98.4%<!-- output: improved MLP test accuracy --> on the test set.
# - A model overfits when its validation loss turns upward while its training loss
#   keeps falling; `restore_best=True` keeps the epoch with the lowest validation loss.
# - Report the test set once, at the end; validation is for choosing.
# - Save `state_dict`s for weights; to resume, save the model's and the optimizer's
#   `state_dict`s and the epoch (`save_checkpoint` does it safely).

# %% [markdown]
# ## Exercises
#
# After each exercise, run its check cell. It tests the objects you made (a model's
# layers, a loader's batches, an accuracy that shows the model learned) and says
# whether the exercise is not attempted yet, not right yet (and what it found), or
# passed (and what it checked). The lines under `if check_exercise(...)` run only for
# a passing answer.
#
# **A baseline for the exercises.** A fair comparison changes one thing at a time.
# This cell trains the 32-unit model for `exercise_epochs` epochs at a learning rate of
# 0.2, starting from `seed_everything(0)` and on the batches of `seeded_train_loader(0)`;
# start every exercise run the same way, so that the one thing you change is the only
# difference.

# %%
seed_everything(0)
baseline_history = fit(
    exercise_epochs, 0.2, MnistModel(hidden_size=32), seeded_train_loader(0), val_loader
)

# %% [markdown]
# **Exercise 1: hidden size and depth.** Train `MnistModel(hidden_size=128)` and an
# `MLP` with two hidden layers of 64 as the baseline was trained, and compare their
# validation accuracy with the baseline's. Store each final validation accuracy in a
# dict `width_results` and each trained model in a dict `width_models`, both with the
# keys `"128 units"` and `"64 + 64 units"`.

# %%
### BEGIN SOLUTION
# Hint: seed_everything(0), build, fit on seeded_train_loader(0); last val_acc, model in the dicts
width_results, width_models = {}, {}
for label, build in (
    ("128 units", lambda: MnistModel(hidden_size=128)),
    ("64 + 64 units", lambda: MLP(28 * 28, [64, 64], 10)),
):
    seed_everything(0)
    candidate = build()
    candidate_history = fit(exercise_epochs, 0.2, candidate, seeded_train_loader(0), val_loader)
    width_results[label] = candidate_history[-1]["val_acc"]
    width_models[label] = candidate
### END SOLUTION

# %%
if check_exercise(1, width_models=width_models, width_results=width_results, val_loader=val_loader):
    print(f"32 units, validation accuracy: {baseline_history[-1]['val_acc']:.4f}")
    for label, value in width_results.items():
        print(f"{label}, validation accuracy: {value:.4f}")

# %% [markdown] tags=["solution"]
# **What the result means.** After the same 3 epochs from the same seed and batches,
# 128 hidden units reach 96.9%<!-- output: 128 units, validation accuracy --> and two
# layers of 64 reach 95.8%<!-- output: 64 + 64 units, validation accuracy -->, against
# 95.6%<!-- output: 32 units, validation accuracy --> for 32 units. A wider first layer
# computes more features straight from the pixels; two layers of 64 have as many hidden
# units in all but about half the weights (55,050 against 101,770). Each figure is
# one run. The lead of 128 units over 32 is more than a point; the lead of two layers
# of 64 over 32 is a few tenths, too small to settle with one run: it could change sign
# with another seed, and settling it would take several seeds each.

# %% [markdown]
# **Exercise 2: learning rate, then batch size, one at a time.** Train the 32-unit
# model as the baseline was trained but with a learning rate of 0.05 instead of 0.2,
# and keep its history in `low_lr_history`. Then, from the baseline again, change only
# the batch size: batches of 32 instead of 128 (shuffled by a generator seeded with 0),
# at the baseline's learning rate; keep the loader in `small_batch_loader` and the
# history in `small_batch_history`. What does each change do to the accuracy, and to
# the time per epoch?

# %%
### BEGIN SOLUTION
# Hint: low_lr_history: fit at 0.05 on seeded_train_loader(0); then batch_size=32 at 0.2
seed_everything(0)
low_lr_history = fit(
    exercise_epochs, 0.05, MnistModel(hidden_size=32), seeded_train_loader(0), val_loader
)
small_batch_loader = DataLoader(
    TensorDataset(train_images, train_labels),
    batch_size=32,
    shuffle=True,
    generator=torch.Generator().manual_seed(0),
)
seed_everything(0)
small_batch_history = fit(
    exercise_epochs, 0.2, MnistModel(hidden_size=32), small_batch_loader, val_loader
)
### END SOLUTION

# %%
if check_exercise(
    2,
    low_lr_history=low_lr_history,
    small_batch_loader=small_batch_loader,
    small_batch_history=small_batch_history,
    exercise_epochs=exercise_epochs,
):
    for label, runs in (
        ("baseline", baseline_history),
        ("learning rate 0.05", low_lr_history),
        ("batches of 32", small_batch_history),
    ):
        seconds = sorted(epoch["train_seconds"] for epoch in runs)
        print(f"{label}, validation accuracy: {runs[-1]['val_acc']:.4f}")
        print(f"{label}, median seconds per epoch: {seconds[len(seconds) // 2]:.2f}")

# %% [markdown] tags=["solution"]
# **What the result means.** The times are each run's median training pass (the epoch
# lines' seconds also include the validation pass), measured on this machine's CPU.
#
# A quarter of the learning rate makes every step a quarter as long, and after the same
# 3 epochs the model is behind: 93.6%<!-- output: learning rate 0.05, validation accuracy -->
# against the baseline's 95.6%<!-- output: baseline, validation accuracy -->. Section 7
# lowered the rate too, and there validation loss and accuracy improved right after the
# drop (one run, without a control), but only after 6 epochs at 0.2 had brought
# the model near a minimum, where small steps settle instead of bouncing; from the start,
# small steps only slow progress down. The step size does not change the work per
# epoch, so the two runs should take the same time: compare their printed times,
# 0.47 s<!-- output: learning rate 0.05, median seconds per epoch --> against
# 0.49 s<!-- output: baseline, median seconds per epoch -->. Any gap between them is how
# far timings on a shared machine move by chance.
#
# Batches of 32 make four times as many steps per epoch, each on a quarter of the
# images, and an epoch took
# 0.86 s<!-- output: batches of 32, median seconds per epoch --> (one run each): look for
# it to exceed the times with batches of 128 by more than their own gap, the chance swing
# just seen. Small batches use the processor less well, so four small steps can cost more
# than one big one. They did not buy
# accuracy either: 95.1%<!-- output: batches of 32, validation accuracy --> after the same
# 3 epochs, a difference from the baseline of one run each, too small to call. Where the
# gap is larger than that swing, smaller batches cost time.

# %% [markdown]
# **Exercise 3: Fashion-MNIST.** `course_utils.data.fashion_mnist` has the same
# shape as MNIST (28 x 28 grey images, 10 classes) but shows clothes. Hold out a
# validation set of 10,000 of its training images as the lesson did, train the
# 32-unit model on the rest for `exercise_epochs` epochs (normalise with mean 0.2860
# and standard deviation 0.3530), and store its final validation accuracy in
# `fashion_accuracy`; call the model `fashion_model` and its validation loader
# `fashion_val_loader`. Compare the accuracy with the MNIST baseline's.

# %%
FASHION_MEAN, FASHION_STD = (0.2860,), (0.3530,)
### BEGIN SOLUTION
# Hint: Normalize(FASHION_MEAN, FASHION_STD), random_split 50,000/10,000, fit -> fashion_accuracy
fashion_transform = transforms.Compose(
    [transforms.ToTensor(), transforms.Normalize(FASHION_MEAN, FASHION_STD)]
)
fashion_full = fashion_mnist(train=True, transform=fashion_transform)
fashion_train, fashion_val = random_split(
    fashion_full, [50_000, 10_000], generator=torch.Generator().manual_seed(0)
)
fashion_train_loader = DataLoader(
    TensorDataset(*dataset_to_tensors(Subset(fashion_train, range(train_size)))),
    batch_size=128,
    shuffle=True,
    generator=generator,
)
fashion_val_loader = DataLoader(TensorDataset(*dataset_to_tensors(fashion_val)), batch_size=1000)
seed_everything(0)
fashion_model = MnistModel(hidden_size=32)
fashion_history = fit(exercise_epochs, 0.2, fashion_model, fashion_train_loader, fashion_val_loader)
fashion_accuracy = fashion_history[-1]["val_acc"]
### END SOLUTION

# %%
if check_exercise(
    3,
    fashion_model=fashion_model,
    fashion_val_loader=fashion_val_loader,
    fashion_accuracy=fashion_accuracy,
):
    print(f"Fashion-MNIST validation accuracy: {fashion_accuracy:.4f}")
    print(f"MNIST validation accuracy: {baseline_history[-1]['val_acc']:.4f}")

# %% [markdown] tags=["solution"]
# **What the result means.** The same model and training reach
# 84.9%<!-- output: Fashion-MNIST validation accuracy --> on Fashion-MNIST against
# 95.6%<!-- output: MNIST validation accuracy --> on digits: the same 32 hidden units
# make several times as many mistakes. The likely reason is that a shirt and a
# pullover, or a sandal and a sneaker, differ in finer detail than most pairs of
# digits.

# %% [markdown]
# ## Check your understanding
#
# Four questions about the ideas of this lesson. Answer each with one letter in quotes,
# for example `answer_q1 = "b"`, and run its cell: a wrong letter is answered with the
# idea to revisit and the section that shows it.

# %% [markdown]
# **Question 1.** A network is `nn.Linear(784, 32)` followed by `nn.Linear(32, 10)`,
# with nothing between them. Compared with a single `nn.Linear(784, 10)`, what can it
# compute?
#
# - (a) more: its 32 hidden units learn extra features of the pixels
# - (b) something else: section 2 printed a difference between the two outputs
# - (c) any function at all, given enough hidden units
# - (d) nothing more: the two layers collapse into one linear layer

# %% tags=["nbval-check-output"]
### BEGIN SOLUTION
# Hint: section 2: one nn.Linear built from the two layers' weights, and the outputs
answer_q1 = "d"
### END SOLUTION
check_exercise("Q1", answer_q1=answer_q1)

# %% [markdown] tags=["solution"]
# **(d).** Section 2 built one `nn.Linear(784, 10)` with weight W2 W1 and bias
# W2 b1 + b2, and it gave the stacked layers' outputs. The difference it printed is
# float32 rounding: in float64 the outputs agreed to within 1e-12. Only a
# non-linearity between the layers, such as ReLU, stops the collapse, as the last cell
# of section 2 showed.

# %% [markdown]
# **Question 2.** In section 3, almost half of a hidden layer's outputs were negative.
# What does ReLU do to them?
#
# - (a) it sets them to 0, and leaves the positive outputs as they are
# - (b) it makes them positive, as an absolute value would
# - (c) it scales every output into the range 0 to 1, like a probability
# - (d) it removes those hidden units from the network for good

# %% tags=["nbval-check-output"]
### BEGIN SOLUTION
# Hint: section 3: the plot of ReLU(x), and the smallest value after ReLU
answer_q2 = "a"
### END SOLUTION
check_exercise("Q2", answer_q2=answer_q2)

# %% [markdown] tags=["solution"]
# **(a).** ReLU(x) = max(0, x): the plot in section 3 is flat at 0 for negative x and
# the line y = x for positive x, and the smallest value after ReLU printed as 0.000.
# It is applied afresh to every value on every pass, and this bend is what stops the
# layers collapsing into one.

# %% [markdown]
# **Question 3.** Which sign in a model's training history says that it has begun to
# overfit?
#
# - (a) the training loss and the validation loss are both still falling
# - (b) the validation loss turns upward while the training loss keeps falling
# - (c) the training loss is lower than the validation loss
# - (d) the validation accuracy falls; while it rises, the model is not overfitting

# %% tags=["nbval-check-output"]
### BEGIN SOLUTION
# Hint: section 8: the run on 1,000 images, its losses before and after its best epoch
answer_q3 = "b"
### END SOLUTION
check_exercise("Q3", answer_q3=answer_q3)

# %% [markdown] tags=["solution"]
# **(b).** In section 8's run on 1,000 images the validation loss was lowest at
# epoch 8<!-- output: best epoch -->, 0.410<!-- output: lowest validation loss -->, and
# rose to 0.499<!-- output: last validation loss --> while the training loss fell to
# 0.0018<!-- output: last training loss -->. A gap between the two losses alone is not
# the sign (every model in the ladder had one), and accuracy can miss it: there it
# reached its highest at epoch 25<!-- output: epoch with the highest validation accuracy -->,
# the last.

# %% [markdown]
# **Question 4.** Section 8 compared five models on the validation set and kept the
# best. Why does section 9 report that model's test accuracy, measured once, rather
# than its validation accuracy?
#
# - (a) the test set is larger, so its accuracy is more precise
# - (b) the model was trained on the validation images, so it has seen them
# - (c) choosing by validation score flatters the winner's score; the test images took
#   no part in any choice
# - (d) the test accuracy comes out higher, and a report should show the model at its best

# %% tags=["nbval-check-output"]
### BEGIN SOLUTION
# Hint: section 9: what were the validation scores used for, and what can that do to them?
answer_q4 = "c"
### END SOLUTION
check_exercise("Q4", answer_q4=answer_q4)

# %% [markdown] tags=["solution"]
# **(c).** The validation set did its job, which was to choose: the model, the
# optimizer, the epoch to keep. The best of several by one set's score tends to look a
# little better on that set than it is. The test images played no part in any choice,
# so their score is the one to report, and it stays honest only if it is not used to
# choose in turn. In section 9 the test and validation accuracies differed by less
# than two standard errors, as its printout says.
