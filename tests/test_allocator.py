"""keep_freed_memory: a freed large tensor stays in the heap for reuse instead of going back."""

from __future__ import annotations

import ctypes
import subprocess
import sys

import pytest

from kws import tasks

GLIBC = hasattr(ctypes.CDLL(None), "mallinfo2")

# Prints how many bytes sit in mmapped blocks after a 64 MiB tensor is made, as glibc counts.
PROBE = """
import ctypes, sys, torch
from kws.allocator import keep_freed_memory
class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks",
                "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
if sys.argv[1] == "keep":
    assert keep_freed_memory()
before = libc.mallinfo2().hblkhd
tensor = torch.ones(64 * 2**20, dtype=torch.uint8)
print(libc.mallinfo2().hblkhd - before)
"""


def _mmapped_bytes(mode: str) -> int:
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True
    )
    return int(probe.stdout)


@pytest.mark.skipif(not GLIBC, reason="needs glibc (mallinfo2)")
def test_large_tensors_come_from_the_heap_once_freed_memory_is_kept():
    assert _mmapped_bytes("default") >= 64 * 2**20  # glibc's default: its own mapping, unmapped
    assert _mmapped_bytes("keep") == 0  # from the heap, where a freed block waits for reuse


@pytest.mark.parametrize("name", ["train", "evaluate"])
@pytest.mark.parametrize("keep", [True, False])
def test_entry_points_keep_freed_memory_unless_told_not_to(compose_config, monkeypatch, name, keep):
    calls = []
    monkeypatch.setattr(tasks, "keep_freed_memory", lambda: calls.append(True) or True)
    overrides = ["ckpt_path=unused.ckpt"] if name == "evaluate" else []
    cfg = compose_config([*overrides, f"keep_freed_memory={keep}"], name=name)
    tasks._process_settings(cfg)
    assert calls == ([True] if keep else [])
    assert compose_config(overrides, name=name).keep_freed_memory is True  # the default
