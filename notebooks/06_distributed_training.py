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
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/course-org/pytorch-from-zero/blob/main/notebooks/06_distributed_training.ipynb)
# [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/course-org/pytorch-from-zero/main?urlpath=lab/tree/notebooks/06_distributed_training.ipynb)
#
# # Lesson 06: Beyond one machine, with data-parallel training under torchrun
#
# Lesson 05 trained on one device. When one GPU is too slow, the usual next step is
# *data parallelism*: run several copies of the same model, one per GPU (or CPU
# core, or machine), give each copy a different part of every batch, and average
# their gradients before each step. This lesson first builds that averaging by hand
# with two collective calls, `all_reduce` and `broadcast`, on 2 CPU processes; then
# hands it to PyTorch's `DistributedDataParallel` (DDP), started by the `torchrun`
# launcher. It measures what the communication costs on this machine, trains on 2
# processes against 1, and describes what changes on many GPUs and many machines.
#
# **By the end of this lesson you can**
# - explain processes, rank, world size, local rank, the process group and its
#   backends (gloo on CPUs, NCCL on GPUs), and the device that goes with each;
# - sum and average tensors across processes with `all_reduce`, and copy one with
#   `broadcast`;
# - write a data-parallel step by hand (`all_reduce`, then divide by the world size)
#   and show that it equals one process on the whole batch, and DDP;
# - measure how much of a step the communication takes, and measure, epoch against
#   epoch, whether more processes pay off;
# - give every process its own shard of the data with `DistributedSampler`, and say
#   what goes wrong without `set_epoch`;
# - launch a script with `torchrun --standalone --nproc_per_node=N`, log and
#   checkpoint from rank 0, and make the script ready for GPUs;
# - say what `SyncBatchNorm`, `no_sync` and FSDP are for, and how several machines
#   are launched.

# %% [markdown] tags=["last-verified"]
# > **Last verified** 2026-12-04: PyTorch 2.14.1+cu130 on CPU (Intel(R) Xeon(R) Processor,
# > 2 threads); the whole lesson ran in 75 s with a peak memory of 1449 MB. The course's
# > runner wrote this line from the run that produced the worked lesson's outputs.

# %%
# On Colab, fetch the course (the lesson's scripts are files in it) and install its helpers;
# elsewhere `make` installed them.
import os
import subprocess
import sys

if "google.colab" in sys.modules:
    course = "/content/pytorch-from-zero"
    if not os.path.isdir(course):
        subprocess.run(
            [
                "git",
                "clone",
                "--quiet",
                "--depth=1",
                "https://github.com/course-org/pytorch-from-zero",
                course,
            ],
            check=True,
        )
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", course], check=True)
    os.chdir(f"{course}/notebooks")  # where the lesson's scripts are

# %%
import math
import shlex
import tempfile
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from IPython.display import Code
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data.distributed import DistributedSampler

import course_utils
from course_utils import evaluate
from course_utils.checkpoint import load_checkpoint
from course_utils.checks.lesson06 import check_exercise
from course_utils.data import mnist
from course_utils.distributed import (
    check_world_size,
    process_group,
    run_torchrun,
    simulate_group,
    torchrun_command,
)
from course_utils.models import MLP
from course_utils.plotting import plot_epoch_parts
from course_utils.report import record_result
from course_utils.rounds import RoundCount, count_rounds, speed_up_in_words
from course_utils.scaling import arms_table, comm_cost_table, read_arms, read_comm_cost
from course_utils.settings import full_or_smoke, seed_everything, smoke_mode

generator = seed_everything(0)
# os.cpu_count() counts logical CPUs: on a cloud machine, its virtual CPUs (vCPUs).
print(f"PyTorch {torch.__version__}, {os.cpu_count()} logical CPUs (vCPUs)")
print(f"distributed available: {dist.is_available()}")

# %% [markdown]
# **Settings.** Smoke mode (the quick run the test suite uses) trains on 2,000
# images for one epoch in every launch; the full run uses all 50,000 training
# images for 4 epochs. Each launch may run for `launch_timeout` seconds before it
# is stopped, so a stuck process never hangs the lesson.

# %%
train_size = full_or_smoke(full=50_000, smoke=2_000)
num_epochs = full_or_smoke(full=4, smoke=1)
launch_timeout = 300
print(f"Smoke mode: {smoke_mode()}; training images: {train_size}; epochs: {num_epochs}")

# %% [markdown]
# **The scripts.** Processes that train together are started by a launcher, from a
# script file, not from a notebook cell. This lesson's scripts are files in
# `notebooks/scripts/`: the notebook shows each one before it runs it, and you can
# open them in an editor or run them from a terminal with the `torchrun` command the
# notebook prints.

# %%
# Found from notebooks/, from student/ (the student version), or from the checkout that
# installed course_utils.
places = [Path("scripts"), Path("../notebooks/scripts")]
places.append(Path(course_utils.__file__).resolve().parents[1] / "notebooks" / "scripts")
scripts = next(place for place in places if place.is_dir())
print(sorted(path.name for path in scripts.glob("*.py")))

# %% [markdown]
# **Devices.** With NCCL every process needs a GPU of its own, so the 2-process runs
# below use GPUs only where there are at least two. Elsewhere (a CPU, a Mac, or a
# Colab with one GPU) every launch passes `cpu_only=True`, which hides the GPUs from
# the processes: they then run on the CPU with gloo. The scripts are the same either
# way. The cell says which case this machine is.

# %%
gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
cpu_only = gpus < 2
# Where the launches run, as the tables below name it: CPUs with gloo, or GPUs with NCCL.
machine = f"{os.cpu_count()} logical CPUs, gloo" if cpu_only else "2 GPUs, NCCL"  # 2 processes
if gpus == 1:
    print(
        "One GPU here: two processes need two GPUs (NCCL gives each process its own), "
        "so every launch below runs on CPU processes with gloo (cpu_only=True)."
    )
elif gpus >= 2:
    print(f"{gpus} GPUs: each process takes one (cuda:LOCAL_RANK) and they talk through NCCL.")
elif torch.backends.mps.is_available():
    print(
        "An Apple GPU (MPS) here: it has no backend for process groups, so every launch "
        "below runs on CPU processes with gloo."
    )
else:
    print("No GPU here: every launch below runs on CPU processes with gloo.")

# %% [markdown]
# ## 1. The work of a step, split over processes
#
# Data-parallel training splits each batch across N workers. The images of one step
# across all the workers make the **effective batch** (here 2 workers x 64 images =
# 128). An epoch's time on N workers is made of four parts:
# 1. the *step without communication*: each worker runs the forward and backward pass
#    and the update on its share: N times less arithmetic, though not always N times less
#    time (section 5 measures it);
# 2. the *exchange*: before anyone may take a step, the workers must agree on one
#    gradient, so every step each sends and receives a number of values that grows with
#    the model's parameters, not with its share of the batch (in a ring all-reduce, one
#    common way, each of N workers sends 2(N - 1)/N values per parameter: one at N = 2);
# 3. DDP's *other overhead* per step, its bookkeeping and waiting around the exchange;
# 4. the *data loading* around each step: the `DataLoader` picking the batch's images and
#    stacking them, then moving and normalising the batch, and the Python of the loop.
#
# N workers shrink parts 1 and 4 and add parts 2 and 3; whether they beat one worker
# depends on which weighs more. Section 5 times part 1 alone, and parts 2 and 3 together,
# for one step; section 8 times
# whole epochs, loading included. How much does the MLP this lesson trains (lesson 03's)
# exchange per step?

# %% tags=["nbval-check-output"]
mlp = MLP(28 * 28, [32], 10)
num_parameters = sum(parameter.numel() for parameter in mlp.parameters())
print(f"parameters: {num_parameters:,}")
print(f"gradient bytes all-reduced per step: {num_parameters * 4:,}")
batches_per_epoch = math.ceil(50_000 / 128)  # the last batch holds the 80 images left over
print(f"batches per epoch, effective batch 128: {batches_per_epoch}")

# %% [markdown]
# ## 2. Processes, ranks and the process group
#
# Data parallelism runs one *process* per device: separate Python programs, each
# with its own copy of the model, not threads. Each process knows
# - its **rank**: its number, from 0 to world size - 1 (rank 0 is, by convention,
#   the one that prints and saves);
# - the **world size**: how many processes take part;
# - its **local rank**: its number on its own machine, which picks its GPU.
#
# The processes join a **process group**, through which they make *collective* calls:
# every process of the group must make the same call, and the result is ready only once
# its partners' data has arrived (with gloo the call itself waits; with NCCL it returns
# at once and the GPU waits, so a timing must `synchronize`, as in lesson 04). The group
# runs on a **backend**: **gloo** works on CPUs (and is what this lesson uses without
# two GPUs; it can also carry some operations on GPU tensors); **NCCL** is NVIDIA's
# library for GPUs, and carries only GPU tensors. So a group comes with a device: the
# CPU with gloo, `cuda:LOCAL_RANK` with NCCL.
#
# `torchrun` starts the processes and tells each who it is through environment
# variables: `RANK`, `WORLD_SIZE`, `LOCAL_RANK`, and `MASTER_ADDR` and `MASTER_PORT`,
# where the processes meet. That meeting is the **rendezvous**: the processes find one
# another at one address and agree on who is who before any collective call. The
# notebook starts `torchrun` with the course's `run_torchrun`, which captures the
# output, stops every process after a timeout, and measures the memory of the run
# (section 7 says how it starts them on Linux). On a terminal you type `torchrun`
# itself; here is the command for section 3's first script:

# %%
# torchrun_command spells the launcher `python -m torch.distributed.run`; print `torchrun`.
print(shlex.join(["torchrun", *torchrun_command("scripts/collectives.py", 2)[3:]]))

# %% [markdown]
# ## 3. Collective calls by hand: `all_reduce` and `broadcast`
#
# The first script uses nothing but `torch.distributed`. Each process reads its rank
# from the environment, joins the group with `init_process_group("gloo")` (with a
# timeout: a process waiting for a partner that never comes fails instead of
# hanging), then
# - `all_reduce(tensor)`: every process gives its tensor and gets back, in place,
#   the sum of all of them; dividing by the world size gives the mean;
# - `broadcast(tensor, src=0)`: rank 0's tensor is copied over every other
#   process's.

# %%
Code(filename=str(scripts / "collectives.py"), language="python")

# %%
collectives = run_torchrun(
    scripts / "collectives.py", nproc=2, timeout=launch_timeout, cpu_only=True
)
print(collectives.output)

# %% [markdown]
# Read the lines by rank (the two processes print at the same time, so their lines
# may come in either order). Rank 0 held `[1, 10]` and rank 1 `[2, 20]`; after
# `all_reduce` both hold the sum, `[3, 30]`, and after dividing by the world size,
# the mean, `[1.5, 15]`. After `broadcast`, rank 1's own random numbers are gone:
# both hold rank 0's. Between the steps the script calls `dist.barrier()`, a collective
# call that returns in each process only once every process has called it, so that
# neither runs ahead to the next step before the other has printed. These two calls are
# all data parallelism needs: `broadcast` to start every copy of the model from the same
# weights, `all_reduce` to average the gradients. (This script runs with gloo on the CPU
# whatever the machine has. On a Mac, typed in a terminal, start the command with
# `GLOO_SOCKET_IFNAME=lo0` if gloo cannot connect; `run_torchrun` does that for you.)
#
# From here on, the scripts join the group with the course's `process_group()`: it
# reads the same variables, picks gloo or NCCL, sets the device, gives every call a
# timeout, and leaves the group at the end, even after an error. In this notebook, which
# `torchrun` did not start, it refuses with a message that says what to do:

# %% tags=["nbval-check-output"]
try:
    with process_group():
        pass
except RuntimeError as error:
    print(error)

# %% [markdown]
# ## 4. Gradient averaging by hand, then DDP
#
# The gradient of a mean loss over a batch is the mean of the gradients over equal
# parts of it. So if each of 2 processes computes the gradient of the mean loss on
# its half of a batch, and the two gradients are averaged, every process holds the
# gradient of the whole batch. The script below does it in three lines: `backward`
# on its half, `all_reduce` of every gradient, divide by the world size. It then
# compares the result with one process on the whole batch, and with what
# `DistributedDataParallel` computes from the same half.
#
# First the data. As lesson 03 did, 10,000 of the 60,000 training images are held out
# for validation by a seeded shuffle (this lesson's own, `randperm` with seed 42, so its
# validation images are not lesson 03's). The images stay as `uint8` pixels (a quarter of
# the memory of floats) and are normalised batch by batch. The notebook saves them
# once to a file, and every process maps that file into memory
# (`torch.load(..., mmap=True)`), so they share one copy.

# %%
work_folder = Path(tempfile.mkdtemp(prefix="lesson06-"))
full_train = mnist(train=True)
order = torch.randperm(60_000, generator=torch.Generator().manual_seed(42))
train_indices, val_indices = order[:50_000], order[50_000:]
# The dataset keeps every image in one uint8 tensor, .data: index it, no decoding.
train_images = full_train.data[train_indices].unsqueeze(1)  # (N, 1, 28, 28) uint8
train_labels = full_train.targets[train_indices]
val_images = full_train.data[val_indices].unsqueeze(1)
val_labels = full_train.targets[val_indices]
del full_train  # the notebook keeps only the tensors it needs
data_path = work_folder / "mnist_uint8.pt"
torch.save(
    {
        "train_images": train_images,
        "train_labels": train_labels,
        "val_images": val_images,
        "val_labels": val_labels,
    },
    data_path,
)

# %% tags=["nbval-check-output"]
print(train_images.shape, train_images.dtype, val_images.shape)
print(f"file: {data_path.stat().st_size / 2**20:.0f} MiB")

# %%
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


def normalised(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 pixels -> floats with mean 0 and standard deviation 1, as in lesson 03."""
    return (pixels.float() / 255 - MNIST_MEAN) / MNIST_STD


batch_indices = torch.randperm(len(train_images), generator=generator)[:64]
batch_images = normalised(train_images[batch_indices])
batch_labels = train_labels[batch_indices]
batch_path = work_folder / "batch.pt"
torch.save({"images": batch_images, "labels": batch_labels}, batch_path)
# From here on the processes read the data from its file; the notebook keeps the batch.
del train_images, train_labels, val_images, val_labels

# %% [markdown]
# This script, and the ones after it, print with the course's `rank_print`: a line
# without a prefix comes from rank 0 only (one copy of what every process holds), and
# `rank_print(..., all_ranks=True)` prints from every process, each line prefixed with
# `[rank N]`.

# %%
Code(filename=str(scripts / "manual_ddp.py"), language="python")

# %%
manual = run_torchrun(
    scripts / "manual_ddp.py", nproc=2, args=[batch_path], timeout=launch_timeout, cpu_only=cpu_only
)
print(manual.output)

# %% [markdown]
# Each process's own gradient, from its 32 images, differs from the whole batch's (the
# lines ending `largest gap: …`, against the size of the gradient values on the line
# `whole batch's gradient values`), so the comparison could fail. After `all_reduce` and
# the division, both processes hold the whole batch's gradient, up to float32 rounding
# (the sums are added in another order), and exactly what DDP computed. The line
# `initial weights drawn …` shows DDP's first job: each process drew its own initial
# weights (a seed per rank), and after wrapping the model in DDP the largest gap between
# the processes' weights is 0.

# %% [markdown]
# **Exercise 1: averaging gradients by hand.** Before DDP takes over, write the step the
# script above took, and DDP hides: `average_gradients(model)`, which after `backward`
# replaces every parameter's `.grad` with the mean of that gradient over all the
# processes of the group, using `dist.all_reduce` and `dist.get_world_size()`. The check
# runs your function in a pretend group of 3 processes (`simulate_group`, threads
# standing in for processes), each holding the gradient of its own third of a batch,
# then in a group of 4.


# %%
### BEGIN SOLUTION
# Hint: for every parameter: dist.all_reduce(p.grad), then divide by dist.get_world_size()
def average_gradients(model: nn.Module) -> None:
    world_size = dist.get_world_size()
    for parameter in model.parameters():
        if parameter.grad is not None:
            dist.all_reduce(parameter.grad)  # the sum over the processes
            parameter.grad /= world_size  # the mean


### END SOLUTION

# %%
if check_exercise(1, average_gradients=average_gradients):
    # 3 copies of a model, each with the gradient of its third of a batch of 24 images.
    images, labels = batch_images[:24], batch_labels[:24]
    with torch.random.fork_rng():  # leave the lesson's random stream as it was
        torch.manual_seed(0)
        copies = [MLP(28 * 28, [32], 10) for _ in range(3)]
        whole = MLP(28 * 28, [32], 10)  # one process, the whole batch: weights loaded below
    for rank, copy in enumerate(copies):
        copy.load_state_dict(copies[0].state_dict())
        shard = slice(rank * 8, rank * 8 + 8)
        F.cross_entropy(copy(images[shard]), labels[shard]).backward()
    # The three shards' gradients, kept to show what a sum without the division gives.
    shard_gradients = [[p.grad.clone() for p in copy.parameters()] for copy in copies]
    summed = torch.cat([sum(grads).flatten() for grads in zip(*shard_gradients, strict=True)])
    simulate_group(3, lambda rank: average_gradients(copies[rank]))
    whole.load_state_dict(copies[0].state_dict())  # the same weights
    F.cross_entropy(whole(images), labels).backward()
    gap = max(
        (mine.grad - reference.grad).abs().max().item()
        for copy in copies
        for mine, reference in zip(copy.parameters(), whole.parameters(), strict=True)
    )
    print(f"3 processes, averaged gradients vs the whole batch's, largest gap: {gap:.1e}")
    whole_gradient = torch.cat([parameter.grad.flatten() for parameter in whole.parameters()])
    times = (summed.norm() / whole_gradient.norm()).item()
    print(f"summed, not divided / whole batch's gradient: {times:.2f}")

# %% [markdown] tags=["solution"]
# **What the result means.** Each of the 3 copies held the gradient of its own 8
# images; after `average_gradients`, every copy holds the gradient of all 24, up to
# float32 rounding: the same update in every process, the one a single process would
# make on the whole batch. Forget the division and every step is too large: the summed
# gradients are 3.00<!-- output: summed, not divided / whole batch's gradient --> times
# the whole batch's (the last line), as if the learning rate were multiplied by the
# world size; divide by a number
# written in the code and the step is wrong on any other number of processes; skip a
# parameter and its gradient stays each process's own (the check catches each of these).

# %% [markdown]
# **What DDP does.** From here on, `DistributedDataParallel(model)` does this work:
# 1. when it wraps the model, it broadcasts rank 0's weights to every process, so all
#    start equal (the line `initial weights drawn …` above);
# 2. during `loss.backward()`, as soon as a group ("bucket") of gradients is ready, it
#    divides each gradient in it by the world size and starts an `all_reduce` that sums
#    them, which leaves the mean in every process; the rest of `backward` goes on while
#    a bucket's gradients travel. A bucket holds up to `bucket_cap_mb`, 25 MiB by
#    default<!-- source: https://pytorch.org/docs/stable/notes/ddp.html --> (the first
#    one, by PyTorch's source, 1 MiB);
#    this model's
#    101,800<!-- output: gradient bytes all-reduced per step --> bytes of gradients fit
#    in one, so nothing overlaps here (section 10's communication hook counts that one
#    all-reduce per backward);
# 3. every process then takes the same optimizer step on the same weights with the same
#    averaged gradient, so the copies stay equal without ever sending weights (the
#    script above checks the gradients of one step; no cell compares the weights after
#    a whole training). A model with *buffers*, such as batch norm's running
#    statistics, is different: by default (`broadcast_buffers=True`) DDP sends rank 0's
#    buffers to every process at each forward pass. This MLP has none.

# %% [markdown]
# ## 5. What the communication costs
#
# Every step adds an `all_reduce` of all the gradients. Below, *B* is the number of
# images each process takes in a step. The next script times, in each of 2 processes,
# the median of 120 repeats of four things:
# - a step computed alone (forward, backward, update, no communication);
# - the same step under DDP;
# - the all-reduce of the model's 25,450 gradients by itself;
# - the step alone on twice the images, 2B, which is what one process does to train on
#   the same effective batch. Only rank 0 times it, with its 1 thread, while rank 1
#   waits at a barrier.
#
# It times the four in turn, round after round, so that a busy moment of the machine
# slows all of them alike, for 64 and for 1,024 images per process: the same gradients to
# all-reduce for 16 times the images. The step on 2B images against the DDP step on B
# predicts the speed-up of 2 processes over 1 *for the steps only*; section 8 times whole
# epochs, which also hold the data loading.

# %%
Code(filename=str(scripts / "comm_cost.py"), language="python")

# %% [markdown]
# The method is in `median_seconds`: every work runs once per round, in turn, 20 warm-up
# rounds and then 120 timed ones; each timing starts after `dist.barrier()`, so the
# processes start together (inside the work, a DDP step can still wait for the other
# process at its all-reduce), and ends after `synchronize(device)`, so that on a GPU
# the queued work is done (lesson 04).

# %%
comm_cost = run_torchrun(
    scripts / "comm_cost.py",
    nproc=2,
    timeout=launch_timeout,
    cpu_only=cpu_only,
    threads_per_process=1,  # as in section 8's launches, on any number of CPUs
)
print(comm_cost.output)

# %% [markdown]
# `read_comm_cost` (from `course_utils.scaling`) reads the timings back from the lines
# above, and `comm_cost_table` lays them out, each row the mean of the 2 ranks' medians
# (except the 2B row, which rank 0 timed alone). The lines under the table are the
# ratios the text below reads.

# %%
cost = read_comm_cost(comm_cost.output)
print(comm_cost_table(cost, f"{machine}, 1 thread per process"))
print()
ms = cost.median  # batch size -> part -> ms
for size in (64, 1024):
    added = ms[size]["added"] / ms[size]["step"]
    print(f"{size} images per process, DDP's added time / step without communication: {added:.2f}")
# How each grew from 64 to 1,024 images per process.
for part in ("step", "added", "all_reduce"):
    print(f"{part}, 1024 images per process / 64: {ms[1024][part] / ms[64][part]:.2f}")
# What a step saves on half the images, against what DDP adds to it.
for size in (64, 1024):
    saved = ms[size]["double"] - ms[size]["step"]
    print(f"{size} images per process, ms a step saves on half the images: {saved:.3f}")
    print(f"{size} images per process, ms DDP adds to a step: {ms[size]['added']:.3f}")
# One process on the effective batch against 2 processes on half of it each, under DDP.
predicted = {size: ms[size]["double"] / ms[size]["ddp"] for size in (64, 1024)}
for size in (64, 1024):
    words = speed_up_in_words(predicted[size])  # between 1 / (1 + TIE) and 1 + TIE: a tie
    print(
        f"{size} images per process, predicted speed-up of 2 processes: {predicted[size]:.2f} "
        f"(steps only, one run: {words})"
    )

# %% [markdown]
# The table comes from one run on 2 logical CPUs shared with the notebook, with gloo over
# loopback sockets (connections from the machine to itself): read its figures as sizes.
# *DDP's added time* is the DDP step minus the step without communication: the exchange,
# and DDP's bookkeeping and waiting around it. Compare it with the bare all-reduce's
# row; this lesson does not time the bookkeeping and the waiting apart.
#
# - **At 64 images per process** DDP added
#   1.83<!-- output: 64 images per process, DDP's added time / step without communication -->
#   times the time of the step it serves.
# - **At 1,024 images per process** (16 times the images) DDP added
#   0.61<!-- output: 1024 images per process, DDP's added time / step without communication -->
#   times the step: the all-reduce sends the same 25,450 numbers whatever the batch, while
#   the step's work grows with its images. The lines `… 1024 images per process / 64`
#   show how much each part grew with 16 times the images: set the step's growth beside
#   DDP's added time's and the bare all-reduce's. For steps timed alone, more work per
#   exchange is what helps data parallelism.
#
# **A prediction for the steps.** 2 processes win the steps only when what DDP adds to a
# step costs less than what a step saves on half the images: at 64 images per process,
# halving saved
# 0.096 ms<!-- output: 64 images per process, ms a step saves on half the images --> and
# DDP added
# 0.897 ms<!-- output: 64 images per process, ms DDP adds to a step -->; at 1,024,
# 1.103 ms<!-- output: 1024 images per process, ms a step saves on half the images -->
# against
# 1.001 ms<!-- output: 1024 images per process, ms DDP adds to a step -->. The ratio of
# the two steps predicts the speed-up of 2 processes for the steps alone (below 1:
# slower):
# 0.42<!-- output: 64 images per process, predicted speed-up of 2 processes --> at 64
# images per process and
# 1.04<!-- output: 1024 images per process, predicted speed-up of 2 processes --> at
# 1,024, one run each. The words in brackets count a speed-up between 1 / 1.1 and 1.1 as
# a tie (`TIE` in `course_utils.rounds`, the lesson's tie band): a convention, not a
# measured noise level, so that one run's smaller differences are not read as a winner.
#
# With 2 or more GPUs, this launch runs on them with NCCL (the table's first line says
# which); the outputs you see come from CPU processes with gloo. On a GPU, the ratio to
# look at is the same: DDP's added time against the step without communication.

# %% [markdown]
# ## 6. Every process its own shard: `DistributedSampler`
#
# If every process trained on the same batches, N processes would compute the same
# gradient N times: no gain at all. `DistributedSampler` shuffles the indices of the
# dataset (with the same seed in every process, so they agree on the order) and
# gives rank r every N-th index from position r. Here are the shards of a dataset
# of 10 items for 2 processes, over two epochs, and the same shards by hand: a
# `torch.randperm` of the 10 indices from a generator seeded with the sampler's seed
# plus the epoch, then every 2nd index from position 0 and from position 1:

# %% tags=["nbval-check-output"]
toy_dataset = TensorDataset(torch.arange(10))
for epoch in (0, 1):
    shards = []
    for rank in (0, 1):
        sampler = DistributedSampler(toy_dataset, num_replicas=2, rank=rank, seed=0)
        sampler.set_epoch(epoch)
        shards.append(list(sampler))
    print(f"epoch {epoch}: rank 0 gets {shards[0]}, rank 1 gets {shards[1]}")
    print(f"  overlap: {set(shards[0]) & set(shards[1]) or 'none'}")
    order = torch.randperm(10, generator=torch.Generator().manual_seed(0 + epoch)).tolist()
    print(f"  by hand the same: {[order[0::2], order[1::2]] == shards}")

# %% [markdown]
# The two shards never overlap, and together they cover the dataset.
# `sampler.set_epoch(epoch)` reseeds the shuffle with the epoch's number (exercise 2
# shows what happens without it). When the data does not divide evenly, the sampler
# repeats a few indices so that every process takes the same number of steps; otherwise
# a process with more steps would block at its next all-reduce, waiting for partners that
# have finished: the run would hang until the group's timeout, or its collective calls
# would pair up wrongly (not shown here).
# Here, 11 items on 2 processes, without shuffling so the repeat is easy to see:

# %% tags=["nbval-check-output"]
uneven = [
    list(DistributedSampler(range(11), num_replicas=2, rank=r, shuffle=False)) for r in (0, 1)
]
print(f"11 items: rank 0 gets {uneven[0]}, rank 1 gets {uneven[1]}")
print(f"repeated: {sorted(set(uneven[0]) & set(uneven[1]))}")

# %% [markdown]
# Rank 1's last index, 0, is rank 0's first again: each takes 6 items.
#
# `check_world_size` says how many batches each process takes per epoch, and refuses
# an effective batch (processes x batch size) larger than the data: with 200 samples on
# 8 processes, `DistributedSampler` would give each process 25, so every step would
# average 200 images where 8 x 64 = 512 were asked for:

# %% tags=["nbval-check-output"]
print(f"batches per process: {check_world_size(50_000, 64, world_size=2)}")
try:
    check_world_size(200, 64, world_size=8)
except ValueError as error:
    print(error)

# %% [markdown]
# ## 7. The training script
#
# Here is the whole training script. Read it top to bottom; the lines that are
# specific to data parallelism are
# - `with process_group(timeout=60) as group`: join the group, leave it at the end;
# - `device = group.device`, `.to(device)` on the model and on every batch, and
#   `device_ids=[device]` for DDP with NCCL: these lines make the same script run on
#   CPUs with gloo and on GPUs with NCCL (exercise 3 writes that choice);
# - `synchronize(device)` before the clock is read: on a GPU the steps are queued,
#   and the epoch's time would otherwise be the time to queue them (lesson 04);
# - `DistributedSampler(..., num_replicas=world_size, rank=rank)` and
#   `sampler.set_epoch(epoch)`: a different shard per process, a new shuffle per epoch;
# - `DistributedDataParallel(model)`: the gradients are averaged in `backward`;
# - validation on every world_size-th image, then `dist.all_reduce(totals)` to add
#   up the shards' counts, so every process knows the whole validation accuracy;
# - `rank_print` and `if rank == 0: save_checkpoint(...)`: one process logs and
#   saves (all hold the same weights; N processes writing one file would clash),
#   and a `barrier` keeps the others from running ahead of the save. Rank 0 saves
#   `model.module`, the plain model inside the DDP wrapper, so the checkpoint loads
#   into an `MLP` without DDP.
#
# One more pair of lines is there for measuring, not for training: the loop asks the
# loader for each batch with `next(batches)` and adds up the seconds it waits, so that
# every epoch line says how much of it went to loading (section 8's script times more:
# the move to the device and the normalising too).

# %%
Code(filename=str(scripts / "train_ddp.py"), language="python")

# %% [markdown]
# **The effective batch size** is the per-process batch times the world size: with
# `--batch-size 64` on 2 processes, each step averages 128 images, the same as lesson
# 03's batches of 128, so the same learning rate (0.2) fits. With more processes and the
# same per-process batch, the effective batch grows, and the usual *linear scaling rule*
# grows the learning rate with it, with a few epochs of warm-up for very large batches
# (Goyal et al. trained a ResNet-50 on ImageNet with batches of
# 8,192<!-- source: https://arxiv.org/abs/1706.02677 --> images this way; this lesson
# keeps 128 and does not test the rule).
#
# **Launching.** `--standalone` means one machine, with a meeting point on a free local
# port that torchrun picks itself; `--nproc_per_node` is the number of processes
# (usually the number of GPUs). On a machine with one GPU, `CUDA_VISIBLE_DEVICES=
# torchrun ...` hides it, which is what `cpu_only=True` does. The launches below give each
# process 1 intra-op thread (`OMP_NUM_THREADS=1`), as plain `torchrun` does when it
# starts several processes (its launcher logs a warning saying so), so that 2 processes
# use the 2 CPUs; one process run with `python` gets PyTorch's default instead:

# %%
print(f"this notebook's process: {torch.get_num_threads()} intra-op threads")

# %% [markdown]
# The next cell prints the command to type in a terminal, then launches the same script
# through `run_torchrun`. On Linux that forks CPU workers from a process that has
# already imported PyTorch (the memory note after it says what that changes), where the
# typed `torchrun` starts each as a fresh Python: the timings and memory in this lesson
# are those of the forked workers.

# %%
two_folder = work_folder / "run_2"  # rank 0 writes the history and the checkpoint here
common_args = ["--data", data_path, "--epochs", num_epochs, "--train-size", train_size]
two_args = [*common_args, "--out", two_folder, "--batch-size", 64, "--lr", 0.2]
# The command for a terminal in notebooks/; $LESSON06 is work_folder (print it, export it).
command = torchrun_command(Path("scripts") / "train_ddp.py", 2, two_args)[3:]
# With one GPU, the launches below hide it (cpu_only=True); in a terminal, an empty
# CUDA_VISIBLE_DEVICES does the same.
hide = "CUDA_VISIBLE_DEVICES= " if cpu_only and gpus else ""
parts = [str(part).replace(str(work_folder), "$LESSON06") for part in command]
print("export LESSON06=<the folder that print(work_folder) shows: run it to see>")
print(hide + " ".join(["torchrun", *parts]))
two_processes = run_torchrun(
    scripts / "train_ddp.py",
    nproc=2,
    args=two_args,
    timeout=launch_timeout,
    cpu_only=cpu_only,
    threads_per_process=1,
)
print(two_processes.output)

# %% [markdown]
# **Memory.** Every process is a full Python with its own copy of PyTorch and the model.
# *Resident* memory (RSS) counts every page a process uses, including pages it shares
# with other processes; *proportional* memory (PSS) splits each shared page between
# them, so the PSS of several processes adds up to what they hold together. Here are the
# figures of this launch:

# %%
peak_worker = round(two_processes.peak_worker_rss_mb)
record_result("largest worker, peak resident memory (MB)", peak_worker)
if two_processes.peak_pss_mb > 0:  # proportional memory: reported on Linux only
    both = round(two_processes.peak_pss_mb)
    record_result("launcher + 2 workers, proportional memory (MB)", both)
else:
    print("proportional memory (PSS): not reported on this system")

# %% [markdown]
# The launcher and its 2 workers held
# 904 MB<!-- output: launcher + 2 workers, proportional memory (MB) --> together, while
# the largest worker alone had
# 603 MB<!-- output: largest worker, peak resident memory (MB) --> of pages in use,
# counting those it shares. On Linux, `run_torchrun` forks CPU workers from a process
# that has already imported PyTorch, so they share its pages until they write to them;
# on macOS, or with CUDA, the workers start as fresh Pythons and each holds a whole
# PyTorch of its own (not measured here), and on a GPU each also holds its own CUDA
# context.

# %% [markdown]
# ## 8. One process against two
#
# Is the 2-process run faster than one process would be? A fair answer changes one
# thing and keeps the rest: the same effective batch of 128 images, the same seed, the
# same shuffle and the same images (to fit the lesson's time budget, the first 20,000
# training images an epoch). Each way of training is an *arm*. This section sets two
# against each other:
# - `plain loop, 2 threads`: section 7's training loop without DDP, in one process with
#   2 threads, so that it may use both logical CPUs, as 2 processes do (the appendix
#   shows the second thread bought no clear speed-up). It is what a script run with
#   `python` gets on this machine: **the baseline**;
# - `DDP, 2 processes`: section 7's way, 2 processes with 1 thread each.
#
# The tables also show the same two ways *loading lean* (`batch slices, 2 threads` and
# `DDP, 2 processes, slices`): each batch cut out of one tensor of all the images, as
# lesson 04's pipeline (b) does, instead of a `DataLoader` fetching the images one by
# one; a second line under each table sets them against each other. The appendix at the
# end of the lesson reads a fifth arm, the plain loop with 1 thread, and the other
# comparisons.
#
# A shared machine is faster at some moments than at others, so the script takes the
# arms in *rounds*: each round trains one epoch of every arm, in a new order, and a busy
# moment falls on one round's arms alike. Round 1 is left out as a warm-up.

# %%
Code(filename=str(scripts / "compare_arms.py"), language="python")

# %% [markdown]
# What to read in it, in `main()`:
# - **The arms.** Each has its own `DistributedSampler`: a 2-process arm's splits the
#   images between ranks 0 and 1, a 1-process arm's gives all of them to its one process
#   (`num_replicas=1, rank=0`). One process takes batches of `64 x 2` images and each of
#   two processes 64, so every arm takes the same effective batch of 128, and every model
#   starts from `torch.manual_seed(0)`.
# - **The rounds.** `turn` is the arms in a new order each round, drawn from a generator
#   seeded with the round's number, so both ranks meet at the same arm. Rank 1 has
#   nothing to do in a 1-process arm, and waits at `dist.barrier()` meanwhile.
# - **The results.** Rank 0 writes `arms.json`, which the notebook reads.

# %%
arm_rounds = full_or_smoke(full=11, smoke=2)  # round 1 is a warm-up
arms_size = full_or_smoke(full=20_000, smoke=2_000)  # training images per epoch
big_size = full_or_smoke(full=50_000, smoke=2_000)  # the same, at the big batch below


def launch_arms(name: str, rounds: int, size: int, per_process: int):
    """One launch of compare_arms.py in 2 processes, 1 thread each; its results go to
    work_folder / name."""
    args = [
        *["--data", data_path, "--out", work_folder / name, "--rounds", rounds],
        *["--train-size", size, "--batch-size", per_process, "--lr", 0.2],
    ]
    # 1 thread a process: the script gives the 2-thread arms 2 threads itself.
    options = {"timeout": launch_timeout, "cpu_only": cpu_only, "threads_per_process": 1}
    return run_torchrun(scripts / "compare_arms.py", nproc=2, args=args, **options)


arms_128 = launch_arms("arms_128", arm_rounds, arms_size, 64)

# %% [markdown]
# The next cell reads the launch's results and prints, for an effective batch of 128,
# a table of the four arms and the comparisons under it; the text after it says how
# to read them.

# %%
TWO_ARM, TWO_SLICED = "DDP, 2 processes", "DDP, 2 processes, slices"
PLAIN_ARM, PLAIN_2 = "plain loop, 1 thread", "plain loop, 2 threads"  # one process, no DDP
SLICED_2 = "batch slices, 2 threads"
SECTION_8_ARMS = (PLAIN_2, TWO_ARM, SLICED_2, TWO_SLICED)  # the baseline and 2 processes, twice


def speed_ups(figures: dict, arm: str, baseline: str) -> RoundCount:
    """The arm's speed-up over the baseline, round by round: the baseline's epoch over the
    arm's, counted as faster, tied or slower with section 5's tie band."""
    pairs = zip(figures[baseline]["epochs"], figures[arm]["epochs"], strict=True)
    return count_rounds([theirs / mine for theirs, mine in pairs])


def compare(name: str, figures: dict, arm: str, baseline: str) -> RoundCount:
    """Print the arm's speed-up over the baseline, with its rounds and verdict."""
    rounds = speed_ups(figures, arm, baseline)
    counts = f"{rounds.faster} / {rounds.tied} / {rounds.slower}"
    print(
        f"{name}, {arm} over {baseline}: {rounds.median:.2f} "
        f"(rounds faster / tied / slower: {counts}; {rounds.verdict})"
    )
    return rounds


def one_against_two(batch: int, figures: dict) -> tuple[RoundCount, RoundCount]:
    """The baseline and 2 processes at one effective batch: their table, 2 processes'
    speed-up over the baseline, the table's two parts as ratios, then the same two ways
    both loading lean. Returns the speed-up's RoundCount, then the lean pair's."""
    name = f"effective batch {batch}"
    four_arms = {arm: figures[arm] for arm in SECTION_8_ARMS}
    print(arms_table(four_arms, f"{name}: {machine}, seconds per epoch"))
    print(f"{name}, rounds compared: {len(figures[TWO_ARM]['epochs'])}")
    headline = compare(name, figures, TWO_ARM, PLAIN_2)
    plain, two = figures[PLAIN_2], figures[TWO_ARM]  # the table's two parts, as ratios
    print(f"{name}, loader seconds, 2 processes / baseline: {two['loader'] / plain['loader']:.2f}")
    print(f"{name}, the rest, 2 processes / baseline: {two['rest'] / plain['rest']:.2f}")
    return headline, compare(name, figures, TWO_SLICED, SLICED_2)  # both loading lean


arms_figures = read_arms(work_folder / "arms_128")
headline, lean = one_against_two(128, arms_figures)
accuracies = [arms_figures[arm]["val_acc"] for arm in SECTION_8_ARMS]
gap = 100 * (max(accuracies) - min(accuracies))
print(f"effective batch 128, the four arms' largest validation accuracy gap (points): {gap:.2f}")
record_result("2 processes over 1 process with 2 threads, batch 128", round(headline.median, 2))
record_result("2 processes over 1 process, both loading lean, batch 128", round(lean.median, 2))
record_result("plain loop, validation accuracy", arms_figures[PLAIN_2]["val_acc"])
record_result("2 processes, validation accuracy", arms_figures[TWO_ARM]["val_acc"])

# %% [markdown]
# **How to read it.** `read_arms` (from `course_utils.scaling`) read the results file,
# and `arms_table` laid out each arm's median epoch over the rounds after the first, and
# the range of those rounds; *loader* is the part of an epoch spent waiting for its
# batches, *the rest* is everything else: the steps, and for DDP any wait at the
# all-reduce for a partner still loading its batch (each column is a median of its own).
# Under the table, 2 processes' *speed-up* over the baseline: the baseline's epoch over
# theirs, round by round (above 1: 2 processes were faster), the median, and how many
# rounds were faster, tied (within a tenth, section 5's `TIE`) or slower. The verdict
# names a winner only when every round agrees, so a single tied round withholds it: if
# each round were a coin flip between two equally fast arms, all 10 would go the same
# way about 2 times in 2^10 = 1,024. Then the two parts as ratios, and last the same
# pair both loading lean.
#
# **At an effective batch of 128**, 2 processes ran at a median of
# 0.52<!-- output: effective batch 128, DDP, 2 processes over plain loop, 2 threads -->
# times the plain loop's speed (below 1: slower); the end of the line says how the
# rounds went. The two parts of the epoch moved apart: 2 processes' loading took
# 0.53<!-- output: effective batch 128, loader seconds, 2 processes / baseline -->
# times the baseline's seconds (each process loads half the images, though the ratio
# need not be 0.5, and this lesson does not time why), and the rest
# 3.73<!-- output: effective batch 128, the rest, 2 processes / baseline --> times.
# Section 5 predicted slower steps at this size (against one process with 1 thread;
# the appendix makes that comparison): at 64 images per process, DDP adds more to a
# step than halving its images saves. Both loading lean, 2 processes ran at
# 0.42<!-- output: effective batch 128, DDP, 2 processes, slices over batch slices, 2 threads -->
# times one process's speed (the last line).
#
# Every arm trained its own model from the same weights on the same batches: the
# largest gap between the four arms' validation accuracies was
# 0.00<!-- output: effective batch 128, the four arms' largest validation accuracy gap (points) -->
# points (93.2%<!-- output: plain loop, validation accuracy --> for the plain loop,
# 93.2%<!-- output: 2 processes, validation accuracy --> for 2 processes). The halves of
# each 2-process step are the 128 images of the 1-process step; in this one run the
# four arms reached the same validation accuracy to the digits printed (the appendix's
# fifth arm, on the same batches, ended a few hundredths of a point apart: its table).
#
# **At 1,024 images per process**, section 5's other size (its last line gives the
# prediction for the steps alone). The same arms again, with batches of 1,024 per
# process on 2 processes and 2,048 on 1 process, on all 50,000 training images (these
# runs are for timing; the learning rate stays 0.2). The batch and the images per epoch
# both change from the launch above, so compare the two launches as sizes, not as the
# batch's effect alone.

# %%
big_batch = full_or_smoke(full=1024, smoke=256)  # images per process with 2 processes
arms_big = launch_arms("arms_big", arm_rounds, big_size, big_batch)
big_figures = read_arms(work_folder / "arms_big")
_ = one_against_two(2 * big_batch, big_figures)  # the table and lines are what it is for

# %% [markdown]
# The two launches' tables, drawn: for each arm, the orange part of its bar is the time
# spent waiting for batches (`loader`), the blue part the rest (the steps, and for DDP
# any wait at the all-reduce), and each dot one round's whole epoch.

# %%
plot_epoch_parts(
    {
        f"effective batch {batch}, {size:,} images an epoch": {
            arm: figures[arm] for arm in SECTION_8_ARMS
        }
        for batch, size, figures in (
            (128, arms_size, arms_figures),
            (2 * big_batch, big_size, big_figures),
        )
    },
    machine,
)

# %% [markdown]
# At 2,048 images a step, 2 processes ran at a median of
# 1.91<!-- output: effective batch 2048, DDP, 2 processes over plain loop, 2 threads -->
# times the plain loop's speed (its line ends with the rounds' count and verdict). The
# figure shows where the two launches differ. At 128,
# the long bars are the DDP arms' blue ones: the rest, their steps and waiting. At
# 2,048, the plain loop's orange bar, waiting for its `DataLoader`, is most of its
# epoch, and 2 processes cut that wait to
# 0.30<!-- output: effective batch 2048, loader seconds, 2 processes / baseline -->
# of the baseline's, while the rest took
# 2.03<!-- output: effective batch 2048, the rest, 2 processes / baseline --> times as
# long. Read each line's count before its median: a median can lean one way while some
# rounds tie or disagree, and the verdict names a winner only when every round agrees.
#
# **Against a lean single process.** Loading lean (the lower two bars of each panel)
# shrinks the orange part in one process too, and then a second process has little left
# to win: 2 processes loading lean ran at
# 0.42<!-- output: effective batch 128, DDP, 2 processes, slices over batch slices, 2 threads -->
# times the speed of one lean process at 128 images a step and
# 1.14<!-- output: effective batch 2048, DDP, 2 processes, slices over batch slices, 2 threads -->
# times at 2,048 (their lines give the counts and verdicts). Loading lean sped one
# process up more than that: by
# 1.42<!-- output: effective batch 128, batch slices, 2 threads over plain loop, 2 threads -->
# and
# 2.24<!-- output: effective batch 2048, batch slices, 2 threads over plain loop, 2 threads -->
# times (the appendix's comparison 1). So on this machine, make one process lean before
# adding a second.
#
# On GPUs, with a model that does far more arithmetic per image, one GPU per process and
# NCCL, the same launches measure what scaling out buys; this lesson did not run there.

# %% [markdown]
# ## 9. The checkpoint, tested once
#
# Rank 0 saved the weights of the last epoch with `save_checkpoint`. Any program
# can load them into a plain `MLP`, without processes or DDP: here, the test set
# meets the 2-process model once, at the end.

# %%
test_set = mnist(train=False)
test_images, test_labels = test_set.data.unsqueeze(1), test_set.targets
del test_set
test_loader = DataLoader(TensorDataset(normalised(test_images), test_labels), batch_size=1000)
trained = MLP(28 * 28, [32], 10)
saved = load_checkpoint(two_folder / "checkpoint.pt", trained)
print(f"checkpoint of epoch {saved['epoch']}, validation accuracy {saved['val_acc']:.4f}")
record_result("2-process MLP test accuracy", evaluate(trained, test_loader)["val_acc"])

# %% [markdown]
# ## 10. What changes at scale
#
# **NCCL and the GPUs.** On one machine with 8 GPUs, with the GPUs visible (no
# `cpu_only`, no `CUDA_VISIBLE_DEVICES=`), the same script runs with
#
# ```bash
# torchrun --standalone --nproc_per_node=8 train_ddp.py --data ... --out ...
# ```
#
# `process_group()` then picks NCCL, and each process takes GPU number `LOCAL_RANK`:
# `group.device` is `cuda:0` to `cuda:7`, the `.to(device)` lines move the model and
# every batch there, and DDP gets `device_ids=[device]`. On this machine:

# %%
if torch.cuda.is_available() and gpus >= 2:
    print(f"ran above: NCCL, each of 2 processes on cuda:LOCAL_RANK of {gpus} GPUs")
else:
    print(
        "would run with 2 GPUs or more: NCCL, local rank r on cuda:r, "
        "DistributedDataParallel(model, device_ids=[cuda:r])"
    )
    print(f"not run here: {gpus} CUDA GPU(s), so every process ran on the CPU with gloo")

# %% [markdown]
# **Several machines** (not run here: it needs them). Start the same command on every
# machine, with the number of machines and one meeting point all of them can reach:
#
# ```bash
# torchrun --nnodes=4 --nproc_per_node=8 --rdzv-backend=c10d \
#     --rdzv-endpoint=node0.example.org:29500 --rdzv-id=mnist-run \
#     train_ddp.py --data ... --out ...
# ```
#
# `--nnodes` is the number of machines, `--rdzv-backend=c10d` the way they find each
# other (the *rendezvous*: every launcher connects to one store that PyTorch runs on
# the endpoint's machine), `--rdzv-endpoint` the host and port where
# they meet (the same on every machine; the port must be open between them),
# `--rdzv-id` a name for the job. World size becomes 4 x 8 = 32, ranks 0 to 31, and
# local ranks 0 to 7 on each machine. Each machine needs the data (or a shared file
# system), and rank 0's machine writes the checkpoint.
#
# **Batch norm: `SyncBatchNorm`.** A `BatchNorm` layer normalises with the mean and
# variance of its batch. Under DDP, "its batch" is the process's shard, and every
# process normalises with different statistics. The script below compares the mean of
# each process's 32 images with the whole batch's (all-reduced by hand), then converts
# a small model with `nn.SyncBatchNorm.convert_sync_batchnorm`, whose layers compute
# the whole batch's statistics across the processes in the forward pass (on a GPU: on
# the CPU the conversion is shown, but its forward pass does not run).

# %%
Code(filename=str(scripts / "batch_norm.py"), language="python")

# %%
batch_norm = run_torchrun(
    scripts / "batch_norm.py", nproc=2, args=[batch_path], timeout=launch_timeout, cpu_only=cpu_only
)
print(batch_norm.output)

# %% [markdown]
# Each shard's mean differs from the whole batch's, so plain `BatchNorm` layers would
# normalise differently in each process. To judge a gap, set it beside the scale of the
# values: batch norm subtracts the mean and divides by the standard deviation, so a gap
# of g in the mean shifts every normalised value by g / std. The whole batch's standard
# deviation is printed (the images were normalised to about 1), and each gap is given as
# a percentage of it: how far, in units of the spread of the values, one process's
# normalised values sit from where the whole batch would put them. The lines
# `… images per process` cut the shards into smaller batches and average the gap over
# them; the line
# `gap larger with 4 …` compares 4 images with 32. This batch holds a single channel of
# normalised pixels; a layer deep in a network sees other values, so read these
# percentages as this batch's, not as a rule. `convert_sync_batchnorm` replaced the
# `BatchNorm2d` layer and left the others alone. Its forward pass needs a GPU (or another
# accelerator, as the error says): on
# the CPU, the script prints the `ValueError` this PyTorch raises.
#
# **Gradient accumulation: `no_sync`.** To train on a batch too large for memory,
# accumulate gradients over several micro-batches, then step. Under DDP every
# `backward` would all-reduce, once per micro-batch; inside `with model.no_sync():`
# DDP skips it and only adds to `.grad`, and the `backward` of the last micro-batch,
# outside, all-reduces the sum once. To count the all-reduces, the script gives DDP a
# *communication hook* (`register_comm_hook`): a function DDP calls for each bucket of
# gradients (a `GradBucket`) in place of its own all-reduce. This one counts the call,
# then all-reduces as DDP does by default (`allreduce_hook`).

# %%
Code(filename=str(scripts / "no_sync.py"), language="python")

# %%
accumulation = run_torchrun(
    scripts / "no_sync.py", nproc=2, args=[batch_path], timeout=launch_timeout, cpu_only=cpu_only
)
print(accumulation.output)

# %% [markdown]
# After the first micro-batch, inside `no_sync`, the two processes hold different
# gradients: nothing was sent. After the last one, they hold the same, and it equals
# a DDP step on each process's whole shard at once, up to rounding. The hook counted one
# all-reduce per accumulated step with `no_sync`, two without it, for the same step.
#
# **When the model itself does not fit: FSDP.** DDP keeps a whole copy of the model,
# its gradients and its optimizer state in every process. For models too large for
# that, **FSDP** (Fully Sharded Data Parallel, `torch.distributed.fsdp`) shards the
# parameters, gradients and optimizer state across the processes: each holds only its
# slice, gathers a layer's full weights (`all_gather`) just while computing it, and
# `reduce_scatter`s the gradients so that each process receives only the averaged
# slice it keeps. An illustration, run here with gloo on the CPU (it shows who holds
# what, not a speed). In the script, `fully_shard(layer)` replaces each parameter of the
# layer by a *DTensor*, a tensor spread over the processes; `.to_local()` gives the
# slice this process holds:

# %%
Code(filename=str(scripts / "fsdp.py"), language="python")

# %%
fsdp = run_torchrun(scripts / "fsdp.py", nproc=2, timeout=launch_timeout, cpu_only=cpu_only)
print(fsdp.output)

# %% [markdown]
# Each process holds half of the model's parameters, and after `backward` the
# gradients of that half only. On large models on GPUs, that is what is meant to let the
# model,
# its gradients and (with an optimizer built on the sharded parameters) its optimizer
# state fit where a whole copy per process would not; the script has no optimizer, and
# does not show the gathering and scattering around each layer.

# %% [markdown]
# ## Summary
#
# - Data parallelism: one process per device, each a full model copy, each on its
#   own shard of every batch; rank, world size and local rank say who a process is.
# - `all_reduce` sums a tensor across the processes, `broadcast` copies one; a
#   data-parallel step is `backward` on the shard, `all_reduce` of every gradient,
#   and a division by the world size. DDP does the same during `backward` (it divides
#   each gradient first, then sums: the same average).
# - The exchange sends the same 25,450 numbers whatever the batch. In one run on the
#   2 logical CPUs that made these outputs, at 64 images per process DDP added
#   1.83<!-- output: 64 images per process, DDP's added time / step without communication -->
#   times the step without communication to every step.
# - Against one process with 2 threads, timed in rounds
#   (10<!-- output: effective batch 128, rounds compared --> compared at each batch), 2
#   processes trained at a median of
#   0.52<!-- output: effective batch 128, DDP, 2 processes over plain loop, 2 threads -->
#   times its speed at an effective batch of 128 and
#   1.91<!-- output: effective batch 2048, DDP, 2 processes over plain loop, 2 threads -->
#   times at 2,048 (section 8's rounds lines give the counts and verdicts), their loading
#   shrinking and the rest (steps, and waiting at the all-reduce) growing. Against one
#   process with 1 thread (the appendix's like-for-like pair) they ran at
#   0.47<!-- output: effective batch 128, DDP, 2 processes over plain loop, 1 thread -->
#   and
#   1.93<!-- output: effective batch 2048, DDP, 2 processes over plain loop, 1 thread -->
#   times its speed.
#   Against one process that loads lean, 2 processes loading lean ran at
#   0.42<!-- output: effective batch 128, DDP, 2 processes, slices over batch slices, 2 threads -->
#   and
#   1.14<!-- output: effective batch 2048, DDP, 2 processes, slices over batch slices, 2 threads -->
#   times its speed. Make one process lean first, then time what a second adds, as whole
#   epochs in rounds: timed steps leave the loading out.
# - `DistributedSampler` gives each process a different shard; call `set_epoch`
#   every epoch.
# - Effective batch = per-process batch x world size. When it grows, the usual rule
#   (the linear scaling rule of Goyal et al., section 7) scales the learning rate with it;
#   this lesson kept the effective batch of its accuracy runs at 128 and did not test it.
# - Log and save from rank 0 (`model.module`); launch with `torchrun --standalone
#   --nproc_per_node=N`; for several machines, replace `--standalone` with `--nnodes`,
#   `--rdzv-backend=c10d`, `--rdzv-endpoint` and `--rdzv-id`, as in section 10.
# - On GPUs: NCCL, `cuda:LOCAL_RANK`, `device_ids`; `SyncBatchNorm` for batch norm
#   across shards, `no_sync` for gradient accumulation, FSDP when a model does not fit.

# %% [markdown]
# ## Exercises
#
# Exercise 1, averaging gradients by hand, came in section 4. As there, run each
# exercise's check cell after it: it says whether the exercise is not attempted yet, not
# right yet (and what it found), or passed (and what it checked). The lines under
# `if check_exercise(...)` run only for a passing answer.
#
# **Exercise 2: forgetting `set_epoch`.** Write `rank0_orders(call_set_epoch)`: make
# one `DistributedSampler` over `toy_dataset` for rank 0 of 2 processes (seed 0), and
# return the indices it gives in epochs 0, 1 and 2 (a list of 3 lists), calling
# `sampler.set_epoch(epoch)` before each epoch only when `call_set_epoch` is true.
# What does rank 0 train on, epoch after epoch, when the training loop forgets
# `set_epoch`?


# %%
### BEGIN SOLUTION
# Hint: one sampler for all epochs; before list(sampler), set_epoch(epoch) only if asked
def rank0_orders(call_set_epoch: bool) -> list[list[int]]:
    sampler = DistributedSampler(toy_dataset, num_replicas=2, rank=0, seed=0)
    orders = []
    for epoch in range(3):
        if call_set_epoch:
            sampler.set_epoch(epoch)
        orders.append(list(sampler))
    return orders


### END SOLUTION

# %%
if check_exercise(2, rank0_orders=rank0_orders):
    for flag in (False, True):
        by_epoch = rank0_orders(flag)
        print(f"set_epoch called: {flag}; rank 0's indices, epoch by epoch: {by_epoch}")
        same = all(indices == by_epoch[0] for indices in by_epoch)
        print(f"set_epoch called: {flag}; the same order in all 3 epochs: {same}")

# %% [markdown] tags=["solution"]
# **What the result means.** Without `set_epoch`, the sampler shuffles with the same
# seed every epoch: rank 0 gets the same 5 items in the same order, epoch after epoch,
# (the line `the same order in all 3 epochs: True`); no error and
# no warning say so. The two ranks together still cover the whole dataset every epoch,
# so no image is lost: what freezes is which images go together in a batch, and their
# order. Training loses the fresh shuffle that SGD gets every epoch in one process. With
# `set_epoch(epoch)`, the order changes every epoch. This lesson does not measure what
# the frozen order costs in accuracy.

# %% [markdown]
# **Exercise 3: ready for GPUs.** Write `choose_backend(cuda_available, gpu_count, rank,
# local_rank, local_world_size)`, the choice a script makes from its machine and from
# who it is: `rank` is its global rank (`RANK`, numbered across all machines) and
# `local_rank` its number on its own machine (`LOCAL_RANK`). It returns
# `(backend, device, device_ids)`: NCCL, the right GPU and a list of that one GPU for DDP
# when every process on the machine can have a GPU of its own; gloo, the CPU and `None`
# on a machine without CUDA. On a machine with CUDA but fewer GPUs than processes it
# refuses: it raises a `ValueError` that gives the GPUs and the processes, as the course's
# `run_torchrun` does before it launches anything, because a script that quietly fell back
# to the CPU there would run slowly with nobody noticing. The check asks it about
# machines with and without GPUs, with enough GPUs or too few, and about the second
# machine of a 2-machine launch, where a process has rank 3 but local rank 1. Which of
# the two numbers picks the GPU?


# %%
### BEGIN SOLUTION
# Hint: no CUDA: gloo; a GPU each: nccl, cuda:local_rank (not rank); too few: ValueError
def choose_backend(
    cuda_available: bool, gpu_count: int, rank: int, local_rank: int, local_world_size: int
) -> tuple[str, torch.device, list[int] | None]:
    if not cuda_available:
        return "gloo", torch.device("cpu"), None
    if gpu_count < local_world_size:
        # One backend for the whole group, and a GPU machine should not train on its CPU.
        raise ValueError(
            f"{local_world_size} processes on this machine but {gpu_count} GPU(s): launch "
            "at most one process per GPU"
        )
    # The GPUs of a machine are numbered from 0 on each machine: the local rank picks.
    return "nccl", torch.device("cuda", local_rank), [local_rank]


### END SOLUTION

# %%
if check_exercise(3, choose_backend=choose_backend):
    for rank in range(2):  # this machine, as launched above: ranks 0 and 1 of 2
        try:
            backend, device, ids = choose_backend(torch.cuda.is_available(), gpus, rank, rank, 2)
            print(f"this machine, rank {rank} (local rank {rank}): {backend}, {device}, {ids}")
        except ValueError as refusal:
            print(f"this machine, rank {rank} (local rank {rank}): refused: {refusal}")
    try:  # a machine with one GPU, such as Colab's, and 2 processes
        choose_backend(True, 1, 0, 0, 2)
    except ValueError as refusal:
        print(f"1 GPU, 2 processes: refused: {refusal}")
    # torchrun --nnodes=2 --nproc_per_node=2 on 2 machines with 2 GPUs each: ranks 0 to 3.
    for rank in range(4):
        backend, device, ids = choose_backend(True, 2, rank, rank % 2, 2)
        print(
            f"2 machines x 2 GPUs, machine {rank // 2}, rank {rank} "
            f"(local rank {rank % 2}): {backend}, {device}, {ids}"
        )

# %% [markdown] tags=["solution"]
# **What the result means.** The same script takes the right branch on every machine:
# on this machine, without CUDA, both processes use gloo on the CPU (on a machine with
# CUDA, the lines `this machine, rank …` show that machine's own branch); on a machine
# with one GPU and 2 processes it refuses with a message (the line `1 GPU, 2 processes:
# refused: …`); on 2 machines with 2 GPUs each, ranks 2 and 3 run on the second
# machine, whose GPUs are numbered 0 and 1 like the first's, so rank 3 takes `cuda:1`
# (its local rank) and tells DDP `device_ids=[1]`. `cuda:RANK` would be right on the
# first machine only, which is why a test on one machine never catches it: on the second
# it asks for a `cuda:3` that does not exist. The lines above are the function's
# choices, not launches: this machine has no CUDA GPU. Two more mistakes the check
# catches look right on a machine with one GPU: plain `"cuda"` puts every process on
# GPU 0 (on a machine with several GPUs the others stay idle), and choosing per process
# (NCCL where there is a GPU, gloo where not) builds a group whose processes disagree on
# the backend.

# %% [markdown]
# ## Check your understanding
#
# Five questions about the ideas of this lesson. Answer each with one letter in quotes,
# for example `answer_q1 = "b"`, then run its check; a wrong letter tells you which idea
# to revisit, and where in the lesson it is shown.

# %% [markdown]
# **Question 1.** Two processes each compute the gradient of the mean loss on their own 32
# images of a 64-image batch, then `all_reduce` it and divide by 2, as in section 4. What
# does each process hold then?
#
# - (a) Its own 32 images' gradient still: `all_reduce` only checks that the processes
#   agree.
# - (b) The gradient of the whole 64-image batch, the same in both processes (up to
#   float32 rounding).
# - (c) Half of the whole batch's gradient, since each saw half of the images; the
#   learning rate must be doubled to make up for it.
# - (d) Rank 0's gradient, copied over rank 1's.

# %% tags=["nbval-check-output"]
### BEGIN SOLUTION
# Hint: section 4: the lines `averaged by hand == whole batch` and `largest gap`
answer_q1 = "b"
### END SOLUTION
check_exercise("Q1", answer_q1=answer_q1)

# %% [markdown] tags=["solution"]
# **(b).** Section 4 printed `averaged by hand == whole batch: True` on both ranks, with
# a largest gap of 1.5e-08 (float32 rounding), while each rank's own gradient was 7.3e-02
# away from the whole batch's. `all_reduce` leaves the sum in every process, and the
# division turns it into the mean: the gradient one process would compute on all 64
# images, so every copy takes the same step.

# %% [markdown]
# **Question 2.** A training loop uses `DistributedSampler` on 2 processes but never calls
# `sampler.set_epoch(epoch)`. What happens over several epochs?
#
# - (a) Both processes train on the same images, so each gradient is computed twice.
# - (b) The second epoch stops with an error about the missing epoch.
# - (c) Each process trains on the same shard, in the same order, every epoch, and
#   nothing says so.
# - (d) Nothing changes: the sampler reshuffles from PyTorch's global random generator
#   anyway.

# %% tags=["nbval-check-output"]
### BEGIN SOLUTION
# Hint: the `set_epoch called: False` lines after exercise 2's check
answer_q2 = "c"
### END SOLUTION
check_exercise("Q2", answer_q2=answer_q2)

# %% [markdown] tags=["solution"]
# **(c).** Exercise 2's check printed rank 0's indices epoch by epoch: without
# `set_epoch`, `[4, 7, 3, 0, 6]` three times; with it, a new order each epoch. The
# sampler shuffles with its seed plus the epoch number, and without `set_epoch` that
# number stays 0. Each rank still
# takes every second index of one shuffled order, so the shards do not overlap (section 6
# printed `overlap: none` for its shards), and the exercise's check printed no error or
# warning.

# %% [markdown]
# **Question 3.** In section 8, at an effective batch of 128 (64 images per process), 2
# processes on the 2 logical CPUs of the machine that made these outputs trained at
# 0.52<!-- output: effective batch 128, DDP, 2 processes over plain loop, 2 threads -->
# times the speed of one process with 2 threads (below 1 means slower). Which
# explanation do the lesson's measurements support?
#
# - (a) Under DDP each process computes the gradient of all 128 images of the effective
#   batch.
# - (b) gloo is slow: NCCL would make the same CPU processes faster.
# - (c) 2 processes go through twice as many images per epoch as one.
# - (d) At this batch size, what DDP adds to each step (the all-reduce, and the
#   bookkeeping and waiting around it) costs more than halving the arithmetic saves.

# %% tags=["nbval-check-output"]
### BEGIN SOLUTION
# Hint: section 5's table, column B = 64, and the speed-up section 8 measured
answer_q3 = "d"
### END SOLUTION
check_exercise("Q3", answer_q3=answer_q3)

# %% [markdown] tags=["solution"]
# **(d).** Section 5's table, column B = 64: DDP added
# 1.83<!-- output: 64 images per process, DDP's added time / step without communication -->
# times the step without communication to every step in this run, so a DDP step on 64
# images took longer than one process's step on all 128, and section 5 predicted the
# steps at
# 0.42<!-- output: 64 images per process, predicted speed-up of 2 processes --> times
# the speed of one process. In section 8's epochs the 2 processes' steps and waiting
# (*the rest*) took
# 3.73<!-- output: effective batch 128, the rest, 2 processes / baseline -->
# times the baseline's seconds. Each process computed only its own 64 images of every
# step, so (a) is wrong, and (c) too: the shards split the images. And (b) cannot be:
# NCCL carries only GPU tensors (section 2), so it cannot run these CPU processes at
# all.

# %% [markdown]
# **Question 4.** What does converting a model's `BatchNorm` layers to `SyncBatchNorm` change
# under DDP?
#
# - (a) Each process normalises with the mean and variance of the whole batch, across the
#   processes, instead of its own shard's.
# - (b) The gradients of the batch-norm layers get averaged, which DDP otherwise leaves
#   out.
# - (c) Each step gets cheaper, since the processes share the work of computing the
#   statistics.
# - (d) Nothing: each shard's mean equals the whole batch's, since the shards are drawn
#   from the same data.

# %% tags=["nbval-check-output"]
### BEGIN SOLUTION
# Hint: section 10: the shard means against the whole batch's, by images per process
answer_q4 = "a"
### END SOLUTION
check_exercise("Q4", answer_q4=answer_q4)

# %% [markdown] tags=["solution"]
# **(a).** Section 10 printed each shard's mean beside the whole batch's: they differ,
# and the line `gap larger with 4 images per process than with 32` says `True`: in this
# one batch, the shards of 4 images strayed further from the whole batch's statistics
# than those of 32: the fewer images a statistic rests on, the more it can stray. Plain
# `BatchNorm` normalises with its own shard's statistics in the forward pass; `SyncBatchNorm`
# combines them across the processes. DDP already averages every gradient, batch norm's
# included.

# %% [markdown]
# **Question 5.** Under DDP, a step accumulates 2 micro-batches, and the first `backward`
# runs inside `with model.no_sync():`. What does that save, and what is lost?
#
# - (a) It saves memory by dropping the first micro-batch's gradient; the step uses the
#   second's only.
# - (b) It saves one all-reduce per step, and nothing is lost: the step equals one DDP
#   step on the whole shard.
# - (c) It saves gradient memory, since no process keeps a `.grad` until the last
#   micro-batch.
# - (d) It saves all the communication, and the copies of the model drift apart a little
#   every step.

# %% tags=["nbval-check-output"]
### BEGIN SOLUTION
# Hint: section 10, gradient accumulation: the lines after each micro-batch
answer_q5 = "b"
### END SOLUTION
check_exercise("Q5", answer_q5=answer_q5)

# %% [markdown] tags=["solution"]
# **(b).** Section 10 printed that after the first micro-batch, inside `no_sync`, the
# processes' gradients differed (nothing was sent), and after the last one they were
# equal and matched one DDP step on each process's whole shard (largest gap 1.5e-08); the
# hook counted 1 all-reduce per accumulated step with `no_sync` and 2 without.
# Inside `no_sync` DDP only adds to `.grad`; the `backward` outside it all-reduces the
# sum, once.

# %% [markdown]
# ## Appendix: where the epoch went
#
# Section 8's launches trained a fifth arm too: `plain loop, 1 thread`, the baseline
# with 1 thread, as section 5 timed one process. While rank 0 trained a 1-process arm,
# rank 1 waited at a barrier: each launch's first line below gives that wait and the CPU
# seconds rank 1 used meanwhile (little CPU means it left both CPUs to rank 0). Then
# come each launch's table of all five arms and three comparisons, each the first arm's
# speed-up over the second, round by round:
# 1. one process: loading lean (batch slices) over the `DataLoader`;
# 2. a second thread: the baseline's 2 threads over 1;
# 3. 2 processes over the plain loop with 1 thread: section 5's like-for-like pair.
#
# The last two lines split comparison 3: the loading as the ratio of the `loader`
# columns, and the rest as 2 processes' speed-up beside section 5's prediction for the
# steps alone.

# %%
COMPARISONS = [
    (SLICED_2, PLAIN_2),  # 1. one process, loading lean
    (PLAIN_2, PLAIN_ARM),  # 2. a second thread
    (TWO_ARM, PLAIN_ARM),  # 3. 1 thread a process, as section 5 timed them
]


def report_arms(batch: int, figures: dict, guess: float) -> None:
    """All five arms' table at one effective batch, the comparisons, and comparison 3 split
    into loading and the rest; `guess` is section 5's predicted speed-up of the steps."""
    name = f"effective batch {batch}"
    print(arms_table(figures, f"{name}: {machine}, seconds per epoch, all arms"))
    for arm, baseline in COMPARISONS:
        compare(name, figures, arm, baseline)
    plain, two = figures[PLAIN_ARM], figures[TWO_ARM]
    print(f"{name}, loading, 2 processes / plain loop: {two['loader'] / plain['loader']:.2f}")
    print(
        f"{name}, the rest, 2 processes' speed-up over the plain loop: "
        f"{plain['rest'] / two['rest']:.2f} (section 5 predicted {guess:.2f})"
    )


for launch in (arms_128, arms_big):
    print(*(line for line in launch.output.splitlines() if "waiting at the barrier" in line))
print()
report_arms(128, arms_figures, guess=predicted[64])
print()
if big_batch != 1024:
    print(f"(smoke mode: section 5 timed 1024 images per process, these runs {big_batch})")
report_arms(2 * big_batch, big_figures, guess=predicted[1024])

# %% [markdown]
# **Loading lean.** In one process, batch slices in place of the `DataLoader` gave a
# median speed-up of
# 1.42<!-- output: effective batch 128, batch slices, 2 threads over plain loop, 2 threads -->
# at an effective batch of 128 and
# 2.24<!-- output: effective batch 2048, batch slices, 2 threads over plain loop, 2 threads -->
# at 2,048; each line's count and verdict say how the rounds went.
#
# **A second thread.** Against the plain loop with 1 thread, the baseline's second
# thread bought no clear speed-up: it ran at
# 0.90<!-- output: effective batch 128, plain loop, 2 threads over plain loop, 1 thread -->
# and
# 1.01<!-- output: effective batch 2048, plain loop, 2 threads over plain loop, 1 thread -->
# times its speed, with no clear winner in either launch (each line gives the count of
# its rounds).
#
# **2 processes against 1 thread.** Against that 1-thread loop, 2 processes ran at
# 0.47<!-- output: effective batch 128, DDP, 2 processes over plain loop, 1 thread -->
# and
# 1.93<!-- output: effective batch 2048, DDP, 2 processes over plain loop, 1 thread -->
# times its speed (their lines give the counts). Their rest ran at
# 0.28<!-- output: effective batch 128, the rest, 2 processes' speed-up over the plain loop -->
# times its speed at 128, where section 5 predicted
# 0.42<!-- output: 64 images per process, predicted speed-up of 2 processes --> for the
# steps alone, and at
# 0.61<!-- output: effective batch 2048, the rest, 2 processes' speed-up over the plain loop -->
# at 2,048, where it predicted
# 1.04<!-- output: 1024 images per process, predicted speed-up of 2 processes -->. Both
# fell short of the prediction. Section 5 started each step with both processes ready,
# after a barrier; inside an epoch, a DDP step's all-reduce can also wait for the other
# process, still loading its batch, and the rest holds the loop's own Python. This
# lesson does not time those apart.
