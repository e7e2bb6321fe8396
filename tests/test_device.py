import contextlib
import logging
from collections import namedtuple

import pytest
import torch
from conftest import fake_cuda
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_utils.device import (
    DeviceDataLoader,
    DeviceTensorLoader,
    SeededShuffle,
    autocast_runs_in,
    bfloat16_support,
    get_default_device,
    quiet_cpu_compiling,
    synchronize,
    to_device,
)


def test_default_device_is_cpu_without_accelerators(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert get_default_device() == torch.device("cpu")


def test_default_device_prefers_cuda_then_mps(monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert get_default_device() == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert get_default_device() == torch.device("mps")


@pytest.mark.parametrize("device", [torch.device("cuda", 1), "cuda:1"])
def test_synchronize_waits_for_the_cuda_device_it_is_given(monkeypatch, device):
    calls = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda on=None: calls.append(("cuda", on)))
    monkeypatch.setattr(torch.mps, "synchronize", lambda: calls.append(("mps", None)))
    synchronize(device)
    assert calls == [("cuda", torch.device("cuda", 1))]


def test_synchronize_waits_for_apple_mps(monkeypatch):
    calls = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda on=None: calls.append(("cuda", on)))
    monkeypatch.setattr(torch.mps, "synchronize", lambda: calls.append(("mps", None)))
    synchronize(torch.device("mps"))
    assert calls == [("mps", None)]


@pytest.mark.parametrize("device", [torch.device("cpu"), "cpu", torch.device("meta")])
def test_synchronize_does_nothing_for_devices_that_run_synchronously(monkeypatch, device):
    def fail(*args):
        raise AssertionError("no backend should be synchronised")

    monkeypatch.setattr(torch.cuda, "synchronize", fail)
    monkeypatch.setattr(torch.mps, "synchronize", fail)
    assert synchronize(device) is None


def test_to_device_moves_nested_containers_and_keeps_their_types():
    Pair = namedtuple("Pair", "x y")
    data = {"a": [torch.ones(2), (torch.zeros(1), Pair(torch.ones(1), torch.ones(1)))]}
    moved = to_device(data, "meta")  # the meta device proves every tensor was moved
    assert isinstance(moved, dict) and isinstance(moved["a"], list)
    assert isinstance(moved["a"][1], tuple) and isinstance(moved["a"][1][1], Pair)
    assert moved["a"][0].device.type == "meta"
    assert moved["a"][1][1].y.device.type == "meta"


def test_to_device_moves_a_module_in_place():
    layer = nn.Linear(2, 2)
    assert to_device(layer, "meta") is layer
    assert layer.weight.device.type == "meta"


@pytest.mark.parametrize("bad", [3, "text", None, {"ok": torch.ones(1), "bad": 1.5}])
def test_to_device_rejects_other_types_naming_them(bad):
    with pytest.raises(TypeError, match=r"type (int|str|NoneType|float)"):
        to_device(bad, "cpu")


def test_device_data_loader_yields_moved_batches_and_has_len():
    loader = DataLoader(TensorDataset(torch.arange(10.0), torch.arange(10)), batch_size=4)
    wrapped = DeviceDataLoader(loader, "meta")
    batches = list(wrapped)
    assert len(wrapped) == 3 == len(batches)
    assert all(x.device.type == "meta" and y.device.type == "meta" for x, y in batches)
    assert "3 batches" in repr(wrapped)


def test_device_tensor_loader_covers_every_sample_once_per_epoch():
    inputs = torch.arange(10.0).unsqueeze(1)
    labels = torch.arange(10)
    loader = DeviceTensorLoader(
        inputs, labels, batch_size=4, shuffle=True, generator=torch.Generator().manual_seed(0)
    )
    assert len(loader) == 3
    batches = list(loader)
    assert [len(x) for x, _ in batches] == [4, 4, 2]
    seen_inputs = torch.cat([x for x, _ in batches]).flatten()
    seen_labels = torch.cat([y for _, y in batches])
    assert sorted(seen_labels.tolist()) == list(range(10))
    assert torch.equal(seen_inputs.long(), seen_labels)  # rows stay paired with their labels
    assert seen_labels.tolist() != list(range(10))  # shuffled
    second_epoch = torch.cat([y for _, y in loader])
    assert second_epoch.tolist() != seen_labels.tolist()  # a new order every epoch


def test_device_tensor_loader_in_order_and_drop_last():
    loader = DeviceTensorLoader(torch.arange(10), batch_size=4, drop_last=True)
    assert len(loader) == 2
    assert [batch[0].tolist() for batch in loader] == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_device_tensor_loader_moves_tensors_once():
    loader = DeviceTensorLoader(
        torch.ones(6, 2), torch.zeros(6), batch_size=3, shuffle=True, device="meta"
    )
    assert loader.device.type == "meta"
    assert "6 samples, 2 batches of 3 on meta" in repr(loader)


@pytest.mark.parametrize(
    "tensors, kwargs, message",
    [
        ((), {"batch_size": 2}, "at least one"),
        ((torch.ones(3), torch.ones(4)), {"batch_size": 2}, "same length"),
        ((torch.ones(3),), {"batch_size": 0}, "batch_size"),
    ],
)
def test_device_tensor_loader_rejects_bad_input(tensors, kwargs, message):
    with pytest.raises(ValueError, match=message):
        DeviceTensorLoader(*tensors, **kwargs)


def test_bfloat16_is_not_chosen_where_a_gpu_would_only_emulate_it(monkeypatch):
    fake_cuda(monkeypatch, name="Tesla T4", capability=(7, 5))
    native, reason = bfloat16_support("cuda")
    assert not native
    assert "Tesla T4" in reason and "7.5" in reason and "float16" in reason


def test_bfloat16_is_chosen_on_gpus_with_bfloat16_units(monkeypatch):
    fake_cuda(monkeypatch, name="NVIDIA A100", capability=(8, 0))
    assert bfloat16_support("cuda") == (
        True,
        "NVIDIA A100 (compute capability 8.0) has bfloat16 tensor cores",
    )


@pytest.mark.parametrize("new_enough", [True, False])
def test_bfloat16_on_apple_gpus_follows_the_macos_version(monkeypatch, new_enough):
    monkeypatch.setattr(torch.backends.mps, "is_macos_or_newer", lambda major, minor: new_enough)
    native, reason = bfloat16_support("mps")
    assert native is new_enough
    assert "macOS 14" in reason
    # PyTorch does not say which Apple chips have fast bfloat16: the lesson must measure it.
    assert ("measure it" in reason) is new_enough


def test_autocast_runs_in_sees_autocast_at_work():
    assert autocast_runs_in("cpu", torch.bfloat16)


def test_autocast_runs_in_sees_autocast_turn_itself_off(monkeypatch):
    # Where autocast lacks the type it warns and runs the layer in float32: float64 is such
    # a type on the CPU, as float16 is on an older PyTorch's Apple GPU backend.
    assert not autocast_runs_in("cpu", torch.float64)
    # An autocast that does nothing (as a disabled one does) is seen for bfloat16 too.
    monkeypatch.setattr(torch, "autocast", lambda **kwargs: contextlib.nullcontext())
    assert not autocast_runs_in("cpu", torch.bfloat16)


def test_autocast_runs_in_answers_false_where_autocast_refuses_the_device(monkeypatch):
    # PyTorch 2.3 and 2.4 raise for device_type="mps"; the lesson must skip, not crash.
    def refuse(device_type, **kwargs):
        raise RuntimeError(f"User specified an unsupported autocast device_type '{device_type}'")

    monkeypatch.setattr(torch, "autocast", refuse)
    assert autocast_runs_in("cpu", torch.bfloat16) is False


def test_autocast_runs_in_does_not_hide_an_error_from_the_layer(monkeypatch):
    # Only autocast refusing the device type means "no": a failing layer must still raise.
    def broken_forward(self, inputs):
        raise RuntimeError("the layer itself failed")

    monkeypatch.setattr(torch.nn.Linear, "forward", broken_forward)
    with pytest.raises(RuntimeError, match="the layer itself failed"):
        autocast_runs_in("cpu", torch.bfloat16)


@pytest.mark.parametrize(
    "avx512_bf16, amx, expected", [(False, False, False), (True, False, True), (False, True, True)]
)
def test_bfloat16_on_a_cpu_needs_its_instructions(monkeypatch, avx512_bf16, amx, expected):
    # raising=False: older PyTorch (2.4 among them) lacks these private checks; the names
    # are the ones bfloat16_support looks up.
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
    native, reason = bfloat16_support("cpu")
    assert native is expected
    named = [name for name, found in (("AVX-512 BF16", avx512_bf16), ("AMX", amx)) if found]
    for name in named or ["AVX-512 BF16", "AMX"]:  # what it found, or what it looked for
        assert name in reason


def test_bfloat16_on_a_cpu_is_not_chosen_where_pytorch_cannot_tell(monkeypatch):
    monkeypatch.delattr(torch.cpu, "_is_avx512_bf16_supported", raising=False)
    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported", raising=False)
    native, reason = bfloat16_support("cpu")
    assert not native and "no AVX-512 BF16 or AMX" in reason


def test_seeded_shuffle_gives_a_dataloader_the_batches_of_a_device_tensor_loader():
    images, labels = torch.arange(20.0).unsqueeze(1), torch.arange(20)
    by_sampler = DataLoader(
        TensorDataset(images, labels), batch_size=6, sampler=SeededShuffle(20, seed=3)
    )
    by_tensors = DeviceTensorLoader(
        images,
        labels,
        batch_size=6,
        shuffle=True,
        device=torch.device("cpu"),
        generator=torch.Generator().manual_seed(3),
    )
    epochs = []
    for _ in range(3):  # every epoch a new order, the same in both
        torch.manual_seed(99)  # the global RNG must not matter
        ours = [labels.tolist() for _, labels in by_sampler]
        torch.manual_seed(7)
        assert ours == [labels.tolist() for _, labels in by_tensors]
        epochs.append(ours)
    assert len({str(epoch) for epoch in epochs}) == 3  # three different orders
    assert sorted(sum(epochs[0], [])) == list(range(20)) and len(SeededShuffle(20, 0)) == 20


@pytest.mark.parametrize("size", [0, -3, 2.5, True])
def test_seeded_shuffle_refuses_a_size_that_is_not_a_count(size):
    with pytest.raises(ValueError, match="size must be a whole number of at least 1"):
        SeededShuffle(size, seed=0)


@pytest.fixture
def inductor_settings():
    """Inductor's config and the cpp_extension logger; their settings are restored after."""
    import torch._inductor.config as inductor_config

    names = ("compile_threads", "cpp_cache_precompile_headers")
    saved = {
        name: getattr(inductor_config, name) for name in names if hasattr(inductor_config, name)
    }
    logger = logging.getLogger("torch.utils.cpp_extension")
    level = logger.level
    yield inductor_config, logger
    for name, value in saved.items():
        setattr(inductor_config, name, value)
    logger.setLevel(level)


def test_quiet_cpu_compiling_sets_one_compile_thread_on_a_cpu(inductor_settings):
    config, logger = inductor_settings
    config.compile_threads = 3  # so that the test sees the change
    changed = quiet_cpu_compiling(torch.device("cpu"))
    assert config.compile_threads == 1 and changed["compile_threads"] == 1
    if hasattr(config, "cpp_cache_precompile_headers"):  # newer PyTorch only
        assert config.cpp_cache_precompile_headers is False
        assert changed["cpp_cache_precompile_headers"] is False
    assert logger.level == logging.ERROR
    assert changed["torch.utils.cpp_extension log level"] == logging.ERROR


def test_quiet_cpu_compiling_changes_nothing_on_a_gpu(monkeypatch, inductor_settings):
    fake_cuda(monkeypatch)
    config, logger = inductor_settings
    config.compile_threads = 3
    logger.setLevel(logging.WARNING)
    assert quiet_cpu_compiling("cuda") == {}
    assert config.compile_threads == 3 and logger.level == logging.WARNING
