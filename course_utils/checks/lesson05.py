"""Checks for the exercises of lesson 05 (convolutional networks on CIFAR-10).

In smoke mode the lesson trains for a step or two on a few hundred images, and every
model stays near chance, so these checks test how the runs were made, not how well they
learned: the runs asked for and their lengths, equal starting weights, data, order of
batches (the loaders' generators) and transforms for the arms of a comparison, histories
measured on the validation set (each model is evaluated on it again), and parameter
counts. Exercise 1's learning rate is checked from what the learner records in
``overfit_lrs``, exercise 2's schedule from the learning rates ``fit_one_cycle`` records.
What neither history holds (the optimizer, its momentum, the weight decay, the clipping)
the checks test by training runs again with the lesson's recipe and comparing their losses
with the histories': exercise 1 the whole plain run (on a CPU; its first epoch elsewhere)
and the augmented run's first epoch, exercise 2 the narrowest width's first epoch (on a
CPU only). Exercise 2's starting weights and loaders are checked for every seed, so a seed
that was not re-seeded shows. Overfitting is checked only when the run was long
enough to show it.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from ..device import DeviceTensorLoader
from ..training import _epoch_train_loss, _train_epoch, evaluate
from . import (
    NOT_ATTEMPTED,
    Exercise,
    Wrong,
    concept_question,
    make_checker,
    require,
    require_fraction,
    require_keys,
    require_number,
    require_type,
    stored_entries,
)

__all__ = ["EXERCISES", "QUESTIONS", "check_exercise"]

LESSON = "05"
SHOWS_OVERFITTING = 5  # epochs: from here on the plain run's training loss is the lower one
# A history's last validation figures and a fresh evaluation of its model on the
# validation set agree exactly on a CPU; SAME_ACCURACY (a fraction: 0.3 points) and
# SAME_LOSS allow for a GPU's non-deterministic sums.
SAME_ACCURACY = 0.003
SAME_LOSS = 0.005
# How far the plain run's validation loss, as the mean of its last three epochs, must sit
# above its lowest to count as a rise: the lesson's own measure. With 2,500 images for 10
# epochs the rise was 0.29 on one 2-core CPU and 0.07 on another
# (the same code and seeds: other arithmetic, another path); the lesson now trains on 1,250
# images for 15 epochs, where the plain run rose 0.51 (seed 0, an AMD EPYC), far above it.
# The replay of the plain run already checks the recipe; this bar only has to catch a
# run that shows no overfitting at all, such as a bump of noise at the last epoch. Where
# the replay covers the whole run (a CPU), a run below the bar that the replay matches
# followed the recipe (other data, such as the PNG copy, or other arithmetic): the check
# reports it instead of failing it.
CLEAR_RISE = 0.15
# Exercise 1 uses section 4's training: batches of 64, SGD with momentum at 0.02.
OVERFIT_BATCH_SIZE = 64
OVERFIT_LR = 0.02
OVERFIT_MOMENTUM = 0.9
# Exercise 2 uses section 6's recipe: batches of 128 from the sample, one-cycle to 0.01
# with Adam, weight decay 1e-4 and every gradient value clipped to [-0.1, 0.1].
RECIPE_BATCH_SIZE = 128
RECIPE_PEAK_LR = 0.01
RECIPE_WEIGHT_DECAY = 1e-4
RECIPE_GRAD_CLIP = 0.1
# The checks replay runs with the lesson's recipe, from each run's saved start on the
# same batches, and compare their losses with the history's (see ``_replay``). On a
# CPU the same steps in the same process give the same sums, so the losses agree to
# rounding, and another optimizer, momentum, rate, weight decay or clipping shows. A GPU
# may add up its sums in another order each run. Exercise 1's small CNN shrugs that off
# (on a CPU, a run with 1 thread instead of 2 moved its first epoch's losses by 1e-8), so
# there its replay allows a thousandth, less than another rate or momentum moves them (a
# hundredth). ResNet-9 with batch norm amplifies it: 1 thread instead of 2 moved the
# validation loss from 2.13 to 2.05, as much as leaving out the weight decay, so exercise
# 2's replay runs only on a CPU.
REPLAY_SAME_ON_CPU = 1e-6  # relative
REPLAY_SAME_SMALL_CNN_ON_A_GPU = 1e-3
# How many of a loader's own images the transform check runs through.
TRANSFORM_SAMPLE = 8
# Exercise 2 trains every width from seeds 0, 1 and 2 and keeps each run's final accuracy.
WIDTH_SEEDS = 3


def _written(stored: dict, name: str, parts: str) -> None:
    """Wrong while a value the lesson's loop stored in ``stored`` (or an entry of a list it
    stored) is still ``...``, the placeholder of the student version's stub for the run.
    ``parts`` names what the run binds, for the message."""
    for key, value in stored.items():
        require(
            not any(entry is NOT_ATTEMPTED for entry in stored_entries(value)),
            f"`{name}[{key!r}]` holds `...`, the placeholder the loop stored: write the run "
            f"inside the loop, in place of the line that sets {parts} to `...` (delete that "
            "line), run the cell, then run this check again.",
        )


def _history(history: Any, name: str, num_epochs: int, epochs_name: str) -> None:
    require(
        isinstance(history, list) and all(isinstance(epoch, dict) for epoch in history),
        f"`{name}` should be the list of dicts that `fit` returns.",
    )
    require(
        len(history) == num_epochs,
        f"`{name}` has {len(history)} epochs; the exercise trains for `{epochs_name}` "
        f"({num_epochs}).",
    )
    for key in ("train_loss", "val_loss"):
        require_number(history[-1].get(key), f"{name}[-1][{key!r}]")
    require_fraction(history[-1].get("val_acc"), f"{name}[-1]['val_acc']")


def _weights(start: Any, name: str, model: nn.Module, model_name: str) -> dict[str, torch.Tensor]:
    """``start`` must be a copy of ``model``'s state_dict taken before it trained."""
    require(
        isinstance(start, Mapping) and all(isinstance(t, torch.Tensor) for t in start.values()),
        f"`{name}` should be a copy of the model's weights before training: "
        "`copy.deepcopy(model.state_dict())`.",
    )
    trained = model.state_dict()
    require(
        list(start) == list(trained)
        and all(start[key].shape == trained[key].shape for key in trained),
        f"`{name}` does not have the tensors of `{model_name}`: copy the state_dict of the "
        "model you then train.",
    )
    moved = any(
        not torch.equal(start[key].cpu(), trained[key].cpu())
        for key in trained
        if trained[key].is_floating_point()
    )
    require(
        moved,
        f"`{model_name}` still has exactly the weights in `{name}`: copy the weights before "
        "`fit` trains the model, not after (and check that it trained).",
    )
    return {key: tensor.detach().cpu() for key, tensor in start.items()}


def _loader(
    loader: Any, name: str, batch_size: int, sample: tuple[Any, Any], size: int, size_name: str
) -> None:
    """A shuffling DeviceTensorLoader over the first ``size`` images and labels of
    ``sample``, in batches of ``batch_size``."""
    require_type(loader, DeviceTensorLoader, name, "the `DeviceTensorLoader` the run trained on")
    require(
        loader.num_samples == size,
        f"`{name}` holds {loader.num_samples} images; the exercise trains on {size_name} ({size}).",
    )
    images, labels = (torch.as_tensor(part)[:size].cpu() for part in sample)
    require(
        len(loader.tensors) == 2
        and torch.equal(loader.tensors[0].cpu(), images)
        and torch.equal(loader.tensors[1].cpu(), labels),
        f"`{name}` does not hold {size_name}, in the sample's order, with their labels: build "
        "it from `sample_images` and `sample_labels`. Training on validation or test images "
        "would make their scores meaningless.",
    )
    require(
        loader.batch_size == batch_size,
        f"`{name}` makes batches of {loader.batch_size}; the exercise asks for {batch_size}.",
    )
    require(
        loader.shuffle,
        f"`{name}` does not shuffle: pass `shuffle=True`, so that each epoch sees the images "
        "in a new order.",
    )


def _same_batches(loaders: dict, names: dict, seeded: str = "0") -> None:
    """Every loader holds the same images and labels and shuffles them in the same order.

    A loader's generator draws one permutation per epoch, so after the same number of
    epochs from the same seed every run's generator is in the same state. ``seeded`` is
    the seed the messages tell the learner to give each generator.
    """
    keys = list(loaders)
    first = loaders[keys[0]]
    for key in keys[1:]:
        loader = loaders[key]
        require(
            len(loader.tensors) == len(first.tensors)
            and all(
                a.shape == b.shape and torch.equal(a.cpu(), b.cpu())
                for a, b in zip(loader.tensors, first.tensors, strict=True)
            ),
            f"`{names[key]}` and `{names[keys[0]]}` hold different images or labels: train "
            "every run on the same ones, so that the data is not a second difference.",
        )
    for key in keys:
        require(
            loaders[key].generator is not None,
            f"`{names[key]}` has no generator of its own, so its order of batches comes from "
            "PyTorch's global random numbers, which the runs use differently: give each "
            f"loader `generator=torch.Generator().manual_seed({seeded})`.",
        )
    for index, key in enumerate(keys):
        for other in keys[index + 1 :]:
            require(
                loaders[key].generator is not loaders[other].generator,
                f"`{names[key]}` and `{names[other]}` share one generator, so the second run "
                "shuffles on from where the first stopped and gets other batches: give each "
                f"loader a fresh `torch.Generator().manual_seed({seeded})`.",
            )
            require(
                torch.equal(
                    loaders[key].generator.get_state(), loaders[other].generator.get_state()
                ),
                f"`{names[key]}` and `{names[other]}` shuffled their batches in different "
                "orders (their generators are in different states): seed every loader's "
                f"generator the same way, `torch.Generator().manual_seed({seeded})`, so that the "
                "order of batches is not a second difference.",
            )


def _transforms_like(loader: Any, name: str, expected: Any, expected_name: str) -> None:
    """``loader.transform`` gives what ``expected`` gives, random choices included."""
    require(
        callable(loader.transform),
        f"`{name}` has no `transform`: pass `transform={expected_name}`.",
    )
    images = loader.tensors[0][:TRANSFORM_SAMPLE]
    outputs = []
    for transform in (loader.transform, expected):
        with torch.random.fork_rng(devices=[]):  # leave the lesson's random stream alone
            torch.default_generator.manual_seed(0)  # the CPU's only: not a GPU's stream
            outputs.append(transform(images))
    require(
        outputs[0].shape == outputs[1].shape and torch.allclose(outputs[0], outputs[1]),
        f"`{name}` does not transform its batches as `{expected_name}` does: pass "
        f"`transform={expected_name}`.",
    )


def _measured_on_validation(
    model: nn.Module, history: list[dict], val_loader: Any, model_name: str, history_name: str
) -> None:
    """The history's last epoch must be the model's score on the validation set."""
    measured = evaluate(model, val_loader)
    accuracy, loss = history[-1]["val_acc"], history[-1]["val_loss"]
    require(
        abs(measured["val_acc"] - accuracy) <= SAME_ACCURACY
        and abs(measured["val_loss"] - loss) <= SAME_LOSS,
        f"`{model_name}` scores {measured['val_acc']:.4f} (loss {measured['val_loss']:.3f}) on "
        f"the validation set, but the last epoch of `{history_name}` says {accuracy:.4f} (loss "
        f"{loss:.3f}): was the history measured on another set? Pass `val_loader` to the "
        "training function: choices are made on the validation set, and the test set is used "
        "once, at the end of the lesson.",
    )


class _NoProgress:
    """Stands in for the progress bar of the training functions' epoch: shows nothing."""

    def update(self, steps: int = 1) -> None:
        pass


def _first_epoch_again(loader: DeviceTensorLoader) -> DeviceTensorLoader:
    """A new loader over ``loader``'s images with its settings, its generator seeded as
    ``loader``'s was at the start: it gives the batches of the run's first epoch again,
    then, iterated on, those of its later epochs, and the learner's loader stays as it
    was."""
    return DeviceTensorLoader(
        *loader.tensors,
        batch_size=loader.batch_size,
        shuffle=loader.shuffle,
        drop_last=loader.drop_last,
        device=loader.device,
        generator=torch.Generator().manual_seed(loader.generator.initial_seed()),
        transform=loader.transform,
    )


def _replay(
    model: nn.Module,
    loader: DeviceTensorLoader,
    val_loader: Any,
    history: list[dict],
    recipe: str,
    optimizer_for: Any,
    schedule_for: Any = None,
    grad_clip: float | None = None,
    gpu_tolerance: float | None = None,
    whole_run: bool = False,
) -> str:
    """Train ``model`` (the run's start, on its device) with the lesson's recipe on
    ``loader``'s batches again, one epoch or, with ``whole_run`` on a CPU, every epoch of
    ``history`` with one optimizer as the training functions do, and require the
    history's training loss of each epoch as it ends and its validation loss after the
    last: to rounding on a CPU. Off the CPU a whole run shrinks to its first epoch (a
    GPU's sums may drift apart over many steps), compared within ``gpu_tolerance``
    (relative), and ``gpu_tolerance=None`` replays nothing there. ``recipe`` names the
    recipe in the messages; returns what was compared, or why not."""
    where = _device_type(model)
    on_cpu = where == "cpu"
    tolerance = REPLAY_SAME_ON_CPU if on_cpu else gpu_tolerance
    if tolerance is None:
        return (
            f"was not trained again here: on {where} the sums of a network with batch norm "
            "may come out differently each run, by as much as a change of recipe moves its "
            f"first epoch, so the check trusts that you used {recipe} (on a CPU it would "
            f"have replayed {'the run' if whole_run else 'the first epoch'} and compared its "
            "losses)"
        )
    epochs = len(history) if whole_run and on_cpu else 1
    optimizer = optimizer_for(model.parameters())
    scheduler = None if schedule_for is None else schedule_for(optimizer, len(loader))
    batches = _first_epoch_again(loader)  # its generator goes on to the later epochs' orders
    pairs = []  # (what, your figure, the replay's)

    def require_same(what: str, yours: float, replayed: float, epoch: int) -> None:
        agreed = "" if epoch == 1 else f" (epochs 1 to {epoch - 1} agreed)"
        require(
            math.isclose(yours, replayed, rel_tol=tolerance),
            f"The check trained your run again from its saved start, on the same batches, "
            f"with the lesson's recipe ({recipe}): {what} came out {replayed:.6f}, where "
            f"your history says {yours:.6f}{agreed}. Your run trained some other way: use "
            "that recipe, in one call of the training function for all the epochs, with "
            "nothing random between seeding and training.",
        )
        pairs.append((what, yours, replayed))

    for epoch in range(epochs):
        # The training functions' own epoch, without their progress bar and epoch line.
        losses, _ = _train_epoch(
            epoch, model, batches, optimizer, _NoProgress(), scheduler, grad_clip
        )
        yours = require_number(history[epoch].get("train_loss"), f"history[{epoch}]['train_loss']")
        require_same(
            f"the training loss of epoch {epoch + 1}",
            yours,
            _epoch_train_loss(losses, epoch),
            epoch + 1,
        )
    yours = require_number(
        history[epochs - 1].get("val_loss"), f"history[{epochs - 1}]['val_loss']"
    )
    require_same(
        f"the validation loss after epoch {epochs}",
        yours,
        evaluate(model, val_loader)["val_loss"],
        epochs + 1 if epochs > 1 else 1,
    )
    span = "one epoch" if epochs == 1 else f"all {epochs} epochs"
    within = "to rounding" if on_cpu else f"within {tolerance:g} of them, on {where}"
    said = (
        f"trained again for {span} from its saved start on the same batches with {recipe}, "
        f"gave your history's training loss{'' if epochs == 1 else 'es'} and its validation "
        f"loss after epoch {epochs} "
        f"{within} (epoch 1's training loss {pairs[0][2]:.4f}, the validation loss after "
        f"epoch {epochs} {pairs[-1][2]:.4f})"
    )
    if whole_run and not on_cpu:
        said += "; off the CPU the first epoch only, since a GPU's sums may drift apart"
    return said


def _device_type(model: nn.Module) -> str:
    """The type of the device ``model`` is on: on the CPU ``_replay`` compares to rounding
    and, with ``whole_run``, trains every epoch again (off it, the first epoch only)."""
    return next(model.parameters()).device.type


def _exercise_1(
    overfit_histories: Any,
    overfit_models: Any,
    overfit_starts: Any,
    overfit_loaders: Any,
    overfit_lrs: Any,
    overfit_epochs: int,
    overfit_size: int,
    sample_images: Any,
    sample_labels: Any,
    augment: Any,
    normalise: Any,
    val_loader: Any,
    model_class: type[nn.Module],
) -> list[str]:
    labels = ("augmented", "plain")
    for value, name in (
        (overfit_histories, "overfit_histories"),
        (overfit_models, "overfit_models"),
        (overfit_starts, "overfit_starts"),
        (overfit_loaders, "overfit_loaders"),
        (overfit_lrs, "overfit_lrs"),
    ):
        require_keys(value, labels, name)
        _written(value, name, "`model`, `start`, `loader`, `lr` and `history`")
    loader_names = {label: f"overfit_loaders[{label!r}]" for label in labels}
    for label in labels:
        _loader(
            overfit_loaders[label],
            loader_names[label],
            OVERFIT_BATCH_SIZE,
            (sample_images, sample_labels),
            overfit_size,
            "the first `overfit_size` images of the sample",
        )
    _same_batches(overfit_loaders, loader_names)
    _transforms_like(overfit_loaders["augmented"], loader_names["augmented"], augment, "augment")
    _transforms_like(overfit_loaders["plain"], loader_names["plain"], normalise, "normalise")
    rates = {
        label: require_number(overfit_lrs[label], f"overfit_lrs[{label!r}]") for label in labels
    }
    require(
        rates["augmented"] == rates["plain"],
        f"The runs trained at different learning rates ({rates['augmented']} augmented, "
        f"{rates['plain']} plain), so augmentation is not the only difference between them: "
        "give both the same rate.",
    )
    require(
        math.isclose(rates["plain"], OVERFIT_LR),
        f"Both runs trained at {rates['plain']}; the exercise keeps section 4's rate, "
        f"{OVERFIT_LR}, throughout.",
    )
    starts = {}
    for label in labels:
        history, model = overfit_histories[label], overfit_models[label]
        _history(history, f"overfit_histories[{label!r}]", overfit_epochs, "overfit_epochs")
        require(
            not any(isinstance(epoch, dict) and "lrs" in epoch for epoch in history),
            f"`overfit_histories[{label!r}]` records a learning rate for every step, as "
            "`fit_one_cycle` does: the exercise trains with `fit` at one rate throughout, so "
            "that augmentation is the only thing the runs change.",
        )
        require_type(model, nn.Module, f"overfit_models[{label!r}]", "the trained model")
        starts[label] = _weights(
            overfit_starts[label], f"overfit_starts[{label!r}]", model, f"overfit_models[{label!r}]"
        )
    require(
        all(torch.equal(starts["augmented"][key], starts["plain"][key]) for key in starts["plain"]),
        "The two runs started from different weights (`overfit_starts` differ), so "
        "augmentation is not the only difference between them: call `seed_everything(0)` "
        "right before building each model.",
    )
    parameters = sum(p.numel() for p in overfit_models["plain"].parameters())
    expected = sum(p.numel() for p in model_class().parameters())
    require(
        parameters == expected,
        f"`overfit_models['plain']` has {parameters} parameters, not the {expected} of "
        f"{model_class.__name__}(): train section 4's small CNN.",
    )
    # The augmented run's replay (below) starts where seeding and building left the random
    # numbers, so its start must be seed 0's.
    seeded = _seeded_model(model_class, 0).state_dict()
    require(
        all(
            key in starts["augmented"] and torch.equal(starts["augmented"][key], value)
            for key, value in seeded.items()
        ),
        f"The runs did not start from the weights that `seed_everything(0)` then "
        f"`{model_class.__name__}()` gives: seed each run with 0, right before building its "
        "model.",
    )
    for label in labels:
        _measured_on_validation(
            overfit_models[label],
            overfit_histories[label],
            val_loader,
            f"overfit_models[{label!r}]",
            f"overfit_histories[{label!r}]",
        )
    augmented, plain = overfit_histories["augmented"], overfit_histories["plain"]
    losses = [[epoch["train_loss"] for epoch in history] for history in (augmented, plain)]
    require(
        losses[0] != losses[1],
        "The two runs have the same training losses: did each loader get its own "
        "transform, `augment` for one and `normalise` for the other?",
    )
    checked = [
        f"both runs have {overfit_epochs} epochs of training and validation figures",
        "both models started from the same weights, and each trained away from them",
        f"both loaders hold the sample's first {overfit_size} images with their labels, in "
        f"batches of {OVERFIT_BATCH_SIZE}, shuffled in the same order (generators in the same "
        "state)",
        "the augmented loader transforms its batches as `augment` does, the plain one as "
        "`normalise` does",
        f"both runs record the same learning rate, {OVERFIT_LR}",
        "each history's last epoch is its model's score on the validation set",
        "the runs' training losses differ",
    ]
    small_rise = False  # the plain run's rise under CLEAR_RISE, with a whole replay to come
    if overfit_epochs >= SHOWS_OVERFITTING:
        if plain[-1]["train_loss"] >= augmented[-1]["train_loss"]:
            raise Wrong(
                "The 'plain' run ends with the higher training loss, yet the model that sees "
                "the same unaltered images every epoch should learn them best. Are the "
                "transforms swapped?"
            )
        checked.append(
            "the plain run ends with the lower training loss, each measured on the batches its "
            "run trained on (the transforms are not swapped; the solution then compares the "
            "two models on equal terms)"
        )
        plain_val = [epoch["val_loss"] for epoch in plain]
        averaged = min(3, len(plain_val))  # the lesson's measure: the last epochs' mean
        rise = sum(plain_val[-averaged:]) / averaged - min(plain_val)
        small_rise = rise < CLEAR_RISE
        if small_rise and _device_type(overfit_models["plain"]) != "cpu":
            raise Wrong(
                f"The 'plain' run's last {averaged} epochs' mean validation loss is only "
                f"{rise:.3f} above its lowest (less than {CLEAR_RISE}), so it shows no clear "
                "overfitting yet. Did it train "
                "on the small sample (`overfit_size` images) for all `overfit_epochs` epochs, "
                "at the lesson's learning rate?"
            )
        gaps = {
            label: history[-1]["val_loss"] - history[-1]["train_loss"]
            for label, history in (("augmented", augmented), ("plain", plain))
        }
        if gaps["plain"] <= gaps["augmented"]:
            raise Wrong(
                f"The plain run's last validation loss is {gaps['plain']:.3f} above its "
                f"training loss, no more than the augmented run's gap ({gaps['augmented']:.3f}): "
                "the run that sees the same images every epoch should part from the validation "
                "set the most. Did both runs train on the same `overfit_size` images, with "
                "`normalise` for the plain run?"
            )
        if not small_rise:
            checked.append(
                f"the plain run's last {averaged} epochs' mean validation loss was {rise:.2f} "
                "above its lowest point: it overfitted"
            )
        checked.append(
            "the plain run's validation loss ended further above its training loss than the "
            "augmented run's, each training loss on its own run's batches"
        )
    recipe = (
        f"`fit` at {OVERFIT_LR} with SGD, momentum {OVERFIT_MOMENTUM}, as section 4's "
        "`sgd_momentum`"
    )

    def section_4_optimizer(parameters: Any) -> torch.optim.Optimizer:
        return torch.optim.SGD(parameters, OVERFIT_LR, momentum=OVERFIT_MOMENTUM)

    # The plain run draws no random numbers (its batches' order comes from its own
    # generator), so it replays whatever the learner did before training: on a CPU the
    # whole run, so that a last epoch at another rate, or a second call of `fit` (a fresh
    # optimizer, its momentum lost), shows.
    again = copy.deepcopy(overfit_models["plain"])
    again.load_state_dict(overfit_starts["plain"])
    replayed = _replay(
        again,
        overfit_loaders["plain"],
        val_loader,
        plain,
        recipe,
        section_4_optimizer,
        gpu_tolerance=REPLAY_SAME_SMALL_CNN_ON_A_GPU,
        whole_run=True,
    )
    checked.append(f"the plain run, {replayed}")
    # The augmented run's crops and flips draw from the CPU's global random numbers
    # (on any device), so its replay starts where seeding and building the model left them.
    again = _seeded_model(model_class, 0)  # the random stream as seeding left it
    again.load_state_dict(overfit_starts["augmented"])
    again.to(next(overfit_models["augmented"].parameters()).device)
    replayed = _replay(
        again,
        overfit_loaders["augmented"],
        val_loader,
        augmented,
        recipe,
        section_4_optimizer,
        gpu_tolerance=REPLAY_SAME_SMALL_CNN_ON_A_GPU,
    )
    checked.append(f"the augmented run, {replayed}")
    if small_rise:  # the replays above passed: the recipe was followed
        checked.append(
            f"not shown by this run: the plain run's last {averaged} epochs' mean validation "
            f"loss was only {rise:.3f} above "
            f"its lowest, under the check's bar for a clear rise ({CLEAR_RISE}); the replay "
            "matched your whole run, so you followed the recipe, and this machine's arithmetic "
            "or this copy of the data gave a run that overfits less than the lesson's"
        )
    return checked


def _expected_lrs(epochs: int, steps_per_epoch: int) -> list[float]:
    """The learning rate of every step that fit_one_cycle(epochs, RECIPE_PEAK_LR, ...) uses."""
    weight = nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([weight], lr=RECIPE_PEAK_LR, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, RECIPE_PEAK_LR, epochs=epochs, steps_per_epoch=steps_per_epoch
    )
    lrs = []
    for _ in range(epochs * steps_per_epoch):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return lrs


def _one_cycle(history: list[dict], name: str, sample_size: int, width_epochs: int) -> None:
    """The history's learning rates must be fit_one_cycle's, on the sample, peaking at 0.01."""
    require(
        all(isinstance(epoch.get("lrs"), list) and epoch["lrs"] for epoch in history),
        f"`{name}` has no learning rates (`lrs`) per step: train with `fit_one_cycle`, the "
        "lesson's recipe, not `fit`.",
    )
    steps = math.ceil(sample_size / RECIPE_BATCH_SIZE)
    counts = sorted({len(epoch["lrs"]) for epoch in history})
    require(
        counts == [steps],
        f"`{name}` took {counts[0] if len(counts) == 1 else counts} steps per epoch, but "
        f"`sample_size` ({sample_size}) images in batches of {RECIPE_BATCH_SIZE} make "
        f"{steps}: did it train on `sample_images` and `sample_labels`, with "
        f"`batch_size={RECIPE_BATCH_SIZE}`?",
    )
    lrs = [lr for epoch in history for lr in epoch["lrs"]]
    expected = _expected_lrs(width_epochs, steps)
    peak, expected_peak = max(lrs), max(expected)
    require(
        lrs[0] < peak / 2 and lrs[-1] < peak / 2,
        f"`{name}`'s learning rates do not follow the one-cycle shape: they should start "
        "low, rise to their peak and fall almost to 0 by the last step, as `fit_one_cycle` "
        f"makes them; these start at {lrs[0]:.3g} and end at {lrs[-1]:.3g}, with a peak of "
        f"{peak:.3g}.",
    )
    require(
        math.isclose(peak, expected_peak, rel_tol=1e-6),
        f"`{name}`'s learning rate peaked at {peak:.3g}, where `fit_one_cycle` with the "
        f"lesson's peak of {RECIPE_PEAK_LR} reaches {expected_peak:.3g} in these "
        f"{len(expected)} steps: give `fit_one_cycle` a `max_lr` of {RECIPE_PEAK_LR}.",
    )
    require(
        all(
            math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-12)
            for a, b in zip(lrs, expected, strict=True)
        ),
        f"`{name}`'s learning rates do not follow the one-cycle shape `fit_one_cycle` gives "
        f"(a rise from {expected[0]:.4g} to {RECIPE_PEAK_LR}, then a fall almost to 0): "
        "train each width with one call of `fit_one_cycle` for `width_epochs` epochs.",
    )


def _width_finals(width_finals: dict, width: int, history: list[dict]) -> None:
    """``width_finals[width]``: one final accuracy per seed, seed 0's equal to its
    history's last ``val_acc``."""
    name = f"width_finals[{width}]"
    finals = width_finals[width]
    require(
        isinstance(finals, (list, tuple)) and len(finals) == WIDTH_SEEDS,
        f"`{name}` should be a list of {WIDTH_SEEDS} final validation accuracies, one per "
        f"seed (0, 1, 2, in that order), got {finals!r}: the loop appends each run's "
        '`run_final`; set `run_final = run_history[-1]["val_acc"]`.',
    )
    for index, accuracy in enumerate(finals):
        require_fraction(accuracy, f"{name}[{index}]")
    seed_0 = history[-1].get("val_acc")
    require(
        isinstance(seed_0, (int, float)) and math.isclose(finals[0], seed_0, rel_tol=1e-9),
        f"`{name}[0]` is {finals[0]}, but seed 0's run, `width_histories[{width}]`, ended "
        f"at {seed_0}: put seed 0's final `val_acc` first, then seed 1's and seed 2's.",
    )


def _every_seed(values: Any, name: str, what: str) -> list:
    """``values``: one entry per seed (0, 1, 2, in that order), as the lesson's loop
    appends them."""
    require(
        isinstance(values, list) and len(values) == WIDTH_SEEDS,
        f"`{name}` should be a list of {WIDTH_SEEDS} entries, {what}, one per seed (0, 1, 2, "
        "in that order): the lesson's loop appends each run's; keep its lines after the run.",
    )
    return values


def _seeded_model(model_class: type[nn.Module], seed: int, *args: Any) -> nn.Module:
    """``model_class(*args)`` built as ``seed_everything(seed)`` then building it would build
    it, on the CPU, leaving the CPU's random stream where they leave it (a run's random crops
    and flips draw from there next). Only the CPU's generator is seeded, so a GPU's stream
    stays as the lesson left it; each check runs on a copy of the stream (``fork_rng``)."""
    torch.default_generator.manual_seed(seed)
    return model_class(*args)


def _seeded_start(
    start: Any, name: str, model_class: type[nn.Module], width: int, seed: int
) -> None:
    """``start`` must be the weights that ``seed_everything(seed)`` then
    ``model_class(width)`` give."""
    require(
        isinstance(start, Mapping) and all(isinstance(t, torch.Tensor) for t in start.values()),
        f"`{name}` should be a copy of the model's weights before training: "
        "`copy.deepcopy(model.state_dict())`.",
    )
    seeded = _seeded_model(model_class, seed, width).state_dict()
    require(
        list(start) == list(seeded)
        and all(
            start[key].shape == seeded[key].shape and torch.equal(start[key].cpu(), seeded[key])
            for key in seeded
        ),
        f"Width {width} did not start from the weights that `seed_everything({seed})` then "
        f"`{model_class.__name__}({width})` give (`{name}`, seed {seed}'s run): call "
        "`seed_everything(seed)` with each run's own seed right before building its model, "
        "for every seed, so that within a seed the width is the only difference.",
    )


def _exercise_2(
    width_histories: Any,
    width_models: Any,
    width_starts: Any,
    width_loaders: Any,
    width_finals: Any,
    width_epochs: int,
    resnet_width: int,
    model_class: type[nn.Module],
    augment: Any,
    val_loader: Any,
    sample_size: int,
    sample_images: Any,
    sample_labels: Any,
) -> list[str]:
    widths = (resnet_width // 4, resnet_width // 2, resnet_width)
    for value, name in (
        (width_histories, "width_histories"),
        (width_models, "width_models"),
        (width_starts, "width_starts"),
        (width_loaders, "width_loaders"),
        (width_finals, "width_finals"),
    ):
        require_keys(value, widths, name)
        _written(
            value, name, "`run_model`, `run_start`, `run_loader`, `run_history` and `run_final`"
        )
    for width in widths:
        _every_seed(width_starts[width], f"width_starts[{width}]", "starting weights")
        _every_seed(width_loaders[width], f"width_loaders[{width}]", "loaders")
    # Every seed's loaders, as seed 0's: the sample, augmented, the same batches at every
    # width, and a generator seeded with the run's seed.
    for seed in range(WIDTH_SEEDS):
        loaders = {width: width_loaders[width][seed] for width in widths}
        loader_names = {width: f"width_loaders[{width}][{seed}]" for width in widths}
        for width in widths:
            _loader(
                loaders[width],
                loader_names[width],
                RECIPE_BATCH_SIZE,
                (sample_images, sample_labels),
                sample_size,
                "the sample's `sample_size` images",
            )
            _transforms_like(loaders[width], loader_names[width], augment, "augment")
        _same_batches(loaders, loader_names, seeded="seed")
        for width in widths:
            first = loaders[width].generator.initial_seed()
            require(
                first == seed,
                f"`{loader_names[width]}`'s generator was seeded {first}, but that run's seed "
                f"is {seed}: seed each run's loader with its own seed, "
                "`generator=torch.Generator().manual_seed(seed)`.",
            )
    for width in widths:
        history, model = width_histories[width], width_models[width]
        _history(history, f"width_histories[{width}]", width_epochs, "width_epochs")
        _one_cycle(history, f"width_histories[{width}]", sample_size, width_epochs)
        _width_finals(width_finals, width, history)
        require_type(model, nn.Module, f"width_models[{width}]", "the trained model")
        parameters = sum(p.numel() for p in model.parameters())
        expected = sum(p.numel() for p in model_class(width).parameters())
        require(
            parameters == expected,
            f"`width_models[{width}]` has {parameters} parameters, not the {expected} of "
            f"{model_class.__name__}({width}): store the model trained at that width.",
        )
        starts = [f"width_starts[{width}][{seed}]" for seed in range(WIDTH_SEEDS)]
        _weights(width_starts[width][0], starts[0], model, f"width_models[{width}]")
        for seed, name in enumerate(starts):  # every seed's start, not only seed 0's
            _seeded_start(width_starts[width][seed], name, model_class, width, seed)
        _measured_on_validation(
            model, history, val_loader, f"width_models[{width}]", f"width_histories[{width}]"
        )
        seconds = [epoch.get("train_seconds") for epoch in history]
        require(
            all(
                require_number(s, f"width_histories[{width}]'s train_seconds") > 0 for s in seconds
            ),
            f"`width_histories[{width}]` has epochs without a positive `train_seconds`: keep "
            "the history the training function returns.",
        )
    # Three seeds' runs end at three different accuracies, but for a width that collapses
    # (a narrow model can score the same from every seed): at most one width may repeat.
    repeated = [width for width in widths if len(set(width_finals[width])) < WIDTH_SEEDS]
    require(
        len(repeated) <= 1,
        f"Widths {repeated} ended at the same accuracy from two of their seeds: a seed "
        "repeated another's run. Before each run, call `seed_everything(seed)` and seed its "
        "loader's generator with `seed`, that run's seed (0, 1, then 2).",
    )
    # The narrowest width's first epoch, trained again with the recipe: augmentation draws
    # from the global random numbers, so they start where seeding and building left them.
    narrowest = widths[0]
    again = _seeded_model(model_class, 0, narrowest)  # the random stream as seeding left it
    again.load_state_dict(width_starts[narrowest][0])
    again.to(next(width_models[narrowest].parameters()).device)
    replayed = _replay(
        again,
        width_loaders[narrowest][0],
        val_loader,
        width_histories[narrowest],
        f"`fit_one_cycle` for {width_epochs} epochs peaking at {RECIPE_PEAK_LR}, Adam, weight "
        f"decay {RECIPE_WEIGHT_DECAY:g}, clipping at {RECIPE_GRAD_CLIP}",
        lambda parameters: torch.optim.Adam(
            parameters, RECIPE_PEAK_LR, weight_decay=RECIPE_WEIGHT_DECAY
        ),
        lambda optimizer, steps: torch.optim.lr_scheduler.OneCycleLR(
            optimizer, RECIPE_PEAK_LR, epochs=width_epochs, steps_per_epoch=steps
        ),
        RECIPE_GRAD_CLIP,
    )
    return [
        f"there is a model, its starting weights and its history for each width, {widths}",
        f"`width_finals` holds {WIDTH_SEEDS} final validation accuracies for each width, "
        "seed 0's the last of its history",
        f"each history has {width_epochs} epochs",
        f"each model has the parameters of a {model_class.__name__} of its width",
        "each width started from seed 0's weights, and trained away from them",
        f"every run, from each of the {WIDTH_SEEDS} seeds, started from the weights that "
        "seeding with its seed gives, and its loader's generator was seeded with it",
        "each history's last epoch is its model's score on the validation set",
        f"each run took {math.ceil(sample_size / RECIPE_BATCH_SIZE)} steps per epoch (the "
        f"sample in batches of {RECIPE_BATCH_SIZE}), on fit_one_cycle's schedule peaking at "
        f"{RECIPE_PEAK_LR}",
        "every loader holds the sample's images with their labels, transforms them as "
        "`augment` does and, within a seed, shuffled them in the same order (generators in "
        "the same state)",
        f"width {narrowest}, {replayed}",
    ]


EXERCISES = {
    1: Exercise(
        hint="seed 0, a new SmallCnn, a copy of its state_dict, a DeviceTensorLoader, fit",
        test=_exercise_1,
        stub=("model", "start", "loader", "lr", "history"),
    ),
    2: Exercise(
        hint="seed, ResNet9(width), copy its state_dict, a loader seeded `seed`, fit_one_cycle",
        test=_exercise_2,
        stub=("run_model", "run_start", "run_loader", "run_history", "run_final"),
    ),
}

# Concept checks: the questions at the end of the lesson, about its ideas (not its code).
QUESTIONS: dict[str, Exercise] = {
    "Q1": concept_question(
        "answer_q1",
        hint="section 3: count a filter's weights; does the image size appear in the count?",
        right="b",
        why="a convolution's weights are its filters, 5 x 5 x 3 values and a bias each, and "
        "the same filters slide over every position, so the count does not depend on the "
        "image size.",
        misconceptions={
            "a": "That is how a linear layer grows: one weight per pair of input and output "
            "values. A convolution reuses each filter at every position of the image; section "
            "3 counts its parameters as filters times (5 x 5 x 3 + 1).",
            "c": "The number of filters is a setting of the layer (its output channels), not "
            "something the image size decides; section 3's count has no image size in it.",
            "d": "Padding adds zeros around the image, not weights: section 3's layer with "
            "padding 2 has the same parameter count as without it, filters times "
            "(5 x 5 x 3 + 1).",
        },
    ),
    "Q2": concept_question(
        "answer_q2",
        hint="section 3's formula, then section 4's printed shape after the two blocks",
        right="c",
        why="a 5 x 5 convolution with padding 2 keeps 32 x 32, and each 2 x 2 max pooling "
        "halves the height and width: 32 -> 16 -> 8, as section 4 printed (32, 8, 8).",
        misconceptions={
            "a": "Padding 2 on each side makes up for the 4 pixels a 5 x 5 kernel would take "
            "off: (32 + 4 - 5) / 1 + 1 = 32. Section 3 checks this 'same' size against the "
            "layer; only the poolings shrink the maps.",
            "b": "Pooling keeps the number of channels, not the size of each map: a 2 x 2 "
            "window with stride 2 halves the height and the width, as section 3's max-pool "
            "line shows.",
            "d": "A 2 x 2 pooling keeps a quarter of the values, but it halves each side, "
            "not divides it by 4: section 3's formula gives (32 - 2) / 2 + 1 = 16.",
        },
    ),
    "Q3": concept_question(
        "answer_q3",
        hint="which run sees the very same pictures every epoch, and what can it memorise?",
        right="a",
        why="the plain run saw the same pictures every epoch and began to memorise them: "
        "its training loss fell overall while its validation loss rose, because what it "
        "learned about its own images did not hold for new ones. With random crops and flips "
        "each image has 162 possible views, and every epoch shows another one at random, "
        "so learning the training images by heart pays less.",
        misconceptions={
            "b": "Both runs used `fit` with one constant learning rate, 0.02, for every "
            "epoch; nothing about the rate changed at the lowest point.",
            "c": "The validation images are never augmented: the validation loader uses "
            "`normalise` only, in both runs. Only the training batches change from epoch to "
            "epoch.",
            "d": "The loss and the accuracy measure different things: the loss also punishes "
            "confident wrong answers, so it can rise far more than the accuracy falls. "
            "Compare, in exercise 1's lines, how much the plain run's validation loss rose "
            "after its lowest point with how much its accuracy changed: the rise came mostly "
            "from confident wrong answers, not from many more wrong answers.",
        },
    ),
    "Q4": concept_question(
        "answer_q4",
        hint="section 6's cell on batch normalisation: what statistics does each mode use?",
        right="d",
        why="in train mode batch norm normalises with the batch's own mean and spread and "
        "updates running averages; in eval mode it uses those running averages, which after "
        "one batch had moved only a tenth of the way (to about 0.2).",
        misconceptions={
            "a": "Eval mode still normalises: the output means fell from about 2 to about "
            "1.1, not to 0 and not staying at 2. It normalises with other statistics than the "
            "batch's own.",
            "b": "The learned scale and shift are the same in both modes (a fresh layer's are "
            "1 and 0); what differs is which mean and spread each mode divides by.",
            "c": "Nothing random happens in a batch-norm layer, in either mode; the same "
            "inputs give the same outputs every time in eval mode. The difference comes from "
            "the statistics each mode uses.",
        },
    ),
}

check_exercise = make_checker(LESSON, EXERCISES, QUESTIONS)
