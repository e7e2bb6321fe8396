import functools
import math

import pytest
import torch
from conftest import Float64Recorder, TinyClassifier
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_utils import training
from course_utils.training import (
    ImageClassificationBase,
    eval_mode,
    evaluate,
    fit,
    fit_one_cycle,
    predict,
)


def test_fit_learns_a_separable_problem_and_returns_a_history(
    tiny_model, separable_loaders, capsys
):
    train_loader, val_loader = separable_loaders
    before = evaluate(tiny_model, val_loader)["val_acc"]
    history = fit(5, 0.5, tiny_model, train_loader, val_loader)
    assert len(history) == 5
    keys = {"train_loss", "val_loss", "val_acc", "train_seconds", "epoch_seconds"}
    assert set(history[0]) == keys
    assert 0 < history[0]["train_seconds"] <= history[0]["epoch_seconds"]
    assert history[-1]["val_acc"] > 0.95 > before
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert "Epoch 5:" in capsys.readouterr().out


def test_fit_accepts_another_optimizer(tiny_model, separable_loaders):
    momentum = functools.partial(torch.optim.SGD, momentum=0.9)
    history = fit(2, 0.05, tiny_model, *separable_loaders, opt_func=momentum)
    assert history[-1]["val_acc"] > 0.9


@pytest.mark.parametrize(
    "epochs, lr, message",
    [(0, 0.1, "epochs"), (-1, 0.1, "epochs"), (2, 0.0, "lr"), (2, -0.1, "lr")],
)
def test_fit_rejects_bad_numbers_before_training(
    tiny_model, separable_loaders, epochs, lr, message
):
    weights = tiny_model.linear.weight.clone()
    with pytest.raises(ValueError, match=message):
        fit(epochs, lr, tiny_model, *separable_loaders)
    assert torch.equal(weights, tiny_model.linear.weight)


def test_fit_rejects_an_empty_loader(tiny_model, separable_loaders):
    empty = DataLoader(
        TensorDataset(torch.zeros(0, 2), torch.zeros(0, dtype=torch.long)), batch_size=4
    )
    with pytest.raises(ValueError, match="train_loader is empty"):
        fit(1, 0.1, tiny_model, empty, separable_loaders[1])
    with pytest.raises(ValueError, match="val_loader is empty"):
        fit(1, 0.1, tiny_model, separable_loaders[0], empty)


def test_fit_rejects_a_model_without_the_protocol(separable_loaders):
    with pytest.raises(TypeError, match="training_step.*epoch_end"):
        fit(1, 0.1, nn.Linear(2, 2), *separable_loaders)


def test_validation_mean_is_weighted_by_batch_size():
    class Constant(ImageClassificationBase):
        def forward(self, inputs):
            return torch.stack([torch.zeros(len(inputs)), torch.ones(len(inputs))], dim=1)

    # 3 right answers (label 1), then one batch of 1 wrong answer (label 0)
    labels = torch.tensor([1, 1, 1, 0])
    loader = DataLoader(TensorDataset(torch.zeros(4, 1), labels), batch_size=3)
    assert evaluate(Constant(), loader)["val_acc"] == pytest.approx(0.75)


def modes(model: nn.Module) -> list[bool]:
    return [module.training for module in model.modules()]


@pytest.mark.parametrize("start_in_training", [True, False], ids=["from-train", "from-eval"])
def test_eval_mode_switches_to_eval_without_gradients_and_restores_the_mode(start_in_training):
    model = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.5), nn.Linear(3, 1))
    model.train(start_in_training)
    with eval_mode(model) as inside:
        assert inside is model
        assert modes(model) == [False] * 4
        assert not torch.is_grad_enabled()
        assert not model(torch.ones(1, 3)).requires_grad
    assert modes(model) == [start_in_training] * 4
    assert torch.is_grad_enabled()


def test_eval_mode_restores_the_mode_when_the_block_fails():
    model = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.5))
    model.train()
    with pytest.raises(RuntimeError, match="boom"), eval_mode(model):
        raise RuntimeError("boom")
    assert all(modes(model))


@pytest.mark.parametrize("helper", [evaluate, predict])
@pytest.mark.parametrize("start_in_training", [True, False], ids=["from-train", "from-eval"])
def test_evaluate_and_predict_restore_the_mode(
    tiny_model, separable_loaders, helper, start_in_training
):
    tiny_model.train(start_in_training)
    helper(tiny_model, separable_loaders[1])
    assert tiny_model.training is start_in_training


@pytest.mark.parametrize("helper", [evaluate, predict])
def test_evaluate_and_predict_restore_the_mode_after_an_error(tiny_model, helper):
    broken = DataLoader(
        TensorDataset(torch.zeros(4, 5), torch.zeros(4, dtype=torch.long)), batch_size=2
    )
    tiny_model.train()
    with pytest.raises(RuntimeError):  # 5 features into a 2-feature model
        helper(tiny_model, broken)
    assert tiny_model.training


def test_predict_keeps_each_prediction_beside_its_own_label():
    class Echo(ImageClassificationBase):
        """Predicts the class written in the input's first feature."""

        def forward(self, inputs):
            return nn.functional.one_hot(inputs[:, 0].long(), num_classes=10).float()

    generator = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 10, (53,), generator=generator)
    inputs = torch.stack([labels.float(), torch.zeros(53)], dim=1)
    shuffled = DataLoader(
        TensorDataset(inputs, labels), batch_size=8, shuffle=True, generator=generator
    )
    predicted, actual = predict(Echo(), shuffled)
    assert predicted.shape == actual.shape == (53,) and predicted.dtype == torch.int64
    assert torch.equal(predicted, actual)  # a shuffled loader: pairs must stay together
    assert not torch.equal(actual, labels)  # ...and the order really was shuffled
    assert sorted(actual.tolist()) == sorted(labels.tolist())


def test_fit_one_cycle_records_a_rising_then_falling_learning_rate(tiny_model, separable_loaders):
    history = fit_one_cycle(
        4, 0.5, tiny_model, *separable_loaders, weight_decay=1e-4, grad_clip=0.1
    )
    lrs = [lr for epoch in history for lr in epoch["lrs"]]
    assert len(lrs) == 4 * len(separable_loaders[0])
    peak = lrs.index(max(lrs))
    assert lrs[0] == pytest.approx(0.5 / 25) and max(lrs) == pytest.approx(0.5, rel=0.01)
    assert 0 < peak < len(lrs) - 1 and lrs[-1] < lrs[0]
    assert history[-1]["val_acc"] > 0.95


def test_fit_one_cycle_clips_gradients(separable_loaders, monkeypatch):
    seen = []
    original = nn.utils.clip_grad_value_
    monkeypatch.setattr(
        nn.utils,
        "clip_grad_value_",
        lambda params, value: seen.append(value) or original(params, value),
    )
    torch.manual_seed(0)
    fit_one_cycle(1, 0.1, TinyClassifier(), *separable_loaders, grad_clip=0.05)
    assert seen == [0.05] * len(separable_loaders[0])


@pytest.mark.parametrize(
    "kwargs, message", [({"weight_decay": -1.0}, "weight_decay"), ({"grad_clip": 0.0}, "grad_clip")]
)
def test_fit_one_cycle_rejects_bad_arguments(tiny_model, separable_loaders, kwargs, message):
    with pytest.raises(ValueError, match=message):
        fit_one_cycle(1, 0.1, tiny_model, *separable_loaders, **kwargs)


class NaNAtStep(TinyClassifier):
    """Its training loss turns NaN at one step (counted from 1) and stays finite otherwise."""

    def __init__(self, bad_step: int):
        super().__init__()
        self.bad_step, self.steps = bad_step, 0

    def training_step(self, batch):
        self.steps += 1
        loss = super().training_step(batch)
        return loss * float("nan") if self.steps == self.bad_step else loss


@pytest.mark.parametrize("every_step", [True, False], ids=["each-step", "once-per-epoch"])
def test_fit_stops_at_the_first_non_finite_loss_naming_epoch_and_batch(
    separable_loaders, monkeypatch, every_step
):
    # once-per-epoch is what a GPU does; on the CPU the tests run on, fit checks each step
    monkeypatch.setattr(training, "_checks_every_step", lambda loss: every_step)
    torch.manual_seed(0)
    batches = len(separable_loaders[0])
    model = NaNAtStep(bad_step=batches + 3)  # epoch 2, batch 3
    with pytest.raises(FloatingPointError, match=r"nan in epoch 2, batch 3 .*learning rate"):
        fit(5, 0.1, model, *separable_loaders)
    finite = all(torch.isfinite(parameter).all() for parameter in model.parameters())
    if every_step:  # stopped before the bad step could touch the weights
        assert model.steps == model.bad_step and finite
    else:  # stopped at the end of the epoch, whose later steps took the NaN into the weights
        assert model.steps == 2 * batches and not finite


def test_fit_checks_each_loss_on_the_cpu_and_leaves_device_losses_for_the_epoch_end():
    assert training._checks_every_step(torch.tensor(1.0)) is True
    assert training._checks_every_step(torch.tensor(1.0, device="meta")) is False


def test_fit_stops_on_a_non_finite_validation_loss(tiny_model, separable_loaders):
    inputs, labels = separable_loaders[1].dataset.tensors
    inputs = inputs.clone()
    inputs[7, 0] = float("nan")
    val_loader = DataLoader(TensorDataset(inputs, labels), batch_size=50)
    message = r"validation loss is nan after epoch 1 .*weights are finite.*validation data"
    with pytest.raises(FloatingPointError, match=message):
        fit(3, 0.1, tiny_model, separable_loaders[0], val_loader)


class InterruptedLoader:
    """Yields its loader's batches, but Ctrl-C arrives during one pass (the second by default)."""

    def __init__(self, loader, interrupt_in_pass=2):
        self.loader, self.passes, self.interrupt_in_pass = loader, 0, interrupt_in_pass

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        self.passes += 1
        for index, batch in enumerate(self.loader):
            if self.passes == self.interrupt_in_pass and index == 2:
                raise KeyboardInterrupt
            yield batch


@pytest.mark.parametrize("helper", [fit, fit_one_cycle])
def test_an_interrupted_fit_returns_the_history_of_the_finished_epochs(
    tiny_model, separable_loaders, capsys, helper
):
    train_loader, val_loader = separable_loaders
    try:
        history = helper(4, 0.1, tiny_model, InterruptedLoader(train_loader), val_loader)
    except KeyboardInterrupt:
        pytest.fail("the KeyboardInterrupt escaped, losing the history")
    assert len(history) == 1 and 0 <= history[0]["val_acc"] <= 1
    assert "Interrupted in epoch 2: returning the history of the 1 finished epoch\n" in (
        capsys.readouterr().out
    )
    assert all(parameter.grad is None for parameter in tiny_model.parameters())


@pytest.mark.parametrize(
    "helper, arguments, message",
    [
        (fit, {"lr": "0.1"}, r"^lr must be a number \(int or float\), got str '0\.1'$"),
        (fit, {"lr": None}, r"^lr must be a number \(int or float\), got NoneType None$"),
        (fit, {"epochs": "3"}, r"^epochs must be a whole number \(int\), got str '3'$"),
        (fit, {"epochs": 1.5}, r"^epochs must be a whole number \(int\), got float 1\.5$"),
        (fit_one_cycle, {"max_lr": "0.1"}, r"^max_lr must be a number .*got str '0\.1'$"),
        (fit_one_cycle, {"weight_decay": "0"}, r"^weight_decay must be a number .*got str"),
        (fit_one_cycle, {"grad_clip": "1"}, r"^grad_clip must be a number .*got str '1'$"),
    ],
)
def test_arguments_of_the_wrong_type_are_named_with_the_type_expected(
    tiny_model, separable_loaders, helper, arguments, message
):
    lr_name = "lr" if helper is fit else "max_lr"
    arguments = {"epochs": 2, lr_name: 0.1, **arguments}
    with pytest.raises(TypeError, match=message):
        helper(
            model=tiny_model,
            train_loader=separable_loaders[0],
            val_loader=separable_loaders[1],
            **arguments,
        )


@pytest.mark.parametrize(
    "helper, name, value",
    [
        (fit, "lr", math.nan),
        (fit, "lr", math.inf),
        (fit_one_cycle, "max_lr", math.inf),
        (fit_one_cycle, "weight_decay", math.inf),
        (fit_one_cycle, "grad_clip", math.nan),
    ],
)
def test_non_finite_numbers_are_refused(tiny_model, separable_loaders, helper, name, value):
    lr_name = "lr" if helper is fit else "max_lr"
    arguments = {"epochs": 2, lr_name: 0.1, name: value}
    weights = tiny_model.linear.weight.clone()
    with pytest.raises(ValueError, match=f"^{name} must be a finite number"):
        helper(
            model=tiny_model,
            train_loader=separable_loaders[0],
            val_loader=separable_loaders[1],
            **arguments,
        )
    assert torch.equal(weights, tiny_model.linear.weight)


# The new names are looked up on the module inside each test, so that against a module
# without them each of these tests fails on its own while the older tests still run.
class SmallImageClassifier(nn.Module):
    """A linear classifier on 2x2 RGB images, with dropout so eval mode matters."""

    def __init__(self, num_classes: int = 4):
        super().__init__()
        self.layers = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(12, num_classes))

    def forward(self, images):
        return self.layers(images)


@pytest.mark.parametrize("start_in_training", [True, False], ids=["from-train", "from-eval"])
def test_predict_probabilities_returns_softmax_rows_on_the_cpu(start_in_training):
    torch.manual_seed(0)
    model = SmallImageClassifier().train(start_in_training)
    images = torch.randn(6, 3, 2, 2)
    probabilities = training.predict_probabilities(model, images)
    assert probabilities.shape == (6, 4) and probabilities.dtype == torch.float32
    assert probabilities.device.type == "cpu" and not probabilities.requires_grad
    assert torch.allclose(probabilities.sum(dim=1), torch.ones(6))
    assert (probabilities >= 0).all()
    assert model.training is start_in_training  # the mode it was in, restored
    logits = model.eval()(images).detach()  # dropout off, as predict_probabilities ran it
    assert torch.equal(probabilities.argmax(dim=1), logits.argmax(dim=1))
    assert torch.allclose(probabilities, torch.softmax(logits, dim=1))


def test_predict_probabilities_of_a_single_image_is_one_row():
    torch.manual_seed(0)
    model = SmallImageClassifier()
    images = torch.randn(3, 3, 2, 2)
    single = training.predict_probabilities(model, images[1])
    assert single.shape == (4,)
    assert torch.allclose(single, training.predict_probabilities(model, images)[1])
    assert single.sum().item() == pytest.approx(1.0)
    assert model.training


def test_predict_probabilities_rejects_a_flat_input():
    with pytest.raises(ValueError, match=r"\(C, H, W\) or a batch \(N, C, H, W\), got \(12,\)"):
        training.predict_probabilities(SmallImageClassifier(), torch.randn(12))


class ScriptedValidation(TinyClassifier):
    """Trains for real, but reports the scripted validation loss of each epoch.

    It also keeps a copy of its weights as they are at the end of each epoch, to
    compare with the weights ``fit`` leaves.
    """

    def __init__(self, val_losses):
        super().__init__()
        self.val_losses, self.snapshots = list(val_losses), []

    def validation_epoch_end(self, outputs):
        result = super().validation_epoch_end(outputs)
        result["val_loss"] = self.val_losses[len(self.snapshots)]
        return result

    def epoch_end(self, epoch, result):
        super().epoch_end(epoch, result)
        self.snapshots.append({name: t.detach().clone() for name, t in self.state_dict().items()})


def has_weights(model: nn.Module, snapshot: dict[str, torch.Tensor]) -> bool:
    state = model.state_dict()
    return state.keys() == snapshot.keys() and all(
        torch.equal(state[name], snapshot[name]) for name in snapshot
    )


# Lowest at epoch 3; epoch 5 ties it, but only a lower loss counts as better.
RISING = [0.9, 0.4, 0.2, 0.5, 0.2, 0.7]


@pytest.mark.parametrize("helper", [fit, fit_one_cycle])
def test_restore_best_ends_with_the_weights_of_the_lowest_validation_loss(
    separable_loaders, capsys, helper
):
    torch.manual_seed(0)
    model = ScriptedValidation(RISING)
    history = helper(6, 0.1, model, *separable_loaders, restore_best=True)
    assert not has_weights(model, model.snapshots[-1])  # not the last epoch's weights...
    assert has_weights(model, model.snapshots[2])  # ...but those of epoch 3
    assert [entry["best"] for entry in history] == [False, False, True, False, False, False]
    assert [entry["val_loss"] for entry in history] == RISING
    assert (
        "Restored the weights of epoch 3 (lowest validation loss 0.2000); "
        "the last epoch, 6, had 0.7000\n"
    ) in capsys.readouterr().out


@pytest.mark.parametrize("helper", [fit, fit_one_cycle])
def test_without_restore_best_the_model_keeps_the_last_weights(separable_loaders, capsys, helper):
    torch.manual_seed(0)
    model = ScriptedValidation(RISING)
    history = helper(6, 0.1, model, *separable_loaders, restore_best=False)
    assert has_weights(model, model.snapshots[-1])
    assert not has_weights(model, model.snapshots[2])
    assert all("best" not in entry for entry in history)
    assert "Restored" not in capsys.readouterr().out


def test_restore_best_keeps_the_last_epoch_when_it_is_the_best(separable_loaders, capsys):
    torch.manual_seed(0)
    model = ScriptedValidation([0.9, 0.5, 0.3])
    history = fit(3, 0.1, model, *separable_loaders, restore_best=True)
    assert has_weights(model, model.snapshots[-1])
    assert [entry["best"] for entry in history] == [False, False, True]
    assert "The last epoch, 3, had the lowest validation loss (0.3000): keeping its weights\n" in (
        capsys.readouterr().out
    )


@pytest.mark.parametrize("helper", [fit, fit_one_cycle])
def test_restore_best_also_restores_after_an_interruption(separable_loaders, capsys, helper):
    torch.manual_seed(0)
    model = ScriptedValidation([0.5, 0.3, 0.6, 0.1])
    train_loader = InterruptedLoader(separable_loaders[0], interrupt_in_pass=4)
    history = helper(4, 0.1, model, train_loader, separable_loaders[1], restore_best=True)
    assert len(history) == 3 and [entry["best"] for entry in history] == [False, True, False]
    assert has_weights(model, model.snapshots[1])
    out = capsys.readouterr().out
    assert "Interrupted in epoch 4: returning the history of the 3 finished epochs\n" in out
    assert (
        "Restored the weights of epoch 2 (lowest validation loss 0.3000); "
        "the last finished epoch, 3, had 0.6000\n"
    ) in out
    assert all(parameter.grad is None for parameter in model.parameters())


@pytest.mark.parametrize("helper", [fit, fit_one_cycle])
def test_restore_best_must_be_a_bool(tiny_model, separable_loaders, helper):
    weights = tiny_model.linear.weight.clone()
    with pytest.raises(TypeError, match=r"^restore_best must be True or False, got str 'no'$"):
        helper(2, 0.1, tiny_model, *separable_loaders, restore_best="no")
    assert torch.equal(weights, tiny_model.linear.weight)


def test_restore_best_needs_a_validation_loss(separable_loaders):
    class AccuracyOnly(TinyClassifier):
        def validation_epoch_end(self, outputs):
            return {"val_acc": super().validation_epoch_end(outputs)["val_acc"]}

        def epoch_end(self, epoch, result):
            pass

    torch.manual_seed(0)
    with pytest.raises(ValueError, match=r"no val_loss \(it returned \['epoch_seconds'"):
        fit(2, 0.1, AccuracyOnly(), *separable_loaders, restore_best=True)


def test_the_training_path_makes_no_float64_tensor(tiny_model, separable_loaders):
    # Apple's MPS has no float64: any float64 tensor made on the device stops training there.
    # On the CPU every tensor op still passes through the dispatcher, so record them all.
    train_loader, val_loader = separable_loaders
    recorder = Float64Recorder()
    with recorder:
        fit(1, 0.1, tiny_model, train_loader, val_loader)
        fit_one_cycle(1, 0.1, tiny_model, train_loader, val_loader, grad_clip=1.0)
        evaluate(tiny_model, val_loader)
        predict(tiny_model, val_loader)
    assert recorder.float64_ops == []


def test_the_float64_recorder_sees_float64_ops():
    recorder = Float64Recorder()
    with recorder:
        torch.ones(3).double().sum()
    assert recorder.float64_ops


class _CountingBackend:
    """A torch.compile backend that runs the traced graph as it is and counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, graph_module, example_inputs):
        def run(*args):
            self.calls += 1
            return graph_module.forward(*args)

        return run


def _fresh_tiny_model() -> TinyClassifier:
    torch.manual_seed(0)
    return TinyClassifier()


def test_fit_runs_the_compiled_code_of_a_model_compiled_in_place(separable_loaders):
    backend = _CountingBackend()
    model = _fresh_tiny_model()
    model.compile(backend=backend)
    train_loader, val_loader = separable_loaders
    history = fit(2, 0.5, model, train_loader, val_loader)
    # One call per training step and per validation batch, in each epoch (cache hits too).
    assert backend.calls >= 2 * (len(train_loader) + len(val_loader))
    assert history[-1]["val_acc"] > 0.9


@pytest.mark.parametrize("helper", ["fit", "evaluate"])
def test_a_torch_compile_wrapper_runs_compiled_or_is_refused(separable_loaders, helper):
    # torch.compile(model) compiles the wrapper's forward only; wrapper.training_step is the
    # original model's method, which calls the uncompiled forward.
    backend = _CountingBackend()
    compiled = torch.compile(_fresh_tiny_model(), backend=backend)
    train_loader, val_loader = separable_loaders
    try:
        if helper == "fit":
            fit(1, 0.5, compiled, train_loader, val_loader)
        else:
            evaluate(compiled, val_loader)
    except TypeError as error:
        assert "model.compile()" in str(error)
        assert backend.calls == 0
    else:
        assert backend.calls >= len(val_loader)


def test_fit_waits_for_the_device_before_it_reads_the_clock(
    tiny_model, separable_loaders, monkeypatch
):
    # On a GPU the steps are queued; an epoch's time is honest only if each clock reading
    # follows a synchronize: the first, so that work queued before the epoch is not
    # counted, and the second, so that the epoch's own steps are. Record the order.
    events: list[str] = []
    real_clock = training.time.perf_counter

    def clock() -> float:
        events.append("clock")
        return real_clock()

    monkeypatch.setattr(training.time, "perf_counter", clock)
    monkeypatch.setattr(training, "synchronize", lambda device: events.append("sync"))
    fit(1, 0.1, tiny_model, *separable_loaders)
    # The epoch's clock starts after a sync; train_seconds is read after another.
    assert events[:4] == ["sync", "clock", "sync", "clock"]


@pytest.mark.parametrize("helper", [fit, fit_one_cycle])
def test_verbose_false_leaves_out_the_epoch_lines_and_trains_the_same(
    separable_loaders, capsys, helper
):
    histories, models = [], []
    for verbose in (True, False):
        torch.manual_seed(0)  # the same weights for both runs...
        model = TinyClassifier()
        separable_loaders[0].generator.manual_seed(0)  # ...and the same shuffles
        histories.append(helper(3, 0.1, model, *separable_loaders, verbose=verbose))
        models.append(model)
        out = capsys.readouterr().out
        assert ("Epoch 3:" in out) is verbose
    assert [entry["val_loss"] for entry in histories[0]] == [
        entry["val_loss"] for entry in histories[1]
    ]
    assert torch.equal(models[0].linear.weight, models[1].linear.weight)


@pytest.mark.parametrize("helper", [fit, fit_one_cycle])
def test_verbose_must_be_a_bool(tiny_model, separable_loaders, helper):
    with pytest.raises(TypeError, match=r"^verbose must be True or False, got int 1$"):
        helper(2, 0.1, tiny_model, *separable_loaders, verbose=1)
