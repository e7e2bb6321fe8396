"""Checks for the exercises of lesson 04 (training on a GPU): ``check_exercise(n, ...)``.

Both exercises time work on a device, and both checks first run the learner's timing
code on a *simulated GPU*: every training step queues work that is finished only when
``synchronize`` waits for it, as a real GPU's work is. A clock read without waiting
then comes out far too short; one started while the first step's one-off set-up is
still queued comes out too long. On a CPU, where ``synchronize`` does nothing, the
simulation is the only way such a mistake can show.
"""

from __future__ import annotations

import copy
import math
import statistics
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn
from torch._tensor import _convert
from torch.nn import functional as F

from .. import device as device_module
from ..models import MLP
from . import (
    Exercise,
    call_learner_code,
    concept_question,
    make_checker,
    require,
    require_keys,
    require_number,
)

__all__ = ["EXERCISES", "QUESTIONS", "check_exercise"]

LESSON = "04"
BATCH_SIZES = (16, 64, 256, 1024, 4096, 16384)  # exercise 2's table
CHECK_SIZES = BATCH_SIZES[:4]  # the sizes the check times again (the two largest take long)
MIN_REPEATS = 5  # timings per measurement: enough to see their spread
MIN_STEPS = 10  # steps per timing: enough to share out the clock reads and one-off hiccups
EPOCH_STEP_SECONDS = 0.1  # the simulated GPU's work per step in exercise 1 (above what a
# loaded machine takes to queue a step for real)
STEP_SECONDS = 0.002  # ... and in exercise 2
SETUP_SECONDS = 0.5  # one-off set-up queued by the first step (exercise 2)
EARLIER_SECONDS = 0.5  # work still queued when train_epoch is called (exercise 1)


class SimulatedGPU:
    """A device queue in miniature: queueing returns at once, and the queued work "takes" its
    seconds: nothing runs, the queue only keeps the time at which it will be empty.

    ``queue_step()`` adds a step's work, and ``queue(seconds)`` other work, each
    starting when the previous work ends; ``synchronize()`` sleeps until all queued
    work has finished, as ``torch.cuda.synchronize`` does. ``steps`` counts the queued steps, and
    ``waits`` the number of steps queued by each call of ``synchronize``. ``host_sync(what)``
    is a copy of a result to the CPU (``loss.item()``, ``float(loss)``, ``print(loss)``):
    it waits as ``synchronize`` does, and only ``host_syncs`` records it (steps queued, what).
    """

    def __init__(self, step_seconds: float, setup_seconds: float = 0.0):
        self.step_seconds = step_seconds
        self.setup_seconds = setup_seconds
        self.busy_until = 0.0
        self.steps = 0
        self.waits: list[int] = []
        self.host_syncs: list[tuple[int, str]] = []
        self.elsewhere: list[str] = []  # devices passed to synchronize other than the GPU's

    def queue(self, seconds: float) -> None:
        self.busy_until = max(self.busy_until, time.perf_counter()) + seconds

    def queue_step(self) -> None:
        self.queue(self.step_seconds + (self.setup_seconds if self.steps == 0 else 0.0))
        self.steps += 1

    def _wait(self) -> None:
        remaining = self.busy_until - time.perf_counter()
        if remaining > 0:
            time.sleep(remaining)

    def synchronize(self, *args: Any, **kwargs: Any) -> None:
        self._wait()
        self.waits.append(self.steps)

    def host_sync(self, what: str) -> None:
        self.host_syncs.append((self.steps, what))
        self._wait()


class SimulatedStep:
    """A training step for a simulated GPU: calling it queues the step's work."""

    def __init__(self, gpu: SimulatedGPU):
        self.gpu = gpu

    def __call__(self) -> None:
        self.gpu.queue_step()

    def __repr__(self) -> str:
        return "a simulated training step"


@contextmanager
def simulated_synchronize(
    gpu: SimulatedGPU, function: Any, gpu_type: str = "cuda"
) -> Iterator[None]:
    """Make every way of calling ``synchronize`` wait for ``gpu`` while the block runs.

    That is ``course_utils.device.synchronize`` given a device of ``gpu_type`` (given
    another device, it waits for nothing, as on a real GPU machine, and ``gpu.elsewhere``
    records it), any global name of the learner's ``function`` bound to it (a notebook's
    ``from course_utils.device import synchronize``), and PyTorch's own
    ``torch.cuda.synchronize`` and ``torch.mps.synchronize``. All are restored afterwards.
    """
    real = device_module.synchronize
    namespace = getattr(function, "__globals__", {})
    names = [name for name, value in namespace.items() if value is real]
    saved = {"cuda": torch.cuda.synchronize, "mps": torch.mps.synchronize}

    def course_synchronize(device: torch.device | str) -> None:
        if torch.device(device).type == gpu_type:
            gpu.synchronize()
        else:
            gpu.elsewhere.append(str(device))

    try:
        for name in names:
            namespace[name] = course_synchronize
        device_module.synchronize = course_synchronize
        torch.cuda.synchronize = gpu.synchronize
        torch.mps.synchronize = gpu.synchronize
        yield
    finally:
        for name in names:
            namespace[name] = real
        device_module.synchronize = real
        torch.cuda.synchronize, torch.mps.synchronize = saved["cuda"], saved["mps"]


def _device_names(devices: Sequence[torch.device]) -> list[str]:
    return list(dict.fromkeys(device.type for device in devices))


def _seconds(value: Any, name: str) -> float:
    seconds = require_number(value, name)
    require(seconds > 0, f"`{name}` is {seconds}; a time must be positive.")
    return seconds


def _times(value: Any, name: str, at_least: int) -> list[float]:
    require(
        isinstance(value, (list, tuple)),
        f"`{name}` should be a list of times, one per repeat; it is a {type(value).__name__}.",
    )
    require(
        len(value) >= at_least,
        f"`{name}` holds {len(value)} time{'' if len(value) == 1 else 's'}; repeat the "
        f"measurement at least {at_least} times, so that the spread of the repeats shows "
        "how far one figure can be trusted.",
    )
    return [_seconds(each, f"{name}[{index}]") for index, each in enumerate(value)]


def _spread(times: Sequence[float], scale: float, unit: str) -> str:
    return (
        f"median {statistics.median(times) * scale:.3g} {unit}, from "
        f"{min(times) * scale:.3g} to {max(times) * scale:.3g}"
    )


# --- exercise 1: train_epoch, and a bigger model on each device ---------------------


class _MoveRecorder(torch.Tensor):
    """A batch tensor that records the devices it was moved to with ``.to``.

    The check passes ``train_epoch`` a simulated GPU's device as ``on`` (``simulated``):
    a move there is recorded and keeps the batch on the CPU, where the check computes. A
    batch that is never moved works all the same; the record is how that mistake shows.
    """

    # (id of the tensor, device type, whether non_blocking was asked for), for one check
    moves: list[tuple[int, str, bool]] = []
    simulated = "cuda"  # the device type that stands for the simulated GPU
    pinned = False  # whether the simulated loader pins its batches (the pinned arm)

    def is_pinned(self, *args: Any, **kwargs: Any) -> bool:
        """As a pinned loader's batches answer: ``non_blocking=images.is_pinned()`` works."""
        return _MoveRecorder.pinned

    def to(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        plain = self.as_subclass(torch.Tensor)
        target = kwargs.get("device", args[0] if args else None)
        if isinstance(target, (str, torch.device)):
            positional = len(args) > 1 and isinstance(args[1], bool) and args[1]
            non_blocking = bool(kwargs.get("non_blocking", positional))
            _MoveRecorder.moves.append((id(self), torch.device(target).type, non_blocking))
            if torch.device(target).type == _MoveRecorder.simulated:
                return plain  # "on the GPU": the check computes on the CPU
        return torch.Tensor.to(plain, *args, **kwargs)


# Tensor methods that copy a value to the CPU, so that on a GPU Python waits for the
# queued work first; with how a learner writes each.
_HOST_COPIES = {
    "item": "`.item()`",
    "__float__": "`float(...)`",
    "__int__": "`int(...)`",
    "__bool__": "a comparison in an `if`",
    "__index__": "`int(...)`",
    "cpu": "`.cpu()`",
    "tolist": "`.tolist()`",
    "numpy": "`.numpy()`",
    "__repr__": "`print(...)`",
    "__str__": "`print(...)`",
    "__format__": "an f-string",
}


class _SyncRecorder(torch.Tensor):
    """The model's output, and every tensor computed from it (the loss), on a simulated GPU.

    Reading its value on the CPU (``.item()``, ``float()``, ``print``, ``.cpu()``, ...) is a
    host synchronisation: ``gpu.host_sync`` records it and waits, as a GPU would.
    """

    gpu: SimulatedGPU | None = None  # set for one check

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name not in _HOST_COPIES:
            # As torch.Tensor's own, but also beside another subclass (a batch the
            # learner's loop did not move is a _MoveRecorder): the result is recorded too.
            with torch._C.DisableTorchFunctionSubclass():
                return _convert(func(*args, **(kwargs or {})), cls)
        if cls.gpu is not None:
            cls.gpu.host_sync(name)
        plain = [arg.as_subclass(torch.Tensor) if isinstance(arg, cls) else arg for arg in args]
        with torch._C.DisableTorchFunctionSubclass(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # float(loss) warns that the loss needs a gradient
            return func(*plain, **(kwargs or {}))


def _check_host_syncs(gpu: SimulatedGPU, steps: int) -> None:
    """Fail when the loop copied a result to the CPU more than once (after the loop)."""
    synced_steps = {queued for queued, _ in gpu.host_syncs}
    require(
        len(gpu.host_syncs) <= 1,
        f"`train_epoch` copied the loss (or another result of the model) to the CPU in "
        f"{len(synced_steps)} of the {steps} steps, with "
        f"{' and '.join(dict.fromkeys(_HOST_COPIES[what] for _, what in gpu.host_syncs))}. "
        "On a GPU each such copy makes Python wait for the step to finish before it can "
        "queue the next, so the timed epoch includes those waits. Keep the losses on the "
        "device (or leave them out), and copy at most once, after the loop.",
    )


def _recorded(batches: list) -> list:
    return [tuple(tensor.as_subclass(_MoveRecorder) for tensor in batch) for batch in batches]


class _Loader(list):
    """The check's batches, as a loader with a `DataLoader`'s ``pin_memory`` flag."""

    def __init__(self, batches: list, pin_memory: bool):
        super().__init__(batches)
        self.pin_memory = pin_memory


PINNED_ARM = "cuda, pinned + non_blocking"  # exercise 1's step 2: the arm that pins


def _arm_device(arm: str) -> torch.device:
    """The device of an exercise 1 arm: "cpu", "cuda", "mps", or PINNED_ARM's "cuda"."""
    return torch.device(arm.split(",")[0])


def _check_moves(batches: list, on: torch.device, pinned: bool) -> None:
    moves = [move for move in _MoveRecorder.moves if move[1] == on.type]
    moved = {tensor_id for tensor_id, _where, _non_blocking in moves}
    for position, name in enumerate(("images", "labels")):
        missed = sum(id(batch[position]) not in moved for batch in batches)
        require(
            missed == 0,
            f"`train_epoch` did not move the {name} of {missed} of {len(batches)} batches "
            f"to `on`: the model is on `on`, so call `{name}.to(on)` for every batch before "
            "using it (on a GPU, a batch left on the CPU stops the step with an error).",
        )
    blocking = sum(not non_blocking for _id, _where, non_blocking in moves)
    require(
        not pinned or blocking == 0,
        f"`train_epoch` moved {blocking} of its {len(moves)} batch tensors to `on` without "
        "`non_blocking=True`, from pinned batches (`loader.pin_memory` was True, as in the "
        "pinned arm). That arm changes two things together from the plain GPU arm: its "
        "loader copies each batch into pinned memory, and each batch goes on to `on` with "
        "`non_blocking=True`: from pinned memory the copy is queued and Python goes on "
        "(section 3). Write `images.to(on, non_blocking=loader.pin_memory)` (and the same "
        "for the labels).",
    )
    queued = len(moves) - blocking
    require(
        pinned or queued == 0,
        f"`train_epoch` moved {queued} of its {len(moves)} batch tensors to `on` with "
        "`non_blocking=True`, from batches that were not pinned (`loader.pin_memory` was "
        "False, as in the CPU and plain GPU arms). The plain GPU arm changes only the "
        "device, so its copies stay plain. On an Apple GPU (MPS) a non-blocking "
        "copy from ordinary memory can even read a batch after Python has freed it, silently "
        "giving the GPU wrong numbers (pytorch/pytorch#139550, #189690). Write "
        "`images.to(on, non_blocking=loader.pin_memory)` (and the same for the labels).",
    )


def _check_synchronized_on(gpu: SimulatedGPU, name: str, gpu_type: str) -> None:
    require(
        not gpu.elsewhere,
        f"`{name}` called `synchronize` with `{gpu.elsewhere[0] if gpu.elsewhere else ''}` "
        f"while `on` was `torch.device({gpu_type!r})`: `synchronize` waits only for the "
        "device it is given, so the GPU's queued steps would still be running when the clock "
        "is read. Pass the function's own `on`, not a device from outside it.",
    )


def _small_problem() -> tuple[nn.Module, list[tuple[torch.Tensor, torch.Tensor]]]:
    """A small MLP with dropout, in eval mode, and 6 batches of 8 random examples."""
    generator = torch.Generator().manual_seed(4)
    batches = [
        (torch.randn(8, 12, generator=generator), torch.randint(0, 3, (8,), generator=generator))
        for _ in range(6)
    ]
    torch.manual_seed(4)
    model = MLP(12, [16], 3, dropout=0.25)
    model.eval()  # as a model is after an evaluation pass: train_epoch must switch it back
    return model, batches


def _reference_epoch(
    model: nn.Module, batches: list, lr: float, *, zero_grad: bool = True, train: bool = True
) -> nn.Module:
    """The lesson's loop, or one with a named mistake, on a copy of ``model``."""
    model = copy.deepcopy(model)
    optimizer = torch.optim.SGD(model.parameters(), lr)
    model.train(train)
    torch.manual_seed(5)  # the dropout masks
    for images, labels in batches:
        F.cross_entropy(model(images), labels).backward()
        optimizer.step()
        if zero_grad:
            optimizer.zero_grad()
    return model


def _same_weights(first: nn.Module, second: nn.Module) -> bool:
    return all(
        torch.allclose(a, b, rtol=1e-5, atol=1e-6)
        for a, b in zip(first.parameters(), second.parameters(), strict=True)
    )


def _simulated_type(devices: Sequence[torch.device]) -> str:
    """The GPU type the learner has (CUDA or MPS), or CUDA on a machine without one."""
    gpus = [device.type for device in devices if device.type in ("cuda", "mps")]
    return gpus[0] if gpus else "cuda"


def _check_train_epoch(
    train_epoch: Callable[..., Any], gpu_type: str = "cuda", pinned: bool = False
) -> list[str]:
    require(callable(train_epoch), "`train_epoch` should be your function that trains one epoch.")
    model, batches = _small_problem()
    start_model = copy.deepcopy(model)
    lr = 0.5
    optimizer = torch.optim.SGD(model.parameters(), lr)
    gpu = SimulatedGPU(EPOCH_STEP_SECONDS)
    real_step = optimizer.step

    def queued_step(*args: Any, **kwargs: Any) -> Any:
        result = real_step(*args, **kwargs)
        gpu.queue_step()  # on a GPU, the step's work is queued and Python goes on
        return result

    optimizer.step = queued_step  # type: ignore[method-assign]
    # The right weights, computed first: this also pays PyTorch's one-off set-up for
    # these operations, which would otherwise fall inside the learner's clock.
    expected = _reference_epoch(start_model, batches, lr)
    # `on` names the simulated GPU, so a synchronize written for that GPU alone (`if
    # on.type == "cuda"`) runs; the batches and the model stay on the CPU all the same.
    on = torch.device(gpu_type)
    real_to = model.to
    model.to = lambda *args, **kwargs: (  # type: ignore[method-assign]
        model
        if str(kwargs.get("device", args[0] if args else "")).startswith(gpu_type)
        else real_to(*args, **kwargs)
    )
    learner_batches = _recorded(batches)
    loader = _Loader(learner_batches, pin_memory=pinned)  # pinned: the pinned arm's loader
    _MoveRecorder.moves, _MoveRecorder.simulated = [], gpu_type
    _MoveRecorder.pinned = pinned
    torch.manual_seed(5)  # the dropout masks, as in _reference_epoch
    # The model's outputs, and the loss computed from them, record reads on the CPU.
    hook = model.register_forward_hook(
        lambda module, inputs, output: output.as_subclass(_SyncRecorder)
    )
    _SyncRecorder.gpu = gpu
    try:
        with simulated_synchronize(gpu, train_epoch, gpu_type):
            gpu.queue(EARLIER_SECONDS)  # work queued before the epoch, not part of it
            returned = call_learner_code(
                train_epoch,
                model,
                loader,
                optimizer,
                on,
                name="train_epoch",
                advice="It is called as train_epoch(model, loader, optimizer, on).",
            )
    finally:
        hook.remove()
        _SyncRecorder.gpu = None
        del model.to  # the module's own method again
    seconds = _seconds(returned, "train_epoch(model, loader, optimizer, on)")
    require(
        gpu.steps == len(batches),
        f"`train_epoch` made {gpu.steps} optimizer steps for a loader of {len(batches)} "
        "batches; one epoch is one step per batch.",
    )
    require(
        not _same_weights(model, start_model),
        "After `train_epoch` the model's weights are unchanged: call `optimizer.step()` "
        "after `loss.backward()` for every batch.",
    )
    if not _same_weights(model, expected):
        require(
            not _same_weights(model, _reference_epoch(start_model, batches, lr, zero_grad=False)),
            "Your weights match a loop that never clears the gradients, so each step used "
            "the sum of all gradients so far: call `optimizer.zero_grad()` after each step.",
        )
        require(
            not _same_weights(model, _reference_epoch(start_model, batches, lr, train=False)),
            "Your weights match a loop run in eval mode, where dropout is off: a model "
            "comes back from an evaluation pass in eval mode, so call `model.train()` first.",
        )
        require(
            False,
            f"After one epoch of {len(batches)} batches your model's weights differ from "
            "those of the lesson's loop: for every batch, forward, cross-entropy loss, "
            "`backward`, `step`, `zero_grad`.",
        )
    _check_moves(learner_batches, on, pinned)
    _check_synchronized_on(gpu, "train_epoch", gpu_type)
    _check_host_syncs(gpu, len(batches))
    inside = [queued for queued in gpu.waits if 0 < queued < len(batches)]
    require(
        not inside,
        f"`train_epoch` called `synchronize` inside the loop ({len(inside)} times in "
        f"{len(batches)} steps): on a GPU each call makes Python wait for the step to finish "
        "before it can queue the next, so the timed epoch includes those waits. Call it "
        "once before starting the clock and once after the loop.",
    )
    queued = len(batches) * EPOCH_STEP_SECONDS
    require(
        seconds >= 0.8 * queued,
        f"On a simulated GPU whose steps need {queued:.2f} s to finish, `train_epoch` "
        f"measured {seconds:.3g} s: it read the clock while steps were still queued. "
        "Call `synchronize(on)` after the last step, and read the clock after it returns. "
        f"(The check passes `on = torch.device({gpu_type!r})` for its simulated GPU: "
        "`synchronize(on)` waits for it whatever `torch.cuda.is_available()` says here.)",
    )
    require(
        seconds <= 4 * queued,
        f"On a simulated GPU whose steps need {queued:.2f} s to finish, `train_epoch` "
        f"returned {seconds:.3g}: return the epoch's time in seconds "
        "(a difference of two `time.perf_counter()` readings).",
    )
    require(
        seconds <= queued + EARLIER_SECONDS / 2,
        f"On a simulated GPU that still had {EARLIER_SECONDS:.2f} s of earlier work queued "
        f"when `train_epoch` was called, it measured {seconds:.2f} s for steps that need "
        f"{queued:.2f} s: the clock started before that earlier work had finished. Call "
        "`synchronize(on)` before starting the clock, too.",
    )
    copies = f"{len(gpu.host_syncs)} cop{'y' if len(gpu.host_syncs) == 1 else 'ies'}"
    return [
        f"`train_epoch`, on {len(batches)} random batches: one step per batch, the lesson "
        f"loop's weights, batches moved to `on` {'with' if pinned else 'without'} "
        f"`non_blocking=True`, the loss copied to the CPU at most once ({copies} in "
        f"{len(batches)} steps); on a simulated GPU (`on` was `torch.device({gpu_type!r})`) "
        f"it measured {seconds:.2f} s for {queued:.2f} s of steps, waiting before and after "
        "the loop, not inside it",
    ]


PROVENANCE_FACTOR = 10  # how far an epoch may be from the check's own timing of the model


def _seconds_per_step(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """The fastest of 2 timings of 3 SGD steps of a copy of ``model``, on the batch's device."""
    on = images.device
    model = copy.deepcopy(model).to(on)  # the learner's model keeps its weights
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)

    def step() -> None:
        F.cross_entropy(model(images), labels).backward()
        optimizer.step()
        optimizer.zero_grad()

    step()  # warm-up: the first step pays one-off set-up
    timings = []
    for _ in range(2):
        device_module.synchronize(on)
        start = time.perf_counter()
        for _ in range(3):
            step()
        device_module.synchronize(on)
        timings.append((time.perf_counter() - start) / 3)
    return min(timings)


def _check_provenance(
    big_model: nn.Module, big_model_seconds: Any, names: list[str], loader: Any
) -> list[str]:
    """Each device's epochs must take about what an epoch of ``big_model`` takes there.

    The check times one pass over the loader, and a few steps of a copy of the model on
    the loader's first batch scaled to the loader's images, and adds the two: on a fast
    GPU an epoch of ``exercise_loader(pinned)`` can be mostly its loading on the CPU. Times of
    another model, of part of an epoch, or in milliseconds are many times off; a busy
    machine moves a time far less.
    """
    start = time.perf_counter()
    batches = [(batch[0], batch[1]) for batch in loader]
    loading = time.perf_counter() - start
    require(
        len(batches) > 0,
        "`loader` yielded no batches: pass the exercise's `exercise_loader(pinned=False)`.",
    )
    images, labels = batches[0]
    epoch_images = sum(len(batch_labels) for _, batch_labels in batches)
    steps = epoch_images / len(labels)
    found = []
    for name in names:
        on = _arm_device(name)
        expected = loading + steps * _seconds_per_step(big_model, images.to(on), labels.to(on))
        first, second = big_model_seconds[name][:2]
        ratio = second / expected
        where = f"`big_model_seconds[{name!r}]`"
        timing = (
            f"the {expected:.3g} s that the check's own timing gives for one epoch of `loader` "
            f"on {name} ({loading:.3g} s to load it, and {steps:.1f} steps of `big_model` on "
            f"{len(labels)} images)"
        )
        require(
            ratio < PROVENANCE_FACTOR,
            f"{where} says the second epoch took {second:.3g} s, {ratio:.0f} times {timing}. "
            "Store seconds (not milliseconds) of one epoch, as `train_epoch` returns them.",
        )
        require(
            min(first, second) > expected / PROVENANCE_FACTOR,
            f"{where} holds {first:.3g} s and {second:.3g} s, down to "
            f"1/{expected / min(first, second):.0f} of {timing}. Store the times that "
            "`train_epoch` returned for `big_model`, the 2048-2048 MLP, over whole epochs of "
            "`exercise_loader(pinned)`, not the times of another model or of part of an epoch.",
        )
        found.append(f"{name} {second:.2f} s against about {expected:.2f} s")
    return [
        f"each second epoch within {PROVENANCE_FACTOR} times of the check's own timing of "
        f"one pass over `loader` and a few steps of `big_model` ({'; '.join(found)})"
    ]


def _check_arms(exercise_arms: Any, devices: Sequence[torch.device]) -> list[str]:
    """The arms that ``devices`` allow: the CPU; a GPU, batches not pinned (only the device
    changes); on CUDA, pinned batches copied with ``non_blocking`` (two changes together).
    Returns their names."""
    gpus = [name for name in _device_names(devices) if name != "cpu"]
    expected = {"cpu": False, **{gpu: False for gpu in gpus[:1]}}  # arm -> pinned
    if "cuda" in gpus:
        expected[PINNED_ARM] = True
    require_keys(exercise_arms, list(expected), "exercise_arms")
    for arm, pinned in expected.items():
        value = exercise_arms[arm]
        require(
            isinstance(value, tuple) and len(value) == 2,
            f"`exercise_arms[{arm!r}]` is {value!r}: store a pair, (the arm's device, whether "
            "its batches are pinned).",
        )
        on, pin = value
        where = torch.device(on).type
        require(
            where == _arm_device(arm).type,
            f"`exercise_arms[{arm!r}]` runs on {where}; that arm runs on {_arm_device(arm)}.",
        )
        if pinned:
            require(
                pin is True,
                f"`exercise_arms[{arm!r}]` does not pin its batches: this arm differs from "
                "the plain GPU arm in two things together, pinned batches (the loader copies "
                "each into pinned memory) and `train_epoch`'s `non_blocking=True` copies of "
                "them.",
            )
        else:
            why = (
                "the CPU arm is the baseline, with nothing pinned"
                if arm == "cpu"
                else "the plain GPU arm should change only the device from the CPU arm; "
                "pinning, with `non_blocking`, is what the next arm changes"
            )
            require(pin is False, f"`exercise_arms[{arm!r}]` pins its batches: {why}.")
    return list(expected)


def _exercise_1(
    train_epoch: Callable[..., Any],
    exercise_arms: Any,
    big_model_seconds: Any,
    big_model: Any,
    devices: Sequence[torch.device],
    loader: Any,
) -> list[str]:
    gpu_type = _simulated_type(devices)
    checked = _check_train_epoch(train_epoch, gpu_type)
    if gpu_type == "cuda":  # the pinned arm exists on CUDA only; the check simulates one
        _check_train_epoch(train_epoch, "cuda", pinned=True)
        checked[-1] += "; and the same with pinned batches, copied with `non_blocking=True`"
    names = _check_arms(exercise_arms, devices)
    require_keys(big_model_seconds, names, "big_model_seconds")
    for name in names:
        _times(big_model_seconds[name], f"big_model_seconds[{name!r}]", at_least=2)
    require(isinstance(big_model, nn.Module), "`big_model` should be the model you timed last.")
    shapes = [
        (m.in_features, m.out_features) for m in big_model.modules() if isinstance(m, nn.Linear)
    ]
    require(
        shapes == [(28 * 28, 2048), (2048, 2048), (2048, 10)],
        f"`big_model` has linear layers {shapes}; the exercise asks for hidden layers "
        "[2048, 2048] between the 784 pixels and the 10 classes.",
    )
    where = next(big_model.parameters()).device.type
    last = list(exercise_arms)[-1]  # the learner's last arm, the one timed last
    require(
        where == _arm_device(last).type,
        f"`big_model` is on {where}, but the last arm, {last!r}, runs on "
        f"{_arm_device(last).type}: keep the last model you timed (built, seeded, on its "
        "device).",
    )
    weights = sum(parameter.numel() for parameter in big_model.parameters())
    small = sum(parameter.numel() for parameter in MLP(28 * 28, [32], 10).parameters())
    first_second = ", ".join(
        f"{name} {big_model_seconds[name][0]:.2f} s then {big_model_seconds[name][1]:.2f} s"
        for name in names
    )
    provenance = _check_provenance(big_model, big_model_seconds, names, loader)
    return [
        *checked,
        f"`exercise_arms` {names}, each pinned only where it should be; `big_model_seconds` "
        f"({first_second}); `big_model` 784 -> 2048 -> 2048 -> 10 ({weights:,} weights, the "
        f"32-unit model's {small:,}) on {where}; {provenance[0]}",
    ]


# --- exercise 2: time_step, and the batch size where a GPU starts to win ------------


def _check_time_step(
    time_step: Callable[..., Any], gpu_type: str = "cuda"
) -> tuple[list[str], float]:
    require(callable(time_step), "`time_step` should be your timing function.")
    gpu = SimulatedGPU(STEP_SECONDS, SETUP_SECONDS)
    with simulated_synchronize(gpu, time_step, gpu_type):
        returned = call_learner_code(
            time_step,
            SimulatedStep(gpu),
            torch.device(gpu_type),
            name="time_step",
            advice="It is called as time_step(step, on), with a step that takes no arguments.",
        )
    _check_synchronized_on(gpu, "time_step", gpu_type)
    times = _times(returned, "time_step(step, on)", at_least=MIN_REPEATS)
    median = statistics.median(times)
    step_ms = STEP_SECONDS * 1e3
    require(
        median >= 0.5 * STEP_SECONDS,
        f"On a simulated GPU where each step takes {step_ms:.0f} ms to finish, `time_step` "
        f"measured a median of {median * 1e3:.3f} ms a step: the clock was read while the "
        "steps were still queued, so it timed only the queueing. Call `synchronize(on)` "
        "after the timed steps, and read the clock after it returns.",
    )
    require(
        median <= 2 * STEP_SECONDS,
        f"On a simulated GPU where each step takes {step_ms:.0f} ms to finish, `time_step` "
        f"returned a median of {median:.4g}: return seconds per step, one repeat's time "
        "divided by its number of steps.",
    )
    require(
        max(times) <= 2 * median,
        f"One of your repeats measured {max(times) * 1e3:.1f} ms a step against a median of "
        f"{median * 1e3:.2f} ms: its clock ran while the first step's one-off set-up "
        f"({SETUP_SECONDS} s on this simulated GPU) was still queued. Run a warm-up step, "
        "call `synchronize(on)`, and only then start the clock.",
    )
    require(
        gpu.steps >= MIN_STEPS * len(times) + 1,
        f"`time_step` ran {gpu.steps} steps in all for {len(times)} repeats (and a warm-up): "
        f"fewer than {MIN_STEPS} a repeat. Time at least {MIN_STEPS} steps between two clock "
        "readings, so that one slow step or the clock's own cost is shared out.",
    )
    checked = [
        f"on a simulated GPU ({step_ms:.0f} ms a step, {SETUP_SECONDS} s of set-up queued by "
        f"the first), `time_step` returned {len(times)} repeats, "
        f"{_spread(times, 1e3, 'ms')} a step: it kept the set-up out of the clock and "
        f"waited for the queued steps ({gpu.steps} steps in all, at least {MIN_STEPS} "
        "a repeat)",
    ]
    # Steps per repeat (the warm-up aside): a total of a repeat is that many steps' time.
    return checked, (gpu.steps - 1) / len(times)


def _cpu_step(batch_size: int) -> Callable[[], None]:
    """One training step of the lesson's 32-unit MLP on a fixed random batch, on the CPU."""
    model = MLP(28 * 28, [32], 10)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    images, labels = torch.randn(batch_size, 1, 28, 28), torch.randint(0, 10, (batch_size,))

    def step() -> None:
        F.cross_entropy(model(images), labels).backward()
        optimizer.step()
        optimizer.zero_grad()

    return step


CHECK_ROUNDS = 3  # rounds the check asks time_in_rounds for


class _LoggedStep(SimulatedStep):
    """A simulated step that also logs its batch size each time it runs."""

    def __init__(self, gpu: SimulatedGPU, size: int, calls: list[int]):
        super().__init__(gpu)
        self.size, self.calls = size, calls

    def __call__(self) -> None:
        self.calls.append(self.size)
        super().__call__()

    def __repr__(self) -> str:
        return f"a simulated training step at batch {self.size}"


def _check_rounds(time_in_rounds: Callable[..., Any], gpu_type: str = "cuda") -> str:
    """Call ``time_in_rounds`` on a simulated GPU with steps that log their batch size: were
    the repeats taken in rounds, each round one repeat of every batch size, and did each
    come back as the seconds of one step, one per round?"""
    require(callable(time_in_rounds), "`time_in_rounds` should be your function of rounds.")
    calls: list[int] = []
    gpu = SimulatedGPU(STEP_SECONDS, SETUP_SECONDS)
    steps = {size: _LoggedStep(gpu, size, calls) for size in CHECK_SIZES}
    with simulated_synchronize(gpu, time_in_rounds, gpu_type):
        returned = call_learner_code(
            time_in_rounds,
            steps,
            torch.device(gpu_type),
            CHECK_ROUNDS,
            name="time_in_rounds",
            advice="It is called as time_in_rounds(steps, on, rounds), with steps a dict from "
            "batch size to a step function.",
        )
    _check_synchronized_on(gpu, "time_in_rounds", gpu_type)
    require_keys(returned, CHECK_SIZES, f"time_in_rounds(steps, on, {CHECK_ROUNDS})")
    step_ms = STEP_SECONDS * 1e3
    for size in CHECK_SIZES:
        times = _times(returned[size], f"time_in_rounds(...)[{size}]", CHECK_ROUNDS)
        require(
            len(times) == CHECK_ROUNDS,
            f"`time_in_rounds(steps, on, {CHECK_ROUNDS})` returned {len(times)} times for "
            f"batch {size}: return one per round, {CHECK_ROUNDS} in all (call `time_step` "
            "with `repeats=1` for each batch size in each round).",
        )
        require(
            all(0.5 * STEP_SECONDS <= each <= 2 * STEP_SECONDS for each in times),
            f"On a simulated GPU where each step takes {step_ms:.0f} ms, "
            f"`time_in_rounds` returned {', '.join(f'{each * 1e3:.3g}' for each in times)} ms "
            f"for batch {size}: time each repeat with your `time_step` (warm-up, "
            "`synchronize(on)` around the clock, seconds per step), not with a clock of its own.",
        )
    # Which batch size ran, block by block: a round holds one block of every size.
    blocks = [size for index, size in enumerate(calls) if index == 0 or calls[index - 1] != size]
    width = len(CHECK_SIZES)
    rounds = [blocks[start : start + width] for start in range(0, len(blocks), width)]
    in_rounds = len(rounds) == CHECK_ROUNDS and all(
        sorted(each) == sorted(CHECK_SIZES) for each in rounds
    )
    shown = " ".join(map(str, blocks[:12])) + (" ..." if len(blocks) > 12 else "")
    require(
        in_rounds,
        f"Asked for {CHECK_ROUNDS} rounds, `time_in_rounds` ran the steps of the batch sizes "
        f"in this order (each number a run of steps of one size): {shown}. Take the "
        "repeats in rounds: in each round, one repeat (`repeats=1`) of every batch size in "
        "turn, so that a slow moment of the machine falls on every size alike.",
    )
    require(
        len({tuple(each) for each in rounds}) > 1,
        f"`time_in_rounds` ran the batch sizes in the same order in every round ({shown}): "
        "change the order from round to round (rotate it, as section 7 does), so that no "
        "size always runs right after the same one.",
    )
    return (
        f"`time_in_rounds`, asked for {CHECK_ROUNDS} rounds on a simulated GPU "
        f"({step_ms:.0f} ms a step), ran the batch sizes in the order {shown}: one repeat "
        "of every size per round, in a new order from round to round; it returned one time per "
        "round for each size, each "
        f"within a factor of 2 of {step_ms:.0f} ms"
    )


def _exercise_2(
    time_step: Callable[..., Any],
    time_in_rounds: Callable[..., Any],
    step_table: Any,
    devices: Sequence[torch.device],
) -> list[str]:
    # The simulated GPU is of the learner's type (MPS on a Mac), as in exercise 1.
    gpu_type = _simulated_type(devices)
    checked, steps = _check_time_step(time_step, gpu_type)
    checked.append(_check_rounds(time_in_rounds, gpu_type))
    require_keys(step_table, BATCH_SIZES, "step_table")
    names = _device_names(devices)
    # The fastest repeat of each size: a busy CPU slows repeats down, never speeds one up,
    # so the medians of a CPU shared with other work can put batch 16 above batch 1024.
    fastest = {}
    for size in BATCH_SIZES:
        require_keys(step_table[size], names, f"step_table[{size}]")
        for name in names:
            times = _times(step_table[size][name], f"step_table[{size}][{name!r}]", MIN_REPEATS)
            fastest[size, name] = min(times)
    per_image = {size: fastest[size, "cpu"] / size for size in BATCH_SIZES}
    require(
        per_image[1024] < per_image[16],
        "On the CPU your fastest time per image does not fall from batch 16 to batch 1024, "
        "yet a larger batch shares each step's fixed cost among more images. Store seconds "
        "per step, as `time_step` returns them.",
    )
    require(
        fastest[1024, "cpu"] > 0.5 * fastest[16, "cpu"],
        f"On the CPU your fastest step at batch 1024 ({fastest[1024, 'cpu']:.3g} s) is "
        f"shorter than half the fastest at batch 16 ({fastest[16, 'cpu']:.3g} s), yet it "
        "computes on 64 times the images. Store seconds per step, as `time_step` returns "
        "them, not per image.",
    )
    # Time the CHECK_SIZES again with the learner's time_step, twice, in turn, and compare
    # the fastest repeats: a busy CPU slows a repeat down but never speeds one up, so the
    # fastest of several is the steadiest figure (the medians of a CPU shared with another
    # training were seen to move up to about 15 times). A table of totals is `steps` times
    # a table of seconds per step at every batch size; take the median over the sizes.
    cpu = torch.device("cpu")
    fresh = dict.fromkeys(CHECK_SIZES, float("inf"))
    for _ in range(2):
        for size in CHECK_SIZES:
            fresh_times = _times(
                call_learner_code(time_step, _cpu_step(size), cpu, name="time_step"),
                f"time_step(a CPU step at batch {size}, cpu)",
                MIN_REPEATS,
            )
            fresh[size] = min(fresh[size], min(fresh_times))
    ratios = [fastest[size, "cpu"] / fresh[size] for size in CHECK_SIZES]
    ratio = statistics.median(ratios)
    # A table of totals sits at `steps` times; halfway between 1 and that, on a log scale.
    totals_limit = math.sqrt(steps)
    stored_fresh = ", ".join(
        f"batch {size}: the table's {fastest[size, 'cpu'] * 1e3:.3g} ms against the "
        f"check's {fresh[size] * 1e3:.3g} ms"
        for size in CHECK_SIZES
    )
    require(
        ratio < totals_limit,
        f"The fastest repeats of `step_table[...]['cpu']` are a median of {ratio:.1f} times "
        f"what your `time_step` measures now for the same CPU steps ({stored_fresh}). Your "
        f"`time_step` runs {steps:.0f} steps a repeat: a table of each repeat's total time, "
        "instead of its time per step, would be that many times too long. Store what "
        "`time_step` returns, seconds per step.",
    )
    require(
        ratio > 1 / 30,  # wide: a CPU shared with other programs slows the check's timing down
        f"The fastest repeats of `step_table[...]['cpu']` are a median of 1/{1 / ratio:.0f} "
        f"of what your `time_step` measures now for the same CPU steps ({stored_fresh}). "
        "Store what `time_step` returns for each batch size: seconds per step, not per image.",
    )
    table_spread = "; ".join(
        f"batch {size}: {_spread(step_table[size]['cpu'], 1e3, 'ms')}" for size in (16, 1024)
    )
    return [
        *checked,
        f"`step_table` has at least {MIN_REPEATS} positive times for batch sizes "
        f"{BATCH_SIZES} on each device (cpu, {table_spread} a step)",
        "on the CPU the fastest time per image falls from batch 16 to batch 1024",
        "the fastest step at batch 1024 takes longer than half the fastest at batch 16 (it "
        "computes on 64 times the images)",
        f"`time_step`, run again by the check twice at batch sizes {CHECK_SIZES} on the CPU "
        f"({stored_fresh}): the table's fastest repeats are {ratio:.2f} times the check's "
        f"(the median over those sizes): seconds per step, not each repeat's total over its "
        f"{steps:.0f} steps",
    ]


EXERCISES = {
    1: Exercise(
        hint="section 4's loop; .to(on, non_blocking=loader.pin_memory); synchronize(on) at "
        "each clock",
        test=_exercise_1,
    ),
    2: Exercise(
        hint="warm up; per repeat: sync, clock, 10+ steps, sync, clock; a round: each size once",
        test=_exercise_2,
    ),
}

# Concept checks: the questions at the end of the lesson, about its ideas (not its code).
QUESTIONS: dict[str, Exercise] = {
    "Q1": concept_question(
        "answer_q1",
        hint="section 2: what does Python do while the GPU runs the work it queued?",
        right="b",
        why=(
            "GPU work is asynchronous: the loop ends once the steps are queued, so a clock "
            "read then misses the work still running. `synchronize(device)` before each clock "
            "reading makes the time cover the work itself."
        ),
        misconceptions={
            "a": (
                "On a GPU, Python queues each operation and moves on without waiting for it "
                "(section 2: GPU work is asynchronous); only the CPU runs each operation as "
                "it is called. Exercise 1's check shows it on a simulated GPU: a clock read "
                "without waiting comes out far too short."
            ),
            "c": (
                "`synchronize` does not make the GPU faster: it only makes Python wait until "
                "the queued work has finished (its source is in section 2). Without it the "
                "GPU runs just as fast, but the clock is read before the work is done, so "
                "the time comes out too short, not too long."
            ),
        },
    ),
    "Q2": concept_question(
        "answer_q2",
        hint="section 6: same model, same batches; what did each pipeline do before every step?",
        right="c",
        why=(
            "a `DataLoader` over a torchvision dataset remakes every image's tensor each "
            "epoch (PIL image, transforms, look-ups), and the classic pipeline spent most of "
            "its epoch waiting for those batches (section 6's table); the outputs do not say "
            "which part of the remaking cost what. `dataset_to_tensors` does the remaking "
            "once, and each epoch then only gathers rows out of ready tensors. That one-off "
            "cost is won back after the number of epochs Appendix B prints."
        ),
        misconceptions={
            "a": (
                "The training steps did the same arithmetic: both models ended with the same "
                "weights (section 6 checks it). Look for most of the difference before each "
                "step, in how its batch is made: section 6's table splits each epoch into "
                "waiting for batches and the rest."
            ),
            "b": (
                "Copying a batch to a device is small next to making it: in the lesson's "
                "committed run, on a CPU where no batch is copied to a GPU at all, the classic "
                "pipeline still took far longer per epoch (section 6's speed-up). Look for "
                "most of its extra time in waiting for its batches (section 6's table)."
            ),
            "d": (
                "The training time per epoch is `train_seconds`, the training pass alone: the "
                "evaluation runs after it, outside that clock (section 5; Appendix A prints "
                "the lines of `fit` that measure it)."
            ),
        },
    ),
    "Q3": concept_question(
        "answer_q3",
        hint="exercise 2: ms per step and microseconds per image, at batch 16 against batch 1024",
        right="d",
        why=(
            "the outputs are consistent with a fixed cost per step (Python, the optimizer's "
            "loop over tensors, on a GPU launching kernels) plus work that grows with the "
            "batch, not timed apart: a bigger batch shares the fixed cost among more images, "
            "so it is cheaper per image but not faster per step."
        ),
        misconceptions={
            "a": (
                "The step's time grew far less than the number of images: exercise 2's line "
                "'cpu step time, batch 1024 / batch 16' is far below 64, and the time per "
                "image fell: part of each step's cost does not grow with the batch (it may "
                "be Python, the optimizer's loop over tensors and, on a GPU, launching "
                "kernels; the lesson did not time them apart)."
            ),
            "b": (
                "The step did take longer at batch 1024: compare exercise 2's lines of ms per "
                "step at batch 16 and at batch 1024. Part of a step's cost is fixed, but its "
                "arithmetic grows with the batch."
            ),
            "c": (
                "A bigger batch is more work per step, and the step at batch 1024 took longer "
                "than at batch 16 (exercise 2's lines of ms per step). What fell is the time "
                "per image."
            ),
        },
    ),
    "Q4": concept_question(
        "answer_q4",
        hint="section 7's compiling cost and verdict, and its drop_last=True",
        right="a",
        why=(
            "compiling costs time once (section 7 prints the cost; Appendix C, whether and when "
            "it is won back); each later epoch with batches of that shape may then save some, "
            "so it pays only for a training longer than that payback."
        ),
        misconceptions={
            "b": (
                "The first compiled epoch also paid for the compiling: it took far longer "
                "than the eager first epoch (section 7's compiling-cost line), and Appendix C's "
                "payback line says after how many epochs of savings, if any, it is won back."
            ),
            "c": (
                "A batch of a new shape makes the compiler run again; that is why section 7's "
                "loader drops the short last batch of each epoch (`drop_last=True`)."
            ),
        },
    ),
    "Q5": concept_question(
        "answer_q5",
        hint="section 7: what stays in float32 under autocast? Appendix D: which type needs "
        "a scaler?",
        right="b",
        why=(
            "in the course's run, section 7's probe printed the layers' outputs and the "
            "gradient of the first Linear's output in bfloat16, and a weight and its gradient "
            "in float32. So the matrix products run in bfloat16, with fewer digits but "
            "float32's range, which PyTorch's AMP documentation describes as much faster for "
            "linear layers on hardware that computes in it (whether it pays on a given "
            "device, only rounds timed there show); the weights and the loss stay float32, "
            "and PyTorch's AMP documentation trains bfloat16 with autocast alone, no gradient "
            "scaler."
        ),
        misconceptions={
            "a": (
                "Autocast keeps the weights and the loss in float32 (section 7's probe "
                "printed a weight and its gradient as float32); the layers' outputs are "
                "computed in 16 bits. A gradient scaler is what float16 needs, for its narrow "
                "range; bfloat16 has float32's range, and section 7 trains it with `fit`, "
                "which has no scaler."
            ),
            "c": (
                "PyTorch's AMP documentation describes a gain for hardware with 16-bit "
                "arithmetic of its own: "
                "where a device merely "
                "emulates bfloat16, every product is converted back and forth, and the lesson "
                "expects training to get slower there. That is why section 7 asks "
                "`bfloat16_support` about the device first."
            ),
        },
    ),
}

check_exercise = make_checker(LESSON, EXERCISES, QUESTIONS)
