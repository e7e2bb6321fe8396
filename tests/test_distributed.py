"""Tests of course_utils.distributed: real gloo process groups on loopback, with time limits."""

import math
import os
import re
import runpy
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from conftest import NOTEBOOKS, fake_cuda

from course_utils import distributed
from course_utils.distributed import (
    GLOO_SETTLE_SECONDS,
    PortInUseError,
    check_port_free,
    check_world_size,
    free_port,
    function_file,
    lesson_scripts,
    process_group,
    rank_print,
    run_torchrun,
    simulate_group,
    torchrun_command,
)

JOIN_SECONDS = 60


def test_free_port_can_be_bound():
    port = free_port()
    assert 0 < port < 65536
    check_port_free(port)  # does not raise


def test_a_port_in_use_is_refused_with_its_number():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(PortInUseError, match=f"port {port} .* already in use"):
            check_port_free(port)


@pytest.mark.parametrize("port", [0, 70_000, "29500", True])
def test_a_port_that_is_no_port_is_refused(port):
    with pytest.raises(ValueError, match="1 to 65535"):
        check_port_free(port)


def test_check_world_size_counts_batches_per_process():
    assert check_world_size(50_000, 64, 2) == 391
    assert check_world_size(128, 64, 2) == 1
    assert check_world_size(130, 64, 2) == 2  # 65 samples each: a batch of 64, then 1
    assert check_world_size(128, 64, 1) == 2


def test_an_effective_batch_larger_than_the_data_is_refused_with_the_shard_size():
    message = "effective batch of 512, more than the 200 samples: each process would get 25"
    with pytest.raises(ValueError, match=message):
        check_world_size(200, 64, 8)


def test_an_effective_batch_equal_to_the_data_is_accepted():
    assert check_world_size(512, 64, 8) == 1
    with pytest.raises(ValueError, match="effective batch of 512, more than the 511 samples"):
        check_world_size(511, 64, 8)


@pytest.mark.parametrize("bad", [0, -1, 2.0, True])
def test_check_world_size_refuses_non_counts(bad):
    with pytest.raises(ValueError, match="positive whole number"):
        check_world_size(100, 10, bad)


def test_process_group_outside_torchrun_says_how_to_launch(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(RuntimeError, match="launched by torchrun"):
        with process_group():
            pass


def _fake_launch(monkeypatch) -> list:
    """Launch variables set and torch.distributed's calls replaced by a recorder."""
    calls = []
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", "29500")
    monkeypatch.setattr(dist, "is_initialized", lambda: False)
    monkeypatch.setattr(dist, "init_process_group", lambda **kw: calls.append("init"))
    monkeypatch.setattr(dist, "get_rank", lambda: 0)
    monkeypatch.setattr(dist, "get_world_size", lambda: 1)
    monkeypatch.setattr(dist, "barrier", lambda: calls.append("barrier"))
    monkeypatch.setattr(dist, "destroy_process_group", lambda: calls.append("destroy"))
    monkeypatch.setattr(time, "sleep", lambda seconds: calls.append(("sleep", seconds)))
    return calls


def test_process_group_pauses_after_leaving_a_gloo_group(monkeypatch):
    calls = _fake_launch(monkeypatch)
    with process_group(backend="gloo"):
        calls.append("body")
    assert calls == ["init", "body", "barrier", "destroy", ("sleep", GLOO_SETTLE_SECONDS)]
    calls.clear()
    with pytest.raises(KeyError):
        with process_group(backend="gloo", settle_seconds=0.25):
            raise KeyError("the script failed")
    # After an error: no barrier (the partner may never come), but the same pause.
    assert calls == ["init", "destroy", ("sleep", 0.25)]


def test_process_group_does_not_pause_for_other_backends(monkeypatch):
    calls = _fake_launch(monkeypatch)
    with process_group(backend="mpi"):
        pass
    assert calls == ["init", "barrier", "destroy"]


def test_process_group_refuses_a_negative_pause(monkeypatch):
    calls = _fake_launch(monkeypatch)
    with pytest.raises(ValueError, match="settle_seconds must be 0 or more"):
        with process_group(settle_seconds=-1):
            pass
    assert calls == []


def test_rank_print_outside_a_group_prints(capsys):
    rank_print("hello", 1)
    assert capsys.readouterr().out == "hello 1\n"


def test_torchrun_command_uses_this_python():
    command = torchrun_command("train.py", 4, ["--epochs", 2])
    assert command[:3] == [sys.executable, "-m", "torch.distributed.run"]
    assert "--standalone" in command and "--nproc_per_node=4" in command
    assert command[-3:] == ["train.py", "--epochs", "2"]
    with_port = torchrun_command("train.py", 2, port=29_999)
    assert "--standalone" not in with_port
    assert "--rdzv-endpoint=127.0.0.1:29999" in with_port
    with pytest.raises(ValueError, match="nproc"):
        torchrun_command("train.py", 0)


def _all_reduce_worker(rank: int, world_size: int, port: int, results) -> None:
    """One spawned process: join the group, all-reduce rank + 1, report what it saw."""
    import torch

    os.environ.update(
        RANK=str(rank),
        WORLD_SIZE=str(world_size),
        LOCAL_RANK=str(rank),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    with process_group(backend="gloo", timeout=30) as group:
        value = torch.tensor([float(rank + 1)])
        dist.all_reduce(value)
        results.put((group.rank, group.world_size, group.backend, value.item()))
    results.put((rank, "destroyed", dist.is_initialized()))


@pytest.mark.slow
def test_two_spawned_processes_all_reduce_through_process_group():
    context = mp.get_context("spawn")
    results = context.Queue()
    port = free_port()
    processes = [
        context.Process(target=_all_reduce_worker, args=(rank, 2, port, results))
        for rank in range(2)
    ]
    for process in processes:
        process.start()
    try:
        for process in processes:
            process.join(timeout=JOIN_SECONDS)
        assert all(process.exitcode == 0 for process in processes), [
            process.exitcode for process in processes
        ]
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
    seen = [results.get(timeout=5) for _ in range(4)]
    sums = sorted(item for item in seen if item[1] != "destroyed")
    assert sums == [(0, 2, "gloo", 3.0), (1, 2, "gloo", 3.0)]
    assert sorted(item for item in seen if item[1] == "destroyed") == [
        (0, "destroyed", False),
        (1, "destroyed", False),
    ]


@pytest.mark.slow
def test_a_missing_partner_fails_within_the_timeout():
    """Rank 0 of a world of 2, alone: init must fail after its timeout, never hang."""
    script = textwrap.dedent(
        """
        from course_utils.distributed import process_group
        with process_group(backend="gloo", timeout=3):
            pass
        """
    )
    environment = {
        **os.environ,
        "RANK": "0",
        "WORLD_SIZE": "2",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(free_port()),
    }
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=environment,
        capture_output=True,
        text=True,
        timeout=JOIN_SECONDS,
    )
    assert result.returncode != 0
    assert time.perf_counter() - start < JOIN_SECONDS
    assert "timeout" in result.stderr.lower() or "timed out" in result.stderr.lower()


TORCHRUN_SCRIPT = """
import torch
import torch.distributed as dist
from course_utils.distributed import process_group, rank_print

with process_group(timeout=30) as group:
    value = torch.tensor([float(group.rank + 1)])
    dist.all_reduce(value)
    rank_print(f"threads {torch.get_num_threads()}", all_ranks=True)
    rank_print(f"world {group.world_size} backend {group.backend} sum {value.item():g}")
"""


@pytest.mark.slow
def test_run_torchrun_starts_two_gloo_processes(tmp_path):
    script = tmp_path / "all_reduce.py"
    script.write_text(TORCHRUN_SCRIPT)
    result = run_torchrun(script, 2, timeout=JOIN_SECONDS)
    assert "world 2 backend gloo sum 3" in result.output
    assert result.output.count("world 2") == 1, "rank_print printed on rank 0 only"
    assert "[rank 0] threads 1" in result.output and "[rank 1] threads 1" in result.output
    assert 0 < result.seconds < JOIN_SECONDS
    assert result.peak_rss_mb >= result.peak_worker_rss_mb > 0


@pytest.mark.slow
def test_run_torchrun_without_sampling_reads_no_memory(tmp_path, monkeypatch):
    # Section 8's timed launches share 2 CPUs: the notebook must not sample them meanwhile.
    def sampled(*args):
        raise AssertionError("memory was sampled although sample_memory=False")

    monkeypatch.setattr(distributed, "_tree_rss", sampled)
    monkeypatch.setattr(distributed, "_tree_pss", sampled)
    script = tmp_path / "all_reduce.py"
    script.write_text(TORCHRUN_SCRIPT)
    result = run_torchrun(script, 2, timeout=JOIN_SECONDS, sample_memory=False)
    assert "world 2 backend gloo sum 3" in result.output
    assert math.isnan(result.peak_rss_mb) and math.isnan(result.peak_pss_mb)
    assert math.isnan(result.peak_worker_rss_mb)
    assert 0 < result.seconds < JOIN_SECONDS


@pytest.mark.slow
def test_run_torchrun_reports_a_failing_script(tmp_path):
    script = tmp_path / "fails.py"
    script.write_text("raise SystemExit('this script fails on purpose')\n")
    with pytest.raises(RuntimeError, match="exited with status"):
        run_torchrun(script, 2, timeout=JOIN_SECONDS)


@pytest.mark.slow
def test_run_torchrun_stops_a_stuck_run(tmp_path):
    script = tmp_path / "stuck.py"
    script.write_text("import time\ntime.sleep(600)\n")
    start = time.perf_counter()
    with pytest.raises(TimeoutError, match="more than 8 s"):
        run_torchrun(script, 1, timeout=8)
    assert time.perf_counter() - start < 30


def test_run_torchrun_refuses_a_port_in_use(tmp_path):
    script = tmp_path / "never_runs.py"
    script.write_text("raise SystemExit(1)\n")
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        with pytest.raises(PortInUseError, match="already in use"):
            run_torchrun(script, 2, port=holder.getsockname()[1])


def test_run_torchrun_refuses_a_missing_script(tmp_path):
    with pytest.raises(FileNotFoundError, match="no script"):
        run_torchrun(tmp_path / "missing.py", 2)


def test_a_gloo_group_comes_with_the_cpu(monkeypatch):
    _fake_launch(monkeypatch)
    chosen = fake_cuda(monkeypatch, gpus=2)
    with process_group(backend="gloo") as group:
        assert group.device == torch.device("cpu")
    assert chosen == []


def test_an_nccl_group_comes_with_the_gpu_of_its_local_rank(monkeypatch):
    calls = _fake_launch(monkeypatch)
    monkeypatch.setenv("LOCAL_RANK", "1")
    chosen = fake_cuda(monkeypatch, gpus=2)
    with process_group() as group:
        assert (group.backend, group.device) == ("nccl", torch.device("cuda", 1))
    assert chosen == [torch.device("cuda", 1)]
    assert calls[0] == "init"


def test_an_nccl_group_without_a_gpu_for_this_process_is_refused(monkeypatch):
    calls = _fake_launch(monkeypatch)
    monkeypatch.setenv("LOCAL_RANK", "1")
    chosen = fake_cuda(monkeypatch, gpus=1)  # Colab: one GPU, a second process
    with pytest.raises(RuntimeError, match="LOCAL_RANK 1.*1 GPU.*cpu_only=True"):
        with process_group():
            pass
    assert calls == [] and chosen == []


def test_run_torchrun_refuses_more_processes_than_gpus_before_starting(monkeypatch, tmp_path):
    script = tmp_path / "script.py"
    script.write_text("print('ran')\n")
    fake_cuda(monkeypatch, gpus=1)
    started = []
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **kw: started.append(kw))
    with pytest.raises(ValueError, match="2 processes need 2 GPUs.*has 1.*cpu_only=True"):
        run_torchrun(script, 2)
    assert started == []


@pytest.mark.slow
def test_run_torchrun_cpu_only_hides_the_gpus(tmp_path):
    script = tmp_path / "devices.py"
    script.write_text(
        "import os\nfrom course_utils.distributed import process_group, rank_print\n"
        "with process_group() as group:\n"
        "    rank_print(repr(os.environ['CUDA_VISIBLE_DEVICES']), group.backend, group.device)\n"
    )
    result = run_torchrun(script, 2, timeout=JOIN_SECONDS, cpu_only=True)
    assert "'' gloo cpu" in result.output


def test_torchrun_command_with_forked_workers_takes_torchruns_options():
    command = torchrun_command("train.py", 2, ["--epochs", 1], fork_workers=True)
    assert command[:3] == [sys.executable, "-m", "course_utils.distributed"]
    assert command[3:] == ["--standalone", "--nproc_per_node=2", "train.py", "--epochs", "1"]


@pytest.mark.parametrize(
    "gpus, cpu_only, env, module",
    [
        (2, False, None, "torch.distributed.run"),
        (2, True, None, "course_utils.distributed"),
        (2, False, {"CUDA_VISIBLE_DEVICES": ""}, "course_utils.distributed"),
        (0, False, None, "course_utils.distributed"),
    ],
    ids=["on the GPUs: fresh Pythons", "cpu_only: forked", "GPUs hidden by env", "no GPU"],
)
def test_run_torchrun_forks_only_workers_that_stay_off_cuda(
    monkeypatch, tmp_path, gpus, cpu_only, env, module
):
    # torchrun's launcher asks how many accelerators there are before it starts the
    # workers; with a GPU visible, a worker forked after that cannot start CUDA.
    if gpus:
        fake_cuda(monkeypatch, gpus=gpus)
    else:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    script = tmp_path / "train.py"
    script.write_text("")
    started = []

    def popen(command, **options):
        started.append(command)
        raise OSError("stop here: the test only looks at the command")

    monkeypatch.setattr(subprocess, "Popen", popen)
    with pytest.raises(OSError, match="stop here"):
        run_torchrun(script, 2, cpu_only=cpu_only, env=env, fork_workers=True)
    assert started[0][2] == module


@pytest.mark.slow
@pytest.mark.parametrize("fork_workers", [True, False])
def test_run_torchrun_forked_or_not_gives_the_same_launch(tmp_path, fork_workers):
    script = tmp_path / "where.py"
    script.write_text(
        "import os, sys\nimport torch.distributed as dist\n"
        "from course_utils.distributed import process_group, rank_print\n"
        "with process_group(timeout=30) as group:\n"
        "    rank_print(sys.argv[1:], os.environ['LOCAL_RANK'], os.getppid(), all_ranks=True)\n"
    )
    result = run_torchrun(
        script, 2, ["--flag", "x"], timeout=JOIN_SECONDS, fork_workers=fork_workers
    )
    lines = sorted(line for line in result.output.splitlines() if line.startswith("[rank"))
    assert [line.split("]")[0] for line in lines] == ["[rank 0", "[rank 1"]
    assert all("['--flag', 'x']" in line for line in lines)
    assert result.command[2] == (
        "course_utils.distributed" if fork_workers else "torch.distributed.run"
    )


@pytest.mark.slow
def test_forked_workers_report_a_failing_script(tmp_path):
    script = tmp_path / "fails.py"
    script.write_text("raise SystemExit('this script fails on purpose')\n")
    with pytest.raises(RuntimeError, match="exited with status"):
        run_torchrun(script, 2, timeout=JOIN_SECONDS, fork_workers=True)


def test_rank_print_writes_each_line_in_one_piece(monkeypatch, capsys):
    writes = []
    monkeypatch.setattr(dist, "is_initialized", lambda: True)
    monkeypatch.setattr(dist, "get_rank", lambda: 1)

    class Recorder:
        def write(self, text):
            writes.append(text)

        def flush(self):
            pass

    rank_print("a", 2, all_ranks=True, file=Recorder())
    assert [text for text in writes if text] == ["[rank 1] a 2\n"]  # print adds end=""
    # Rank 0's own lines too (all_ranks=False): print(*values) would write "b", " ", "3"
    # and the end apart, and a partner's line could land between them.
    writes.clear()
    monkeypatch.setattr(dist, "get_rank", lambda: 0)
    rank_print("b", 3, file=Recorder())
    assert [text for text in writes if text] == ["b 3\n"]
    # None means the default separator and end, as for print.
    writes.clear()
    rank_print("c", 4, sep=None, end=None, file=Recorder())
    assert [text for text in writes if text] == ["c 4\n"]


def test_simulate_group_sums_across_its_ranks_and_restores_torch_distributed():
    saved = dist.all_reduce

    def work(rank):
        value = torch.tensor([float(rank + 1)])
        dist.all_reduce(value)
        return dist.get_rank(), dist.get_world_size(), value.item()

    assert simulate_group(3, work) == [(0, 3, 6.0), (1, 3, 6.0), (2, 3, 6.0)]
    assert dist.all_reduce is saved


def test_simulate_group_refuses_what_gloo_refuses_and_uneven_calls():
    def average(rank):
        dist.all_reduce(torch.ones(1), op=dist.ReduceOp.AVG)

    with pytest.raises(RuntimeError, match="sums only"):
        simulate_group(2, average)

    def uneven(rank):
        if rank == 0:
            dist.all_reduce(torch.ones(1))

    with pytest.raises(RuntimeError, match="did not make the same all_reduce calls"):
        simulate_group(2, uneven, timeout=2)


def test_simulate_group_passes_on_an_error_of_the_work():
    def fails(rank):
        if rank == 1:
            raise KeyError("rank 1 fails")
        dist.all_reduce(torch.ones(1))

    with pytest.raises(KeyError, match="rank 1 fails"):
        simulate_group(2, fails, timeout=5)


@pytest.mark.parametrize(
    "platform, env, expected",
    [
        ("darwin", None, "lo0"),
        ("darwin", {"GLOO_SOCKET_IFNAME": "en0"}, "en0"),
        ("linux", None, None),
    ],
    ids=["Mac: the loopback", "Mac: an interface already named", "Linux: gloo's own choice"],
)
def test_run_torchrun_gives_gloo_the_loopback_on_a_mac(
    monkeypatch, tmp_path, platform, env, expected
):
    # On macOS gloo resolves the machine's name for its address, and ".local" names often
    # resolve to none (pytorch/pytorch#26049); the processes of one launch share a machine.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(sys, "platform", platform)
    monkeypatch.delenv("GLOO_SOCKET_IFNAME", raising=False)
    script = tmp_path / "train.py"
    script.write_text("")
    started = []

    def popen(command, **options):
        started.append(options["env"])
        raise OSError("stop here: the test only looks at the environment")

    monkeypatch.setattr(subprocess, "Popen", popen)
    with pytest.raises(OSError, match="stop here"):
        run_torchrun(script, 2, cpu_only=True, env=env)
    assert started[0].get("GLOO_SOCKET_IFNAME") == expected


@pytest.mark.parametrize(
    "platform, backend, local_world_size, named, expected",
    [
        ("darwin", "gloo", "2", None, "lo0"),
        ("darwin", "gloo", "2", "en0", "en0"),
        ("darwin", "gloo", "1", None, None),
        ("darwin", "mpi", "2", None, None),
        ("linux", "gloo", "2", None, None),
    ],
    ids=[
        "Mac, gloo, one machine: the loopback",
        "Mac: an interface already named",
        "Mac, processes on two machines: gloo's own choice",
        "Mac, another backend: untouched",
        "Linux: gloo's own choice",
    ],
)
def test_process_group_gives_gloo_the_loopback_on_a_mac(
    monkeypatch, platform, backend, local_world_size, named, expected
):
    # On macOS gloo resolves the machine's name for its address, and ".local" names often
    # resolve to none (pytorch/pytorch#26049). In process_group, so that a script started
    # by torchrun in a terminal gets it too, not only those run_torchrun starts.
    calls = _fake_launch(monkeypatch)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", local_world_size)
    monkeypatch.setattr(sys, "platform", platform)
    if named is None:
        monkeypatch.delenv("GLOO_SOCKET_IFNAME", raising=False)
    else:
        monkeypatch.setenv("GLOO_SOCKET_IFNAME", named)
    seen = []
    monkeypatch.setattr(
        dist, "init_process_group", lambda **kw: seen.append(os.environ.get("GLOO_SOCKET_IFNAME"))
    )
    with process_group(backend=backend, settle_seconds=0):
        calls.append(os.environ.get("GLOO_SOCKET_IFNAME"))
    assert seen == [expected] and calls[0] == expected
    # Set for the group's life only: afterwards the environment is as it was.
    assert os.environ.get("GLOO_SOCKET_IFNAME") == named


def test_lesson_scripts_takes_the_first_place_that_is_a_folder(tmp_path):
    (tmp_path / "first").write_text("a file, not a folder")
    (tmp_path / "second").mkdir()
    (tmp_path / "third").mkdir()
    places = [tmp_path / "missing", tmp_path / "first", str(tmp_path / "second")]
    places.append(tmp_path / "third")
    assert lesson_scripts(places) == tmp_path / "second"
    with pytest.raises(FileNotFoundError, match="missing.*first") as error:
        lesson_scripts(places[:2])
    assert str(tmp_path / "first") in str(error.value)


def test_lesson_scripts_finds_them_from_notebooks_from_student_and_from_elsewhere(
    tmp_path, monkeypatch
):
    (tmp_path / "notebooks" / "scripts").mkdir(parents=True)
    (tmp_path / "student").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")
    assert lesson_scripts() == Path("scripts")  # relative, as the lesson's commands print it
    monkeypatch.chdir(tmp_path / "student")
    assert lesson_scripts() == Path("../notebooks/scripts")
    # No scripts here: the checkout's, which holds course_utils (an editable install, as the
    # course's `make install` makes; from site-packages there would be no checkout).
    monkeypatch.chdir(tmp_path)
    assert lesson_scripts() == NOTEBOOKS / "scripts"
    assert (lesson_scripts() / "train_ddp.py").is_file()


def _doubled(tensor):
    return 2 * tensor


def test_a_function_file_holds_the_function_a_script_can_load(tmp_path):
    path = function_file(_doubled, tmp_path / "learner.py")
    loaded = runpy.run_path(str(path))
    assert loaded["_doubled"](torch.ones(2)).tolist() == [2.0, 2.0]
    assert "dist" in loaded and "nn" in loaded  # the imports a lesson's function may use
    with pytest.raises(TypeError, match="defined with def"):
        function_file(len, tmp_path / "builtin.py")


# --- save_mnist_split_in_child (lesson 06) ---


def test_save_mnist_split_in_child_writes_the_split_and_never_loads_torchvision_here(
    monkeypatch, tmp_path
):
    from conftest import make_idx_dataset

    make_idx_dataset(tmp_path)  # 3 training and 2 test images
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))  # the children read it
    code = (
        "import sys; from course_utils.distributed import save_mnist_split_in_child as s; "
        "print(s(sys.argv[1], val_size=1)); print('torchvision' in sys.modules)"
    )
    # A fresh Python, as lesson 06's notebook: the split is written, torchvision not loaded.
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    path_line, loaded = done.stdout.split()
    assert Path(path_line) == tmp_path / "out" / "mnist_uint8.pt"
    assert loaded == "False"
    split = torch.load(path_line, weights_only=True)
    sizes = [len(split[key]) for key in ("train_images", "val_images", "test_images")]
    assert sizes == [2, 1, 2]


def test_save_mnist_split_in_child_raises_with_the_end_of_the_childs_error(monkeypatch, tmp_path):
    from conftest import make_idx_dataset

    make_idx_dataset(tmp_path)  # 3 training images: too few for the default val_size
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    with pytest.raises(RuntimeError, match="failed in its child Python") as raised:
        distributed.save_mnist_split_in_child(tmp_path / "out")
    assert "val_size must be between 1 and 2 for 3 images" in str(raised.value)
    assert not (tmp_path / "out").exists()  # nothing written


def test_lesson_06s_notebook_imports_nothing_that_loads_torchvision():
    # Its launches of 3 processes need the memory (the lesson's 1.5 GB budget): every
    # course_utils module the lesson imports must leave torchvision unloaded.
    source = (NOTEBOOKS / "06_distributed_training.py").read_text()
    modules = sorted(set(re.findall(r"^from (course_utils[\w.]*) import", source, re.M)))
    assert "course_utils.distributed" in modules and "course_utils.plotting" in modules
    code = "import sys\n" + "".join(f"import {module}\n" for module in modules)
    code += "print(sorted(name for name in sys.modules if name.startswith('torchvision')))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "[]", f"lesson 06 loads torchvision: {done.stdout[:200]}"
