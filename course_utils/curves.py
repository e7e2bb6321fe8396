"""Reading training curves: where a run's validation loss was lowest, how far it rose after,
and how a trained classifier's wrong answers look.

A history is what ``course_utils.fit`` returns: one dict per epoch with at least
``"train_loss"``, ``"val_loss"`` and ``"val_acc"``. Lesson 05's exercise 1 reads two runs
with these helpers; the lesson prints and plots what they return.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.training import eval_mode

__all__ = ["overfitting_summary", "wrong_answers"]

# The rise averages this many last epochs (fewer if the run has fewer), so that one epoch's
# wobble does not set it alone.
RISE_EPOCHS = 3


def _losses(history: Sequence[dict], key: str) -> list[float]:
    if not history:
        raise ValueError("history must hold at least one epoch (what fit returns), got none")
    missing = [index for index, epoch in enumerate(history) if key not in epoch]
    if missing:
        raise ValueError(
            f"history's epochs must each have {key!r} (as fit's do); epoch {missing[0] + 1} "
            f"has only {sorted(history[missing[0]])}"
        )
    return [epoch[key] for epoch in history]


def overfitting_summary(history: Sequence[dict]) -> dict:
    """One run's losses and accuracies, read from its ``history``. Returns a dict:

    - ``final_train_loss``, ``final_val_loss``, ``final_val_acc``: the last epoch's;
    - ``lowest_val_loss`` and ``lowest_epoch``, the epoch it came at (1-based; the first
      such epoch on a tie), with ``val_acc_at_lowest``, that epoch's validation accuracy;
    - ``averaged``, the number of last epochs the rise averages (3, or fewer if the run
      has fewer), and ``rise``: their mean validation loss minus the lowest (0 or more);
    - ``best_val_acc``, the highest validation accuracy of any epoch, and ``fall``: how far
      the final one ended below it, in points (100 times the fractions' difference).

    Introduced in lesson 05."""
    val_losses = _losses(history, "val_loss")
    val_accuracies = _losses(history, "val_acc")
    train_loss = _losses(history, "train_loss")[-1]
    best = min(range(len(val_losses)), key=lambda index: val_losses[index])
    averaged = min(RISE_EPOCHS, len(val_losses))
    best_accuracy = max(val_accuracies)
    return {
        "final_train_loss": train_loss,
        "final_val_loss": val_losses[-1],
        "final_val_acc": val_accuracies[-1],
        "lowest_val_loss": val_losses[best],
        "lowest_epoch": best + 1,
        "val_acc_at_lowest": val_accuracies[best],
        "averaged": averaged,
        "rise": statistics.mean(val_losses[-averaged:]) - val_losses[best],
        "best_val_acc": best_accuracy,
        "fall": 100 * (best_accuracy - val_accuracies[-1]),
    }


def wrong_answers(model: nn.Module, loader: Iterable) -> dict:
    """How ``model`` errs on ``loader``'s ``(images, labels)`` batches (on the model's
    device), in eval mode and without gradients (``eval_mode``).

    Returns a dict of floats and a count: ``count``, the wrong answers; ``confidence``,
    their mean probability (softmax) of the class the model chose; ``loss``, their mean
    cross-entropy, minus the log-probability of the true class. Both means are ``nan``
    when no answer is wrong. Computed on the device; only the results leave it.
    Introduced in lesson 05."""
    log_probabilities, truth = [], []
    with eval_mode(model):
        for batch in loader:
            if not isinstance(batch, (tuple, list)) or len(batch) != 2:
                raise ValueError(
                    "loader must serve (images, labels) batches, as DeviceTensorLoader does; "
                    f"got a {type(batch).__name__}"
                )
            images, labels = batch
            log_probabilities.append(F.log_softmax(model(images), dim=1))
            truth.append(labels)
    if not truth:
        raise ValueError("loader served no batches: give it at least one example")
    log_probabilities, truth = torch.cat(log_probabilities), torch.cat(truth)
    chosen_log_probability, guessed = log_probabilities.max(dim=1)
    wrong = guessed != truth
    true_log_probability = log_probabilities[wrong].gather(1, truth[wrong].unsqueeze(1))
    count = int(wrong.sum().item())
    if count == 0:
        return {"count": 0, "confidence": float("nan"), "loss": float("nan")}
    return {
        "count": count,
        "confidence": chosen_log_probability[wrong].exp().mean().item(),
        "loss": -true_log_probability.mean().item(),
    }
