import ctypes
import gc
import sys

import pytest

from course_utils.memory import release_memory


class FakeLibc:
    def __init__(self, calls):
        self.calls = calls

    def malloc_trim(self, pad):
        self.calls.append(("malloc_trim", pad))


@pytest.mark.parametrize("platform, trims", [("linux", True), ("darwin", False), ("win32", False)])
def test_release_memory_collects_and_trims_only_where_glibc_is(monkeypatch, platform, trims):
    calls = []
    monkeypatch.setattr(sys, "platform", platform)
    monkeypatch.setattr(gc, "collect", lambda: calls.append("collect"))
    monkeypatch.setattr(ctypes, "CDLL", lambda name: calls.append(name) or FakeLibc(calls))
    release_memory()
    expected = ["collect", "libc.so.6", ("malloc_trim", 0)] if trims else ["collect"]
    assert calls == expected


def test_release_memory_without_glibc_does_nothing_more(monkeypatch):
    # musl (Alpine) has no libc.so.6: the trim is skipped, not an error.
    monkeypatch.setattr(sys, "platform", "linux")

    def missing(name):
        raise OSError(f"{name}: cannot open shared object file")

    monkeypatch.setattr(ctypes, "CDLL", missing)
    release_memory()


def test_release_memory_really_runs_here():
    release_memory()
