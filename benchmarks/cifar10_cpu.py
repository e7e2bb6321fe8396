"""Fast CIFAR-10 on a CPU: the course's CPU recipe against lesson 05's, under one time budget.

Most learners train on a CPU. This script trains two recipes in one run and prints,
for each, the accuracy reached within a training-time budget (default 300 s), the
training time to reach 80%, and the ratio of the two recipes' times:

- ``lesson``: lesson 05's ResNet-9 (the lesson's own class, run from
  notebooks/05_cifar10_cnn.py) at width 16 with its ``fit_one_cycle`` settings
  (Adam, peak learning rate 0.01, weight decay 1e-4, gradient clipping 0.1, batches
  of 128, random crops and flips), for ``--lesson-epochs`` epochs;
- ``fast``: the course's CPU recipe, lesson 05's on a CPU: ``course_utils.fastnet``'s
  ``FastNet`` trained by ``fit_fast``, then scored with ``TestTimeAugmentation`` (the
  ideas are listed in that module's docstring and measured in benchmarks/RESULTS.md).

Timing: the clock covers the training epochs and any test-time augmentation.
Decoding the data, process start and ``torch.compile`` warm-up are printed
separately, and so are the evaluations after each epoch, which are not timed. Each
epoch prints two lines: the course's training loop's own ("Epoch N: ... (S s)", whose
seconds include that evaluation), then the benchmark's ("epoch N: accuracy ...,
timed T s", the timed seconds so far). Threads are set with ``--threads`` and printed.

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
import sys
import time
from pathlib import Path

PROCESS_START = time.perf_counter()
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for instructor/, which is not installed

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from cifar10_speedrun import load_cifar10  # noqa: E402
from torch import nn  # noqa: E402

from course_utils import DeviceTensorLoader, evaluate, fit_one_cycle  # noqa: E402
from course_utils.augment import batch_transform, normalize  # noqa: E402
from course_utils.fastnet import FastNet, TestTimeAugmentation, fit_fast  # noqa: E402
from instructor.lessons import lesson_definitions  # noqa: E402

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


def timed_epochs(history: list[dict], note: str = "") -> list[dict]:
    """One dict per epoch of a course history: training seconds so far and accuracy.

    Prints a line per epoch; the evaluations after each epoch are not in the seconds.
    """
    epochs, timed = [], 0.0
    for number, epoch in enumerate(history, start=1):
        timed += epoch["train_seconds"]
        epochs.append({"epoch": number, "seconds": timed, "accuracy": epoch["val_acc"]})
        print(f"    epoch {number}: accuracy {epoch['val_acc']:.4f}{note}, timed {timed:.1f} s")
    return epochs


# --- the fast recipe ------------------------------------------------------------------


def accuracy(model: nn.Module, loader: DeviceTensorLoader, args) -> float:
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
        return evaluate(model, loader)["val_acc"]


def build_fast_model(data: dict[str, torch.Tensor], args, seed: int) -> FastNet:
    """``FastNet`` as lesson 05 builds it, less any ideas named by ``--without``.

    The whitening layer is computed from 5,000 training images drawn at random: the
    training set of ``--split test`` is in class order, so its first 5,000 images would
    all be aeroplanes.
    """
    model = FastNet(
        args.width, label_smoothing=args.label_smoothing, channels_last=args.channels_last
    )
    if "whitening" in args.without:  # an ordinary, trained first layer instead
        model.whiten.reset_parameters()
        model.whiten.weight.requires_grad = True
    else:
        sample = torch.randperm(
            len(data["train_images"]), generator=torch.Generator().manual_seed(seed)
        )[:5000]
        model.whiten_from(normalize(data["train_images"][sample], MEAN, STD))
    for layer in model.groups.modules():
        if isinstance(layer, nn.Conv2d) and "identity-init" in args.without:
            layer.reset_parameters()  # PyTorch's default (Kaiming-uniform) initialisation
        if isinstance(layer, nn.BatchNorm2d) and "frozen-bn-scale" in args.without:
            layer.weight.requires_grad = True
    return model


def compile_warm_up(model: nn.Module, data: dict[str, torch.Tensor], args) -> None:
    """Compile ``model`` in place and run one step to compile it now (not timed)."""
    model.compile()
    started = time.perf_counter()
    saved = {name: value.clone() for name, value in model.state_dict().items()}
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
        batch = normalize(data["train_images"][: args.batch_size], MEAN, STD)
        model(batch).sum().backward()
    model.load_state_dict(saved)
    model.zero_grad(set_to_none=True)
    print(f"    compile warm-up: {time.perf_counter() - started:.1f} s (not timed)")


def train_fast(data: dict[str, torch.Tensor], args, seed: int) -> list[dict]:
    """Train ``FastNet`` with ``fit_fast``; one dict per epoch: timed seconds so far, accuracy."""
    torch.manual_seed(seed)
    model = build_fast_model(data, args, seed)
    if args.compile:
        compile_warm_up(model, data, args)
    train_loader = DeviceTensorLoader(
        data["train_images"],
        data["train_labels"],
        batch_size=args.batch_size,
        shuffle=True,
        drop_last=True,  # no small last batch: its statistics would jolt batch norm
        generator=torch.Generator().manual_seed(seed),
        transform=batch_transform(MEAN, STD, crop_padding=2, flip=True),
    )
    eval_loader = DeviceTensorLoader(
        data["eval_images"],
        data["eval_labels"],
        batch_size=1000,
        transform=batch_transform(MEAN, STD),
    )
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
        history = fit_fast(
            args.epochs,
            args.lr,
            model,
            train_loader,
            eval_loader,
            weight_decay=args.weight_decay,
            warm_up=args.warm_up,
        )
    epochs = timed_epochs(history, note=" (no TTA)")
    timed = epochs[-1]["seconds"]
    if args.tta != "none":  # test-time augmentation is part of the timed run
        started = time.perf_counter()
        tta_model = TestTimeAugmentation(model, translate=args.tta == "flip-translate")
        score = accuracy(tta_model, eval_loader, args)
        timed += time.perf_counter() - started
        print(
            f"    the same weights with {args.tta} TTA: accuracy {score:.4f}, timed {timed:.1f} s"
        )
        epochs[-1].update(seconds=timed, accuracy=score)
    return epochs


# --- lesson 05's recipe -----------------------------------------------------------------


# Lesson 05's own ResNet-9, run from the lesson's .py twin with the blocks it is built from.
LESSON_05 = lesson_definitions("05_cifar10_cnn.py", {"conv_block", "ResidualBlock", "ResNet9"})
ResNet9 = LESSON_05["ResNet9"]


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
    model = ResNet9(16)
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
    return timed_epochs(history)


def throughput(args, steps: int = 12) -> None:
    """Print training images per second of both networks at these settings (random data)."""
    images = normalize(
        torch.randint(0, 256, (args.batch_size, 3, 32, 32), dtype=torch.uint8), MEAN, STD
    )
    labels = torch.randint(0, 10, (args.batch_size,))
    models = {
        "fast": FastNet(args.width, channels_last=args.channels_last),
        "lesson": ResNet9(16),
    }
    for name, model in models.items():
        inputs = images
        if args.channels_last:  # FastNet converts its inputs itself; ResNet-9 does not
            model = model.to(memory_format=torch.channels_last)
            inputs = images.contiguous(memory_format=torch.channels_last)
        step_model = torch.compile(model) if args.compile else model
        optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01)
        for step in range(steps + 2):  # two steps of warm-up (and compiling)
            if step == 2:
                started = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
                loss = F.cross_entropy(step_model(inputs), labels)
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
