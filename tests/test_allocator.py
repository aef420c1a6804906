"""keep_freed_memory: a large tensor comes from the heap and, once freed, stays there for reuse."""

from __future__ import annotations

import ctypes
import json
import subprocess
import sys

import pytest

from kws import allocator
from kws.tasks import common

GLIBC = hasattr(ctypes.CDLL(None), "mallinfo2")

# Prints glibc's counts (bytes) while a 64 MiB tensor lives and after it is freed.
PROBE = """
import ctypes, json, sys, torch
from kws.allocator import keep_freed_memory
class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks",
                "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
if sys.argv[1] == "keep":
    assert keep_freed_memory()
before = libc.mallinfo2()
tensor = torch.ones(64 * 2**20, dtype=torch.uint8)
alive = libc.mallinfo2()
del tensor
freed = libc.mallinfo2()
print(json.dumps({"mapped": alive.hblkhd - before.hblkhd, "free_in_heap": freed.fordblks}))
"""
MIB_64 = 64 * 2**20


def _probe(mode: str) -> dict[str, int]:
    run = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True
    )
    return json.loads(run.stdout)


@pytest.mark.skipif(not GLIBC, reason="needs glibc (mallinfo2)")
def test_a_freed_large_tensor_stays_in_the_heap_only_when_kept():
    default, kept = _probe("default"), _probe("keep")
    assert default["mapped"] >= MIB_64  # glibc's default: a mapping of its own...
    assert default["free_in_heap"] < MIB_64  # ...handed back to the OS when freed
    assert kept["mapped"] == 0  # from the heap...
    assert kept["free_in_heap"] >= MIB_64  # ...where the freed block waits for the next step


def test_without_mallopt_nothing_changes(monkeypatch):
    monkeypatch.setattr(allocator.ctypes, "CDLL", lambda name: object())  # a libc lacking it
    assert allocator.keep_freed_memory() is False


@pytest.mark.parametrize("name", ["train", "evaluate"])
def test_both_entry_points_keep_freed_memory_unless_told_not_to(compose_config, monkeypatch, name):
    calls = []
    monkeypatch.setattr(common, "keep_freed_memory", lambda: calls.append(name) or True)
    required = ["ckpt_path=unused.ckpt"] if name == "evaluate" else []
    assert compose_config(required, name=name).keep_freed_memory is True
    common.process_settings(compose_config([*required, "keep_freed_memory=false"], name=name))
    assert calls == []
