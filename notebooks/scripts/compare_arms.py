"""Time 1 process against 2, epoch by epoch in turn, on the same data and from the same seed.

Run: torchrun --standalone --nproc_per_node=2 compare_arms.py --data DATA.pt --out FOLDER
(With CUDA but fewer GPUs than processes, start with `CUDA_VISIBLE_DEVICES=`: the
processes then run on the CPU with gloo, as in the lesson's outputs without 2 GPUs.)

Five ways ("arms") to train lesson 03's MLP on one effective batch, each with a model of
its own, take turns: every round trains one epoch of each arm, in a shuffled order. The three
1-process arms run in rank 0 alone, while rank 1 waits at a barrier.
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
# Every arm: its processes (DDP wraps the model of a 2-process arm), its intra-op threads
# per process, and how it loads ("stack": a DataLoader that fetches the images one by one
# and stacks them; "slices": each batch indexed out of the tensors in one go). Two pairs,
# 1 process against 2 on 1 thread each, named by their loading (the lesson's tables and
# figure print these names), and a 1-process arm on 2 threads.
ARMS = {
    "DataLoader pair, 1 process": (1, 1, "stack"),
    "DataLoader, 2 threads": (1, 2, "stack"),
    "lean pair, 1 process": (1, 1, "slices"),
    "DataLoader pair, 2 processes": (2, 1, "stack"),
    "lean pair, 2 processes": (2, 1, "slices"),
}
TWO = [name for name, (processes, *_) in ARMS.items() if processes == 2]


def make_loader(train_set: TensorDataset, sampler, batch_size: int, loading: str) -> DataLoader:
    """The arm's loader over the sampler's order, in batches of batch_size."""
    if loading == "slices":
        # A BatchSampler hands over each batch's indices at once; TensorDataset indexes its
        # tensors with the whole list, and batch_size=None leaves the batch as it comes.
        batches = BatchSampler(sampler, batch_size, drop_last=False)
        return DataLoader(train_set, sampler=batches, batch_size=None)
    return DataLoader(train_set, batch_size=batch_size, sampler=sampler)


def as_input(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 pixels (kept small in memory) -> normalised floats."""
    return (pixels.float() / 255 - MEAN) / STD


def train_epoch(arm: dict, epoch: int, device: torch.device) -> tuple[float, float, float]:
    """One epoch of one arm; return its seconds, the seconds spent getting each batch ready
    (fetched from the loader, moved to the device and normalised), and the part of those
    spent fetching (the loader picking the images and stacking them into a batch).

    On a GPU the steps run queued while Python gets the next batch ready, so those seconds
    are the host's and may overlap the GPU's work: the epoch, read after synchronize, holds
    both, and "the rest" (epoch minus loading) is then the host's view of the steps."""
    arm["sampler"].set_epoch(epoch)  # the same shuffle for every arm in this epoch
    model, optimizer, loader = arm["model"], arm["optimizer"], arm["loader"]
    model.train()
    loading = fetching = 0.0
    synchronize(device)
    start = time.perf_counter()
    batches = iter(loader)
    for _ in range(len(loader)):
        tick = time.perf_counter()
        images, labels = next(batches)  # fetched and stacked
        fetched = time.perf_counter()
        images, labels = as_input(images.to(device)), labels.to(device)  # moved, normalised
        ready = time.perf_counter()
        fetching += fetched - tick
        loading += ready - tick
        loss = F.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()  # a 2-process arm's DDP all-reduces the gradients here
        optimizer.step()
    synchronize(device)
    return time.perf_counter() - start, loading, fetching


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
        for name in order if rank == 0 else TWO:  # rank 1 trains only the 2-process arms
            processes, threads, loading = ARMS[name]
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
            loader = make_loader(train_set, sampler, batch_size, loading)
            arms[name] = {"threads": threads, "model": model, "optimizer": optimizer}
            arms[name] |= {"sampler": sampler, "loader": loader}
            arms[name] |= {"seconds": [], "loader_s": [], "fetch_s": []}  # an entry a round
        rounds = []
        waited = [0.0, 0.0]  # rank 1's CPU and wall seconds at the barrier
        for epoch in range(1, args.rounds + 1):
            # A new order each round, the same on both ranks: drawn from the round's number.
            shuffle = torch.Generator().manual_seed(epoch)
            turn = [order[i] for i in torch.randperm(len(order), generator=shuffle)]
            rounds.append(turn)
            for name in turn:
                dist.barrier()  # every arm starts when both processes are ready
                if name in TWO or rank == 0:
                    torch.set_num_threads(arms[name]["threads"])
                    seconds, loading, fetching = train_epoch(arms[name], epoch, device)
                    arms[name]["seconds"].append(seconds)
                    arms[name]["loader_s"].append(loading)
                    arms[name]["fetch_s"].append(fetching)
                    rank_print(
                        f"round {epoch}, {name}: {seconds:.2f} s "
                        f"(getting batches ready: {loading:.2f} s)",
                        all_ranks=name in TWO,
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
        # Rank 1's loading and fetching seconds of the 2-process arms, sent to rank 0: for
        # each arm, a row of loading seconds and one of fetching seconds, round by round.
        rank_1_rows = torch.tensor(
            [[arms[name]["loader_s"], arms[name]["fetch_s"]] for name in TWO], device=device
        )
        dist.broadcast(rank_1_rows, src=1)
        rank_1_seconds = dict(zip(TWO, rank_1_rows.tolist(), strict=True))
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
                loader_s, fetch_s = arm["loader_s"], arm["fetch_s"]
                if name in TWO:  # each round: the mean of the two ranks
                    loading, fetching = rank_1_seconds[name]
                    pairs = zip(loader_s, loading, strict=True)
                    loader_s = [(mine + theirs) / 2 for mine, theirs in pairs]
                    pairs = zip(fetch_s, fetching, strict=True)
                    fetch_s = [(mine + theirs) / 2 for mine, theirs in pairs]
                found["arms"][name] = {
                    "seconds": arm["seconds"],
                    "loader_seconds": loader_s,
                    "fetch_seconds": fetch_s,  # the part of loader_seconds spent fetching
                    "val_acc": accuracy,
                }
                rank_print(f"{name}: validation accuracy {accuracy:.4f}")
            # The DataLoader pair's plain loop's weights against its DDP arm's (rank 0's copy)
            # after the rounds: the same batches, whole in one process or halved over 2.
            plain_loop = arms["DataLoader pair, 1 process"]["model"]
            ddp = arms["DataLoader pair, 2 processes"]["model"]
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
