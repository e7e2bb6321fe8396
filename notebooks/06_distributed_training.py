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
# Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/course-org/pytorch-from-zero/blob/main/notebooks/06_distributed_training.ipynb)
# [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/course-org/pytorch-from-zero/main?urlpath=lab/tree/notebooks/06_distributed_training.ipynb)
#
# # Lesson 06: Beyond one machine, with data-parallel training under torchrun
#
# Earlier lessons trained on one device. When one GPU is too slow, the usual next
# step is *data parallelism*: a copy of the model per GPU (or CPU core, or machine), each
# on a different part of every batch, their gradients averaged before each step. This
# lesson builds that averaging by hand on 2 CPU processes, then with PyTorch's
# `DistributedDataParallel` (DDP) under the `torchrun` launcher. Numbers in the text are
# the worked run's (2 vCPUs), not yours.
#
# **By the end of this lesson you can**
# - explain rank, world size, local rank, the process group and its backends (gloo on
#   CPUs, NCCL on GPUs);
# - average gradients by hand with `all_reduce` (and copy weights with `broadcast`), and
#   show the step matches one process on the whole batch, and DDP;
# - measure what the communication costs, and whether a second process pays off;
# - shard the data with `DistributedSampler`, and say what goes wrong without
#   `set_epoch`;
# - launch a script with `torchrun --standalone --nproc_per_node=N` from a terminal (the
#   notebook's `run_torchrun` starts torchrun's own launcher and, on Linux CPUs, is
#   written to fork the workers from it), log and checkpoint from rank 0, and make a
#   script ready for GPUs;
# - say what `SyncBatchNorm`, `no_sync` and FSDP are for, and how several machines are
#   launched.

# %% [markdown] tags=["last-verified"]
# > **Last verified** 2026-12-07: PyTorch 2.14.1+cu130 on CPU (AMD EPYC, 2 threads); the
# > whole lesson ran in 78 s with a peak memory of 1402 MB. The course's runner wrote this
# > line from the run that produced the worked lesson's outputs.

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
# Helpers are imported where they are used.
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from course_utils.settings import full_or_smoke, seed_everything, smoke_mode

generator = seed_everything(0)
# os.cpu_count() counts logical CPUs: on a cloud machine, its virtual CPUs (vCPUs).
print(f"PyTorch {torch.__version__}, {os.cpu_count()} logical CPUs (vCPUs)")

# %% [markdown]
# **Settings.** Smoke mode (the test suite's quick run) trains on 2,000 images; the full
# run, on all 50,000 training images. `launch_timeout` stops a stuck launch after that
# many seconds.

# %%
train_size = full_or_smoke(full=50_000, smoke=2_000)
num_epochs = full_or_smoke(full=4, smoke=1)
launch_timeout = 300
print(f"Smoke mode: {smoke_mode()}; training images: {train_size}; epochs: {num_epochs}")

# %% [markdown]
# **Scripts.** Processes that train together are launched from a script file, not a
# notebook cell: this lesson's are in `notebooks/scripts/` (from a terminal: section 7).

# %%
from pathlib import Path

import course_utils

# Found from notebooks/, from student/ (the student version), or from the checkout that
# installed course_utils.
places = [Path("scripts"), Path("../notebooks/scripts")]
places.append(Path(course_utils.__file__).resolve().parents[1] / "notebooks" / "scripts")
scripts = next(place for place in places if place.is_dir())
gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
cpu_only = gpus < 2
# Where the launches run, as the tables below name it: CPUs with gloo, or GPUs with NCCL.
machine = f"{os.cpu_count()} logical CPUs, gloo" if cpu_only else "2 GPUs, NCCL"  # 2 processes
print(f"CUDA GPUs: {gpus}; the 2-process launches run on: {machine}")

# %% [markdown]
# ## 1. The work of a step, split over processes
#
# Data-parallel training splits each batch across N processes; one step's images on all
# of them make the **effective batch** (here 2 processes x 64 images = 128). An epoch on N
# processes has three parts:
# 1. the *steps*: forward, backward and update, each process on its share of the batch;
# 2. the *exchange*: before each update the processes agree on one gradient; each sends
#    one value per parameter and waits for the others;
# 3. the *data loading*: picking and stacking images, moving and normalising each batch.
#
# The model is lesson 03's small MLP. Per step it exchanges:

# %% tags=["nbval-check-output"]
from course_utils.models import MLP

mlp = MLP(28 * 28, [32], 10)
num_parameters = sum(parameter.numel() for parameter in mlp.parameters())
print(f"parameters: {num_parameters:,}")
print(f"gradient bytes each process contributes per step: {num_parameters * 4:,}")

# %% [markdown]
# ## 2. Processes, ranks and the process group
#
# Data parallelism runs one *process* per device: a separate Python program with its own
# copy of the model. Each knows
# - its **rank**: 0 to world size - 1 (rank 0, by convention, prints and saves);
# - the **world size**: how many processes take part;
# - its **local rank**: its number on its own machine, which picks its GPU.
#
# The processes join a **process group** and make *collective* calls: all make the same
# call, whose result is ready once every partner's data has arrived. The group's
# **backend** is **gloo** for CPUs or **NCCL**, NVIDIA's library, for GPU tensors only
# (PyTorch's table of
# backends<!-- source: https://pytorch.org/docs/stable/distributed.html -->).
#
# `torchrun` starts the processes and tells each who it is through environment
# variables: `RANK`, `WORLD_SIZE`, `LOCAL_RANK`, and `MASTER_ADDR` and `MASTER_PORT`,
# where they meet (the **rendezvous**). The notebook calls the course's `run_torchrun`,
# which starts a script as `torchrun` does, except that on Linux it is written to fork its
# CPU workers from a Python that has already imported PyTorch, where `torchrun` starts each afresh
# (Appendix E). It also captures their output and measures memory.
#
# **Devices.** NCCL expects one GPU per process (PyTorch's documentation; not run here);
# with fewer than 2 GPUs the launches run on the CPU with gloo, as section 3's always does
# (`cpu_only=True`).

# %% [markdown]
# ## 3. Collective calls by hand: `all_reduce` and `broadcast`
#
# The first script uses only `torch.distributed`. Each process reads its rank from the
# environment and joins with `init_process_group("gloo")`. Then:
# - `all_reduce(tensor)`: every process gets back, in place, the sum of all the tensors;
#   divided by the world size, the mean;
# - `broadcast(tensor, src=0)`: rank 0's tensor overwrites every other process's.

# %%
from IPython.display import Code

Code(filename=str(scripts / "collectives.py"), language="python")

# %%
from course_utils.distributed import run_torchrun

collectives = run_torchrun(
    scripts / "collectives.py", nproc=2, timeout=launch_timeout, cpu_only=True
)
print(collectives.output)

# %% [markdown]
# The processes' lines may interleave: read them by rank (`dist.barrier()` holds each
# process until all have called it). This MLP's training needs these two:
# `broadcast` once (every copy starts from the same weights), `all_reduce` every step (to
# average the gradients); section 7's script also calls `barrier`.
#
# Later scripts join with the course's `process_group()`, written to pick gloo or NCCL,
# set the device, time out every collective call, and leave the group even after an error
# (`course_utils/distributed.py`; its refusal outside `torchrun`: Appendix B).

# %% [markdown]
# **The data, saved once for every process** (section 5 reads a batch of it, section 7 on
# the whole file). A seeded shuffle
# (`randperm`, seed 42) holds out 10,000 of the 60,000 training images for validation.
# They stay `uint8` pixels, normalised batch by batch, in a file that every process maps
# into memory (`torch.load(..., mmap=True)`).

# %%
import tempfile

from course_utils.data import mnist

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
# ## 4. Gradient averaging by hand
#
# The gradient of a mean loss over a batch is the mean of the gradients over equal parts
# of it. So 2 processes that each take the gradient of half a batch, then average them,
# both hold the whole batch's gradient. You write that average in exercise 1.
#
# **Exercise 1: averaging gradients by hand.** Write the step DDP hides:
# `average_gradients(model)`, which after `backward` replaces every parameter's `.grad`
# with its mean over all the processes, using `dist.all_reduce` and
# `dist.get_world_size()`. The check runs it in a pretend group of 3 threads, each
# holding the gradient of its own third of a batch, then of 4: `simulate_group` stands in
# for `init_process_group`, and the `dist` calls reach the other threads. Threads share
# one Python, so the check runs in the notebook; section 5 runs it in processes.


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
from course_utils.checks.lesson06 import check_exercise
from course_utils.distributed import simulate_group

exercise_1_passed = check_exercise(1, average_gradients=average_gradients)

# %%
# Now compare with one process on the whole batch: first the shards, 3 copies of a model,
# each with the gradient of its third of a batch of 24 images.
images, labels = batch_images[:24], batch_labels[:24]
with torch.random.fork_rng():  # these draws leave the lesson's later random numbers unchanged
    torch.manual_seed(0)
    copies = [MLP(28 * 28, [32], 10) for _ in range(3)]
    whole = MLP(28 * 28, [32], 10)  # one process, the whole batch: weights loaded below
# All three get copy 0's weights (one model, three processes), then each its 8 images.
for rank, copy in enumerate(copies):
    copy.load_state_dict(copies[0].state_dict())
    shard = slice(rank * 8, rank * 8 + 8)
    F.cross_entropy(copy(images[shard]), labels[shard]).backward()
# The three shards' gradients, kept to show what a sum without the division gives.
shard_gradients = [[p.grad.clone() for p in copy.parameters()] for copy in copies]
# Each parameter's 3 shard gradients added (not divided by 3), all in one flat vector.
summed = torch.cat([sum(grads).flatten() for grads in zip(*shard_gradients, strict=True)])

# %%
if exercise_1_passed:  # average in a pretend group of 3, then compare with the whole batch
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
else:
    print("exercise 1 not passed yet: no comparison")

# %% [markdown] tags=["solution"]
# **What the result means.** After `average_gradients`, each of the 3 copies holds the
# gradient of all 24 images, up to float32 rounding: the update one process would make on
# the whole batch. Without the division, the summed gradients would be
# 3.00<!-- output: summed, not divided / whole batch's gradient --> times the whole
# batch's (printed once exercise 1 passes), so plain SGD would take a step 3 times too
# large, as if the learning rate were multiplied by the world size.

# %% [markdown]
# ## 5. In 2 real processes, then DDP
#
# `manual_ddp.py` runs your `average_gradients` in 2 processes and compares the result
# with one process on the whole batch, and with DDP. One data-parallel step:
#
# ```text
# the batch of 64 images, split into one shard per process
#   images 0-31  -> process 0: forward, backward -> its shard's gradient --+
#   images 32-63 -> process 1: forward, backward -> its shard's gradient --+
#                                                                         |
#   all_reduce (every process gets the sum), then divide by N = 2   <-----+
#     -> every process holds the whole batch's gradient (up to rounding)
#     -> the same SGD step in every process: the copies stay equal
# ```
#
# Below, numbered, the script's data-parallel lines (the full script: Appendix B).
# `average_by_hand` stands in if exercise 1 is not done;
# `gradients_on` gives a model's gradients on some images, `weight_spread` the largest gap
# between the processes' copies of any weight, and `rank_print` prints from rank 0,
# unprefixed; lines every rank prints start `[rank N]`.


# %%
from course_utils.distributed import script_excerpt

# The script's own average (5 lines), then from joining the group to DDP's gradients (30);
# script_excerpt numbers each piece's lines; a line ... stands for those left out between.
manual_pieces = [("def average_by_hand", 5), ("with process_group", 30)]
print(script_excerpt(scripts / "manual_ddp.py", *manual_pieces))

# %%
from course_utils.distributed import function_file

# The `[rank N]` lines are printed by the script's last lines (Appendix B shows the whole
# script).
manual_args = [batch_path]
if callable(average_gradients):  # exercise 1's function, in a file the script loads
    # function_file writes the function's code as you typed it, below its imports.
    manual_args.append(function_file(average_gradients, work_folder / "learner_average.py"))
else:
    print("average_gradients is not written yet (exercise 1): the script uses its own loop")
manual = run_torchrun(
    scripts / "manual_ddp.py",
    nproc=2,
    args=manual_args,
    timeout=launch_timeout,
    cpu_only=cpu_only,
)
print(manual.output)

# %% [markdown]
# Each process's own gradient differs from the whole batch's (its `largest gap` against
# the `whole batch's gradient values`), so the match is a real test. Your average matches
# the whole batch's gradient up to float32 rounding (the sums run in another order) and
# DDP's exactly (Appendix B: why).
#
# **What DDP does.** `DistributedDataParallel(model)`:
# 1. on wrapping, broadcasts rank 0's weights, so all processes start equal; the
#    `initial weights` line above gives the gap between them:
#    **3.2e-01 before DDP, 0.0e+00 after wrapping in DDP**
#    <!-- says: initial weights drawn with a seed per rank, largest gap between the processes -->
# 2. averages the gradients inside `backward()` (Appendix B: how);
# 3. leaves every process to take the same optimizer step from the same weights and
#    gradient, so the copies stay equal without sending weights (section 7 checks).

# %% [markdown]
# ## 6. Every process its own shard: `DistributedSampler`
#
# If every process trained on the same batches, N processes would compute the same
# gradient N times. `DistributedSampler` shuffles the indices with one seed shared by
# all processes, so they agree on the order, and gives rank r every N-th index from
# position r. Below, a 10-item dataset's shards for 2 processes over two epochs, and the
# same by hand: a `torch.randperm` seeded with the sampler's seed plus the epoch, then
# every 2nd index from positions 0 and 1:

# %% tags=["nbval-check-output"]
from torch.utils.data import TensorDataset
from torch.utils.data.distributed import DistributedSampler

toy_dataset = TensorDataset(torch.arange(10))
for epoch in (0, 1):
    shards = []
    for rank in (0, 1):
        sampler = DistributedSampler(toy_dataset, num_replicas=2, rank=rank, seed=0)
        sampler.set_epoch(epoch)
        shards.append(list(sampler))
    order = torch.randperm(10, generator=torch.Generator().manual_seed(0 + epoch)).tolist()
    overlap = set(shards[0]) & set(shards[1]) or "none"
    print(f"epoch {epoch}: rank 0 gets {shards[0]}, rank 1 gets {shards[1]}")
    print(f"  overlap: {overlap}; by hand the same: {[order[0::2], order[1::2]] == shards}")
    print(f"  items the 2 shards hold together: {len(set(shards[0]) | set(shards[1]))} of 10")

# %% [markdown]
# In each epoch the shards do not overlap and together hold
# 10<!-- output: items the 2 shards hold together --> of the 10 items;
# `sampler.set_epoch(epoch)` reseeds the shuffle each epoch (exercise 2 shows what happens
# without it). Appendix D shows data that does not divide evenly.

# %% [markdown]
# ## 7. The training script
#
# `train_ddp.py` trains lesson 03's MLP in every process, for `num_epochs` epochs (4; 1 in
# smoke mode). Below, numbered, its lines from the sampler to the end of a step, then two
# pieces of each epoch's end. New against lesson 03's loop:
# - 60-61: the sampler;
# - 62-64: validation, sharded by rank;
# - 68: the DDP wrapper, with `device_ids` under NCCL only (exercise 3 writes that choice);
# - 77: `set_epoch`;
# - 102-111: each shard's validation sums (`totals`), added over the processes by
#   `dist.all_reduce`;
# - 128-131: then rank 0 alone saves `model.module`, the plain model inside DDP.
#
# Lines 79-87 time the epoch and its loading. Defined above the excerpt: `as_input` (uint8
# pixels to normalised floats) and `group` (from `process_group`, with its `device`).

# %%
# The sampler to a step's end (34 lines), validation without gradients: the sums and their
# all-reduce (13), rank 0's save (4).
train_pieces = [("# The sampler hands", 34), ("model.eval()", 13), ("if rank == 0:", 4)]
print(script_excerpt(scripts / "train_ddp.py", *train_pieces))

# %% [markdown]
# **The learning rate.** More processes grow the effective batch, and the usual rule
# would raise the rate with it (not tested here). Here 2 x 64 gives lesson 03's batch
# (128), so its rate (0.2) carries over.
#
# **Launching.** From a terminal, in `notebooks/`:
# `torchrun --standalone --nproc_per_node=2 scripts/train_ddp.py --data … --out …`. Not
# run here: the lesson's launches run `python -m course_utils.distributed` (Appendix E).
# `--standalone` means one machine, meeting on a free local port; `--nproc_per_node` is
# the number of processes (usually of GPUs). Each process gets 1 *intra-op thread*: one
# of the threads PyTorch splits an operation such as a matrix product across.

# %%
import json

two_folder = work_folder / "run_2"  # rank 0 writes the history and the checkpoint here
two_args = ["--data", data_path, "--epochs", num_epochs, "--train-size", train_size]
two_args += ["--out", two_folder, "--batch-size", 64, "--lr", 0.2]
two_processes = run_torchrun(
    scripts / "train_ddp.py",
    nproc=2,
    args=two_args,
    timeout=launch_timeout,
    cpu_only=cpu_only,
    threads_per_process=1,
)
print(two_processes.output)
history = json.loads((two_folder / "history.json").read_text())  # rank 0's, epoch by epoch
print(f"validation accuracy after the first epoch: {history[0]['val_acc']:.4f}")
print(f"validation accuracy after the last epoch: {history[-1]['val_acc']:.4f}")

# %% [markdown]
# In this run, validation accuracy rose from
# 93.01%<!-- output: validation accuracy after the first epoch --> to
# 95.87%<!-- output: validation accuracy after the last epoch -->, and the copies'
# weights ended
# 0.0e+00<!-- output: after training, the largest gap between the processes' weights -->
# apart.

# %% [markdown]
# ## 8. What the communication costs
#
# Two processes each do half the arithmetic, but they add an exchange. `comm_cost.py`
# times single steps (random inputs, a hand-written update) in 2 processes, with *B*
# images per process: 64 (effective batch 128) or 1,024 (effective 2,048). The table
# gives the median time in ms of a step without communication, of the same step under DDP,
# of a bare all-reduce of as many numbers as the model has gradients, timed between the
# steps, and of one process's step on the effective batch (2B images), timed on rank 0
# while rank 1 waited. A step of 2 processes ends only when both have finished, so in the
# first three rows (both processes at work) each repeat counts the slower one's time; the
# last row is rank 0 alone (Appendix C: how it timed, and the full table).

# %%
from course_utils.scaling import read_comm_cost

comm_cost = run_torchrun(
    scripts / "comm_cost.py",
    nproc=2,
    timeout=launch_timeout,
    cpu_only=cpu_only,
    threads_per_process=1,  # as in sections 7 and 9, on any number of CPUs
    sample_memory=False,  # nothing else on the CPUs while it times
)
cost = read_comm_cost(comm_cost.output)  # each rank's lines (Appendix C prints them)
# batch size -> part -> ms: the median over the repeats of each repeat's slower rank's time,
# which both processes wait for; one process's steps ("alone", "double"): rank 0's own, rank 1
# idle (the full table: Appendix C).
ms = cost.together
rows = {
    "step without communication": "step",
    "DDP step": "ddp",
    "bare all-reduce (as many numbers as gradients)": "all_reduce",
    "1 process, step on 2B images (rank 1 idle)": "double",
}
print(f"{machine}, 1 thread per process")
head = "ms, the median over the repeats"
print(f"{head:<48}{'B = 64':>14}{'B = 1,024':>14}")
for label, part in rows.items():
    print(f"{label:<48}{ms[64][part]:>14.3f}{ms[1024][part]:>14.3f}")
for size in (64, 1024):  # the DDP step and the bare all-reduce, each over the plain step
    name = f"{size} images per process"
    with_ddp, exchange = (ms[size][part] / ms[size]["step"] for part in ("ddp", "all_reduce"))
    print(f"{name}, DDP step / step without communication: {with_ddp:.2f}")
    print(f"{name}, bare all-reduce / step without communication: {exchange:.2f}")
    # One process's step on 2B images over its step on B, both on rank 0 with rank 1 idle.
    print(f"{name}, step on 2B / step on B: {ms[size]['double'] / ms[size]['alone']:.2f}")

# %% [markdown]
# The bare all-reduce sends the same 25,450<!-- output: parameters --> numbers at both
# sizes. At 64 images per process it took
# 99%<!-- output: 64 images per process, bare all-reduce / step without communication -->
# of a step without communication; at 1,024, it took
# 20%<!-- output: 1024 images per process, bare all-reduce / step without communication -->.
# A DDP step took
# 3.11<!-- output: 64 images per process, DDP step / step without communication -->
# times as long as the step at 64 images per process. At 1,024 it took
# 1.72<!-- output: 1024 images per process, DDP step / step without communication -->
# times as long (Appendix C splits what DDP adds).
#
# The table's last row is one process training on the effective batch. The `step on 2B /
# step on B` lines set it against that process's step on B, also timed with rank 1 idle
# (Appendix C's full table). Section 9 measures whole epochs.

# %% [markdown]
# ## 9. One process against two
#
# Over whole epochs, `compare_arms.py` trains the MLP in several ways, its *arms*, from
# the same seed on the same shuffles, at effective batches of 128 and 2,048, one launch
# each. The comparison to read is the **lean pair**, whose arms index each batch out of
# the tensors in one go: `lean pair, 1 process` runs 1 process on 1 thread (the
# notebook's own process has 2<!-- output: this notebook's process --> threads:
# Appendix E) while rank 1 waits at a barrier, and `lean pair, 2 processes` runs 2
# processes under DDP, 1 thread each.
# (The **DataLoader pair** loads with section 7's `DataLoader`, which fetches images one
# by one: Appendix A.)
# - **round**: one epoch of each arm, in turn; 6 (2 in smoke mode), the first, a
#   warm-up, dropped;
# - **speed-up**: the 1-process epoch over the 2-process epoch, round by round (above 1,
#   two processes win), and the median of those;
# - **verdict**: a winner only when every round agrees; a round between 1 / 1.1 and 1.1
#   (the course's *tie band*, judged as printed to 2 decimals) is tied;
# - **the rest** (in the figure): an epoch minus its loading: the steps, the exchange
#   and any wait for the other process.

# %%
from course_utils.scaling import SPEED_UP_DIGITS, compare_launches, comparison_names, read_arms

arm_rounds = full_or_smoke(full=6, smoke=2)  # round 1 is a warm-up, left out
big_batch = full_or_smoke(full=1024, smoke=256)  # images per process in the second launch


def launch_arms(name: str, per_process: int):
    """compare_arms.py in 2 processes on all the training images, 1 thread each (it gives
    its 2-thread arm 2 itself); its results go to work_folder / name."""
    args = [
        *["--data", data_path, "--out", work_folder / name, "--rounds", arm_rounds],
        *["--train-size", train_size, "--batch-size", per_process, "--lr", 0.2],
    ]
    options = {"timeout": launch_timeout, "cpu_only": cpu_only, "threads_per_process": 1}
    options["sample_memory"] = False  # the notebook only waits: the arms have the CPUs
    return run_torchrun(scripts / "compare_arms.py", nproc=2, args=args, **options)


arms_128, arms_big = launch_arms("arms_128", 64), launch_arms("arms_big", big_batch)
small, large = 128, 2 * big_batch  # the two effective batches (2,048 in full mode)
arms_figures = read_arms(work_folder / "arms_128")
big_figures = read_arms(work_folder / "arms_big")
launches = {small: arms_figures, large: big_figures}  # effective batch -> figures
# The two pairs' arms, as compare_arms.py names them (its ARMS), and as the tables and the
# figure print them.
PLAIN_ARM, TWO_ARM = "DataLoader pair, 1 process", "DataLoader pair, 2 processes"
SLICED_ARM, TWO_SLICED = "lean pair, 1 process", "lean pair, 2 processes"
names = comparison_names(cpu_only)  # "CPU" or "GPU" in them, as the launches ran
DATALOADER, LEAN = names["dataloader"].name, names["lean"].name
COMPARISONS = {LEAN: (TWO_SLICED, SLICED_ARM), DATALOADER: (TWO_ARM, PLAIN_ARM)}
DIGITS = SPEED_UP_DIGITS  # speed-ups print to 2 decimals, judged as printed: 1.10 a tie
# name -> batch -> rounds, parts, words
results = compare_launches(launches, COMPARISONS, digits=DIGITS)

# %%
# The lean pair: 2 processes' speed-up over 1 in each round, their median, and the rounds'
# verdict, at each effective batch (the DataLoader pair's: Appendix A).
from course_utils.scaling import round_by_round_table

print(f"rounds counted: {len(arms_figures[SLICED_ARM]['epochs'])}")
print(round_by_round_table({LEAN: results[LEAN]}, "2 processes' epoch speed-up over 1"))
for batch, comparison in results[LEAN].items():
    print(f"lean pair at {batch}, the rounds' verdict: {comparison.rounds.verdict}")

# %% [markdown]
# The figure shows the lean pair's two arms at each effective batch (the DataLoader
# pair's: Appendix A's tables): each arm's median epoch, split into its loading (orange)
# and the rest (blue), with a dot for each round's epoch. At 128, look for the shorter bar.
# At 2,048, read the round-by-round ratios above as well: the bars show only each arm's
# median.

# %%
from course_utils.plotting import plot_epoch_parts

arms_where = f"{machine}, 1 thread a process"  # true of both pairs' four arms
lean_arms = [SLICED_ARM, TWO_SLICED]  # the lean pair (the DataLoader pair: Appendix A)
# Each bar named as compare_arms.py names its arm; both panels on one x scale.
plot_epoch_parts(
    {
        f"effective batch {batch:,}, {train_size:,} images an epoch": {
            arm: figures[arm] for arm in lean_arms
        }
        for batch, figures in launches.items()
    },
    arms_where,
    one_scale=True,
)

# %% [markdown]
# **The answer** (CPU, the lean pair, one launch per batch of
# 5<!-- output: rounds counted --> rounds). At an effective batch of 128, 2 processes
# ran at
# 0.31<!-- output: lean pair (1 CPU vs 2) at 128, median of the rounds -->
# times the speed of 1 process on 1 thread (the median of the rounds):
# **slower in every round**<!-- says: lean pair at 128, the rounds' verdict -->.
# At 2,048 the median was
# 1.18<!-- output: lean pair (1 CPU vs 2) at 2048, median of the rounds -->:
# **no clear winner: 4 faster, 1 tied, 0
# slower**<!-- says: lean pair at 2048, the rounds' verdict -->.
# The lean pair is the fairer test
# of splitting the work: its loading takes less time than the DataLoader pair's (the
# `loader` column of Appendix A's arms' tables), so the steps and the exchange weigh most.
# Look in the figure for the part, orange or blue, that makes the gap at 128.

# %% [markdown]
# Did 1 process and 2 under DDP train the same model? `compare_arms.py` compares the
# DataLoader pair's weights; the lean pair's arms take the same batches from the same
# sampler under the same DDP, and differ only in how they gather each batch.

# %%
from course_utils.scaling import read_arms_json, read_weight_gap

for batch, folder in ((128, "arms_128"), (2 * big_batch, "arms_big")):
    gap = read_weight_gap(work_folder / folder)  # compare_arms.py's, after the rounds
    name = f"effective batch {batch}"
    print(f"{name}, largest weight difference, 1 process against 2: {gap:.1e}")
    # For scale: the 1 process's largest weight, in absolute value.
    largest = read_arms_json(work_folder / folder)["largest_weight"]
    print(f"{name}, largest absolute weight, 1 process: {largest:.2f}")

# %% [markdown]
# Yes, to within 3.6e-06
# <!-- output: effective batch 128, largest weight difference, 1 process against 2 -->
# at 128 and 1.0e-06
# <!-- output: effective batch 2048, largest weight difference, 1 process against 2 -->
# at 2,048, against weights up to 0.86
# <!-- output: effective batch 128, largest absolute weight, 1 process -->
# and 0.63
# <!-- output: effective batch 2048, largest absolute weight, 1 process -->.

# %% [markdown]
# ## 10. The checkpoint, tested once
#
# Rank 0 saved the last epoch's weights with `save_checkpoint`; they load into a plain
# `MLP`, without processes or DDP. Scoring the whole validation split in one process
# should count the same right answers as section 7's 2 processes summed; then the test
# set meets the model once.

# %%
from course_utils.checkpoint import load_checkpoint

trained = MLP(28 * 28, [32], 10).eval()
saved = load_checkpoint(two_folder / "checkpoint.pt", trained)  # its epoch and val_acc too
split = torch.load(data_path, mmap=True, weights_only=True)
with torch.no_grad():
    guesses = trained(normalised(split["val_images"])).argmax(dim=1)
whole_count = int((guesses == split["val_labels"]).sum())
shard_count = round(saved["val_acc"] * len(split["val_labels"]))  # the summed counts, back
print(f"right answers on the validation split, one process over all of it: {whole_count:,}")
print(f"right answers, recovered from the saved val_acc: {shard_count:,}")
print(f"the same count: {whole_count == shard_count}")
del split, guesses

# %%
from torch.utils.data import DataLoader

from course_utils import evaluate
from course_utils.report import record_result

test_set = mnist(train=False)
test_images, test_labels = test_set.data.unsqueeze(1), test_set.targets
del test_set
test_loader = DataLoader(TensorDataset(normalised(test_images), test_labels), batch_size=1000)
# evaluate names its accuracy "val_acc" whatever the data: here, the test set's.
record_result("2-process MLP test accuracy", evaluate(trained, test_loader)["val_acc"])

# %% [markdown]
# This one run's test accuracy,
# 96.28%<!-- output: 2-process MLP test accuracy -->, is the figure to quote for this model.

# %% [markdown]
# ## 11. What changes at scale
#
# **GPUs.** With 2 GPUs or more, the same scripts are written to run unchanged (not run
# here): `process_group()` picks NCCL, each process takes GPU `LOCAL_RANK`, and DDP gets
# `device_ids=[device]`.
#
# **Several machines** (not run here): the same command starts on each, with `--nnodes`,
# `--rdzv-backend=c10d`, `--rdzv-endpoint` and `--rdzv-id` in place of `--standalone`
# (Appendix F).
#
# **Batch norm: `SyncBatchNorm`.** Batch norm, a layer (lesson 05; not in this MLP),
# rescales each feature to mean 0 and standard deviation 1 over the batch, then applies a
# learned scale and shift. Under DDP the
# batch is the process's own shard, whose statistics can differ from the whole batch's.
# `SyncBatchNorm` (`nn.SyncBatchNorm.convert_sync_batchnorm` swaps it in) makes each
# process normalise with the whole batch's (PyTorch's
# docs<!-- source: https://pytorch.org/docs/stable/generated/torch.nn.SyncBatchNorm.html -->;
# `batch_norm.py`: Appendix F).
#
# **Gradient accumulation: `no_sync`.** To train on a batch too large for memory,
# accumulate gradients over micro-batches, then step. Inside `with model.no_sync():` DDP
# only adds to `.grad`; the last micro-batch's `backward`, outside it, all-reduces the sum
# once. `no_sync.py` checks this and counts DDP's all-reduces with a *hook*, a function
# DDP calls for each bucket:

# %%
accumulation = run_torchrun(
    scripts / "no_sync.py", nproc=2, args=[batch_path], timeout=launch_timeout, cpu_only=cpu_only
)
print(accumulation.output)

# %% [markdown]
# Inside `no_sync` each process kept its own gradients (`False`); the second `backward`
# all-reduced them (`True`). The hook counted
# 1<!-- output: all-reduces per accumulated step of 2 micro-batches, with no_sync -->
# all-reduce per accumulated step with `no_sync`,
# 2<!-- output: all-reduces per accumulated step of 2 micro-batches, without no_sync -->
# without.
#
# **When the model itself does not fit**, FSDP (Fully Sharded Data Parallel) shards the
# model's parameters and their gradients over the processes, where DDP keeps whole copies
# in each; Appendix F's `fsdp.py` shows both sharded. FSDP is meant to shard the optimizer
# state too (PyTorch's FSDP2
# tutorial<!-- source: https://pytorch.org/tutorials/intermediate/FSDP_tutorial.html -->).

# %% [markdown]
# ## Summary
#
# - Section 1: data parallelism gives each process part of every batch. Each step then
#   exchanges one gradient value per parameter.
# - Section 2: `torchrun` starts the processes, each with a rank and a local rank in a
#   world. They join a process group (gloo on CPUs, NCCL on GPUs).
# - Section 3: `all_reduce` leaves the sum in every process. `broadcast` copies rank 0's
#   tensor to the others.
# - Section 4: summing the shards' gradients and dividing by the world size gives the whole
#   batch's gradient (exercise 1).
# - Section 5: in 2 real processes that average matched one process on the whole batch. It
#   also matched DDP, which averages inside `backward`.
# - Section 6: `DistributedSampler` gives each process its own shard. `set_epoch`
#   reshuffles it every epoch (exercise 2).
# - Section 7: the notebook's `run_torchrun` starts torchrun's own launcher (its
#   rendezvous and environment) and, on Linux CPUs, is written to fork the workers from it;
#   in a terminal, `torchrun --standalone --nproc_per_node=N` launches the script (Appendix
#   E prints the command). Rank 0 alone saves `model.module`; lines that every rank prints start
#   `[rank N]`.
# - Sections 8 and 9, the finding (on this CPU, one launch each): at an effective batch of
#   128, 2 processes trained this MLP at
#   0.31<!-- output: lean pair (1 CPU vs 2) at 128, median of the rounds -->
#   times the speed of 1 process on 1 thread (the lean pair's median over its rounds).
#   There the bare all-reduce alone took
#   99%<!-- output: 64 images per process, bare all-reduce / step without communication -->
#   of a 64-image step without communication.
# - Section 10: the checkpoint loads into a plain `MLP`, which scored
#   96.28%<!-- output: 2-process MLP test accuracy --> on the test set (one run, on the CPU).
# - Section 11 (its GPU and multi-machine parts not run here): on GPUs the same scripts use
#   NCCL and `cuda:LOCAL_RANK`. `SyncBatchNorm` serves batch norm, `no_sync` gradient
#   accumulation, and FSDP models too large for one process.

# %% [markdown]
# ## Exercises
#
# Exercise 1 came in section 4. Each check cell says whether its exercise is not
# attempted yet, not right yet (and what it found), or passed (and what it checked).
#
# **Exercise 2: forgetting `set_epoch`.** Write `rank0_orders(call_set_epoch)`: make one
# `DistributedSampler` over `toy_dataset` for rank 0 of 2 processes (seed 0), and return
# the indices it gives in epochs 0, 1 and 2 (a list of 3 lists), calling
# `sampler.set_epoch(epoch)` before each epoch only when `call_set_epoch` is true. What
# does rank 0 train on, epoch after epoch, when the training loop forgets `set_epoch`?


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
    print(f"without set_epoch, rank 0's indices in epoch 0: {rank0_orders(False)[0]}")

# %% [markdown] tags=["solution"]
# **What the result means.** Without `set_epoch`, the sampler reuses its seed every
# epoch: rank 0 gets the same 5 items in the same order each time, with no error or
# warning. Every epoch repeats epoch 0's split: no image is lost (section 6's epoch 0:
# the 2 shards hold every item), but the batches and their order never change, where
# lesson 03's one-process loop, its `DataLoader` with `shuffle=True`, reshuffled each
# epoch. `set_epoch(epoch)` changes the order every epoch. This lesson does not measure
# what the frozen order costs in accuracy.

# %% [markdown]
# **Exercise 3: ready for GPUs.** Write `choose_backend(cuda_available, gpu_count, rank,
# local_rank, local_world_size)`: `rank` is the process's global rank (`RANK`, numbered
# across all machines), `local_rank` its number on its own machine (`LOCAL_RANK`), and
# `local_world_size` the number of processes on that machine (`torchrun` sets
# `LOCAL_WORLD_SIZE`). It
# returns `(backend, device, device_ids)`:
# - without CUDA: gloo, the CPU and `None`;
# - with a GPU for every process on the machine: NCCL, the right GPU, and a list of that
#   one GPU for DDP;
# - with CUDA but fewer GPUs than processes on the machine: it refuses with a
#   `ValueError` that gives the GPUs and the processes, as the course's `run_torchrun`
#   does, rather than fall back quietly to a slow CPU run. (With fewer than 2 GPUs, this
#   lesson's launches choose the CPU on purpose, with `cpu_only=True`; Appendix E prints
#   each rank's device.)
#
# The check asks about machines with and without GPUs, with enough or too few, and about
# the second machine of a 2-machine launch, where a process has rank 3 but local rank 1.
# Which of the two numbers picks the GPU?


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
# **What the result means.** The function picks a branch for each case below: here,
# without CUDA, gloo on the CPU for both processes (on a CUDA machine, the
# `this machine, rank …` lines show its own branch); with one GPU and 2 processes, a
# refusal. On 2 machines with 2 GPUs each, the second machine's GPUs are also numbered 0
# and 1, so rank 3 takes `cuda:1`, its local rank, and tells DDP `device_ids=[1]`.
# `cuda:RANK` works on the first machine only, so a one-machine test never catches it;
# on the second it would ask for a `cuda:3` that does not exist. These lines are the
# function's choices, not launches.
#
# The check also catches two mistakes that look right with one GPU: plain `"cuda"` puts
# every process on one GPU, which fails or overloads GPU 0 (not run here), and choosing
# per process (NCCL where there is a GPU, gloo where not) could put one group's processes
# on different backends, which cannot exchange tensors (not shown here).

# %% [markdown]
# ## Check your understanding
#
# Five questions on this lesson's ideas. Answer each with one letter in quotes, such as
# `answer_q1 = "b"`, then run its check; a wrong letter says which idea to revisit, and
# where the lesson shows it.

# %% [markdown]
# **Question 1.** Two processes each compute the gradient of the mean loss on their own 32
# images of a 64-image batch, then `all_reduce` it and divide by 2, as in section 5. What
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
# Hint: section 5: the lines `averaged by hand == whole batch` and `largest gap`
answer_q1 = "b"
### END SOLUTION
check_exercise("Q1", answer_q1=answer_q1)

# %% [markdown] tags=["solution"]
# **(b).** Section 5 printed `averaged by hand == whole batch:`
# **True (largest gap 1.5e-08)**<!-- says: [rank 0] averaged by hand == whole batch -->
# (float32 rounding), the same on both ranks, while each rank's own gradient was
# 7.3e-02
# <!-- output: [rank 0] images 0 to 31 of 64; my own gradient vs the whole batch's, largest gap -->
# away. `all_reduce` leaves the sum in every process and the division makes it the mean:
# the gradient one process would compute on all 64 images, so every copy takes the same
# step.

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
# **(c).** Exercise 2's check printed rank 0's indices: without `set_epoch`,
# **[4, 7, 3, 0, 6]**<!-- says: without set_epoch, rank 0's indices in epoch 0 --> three
# times; with it, a new order each epoch. The sampler shuffles
# with its seed plus the epoch number, which stays 0 without `set_epoch`; the shards
# still split the data between the processes (section 6), and nothing warns.

# %% [markdown]
# **Question 3.** In section 9, at an effective batch of 128 (64 images per process), the
# lean pair's 2 processes ran at
# 0.31<!-- output: lean pair (1 CPU vs 2) at 128, median of the rounds --> times
# the speed of 1 process on 1 thread (this run), over whole epochs. Which explanation do
# the lesson's measurements support?
#
# - (a) Under DDP each process computes the gradient of all 128 images of the effective
#   batch.
# - (b) gloo is slow: NCCL would make the same CPU processes faster.
# - (c) 2 processes go through twice as many images per epoch as one.
# - (d) At this batch size, what DDP adds to each step (the all-reduce, and the
#   bookkeeping and waiting around it) costs more than halving the arithmetic saves.

# %% tags=["nbval-check-output"]
### BEGIN SOLUTION
# Hint: section 8's table and lines at B = 64, then section 9's speed-up at 128
answer_q3 = "d"
### END SOLUTION
check_exercise("Q3", answer_q3=answer_q3)

# %% [markdown] tags=["solution"]
# **(d).** Section 8's lines at B = 64: one process's step on 128 images took
# 1.15<!-- output: 64 images per process, step on 2B / step on B --> times its step on
# 64, about the same time (halving the images saves almost nothing at this size), while a
# DDP step took
# 3.11<!-- output: 64 images per process, DDP step / step without communication -->
# times as long as a plain step (without communication); the bare all-reduce alone took
# 99%<!-- output: 64 images per process, bare all-reduce / step without communication -->
# of that plain step. Over whole epochs of the real loop, loading included, section 9
# measured
# 0.31<!-- output: lean pair (1 CPU vs 2) at 128, median of the rounds -->
# against 1 process on 1 thread (the median of the rounds).
# (a) is wrong: each process computed only its own 64 images of every step; so is (c): the
# shards split each epoch's images between the processes. (b) cannot be: NCCL carries
# only GPU tensors (section 2), so it cannot run these CPU processes.

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
# Hint: section 11 on SyncBatchNorm; Appendix F measures the shard means
answer_q4 = "a"
### END SOLUTION
check_exercise("Q4", answer_q4=answer_q4)

# %% [markdown] tags=["solution"]
# **(a).** As section 11 says, plain `BatchNorm` normalises with its own shard's
# statistics, while with `SyncBatchNorm` each process normalises with the whole batch's,
# computed across the processes (its docs; refused on the CPU here: Appendix F).
# Appendix F prints each shard's mean beside the whole batch's. DDP already averages every
# parameter's gradient, batch norm's weight and bias
# included<!-- source: https://pytorch.org/docs/stable/notes/ddp.html -->.

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
# Hint: section 11, gradient accumulation: the lines after each micro-batch
answer_q5 = "b"
### END SOLUTION
check_exercise("Q5", answer_q5=answer_q5)

# %% [markdown] tags=["solution"]
# **(b).** Section 11 printed that after the first micro-batch, inside `no_sync`, the
# processes' gradients differed (nothing was sent); after the last they were equal, and
# `accumulated == one DDP step on the whole shard:` printed
# **True (largest gap 1.5e-08)**<!-- says: accumulated == one DDP step on the whole shard -->;
# the hook counted
# 1<!-- output: all-reduces per accumulated step of 2 micro-batches, with no_sync -->
# all-reduce per accumulated step with `no_sync`,
# 2<!-- output: all-reduces per accumulated step of 2 micro-batches, without no_sync -->
# without.

# %% [markdown]
# ## Appendix A: how section 9's epochs are judged, and where they went
#
# This appendix extends section 9: the arms' tables, the DataLoader pair, the verdict by
# hand, the by-part rule, the same-CPU test, the script, how it keeps the arms alike, the
# verdict rule, the by-part lines at 128, where each arm's epoch went (the loading's two
# parts), the arms' accuracy, and loading lean and a second thread, each against the
# DataLoader pair's 1 process.
#
# **The arms' tables.** Each arm's medians over the counted rounds, at each effective
# batch: its epoch, the range of its rounds' epochs, its `loader` (getting the batches
# ready) and `the rest` (the epoch minus its loading), and its validation accuracy. At
# 2,048 the learning rate stays 0.2, untuned: its accuracy is not a finding.

# %%
from course_utils.scaling import arms_table

pair_arms = [SLICED_ARM, TWO_SLICED, PLAIN_ARM, TWO_ARM]  # lean pair, DataLoader pair
for batch, figures in launches.items():
    title = f"effective batch {batch}, seconds per epoch on {arms_where}"
    print(arms_table({arm: figures[arm] for arm in pair_arms}, title))

# %% [markdown]
# **The DataLoader pair.** Its arms load with section 7's `DataLoader`, which fetches the
# images one by one and stacks them. Below, its speed-ups round by round and its verdicts,
# then each pair at 2,048 *by part*: the loading's and the rest's speed-ups, then both
# in words ("within the rounds' spread": too close to call; the rule comes below).

# %%
from course_utils.scaling import take_away_lines


def by_part(name: str, parts: dict, words: dict, who: str, over: str) -> None:
    """Print an arm's speed-up over its baseline in each part of the epoch (`parts`, from
    part_speed_ups), then both in words (`words`, from part_words; `who`: the arm's
    processes, `over`: the baseline's)."""
    print(f"{name}, loader, {who}' speed-up over {over}: {parts['loader']:.2f}")
    print(f"{name}, the rest, {who}' speed-up over {over}: {parts['rest']:.2f}")
    loading, rest = words["loader"], words["rest"]
    print(f"{name}, {who} against 1, by part: the loading {loading}, the rest {rest}")


title = "the DataLoader pair, 2 processes' epoch speed-up over 1"
print(round_by_round_table({DATALOADER: results[DATALOADER]}, title))
print("\n".join(take_away_lines(results, [names["dataloader"]])))
for pair, who, over in (
    (LEAN, "2 lean processes", "1 lean process"),
    (DATALOADER, "2 processes", "the baseline"),
):
    _, parts, words = results[pair][large]
    by_part(f"effective batch {large}", parts, words, who, over)

# %% [markdown]
# The DataLoader pair's 2 processes ran at
# 0.38<!-- output: DataLoader pair (1 CPU vs 2) at 128, median of the rounds -->
# times the speed of its 1 process at 128 (the median of the rounds), and at
# 1.71<!-- output: DataLoader pair (1 CPU vs 2) at 2048, median of the rounds -->
# times at 2,048; its take-away lines say whether the rounds agree. At 2,048 its loading
# ran
# 3.03<!-- output: effective batch 2048, loader, 2 processes' speed-up over the baseline -->
# times as fast with 2 processes, and its rest
# 0.69<!-- output: effective batch 2048, the rest, 2 processes' speed-up over the baseline -->
# times; the `by part` line says which of the two the rounds' spread can tell apart. One
# slow or fast round widens an arm's range (each part's range: the table below), and with
# it what counts as within the spread.
#
# **The verdict by hand.** The DataLoader pair at 2,048: each round's speed-up, their
# median, and the rounds faster, tied (within the tie band, `TIE` = 0.1) or slower, each
# judged as printed (`DIGITS`, 2 decimals), so a round printed 1.10 counts as tied.

# %%
import statistics

from course_utils.rounds import TIE, speed_up_in_words

plain_epochs, two_epochs = big_figures[PLAIN_ARM]["epochs"], big_figures[TWO_ARM]["epochs"]
by_hand = [plain / two for plain, two in zip(plain_epochs, two_epochs, strict=True)]
print("2 processes' speed-up in each round, by hand:", " ".join(f"{r:.2f}" for r in by_hand))
# As printed: each round and the band's two edges rounded to DIGITS decimals.
shown = [round(r, DIGITS) for r in by_hand]
top, bottom = round(1 + TIE, DIGITS), round(1 / (1 + TIE), DIGITS)  # 1.1 and 0.91
hand_counts = (
    sum(r > top for r in shown),  # faster
    sum(bottom <= r <= top for r in shown),  # tied
    sum(r < bottom for r in shown),  # slower
)
print(
    f"by hand, median {statistics.median(by_hand):.2f}, rounds faster/tied/slower "
    + "/".join(str(count) for count in hand_counts)
)

# %% [markdown]
# Section 9's `compare_launches` does the same for every comparison, batch and part; check
# it against the hand count:

# %%
dataloader_large = results[DATALOADER][large].rounds
same = dataloader_large.speed_ups == tuple(by_hand)
counted = (dataloader_large.faster, dataloader_large.tied, dataloader_large.slower)
print(
    f"the hand count, the same as compare_launches' at {large}: {same and counted == hand_counts}"
)

# %% [markdown]
# Each part's range. A part counts as unchanged ("within the rounds' spread") when the two
# arms' medians differ by less than the larger of their round-to-round ranges; otherwise
# the tie band judges its speed-up.

# %%
# The DataLoader pair at 2 x big_batch, part by part: each arm's median seconds and their
# range over the rounds (slowest minus fastest), 2 processes' speed-up, and part_words'
# words for it, by the rule above.
pair_at_large = results[DATALOADER][large]  # its rounds, parts' speed-ups and words
print(f"DataLoader pair at {large}, seconds an epoch: median (range over the rounds)")
print(f"{'part':<8} | {PLAIN_ARM:>26} | {TWO_ARM:>28} | speed-up | in words")
for part, each_round, row in (("loader", "loads", "loader"), ("rest", "rests", "the rest")):
    cells = []
    for arm in (PLAIN_ARM, TWO_ARM):
        seconds = big_figures[arm][each_round]  # each counted round's
        cells.append(f"{big_figures[arm][part]:.2f} ({max(seconds) - min(seconds):.2f})")
    speed_up, words = pair_at_large.parts[part], pair_at_large.words[part]
    print(f"{row:<8} | {cells[0]:>26} | {cells[1]:>28} | {speed_up:8.2f} | {words}")

# %% [markdown]
# **The same-CPU test** sets `DataLoader pair, 2 processes` against
# `DataLoader, 2 threads`. Is one `torchrun` launch of 2 processes better than
# one `python` process using both CPUs as 2 threads (its loader in the main process,
# `num_workers=0`)? The first arm is in this appendix's first tables; the second in the
# tables below.
#
# **The lean pair**: `lean pair, 2 processes` against `lean pair, 1 process`, like
# the DataLoader pair's arms but with each batch indexed out of one tensor of all the
# images in one go, instead of a `DataLoader` fetching the images one by one and stacking
# them (its speed-ups and verdicts: section 9). Below, at each batch,
# `DataLoader, 2 threads`; the same-CPU test's speed-ups and take-aways, then round by
# round:

# %%
from course_utils.scaling import speed_up_table

PLAIN_2 = "DataLoader, 2 threads"  # one process, no DDP, on both logical CPUs
SAME = names["same"].name  # section 9's comparison_names
more = {SAME: (TWO_ARM, PLAIN_2)}  # arm, baseline
results |= compare_launches(launches, more, digits=DIGITS)  # beside section 9's two pairs
appendix_arms = [PLAIN_2]  # the same-CPU baseline (the two pairs' arms: above)
for batch, figures in launches.items():
    title = f"effective batch {batch}, Appendix A's arms, seconds per epoch on {machine}"
    print(arms_table({arm: figures[arm] for arm in appendix_arms}, title))
title = "the same-CPU test, epoch speed-up, median (faster/tied/slower)"
print(speed_up_table({SAME: results[SAME]}, title))
print("\n".join(take_away_lines(results, [names["same"]])))  # the two pairs': above
# The same-CPU test, round by round (the lean pair's: section 9; the DataLoader pair's: above).
print(round_by_round_table({SAME: results[SAME]}, "the same-CPU test's speed-up, round by round"))

# %% [markdown]
# **The same-CPU test**, a practical question rather than one cause: at 128, **slower in every round
# (median 0.41)**<!-- says: take-away at 128, practical question, 2 processes vs 1 on 2 threads -->;
# at 2,048, **no clear winner: 4 faster, 1 tied, 0 slower (median
# 1.65)**<!-- says: take-away at 2048, practical question, 2 processes vs 1 on 2 threads -->.
# Not tried: a `num_workers=1` loader worker, which uses the second CPU without DDP.
#
# **The lean pair**, a second process with both loading lean: its verdicts are section 9's.
#
# **The script.** `compare_arms.py` trains every arm one epoch a round, in turn, and
# writes each arm's epoch seconds, loading seconds (with the part spent fetching) and
# validation accuracy to a file that `read_arms` reads:

# %%
Code(filename=str(scripts / "compare_arms.py"), language="python")

# %% [markdown]
# **Keeping the arms alike.** In `compare_arms.py`'s `main()`, each arm has its own
# `DistributedSampler` (a 1-process arm's has `num_replicas=1, rank=0`); one process
# takes batches of `64 x 2` images, each of two processes 64 (in the 128 launch; in the
# other, 1,024 per process); every model starts from `torch.manual_seed(0)`; and `turn`,
# each round's order, comes from a generator seeded with the round's number, so both
# ranks meet at the same arm (in a 1-process arm, rank 1 waits at `dist.barrier()`). The
# rounds take turns so that a slow spell lasting a round slows every arm, in a new order
# each round so that no arm always runs first.
#
# **The verdict rule.** It uses the tie band: a speed-up between 1 / 1.1 and 1.1 is a tie
# (`TIE`, 0.1, in `course_utils.rounds`), each speed-up judged as printed (`DIGITS`, 2
# decimals: 1.10 is a tie, 1.11 is not). The band is a convention, not a measured noise
# level: one run's small differences name no winner. One tied round (a
# slow or fast moment in either arm) withholds a verdict, even beside a large median. Suppose each
# round
# were a fair coin flip, faster or slower, between two equally fast arms. Then all of
# 5<!-- output: rounds counted --> rounds would agree in 2 of the 2^5 = 32 equally likely
# outcomes (all faster, or all slower): a chance of 1 in 16. Ties, which this coin
# leaves out, only make agreement rarer. The rounds of one launch share one machine's
# state, so they are less independent than coin flips: read this as a rough guide.
#
# **Section 9's speed-ups, line by line.** `arm_speed_ups` (in `course_utils.scaling`)
# divides the baseline's epoch by the arm's, round by round, and counts each round as
# faster, tied or slower; `part_speed_ups` divides the baseline's median seconds in each
# part by the arm's. Each median is taken on its own, so the two parts need not add up to
# the `epoch` column. Section 9's blue bars are likewise the median epoch minus the median
# loader, so a bar's blue part can differ slightly from the tables' `the rest`. The next
# cell defines `compare` (used below), then prints the `by_part` lines for the DataLoader
# pair at 128 (printed above at 2,048): each part's speed-up, and both parts in words (the
# `by part` line, from
# `part_words`). The rule, for each part on its own:
# "within the rounds' spread" when the two arms' medians of that part differ by less than
# the larger of the two arms' ranges of that part over the counted rounds (an arm's
# slowest round minus its fastest, in that part alone: not the epoch's `range of rounds`
# in the arms tables), otherwise the baseline's median over the arm's against the tie
# band, as printed: "faster" above 1.1, "slower" below 1 / 1.1, "a tie" between.


# %%
from course_utils.rounds import RoundCount
from course_utils.scaling import arm_speed_ups


def compare(name: str, figures: dict, arm: str, baseline: str) -> RoundCount:
    """Print the arm's median speed-up over the baseline and its rounds faster, tied and
    slower (course_utils.scaling, with the tie band); return the count."""
    rounds = arm_speed_ups(figures, arm, baseline, digits=DIGITS)  # judged as printed
    counts = f"{rounds.faster}/{rounds.tied}/{rounds.slower}"
    line = f"{name}, {arm} over {baseline}: {rounds.median:.2f}"
    print(f"{line} (rounds faster/tied/slower {counts})")
    return rounds


# The DataLoader pair at 128, by part (its epoch speed-up: its lines above).
_, parts, words = results[DATALOADER][small]
by_part(f"effective batch {small}", parts, words, "2 processes", "the baseline")


# %% [markdown]
# By part, at 128, 2 processes' loading ran at
# 1.41<!-- output: effective batch 128, loader, 2 processes' speed-up over the baseline -->
# times the speed of the DataLoader pair's 1 process, and their rest at
# 0.21<!-- output: effective batch 128, the rest, 2 processes' speed-up over the baseline -->
# times (below 1: slower): **the loading faster, the rest
# slower**<!-- says: effective batch 128, 2 processes against 1, by part -->.
# The
# words come from two rules, each from one launch: "within the rounds' spread" where the
# gap between the medians is smaller than the rounds' range (the larger arm's, wide when
# one round is slow); otherwise the tie band judges it ("faster", "slower" or "a tie").
#
# **More from the two launches.** For each: the loading's two parts per image in each
# process, *fetching* (the loader picking and stacking a batch, `next(batches)`) and
# *normalising* (moving the batch to the device and normalising it, `as_input`), with 2
# processes' cost per image against the DataLoader pair's 1 process's, in words. Then
# the arms' validation accuracies, and the lesson's headline figures.


# %%
def loading_parts(figures: dict, arm: str) -> dict[str, float]:
    """The arm's median seconds an epoch fetching batches, and moving and normalising them
    (in each process: for 2 processes, the mean of the two), over the rounds that read_arms
    counts, from one launch's read_arms figures."""
    loads, fetches = figures[arm]["loads"], figures[arm]["fetches"]
    return {
        "fetching": statistics.median(fetches),
        "normalising": statistics.median(
            load - fetch for load, fetch in zip(loads, fetches, strict=True)
        ),
    }


def where_the_epoch_went(batch: int, figures: dict) -> None:
    """One launch of section 9, at one effective batch: each process's loading per image in
    two parts, and 2 processes' against the baseline's in words."""
    name = f"effective batch {batch}"
    per_image = {}
    for arm, processes in ((PLAIN_ARM, 1), (TWO_ARM, 2)):  # each process loads its share
        seconds = loading_parts(figures, arm)
        per_image[arm] = {part: 1e6 * s * processes / train_size for part, s in seconds.items()}
        for part, microseconds in per_image[arm].items():
            print(f"{name}, {arm}, {part} per image: {microseconds:.1f} microseconds")
    for part in ("fetching", "normalising"):
        speed_up = per_image[PLAIN_ARM][part] / per_image[TWO_ARM][part]  # cost per image
        words = speed_up_in_words(speed_up, width=False)
        print(f"{name}, {part} per image, 2 processes against 1: {words}")


where_the_epoch_went(128, arms_figures)
where_the_epoch_went(2 * big_batch, big_figures)
accuracies = [figures["val_acc"] for figures in arms_figures.values()]  # all five arms
gap = 100 * (max(accuracies) - min(accuracies))
same_accuracy = "identical" if gap == 0 else f"up to {gap:.2f} points apart"
print(f"effective batch 128, all five arms' validation accuracies: {same_accuracy}")
# The headline: the lean pair's (section 9's fairest test), at 128.
lean_128 = results[LEAN][small].rounds.median
record_result("2 processes over 1 process, both loading lean, batch 128", round(lean_128, 2))
record_result("1 DataLoader process, validation accuracy", arms_figures[PLAIN_ARM]["val_acc"])
record_result("2 processes, validation accuracy", arms_figures[TWO_ARM]["val_acc"])

# %% [markdown]
# **The loading's two parts.** With the same cost per image, 2 processes would halve the
# loading, and the `loader` speed-ups (the by-part lines near this appendix's start at
# 2,048, the lines above at 128) would be 2. The
# `… per image, 2 processes against 1` lines compare, in words, each part's cost per
# image in each of 2 processes with one process's (faster: cheaper). Fetching and
# stacking, at 128:
# **slower**<!-- says: effective batch 128, fetching per image, 2 processes against 1 -->
# and at 2,048:
# **faster**<!-- says: effective batch 2048, fetching per image, 2 processes against 1 -->;
# moving and normalising, at 128:
# **slower**<!-- says: effective batch 128, normalising per image, 2 processes against 1 -->
# and at 2,048:
# **faster**<!-- says: effective batch 2048, normalising per image, 2 processes against 1 -->.
# Where these words name a direction, the loading's cost per image changed with the
# number of processes in these two launches (one each), in ways this lesson does not time.
#
# One process fetched an image in
# 3.7<!-- output: effective batch 128, DataLoader pair, 1 process, fetching per image -->
# microseconds at 128 and
# 6.3<!-- output: effective batch 2048, DataLoader pair, 1 process, fetching per image -->
# at 2,048; each of 2 processes fetched one in
# 5.1<!-- output: effective batch 128, DataLoader pair, 2 processes, fetching per image -->
# at 128 (64 images each) and
# 3.9<!-- output: effective batch 2048, DataLoader pair, 2 processes, fetching per image -->
# at 2,048 (1,024 each). One process's own cost can move between launches: read these
# words as rough.
#
# **Accuracy.** All five arms trained from the same weights on the same batches (halved
# for 2 processes); in this one run their validation accuracies at 128 were
# **identical**<!-- says: effective batch 128, all five arms' validation accuracies -->
# (96.3%<!-- output: 1 DataLoader process, validation accuracy --> for the DataLoader
# pair's 1 process,
# 96.3%<!-- output: 2 processes, validation accuracy --> for 2 processes). These arms
# measure time, one epoch a round: do not compare their accuracy with section 7's run.
# Nor are the two launches' `val accuracy` columns (the last column of this appendix's
# first tables) a test of the linear scaling rule (Appendix E): the 2,048 launch differs in the
# batch (16 times larger), with the learning rate
# not raised as the rule would raise it; and each launch ran once.

# %% [markdown]
# **All five arms.** The first two lines give, per launch, how long rank 1 waited
# at a barrier while rank 0 trained a 1-process arm, and the CPU seconds rank 1 used
# meanwhile (its own: the lines do not show rank 0's). Then, for each launch (its arms:
# the tables above), these comparisons (the second at 128 only), each the first arm's
# speed-up over the second:
# 1. loading lean: one lean process over the DataLoader pair's 1 process, then its verdict;
# 2. the lean pair at 128 by part (its epochs: section 9; 2,048 by part: above);
# 3. a second thread: `DataLoader, 2 threads` over the DataLoader pair's 1 process, what
#    a script run with `python` gets here, then its median and its rounds in words.


# %%
import psutil


def report_arms(batch: int, figures: dict) -> None:
    """Print three comparisons at one effective batch: loading lean with its verdict, the
    lean pair by part (at the smaller batch only: the larger is printed above), and a
    second thread with its median and rounds in words."""
    name = f"effective batch {batch}"
    one_lean = compare(name, figures, SLICED_ARM, PLAIN_ARM)  # 1. loading lean
    verdict = f"{name}, one lean process over 1 DataLoader process, verdict"
    print(f"{verdict}: {one_lean.verdict}")
    if batch == small:  # 2. the lean pair, by part
        _, lean_parts, lean_words = results[LEAN][batch]  # counted in section 9
        by_part(name, lean_parts, lean_words, "2 lean processes", "1 lean process")
    thread = compare(name, figures, PLAIN_2, PLAIN_ARM)  # 3. a second thread
    median = speed_up_in_words(thread.median, width=False, digits=DIGITS)  # as printed
    print(f"{name}, a second thread, the median, then the rounds: {median}, then {thread.verdict}")


for launch in (arms_128, arms_big):
    print(*(line for line in launch.output.splitlines() if "waiting at the barrier" in line))
print()
report_arms(128, arms_figures)
print()
report_arms(2 * big_batch, big_figures)
record_result(
    "2 processes over 1 process, DataLoader pair, batch 128",
    round(results[DATALOADER][small].rounds.median, 2),
)
# psutil counts the physical cores (a core can run two logical CPUs, hyper-threading); it
# says None where the system does not tell.
print(f"physical cores: {psutil.cpu_count(logical=False) or 'not reported here'}")

# %% [markdown]
# **Rank 1 at the barrier** (the first two lines). Where its CPU seconds are a small part
# of its wait, rank 1 barely used a CPU while rank 0 trained alone, so rank 0 had the
# CPUs as one process would.
#
# **Loading lean** (compare the `loader` column of this appendix's first tables, the lean
# arms against the DataLoader's). At 128, one lean process ran at
# 1.39<!-- output: effective batch 128, lean pair, 1 process over DataLoader pair, 1 process -->
# times the speed of the DataLoader pair's 1 process (verdict: **faster in every
# round**<!-- says: effective batch 128, one lean process over 1 DataLoader process, verdict -->),
# and the lean pair's rest (2 processes over 1) at
# 0.21<!-- output: effective batch 128, the rest, 2 lean processes' speed-up over 1 lean process -->
# times: what a second process does at this batch, in this run. At
# 2,048, one lean process ran at
# 2.11<!-- output: effective batch 2048, lean pair, 1 process over DataLoader pair, 1 process -->
# times the speed of the DataLoader pair's 1 process (verdict: **faster in every
# round**<!-- says: effective batch 2048, one lean process over 1 DataLoader process, verdict -->);
# the lean pair's at 2,048: section 9, and its by-part lines near this appendix's start.
#
# **A second thread** ran at
# 0.95<!-- output: effective batch 128, DataLoader, 2 threads over DataLoader pair, 1 process -->
# and
# 1.06<!-- output: effective batch 2048, DataLoader, 2 threads over DataLoader pair, 1 process -->
# times the speed of the DataLoader pair's 1 process on 1 thread (medians). Each median
# against the tie band, then the rounds' verdict: at 128,
# **a tie, then no clear winner: 0 faster, 3 tied, 2
# slower**<!-- says: effective batch 128, a second thread, the median, then the rounds -->;
# at 2,048,
# **a tie, then no clear winner: 1 faster, 3 tied, 1
# slower**<!-- says: effective batch 2048, a second thread, the median, then the rounds -->.
# psutil reported
# 2<!-- output: physical cores --> physical cores (the cell's last line) behind the 2
# logical CPUs. A cloud host may share one core between the two logical CPUs; this lesson
# cannot check that.

# %% [markdown]
# ## Appendix B: the process group and DDP in detail
#
# This appendix extends sections 3 to 5.
#
# **Joining the group.** Section 3's script uses gloo on any machine (in a Mac terminal,
# if gloo cannot connect, start the command with
# `GLOO_SOCKET_IFNAME=lo0`<!-- source: https://pytorch.org/docs/stable/distributed.html -->;
# `run_torchrun` is written to set it on a Mac, not run here). The course's
# `process_group()`, which the later scripts join with, refuses outside `torchrun`, as
# here, and says what to do:

# %% tags=["nbval-check-output"]
from course_utils.distributed import process_group

try:
    with process_group():
        pass
except RuntimeError as error:
    print(error)

# %% [markdown]
# **Why your average equals DDP's exactly** (section 5). DDP halves each gradient before
# summing<!-- source: PyTorch's c10d/reducer.cpp, copy_grad_to_bucket -->, you after.
# With 2 processes the order does not matter, since halving is exact in floating point.
#
# **Why section 5's two gaps are equal.** With two halves, the whole batch's gradient
# lies halfway between the halves' gradients, so each process's `largest gap` from it is
# the same.
#
# **Buckets and buffers** (section 5's list of what DDP does). In `backward`, DDP divides
# the gradients by the world size and all-reduces them in *buckets*: by PyTorch's DDP
# documentation<!-- source: PyTorch docs, DistributedDataParallel -->, each bucket's
# all-reduce starts once it is filled, overlapping with the rest of `backward`; copying
# the gradients into the buckets and back is its *bookkeeping*. A bucket holds up to
# `bucket_cap_mb`, 25 MiB by
# default<!-- source: https://pytorch.org/docs/stable/notes/ddp.html --> (DDP keeps its
# first bucket smaller, 1
# MiB<!-- source: https://github.com/pytorch/pytorch/blob/main/torch/nn/parallel/distributed.py -->:
# `_DEFAULT_FIRST_BUCKET_BYTES`); either way this
# model's 101,800<!-- output: gradient bytes each process contributes per step --> bytes of
# gradients fit in one, so its one all-reduce is expected to start only once `backward` has computed
# them all (section 11's hook counts one all-reduce per `backward`). *Buffers*, such as batch
# norm's running statistics, are sent from rank 0 at each forward pass by default
# (`broadcast_buffers=True`); this MLP has none.
#
# **Section 5's script**, `manual_ddp.py`, in full:

# %%
Code(filename=str(scripts / "manual_ddp.py"), language="python")

# %% [markdown]
# ## Appendix C: how section 8 timed the steps
#
# This appendix extends section 8: how it timed, its caveats, its full table, the ratio
# lines (DDP's added time over the DDP step, the step from 64 to 1,024 images), what
# halving saves, the prediction of two processes' speed from the steps (by the pair's
# figure and by each rank's own), section 9's rests beside it, the two B steps, and DDP's
# added time from 64 to 1,024 images, by the pair's figure and by each rank's own.
#
# **One thread per process.** A *thread* here is one of the *intra-op* threads PyTorch
# splits a single operation, such as a matrix product, across. Every launched process
# starts with 1, so that 2 processes do not run 2 threads each and compete for the 2
# CPUs (Appendix E says more); section 9's one-process arms set their own.
#
# **Rounds and barriers.** `median_seconds` runs every work once per round, in turn, so
# a busy moment slows all alike, and takes the median of 120 rounds after 20 warm-up
# ones. Each timing starts after `dist.barrier()`, so the processes start together (a DDP
# step can still wait at its all-reduce), and ends after `synchronize(device)`, which
# waits until the device has finished the work queued on it (a GPU runs work after Python
# queues it; on a CPU, which runs it at once, it does nothing).
#
# **The slower rank, repeat by repeat.** A step of the pair ends only when both ranks
# have finished, so the time the pair waits for, in one repeat, is the larger of the two
# ranks' times. Once every clock has stopped, `median_seconds` all-reduces each repeat's
# times with `op=dist.ReduceOp.MAX`, and takes the median of those larger times.
# Every row of the full table below but the last two (section 8's rows but its last) is
# such a median, or a difference of two of them: one figure the pair measured, not one
# rank's step beside the other rank's. The last two, the B and 2B steps of one process
# (the prediction uses the 2B step), are rank 0's own medians, timed while rank 1
# waited at a barrier.
#
# **Caveats.** Rank 1 idles while rank 0 times one process's B and 2B steps, so those
# steps have the CPUs to themselves, as one process would, while DDP's added time was
# measured with both ranks busy. And `comm_cost.py`'s step (random inputs, a hand-written
# update) is not section 9's. The prediction below rests on both, so read it as rough.
#
# **The script and its lines.** `comm_cost.py` times six works in turn: the step, the
# DDP step, the bare all-reduce, one process's B and 2B steps, and the DDP step inside
# `with ddp.no_sync():`, where DDP prepares no reduction
# and sends nothing (section 11 uses `no_sync` for gradient accumulation). Rank 0 first
# prints the world size, so that `read_comm_cost` can check every rank's lines came back.
# Each rank prints its own medians; rank 0 then prints the pair's, each repeat the slower
# rank's time, which `read_comm_cost` reads into the table:

# %%
Code(filename=str(scripts / "comm_cost.py"), language="python")

# %%
from course_utils.scaling import comm_cost_table

print(comm_cost_table(cost, f"{machine}, 1 thread per process"))  # section 8's, in full
print(comm_cost.output)
# Both steps on rank 0 alone, rank 1 idle: what one process saves on half the images.
halving_saves = {size: ms[size]["double"] - ms[size]["alone"] for size in (64, 1024)}
for size in (64, 1024):  # DDP's added time, ratios of the table's rows, the bare all-reduce
    name = f"{size} images per process"
    print(f"{name}, ms DDP adds to a step: {ms[size]['added']:.3f}")
    print(f"{name}, DDP's added time / DDP step: {ms[size]['added'] / ms[size]['ddp']:.2f}")
    print(f"{name}, ms a step saves on half the images: {halving_saves[size]:.3f}")
    print(f"{name}, ms of the bare all-reduce: {ms[size]['all_reduce']:.3f}")
# (DDP's added time, 1,024 over 64: at the end of this appendix, beside each rank's own.)
print(f"step without communication, 1,024 over 64: {ms[1024]['step'] / ms[64]['step']:.2f}")
# DDP's added time split: its wrapper, and the reduction with its waits.
for size in (64, 1024):
    wrapper, reduction = ms[size]["wrapper"], ms[size]["reduction"]
    print(f"{size} images per process, ms of DDP's wrapper (no_sync - step): {wrapper:.3f}")
    print(
        f"{size} images per process, ms of the reduction and waits (DDP - no_sync): {reduction:.3f}"
    )

# %% [markdown]
# **The full table.** Each timed row is the median over the repeats of the slower rank's
# time (the line `each repeat the slowest rank's time` below it; the last two rows:
# rank 0 alone). `DDP's added time` and its two indented parts are differences of those
# rows, so they subtract exactly. A negative difference (as `wrapper only (no_sync - step)`
# can be) means the two rows are probably within noise: no part takes negative
# time. The two parts split `DDP's added time` with the `no_sync` step: DDP's wrapper
# around forward, and the reduction with its waits. Compare the reduction row with the
# bare all-reduce's: what it adds beyond it (the buckets' copies, waiting for the other
# process) was not timed apart. The bare all-reduce (its lines above) took
# 0.519 ms<!-- output: 64 images per process, ms of the bare all-reduce --> and
# 0.531 ms<!-- output: 1024 images per process, ms of the bare all-reduce -->: it sends
# the same 25,450<!-- output: parameters --> gradients at both sizes.
#
# **The split.** At 64 images per process DDP added
# 1.108 ms<!-- output: 64 images per process, ms DDP adds to a step -->: its wrapper
# around forward (no_sync − step) took
# 0.085 ms<!-- output: 64 images per process, ms of DDP's wrapper (no_sync - step) -->,
# and the reduction with its waits (DDP − no_sync)
# 1.023 ms<!-- output: 64 images per process, ms of the reduction and waits (DDP - no_sync) -->,
# against
# 0.519 ms<!-- output: 64 images per process, ms of the bare all-reduce --> for the
# bare all-reduce timed alone.
#
# **Against the DDP step.** As printed above, DDP's added time was
# 68%<!-- output: 64 images per process, DDP's added time / DDP step --> of a DDP step at
# 64 images per process and
# 42%<!-- output: 1024 images per process, DDP's added time / DDP step --> at 1,024 (each
# rank's own lines above give it as a multiple of the step without communication
# instead: `x the step`). From 64 to 1,024 images (16 times as many) the step changed by
# a factor of
# 5.02<!-- output: step without communication, 1,024 over 64 --> (DDP's added time: at
# the end of this appendix).
#
# **The 2B step against the B step** (section 8 printed the `step on 2B / step on B`
# lines). One process's step on 2B images took
# 1.15<!-- output: 64 images per process, step on 2B / step on B --> times as long as on
# B at 64, and
# 1.82<!-- output: 1024 images per process, step on 2B / step on B --> times at 1,024:
# half the images saved
# 0.073 ms<!-- output: 64 images per process, ms a step saves on half the images -->
# a step at 64 and
# 1.877 ms<!-- output: 1024 images per process, ms a step saves on half the images -->
# at 1,024. A step whose time grew in proportion to its images would give 2: where the
# ratio is nearer 1, look for time a step takes whatever its images, which no cell here
# times apart. Both steps ran with rank 1 idle.
#
# **The prediction.** One process's 2B step over the pair's DDP step on B predicts two
# processes' speed-up from the steps alone (above 1, two win). The pair's DDP step is the
# figure to use, since a step of the pair ends only when both ranks have finished. Below,
# that prediction to 3 decimals and in words against *the tie band* (a ratio between
# 1 / 1.1 and 1.1 names no winner; the 1.1 is the course's convention, not a measured noise
# level), then with each rank's own median DDP step in place of the pair's: no higher than
# the pair's, so its prediction is no lower. Each size's last line gives one verdict where
# the pair's figure and rank 0's own agree, `no clear verdict` where they do not. All come
# from this one launch.

# %%
from course_utils.rounds import band_words
from course_utils.scaling import predicted_on_each_rank, shared_verdict

# One process on the effective batch (the 2B step, rank 0 alone) over 2 processes' DDP step.
predicted = {size: ms[size]["double"] / ms[size]["ddp"] for size in (64, 1024)}
for size in (64, 1024):
    name = f"{size} images per process"
    print(f"{name}, predicted speed-up of 2 processes: {predicted[size]:.3f}")
    # Judged as printed (3 digits), so 1.100 reads as a tie.
    pair_words = speed_up_in_words(predicted[size], width=False, digits=3)
    print(f"{name}, the predicted speed-up in words: {pair_words}")
    own_words = {}  # the same with each rank's own median DDP step in place of the pair's
    for rank, own in predicted_on_each_rank(cost, size).items():
        mine = f"{name}, predicted with rank {rank}'s own DDP step"
        print(f"{mine}: {own:.3f}")
        own_words[rank] = speed_up_in_words(own, width=False, digits=3)  # as printed
        print(f"{mine}, in words: {own_words[rank]}")
    both = shared_verdict({"the pair's figure": pair_words, "rank 0's own": own_words[0]})
    print(f"{name}, the prediction by the pair's figure and by rank 0's own: {both}")

# %% [markdown]
# Where a size's last line reads `no clear verdict`, the pair's figure and rank 0's own
# disagree, so this launch's steps alone predict no winner at that size.
#
# **Section 9's rest beside the prediction.** The prediction covers the steps alone,
# which fall in section 9's `the rest` (an epoch minus its loading) with the waits and
# the loop's Python around them. Each pair's rest, measured over predicted (1: as
# predicted):

# %%
if big_batch != 1024:
    print(f"(smoke mode: section 8 timed 1024 images per process, these runs {big_batch})")
for batch, per_process in ((small, 64), (large, 1024)):
    name = f"effective batch {batch}"
    print(f"{name}, predicted speed-up of the steps (above): {predicted[per_process]:.3f}")
    for pair, short in ((LEAN, "lean pair"), (DATALOADER, "DataLoader pair")):
        rest = results[pair][batch].parts["rest"]  # the baseline's median rest over the arm's
        print(f"{name}, the rest's measured speed-up, {short}: {rest:.2f}")
        print(f"{name}, {short}, measured over predicted: {rest / predicted[per_process]:.3f}")

# %% [markdown]
# A `measured over predicted` line away from 1 shows the rest's speed-up and the steps'
# prediction disagreeing by that factor: the rest also holds the waits and the loop's
# Python, and the two come from different launches.
#
# **Two B steps.** The table's `step without communication` (both ranks busy, each
# repeat the slower rank) and `1 process, step on the B images (rank 0 alone)` (rank 1
# idle) differ in two things: whether the partner is busy, and the slower of two ranks
# against rank 0 alone. Below, their ratio in words, then rank 0's own lines split it:
# its own step with rank 1 busy over its step alone (the busy partner), and the pair's
# step over rank 0's own (the slower rank). Read each of the two against the tie band to
# see which difference moved the ratio.

# %%
close_words = ("apart", "close", "apart")  # a ratio beyond the tie band, within, beyond
for size in (64, 1024):
    name = f"{size} images per process"
    busy, alone, own = ms[size]["step"], ms[size]["alone"], cost.per_rank[size][0]["step"]
    print(f"{name}, the pair's step over rank 0's alone: {busy / alone:.2f}")
    said = band_words(busy / alone, close_words, digits=2)  # as printed
    print(f"{name}, the pair's step and rank 0's alone: {said}")
    print(f"{name}, rank 0's own step, rank 1 busy, over alone: {own / alone:.2f}")
    print(f"{name}, the pair's step over rank 0's own: {busy / own:.2f}")


# %% [markdown]
# Where a size reads `apart`, a ratio below it outside the tie band names the difference
# that moved the step; where it reads `close`, any such ratios outside the band offset
# each other (the two ratios multiply to the first).
#
# **DDP's added time from 64 to 1,024 images.** First by the pair's figures (the full
# table's), with the bare all-reduce's beside it; then by each rank's own: its DDP step
# minus its step, from its own lines above; then the rank with the slower own step
# without communication. The bare all-reduce sends the same 25,450<!-- output: parameters -->
# numbers at both sizes, so read any change in its time as waits or noise. The pair's DDP
# step takes the slower rank's time repeat by repeat, so it sits at or above each rank's
# own median DDP step; DDP's added time is a difference of two medians, and no such order
# holds for it.

# %%
# The pair's figures: each 1,024 over 64, in words against the tie band (as printed).
growth = ("grew", "stayed within the tie band", "shrank")
for label, part in (("DDP's added time", "added"), ("the bare all-reduce", "all_reduce")):
    if ms[64][part] <= 0:  # timing noise can leave nothing to divide by
        print(f"{label} from 64 to 1,024 images per process: not judged (none at 64)")
        continue
    change = ms[1024][part] / ms[64][part]
    print(f"{label}, 1,024 over 64: {change:.2f}")
    print(f"{label} from 64 to 1,024 images per process: {band_words(change, growth, digits=2)}")
# Each rank's own. The script's `DDP added` above subtracts before rounding, so it can
# differ in the last digit.
for rank in sorted(cost.per_rank[64]):
    its_own = f"rank {rank}'s own DDP added time"
    added = {size: cost.per_rank[size][rank]["added"] for size in (64, 1024)}
    print(f"{its_own}, ms at 64 images per process: {added[64]:.3f}")
    print(f"{its_own}, ms at 1,024 images per process: {added[1024]:.3f}")
    if added[64] <= 0:  # timing noise can leave nothing to divide by
        print(f"{its_own} from 64 to 1,024 images per process: not judged (none at 64)")
        continue
    change = added[1024] / added[64]
    print(f"{its_own}, 1,024 over 64: {change:.2f}")
    print(f"{its_own} from 64 to 1,024 images per process: {band_words(change, growth, digits=2)}")
# Each rank's own median step without communication; each repeat, the pair waits for the
# slower rank.
for size in (64, 1024):
    steps = {rank: parts["step"] for rank, parts in cost.per_rank[size].items()}
    slower = max(steps, key=steps.get)
    print(
        f"{size} images per process, rank with the slower own step without communication: "
        f"rank {slower}"
    )

# %% [markdown]
# Where the pair's words for DDP's added time and a rank's own differ (a `grew` beside a
# `shrank`, or beside `stayed within the tie band`), read any trend from 64 to 1,024 images
# as this launch's, not a rule.

# %% [markdown]
# ## Appendix D: uneven data
#
# This appendix extends section 6.
#
# If the data does not divide evenly, the sampler repeats a few indices so every process
# takes the same number of steps. Otherwise a process with an extra step would wait at
# its all-reduce for partners that have finished: the run would hang until the group's
# timeout, or its collective calls would pair up wrongly (not shown here). 11 items on 2
# processes, unshuffled:

# %% tags=["nbval-check-output"]
uneven = [
    list(DistributedSampler(range(11), num_replicas=2, rank=r, shuffle=False)) for r in (0, 1)
]
print(f"11 items: rank 0 gets {uneven[0]}, rank 1 gets {uneven[1]}")
print(f"repeated: {sorted(set(uneven[0]) & set(uneven[1]))}")

# %% [markdown]
# Rank 1's last index, 0, repeats rank 0's first: each takes 6 items.
#
# `check_world_size` gives the batches per process per epoch, and refuses an effective
# batch (processes x batch size) larger than the data: 200 samples on 8 processes would
# give each 25, so every step would average 200 images, not the 8 x 64 = 512 asked for:

# %% tags=["nbval-check-output"]
from course_utils.distributed import check_world_size

print(f"batches per process: {check_world_size(50_000, 64, world_size=2)}")
try:
    check_world_size(200, 64, world_size=8)
except ValueError as error:
    print(error)

# %% [markdown]
# ## Appendix E: the training run's threads, launch and memory
#
# This appendix extends section 7.
#
# **The linear scaling rule.** With more processes and the same per-process batch, the
# effective batch grows; the usual *linear scaling rule* grows the learning rate in
# proportion (k times the batch, k times the rate), warming up over a few epochs for very
# large batches (Goyal et al. trained a ResNet-50 on ImageNet this way, with batches of
# 8,192<!-- source: https://arxiv.org/abs/1706.02677 --> images). Section 7 trains at
# 128; section 9's runs at 2,048 keep the rate of 0.2 and are timed, not tuned: this
# lesson does not test the rule.
#
# **The script.** Section 7's `train_ddp.py`, in full:

# %%
Code(filename=str(scripts / "train_ddp.py"), language="python")

# %% [markdown]
# **Threads.** Each process of section 7's launch gets 1 intra-op thread
# (`OMP_NUM_THREADS=1`), as a typed `torchrun` gives each of several processes when the
# variable is unset, printing a warning that it
# did<!-- source: https://github.com/pytorch/pytorch/blob/main/torch/distributed/run.py -->;
# `run_torchrun` sets the variable itself, so no warning appears here. So 2 processes run
# 2 threads in all. The launch's first lines say so; one process run with `python` gets
# PyTorch's default:

# %%
print("\n".join(line for line in two_processes.output.splitlines() if "intra-op" in line))
print(f"this notebook's process: {torch.get_num_threads()} intra-op threads")

# %% [markdown]
# **How the workers start.** `run_torchrun` and a typed `torchrun` start the same script
# in 2 processes, with the same environment variables; they differ in how. On Linux,
# `run_torchrun` is written to start CPU workers by forking (copying) a Python that has
# already imported PyTorch (read `course_utils/distributed.py`); a typed `torchrun` (not
# run here) starts each worker as a fresh Python, which imports PyTorch itself. For those
# forked workers `run_torchrun` runs `python -m course_utils.distributed` (the first line
# below), which takes torchrun's options and runs torchrun's launcher; otherwise it runs
# `python -m torch.distributed.run`, what the `torchrun` command runs. This lesson's
# timings and memory are the forked workers'; your terminal's may differ.
#
# Two commands follow: the one `run_torchrun` ran for section 7, then the same launch for
# a terminal in `notebooks/`. There, first run
# `export LESSON06=<the folder that print(work_folder) shows in a new cell here>`. Colab's
# free tier may have no terminal: on Colab, set the folder with `%env LESSON06=...` instead,
# and prefix the command with `!` in a cell (not run here).

# %%
# The command it ran, machine paths shortened: this Python as python, this run's
# work_folder as $LESSON06 (print(work_folder) shows yours), the scripts folder as scripts.
ran = ["python"] + [
    part.replace(str(work_folder), "$LESSON06").replace(str(scripts), "scripts")
    for part in two_processes.command[1:]
]
print("run_torchrun ran:", " ".join(ran))
# With one GPU, an empty CUDA_VISIBLE_DEVICES hides it, as cpu_only=True does here.
hide = "CUDA_VISIBLE_DEVICES= " if cpu_only and gpus else ""
print("in a terminal:", hide + " ".join(["torchrun", *ran[3:]]))

# %% [markdown]
# **Memory.** Every process is a full Python with its own PyTorch and model. *Resident*
# memory (RSS) counts every page a process uses, shared or not; *proportional* memory
# (PSS) splits each shared page among its sharers, so several processes' PSS adds up to
# what they hold together. Neither separates out the data file that every process maps
# into memory (saved in section 3):

# %%
peak_worker = round(two_processes.peak_worker_rss_mb)
record_result("largest worker, peak resident memory (MB)", peak_worker)
summed = round(two_processes.peak_rss_mb)
record_result("launcher + 2 workers, summed resident memory (MB)", summed)
if two_processes.peak_pss_mb > 0:  # proportional memory: reported on Linux only
    both = round(two_processes.peak_pss_mb)
    record_result("launcher + 2 workers, proportional memory (MB)", both)
else:
    print("proportional memory (PSS): not reported on this system")

# %% [markdown]
# In section 7's run, the launcher (`torchrun`'s parent process) and its 2 workers held
# 846 MB<!-- output: launcher + 2 workers, proportional memory (MB) --> together,
# counting each shared page once. The largest worker alone had
# 589 MB<!-- output: largest worker, peak resident memory (MB) --> in use, counting
# every page it used in full, and the three processes' resident memory summed to a peak
# of
# 1687 MB<!-- output: launcher + 2 workers, summed resident memory (MB) -->. A shared
# page counts in full in each sharer's resident memory but only once in the
# proportional total, so the gap between the two totals is shared pages (peaks from
# different moments, so the gap is approximate).
# Part of what they share is expected to be PyTorch's library code, which the system
# shares between any processes; forked workers also start sharing what their parent
# loaded (not measured apart here). Only forked workers were measured here;
# `run_torchrun` is written not to fork outside Linux or for workers on GPUs
# (`FORK_WORKERS` in `course_utils/distributed.py`; not run here).
#
# (The peak memory in the line at the top of the lesson is the course runner's: the
# proportional memory of the notebook and every process it started, together, at the
# lesson's highest moment.)

# %% [markdown]
# ## Appendix F: section 11 in more detail
#
# This appendix extends section 11.
#
# **GPUs and several machines** (not run here). On one machine with 8 GPUs, section 7's
# command takes `--nproc_per_node=8`, and each process its own GPU, `cuda:0` to `cuda:7`.
# On several machines, start the same command on every machine, with the number of
# machines and one meeting point all can reach:
#
# ```bash
# torchrun --nnodes=4 --nproc_per_node=8 --rdzv-backend=c10d \
#     --rdzv-endpoint=node0.example.org:29500 --rdzv-id=mnist-run \
#     train_ddp.py --data ... --out ...
# ```
#
# `--nnodes` is the number of machines; `--rdzv-backend=c10d` how they find each other
# (every launcher connects to one store that PyTorch runs on the endpoint's machine);
# `--rdzv-endpoint` the host and port where they meet, open between them; `--rdzv-id` a
# name for the job. World size becomes 4 x 8 = 32: ranks 0 to 31, local ranks 0 to 7 on
# each machine. Each machine needs the data (or a shared file system); rank 0's machine
# writes the checkpoint.
#
# **Batch norm's statistics.** `batch_norm.py` compares each process's 32-image pixel
# mean with the whole batch's, then with fewer images per process, and converts a small
# model's `BatchNorm` layers to `SyncBatchNorm`. A CPU run ends with PyTorch's refusal,
# a `ValueError`, on purpose: `SyncBatchNorm` needs a GPU-type device (the error lists
# CUDA's GPU and others). With a CUDA GPU per process, the converted model's forward pass
# would run instead, all-reducing the batch statistics, and the script would print
# `SyncBatchNorm ran on` its device:

# %%
batch_norm = run_torchrun(
    scripts / "batch_norm.py", nproc=2, args=[batch_path], timeout=launch_timeout, cpu_only=cpu_only
)
print(batch_norm.output)

# %% [markdown]
# Each shard's mean differs from the whole batch's, and in this batch shards of 4 images
# strayed further than shards of 32 (the `gap larger` line). That line sets an average
# over 8 batches of 4 images per process against a single batch of 32 per process
# (`over 1 batch(es)`): one draw, not a rule.
#
# Batch norm divides by the standard deviation, so a gap g in the mean shifts every
# normalised value by g / std; the script therefore also gives each gap as a percentage
# of the whole batch's standard deviation (about 1: the images were normalised). The
# `… images per process` lines split the batch into smaller shards and average the gap.
# Read these percentages as this one batch's, not as a rule: a layer deep in a network
# sees other values. On GPUs `SyncBatchNorm` would compute per-channel statistics of its
# layer's inputs (here the convolution's outputs; a channel is one feature map of an
# image layer, normalised as one feature): the pixel means show the same idea,
# not its numbers. The script:

# %%
Code(filename=str(scripts / "batch_norm.py"), language="python")

# %% [markdown]
# **Counting all-reduces.** `no_sync.py` registers a *communication hook*
# (`register_comm_hook`), which DDP calls for each bucket of gradients (a `GradBucket`)
# instead of its own all-reduce; this one counts the call, then all-reduces as DDP does
# by default (`allreduce_hook`):

# %%
Code(filename=str(scripts / "no_sync.py"), language="python")

# %% [markdown]
# **FSDP in miniature.** As PyTorch's FSDP2 tutorial
# describes<!-- source: https://pytorch.org/tutorials/intermediate/FSDP_tutorial.html -->
# (this lesson does not show it), FSDP gathers a layer's full weights (`all_gather`) only
# while computing it, and reduce-scatters the gradients (`reduce_scatter`): each process
# receives the average, over the processes, of its own shard of them, as DDP averages the
# whole gradients. Below, with gloo on the CPU (who holds
# what, not a speed), `fully_shard(layer)` makes each of the layer's parameters a
# *DTensor*, a tensor that knows it is split over the processes (its *device mesh* lists
# them); `.to_local()` gives this process's slice:

# %%
Code(filename=str(scripts / "fsdp.py"), language="python")

# %%
fsdp = run_torchrun(scripts / "fsdp.py", nproc=2, timeout=launch_timeout, cpu_only=cpu_only)
print(fsdp.output)

# %% [markdown]
# Each process holds half of the parameters and, after `backward`, only that half's
# gradients. On large models on GPUs, that is what is meant to let the model, its
# gradients and (with an optimizer built on the sharded parameters) its optimizer state
# fit where whole copies would not. The last line does by hand what FSDP does before a
# layer computes: `all_gather` of the processes' slices of the first layer's weights
# gives back the whole matrix, equal to an unsharded copy made from the same seed. The
# script has no optimizer, and does not show the scattering of the gradients.
