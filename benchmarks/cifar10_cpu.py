"""Fast CIFAR-10 on a CPU: the course's CPU recipe against lesson 05's, under one time budget.

Most learners train on a CPU. This script trains two recipes in one run and prints,
for each, the accuracy reached within a training-time budget (default 300 s), the
training time to reach 80%, and the ratio of the two recipes' times:

- ``lesson``: lesson 05's ResNet-9 at width 16 with its ``fit_one_cycle`` settings
  (Adam, peak learning rate 0.01, weight decay 1e-4, gradient clipping 0.1, batches
  of 128, random crops and flips), for ``--lesson-epochs`` epochs;
- ``fast``: the course's CPU recipe, ``FastNet`` trained by ``train_fast`` (the ideas
  are listed in ``FastNet``'s docstring and explained in benchmarks/RESULTS.md).

Timing: the clock covers the training epochs and any test-time augmentation.
Decoding the data, process start and ``torch.compile`` warm-up are printed
separately, and so are the evaluations after each epoch, which are not timed.
Threads are set with ``--threads`` and printed.

Choose hyperparameters with ``--split val`` (45,000 training images, 5,000 held out,
as lesson 05 splits them); report with ``--split test`` (all 50,000 training images,
scored on the 10,000 test images).

    python benchmarks/cifar10_cpu.py                           # both recipes, 300 s, test set
    python benchmarks/cifar10_cpu.py --recipes fast --seeds 3  # the 3-seed figure
    python benchmarks/cifar10_cpu.py --split val --recipes fast --width 24 48 96 --epochs 9
    python benchmarks/cifar10_cpu.py --split val --recipes fast --epochs 3 --without whitening
    python benchmarks/cifar10_cpu.py --throughput --bf16       # training images per second
    python benchmarks/cifar10_cpu.py --smoke                   # a few hundred images
"""

from __future__ import annotations

import argparse
import statistics
import time

PROCESS_START = time.perf_counter()

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from cifar10_speedrun import load_cifar10  # noqa: E402
from torch import nn  # noqa: E402

from course_utils import DeviceTensorLoader, ImageClassificationBase, fit_one_cycle  # noqa: E402
from course_utils.augment import batch_transform, random_crop, random_horizontal_flip  # noqa: E402
from course_utils.training import eval_mode  # noqa: E402

MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)


# --- data ---------------------------------------------------------------------------


def split_data(data: dict[str, torch.Tensor], split: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """``train_*`` and ``eval_*`` tensors: 45,000/5,000 of the training set, or train/test."""
    if split == "test":
        return {
            "train_images": data["train_images"],
            "train_labels": data["train_labels"],
            "eval_images": data["test_images"],
            "eval_labels": data["test_labels"],
        }
    order = torch.randperm(len(data["train_images"]), generator=torch.Generator().manual_seed(seed))
    held_out = len(order) // 10
    train, held = order[held_out:], order[:held_out]
    return {
        "train_images": data["train_images"][train],
        "train_labels": data["train_labels"][train],
        "eval_images": data["train_images"][held],
        "eval_labels": data["train_labels"][held],
    }


def normalise(images: torch.Tensor, channels_last: bool) -> torch.Tensor:
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    normalised = (images.float() / 255 - mean) / std
    return normalised.contiguous(memory_format=torch.channels_last) if channels_last else normalised


# --- the fast recipe ------------------------------------------------------------------


def conv(in_channels: int, out_channels: int) -> nn.Conv2d:
    layer = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False)
    # Identity initialisation: the first channels pass their input through unchanged,
    # so a deep stack starts close to a shallow one and trains at once.
    with torch.no_grad():
        nn.init.dirac_(layer.weight[: min(in_channels, out_channels)])
    return layer


def batch_norm(channels: int) -> nn.BatchNorm2d:
    # High momentum (fresh statistics for a short training); the scale is frozen at 1
    # and only the shift is learned, which steadies training at high learning rates.
    norm = nn.BatchNorm2d(channels, momentum=0.4, eps=1e-12)
    norm.weight.requires_grad = False
    return norm


class ConvGroup(nn.Module):
    """conv 3x3 -> max-pool 2 -> BN -> GELU -> conv 3x3 -> BN -> GELU (airbench's block)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.layers = nn.Sequential(
            conv(in_channels, out_channels),
            nn.MaxPool2d(2),
            batch_norm(out_channels),
            nn.GELU(),
            conv(out_channels, out_channels),
            batch_norm(out_channels),
            nn.GELU(),
        )

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.layers(inputs)


class FastNet(nn.Module):
    """A small airbench-style network for a CPU budget.

    - A 2x2 patch-whitening first layer: its 24 filters are the eigenvectors of the
      covariance of 2x2 training patches, scaled to unit variance (and their
      negatives), computed from data and frozen (``whiten_from``).
    - Three conv groups of widths ``widths``, each halving the image.
    - A max-pool over what is left, a linear layer, and a fixed output scale.
    """

    def __init__(self, widths: tuple[int, int, int], scale: float = 1 / 9):
        super().__init__()
        self.whiten = nn.Conv2d(3, 24, kernel_size=2, padding=0, bias=True)
        self.whiten.weight.requires_grad = False
        self.groups = nn.Sequential(
            ConvGroup(24, widths[0]),
            ConvGroup(widths[0], widths[1]),
            ConvGroup(widths[1], widths[2]),
        )
        self.head = nn.Linear(widths[2], 10, bias=False)
        self.scale = scale

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = self.groups(F.gelu(self.whiten(images)))
        return self.head(features.amax(dim=(2, 3))) * self.scale

    @torch.no_grad()
    def whiten_from(self, images: torch.Tensor, eps: float = 5e-4) -> None:
        """Set the first layer from normalised training ``images`` (N, 3, 32, 32)."""
        patches = F.unfold(images.float(), kernel_size=2).transpose(1, 2).reshape(-1, 12)
        patches = patches - patches.mean(dim=0)
        covariance = patches.T @ patches / len(patches)
        eigenvalues, eigenvectors = torch.linalg.eigh(covariance)
        filters = (eigenvectors / torch.sqrt(eigenvalues + eps)).T.reshape(12, 3, 2, 2)
        self.whiten.weight.copy_(torch.cat([filters, -filters]))
        self.whiten.bias.zero_()


def predict_logits(model: nn.Module, images: torch.Tensor, tta: str) -> torch.Tensor:
    """Logits for normalised ``images``, averaged over test-time augmentations.

    ``flip``: the image and its mirror. ``flip-translate``: also both shifted by one
    pixel (padding by reflection), 4 views in all.
    """
    logits = model(images)
    if tta in ("flip", "flip-translate"):
        logits = logits + model(images.flip(-1))
    if tta == "flip-translate":
        shifted = F.pad(images, (1, 0, 1, 0), mode="reflect")[:, :, :-1, :-1]
        logits = logits + model(shifted) + model(shifted.flip(-1))
    return logits


def accuracy(model, images, labels, args, tta: str = "none") -> float:
    correct = 0
    with eval_mode(model), torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
        for start in range(0, len(images), 1000):
            batch = normalise(images[start : start + 1000], args.channels_last)
            logits = predict_logits(model, batch, tta)
            correct += (logits.argmax(dim=1) == labels[start : start + 1000]).sum().item()
    return correct / len(images)


def train_fast(data: dict[str, torch.Tensor], args, seed: int) -> list[dict]:
    """Train ``FastNet``; one dict per epoch: timed seconds so far and accuracy."""
    torch.manual_seed(seed)
    model = FastNet(tuple(args.width))
    if "whitening" in args.without:  # an ordinary, trained first layer instead
        model.whiten.weight.requires_grad = True
    else:
        model.whiten_from(normalise(data["train_images"][:5000], channels_last=False))
    for layer in model.groups.modules():
        if isinstance(layer, nn.Conv2d) and "identity-init" in args.without:
            layer.reset_parameters()  # PyTorch's default (Kaiming-uniform) initialisation
        if isinstance(layer, nn.BatchNorm2d) and "frozen-bn-scale" in args.without:
            layer.weight.requires_grad = True
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
    steps_per_epoch = len(data["train_images"]) // args.batch_size
    total_steps = args.epochs * steps_per_epoch
    weights = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]
    others = [p for p in model.parameters() if p.requires_grad and p.ndim <= 1]
    optimizer = torch.optim.SGD(
        [{"params": weights, "weight_decay": args.weight_decay}, {"params": others}],
        lr=args.lr,
        momentum=0.85,
        nesterov=True,
    )
    warm_up = args.warm_up * total_steps
    schedule = torch.optim.lr_scheduler.LambdaLR(  # a triangle: up, then down to zero
        optimizer, lambda step: min(step / warm_up, (total_steps - step) / (total_steps - warm_up))
    )
    step_model = model
    if args.compile:
        step_model = torch.compile(model)
        started = time.perf_counter()
        saved = {name: value.clone() for name, value in model.state_dict().items()}
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            batch = normalise(data["train_images"][: args.batch_size], args.channels_last)
            step_model(batch).sum().backward()
        model.load_state_dict(saved)
        model.zero_grad(set_to_none=True)
        print(f"    compile warm-up: {time.perf_counter() - started:.1f} s (not timed)")
    history, timed = [], 0.0
    for epoch in range(args.epochs):
        started = time.perf_counter()
        order = torch.randperm(len(data["train_images"]))
        for step in range(steps_per_epoch):
            index = order[step * args.batch_size : (step + 1) * args.batch_size]
            images = random_horizontal_flip(random_crop(data["train_images"][index], padding=2))
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
                logits = step_model(normalise(images, args.channels_last))
                loss = F.cross_entropy(
                    logits, data["train_labels"][index], label_smoothing=args.label_smoothing
                )
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            schedule.step()
        timed += time.perf_counter() - started
        last = epoch == args.epochs - 1
        tta = args.tta if last else "none"
        started = time.perf_counter()
        score = accuracy(model, data["eval_images"], data["eval_labels"], args, tta)
        if last and tta != "none":  # test-time augmentation is part of the timed run
            timed += time.perf_counter() - started
        history.append({"epoch": epoch + 1, "seconds": timed, "accuracy": score, "tta": tta})
        print(f"    epoch {epoch + 1}: accuracy {score:.4f} ({tta} TTA), timed {timed:.1f} s")
        if last and tta != "none":  # what TTA adds, measured on the same weights (not timed)
            plain = accuracy(model, data["eval_images"], data["eval_labels"], args)
            print(f"    the same weights without TTA: accuracy {plain:.4f}")
    return history


# --- lesson 05's recipe -----------------------------------------------------------------


def conv_block(in_channels: int, out_channels: int, pool: bool = False) -> nn.Sequential:
    """Lesson 05's conv_block, as the lesson defines it."""
    layers = [
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    ]
    if pool:
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


class ResidualBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(conv_block(channels, channels), conv_block(channels, channels))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs + self.body(inputs)


class LessonResNet9(ImageClassificationBase):
    """Lesson 05's ResNet9 (tests/test_benchmarks.py checks the two stay the same)."""

    def __init__(self, width: int = 64, num_classes: int = 10):
        super().__init__()
        self.layers = nn.Sequential(
            conv_block(3, width),
            conv_block(width, 2 * width, pool=True),
            ResidualBlock(2 * width),
            conv_block(2 * width, 4 * width, pool=True),
            conv_block(4 * width, 8 * width, pool=True),
            ResidualBlock(8 * width),
            nn.AdaptiveMaxPool2d(1),
            nn.Flatten(),
            nn.Linear(8 * width, num_classes),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.layers(images)


def train_lesson(data: dict[str, torch.Tensor], args, seed: int) -> list[dict]:
    """Lesson 05's ResNet section on a CPU, through the course's own ``fit_one_cycle``."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    augment = batch_transform(MEAN, STD, crop_padding=4, flip=True)
    train_loader = DeviceTensorLoader(
        data["train_images"],
        data["train_labels"],
        batch_size=128,
        shuffle=True,
        generator=generator,
        transform=augment,
    )
    eval_loader = DeviceTensorLoader(
        data["eval_images"],
        data["eval_labels"],
        batch_size=500,
        transform=batch_transform(MEAN, STD),
    )
    model = LessonResNet9(16)
    history = fit_one_cycle(
        args.lesson_epochs,
        0.01,
        model,
        train_loader,
        eval_loader,
        weight_decay=1e-4,
        grad_clip=0.1,
        opt_func=torch.optim.Adam,
    )
    timed, epochs = 0.0, []
    for number, epoch in enumerate(history, start=1):
        timed += epoch["train_seconds"]
        epochs.append(
            {"epoch": number, "seconds": timed, "accuracy": epoch["val_acc"], "tta": "none"}
        )
    return epochs


def throughput(args, steps: int = 12) -> None:
    """Print training images per second of both networks at these settings (random data)."""
    images = torch.randint(0, 256, (args.batch_size, 3, 32, 32), dtype=torch.uint8)
    labels = torch.randint(0, 10, (args.batch_size,))
    models = {"fast": FastNet(tuple(args.width)), "lesson": LessonResNet9(16)}
    for name, model in models.items():
        if args.channels_last:
            model = model.to(memory_format=torch.channels_last)
        step_model = torch.compile(model) if args.compile else model
        optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01)
        for step in range(steps + 2):  # two steps of warm-up (and compiling)
            if step == 2:
                started = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
                loss = F.cross_entropy(step_model(normalise(images, args.channels_last)), labels)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        rate = steps * args.batch_size / (time.perf_counter() - started)
        print(
            f"throughput {name}: {rate:.0f} training images/s (batch {args.batch_size}, "
            f"bf16 {args.bf16}, channels-last {args.channels_last}, compile {args.compile})"
        )


# --- reporting ------------------------------------------------------------------------


def summarise(history: list[dict], budget: float) -> dict:
    """Accuracy within the budget, time to 80%, and the final figures of one run."""
    within = [epoch for epoch in history if epoch["seconds"] <= budget]
    reached = [epoch["seconds"] for epoch in history if epoch["accuracy"] >= 0.80]
    return {
        "at_budget": within[-1]["accuracy"] if within else float("nan"),
        "time_to_80": reached[0] if reached else None,
        "final": history[-1]["accuracy"],
        "seconds": history[-1]["seconds"],
    }


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="CIFAR-10 on a CPU (see the module docstring)")
    parser.add_argument("--recipes", default="fast,lesson", help="comma-separated: fast, lesson")
    parser.add_argument("--budget", type=float, default=300.0, help="training seconds")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--split", choices=["val", "test"], default="test")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--width", type=int, nargs=3, default=[32, 64, 128])
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--lr", type=float, default=2.0, help="peak learning rate")
    parser.add_argument("--warm-up", type=float, default=0.2, help="fraction of the steps")
    parser.add_argument("--weight-decay", type=float, default=5e-4)
    parser.add_argument("--label-smoothing", type=float, default=0.2)
    parser.add_argument(
        "--tta", choices=["none", "flip", "flip-translate"], default="flip-translate"
    )
    # float32 is the default: on the 2-core Xeon measured, bfloat16 autocast was slower.
    parser.add_argument("--bf16", action="store_true", help="bfloat16 autocast")
    parser.add_argument("--no-channels-last", dest="channels_last", action="store_false")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument(
        "--without",
        nargs="*",
        default=[],
        choices=["whitening", "identity-init", "frozen-bn-scale"],
        help="leave out one or more of the fast recipe's ideas (one at a time to see each)",
    )
    parser.add_argument("--lesson-epochs", type=int, default=4)
    parser.add_argument("--smoke", action="store_true", help="512 images, 1 epoch each")
    parser.add_argument(
        "--throughput", action="store_true", help="only time training steps of both networks"
    )
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.smoke:
        args.epochs, args.lesson_epochs, args.seeds = 1, 1, 1
    torch.set_num_threads(args.threads)
    if args.throughput:
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
        throughput(args)
        return
    started = time.perf_counter()
    data = split_data(load_cifar10(args.smoke), "test" if args.smoke else args.split)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"data decoded and split: {time.perf_counter() - started:.1f} s (not timed)")
    print(f"process start to data ready: {time.perf_counter() - PROCESS_START:.1f} s (not timed)")
    print(
        f"{len(data['train_images'])} training images, {len(data['eval_images'])} "
        f"{'test' if args.split == 'test' else 'validation'} images; budget {args.budget:.0f} s"
    )
    trainers = {"fast": train_fast, "lesson": train_lesson}
    results = {}
    for recipe in args.recipes.split(","):
        if recipe == "fast":
            settings = (
                f"widths {args.width}, {args.epochs} epochs, batch {args.batch_size}, "
                f"lr {args.lr}, bf16 {args.bf16}, channels-last {args.channels_last}, "
                f"TTA {args.tta}, without {args.without or 'nothing'}"
            )
        else:
            settings = f"ResNet-9 width 16, {args.lesson_epochs} epochs, as in lesson 05"
        print(f"{recipe}: {settings}")
        runs = []
        for seed in range(args.seeds):
            print(f"  seed {seed}:")
            runs.append(summarise(trainers[recipe](data, args, seed), args.budget))
        results[recipe] = runs
    report(results, args.budget)


def report(results: dict[str, list[dict]], budget: float) -> None:
    print("\nrecipe   seeds  accuracy within budget  final accuracy  timed seconds  time to 80%")
    times = {}
    for recipe, runs in results.items():
        reached = [run["time_to_80"] for run in runs]
        times[recipe] = statistics.mean(reached) if None not in reached else None
        print(
            f"{recipe:8} {len(runs):5}  {statistics.mean(r['at_budget'] for r in runs):22.4f}"
            f"  {statistics.mean(r['final'] for r in runs):14.4f}"
            f"  {statistics.mean(r['seconds'] for r in runs):13.1f}"
            f"  {'never' if times[recipe] is None else f'{times[recipe]:.1f} s':>11}"
        )
        if len(runs) > 1:
            finals = [r["final"] for r in runs]
            print(f"         per seed: {', '.join(f'{a:.4f}' for a in finals)}")
    if times.get("fast") and times.get("lesson"):
        print(f"time to 80%, lesson / fast: {times['lesson'] / times['fast']:.2f}x")
    print(f"budget: {budget:.0f} s of training (TTA included)")


if __name__ == "__main__":
    main()
