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
# - launch a script with `torchrun --standalone --nproc_per_node=N` from a terminal, log
#   and checkpoint from rank 0, and make a script ready for GPUs;
# - say what `SyncBatchNorm`, `no_sync` and FSDP are for, and how several machines are
#   launched.

# %% [markdown] tags=["last-verified"]
# > **Last verified** 2026-12-08: PyTorch 2.14.1+cu130 on CPU (Intel(R) Xeon(R) Processor,
# > 2 threads); the whole lesson ran in 74 s with a peak memory of 1320 MB. The course's
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
# **Plumbing** (run it, skip reading). Processes that train together run a script file,
# not a notebook cell: `lesson_scripts` finds the lesson's (`scripts`).
# `save_mnist_split_in_child` saves lesson 03's split (50,000 training and 10,000
# validation images, uint8) and the 10,000 test images in one file that every process maps
# into memory (`data_path`); it runs in a child Python, so this notebook never loads
# torchvision, whose memory the launches need. 64 normalised images go to
# `batch_path`. With fewer than 2 GPUs, `cpu_only` sends the launches to the CPU
# (`machine` names where they run). `normalised` turns pixels into floats, as in lesson 03,
# and `terminal_command` gives a launch as typed in a terminal, in `notebooks/`.

# %%
import tempfile
from pathlib import Path

from course_utils.distributed import lesson_scripts, save_mnist_split_in_child

scripts = lesson_scripts()  # from notebooks/, student/ or the checkout of course_utils
gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
cpu_only = gpus < 2
# Where the launches run, as the tables below name it: CPUs with gloo, or GPUs with NCCL.
machine = f"{os.cpu_count()} logical CPUs, gloo" if cpu_only else "2 GPUs, NCCL"  # 2 processes
print(f"CUDA GPUs: {gpus}; the 2-process launches run on: {machine}")


def terminal_command(launch) -> str:
    """The torchrun command that makes ``launch`` from a terminal in notebooks/."""
    # After `python -m` and the launcher's module: torchrun's options, the script, its args.
    typed = [part.replace(str(scripts), "scripts") for part in launch.command[3:]]
    return " ".join(["torchrun", *typed])


MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


def normalised(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 pixels -> floats with mean 0 and standard deviation 1, as in lesson 03."""
    return (pixels.float() / 255 - MNIST_MEAN) / MNIST_STD


work_folder = Path(tempfile.mkdtemp(prefix="lesson06-"))
data_path = save_mnist_split_in_child(work_folder)  # read with torch.load(..., mmap=True)
data = torch.load(data_path, mmap=True, weights_only=True)
batch_indices = torch.randperm(len(data["train_images"]), generator=generator)[:64]
batch_images = normalised(data["train_images"][batch_indices])
batch_labels = data["train_labels"][batch_indices]
batch_path = work_folder / "batch.pt"
torch.save({"images": batch_images, "labels": batch_labels}, batch_path)
del data  # from here on the processes read the data from its file; the notebook keeps the batch

# %% [markdown]
# ## 1. The work of a step, split over processes
#
# Data-parallel training splits each batch across N processes; one step's images on all
# of them make the **effective batch** (here 2 processes x 64 images = 128). An epoch on N
# processes has three parts:
# 1. the *steps*: forward, backward and update, each process on its share of the batch;
# 2. the *exchange*: before each update the processes agree on one gradient, one value per
#    parameter (how many bytes each one sends depends on the backend's algorithm, not
#    measured here), and each waits for the others;
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
# where they meet (the **rendezvous**).
#
# **Devices.** NCCL expects one GPU per process (PyTorch's documentation; not run here).
# With fewer than 2 GPUs, this lesson runs its processes on the CPU with gloo; its first
# launch, in the next section, always does.

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

# %% [markdown]
# The course's `run_torchrun` launches the script with torchrun's own launcher module and
# captures the processes' output; the cell's last line prints the `torchrun` command to
# type in `notebooks/` for the same launch, which starts its processes a little differently
# (Appendix D). `cpu_only=True` hides any GPUs from the processes, so they run on the CPU
# with gloo; later launches pass `cpu_only`, true with fewer than 2 GPUs.

# %%
from course_utils.distributed import run_torchrun

collectives = run_torchrun(
    scripts / "collectives.py", nproc=2, timeout=launch_timeout, cpu_only=True
)
print(collectives.output)
print("in a terminal:", terminal_command(collectives))

# %% [markdown]
# The processes' lines may interleave: read them by rank (`dist.barrier()` holds each
# process until all have called it). This MLP's training needs these two:
# `broadcast` once (every copy starts from the same weights), `all_reduce` every step (to
# average the gradients); section 7's script also calls `barrier`.
#
# Later scripts join with the course's `process_group()` instead, which is written to pick
# gloo or NCCL and set each process's device (read `course_utils/distributed.py`;
# Appendix B shows it refusing to run outside `torchrun`).

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
# Now against one process on the whole batch: 3 copies of one model (3 processes), each with
# the gradient of its third of a batch of 24 images, averaged in a pretend group of 3.
from copy import deepcopy

images, labels = batch_images[:24], batch_labels[:24]
with torch.random.fork_rng():  # this draw leaves the lesson's later random numbers unchanged
    torch.manual_seed(0)
    whole = MLP(28 * 28, [32], 10)  # one process, the whole batch
copies = [deepcopy(whole) for _ in range(3)]  # the same weights in every copy
for rank, copy in enumerate(copies):  # rank r: images 8r to 8r + 7
    shard = slice(rank * 8, rank * 8 + 8)
    F.cross_entropy(copy(images[shard]), labels[shard]).backward()
# The 3 shards' gradients as flat vectors, added but not divided by 3.
summed = sum(torch.cat([p.grad.flatten() for p in copy.parameters()]) for copy in copies)
if exercise_1_passed:  # average in a pretend group of 3, then compare with the whole batch
    simulate_group(3, lambda rank: average_gradients(copies[rank]))
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
# batch's (printed once exercise 1 passes). Plain SGD's step is the learning rate times
# the gradient, so that step would be 3 times too large, as if the learning rate were
# multiplied by the world size.

# %% [markdown]
# ## 5. In 2 real processes, then DDP
#
# `manual_ddp.py` runs your `average_gradients` in 2 processes and compares the result
# with one process on the whole batch, and with DDP (the full script: Appendix B). One
# data-parallel step:
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
# The script prints which function averaged, the largest gap between the processes'
# initial weights before and after DDP wraps the model, how far each rank's own-shard
# gradient is from the whole batch's (beside the size of the whole batch's gradient
# values), and whether the average equals the whole batch's gradient and DDP's. Lines
# from rank 0 alone are unprefixed; lines every rank prints start `[rank N]`. Your
# function reaches the script in a file, which `function_file` writes and the script runs
# with `runpy` (its own loop stands in if exercise 1 is not done).

# %%
from course_utils.distributed import function_file

manual_args = [batch_path]
if callable(average_gradients):  # exercise 1's function, in a file the script loads
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
# the whole batch's gradient up to float32 rounding and DDP's exactly (Appendix B: why).
#
# **What DDP does.** `DistributedDataParallel(model)`:
# 1. on wrapping, at construction, broadcasts the module from rank 0 (rank 0's
#    weights<!-- source: PyTorch's DistributedDataParallel documentation -->), so all
#    processes start equal; the `initial weights` line above shows the gap between them
#    closing, not whose weights the processes kept:
#    **3.2e-01 before DDP, 0.0e+00 after wrapping in DDP**
#    <!-- says: initial weights drawn with a seed per rank, largest gap between the processes -->
# 2. averages the gradients inside `backward()` (Appendix B: how);
# 3. leaves every process to take the same optimizer step from the same weights and
#    gradient. Section 7 prints how far apart the copies end after training.

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
# without it). Appendix C shows data that does not divide evenly.

# %% [markdown]
# ## 7. The training script
#
# `train_ddp.py` trains lesson 03's MLP in every process, for `num_epochs` epochs (4; 1 in
# smoke mode). Against lesson 03's loop (its section
# 7<!-- source: lesson 03's training loop, not run here -->), what changes (the whole
# script: Appendix D):
#
# ```diff
# + with process_group(timeout=60) as group:  # join: rank, world size, device
# - loader = DataLoader(train_set, batch_size=128, shuffle=True)
# + sampler = DistributedSampler(train_set, num_replicas=world_size, rank=rank, seed=0)
# + loader = DataLoader(train_set, batch_size=64, sampler=sampler)  # 64 per process
# + model = DistributedDataParallel(model, device_ids=...)  # [device] under NCCL, else None
#   for epoch in range(1, epochs + 1):
# +     sampler.set_epoch(epoch)  # a new shuffle each epoch, the same on every rank
#       ...  # forward, loss, backward (DDP averages the gradients here), step: unchanged
# +     # validation: each rank sums over its shard, then dist.all_reduce(totals)
# +     if rank == 0: save_checkpoint(..., model.module, ...)  # the plain model inside DDP
# ```
#
# The data pipeline changed too, which the diff leaves out: the script reads uint8 tensors,
# memory-mapped from the file the set-up cell wrote (`torch.load(..., mmap=True)`), and
# normalises each batch inside the loop. Exercise 3 writes the `device_ids` choice.

# %% [markdown]
# **The learning rate.** More processes grow the effective batch, and the usual rule
# would raise the rate with it (Appendix D; not tested here). Here 2 x 64 gives lesson
# 03's batch of 128 (set in its section 1), so we keep its rate of 0.2 (its section
# 7<!-- source: lesson 03's data loaders and training loop, not run here -->).

# %% [markdown]
# **Launching.** `run_torchrun` below makes the launch you would type in a terminal, in
# `notebooks/`, and the cell prints it: `torchrun --standalone --nproc_per_node=2
# scripts/train_ddp.py` with the script's arguments (`WORK` in it: the notebook's temporary
# folder, `print(work_folder)`).
# With one GPU (Colab's; not run here), start the line with `CUDA_VISIBLE_DEVICES=` so
# that the 2 processes run on the CPU with gloo, as `run_torchrun(..., cpu_only=True)` does.
# `--standalone` means one machine, meeting on a free local port; `--nproc_per_node` is
# the number of processes (usually of GPUs). Each process gets 1 thread; section 8
# compares that with threads.

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
# In a terminal, WORK stands for this notebook's temporary folder (print(work_folder)).
print("in a terminal:", terminal_command(two_processes).replace(str(work_folder), "WORK"))
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
# apart; section 5 showed the gap between them closing when DDP wrapped the model.
# Section 8's accuracies come from 6 epochs on batches indexed out of tensors, not these 4
# through a `DataLoader`: do not compare them with this run's.

# %% [markdown]
# ## 8. When does splitting a step over processes pay?
#
# Section 7 gave each process 1 *intra-op thread*: PyTorch splits one operation, such as a
# matrix product, over the threads `torch.set_num_threads` sets. On 2 CPUs, a second
# process is one way to use the second CPU, a second thread the other. `compare_arms.py`
# trains the MLP at section 7's effective batch of 128, from the same weights on the same
# batches, over whole epochs with their loading. An *arm* is one of its three ways to
# train: `1 process, 1 thread` (the baseline), `1 process, 2 threads` and
# `2 processes, 1 thread each` (under DDP). A *round* is one epoch of every arm, one after
# the other. One launch runs 6 rounds and leaves out the first, a warm-up; the table gives
# each arm's medians over the other 5 (all from that one launch).

# %%
from course_utils.report import record_result
from course_utils.scaling import SPEED_UP_DIGITS, arm_speed_ups, read_arms

# The three arms, as compare_arms.py names them (its ARMS) and the table and figure print them.
ONE_THREAD = "1 process, 1 thread"  # the baseline (meanwhile rank 1 waits at a barrier)
TWO_THREADS = "1 process, 2 threads"
TWO_PROCESSES = "2 processes, 1 thread each"  # under DDP
# 6 rounds (2 in smoke mode), each one epoch of every arm in a rotating order; the first, a
# warm-up, is left out, so 5 count (1 in smoke mode).
arm_rounds = full_or_smoke(full=6, smoke=2)


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


# Every arm indexes each batch out of the tensors in one go, not through section 7's
# image-by-image DataLoader: these times are not train_ddp.py's.
arms_launches = {"arms_128": launch_arms("arms_128", 64)}  # 64 images per process
small = 128  # the effective batch: 2 processes x 64 images
# effective batch -> arm -> its figures: each counted round's epoch seconds, its loading's
# and the rest's, their medians, and the rest as the median epoch minus the median loading
launches = {small: read_arms(work_folder / "arms_128")}  # Appendix A adds a second batch

# %%
from course_utils.scaling import arms_table, shown_parts

# Each arm's medians over the rounds: its epoch, the range of its rounds' epochs, loading
# its batches (for 2 processes, rank 0's, as its epoch), the rest of the epoch, and its
# validation accuracy after the rounds' 6 epochs (not comparable with section 7's).
print(arms_table(launches[small], f"effective batch {small}, seconds per epoch on {machine}"))
# The rest of the epoch (the steps, the exchange and any wait for the other process) as the
# figure labels it: the median epoch minus the median loading, each to 3 decimals.
for arm in (ONE_THREAD, TWO_THREADS, TWO_PROCESSES):
    shown = shown_parts(launches[small][arm])[2]
    print(f"{arm} at {small}, seconds of the rest: {shown:.3f}")
# The fair comparison, the two ways to use both CPUs: in each round, 1 process on 2 threads'
# epoch over 2 processes' (below 1: 2 processes were slower), the median of the rounds',
# and the verdict (a winner only when every round agrees; Appendix A: which count as tied).
both_cpus = arm_speed_ups(launches[small], TWO_PROCESSES, TWO_THREADS, digits=SPEED_UP_DIGITS)
print(f"2 processes against 1 process on 2 threads at {small}, median: {both_cpus.median:.2f}")
print(f"2 processes against 1 process on 2 threads at {small}, verdict: {both_cpus.verdict}")
plainly = {
    "slower in every round": "a second thread beat a second process",
    "faster in every round": "a second process beat a second thread",
}
bottom_line = plainly.get(both_cpus.verdict, both_cpus.verdict)  # else the verdict itself
print(f"the bottom line on 2 CPUs at {small}: {bottom_line}")
# And the second thread against none: 1 process on 2 threads against 1 process on 1 thread.
thread_gain = arm_speed_ups(launches[small], TWO_THREADS, ONE_THREAD, digits=SPEED_UP_DIGITS)
print(f"1 process, 2 threads against 1 thread at {small}, median: {thread_gain.median:.2f}")
print(f"1 process, 2 threads against 1 thread at {small}, verdict: {thread_gain.verdict}")
record_result(
    "2 processes over 1 process on 2 threads, epoch speed-up at batch 128",
    round(both_cpus.median, 2),
)

# %%
from course_utils.plotting import plot_epoch_parts

# Each bar: an arm's median epoch, split into its loading and the rest (the steps, the
# exchange and any wait for the other process); a dot per round.
part_labels = ("loading the batches (median)", "the rest of the median epoch", "one round's epoch")
plot_epoch_parts(
    {f"effective batch {small:,}, {train_size:,} images an epoch": launches[small]},
    machine,
    labels=part_labels,
)

# %% [markdown]
# Against `1 process, 2 threads`, which uses the same 2 CPUs, 2 processes ran at
# 0.41<!-- output: 2 processes against 1 process on 2 threads at 128, median --> times its
# speed (**slower in every
# round**<!-- says: 2 processes against 1 process on 2 threads at 128, verdict -->). The
# bottom line, on these 2 CPUs at this batch size:
# **a second thread beat a second process**<!-- says: the bottom line on 2 CPUs at 128 -->.
# That compares the two ways with each other. Against no second CPU at all (1 process on
# 1 thread), the second thread ran at
# 1.09<!-- output: 1 process, 2 threads against 1 thread at 128, median --> times its speed
# (**no clear winner: 2 faster, 3 tied, 0
# slower**<!-- says: 1 process, 2 threads against 1 thread at 128, verdict -->).
# Appendix A repeats the launch at an effective batch of 2,048 and checks that 1 process
# and 2 trained the same model.
#
# **Where the time went.** The rest of the epoch after loading (the figure's blue part: the
# steps, the exchange of the gradients and any wait for the other process) took the 2
# processes, each stepping on half the images,
# 0.961 s<!-- output: 2 processes, 1 thread each at 128, seconds of the rest --> against
# 0.321 s<!-- output: 1 process, 1 thread at 128, seconds of the rest --> for
# `1 process, 1 thread`. `comm_cost.py` times one step's parts at 64 images per process
# (random inputs, no loading, 1 thread per process, medians over many repeats): rank 0's
# step on 128 images and on 64 while rank 1 waits, then, with both processes at work, the
# bare all-reduce and DDP's step against the step without it.

# %%
from course_utils.scaling import read_comm_cost

comm_cost = run_torchrun(
    scripts / "comm_cost.py",
    nproc=2,
    timeout=launch_timeout,
    cpu_only=cpu_only,
    threads_per_process=1,  # as in section 7 and the epochs above, on any number of CPUs
    sample_memory=False,  # nothing else on the CPUs while it times
)
cost = read_comm_cost(comm_cost.output)  # every rank's printed lines, read back
ms = cost.together  # B images per process -> part -> ms, each the median over the repeats
print(f"{machine}, 1 thread per process; ms, the median over the repeats")
# Rank 0 alone, rank 1 waiting at a barrier, as one process would run.
print(f"rank 0 alone, ms of a step on 128 images: {ms[64]['double']:.3f}")
print(f"rank 0 alone, ms of a step on 64 images: {ms[64]['alone']:.3f}")
halving_saved = ms[64]["double"] - ms[64]["alone"]
print(f"halving 128 images to 64, ms saved (rank 0 alone): {halving_saved:.3f}")
at_most_twice = ms[64]["double"] <= 2 * ms[64]["alone"]
print(f"rank 0 alone, a step on 128 images at most twice one on 64: {at_most_twice}")
# Both processes at work, 64 images each.
print(f"64 images per process, ms of the bare all-reduce: {ms[64]['all_reduce']:.3f}")
print(f"64 images per process, ms of the step without communication: {ms[64]['step']:.3f}")
ddp_added = ms[64]["ddp"] - ms[64]["step"]  # DDP's step minus the same step without DDP
print(f"64 images per process, ms DDP adds to a step: {ddp_added:.3f}")
over_step = ddp_added / ms[64]["step"]  # both timed with the 2 processes at work
print(f"64 images per process, DDP's addition over the step: {over_step:.2f}")
# Where a step on 128 images takes at most twice one on 64 (printed above), halving saves
# at most one whole 64-image step: DDP adding more than that adds more than halving saves.
# The 64-image step was timed two ways (rank 0 alone, and both at work): take the longer.
whole_step = max(ms[64]["alone"], ms[64]["step"])
bound = "more" if ddp_added > whole_step else "not more"
print(f"DDP's addition, against a whole 64-image step, timed either way: {bound}")

# %% [markdown]
# With both processes at work, 64 images each, DDP's step added
# 1.443 ms<!-- output: 64 images per process, ms DDP adds to a step --> to the step without
# it: 1.93<!-- output: 64 images per process, DDP's addition over the step --> times that
# whole step. It is the exchange, the waits for the other process and DDP's own work
# (Appendix A's table splits DDP's wrapper from the reduction with its waits); the bare
# all-reduce alone took
# 0.581 ms<!-- output: 64 images per process, ms of the bare all-reduce -->.
#
# What did halving save? On one process (rank 0 alone, while rank 1 waited), a step on
# 128 images took
# 0.831 ms<!-- output: rank 0 alone, ms of a step on 128 images --> and one on 64 took
# 0.745 ms<!-- output: rank 0 alone, ms of a step on 64 images -->: it saved
# 0.086 ms<!-- output: halving 128 images to 64, ms saved (rank 0 alone) -->. Set beside
# DDP's addition, timed with both processes at work, that pair is only a rough guide. One
# condition is enough for the conclusion, though: a step on 128 images took at most twice
# one on 64
# (**True**<!-- says: rank 0 alone, a step on 128 images at most twice one on 64 -->), so
# halving saves at most one whole 64-image step, and DDP added
# **more**<!-- says: DDP's addition, against a whole 64-image step, timed either way -->
# than a whole 64-image step, whether that step was timed alone or with both at work. The
# conclusion still joins the two conditions, but only through that bound.

# %% [markdown]
# ## 9. The checkpoint, tested once
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
del guesses

# %%
with torch.no_grad():  # MNIST's 10,000 test images in one pass, as for validation above
    test_guesses = trained(normalised(split["test_images"])).argmax(dim=1)
test_accuracy = (test_guesses == split["test_labels"]).float().mean().item()
record_result("2-process MLP test accuracy", test_accuracy)
del split, test_guesses

# %% [markdown]
# This one run's test accuracy,
# 96.28%<!-- output: 2-process MLP test accuracy -->, is the figure to quote for this model.

# %% [markdown]
# ## 10. What changes at scale
#
# **GPUs.** With 2 GPUs or more, the same scripts are written to run unchanged (not run
# here): `process_group()` picks NCCL, each process takes GPU `LOCAL_RANK`, and DDP gets
# `device_ids=[device]`.
#
# **Several machines** (not run here): the same command starts on each, with `--nnodes`,
# `--rdzv-backend=c10d`, `--rdzv-endpoint` and `--rdzv-id` in place of `--standalone`
# (Appendix E).
#
# **Batch norm: `SyncBatchNorm`.** Batch norm, a layer (lesson 05; not in this MLP),
# rescales each feature to mean 0 and standard deviation 1 over the batch, then applies a
# learned scale and shift. Under DDP the
# batch is the process's own shard, whose statistics can differ from the whole batch's.
# `SyncBatchNorm` (`nn.SyncBatchNorm.convert_sync_batchnorm` swaps it in) makes each
# process normalise with the whole batch's (PyTorch's
# docs<!-- source: https://pytorch.org/docs/stable/generated/torch.nn.SyncBatchNorm.html -->):
# it combines every process's per-channel mean, variance and count. `batch_norm.py` does
# that by hand on the CPU, where this PyTorch refuses `SyncBatchNorm`, and compares the
# result with `BatchNorm2d` on the whole batch (Appendix E: the script, step by step):

# %%
batch_norm = run_torchrun(
    scripts / "batch_norm.py", nproc=2, args=[batch_path], timeout=launch_timeout, cpu_only=cpu_only
)
print(batch_norm.output)

# %% [markdown]
# The first lines give the pixel mean of each 32-image shard and of the whole batch. The
# shards hold different images, so the convolution's
# outputs on them differ, and so do the statistics batch norm takes from those outputs,
# each channel's mean and variance: rank 0's channel means were up to
# 2.1e-02<!-- output: [rank 0] my shard's channel means against the whole batch's, largest gap -->
# from the whole batch's. Rank 0's shard, normalised with the all-reduced statistics,
# against `BatchNorm2d` on the whole batch:
# **True (largest gap 9.5e-07)**
# <!-- says: [rank 0] normalised by hand == BatchNorm2d on the whole batch -->.
# Normalised with its own shard's statistics instead, as plain batch norm in each process
# would, rank 0's shard ended up to
# 2.4e-01<!-- output: [rank 0] normalised with my shard's own statistics, largest gap -->
# away.
#
# **Gradient accumulation: `no_sync`.** To train on a batch too large for memory,
# accumulate gradients over micro-batches, then step. Inside `with model.no_sync():` DDP
# only adds to `.grad`; the last micro-batch's `backward`, outside it, all-reduces the sum
# once. DDP groups the gradients into *buckets* and all-reduces each bucket as one
# message; a *communication hook* is a function DDP calls to exchange each bucket.
# `no_sync.py` checks the accumulation and counts DDP's all-reduces with such a hook:

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
# model's parameters and their gradients over the processes, where DDP keeps a whole copy
# in each. FSDP is meant to shard the optimizer state too (PyTorch's FSDP2
# tutorial<!-- source: https://pytorch.org/tutorials/intermediate/FSDP_tutorial.html -->).
# `fsdp.py` shards lesson 03's MLP over the 2 CPU processes with `fully_shard` (who holds
# what, not a speed), counts the parameters each process holds, and of the same model under
# DDP, then does by hand what FSDP does before a layer computes: an `all_gather` of the
# processes' slices of the first layer's weights (Appendix E: the script):

# %%
fsdp = run_torchrun(scripts / "fsdp.py", nproc=2, timeout=launch_timeout, cpu_only=cpu_only)
print(fsdp.output)

# %% [markdown]
# Under FSDP each process held half of the parameters and, after `backward`, gradients for
# that half only; under DDP each held all
# 25,450<!-- output: [rank 0] under DDP, parameters this process holds --> of the same
# model. The gathered weights equal an unsharded copy made from the same seed.

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
# - Section 7: `train_ddp.py`, launched in 2 processes by `run_torchrun`, reached
#   95.87%<!-- output: validation accuracy after the last epoch --> validation accuracy
#   after the last epoch, the processes' weights
#   0.0e+00<!-- output: after training, the largest gap between the processes' weights -->
#   apart. Rank 0 alone saves `model.module`.
# - Section 8: over whole epochs at an effective batch of 128, 2 processes ran at
#   0.41<!-- output: 2 processes against 1 process on 2 threads at 128, median --> times the
#   speed of 1 process on 2 threads, on the same 2 CPUs (**slower in every
#   round**<!-- says: 2 processes against 1 process on 2 threads at 128, verdict -->).
#   DDP's step added
#   1.93<!-- output: 64 images per process, DDP's addition over the step --> times the step
#   without it (the exchange, its waits and DDP's own work): more than halving the step
#   could save. Appendix A repeats the launch at 2,048, where loading took
#   0.61<!-- output: 1 process, 1 thread at 2048, loading's share of the epoch --> of a
#   1-process epoch (at 128:
#   0.36<!-- output: 1 process, 1 thread at 128, loading's share of the epoch -->) and each
#   process loads half the images: there, 2 processes ran at
#   0.78<!-- output: 2 processes against 1 process on 2 threads at 2048, median --> times
#   the speed of 1 process on 2 threads (one launch).
# - Section 9: the checkpoint loads into a plain `MLP`, which scored
#   96.28%<!-- output: 2-process MLP test accuracy --> on the test set (one run, on the CPU).
# - Section 10 (its GPU and multi-machine parts not run here): the scripts join with
#   `course_utils.distributed.process_group()`, which picks NCCL and `cuda:LOCAL_RANK` when
#   CUDA is available (not run here). `SyncBatchNorm` serves batch norm, `no_sync` gradient
#   accumulation, and FSDP is meant for models too large for one process (its tutorial;
#   here a small MLP, split in half, showed how it shards).

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
# lesson 03's one-process loop, its `DataLoader` with `shuffle=True`, reshuffled each epoch
# (lesson 03<!-- source: lesson 03's training loop, not run here -->).
# `set_epoch(epoch)` changes the order every epoch. This lesson does not measure what the
# frozen order costs in accuracy.

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
#   does (its docstring<!-- source: course_utils/distributed.py, run_torchrun -->), rather
#   than fall back quietly to a slow CPU run. (With fewer than 2 GPUs, this
#   lesson's launches choose the CPU on purpose, with `cpu_only=True`; section 7's launch
#   prints each rank's device.)
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
# `cuda:RANK` works on the first machine only, so a one-machine test never catches it:
# on the second, rank 3 would ask for a `cuda:3` that machine does not have (the check
# tries this case and fails a function that gives rank 3 `cuda:3`; nothing was launched on
# 2 machines). These lines are the function's choices, not launches.
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
# **Question 3.** In section 8, at an effective batch of 128 (64 images per process), 2
# processes took longer per epoch than 1 process on 1 thread (section 8's table gives
# their epochs). Which explanation do section 8's measurements support?
#
# - (a) Under DDP each process computes the gradient of all 128 images of the effective
#   batch.
# - (b) gloo is slow: NCCL would make the same CPU processes faster.
# - (c) 2 processes go through twice as many images per epoch as one.
# - (d) At this batch size, communication and waiting added more to each step than halving
#   each process's images saved.

# %% tags=["nbval-check-output"]
### BEGIN SOLUTION
# Hint: section 8, comm_cost.py's lines: what DDP added against the whole step
answer_q3 = "d"
### END SOLUTION
check_exercise("Q3", answer_q3=answer_q3)

# %% [markdown] tags=["solution"]
# **(d).** Section 8 timed it at 64 images per process, both processes at work: DDP's
# step added
# 1.443 ms<!-- output: 64 images per process, ms DDP adds to a step --> to the step without
# it, more than a whole 64-image step (timed alone or with both at work), so
# **more**<!-- says: DDP's addition, against a whole 64-image step, timed either way -->
# than halving the step could save (on one process, halving saved
# 0.086 ms<!-- output: halving 128 images to 64, ms saved (rank 0 alone) -->). Over
# whole epochs, the rest after loading (the steps, the exchange and any wait) took the 2
# processes
# 0.961 s<!-- output: 2 processes, 1 thread each at 128, seconds of the rest --> against
# 0.321 s<!-- output: 1 process, 1 thread at 128, seconds of the rest --> for 1 process on
# 1 thread, stepping on all the images. (a) is wrong: each process computed only its own 64
# images of every step; so is (c): the shards split each epoch's images between the
# processes. (b) cannot be: NCCL carries only GPU tensors (PyTorch's distributed
# documentation<!-- source: https://pytorch.org/docs/stable/distributed.html -->), so it
# cannot run these CPU processes.

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
# Hint: section 10 on SyncBatchNorm, and the lines batch_norm.py printed after it
answer_q4 = "a"
### END SOLUTION
check_exercise("Q4", answer_q4=answer_q4)

# %% [markdown] tags=["solution"]
# **(a).** As section 10 says, plain `BatchNorm` normalises with its own shard's
# statistics, while with `SyncBatchNorm` each process normalises with the whole batch's,
# computed across the processes (its docs; refused on the CPU here). Section 10's
# `batch_norm.py` did that by hand with `all_reduce` and matched `BatchNorm2d` on the
# whole batch (**True (largest gap 9.5e-07)**
# <!-- says: [rank 0] normalised by hand == BatchNorm2d on the whole batch -->); rank 0's
# shard normalised with its own statistics ended up to
# 2.4e-01<!-- output: [rank 0] normalised with my shard's own statistics, largest gap -->
# away. DDP already averages every
# parameter's gradient, batch norm's weight and bias included, as PyTorch's DDP
# notes<!-- source: https://pytorch.org/docs/stable/notes/ddp.html --> describe (not shown
# here).

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
# processes' gradients differed (nothing was sent); after the last they were equal, and
# `accumulated == one DDP step on the whole shard:` printed
# **True (largest gap 1.5e-08)**<!-- says: accumulated == one DDP step on the whole shard -->;
# the hook counted
# 1<!-- output: all-reduces per accumulated step of 2 micro-batches, with no_sync -->
# all-reduce per accumulated step with `no_sync`,
# 2<!-- output: all-reduces per accumulated step of 2 micro-batches, without no_sync -->
# without.

# %% [markdown]
# ## Appendix A: section 8 in full
#
# This appendix extends section 8: the same three arms at a larger effective batch, the
# rounds one by one, two checks on the launches, and `comm_cost.py`'s full table.
#
# **An effective batch of 2,048.** The same launch with 1,024 images per process: 16 times
# the images in a step and 16 times fewer steps in an epoch, at 128's learning rate of 0.2,
# untuned (Appendix D). Compare its validation accuracies only with each other, not with
# 128's.

# %%
big_batch = full_or_smoke(full=1024, smoke=256)  # images per process
arms_launches["arms_big"] = launch_arms("arms_big", big_batch)
large = 2 * big_batch  # the effective batch (2,048 in full mode)
launches[large] = read_arms(work_folder / "arms_big")
print(arms_table(launches[large], f"effective batch {large}, seconds per epoch on {machine}"))
# The fair comparison, as section 8's at 128: 2 processes against 1 process on 2 threads.
at_large = arm_speed_ups(launches[large], TWO_PROCESSES, TWO_THREADS, digits=SPEED_UP_DIGITS)
print(f"2 processes against 1 process on 2 threads at {large}, median: {at_large.median:.2f}")
print(f"2 processes against 1 process on 2 threads at {large}, verdict: {at_large.verdict}")

# %%
# Section 8's figure at 2,048, on its own scale of seconds: do not read it against 128's.
plot_epoch_parts(
    {f"effective batch {large:,}, {train_size:,} images an epoch": launches[large]},
    machine,
    labels=part_labels,
)

# %% [markdown]
# Against `1 process, 2 threads`, 2 processes ran at
# 0.78<!-- output: 2 processes against 1 process on 2 threads at 2048, median --> times its
# speed at 2,048 (**slower in every
# round**<!-- says: 2 processes against 1 process on 2 threads at 2048, verdict -->). This
# rests on one launch of 5 counted rounds; rerun the launch and look for how far its
# verdict moves. Each of the 2 processes loads half the images (the figure's orange
# part): the cells below split each epoch into its loading and the rest.
#
# **The epochs, round by round.** An arm's speed-up in a round is the baseline's epoch over
# its own (above 1: faster). The median is of the rounds' speed-ups, so not quite the ratio
# of the tables' median epochs. The verdict names a winner only when every round agrees; a
# round printed from 0.91 to 1.10 counts as tied.

# %%
# effective batch -> arm -> its rounds against the baseline: each round's speed-up (the
# baseline's epoch over the arm's), judged as printed, their median and the verdict
against_one = {
    batch: {
        arm: arm_speed_ups(figures, arm, ONE_THREAD, digits=SPEED_UP_DIGITS)
        for arm in (TWO_THREADS, TWO_PROCESSES)
    }
    for batch, figures in launches.items()
}
counted = len(launches[small][ONE_THREAD]["epochs"])
print(f"rounds counted: {counted}")
print(f"seconds per epoch on {machine}; speed-up: the baseline's epoch over the arm's")
width = max(10, 5 * counted - 1)  # each round's speed-up: 4 characters and a space
print(f"{'batch':>5} | {'arm':<26} | epoch | {'each round':<{width}} | median | verdict")
for batch, figures in launches.items():
    print(f"{batch:>5} | {ONE_THREAD:<26} | {figures[ONE_THREAD]['epoch']:5.2f} | the baseline")
    for arm, count in against_one[batch].items():
        each = " ".join(f"{speed_up:.2f}" for speed_up in count.speed_ups)
        print(
            f"{batch:>5} | {arm:<26} | {figures[arm]['epoch']:5.2f} | {each:<{width}} | "
            f"{count.median:6.2f} | {count.verdict}"
        )
for batch in launches:  # the 2 processes' rows again, as the text below quotes them
    over_one = against_one[batch][TWO_PROCESSES]
    print(f"{TWO_PROCESSES} at {batch}, median speed-up: {over_one.median:.2f}")
    print(f"{TWO_PROCESSES} at {batch}, verdict: {over_one.verdict}")
# Each epoch's two parts, the medians over the rounds: loading the batches (for 2 processes,
# rank 0's, as its epoch), and the rest (the median epoch minus the median loading).
for batch, figures in launches.items():
    for arm in (ONE_THREAD, TWO_PROCESSES):
        print(f"{arm} at {batch}, median seconds loading: {figures[arm]['loader']:.3f}")
        if batch != small:  # section 8 printed the rests at 128, as the figure labels them
            shown = shown_parts(figures[arm])[2]
            print(f"{arm} at {batch}, seconds of the rest: {shown:.3f}")
    share = figures[ONE_THREAD]["loader"] / figures[ONE_THREAD]["epoch"]  # medians
    print(f"1 process, 1 thread at {batch}, loading's share of the epoch: {share:.2f}")
    halved = figures[TWO_PROCESSES]["loader"] / figures[ONE_THREAD]["loader"]
    print(f"2 processes' loading over 1 process's at {batch}: {halved:.2f}")
    below = "below one half" if halved < 0.5 else "one half or above"
    print(f"2 processes' loading over 1 process's at {batch}, against one half: {below}")
    # Against 1 process on 1 thread: what the split saved in loading, and what it added to
    # the rest (as printed: shown_parts); which of the two was the larger.
    one_parts, two_parts = (shown_parts(figures[arm]) for arm in (ONE_THREAD, TWO_PROCESSES))
    saved_loading, added_rest = one_parts[1] - two_parts[1], two_parts[2] - one_parts[2]
    larger = "the loading's saving" if saved_loading > added_rest else "the rest's growth"
    print(f"2 processes against 1 process on 1 thread at {batch}, the larger change: {larger}")
    margin = abs(saved_loading - added_rest)  # how far apart the two changes were
    print(f"2 processes against 1 process on 1 thread at {batch}, by (s): {margin:.3f}")
    for part, name in ((1, "loading"), (2, "the rest")):  # as printed: shown_parts
        one, two = one_parts[part], two_parts[part]
        change = "shorter" if two < one else "longer" if two > one else "the same"
        print(f"2 processes against 1 process on 1 thread at {batch}, {name}: {change}")

# %% [markdown]
# Against `1 process, 1 thread`, that is 2 CPUs against 1, the 2 processes ran at
# 0.46<!-- output: 2 processes, 1 thread each at 128, median speed-up --> times its speed
# (**slower in every round**<!-- says: 2 processes, 1 thread each at 128, verdict -->) at
# 128 and
# 1.08<!-- output: 2 processes, 1 thread each at 2048, median speed-up --> times
# (**no clear winner: 0 faster, 5 tied, 0
# slower**<!-- says: 2 processes, 1 thread each at 2048, verdict -->) at 2,048.
#
# Loading took
# 0.36<!-- output: 1 process, 1 thread at 128, loading's share of the epoch --> of
# `1 process, 1 thread`'s median epoch at 128 and
# 0.61<!-- output: 1 process, 1 thread at 2048, loading's share of the epoch --> at 2,048.
# Each process loads half of every batch's images; rank 0's loading (timed on the same clock
# as its epoch) took
# 0.76<!-- output: 2 processes' loading over 1 process's at 128 --> of
# `1 process, 1 thread`'s at 128 and
# 0.56<!-- output: 2 processes' loading over 1 process's at 2048 --> at 2,048 (set
# against one half, for half the images, in this one launch:
# **one half or
# above**<!-- says: 2 processes' loading over 1 process's at 2048, against one half -->).
# The rest was
# **longer**<!-- says: 2 processes against 1 process on 1 thread at 128, the rest --> at 128
# and **longer**<!-- says: 2 processes against 1 process on 1 thread at 2048, the rest --> at
# 2,048. So in the figure above, at 2,048, the 2 processes' loading is the
# **shorter**<!-- says: 2 processes against 1 process on 1 thread at 2048, loading --> and
# their rest the longer; the larger of the two changes was
# **the loading's
# saving**<!-- says: 2 processes against 1 process on 1 thread at 2048, the larger change -->,
# by only
# 0.016 s<!-- output: 2 processes against 1 process on 1 thread at 2048, by (s) --> in
# this one launch: set that margin against the spread of the rounds' dots in the figure
# before reading anything into it. At 128 the larger was
# **the rest's
# growth**<!-- says: 2 processes against 1 process on 1 thread at 128, the larger change -->.
#
# **The same model.** After the rounds, `compare_arms.py` compared the weights of
# `1 process, 1 thread` and `2 processes, 1 thread each`:

# %%
from course_utils.scaling import read_arms_json, read_weight_gap

for batch, folder in ((small, "arms_128"), (large, "arms_big")):
    gap = read_weight_gap(work_folder / folder)  # compare_arms.py's, after the rounds
    name = f"effective batch {batch}"
    print(f"{name}, largest weight difference, 1 process against 2: {gap:.1e}")
    # For scale: the 1 process's largest weight, in absolute value.
    largest = read_arms_json(work_folder / folder)["largest_weight"]
    print(f"{name}, largest absolute weight, 1 process: {largest:.2f}")

# %% [markdown]
# They trained the same model: at 128, to within 7.2e-07
# <!-- output: effective batch 128, largest weight difference, 1 process against 2 -->
# against weights up to 0.86
# <!-- output: effective batch 128, largest absolute weight, 1 process -->; look for a gap
# as small at 2,048.
#
# While rank 0 trained a 1-process arm, rank 1 waited at a barrier. Did it take CPU time
# from rank 0 there? Each launch's rank 1 printed its wall and CPU seconds at the barrier;
# look for the CPU seconds to be a small share of the wall seconds.

# %%
for name, launch in arms_launches.items():
    for line in launch.output.splitlines():
        if "waiting at the barrier" in line:
            print(f"{name}: {line}")

# %% [markdown]
# `compare_arms.py`, which trained them:

# %%
Code(filename=str(scripts / "compare_arms.py"), language="python")

# %% [markdown]
# **The step, part by part.** `comm_cost.py`'s full table. Its rows 1 to 7 were timed with
# both processes at work, each the median over the repeats of the slower process's time;
# `DDP's added time` and its two indented parts are differences of those medians (a
# negative one means two rows probably within noise). `DDP step inside no_sync` is the DDP
# step with nothing sent (section 10 uses `no_sync`), so the indented rows split DDP's added
# time into its wrapper around forward and the reduction with its waits. Look for
# `reduction, waits` to take longer than the bare `all-reduce between the steps`; one
# hypothesis, not tested here: inside the DDP step, gloo's own threads compete with the
# steps for the CPUs. The last two rows were timed on rank 0 alone, while rank 1 waited at a
# barrier, as one process would run: set them against each other, not against rows 1 to 7,
# which shared the 2 CPUs.

# %%
from course_utils.scaling import comm_cost_table

title = f"{machine}, 1 thread per process; rows 1-7: both processes at work"
print(comm_cost_table(cost, title))
# DDP's step minus the same step without DDP, over that step (section 8 printed it at 64)
over_step_1024 = (ms[1024]["ddp"] - ms[1024]["step"]) / ms[1024]["step"]
print(f"1024 images per process, DDP's addition over the step: {over_step_1024:.2f}")
over_bare = (ms[64]["ddp"] - ms[64]["step"]) / ms[64]["all_reduce"]  # section 8's all-reduce
print(f"64 images per process, DDP's addition over the bare all-reduce: {over_bare:.2f}")

# %% [markdown]
# DDP's step, timed as rows 1 to 7 (both processes at work), added
# 1.93<!-- output: 64 images per process, DDP's addition over the step --> times the step
# without it at 64 images per process (and
# 2.48<!-- output: 64 images per process, DDP's addition over the bare all-reduce --> times
# section 8's bare all-reduce) and
# 1.00<!-- output: 1024 images per process, DDP's addition over the step --> times at
# 1,024. It is the exchange, the waits for the other process and the wrapper together, which
# the table's indented rows split.
#
# **From 64 to 1,024 images per process.** The table's two columns: how the step and the
# bare all-reduce grew with 16 times the images, and what halving one process's work saved
# at each (rank 0 alone) against the bare all-reduce (both processes at work).

# %%
share = {}  # B -> the all-reduce's time over the step's, both with the 2 processes at work
for size in (64, 1024):
    share[size] = ms[size]["all_reduce"] / ms[size]["step"]
    print(f"{size} images per process, the all-reduce over the step: {share[size]:.2f}")
for part, name in (("all_reduce", "the bare all-reduce"), ("step", "the step")):
    growth = ms[1024][part] / ms[64][part]
    print(f"{name}, times longer at 1024 images per process than at 64: {growth:.2f}")
trend = "smaller" if share[1024] < share[64] else "larger" if share[1024] > share[64] else "equal"
print(f"the all-reduce over the step, from 64 to 1024 images per process: {trend}")
# What halving the work saves one process at 1,024 (section 8 printed it at 64), from the
# table's last two rows: its step on 2B images minus its step on B.
print(f"1024 images per process, ms of the bare all-reduce: {ms[1024]['all_reduce']:.3f}")
saved = ms[1024]["double"] - ms[1024]["alone"]
print(f"halving 2048 images to 1024, ms saved (rank 0 alone): {saved:.3f}")
ddp_added_1024 = ms[1024]["ddp"] - ms[1024]["step"]  # both processes at work
print(f"1024 images per process, ms DDP adds to a step: {ddp_added_1024:.3f}")
twice_1024 = ms[1024]["double"] <= 2 * ms[1024]["alone"]
print(f"rank 0 alone, a step on 2048 images at most twice one on 1024: {twice_1024}")
# Section 8's bound at 1,024: against the longer of the two timings of a 1,024-image step;
# then, directly, against what halving saved (rank 0 alone: a rough guide, two conditions).
whole_1024 = max(ms[1024]["alone"], ms[1024]["step"])
bound_1024 = "more" if ddp_added_1024 > whole_1024 else "not more"
print(f"at 1024 images per process, DDP's addition against a whole step: {bound_1024}")
direct = "more" if ddp_added_1024 > saved else "less"
print(f"at 1024 images per process, DDP's addition against what halving saved: {direct}")

# %% [markdown]
# Sixteen times the images made the step
# 3.19<!-- output: the step, times longer at 1024 images per process than at 64 --> times
# longer and the all-reduce, which sends the same 25,450<!-- output: parameters -->
# values at any batch size,
# 1.13<!-- output: the bare all-reduce, times longer at 1024 images per process than at 64 -->
# times. The bare all-reduce took as long as
# 0.78<!-- output: 64 images per process, the all-reduce over the step --> of a step at 64
# images per process and
# 0.28<!-- output: 1024 images per process, the all-reduce over the step --> at 1,024
# (**smaller**<!-- says: the all-reduce over the step, from 64 to 1024 images per process -->):
# the bare all-reduce's share of a step fell. DDP's whole addition at 1,024 was
# 2.388 ms<!-- output: 1024 images per process, ms DDP adds to a step --> with both
# processes at work. Against a whole 1,024-image step, timed either way, it was
# **more**<!-- says: at 1024 images per process, DDP's addition against a whole step -->
# (section 8's bound, which also needs a step on 2,048 images at most twice one on 1,024:
# **True**<!-- says: rank 0 alone, a step on 2048 images at most twice one on 1024 -->).
# Set directly against what halving 2,048 images to 1,024 saved on rank 0 alone,
# 1.429 ms<!-- output: halving 2048 images to 1024, ms saved (rank 0 alone) --> (a rough
# guide across two conditions), it was
# **more**<!-- says: at 1024 images per process, DDP's addition against what halving saved -->.
# At 2,048 the larger change in the epoch was
# **the loading's
# saving**<!-- says: 2 processes against 1 process on 1 thread at 2048, the larger change -->
# (above). `comm_cost.py`, which timed them:

# %%
Code(filename=str(scripts / "comm_cost.py"), language="python")

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
# **How DDP averages, and why yours equals it exactly** (section 5). In `backward`, DDP
# divides each gradient by the world size and all-reduces the gradients in buckets
# (section 10) of up to
# 25 MiB<!-- source: https://pytorch.org/docs/stable/notes/ddp.html -->, each sent once it
# is filled. This model's
# 101,800<!-- output: gradient bytes each process contributes per step --> bytes fit in
# one: section 10's hook counted
# 2<!-- output: all-reduces per accumulated step of 2 micro-batches, without no_sync -->
# all-reduces for 2 `backward` calls, one bucket each. Dividing before the sum, as DDP
# does (its reducer divides each gradient by the world size as it copies it into the
# bucket<!-- source: PyTorch's DDP reducer, torch/csrc/distributed/c10d/reducer.cpp -->),
# or after it, as your function does, gives the same bits with 2 processes, since halving
# is exact in floating point.
#
# **Section 5's script**, `manual_ddp.py`, in full:

# %%
Code(filename=str(scripts / "manual_ddp.py"), language="python")

# %% [markdown]
# ## Appendix C: uneven data
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
# ## Appendix D: the training run's threads and launch
#
# This appendix extends section 7.
#
# **The linear scaling rule.** With more processes and the same per-process batch, the
# effective batch grows; the usual *linear scaling rule* grows the learning rate in
# proportion (k times the batch, k times the rate), warming up over a few epochs for very
# large batches (Goyal et al. trained a ResNet-50 on ImageNet this way, with batches of
# 8,192<!-- source: https://arxiv.org/abs/1706.02677 --> images). Section 7 trains at
# 128; Appendix A's runs at 2,048 keep the rate of 0.2 and are timed, not tuned: this
# lesson does not test the rule.
#
# **The script.** Section 7's `train_ddp.py`, in full:

# %%
Code(filename=str(scripts / "train_ddp.py"), language="python")

# %% [markdown]
# **Threads.** Each process of section 7's launch gets 1 intra-op thread
# (`OMP_NUM_THREADS=1`; its first lines print it), as a typed `torchrun` gives each of
# several processes when the variable is unset, with a
# warning<!-- source: https://github.com/pytorch/pytorch/blob/main/torch/distributed/run.py -->.
# This notebook's own process:

# %%
omp_threads = os.environ.get("OMP_NUM_THREADS", "not set")
print(f"OMP_NUM_THREADS in this notebook's process: {omp_threads}")
print(f"intra-op threads in this notebook's process: {torch.get_num_threads()}")

# %% [markdown]
# Here `OMP_NUM_THREADS` was
# **not set**<!-- says: OMP_NUM_THREADS in this notebook's process --> and this process
# ran 2<!-- output: intra-op threads in this notebook's process --> intra-op threads
# (with the variable unset, PyTorch picks the number itself).
#
# **How the workers start.** Section 3's `run_torchrun` runs torchrun's own launcher
# module (from `torch.distributed.run`), with one difference: on Linux, with CPU workers, it
# forks them from a Python that has already imported PyTorch, where a typed `torchrun`
# starts each worker as a fresh Python (`FORK_WORKERS` in `course_utils/distributed.py`).
# The timings of section 8 and Appendix A come from these launches, not from a typed
# `torchrun` in a terminal.

# %% [markdown]
# ## Appendix E: section 10 in more detail
#
# This appendix extends section 10.
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
# **Batch norm's statistics, by hand.** Section 10 ran `batch_norm.py`. After comparing
# each process's 32-image pixel mean with the whole batch's, it does what `SyncBatchNorm`
# does, on the CPU: each process passes its shard through a small convolution (the same
# weights everywhere), all-reduces each of its 8 channels' sum, sum of squares and count
# of values, compares its own channel means with the whole batch's, and normalises its
# shard with the whole batch's mean and variance (the mean of the squares minus the square
# of the mean). It compares the result with
# `nn.BatchNorm2d` in training mode, applied by one process to the whole batch (each
# process has it here). Last, it converts the model to `SyncBatchNorm`, which this PyTorch
# refuses on the CPU; on GPUs (not run here) the script prints instead whether it equals
# the by-hand result. The script:

# %%
Code(filename=str(scripts / "batch_norm.py"), language="python")

# %% [markdown]
# **Counting all-reduces.** `no_sync.py` registers its communication hook (section 10)
# with `register_comm_hook`; DDP hands it each bucket as a `GradBucket`, in place of its
# own all-reduce. This one counts the call, then all-reduces as DDP does by default
# (`allreduce_hook`):

# %%
Code(filename=str(scripts / "no_sync.py"), language="python")

# %% [markdown]
# **FSDP in miniature.** Section 10's `fsdp.py` has no optimizer, and does not show how
# the gradients are scattered. How FSDP reduce-scatters the gradients and shards the
# optimizer state: PyTorch's [FSDP2
# tutorial](https://pytorch.org/tutorials/intermediate/FSDP_tutorial.html). The script:

# %%
Code(filename=str(scripts / "fsdp.py"), language="python")
