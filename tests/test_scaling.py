import json

import pytest

from course_utils.scaling import (
    arm_speed_ups,
    arms_table,
    comm_cost_table,
    read_arms,
    read_comm_cost,
    read_weight_gap,
    shown_parts,
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
    assert one["rest"] == pytest.approx(0.6)
    table = arms_table(figures, "effective batch 128")
    row = next(line for line in table.splitlines() if line.startswith("2 processes"))
    assert [cell.strip() for cell in row.split("|")] == [
        "2 processes x 1 thread",
        "0.600",
        "0.500 to 0.700",
        "0.200",
        "0.400",  # the median epoch (0.60) minus the median loading (0.20), as the figure
        "0.9000",
    ]


def test_the_printed_parts_add_up_where_rounding_the_exact_rest_would_not():
    row = {"epoch": 0.3914, "loader": 0.1526}  # the exact rest, 0.2388, prints as 0.239
    assert shown_parts(row) == (0.391, 0.153, 0.238)  # 0.391 = 0.153 + 0.238, as printed
    figures = {"1 process, 1 thread": {**row, "epochs": [0.39, 0.3914], "val_acc": 0.9}}
    cells = [cell.strip() for cell in arms_table(figures, "t").splitlines()[2].split("|")]
    assert cells[1:5] == ["0.391", "0.390 to 0.391", "0.153", "0.238"]


def test_the_arms_table_widens_its_arm_column_to_the_longest_name(arms_folder):
    figures = read_arms(arms_folder)
    long_name = "DataLoader pair, 2 processes, a longer name"  # over the 24 columns
    figures = {long_name: figures["2 processes x 1 thread"], **figures}
    lines = arms_table(figures, "effective batch 128").splitlines()[1:]  # header and rows
    # Every line's column bars sit at the same places, the long name's row included.
    bars = {tuple(i for i, char in enumerate(line) if char == "|") for line in lines}
    assert len(bars) == 1, lines
    assert lines[1].startswith(f"{long_name} |")


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


def test_digits_judge_rounds_as_printed():
    # Epochs whose rounds give 1.1004 (printed 1.10: a tie) and 1.5.
    one = {"epochs": [1.1004, 1.5], "loads": [0.5, 0.5], "loader": 0.5}
    one |= {"rest": 1.1004}
    two = {"epochs": [1.0, 1.0], "loads": [0.2, 0.2], "loader": 0.2}
    two |= {"rest": 1.0}
    figures = {"one": one, "two": two}
    unrounded = arm_speed_ups(figures, "two", "one")
    assert (unrounded.faster, unrounded.tied) == (2, 0)
    as_printed = arm_speed_ups(figures, "two", "one", digits=2)
    assert (as_printed.faster, as_printed.tied) == (1, 1)


def test_the_printed_loading_is_capped_at_the_epoch_as_the_figure_draws_it():
    # Over uneven rounds the loading's median can exceed the epoch's: no negative rest.
    assert shown_parts({"epoch": 0.3, "loader": 0.31}) == (0.3, 0.3, 0.0)


@pytest.mark.parametrize(
    "row",
    [
        {"epoch": 0.3914, "loader": 0.1526, "epochs": [0.3828, 0.4]},  # rest 0.2388 -> 0.238
        {"epoch": 0.3, "loader": 0.31, "epochs": [0.29, 0.31]},  # loading above the epoch
    ],
)
def test_the_table_and_the_figure_print_an_arms_parts_alike(row):
    import matplotlib.pyplot as plt

    from course_utils.plotting import plot_epoch_parts

    epoch, loader, rest = shown_parts(row)  # the table's parts
    figure = plot_epoch_parts({"one launch": {"arm": row}}, "cpu")  # median of row["epochs"]
    label = figure.axes[0].texts[0].get_text()
    plt.close(figure)
    assert label == f"median {epoch:.3f} s = {loader:.3f} + {rest:.3f}"
