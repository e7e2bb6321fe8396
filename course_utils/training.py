"""The training loop shared by lessons 03 to 05.

Models follow a small protocol: ``training_step(batch)`` returns the loss,
``validation_step(batch)`` returns a dict of metrics for one batch,
``validation_epoch_end(outputs)`` combines those dicts, and
``epoch_end(epoch, result)`` reports one epoch. ``ImageClassificationBase``
implements all four for classifiers, so a lesson's model defines only
``__init__`` and ``forward``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .metrics import accuracy

__all__ = ["ImageClassificationBase", "evaluate", "fit", "fit_one_cycle", "predict", "PROTOCOL"]

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
        sizes = torch.stack([out["batch_size"] for out in outputs]).double()
        weights = sizes / sizes.sum()
        return {
            key: float((torch.stack([out[key].double().cpu() for out in outputs]) * weights.cpu()).sum())
            for key in ("val_loss", "val_acc")
        }

    def epoch_end(self, epoch: int, result: dict[str, float]) -> None:
        """Print one line summarising ``result`` for ``epoch`` (counted from 0)."""
        seconds = result.get("epoch_seconds")
        timing = f" ({seconds:.1f} s)" if seconds is not None else ""
        print(
            f"Epoch {epoch + 1}: train_loss {result['train_loss']:.4f}, "
            f"val_loss {result['val_loss']:.4f}, val_acc {result['val_acc']:.4f}{timing}"
        )


def _check_protocol(model: Any) -> None:
    missing = [name for name in PROTOCOL if not callable(getattr(model, name, None))]
    if missing:
        raise TypeError(
            f"{type(model).__name__} does not follow the training protocol: it lacks "
            f"{', '.join(missing)}. Subclass course_utils.ImageClassificationBase or define them."
        )


def _check_loader(loader: Iterable, name: str) -> int:
    try:
        num_batches = len(loader)  # type: ignore[arg-type]
    except TypeError as error:
        raise TypeError(f"{name} must have a length (a DataLoader or DeviceDataLoader)") from error
    if num_batches == 0:
        raise ValueError(f"{name} is empty: it yields no batches (is the dataset empty, or drop_last on a tiny set?)")
    return num_batches


def evaluate(model: nn.Module, loader: Iterable) -> dict[str, float]:
    """Run ``model`` over ``loader`` without gradients and return its metrics.

    Returns what ``model.validation_epoch_end`` returns, for classifiers
    ``{"val_loss": ..., "val_acc": ...}``. The model's train/eval mode is restored
    afterwards. Introduced in lesson 03.
    """
    _check_protocol(model)
    _check_loader(loader, "loader")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            outputs = [model.validation_step(batch) for batch in loader]
    finally:
        model.train(was_training)
    return model.validation_epoch_end(outputs)


def _check_training_arguments(model: nn.Module, epochs: int, lr: float, train_loader: Iterable, val_loader: Iterable) -> int:
    _check_protocol(model)
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs <= 0:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr!r}")
    num_batches = _check_loader(train_loader, "train_loader")
    _check_loader(val_loader, "val_loader")
    return num_batches


def _train(
    epochs: int,
    model: nn.Module,
    train_loader: Iterable,
    val_loader: Iterable,
    optimizer: torch.optim.Optimizer,
    num_batches: int,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    grad_clip: float | None = None,
) -> History:
    """The loop behind ``fit`` and ``fit_one_cycle``: one progress bar for the whole run."""
    history: History = []
    with tqdm(total=epochs * num_batches, desc="Training", unit="batch") as progress:
        for epoch in range(epochs):
            start = time.perf_counter()
            model.train()
            # Summing on the device and reading once per epoch avoids a GPU sync per step.
            loss_sum, steps, lrs = None, 0, []
            for batch in train_loader:
                loss = model.training_step(batch)
                loss.backward()
                if grad_clip is not None:
                    nn.utils.clip_grad_value_(model.parameters(), grad_clip)
                optimizer.step()
                optimizer.zero_grad()
                if scheduler is not None:
                    lrs.append(optimizer.param_groups[0]["lr"])
                    scheduler.step()
                loss_sum = loss.detach() if loss_sum is None else loss_sum + loss.detach()
                steps += 1
                progress.update()
            train_loss = float(loss_sum) / steps  # waits for queued GPU work, so the timing is honest
            train_seconds = time.perf_counter() - start
            result = evaluate(model, val_loader)
            result["train_loss"] = train_loss
            result["train_seconds"] = train_seconds
            result["epoch_seconds"] = time.perf_counter() - start
            model.epoch_end(epoch, result)
            if scheduler is not None:
                result["lrs"] = lrs
            progress.set_postfix(val_acc=f"{result.get('val_acc', float('nan')):.4f}")
            history.append(result)
    return history


def fit(
    epochs: int,
    lr: float,
    model: nn.Module,
    train_loader: Iterable,
    val_loader: Iterable,
    opt_func: Callable[..., torch.optim.Optimizer] = torch.optim.SGD,
) -> History:
    """Train ``model`` for ``epochs`` epochs at a constant learning rate; return its history.

    ``opt_func(model.parameters(), lr)`` builds the optimizer; pass for example
    ``torch.optim.Adam`` or ``functools.partial(torch.optim.SGD, momentum=0.9)``.
    The history is a list with one dict per epoch: ``train_loss``, ``val_loss``,
    ``val_acc``, ``train_seconds`` (the training pass) and ``epoch_seconds``
    (with validation). One progress bar covers the whole run (set
    ``TQDM_DISABLE=1`` to silence it, as CI does). Bad arguments raise before any
    training starts. Introduced in lesson 03.
    """
    num_batches = _check_training_arguments(model, epochs, lr, train_loader, val_loader)
    optimizer = opt_func(model.parameters(), lr)
    return _train(epochs, model, train_loader, val_loader, optimizer, num_batches)


def fit_one_cycle(
    epochs: int,
    max_lr: float,
    model: nn.Module,
    train_loader: Iterable,
    val_loader: Iterable,
    weight_decay: float = 0.0,
    grad_clip: float | None = None,
    opt_func: Callable[..., torch.optim.Optimizer] = torch.optim.SGD,
) -> History:
    """Train with a one-cycle learning-rate schedule; return the history.

    The learning rate rises from ``max_lr / 25`` to ``max_lr`` over the first 30%
    of the steps and anneals to almost zero (PyTorch's ``OneCycleLR``), stepped
    after every batch. ``weight_decay`` goes to the optimizer; ``grad_clip``
    clips every gradient value to ``[-grad_clip, grad_clip]`` before each step.
    Each epoch's dict has the keys of ``fit`` plus ``lrs``, the learning rate
    of every step. Introduced in lesson 03, explained in lesson 05.
    """
    num_batches = _check_training_arguments(model, epochs, max_lr, train_loader, val_loader)
    if weight_decay < 0:
        raise ValueError(f"weight_decay must not be negative, got {weight_decay!r}")
    if grad_clip is not None and not grad_clip > 0:
        raise ValueError(f"grad_clip must be positive or None, got {grad_clip!r}")
    optimizer = opt_func(model.parameters(), max_lr, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr, epochs=epochs, steps_per_epoch=num_batches)
    return _train(epochs, model, train_loader, val_loader, optimizer, num_batches, scheduler, grad_clip)


def predict(model: nn.Module, loader: Iterable) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(predicted_labels, true_labels)`` for every example in ``loader``.

    Both are 1-D int64 tensors on the CPU, in the loader's order. Pair them with
    ``metrics.confusion_matrix`` or ``plotting.show_misclassified``.
    Introduced in lesson 03.
    """
    _check_loader(loader, "loader")
    was_training = model.training
    model.eval()
    predicted, actual = [], []
    try:
        with torch.no_grad():
            for inputs, labels in loader:
                predicted.append(model(inputs).argmax(dim=1).cpu())
                actual.append(labels.cpu())
    finally:
        model.train(was_training)
    return torch.cat(predicted), torch.cat(actual)
