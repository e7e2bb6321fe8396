"""Plots for the lessons. Each function takes data and returns a matplotlib figure.

The figure is closed in pyplot before it is returned, so a notebook shows it once:
end a cell with the call (or ``display(fig)``), or save it with ``fig.savefig``.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from course_utils.epoch_times import rounded_parts

__all__ = [
    "show_batch",
    "plot_history",
    "plot_lrs",
    "plot_confusion_matrix",
    "plot_epoch_parts",
    "plot_running_totals",
    "crossings",
    "show_misclassified",
    "show_prediction",
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


GRID_WIDTH_PIXELS = 1000  # the widest an image grid is drawn, in screen pixels


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
    # Imported here, not above: lesson 06 draws no image grid and keeps torchvision (about
    # 160 MB on PyTorch's CUDA build) out of its notebook.
    from torchvision.utils import make_grid

    images = unnormalize(_as_images(batch), mean, std)
    grid = make_grid(images, nrow=nrow, padding=2, pad_value=1.0)
    # Each image pixel becomes a whole number of screen pixels (nearest, no smoothing):
    # sharp, and small enough as a PNG to keep saved lessons light.
    height, width = grid.shape[-2:]
    scale = max(1, min(12, GRID_WIDTH_PIXELS // width))  # tiny images (filters) grow most
    dpi = 100
    title_inches = 0.3 if title else 0.0
    fig, ax = plt.subplots(
        figsize=(width * scale / dpi, height * scale / dpi + title_inches), dpi=dpi
    )
    fig.subplots_adjust(left=0, right=1, bottom=0, top=1 - title_inches / fig.get_figheight())
    ax.imshow(grid.permute(1, 2, 0).numpy(), interpolation="nearest")
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


def plot_lrs(history: Sequence[dict], title: str = "Learning-rate schedule") -> Figure:
    """Draw the learning rate of every training step, from the history of a run with a
    schedule (``fit_one_cycle``, or ``fit_fast``), under ``title``.

    Returns the figure. Introduced in lesson 03.
    """
    lrs = [lr for entry in history for lr in entry.get("lrs", [])]
    if not lrs:
        raise ValueError(
            "the history records no learning rates (train with fit_one_cycle or fit_fast)"
        )
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.plot(range(1, len(lrs) + 1), lrs)
    ax.set(xlabel="training step", ylabel="learning rate", title=title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    plt.close(fig)
    return fig


# plot_running_totals' lines, one colour each; orange and blue stay plot_epoch_parts' two parts.
ROW_COLOURS = ("tab:purple", "tab:green", "tab:brown", "tab:pink", "tab:olive", "tab:cyan")


EPOCH_PARTS_LABELS = ("loader (median)", "the rest of the median epoch", "one round's epoch")


def plot_epoch_parts(
    launches: dict[str, dict[str, dict]],
    where: str,
    labels: tuple[str, str, str] = EPOCH_PARTS_LABELS,
    one_scale: bool = False,
) -> Figure:
    """One panel per launch (``launches``: its title -> each arm's figures, top to bottom:
    ``read_arms``'s, or any dict with ``loader`` and ``epochs``): for each arm a bar as long
    as its median epoch (the median of ``epochs``), its first part the median loader seconds
    (orange) and the rest of that median epoch after it (blue), and a dot for each round's
    whole epoch, so the bar ends among its dots (a loader median above the epoch median,
    possible over uneven rounds, fills the whole bar). The dots are black with a white
    edge, to show on either part, and spread a little up and down so that equal times stay
    apart. Each bar's seconds and its two parts' are written at its height in a column just
    outside the panel, on its right, to the millisecond and adding up as printed:
    "median 4.200 s = 3.000 + 1.200" (orange + blue), "one epoch ..." for a bar that rests
    on one epoch; the seconds axis ends just past the last dot. Each panel has its own scale
    of seconds on ``where``, or, with ``one_scale=True``, all panels share the widest one (to
    compare bars across panels); ``labels`` names the bar's two parts and the dots in the
    legend (lesson 04's dots are epochs, not rounds), which sits close under the last panel.
    Returns the figure. Introduced in lesson 04; lesson 06 draws its arms with it.
    """
    loader_label, rest_label, dot_label = labels
    dot = {"s": 22, "color": "black", "edgecolor": "white", "linewidths": 0.8}  # shows on both
    if not launches or any(not arms for arms in launches.values()):
        raise ValueError("plot_epoch_parts needs at least one arm in every launch")
    rows = max(len(arms) for arms in launches.values())
    slowest = {  # each panel's slowest epoch: where its seconds axis ends
        title: max(max(arm["epochs"]) for arm in arms.values()) for title, arms in launches.items()
    }
    fig, axes = plt.subplots(
        len(launches),
        1,
        figsize=(9.0, 0.6 + (0.55 * rows + 0.85) * len(launches)),
        layout="constrained",  # with the legend "outside": close under the last panel
    )
    axes = np.atleast_1d(axes)
    for ax, (title, arms) in zip(axes, launches.items(), strict=True):
        names = list(arms)
        places = range(len(names) - 1, -1, -1)  # the first arm on top
        medians = [statistics.median(arms[name]["epochs"]) for name in names]
        # A loader median above the epoch median (it can be, over uneven rounds) fills it.
        loader = [
            min(arms[name]["loader"], whole) for name, whole in zip(names, medians, strict=True)
        ]
        rest = [whole - part for whole, part in zip(medians, loader, strict=True)]
        ax.barh(places, loader, color="tab:orange", label=loader_label)
        ax.barh(places, rest, left=loader, color="tab:blue", label=rest_label)
        for place, name, whole, part in zip(places, names, medians, loader, strict=True):
            epochs = arms[name]["epochs"]
            # Each round's dot a little above or below the next, so equal times stay apart.
            spread = [0.0] if len(epochs) == 1 else np.linspace(-0.15, 0.15, len(epochs))
            heights = [place + offset for offset in spread]
            ax.scatter(epochs, heights, zorder=3, **dot)
            # The bar's seconds in a column just outside the panel, at the bar's height:
            # clear of every dot, and not read as any one dot's value.
            kind = "one epoch" if len(epochs) == 1 else "median"
            shown = rounded_parts(whole, part)  # as the lessons' tables print the parts
            ax.text(
                1.02,
                place,
                f"{kind} {shown[0]:.3f} s = {shown[1]:.3f} + {shown[2]:.3f}",
                transform=ax.get_yaxis_transform(),  # x: the panel's width; y: the bars'
                ha="left",
                va="center",
                fontsize=8,
                clip_on=False,
            )
        end = max(slowest.values()) if one_scale else slowest[title]
        ax.set_xlim(0, end * 1.06)  # just past the last dot
        ax.set_yticks(list(places), names, fontsize=9)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(f"seconds per epoch on {where}", fontsize=9)
        ax.grid(axis="x", alpha=0.3)
    axes[0].scatter([], [], label=dot_label, **dot)
    handles, legend_labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, legend_labels, loc="outside lower center", ncol=3, fontsize=9)
    plt.close(fig)
    return fig


def plot_confusion_matrix(
    matrix: torch.Tensor,
    class_names: Sequence[str],
    normalize: bool = False,
    colour_mistakes_only: bool = True,
) -> Figure:
    """Draw a confusion matrix (rows: true class, columns: predicted class).

    ``matrix`` comes from ``metrics.confusion_matrix``; ``normalize=True`` shows
    each row as fractions. Every cell shows its value. By default the colours span
    the mistakes (the cells off the diagonal) and the diagonal is grey: a good model's
    correct answers would otherwise take the whole colour scale and leave its
    mistakes white. Returns the figure. Introduced in lesson 03.
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
    values = matrix.detach().cpu().double()  # on the CPU: MPS has no float64
    if normalize:
        values = values / values.sum(dim=1, keepdim=True).clamp(min=1)
    size = max(4.0, 0.6 * len(class_names) + 1.5)
    fig, ax = plt.subplots(figsize=(size, size))
    diagonal = torch.eye(len(class_names), dtype=torch.bool)
    shown = values.numpy()
    if colour_mistakes_only:
        shown = np.ma.masked_array(shown, mask=diagonal.numpy())
    # The masked diagonal is drawn light grey.
    image = ax.imshow(shown, cmap=plt.get_cmap("Blues").with_extremes(bad="0.85"))
    ticks = range(len(class_names))
    ax.set_xticks(ticks, class_names, rotation=45, ha="right")
    ax.set_yticks(ticks, class_names)
    title = "Confusion matrix"
    if colour_mistakes_only:
        title += "\n(colours: mistakes; grey diagonal: correct)"
    ax.set(xlabel="predicted", ylabel="true", title=title)
    coloured = values[~diagonal] if colour_mistakes_only else values.flatten()
    threshold = coloured.max().item() / 2 if coloured.numel() else 0.0
    for row in ticks:
        for col in ticks:
            value = values[row, col].item()
            text = f"{value:.2f}" if normalize else f"{int(value)}"
            dark = value > threshold and not (colour_mistakes_only and row == col)
            ax.text(
                col,
                row,
                text,
                ha="center",
                va="center",
                fontsize=8,
                color="white" if dark else "black",
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


PROBABILITY_TOLERANCE = 1e-3  # how far from 1 the probabilities may sum (float32 rounding)


def _check_probabilities(probabilities: torch.Tensor | Sequence[float], count: int) -> torch.Tensor:
    values = torch.as_tensor(
        probabilities.detach() if isinstance(probabilities, torch.Tensor) else probabilities
    )
    values = values.cpu().double()
    if values.ndim != 1:
        raise ValueError(
            f"probabilities must be 1-D, one value per class, got shape {tuple(values.shape)} "
            "(for a batch from predict_probabilities, pass one row)"
        )
    if len(values) != count:
        raise ValueError(
            f"got {len(values)} probabilities for {count} class names: they must match"
        )
    hint = "pass softmax(logits), not logits"
    if not bool(torch.isfinite(values).all()):
        raise ValueError(f"probabilities must be finite numbers, got {values.tolist()}")
    if bool((values < 0).any()):
        raise ValueError(
            f"probabilities must not be negative (the smallest is {values.min().item():.4g}): "
            f"{hint}"
        )
    total = values.sum().item()
    if not math.isclose(total, 1.0, abs_tol=PROBABILITY_TOLERANCE):
        raise ValueError(f"probabilities must sum to 1, these sum to {total:.4g}: {hint}")
    return values


def show_prediction(
    image: torch.Tensor,
    probabilities: torch.Tensor | Sequence[float],
    class_names: Sequence[str],
    true_label: int | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> Figure:
    """Draw one image beside the probability the model gives each class.

    ``image`` is one image ``(C, H, W)`` with 1 or 3 channels; pass ``mean`` and
    ``std`` to undo normalisation. ``probabilities`` holds one value per class
    name, in [0, 1] and summing to 1, for example ``predict_probabilities(model,
    image)`` from ``training``. The bar of the predicted (most probable) class is
    coloured: blue, or, when ``true_label`` (a class index) is given, green if
    the prediction is right and red if it is wrong; the true class's name is
    then bold and marked "(true)". Returns the figure. Introduced in lesson 03.
    """
    if not isinstance(image, torch.Tensor) or image.ndim != 3 or image.shape[0] not in (1, 3):
        shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise ValueError(
            f"expected one image (C, H, W) with 1 or 3 channels, got {shape} "
            "(for a batch, pass images[i])"
        )
    values = _check_probabilities(probabilities, len(class_names))
    if true_label is not None:
        true_label = int(true_label)  # also accepts a label tensor from a dataset
        if not 0 <= true_label < len(class_names):
            raise ValueError(
                f"true_label must be a class index from 0 to {len(class_names) - 1}, "
                f"got {true_label}"
            )
    predicted = int(values.argmax())

    picture = unnormalize(image.unsqueeze(0), mean, std)[0].permute(1, 2, 0).numpy()
    # Taller for many classes, so each bar keeps room for its label.
    height = max(2.8, 0.24 * len(class_names) + 0.6)
    fig, (image_ax, bar_ax) = plt.subplots(
        1, 2, figsize=(7, height), gridspec_kw={"width_ratios": [1, 1.5]}
    )
    if picture.shape[-1] == 1:
        # Fixed 0..1 range: otherwise a faint digit would be stretched to full contrast.
        image_ax.imshow(picture.squeeze(-1), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    else:
        image_ax.imshow(picture, interpolation="nearest")
    image_ax.set_axis_off()
    if true_label is not None:
        image_ax.set_title(f"true: {class_names[true_label]}")

    if true_label is None:
        highlight = "tab:blue"
    else:
        highlight = "tab:green" if predicted == true_label else "tab:red"
    colours = [highlight if index == predicted else "lightgray" for index in range(len(values))]
    positions = range(len(class_names))
    bar_ax.barh(positions, values.tolist(), color=colours, height=0.7)
    names = [str(name) for name in class_names]
    if true_label is not None:
        names[true_label] += " (true)"
    bar_ax.set_yticks(positions, names)
    if true_label is not None:
        bar_ax.get_yticklabels()[true_label].set_fontweight("bold")
    bar_ax.invert_yaxis()  # class 0 at the top, in reading order
    # The predicted probability as a number: inside a long bar, else just after it.
    probability = values[predicted].item()
    inside = probability > 0.85
    bar_ax.text(
        probability - 0.02 if inside else probability + 0.02,
        predicted,
        f"{probability:.2f}",
        ha="right" if inside else "left",
        va="center",
        fontsize=9,
        color="white" if inside else "black",
    )
    bar_ax.set_xlim(0, 1)
    bar_ax.set(xlabel="probability", title=f"predicted: {class_names[predicted]}")
    bar_ax.grid(axis="x", alpha=0.3)
    bar_ax.set_axisbelow(True)
    fig.tight_layout()
    plt.close(fig)
    return fig


def crossings(first: Sequence[float], second: Sequence[float]) -> list[tuple[float, float, bool]]:
    """Where two running totals, joined by straight lines between epochs, swap order:
    (epoch, seconds, at_epoch) for each swap. at_epoch is True where the totals were equal
    at an epoch and swap after it (a measured point), False where the swap falls between
    two epochs (a point on the straight lines drawn between them, not measured). Starting
    together, or touching without swapping, is no crossing. ``plot_running_totals``
    (lesson 04, Appendix B) marks these on its figure."""
    points, last_sign, last_epoch = [], 0, 0
    for epoch, (mine, theirs) in enumerate(zip(first, second, strict=True)):
        sign = (mine > theirs) - (mine < theirs)
        if sign == 0:
            continue  # equal here: the order is decided by the next epoch that differs
        if last_sign and sign != last_sign:
            if epoch - last_epoch > 1:  # equal in between: they crossed where they first met
                met = last_epoch + 1
                points.append((float(met), float(first[met]), True))
            else:  # between two epochs, on the straight lines joining them
                gap_before = first[epoch - 1] - second[epoch - 1]
                part = gap_before / (gap_before - (mine - theirs))
                rise = first[epoch] - first[epoch - 1]
                points.append((epoch - 1 + part, first[epoch - 1] + rise * part, False))
        last_sign, last_epoch = sign, epoch
    return points


def plot_running_totals(totals: dict[str, Sequence[float]], where: str, title: str) -> Figure:
    """A payback drawn: one line per way of training (``totals``: its label -> the seconds
    spent by the end of each epoch, the first value at epoch 0, before training: its
    one-off cost, or 0), x the epoch and y those running totals in seconds on ``where`` (a
    device name), each line's last total written at its end. Where two lines swap order, a
    black cross marks the point: hollow where it falls between two epochs (on the straight
    lines drawn between them, not a measured point), filled where the totals were equal at
    an epoch. Draws 1 to 6 lines. Returns the figure. Raises ValueError, saying what to fix,
    for no lines or more than 6, a line with fewer than 2 totals, lines of unequal lengths,
    and totals that are not finite, are below 0 or fall from one epoch to the next.
    Introduced in lesson 04 (Appendix B's payback)."""
    if not totals:
        raise ValueError(
            "plot_running_totals needs at least one line (a label -> its running totals), got none"
        )
    if any(len(values) < 2 for values in totals.values()):
        raise ValueError(
            "plot_running_totals needs at least two totals per line: epoch 0 (the one-off "
            "cost, or 0) and epoch 1"
        )
    lengths = {name: len(values) for name, values in totals.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"every line needs the same number of totals, got {lengths}")
    if len(totals) > len(ROW_COLOURS):
        raise ValueError(
            f"plot_running_totals draws at most {len(ROW_COLOURS)} lines (one colour each), "
            f"got {len(totals)}"
        )
    for name, values in totals.items():
        if not all(math.isfinite(value) for value in values):
            raise ValueError(
                f"running totals must be finite numbers of seconds, but {name!r} holds "
                f"{list(values)}: drop or re-time the epochs that gave NaN or infinity"
            )
        below_zero = [epoch for epoch, value in enumerate(values) if value < 0]
        if below_zero:
            raise ValueError(
                f"running totals are seconds spent, never below 0, but {name!r} holds "
                f"{values[below_zero[0]]} at epoch {below_zero[0]}: a one-off cost and an "
                "epoch's time are 0 or more; check how those seconds were measured"
            )
        falls = [epoch for epoch in range(1, len(values)) if values[epoch] < values[epoch - 1]]
        if falls:
            raise ValueError(
                f"running totals never fall, but {name!r} does at epoch {falls[0]}: pass the "
                "seconds spent so far (itertools.accumulate), not each epoch's seconds"
            )
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    epochs = range(len(next(iter(totals.values()))))
    for (name, values), colour in zip(totals.items(), ROW_COLOURS, strict=False):
        ax.plot(epochs, values, marker="o", color=colour, label=name)
        ax.annotate(
            f"{values[-1]:.1f} s",
            (epochs[-1], values[-1]),
            xytext=(8, 0),
            textcoords="offset points",
            va="center",
            fontsize=9,
        )
    names = list(totals)
    swaps = [
        point
        for number, first in enumerate(names)
        for second in names[number + 1 :]
        for point in crossings(totals[first], totals[second])
    ]
    between = [(epoch, seconds) for epoch, seconds, at_epoch in swaps if not at_epoch]
    at_an_epoch = [(epoch, seconds) for epoch, seconds, at_epoch in swaps if at_epoch]
    if between:  # hollow: drawn from the straight lines, not measured there
        ax.scatter(
            *zip(*between, strict=True),
            marker="X",
            s=55,  # small: the two lines' own points at that epoch stay visible
            facecolors="none",
            edgecolors="black",
            zorder=3,
            label="lines cross (between epochs, drawn straight)",
        )
    if at_an_epoch:
        ax.scatter(
            *zip(*at_an_epoch, strict=True),
            marker="X",
            s=55,  # small: the two lines' own points at that epoch stay visible
            color="black",
            zorder=3,
            label="lines meet at an epoch, then swap",
        )
    ax.set_xticks(list(epochs))
    ax.set_xlim(-0.3, epochs[-1] + 0.6)  # room for the last totals
    ax.set_ylim(bottom=0)
    ax.set_xlabel("epochs trained (0: before the first, one-off costs only)", fontsize=10)
    ax.set_ylabel(f"seconds so far on {where}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=9)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    plt.close(fig)
    return fig
