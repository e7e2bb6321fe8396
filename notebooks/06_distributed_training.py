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
# - measure how much of a step the communication takes, and say when more processes
#   pay off;
# - give every process its own shard of the data with `DistributedSampler`, and say
#   what goes wrong without `set_epoch`;
# - launch a script with `torchrun --standalone --nproc_per_node=N`, log and
#   checkpoint from rank 0, and make the script ready for GPUs;
# - say what `SyncBatchNorm`, `no_sync` and FSDP are for, and how several machines
#   are launched.

# %% [markdown] tags=["last-verified"]
# > **Last verified** 2026-12-03: PyTorch 2.14.1+cu130 on CPU (AMD EPYC, 2 threads); the
# > whole lesson ran in 133 s with a peak memory of 1407 MB. The course's runner wrote
# > this line from the run that produced the worked lesson's outputs.

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
import json
import math
import re
import shlex
import statistics
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
#    and the update on its share, so the arithmetic per step shrinks N times (at this
#    model's size much of a step's time is fixed cost that does not shrink; section 5
#    suggests it: its line `step without communication, 1024 / 64 images` shows how much
#    longer a step on 16 times the images took);
# 2. the *exchange*: before anyone may take a step, the workers must agree on one
#    gradient, so every step each sends and receives about as many numbers as the model
#    has parameters, however small its share of the batch;
# 3. DDP's *other overhead* per step, its bookkeeping and waiting around the exchange;
# 4. the *data loading* around each step: the `DataLoader` picking the batch's images and
#    stacking them, then moving and normalising the batch, and the Python of the loop.
#
# Each of N workers handles only its own share of the images in parts 1 and 4, and adds
# parts 2 and 3; whether they are faster than one depends on how far parts 1 and 4
# shrink and how much parts 2 and 3 weigh. Section 5 times part 1, and parts 2 and 3 together, for
# one step; section 8
# times whole epochs and, inside them, the `DataLoader`. How much does the MLP this
# lesson trains (lesson 03's) exchange per step?

# %% tags=["nbval-check-output"]
mlp = MLP(28 * 28, [32], 10)
num_parameters = sum(parameter.numel() for parameter in mlp.parameters())
print(f"parameters: {num_parameters:,}")
print(f"gradient bytes all-reduced per step: {num_parameters * 4:,}")
batches_per_epoch = math.ceil(50_000 / 128)  # the last batch holds the 80 images left over
print(f"batches per epoch, effective batch 128: {batches_per_epoch}")
# DDP all-reduces the gradients in buckets, groups of gradients sent in one call (by
# default 1 MB for the first, 25 MB after): this model's 0.1 MB make one bucket, so one
# all-reduce per step (section 10 counts them).
print(f"DDP all-reduce calls per epoch (one bucket, one per step): {batches_per_epoch}")
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
# *Note.* Each process that imports PyTorch holds a few hundred MB of its own. On Linux,
# `run_torchrun` runs torchrun's own launcher (the same options, rendezvous and
# variables) but forks the workers from a process that has imported PyTorch once, so
# that they share that memory; the first line printed below says whether it did.

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
# whatever the machine has.)
#
# From here on, the scripts join the group with the course's `process_group()`: it
# reads the same variables, picks gloo or NCCL, sets the device, gives every call a
# timeout, and leaves the group at the end, even after an error. (With gloo it then
# waits half a second, so that gloo's own threads let go of the last tensors before
# Python shuts down; a busy machine otherwise sometimes aborts the process at exit.)
# In this notebook, which `torchrun` did not start, it refuses with a message that
# says what to do:

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
# rounding (the sums are added in another order), and exactly what DDP computed. The
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
#    this one's communication (this model's gradients fit
#    in one bucket, so nothing overlaps here);
# 3. every process then takes the same optimizer step, and the copies stay equal
#    without ever sending weights.
#
# ## 5. What the communication costs
#
# Every step adds an `all_reduce` of all the gradients. The next script times, in
# each of 2 processes, the median of 120 repeats of four things: a step computed
# alone (forward, backward, update, no communication), the same step under DDP, the
# all-reduce of the model's 25,450 gradients by itself, and the step alone on twice the
# images, which is what one process does to train on the same effective batch (the
# images of one step across all processes: here 2 x 64). Only rank 0 times that last one,
# while rank 1 waits at a barrier (`dist.barrier()`: a collective call that returns in
# each process only once every process of the group has called it): one process
# training alone has no other process competing for the machine's CPUs. It times
# the four in turn, round after round, each from a moment when both processes are
# ready, so that a busy moment of the machine slows all of them alike. It does so for
# 64 and for 1,024 images per process: the same amount of communication for 16 times
# the images. The step alone on 2B images against the DDP step on B per process
# predicts the speed-up of 2 processes over 1 *for the steps only*; section 8 times whole
# epochs at both sizes, which also hold the data loading. Last, it times the same
# all-reduce on its own, back to back, with no step between the repeats.

# %%
Code(filename=str(scripts / "comm_cost.py"), language="python")

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
# The next cell reads the timings back from the lines printed above and lays them out as
# one table. Its first line gives the machine's logical CPUs, the backend and the
# threads per process of the launch above (1 per process, set in the launch, as in
# section 8's launches).

# %%
TIMING = re.compile(
    r"\[rank (\d)\] batch (\d+) per process: step without communication ([\d.]+) ms, "
    r"DDP step ([\d.]+) ms, .*?between the steps ([\d.]+) ms"
)
DOUBLE = re.compile(r"batch (\d+) per process: rank 0 alone .*?images ([\d.]+) ms")
ALONE = re.compile(r"\[rank (\d)\] all-reduce of [\d,]+ gradients alone, .*?: ([\d.]+) ms")
per_rank = {}  # batch size -> {rank: (step, DDP step, DDP's added time, all-reduce)}, in ms
for rank, size, *found in TIMING.findall(comm_cost.output):
    step, ddp, exchange = map(float, found)
    per_rank.setdefault(int(size), {})[int(rank)] = (step, ddp, ddp - step, exchange)
# The median over the processes (with 2 of them, their mean) of each part.
timings = {
    size: [statistics.median(part) for part in zip(*by_rank.values(), strict=True)]
    for size, by_rank in per_rank.items()
}
for size, ms in DOUBLE.findall(comm_cost.output):
    timings[int(size)].append(float(ms))  # index 4: rank 0 alone on the 2B images
alone_ms = statistics.median(float(ms) for _rank, ms in ALONE.findall(comm_cost.output))
backend = "gloo" if cpu_only else "NCCL"
print(f"({os.cpu_count()} logical CPUs, {backend}, 1 thread per process)")
print(f"ms, median of the 2 ranks         {'B = 64 images':>14} {'B = 1,024 images':>17}")
for what, index in (
    ("step without communication", 0),
    ("DDP step", 1),
    ("DDP's added time (DDP - step)", 2),
):
    print(f"{what:<33} {timings[64][index]:>8.3f} {timings[1024][index]:>17.3f}")
for rank in sorted(per_rank[64]):
    what = f" all-reduce between steps, rank {rank}"
    print(f"{what:<33} {per_rank[64][rank][3]:>8.3f} {per_rank[1024][rank][3]:>17.3f}")
print(f"{'all-reduce alone, no steps':<33} {alone_ms:>8.3f} {'(one payload)':>17}")
print(f"{'1 process, step on the 2B images':<33} {timings[64][4]:>8.3f} {timings[1024][4]:>17.3f}")
print()
for size in (64, 1024):
    added = timings[size][2] / timings[size][0]
    print(f"{size} images per process, DDP's added time / step without communication: {added:.2f}")
    print(f"{size} images per process, DDP's added time (ms): {timings[size][2]:.2f}")
print(f"all-reduce of the gradients alone, no steps (ms): {alone_ms:.2f}")
print(f"64 images per process, step without communication (ms): {timings[64][0]:.2f}")
print(
    f"64 images per process, all-reduce alone / step without communication: "
    f"{alone_ms / timings[64][0]:.2f}"
)
for rank, parts in sorted(per_rank[64].items()):
    print(
        f"rank {rank}, all-reduce / DDP's added time, 64 images per process: "
        f"{parts[3] / parts[2]:.2f}"
    )
for size in (64, 1024):  # DDP's added time against the all-reduce between steps
    print(f"{size} images per process, all-reduce between steps (ms): {timings[size][3]:.2f}")
    outside = timings[size][2] - timings[size][3]
    side = "beyond" if outside >= 0 else "short of"
    print(f"{size} images per process, DDP's added time {side} the all-reduce (ms): ", end="")
    print(f"{abs(outside):.2f}")
growths = {}  # how much each part changed from 64 to 1,024 images per process, in ms
for what, index in (("DDP's added time", 2), ("all-reduce between steps", 3)):
    growths[what] = timings[1024][index] - timings[64][index]
    way = "grew" if growths[what] >= 0 else "shrank"
    print(f"{what}, 64 to 1,024 images, {way} by (ms): {abs(growths[what]):.2f}")
if min(growths.values()) > 0:  # both grew: the two growths side by side (timed apart)
    ratio = growths["all-reduce between steps"] / growths["DDP's added time"]
    print(f"growth of the all-reduce between steps / growth of DDP's added time: {ratio:.2f}")
# The same payload back to back (alone) and between steps, at 64 images per process.
gap = alone_ms - timings[64][3]
way = "longer" if gap > 0 else "shorter"
print(f"all-reduce alone, back to back, {way} than between steps, by (ms): {abs(gap):.2f}")
print(f"step without communication, 1024 / 64 images: {timings[1024][0] / timings[64][0]:.2f}")
predicted = {size: parts[4] / parts[1] for size, parts in timings.items()}
for size in (64, 1024):
    print(f"{size} images per process, predicted speed-up of 2 processes: {predicted[size]:.2f}")
TIE = 0.10  # a tie: the slower of two times is less than 1 + TIE times the faster


def direction(speed_up: float) -> str:
    """A speed-up of 2 processes in words, with a tie band around 1."""
    if speed_up > 1 + TIE:
        return "faster"
    return "slower" if speed_up < 1 / (1 + TIE) else "a tie (within a tenth)"


for size in (64, 1024):
    print(f"{size} images per process, 2 processes predicted (steps only, one run):", end=" ")
    print(direction(predicted[size]))

# %% [markdown]
# The table holds, for each part, the median over the 2 ranks of their medians (with 2
# ranks, their mean; the ranks' own lines are above), except the rows `all-reduce between
# steps, rank …`, one per rank, and the last row, which rank 0 timed alone. It comes from
# one run, on the machine and backend its first line names (for the outputs you see,
# 2 logical CPUs shared with the notebook and anything else running, and gloo over
# loopback sockets: network connections from the machine to itself), so such timings
# move from run to run: read them as sizes, not as exact values.
# *DDP's added time* is the DDP step minus the step without communication: everything DDP
# adds to a step, the exchange and the bookkeeping and waiting around it. The row
# `all-reduce alone` is one figure for both columns: the same 25,450 numbers, timed with no
# steps around them.
#
# - **At 64 images per process** DDP added
#   2.18<!-- output: 64 images per process, DDP's added time / step without communication -->
#   times the step without communication (medians over the repeats, then over the 2
#   ranks) in this run. A ratio near 1 or
#   above means that what DDP adds cost about as much time as the work it serves, or
#   more.
# - **At 1,024 images per process** (16 times the images) the step without communication
#   grew 3.64<!-- output: step without communication, 1024 / 64 images --> times, not 16
#   (most likely, at this size, much of a step's time does not grow with the images: this
#   script does not time the parts of a step), and DDP added
#   0.65<!-- output: 1024 images per process, DDP's added time / step without communication -->
#   times the step without communication. The exchange sends the same 25,450 numbers
#   whatever the batch, yet DDP's added time itself went from
#   3.21<!-- output: 64 images per process, DDP's added time (ms) --> ms to
#   3.46<!-- output: 1024 images per process, DDP's added time (ms) --> ms (the line
#   `DDP's added time` of the table): the ratio moved because the step grew more than the
#   added time did. Where the added time grew, this script does not time its parts (the
#   next bullet looks at the exchange alone).
# - **The all-reduce itself.** Timed on its own, with no steps around it, the all-reduce of
#   the 25,450 gradients took
#   1.94<!-- output: all-reduce of the gradients alone, no steps (ms) --> ms, against
#   1.47<!-- output: 64 images per process, step without communication (ms) --> ms for a
#   64-image step without communication:
#   1.32<!-- output: 64 images per process, all-reduce alone / step without communication -->
#   times the step. Timed in the rounds between the steps (the median of the 2 ranks),
#   the same all-reduce took
#   1.37<!-- output: 64 images per process, all-reduce between steps (ms) --> ms at 64
#   images per process and
#   1.66<!-- output: 1024 images per process, all-reduce between steps (ms) --> ms at
#   1,024, and DDP's added time went beyond it by
#   1.84<!-- output: 64 images per process, DDP's added time beyond the all-reduce (ms) -->
#   ms and
#   1.80<!-- output: 1024 images per process, DDP's added time beyond the all-reduce (ms) -->
#   ms: DDP's bookkeeping and waiting around the exchange. Compare the rows `all-reduce
#   alone` and `all-reduce between steps, rank …`: the same payload, back to back or
#   between steps (the line `all-reduce alone, back to back, …` says which took longer,
#   and by how much). This script does not show why the two differ, and on a shared
#   machine such figures move from run to run. From 64 to 1,024 images per process, the
#   lines `DDP's added time, 64 to 1,024 images, …` and `all-reduce between steps, 64 to
#   1,024 images, …` say how each changed, though the payload was the same. The two were
#   timed apart, so they set two changes side by side; they do not split DDP's added
#   time. A process waits inside
#   an all-reduce until its partner's numbers arrive, so its time counts waiting as well
#   as sending, and this
#   script does not separate the two. That is why the lesson judges DDP by its whole
#   added time per step (each rank's own line above gives it, in brackets, as a multiple
#   of its step), not by a split between the exchange and the rest.
#
# **A prediction for the steps.** One process trains on the effective batch of 2B images
# in a step alone (the last row); 2 processes each take a DDP step on B (the row `DDP
# step`). Their ratio predicts the speed-up of 2 processes *for the steps alone* (below 1
# means slower): in this run
# 0.43<!-- output: 64 images per process, predicted speed-up of 2 processes --> at 64
# images per process and
# 1.02<!-- output: 1024 images per process, predicted speed-up of 2 processes --> at
# 1,024, one run each (the last two lines put each in words, counting a speed-up within a
# tenth of 1 as a tie: one run cannot tell such a small difference from noise). An epoch is more
# than its steps (section 1's part 4, the data loading); section
# 8 times whole epochs and, inside them, the loader.
#
# On GPUs with NCCL, run the same script (without `cpu_only`): every figure changes.
# For a model with enough arithmetic per step, a GPU does that arithmetic far faster, and
# the exchange is faster when the GPUs are joined by fast links (NVLink within a machine,
# InfiniBand between machines); DDP also overlaps the exchange with the backward pass when
# a model has several buckets. None of this is measured here: this lesson has no GPU
# timings of its own; on a GPU, the ratio to look at is DDP's added time against the step
# without communication, which the script prints in brackets on each rank's lines.
#
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
# have finished, until the group's timeout ends the run with an error.
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
# every epoch line says how much of it went to loading (section 8 times it the same way).

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
# Threads matter on a CPU. With more than one process per machine, plain `torchrun` sets
# `OMP_NUM_THREADS=1` for every process when the variable is not set, and prints a
# warning that says so; with one process it leaves PyTorch's own default number of
# intra-op threads, the threads that split one operation such as a matrix product
# between them (the next cell prints it for this notebook's process). `run_torchrun`
# sets `OMP_NUM_THREADS` (which `torch.set_num_threads` follows) explicitly for every
# run, so that the runs compare like with like: 1 thread per process (section 8's script
# gives one of its arms 2 threads itself, with `torch.set_num_threads`).

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
print(
    " ".join(["torchrun", *(str(part).replace(str(work_folder), "$LESSON06") for part in command)])
)
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
# Is the 2-process run faster than one process would be? A fair answer changes one thing
# and keeps the rest: the same effective batch of 128 images, the same seed, the same
# shuffle and the same images. To fit the lesson's time budget, these timing runs train on
# the first 20,000 training images an epoch (all 50,000 at the bigger batch below), so
# their epochs are shorter than section 7's. Besides `2 processes x 1 thread`, one process
# can run in four ways, and each way is an *arm* of the comparison:
# - `1 process x 1 thread`: one intra-op thread, as each of the 2 processes has;
# - `1 process x 2 threads`: PyTorch splits each operation between 2 threads, so the one
#   process uses both logical CPUs, as the 2 processes do;
# - `1 process + 1 worker`: one thread, and `DataLoader(..., num_workers=1)` picks and
#   stacks the batches in a second process while the first one computes, so loading and
#   steps can overlap. (The 2 processes do not overlap them: DDP's all-reduce in every
#   step keeps them in step, so both load, each its own half of the batch, then both
#   compute.)
# - `1 process, no DDP`: one thread, and the model without DDP's wrapper, the plain loop
#   of section 5's step. The three arms above wrap their model in DDP, in a group of one
#   process, as the 2 processes wrap theirs, so that their code is the 2 processes' code;
#   this arm measures what that wrapper costs a single process.
#
# A machine shared with other programs runs the same work slower at some moments than
# at others, so arms run one after another could each meet a different moment. The
# script below therefore trains all five arms in one launch of 2 processes, each arm a
# model of its own, and takes them in *rounds*: every round trains one epoch of each
# arm, in a new order each round. The 1-process arms run in rank 0 alone, their DDP in
# a group of rank 0 alone (`dist.new_group([0])` makes a process group of just the ranks
# listed, inside the group of both), while rank 1 waits at a barrier (its line `waiting
# at the barrier` says how much CPU time that took). An arm's speed-up is then read
# round by round, each arm against 2 processes in the same round. Round 1 can pay
# first-time costs, so the figures below leave it out.

# %%
Code(filename=str(scripts / "compare_arms.py"), language="python")

# %%
arm_rounds = full_or_smoke(full=4, smoke=2)  # round 1 is a warm-up
arms_size = full_or_smoke(full=20_000, smoke=2_000)  # training images per epoch
big_size = full_or_smoke(full=50_000, smoke=2_000)  # the same, at the big batch below


def launch_arms(name: str, rounds: int, size: int, per_process: int, *without: str):
    """One launch of compare_arms.py in 2 processes, 1 thread each; its results go to
    work_folder / name. `without` names 1-process arms to leave out."""
    args = [
        *["--data", data_path, "--out", work_folder / name, "--rounds", rounds],
        *["--train-size", size, "--batch-size", per_process, "--lr", 0.2],
        *(["--without", *without] if without else []),
    ]
    # 1 thread a process: the script gives one arm 2 threads itself.
    options = {"timeout": launch_timeout, "cpu_only": cpu_only, "threads_per_process": 1}
    return run_torchrun(scripts / "compare_arms.py", nproc=2, args=args, **options)


arms_128 = launch_arms("arms_128", arm_rounds, arms_size, 64)
print(arms_128.output)

# %% [markdown]
# Each line gives an arm's epoch and, inside it, the seconds it waited for the loader's
# next batch (for 2 processes, each rank's own line). *The rest* of an epoch is the steps,
# with moving and normalising each batch and the loop's own Python. So the `loader`
# column is narrower than section 1's part 4, which also counted the moving, the
# normalising and the loop's Python: those fall in the rest here. The next cell lays
# the rounds out as a table: for each arm the median over the rounds after the first, and
# the range of those rounds. Each column is a median of its own, so the loader and the
# rest need not add up to the epoch. It then sets each 1-process arm beside the 2 processes, round
# by round. A round counts as a *tie* when the two arms' times lie within a tenth of each
# other (section 5's tie band), and the verdict line names a winner only when every
# round agrees. On this machine two epochs of the same work differed by far more than a
# tenth (the range column), so a round outside the band can still be chance, and with
# 3 rounds compared a verdict of "every round" is a first sign, not a proof. The rounds
# rotate the order, so each arm runs after the same neighbour every round; a carry-over
# from one arm to the next is not balanced out.
# Every figure comes from processes on one machine (for the outputs you see, forked on a
# machine with 2 logical CPUs: see the note in section 2), not from separate machines.
# On a cloud machine two logical CPUs are often the two hyperthreads of one physical
# core, which share its arithmetic units; this lesson does not test whether that is so
# here.

# %%
TWO_ARM = "2 processes x 1 thread"
ONE_ARMS = (
    "1 process x 1 thread",
    "1 process x 2 threads",
    "1 process + 1 worker",
    "1 process, no DDP",
)
PLAIN_ARM = ONE_ARMS[-1]  # no DDP wrapper


def arm_figures(folder: Path) -> dict:
    """Each arm's epochs, loader and rest seconds after round 1 (all rounds if it is alone),
    their medians, and its validation accuracy, from the arms.json the script wrote."""
    found = json.loads((folder / "arms.json").read_text())["arms"]
    figures = {}
    for arm, row in found.items():
        later = slice(1, None) if len(row["seconds"]) > 1 else slice(None)
        epochs, loads = row["seconds"][later], row["loader_seconds"][later]
        rests = [epoch - load for epoch, load in zip(epochs, loads, strict=True)]
        figures[arm] = {"epochs": epochs, "loads": loads, "rests": rests, "val_acc": row["val_acc"]}
        for part, values in (("epoch", epochs), ("loader", loads), ("rest", rests)):
            figures[arm][part] = statistics.median(values)
    return figures


def compare_rounds(batch: int, figures: dict) -> None:
    """Print the arms at one effective batch, then 2 processes against each 1-process arm."""
    name = f"effective batch {batch}"
    backend_name = "gloo" if cpu_only else "NCCL"
    print(f"{name}: {backend_name}, {os.cpu_count()} logical CPUs, seconds per epoch")
    print(
        f"{'arm':<39} | {'epoch':>5} | {'range of the rounds':>19} | {'loader':>6} | "
        f"{'the rest':>8} | val accuracy"
    )
    present = [arm for arm in ONE_ARMS if arm in figures]  # the arms this launch ran
    for arm in (*present, TWO_ARM):
        row = figures[arm]
        spread = f"{min(row['epochs']):.2f} to {max(row['epochs']):.2f}"
        print(
            f"{arm:<39} | {row['epoch']:>5.2f} | {spread:>19} | {row['loader']:>6.2f} | "
            f"{row['rest']:>8.2f} | {row['val_acc']:.4f}"
        )
    two = figures[TWO_ARM]
    for arm in present:
        one = figures[arm]
        speed_ups = [a / b for a, b in zip(one["epochs"], two["epochs"], strict=True)]
        faster = sum(direction(s) == "faster" for s in speed_ups)  # section 5's tie band
        slower = sum(direction(s) == "slower" for s in speed_ups)
        ties = len(speed_ups) - faster - slower
        median_speed_up = statistics.median(speed_ups)
        what = f"{name}, speed-up with 2 processes over {arm}"
        if arm == ONE_ARMS[0]:
            record_result(what, round(median_speed_up, 2))
        else:
            print(f"{what}: {median_speed_up:.2f}")
        each = ", ".join(f"{s:.2f}" for s in speed_ups)
        print(f"{name}, 2 processes against {arm}, speed-up in each round: {each}")
        print(
            f"{name}, 2 processes against {arm}, rounds faster / tied / slower: "
            f"{faster} / {ties} / {slower}"
        )
        if faster == len(speed_ups):
            verdict = "2 processes were faster in every round"
        elif slower == len(speed_ups):
            verdict = "2 processes were slower in every round"
        else:
            verdict = "no clear winner: the rounds disagree or tie"
        print(f"verdict at {name}, against {arm}: {verdict}")
    one = figures[ONE_ARMS[0]]
    print(f"{name}, rounds compared: {len(two['epochs'])}")
    for arm in present[1:]:  # the other ways of running one process, against 1 thread
        ratio = figures[arm]["epoch"] / one["epoch"]
        print(f"{name}, {arm} / {ONE_ARMS[0]}, epoch time: {ratio:.2f}")
        loader_ratio = figures[arm]["loader"] / one["loader"]
        print(f"{name}, {arm} / {ONE_ARMS[0]}, loader time: {loader_ratio:.2f}")
        # Round by round, with section 5's tie band: a ratio above 1 + TIE is slower.
        ratios = [a / b for a, b in zip(figures[arm]["epochs"], one["epochs"], strict=True)]
        words = {direction(1 / ratio) for ratio in ratios}  # its speed-up over 1 thread
        if words == {"faster"}:
            verdict = "faster in every round"
        elif words == {"slower"}:
            verdict = "slower in every round"
        else:
            verdict = "no clear difference: the rounds disagree or tie"
        print(f"{name}, {arm} / {ONE_ARMS[0]}, epoch time in each round: ", end="")
        print(", ".join(f"{ratio:.2f}" for ratio in ratios))
        print(f"verdict at {name}, {arm} against {ONE_ARMS[0]}: {verdict}")
    if PLAIN_ARM in figures:  # the same loop with DDP in a group of one and without it
        plain = figures[PLAIN_ARM]["epochs"]
        costs = [a / b for a, b in zip(one["epochs"], plain, strict=True)]
        what = f"{name}, DDP in a group of one / no DDP, epoch time"
        print(f"{what}, in each round: {', '.join(f'{c:.2f}' for c in costs)}")
        print(f"{what}, median: {statistics.median(costs):.2f}")
        words = {direction(cost) for cost in costs}  # section 5's tie band
        if words == {"faster"}:
            verdict = "the arm without DDP was faster in every round"
        elif words == {"slower"}:
            verdict = "the arm without DDP was slower in every round"
        else:
            verdict = "no clear difference: the rounds disagree or tie"
        print(f"verdict at {name}, DDP in a group of one against no DDP: {verdict}")
    for arm, row in ((ONE_ARMS[0], one), (TWO_ARM, two)):
        print(f"{name}, loader / epoch, {arm}: {row['loader'] / row['epoch']:.2f}")
    slower = []  # the parts that took longer with 2 processes
    for part in ("loader", "rest"):  # 2 processes against 1 process x 1 thread
        print(f"{name}, speed-up of the {part} with 2 processes: {one[part] / two[part]:.2f}")
        # Signed: positive when 2 processes spent fewer seconds on this part.
        saved = one[part] - two[part]
        print(f"{name}, {part}, seconds saved per epoch (+) or lost (-): {saved:+.2f}")
        way = "saved" if saved >= 0 else "lost"
        print(f"{name}, {part}, seconds {way} per epoch by 2 processes: {abs(saved):.2f}")
        if direction(one[part] / two[part]) == "slower":  # beyond section 5's tie band
            slower.append(part)
    print(
        f"{name}, parts slower with 2 processes, beyond the tie band:", ", ".join(slower) or "none"
    )
    train_images_per_epoch = arms_size if batch == 128 else big_size
    for label, row, processes in (("1 process", one, 1), ("2 processes", two, 2)):
        per_image = row["loader"] / (train_images_per_epoch / processes) * 1e6
        print(f"{name}, loader microseconds per image per process, {label}: {per_image:.1f}")
    accuracies = [figures[arm]["val_acc"] for arm in (*present, TWO_ARM)]
    print(
        f"{name}, arms' largest validation accuracy gap (points): "
        f"{100 * (max(accuracies) - min(accuracies)):.2f}"
    )


arms_figures = arm_figures(work_folder / "arms_128")
compare_rounds(128, arms_figures)


def against_prediction(per_process: int, figures: dict) -> None:
    """Section 5's prediction for the steps beside what the rounds measured, in words,
    against the arm that, like section 5's one-process step, has no DDP wrapper."""
    one, two = figures[PLAIN_ARM], figures[TWO_ARM]
    measured = {"the rest of the epoch": one["rest"] / two["rest"]}
    measured["the whole epoch"] = one["epoch"] / two["epoch"]
    rest = measured["the rest of the epoch"]
    print(f"{per_process} images per process, rest's speed-up over no DDP: {rest:.2f}")
    guess = direction(predicted[per_process])
    print(f"{per_process} images per process, section 5 predicted for the steps: {guess}")
    for part, speed_up in measured.items():
        print(f"{per_process} images per process, measured, {part}: {direction(speed_up)}")
    print(
        f"{per_process} images per process, the prediction's direction matched the whole epoch's:",
        guess == direction(measured["the whole epoch"]),
    )


against_prediction(64, arms_figures)
record_result("1 process, validation accuracy", arms_figures[ONE_ARMS[0]]["val_acc"])
record_result("2 processes, validation accuracy", arms_figures[TWO_ARM]["val_acc"])

# %% [markdown]
# In the run whose outputs you see, 2 processes ran at a median of
# 0.50<!-- output: effective batch 128, speed-up with 2 processes over 1 process x 1 thread -->
# times the speed of one process with 1 thread (below 1 means slower), round by round
# against the same epochs of the other arm; the line `… speed-up in each round` lists
# the rounds, and the verdict lines say, for each 1-process arm, whether every round
# went the same way. Against one process with 2 threads, the median was
# 0.81<!-- output: effective batch 128, speed-up with 2 processes over 1 process x 2 threads -->,
# and against one process with a loader worker
# 0.87<!-- output: effective batch 128, speed-up with 2 processes over 1 process + 1 worker -->.
# By the verdict lines, 2 processes were slower in every round than one process with 1
# thread and than the plain loop without DDP; against 2 threads and against a loader
# worker the rounds disagreed. The other ways of running one process, against one
# thread (each with its own verdict line, round by round): with a loader worker, one
# process's epoch took
# 2.09<!-- output: effective batch 128, 1 process + 1 worker / 1 process x 1 thread, epoch time -->
# times as long and its time waiting for the loader
# 2.87<!-- output: effective batch 128, 1 process + 1 worker / 1 process x 1 thread, loader time -->
# times as long; with 2 threads, its epoch took
# 1.93<!-- output: effective batch 128, 1 process x 2 threads / 1 process x 1 thread, epoch time -->
# times as long. The worker is started once (`persistent_workers=True`), so what it
# costs is mostly per batch: it hands every batch to the training process through shared
# memory and a queue, a cost that small batches pay often, and with one thread each the
# two processes share the machine's CPUs; this lesson does not time those apart. Both
# were slower than one thread in every round. A second thread did not make this small
# model faster: splitting each small operation between 2 threads most likely costs more
# than it saves (not tested here). Rank 1's line `waiting at the barrier` gives the
# seconds it waited while rank 0 trained alone and the CPU seconds it used meanwhile:
# compare the two to see whether it competed with rank 0.
#
# **Where the epoch went.** The loader took
# 0.35<!-- output: effective batch 128, loader / epoch, 1 process x 1 thread --> of the
# epoch for one process with 1 thread and
# 0.15<!-- output: effective batch 128, loader / epoch, 2 processes x 1 thread --> for 2
# processes. Against one process with 1 thread, 2 processes saved
# 0.00<!-- output: effective batch 128, loader, seconds saved per epoch by 2 processes -->
# s per epoch in the loader and lost
# 0.47<!-- output: effective batch 128, rest, seconds lost per epoch by 2 processes --> s
# in the rest (the lines `… seconds saved per epoch (+) or lost (-)` give both with their
# signs). Each process
# loads half the images, in batches of 64 against one process's 128: if loading cost the
# same per image and the processes did not slow each other down, each would load in half
# the time, a speed-up of 2. The loader's measured speed-up was
# 1.03<!-- output: effective batch 128, speed-up of the loader with 2 processes -->: each
# of the 2 processes took
# 12.6<!-- output: effective batch 128, loader microseconds per image per process, 2 processes -->
# µs per image against one process's
# 6.5<!-- output: effective batch 128, loader microseconds per image per process, 1 process -->
# (half-size batches, and two processes sharing the machine's CPUs, are likely causes; this
# lesson does not test them). The rest's speed-up was
# 0.34<!-- output: effective batch 128, speed-up of the rest with 2 processes --> against
# this arm, which carries DDP's wrapper. Section 5's prediction for the steps,
# 0.43<!-- output: 64 images per process, predicted speed-up of 2 processes -->, timed a
# one-process step without the wrapper, so its measured counterpart is the rest's
# speed-up over the arm without DDP:
# 0.29<!-- output: 64 images per process, rest's speed-up over no DDP -->. The rest
# adds the batch's moving and normalising and the loop's Python to the steps, and the
# two were timed differently: section 5 timed each step on its own, on random data,
# after a barrier, while here the steps run back to back in an epoch. So the gap
# between the two figures mixes extra work with the way each was timed; this lesson
# does not time those apart. The lines under the table set the prediction beside the
# measurement in words.
#
# **DDP's wrapper on one process.** Section 5's one-process step had no wrapper, and
# neither has the arm `1 process, no DDP`. Against it, the same loop with DDP in a group
# of one took a median of
# 1.22<!-- output: effective batch 128, DDP in a group of one / no DDP, epoch time, median -->
# times its epoch; the line `… in each round` lists the rounds, and the verdict line says
# whether the arm without DDP was faster in every round. Read the median with care: DDP
# does not touch the loader, yet the two arms' loader times differ too (the line `1
# process, no DDP / 1 process x 1 thread, loader time`), so part of any gap comes from
# the moments the arms ran, not from the wrapper. A group of one process has nothing to
# exchange, but DDP still copies the gradients into its bucket and calls the all-reduce
# at every step: a cost per step which, where the verdict line finds the plain loop
# faster in every round, was large enough to show against the epochs' own variation, and
# where the rounds disagree, was not. 2 processes ran at
# 0.42<!-- output: effective batch 128, speed-up with 2 processes over 1 process, no DDP -->
# times the speed of the plain loop, and at
# 0.50<!-- output: effective batch 128, speed-up with 2 processes over 1 process x 1 thread -->
# times that of one process with DDP. The arms with DDP answer the question they were
# built for (the same code, in one process or two); the plain loop is the comparison a
# learner choosing between `python train.py` and `torchrun` faces.
#
# **The accuracies.** Every arm trained its own model from the same initial weights on
# the same batches: the largest gap between their validation accuracies was
# 0.00<!-- output: effective batch 128, arms' largest validation accuracy gap (points) -->
# points (93.7%<!-- output: 1 process, validation accuracy --> for one process with 1
# thread, 93.7%<!-- output: 2 processes, validation accuracy --> for 2 processes). With
# the same effective batch, the same seed and `DistributedSampler`'s interleaved shards,
# the two halves of each 2-process step are exactly the 128 images of the 1-process step,
# so the arms follow the same path, up to rounding.
#
# **At 1,024 images per process.** Section 5 also predicted the steps' speed-up with 16
# times the images per process (the line `1024 images per process, predicted speed-up
# …`). The same arms again, in rounds, with batches of 1,024 per process on 2 processes
# and 2,048 on 1 process, on all 50,000 training images (the learning rate stays 0.2:
# these runs are for timing, not for accuracy). All but `1 process + 1 worker`: in a trial
# run of this lesson with that arm at this batch (not shown here), the lesson's peak
# memory went past the course's memory budget for a lesson, so this launch leaves it out
# (`--without`):

# %%
big_batch = full_or_smoke(full=1024, smoke=256)  # images per process with 2 processes
# Without the loader-worker arm: see the text above.
arms_big = launch_arms("arms_big", arm_rounds, big_size, big_batch, "1 process + 1 worker")
print(arms_big.output)
if big_batch != 1024:
    print(f"(smoke mode: section 5 timed 1024 images per process, these runs {big_batch})")
big_figures = arm_figures(work_folder / "arms_big")
compare_rounds(2 * big_batch, big_figures)
against_prediction(1024, big_figures)  # smoke mode: section 5 timed 1024, these runs fewer

# %% [markdown]
# The step timing predicted
# 1.02<!-- output: 1024 images per process, predicted speed-up of 2 processes --> for the
# steps at 1,024 images per process. The epochs measured 2 processes at a median of
# 1.52<!-- output: effective batch 2048, speed-up with 2 processes over 1 process x 1 thread -->
# times the speed of one process with 1 thread and
# 1.81<!-- output: effective batch 2048, speed-up with 2 processes over 1 process x 2 threads -->
# times that of one with 2 threads, and
# 1.75<!-- output: effective batch 2048, speed-up with 2 processes over 1 process, no DDP -->
# times that of the plain loop without DDP; the verdict lines say whether each held in
# every round. At this batch the loader took
# 0.62<!-- output: effective batch 2048, loader / epoch, 1 process x 1 thread --> of the
# epoch of one process with 1 thread and
# 0.45<!-- output: effective batch 2048, loader / epoch, 2 processes x 1 thread --> of the
# 2-process one. With 2 processes the loader's speed-up was
# 2.24<!-- output: effective batch 2048, speed-up of the loader with 2 processes -->
# (saving
# 0.38<!-- output: effective batch 2048, loader, seconds saved per epoch by 2 processes -->
# s per epoch) and the rest's
# 1.10<!-- output: effective batch 2048, speed-up of the rest with 2 processes -->
# (the line `… parts slower with 2 processes, beyond the tie band` names any part that
# was slower beyond section 5's band of a tenth, and the rest's own line gives the
# seconds it saved or lost). Most of the gain at this batch, in this run, came from
# splitting the loading between the 2 processes. DDP in a group of one against the
# plain loop took a median of
# 0.94<!-- output: effective batch 2048, DDP in a group of one / no DDP, epoch time, median -->
# times its epoch at this batch (its verdict line says whether the rounds agreed). That
# loader fetches the images one by one from a dataset and stacks them; a single process
# that slices whole batches out of one tensor, as lesson 04's `DeviceTensorLoader` does,
# would cut most of that time without a second process (not measured here).
#
# **The prediction against the measurement.** The lines `… section 5 predicted for the
# steps`, `… measured, the rest of the epoch`, `… measured, the whole epoch` and `… the
# prediction's direction matched the whole epoch's` set section 5's prediction beside
# the rounds, in words with the tie band, at both sizes; the last of them says whether
# the steps' timing foresaw the direction of the whole epoch (only its direction: at 64
# images per process a match can hide a prediction of
# 0.43<!-- output: 64 images per process, predicted speed-up of 2 processes --> against
# a measured
# 0.42<!-- output: effective batch 128, speed-up with 2 processes over 1 process, no DDP -->
# for the whole epoch against the plain loop, or any other pair on the same side of the
# band). Where it did not, look at the
# loader's saving above: section 5 did not time the loader, and timed steps alone cannot
# predict an epoch whose loading decides the result. The rest of the epoch holds more
# than the steps that section 5 timed: moving and normalising each batch, the loop's
# Python, and each process's wait inside the all-reduce while its partner is still in
# its loader; this lesson does not time those apart.
#
# An even split of the loading gives a loader speed-up of 2: each process loads half the
# images, at the same cost per image. The lines `loader microseconds per image per
# process` show that cost: one process's loader took
# 13.8<!-- output: effective batch 2048, loader microseconds per image per process, 1 process -->
# µs per image at this batch, each of the 2 processes
# 12.3<!-- output: effective batch 2048, loader microseconds per image per process, 2 processes -->
# µs. Where the two costs are about equal, the loader's speed-up is the even split's;
# where one process pays more per image at batches of 2,048 than each of 2 processes at
# 1,024, the speed-up can pass 2, and where less, fall short of it. Read such a
# difference against the noise: the same loader in two 1-process arms of this launch
# took
# 1.05<!-- output: effective batch 2048, 1 process, no DDP / 1 process x 1 thread, loader time -->
# times the time of the other, and in the batch-128 launch
# 1.30<!-- output: effective batch 128, 1 process, no DDP / 1 process x 1 thread, loader time -->
# times. (The batch-128
# launch's
# 6.5<!-- output: effective batch 128, loader microseconds per image per process, 1 process -->
# µs comes from another launch, at batches of 128: the batch size changes the cost per
# image, and a separate launch meets the machine at another moment.)
#
# Could one process get the same gain by loading in parallel, with a loader worker? At an
# effective batch of 128 that arm's epoch took
# 2.09<!-- output: effective batch 128, 1 process + 1 worker / 1 process x 1 thread, epoch time -->
# times that of one process with 1 thread, and against 2 processes its rounds disagreed
# (its verdict line); at 2,048 it was not run, so this lesson cannot say. That is the habit this
# section shows: predict from timed steps, then time the whole loop and its parts, in
# rounds, against other ways of using the same machine, and see which part decides,
# before you scale out.
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
forked = "course_utils.distributed" in two_processes.command  # see run_torchrun
started = "forked from the launcher" if forked else "started as fresh Pythons"
print(f"section 7's launch: 2 workers {started}, effective batch 128 (2 x 64)")
peak_worker = round(two_processes.peak_worker_rss_mb)
record_result("largest worker, peak resident memory (MB)", peak_worker)
if two_processes.peak_pss_mb > 0:  # proportional memory: reported on Linux only
    both = round(two_processes.peak_pss_mb)
    record_result("launcher + 2 workers, proportional memory (MB)", both)
else:
    print("proportional memory (PSS): not reported on this system")

# %% [markdown]
# On the machine that made these outputs, the launcher and its 2 forked workers held
# 908 MB<!-- output: launcher + 2 workers, proportional memory (MB) --> together,
# while the largest worker alone had
# 604 MB<!-- output: largest worker, peak resident memory (MB) --> of pages in use,
# counting the ones it shares: three processes that each use hundreds of MB add up to far
# less than three times that, because the forked workers share the launcher's copy of
# PyTorch (on Linux; see the note in section 2). A worker on a machine of its own holds a
# whole Python and PyTorch, nearer the resident figure, and on a GPU machine each process
# also holds its own CUDA context on its GPU.
#
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
# `BatchNorm2d` layer and left the others alone. Its forward pass runs on GPUs only: on
# the CPU, the script prints the `ValueError` this PyTorch raises.
#
# **Gradient accumulation: `no_sync`.** To train on a batch too large for memory,
# accumulate gradients over several micro-batches, then step. Under DDP every
# `backward` would all-reduce, once per micro-batch; inside `with model.no_sync():`
# DDP skips it and only adds to `.grad`, and the `backward` of the last micro-batch,
# outside, all-reduces the sum once.

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
# a DDP step on each process's whole shard at once, up to rounding. The script counted
# DDP's all-reduces with a *communication hook* (`register_comm_hook`: a function DDP
# calls for each bucket of gradients, here one that counts the call and then
# all-reduces as DDP does by default): one per accumulated step with `no_sync`, two
# without it, for the same step.
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
# its gradients and its optimizer state fit where a whole copy per process would not.

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
#   2.18<!-- output: 64 images per process, DDP's added time / step without communication -->
#   times the step without communication to every step. Timed in rounds against the
#   same epochs of one process with 1 thread (one launch at each batch, of
#   3<!-- output: effective batch 128, rounds compared --> and
#   3<!-- output: effective batch 2048, rounds compared --> rounds), 2 processes trained
#   at a median of
#   0.50<!-- output: effective batch 128, speed-up with 2 processes over 1 process x 1 thread -->
#   times its speed at an effective batch of 128, and at
#   1.52<!-- output: effective batch 2048, speed-up with 2 processes over 1 process x 1 thread -->
#   times at 2,048 (against the plain loop without DDP:
#   0.42<!-- output: effective batch 128, speed-up with 2 processes over 1 process, no DDP -->
#   and
#   1.75<!-- output: effective batch 2048, speed-up with 2 processes over 1 process, no DDP -->),
#   where the loader saved
#   0.38<!-- output: effective batch 2048, loader, seconds saved per epoch by 2 processes -->
#   s per epoch: most of the gain was in the loading. In this run 2 processes were
#   slower than one process with 1 thread and than the plain loop in every round at 128
#   (against 2 threads the rounds disagreed), and faster than all three in every round
#   at 2,048
#   (section 8's verdict lines; 3 rounds each, a first sign, not a proof). At 1,024
#   images per process section 5's timed steps did not foresee even the direction of the
#   whole epoch (`… the prediction's direction matched the whole epoch's: False`): they
#   left the loader out, and were timed alone on random data, so the rest of the epoch
#   differed from them too (section 8's lines). So predict from timed steps, then time
#   the whole loop and its parts, in rounds, before you scale out. One process with a
#   loader worker was slower than with 1 thread in every round at 128, and was not run at 2,048.
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
# Your rule is the course's: `process_group` picks NCCL whenever CUDA is available, and
# `run_torchrun` refuses to launch when there are fewer GPUs than processes, so that a
# script launched on a GPU machine never trains on its CPU without anyone noticing. The
# notebook's own choice is different on purpose (its `cpu_only`): it knows how many GPUs
# it has, decides before it launches, prints its choice, and with fewer than 2 GPUs
# hides them and runs every launch on the CPU, 1-process ones too, so that the arms it
# compares share a device. The NCCL branch did not run on this machine: it has no CUDA
# GPU. Two more mistakes the check catches give no warning on a machine with one GPU,
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
# 0.50<!-- output: effective batch 128, speed-up with 2 processes over 1 process x 1 thread -->
# times the speed of 1 process with 1 thread on batches of 128 (below 1 means slower).
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
# 2.18<!-- output: 64 images per process, DDP's added time / step without communication -->
# times the step without communication to every step in this run, so the DDP step on 64 images
# took longer than one process's step on all 128: the prediction for the steps was
# 0.43<!-- output: 64 images per process, predicted speed-up of 2 processes -->. Section
# 8 set the whole epoch beside it: the rest of the epoch (the steps with the loop around
# them) had a speed-up of
# 0.34<!-- output: effective batch 128, speed-up of the rest with 2 processes --> with 2
# processes, and the time spent waiting for the loader one of
# 1.03<!-- output: effective batch 128, speed-up of the loader with 2 processes -->. Each
# process computed only its own 64 images of every step: half of each step's images.

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
