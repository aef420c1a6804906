"""Keep freed CPU tensor memory in the process for reuse, instead of handing it back to the OS.

glibc's malloc returns every freed block above its mmap threshold (128 KiB to 32 MiB) to the OS,
so a CPU training step whose tensors run to tens of MiB (the STFT frames of 256 clips take 50
MiB) page-faults them in again, zero-filled, on every step. Raising the mmap and trim thresholds
makes freed blocks stay in the main heap for the next step. The cost: the process keeps its peak
memory. Threads other than the main one allocate from heaps of at most 64 MiB, so their larger
blocks are still mapped and unmapped. Only entry points call this; importing kws changes nothing.
"""

from __future__ import annotations

import ctypes

M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's malloc.h
M_MMAP_THRESHOLD = -3
LARGEST = 2**31 - 1  # mallopt takes an int


def keep_freed_memory() -> bool:
    """Make glibc keep freed memory for reuse; ``False`` where this C library has no mallopt."""
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library the process already runs on
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    kept_in_heap = mallopt(M_MMAP_THRESHOLD, LARGEST)
    kept_at_top = mallopt(M_TRIM_THRESHOLD, LARGEST)
    return bool(kept_in_heap and kept_at_top)
