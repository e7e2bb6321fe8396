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
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/course-org/pytorch-from-zero/blob/main/notebooks/07_troubleshooting.ipynb)
# [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/course-org/pytorch-from-zero/main?urlpath=lab/tree/notebooks/07_troubleshooting.ipynb)
#
# # Lesson 07: When something goes wrong
#
# This page collects the errors that learners of this course meet most, each one
# produced by a cell below, so the message you read is the one your PyTorch prints.
# Each section says what the message means and how to fix it, and runs the fixed code
# where that makes sense. Search the page (or the course website) for the first words
# of your message: each section's title carries them. It has no exercises; read only
# the section you need.
#
# **By the end of this lesson you can**
# - check your setup with the course's doctor and ask a question with its report;
# - read PyTorch's messages about devices, shapes and dtypes and fix the line they mean;
# - notice the mistakes that raise no error (a forgotten `zero_grad`) and a loss that
#   is no longer a number;
# - tell what to do when memory runs out, a `DataLoader` worker dies, the Colab install
#   fails, a dataset does not download or a checkpoint does not fit.

# %% [markdown] tags=["last-verified"]
# > **Last verified** 2026-12-08: PyTorch 2.14.1+cu130 on CPU (Intel(R) Xeon(R) Processor,
# > 2 threads); the whole lesson ran in 7 s with a peak memory of 729 MB. The course's
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
from course_utils.doctor import check_environment

environment_ok = check_environment()

# %% [markdown]
# **Start here.** The cell above runs the course's doctor in its short form: one line
# with the versions, the device and the datasets, then any `WARN` or `FAIL` line with
# what to do. Fix `FAIL` lines first: many errors below are only symptoms of them.
#
# **Asking for help.** Run the full doctor, in a terminal
# `python -m course_utils.doctor` (in Colab or Binder, `!python -m course_utils.doctor`
# in a cell), and paste its last block, the lines between
# `paste from here into your question` and `end`, into your question, with the whole
# error message and the cell that raised it. The block leaves out your user name and
# your home folder.

# %%
import contextlib
import os
import re
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from unittest import mock

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from course_utils import fit, get_default_device
from course_utils.checkpoint import load_checkpoint, save_checkpoint
from course_utils.data import cifar10, data_dir, mnist
from course_utils.models import MLP
from course_utils.report import record_result
from course_utils.settings import seed_everything, smoke_mode

seed_everything(0)
device = get_default_device()
print(f"PyTorch {torch.__version__}; device: {device}")

# %% [markdown]
# **Settings.** Every lesson has a settings cell listing what smoke mode (the quick run
# the test suite uses) changes. Every example on this page is tiny, so it runs unchanged.

# %%
print(f"Smoke mode: {smoke_mode()}; nothing on this page depends on it.")

# %% [markdown]
# **One helper.** `show_error` calls a function, and if it raises, prints the error's
# type and message, as the last line of a traceback would, instead of stopping the
# notebook. `hide` maps text to what to print in its place: a temporary folder's path,
# say, which differs on every machine. It counts the errors it caught.

# %%
errors_shown = []


def show_error(action, hide=None):
    """Call ``action()``; print the error it raises (type and message), or that none came."""
    try:
        action()
    except Exception as error:
        message = f"{type(error).__name__}: {error}"
        for text, placeholder in (hide or {}).items():
            message = message.replace(str(text), placeholder)
        errors_shown.append(type(error).__name__)
        print(message)
    else:
        print("No error.")


# %% [markdown]
# ## 1. Expected all tensors to be on the same device
#
# The tensors in one operation must be on one device: a model on the GPU needs its
# batch on the GPU. PyTorch never moves data for you, because a copy between the CPU
# and a GPU is slow. On a machine with a GPU (CUDA) or a Mac's GPU (MPS), the next
# cell calls a model on the GPU with a batch on the CPU and prints what PyTorch says.

# %%
layer = nn.Linear(3, 2)
batch = torch.ones(4, 3)
if device.type != "cpu":
    show_error(lambda: layer.to(device)(batch))  # the layer on the GPU, the batch on the CPU
else:
    print(
        "No GPU here: every tensor is on the CPU, so this mistake cannot happen on this "
        "machine.\nOn a GPU this cell calls a layer on the GPU with a batch on the CPU "
        "and prints the error."
    )

# %% [markdown]
# On a GPU the message starts with *Expected all tensors to be on the same device* and
# names the two devices (`cuda:0` and `cpu`) or the argument that is on the wrong one.
# For `gpu_tensor + cpu_tensor`, for example, PyTorch prints this (**an example, not
# produced on this machine**):
#
# ```text
# RuntimeError: Expected all tensors to be on the same device, but found at least two
# devices, cuda:0 and cpu!
# ```
#
# The rule holds for every device, also PyTorch's `meta` device (tensors with a shape but
# no data), which every machine has, so this cell breaks it live anywhere. The words
# differ from a GPU's; the rule and the fix do not.

# %%
show_error(lambda: nn.Linear(3, 2).to("meta")(batch))

# %% [markdown]
# **The fix:** choose the device once, move the model there once, and move each batch
# there before the model sees it. `.to(device)` returns the tensor itself when it is
# already there, so the same code runs on CUDA, MPS and the CPU.

# %% tags=["nbval-check-output"]
model = nn.Linear(3, 2).to(device)
inputs = batch.to(device)
outputs = model(inputs)
same_device = model.weight.device == inputs.device
print(f"model and batch on one device: {same_device}; outputs of shape {tuple(outputs.shape)}")

# %% [markdown]
# A related message comes from asking for a GPU that is not there, with `.cuda()` or
# `.to("cuda")`: *Found no NVIDIA driver on your system* (a CUDA build of PyTorch
# without a GPU) or *Torch not compiled with CUDA enabled* (a CPU build, as on Binder or
# a Mac). On Colab, choose *Runtime > Change runtime type > GPU*; in your code, write
# `.to(device)` with `device = get_default_device()` instead of `.cuda()`.

# %%
if torch.cuda.is_available():
    print("This machine has a CUDA GPU, so .cuda() works here.")
else:
    show_error(lambda: torch.ones(2).cuda())

# %% [markdown]
# ## 2. mat1 and mat2 shapes cannot be multiplied
#
# A linear layer multiplies its input's **last** dimension by its weights. Give
# `nn.Linear(784, 10)` a batch of 8 MNIST images, shaped `(8, 1, 28, 28)`, without
# flattening them first:

# %%
classifier = nn.Linear(28 * 28, 10)
images = torch.rand(8, 1, 28, 28)
show_error(lambda: classifier(images))

# %% [markdown]
# Read the two shapes. `mat1` is the input as the layer saw it, rows by features: PyTorch
# folded every dimension but the last into rows ($8 \times 1 \times 28 = 224$), leaving
# 28 features. `mat2` is the layer's weight matrix, in-features by out-features. The
# product needs mat1's second number to equal mat2's first; here 28 meets 784.
#
# **The fix:** flatten each image into one row of 784 numbers, `images.flatten(1)` (or put
# `nn.Flatten()` first in the model, as the course's `MLP` does). If the numbers still
# differ, the layer's `in_features` is wrong: after convolutions, print the shape that
# reaches the layer and use it.

# %% tags=["nbval-check-output"]
flat = images.flatten(1)  # keep dimension 0 (the batch), join the rest
print(f"flattened: {tuple(flat.shape)}; logits: {tuple(classifier(flat).shape)}")

# %% [markdown]
# ## 3. expected target dtype to be Long (expected scalar type Long)
#
# `F.cross_entropy` (and `nll_loss`) takes class numbers as an integer tensor of type
# `int64` (`torch.long`). Targets that are floats, made with `torch.tensor([0., 2.])`, by
# `torch.zeros(n)` or from a NumPy float array, or `int32`, from `.int()` or a NumPy
# integer array on Windows with NumPy 1, stop it. Older PyTorch versions worded it
# *expected scalar type Long but found Float*; this version says:

# %%
logits = torch.randn(4, 3)
float_targets = torch.tensor([0.0, 2.0, 1.0, 2.0])
int32_targets = torch.tensor([0, 2, 1, 2], dtype=torch.int32)
show_error(lambda: F.cross_entropy(logits, float_targets))
show_error(lambda: F.cross_entropy(logits, int32_targets))

# %% [markdown]
# **The fix:** convert the targets once, where the data is made: `targets.long()`.
# (Float targets of the same shape as the logits are allowed: `cross_entropy` reads
# them as class probabilities, so a one-hot float tensor raises nothing.)

# %% tags=["nbval-check-output"]
fixed_targets = float_targets.long()
loss = F.cross_entropy(logits, fixed_targets)
print(f"targets {fixed_targets.dtype}: the loss is a number: {bool(torch.isfinite(loss))}")

# %% [markdown]
# A neighbour of this error: class numbers must run from 0 to `num_classes - 1`. Labels
# counted from 1 (1 to 10 for ten classes) put one target out of range:

# %%
show_error(lambda: F.cross_entropy(logits, torch.tensor([1, 2, 3, 3])))

# %% [markdown]
# ## 4. No error, but the loss goes wrong: a forgotten zero_grad
#
# `loss.backward()` **adds** each new gradient to `.grad`; it does not replace it
# (lesson 02). A loop without `optimizer.zero_grad()` steps with the sum of every
# gradient so far, and nothing says so. Two runs of the same small regression from the
# same starting weights, the same data and learning rate, one with `zero_grad` and
# one without:


# %%
def regression_run(zero_grad, steps=12, lr=0.1):
    """Losses and gradient sizes of `steps` SGD steps on a fixed regression problem."""
    seed_everything(0)
    features = torch.randn(32, 3)
    targets = features @ torch.tensor([2.0, -1.0, 0.5]) + 0.3
    model = nn.Linear(3, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    losses, grad_sizes = [], []
    for _ in range(steps):
        if zero_grad:
            optimizer.zero_grad()
        loss = F.mse_loss(model(features).squeeze(1), targets)
        loss.backward()
        losses.append(loss.item())
        grad_sizes.append(model.weight.grad.norm().item())
        optimizer.step()
    return losses, grad_sizes


with_zero, with_zero_grads = regression_run(zero_grad=True)
without_zero, without_zero_grads = regression_run(zero_grad=False)
print("step | loss: with zero_grad  without | .grad size: with  without")
for step in range(len(with_zero)):
    print(
        f"{step + 1:>4} | {with_zero[step]:>20.3f}  {without_zero[step]:>7.3f} | "
        f"{with_zero_grads[step]:>16.3f}  {without_zero_grads[step]:>7.3f}"
    )

# %% [markdown]
# What the two columns of losses did, counted:


# %%
def rises(losses):
    """How many steps ended with a higher loss than the step before."""
    return sum(losses[step] > losses[step - 1] for step in range(1, len(losses)))


lowest = min(range(len(without_zero)), key=without_zero.__getitem__)
print(f"with zero_grad: the loss rose at {rises(with_zero)} of {len(with_zero) - 1} steps")
print(f"without: it rose at {rises(without_zero)} of {len(without_zero) - 1} steps")
print(
    f"without: lowest {without_zero[lowest]:.3f} at step {lowest + 1}, then up to "
    f"{max(without_zero[lowest:]):.3f}; last {without_zero[-1]:.3f} "
    f"(with zero_grad: {with_zero[-1]:.3f})"
)

# %% [markdown]
# With `zero_grad` the loss falls at every step and the gradient shrinks as the model
# nears the answer. Without it, `.grad` holds the sum of every gradient so far, so it does
# not shrink when the model is near the answer: the weights overshoot, and the loss
# swings down and up instead of settling (the counts above), although no line of the
# loop raised anything. In a loop of your own, a loss that zig-zags or climbs where it
# should fall is the sign to look for.
#
# **The fix:** `optimizer.zero_grad()` once per step, before `backward()`. The course's
# `fit` does it for you.
#
# ## 5. The loss is nan or inf (FloatingPointError: the training loss is nan)
#
# A loss of `nan` ("not a number") or `inf` means the numbers have left the range a
# float can hold; once one weight is `nan`, every later output is too. Two common
# causes: the log of 0, and a learning rate too high.
#
# **The log of 0** is minus infinity, and $0 \times (-\infty)$ is `nan`. A cross-entropy
# written by hand as `-(p * log(p))` meets it when a probability is exactly 0.
# `torch.isfinite` tells finite numbers from `inf` and `nan`:

# %% tags=["nbval-check-output"]
probabilities = torch.tensor([0.0, 1.0])
print(f"log: {torch.log(probabilities)}; p * log(p): {probabilities * torch.log(probabilities)}")
print(f"finite: {torch.isfinite(probabilities * torch.log(probabilities))}")

# %% [markdown]
# `F.cross_entropy` takes the raw logits and computes the log of the softmax in one
# stable step, so it never takes the log of a rounded-off 0: use it rather than
# `torch.log(torch.softmax(...))`.
#
# **A learning rate too high** makes each step overshoot further than the last. Plain
# gradient descent on a one-weight regression, with learning rates 1.0 and 0.01, checking
# each loss with `torch.isfinite` and stopping at the first that is not finite:


# %%
def descend(lr, steps=20):
    """Fit y = 3x with one weight by gradient descent; stop at the first non-finite loss."""
    xs = torch.linspace(-10, 10, 16)
    ys = 3 * xs
    weight = torch.zeros(1, requires_grad=True)
    for step in range(steps):
        loss = ((weight * xs - ys) ** 2).mean()
        if not torch.isfinite(loss):
            return f"lr {lr}: the loss is {loss.item()} at step {step + 1}: stopped"
        loss.backward()
        with torch.no_grad():
            weight -= lr * weight.grad
            weight.grad.zero_()
    return f"lr {lr}: the loss is {loss.item():.3g} after {steps} steps"


print(descend(lr=1.0))
print(descend(lr=0.01))

# %% [markdown]
# The course's `fit` checks every training loss for you and stops at the first that is
# not finite, naming the epoch and the batch and the usual causes, instead of training
# on with `nan` weights. Here a tiny classifier on 64 random points trains at a learning
# rate of 1000:

# %%
seed_everything(0)
points = torch.randn(64, 4)
point_labels = (points[:, 0] > 0).long()
point_batches = [(points[i : i + 16], point_labels[i : i + 16]) for i in range(0, 64, 16)]
tiny = MLP(4, [8], 2)
show_error(lambda: fit(10, 1000.0, tiny, point_batches, point_batches))

# %% [markdown]
# **The fixes,** in the order the message gives them: a learning rate 10 times smaller
# (and again if need be); inputs normalised (lesson 03 scales pixels to mean 0 and
# standard deviation 1); a loss that never takes the log of 0 (`F.cross_entropy` on
# logits); labels from 0 to `num_classes - 1`. The same classifier at a learning rate of 0.1 trains:

# %%
seed_everything(0)
tiny = MLP(4, [8], 2)
history = fit(3, 0.1, tiny, point_batches, point_batches)
print(f"every loss finite: {all(torch.isfinite(torch.tensor(e['train_loss'])) for e in history)}")

# %% [markdown]
# ## 6. CUDA out of memory (torch.OutOfMemoryError)
#
# A GPU has a fixed amount of memory, and training needs room for the weights, their
# gradients, the optimizer's state and, largest of all for a big batch, every layer's
# activations kept for `backward`. When an allocation does not fit, PyTorch raises
# `torch.OutOfMemoryError`. On a CUDA GPU the next cell asks for twice the GPU's memory
# at once, which fails at once and harms nothing.

# %%
if device.type == "cuda":
    too_much = 2 * torch.cuda.get_device_properties(device).total_memory
    show_error(lambda: torch.empty(too_much, dtype=torch.uint8, device=device))
else:
    print(
        f"No CUDA GPU here ({device.type}), so this cell cannot run out of GPU memory.\n"
        "On a CUDA GPU it asks for twice the GPU's memory and prints the error."
    )

# %% [markdown]
# **An example of its form, not produced on this machine** (the sizes are placeholders;
# your message gives real ones):
#
# ```text
# torch.OutOfMemoryError: CUDA out of memory. Tried to allocate <size>. GPU 0 has a
# total capacity of <total> of which <free> is free. Including non-PyTorch memory, this
# process has <used> memory in use. Of the allocated memory <a> is allocated by PyTorch,
# and <b> is reserved by PyTorch but unallocated. If reserved but unallocated memory is
# large try setting PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True ...
# ```
#
# On a Mac the message starts *MPS backend out of memory*. What helps:
#
# - **A smaller batch.** Activations grow with the batch size: halve it until it fits
#   (and consider a smaller learning rate with it).
# - **Mixed precision** (lesson 04): under `torch.autocast`, activations take 2 bytes
#   a number instead of 4.
# - **No graph where no gradient is needed.** Evaluate under `torch.no_grad()` (the
#   course's `evaluate` does), and keep a running loss as a number, `loss.item()`, not
#   as a tensor: a tensor that came from the model keeps the whole graph of its batch
#   alive. `del` large tensors you no longer need, and restart the kernel after an
#   out-of-memory error in a notebook, which may hold on to the failed step's tensors.
# - **`torch.cuda.empty_cache()` is not a fix.** It hands PyTorch's cached, unused
#   blocks back to the driver (so that `nvidia-smi` shows less in use); it frees no
#   tensor your code still refers to, and PyTorch reuses its cache anyway.
#
# The graph that a kept tensor holds on to is visible on any device:

# %% tags=["nbval-check-output"]
net = nn.Linear(3, 1)
kept_loss = F.mse_loss(net(torch.ones(5, 3)), torch.zeros(5, 1))
with torch.no_grad():
    eval_loss = F.mse_loss(net(torch.ones(5, 3)), torch.zeros(5, 1))
print(f"loss kept as a tensor holds its graph: {kept_loss.grad_fn is not None}")
print(f"under no_grad there is no graph: {eval_loss.grad_fn is None}")
print(f"loss.item() is a plain {type(kept_loss.item()).__name__}")

# %% [markdown]
# ## 7. DataLoader worker exited unexpectedly (num_workers on macOS and Windows)
#
# `DataLoader(..., num_workers=2)` starts worker processes to load batches. On macOS and
# Windows a worker is a fresh Python that must import the dataset's class; Linux starts
# it as a copy of the running process (*fork*), which already has it. A dataset class
# defined in a notebook lives in the module `__main__`, which a fresh process cannot
# import. This page runs on:

# %%
print(f"{sys.platform}: workers start by {torch.multiprocessing.get_start_method()}")


class SquaresDataset(Dataset):
    """The numbers 0..n-1 and their squares, defined in this notebook."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, index):
        return torch.tensor([float(index)]), torch.tensor(float(index) ** 2)


squares = SquaresDataset(8)
print(f"the dataset's class lives in the module {type(squares).__module__!r}")

# %% [markdown]
# With workers, on macOS or Windows (or on Linux from Python 3.14, which starts them by
# *forkserver*), the loop stops with messages like these (**an example, not produced
# here**; this page starts no worker):
#
# ```text
# AttributeError: Can't get attribute 'SquaresDataset' on <module '__main__' (built-in)>
# RuntimeError: DataLoader worker (pid(s) 12345) exited unexpectedly
# ```
#
# **The fixes:** in a notebook, `num_workers=0` (the default: batches are made in the
# notebook's own process), or move the dataset class into a `.py` file next to the
# notebook and import it, so workers can import it too. The course's lessons avoid the
# question: lesson 04 decodes a dataset once into tensors and keeps them on the device
# (`DeviceTensorLoader`), so no worker is needed.

# %% tags=["nbval-check-output"]
loader = DataLoader(squares, batch_size=4, num_workers=0)
for numbers, squared in loader:
    print(numbers.squeeze(1).tolist(), squared.tolist())

# %% [markdown]
# ## 8. The Colab install cell fails (CalledProcessError: returned non-zero exit status 1)
#
# On Colab, each lesson's first code cell runs `pip install` with `check=True`. When pip
# fails, the cell ends with `subprocess.CalledProcessError: Command '[...]' returned
# non-zero exit status 1.` That line only says pip failed; **pip's own `ERROR:` lines just
# above it say why**. The next cell makes pip fail on purpose, without the network (a
# package that does not exist, looked for with `--no-index`, so nothing is fetched), and
# prints the same two parts:

# %%
pip_line = [sys.executable, "-m", "pip", "install", "--dry-run", "--no-index"]
pip_line += ["--disable-pip-version-check", "course-utils-no-such-package==0"]
try:
    subprocess.run(pip_line, capture_output=True, text=True, check=True)
except subprocess.CalledProcessError as error:
    errors_shown.append(type(error).__name__)
    for line in re.sub(r"\x1b\[[0-9;]*m", "", error.stderr).splitlines():  # no colours
        if line.startswith("ERROR:"):
            print(f"pip said: {line}")
    print(f"{type(error).__name__}: {str(error).replace(sys.executable, 'python')}")

# %% [markdown]
# **What to do:**
#
# - Read pip's `ERROR:` lines. *Could not resolve host* or *Temporary failure in name
#   resolution*: the runtime has no network; try again, or *Runtime > Disconnect and
#   delete runtime*. *No matching distribution* or a `git clone` failure: check the pip
#   line, in particular the repository name if you use a fork
#   (`git+https://github.com/OWNER/NAME`).
# - If pip installed but says to restart, or a later cell fails with an import error,
#   choose *Runtime > Restart session* and run the cells again from the top (the
#   install cell then finds everything installed and finishes in seconds).
# - Then run the doctor, `!python -m course_utils.doctor` in a cell: its `FAIL` lines say
#   which package is missing or outside the tested versions, and how to install it.
#
# ## 9. Could not download: a dataset that does not download
#
# Lessons 03 to 05 download MNIST, Fashion-MNIST and CIFAR-10 the first time into the
# data folder (`COURSE_DATA_DIR` if set, else `data/`). Without a network (a classroom
# behind a firewall, a proxy, a site that is down), `course_utils` says what it could not
# fetch and where to put the files by hand. To show its messages without touching the
# internet, the next cell points `COURSE_DATA_DIR` at an empty temporary folder and
# replaces `urllib.request.urlopen`, which torchvision downloads with, by a stand-in that
# fails at once. The path of the temporary folder is printed as `<data folder>`.


# %%
def no_network(*args, **kwargs):
    """Stands in for urllib.request.urlopen: fails at once, as a machine without a network."""
    raise urllib.error.URLError("no network: this page turned downloads off")


with contextlib.ExitStack() as stack:
    empty_folder = stack.enter_context(tempfile.TemporaryDirectory())
    stack.enter_context(mock.patch.dict(os.environ, {"COURSE_DATA_DIR": empty_folder}))
    stack.enter_context(mock.patch.object(urllib.request, "urlopen", no_network))
    hidden = {data_dir(): "<data folder>", empty_folder: "<data folder>"}
    print(f"data folder: {data_dir() == Path(empty_folder).resolve()}, empty")
    show_error(lambda: mnist(train=False), hide=hidden)
    print()
    show_error(lambda: cifar10(train=False), hide=hidden)

# %% [markdown]
# The words in brackets after *Could not download* are the reason; here they are the
# stand-in's, and on a machine without a network they name what failed. **Where to put
# the files by hand:**
#
# - **MNIST** (lesson 03) and **Fashion-MNIST** (lesson 03's exercise): the four files the
#   message names, as they are or as `.gz`, into `MNIST/raw/` (or `FashionMNIST/raw/`)
#   inside the data folder.
# - **CIFAR-10** (lesson 05): the one file `cifar10.tgz`, at the top of the data folder;
#   the message gives its address, size and MD5, and the lesson checks and extracts it.
# - Or, on a machine with internet access, `python -m course_utils.prefetch` fetches and
#   checks everything into its data folder; copy that folder over and set
#   `COURSE_DATA_DIR` to it. The doctor then reports each dataset as `ready`.
#
# ## 10. Error(s) in loading state_dict: Missing key(s), Unexpected key(s), size mismatch
#
# A checkpoint holds weights by name (`layers.1.weight`) and shape. Loading it into a
# model built otherwise fails. Here a model with 8 hidden units is saved, and one with
# 16 tries to load it, first with the course's `load_checkpoint`, which checks every name
# and shape before it changes anything, then with PyTorch's own `load_state_dict`:

# %%
with tempfile.TemporaryDirectory() as folder:
    path = Path(folder) / "small.pt"
    seed_everything(0)
    save_checkpoint(path, MLP(4, [8], 3), hidden_sizes=[8])
    wider = MLP(4, [16], 3)
    show_error(lambda: load_checkpoint(path, wider), hide={folder: "<folder>"})
    print()
    saved_weights = torch.load(path, weights_only=True)["model"]
    show_error(lambda: wider.load_state_dict(saved_weights))

    # The fix: build the model the checkpoint was saved from, then load.
    extras = torch.load(path, weights_only=True)["extra"]
    rebuilt = MLP(4, extras["hidden_sizes"], 3)
    info = load_checkpoint(path, rebuilt)
    print(f"\nrebuilt with hidden sizes {extras['hidden_sizes']}: loaded, {info}")

# %% [markdown]
# *size mismatch*: a layer has another shape than in the file; build the model with the
# sizes it was saved with. Saving them with the weights, as `hidden_sizes` above (any
# extra argument of `save_checkpoint` is kept), makes that easy.
#
# *Missing key(s)* and *Unexpected key(s)* together, with names that differ by a prefix,
# mean the model was saved from inside a wrapper: `DistributedDataParallel` (lesson 06)
# adds `module.` to every name, and `torch.compile`'s wrapper `_orig_mod.`. Save
# `model.module` (or the model you compiled) instead; to load an old file, remove the
# prefix from the names:

# %%
plain = MLP(4, [8], 3)
wrapped_state = {f"module.{name}": value for name, value in plain.state_dict().items()}
show_error(lambda: plain.load_state_dict(wrapped_state))
unwrapped = {name.removeprefix("module."): value for name, value in wrapped_state.items()}
print(plain.load_state_dict(unwrapped))

# %% [markdown]
# ## Summary
#
# This run caught **13**<!-- output: errors produced live --> errors from live code
# and explained the others. In short:
#
# - Start with the doctor, and paste its block into a question with the whole message.
# - *Expected all tensors to be on the same device*: `.to(device)` for the model once and
#   for every batch.
# - *mat1 and mat2 shapes cannot be multiplied*: the input's last dimension must equal
#   the layer's `in_features`; flatten images first.
# - *expected target dtype to be Long*: `targets.long()`; labels from 0 to
#   `num_classes - 1`.
# - A loss that falls and then climbs, without an error: look for a missing
#   `optimizer.zero_grad()`.
# - A loss of `nan` or `inf` (`FloatingPointError` from `fit`): a smaller learning rate,
#   normalised inputs, `F.cross_entropy` on logits.
# - *CUDA out of memory*: a smaller batch, mixed precision, `no_grad` and `loss.item()` in
#   evaluation; `empty_cache` frees nothing you still hold.
# - *DataLoader worker exited unexpectedly* in a notebook on macOS or Windows:
#   `num_workers=0`, or the dataset in an importable `.py` file.
# - A failed Colab install: pip's `ERROR:` lines, then *Restart session*, then the doctor.
# - *Could not download*: put the files where the message says, or prefetch elsewhere.
# - *Error(s) in loading state_dict*: build the model as it was saved; strip a wrapper's
#   prefix.

# %%
record_result("errors produced live", len(errors_shown))
