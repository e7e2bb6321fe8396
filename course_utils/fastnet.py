"""A CIFAR-10 network and training recipe sized for a CPU (lesson 05, benchmarks/cifar10_cpu.py).

Lesson 05 trains ResNet-9 (narrow on a CPU, full size on a GPU); its Appendix A builds
``FastNet`` untrained, one idea at a time, for a CPU with a couple of cores, which needs a
network that does less work per image and a recipe that learns in few epochs;
benchmarks/cifar10_cpu.py trains it. The ideas
come from Keller Jordan's airbench (arXiv 2404.00498); each is a few lines below, and
benchmarks/RESULTS.md records what each was measured to be worth on a 2-core CPU:

- ``FastNet``: a frozen patch-whitening first layer (``whiten_from``), identity-initialised
  convolutions (``identity_conv``), batch normalisation with a frozen scale
  (``shift_only_batch_norm``), GELU, a small output scale, the channels-last layout, and
  label smoothing in its training step;
- ``fit_fast``: SGD with Nesterov momentum, a triangular learning-rate schedule with a
  high peak, and weight decay on the weights only;
- ``TestTimeAugmentation``: averaged predictions over mirrored and shifted copies.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .training import (
    History,
    ImageClassificationBase,
    _check_number,
    _check_training_arguments,
    _train,
)

__all__ = [
    "ConvGroup",
    "FastNet",
    "TestTimeAugmentation",
    "fit_fast",
    "identity_conv",
    "shift_only_batch_norm",
]

WHITENING_CHANNELS = 24  # 12 patch directions (2 x 2 pixels x 3 colours) and their negatives


def identity_conv(in_channels: int, out_channels: int) -> nn.Conv2d:
    """A 3x3 convolution (padding 1, no bias) that starts as the identity on its first channels.

    Output channel ``i`` starts as a copy of input channel ``i`` (PyTorch's ``dirac_``
    initialisation) for as many channels as both sides have; any further output
    channels keep PyTorch's random initialisation, so they start different from each
    other. A stack of such layers starts out passing the image through, like a shallow
    network, and learns corrections from there: the job residual additions do in
    ResNet-9. Introduced in lesson 05.
    """
    layer = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False)
    with torch.no_grad():
        nn.init.dirac_(layer.weight[: min(in_channels, out_channels)])
    return layer


def shift_only_batch_norm(channels: int, momentum: float = 0.4) -> nn.BatchNorm2d:
    """``BatchNorm2d`` whose scale stays 1: only its shift is learned.

    With a frozen scale the optimizer has fewer ways to grow the activations, which
    steadies training at a high learning rate. A momentum of 0.4 (PyTorch's default is
    0.1) lets the running statistics keep up with a network that changes fast in a short
    training. Introduced in lesson 05.
    """
    norm = nn.BatchNorm2d(channels, momentum=momentum, eps=1e-12)
    norm.weight.requires_grad = False
    return norm


class ConvGroup(nn.Sequential):
    """conv 3x3, max-pool 2, batch norm, GELU, conv 3x3, batch norm, GELU: halves the image.

    Introduced in lesson 05.
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(
            identity_conv(in_channels, out_channels),
            nn.MaxPool2d(2),
            shift_only_batch_norm(out_channels),
            nn.GELU(),
            identity_conv(out_channels, out_channels),
            shift_only_batch_norm(out_channels),
            nn.GELU(),
        )


class FastNet(ImageClassificationBase):
    """A small airbench-style CIFAR-10 classifier for a CPU budget.

    A 2x2 convolution with 24 frozen filters (set by ``whiten_from``; its bias starts
    at 0 and is trained), then GELU, three conv groups (``ConvGroup``) of ``widths``
    channels (32 -> 31 -> 15 -> 7 -> 3 pixels), the largest value of each channel, and
    a linear layer whose logits are multiplied by ``output_scale`` (small logits at the
    start, so the first steps at a high learning rate stay tame). ``training_step``
    uses label smoothing (``label_smoothing``); validation uses the plain
    cross-entropy, comparable with other models'.

    With ``channels_last`` (the default) the weights and every input batch are kept in
    the channels-last layout: in one throughput run on a 2-core CPU (random images, batch
    512) it trained 1,251 images a second against 849 contiguous (benchmarks/RESULTS.md,
    "What helped and what did not"; not measured on a GPU). Inputs are normalised
    images ``(N, 3, 32, 32)``. Introduced in lesson 05.
    """

    def __init__(
        self,
        widths: Sequence[int] = (32, 64, 128),
        num_classes: int = 10,
        *,
        label_smoothing: float = 0.2,
        output_scale: float = 1 / 9,
        channels_last: bool = True,
    ):
        super().__init__()
        if len(widths) != 3 or any(
            isinstance(width, bool) or not isinstance(width, int) or width <= 0 for width in widths
        ):
            raise ValueError(f"widths must be three positive channel counts, got {widths!r}")
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing!r}")
        self.whiten = nn.Conv2d(3, WHITENING_CHANNELS, kernel_size=2, bias=True)
        self.whiten.weight.requires_grad = False  # computed from data, never trained
        self.groups = nn.Sequential(
            ConvGroup(WHITENING_CHANNELS, widths[0]),
            ConvGroup(widths[0], widths[1]),
            ConvGroup(widths[1], widths[2]),
        )
        self.head = nn.Linear(widths[2], num_classes, bias=False)
        self.label_smoothing = label_smoothing
        self.output_scale = output_scale
        self.channels_last = channels_last
        if channels_last:
            self.to(memory_format=torch.channels_last)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        features = self.groups(F.gelu(self.whiten(images)))
        return self.head(features.amax(dim=(2, 3))) * self.output_scale

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """The mean cross-entropy of one batch against label-smoothed targets."""
        images, labels = batch
        return F.cross_entropy(self(images), labels, label_smoothing=self.label_smoothing)

    @torch.no_grad()
    def whiten_from(self, images: torch.Tensor, eps: float = 5e-4, chunk_size: int = 500) -> None:
        """Set the first layer's filters from normalised training ``images`` (N, 3, H, W).

        Every 2x2 patch of 3 colours is a point in 12 dimensions. The filters are the
        eigenvectors of those points' covariance, each divided by the spread along it
        (and their negatives, so GELU keeps both signs): the layer's outputs are
        uncorrelated, with equal variance, on the training images. The covariance is
        summed ``chunk_size`` images at a time, on the CPU in float64 (outside any
        autocast), so memory stays small and the result exact enough; the filters are
        then copied to the layer's device. The bias is set to 0. Returns nothing.
        """
        if images.ndim != 4 or images.shape[1] != 3 or not images.is_floating_point():
            raise ValueError(
                "whiten_from expects normalised float images (N, 3, H, W), got "
                f"{images.dtype} {tuple(images.shape)}"
            )
        if len(images) == 0 or min(images.shape[2:]) < 2:
            raise ValueError(
                f"whiten_from needs images of at least 2 x 2 pixels, got {tuple(images.shape)}"
            )
        total = torch.zeros(12, dtype=torch.float64)
        products = torch.zeros(12, 12, dtype=torch.float64)
        count = 0
        with torch.autocast("cpu", enabled=False):
            for chunk in images.split(chunk_size):
                # On the CPU: float64 is exact enough here, and MPS has no float64.
                chunk = chunk.to("cpu", torch.float64)
                patches = F.unfold(chunk, kernel_size=2).transpose(1, 2).reshape(-1, 12)
                total += patches.sum(dim=0)
                products += patches.T @ patches
                count += len(patches)
            mean = total / count
            covariance = products / count - torch.outer(mean, mean)
            eigenvalues, eigenvectors = torch.linalg.eigh(covariance)
            scale = torch.sqrt(eigenvalues.clamp_min(0) + eps)
        filters = (eigenvectors / scale).T.reshape(12, 3, 2, 2)
        self.whiten.weight.copy_(torch.cat([filters, -filters]))  # copy_ casts and moves
        self.whiten.bias.zero_()


class TestTimeAugmentation(ImageClassificationBase):
    """Wrap a classifier so it predicts from the mean logits of augmented copies of the input.

    The copies are the image and its mirror image, and with ``translate`` (the default)
    both again shifted down and right by one pixel (the top row and left column are
    reflected in): 4 views, so predicting costs 4 forward passes. Inputs are batches
    ``(N, C, H, W)`` of at least 2 x 2 pixels. Works with ``evaluate``, ``predict`` and
    anything else that calls the model; it has no weights of its own and is not for
    training: train the model it wraps. Introduced in lesson 05.
    """

    __test__ = False  # not a pytest test class, despite its name

    def __init__(self, model: nn.Module, translate: bool = True):
        super().__init__()
        self.model = model
        self.translate = translate

    def views(self, images: torch.Tensor) -> list[torch.Tensor]:
        """The batches the wrapped model sees: ``images``, mirrored, and (with ``translate``)
        both shifted down and right by one pixel; each the shape of ``images``."""
        views = [images, images.flip(-1)]
        if self.translate:
            shifted = F.pad(images, (1, 0, 1, 0), mode="reflect")[..., :-1, :-1]
            views += [shifted, shifted.flip(-1)]
        return views

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.stack([self.model(view) for view in self.views(images)]).mean(dim=0)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        raise TypeError(
            "TestTimeAugmentation is for predicting; train the model it wraps "
            "(its .model), then wrap it"
        )


def fit_fast(
    epochs: int,
    max_lr: float,
    model: nn.Module,
    train_loader: Iterable,
    val_loader: Iterable,
    *,
    weight_decay: float = 5e-4,
    momentum: float = 0.85,
    warm_up: float = 0.2,
) -> History:
    """Train ``model`` with the fast CPU recipe; return its history, as ``fit_one_cycle`` does.

    SGD with Nesterov momentum (each step takes the gradient where the momentum is
    about to carry the weights). The learning rate rises in a straight line to
    ``max_lr`` over the first ``warm_up`` fraction of the steps (at least one), then
    falls in a straight line towards 0 (the last step still runs at a small fraction
    of ``max_lr``, so even a one-step run trains). ``weight_decay`` applies to the
    weight matrices and filters only, not to biases or batch-norm shifts. Only
    parameters with ``requires_grad`` are given to the optimizer. Each epoch's dict
    has the keys of ``fit_one_cycle``'s, ``lrs`` included; argument checks, non-finite
    losses and interruptions work as in ``fit``. Introduced in lesson 05.
    """
    epochs, max_lr, num_batches = _check_training_arguments(
        model, epochs, max_lr, "max_lr", train_loader, val_loader
    )
    weight_decay = _check_number("weight_decay", weight_decay, minimum=0.0, allow_minimum=True)
    momentum = _check_number("momentum", momentum, minimum=0.0)
    if momentum >= 1.0:
        raise ValueError(f"momentum must be below 1, got {momentum!r}")
    warm_up = _check_number("warm_up", warm_up, minimum=0.0)
    if warm_up >= 1.0:
        raise ValueError(f"warm_up is a fraction of the steps, below 1, got {warm_up!r}")
    trained = [parameter for parameter in model.parameters() if parameter.requires_grad]
    if not trained:
        raise ValueError("the model has no parameters with requires_grad=True to train")
    optimizer = torch.optim.SGD(
        [
            {"params": [p for p in trained if p.ndim > 1], "weight_decay": weight_decay},
            {"params": [p for p in trained if p.ndim <= 1], "weight_decay": 0.0},
        ],
        lr=max_lr,
        momentum=momentum,
        nesterov=True,
    )
    total_steps = epochs * num_batches
    rising_steps = max(round(warm_up * total_steps), 1)  # the last of them runs at max_lr

    def triangle(step: int) -> float:  # the multiple of max_lr for step 0, 1, ...
        if step < rising_steps:
            return (step + 1) / rising_steps
        return (total_steps - step) / (total_steps - rising_steps + 1)

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, triangle)
    return _train(epochs, model, train_loader, val_loader, optimizer, num_batches, scheduler)
