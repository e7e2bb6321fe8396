import matplotlib.pyplot as plt
import pytest
import torch
from conftest import MetaAsDevice
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex, to_rgba
from matplotlib.figure import Figure

from course_utils import plotting
from course_utils.plotting import (
    crossings,
    plot_confusion_matrix,
    plot_epoch_parts,
    plot_history,
    plot_lrs,
    show_batch,
    show_misclassified,
    unnormalize,
)

HISTORY = [
    {"train_loss": 1.0, "val_loss": 0.9, "val_acc": 0.5},
    {"train_loss": 0.5, "val_loss": 0.6, "val_acc": 0.8},
]


def test_show_batch_draws_a_grid_from_a_batch_pair():
    images = torch.rand(10, 3, 8, 8)
    fig = show_batch((images, torch.zeros(10)), nrow=5, title="a batch")
    assert isinstance(fig, Figure)
    grid = fig.axes[0].images[0].get_array()
    # make_grid with padding 2: 2 rows x 5 columns of 8-pixel images
    assert grid.shape == (2 + 2 * (8 + 2), 2 + 5 * (8 + 2), 3)
    assert fig.axes[0].get_title() == "a batch"
    assert not plt.get_fignums()  # closed in pyplot, so a notebook shows it once


def test_show_batch_rejects_a_single_image():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        show_batch(torch.rand(3, 8, 8))


def test_unnormalize_inverts_normalisation():
    images = torch.rand(2, 3, 4, 4)
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    normalised = (images - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    assert torch.allclose(unnormalize(normalised, mean, std), images, atol=1e-6)


def test_plot_epoch_parts_stacks_the_loader_and_the_rest_of_the_median_epoch_for_each_arm():
    # "rest" (a median of the rounds' rests) is not drawn: the bar ends at the median epoch.
    slow = {"epochs": [3.0, 3.5, 9.0], "loader": 2.0, "rest": 1.2}
    lean = {"epochs": [1.0], "loader": 0.1, "rest": 0.8}
    launches = {"batch 128": {"slow": slow, "lean": lean}, "big": {"lean": lean}}
    fig = plot_epoch_parts(launches, "cpu")
    top, bottom = fig.axes
    assert top.get_title() == "batch 128" and bottom.get_title() == "big"
    loader, rest = top.containers  # the loader bars, then the rest stacked after them
    assert [bar.get_width() for bar in loader] == [2.0, 0.1]
    assert [bar.get_x() for bar in rest] == [2.0, 0.1]  # each starts where its loader ends
    assert [bar.get_width() for bar in rest] == pytest.approx([1.5, 0.9])
    ends = [bar.get_x() + bar.get_width() for bar in rest]
    assert ends == pytest.approx([3.5, 1.0])  # each bar ends at its median epoch
    over = {"epochs": [1.0, 1.2, 1.4], "loader": 1.3, "rest": 0.1}  # loader above the median
    ((clipped, after),) = [plot_epoch_parts({"one": {"over": over}}, "cpu").axes[0].containers]
    assert clipped[0].get_width() == pytest.approx(1.2) and after[0].get_width() == 0
    labels = [label.get_text() for label in top.get_yticklabels()]
    assert dict(zip(top.get_yticks(), labels, strict=True)) == {1: "slow", 0: "lean"}
    assert [bar.get_y() + bar.get_height() / 2 for bar in loader] == [1, 0]  # first on top
    dots = [tuple(point) for collection in top.collections for point in collection.get_offsets()]
    # every round at its seconds, on its row, spread a little up and down; a lone dot centred
    assert [x for x, _ in dots] == [3.0, 3.5, 9.0, 1.0]
    assert [y for _, y in dots] == pytest.approx([0.85, 1.0, 1.15, 0.0])
    assert top.get_xlim()[1] >= 9.0 and "cpu" in bottom.get_xlabel()
    legend = {text.get_text() for text in fig.legends[0].get_texts()}
    assert legend == {"loader (median)", "the rest of the median epoch", "one round's epoch"}
    named = plot_epoch_parts(launches, "cpu", labels=("building", "steps", "one epoch"))
    assert {text.get_text() for text in named.legends[0].get_texts()} == {
        "building",
        "steps",
        "one epoch",
    }
    assert not plt.get_fignums()
    with pytest.raises(ValueError, match="at least one arm"):
        plot_epoch_parts({"empty": {}}, "cpu")


def test_plot_epoch_parts_writes_each_bars_seconds_and_parts_in_a_column_past_the_dots():
    wide = {"epochs": [4.0, 4.2, 4.4], "loader": 3.0}  # a median of 4.2 s: 3.0 s, then 1.2 s
    thin = {"epochs": [0.1], "loader": 0.02}  # one epoch: no median to speak of
    ax = plot_epoch_parts({"one": {"wide": wide, "thin": thin}}, "cpu").axes[0]
    ends = {text.get_text(): text.get_position() for text in ax.texts}
    # each at its bar's height, in a column just outside the panel's right edge (x in the
    # panel's width, left-aligned): the whole bar, then its orange and blue parts; no other text
    assert ends == {
        "median 4.200 s = 3.000 + 1.200": pytest.approx((1.02, 1)),
        "one epoch 0.100 s = 0.020 + 0.080": (1.02, 0),
    }
    # The parts add up as printed: 0.3556 = 0.0754 + 0.2802 would print
    # 0.356 = 0.075 + 0.280 if the rest were rounded on its own.
    odd = plot_epoch_parts({"one": {"odd": {"epochs": [0.3556], "loader": 0.0754}}}, "cpu")
    assert [text.get_text() for text in odd.axes[0].texts] == ["one epoch 0.356 s = 0.075 + 0.281"]
    assert all(text.get_transform() == ax.get_yaxis_transform() for text in ax.texts)
    assert {text.get_horizontalalignment() for text in ax.texts} == {"left"}
    fig = ax.figure
    canvas = FigureCanvasAgg(fig)  # the figure comes back closed, without a canvas to draw on
    canvas.draw()
    column_left = min(text.get_window_extent().x0 for text in ax.texts)
    assert ax.get_window_extent().x1 < column_left  # outside the panel, right of its edge
    assert max(text.get_window_extent().x1 for text in ax.texts) <= fig.bbox.x1  # not cut off
    assert 4.4 <= ax.get_xlim()[1] < 4.4 * 1.2  # the axis ends just past the furthest dot


def test_plot_epoch_parts_gives_each_panel_its_own_scale_or_one_shared():
    slow = {"epochs": [3.0, 3.5, 9.0], "loader": 2.0}
    quick = {"epochs": [0.2, 0.3], "loader": 0.1}
    launches = {"slow": {"a": slow}, "quick": {"b": quick}}
    top, bottom = plot_epoch_parts(launches, "cpu").axes
    assert top.get_xlim()[1] >= 9.0 and bottom.get_xlim()[1] < 1.0
    assert "cpu" in top.get_xlabel() and "cpu" in bottom.get_xlabel()
    top, bottom = plot_epoch_parts(launches, "cpu", one_scale=True).axes
    assert top.get_xlim() == bottom.get_xlim() and top.get_xlim()[1] >= 9.0


def test_plot_epoch_parts_draws_dots_that_show_on_a_bar_and_a_legend_close_under_it():
    fig = plot_epoch_parts({"one": {"wide": {"epochs": [4.0, 4.2], "loader": 3.0}}}, "cpu")
    ax = fig.axes[0]
    dots = ax.collections[0]  # the row's dots (the next, empty, is the legend's)
    assert to_hex(dots.get_facecolor()[0]) == "#000000"  # black...
    assert to_hex(dots.get_edgecolor()[0]) == "#ffffff"  # ...edged in white
    assert dots.get_zorder() > max(bar.get_zorder() for bar in ax.patches)
    canvas = FigureCanvasAgg(fig)  # the figure comes back closed, without a canvas to draw on
    canvas.draw()
    renderer = canvas.get_renderer()
    axis_bottom = ax.get_tightbbox(renderer).y0  # under the tick labels and the axis label
    legend_top = fig.legends[0].get_window_extent(renderer).y1
    assert 0 <= axis_bottom - legend_top < 0.12 * fig.dpi  # under it, within an eighth of an inch


def test_plot_history_draws_losses_and_accuracy():
    fig = plot_history(HISTORY)
    loss_ax, acc_ax = fig.axes
    assert [line.get_label() for line in loss_ax.lines] == ["training", "validation"]
    assert list(acc_ax.lines[0].get_ydata()) == [0.5, 0.8]


def test_plot_history_rejects_an_empty_history():
    with pytest.raises(ValueError, match="empty"):
        plot_history([])


def test_plot_confusion_matrix_annotates_counts():
    fig = plot_confusion_matrix(torch.tensor([[5, 1], [2, 7]]), ["cat", "dog"])
    texts = sorted(text.get_text() for text in fig.axes[0].texts)
    assert texts == ["1", "2", "5", "7"]
    normalised = plot_confusion_matrix(
        torch.tensor([[5, 1], [2, 7]]), ["cat", "dog"], normalize=True
    )
    assert "0.83" in [text.get_text() for text in normalised.axes[0].texts]


def test_plot_confusion_matrix_colours_span_the_mistakes_not_the_diagonal():
    # A good model: 990 right per class, a handful of mistakes.
    matrix = torch.tensor([[990, 3, 7], [1, 995, 4], [9, 0, 991]])
    image = plot_confusion_matrix(matrix, ["a", "b", "c"]).axes[0].images[0]
    assert image.get_clim() == (0.0, 9.0)  # the largest mistake sets the top colour
    assert image.get_array().mask.diagonal().all()  # the diagonal takes no colour
    whole = plot_confusion_matrix(matrix, ["a", "b", "c"], colour_mistakes_only=False)
    assert whole.axes[0].images[0].get_clim() == (0.0, 995.0)


def test_plot_confusion_matrix_rejects_a_wrong_size():
    with pytest.raises(ValueError, match="square"):
        plot_confusion_matrix(torch.zeros(3, 3), ["a", "b"])


def test_show_misclassified_shows_only_wrong_predictions():
    images = torch.rand(6, 1, 8, 8)
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    predictions = torch.tensor([0, 2, 2, 1, 1, 2])
    fig = show_misclassified(images, labels, predictions, ["zero", "one", "two"])
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["true one\npred two", "true zero\npred one"]


def test_show_misclassified_handles_a_perfect_model_and_bad_lengths():
    labels = torch.tensor([0, 1])
    fig = show_misclassified(torch.rand(2, 1, 4, 4), labels, labels, ["a", "b"])
    assert fig.axes[0].get_title() == "no misclassified images"
    with pytest.raises(ValueError, match="differ in length"):
        show_misclassified(torch.rand(3, 1, 4, 4), labels, labels, ["a", "b"])


def test_plot_lrs_joins_the_steps_of_every_epoch():
    fig = plot_lrs([{"lrs": [0.1, 0.2]}, {"lrs": [0.15, 0.05]}])
    assert list(fig.axes[0].lines[0].get_ydata()) == [0.1, 0.2, 0.15, 0.05]
    assert fig.axes[0].get_title() == "Learning-rate schedule"
    titled = plot_lrs([{"lrs": [0.1]}], title="One cycle")
    assert titled.axes[0].get_title() == "One cycle"
    with pytest.raises(ValueError, match="no learning rates"):
        plot_lrs(HISTORY)


def test_unnormalize_scales_uint8_images():
    images = torch.tensor([0, 51, 255], dtype=torch.uint8).view(1, 1, 1, 3)
    assert unnormalize(images, None, None).flatten().tolist() == pytest.approx([0.0, 0.2, 1.0])


# The new helper is looked up on the module inside each test, so that against a module
# without it each of these tests fails on its own while the older tests still run.
DIGITS = [str(digit) for digit in range(10)]
PROBABILITIES = torch.tensor([0.02, 0.6, 0.03, 0.01, 0.1, 0.02, 0.02, 0.15, 0.03, 0.02])


def bar_colours(fig: Figure) -> list[tuple[float, ...]]:
    return [patch.get_facecolor() for patch in fig.axes[1].patches]


def test_show_prediction_draws_the_image_beside_one_bar_per_class():
    image = torch.rand(1, 28, 28)
    fig = plotting.show_prediction(image, PROBABILITIES, DIGITS)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert not plt.get_fignums()  # closed in pyplot, so a notebook shows it once
    image_ax, bar_ax = fig.axes
    shown = image_ax.images[0]
    assert shown.get_array().shape == (28, 28) and shown.get_cmap().name == "gray"
    assert [patch.get_width() for patch in bar_ax.patches] == pytest.approx(PROBABILITIES.tolist())
    assert [label.get_text() for label in bar_ax.get_yticklabels()] == DIGITS
    assert bar_ax.get_xlim() == (0, 1) and bar_ax.get_xlabel() == "probability"


def test_show_prediction_highlights_only_the_most_probable_class():
    fig = plotting.show_prediction(torch.rand(1, 8, 8), PROBABILITIES, DIGITS)
    colours = bar_colours(fig)
    highlighted = [index for index, colour in enumerate(colours) if colour != colours[0]]
    assert highlighted == [int(PROBABILITIES.argmax())] == [1]
    assert "1" in fig.axes[1].get_title()


@pytest.mark.parametrize("true_label, colour", [(1, "tab:green"), (7, "tab:red")])
def test_show_prediction_marks_the_true_class(true_label, colour):
    fig = plotting.show_prediction(torch.rand(1, 8, 8), PROBABILITIES, DIGITS, true_label)
    labels = fig.axes[1].get_yticklabels()
    assert labels[true_label].get_text() == f"{true_label} (true)"
    assert labels[true_label].get_fontweight() == "bold"
    assert sum("(true)" in label.get_text() for label in labels) == 1
    assert bar_colours(fig)[1] == to_rgba(colour)  # right: green, wrong: red
    assert fig.axes[0].get_title() == f"true: {true_label}"


def test_show_prediction_undoes_normalisation_of_a_colour_image():
    image = torch.rand(3, 6, 6)
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    normalised = (image - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1)
    probabilities = torch.tensor([0.25, 0.75])
    fig = plotting.show_prediction(normalised, probabilities, ["cat", "dog"], mean=mean, std=std)
    shown = torch.as_tensor(fig.axes[0].images[0].get_array())
    assert torch.allclose(shown, image.permute(1, 2, 0), atol=1e-6)


@pytest.mark.parametrize(
    "image, probabilities, true_label, message",
    [
        (torch.rand(1, 1, 8, 8), PROBABILITIES, None, r"one image \(C, H, W\)"),
        (torch.rand(2, 8, 8), PROBABILITIES, None, "1 or 3 channels"),
        (torch.rand(1, 8, 8), PROBABILITIES.view(2, 5), None, "1-D"),
        (torch.rand(1, 8, 8), PROBABILITIES[:9], None, "9 probabilities for 10 class names"),
        (torch.rand(1, 8, 8), PROBABILITIES * 2, None, r"sum to 1.*pass softmax\(logits\)"),
        (torch.rand(1, 8, 8), torch.arange(10.0) - 4.5, None, r"negative.*softmax\(logits\)"),
        (torch.rand(1, 8, 8), PROBABILITIES, 10, "true_label must be a class index from 0 to 9"),
    ],
    ids=["batch", "two-channels", "2-D", "too-few", "logits", "negative", "bad-label"],
)
def test_show_prediction_rejects_bad_inputs(image, probabilities, true_label, message):
    with pytest.raises(ValueError, match=message):
        plotting.show_prediction(image, probabilities, DIGITS, true_label)


def test_show_prediction_accepts_probabilities_within_rounding_of_1():
    rounded = [0.3333, 0.3333, 0.3333]  # sums to 0.9999: rounding, not a mistake
    fig = plotting.show_prediction(torch.rand(1, 4, 4), rounded, ["a", "b", "c"])
    assert [patch.get_width() for patch in fig.axes[1].patches] == pytest.approx(rounded)


def test_plot_confusion_matrix_makes_no_float64_on_a_device():
    recorder = MetaAsDevice()
    with recorder:
        figure = plotting.plot_confusion_matrix(
            torch.ones(2, 2, dtype=torch.long, device="meta"), ["a", "b"], normalize=True
        )
    plt.close(figure)
    assert recorder.float64_ops == []


def test_show_prediction_makes_no_float64_on_a_device():
    # The probabilities are checked in float64 after moving to the CPU. On `meta` the copy
    # holds zeros, so the sum check refuses them: what matters is where the float64 was made.
    recorder = MetaAsDevice()
    with recorder, pytest.raises(ValueError, match="sum to 1"):
        plotting.show_prediction(torch.rand(1, 4, 4), torch.ones(3, device="meta") / 3, list("abc"))
    assert recorder.float64_ops == []


def test_plot_running_totals_draws_a_line_per_way_and_marks_where_they_cross():
    totals = {"(a) slow": [0.0, 6.0, 12.0, 18.0], "(b) one-off": [5.0, 6.5, 7.0, 7.5]}
    fig = plotting.plot_running_totals(totals, "cpu", "payback")
    assert isinstance(fig, Figure) and not plt.get_fignums()
    ax = fig.axes[0]
    assert [list(line.get_xdata()) for line in ax.lines] == [[0, 1, 2, 3]] * 2
    assert [list(line.get_ydata()) for line in ax.lines] == list(totals.values())
    taken = {to_hex(colour) for colour in ("tab:orange", "tab:blue")}  # plot_epoch_parts'
    assert not {to_hex(line.get_color()) for line in ax.lines} & taken
    # (b) is 0.5 s ahead of (a) after epoch 1 and 5 s behind after epoch 2: on the straight
    # line between, the gap closes 1/11 of the way along, at 6 + 6/11 seconds. Drawn, not
    # measured: the cross is hollow, and its legend entry says so.
    ((cross,),) = [collection.get_offsets() for collection in ax.collections]
    assert tuple(cross) == pytest.approx((1 + 1 / 11, 6 + 6 / 11))
    assert ax.collections[0].get_facecolor().size == 0  # no fill
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert legend == ["(a) slow", "(b) one-off", "lines cross (between epochs, drawn straight)"]
    assert {"18.0 s", "7.5 s"} <= {text.get_text() for text in ax.texts}  # each line's end
    assert ax.get_ylabel() == "seconds so far on cpu" and ax.get_title() == "payback"


def test_plot_running_totals_marks_no_cross_where_lines_only_start_together_or_touch():
    # Both start at 0 (no one-off): not a crossing.
    apart = plotting.plot_running_totals({"a": [0.0, 1.0, 2.0], "b": [0.0, 2.0, 4.0]}, "cpu", "")
    assert not apart.axes[0].collections
    # Touching at epoch 1 without swapping: a below b before and after. No crossing.
    touch = plotting.plot_running_totals({"a": [0.0, 2.0, 4.0], "b": [1.0, 2.0, 5.0]}, "cpu", "")
    assert not touch.axes[0].collections
    # Equal over a run of epochs (1 to 3), still in the same order after: no crossing.
    run = {"a": [0.0, 2.0, 3.0, 4.0, 5.0], "b": [1.0, 2.0, 3.0, 4.0, 6.0]}
    assert not plotting.plot_running_totals(run, "cpu", "").axes[0].collections


def test_plot_running_totals_marks_a_swap_after_equal_epochs_where_they_first_met():
    # Touching at epoch 1, then swapping: one crossing, at the epoch where they met, a
    # measured point (filled), with its own legend entry.
    touch = plotting.plot_running_totals({"a": [0.0, 2.0, 4.0], "b": [1.0, 2.0, 3.0]}, "cpu", "")
    ((cross,),) = [collection.get_offsets() for collection in touch.axes[0].collections]
    assert tuple(cross) == (1.0, 2.0)
    assert touch.axes[0].collections[0].get_facecolor().size > 0  # filled
    legend = [text.get_text() for text in touch.axes[0].get_legend().get_texts()]
    assert legend[-1] == "lines meet at an epoch, then swap"
    # Equal over a run of epochs (1 to 3), then swapped: still one crossing, at epoch 1.
    run = {"a": [0.0, 2.0, 3.0, 4.0, 6.0], "b": [1.0, 2.0, 3.0, 4.0, 5.0]}
    ((cross,),) = [
        c.get_offsets() for c in plotting.plot_running_totals(run, "cpu", "").axes[0].collections
    ]
    assert tuple(cross) == (1.0, 2.0)


def test_plot_running_totals_marks_every_pair_of_three_lines():
    # a crosses b between epochs 1 and 2 (the gap goes from -1.5 to +1: 0.6 of the way, at
    # 3 + 0.6 x 3 = 4.8 s) and c between epochs 0 and 1 (halfway, at 1.5 s); b stays above c.
    totals = {"a": [0.0, 3.0, 6.0], "b": [4.0, 4.5, 5.0], "c": [1.0, 2.0, 3.0]}
    fig = plotting.plot_running_totals(totals, "cuda", "three")
    ax = fig.axes[0]
    assert len(ax.lines) == 3 and len({line.get_color() for line in ax.lines}) == 3
    (crosses,) = [collection.get_offsets() for collection in ax.collections]
    assert sorted(crosses.tolist()) == [pytest.approx([0.5, 1.5]), pytest.approx([1.6, 4.8])]


@pytest.mark.parametrize(
    "totals, message",
    [
        ({}, "at least one line"),
        ({"a": [5.0]}, "at least two totals"),
        ({"a": [0.0, 1.0], "b": [0.0, 1.0, 2.0]}, "same number of totals"),
        ({"a": [0.0, 3.0, 2.0]}, r"never fall, but 'a' does at epoch 2.*accumulate"),
        ({f"line {n}": [0.0, 1.0] for n in range(7)}, "at most 6 lines"),
        ({"a": [0.0, float("nan"), 2.0]}, r"finite numbers of seconds, but 'a'.*NaN"),
        ({"a": [0.0, 1.0, float("inf")]}, r"finite numbers of seconds, but 'a'"),
        # A negative one-off: the totals still never fall, and ylim(bottom=0) would hide it.
        ({"a": [0.0, 1.0], "b": [-2.0, 1.0]}, r"never below 0, but 'b' holds -2.0 at epoch 0"),
    ],
    ids=["empty", "one-total", "lengths", "per-epoch", "seven", "nan", "infinite", "negative"],
)
def test_plot_running_totals_rejects_bad_totals(totals, message):
    with pytest.raises(ValueError, match=message):
        plotting.plot_running_totals(totals, "cpu", "")


def test_plot_running_totals_needs_where():
    with pytest.raises(TypeError):
        plotting.plot_running_totals({"a": [0.0, 1.0]}, title="")  # where is required


def test_crossings_between_epochs_on_the_drawn_lines_and_at_an_epoch_where_totals_met():
    # Ahead by 5 at epoch 0, behind by 0.5 at epoch 1: the straight lines cross 5/5.5 of
    # the way, at 5 + 1 x 5/5.5 seconds on the first line; not a measured point.
    assert crossings([5, 6, 7], [0, 6.5, 13]) == [pytest.approx((5 / 5.5, 5 + 5 / 5.5, False))]
    # Equal at epoch 1, then swapped: they crossed where they met, a measured point.
    assert crossings([1, 2, 3], [0, 2, 4]) == [(1.0, 2.0, True)]
    # Touching without swapping, or never meeting: no crossing.
    assert crossings([1, 2, 3], [0, 2, 2]) == [] and crossings([1, 2], [0, 1]) == []
