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

__all__ = ["ImageClassificationBase", "evaluate", "fit", "predict", "PROTOCOL"]

PROTOCOL = ("training_step", "validation_step", "validation_epoch_end", "epoch_end")

History = list[dict[str, float]]


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
        parts = [f"{key} {value:.4f}" for key, value in result.items() if isinstance(value, float)]
        print(f"Epoch {epoch + 1}: " + ", ".join(parts))


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


def fit(
    epochs: int,
    lr: float,
    model: nn.Module,
    train_loader: Iterable,
    val_loader: Iterable,
    opt_func: Callable[..., torch.optim.Optimizer] = torch.optim.SGD,
) -> History:
    """Train ``model`` for ``epochs`` epochs and return its history.

    ``opt_func(model.parameters(), lr)`` builds the optimizer; pass for example
    ``torch.optim.Adam`` or ``functools.partial(torch.optim.SGD, momentum=0.9)``.
    The history is a list with one dict per epoch: ``train_loss``, ``val_loss``,
    ``val_acc`` and ``epoch_seconds``. One progress bar covers the whole run
    (set ``TQDM_DISABLE=1`` to silence it, as CI does). Bad arguments raise
    before any training starts. Introduced in lesson 03.
    """
    _check_protocol(model)
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs <= 0:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr!r}")
    num_batches = _check_loader(train_loader, "train_loader")
    _check_loader(val_loader, "val_loader")

    optimizer = opt_func(model.parameters(), lr)
    history: History = []
    with tqdm(total=epochs * num_batches, desc="Training", unit="batch") as progress:
        for epoch in range(epochs):
            start = time.perf_counter()
            model.train()
            # Summing on the device and reading once per epoch avoids a GPU sync per step.
            loss_sum, steps = None, 0
            for batch in train_loader:
                loss = model.training_step(batch)
                loss.backward()
                optimizer.step()
                optimizer.zero_grad()
                loss_sum = loss.detach() if loss_sum is None else loss_sum + loss.detach()
                steps += 1
                progress.update()
            result = evaluate(model, val_loader)
            result["train_loss"] = float(loss_sum) / steps
            result["epoch_seconds"] = time.perf_counter() - start
            model.epoch_end(epoch, result)
            progress.set_postfix(val_acc=f"{result.get('val_acc', float('nan')):.4f}")
            history.append(result)
    return history


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
