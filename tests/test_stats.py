import math

import pytest

from course_utils.stats import SAME_ACCURACY, changes_within_seeds, difference_se, direction


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


FINALS = {  # three seeds each, as fractions
    "base": [0.40, 0.42, 0.41],
    "plus": [0.45, 0.40, 0.47],
    "minus": [0.30, 0.35, 0.20],
}
RANGES = {"base": 2.0, "plus": 7.0, "minus": 15.0}  # points


def test_changes_are_read_within_each_seed_against_the_larger_seed_range():
    steps = {
        "adding": ("base", "plus"),
        "taking away": ("plus", "minus"),
        "back": ("minus", "base"),
    }
    table = changes_within_seeds(FINALS, RANGES, steps)
    assert list(table) == ["adding", "taking away", "back"]  # the steps' order
    assert table["adding"]["changes"] == pytest.approx([5.0, -2.0, 6.0])  # after - before
    assert table["adding"]["mean"] == pytest.approx(3.0)
    assert table["adding"]["yardstick"] == 7.0  # the larger of 2 and 7
    assert table["taking away"]["changes"] == pytest.approx([-15.0, -5.0, -27.0])
    assert table["taking away"]["yardstick"] == 15.0
    assert table["back"]["yardstick"] == 15.0  # the recipe before had the larger range


@pytest.mark.parametrize(
    "finals, steps, message",
    [
        (FINALS, {"x": ("base", "other")}, "names the recipe 'other'"),
        ({**FINALS, "plus": [0.45, 0.40]}, {"x": ("base", "plus")}, "as many seeds"),
        ({**FINALS, "plus": [45.0, 40.0, 47.0]}, {"x": ("base", "plus")}, "between 0 and 1"),
    ],
)
def test_a_missing_recipe_uneven_seeds_or_points_are_refused(finals, steps, message):
    with pytest.raises(ValueError, match=message):
        changes_within_seeds(finals, RANGES, steps)


def test_seed_ranges_that_disagree_with_the_finals_are_refused():
    fractions = {name: spread / 100 for name, spread in RANGES.items()}  # not points
    with pytest.raises(ValueError, match=r"seed_ranges\['base'\] is 0.02.*in points"):
        changes_within_seeds(FINALS, fractions, {"x": ("base", "plus")})


@pytest.mark.parametrize(
    "changes, words",
    [
        ([-1.0, -0.5, -3.0], "lower in every seed"),
        ([0.1, 2.0, 0.5], "higher in every seed"),
        ([-1.0, 2.0, 0.5], "mixed"),
        ([0.0, 2.0, 0.5], "mixed"),  # a seed that did not move is not higher
    ],
)
def test_the_direction_is_one_way_only_if_every_seed_moved_that_way(changes, words):
    assert direction(changes) == words


def test_no_changes_have_no_direction():
    with pytest.raises(ValueError, match="at least one"):
        direction([])
