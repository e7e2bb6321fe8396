"""The training loop shared by lessons 03 to 05.

Models follow a small protocol: ``training_step(batch)`` returns the loss,
``validation_step(batch)`` returns a dict of metrics for one batch,
``validation_epoch_end(outputs)`` combines those dicts, and
``epoch_end(epoch, result)`` reports one epoch. ``ImageClassificationBase``
implements all four for classifiers, so a lesson's model defines only
``__init__`` and ``forward``.
"""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .device import synchronize
from .metrics import accuracy

__all__ = [
    "ImageClassificationBase",
    "eval_mode",
    "evaluate",
    "fit",
    "fit_one_cycle",
    "predict",
    "predict_probabilities",
    "PROTOCOL",
]

PROTOCOL = ("training_step", "validation_step", "validation_epoch_end", "epoch_end")

History = list[dict[str, Any]]


class ImageClassificationBase(nn.Module):
    """Base class for classifiers trained with ``fit``: cross-entropy on logits.

    Subclasses define ``__init__`` and ``forward``. Introduced in lesson 03.
    """

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """Return the mean cross-entropy loss of one batch."""
        images, labels = batch
        return F.cross_entropy(self(images), labels)

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Return the batch's loss, accuracy and size (for a weighted mean)."""
        images, labels = batch
        outputs = self(images)
        return {
            "val_loss": F.cross_entropy(outputs, labels).detach(),
            "val_acc": accuracy(outputs, labels),
            "batch_size": torch.tensor(labels.shape[0]),
        }

    def validation_epoch_end(self, outputs: list[dict[str, torch.Tensor]]) -> dict[str, float]:
        """Return loss and accuracy over all batches, weighted by batch size.

        A plain mean of batch means would over-weight a small last batch.
        """
        keys = ("val_loss", "val_acc")
        # One transfer to Python floats (float64 on the host): no float64 tensor on the
        # device (Apple's MPS has none), and one wait for the device instead of one per batch.
        rows = torch.stack(
            [torch.stack([out[key].detach().float() for key in keys]) for out in outputs]
        ).tolist()
        sizes = torch.stack([torch.as_tensor(out["batch_size"]) for out in outputs]).tolist()
        total = sum(sizes)
        return {
            key: math.fsum(row[index] * size for row, size in zip(rows, sizes, strict=True)) / total
            for index, key in enumerate(keys)
        }

    def epoch_end(self, epoch: int, result: dict[str, float]) -> None:
        """Print one line summarising ``result`` for ``epoch`` (counted from 0)."""
        seconds = result.get("epoch_seconds")
        timing = f" ({seconds:.1f} s)" if seconds is not None else ""
        print(
            f"Epoch {epoch + 1}: train_loss {result['train_loss']:.4f}, "
            f"val_loss {result['val_loss']:.4f}, val_acc {result['val_acc']:.4f}{timing}"
        )


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode and turn off gradients inside a ``with`` block.

    On leaving the block, even through an error, the model returns to the mode
    it was in before (training or eval), so a helper that evaluates never
    changes how the next training step behaves (dropout, batch norm). Yields
    the model. Introduced in lesson 03.
    """
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        model.train(was_training)


def _check_protocol(model: Any) -> None:
    missing = [name for name in PROTOCOL if not callable(getattr(model, name, None))]
    if missing:
        raise TypeError(
            f"{type(model).__name__} does not follow the training protocol: it lacks "
            f"{', '.join(missing)}. Subclass course_utils.ImageClassificationBase or define them."
        )


def _refuse_compiled_wrapper(model: Any, helper: str) -> None:
    # torch.compile(model) returns a wrapper whose forward is compiled, but whose other
    # attributes are the original model's: wrapper.training_step(batch) calls the original
    # self(images), so the compiled code would never run.
    if type(model).__name__ == "OptimizedModule" and hasattr(model, "_orig_mod"):
        raise TypeError(
            f"{helper} got a model wrapped by torch.compile(model). {helper} calls "
            "model.training_step and model.validation_step, and on that wrapper they are the "
            "original model's methods, which run the uncompiled forward. Compile the model "
            f"in place instead, with model.compile(), and pass the model itself to {helper}."
        )


def _check_loader(loader: Iterable, name: str) -> int:
    try:
        num_batches = len(loader)  # type: ignore[arg-type]
    except TypeError as error:
        raise TypeError(f"{name} must have a length (a DataLoader or DeviceDataLoader)") from error
    if num_batches == 0:
        raise ValueError(
            f"{name} is empty: it yields no batches "
            "(is the dataset empty, or drop_last on a tiny set?)"
        )
    return num_batches


def evaluate(model: nn.Module, loader: Iterable) -> dict[str, float]:
    """Run ``model`` over ``loader`` without gradients and return its metrics.

    Returns what ``model.validation_epoch_end`` returns, for classifiers
    ``{"val_loss": ..., "val_acc": ...}``. The model's train/eval mode is restored
    afterwards. Introduced in lesson 03.
    """
    _check_protocol(model)
    _refuse_compiled_wrapper(model, "evaluate")
    _check_loader(loader, "loader")
    with eval_mode(model):
        outputs = [model.validation_step(batch) for batch in loader]
    return model.validation_epoch_end(outputs)


def _check_number(name: str, value: Any, minimum: float, allow_minimum: bool = False) -> float:
    """Return ``value`` as a float if it is a finite number above ``minimum``, else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"{name} must be a number (int or float), got {type(value).__name__} {value!r}"
        )
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if value < minimum or (value == minimum and not allow_minimum):
        rule = "must not be negative" if allow_minimum else "must be positive"
        raise ValueError(f"{name} {rule}, got {value!r}")
    return float(value)


def _check_flag(name: str, value: Any) -> bool:
    # A string such as "False" is truthy, so it would silently mean the opposite.
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__} {value!r}")
    return value


def _check_epochs(epochs: Any) -> int:
    if isinstance(epochs, bool) or not isinstance(epochs, numbers.Integral):
        raise TypeError(
            f"epochs must be a whole number (int), got {type(epochs).__name__} {epochs!r}"
        )
    if epochs <= 0:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    return int(epochs)


def _check_training_arguments(
    model: nn.Module,
    epochs: Any,
    lr: Any,
    lr_name: str,
    train_loader: Iterable,
    val_loader: Iterable,
) -> tuple[int, float, int]:
    """Return ``(epochs, lr, batches per epoch)`` once every argument is known to be usable."""
    _check_protocol(model)
    _refuse_compiled_wrapper(model, "fit")
    epochs = _check_epochs(epochs)
    lr = _check_number(lr_name, lr, minimum=0.0)
    num_batches = _check_loader(train_loader, "train_loader")
    _check_loader(val_loader, "val_loader")
    return epochs, lr, num_batches


_CAUSES = (
    "Usual causes: a learning rate too high (try one 10 times smaller), inputs that are "
    "not normalised, or a loss that takes the log of zero or gets labels outside "
    "0..num_classes-1."
)


def _non_finite_loss(value: float, epoch: int, batch: int) -> FloatingPointError:
    return FloatingPointError(
        f"the training loss is {value} in epoch {epoch + 1}, batch {batch + 1} (both counted "
        f"from 1), so training stopped. {_CAUSES}"
    )


def _checks_every_step(loss: torch.Tensor) -> bool:
    # Reading a CPU loss costs nothing, so stop before the bad step changes the weights.
    # On a GPU, reading it would make Python wait for the GPU at every step; there the
    # losses stay on the device and are read once per epoch, which still names the
    # first bad batch (the weights have by then taken the later steps too).
    return loss.device.type == "cpu"


def _epoch_train_loss(losses: list[torch.Tensor], epoch: int) -> float:
    """The epoch's mean training loss; raise naming the first batch whose loss was not finite.

    One ``.tolist()`` brings every loss to Python floats (float64 on the host), so the mean
    cannot overflow and no float64 tensor is made on the device.
    """
    values = torch.stack(losses).float().tolist()
    for batch, value in enumerate(values):
        if not math.isfinite(value):
            raise _non_finite_loss(value, epoch, batch)
    return math.fsum(values) / len(values)


def _check_validation_loss(model: nn.Module, result: dict[str, Any], epoch: int) -> None:
    value = result.get("val_loss")
    if not isinstance(value, (numbers.Real, torch.Tensor)) or math.isfinite(float(value)):
        return
    if all(bool(torch.isfinite(parameter).all()) for parameter in model.parameters()):
        reason = (
            "The weights are finite, so look at the validation data: inputs normalised "
            "like the training inputs, no NaN or inf in them, labels within 0..num_classes-1."
        )
    else:
        reason = f"The weights are no longer finite: the last steps diverged. {_CAUSES}"
    raise FloatingPointError(
        f"the validation loss is {float(value)} after epoch {epoch + 1} (counted from 1), "
        f"while the training loss was finite, so training stopped. {reason}"
    )


def _train_epoch(
    epoch: int,
    model: nn.Module,
    train_loader: Iterable,
    optimizer: torch.optim.Optimizer,
    progress: tqdm,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
    grad_clip: float | None,
) -> tuple[list[torch.Tensor], list[float]]:
    """One pass over ``train_loader``; return each step's loss and the learning rates used.

    The losses stay where they were computed: reading them here would make Python wait
    for a GPU at every step.
    """
    model.train()
    losses, lrs = [], []
    for batch_index, batch in enumerate(train_loader):
        loss = model.training_step(batch)
        if _checks_every_step(loss) and not bool(torch.isfinite(loss)):
            raise _non_finite_loss(float(loss.detach()), epoch, batch_index)
        loss.backward()
        if grad_clip is not None:
            nn.utils.clip_grad_value_(model.parameters(), grad_clip)
        optimizer.step()
        optimizer.zero_grad()
        if scheduler is not None:
            lrs.append(optimizer.param_groups[0]["lr"])
            scheduler.step()
        losses.append(loss.detach())
        progress.update()
    return losses, lrs


class _BestWeights:
    """The weights of the epoch with the lowest validation loss so far, for ``restore_best``."""

    def __init__(self) -> None:
        self.epoch: int | None = None  # counted from 0, like ``history``
        self.loss = math.inf
        self.state: dict[str, torch.Tensor] = {}

    def update(self, model: nn.Module, epoch: int, result: dict[str, Any]) -> None:
        """Copy the model's weights if ``result`` has the lowest validation loss so far."""
        if "val_loss" not in result:
            raise ValueError(
                "restore_best=True keeps the epoch with the lowest val_loss, but the model's "
                f"validation_epoch_end returned no val_loss (it returned {sorted(result)})"
            )
        loss = float(result["val_loss"])
        # Strictly lower: on a tie the earlier epoch stays, as it reached that loss first.
        if loss >= self.loss:
            return
        # state_dict() holds the live tensors, which the next steps change in place, so
        # copy them. The copy lives on the CPU: one more set of weights (and buffers such
        # as batch-norm statistics) in RAM, e.g. 4 bytes per float32 parameter, rather than
        # GPU memory the training needs. Built whole before it replaces the old one, so an
        # interruption mid-copy leaves the previous best intact.
        state = {
            name: tensor.detach().to("cpu", copy=True)
            for name, tensor in model.state_dict().items()
        }
        self.epoch, self.loss, self.state = epoch, loss, state

    def restore(self, model: nn.Module, history: History, interrupted: bool) -> None:
        """Load the best weights back into ``model``, flag the epoch in ``history``, say so."""
        if self.epoch is None:
            print("No epoch finished, so there are no best weights to restore")
            return
        model.load_state_dict(self.state)  # copies into the model's tensors, on its device
        for index, entry in enumerate(history):
            entry["best"] = index == self.epoch
        last = len(history) - 1
        if self.epoch < last:
            finished = "finished epoch" if interrupted else "epoch"
            print(
                f"Restored the weights of epoch {self.epoch + 1} (lowest validation loss "
                f"{self.loss:.4f}); the last {finished}, {last + 1}, had "
                f"{float(history[last]['val_loss']):.4f}"
            )
        elif interrupted:  # the weights had moved on, into the unfinished epoch
            print(
                f"Restored the weights of epoch {self.epoch + 1}, the last finished one "
                f"(lowest validation loss {self.loss:.4f})"
            )
        else:
            print(
                f"The last epoch, {last + 1}, had the lowest validation loss "
                f"({self.loss:.4f}): keeping its weights"
            )


def _train(
    epochs: int,
    model: nn.Module,
    train_loader: Iterable,
    val_loader: Iterable,
    optimizer: torch.optim.Optimizer,
    num_batches: int,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    grad_clip: float | None = None,
    restore_best: bool = False,
    verbose: bool = True,
) -> History:
    """The loop behind ``fit`` and ``fit_one_cycle``: one progress bar for the whole run."""
    history: History = []
    best: _BestWeights | None = _BestWeights() if restore_best else None
    interrupted = False
    try:
        with tqdm(total=epochs * num_batches, desc="Training", unit="batch") as progress:
            for epoch in range(epochs):
                # Work queued before the epoch (copies to the device, the last evaluation)
                # must not count in this epoch's time: wait for it before starting the clock.
                synchronize(next(model.parameters(), torch.empty(0)).device)  # model's device
                start = time.perf_counter()
                losses, lrs = _train_epoch(
                    epoch, model, train_loader, optimizer, progress, scheduler, grad_clip
                )
                # A GPU runs the queued steps after Python has moved on: wait for them
                # before reading the clock, or train_seconds measures only the queueing.
                synchronize(losses[-1].device)  # where the steps ran
                train_seconds = time.perf_counter() - start
                train_loss = _epoch_train_loss(losses, epoch)
                result = evaluate(model, val_loader)
                _check_validation_loss(model, result, epoch)
                result["train_loss"] = train_loss
                result["train_seconds"] = train_seconds
                result["epoch_seconds"] = time.perf_counter() - start
                if verbose:
                    model.epoch_end(epoch, result)
                if scheduler is not None:
                    result["lrs"] = lrs
                progress.set_postfix(val_acc=f"{result.get('val_acc', float('nan')):.4f}")
                history.append(result)
                if best is not None:
                    best.update(model, epoch, result)
    except KeyboardInterrupt:
        # Gradients of an interrupted step would otherwise leak into the next fit's first step.
        optimizer.zero_grad()
        interrupted = True
        finished = len(history)
        print(
            f"Interrupted in epoch {finished + 1}: returning the history of the {finished} "
            f"finished epoch{'' if finished == 1 else 's'}"
        )
    if best is not None:
        best.restore(model, history, interrupted)
    return history


def fit(
    epochs: int,
    lr: float,
    model: nn.Module,
    train_loader: Iterable,
    val_loader: Iterable,
    opt_func: Callable[..., torch.optim.Optimizer] = torch.optim.SGD,
    *,
    restore_best: bool = False,
    verbose: bool = True,
) -> History:
    """Train ``model`` for ``epochs`` epochs at a constant learning rate; return its history.

    ``opt_func(model.parameters(), lr)`` builds the optimizer; pass for example
    ``torch.optim.Adam`` or ``functools.partial(torch.optim.SGD, momentum=0.9)``.
    The history is a list with one dict per epoch: ``train_loss``, ``val_loss``,
    ``val_acc``, ``train_seconds`` (the training pass, read after ``synchronize``
    has waited for the device's queued work) and ``epoch_seconds`` (with
    validation). One progress bar covers the whole run (set
    ``TQDM_DISABLE=1`` to silence it, as CI does).

    Bad arguments raise before any training starts: a ``TypeError`` naming the
    argument and the type expected (``lr="0.1"``), a ``ValueError`` for a value
    out of range (``lr=0``, ``lr=float("nan")``). A model compiled in place with
    ``model.compile()`` trains through its compiled code; the wrapper that
    ``torch.compile(model)`` returns raises a ``TypeError`` that says so, since
    its ``training_step`` would run the uncompiled model. A training loss that is NaN or
    infinite stops training with a ``FloatingPointError`` naming the epoch, the
    batch and the usual causes; so does a non-finite validation loss.
    Interrupting (Ctrl-C, or the notebook's stop button) ends training after a
    one-line message and returns the history of the finished epochs, so
    ``history = fit(...)`` still assigns; the model keeps the weights it had
    reached.

    ``restore_best=True`` ends training with the weights of the epoch whose
    validation loss was lowest, rather than those of the last epoch. The last
    epoch is not always the best: once a model starts to overfit (or the
    learning rate is too high), its validation loss rises again while the
    training loss keeps falling. After every epoch whose ``val_loss`` is lower
    than all before it, a copy of the weights is kept (in CPU memory: one more
    copy of the model); at the end, also after an interruption, that copy is
    loaded back into ``model`` and one line says which epoch it came from.
    Every epoch's dict then has ``best``, ``True`` only for that epoch.

    ``verbose=False`` leaves out the line per epoch (``model.epoch_end``), for runs
    that a lesson reports in a table of its own (lessons 04 and 05). Introduced in
    lesson 03.
    """
    epochs, lr, num_batches = _check_training_arguments(
        model, epochs, lr, "lr", train_loader, val_loader
    )
    restore_best = _check_flag("restore_best", restore_best)
    verbose = _check_flag("verbose", verbose)
    optimizer = opt_func(model.parameters(), lr)
    return _train(
        epochs,
        model,
        train_loader,
        val_loader,
        optimizer,
        num_batches,
        restore_best=restore_best,
        verbose=verbose,
    )


def fit_one_cycle(
    epochs: int,
    max_lr: float,
    model: nn.Module,
    train_loader: Iterable,
    val_loader: Iterable,
    weight_decay: float = 0.0,
    grad_clip: float | None = None,
    opt_func: Callable[..., torch.optim.Optimizer] = torch.optim.SGD,
    *,
    restore_best: bool = False,
    verbose: bool = True,
) -> History:
    """Train with a one-cycle learning-rate schedule; return the history.

    The learning rate rises from ``max_lr / 25`` to ``max_lr`` over the first 30%
    of the steps and anneals to almost zero (PyTorch's ``OneCycleLR``), stepped
    after every batch. ``weight_decay`` goes to the optimizer; ``grad_clip``
    clips every gradient value to ``[-grad_clip, grad_clip]`` before each step.
    Each epoch's dict has the keys of ``fit`` plus ``lrs``, the learning rate
    of every step. Argument checks, non-finite losses, interruptions and
    ``restore_best`` (keep the epoch with the lowest validation loss) and
    ``verbose`` work as in ``fit``. Introduced in lesson 03, explained in lesson 05.
    """
    epochs, max_lr, num_batches = _check_training_arguments(
        model, epochs, max_lr, "max_lr", train_loader, val_loader
    )
    weight_decay = _check_number("weight_decay", weight_decay, minimum=0.0, allow_minimum=True)
    if grad_clip is not None:
        grad_clip = _check_number("grad_clip", grad_clip, minimum=0.0)
    restore_best = _check_flag("restore_best", restore_best)
    verbose = _check_flag("verbose", verbose)
    optimizer = opt_func(model.parameters(), max_lr, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr, epochs=epochs, steps_per_epoch=num_batches
    )
    return _train(
        epochs,
        model,
        train_loader,
        val_loader,
        optimizer,
        num_batches,
        scheduler,
        grad_clip,
        restore_best,
        verbose,
    )


def predict(model: nn.Module, loader: Iterable) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(predicted_labels, true_labels)`` for every example in ``loader``.

    Both are 1-D int64 tensors on the CPU, in the loader's order. Pair them with
    ``metrics.confusion_matrix`` or ``plotting.show_misclassified``.
    Introduced in lesson 03.
    """
    _check_loader(loader, "loader")
    predicted, actual = [], []
    with eval_mode(model):
        for inputs, labels in loader:
            predicted.append(model(inputs).argmax(dim=1).cpu())
            actual.append(labels.cpu())
    return torch.cat(predicted), torch.cat(actual)


def predict_probabilities(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Return the model's class probabilities (softmax of its logits) for some images.

    ``images`` is a batch ``(N, C, H, W)``, prepared as the model's loader prepares
    them (normalised, for example), or a single image ``(C, H, W)``. They are moved
    to the device of the model's weights and run under ``eval_mode``, so the
    model's train/eval mode is restored afterwards. Returns a float32 tensor on the
    CPU of shape ``(N, num_classes)``, each row summing to 1, or ``(num_classes,)``
    for a single image: what ``plotting.show_prediction`` draws. Introduced in
    lesson 03.
    """
    if not isinstance(images, torch.Tensor) or images.ndim not in (3, 4):
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"expected one image (C, H, W) or a batch (N, C, H, W), got {shape}")
    single = images.ndim == 3
    batch = images.unsqueeze(0) if single else images
    parameter = next(model.parameters(), None)
    if parameter is not None:  # a model without weights runs wherever its input is
        batch = batch.to(parameter.device)
    with eval_mode(model):
        logits = model(batch)
    if logits.ndim != 2 or logits.shape[0] != batch.shape[0]:
        raise ValueError(
            f"expected the model to return logits of shape ({batch.shape[0]}, num_classes), "
            f"got {tuple(logits.shape)}"
        )
    # float32 even from a half-precision model, so the rows sum to 1 closely.
    probabilities = F.softmax(logits.float(), dim=1).cpu()
    return probabilities[0] if single else probabilities
