"""Latency (``--checkpoint``): how long after a keyword ends the frame-by-frame and the
window-scoring detector of a trained causal checkpoint report it, on a word stream of its test
split (``bench_latency``), and how far the two detectors' scores lie apart."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kws.benchmark.common import Report
from kws.benchmark.stream.workload import FRAMES, WINDOWS, detectors
from kws.data.layout import SAMPLE_RATE, UNKNOWN
from kws.streaming import Detection
from kws.streaming.scoring import keyword_hits


def load_causal_checkpoint(path: str | Path) -> tuple[Any, Any]:
    """A trained causal checkpoint and the test split's clips of the data it names, for
    ``bench_latency``; every check made before any long work.

    Args:
        path: the ``.ckpt`` file.

    Returns:
        The ``KWSModule`` (eval mode) and its data's test ``SplitClips``.

    Raises:
        ValueError: not a readable kws checkpoint (``CheckpointError``), a model that cannot
            stream frame by frame, data not named or unusable, or clips of another length than
            the model's; each message names the file.
        OSError: the data set is not on disk, or its folders cannot be listed.
    """
    from kws.streaming.stateful import stateful_problem
    from kws.training import load_checkpoint, saved_datamodule

    module = load_checkpoint(path)
    problem = stateful_problem(module.spotter.frontend, module.spotter.head)
    if problem:
        raise ValueError(f"{path}: latency needs a model that streams frame by frame: {problem}")
    saved = module.checkpoint_metadata["datamodule"]
    if not saved:
        raise ValueError(f"{path}: names no data set, so there is no test split to stream")
    datamodule = saved_datamodule(str(path), saved)
    clips = datamodule.stream_clips("test")
    mismatch = module.clip_format.mismatch(clips.clip_format)
    if mismatch:
        raise ValueError(f"{path}: {mismatch}")
    return module, clips


def keyword_latencies(
    detections: Sequence[Detection],
    labels: Sequence[tuple[str, float]],
    ends_ms: Sequence[float],
    clip_ms: float,
) -> np.ndarray:
    """Detection time minus keyword end, ms, of each keyword detected correctly
    (``keyword_hits``); a detection's time is when its window has arrived, its stamp (the
    window's start) plus ``clip_ms``.

    Args:
        detections: the detections.
        labels: the stream's keyword ``(label, start_ms)`` rows, in time order.
        ends_ms: where each label's word ends in the stream, ms.
        clip_ms: a window's length, ms.

    Returns:
        ``(correct detections,)`` float64, in time order.
    """
    hits = keyword_hits(detections, labels)
    return np.array([found.time_ms + clip_ms - ends_ms[row] for found, row in hits], np.float64)


def _word_ends_ms(clips: Any, placements: Sequence[Any]) -> list[float]:
    """Where each placed word ends in the stream, ms: its clip's start plus the end of the
    clip's word (``word_bounds``, on the clip as read, alone)."""
    from kws.data.stream_examples import word_bounds

    ends = []
    for placement in placements:
        clip = torch.from_numpy(np.asarray(clips.read(placement.clip), np.float32))[None]
        end = int(word_bounds(clip, SAMPLE_RATE)[1][0])
        ends.append(placement.start_ms + 1000.0 * end / SAMPLE_RATE)
    return ends


def bench_latency(
    module: Any, clips: Any, strides_ms: Sequence[float], minutes: float, batch: int
) -> Report:
    """How long after a keyword ends the frame-by-frame and the window-scoring detector report
    it, on a word stream of ``clips`` (seed 0), at the checkpoint's ``threshold=auto`` settings.

    Args:
        module: a trained causal ``KWSModule`` (``load_causal_checkpoint``).
        clips: its data's test clips.
        strides_ms: the detectors' strides.
        minutes: the stream's length.
        batch: the detectors' ``batch_size``.

    Returns:
        ``audio_s``, ``keywords`` (in the stream) and ``rows``, per stride and scoring: the
        threshold and where it came from, ``detected`` (keywords detected correctly),
        ``false_accepts``, and ``median_ms`` and ``p90_ms`` of detection time minus keyword
        end (None without a correct detection).
    """
    from kws.data.stream_audio import DEFAULT_VOLUME, render_stream
    from kws_runtime.scan import DetectorConfig

    stream = render_stream(clips, minutes, seed=0, volume=DEFAULT_VOLUME if clips.noise else 0.0)
    placed = [p for p in stream.placements if p.label != UNKNOWN]
    labels = [(p.label, float(p.start_ms)) for p in placed]
    ends_ms = _word_ends_ms(clips, placed)
    clip_ms = 1000.0 * module.clip_format.seconds
    rows = []
    for stride_ms in strides_ms:
        settings, note = DetectorConfig(stride_ms, batch, {}).settings_for(module.calibration)
        by_scoring = detectors(
            module.spotter, module.clip_format, stride_ms, batch, module.class_names,
            settings=settings, keep_scores=True,
        )  # fmt: skip
        scores = {}
        for kind, detector in by_scoring.items():
            found = detector.detect(stream.audio)
            scores[kind] = detector.scores()[1]  # (windows, classes)
            latency = keyword_latencies(found, labels, ends_ms, clip_ms)
            median, p90 = np.percentile(latency, [50, 90]) if len(latency) else (None, None)
            rows.append({
                "stride_ms": stride_ms, "scoring": kind, "threshold": settings.threshold,
                "threshold_source": note, "detected": len(latency),
                "false_accepts": len(found) - len(latency),
                "median_ms": None if median is None else float(median),
                "p90_ms": None if p90 is None else float(p90),
            })  # fmt: skip
        rows[-1].update(_score_difference(scores.get(FRAMES), scores[WINDOWS]))
    return {"audio_s": len(stream.audio) / SAMPLE_RATE, "keywords": len(labels), "rows": rows}


def _score_difference(frames: np.ndarray | None, windows: np.ndarray) -> dict[str, float]:
    """How far whole-window scores lie from the frame-by-frame ones of the same windows: the
    mean and largest ``|p_windows - p_frames|`` over windows and classes, and the share of
    windows whose top class differs (nothing without frame-by-frame scores)."""
    if frames is None:
        return {}
    difference = np.abs(windows - frames)
    return {
        "mean_abs_difference": float(difference.mean()),
        "max_abs_difference": float(difference.max()),
        "top_class_differs": float(np.mean(windows.argmax(1) != frames.argmax(1))),
    }
