import json

import pytest

from course_utils.rounds import count_rounds
from course_utils.scaling import (
    SPEED_UP_DIGITS,
    Comparison,
    ComparisonName,
    arm_speed_ups,
    arms_table,
    comm_cost_table,
    compare_launches,
    comparison_names,
    device_word,
    part_speed_ups,
    part_words,
    predicted_on_each_rank,
    read_arms,
    read_comm_cost,
    read_weight_gap,
    round_by_round_table,
    shared_verdict,
    speed_up_table,
    take_away_lines,
)

# What comm_cost.py printed in one run (lesson 06, 2 CPU processes with gloo).
COMM_COST_OUTPUT = """\
world size: 2
[rank 1] batch 64 per process: step without communication 0.526 ms, DDP step 1.564 ms, \
DDP step inside no_sync 0.621 ms, DDP added 1.038 ms (1.97 x the step), all-reduce of 25,450 \
gradients between the steps 0.473 ms
[rank 0] batch 64 per process: step without communication 0.495 ms, DDP step 1.546 ms, \
DDP step inside no_sync 0.635 ms, DDP added 1.051 ms (2.12 x the step), all-reduce of 25,450 \
gradients between the steps 0.483 ms
batch 64 per process: rank 0 alone (the others waiting at a barrier), step on 64 images 0.462 ms, \
step on 128 images 0.619 ms
batch 64 per process, each repeat the slowest rank's time: step without communication 0.541 ms, \
DDP step 1.602 ms, DDP step inside no_sync 0.652 ms, all-reduce between the steps 0.497 ms
[rank 1] batch 1024 per process: step without communication 1.752 ms, DDP step 2.715 ms, \
DDP step inside no_sync 1.813 ms, DDP added 0.963 ms (0.55 x the step), all-reduce of 25,450 \
gradients between the steps 0.464 ms
[rank 0] batch 1024 per process: step without communication 1.628 ms, DDP step 2.450 ms, \
DDP step inside no_sync 1.785 ms, DDP added 0.822 ms (0.50 x the step), all-reduce of 25,450 \
gradients between the steps 0.443 ms
batch 1024 per process: rank 0 alone (the others waiting at a barrier), step on 1024 images \
1.683 ms, step on 2048 images 2.907 ms
batch 1024 per process, each repeat the slowest rank's time: step without communication \
1.790 ms, DDP step 2.760 ms, DDP step inside no_sync 1.840 ms, all-reduce between the steps \
0.470 ms
"""


def test_the_timing_lines_are_read_back_per_rank():
    cost = read_comm_cost(COMM_COST_OUTPUT)
    # DDP's added time splits at the no_sync step: its wrapper, then the reduction and waits.
    assert cost.per_rank[64][0] == pytest.approx(
        {
            "step": 0.495,
            "ddp": 1.546,
            "no_sync": 0.635,
            "added": 1.546 - 0.495,
            "wrapper": 0.635 - 0.495,
            "reduction": 1.546 - 0.635,
            "all_reduce": 0.483,
        }
    )
    assert cost.per_rank[1024][1]["added"] == pytest.approx(2.715 - 1.752)
    assert set(cost.per_rank[64]) == {0, 1} and "double" not in cost.per_rank[64][0]
    assert cost.world_size == 2


def test_the_ranks_together_are_read_from_the_slowest_rank_s_line_not_from_the_ranks():
    together = read_comm_cost(COMM_COST_OUTPUT).together
    # comm_cost.py's own line: each repeat's slowest rank, then the median over the
    # repeats. It lies above both ranks' own medians (0.526 and 0.495 for the step at 64),
    # since the slower rank changes from repeat to repeat.
    assert together[64] == pytest.approx(
        {
            "step": 0.541,
            "ddp": 1.602,
            "no_sync": 0.652,
            "all_reduce": 0.497,
            # the differences of those, so that the rows subtract as the table says
            "added": 1.602 - 0.541,
            "wrapper": 0.652 - 0.541,
            "reduction": 1.602 - 0.652,
            # rank 0 alone, the others waiting: on its 64 images, then on 128
            "alone": 0.462,
            "double": 0.619,
        }
    )
    # DDP's added time, 1.061, is the line's DDP step minus its step: neither rank 0's own
    # (1.546 - 0.495 = 1.051) nor rank 1's (1.564 - 0.526 = 1.038), nor a mix of the two.
    assert together[64]["added"] == pytest.approx(1.061)
    assert together[1024]["added"] == pytest.approx(2.760 - 1.790)
    assert together[1024]["double"] == 2.907


def test_both_steps_of_rank_0_alone_are_read_from_its_one_line_b_first():
    together = read_comm_cost(COMM_COST_OUTPUT).together
    # One line gives both, each with its own image count: the B step, then the 2B step.
    assert (together[64]["alone"], together[64]["double"]) == (0.462, 0.619)
    assert (together[1024]["alone"], together[1024]["double"]) == (1.683, 2.907)
    # What halving saves, both steps timed alike (rank 1 waiting): 2.907 - 1.683.
    assert together[1024]["double"] - together[1024]["alone"] == pytest.approx(1.224)
    # A line from before the B step was timed alone is refused, not half read.
    old_line = COMM_COST_OUTPUT.replace("step on 1024 images 1.683 ms, ", "")
    assert "1.683" not in old_line
    with pytest.raises(ValueError, match=r"with rank 0 alone: \[64\]"):
        read_comm_cost(old_line)


def test_the_prediction_on_each_rank_divides_the_2b_step_by_that_rank_s_own_ddp_step():
    cost = read_comm_cost(COMM_COST_OUTPUT)
    # Rank 0 alone on 2,048 images took 2.907 ms; the ranks' own DDP steps 2.450 and 2.715.
    own = predicted_on_each_rank(cost, 1024)
    assert list(own) == [0, 1]
    assert own == pytest.approx({0: 2.907 / 2.450, 1: 2.907 / 2.715})
    # Both lie above the pair's, which divides by each repeat's slower rank (2.760 ms).
    assert min(own.values()) > cost.together[1024]["double"] / cost.together[1024]["ddp"]
    assert predicted_on_each_rank(cost, 64) == pytest.approx({0: 0.619 / 1.546, 1: 0.619 / 1.564})
    with pytest.raises(ValueError, match=r"batch=128 was not timed: pass one of \[64, 1024\]"):
        predicted_on_each_rank(cost, 128)


def test_a_launch_that_printed_only_part_of_its_lines_is_refused_by_name():
    # Cut off after rank 1's line at 1,024: that size has no line of rank 0 alone.
    cut_short = "\n".join(COMM_COST_OUTPUT.splitlines()[:6])
    with pytest.raises(ValueError, match=r"lines: \[64, 1024\], with rank 0 alone: \[64\]"):
        read_comm_cost(cut_short)
    # Without the slowest rank's line at 1,024, that size has no figure that a step waits for.
    no_together = "\n".join(COMM_COST_OUTPUT.splitlines()[:-1])
    with pytest.raises(ValueError, match=r"with the slowest rank's: \[64\], ranks per"):
        read_comm_cost(no_together)
    with pytest.raises(ValueError, match="lacks some timing lines"):
        read_comm_cost("")
    # Rank 0's line at 1,024 lost: that size's median would be rank 1's alone.
    one_rank_lost = "\n".join(
        line for line in COMM_COST_OUTPUT.splitlines() if "[rank 0] batch 1024" not in line
    )
    with pytest.raises(ValueError, match=r"ranks per batch: \{64: \[0, 1\], 1024: \[1\]\}"):
        read_comm_cost(one_rank_lost)


def test_a_batch_whose_ranks_are_not_0_to_n_minus_1_is_refused():
    # Rank 0's lines lost at both sizes: both batches have the same ranks, [1], yet no rank 0.
    no_rank_0 = "\n".join(
        line for line in COMM_COST_OUTPUT.splitlines() if not line.startswith("[rank 0]")
    )
    with pytest.raises(ValueError, match=r"ranks per batch: \{64: \[1\], 1024: \[1\]\}"):
        read_comm_cost(no_rank_0)
    # Rank 1's lines labelled rank 2: ranks 0 and 2, with no rank 1 between them.
    stray = COMM_COST_OUTPUT.replace("[rank 1]", "[rank 2]")
    with pytest.raises(ValueError, match=r"\{64: \[0, 2\], 1024: \[0, 2\]\}, each batch's ranks"):
        read_comm_cost(stray)


def test_a_launch_whose_last_rank_s_lines_are_all_lost_is_refused():
    # Rank 1's lines lost at both sizes: rank 0's alone look like a whole launch of 1
    # process, ranks [0] at every batch, but rank 0 printed a world size of 2.
    no_last_rank = "\n".join(
        line for line in COMM_COST_OUTPUT.splitlines() if not line.startswith("[rank 1]")
    )
    with pytest.raises(
        ValueError, match=r"world size: 2, .* ranks per batch: \{64: \[0\], 1024: \[0\]\}, each"
    ):
        read_comm_cost(no_last_rank)
    # The same lines from a launch of 1 process are whole.
    alone = read_comm_cost(no_last_rank.replace("world size: 2", "world size: 1"))
    assert alone.world_size == 1 and set(alone.per_rank[1024]) == {0}


def test_an_output_without_its_world_size_line_is_refused():
    # Without it, the ranks expected are unknown: every rank's lines could be there, or not.
    # comm_cost.py prints it on rank 0 only, bare: a line every rank prints ("[rank 0] ...")
    # is not the world-size line, so an output with only that reads as without one.
    prefixed = COMM_COST_OUTPUT.replace("world size: 2\n", "[rank 0] world size: 2\n")
    with pytest.raises(ValueError, match=r"\(world size: no line"):
        read_comm_cost(prefixed)
    no_world_size = COMM_COST_OUTPUT.replace("world size: 2\n", "")
    assert no_world_size != COMM_COST_OUTPUT
    with pytest.raises(ValueError, match=r"\(world size: no line, batches with ranks' lines"):
        read_comm_cost(no_world_size)


def test_a_line_that_appears_twice_for_a_batch_is_refused_by_name():
    # Two launches' outputs joined: every line twice, so which of each pair counts?
    with pytest.raises(
        ValueError, match=r"a line twice \(rank 0's line at 64, rank 1's line at 64, "
    ):
        read_comm_cost(COMM_COST_OUTPUT + COMM_COST_OUTPUT)
    # Only the slowest rank's line at 1,024 again, with another figure: it is named alone.
    lines = COMM_COST_OUTPUT.splitlines()
    again = "\n".join([*lines, lines[-1].replace("1.790 ms", "9.999 ms")])
    with pytest.raises(ValueError, match=r"a line twice \(the slowest rank's at 1024\): pass"):
        read_comm_cost(again)
    # Rank 1's line at 64 twice: the other batch's lines, and rank 0's, are not named.
    with pytest.raises(ValueError, match=r"a line twice \(rank 1's line at 64\)"):
        read_comm_cost("\n".join([lines[1], *lines]))
    # The world size twice, once with another figure: which launch would the ranks match?
    with pytest.raises(ValueError, match=r"a line twice \(the world size\): pass"):
        read_comm_cost("\n".join(["world size: 3", *lines]))


def test_the_timing_table_has_a_column_per_batch_and_a_row_per_part():
    table = comm_cost_table(read_comm_cost(COMM_COST_OUTPUT), "2 logical CPUs, gloo")
    lines = table.splitlines()
    assert lines[0] == "2 logical CPUs, gloo"
    # The header names the slowest rank's rows; the last two rows say they are rank 0's own.
    assert lines[1].startswith("ms; rows 1-7: each repeat's slowest rank")
    assert lines[1 + 7].startswith("all-reduce between the steps")  # row 7, the header's last
    assert "B = 64" in lines[1] and "B = 1,024" in lines[1]
    # The slowest rank's line's figures, not either rank's own (0.526 and 1.752 at most).
    step = next(line for line in lines if line.startswith("step without communication"))
    assert step.split()[-2:] == ["0.541", "1.790"]
    wrapper = next(line for line in lines if "(no_sync - step)" in line)
    assert wrapper.split()[-2:] == ["0.111", "0.050"]
    # The last two rows: one process on the B, then the 2B images, rank 0's own figures.
    assert lines[-2].startswith("1 process, step on the B images (rank 0 alone)")
    assert lines[-1].startswith("1 process, step on the 2B images (rank 0 alone)")
    assert all("rank 0 alone" not in line for line in lines[2:-2])
    assert lines[-2].split()[-2:] == ["0.462", "1.683"]
    assert lines[-1].split()[-2:] == ["0.619", "2.907"]


@pytest.fixture
def arms_folder(tmp_path):
    found = {
        "rounds": 3,
        "arms": {
            "1 process x 1 thread": {
                "seconds": [9.0, 1.0, 1.2, 1.1],
                "loader_seconds": [5.0, 0.4, 0.6, 0.5],
                "val_acc": 0.9,
            },
            "2 processes x 1 thread": {
                "seconds": [9.0, 0.5, 0.7, 0.6],
                "loader_seconds": [5.0, 0.2, 0.2, 0.3],
                "val_acc": 0.9,
            },
        },
        "weight_gap": 3e-07,
    }
    (tmp_path / "arms.json").write_text(json.dumps(found))
    return tmp_path


def test_the_arms_leave_out_round_1_and_split_each_epoch_into_loader_and_rest(arms_folder):
    figures = read_arms(arms_folder)
    one = figures["1 process x 1 thread"]
    assert one["epochs"] == [1.0, 1.2, 1.1] and one["epoch"] == 1.1
    assert one["loader"] == 0.5
    assert one["rests"] == pytest.approx([0.6, 0.6, 0.6]) and one["rest"] == pytest.approx(0.6)
    table = arms_table(figures, "effective batch 128")
    row = next(line for line in table.splitlines() if line.startswith("2 processes"))
    assert [cell.strip() for cell in row.split("|")] == [
        "2 processes x 1 thread",
        "0.60",
        "0.50 to 0.70",
        "0.20",
        "0.30",  # the median of 0.3, 0.5, 0.3: medians need not add up to the epoch's
        "0.9000",
    ]


def test_the_arms_table_widens_its_arm_column_to_the_longest_name(arms_folder):
    figures = read_arms(arms_folder)
    long_name = "DataLoader pair, 2 processes, a longer name"  # over the 24 columns
    figures = {long_name: figures["2 processes x 1 thread"], **figures}
    lines = arms_table(figures, "effective batch 128").splitlines()[1:]  # header and rows
    # Every line's column bars sit at the same places, the long name's row included.
    bars = {tuple(i for i, char in enumerate(line) if char == "|") for line in lines}
    assert len(bars) == 1, lines
    assert lines[1].startswith(f"{long_name} |")


def test_the_fetching_seconds_leave_out_round_1_as_the_rest_do(arms_folder):
    found = json.loads((arms_folder / "arms.json").read_text())
    found["arms"]["1 process x 1 thread"]["fetch_seconds"] = [4.0, 0.3, 0.4, 0.35]
    (arms_folder / "arms.json").write_text(json.dumps(found))
    figures = read_arms(arms_folder)
    assert figures["1 process x 1 thread"]["fetches"] == [0.3, 0.4, 0.35]
    assert "fetches" not in figures["2 processes x 1 thread"]  # a file written without them


def test_a_missing_results_file_is_named_with_the_fix(tmp_path):
    for read in (read_arms, read_weight_gap):
        with pytest.raises(FileNotFoundError, match=r"arms\.json: run compare_arms\.py with"):
            read(tmp_path)


def test_the_weight_gap_is_read_back_as_compare_arms_wrote_it(arms_folder):
    assert read_weight_gap(arms_folder) == 3e-07


def test_a_results_file_without_the_weight_gap_is_named_with_the_fix(arms_folder):
    found = json.loads((arms_folder / "arms.json").read_text())
    del found["weight_gap"]
    (arms_folder / "arms.json").write_text(json.dumps(found))
    with pytest.raises(KeyError, match=r"arms\.json has no weight_gap: rerun compare_arms"):
        read_weight_gap(arms_folder)


def test_an_arms_speed_ups_are_the_baselines_epochs_over_its_own_round_by_round(arms_folder):
    figures = read_arms(arms_folder)
    rounds = arm_speed_ups(figures, "2 processes x 1 thread", "1 process x 1 thread")
    # Round 1 left out: 1.0 / 0.5, 1.2 / 0.7, 1.1 / 0.6, each above 1.1, so every round faster.
    assert rounds.speed_ups == pytest.approx((2.0, 1.2 / 0.7, 1.1 / 0.6))
    assert (rounds.faster, rounds.tied, rounds.slower) == (3, 0, 0)
    # The other way round, every round is slower: the direction is baseline over arm.
    backwards = arm_speed_ups(figures, "1 process x 1 thread", "2 processes x 1 thread")
    assert backwards.slower == 3 and backwards.median < 1
    # A wider tie band turns the smallest speed-up (1.71) into a tie.
    assert arm_speed_ups(figures, "2 processes x 1 thread", "1 process x 1 thread", 0.8).tied == 1
    with pytest.raises(KeyError, match="no arm 'DDP'.*their arms"):
        arm_speed_ups(figures, "DDP", "1 process x 1 thread")


def test_the_parts_speed_ups_are_the_baselines_median_seconds_over_the_arms(arms_folder):
    figures = read_arms(arms_folder)
    parts = part_speed_ups(figures, "2 processes x 1 thread", "1 process x 1 thread")
    # Loader medians 0.5 and 0.2, the rests' 0.6 and 0.3: above 1, the arm spent less time.
    assert parts == pytest.approx({"loader": 2.5, "rest": 2.0})


def test_a_part_inside_the_rounds_spread_gets_no_direction():
    def arm(loads: list[float], rests: list[float]) -> dict:
        return {
            "loads": loads,
            "rests": rests,
            "loader": sorted(loads)[1],
            "rest": sorted(rests)[1],
        }

    figures = {
        # the rest: medians 0.08 and 0.12 (a ratio of 0.67, "slower" by the band alone),
        # but the baseline's rests range over 0.10 s, more than the 0.04 s gap
        "two": arm([0.20, 0.21, 0.22], [0.11, 0.12, 0.13]),
        "one": arm([0.60, 0.61, 0.62], [0.03, 0.08, 0.13]),
    }
    words = part_words(figures, "two", "one")
    assert words == {"loader": "faster", "rest": "within the rounds' spread"}
    # Narrower rounds: the same medians are judged by the band again.
    figures["one"]["rests"] = [0.079, 0.08, 0.081]
    assert part_words(figures, "two", "one")["rest"] == "slower"
    # One round: no range, so the band alone judges.
    one_round = {
        name: {**arm_figures, "loads": arm_figures["loads"][:1], "rests": arm_figures["rests"][:1]}
        for name, arm_figures in figures.items()
    }
    assert part_words(one_round, "two", "one") == {"loader": "faster", "rest": "slower"}
    # Beyond the spread but inside the band: a tie; a wider band turns "faster" into one too.
    one_round["two"]["rest"] = 0.075
    assert part_words(one_round, "two", "one")["rest"] == "a tie"
    assert part_words(one_round, "two", "one", tie=2.0)["loader"] == "a tie"


def test_every_comparison_is_made_at_every_launch_and_tabled(arms_folder):
    figures = read_arms(arms_folder)
    # A second launch where the 2 processes' epochs are 1.5 times as long: other speed-ups.
    slower = {arm: dict(row) for arm, row in figures.items()}
    two = slower["2 processes x 1 thread"]
    two["epochs"] = [1.5 * seconds for seconds in two["epochs"]]
    two["epoch"] = 1.5 * two["epoch"]
    pair = ("2 processes x 1 thread", "1 process x 1 thread")
    results = compare_launches({128: figures, 2048: slower}, {"the pair": pair})
    for batch, launch in ((128, figures), (2048, slower)):
        found = results["the pair"][batch]
        assert found.rounds == arm_speed_ups(launch, *pair)
        assert found.parts == part_speed_ups(launch, *pair)
        assert found.words == part_words(launch, *pair)
    assert results["the pair"][2048].rounds.speed_ups == pytest.approx(
        [speed_up / 1.5 for speed_up in results["the pair"][128].rounds.speed_ups]
    )
    # The tie band is passed on: a band of 0.8 ties the 1.71 round at 128.
    assert compare_launches({128: figures}, {"the pair": pair}, 0.8)["the pair"][128].rounds.tied
    table = speed_up_table(results, "speed-ups").splitlines()
    # The table alone: its title, its head and a row per comparison, no round-by-round line.
    assert len(table) == 3 and table[0] == "speed-ups"
    assert [cell.strip() for cell in table[1].split("|")] == ["comparison", "at 128", "at 2048"]
    # 2048: 2.00 / 1.5, 1.71 / 1.5, 1.83 / 1.5 -> 1.33, 1.14, 1.22: every round faster.
    assert [cell.strip() for cell in table[2].split("|")] == [
        "the pair",
        "1.83 (3/0/0)",
        "1.22 (3/0/0)",
    ]
    # Round by round: the title, then one line per comparison and launch.
    assert round_by_round_table(results, "each round").splitlines() == [
        "each round",
        "the pair at 128, median of the rounds: 1.83 (round by round: 2.00 1.71 1.83)",
        "the pair at 2048, median of the rounds: 1.22 (round by round: 1.33 1.14 1.22)",
    ]


def test_the_comparisons_are_named_for_the_devices_that_ran_them():
    assert (device_word(cpu_only=True), device_word(cpu_only=False)) == ("CPU", "GPU")
    on_cpus, on_gpus = comparison_names(cpu_only=True), comparison_names(cpu_only=False)
    assert list(on_cpus) == ["dataloader", "same", "lean"]
    # The names lesson 06's tables and take-away lines print, and its markdown quotes.
    assert on_cpus["dataloader"] == ComparisonName(
        "DataLoader pair (1 CPU vs 2)", "DataLoader pair, 1 CPU vs 2"
    )
    assert on_cpus["same"].name == "2 processes vs 1 process, 2 threads (same CPUs)"
    assert on_cpus["lean"].question == "lean pair, 1 CPU vs 2"
    # On 2 GPUs the pairs set 1 GPU against 2, and so does the "same" comparison.
    assert on_gpus["dataloader"].name == "DataLoader pair (1 GPU vs 2)"
    assert on_gpus["same"].name == "2 processes vs 1 process, 2 threads (1 GPU vs 2)"


def test_a_take_away_line_is_made_for_each_comparison_and_launch_asked_for():
    pair = ComparisonName("the pair", "one against two")
    results = {
        "the pair": {
            128: Comparison(count_rounds([0.5, 0.6, 0.55]), {}, {}),
            2048: Comparison(count_rounds([1.5, 1.05, 1.6]), {}, {}),
        },
        "another": {128: Comparison(count_rounds([1.0]), {}, {})},  # not asked for
    }
    assert take_away_lines(results, [pair]) == [
        "take-away at 128, one against two: slower in every round (median 0.55)",
        "take-away at 2048, one against two: no clear winner: 2 faster, 1 tied, 0 slower "
        "(median 1.50)",
    ]
    with pytest.raises(KeyError, match="no comparison 'lean' in the results; theirs"):
        take_away_lines(results, [ComparisonName("lean", "?")])


def test_digits_judge_rounds_and_parts_as_printed():
    # Epochs whose rounds give 1.1004 (printed 1.10: a tie) and 1.5; rests' ratio 1.1004 too.
    one = {"epochs": [1.1004, 1.5], "loads": [0.5, 0.5], "loader": 0.5}
    one |= {"rests": [1.1004, 1.1004], "rest": 1.1004}
    two = {"epochs": [1.0, 1.0], "loads": [0.2, 0.2], "loader": 0.2}
    two |= {"rests": [1.0, 1.0], "rest": 1.0}
    figures = {"one": one, "two": two}
    unrounded = arm_speed_ups(figures, "two", "one")
    assert (unrounded.faster, unrounded.tied) == (2, 0)
    as_printed = arm_speed_ups(figures, "two", "one", digits=2)
    assert (as_printed.faster, as_printed.tied) == (1, 1)
    assert part_words(figures, "two", "one")["rest"] == "faster"
    assert part_words(figures, "two", "one", digits=2)["rest"] == "a tie"
    found = compare_launches({128: figures}, {"pair": ("two", "one")}, digits=2)["pair"][128]
    assert (found.rounds.tied, found.words["rest"]) == (1, "a tie")


def test_the_tables_print_speed_ups_to_the_digits_that_judge_them_as_printed():
    # A round at 1.1004 prints as 1.10 in every table and line, and judged at
    # SPEED_UP_DIGITS it is the tie it reads as.
    one = {"epochs": [1.1004, 1.5], "loads": [0.5, 0.5], "loader": 0.5}
    one |= {"rests": [1.0, 1.0], "rest": 1.0}
    two = {"epochs": [1.0, 1.0], "loads": [0.5, 0.5], "loader": 0.5}
    two |= {"rests": [1.0, 1.0], "rest": 1.0}
    found = compare_launches(
        {128: {"one": one, "two": two}}, {"pair": ("two", "one")}, digits=SPEED_UP_DIGITS
    )
    assert found["pair"][128].rounds.tied == 1
    assert "round by round: 1.10 1.50" in round_by_round_table(found, "t")
    assert "(median 1.30)" in take_away_lines(found, [ComparisonName("pair", "q")])[0]
    assert "1.30 (1/1/0)" in speed_up_table(found, "t")


def test_shared_verdict_gives_the_words_all_figures_share_or_says_they_differ():
    assert shared_verdict({"the pair's figure": "slower", "rank 0's own": "slower"}) == "slower"
    assert shared_verdict({"the pair's figure": "slower", "rank 0's own": "faster"}) == (
        "no clear verdict (the pair's figure: slower, rank 0's own: faster)"
    )
    assert shared_verdict({"one": "a tie"}) == "a tie"
    with pytest.raises(ValueError, match="verdicts is empty"):
        shared_verdict({})
