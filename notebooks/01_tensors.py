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
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/course-org/pytorch-from-zero/blob/main/notebooks/01_tensors.ipynb)
# [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/course-org/pytorch-from-zero/main?urlpath=lab/tree/notebooks/01_tensors.ipynb)
#
# # Lesson 01: Tensors
#
# A tensor is PyTorch's n-dimensional array: NumPy's `ndarray` plus two powers
# that the rest of the course depends on: it can live on a GPU, and it can
# record the operations applied to it so that gradients come for free (lesson 02).
#
# **By the end of this lesson you can**
# - create tensors of any shape and type, and reshape them (and know when `view` fails);
# - index them with slices and boolean masks, and predict what broadcasting does;
# - tell elementwise from matrix operations, and reduce along a chosen dimension;
# - make random numbers repeatable with a seed;
# - move data between NumPy and PyTorch without copying, knowing the memory is shared;
# - move tensors between devices and follow the rule that operands share a device.

# %% [markdown] tags=["last-verified"]
# > **Last verified** 2026-12-07: PyTorch 2.14.1+cu130 on CPU (Intel(R) Xeon(R) Processor,
# > 2 threads); the whole lesson ran in 5 s with a peak memory of 716 MB. The course's
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
import numpy as np
import torch

from course_utils import get_default_device
from course_utils.checks.lesson01 import check_exercise
from course_utils.report import record_result
from course_utils.settings import seed_everything, smoke_mode

seed_everything(0)
print(f"PyTorch {torch.__version__}")

# %% [markdown]
# **Settings.** Every lesson has one settings cell listing what smoke mode (the quick
# run the test suite uses) changes. This lesson is fast enough to run unchanged.

# %%
print(f"Smoke mode: {smoke_mode()}; nothing in this lesson depends on it.")

# %% [markdown]
# ## 1. Creating tensors
#
# From a (nested) Python list. PyTorch picks the type from the values: integers
# give `int64`, anything with a decimal point gives `float32`.

# %% tags=["nbval-check-output"]
integers = torch.tensor([[1, 2, 3], [4, 5, 6]])
decimals = torch.tensor([1.0, 2.5])
print(integers.dtype, integers.shape)
print(decimals.dtype, decimals.shape)

# %% [markdown]
# Factory functions build tensors of a given shape without listing the values.
# `rand` draws uniformly from [0, 1), `randn` from a standard normal distribution.

# %% tags=["nbval-check-output"]
print(torch.zeros(2, 3))
print(torch.ones(2, dtype=torch.int32))
print(torch.arange(0, 10, 3))  # start, stop (excluded), step

# %%
print(torch.rand(2, 3))
print(torch.randn(2, 3))

# %% [markdown]
# **Seeds.** Run this lesson again and the numbers above come out the same. A random
# number generator produces a fixed sequence from a starting value, the *seed*:
# `torch.manual_seed(s)` restarts PyTorch's generator at `s`, so the draws after it
# repeat, and each draw moves the generator on. The setup cell called
# `seed_everything(0)` from `course_utils.settings`, which seeds PyTorch this way and
# also Python's `random` module and NumPy. Every lesson starts like this, so that its
# random starting weights, shuffles and draws, and so its printed results, come out the
# same each time it runs top to bottom (with the same PyTorch on the same kind of device).

# %% tags=["nbval-check-output"]
torch.manual_seed(42)
first = torch.rand(3)
second = torch.rand(3)  # the generator has moved on: other numbers
torch.manual_seed(42)
again = torch.rand(3)  # restarted at the same seed: the first draw again
print(first, second, again, sep="\n")
print(
    f"again equals first: {torch.equal(again, first)}; second equals first: "
    f"{torch.equal(second, first)}"
)

# %% [markdown]
# The `*_like` functions copy shape, type and device from another tensor, a safe
# way to make "a tensor like this one" without repeating its details.

# %% tags=["nbval-check-output"]
like = torch.zeros_like(integers)
print(like, like.dtype)
print(torch.ones_like(decimals))

# %% [markdown]
# Choose a type explicitly with `dtype=`, or convert with `.to(dtype)`. Neural
# networks mostly use `float32`; class labels use `int64` (`torch.long`).

# %% tags=["nbval-check-output"]
halves = torch.tensor([1, 2, 3], dtype=torch.float32) / 2
print(halves, halves.to(torch.int64))  # conversion to an integer type truncates

# %% [markdown]
# ## 2. Changing shape
#
# `reshape` and `view` rearrange the same numbers into a new shape. One dimension
# may be `-1`: PyTorch works it out from the others.

# %% tags=["nbval-check-output"]
numbers = torch.arange(12)
grid = numbers.view(3, 4)
print(grid)
print(numbers.reshape(2, -1).shape)

# %% [markdown]
# `view` never copies: it shares memory with the original, so writing through it
# changes both.

# %% tags=["nbval-check-output"]
grid[0, 0] = 100
print(numbers[:3])
numbers[0] = 0  # put it back

# %% [markdown]
# `unsqueeze` adds a dimension of size 1 (for example a batch dimension of one
# image), `squeeze` removes them, `flatten` joins dimensions into one and
# `permute` reorders them, as when an image stored as height x width x channels
# must become channels x height x width for PyTorch.

# %% tags=["nbval-check-output"]
image = torch.zeros(32, 32, 3)  # height, width, channels
channels_first = image.permute(2, 0, 1)
batch = channels_first.unsqueeze(0)
print(channels_first.shape, batch.shape)
print(batch.flatten(start_dim=1).shape, batch.squeeze(0).shape)

# %% [markdown]
# **When `view` fails.** `permute` and `.T` do not move any numbers: they change
# the *strides*, the steps taken through memory for each dimension. The result is
# no longer laid out row by row ("contiguous"), and `view` refuses shapes that
# would need the numbers in another order. `reshape` copies when it must;
# `.contiguous()` makes the copy explicit.

# %% tags=["nbval-check-output"]
transposed = grid.T
print(transposed.is_contiguous(), grid.stride(), transposed.stride())
try:
    transposed.view(12)
except RuntimeError as error:
    print("view failed:", str(error).split(".")[0])
print(transposed.reshape(12))
print(transposed.contiguous().view(12))

# %% [markdown]
# **Joining tensors.** `torch.cat` joins tensors along an existing dimension, so
# the others must match; `torch.stack` puts same-shaped tensors side by side along a
# *new* dimension. Stacking 16 images of shape (1, 28, 28) makes a batch (16, 1, 28,
# 28); concatenating two batches of 16 makes one of 32, and concatenating two images
# along `dim=2`, their width, puts them side by side: (1, 28, 56).

# %% tags=["nbval-check-output"]
one_image = torch.zeros(1, 28, 28)
stacked = torch.stack([one_image] * 16)
joined = torch.cat([stacked, stacked], dim=0)
side_by_side = torch.cat([one_image, one_image], dim=2)
print(stacked.shape, joined.shape, side_by_side.shape)

# %% [markdown]
# ## 3. Indexing, slicing and masks
#
# Indexing works as in NumPy: one index per dimension, `:` for "all of it",
# `start:stop:step` for slices, negative numbers count from the end.

# %% tags=["nbval-check-output"]
print(grid)
print(grid[1])  # second row
print(grid[:, -1])  # last column
print(grid[::2, 1:3])  # every other row, columns 1 and 2

# %% [markdown]
# A comparison gives a boolean tensor of the same shape: a *mask*. Indexing with a
# mask picks the elements where it is `True` (as a flat tensor); assigning through
# a mask changes just those.

# %% tags=["nbval-check-output"]
is_even = grid % 2 == 0
print(is_even)
print(grid[is_even])
clipped = grid.clone()
clipped[clipped > 8] = 8
print(clipped)

# %% [markdown]
# ## 4. Broadcasting
#
# Operations between tensors of different shapes work when the shapes are
# *compatible*. Compare the shapes from the right, one dimension at a time: two
# sizes match when they are equal or one of them is 1 (a missing dimension
# counts as 1). Size-1 dimensions are stretched, without copying, to the other size.
#
# Worked example: a column of shape (3, 1) plus a row of shape (4,).
# - Right-most dimension: 1 and 4: stretch the column to 4 columns.
# - Next: 3 and (missing, so) 1: stretch the row to 3 rows.
# - Result shape (3, 4), with `result[i, j] = column[i] + row[j]`.

# %% tags=["nbval-check-output"]
column = torch.tensor([[0], [10], [20]])
row = torch.tensor([1, 2, 3, 4])
table = column + row
print(table.shape)
print(table)

# %% [markdown]
# Check it against the rule written out by hand with two loops.

# %% tags=["nbval-check-output"]
by_hand = torch.tensor([[int(column[i, 0] + row[j]) for j in range(4)] for i in range(3)])
broadcast_matches = torch.equal(table, by_hand)
print(broadcast_matches)

# %% [markdown]
# Shapes that are not compatible raise an error instead of guessing.

# %% tags=["nbval-check-output"]
try:
    torch.ones(3, 2) + torch.ones(3)
except RuntimeError as error:
    print("RuntimeError:", error)

# %% [markdown]
# ## 5. Elementwise and matrix operations
#
# `+ - * /` and functions such as `torch.exp` act element by element on tensors
# of the same (or broadcast) shape. `@` (or `torch.matmul`) is the matrix product:
# for `A` of shape (n, k) and `B` of shape (k, m) it gives (n, m), each entry a
# sum over `k`. Confusing `*` with `@` is a common bug.

# %% tags=["nbval-check-output"]
A = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
B = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
print(A * B)  # elementwise
print(A @ B)  # matrix product: swaps A's columns
print(torch.matmul(A, B).equal(A @ B))

# %% [markdown]
# With more than two dimensions, `@` multiplies the last two and broadcasts the
# rest, which is how a whole batch is multiplied by one weight matrix at once.

# %% tags=["nbval-check-output"]
batch_of_inputs = torch.ones(64, 5, 3)
weights = torch.ones(3, 2)
print((batch_of_inputs @ weights).shape)

# %% [markdown]
# **Reductions** such as `sum`, `mean` and `max` collapse a dimension. `dim=`
# picks which one disappears; `keepdim=True` keeps it with size 1, so the result
# still broadcasts against the original. Here each row is divided by its own sum.

# %% tags=["nbval-check-output"]
scores = torch.tensor([[1.0, 3.0], [2.0, 2.0], [0.0, 4.0]])
print(scores.sum(), scores.sum(dim=0), scores.sum(dim=1))
row_sums = scores.sum(dim=1, keepdim=True)
print(row_sums.shape)
print(scores / row_sums)

# %% [markdown]
# **The silent bug.** Forget `keepdim` and the sums have shape (3,). Broadcasting lines
# a shape (3,) up with the *last* dimension, so it divides each *column* by a row's sum.
# With the 3 x 2 table above the shapes clash and PyTorch raises an error. With a square
# table they fit, and the wrong answer comes out with no error at all. Check a result
# you can predict, on every row: each row divided by its own sum must sum to 1.

# %% tags=["nbval-check-output"]
try:
    scores / scores.sum(dim=1)  # (3, 2) / (3,): the shapes clash
except RuntimeError as error:
    print("RuntimeError:", error)
square = torch.tensor([[1.0, 3.0, 0.0], [2.0, 2.0, 4.0], [0.0, 4.0, 4.0]])
wrong = square / square.sum(dim=1)  # (3, 3) / (3,): column j divided by row j's sum
right = square / square.sum(dim=1, keepdim=True)  # (3, 3) / (3, 1): row i by its own sum
print("rows of wrong sum to", wrong.sum(dim=1))
print("rows of right sum to", right.sum(dim=1))

# %% [markdown]
# The last row of `wrong` happens to sum to 1: its two entries of 4 sit in the columns divided
# by 8, which is by chance its own sum. Checking one row would have missed the bug.

# %% [markdown]
# **`.item()`** turns a tensor with one element into a plain Python number, which is
# what you print, store in a list or compare with `if`. Lessons 03 to 05 use it to
# read a loss or an accuracy out of a tensor. It fails on a tensor with more than
# one element.

# %% tags=["nbval-check-output"]
total = scores.sum()
print(total, type(total).__name__, total.item(), type(total.item()).__name__)
try:
    scores.item()
except RuntimeError as error:
    print("RuntimeError:", error)

# %% [markdown]
# **In-place operations** change a tensor's own memory instead of making a new
# tensor. Methods ending in `_` (`add_`, `zero_`, `clamp_`) and the operators `+=`,
# `*=` work in place. They save memory, but everything that shares that memory (a
# `view`, or a NumPy array, as section 6 shows) changes too.

# %% tags=["nbval-check-output"]
counts = torch.tensor([1.0, 2.0, 3.0])
alias = counts.view(3)
new_tensor = counts + 1  # a new tensor: counts is unchanged
counts.add_(10)  # in place: counts and its view both change
print(new_tensor, counts, alias)

# %% [markdown]
# `max(dim=...)` returns both the values and their positions; `argmax` just the
# positions. Lesson 03 uses this to turn a model's ten scores into a predicted digit.

# %% tags=["nbval-check-output"]
values, positions = scores.max(dim=1)
print(values, positions, scores.argmax(dim=1))

# %% [markdown]
# ## 6. The NumPy bridge
#
# `torch.from_numpy` and `.numpy()` convert without copying: both objects look at
# the same memory. That makes conversion free, and it means a change through one
# is visible through the other.

# %% tags=["nbval-check-output"]
array = np.arange(4, dtype=np.float32)
tensor = torch.from_numpy(array)
tensor *= 10
print(array)
back = tensor.numpy()
back[0] = -1
print(tensor)
shares_memory = np.shares_memory(array, back)
print(shares_memory)

# %% [markdown]
# **NumPy's default is `float64`, PyTorch's is `float32`.** An array made by
# `np.array([0.5])` or `np.random.rand` holds 64-bit floats, and `from_numpy` keeps
# that type. Layers (`torch.nn.Linear` below is one; lesson 02 introduces them) hold
# `float32` weights, so feeding them such a tensor fails
# with a message about `Double` and `Float`. Convert with `.float()`, or create the
# array as `float32` in the first place.

# %% tags=["nbval-check-output"]
from_numpy_default = torch.from_numpy(np.array([0.5, 1.5]))
print(from_numpy_default.dtype, torch.tensor([0.5, 1.5]).dtype)
layer = torch.nn.Linear(2, 1)
try:
    layer(from_numpy_default)
except RuntimeError as error:
    print("RuntimeError:", error)
print(layer(from_numpy_default.float()).dtype)

# %% [markdown]
# `torch.tensor(array)` copies instead; use it (or `.clone()`) when the two
# must stay independent.

# %% tags=["nbval-check-output"]
copied = torch.tensor(array)
copied[0] = 123
print(array[0], copied[0].item())

# %% [markdown]
# ## 7. Devices
#
# Every tensor lives on a device: the CPU's memory or an accelerator's.
# `get_default_device()` from `course_utils` picks CUDA, then Apple's MPS, then the
# CPU; lesson 04 explains it in detail. `.to(device)` returns a tensor on that device:
# a copy when the data has to move (the original stays where it was), and the tensor
# itself when it is already there, so `x = x.to(device)` costs nothing the second time.

# %%
device = get_default_device()
on_device = torch.ones(3).to(device)
print(f"default device: {device}; tensor is on {on_device.device}")
cpu_tensor = torch.ones(3)
print(f".to('cpu') on a CPU tensor returns the tensor itself: {cpu_tensor.to('cpu') is cpu_tensor}")

# %% [markdown]
# **The rule:** the tensors in one operation must be on the same device. PyTorch
# does not move data behind your back, because a hidden copy between CPU and GPU
# is slow. (One exception: a one-number tensor on the CPU, such as `torch.tensor(2.0)`,
# may be combined with a tensor on any device, like a plain Python number.) On a
# machine with a GPU, the next cell adds a CPU tensor to a tensor on
# the GPU and prints the error you will meet there.

# %%
if device.type != "cpu":
    try:
        torch.ones(2) + torch.ones(2, device=device)
    except RuntimeError as error:
        print("RuntimeError:", error)
else:
    print(
        "No GPU here: every tensor is on the CPU, so this mistake cannot happen on this "
        "machine.\nOn a GPU this cell adds a CPU tensor to a GPU tensor and prints the error."
    )

# %% [markdown]
# The rule holds for every device, including PyTorch's `meta` device (tensors with a
# shape but no data), which exists on every machine. Mixing it with the CPU shows the
# rule anywhere; the wording of the message differs from a GPU's, the rule does not.

# %% tags=["nbval-check-output"]
try:
    torch.ones(2) + torch.ones(2, device="meta")
except RuntimeError as error:
    print("RuntimeError:", error)

# %% [markdown]
# The fix is always the same: move one operand with `.to(...)` so both share a device.
#
# **Back to NumPy from any device.** `.numpy()` works only on a CPU tensor that does
# not record the operations applied to it (lesson 02's `requires_grad=True` makes a
# tensor record them). Code that plots or saves results wherever it runs writes
# `.detach().cpu().numpy()`: `detach` returns the same numbers without the recording,
# `cpu` moves them to the CPU (or returns the tensor itself when it is already there),
# and `numpy` shares that memory.

# %%
weights = torch.ones(2, device=device, requires_grad=True)
try:
    weights.numpy()
except (RuntimeError, TypeError) as error:
    print(f"{type(error).__name__}: {error}")
print(weights.detach().cpu().numpy())

# %% [markdown]
# ## Summary
#
# - Tensors are typed n-dimensional arrays; `shape` and `dtype` tell you what you have.
# - `view` shares memory and needs a contiguous layout; `reshape` copies when it must.
# - Broadcasting compares shapes from the right; size-1 dimensions stretch.
# - `*` is elementwise, `@` is the matrix product; `dim=` chooses what a reduction removes.
# - A reduction without `keepdim` can broadcast against the wrong dimension without an
#   error: check results you can predict.
# - `torch.manual_seed` (or `seed_everything`) makes random draws repeat.
# - `from_numpy` and `.numpy()` share memory; `torch.tensor(...)` copies;
#   `.detach().cpu().numpy()` works from any tensor.
# - Operands must be on the same device; `.to(device)` moves a tensor (or returns it
#   when it is already there).

# %%
record_result("broadcast example matches the hand calculation", broadcast_matches)
record_result("NumPy and torch share memory", bool(shares_memory))

# %% [markdown]
# ## Exercises
#
# Try each exercise yourself first. The worked solutions are in the lesson notebooks in
# `notebooks/`; the versions in `student/` have a stub in their place, which sets the
# names you are to define to `...`.
#
# Each exercise is followed by a **check cell**: run it after your answer. It tests
# your answer (on inputs you have not seen, where the answer is a function) and prints
# one of three things: *not attempted* (a name is still `...`) with a hint, *not right
# yet* with what it found wrong, or *passed* with what it checked. Only a passing
# answer runs the lines under `if check_exercise(...)`.
#
# **Exercise 1.** Write a function `centre_images(images)` that takes a batch of
# images of shape (N, H, W) and returns each image minus its own mean, without
# changing `images` itself. Compute the means as a tensor of shape (N, 1, 1) and let
# broadcasting do the subtraction.

# %%
pixels = torch.arange(24, dtype=torch.float32).reshape(2, 3, 4)  # 2 images, 3 x 4 pixels


### BEGIN SOLUTION
# Hint: in def centre_images(images): take the mean over dims (1, 2) with keepdim=True, subtract it
def centre_images(images: torch.Tensor) -> torch.Tensor:
    image_means = images.mean(dim=(1, 2), keepdim=True)  # shape (N, 1, 1)
    return images - image_means


### END SOLUTION

# %% tags=["nbval-check-output"]
if check_exercise(1, centre_images=centre_images):
    print("means before:", pixels.mean(dim=(1, 2)))
    print("means after:", centre_images(pixels).mean(dim=(1, 2)))

# %% [markdown] tags=["solution"]
# **What the result means.** The means were 5.5 and 17.5, the middle of 0 to 11 and
# of 12 to 23. Because `keepdim=True` left them in shape (2, 1, 1), broadcasting
# stretched each one over its own 3 x 4 image, so after the subtraction both images
# have mean 0. Without `keepdim` the shape (2,) would be lined up with the last
# dimension (4) and the subtraction would fail. The check ran the function on three
# batches of other shapes too: written with `dim=` and broadcasting, it works for any
# number of images of any size.

# %% [markdown]
# **Exercise 2.** Predict the shape of `torch.ones(5, 1, 3) * torch.ones(4, 1)`
# without running it, and store your prediction as a tuple in `predicted_shape`.
# Write the rule step by step in a comment.

# %%
### BEGIN SOLUTION
# Hint: compare the shapes from the right; a missing dimension counts as 1
# Right to left: 3 vs 1 -> 3; 1 vs 4 -> 4; 5 vs (missing) -> 5. Result (5, 4, 3).
predicted_shape = (5, 4, 3)
### END SOLUTION

# %% tags=["nbval-check-output"]
if check_exercise(2, predicted_shape=predicted_shape):
    print((torch.ones(5, 1, 3) * torch.ones(4, 1)).shape)

# %% [markdown] tags=["solution"]
# **What the result means.** The product has shape (5, 4, 3). Shapes are compared
# from the right, a 1 stretches to match, and a missing dimension counts as 1, so the
# result can be larger than either input.

# %% [markdown]
# **Exercise 3.** Write a function `zero_negatives(values)` that uses a boolean mask
# to set every negative entry of the tensor `values` to zero, in place, and returns
# how many entries it replaced. Once it passes, the check cell applies it to
# `noise = torch.randn(1000)`. (This is exactly what the ReLU activation in lesson 03
# does.)

# %%
noise = torch.randn(1000)


### BEGIN SOLUTION
# Hint: in def zero_negatives(values): mask = values < 0; count it; assign 0 through it
def zero_negatives(values: torch.Tensor) -> int:
    negative = values < 0
    values[negative] = 0  # assigning through the mask changes `values` itself
    return int(negative.sum())


### END SOLUTION

# %%
if check_exercise(3, zero_negatives=zero_negatives):
    num_replaced = zero_negatives(noise)
    print(f"values replaced: {num_replaced}")
    print(f"smallest value now: {noise.min().item()}")

# %% [markdown] tags=["solution"]
# **What the result means.** 486<!-- output: values replaced --> of the 1,000 values
# were negative, close to half, as expected for numbers drawn around 0 by `randn`.
# The smallest value is now 0: the mask chose exactly the negative entries, and
# assigning through it changed them in place. The check also tried tensors of other
# shapes, and one holding an exact 0, which is not negative and so not counted.

# %% [markdown]
# ## Check your understanding
#
# Four questions about the ideas of this lesson. Answer each with one letter in quotes,
# for example `answer_q1 = "b"`, and run its cell: a wrong letter is answered with the
# idea to revisit and the section that shows it.

# %% [markdown]
# **Question 1.** `table` has shape (3, 3). What does `table / table.sum(dim=1)`
# (without `keepdim=True`) compute?
#
# - (a) each row divided by its own sum
# - (b) nothing: the shapes (3, 3) and (3,) do not match, so it raises an error
# - (c) column j divided by the sum of row j
# - (d) every entry divided by the sum of the whole table

# %% tags=["nbval-check-output"]
### BEGIN SOLUTION
# Hint: section 5, the silent bug: which dimension does a shape (3,) line up with?
answer_q1 = "c"
### END SOLUTION
check_exercise("Q1", answer_q1=answer_q1)

# %% [markdown] tags=["solution"]
# **(c).** The row sums have shape (3,), and broadcasting compares shapes from the
# right, so sum j lines up with column j. Section 5's silent-bug cell showed the
# result: its rows summed to 0.625, 1.25 and 1, where dividing each row by its own sum
# (with `keepdim=True`, sums of shape (3, 1)) gave 1, 1 and 1. No error warns you.

# %% [markdown]
# **Question 2.** After these lines, which objects hold the numbers 0, 10, 20, 30?
#
# ```python
# array = np.arange(4, dtype=np.float32)
# tensor = torch.from_numpy(array)
# copied = torch.tensor(array)
# tensor *= 10
# ```
#
# - (a) only `tensor`
# - (b) `tensor` and `array`, but not `copied`
# - (c) all three: `tensor`, `array` and `copied`

# %% tags=["nbval-check-output"]
### BEGIN SOLUTION
# Hint: section 6: which conversions share memory, and is *= in place?
answer_q2 = "b"
### END SOLUTION
check_exercise("Q2", answer_q2=answer_q2)

# %% [markdown] tags=["solution"]
# **(b).** `from_numpy` shares the array's memory and `*=` changes a tensor in place,
# so the array changes with the tensor: section 6 printed `[ 0. 10. 20. 30.]` for
# the array. `torch.tensor(array)` copies, so `copied` keeps 0, 1, 2, 3: in section 6,
# changing `copied[0]` to 123 left `array[0]` as it was.

# %% [markdown]
# **Question 3.** `numbers = torch.from_numpy(np.array([0.5, 1.5]))`. What is
# `numbers.dtype`, and what happens when `nn.Linear(2, 1)` is applied to `numbers`?
#
# - (a) `float64`, and the layer raises an error about `Double` and `Float`
# - (b) `float32`, and the layer works
# - (c) `float64`, and the layer converts it to `float32` and works

# %% tags=["nbval-check-output"]
### BEGIN SOLUTION
# Hint: section 6: NumPy's default float type, and what nn.Linear said about it
answer_q3 = "a"
### END SOLUTION
check_exercise("Q3", answer_q3=answer_q3)

# %% [markdown] tags=["solution"]
# **(a).** NumPy makes 64-bit floats by default and `from_numpy` keeps their type:
# section 6 printed `torch.float64`. A layer's weights are `float32`, and PyTorch does
# not convert for you, so the layer raised "mat1 and mat2 must have the same dtype, but
# got Double and Float". `.float()` on the input, or a `float32` array, fixes it.

# %% [markdown]
# **Question 4.** On a machine with a GPU, `x = torch.ones(1000)` is on the CPU and
# `w = torch.ones(1000, device="cuda")` on the GPU. What does `x + w` do?
#
# - (a) it copies `x` to the GPU without a word and adds there
# - (b) it copies `w` to the CPU without a word and adds there
# - (c) it runs, but slowly, because each number is copied across as it is added
# - (d) it raises a `RuntimeError`; move one of them with `.to(...)` first

# %% tags=["nbval-check-output"]
### BEGIN SOLUTION
# Hint: section 7: the rule for the tensors in one operation
answer_q4 = "d"
### END SOLUTION
check_exercise("Q4", answer_q4=answer_q4)

# %% [markdown] tags=["solution"]
# **(d).** The tensors in one operation must be on the same device. PyTorch never
# copies between devices behind your back, since such a copy is slow and easy to miss,
# so it raises an error instead. This CPU-only run could not show the GPU's message,
# but section 7's meta-device cell shows the same rule on any machine.
