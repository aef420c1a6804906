"""keep_freed_memory: a large tensor comes from the heap and, once freed, stays there for reuse."""

from __future__ import annotations

import ctypes
import json
import subprocess
import sys

import pytest

from kws import allocator

GLIBC = hasattr(ctypes.CDLL(None), "mallinfo2")

# Prints glibc's counts (bytes) while a 64 MiB tensor lives and after it is freed, once after
# each setting of argv[1:]: "keep" calls keep_freed_memory(), "true" and "false" hand
# process_settings a config whose keep_freed_memory is that.
PROBE = """
import ctypes, json, sys, torch
from kws.allocator import keep_freed_memory
class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks",
                "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
counts = []
for mode in sys.argv[1:]:
    if mode == "keep":
        assert keep_freed_memory()
    elif mode != "default":  # the entry points' call (it imports Lightning: only here)
        from omegaconf import OmegaConf
        from kws.tasks.common import process_settings
        process_settings(OmegaConf.create({"keep_freed_memory": mode == "true"}))
    before = libc.mallinfo2()
    tensor = torch.ones(64 * 2**20, dtype=torch.uint8)
    alive = libc.mallinfo2()
    del tensor
    freed = libc.mallinfo2()
    counts.append({"mapped": alive.hblkhd - before.hblkhd, "free_in_heap": freed.fordblks})
print(json.dumps(counts))
"""
MIB_64 = 64 * 2**20


def _probe(*modes: str) -> list[dict[str, int]]:
    run = subprocess.run(
        [sys.executable, "-c", PROBE, *modes], capture_output=True, text=True, check=True
    )
    return json.loads(run.stdout)


def _assert_mapped(counts: dict[str, int]) -> None:
    assert counts["mapped"] >= MIB_64  # glibc's default: a mapping of its own...
    assert counts["free_in_heap"] < MIB_64  # ...handed back to the OS when freed


def _assert_kept(counts: dict[str, int]) -> None:
    assert counts["mapped"] == 0  # from the heap...
    assert counts["free_in_heap"] >= MIB_64  # ...where the freed block waits for the next step


@pytest.mark.skipif(not GLIBC, reason="needs glibc (mallinfo2)")
def test_a_freed_large_tensor_stays_in_the_heap_only_when_kept():
    ((default,), (kept,)) = _probe("default"), _probe("keep")
    _assert_mapped(default)
    _assert_kept(kept)


def test_without_mallopt_nothing_changes(monkeypatch):
    monkeypatch.setattr(allocator.ctypes, "CDLL", lambda name: object())  # a libc lacking it
    assert allocator.keep_freed_memory() is False


@pytest.mark.skipif(not GLIBC, reason="needs glibc (mallinfo2)")
def test_both_entry_points_keep_freed_memory_unless_told_not_to(compose_config):
    """Each entry point's setting, told not to and by default, as ``process_settings`` applies
    it in one process (in this order: keeping cannot be undone): told not to, glibc still maps
    the tensor and hands it back; by default, it keeps it in the heap."""
    settings = set()
    for name, required in (("train", []), ("evaluate", ["ckpt_path=unused.ckpt"])):
        told_not_to = compose_config([*required, "keep_freed_memory=false"], name=name)
        default = compose_config(required, name=name)
        settings.add((told_not_to.keep_freed_memory, default.keep_freed_memory))
    ((told_not_to, default),) = settings  # both entry points alike
    told, kept = _probe(str(told_not_to).lower(), str(default).lower())
    _assert_mapped(told)
    _assert_kept(kept)
