"""Time 1 process (on 1 thread or 2) against 2, epoch by epoch in turn, from the same seed.

Run: torchrun --standalone --nproc_per_node=2 compare_arms.py --data DATA.pt --out FOLDER
(With CUDA but fewer GPUs than processes, start with `CUDA_VISIBLE_DEVICES=`: the
processes then run on the CPU with gloo, as in the lesson's outputs without 2 GPUs.)

Three ways ("arms") to train lesson 03's MLP on one effective batch, each with a model of
its own, take turns: every round trains one epoch of each arm, in a rotating order. Every arm
loads alike: each batch indexed out of the tensors in one go. The two 1-process arms run in
rank 0 alone, while rank 1 waits at a barrier. After the rounds, rank 0 compares the weights
of the 1-process, 1-thread arm with those of the 2-process arm.
"""

import argparse
import json
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import BatchSampler, DataLoader, TensorDataset
from torch.utils.data.distributed import DistributedSampler

from course_utils.device import synchronize
from course_utils.distributed import check_world_size, process_group, rank_print
from course_utils.models import MLP

MEAN, STD = 0.1307, 0.3081  # MNIST's pixel mean and standard deviation
# Every arm: its processes (DDP wraps the model of a 2-process arm) and its intra-op
# threads per process. The lesson's table and figure print these names.
ARMS = {
    "1 process, 1 thread": (1, 1),  # the baseline
    "1 process, 2 threads": (1, 2),
    "2 processes, 1 thread each": (2, 1),
}
BASELINE, TWO = "1 process, 1 thread", "2 processes, 1 thread each"  # the weights compared


def make_loader(train_set: TensorDataset, sampler, batch_size: int) -> DataLoader:
    """A loader over the sampler's order, in batches of batch_size, each indexed out of the
    tensors in one go: a BatchSampler hands over each batch's indices at once, TensorDataset
    indexes its tensors with the whole list, and batch_size=None leaves the batch as it comes."""
    batches = BatchSampler(sampler, batch_size, drop_last=False)
    return DataLoader(train_set, sampler=batches, batch_size=None)


def as_input(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 pixels (kept small in memory) -> normalised floats."""
    return (pixels.float() / 255 - MEAN) / STD


def train_epoch(arm: dict, epoch: int, device: torch.device) -> tuple[float, float]:
    """One epoch of one arm; return its seconds and the seconds spent getting each batch
    ready (taken from the loader, moved to the device and normalised).

    On a GPU the steps run queued while Python gets the next batch ready, so those seconds
    are the host's and may overlap the GPU's work: the epoch, read after synchronize, holds
    both, and "the rest" (epoch minus loading) is then the host's view of the steps."""
    arm["sampler"].set_epoch(epoch)  # the same shuffle for every arm in this epoch
    model, optimizer, loader = arm["model"], arm["optimizer"], arm["loader"]
    model.train()
    loading = 0.0
    synchronize(device)
    start = time.perf_counter()
    batches = iter(loader)
    for _ in range(len(loader)):
        tick = time.perf_counter()
        images, labels = next(batches)
        images, labels = as_input(images.to(device)), labels.to(device)  # moved, normalised
        loading += time.perf_counter() - tick
        loss = F.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()  # a 2-process arm's DDP all-reduces the gradients here
        optimizer.step()
    synchronize(device)
    return time.perf_counter() - start, loading


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--train-size", type=int, default=50_000)
    parser.add_argument("--batch-size", type=int, default=64, help="per process, 2 processes")
    parser.add_argument("--lr", type=float, default=0.2)
    args = parser.parse_args()
    order = list(ARMS)
    with process_group(timeout=60) as group:
        rank, world_size, device = group.rank, group.world_size, group.device
        if world_size != 2:
            raise SystemExit(f"compare_arms.py runs in 2 processes, not {world_size}")
        data = torch.load(args.data, mmap=True, weights_only=True)
        train_set = TensorDataset(
            data["train_images"][: args.train_size], data["train_labels"][: args.train_size]
        )
        check_world_size(len(train_set), args.batch_size, world_size)
        arms = {}
        for name in order if rank == 0 else [TWO]:  # rank 1 trains only the 2-process arm
            processes, threads = ARMS[name]
            sampler = DistributedSampler(
                train_set, num_replicas=processes, rank=rank if processes > 1 else 0, seed=0
            )
            batch_size = args.batch_size * world_size // processes  # one effective batch
            torch.manual_seed(0)  # the same initial weights for every arm
            model = MLP(28 * 28, [32], 10).to(device)
            if processes > 1:
                device_ids = [device] if group.backend == "nccl" else None
                model = DistributedDataParallel(model, device_ids=device_ids)
            optimizer = torch.optim.SGD(model.parameters(), lr=args.lr)
            loader = make_loader(train_set, sampler, batch_size)
            arms[name] = {"threads": threads, "model": model, "optimizer": optimizer}
            arms[name] |= {"sampler": sampler, "loader": loader}
            arms[name] |= {"seconds": [], "loader_s": []}  # an entry a round
        rounds = []
        waited = [0.0, 0.0]  # rank 1's CPU and wall seconds at the barrier
        for epoch in range(1, args.rounds + 1):
            # A rotating order, the same on both ranks: each arm starts one round in three.
            shift = (epoch - 1) % len(order)
            turn = order[shift:] + order[:shift]
            rounds.append(turn)
            for name in turn:
                dist.barrier()  # every arm starts when both processes are ready
                if name == TWO or rank == 0:
                    torch.set_num_threads(arms[name]["threads"])
                    seconds, loading = train_epoch(arms[name], epoch, device)
                    arms[name]["seconds"].append(seconds)
                    arms[name]["loader_s"].append(loading)
                    rank_print(
                        f"round {epoch}, {name}: {seconds:.2f} s "
                        f"(getting batches ready: {loading:.2f} s)",
                        all_ranks=name == TWO,
                    )
                else:  # rank 1 waits here while rank 0 trains a 1-process arm
                    cpu, wall = time.process_time(), time.perf_counter()
                    dist.barrier()
                    waited[0] += time.process_time() - cpu
                    waited[1] += time.perf_counter() - wall
                    continue
                dist.barrier()
        torch.set_num_threads(1)
        if rank == 1:
            rank_print(
                f"waiting at the barrier: {waited[1]:.1f} s, of which on a CPU: {waited[0]:.2f} s",
                all_ranks=True,
            )
        if rank == 0:
            args.out.mkdir(parents=True, exist_ok=True)
            val_images = as_input(data["val_images"]).to(device)
            val_labels = data["val_labels"].to(device)
            found = {"rounds": rounds, "arms": {}}
            for name, arm in arms.items():
                with torch.no_grad():
                    plain = getattr(arm["model"], "module", arm["model"])  # DDP's, or none
                    outputs = plain.eval()(val_images)
                accuracy = (outputs.argmax(dim=1) == val_labels).float().mean().item()
                found["arms"][name] = {  # rank 0's own clock: its epochs and its loading
                    "seconds": arm["seconds"],
                    "loader_seconds": arm["loader_s"],
                    "val_acc": accuracy,
                }
                rank_print(f"{name}: validation accuracy {accuracy:.4f}")
            # The baseline's weights against the 2-process arm's (rank 0's copy) after the
            # rounds: the same batches, whole in one process or halved over 2.
            plain_loop = arms[BASELINE]["model"]
            ddp = arms[TWO]["model"]
            ddp = getattr(ddp, "module", ddp)  # the plain model inside DDP, as above
            weight_pairs = zip(plain_loop.parameters(), ddp.parameters(), strict=True)
            gap = max((mine - theirs).abs().max().item() for mine, theirs in weight_pairs)
            found["weight_gap"] = gap  # the largest absolute difference, any weight
            found["largest_weight"] = max(p.abs().max().item() for p in plain_loop.parameters())
            rank_print(f"largest weight difference, plain loop against DDP: {gap:.1e}")
            (args.out / "arms.json").write_text(json.dumps(found))
        dist.barrier()


if __name__ == "__main__":  # run when launched, not when imported (the tests import it)
    main()
