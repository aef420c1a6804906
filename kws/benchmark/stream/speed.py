"""Speed: the peers (the detectors, the head alone, the per-window loop) timed in turns on the same
stream, per head and stride (``bench_stream``), with their ratios and each row's memory."""

from __future__ import annotations

import functools
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view

from kws.benchmark.common import Report
from kws.benchmark.stream.memory import detector_memory
from kws.benchmark.stream.workload import (
    FRAMES,
    WINDOWS,
    StreamSettings,
    build_untrained,
    detectors,
    minutes_to_samples,
    stream_chunks,
)
from kws.data.layout import SAMPLE_RATE
from kws.streaming import StreamingDetector

if TYPE_CHECKING:
    from kws.training import KWSModule


def _peers(
    spotter: torch.nn.Module,
    by_scoring: dict[str, StreamingDetector],
    audio: np.ndarray,
    chunks: tuple[int, ...],
    batch: int,
    loop_windows: int,
) -> dict[str, Callable[[], int]]:
    """Each peer over ``audio`` as a call that returns how many windows it scored: each detector
    pushed chunks of each of ``chunks`` samples, the head alone, the loop on a sample."""
    deployed = next(iter(by_scoring.values()))
    stride, clip = deployed.stride_samples, deployed.clip_samples  # the model's clip
    windows = sliding_window_view(audio, clip)[::stride]  # (n, clip) view
    with torch.inference_mode():  # the features the head alone starts from: (n, F, T)
        features = torch.cat(
            [spotter.frontend(torch.from_numpy(windows[i : i + batch].copy()))
             for i in range(0, len(windows), batch)]
        )  # fmt: skip
    sample = np.linspace(0, len(windows) - 1, min(loop_windows, len(windows)))
    sample_starts = np.unique(sample.round().astype(np.int64)) * stride

    def run_detector(detector: StreamingDetector, chunk: int) -> int:
        detector.reset()
        for first in range(0, len(audio), chunk):
            detector.push(audio[first : first + chunk])
        return detector.windows_scored

    def run_head() -> int:
        with torch.inference_mode():
            for first in range(0, len(features), batch):
                spotter.head(features[first : first + batch])
        return len(features)

    def run_loop() -> int:
        with torch.inference_mode():
            for start in sample_starts:
                window = torch.from_numpy(audio[None, start : start + clip].copy())
                spotter(window).softmax(-1)
        return len(sample_starts)

    peers = {
        _detector_name(kind, chunk): functools.partial(run_detector, detector, chunk)
        for kind, detector in by_scoring.items()
        for chunk in chunks
    }
    return peers | {"head_alone": run_head, "loop": run_loop}


def _detector_name(kind: str, chunk: int) -> str:
    """The peer's name for the detector scoring ``kind`` pushed chunks of ``chunk`` samples."""
    return f"{kind} detector, chunks of {chunk}"


#: Each clock's prefix on the figures of a ratio: wall time's none.
CLOCKS = {"seconds": "", "cpu_seconds": "cpu_"}


def _ratios(timing: dict[str, float], over: dict[str, float], name: str) -> dict[str, float]:
    """``name`` and ``cpu_<name>``: ``over``'s time / ``timing``'s, on each clock."""
    return {f"{prefix}{name}": over[clock] / timing[clock] for clock, prefix in CLOCKS.items()}


def _row(
    module: KWSModule, head: str, stride_ms: float, audio: np.ndarray, settings: StreamSettings
) -> Report:
    """One head (an untrained ``KWSModule``, ``build_untrained``) at one stride: the peers'
    medians, their ratios, the detector's memory."""
    spotter = module.spotter
    by_scoring = detectors(spotter, module.clip_format, stride_ms, settings.batch)
    deployed = next(iter(by_scoring))
    chunks = tuple(minutes_to_samples(ms / 60_000) for ms in settings.chunks_ms)
    # Memory first, before the timed stream's features exist (and as the detector's warm-up).
    memory_lengths = tuple(sorted(minutes_to_samples(m) for m in settings.memory_minutes))
    memory = detector_memory(by_scoring[deployed], memory_lengths, max(chunks))
    stride = by_scoring[deployed].stride_samples
    warm_up = audio[: by_scoring[deployed].clip_samples + settings.batch * stride]
    for call in _peers(spotter, by_scoring, warm_up, chunks, settings.batch, 2).values():
        call()
    peers = _peers(spotter, by_scoring, audio, chunks, settings.batch, settings.loop_windows)
    # Wall time, the figure asked for, and the process's CPU time, which other processes on a
    # shared machine inflate far less (on one thread the two agree on an idle machine).
    clocks = {"seconds": time.perf_counter, "cpu_seconds": time.process_time}
    taken = {(name, clock): [] for name in peers for clock in clocks}
    windows: dict[str, int] = {}
    for _ in range(settings.rounds):  # the peers take turns: load drifts hit each alike
        for name, call in peers.items():
            begin = {clock: read() for clock, read in clocks.items()}
            windows[name] = call()
            for clock, read in clocks.items():
                taken[name, clock].append(read() - begin[clock])
    median = {key: statistics.median(values) for key, values in taken.items()}
    count = windows["head_alone"]
    loop_timed = windows.pop("loop")
    for clock in clocks:  # the loop's sample scaled to every window
        median["loop", clock] *= count / loop_timed
    windows["loop"] = count
    audio_s = len(audio) / SAMPLE_RATE
    timings = {
        name: {"seconds": median[name, "seconds"], "cpu_seconds": median[name, "cpu_seconds"],
               "windows": windows[name], "audio_s_per_s": audio_s / median[name, "seconds"],
               "audio_s_per_cpu_s": audio_s / median[name, "cpu_seconds"],
               "windows_per_s": count / median[name, "seconds"]}
        for name in peers
    }  # fmt: skip
    timings["loop"]["windows_timed"] = loop_timed
    rows = []
    for kind in by_scoring:
        for chunk_ms, chunk in zip(settings.chunks_ms, chunks, strict=True):
            timing = timings[_detector_name(kind, chunk)]
            ratios = _ratios(timings["head_alone"], timing, "vs_head_alone")
            ratios |= _ratios(timing, timings["loop"], "speed_up_over_loop")
            if kind == FRAMES:
                windowed = timings[_detector_name(WINDOWS, chunk)]
                ratios |= _ratios(timing, windowed, "speed_up_over_windows")
            rows.append(timing | ratios | {"scoring": kind, "chunk_ms": chunk_ms})
    peaks = [run["peak_rss_mb"] for run in memory]
    return {
        "head": head,
        "causal": FRAMES in by_scoring,
        "stride_ms": stride_ms,
        "audio_s": audio_s,
        "windows": count,
        "frame_cache": by_scoring[WINDOWS].scorer.cached,
        "detectors": rows,
        "head_alone": timings["head_alone"],
        "loop": timings["loop"],
        "memory": {
            "scoring": deployed,
            "chunk_ms": settings.chunks_ms[chunks.index(max(chunks))],
            "runs": memory,
            "growth_mb": None if None in peaks else peaks[-1] - peaks[0],  # longest - shortest
        },
    }


def _across_strides(rows: list[Report]) -> list[Report]:
    """For each causal head and chunk length: the frame-by-frame detector at the finest stride
    against the window-scoring one at the coarsest (10 ms steps against 30 ms ones)."""
    found = []
    for head in dict.fromkeys(row["head"] for row in rows if row["causal"]):
        mine = [row for row in rows if row["head"] == head]
        finest = min(mine, key=lambda row: row["stride_ms"])
        coarsest = max(mine, key=lambda row: row["stride_ms"])
        for frames in finest["detectors"]:
            if frames["scoring"] != FRAMES:
                continue
            windows = next(
                d for d in coarsest["detectors"]
                if d["scoring"] == WINDOWS and d["chunk_ms"] == frames["chunk_ms"]
            )  # fmt: skip
            found.append({
                "head": head, "chunk_ms": frames["chunk_ms"],
                "frames_stride_ms": finest["stride_ms"], "windows_stride_ms": coarsest["stride_ms"],
                **_ratios(frames, windows, "speed_up"),
            })  # fmt: skip
    return found


def bench_stream(settings: StreamSettings) -> Report:
    """Time the detectors, the head alone and the per-window loop, per head and stride, on
    torch's current CPU threads (the command sets them).

    Args:
        settings: what to time.

    Returns:
        ``settings`` (with torch's ``threads``), ``audio_s`` (the timed stream's length),
        ``cpus`` and ``load_average`` (the machine's one-minute load before and after: other
        processes' work slows the peers), ``rows``, one per head and stride (see the module's
        doc), and ``across_strides``: per causal head and chunk length, the frame-by-frame
        detector at the finest stride against the window-scoring one at the coarsest.
    """
    load = [os.getloadavg()[0]]
    audio = np.concatenate(list(stream_chunks(minutes_to_samples(settings.minutes), SAMPLE_RATE)))
    rows = []
    for head in settings.heads:
        module = build_untrained(head)
        rows += [
            _row(module, head, stride_ms, audio, settings) for stride_ms in settings.strides_ms
        ]
    load.append(os.getloadavg()[0])
    return {
        "settings": {**asdict(settings), "threads": torch.get_num_threads()},
        "audio_s": len(audio) / SAMPLE_RATE,
        "cpus": os.cpu_count(),
        "load_average": load,
        "rows": rows,
        "across_strides": _across_strides(rows),
    }
