import pytest

from course_utils.rounds import TIE, count_rounds, speed_up_in_words


@pytest.mark.parametrize(
    "speed_up, words",
    [
        (1.5, "faster"),
        (1 + TIE + 0.001, "faster"),
        (1 + TIE - 0.001, "a tie (within 10%)"),
        (1.0, "a tie (within 10%)"),
        (1 / (1 + TIE) + 0.001, "a tie (within 10%)"),
        (1 / (1 + TIE) - 0.001, "slower"),
        (0.5, "slower"),
    ],
)
def test_a_speed_up_within_a_tenth_of_1_is_a_tie(speed_up, words):
    assert speed_up_in_words(speed_up) == words


def test_counting_rounds_names_a_winner_only_when_every_round_agrees():
    every = count_rounds([1.5, 1.3, 1.2])
    assert (every.faster, every.tied, every.slower) == (3, 0, 0)
    assert every.verdict == "faster in every round" and every.median == 1.3
    assert count_rounds([0.5, 0.6]).verdict == "slower in every round"
    mixed = count_rounds([1.5, 1.0, 0.5])
    assert (mixed.faster, mixed.tied, mixed.slower) == (1, 1, 1)
    assert mixed.verdict == "no clear winner: 1 faster, 1 tied, 1 slower"
    assert count_rounds([1.5, 1.05]).verdict == "no clear winner: 1 faster, 1 tied, 0 slower"
    # Every round a tie is no winner either, and says so: not "the rounds disagree".
    assert count_rounds([1.02, 0.98, 1.05]).verdict == "no clear winner: 0 faster, 3 tied, 0 slower"
    with pytest.raises(ValueError, match="at least one round"):
        count_rounds([])


def test_one_round_names_no_winner_and_says_it_was_not_judged():
    # A smoke run can leave one round after the warm-up: it cannot agree with anything.
    one = count_rounds([1.5])
    assert one.faster == 1 and not one.unanimous
    assert one.verdict == "not judged: one round"
    for single in ([1.0], [0.5]):  # a tied or a slower round alone is not judged either
        assert count_rounds(single).verdict == "not judged: one round"


def test_a_wider_tie_band_counts_more_rounds_as_ties():
    # The lessons use the fixed band TIE; a caller may pass a wider one, which ties more.
    rounds = [1.2, 1.3, 0.8]
    assert (count_rounds(rounds).faster, count_rounds(rounds).slower) == (2, 1)
    wide = count_rounds(rounds, tie=0.35)
    assert (wide.faster, wide.tied, wide.slower) == (0, 3, 0)
    assert speed_up_in_words(1.3, tie=0.35) == "a tie (within 35%)"
    with pytest.raises(ValueError, match="tie must be 0 or more"):
        speed_up_in_words(1.0, tie=-0.1)


def test_speed_up_in_words_judges_as_printed_with_digits():
    # 1 / 1.1 = 0.90909...: printed to 3 decimals it reads 0.909, the band's edge, so a tie
    assert speed_up_in_words(0.909) == "slower"
    assert speed_up_in_words(0.909, digits=3) == "a tie (within 10%)"
    assert speed_up_in_words(1.1004, digits=3) == "a tie (within 10%)"
    assert speed_up_in_words(1.1006, digits=3) == "faster"
    assert speed_up_in_words(0.9084, digits=3) == "slower"


def test_verdict_as_renames_the_directions_only():
    assert count_rounds([0.5, 0.6]).verdict_as("cheaper", "costlier") == "costlier in every round"
    assert count_rounds([1.5, 1.3]).verdict_as("cheaper", "costlier") == "cheaper in every round"
    mixed = count_rounds([1.5, 1.0, 0.5]).verdict_as("cheaper per image", "costlier per image")
    assert mixed == "no clear winner: 1 cheaper per image, 1 tied, 1 costlier per image"
    assert count_rounds([1.5]).verdict_as("cheaper", "costlier") == "not judged: one round"


def test_count_rounds_passes_digits_on_judging_as_printed():
    # 0.909 and 1.1004 print as the band's edges (3 decimals): ties when judged as printed
    assert count_rounds([0.909, 1.1004]).verdict == "no clear winner: 1 faster, 0 tied, 1 slower"
    as_printed = count_rounds([0.909, 1.1004], digits=3)
    assert (as_printed.faster, as_printed.tied, as_printed.slower) == (0, 2, 0)
