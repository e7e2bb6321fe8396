"""Saving and resuming training safely.

Lesson 03 first saves a bare ``state_dict`` by hand, then uses these helpers for a
resumable checkpoint (model, optimizer state, epoch, anything else).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = ["save_checkpoint", "load_checkpoint"]

_PLAIN_TYPES = (bool, int, float, str, type(None), torch.Tensor)


def _check_extra(value: Any, where: str) -> None:
    """Extras must load under ``weights_only=True``: plain data and tensors only."""
    if isinstance(value, _PLAIN_TYPES):
        return
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check_extra(item, f"{where}[{index}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, (str, int)):
                raise TypeError(f"checkpoint extra {where} has a key of type {type(key).__name__}")
            _check_extra(item, f"{where}[{key!r}]")
        return
    raise TypeError(
        f"checkpoint extra {where} is a {type(value).__name__}; only numbers, strings, "
        "tensors and lists/dicts of them can be loaded back safely"
    )


def save_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    epoch: int | None = None,
    **extra: Any,
) -> Path:
    """Save the model's weights (and optimizer state, epoch and extras) to ``path``.

    The file is written to a temporary file in the same folder and renamed over
    ``path``, so a crash mid-write never corrupts the previous checkpoint.
    Returns the path. Introduced in lesson 03.
    """
    path = Path(path)
    for key, value in extra.items():
        _check_extra(value, key)
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "epoch": epoch,
        "extra": extra,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            torch.save(state, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
) -> dict[str, Any]:
    """Load a checkpoint written by ``save_checkpoint`` into ``model`` (and ``optimizer``).

    Loads with ``weights_only=True`` (no arbitrary code runs) onto the model's
    device. Returns a dict with ``epoch`` and the saved extras. A missing file or a
    model of another shape raises an error that says so. Introduced in lesson 03.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    state = torch.load(path, map_location=device, weights_only=True)
    if not isinstance(state, dict) or "model" not in state:
        raise ValueError(f"{path} is not a checkpoint written by save_checkpoint")
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as error:
        raise ValueError(f"the checkpoint {path} does not fit this {type(model).__name__}: {error}") from error
    if optimizer is not None:
        if state["optimizer"] is None:
            raise ValueError(f"the checkpoint {path} holds no optimizer state")
        optimizer.load_state_dict(state["optimizer"])
    return {"epoch": state["epoch"], **state["extra"]}
