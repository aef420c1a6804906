"""Keep freed CPU tensor memory in the process for reuse, instead of handing it back to the OS.

glibc's malloc returns every freed block above its mmap threshold (128 KiB to 32 MiB) to the OS,
so a CPU training step whose tensors run to tens of MiB (a batch of 256 STFT frames is 53 MiB)
page-faults them in again, zero-filled, on every step. Raising the mmap and trim thresholds makes
freed blocks stay in the heap, as PyTorch's caching allocator does on a GPU. The cost: the
process keeps its peak memory. Only entry points call this; importing kws changes nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's malloc.h
M_MMAP_THRESHOLD = -3
LARGEST = 2**31 - 1  # mallopt takes an int


def keep_freed_memory() -> bool:
    """Make glibc keep freed memory for reuse; ``False`` (and no change) where there is no glibc."""
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError, TypeError):  # no libc found, or one without mallopt
        log.info("keep_freed_memory: no glibc mallopt here; memory is handled as usual")
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(M_MMAP_THRESHOLD, LARGEST)) and bool(mallopt(M_TRIM_THRESHOLD, LARGEST))
