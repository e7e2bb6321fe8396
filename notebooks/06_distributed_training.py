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
# their gradients before each step. PyTorch's engine for this is
# `DistributedDataParallel` (DDP), started by the `torchrun` launcher. The same
# script runs on 2 CPU processes, on 8 GPUs or on many machines; only the launch
# command changes. Without two GPUs, the lesson runs the real engine on 2 CPU
# processes, measures honestly what that buys there, and shows the commands that
# scale the same script out.
#
# **By the end of this lesson you can**
# - say when more devices make training faster and when communication eats the gain;
# - explain processes, rank, world size, the process group and its backends (gloo on
#   CPUs, NCCL on GPUs);
# - give every process its own shard of the data with `DistributedSampler` and
#   `set_epoch`;
# - show that a DDP step on two halves of a batch equals one step on the whole batch,
#   and equals gradient accumulation;
# - scale the learning rate with the effective batch size, and log and checkpoint
#   from rank 0 only;
# - launch a script with `torchrun --standalone --nproc_per_node=N`, and know what
#   changes for several machines, and what FSDP is for.

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
import json
import os
import shlex
import tempfile
from pathlib import Path

import psutil
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset, random_split
from torch.utils.data.distributed import DistributedSampler
from torchvision import transforms

from course_utils import evaluate
from course_utils.checkpoint import load_checkpoint
from course_utils.checks.lesson06 import check_exercise
from course_utils.data import dataset_to_tensors, mnist
from course_utils.distributed import (
    check_world_size,
    process_group,
    run_torchrun,
    torchrun_command,
)
from course_utils.models import MLP
from course_utils.report import record_result
from course_utils.settings import full_or_smoke, seed_everything, smoke_mode

generator = seed_everything(0)
print(f"PyTorch {torch.__version__}, {os.cpu_count()} CPU cores")
print(f"distributed available: {torch.distributed.is_available()}")

# %% [markdown]
# **Settings.** Smoke mode (the quick run the test suite uses) trains on 2,000
# images for one epoch in every launch; the full run uses all 50,000 training
# images for 5 epochs. Each launch may run for `launch_timeout` seconds before it
# is stopped, so a stuck process never hangs the lesson.

# %%
train_size = full_or_smoke(full=50_000, smoke=2_000)
num_epochs = full_or_smoke(full=5, smoke=1)
exercise_epochs = full_or_smoke(full=2, smoke=1)
launch_timeout = 300
print(f"Smoke mode: {smoke_mode()}; training images: {train_size}; epochs: {num_epochs}")

# %% [markdown]
# **Devices.** With NCCL every process needs a GPU of its own, so the 2-process runs
# below use GPUs only where there are at least two. Elsewhere (a CPU, a Mac, or a
# Colab with one GPU) every launch passes `cpu_only=True`, which hides the GPUs from
# the processes: they then run on the CPU with gloo. The script is the same either way.

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
else:
    print(
        "No CUDA GPU here: every launch below runs on CPU processes with gloo (an Apple "
        "GPU has no backend for process groups)."
    )

# %% [markdown]
# ## 1. When scaling out helps, and when it does not
#
# Data-parallel training splits each batch across N workers. Each worker runs the
# forward and backward pass on its share, so the *compute* per step shrinks N times.
# But before anyone may take a step, the workers must agree on one gradient: every
# step, each sends and receives about as many numbers as the model has parameters.
# That *communication* does not shrink with N. So:
#
# - a large model with a lot of arithmetic per image (a ResNet, a transformer), on
#   GPUs joined by fast links, spends most of each step computing: N workers come
#   close to N times faster;
# - a small model, such as lesson 03's MLP, computes so little per step that the
#   exchange, plus the fixed cost of every collective call, can take longer than
#   the arithmetic it saves: more workers can even be slower.
#
# How much does the MLP this lesson trains exchange per step?

# %% tags=["nbval-check-output"]
mlp = MLP(28 * 28, [32], 10)
num_parameters = sum(parameter.numel() for parameter in mlp.parameters())
steps_per_epoch = 50_000 // 128 + 1
print(f"parameters: {num_parameters:,}")
print(f"gradient bytes all-reduced per step: {num_parameters * 4:,}")
print(f"all-reduce calls per epoch, batches of 128: {steps_per_epoch}")

# %% [markdown]
# About 100 kilobytes, a few hundred times per epoch, is little data, but each
# all-reduce also costs a fixed round trip between processes, while the arithmetic
# of a step on 64 images of this MLP is a few matrix products of 64 x 784 x 32.
# Keep that in mind for the timings in section 7.
#
# ## 2. Processes, ranks and the process group
#
# DDP runs one *process* per device: separate Python programs, each with its own
# copy of the model, not threads. Each process knows
# - its **rank**: its number, from 0 to world size - 1 (rank 0 is, by convention,
#   the one that prints and saves);
# - the **world size**: how many processes take part;
# - its **local rank**: its number on its own machine, which picks its GPU.
#
# The processes join a **process group**, through which they make *collective*
# calls: `all_reduce` (every process ends with the sum of everyone's tensor),
# `broadcast`, `barrier` and others. The group runs on a **backend**: **gloo**
# works on CPUs (and is what this lesson uses without two GPUs), **NCCL** is
# NVIDIA's library for GPUs, much faster between GPUs.
#
# `torchrun` starts the processes and tells each who it is through environment
# variables (`RANK`, `WORLD_SIZE`, `LOCAL_RANK`, `MASTER_ADDR`, `MASTER_PORT`). The
# course's `process_group()` context manager reads them, calls
# `init_process_group` with a timeout (a process waiting for a partner that never
# comes fails instead of hanging), picks gloo or NCCL, and destroys the group at
# the end, even after an error. The group comes with its device, `group.device`:
# `cuda:LOCAL_RANK` with NCCL, which carries only GPU tensors, and the CPU with gloo.
# With gloo it then waits half a second, so that gloo's own threads let go of the
# last tensors before Python shuts down (a busy machine otherwise sometimes aborts
# the process at exit). In this notebook, which
# `torchrun` did not start, it refuses with a message that says what to do:

# %% tags=["nbval-check-output"]
try:
    with process_group():
        pass
except RuntimeError as error:
    print(error)

# %% [markdown]
# ## 3. Every process its own shard: `DistributedSampler`
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
# `sampler.set_epoch(epoch)` reseeds the shuffle: forget it, and every epoch uses
# the same order (the sampler cannot know on its own that a new epoch began).
# When the data does not divide evenly, the sampler repeats a few indices so that
# every process takes the same number of steps; a process with fewer steps would
# wait forever for the others at the next all-reduce.
#
# Each process needs at least one batch of its own. `check_world_size` says how
# many batches each process takes per epoch, and refuses a world too big for the
# data:

# %% tags=["nbval-check-output"]
print(f"batches per process: {check_world_size(50_000, 64, world_size=2)}")
try:
    check_world_size(200, 64, world_size=8)
except ValueError as error:
    print(error)

# %% [markdown]
# ## 4. The data, decoded once
#
# As in lesson 03, `mnist` reads the data and `dataset_to_tensors` decodes every
# image once; a seeded `random_split` holds out 10,000 training images for
# validation. The images stay as `uint8` pixels (a quarter of the memory of floats)
# and are normalised batch by batch. The notebook saves the tensors once to a
# temporary folder, and every process of every launch maps that file into memory
# (`torch.load(..., mmap=True)`), so the processes share one copy instead of
# decoding MNIST again each.

# %%
work_folder = Path(tempfile.mkdtemp(prefix="lesson06-"))
full_train = mnist(train=True, transform=transforms.PILToTensor())
split_generator = torch.Generator().manual_seed(42)
train_split, val_split = random_split(full_train, [50_000, 10_000], generator=split_generator)
train_images, train_labels = dataset_to_tensors(train_split)
val_images, val_labels = dataset_to_tensors(val_split)
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


# %% [markdown]
# ## 5. What DDP does in `backward`
#
# Wrapping a model, `DistributedDataParallel(model)`, changes three things:
# 1. at the start, rank 0's weights are copied to every process, so all start equal;
# 2. during `loss.backward()`, as soon as a group ("bucket") of gradients is ready,
#    DDP starts an **all-reduce** on it and divides by the world size: when
#    `backward` returns, every process holds the *average* of all processes'
#    gradients (the next bucket's arithmetic overlaps the last one's communication);
# 3. so every process takes the same optimizer step, and the copies stay equal
#    without ever sending weights.
#
# Because the gradient of a mean loss over a batch is the mean of the gradients over
# its parts, a DDP step on two halves of a batch should equal one step of a single
# process on the whole batch. The script below takes one step: each process uses
# its half of a batch of 64 images that the notebook saves. It checks that both
# processes end with identical weights, and rank 0 saves them.

# %%
ONE_STEP_SCRIPT = '''\
"""One DDP step: each process takes its part of one batch; then compare the weights."""

import sys

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from course_utils.distributed import process_group, rank_print
from course_utils.models import MLP

batch_path, weights_path = sys.argv[1], sys.argv[2]
with process_group(timeout=60) as group:
    device = group.device  # cuda:LOCAL_RANK with NCCL, the CPU with gloo
    images, labels = torch.load(batch_path, weights_only=True).values()
    part = len(images) // group.world_size  # rank r takes images [r * part, (r + 1) * part)
    mine = slice(group.rank * part, (group.rank + 1) * part)
    my_images, my_labels = images[mine].to(device), labels[mine].to(device)
    torch.manual_seed(0)
    model = MLP(28 * 28, [32], 10).to(device)
    # With NCCL, DDP is told which GPU this process's copy lives on; on the CPU, nothing.
    model = DistributedDataParallel(model, device_ids=[device] if group.backend == "nccl" else None)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    loss = F.cross_entropy(model(my_images), my_labels)  # the mean over my part
    loss.backward()  # all-reduce: every process now holds the average of all gradients
    optimizer.step()
    flat = torch.cat([p.detach().flatten() for p in model.parameters()])
    smallest, largest = flat.clone(), flat.clone()
    dist.all_reduce(smallest, op=dist.ReduceOp.MIN)
    dist.all_reduce(largest, op=dist.ReduceOp.MAX)
    rank_print(f"{len(my_labels)} images, loss on them {loss.item():.4f}", all_ranks=True)
    rank_print("every process holds the same weights:", torch.equal(smallest, largest))
    if group.rank == 0:
        torch.save(model.module.state_dict(), weights_path)  # load with map_location="cpu"
'''
one_step_path = work_folder / "one_step.py"
one_step_path.write_text(ONE_STEP_SCRIPT)
batch_indices = torch.randperm(len(train_images), generator=generator)[:64]
batch_images = normalised(train_images[batch_indices])
batch_labels = train_labels[batch_indices]
torch.save({"images": batch_images, "labels": batch_labels}, work_folder / "batch.pt")
one_step = run_torchrun(
    one_step_path,
    nproc=2,
    args=[work_folder / "batch.pt", work_folder / "ddp_weights.pt"],
    timeout=launch_timeout,
    cpu_only=cpu_only,
)
print(one_step.output)

# %% [markdown]
# Now the same step in this notebook, one process, on the whole batch; and a third
# way, *gradient accumulation*: two backward passes on the two halves, each loss
# divided by 2, gradients summed in `.grad`, then one step. Accumulation is how one
# device imitates a batch too big for its memory; DDP does the same sum across
# processes instead of across time.

# %% tags=["nbval-check-output"]
# map_location: weights saved from a GPU process load onto this notebook's CPU.
ddp_weights = torch.load(work_folder / "ddp_weights.pt", map_location="cpu", weights_only=True)

torch.manual_seed(0)  # the same initial weights as the script
whole_batch_model = MLP(28 * 28, [32], 10)
optimizer = torch.optim.SGD(whole_batch_model.parameters(), lr=0.5)
F.cross_entropy(whole_batch_model(batch_images), batch_labels).backward()
optimizer.step()

torch.manual_seed(0)
accumulated_model = MLP(28 * 28, [32], 10)
optimizer = torch.optim.SGD(accumulated_model.parameters(), lr=0.5)
for half in (slice(0, 32), slice(32, 64)):
    loss = F.cross_entropy(accumulated_model(batch_images[half]), batch_labels[half])
    (loss / 2).backward()  # .grad adds up: the two halves' mean
optimizer.step()


def same_weights(weights: dict[str, torch.Tensor], model: torch.nn.Module) -> bool:
    """Whether every tensor of ``weights`` matches ``model``'s, up to float32 rounding."""
    return all(
        torch.allclose(weights[name], value, rtol=1e-5, atol=1e-6)
        for name, value in model.state_dict().items()
    )


print("DDP on 2 processes == 1 process, whole batch:", same_weights(ddp_weights, whole_batch_model))
print("DDP on 2 processes == gradient accumulation:", same_weights(ddp_weights, accumulated_model))
print("weights moved in the step:", not same_weights(ddp_weights, MLP(28 * 28, [32], 10)))

# %% [markdown]
# The three agree, up to float32 rounding (the sums are added in another order).
# The last line guards the check itself: a fresh model's weights do not match, so
# the comparison can fail.
#
# ## 6. The training script
#
# Here is the whole training script. Read it top to bottom; the lines that are
# specific to data parallelism are
# - `with process_group(timeout=60) as group`: join the group, leave it at the end;
# - `device = group.device`, `.to(device)` on the model and on every batch, and
#   `device_ids=[device]` for DDP with NCCL: these lines make the same script run on
#   CPUs with gloo and on GPUs with NCCL (the one-step script above has them too);
# - `synchronize(device)` before the clock is read: on a GPU the steps are queued,
#   and the epoch's time would otherwise be the time to queue them (lesson 04);
# - `DistributedSampler(..., num_replicas=world_size, rank=rank)` and
#   `sampler.set_epoch(epoch)`: a different shard per process, a new shuffle per epoch;
# - `DistributedDataParallel(model)`: the gradients are averaged in `backward`;
# - validation on every world_size-th image, then `dist.all_reduce(totals)` to add
#   up the shards' counts, so every process knows the whole validation accuracy;
# - `rank_print` and `if rank == 0: save_checkpoint(...)`: one process logs and
#   saves (all hold the same weights; N processes writing one file would clash),
#   and a `barrier` keeps the others from running ahead of the save. Note that
#   rank 0 saves `model.module`, the plain model inside the DDP wrapper, so the
#   checkpoint loads into an `MLP` without DDP.
#
# **The effective batch size** is the per-process batch times the world size: with
# `--batch-size 64` on 2 processes, each step averages 128 images, the same as
# lesson 03's batches of 128, so the same learning rate (0.2) fits. Double the
# world size with the same per-process batch and the effective batch doubles:
# the usual *linear scaling rule* then doubles the learning rate too, with a few
# epochs of warm-up when the batch becomes very large (Goyal et al. trained a
# ResNet-50 on ImageNet with batches of
# 8,192<!-- source: https://arxiv.org/abs/1706.02677 --> images this way).

# %%
TRAIN_SCRIPT = '''\
"""Train lesson 03's MLP on MNIST with DistributedDataParallel, one process per device."""

import argparse
import json
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data.distributed import DistributedSampler

from course_utils.checkpoint import save_checkpoint
from course_utils.device import synchronize
from course_utils.distributed import check_world_size, process_group, rank_print
from course_utils.models import MLP

parser = argparse.ArgumentParser()
parser.add_argument("--data", type=Path, required=True)
parser.add_argument("--out", type=Path, required=True)
parser.add_argument("--epochs", type=int, default=5)
parser.add_argument("--train-size", type=int, default=50_000)
parser.add_argument("--batch-size", type=int, default=64, help="per process")
parser.add_argument("--lr", type=float, default=0.2)
args = parser.parse_args()
MEAN, STD = 0.1307, 0.3081  # MNIST's pixel mean and standard deviation


def as_input(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 pixels (kept small in memory) -> normalised floats."""
    return (pixels.float() / 255 - MEAN) / STD


with process_group(timeout=60) as group:
    rank, world_size, device = group.rank, group.world_size, group.device
    rank_print(f"{torch.get_num_threads()} threads, {device}", all_ranks=True)
    # The notebook decoded MNIST once and cut the validation split, as lesson 03 does;
    # mmap=True maps the file, so the processes share one copy of it in memory.
    data = torch.load(args.data, mmap=True, weights_only=True)
    train_images = data["train_images"][: args.train_size]
    train_labels = data["train_labels"][: args.train_size]
    val_images, val_labels = data["val_images"], data["val_labels"]
    check_world_size(len(train_images), args.batch_size, world_size)

    # The sampler hands each process a different shard of the shuffled indices.
    train_set = TensorDataset(train_images, train_labels)
    sampler = DistributedSampler(train_set, num_replicas=world_size, rank=rank, seed=0)
    loader = DataLoader(train_set, batch_size=args.batch_size, sampler=sampler)
    # Validation is sharded too: every world_size-th image, from the rank's offset on.
    my_val_images = val_images[rank::world_size].to(device)
    my_val_labels = val_labels[rank::world_size].to(device)

    torch.manual_seed(0)  # the same initial weights everywhere (DDP also copies rank 0's)
    model = MLP(28 * 28, [32], 10).to(device)
    model = DistributedDataParallel(model, device_ids=[device] if group.backend == "nccl" else None)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr)
    rank_print(
        f"{world_size} process(es) x {args.batch_size} images = effective batch "
        f"{world_size * args.batch_size}, learning rate {args.lr}, "
        f"{len(loader)} steps per epoch per process"
    )
    history = []
    for epoch in range(1, args.epochs + 1):
        sampler.set_epoch(epoch)  # a new shuffle each epoch, the same on every rank
        model.train()
        dist.barrier()
        start = time.perf_counter()
        for images, labels in loader:
            images, labels = images.to(device), labels.to(device)
            loss = F.cross_entropy(model(as_input(images)), labels)
            optimizer.zero_grad()
            loss.backward()  # DDP all-reduces (averages) the gradients here
            optimizer.step()
        synchronize(device)  # a GPU runs the queued steps later: wait (a CPU has none queued)
        dist.barrier()
        seconds = time.perf_counter() - start
        model.eval()
        with torch.no_grad():
            outputs = model.module(as_input(my_val_images))
            # Sums over my shard, kept on my device (NCCL carries only GPU tensors).
            totals = torch.stack(
                [
                    F.cross_entropy(outputs, my_val_labels, reduction="sum"),
                    (outputs.argmax(dim=1) == my_val_labels).sum().float(),
                    torch.tensor(float(len(my_val_labels)), device=device),
                ]
            )
        dist.all_reduce(totals)  # sum the shards' counts over every process
        val_loss, val_acc = (totals[:2] / totals[2]).tolist()
        history.append(
            {"epoch": epoch, "seconds": seconds, "val_loss": val_loss, "val_acc": val_acc}
        )
        rank_print(
            f"epoch {epoch}: {seconds:.2f} s training, val_loss {val_loss:.4f}, "
            f"val_acc {val_acc:.4f}"
        )
        if rank == 0:  # one process writes; the others would write the same weights
            save_checkpoint(
                args.out / "checkpoint.pt", model.module, optimizer, epoch=epoch, val_acc=val_acc
            )
        dist.barrier()  # nobody runs ahead of the checkpoint
    if rank == 0:
        (args.out / "history.json").write_text(json.dumps(history))
'''
train_script = work_folder / "train_ddp.py"
train_script.write_text(TRAIN_SCRIPT)
print(f"{len(TRAIN_SCRIPT.splitlines())} lines written to {train_script.name}")

# %% [markdown]
# **Launching.** On a terminal you would type
# `torchrun --standalone --nproc_per_node=2 train_ddp.py --data ... --out ...`
# (on a machine with one GPU, `CUDA_VISIBLE_DEVICES= torchrun ...` hides it, which
# is what `cpu_only=True` does).
# `--standalone` means one machine, with a rendezvous point on a free local port
# that torchrun picks itself; `--nproc_per_node` is the number of processes
# (usually the number of GPUs). The course's `run_torchrun` runs exactly that
# command as `python -m torch.distributed.run`, so it is this notebook's Python,
# captures the output, stops everything after a timeout, and measures the memory
# of the processes.
#
# Threads matter on a CPU: each process would otherwise start as many intra-op
# threads as there are cores, and 2 processes x 2 threads on 2 cores fight over
# them. `run_torchrun` sets `OMP_NUM_THREADS` (which `torch.set_num_threads`
# follows) to the cores divided by the processes; here both runs use 1 thread per
# process, so that they compare like with like (exercise 2 tries 2 threads).

# %%
run_folders = {nproc: work_folder / f"run_{nproc}" for nproc in (1, 2)}
common_args = ["--data", data_path, "--epochs", num_epochs, "--train-size", train_size]
print(shlex.join(["torchrun", *torchrun_command(train_script.name, 2)[3:]]))
two_processes = run_torchrun(
    train_script,
    nproc=2,
    args=[*common_args, "--out", run_folders[2], "--batch-size", 64, "--lr", 0.2],
    timeout=launch_timeout,
    cpu_only=cpu_only,
    threads_per_process=1,
)
print(two_processes.output)

# %% [markdown]
# ## 7. One process against two
#
# The same script with `--nproc_per_node=1` and batches of 128 trains on the same
# effective batch. Compare the time per epoch (the training loop only, without
# starting Python and loading the data) and the final validation accuracy.

# %%
one_process = run_torchrun(
    train_script,
    nproc=1,
    args=[*common_args, "--out", run_folders[1], "--batch-size", 128, "--lr", 0.2],
    timeout=launch_timeout,
    cpu_only=cpu_only,
    threads_per_process=1,
)
print(one_process.output)

# %%
histories = {
    nproc: json.loads((folder / "history.json").read_text())
    for nproc, folder in run_folders.items()
}
seconds_per_epoch = {
    nproc: sum(epoch["seconds"] for epoch in history) / len(history)
    for nproc, history in histories.items()
}
print(f"{'processes':>9} | {'s per epoch':>11} | {'val accuracy':>12} | {'launch to exit':>14}")
for nproc, result in ((1, one_process), (2, two_processes)):
    print(
        f"{nproc:>9} | {seconds_per_epoch[nproc]:>11.2f} | "
        f"{histories[nproc][-1]['val_acc']:>12.4f} | {result.seconds:>12.1f} s"
    )
speed_up = seconds_per_epoch[1] / seconds_per_epoch[2]
record_result("1 process, seconds per epoch", round(seconds_per_epoch[1], 2))
record_result("2 processes, seconds per epoch", round(seconds_per_epoch[2], 2))
record_result("speed-up with 2 processes", round(speed_up, 2))
record_result("1 process, validation accuracy", histories[1][-1]["val_acc"])
record_result("2 processes, validation accuracy", histories[2][-1]["val_acc"])

# %% [markdown]
# In the run whose outputs you see, on a 2-core CPU, 2 processes took
# 1.73 s<!-- output: 2 processes, seconds per epoch --> per epoch against
# 0.63 s<!-- output: 1 process, seconds per epoch --> for one: a speed-up of
# 0.36<!-- output: speed-up with 2 processes -->, that is, a *slow-down*. That is
# the honest result of data parallelism on 2 shared CPU cores with a tiny model (on
# two GPUs, or more cores, measure it: the same table is printed above):
# - each step's arithmetic (a 64 x 784 x 32 matrix product and a few small ones)
#   takes well under a millisecond, while every step adds an all-reduce through gloo
#   over loopback sockets, whose fixed round-trip cost is of the same size or larger;
# - the two processes share the same 2 cores (and memory bandwidth) with the
#   launcher and anything else running, so neither has a core of its own for sure;
# - one process with 1 thread already keeps a core busy; the second core adds less
#   than it costs to coordinate.
#
# The accuracies agree: 95.8%<!-- output: 1 process, validation accuracy --> for one
# process and 95.8%<!-- output: 2 processes, validation accuracy --> for two. With
# the same effective batch, the same seed and `DistributedSampler`'s interleaved
# shards, the two halves of each 2-process step are exactly the 128 images of the
# 1-process step, so the two runs follow the same path, up to rounding.
#
# **On real hardware** the picture changes: a model with far more arithmetic per
# image, one GPU per process, and NCCL over NVLink or InfiniBand. The DDP paper
# (Li et al., VLDB 2020) reports near-linear scaling on up to
# 256 GPUs<!-- source: https://arxiv.org/abs/2006.15704 --> for ResNet-50 and BERT,
# when the gradient buckets overlap communication with the backward pass. This
# lesson does not make up a figure for your cluster: measure it, with the same
# table.
#
# **Memory.** Every process is a full Python with its own copy of PyTorch and the
# model:

# %%
record_result("torchrun processes, peak memory (MB)", round(two_processes.peak_rss_mb))
record_result("largest worker, peak memory (MB)", round(two_processes.peak_worker_rss_mb))
if two_processes.peak_pss_mb > 0:  # proportional memory: reported on Linux only
    record_result("torchrun processes, proportional memory (MB)", round(two_processes.peak_pss_mb))
print(f"this notebook's memory (MB): {psutil.Process().memory_info().rss / 2**20:.0f}")

# %% [markdown]
# The launcher and its 2 workers together held
# 2096 MB<!-- output: torchrun processes, peak memory (MB) --> of resident memory at
# their peak. Resident memory counts the PyTorch libraries once per process,
# although the processes share those pages; split fairly between the processes
# that share them (proportional set size), the run used
# 1393 MB<!-- output: torchrun processes, proportional memory (MB) -->. Most of it
# is PyTorch itself, loaded by each of the three processes.
#
# ## 8. The checkpoint, tested once
#
# Rank 0 saved the weights of the last epoch with `save_checkpoint`. Any program
# can load them into a plain `MLP`, without processes or DDP: here, the test set
# meets the 2-process model once, at the end.

# %%
test_images, test_labels = dataset_to_tensors(
    mnist(train=False, transform=transforms.PILToTensor())
)
test_loader = DataLoader(TensorDataset(normalised(test_images), test_labels), batch_size=1000)
trained = MLP(28 * 28, [32], 10)
saved = load_checkpoint(run_folders[2] / "checkpoint.pt", trained)
print(f"checkpoint of epoch {saved['epoch']}, validation accuracy {saved['val_acc']:.4f}")
record_result("2-process MLP test accuracy", evaluate(trained, test_loader)["val_acc"])

# %% [markdown]
# ## 9. Scaling out: more GPUs, more machines
#
# The script does not change. On one machine with 8 GPUs, with the GPUs visible (no
# `cpu_only`, no `CUDA_VISIBLE_DEVICES=`):
#
# ```bash
# torchrun --standalone --nproc_per_node=8 train_ddp.py --data ... --out ...
# ```
#
# `process_group()` then picks NCCL, and each process takes GPU number `LOCAL_RANK`:
# `group.device` is `cuda:0` to `cuda:7`, and the `.to(device)` lines move the model
# and every batch there. On several machines, start the same command on every machine, with
# the number of machines and one meeting point that all of them can reach:
#
# ```bash
# torchrun --nnodes=4 --nproc_per_node=8 --rdzv-backend=c10d \
#     --rdzv-endpoint=node0.example.org:29500 --rdzv-id=mnist-run \
#     train_ddp.py --data ... --out ...
# ```
#
# `--nnodes` is the number of machines, `--rdzv-endpoint` the host and port where
# they meet (the same on every machine; the port must be free and open between the
# machines), `--rdzv-id` a name for the job. World size becomes 4 x 8 = 32, ranks
# 0 to 31, and local ranks 0 to 7 on each machine. Each machine needs the data
# (or a shared file system), and rank 0's machine writes the checkpoint.
#
# **When the model itself does not fit.** DDP keeps a whole copy of the model,
# its gradients and its optimizer state on every device. For models too large for
# that, the next step is **FSDP** (Fully Sharded Data Parallel,
# `torch.distributed.fsdp`): it shards the parameters, gradients and optimizer
# state across the processes, so each holds only its slice and gathers the full
# weights of a layer just while computing it.

# %% [markdown]
# ## Summary
#
# - Data parallelism: one process per device, each a full model copy, each on its
#   own shard of every batch; it pays off when computation outweighs communication.
# - Rank, world size and local rank say who a process is; the process group (gloo on
#   CPUs, NCCL on GPUs) carries collective calls such as `all_reduce`. Give every
#   distributed call a timeout.
# - `DistributedSampler` gives each process a different shard; call `set_epoch`
#   every epoch.
# - DDP all-reduces and averages the gradients during `backward`: one DDP step on
#   N parts equals one step on the whole batch, and equals gradient accumulation.
# - Effective batch = per-process batch x world size; scale the learning rate with it.
# - Log and save from rank 0 (`model.module`); launch with `torchrun --standalone
#   --nproc_per_node=N`, and add `--nnodes` and `--rdzv-endpoint` for several machines.
# - Here, 2 CPU processes were slower than one for a tiny model; measure before you
#   scale out. FSDP is the next step when a model does not fit on one device.

# %% [markdown]
# ## Exercises
#
# After each exercise, run its check cell. It reads how your run was launched from
# what the training script printed, and says whether the exercise is not attempted
# yet, not right yet (and what it found), or passed (and what it checked). The lines
# under `if check_exercise(...)` run only for a passing answer.
#
# **Exercise 1: the linear scaling rule.** Keep batches of 128 *per process* on 2
# processes (an effective batch of 256, half as many steps per epoch) and double
# the learning rate to 0.4. Train for `num_epochs` epochs into
# `work_folder / "run_256"`, and store the history (a list of dicts, as in
# `history.json`) in `scaled_history` and what `run_torchrun` returns in
# `scaled_run`. How do the time per epoch and the validation accuracy compare with
# the 2-process run above?

# %%
### BEGIN SOLUTION
# Hint: run_torchrun(train_script, 2, args=[...], cpu_only=cpu_only), --batch-size 128 --lr 0.4
scaled_folder = work_folder / "run_256"
scaled_run = run_torchrun(
    train_script,
    nproc=2,
    args=[*common_args, "--out", scaled_folder, "--batch-size", 128, "--lr", 0.4],
    timeout=launch_timeout,
    cpu_only=cpu_only,
    threads_per_process=1,
)
scaled_history = json.loads((scaled_folder / "history.json").read_text())
### END SOLUTION

# %%
if check_exercise(1, scaled_run=scaled_run, scaled_history=scaled_history, num_epochs=num_epochs):
    scaled_seconds = sum(epoch["seconds"] for epoch in scaled_history) / len(scaled_history)
    print(f"effective batch 256, seconds per epoch: {scaled_seconds:.2f}")
    print(f"effective batch 256, validation accuracy: {scaled_history[-1]['val_acc']:.4f}")
    print(f"effective batch 128, seconds per epoch: {seconds_per_epoch[2]:.2f}")
    print(f"effective batch 128, validation accuracy: {histories[2][-1]['val_acc']:.4f}")

# %% [markdown] tags=["solution"]
# **What the result means.** With an effective batch of 256 an epoch takes
# 0.83 s<!-- output: effective batch 256, seconds per epoch --> against
# 1.73 s<!-- output: effective batch 128, seconds per epoch -->: half as many steps
# means half as many all-reduces, and each process works on larger, more efficient
# matrix products. With the learning rate doubled, the accuracy stays in the same
# range: 94.5%<!-- output: effective batch 256, validation accuracy --> against
# 95.8%<!-- output: effective batch 128, validation accuracy -->. The rule keeps the
# size of each epoch's progress roughly the same, not exactly: with half as many
# steps in a few epochs, the larger batch lags a little (longer training, or a
# warm-up, closes such gaps). Larger per-process batches are the first way to make
# communication matter less.

# %% [markdown]
# **Exercise 2: threads per process.** Run the 1-process training again for
# `exercise_epochs` epochs with 2 intra-op threads instead of 1
# (`threads_per_process=2`), into `work_folder / "run_1_two_threads"`. Keep what
# `run_torchrun` returns in `thread_run` and the mean seconds per epoch in
# `two_thread_seconds`. Threads are a CPU matter, so this run uses a CPU process
# (`cpu_only=True`) even on a machine with GPUs; where the runs above used GPUs,
# compare it with a 1-thread CPU run of your own. Is a second thread worth it for
# this model?

# %%
### BEGIN SOLUTION
# Hint: run_torchrun(..., nproc=1, threads_per_process=2, cpu_only=True); average the seconds
thread_folder = work_folder / "run_1_two_threads"
thread_args = ["--data", data_path, "--epochs", exercise_epochs, "--train-size", train_size]
thread_run = run_torchrun(
    train_script,
    nproc=1,
    args=[*thread_args, "--out", thread_folder, "--batch-size", 128, "--lr", 0.2],
    timeout=launch_timeout,
    cpu_only=True,  # threads are a CPU matter
    threads_per_process=2,
)
thread_history = json.loads((thread_folder / "history.json").read_text())
two_thread_seconds = sum(epoch["seconds"] for epoch in thread_history) / len(thread_history)
### END SOLUTION

# %%
if check_exercise(2, thread_run=thread_run, two_thread_seconds=two_thread_seconds):
    print(f"1 process, 2 threads, seconds per epoch: {two_thread_seconds:.2f}")
    baseline = "1 process, 1 thread" if cpu_only else "1 process on a GPU (not a like run)"
    print(f"{baseline}, seconds per epoch: {seconds_per_epoch[1]:.2f}")

# %% [markdown] tags=["solution"]
# **What the result means.** Two threads took
# 0.60 s<!-- output: 1 process, 2 threads, seconds per epoch --> per epoch against
# 0.63 s<!-- output: 1 process, 1 thread, seconds per epoch --> with one: one run
# each, a difference too small to count on. A matrix
# product this small gives a second thread little work next to the cost of waking and
# synchronising it, and on this 2-core machine the second core is not free (the
# launcher and the notebook use it too); with more cores, measure it.
# Threads, like processes, pay off only when each has enough work: set
# `torch.set_num_threads` (or `OMP_NUM_THREADS`) so that processes x threads never
# exceeds the cores.
