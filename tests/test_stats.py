import math
import random

import pytest

from course_utils.stats import (
    SAME_ACCURACY,
    T_95,
    difference_se,
    paired_changes,
    rule_word,
)


def test_the_standard_error_of_a_difference_adds_the_two_variances():
    # 0.5 on 100 examples: variance 0.0025; 0.8 on 400: 0.0004.
    assert difference_se(0.5, 100, 0.8, 400) == pytest.approx(math.sqrt(0.0025 + 0.0004))
    assert difference_se(0.8, 400, 0.5, 100) == difference_se(0.5, 100, 0.8, 400)
    assert difference_se(1.0, 10, 0.0, 10) == 0.0


def test_the_lesson_and_its_checks_share_one_same_accuracy_allowance():
    from course_utils.checks import lesson05

    # One allowance for a model's accuracy measured twice, in points: a tenth of a point
    # would fail a GPU's bfloat16 re-evaluation, a whole point would pass a different model.
    assert lesson05.SAME_ACCURACY is SAME_ACCURACY
    assert 0.001 < SAME_ACCURACY < 0.01


@pytest.mark.parametrize(
    "args, message",
    [
        ((60.0, 100, 0.5, 100), "between 0 and 1"),
        ((0.6, 100, -0.1, 100), "between 0 and 1"),
        ((0.6, 0, 0.5, 100), "at least one example"),
        ((0.6, 100, 0.5, 0), "at least one example"),
    ],
)
def test_points_or_empty_counts_are_refused_with_the_fix(args, message):
    with pytest.raises(ValueError, match=message):
        difference_se(*args)


def _t_coverage(t: float, df: int, steps: int = 20_000) -> float:
    """P(|T| <= t) for Student's t with df degrees of freedom, by Simpson's rule."""
    log_scale = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)

    def density(x: float) -> float:
        return math.exp(log_scale - (df + 1) / 2 * math.log1p(x * x / df))

    width = t / steps
    inner = sum((4 if i % 2 else 2) * density(i * width) for i in range(1, steps))
    return 2 * width / 3 * (density(0.0) + inner + density(t))


def test_the_t_table_holds_the_two_sided_95_values_and_names_a_df_it_lacks():
    # Every value, to three decimals, from a printed t-table (two-sided 95%).
    table = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228]
    assert list(T_95) == list(range(1, 11))
    assert [T_95[df] for df in range(1, 11)] == table
    assert f"{T_95[2]:.2f}" == "4.30"  # three seeds, as the lesson prints it
    for df, t in T_95.items():  # each is the 95% point, to its three decimals
        assert _t_coverage(t - 0.0005, df) < 0.95 < _t_coverage(t + 0.0005, df), df
    for df in (0, 11):
        with pytest.raises(ValueError, match=rf"df must be .* 1 to 10 .*got {df}"):
            T_95[df]


@pytest.mark.parametrize(
    "mean, se, df, word",
    [
        (4.303, 1.0, 2, "undecided"),  # exactly t standard errors: not more than t
        (4.304, 1.0, 2, "up"),
        (-4.304, 1.0, 2, "down"),
        (3.0, 1.0, 2, "undecided"),  # beyond two SE, but three seeds need 4.303
        (3.0, 1.0, 10, "up"),  # many runs: t near 2
        # SE 0: the plain inequality, no exception. Any mean but 0 is more than t x 0 ...
        (0.5, 0.0, 2, "up"),
        (-0.5, 0.0, 2, "down"),
        (0.02, 0.0, 2, "up"),  # however small
        (0.0, 0.0, 2, "undecided"),  # ... and a mean of 0 is never more than t x SE
        (0.0, 1.0, 2, "undecided"),
    ],
)
def test_a_change_is_shown_only_beyond_t_standard_errors(mean, se, df, word):
    assert rule_word(mean, se, df) == word


def test_three_equal_changes_are_shown_by_the_plain_rule():
    # Three seeds whose accuracies all moved by the same 0.02-point step: an SE of 0 but
    # for float rounding, so the mean is far more than t SE from 0. No guard resets it.
    table = paired_changes(
        {"before": [0.4, 0.41, 0.42], "after": [0.4002, 0.4102, 0.4202]},
        {"one step": ("before", "after")},
    )["one step"]
    assert table["changes"] == pytest.approx([0.02, 0.02, 0.02])  # equal, but for rounding
    assert table["se"] == pytest.approx(0.0, abs=1e-12)
    assert table["rule_word"] == "up"
    # Exactly equal changes (points that are exact in binary): SE exactly 0, still shown.
    exact = paired_changes(
        {"before": [0.25, 0.5, 0.75], "after": [0.5, 0.75, 1.0]}, {"up": ("before", "after")}
    )["up"]
    assert exact["changes"] == [25.0, 25.0, 25.0]
    assert exact["se"] == 0.0
    assert exact["rule_word"] == "up"
    backwards = paired_changes(
        {"before": [0.25, 0.5, 0.75], "after": [0.5, 0.75, 1.0]}, {"down": ("after", "before")}
    )["down"]
    assert backwards["rule_word"] == "down"


@pytest.mark.parametrize(
    "args, message",
    [
        ((1.0, -0.1, 2), "se must be"),
        ((1.0, math.nan, 2), "se must be"),
        ((1.0, 1.0, 0), "df"),
        # The table is read first: a bad df is refused even where an SE of 0 would decide.
        ((1.0, 0.0, 0), r"df must be .* 1 to 10 .*got 0"),
        ((1.0, 0.0, 11), r"df must be .* 1 to 10 .*got 11"),
        ((0.0, 0.0, 11), "df must be"),
        # Both bad: the df is looked up first, so its error is the one raised.
        ((1.0, -0.1, 0), r"df must be .* 1 to 10 .*got 0"),
        # A NaN mean is never more than t x SE, so it would read "undecided": refused.
        ((math.nan, 1.0, 2), "mean must be a number"),
        ((math.nan, 0.0, 2), "mean must be a number"),
    ],
)
def test_a_negative_se_a_nan_mean_or_a_df_outside_the_table_is_refused(args, message):
    with pytest.raises(ValueError, match=message):
        rule_word(*args)


FINALS = {  # three seeds each, as fractions
    "base": [0.40, 0.42, 0.41],
    "steady": [0.45, 0.48, 0.45],  # +5, +6, +4 points
    "uneven": [0.41, 0.47, 0.44],  # +1, +5, +3 points
}


def test_paired_changes_rows_by_hand():
    compared = {"steady gain": ("base", "steady"), "uneven gain": ("base", "uneven")}
    table = paired_changes(FINALS, compared)
    assert list(table) == ["steady gain", "uneven gain"]  # the order of compared
    steady = table["steady gain"]
    assert steady["changes"] == pytest.approx([5.0, 6.0, 4.0])  # after - before, points
    assert steady["mean"] == pytest.approx(5.0)
    assert steady["se"] == pytest.approx(1.0 / math.sqrt(3))  # stdev 1, three seeds
    assert steady["df"] == 2
    assert steady["needed"] == pytest.approx(4.303 / math.sqrt(3))
    assert steady["rule_word"] == "up"  # 8.7 SE from 0
    uneven = table["uneven gain"]
    assert uneven["se"] == pytest.approx(2.0 / math.sqrt(3))  # stdev 2
    assert uneven["mean"] / uneven["se"] == pytest.approx(2.598, abs=1e-3)
    assert uneven["rule_word"] == "undecided"  # beyond two SE, within 4.303
    backwards = paired_changes(FINALS, {"loss": ("steady", "base")})["loss"]
    assert backwards["rule_word"] == "down"


def test_paired_changes_says_whether_every_seed_moved_one_way():
    finals = {"base": [0.5, 0.5, 0.5], "all up": [0.51, 0.52, 0.55], "all down": [0.49] * 3}
    finals |= {"mixed": [0.51, 0.49, 0.52], "one level": [0.51, 0.5, 0.52]}
    compared = {name: ("base", name) for name in finals if name != "base"}
    table = paired_changes(finals, compared)
    # A seed that did not move (a change of 0) is neither way.
    assert {name: row["one_way"] for name, row in table.items()} == {
        "all up": True,
        "all down": True,
        "mixed": False,
        "one level": False,
    }


def test_the_rule_calls_pure_noise_up_or_down_in_one_draw_in_twenty():
    # 20,000 rows of three seeds whose true change is 0: normal noise of 1 point a seed.
    draw = random.Random(0)
    finals = {"base": [0.5, 0.5, 0.5]}
    compared = {}
    for row in range(20_000):
        finals[f"noise {row}"] = [0.5 + draw.gauss(0.0, 0.01) for _ in range(3)]
        compared[f"noise {row}"] = ("base", f"noise {row}")
    table = paired_changes(finals, compared)
    called = sum(row["rule_word"] != "undecided" for row in table.values()) / len(table)
    assert called == pytest.approx(0.05, abs=0.01)


@pytest.mark.parametrize(
    "finals, compared, message",
    [
        (FINALS, {"x": ("base", "other")}, "names the recipe 'other'"),
        ({**FINALS, "steady": [0.45, 0.48]}, {"x": ("base", "steady")}, "as many seeds"),
        ({"base": [0.4], "steady": [0.45]}, {"x": ("base", "steady")}, "at least two"),
        ({"base": [0.4] * 12, "steady": [0.45] * 12}, {"x": ("base", "steady")}, "at most 11"),
        ({**FINALS, "steady": [45.0, 48.0, 45.0]}, {"x": ("base", "steady")}, "between 0 and 1"),
    ],
)
def test_a_missing_recipe_uneven_seeds_one_seed_or_points_are_refused(finals, compared, message):
    with pytest.raises(ValueError, match=message):
        paired_changes(finals, compared)
