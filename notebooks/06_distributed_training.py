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
# processes against 1, and shows what changes on many GPUs and many machines.
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
# > 2 threads); the whole lesson ran in 69 s with a peak memory of 1391 MB. The course's
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
    FORK_WORKERS,
    check_world_size,
    process_group,
    run_torchrun,
    simulate_group,
    torchrun_command,
)
from course_utils.models import MLP
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
#    gradient, so every step each sends and receives about as many numbers as the model
#    has parameters, however small its share of the batch;
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
# DDP (section 4) sends this small model's gradients in one call per step (section 3
# shows the call, all_reduce; section 10 counts them).
print(f"DDP all-reduce calls per epoch (one per step): {batches_per_epoch}")
# Section 4's step by hand all-reduces each parameter tensor on its own.
print(f"all-reduce calls per step of section 4's step by hand: {len(list(mlp.parameters()))}")

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
# The processes join a **process group**, through which they make *collective*
# calls: every process of the group must make the same call, and a process waits in it
# until its partners' data has arrived. The group runs on a **backend**: **gloo** works
# on CPUs (and is what this lesson uses without two GPUs); **NCCL** is NVIDIA's library
# for GPUs, and carries only GPU tensors. So a group comes with a device: the CPU with
# gloo, `cuda:LOCAL_RANK` with NCCL.
#
# `torchrun` starts the processes and tells each who it is through environment
# variables: `RANK`, `WORLD_SIZE`, `LOCAL_RANK`, and `MASTER_ADDR` and `MASTER_PORT`,
# where the processes meet. That meeting is the **rendezvous**: the processes find one
# another at one address and agree on who is who before any collective call. The
# notebook starts `torchrun` with the course's `run_torchrun`, which captures the
# output, stops every process after a timeout, and measures the memory of the run. On a
# terminal you type `torchrun` itself: the second line printed below is the command for
# section 3's first script.
#
# *Note.* On Linux, `run_torchrun` forks the workers from a process that has already
# imported PyTorch, so that they can share its memory (the end of section 8 prints a
# launch's memory); the first line printed below says whether it did.

# %%
print(f"workers forked from the launcher: {FORK_WORKERS}")
# torchrun_command spells the launcher `python -m torch.distributed.run` (this notebook's
# Python); [3:] drops those 3 words, and `torchrun` takes their place.
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
# Each process's own gradient, from its 32 images, differs from the whole batch's
# (the lines ending `largest gap: …` give the largest difference, against the size of
# the whole batch's gradient values on the line `whole batch's gradient values`); that
# is what makes the comparison able to fail. Both ranks print the same largest gap: the
# whole batch's gradient is the mean of the two, whole = (g0 + g1) / 2, so g0 - whole =
# (g0 - g1) / 2 = -(g1 - whole), equal in size and opposite in sign. After `all_reduce`
# and the division, both processes hold the whole batch's gradient, up to float32
# rounding (the sums are added in another order), and exactly what DDP computed (DDP
# divides first and then sums; with 2 processes that gives the same bits, since halving a
# float32 is exact, while with 3 the two orders could differ in the last digit). The
# line `initial weights drawn …` shows DDP's first job: each process drew its own initial
# weights (a seed per rank), and after wrapping the model in DDP the largest gap between
# the processes' weights is 0.
#
# **What DDP does.** From here on, `DistributedDataParallel(model)` does this work:
# 1. when it wraps the model, it broadcasts rank 0's weights to every process, so all
#    start equal (the line `initial weights drawn …` above);
# 2. during `loss.backward()`, as soon as a group ("bucket") of gradients is ready, it
#    divides each gradient in it by the world size and starts an `all_reduce` that sums
#    them, which leaves the mean in every process; the next bucket's arithmetic overlaps
#    this one's communication. A bucket holds up to `bucket_cap_mb`, 25 megabytes by
#    default<!-- source: https://pytorch.org/docs/stable/notes/ddp.html -->;
#    this model's
#    101,800<!-- output: gradient bytes all-reduced per step --> bytes of gradients fit
#    in one, so nothing overlaps here;
# 3. every process then takes the same optimizer step on the same weights with the same
#    averaged gradient, so the copies stay equal without ever sending weights (the
#    script above checks the gradients of one step; no cell compares the weights after
#    a whole training).

# %% [markdown]
# ## 5. What the communication costs
#
# Every step adds an `all_reduce` of all the gradients. Below, *B* is the number of
# images each process takes in a step. The next script times, in each of 2 processes,
# the median of 120 repeats of four things: a step computed alone (forward, backward,
# update, no communication), the same step under DDP, the all-reduce of the model's
# 25,450 gradients by itself, and the step alone on twice the images, which is what one
# process does to train on the same effective batch (the images of one step across all
# processes: here 2 x 64). Only rank 0 times that last one, while rank 1 waits at a
# barrier (`dist.barrier()`: a collective call that returns in each process only once
# every process of the group has called it): one process training alone has no other
# process competing for the machine's CPUs. It times the four in turn, round after
# round, each from a moment when both processes are ready, so that a busy moment of the
# machine slows all of them alike. It does so for 64 and for 1,024 images per process:
# the same payload to all-reduce for 16 times the images. The step alone on 2B images
# against the DDP step on B per process predicts the speed-up of 2 processes over 1 *for
# the steps only*; section 8 times whole epochs at both sizes, which also hold the data
# loading.

# %%
Code(filename=str(scripts / "comm_cost.py"), language="python")

# %% [markdown]
# Two places carry the method; the rest is printing:
# - `median_seconds` runs every work once per round, in turn, 20 warm-up rounds and then
#   120 timed ones. Each timing starts after `dist.barrier()`, so neither process's time
#   holds a wait for the other, and ends after `synchronize(device)`, so that on a GPU the
#   queued work is done (lesson 04).
# - In `time_one_size`, the dictionary of four works: `sgd_step` on the plain model
#   (`compute`), on the DDP model (`ddp`), `dist.all_reduce` of a zero tensor as long as
#   all the gradients (`exchange`), and the step on both halves of the images, taken by
#   rank 0 only (`double`). The two models have the same shape; their weights differ
#   (the seed is set once, before the first), which does not change what a step costs.

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
# above, and `comm_cost_table` lays them out: for each part, the median over the 2 ranks
# of their medians (with 2 ranks, their mean), except the row `1 process, step on the 2B
# images`, which rank 0 timed alone. The all-reduce sends the same *payload* (the numbers
# one all-reduce sends: here the 25,450 gradients) whatever the batch. The lines under
# the table are the ratios the text below reads.

# %%
cost = read_comm_cost(comm_cost.output)
print(comm_cost_table(cost, f"{machine}, 1 thread per process"))
print()
ms = cost.median  # batch size -> part -> ms
for size in (64, 1024):
    added = ms[size]["added"] / ms[size]["step"]
    print(f"{size} images per process, DDP's added time / step without communication: {added:.2f}")
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
# The table comes from one run (for the outputs you see, 2 logical CPUs shared with the
# notebook, and gloo over loopback sockets: network connections from the machine to
# itself), so read its figures as sizes, not exact values. *DDP's added time* is the DDP
# step minus the step without communication: the exchange, and the bookkeeping and
# waiting around it.
#
# - **At 64 images per process** DDP added
#   1.76<!-- output: 64 images per process, DDP's added time / step without communication -->
#   times the time of the step it serves.
# - **At 1,024 images per process** (16 times the images) DDP added
#   0.51<!-- output: 1024 images per process, DDP's added time / step without communication -->
#   times the step. The all-reduce sends the same 25,450 numbers whatever the batch, while
#   the step's work grows with its images: for steps timed alone, more work per exchange
#   is the first lever of data parallelism (section 8 shows what it gives in whole
#   epochs).
#
# DDP's added time holds more than the bare all-reduce of the table's row `all-reduce
# between the steps`: DDP also copies the gradients into and out of its bucket, and each
# process waits for its partner (this lesson does not time those apart). So read each
# row as a size on this machine, not as parts that add up: the lesson judges DDP by its
# whole added time per step.
#
# **A prediction for the steps.** One process trains on the effective batch of 2B images
# in a step alone (the row `1 process, step on the 2B images`); each of 2 processes
# takes a DDP step on B. So 2 processes can win the steps only when what DDP adds to a
# step costs less than what a step saves on half the images: at 64 images per process,
# halving saved
# 0.092 ms<!-- output: 64 images per process, ms a step saves on half the images --> and
# DDP added
# 0.853 ms<!-- output: 64 images per process, ms DDP adds to a step -->; at 1,024,
# 1.057 ms<!-- output: 1024 images per process, ms a step saves on half the images -->
# against
# 0.821 ms<!-- output: 1024 images per process, ms DDP adds to a step -->. The ratio of
# the two steps predicts the speed-up of 2 processes *for the steps alone* (below 1 means
# slower):
# 0.43<!-- output: 64 images per process, predicted speed-up of 2 processes --> at 64
# images per process and
# 1.10<!-- output: 1024 images per process, predicted speed-up of 2 processes --> at
# 1,024, one run each. The last two lines put each in words, counting a speed-up between
# 1 / 1.1 and 1.1 as a tie (`TIE` in `course_utils.rounds`, 0.1, the tie band of the whole
# lesson): one run cannot tell a smaller difference from noise. An epoch is more than its
# steps (section 1's part 4, the data loading); section 8 times whole epochs.
#
# With 2 or more GPUs, this cell's launch ran on them with NCCL (the table's first line
# says which); the outputs you see come from CPU processes with gloo, and this lesson has
# no GPU timings. For a model with enough arithmetic per step, a GPU does that arithmetic
# far faster, and the exchange is faster when the GPUs are joined by fast links (NVLink
# within a machine, InfiniBand between machines); by design, DDP also overlaps the
# exchange with the backward pass when a model has several buckets (not shown here: this
# model has one). On a GPU, the ratio to look at is the
# same: DDP's added time against the step without communication.

# %% [markdown]
# ## 6. Every process its own shard: `DistributedSampler`
#
# If every process trained on the same batches, N processes would compute the same
# gradient N times: no gain at all. `DistributedSampler` shuffles the indices of the
# dataset (with the same seed in every process, so they agree on the order) and
# gives rank r every N-th index from position r. Here are the shards of a dataset
# of 10 items for 2 processes, over two epochs:

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

# %% [markdown]
# The two shards never overlap, and together they cover the dataset.
# `sampler.set_epoch(epoch)` reseeds the shuffle with the epoch's number (exercise 1
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
# `--batch-size 64` on 2 processes, each step averages 128 images, the same as
# lesson 03's batches of 128, so the same learning rate (0.2) fits. Double the
# world size with the same per-process batch and the effective batch doubles:
# the usual *linear scaling rule* then doubles the learning rate too, with a few
# epochs of warm-up (starting from a small learning rate and raising it step by step)
# when the batch becomes very large (Goyal et al. trained a
# ResNet-50 on ImageNet with batches of
# 8,192<!-- source: https://arxiv.org/abs/1706.02677 --> images this way).
#
# **Launching.** `--standalone` means one machine, with a meeting point on a free
# local port that torchrun picks itself; `--nproc_per_node` is the number of
# processes (usually the number of GPUs). On a machine with one GPU,
# `CUDA_VISIBLE_DEVICES= torchrun ...` hides it, which is what `cpu_only=True` does.
# Threads can matter on a CPU (section 8 times a second one). With more than one process
# per machine, plain `torchrun` sets
# `OMP_NUM_THREADS=1` for every process when the variable is not set, and prints a
# warning that says so (PyTorch's launcher does; this lesson sets the variable itself, so
# the warning does not show here); with one process it leaves PyTorch's own default number of
# intra-op threads, the threads that split one operation such as a matrix product
# between them (the next cell prints it for this notebook's process). `run_torchrun`
# sets `OMP_NUM_THREADS` explicitly for every run (PyTorch reads it at start-up as its
# number of intra-op threads, which `torch.set_num_threads` can change later), so that the
# runs compare like with like: 1 thread per process (section 8's script gives one of its
# arms 2 threads itself, with `torch.set_num_threads`).

# %%
print(f"this notebook's process: {torch.get_num_threads()} intra-op threads")

# %%
two_folder = work_folder / "run_2"  # rank 0 writes the history and the checkpoint here
common_args = ["--data", data_path, "--epochs", num_epochs, "--train-size", train_size]
two_args = [*common_args, "--out", two_folder, "--batch-size", 64, "--lr", 0.2]
# The command to type in a terminal in notebooks/ ([3:] drops `python -m
# torch.distributed.run`, as in section 2). $LESSON06 stands for work_folder, the
# temporary folder that holds the data file; its path differs on every machine, so it is
# not printed here: run `print(work_folder)` in a cell, then `export LESSON06=<that path>`
# in the terminal before the command.
command = torchrun_command(Path("scripts") / "train_ddp.py", 2, two_args)[3:]
# With one GPU, the launches below hide it (cpu_only=True); in a terminal, an empty
# CUDA_VISIBLE_DEVICES does the same.
hide = "CUDA_VISIBLE_DEVICES= " if cpu_only and gpus else ""
parts = [str(part).replace(str(work_folder), "$LESSON06") for part in command]
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
# ## 8. One process against two
#
# Is the 2-process run faster than one process would be? The choice a learner faces is
# the plain loop in one process, run with `python`, against `torchrun` with 2 processes.
# A fair answer changes one thing and keeps the rest: the same effective batch of 128
# images, the same seed, the same shuffle and the same images. (To fit the lesson's time
# budget, these runs train on the first 20,000 training images an epoch; all 50,000 at
# the bigger batch below.)
#
# Each way of training is an *arm* of the comparison. There are five:
# - `plain loop, 2 threads`: the training loop of section 7's script without DDP, in one
#   process with 2 intra-op threads, so that it may use both logical CPUs, as 2
#   processes do. It is what a training script run with `python` gets on this machine
#   (section 7 printed this notebook's thread count): **the baseline**;
# - `DDP, 2 processes`: section 7's way, 2 processes with 1 thread each, each loading its
#   shard with a `DataLoader`, which fetches the images one by one and stacks them;
# - `batch slices, 2 threads` and `DDP, 2 processes, slices`: the same two, loading as
#   lesson 04's `DeviceTensorLoader` does: each batch indexed out of the whole image
#   tensor in one go. The same batches in the same order;
# - `plain loop, 1 thread`: the baseline with 1 thread, as section 5 timed one process.
#
# Arms run one after another could each meet a busier moment of a shared machine, so the
# script trains all five in one launch and takes them in *rounds*: every round trains one
# epoch of each arm, in a new order. The 1-process arms run in rank 0 alone, while rank 1
# waits at a barrier. Round 1 can pay first-time costs, so the figures leave it out.

# %%
Code(filename=str(scripts / "compare_arms.py"), language="python")

# %% [markdown]
# What to read in it, in `main()`:
# - **The arms.** Each has its own `DistributedSampler`: the 2-process arms' split the
#   images between ranks 0 and 1 (`num_replicas=2`), a 1-process arm's gives all of them to
#   its one process (`num_replicas=1, rank=0`). The batch is `64 x 2` images for one
#   process and 64 for each of two, so every arm takes the same effective batch of 128.
#   Every model starts from `torch.manual_seed(0)`, and DDP wraps the 2-process arms'.
#   `make_loader` builds each arm's loader; for batch slices, `BatchSampler` cuts the
#   sampler's order into batches, and `TensorDataset` indexes its tensors with a whole
#   batch of indices at once.
# - **The rounds.** `turn` is the list of arms in a new order each round, shuffled by
#   `torch.randperm` with a generator seeded by the round's number: both ranks draw the
#   same order, so they meet at the same arm, and no arm always follows the same
#   neighbour. Between arms, both
#   ranks meet at `dist.barrier()`; rank 1 has nothing to train in a 1-process arm, so it
#   goes straight to the next barrier, and `time.process_time()` (the CPU seconds this
#   process has used, against `time.perf_counter()`'s wall-clock seconds) records how much
#   CPU that wait took.
# - **The results.** Rank 1's loader seconds of the 2-process arms reach rank 0 by
#   `dist.broadcast(rank_1_rows, src=1)`: every rank passes a tensor of the same size, and rank 1's
#   values overwrite the others'. Rank 0 then writes `arms.json`, which the notebook reads.

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
print(*(line for line in arms_128.output.splitlines() if "waiting at the barrier" in line))

# %% [markdown]
# The launch printed one line per arm and round (`print(arms_128.output)` shows them all);
# the line above is rank 1's: the seconds it waited at the barrier while rank 0 trained
# the 1-process arms, and the CPU seconds it used meanwhile. Little CPU means it left both
# CPUs to rank 0.
#
# `read_arms` (from `course_utils.scaling`) reads the results file that the script wrote,
# and `arms_table` lays them out: for each arm the median over the rounds after the
# first, and the range of those rounds. *loader* is the seconds an epoch spent getting
# its batches ready: fetching each from the loader, moving it to the device and
# normalising it (section 1's part 4; for 2 processes, the mean of the 2 ranks); *the
# rest* is the epoch minus that: the steps. Each column is a median of its own, so the
# two need not add up to the epoch.
#
# Under the table, each comparison is a *speed-up*, taken round by round: the baseline's
# epoch over the arm's in the same round (above 1: the arm was faster), then the median
# over the rounds, how many rounds were faster, tied (within a tenth, `TIE` from section
# 5) or slower, and a verdict that names a winner only when every round agrees. A tied
# round is one where the two arms could not be told apart, so it too keeps the verdict
# at "no clear winner": the strict reading of lesson 04, which a 9 / 1 / 0 count does
# not pass. If the two arms were equally fast and each round a coin flip, all
# 10<!-- output: effective batch 128, rounds compared --> rounds would agree by chance
# alone in 2 launches out of 2^10 = 1,024, so a verdict of every round is hard to get by
# luck. The comparisons:
# 1. one process against `torchrun`: 2 processes over the baseline, both on 2 CPUs
#    (2 processes of 1 thread, each loading batches of 64, against 1 process of 2
#    threads loading batches of 128: the two ways as a learner would run them);
# 2. the same, both loading lean: the two batch-slices arms;
# 3. one process loading lean: batch slices over the baseline;
# 4. a second thread: the baseline over the plain loop with 1 thread;
# 5. 2 processes over the plain loop with 1 thread, as section 5 timed one process (two
#    things change here: the processes, and the CPUs in use, two against one);
# 6. one lean process against section 7's 2 processes: batch slices, 2 threads over
#    `DDP, 2 processes`.
#
# The last lines split comparison 5 into its loading and its steps: the steps as a
# speed-up beside section 5's prediction, each arm's
# milliseconds per step inside the epochs (*the rest* over the epoch's steps) beside the
# same step timed alone in section 5, and last, in words, which of the two parts 2
# processes made faster or slower, and whether the steps' measured speed-up came out
# above, within or below section 5's prediction (each with section 5's tie band, `TIE`).

# %%
TWO_ARM, TWO_SLICED = "DDP, 2 processes", "DDP, 2 processes, slices"
PLAIN_ARM, PLAIN_2 = "plain loop, 1 thread", "plain loop, 2 threads"  # one process, no DDP
SLICED_2 = "batch slices, 2 threads"
# Each comparison: the arm, then the arm it is set against.
COMPARISONS = [
    (TWO_ARM, PLAIN_2),  # one process run with python (2 threads here) against torchrun
    (TWO_SLICED, SLICED_2),  # the same, both loading lean
    (SLICED_2, PLAIN_2),  # one process, loading lean
    (PLAIN_2, PLAIN_ARM),  # a second thread
    (TWO_ARM, PLAIN_ARM),  # 1 thread a process, as section 5 timed them
    (SLICED_2, TWO_ARM),  # one lean process against section 7's 2 processes
]


def speed_ups(figures: dict, arm: str, baseline: str) -> RoundCount:
    """The arm's speed-up over the baseline, round by round: the baseline's epoch over the
    arm's, counted as faster, tied or slower with section 5's tie band."""
    pairs = zip(figures[baseline]["epochs"], figures[arm]["epochs"], strict=True)
    return count_rounds([theirs / mine for theirs, mine in pairs])


def report_arms(batch: int, steps: int, figures: dict, timed: dict, guess: float) -> dict:
    """The arms' table at one effective batch, then what their rounds show; `steps` is
    an epoch's steps, `timed` section 5's timings (ms) for the same images per process and
    `guess` its predicted speed-up of the steps. Returns each comparison's RoundCount, by
    (arm, baseline)."""
    name = f"effective batch {batch}"
    print(arms_table(figures, f"{name}: {machine}, seconds per epoch"))
    compared = len(figures[TWO_ARM]["epochs"])
    print(f"{name}, rounds compared: {compared}")
    results = {}
    for arm, baseline in COMPARISONS:
        rounds = results[arm, baseline] = speed_ups(figures, arm, baseline)
        counts = f"{rounds.faster} / {rounds.tied} / {rounds.slower}"
        print(
            f"{name}, {arm} over {baseline}: {rounds.median:.2f} "
            f"(rounds faster / tied / slower: {counts}; {rounds.verdict})"
        )
    plain, two = figures[PLAIN_ARM], figures[TWO_ARM]
    # Each of 2 processes loads half the images: an even split halves the loading time.
    print(f"{name}, loading, 2 processes / plain loop: {two['loader'] / plain['loader']:.2f}")
    # The rest is the steps: as a speed-up, beside section 5's prediction for them.
    steps_speed_up = plain["rest"] / two["rest"]
    print(
        f"{name}, the steps, 2 processes' speed-up over the plain loop: {steps_speed_up:.2f} "
        f"(section 5 predicted {guess:.2f}, {speed_up_in_words(guess)})"
    )
    # A step inside the epochs (the rest over the steps) against the same step timed alone.
    # Section 5's step for each: one process on the 2B images, and the DDP step on B.
    pairs = ((plain, PLAIN_ARM, "double", "1 process on 2B"), (two, "2 processes", "ddp", "DDP"))
    for arm, label, alone, what in pairs:
        print(
            f"{name}, ms per step inside the epochs, {label}: "
            f"{arm['rest'] / steps * 1000:.2f} (section 5's {what} step, alone: "
            f"{timed[alone]:.2f})"
        )
    loading_words = speed_up_in_words(plain["loader"] / two["loader"])
    # The measured steps' speed-up against section 5's prediction, with the same tie band.
    landed = speed_up_in_words(steps_speed_up / guess)
    landed = {"faster": "above it", "slower": "below it"}.get(landed, landed)
    print(
        f"{name}, in words, 2 processes against {PLAIN_ARM}: loading {loading_words}, "
        f"steps {speed_up_in_words(steps_speed_up)}; the steps' measured speed-up against "
        f"section 5's prediction: {landed}"
    )
    return results


arms_figures = read_arms(work_folder / "arms_128")
results_128 = report_arms(
    128, math.ceil(arms_size / 128), arms_figures, timed=ms[64], guess=predicted[64]
)
accuracies = [row["val_acc"] for row in arms_figures.values()]
gap = 100 * (max(accuracies) - min(accuracies))
print(f"effective batch 128, arms' largest validation accuracy gap (points): {gap:.2f}")
headline = results_128[TWO_ARM, PLAIN_2]
record_result("2 processes over 1 process with 2 threads, batch 128", round(headline.median, 2))
record_result("plain loop, validation accuracy", arms_figures[PLAIN_2]["val_acc"])
record_result("2 processes, validation accuracy", arms_figures[TWO_ARM]["val_acc"])

# %% [markdown]
# **One process against `torchrun`.** At an effective batch of 128, 2 processes ran
# at a median of
# 0.49<!-- output: effective batch 128, DDP, 2 processes over plain loop, 2 threads -->
# times the speed of the plain loop with 2 threads (below 1: slower), and, both loading
# lean,
# 0.34<!-- output: effective batch 128, DDP, 2 processes, slices over batch slices, 2 threads -->
# times the speed of one process with batch slices and 2 threads. Read every median with
# the count and the verdict at the end of its line: they say whether the rounds agreed.
#
# **In one process**, batch slices in place of the `DataLoader` gave a median speed-up
# of
# 1.49<!-- output: effective batch 128, batch slices, 2 threads over plain loop, 2 threads -->
# (compare the two rows' `loader` columns), and a second thread one of
# 0.95<!-- output: effective batch 128, plain loop, 2 threads over plain loop, 1 thread -->;
# again, the verdicts say which of the two the rounds bear out (this lesson does not
# time why a second thread helps or not).
#
# **Where the time went**, against the plain loop with 1 thread, as section 5 timed one
# process: with 2 processes the loading took
# 0.67<!-- output: effective batch 128, loading, 2 processes / plain loop -->
# times the plain loop's seconds (each process loads half the images, in batches half
# the size, so an even split of the same work would give about 0.50; a batch's loading
# need not cost the same per image at every batch size, so the line can land on either
# side), and the steps ran
# at
# 0.27<!-- output: effective batch 128, the steps, 2 processes' speed-up over the plain loop -->
# times the plain loop's speed, where section 5's step timing predicted
# 0.43<!-- output: 64 images per process, predicted speed-up of 2 processes -->. The
# `ms per step` lines show where the two part: inside the epochs a plain-loop step took
# 0.55 ms<!-- output: effective batch 128, ms per step inside the epochs, plain loop, 1 thread -->
# and a 2-process step
# 2.00 ms<!-- output: effective batch 128, ms per step inside the epochs, 2 processes -->,
# each beside its time alone in section 5. The two timings differ in what surrounds a
# step: section 5 started each step with both processes ready, after a barrier, on
# random data; inside an epoch a DDP step's all-reduce can also wait for the other
# process, still loading its batch, and *the rest* holds the loop's own Python. This
# lesson does not time those apart: compare the pairs. The `in words` line sums the
# launch up: which part, the loading or the steps, 2 processes made faster, which
# slower, and where the steps landed against section 5's prediction. Where they landed
# below it, section 5's steps alone promised more than the epochs gave. The pairs differ
# both ways (a plain-loop step can come out quicker inside an epoch than alone), so what
# surrounds a step matters; this lesson does not time which part of it.
#
# **The accuracies.** Every arm trained its own model from the same initial weights on
# the same batches: the largest gap between their validation accuracies was
# 0.03<!-- output: effective batch 128, arms' largest validation accuracy gap (points) -->
# points (93.2%<!-- output: plain loop, validation accuracy --> for the plain loop with
# 2 threads, 93.2%<!-- output: 2 processes, validation accuracy --> for 2 processes).
# With the same effective batch, the same seed and `DistributedSampler`'s interleaved
# shards, the two halves of each 2-process step are exactly the 128 images of the
# 1-process step, so the arms follow the same path, up to rounding. These accuracies are
# not section 7's: there the model trained 4 epochs on all 50,000 images, here 11 epochs
# on 20,000 at the same learning rate (one epoch per round, warm-up round included), and
# this lesson reads only the last epoch's accuracy, which need not be the best epoch's.
# They are here to show that the arms learned alike, not how well the MLP can do.
#
# **At 1,024 images per process.** The same arms again, with batches of 1,024 per process
# on 2 processes and 2,048 on 1 process, on all 50,000 training images (the learning rate
# stays 0.2: these runs are for timing, not for accuracy). Two things change from the
# launch above, the batch and the images per epoch, so read the two launches side by side
# as sizes, not as the effect of the batch alone.

# %%
big_batch = full_or_smoke(full=1024, smoke=256)  # images per process with 2 processes
arms_big = launch_arms("arms_big", arm_rounds, big_size, big_batch)
print(*(line for line in arms_big.output.splitlines() if "waiting at the barrier" in line))
if big_batch != 1024:
    print(f"(smoke mode: section 5 timed 1024 images per process, these runs {big_batch})")
big_figures = read_arms(work_folder / "arms_big")
# Set beside section 5's timings at 1024 images per process (in smoke mode too).
big_steps = math.ceil(big_size / (2 * big_batch))
# Its table and lines (the results are not needed further on).
_ = report_arms(2 * big_batch, big_steps, big_figures, timed=ms[1024], guess=predicted[1024])

# %% [markdown]
# At 2,048 images a step, 2 processes ran at
# 1.50<!-- output: effective batch 2048, DDP, 2 processes over plain loop, 2 threads -->
# times the speed of the plain loop with 2 threads, and, both loading lean,
# 0.84<!-- output: effective batch 2048, DDP, 2 processes, slices over batch slices, 2 threads -->
# times the speed of batch slices with 2 threads; read each line's count and verdict
# before its number, since a median can lean one way while the rounds disagree.
# Against the plain loop with 1 thread, their loading took
# 0.39<!-- output: effective batch 2048, loading, 2 processes / plain loop -->
# times its seconds, and their steps ran at
# 0.59<!-- output: effective batch 2048, the steps, 2 processes' speed-up over the plain loop -->
# times its speed, where section 5's step timing predicted
# 1.10<!-- output: 1024 images per process, predicted speed-up of 2 processes -->;
# per step, the plain loop took
# 3.08 ms<!-- output: effective batch 2048, ms per step inside the epochs, plain loop, 1 thread -->
# inside the epochs and 2 processes
# 5.24 ms<!-- output: effective batch 2048, ms per step inside the epochs, 2 processes -->,
# each beside its time alone.
#
# **Could one process have that gain?** Loading lean gave one process with 2 threads a
# median speed-up of
# 2.98<!-- output: effective batch 2048, batch slices, 2 threads over plain loop, 2 threads -->
# over the plain loop with 2 threads, and set against section 7's 2 processes it ran at
# 1.87<!-- output: effective batch 2048, batch slices, 2 threads over DDP, 2 processes -->
# times their speed (the line's count and verdict say how the rounds went). That line
# changes two things at once, the loading and the processes, on purpose: it is the choice
# between the two ways a learner would run. Loading lean
# is a few lines in one process, where a second process needs `torchrun`, DDP and a
# share of the same CPUs. That is the habit this
# section teaches: make the one process lean first, then time what a second process
# adds, as whole epochs and their parts, in rounds, against the other ways of using the
# same machine. On a machine shared with other programs these figures move from run to
# run: trust a verdict of every round more than any one median.
#
# On GPUs, with a model that does far more arithmetic per image, one GPU per process and
# NCCL, the same measurements tell you what scaling out buys. This lesson did not run
# there; as reported by its authors, the DDP paper (Li et al., VLDB 2020) found
# near-linear scaling on up to
# 256 GPUs<!-- source: https://arxiv.org/abs/2006.15704 --> for ResNet-50 and BERT.
#
# **Memory.** Every process is a full Python with its own copy of PyTorch and the
# model. *Resident* memory (RSS) counts every page a process uses, including pages it
# shares with others; *proportional* memory (PSS) splits each shared page between the
# processes sharing it, so the PSS of several processes adds up to what they hold
# together. Here are the figures of section 7's launch: workers forked from one launcher
# on this one machine, so they share pages that processes on separate machines could not
# share.

# %%
# run_torchrun forks the workers (on Linux, on CPUs) through course_utils.distributed.
forked = "course_utils.distributed" in two_processes.command
started = "forked from the launcher" if forked else "started as fresh Pythons"
print(f"section 7's launch: 2 workers {started}, effective batch 128 (2 x 64)")
peak_worker = round(two_processes.peak_worker_rss_mb)
record_result("largest worker, peak resident memory (MB)", peak_worker)
if two_processes.peak_pss_mb > 0:  # proportional memory: reported on Linux only
    both = round(two_processes.peak_pss_mb)
    record_result("launcher + 2 workers, proportional memory (MB)", both)
    print(f"launcher + 2 workers (PSS) / largest worker (RSS): {both / peak_worker:.2f}")
else:
    print("proportional memory (PSS): not reported on this system")

# %% [markdown]
# On the machine that made these outputs, the launcher and its 2 forked workers held
# 892 MB<!-- output: launcher + 2 workers, proportional memory (MB) --> together,
# while the largest worker alone had
# 602 MB<!-- output: largest worker, peak resident memory (MB) --> of pages in use,
# counting the ones it shares: the three processes together held
# 1.48<!-- output: launcher + 2 workers (PSS) / largest worker (RSS) --> times one
# worker's figure (one measure for the three, another for the one: read it as a size).
# Forked workers share the pages of the launcher's copy of PyTorch until they write to
# them. `run_torchrun` forks only on Linux, and only for CPU workers: a process may not
# use CUDA after a fork from a parent that has, and macOS starts fresh Pythons. Workers
# started as fresh Pythons each hold a whole Python and PyTorch of their own (not
# measured here), and on a GPU machine each process also holds its own CUDA context on
# its GPU.

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
# the whole batch's statistics across the processes in the forward pass.

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
# `… images per process` cut the shards into smaller batches (large models on GPUs often
# get only a handful of images per process) and average the gap over them; the line
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
# gradients of that half only. On large models on GPUs, that is what lets the model,
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
#   shared machine that made these outputs (2 logical CPUs, 2 forked processes, gloo),
#   at 64 images per process DDP added
#   1.76<!-- output: 64 images per process, DDP's added time / step without communication -->
#   times the step without communication to every step.
# - Against the plain loop in one process with 2 threads, what `python` runs
#   here, timed in rounds (10<!-- output: effective batch 128, rounds compared --> at
#   each batch compared), 2 processes trained at a median of
#   0.49<!-- output: effective batch 128, DDP, 2 processes over plain loop, 2 threads -->
#   times its speed at an effective batch of 128 and
#   1.50<!-- output: effective batch 2048, DDP, 2 processes over plain loop, 2 threads -->
#   times at 2,048; with both loading lean (batch slices, as lesson 04 taught),
#   0.84<!-- output: effective batch 2048, DDP, 2 processes, slices over batch slices, 2 threads -->
#   times at 2,048. These are medians: section 8's counts and verdicts say which every
#   round bore out, and its `in words` lines say which part, the loading or the steps,
#   2 processes made faster. Make one process lean first, then time what a second adds,
#   as whole epochs in rounds: timed steps leave the loading out.
# - `DistributedSampler` gives each process a different shard; call `set_epoch`
#   every epoch.
# - Effective batch = per-process batch x world size. When it grows, the usual rule
#   (the linear scaling rule of Goyal et al., section 7) scales the learning rate with it;
#   this lesson kept the effective batch of its accuracy runs at 128 and did not test it.
# - Log and save from rank 0 (`model.module`); launch with `torchrun --standalone
#   --nproc_per_node=N`, and add `--nnodes` and `--rdzv-endpoint` for several machines.
# - On GPUs: NCCL, `cuda:LOCAL_RANK`, `device_ids`; `SyncBatchNorm` for batch norm
#   across shards, `no_sync` for gradient accumulation, FSDP when a model does not fit.

# %% [markdown]
# ## Exercises
#
# After each exercise, run its check cell. It says whether the exercise is not
# attempted yet, not right yet (and what it found), or passed (and what it checked).
# The lines under `if check_exercise(...)` run only for a passing answer.
#
# **Exercise 1: forgetting `set_epoch`.** Write `rank0_orders(call_set_epoch)`: make
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
if check_exercise(1, rank0_orders=rank0_orders):
    for flag in (False, True):
        by_epoch = rank0_orders(flag)
        print(f"set_epoch called: {flag}; rank 0's indices, epoch by epoch: {by_epoch}")
        seen = len({index for indices in by_epoch for index in indices})
        print(f"set_epoch called: {flag}; distinct items rank 0 saw in 3 epochs: {seen}")

# %% [markdown] tags=["solution"]
# **What the result means.** Without `set_epoch`, the sampler shuffles with the same
# seed every epoch: rank 0 gets the same 5 items in the same order, epoch after epoch,
# and rank 1 the other 5. Each process trains on one fixed half of the data, in one
# fixed order, as if the data had been shuffled once before training; no error and
# no warning say so. With `set_epoch(epoch)`, the order changes every epoch and each
# process sees other items (the printed counts say how many of the 10 rank 0 saw in
# 3 epochs each way). Without `set_epoch`, the two ranks together still cover the whole
# dataset every epoch: only which items go together in a batch, and their order, are
# frozen. So training loses the fresh shuffle that SGD gets every epoch in one process:
# the same images are averaged together, in the same order, epoch after epoch. This
# lesson does not measure what that costs in accuracy, and nothing warns about it.

# %% [markdown]
# **Exercise 2: averaging gradients by hand.** Write `average_gradients(model)`, the
# step DDP hides: after `backward`, replace every parameter's `.grad` with the mean
# of that gradient over all the processes of the group, using `dist.all_reduce` and
# `dist.get_world_size()`. The check runs your function in a pretend group of 3
# processes (`simulate_group`, threads standing in for processes), each holding the
# gradient of its own third of a batch, then in a group of 4.


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
if check_exercise(2, average_gradients=average_gradients):
    # 3 copies of a model, each with the gradient of its third of a batch of 24 images.
    images, labels = batch_images[:24], batch_labels[:24]
    torch.manual_seed(0)
    copies = [MLP(28 * 28, [32], 10) for _ in range(3)]
    for rank, copy in enumerate(copies):
        copy.load_state_dict(copies[0].state_dict())
        shard = slice(rank * 8, rank * 8 + 8)
        F.cross_entropy(copy(images[shard]), labels[shard]).backward()
    simulate_group(3, lambda rank: average_gradients(copies[rank]))
    whole = MLP(28 * 28, [32], 10)  # one process, the whole batch, the same weights
    whole.load_state_dict(copies[0].state_dict())
    F.cross_entropy(whole(images), labels).backward()
    gap = max(
        (mine.grad - reference.grad).abs().max().item()
        for copy in copies
        for mine, reference in zip(copy.parameters(), whole.parameters(), strict=True)
    )
    print(f"3 processes, averaged gradients vs the whole batch's, largest gap: {gap:.1e}")

# %% [markdown] tags=["solution"]
# **What the result means.** Each of the 3 copies held the gradient of its own 8
# images; after `average_gradients`, every copy holds the gradient of all 24, up to
# float32 rounding: the same update in every process, the one a single process would
# make on the whole batch. Forget the division and every step is 3 times too large
# (as if the learning rate were multiplied by the world size); divide by a number
# written in the code and the step is wrong on any other number of processes; skip a
# parameter and the copies drift apart. gloo has no `ReduceOp.AVG`, hence the sum and
# the division; NCCL has one.

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
# to the CPU there would run slowly with nobody noticing. (The course's `process_group`
# stops only the processes whose local rank has no GPU, with a `RuntimeError`; your function
# decides for the whole machine at once.) The check asks it about machines with and without GPUs,
# with enough GPUs or
# too few, and about the second machine of a 2-machine launch, where a process has rank
# 3 but local rank 1. Which of the two numbers picks the GPU?


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
# with one GPU and 2
# processes it refuses with a message (the line `1 GPU, 2 processes: refused: …`); on 2 machines
# with 2 GPUs each,
# ranks 2 and 3 run on the second machine, whose GPUs are numbered 0 and 1 like the
# first's, so rank 3 takes `cuda:1` (its local rank) and tells DDP `device_ids=[1]`.
# `cuda:RANK` would be right on the first machine only, which is why a test on one
# machine never catches it: on the second it asks for a `cuda:3` that does not exist.
# Your rule is the one `process_group` follows: it picks NCCL whenever CUDA is available, and
# `run_torchrun` refuses to launch when there are fewer GPUs than processes, so that a
# script launched on a GPU machine never trains on its CPU without anyone noticing. The
# notebook's own choice is different on purpose (its `cpu_only`): it knows how many GPUs
# it has, decides before it launches, prints its choice, and with fewer than 2 GPUs
# hides them and runs every launch on the CPU, 1-process ones too, so that the arms it
# compares share a device. No NCCL group was set up on this machine, which has no CUDA
# GPU: the lines above are the function's choices, not launches. Two more mistakes the
# check catches give no warning on a machine with one GPU,
# where both look right: plain `"cuda"` puts every process on GPU 0 (on a machine with
# several GPUs the others stay idle, and NCCL refuses two processes on one GPU), and
# choosing per process (NCCL where there is a GPU, gloo where not) builds a group whose
# processes disagree on the backend.

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
# Hint: the `set_epoch called: False` lines after the first exercise's check
answer_q2 = "c"
### END SOLUTION
check_exercise("Q2", answer_q2=answer_q2)

# %% [markdown] tags=["solution"]
# **(c).** The first exercise's check printed rank 0's indices epoch by epoch: without
# `set_epoch`, `[4, 7, 3, 0, 6]` three times, 5 distinct items of the 10 in 3 epochs;
# with it, a new order each epoch and all 10 items. The sampler shuffles with its seed
# plus the epoch number, and without `set_epoch` that number stays 0. Each rank still
# takes every second index of one shuffled order, so the shards do not overlap (section 6
# printed `overlap: none` for its shards), and the exercise's check printed no error or
# warning.

# %% [markdown]
# **Question 3.** In section 8, with 64 images per process, 2 processes on the 2 logical
# CPUs of the machine that made these outputs trained at
# 0.46<!-- output: effective batch 128, DDP, 2 processes over plain loop, 1 thread -->
# times the speed of the plain loop in one process with 1 thread, on batches of 128
# (below 1 means slower).
# Which explanation do the lesson's measurements support for the steps?
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
# 1.76<!-- output: 64 images per process, DDP's added time / step without communication -->
# times the step without communication to every step in this run, so the DDP step on 64 images
# took longer than one process's step on all 128: the prediction for the steps was
# 0.43<!-- output: 64 images per process, predicted speed-up of 2 processes -->, and in
# section 8's epochs the steps ran at
# 0.27<!-- output: effective batch 128, the steps, 2 processes' speed-up over the plain loop -->
# times the plain loop's speed (section 8's line `the steps, 2 processes' speed-up` sets
# the two side by side). (The whole epoch's speed-up,
# 0.46<!-- output: effective batch 128, DDP, 2 processes over plain loop, 1 thread -->,
# mixes faster loading with those slower steps: read its parts, not its closeness to the
# prediction.) Each process computed only its own 64 images of every step: half of
# each step's images, so (a) is wrong, and (c) too: the shards split the images.

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
# - (d) Nothing that matters: a shard's statistics match the whole batch's closely,
#   whatever its size.

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
# than those of 32, as the fewer images a statistic rests on, the more it varies. Plain `BatchNorm`
# normalises with its own shard's statistics in the forward pass; `SyncBatchNorm`
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
