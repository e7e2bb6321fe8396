"""Saving and resuming training safely.

Lesson 03 first saves a bare ``state_dict`` by hand, then uses these helpers for a
resumable checkpoint (model, optimizer state, epoch, anything else).
"""

from __future__ import annotations

import io
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["save_checkpoint", "load_checkpoint"]

_PLAIN_TYPES = (bool, int, float, str, type(None))

# The per-parameter state each torch.optim optimizer keeps. Checkpoints written before
# the optimizer's type was recorded can only be matched to an optimizer through these.
_ADAM_KEYS = frozenset({"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"})
_STATE_KEYS = {
    "SGD": frozenset({"momentum_buffer"}),
    "Adam": _ADAM_KEYS,
    "AdamW": _ADAM_KEYS,
    "RAdam": frozenset({"step", "exp_avg", "exp_avg_sq"}),
    "NAdam": frozenset({"step", "mu_product", "exp_avg", "exp_avg_sq"}),
    "Adamax": frozenset({"step", "exp_avg", "exp_inf"}),
    "Adagrad": frozenset({"step", "sum"}),
    "Adadelta": frozenset({"step", "square_avg", "acc_delta"}),
    "RMSprop": frozenset({"step", "square_avg", "momentum_buffer", "grad_avg"}),
    "Rprop": frozenset({"step", "prev", "step_size"}),
    "ASGD": frozenset({"step", "eta", "mu", "ax"}),
}
# Settings that torch fills in itself when an older state lacks them.
_DEFAULTED_SETTINGS = frozenset(
    {"foreach", "maximize", "capturable", "differentiable", "fused", "decoupled_weight_decay"}
)


def _hint(value: Any) -> str:
    """What a learner can pass instead of ``value``."""
    if isinstance(value, np.ndarray):
        return "torch.from_numpy(x) or x.tolist()"
    if isinstance(value, (set, frozenset)):
        return "sorted(x)"
    if hasattr(value, "_asdict"):
        return "x._asdict()"
    for plain in (bool, int, float, str, tuple):
        if isinstance(value, plain):
            return f"{plain.__name__}(x)"
    if isinstance(value, os.PathLike):
        return "str(x)"
    return "a number, a string, a tensor, or a list or dict of them"


def _refuse(value: Any, where: str) -> TypeError:
    return TypeError(
        f"checkpoint {where} is a {type(value).__name__}, which would not load back "
        f"safely; pass {_hint(value)} instead (numbers, strings, tensors and "
        "lists, tuples and dicts of them load back)"
    )


def _plain_key(key: Any, where: str) -> str | int:
    if isinstance(key, np.generic):
        key = key.item()
    if type(key) not in (str, int):
        raise TypeError(
            f"checkpoint {where} has a key of type {type(key).__name__}; use str or int keys"
        )
    return key


def _plain(value: Any, where: str) -> Any:
    """Return ``value`` as plain data that loads under ``weights_only=True``, or refuse it.

    Numpy scalars become Python numbers and dict or list subclasses (``defaultdict``)
    plain dicts and lists: they load back as equal values, so converting is kinder
    than refusing. Anything else that would not load back is refused by name.
    """
    if isinstance(value, np.generic):
        value = value.item()
    if type(value) in _PLAIN_TYPES or isinstance(value, torch.Tensor):
        return value
    if isinstance(value, list) or type(value) is tuple:
        items = [_plain(item, f"{where}[{index}]") for index, item in enumerate(value)]
        return items if isinstance(value, list) else tuple(items)
    if isinstance(value, dict):
        return {
            _plain_key(key, where): _plain(item, f"{where}[{key!r}]") for key, item in value.items()
        }
    raise _refuse(value, where)


def _numpy_to_python(value: Any) -> Any:
    """Turn numpy scalars inside ``value`` into Python numbers, leaving everything else."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)) and not hasattr(value, "_asdict"):
        return type(value)(_numpy_to_python(item) for item in value)
    if isinstance(value, dict):
        return {key: _numpy_to_python(item) for key, item in value.items()}
    return value


def _check_reloads(value: Any, where: str) -> None:
    """Round-trip ``value`` in memory: the type checks above might miss a case."""
    buffer = io.BytesIO()
    try:
        torch.save(value, buffer)
        buffer.seek(0)
        torch.load(buffer, weights_only=True)
    except (pickle.PickleError, AttributeError, TypeError, RuntimeError) as error:
        # torch's own message is in the chained traceback; it suggests loading unsafely.
        raise TypeError(
            f"checkpoint {where} would not load back with weights_only=True; pass plain "
            "numbers, strings, tensors (a tensor subclass as x.as_subclass(torch.Tensor)) "
            "or lists and dicts of them"
        ) from error


def _optimizer_state(optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    state = optimizer.state_dict()
    # A learning rate from numpy (np.logspace...) would otherwise make the file unloadable.
    groups = [_numpy_to_python(group) for group in state["param_groups"]]
    _check_reloads(groups, "optimizer settings")
    return {**state, "param_groups": groups}


def save_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    epoch: int | None = None,
    **extra: Any,
) -> Path:
    """Save the model's weights (and optimizer state, epoch and extras) to ``path``.

    Whatever saves, ``load_checkpoint`` loads: extras (and ``epoch``) may be numbers,
    strings, tensors, and lists, tuples and dicts of them. Numpy scalars are stored
    as Python numbers (``np.float64(0.97)`` loads back as the float ``0.97``) and
    dict or list subclasses such as ``defaultdict`` as plain dicts and lists. Any
    other value raises a ``TypeError`` naming the extra and what to pass instead,
    before anything is written. The optimizer's type is saved too, so that
    ``load_checkpoint`` can refuse another kind of optimizer.

    The file is written to a temporary file in the same folder and renamed over
    ``path``, so a crash mid-write never corrupts the previous checkpoint.
    Returns the path. Introduced in lesson 03.
    """
    path = Path(path)
    extra = {key: _plain(value, f"extra {key}") for key, value in extra.items()}
    epoch = _plain(epoch, "epoch")
    for key, value in extra.items():
        _check_reloads(value, f"extra {key}")
    _check_reloads(epoch, "epoch")
    state = {
        "model": model.state_dict(),
        "optimizer": _optimizer_state(optimizer) if optimizer is not None else None,
        "optimizer_type": type(optimizer).__name__ if optimizer is not None else None,
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


def _read(path: Path, device: torch.device) -> dict[str, Any]:
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as error:
        raise ValueError(
            f"{path} could not be loaded safely (weights_only=True). A checkpoint written by "
            "an older save_checkpoint may hold numpy numbers among its extras: if you trust "
            "the file, read it with torch.load(path, weights_only=False) and save it again."
        ) from error
    if not isinstance(state, dict) or "model" not in state:
        raise ValueError(f"{path} is not a checkpoint written by save_checkpoint")
    return state


def _check_model_state(path: Path, model: nn.Module, saved: dict[str, Any]) -> None:
    """Refuse weights of another shape before any of them is copied into ``model``."""
    current = model.state_dict()
    problems = [f"missing {key}" for key in current if key not in saved]
    problems += [f"unexpected {key}" for key in saved if key not in current]
    for key, value in current.items():
        old = saved.get(key)
        if isinstance(value, torch.Tensor) and isinstance(old, torch.Tensor):
            if old.shape != value.shape:
                problems.append(
                    f"{key} is {list(old.shape)} in the file, {list(value.shape)} in the model"
                )
    if problems:
        shown = "; ".join(problems[:5]) + ("; ..." if len(problems) > 5 else "")
        raise ValueError(f"the checkpoint {path} does not fit this {type(model).__name__}: {shown}")


def _legacy_mismatch(saved: dict[str, Any], optimizer: torch.optim.Optimizer) -> str | None:
    """Why a state saved without its optimizer's type cannot be ``optimizer``'s, if it can't."""
    name = type(optimizer).__name__
    kept = {key for per_parameter in saved["state"].values() for key in per_parameter}
    known = _STATE_KEYS.get(name)
    if known is not None and not kept <= known:
        return f"its state holds {', '.join(sorted(kept - known))}, which {name} never keeps"
    needed = set(optimizer.defaults) - _DEFAULTED_SETTINGS
    missing = sorted(needed - set(saved["param_groups"][0])) if saved["param_groups"] else []
    if missing:
        return f"its settings lack {', '.join(missing)}, which {name} needs"
    return None


def _check_optimizer_state(
    path: Path, optimizer: torch.optim.Optimizer, state: dict[str, Any]
) -> None:
    """Refuse another optimizer's state before anything is loaded."""
    saved = state.get("optimizer")
    if saved is None:
        raise ValueError(f"the checkpoint {path} holds no optimizer state")
    name, saved_name = type(optimizer).__name__, state.get("optimizer_type")
    if saved_name is not None and saved_name != name:
        raise ValueError(
            f"the optimizer state in {path} is from {saved_name}, and this optimizer is "
            f"{name}: create it with {saved_name}(model.parameters(), ...), or leave out "
            "the optimizer to load only the weights"
        )
    mismatch = _legacy_mismatch(saved, optimizer) if saved_name is None else None
    if mismatch:
        raise ValueError(
            f"the optimizer state in {path} (saved without its type) does not fit {name}: "
            f"{mismatch}. Build the optimizer the checkpoint was saved with."
        )
    saved_sizes = [len(group["params"]) for group in saved["param_groups"]]
    sizes = [len(group["params"]) for group in optimizer.param_groups]
    if saved_sizes != sizes:
        raise ValueError(
            f"the optimizer state in {path} has parameter groups of sizes {saved_sizes}, this "
            f"{name} {sizes}: build the optimizer over the same parameters, in the same groups"
        )


def load_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
) -> dict[str, Any]:
    """Load a checkpoint written by ``save_checkpoint`` into ``model`` (and ``optimizer``).

    Loads with ``weights_only=True`` (no arbitrary code runs) onto the model's
    device. Returns a dict with ``epoch`` and the saved extras. Everything is
    checked before anything changes: a missing file, a model of another shape, or
    an optimizer of another type (``Adam`` state into ``SGD``) or over other
    parameter groups raises an error that says so, and a failed load leaves the
    model and the optimizer as they were. Introduced in lesson 03.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    parameter = next(model.parameters(), None)
    state = _read(path, parameter.device if parameter is not None else torch.device("cpu"))
    _check_model_state(path, model, state["model"])
    if optimizer is not None:
        _check_optimizer_state(path, optimizer, state)
    # A copy to roll back to: torch copies weights one by one, so a failure could half-load.
    backup = {
        key: value.clone() if isinstance(value, torch.Tensor) else value
        for key, value in model.state_dict().items()
    }
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as error:
        model.load_state_dict(backup)
        raise ValueError(
            f"the checkpoint {path} does not fit this {type(model).__name__}: {error}"
        ) from error
    if optimizer is not None:
        try:
            optimizer.load_state_dict(state["optimizer"])
        except Exception as error:
            model.load_state_dict(backup)
            raise ValueError(
                f"the optimizer state in {path} could not be loaded into this "
                f"{type(optimizer).__name__} ({error}); the model and optimizer are unchanged"
            ) from error
    return {"epoch": state.get("epoch"), **state.get("extra", {})}
