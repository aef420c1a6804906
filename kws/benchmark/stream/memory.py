"""Memory: the process's peak resident memory while a detector goes through generated streams of
several lengths (``detector_memory``), each measured by ``peak_rss_mb``: flat memory means equal
peaks."""

from __future__ import annotations

import contextlib
import ctypes
import gc
from collections.abc import Callable
from pathlib import Path

from kws.benchmark.procfs import status_mb
from kws.benchmark.stream.workload import stream_chunks
from kws.data.layout import SAMPLE_RATE
from kws.streaming import StreamingDetector


def _trim_freed_memory() -> None:
    """Hand memory freed so far back to the OS (glibc's ``malloc_trim``; nothing elsewhere)."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # no C library, or not glibc
        ctypes.CDLL(None).malloc_trim(0)


def peak_rss_mb(run: Callable[[], None]) -> dict[str, float] | None:
    """The process's resident memory before ``run`` (freed memory handed back to the OS first)
    and its peak while ``run`` runs (Linux's high-water mark, reset first), MB; ``None`` where
    the kernel offers neither.

    Args:
        run: the call to measure.

    Returns:
        ``rss_before_mb`` and ``peak_rss_mb``.
    """
    _trim_freed_memory()
    try:
        Path("/proc/self/clear_refs").write_text("5")  # 5: reset the high-water mark
    except OSError:
        run()
        return None
    before = status_mb("VmRSS")
    run()
    peak = status_mb("VmHWM")
    if before is None or peak is None:
        return None
    return {"rss_before_mb": before, "peak_rss_mb": peak}


def detector_memory(
    detector: StreamingDetector, lengths: tuple[int, ...], chunk: int
) -> list[dict[str, float | None]]:
    """The process's memory while ``detector`` goes through generated streams of each of
    ``lengths`` samples pushed in ``chunk`` pieces, none of them held beyond its push.

    Args:
        detector: the detector (reset before each stream).
        lengths: the streams' lengths, samples.
        chunk: samples pushed at a time.

    Returns:
        Per stream: ``audio_s``, ``windows`` (scored), and ``peak_rss_mb``'s figures (None
        each where the kernel offers none).
    """
    runs = []
    for samples in lengths:

        def listen(samples: int = samples) -> None:
            detector.reset()
            for piece in stream_chunks(samples, chunk, seed=1):
                detector.push(piece)

        memory = peak_rss_mb(listen) or {"rss_before_mb": None, "peak_rss_mb": None}
        runs.append({"audio_s": samples / SAMPLE_RATE, "windows": detector.windows_scored,
                     **memory})  # fmt: skip
    return runs
