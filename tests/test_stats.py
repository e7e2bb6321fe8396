import math

import pytest

from course_utils.stats import SAME_ACCURACY, difference_se


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
