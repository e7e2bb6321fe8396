import pytest
import torch
import torch.nn.functional as F
from conftest import TinyClassifier
from torch import nn

from course_utils import DeviceTensorLoader, evaluate
from course_utils.fastnet import (
    FastNet,
    TestTimeAugmentation,
    fit_fast,
    identity_conv,
    shift_only_batch_norm,
)
from course_utils.training import eval_mode


def test_identity_conv_passes_its_first_channels_through():
    images = torch.randn(2, 4, 8, 8)
    layer = identity_conv(4, 6)
    with torch.no_grad():
        output = layer(images)
    assert torch.equal(output[:, :4], images)
    # The extra channels are random and differ from one another, so they can learn apart.
    assert not torch.equal(output[:, 4], output[:, 5])


def test_identity_conv_to_fewer_channels_passes_the_first_ones_through():
    images = torch.randn(2, 6, 8, 8)
    with torch.no_grad():
        assert torch.equal(identity_conv(6, 4)(images), images[:, :4])


def test_shift_only_batch_norm_learns_only_its_shift():
    norm = shift_only_batch_norm(8)
    assert not norm.weight.requires_grad and norm.bias.requires_grad
    assert torch.equal(norm.weight, torch.ones(8)) and norm.momentum == 0.4


def correlated_images(count: int = 256) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    mixing = torch.randn(3, 3, generator=generator)
    # Correlated colour channels, and neighbouring pixels alike: far from white.
    noise = torch.randn(count, 3, 32, 32, generator=generator)
    images = torch.einsum("ij,njhw->nihw", mixing, noise)
    return images + images.roll(1, dims=-1)


def test_patch_whitening_gives_uncorrelated_unit_variance_features():
    images = correlated_images()
    model = FastNet((8, 8, 8))
    model.whiten_from(images, eps=0.0)
    with torch.no_grad():
        features = model.whiten(images)[:, :12].permute(1, 0, 2, 3).reshape(12, -1)
    assert torch.allclose(torch.cov(features), torch.eye(12), atol=0.05)
    # The other 12 filters are the negatives, and no filter is trained.
    assert torch.equal(model.whiten.weight[12:], -model.whiten.weight[:12])
    assert not model.whiten.weight.requires_grad


def test_whitening_in_chunks_and_under_autocast_gives_the_same_filters():
    images = correlated_images(64)
    whole, chunked = FastNet((8, 8, 8)), FastNet((8, 8, 8))
    whole.whiten_from(images, chunk_size=64)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        chunked.whiten_from(images, chunk_size=5)
    assert torch.allclose(whole.whiten.weight, chunked.whiten.weight, atol=1e-5)


@pytest.mark.parametrize(
    ("images", "message"),
    [
        (torch.zeros(4, 3, 32, 32, dtype=torch.uint8), "normalised float images"),
        (torch.zeros(3, 32, 32), "normalised float images"),
        (torch.zeros(4, 3, 1, 32), "at least 2 x 2 pixels"),
        (torch.zeros(0, 3, 32, 32), "at least 2 x 2 pixels"),
    ],
)
def test_whiten_from_refuses_what_it_cannot_whiten(images, message):
    with pytest.raises(ValueError, match=message):
        FastNet().whiten_from(images)


def test_fastnet_gives_logits_and_keeps_the_channels_last_layout():
    model = FastNet((8, 16, 32))
    assert model.groups[0][0].weight.is_contiguous(memory_format=torch.channels_last)
    logits = model(torch.randn(5, 3, 32, 32))
    assert logits.shape == (5, 10)
    assert (
        not FastNet(channels_last=False)
        .groups[0][0]
        .weight.is_contiguous(memory_format=torch.channels_last)
    )


@pytest.mark.parametrize("widths", [(8, 16), (8, 0, 16), (8, 16.5, 32)])
def test_fastnet_rejects_bad_widths(widths):
    with pytest.raises(ValueError, match="three positive"):
        FastNet(widths)


def test_fastnet_gives_the_same_logits_in_either_layout():
    torch.manual_seed(0)
    fast = FastNet((8, 8, 8)).eval()
    plain = FastNet((8, 8, 8), channels_last=False).eval()
    plain.load_state_dict(fast.state_dict())
    images = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(fast(images), plain(images), atol=1e-5)


def test_fastnet_scales_its_logits():
    torch.manual_seed(0)
    model = FastNet((8, 8, 8), output_scale=1.0).eval()
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        unscaled = model(images)
        model.output_scale = 1 / 9
        assert torch.allclose(model(images), unscaled / 9)


@pytest.mark.parametrize("label_smoothing", [-0.1, 1.0])
def test_fastnet_rejects_label_smoothing_outside_0_to_1(label_smoothing):
    with pytest.raises(ValueError, match="label_smoothing"):
        FastNet(label_smoothing=label_smoothing)


def test_fastnet_trains_on_smoothed_labels_and_validates_on_plain_ones():
    torch.manual_seed(0)
    model = FastNet((8, 8, 8), label_smoothing=0.1)
    images, labels = torch.randn(6, 3, 32, 32), torch.arange(6)
    model.eval()  # the same batch statistics for both losses
    with torch.no_grad():
        logits = model(images)
        smoothed = model.training_step((images, labels))
        plain = model.validation_step((images, labels))["val_loss"]
    assert smoothed == pytest.approx(float(F.cross_entropy(logits, labels, label_smoothing=0.1)))
    assert plain == pytest.approx(float(F.cross_entropy(logits, labels)))
    assert smoothed != pytest.approx(float(plain))


class RecordsViews(TinyClassifier):
    def __init__(self):
        super().__init__(in_features=3 * 4 * 4, num_classes=3)
        self.seen = []

    def forward(self, inputs):
        self.seen.append(inputs.clone())
        return super().forward(inputs.flatten(1))


def test_test_time_augmentation_averages_mirrored_and_shifted_views():
    images = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).view(2, 3, 4, 4)
    model = RecordsViews()
    logits = TestTimeAugmentation(model)(images)
    original, mirrored, shifted, shifted_mirrored = model.seen
    assert torch.equal(original, images) and torch.equal(mirrored, images.flip(-1))
    assert torch.equal(shifted[:, :, 1:, 1:], images[:, :, :-1, :-1])  # down and right by one
    assert torch.equal(shifted_mirrored, shifted.flip(-1))
    model.seen.clear()
    expected = torch.stack(
        [model(view) for view in (original, mirrored, shifted, shifted_mirrored)]
    )
    assert torch.allclose(logits, expected.mean(dim=0))
    model.seen.clear()
    TestTimeAugmentation(model, translate=False)(images)
    assert len(model.seen) == 2


def test_test_time_augmentation_shows_the_views_its_model_sees():
    images = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).view(2, 3, 4, 4)
    model = RecordsViews()
    wrapped = TestTimeAugmentation(model)
    views = wrapped.views(images)
    wrapped(images)
    assert len(views) == 4
    assert all(torch.equal(view, seen) for view, seen in zip(views, model.seen, strict=True))
    assert len(TestTimeAugmentation(model, translate=False).views(images)) == 2


def test_test_time_augmentation_works_with_evaluate_and_adds_no_weights():
    torch.manual_seed(0)
    model = FastNet((8, 8, 8))
    wrapped = TestTimeAugmentation(model)
    assert list(wrapped.parameters()) == list(model.parameters())
    images, labels = torch.randn(8, 3, 32, 32), torch.arange(8)
    loader = DeviceTensorLoader(images, labels, batch_size=4)
    result = evaluate(wrapped, loader)
    with eval_mode(model):
        shifted = F.pad(images, (1, 0, 1, 0), mode="reflect")[..., :-1, :-1]
        views = (images, images.flip(-1), shifted, shifted.flip(-1))
        logits = torch.stack([model(view) for view in views]).mean(dim=0)
    assert result["val_loss"] == pytest.approx(float(F.cross_entropy(logits, labels)), rel=1e-5)
    assert model.training  # evaluate put the wrapped model back in training mode


def test_test_time_augmentation_refuses_to_be_trained():
    wrapped = TestTimeAugmentation(FastNet((8, 8, 8)))
    with pytest.raises(TypeError, match="train the model it wraps"):
        wrapped.training_step((torch.randn(2, 3, 32, 32), torch.arange(2)))


def blob_loaders():
    """Class 0 dark images, class 1 bright ones: learnable in a few steps."""
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(64) % 2
    images = torch.randn(64, 3, 32, 32, generator=generator) + (labels * 2.0 - 1).view(-1, 1, 1, 1)
    train = DeviceTensorLoader(images, labels, batch_size=16, shuffle=True, generator=generator)
    return train, DeviceTensorLoader(images, labels, batch_size=32)


def test_fit_fast_learns_on_a_triangular_schedule(capsys):
    torch.manual_seed(0)
    model = FastNet((8, 8, 8))
    model.whiten_from(torch.randn(16, 3, 32, 32))
    frozen = model.whiten.weight.clone()
    train_loader, val_loader = blob_loaders()
    history = fit_fast(5, 0.4, model, train_loader, val_loader, warm_up=0.25)
    lrs = [lr for epoch in history for lr in epoch["lrs"]]
    assert len(lrs) == 20 and lrs[0] == pytest.approx(0.4 / 5)  # 5 rising steps
    assert lrs.index(max(lrs)) == 4 and max(lrs) == pytest.approx(0.4)
    assert all(a < b for a, b in zip(lrs[:4], lrs[1:5], strict=True))
    assert all(a > b for a, b in zip(lrs[4:], lrs[5:], strict=False))
    assert lrs[-1] == pytest.approx(0.4 / 16)
    assert history[-1]["val_acc"] >= 0.95
    assert torch.equal(model.whiten.weight, frozen)
    assert "Epoch 5:" in capsys.readouterr().out


@pytest.mark.parametrize("num_batches", [1, 2, 3])
def test_fit_fast_trains_even_on_a_very_short_run(num_batches):
    torch.manual_seed(0)
    model = TinyClassifier()
    before = [parameter.clone() for parameter in model.parameters()]
    images, labels = torch.randn(num_batches * 4, 2), torch.arange(num_batches * 4) % 2
    train_loader = DeviceTensorLoader(images, labels, batch_size=4)
    history = fit_fast(1, 0.1, model, train_loader, train_loader)
    assert len(history[0]["lrs"]) == num_batches
    assert all(lr > 0 for lr in history[0]["lrs"])
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_fit_fast_gives_frozen_parameters_to_no_optimizer(separable_loaders, monkeypatch):
    model = TinyClassifier()
    frozen = model.linear.bias
    frozen.requires_grad_(False)
    given = []
    real_sgd = torch.optim.SGD

    def recording_sgd(groups, **options):
        given.extend(p for group in groups for p in group["params"])
        return real_sgd(groups, **options)

    monkeypatch.setattr(torch.optim, "SGD", recording_sgd)
    fit_fast(1, 0.1, model, *separable_loaders)
    assert given and all(p is not frozen for p in given)


class UnusedParameters(TinyClassifier):
    """A tiny classifier with a matrix and a vector whose gradients are always zero."""

    def __init__(self):
        super().__init__()
        self.unused_matrix = nn.Parameter(torch.ones(2, 2))
        self.unused_vector = nn.Parameter(torch.ones(2))

    def forward(self, inputs):
        # Times zero: the parameters get gradients of 0, so only weight decay moves them.
        return super().forward(inputs) + 0 * (self.unused_matrix.sum() + self.unused_vector.sum())


def test_fit_fast_decays_weight_matrices_but_not_vectors(separable_loaders):
    model = UnusedParameters()
    fit_fast(2, 0.5, model, *separable_loaders, weight_decay=0.1)
    assert (model.unused_matrix < 1).all()
    assert torch.equal(model.unused_vector.detach(), torch.ones(2))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"warm_up": 1.0}, "warm_up is a fraction"),
        ({"momentum": 0.0}, "momentum must be positive"),
        ({"momentum": 1.0}, "momentum must be below 1"),
        ({"weight_decay": -1.0}, "weight_decay must not be negative"),
    ],
)
def test_fit_fast_rejects_bad_arguments(tiny_model, separable_loaders, kwargs, message):
    with pytest.raises(ValueError, match=message):
        fit_fast(1, 0.1, tiny_model, *separable_loaders, **kwargs)


def test_fit_fast_needs_something_to_train(tiny_model, separable_loaders):
    tiny_model.requires_grad_(False)
    with pytest.raises(ValueError, match="no parameters with requires_grad"):
        fit_fast(1, 0.1, tiny_model, *separable_loaders)


def test_whitening_filters_take_the_layers_dtype():
    model = FastNet((8, 8, 8)).double()
    model.whiten_from(correlated_images(8))
    assert model.whiten.weight.dtype == torch.float64
    assert torch.isfinite(model.whiten.weight).all()
