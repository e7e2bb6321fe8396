"""Checks for the exercises of lesson 06 (data-parallel training under torchrun).

Exercise 1 (in the lesson's section 4) runs the learner's gradient-averaging function in
pretend groups of 3 and then 4 processes (``simulate_group``), each holding the gradient of
its own shard of a batch, so that a world size written into the code fails. Exercise 2
calls the learner's function that lists a rank's shard epoch by epoch, with and without
``set_epoch``. Exercise 3
asks the learner's backend-and-device choice about machines this one is not: with and
without GPUs, with enough GPUs for every process or too few (local rank 3 of 4 processes
on 2 GPUs; one process on one GPU), and on the second machine of a 2-machine launch,
where the global rank (3) differs from the local rank (1) that numbers the GPU.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data.distributed import DistributedSampler

from ..distributed import simulate_group
from ..models import MLP
from . import Exercise, Wrong, call_learner_code, concept_question, make_checker, require

__all__ = ["EXERCISES", "QUESTIONS", "check_exercise"]

LESSON = "06"
EPOCHS = 3
WORLDS = (3, 4)  # exercise 1's pretend groups: dividing by 2, or by 3 written in the code, shows


def expected_orders(dataset_size: int, call_set_epoch: bool) -> list[list[int]]:
    """Rank 0 of 2's indices in epochs 0, 1 and 2, from one sampler with seed 0."""
    sampler = DistributedSampler(range(dataset_size), num_replicas=2, rank=0, seed=0)
    orders = []
    for epoch in range(EPOCHS):
        if call_set_epoch:
            sampler.set_epoch(epoch)
        orders.append(list(sampler))
    return orders


def _as_orders(value: Any, name: str) -> list[list[int]]:
    require(
        isinstance(value, (list, tuple)) and len(value) == EPOCHS,
        f"`{name}` should be a list of {EPOCHS} lists, one per epoch; it is {value!r:.80}.",
    )
    orders = []
    for epoch, order in enumerate(value):
        require(
            isinstance(order, (list, tuple)),
            f"Epoch {epoch} of `{name}` should be a list of indices; it is a "
            f"{type(order).__name__}.",
        )
        orders.append([int(index) for index in order])
    return orders


def _exercise_set_epoch(rank0_orders: Any) -> list[str]:
    require(callable(rank0_orders), "`rank0_orders` should be a function of `call_set_epoch`.")
    size = 10
    for flag in (False, True):
        found = _as_orders(
            call_learner_code(rank0_orders, flag, name="rank0_orders"), f"rank0_orders({flag})"
        )
        wanted = expected_orders(size, flag)
        lengths = {len(order) for order in found}
        require(
            lengths == {size // 2},
            f"`rank0_orders({flag})` gives epochs of {sorted(lengths)} indices; rank 0 of 2 "
            f"gets half of the {size} items each epoch. Use `num_replicas=2, rank=0`.",
        )
        if flag is False:
            require(
                all(order == found[0] for order in found),
                "Without set_epoch every epoch should repeat the first one, but your epochs "
                "differ: `rank0_orders(False)` must not call `sampler.set_epoch`, nor build "
                "a sampler with a new seed each epoch.",
            )
        else:
            require(
                len({tuple(order) for order in found}) > 1,
                "`rank0_orders(True)` gives the same order every epoch, the mistake of a loop "
                "that never tells the sampler which epoch it is in. When `call_set_epoch` is "
                "true, call the sampler's `set_epoch` with the epoch's number before you list "
                "that epoch's indices.",
            )
        require(
            found == wanted,
            f"`rank0_orders({flag})` does not give rank 0's shard of a DistributedSampler over "
            f"{size} items with `num_replicas=2, rank=0, seed=0` and `shuffle` left on: check "
            "the rank, the seed, and that one sampler serves every epoch.",
        )
    return [
        "without set_epoch, rank 0 of 2 gets the same 5 indices in the same order every epoch",
        "with set_epoch(epoch), the order changes from epoch to epoch",
        "both are the shard a DistributedSampler with seed 0 gives rank 0",
    ]


def _shard_gradients(
    world: int, seed: int = 0
) -> tuple[MLP, list[list[torch.Tensor]], list[torch.Tensor]]:
    """A model, the gradients of ``world`` equal shards of one batch, and the whole batch's."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.randn(world * 8, 1, 28, 28, generator=generator)
    labels = torch.randint(0, 10, (world * 8,), generator=generator)
    torch.manual_seed(seed)
    model = MLP(28 * 28, [16], 10)

    def gradients(inputs: torch.Tensor, targets: torch.Tensor) -> list[torch.Tensor]:
        model.zero_grad()
        F.cross_entropy(model(inputs), targets).backward()
        return [parameter.grad.clone() for parameter in model.parameters()]

    shards = [gradients(images[r::world], labels[r::world]) for r in range(world)]
    return model, shards, gradients(images, labels)


def run_averaging(average_gradients: Callable, world: int = 3, seed: int = 0) -> dict[str, Any]:
    """Run ``average_gradients`` in a pretend group of ``world`` processes, each with its
    shard's gradients; return the models after it, the gradients before it, and the whole
    batch's."""
    model, shards, whole = _shard_gradients(world, seed)
    models = []
    for shard in shards:
        copied = copy.deepcopy(model)
        for parameter, gradient in zip(copied.parameters(), shard, strict=True):
            parameter.grad = gradient.clone()
        models.append(copied)
    weights = [parameter.detach().clone() for parameter in model.parameters()]
    simulate_group(world, lambda rank: average_gradients(models[rank]))
    return {"models": models, "shards": shards, "whole": whole, "weights": weights}


def _exercise_averaging(average_gradients: Any) -> list[str]:
    require(callable(average_gradients), "`average_gradients` should be a function of a model.")
    for world in WORLDS:
        _check_averaging(average_gradients, world)
    return [
        f"in pretend groups of {' and then '.join(map(str, WORLDS))} processes, each holding "
        "the gradient of its own shard, every parameter's gradient became the mean over the "
        "processes, in every process",
        "the weights were left alone",
    ]


def _check_averaging(average_gradients: Callable, world: int) -> None:
    """Run the learner's function in a pretend group of ``world`` processes; check it."""
    try:
        run = run_averaging(average_gradients, world)
    except RuntimeError as error:
        message = f"{str(error)[:1].upper()}{str(error)[1:]}."
        if "sums only" in message:
            message = (
                "Your function asked all_reduce for another reduction than the sum. gloo, the "
                "CPU backend, has no ReduceOp.AVG: sum, then divide by the world size."
            )
        require(False, message)
    except Exception as error:
        require(
            False,
            f"`average_gradients(model)` raised {type(error).__name__}: {error}. Call "
            "`dist.all_reduce` and `dist.get_world_size` through `torch.distributed as dist`.",
        )
    names = [name for name, _ in run["models"][0].named_parameters()]
    mean = [torch.stack(grads).mean(dim=0) for grads in zip(*run["shards"], strict=True)]
    total = [world * value for value in mean]
    for rank, model in enumerate(run["models"]):
        for parameter, weight in zip(model.parameters(), run["weights"], strict=True):
            require(
                torch.equal(parameter.detach(), weight),
                "Your function changed the weights: it should only average the gradients "
                "(the optimizer's step comes after it).",
            )
        for name, parameter, own, average, summed in zip(
            names, model.parameters(), run["shards"][rank], mean, total, strict=True
        ):
            found = parameter.grad
            require(found is not None, f"`{name}.grad` is None after your function.")
            if torch.allclose(found, average, atol=1e-6):
                continue
            require(
                not torch.allclose(found, summed, atol=1e-6),
                f"`{name}.grad` holds the sum of the {world} processes' gradients: divide it by "
                "the world size.",
            )
            require(
                not torch.allclose(found, average / world, atol=1e-7),
                f"`{name}.grad` is the mean divided by the world size once more: divide once.",
            )
            for number in range(2, 9):  # a world size written into the code
                require(
                    number == world or not torch.allclose(found, summed / number, atol=1e-6),
                    f"`{name}.grad` is the sum divided by {number}, but this group has {world} "
                    "processes: ask `dist.get_world_size()` instead of writing the number.",
                )
            require(
                not torch.allclose(found, own, atol=1e-7),
                f"`{name}.grad` still holds only this process's own gradient: your function "
                "left it out. Average every parameter's gradient.",
            )
            require(False, f"`{name}.grad` is not the mean of the processes' gradients.")


def _device_text(device: Any) -> str:
    return str(torch.device(device)) if isinstance(device, (str, torch.device)) else repr(device)


def _exercise_backend(choose_backend: Any) -> list[str]:
    require(callable(choose_backend), "`choose_backend` should be a function.")
    # (cuda_available, gpu_count, rank, local_rank, local_world_size)
    #     -> backend, device, device_ids
    cases = [
        ((False, 0, 0, 0, 2), ("gloo", "cpu", None)),
        ((False, 0, 1, 1, 2), ("gloo", "cpu", None)),
        ((True, 4, 1, 1, 4), ("nccl", "cuda:1", 1)),
        ((True, 8, 7, 7, 8), ("nccl", "cuda:7", 7)),
        ((True, 2, 0, 0, 1), ("nccl", "cuda:0", 0)),
        # A second machine of 2 (torchrun --nnodes=2 --nproc_per_node=2): global ranks 2
        # and 3 are local ranks 0 and 1 there, and the machine has GPUs 0 and 1 only.
        ((True, 2, 3, 1, 2), ("nccl", "cuda:1", 1)),
        ((True, 2, 2, 0, 2), ("nccl", "cuda:0", 0)),
        # The same on machines of 4 GPUs: the global rank modulo the GPUs (2 % 4 = 2)
        # names a GPU, but not this process's own.
        ((True, 4, 2, 0, 2), ("nccl", "cuda:0", 0)),
        ((True, 1, 0, 0, 2), ("gloo", "cpu", None)),
        ((True, 1, 1, 1, 2), ("gloo", "cpu", None)),
        ((True, 2, 3, 3, 4), ("gloo", "cpu", None)),  # 4 processes, 2 GPUs: not one each
        ((True, 1, 0, 0, 1), ("nccl", "cuda:0", 0)),  # one process, one GPU: NCCL all the same
        ((True, 3, 0, 0, 5), ("gloo", "cpu", None)),  # counts a refusal must name: 3 and 5
    ]
    refused = 0
    for arguments, (_, device, index) in cases:
        cuda, gpus, rank, local_rank, local_world = arguments
        where = (
            f"with CUDA and {gpus} GPU(s), for rank {rank} (local rank {local_rank} of "
            f"{local_world})"
            if cuda
            else f"without CUDA, for rank {rank}"
        )
        if cuda and gpus < local_world:
            try:
                answer = choose_backend(*arguments)
            except ValueError as refusal:  # the refusal the exercise asks for
                numbers = re.findall(r"\d+", str(refusal))
                require(
                    str(gpus) in numbers and str(local_world) in numbers,
                    f"{where} you refused, but the message, {str(refusal)!r:.120}, does not "
                    f"give the {gpus} GPU(s) and the {local_world} processes: say both, so "
                    "that whoever launched it sees what to change.",
                )
                refused += 1
                continue
            except Exception as error:
                raise Wrong(
                    f"{where} `choose_backend` raised {type(error).__name__}: {error}. Refuse "
                    "with a ValueError that gives the GPUs and the processes, as the exercise "
                    "asks."
                ) from error
            got = answer[0] if isinstance(answer, tuple) and answer else answer
            raise Wrong(
                f"{where} you chose {got!r}: with CUDA present but fewer GPUs than processes, "
                "not every process can have a GPU, and all processes of a group must use the "
                "same backend. Refuse: raise an error that says so, rather than fall back to "
                "the CPU, which would go unnoticed on a GPU machine."
            )
        answer = call_learner_code(choose_backend, *arguments, name="choose_backend")
        require(
            isinstance(answer, tuple) and len(answer) == 3,
            f"`choose_backend{arguments}` should return (backend, device, device_ids); it "
            f"returned {answer!r:.80}.",
        )
        got_backend, got_device, got_ids = answer
        require(
            isinstance(got_device, (str, torch.device)),
            f"The device should be a torch.device or a string; {where} it is {got_device!r}.",
        )
        if not cuda:
            require(
                got_backend != "nccl",
                f"{where} you chose NCCL, which runs only between GPUs: use gloo.",
            )
            require(
                got_backend == "gloo",
                f"{where} you chose {got_backend!r}: without GPUs, a process group on CPUs uses "
                "gloo (the backend `process_group` picks there).",
            )
        if cuda and gpus >= local_world:
            require(
                got_backend == "nccl",
                f"{where} you chose {got_backend!r}: every process can have a GPU of its own, "
                "and between GPUs NCCL is the backend to use.",
            )
            require(
                _device_text(got_device) != "cuda",
                f"{where} the device is plain 'cuda', which means GPU 0 in every process: give "
                "the index, cuda:LOCAL_RANK.",
            )
            require(
                rank == local_rank or _device_text(got_device) != f"cuda:{rank}",
                f"{where} the device is cuda:{rank}, numbered by the global rank: on "
                f"the second machine of a multi-node run that GPU does not exist (this one has "
                f"{gpus}, numbered from 0). Number the GPU by the local rank, the process's "
                "number on its own machine.",
            )
            require(
                _device_text(got_device) == device,
                f"{where} the device is {_device_text(got_device)}: each process takes the GPU "
                "numbered by its local rank.",
            )
            ids = (
                [
                    torch.device("cuda", i) if isinstance(i, int) else torch.device(i)
                    for i in got_ids
                ]
                if isinstance(got_ids, (list, tuple))
                else None
            )
            require(
                ids != [torch.device("cuda", rank)] or rank == local_rank,
                f"{where} device_ids is {got_ids!r}, numbered by the global rank: give DDP "
                "the GPU of the local rank, the same as the device.",
            )
            require(
                ids == [torch.device(device)],
                f"{where} device_ids is {got_ids!r}: DDP should be told this process's one GPU, "
                f"as a list ([{index}] or [the device]).",
            )
        else:
            require(
                _device_text(got_device) == "cpu",
                f"{where} the device is {_device_text(got_device)}: with gloo the model and "
                "batches stay on the CPU.",
            )
            require(
                got_ids is None,
                f"{where} device_ids is {got_ids!r}: for a model on the CPU, DDP takes "
                "device_ids=None (it refuses a list).",
            )
    return [
        "without CUDA: gloo, the CPU and device_ids=None, for every local rank",
        "with a GPU for every process: NCCL, cuda:LOCAL_RANK (not plain 'cuda', GPU 0 for "
        "all) and device_ids=[LOCAL_RANK]",
        "on the second of 2 machines with 2 GPUs each (rank 3 is local rank 1 there): "
        "cuda:1, not cuda:3; with 4 GPUs a machine, rank 2 of local rank 0 takes cuda:0",
        f"with CUDA but fewer GPUs than processes on the machine (1 GPU for 2 processes, "
        f"asked by rank 0 and by rank 1; 2 GPUs for 4; 3 GPUs for 5): a ValueError naming "
        f"both counts each time ({refused} cases), not a quiet fallback to gloo on the CPU, "
        "which would leave a GPU machine training on its CPU",
        "with one GPU and one process: NCCL on cuda:0",
    ]


EXERCISES = {
    1: Exercise(
        hint="for every parameter: dist.all_reduce(p.grad), then divide by dist.get_world_size()",
        test=_exercise_averaging,
    ),
    2: Exercise(
        hint="one sampler for all epochs; before list(sampler), set_epoch(epoch) only if asked",
        test=_exercise_set_epoch,
    ),
    3: Exercise(
        hint="no CUDA: gloo; a GPU each: nccl, cuda:local_rank (not rank); too few: ValueError",
        test=_exercise_backend,
    ),
}

# Concept checks: the questions at the end of the lesson, about its ideas (not its code).
QUESTIONS: dict[str, Exercise] = {
    "Q1": concept_question(
        "answer_q1",
        hint="section 5: the lines `averaged by hand == whole batch` and `largest gap`",
        right="b",
        why=(
            "all_reduce leaves the sum of every process's tensor in every process; divided by "
            "the world size, the mean of gradients of equal shards is the gradient of the "
            "whole batch, so every copy takes the same step a single process would."
        ),
        misconceptions={
            "a": "all_reduce does change the tensors: in section 3, [1, 10] and [2, 20] both "
            "became [3, 30]. A process keeping only its own shard's gradient would drift away "
            "from the others; section 5 shows that gradient is 7.3e-02 away from the whole "
            "batch's.",
            "c": "Each shard's gradient is already a mean over its own images, so the mean of "
            "the shards' gradients is the whole batch's gradient at full size, not half of "
            "it: section 5 matches it to one process on all 64 images, with no change of "
            "learning rate.",
            "d": "That is what broadcast does (section 3: rank 1's own random numbers were "
            "replaced by rank 0's). all_reduce combines every process's tensor, so rank 1's "
            "half of the batch counts as much as rank 0's.",
        },
    ),
    "Q2": concept_question(
        "answer_q2",
        hint="the `set_epoch called: False` lines after exercise 2's check",
        right="c",
        why=(
            "the sampler shuffles with its seed plus the epoch number; without set_epoch the "
            "epoch stays 0, so every epoch repeats the same shard in the same order, with no "
            "error or warning."
        ),
        misconceptions={
            "a": "Every rank shuffles with the same seed and takes every N-th index of that "
            "one order, so the shards cannot overlap: section 6 printed `overlap: none` for "
            "its shards. Without set_epoch the order is simply the same every epoch (exercise 2 "
            "printed rank 0's 5 indices, the same three times).",
            "b": "Exercise 2's check ran 3 epochs without set_epoch and printed rank "
            "0's indices, the same 5 every epoch, with no error and no warning. That is what "
            "makes this bug easy to miss; only the indices, epoch by epoch, show it.",
            "d": "The sampler does not draw from the global random generator: it shuffles "
            "with its own seed plus the epoch number it was given, so without set_epoch it "
            "gives the same order every time, whatever else the program draws.",
        },
    ),
    "Q3": concept_question(
        "answer_q3",
        hint="section 8, comm_cost.py's lines: what DDP added against the whole step",
        right="d",
        why=(
            "section 8 timed it at 64 images per process, both processes at work: DDP's "
            "step added to the step without it (the exchange with its waits and DDP's own "
            "work) more than that whole step took, so more than halving the step could "
            "save. Over whole epochs the 2 processes' rest of the epoch after loading was "
            "the longer too."
        ),
        misconceptions={
            "a": "Each process computes the gradient of its own shard only (section 5: rank 0 "
            "on images 0 to 31 of the batch, rank 1 on 32 to 63); DDP then averages the "
            "gradients, it does not recompute them on the whole effective batch.",
            "b": "NCCL carries only GPU tensors, so it cannot run on CPU processes at all. "
            "What section 8 measured, the time DDP adds to each step, is the cost of the "
            "exchange and the waits and bookkeeping around it, which any backend pays "
            "between processes.",
            "c": "DistributedSampler splits the data: with 2 processes each takes its own "
            "half of the training images per epoch (section 6's shards), so together they "
            "see each image once per epoch, as one process does.",
        },
    ),
    "Q4": concept_question(
        "answer_q4",
        hint="section 10 on SyncBatchNorm, and the lines batch_norm.py printed after it",
        right="a",
        why=(
            "a BatchNorm layer under DDP normalises with the statistics of its own shard; "
            "SyncBatchNorm combines them across the processes in the forward pass. In "
            "section 10, the 32-image shards' means differed from the whole batch's."
        ),
        misconceptions={
            "b": "DDP already averages every parameter's gradient, the batch-norm layers' "
            "included (PyTorch's DDP notes). The problem section 10's batch_norm.py shows is "
            "in the forward pass: each shard's mean differs from the whole batch's.",
            "c": "SyncBatchNorm adds communication to every forward pass (section 10's "
            "batch_norm.py does it by hand: an all-reduce of each channel's sums), so it "
            "cannot make a step cheaper. It exists for correctness: a shard normalised with "
            "its own statistics did not match batch norm on the whole batch.",
            "d": "Section 10's batch_norm.py printed each shard's mean beside the whole "
            "batch's: they differed, and a shard normalised with its own statistics did not "
            "match batch norm on the whole batch. Shards drawn from the same data still have "
            "statistics of their own.",
        },
    ),
    "Q5": concept_question(
        "answer_q5",
        hint="section 10, gradient accumulation: the lines after each micro-batch",
        right="b",
        why=(
            "inside no_sync DDP skips the all-reduce and only adds to .grad; the backward "
            "outside it all-reduces the sum once, so the step equals one DDP step on the "
            "whole shard with one exchange instead of one per micro-batch."
        ),
        misconceptions={
            "a": "no_sync keeps every gradient; it only postpones the exchange. After the "
            "last micro-batch the processes held equal gradients, equal to one DDP step on "
            "the whole shard, so nothing was thrown away.",
            "c": "The gradients still take the same memory: the micro-batches' gradients are "
            "added into the same .grad tensors. What changes is how often they are sent: "
            "after the first micro-batch, inside no_sync, the processes' gradients differed.",
            "d": "The processes do end up in agreement: after the last micro-batch, outside "
            "no_sync, the gradients were equal in every process, because that backward "
            "all-reduced the accumulated sum.",
        },
    ),
}

check_exercise = make_checker(LESSON, EXERCISES, QUESTIONS)
