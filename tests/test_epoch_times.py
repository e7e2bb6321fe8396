import pytest

from course_utils.epoch_times import (
    after_first,
    later_epochs,
    parts,
    rounded_parts,
)


def test_after_first_drops_the_first_epoch_and_keeps_a_lone_one():
    assert after_first([5.0, 1.0, 2.0]) == [1.0, 2.0]
    assert after_first([5.0, 1.0]) == [1.0]
    assert after_first([5.0]) == [5.0]  # a one-epoch run: its first stands in
    assert after_first((("a", 1), ("b", 2))) == [("b", 2)]  # rounds as pairs, from a tuple


def test_later_epochs_reads_the_median_fastest_and_slowest_after_the_first():
    # The first epoch (9.0) would be the slowest and move the median: it must be left out.
    assert later_epochs([9.0, 3.0, 1.0, 2.0]) == (2.0, 1.0, 3.0)
    assert later_epochs([9.0, 1.0, 2.0]) == (1.5, 1.0, 2.0)  # two later epochs: their mean
    assert later_epochs([4.0]) == (4.0, 4.0, 4.0)


def test_parts_splits_the_median_later_epoch_into_its_wait_and_the_rest():
    times, waits = [10.0, 4.0, 6.0, 5.0], [8.0, 3.0, 1.0, 2.0]
    bar = parts(times, waits)
    assert bar["loader"] == 2.0  # the median later wait, not the first epoch's 8.0
    assert bar["rest"] == pytest.approx(5.0 - 2.0)  # median later epoch minus that wait
    assert bar["epochs"] == [4.0, 6.0, 5.0]  # one dot per later epoch
    assert bar["loader"] + bar["rest"] == pytest.approx(5.0)  # the bar is the median epoch


def test_parts_of_a_two_epoch_run_rests_on_its_second_epoch():
    assert parts([3.0, 0.5], [2.0, 0.2]) == {
        "loader": 0.2,
        "rest": pytest.approx(0.3),
        "epochs": [0.5],
    }


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: after_first([]), "items is empty"),
        (lambda: later_epochs([]), "items is empty"),
        (lambda: parts([], [1.0]), "times is empty"),
        (lambda: parts([1.0], []), "waits is empty"),
        (lambda: parts([1.0, 2.0], [1.0]), "times has 2 epochs and waits 1"),
    ],
)
def test_empty_or_mismatched_lists_are_refused_with_the_fix(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_rounded_parts_add_up_as_printed_and_cap_the_loading_at_the_epoch():
    # 0.3556 = 0.0754 + 0.2802: rounding the exact rest alone would print 0.280
    assert rounded_parts(0.3556, 0.0754) == (0.356, 0.075, 0.281)
    # a loading median above the epoch median (uneven rounds) fills the epoch: no rest below 0
    assert rounded_parts(0.3, 0.31) == (0.3, 0.3, 0.0)
