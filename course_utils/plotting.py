"""Plots for the lessons. Each function takes data and returns a matplotlib figure.

The figure is closed in pyplot before it is returned, so a notebook shows it once:
end a cell with the call (or ``display(fig)``), or save it with ``fig.savefig``.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure
from torchvision.utils import make_grid

__all__ = [
    "show_batch",
    "plot_history",
    "plot_lrs",
    "plot_confusion_matrix",
    "show_misclassified",
    "unnormalize",
]


def unnormalize(
    images: torch.Tensor, mean: Sequence[float] | None, std: Sequence[float] | None
) -> torch.Tensor:
    """Undo ``transforms.Normalize(mean, std)`` on a batch ``(N, C, H, W)``; clamp to [0, 1].

    A ``uint8`` batch (0-255, as lesson 05 stores images) is scaled to [0, 1] instead.
    """
    if images.dtype == torch.uint8:
        return images.detach().cpu().float() / 255
    images = images.detach().float().cpu()
    if mean is not None and std is not None:
        mean_t = torch.as_tensor(mean, dtype=images.dtype).view(1, -1, 1, 1)
        std_t = torch.as_tensor(std, dtype=images.dtype).view(1, -1, 1, 1)
        images = images * std_t + mean_t
    return images.clamp(0, 1)


def _as_images(batch: torch.Tensor | Sequence) -> torch.Tensor:
    images = batch[0] if isinstance(batch, (list, tuple)) else batch
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(
            f"expected images of shape (N, C, H, W) or an (images, labels) batch, got {shape}"
        )
    return images


def show_batch(
    batch: torch.Tensor | Sequence,
    nrow: int = 8,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    title: str | None = None,
) -> Figure:
    """Draw a batch of images as one grid (torchvision's ``make_grid``).

    ``batch`` is a tensor ``(N, C, H, W)`` or an ``(images, labels)`` pair as a
    ``DataLoader`` yields it; pass ``mean`` and ``std`` to undo normalisation.
    Returns the figure. Introduced in lesson 03.
    """
    images = unnormalize(_as_images(batch), mean, std)
    grid = make_grid(images, nrow=nrow, padding=2, pad_value=1.0)
    fig, ax = plt.subplots(
        figsize=(min(12, 1.2 * nrow), 1.2 * ((len(images) + nrow - 1) // nrow) + 0.4)
    )
    ax.imshow(grid.permute(1, 2, 0).numpy())
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    plt.close(fig)
    return fig


def plot_history(history: Sequence[dict[str, float]], title: str | None = None) -> Figure:
    """Draw loss (training and validation) and validation accuracy per epoch.

    ``history`` is what ``fit`` returns. Returns the figure. Introduced in lesson 03.
    """
    if not history:
        raise ValueError("history is empty: train for at least one epoch first")
    epochs = range(1, len(history) + 1)
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(10, 3.5))
    for key, label in (("train_loss", "training"), ("val_loss", "validation")):
        if all(key in entry for entry in history):
            loss_ax.plot(epochs, [entry[key] for entry in history], marker="o", label=label)
    loss_ax.set(xlabel="epoch", ylabel="loss", title="Loss")
    loss_ax.legend()
    acc_ax.plot(epochs, [entry["val_acc"] for entry in history], marker="o", color="tab:green")
    acc_ax.set(xlabel="epoch", ylabel="accuracy", title="Validation accuracy")
    for ax in (loss_ax, acc_ax):
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_lrs(history: Sequence[dict]) -> Figure:
    """Draw the learning rate of every training step, from ``fit_one_cycle``'s history.

    Returns the figure. Introduced in lesson 03.
    """
    lrs = [lr for entry in history for lr in entry.get("lrs", [])]
    if not lrs:
        raise ValueError("the history records no learning rates (train with fit_one_cycle)")
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.plot(range(1, len(lrs) + 1), lrs)
    ax.set(xlabel="training step", ylabel="learning rate", title="One-cycle learning-rate schedule")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_confusion_matrix(
    matrix: torch.Tensor, class_names: Sequence[str], normalize: bool = False
) -> Figure:
    """Draw a confusion matrix (rows: true class, columns: predicted class).

    ``matrix`` comes from ``metrics.confusion_matrix``; ``normalize=True`` shows
    each row as fractions. Returns the figure. Introduced in lesson 03.
    """
    matrix = torch.as_tensor(matrix)
    if (
        matrix.ndim != 2
        or matrix.shape[0] != matrix.shape[1]
        or matrix.shape[0] != len(class_names)
    ):
        raise ValueError(
            f"a {len(class_names)}-class confusion matrix must be square of that size, "
            f"got {tuple(matrix.shape)}"
        )
    values = matrix.double()
    if normalize:
        values = values / values.sum(dim=1, keepdim=True).clamp(min=1)
    size = max(4.0, 0.6 * len(class_names) + 1.5)
    fig, ax = plt.subplots(figsize=(size, size))
    image = ax.imshow(values.numpy(), cmap="Blues")
    ticks = range(len(class_names))
    ax.set_xticks(ticks, class_names, rotation=45, ha="right")
    ax.set_yticks(ticks, class_names)
    ax.set(xlabel="predicted", ylabel="true", title="Confusion matrix")
    threshold = values.max().item() / 2
    for row in ticks:
        for col in ticks:
            value = values[row, col].item()
            text = f"{value:.2f}" if normalize else f"{int(value)}"
            ax.text(
                col,
                row,
                text,
                ha="center",
                va="center",
                fontsize=8,
                color="white" if value > threshold else "black",
            )
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    plt.close(fig)
    return fig


def show_misclassified(
    images: torch.Tensor,
    labels: torch.Tensor,
    predictions: torch.Tensor,
    class_names: Sequence[str],
    max_images: int = 16,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> Figure:
    """Draw up to ``max_images`` images whose prediction is wrong, titled true/predicted.

    ``images``, ``labels`` and ``predictions`` are aligned (for example the test
    set as one tensor and the output of ``training.predict``). Returns the figure.
    Introduced in lesson 03.
    """
    images = _as_images(images)
    if not len(images) == len(labels) == len(predictions):
        raise ValueError(
            "images, labels and predictions differ in length: "
            f"{len(images)}, {len(labels)}, {len(predictions)}"
        )
    wrong = (labels.cpu() != predictions.cpu()).nonzero().flatten()[:max_images]
    columns = 8
    rows = max(1, (len(wrong) + columns - 1) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(1.6 * columns, 1.9 * rows), squeeze=False)
    shown = unnormalize(images[wrong], mean, std) if len(wrong) else images[:0]
    for ax in axes.flat:
        ax.set_axis_off()
    for ax, image, index in zip(axes.flat, shown, wrong.tolist(), strict=False):
        picture = image.permute(1, 2, 0).numpy()
        ax.imshow(picture.squeeze(-1) if picture.shape[-1] == 1 else picture, cmap="gray")
        ax.set_title(
            f"true {class_names[labels[index]]}\npred {class_names[predictions[index]]}", fontsize=8
        )
    if not len(wrong):
        axes.flat[0].set_title("no misclassified images")
    fig.tight_layout()
    plt.close(fig)
    return fig
