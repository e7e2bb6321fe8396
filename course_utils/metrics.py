"""Classification metrics computed from model outputs and labels.

All functions take tensors and return tensors; plotting lives in
``course_utils.plotting``.
"""

from __future__ import annotations

import torch

__all__ = ["accuracy", "confusion_matrix", "per_class_accuracy"]


def _check_labels(predictions: torch.Tensor, labels: torch.Tensor) -> None:
    if labels.ndim != 1 or predictions.shape[0] != labels.shape[0]:
        raise ValueError(
            f"expected one label per row: outputs have shape {tuple(predictions.shape)}, "
            f"labels have shape {tuple(labels.shape)}"
        )


def accuracy(outputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Return the fraction of rows of ``outputs`` whose largest entry is at ``labels``.

    ``outputs`` has shape ``(batch, classes)`` (logits or probabilities: the
    largest entry is the same), ``labels`` has shape ``(batch,)``. The result is a
    0-dimensional float tensor between 0 and 1. Introduced in lesson 03.
    """
    if outputs.ndim != 2:
        raise ValueError(f"outputs must have shape (batch, classes), got {tuple(outputs.shape)}")
    _check_labels(outputs, labels)
    if labels.numel() == 0:
        raise ValueError("accuracy of an empty batch is undefined")
    predictions = outputs.argmax(dim=1)
    return (predictions == labels).float().mean()


def confusion_matrix(
    predictions: torch.Tensor, labels: torch.Tensor, num_classes: int
) -> torch.Tensor:
    """Return a ``(num_classes, num_classes)`` int64 matrix of counts.

    Row ``i``, column ``j`` counts the examples of true class ``i`` predicted as
    class ``j``; the diagonal holds the correct predictions. Introduced in lesson 03.
    """
    _check_labels(predictions, labels)
    if num_classes < 1:
        raise ValueError(f"num_classes must be positive, got {num_classes}")
    predictions, labels = predictions.long().cpu(), labels.long().cpu()
    for name, values in (("predictions", predictions), ("labels", labels)):
        if values.numel() and (values.min() < 0 or values.max() >= num_classes):
            raise ValueError(
                f"{name} must lie in [0, {num_classes}), got {values.min()}..{values.max()}"
            )
    flat_index = labels * num_classes + predictions
    counts = torch.bincount(flat_index, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def per_class_accuracy(matrix: torch.Tensor) -> torch.Tensor:
    """Return each class's accuracy (recall) from a confusion matrix, as floats.

    A class with no examples gets ``nan``. The result is a float64 tensor on the CPU,
    whatever device ``matrix`` is on. Introduced in lesson 03.
    """
    matrix = matrix.cpu()  # float64 below, which Apple's MPS does not have
    totals = matrix.sum(dim=1).double()
    correct = matrix.diagonal().double()
    return torch.where(
        totals > 0, correct / totals.clamp(min=1), torch.tensor(float("nan"), dtype=torch.float64)
    )
