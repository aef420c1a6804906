"""``python -m kws.benchmark stream``: how fast the streaming detector gets through audio, and
how soon after a keyword it speaks.

Speed is **seconds of audio per second of wall time** ("x real time", the inverse of the
real-time factor that ``detect.py`` reports), on ``--threads`` (default one) CPU threads; the
same per second of the process's CPU time is given beside it. For each head
(``conf/model/<head>.yaml`` on ``conf/frontend/mel.yaml``, untrained: speed does not depend on
the weights; a head with a causal form, BC-ResNet, is built causal, ``model.causal=true``) and
stride, peers go through the same stream, taking turns in ``--rounds`` rounds (medians reported,
of wall time and of the process's CPU time: on a shared machine other processes inflate the
first far more than the second):

* ``detector``: the whole ``StreamingDetector`` (posterior handling and its bookkeeping
  included), the stream pushed in chunks of each of ``--chunk-ms`` (a peer each; default 1 s, as
  a live stream arrives, and 10 s, the blocks ``detect.py`` reads a file in), scoring as
  ``StreamingDetector.from_spotter`` chooses: ``frames``, each frame streamed through a causal
  model once (``kws.streaming.stateful``), where the head is causal, else ``windows``, every
  window scored whole (frontend with its frame cache, head);
* for a causal head also the window-scoring detector on the same model (``stateful=False``),
  pushed the same chunks: what the frame-by-frame detector saves;
* ``head alone``: the head's forward pass over the same windows' features, computed beforehand,
  in batches of ``--batch``: the floor a window-scoring detector can approach;
* ``loop``: the loop written by hand: each one-second window cut out, its spectrogram computed
  and scored alone at batch 1 (no posterior handling); timed on ``--loop-windows`` windows spread
  evenly over the stream and scaled to all of them.

Memory: the process's peak resident memory (Linux's high-water mark, reset before each run,
after freed memory is handed back to the OS) while the detector ``from_spotter`` chooses goes
through streams of each of ``--memory-minutes``, generated chunk by chunk, so that nothing but
the detector could grow with the stream: flat memory means equal peaks.

Latency (``--checkpoint CKPT``, a trained causal kws checkpoint): a word stream of its data's
test split (``kws.data.stream_audio.render_stream``, TensorFlow's layout, ``--latency-minutes``
long, seed 0) goes through the frame-by-frame and the window-scoring detector at each stride, at
the checkpoint's ``detector.threshold=auto`` settings. A keyword ends where its clip's word
ends (``kws.data.stream_examples.word_bounds``); it is detected when its window has arrived
(the window's stamp, its start, plus one clip); reported over the keywords detected correctly
(``kws.streaming.scoring.detection_errors``' matching): the median and 90th percentile of
detection time minus keyword end.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import functools
import gc
import math
import os
import re
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view

from kws.benchmark.common import Report
from kws.checks import check_number
from kws.data.layout import CLIP_SAMPLES, KEYWORDS, SAMPLE_RATE, UNKNOWN
from kws.data.protocol import class_names
from kws.io import write_json
from kws.streaming import Detection, PosteriorSettings, StreamingDetector
from kws.streaming.detector import BATCH_SIZE, stride_samples
from kws.streaming.scoring import keyword_hits

#: The model configs timed: ``conf/model/<name>.yaml``.
HEADS = ("linear", "bcresnet")
CONF_DIR = Path(__file__).resolve().parents[2] / "conf"
#: How the detectors score: each frame once through a causal model, or every window whole.
FRAMES, WINDOWS = "frames", "windows"
#: The longest latency stream, minutes.
MAX_LATENCY_MINUTES = 60.0


@dataclass(frozen=True)
class StreamSettings:
    """What ``bench_stream`` times, checked when made (``ValueError`` naming the setting).

    Args:
        minutes: the timed stream's length, at least one second. Default 1.
        strides_ms: the detector's strides, each a whole number of samples that the default
            ``PosteriorSettings`` can average at. Default 10, 20 and 30.
        heads: ``conf/model`` names. Default ``HEADS``: the linear head and BC-ResNet-1.
        chunks_ms: the detector is pushed the stream in chunks of each of these lengths, one
            timed peer each. Default 1 s (a live stream) and 10 s (``detect.py``'s blocks).
        batch: the detector's ``batch_size`` and the head alone's batch. Default 256.
        rounds: rounds in which the peers take turns. Default 3.
        loop_windows: windows the loop is timed on, spread over the stream. Default 200.
        memory_minutes: the stream lengths whose peak memory is measured, shortest first
            (pushed in the longest chunks), each at least one second. Default 1 and 4.
        latency_minutes: the word stream's length for latency (with a checkpoint), in
            ``[0.05, MAX_LATENCY_MINUTES]`` (from one word's slot to an hour). Default 5.
    """

    minutes: float = 1.0
    strides_ms: tuple[float, ...] = (10.0, 20.0, 30.0)
    heads: tuple[str, ...] = HEADS
    chunks_ms: tuple[float, ...] = (1000.0, 10000.0)
    batch: int = BATCH_SIZE
    rounds: int = 3
    loop_windows: int = 200
    memory_minutes: tuple[float, ...] = (1.0, 4.0)
    latency_minutes: float = 5.0

    def __post_init__(self) -> None:
        for name, minutes in [("minutes", self.minutes)] + [
            ("memory_minutes", m) for m in self.memory_minutes
        ]:
            if not CLIP_SAMPLES <= minutes * 60 * SAMPLE_RATE < math.inf:
                raise ValueError(f"{name} must be at least one second (1/60), got {minutes:g}")
        check_number("latency_minutes", self.latency_minutes, 0.05, MAX_LATENCY_MINUTES)
        if not all(1 <= ms * SAMPLE_RATE / 1000 < math.inf for ms in self.chunks_ms):
            raise ValueError(f"chunks_ms must each be at least one sample: {self.chunks_ms}")
        if len({_samples(ms / 60_000) for ms in self.chunks_ms}) < len(self.chunks_ms):
            raise ValueError(f"chunks_ms must be distinct lengths: {self.chunks_ms}")
        for name in ("strides_ms", "heads", "chunks_ms", "memory_minutes"):
            if not getattr(self, name):
                raise ValueError(f"{name} must name at least one")
        for name in ("batch", "rounds", "loop_windows"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for stride_ms in self.strides_ms:
            stride_samples(stride_ms, SAMPLE_RATE, PosteriorSettings())
        for head in self.heads:
            if not (CONF_DIR / "model" / f"{head}.yaml").is_file():
                raise ValueError(f"head {head!r}: there is no {CONF_DIR / 'model' / head}.yaml")


def _samples(minutes: float) -> int:
    """``minutes`` in whole samples."""
    return int(round(minutes * 60 * SAMPLE_RATE))


def build_spotter(head: str) -> torch.nn.Module:
    """An untrained ``KeywordSpotter`` of the 12-class task, in eval mode, built from
    ``conf/train.yaml`` with ``frontend=mel`` and ``model=<head>`` as ``train.py`` builds it;
    causal (``model.causal=true``) where the model has a causal form.

    Args:
        head: the name of a ``conf/model`` config, e.g. ``bcresnet`` (BC-ResNet-1).
    """
    from hydra import compose, initialize_config_dir

    from kws.tasks.train import build_module

    overrides = ["frontend=mel", f"model={head}", "output_dir=unused"]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=overrides)
        if "causal" in cfg.model:
            cfg = compose("train", overrides=[*overrides, "model.causal=true"])
    return build_module(cfg, class_names(KEYWORDS, True)).spotter.eval()


def stream_chunks(samples: int, chunk: int, seed: int = 0) -> Iterator[np.ndarray]:
    """The benchmark's stream, made piece by piece: noise (standard deviation 0.05) and a tone
    of 0.3 whose pitch steps through 300, 500, ..., 2100 Hz, one step a second.

    Args:
        samples: the stream's length.
        chunk: samples per piece; the last piece may be shorter.
        seed: the noise's seed (each piece's noise is drawn from ``(seed, first sample)``).

    Yields:
        float32 ``(chunk,)`` pieces in [-1, 1].
    """
    for first in range(0, samples, chunk):
        count = min(chunk, samples - first)
        t = (first + np.arange(count)) / SAMPLE_RATE
        pitch = 300.0 + 200.0 * (np.floor(t) % 10)
        noise = np.random.default_rng((seed, first)).standard_normal(count)
        yield (0.05 * noise + 0.3 * np.sin(2 * np.pi * pitch * t)).astype(np.float32)


def _trim_freed_memory() -> None:
    """Hand memory freed so far back to the OS (glibc's ``malloc_trim``; nothing elsewhere)."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # no C library, or not glibc
        ctypes.CDLL(None).malloc_trim(0)


def _rss_kb(field: str) -> int | None:
    """A ``/proc/self/status`` memory field in kB (``VmRSS``, ``VmHWM``); ``None`` without."""
    try:
        found = re.search(rf"{field}:\s*(\d+) kB", Path("/proc/self/status").read_text())
    except OSError:
        return None
    return int(found.group(1)) if found else None


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
    before = _rss_kb("VmRSS")
    run()
    peak = _rss_kb("VmHWM")
    if before is None or peak is None:
        return None
    return {"rss_before_mb": before / 1024, "peak_rss_mb": peak / 1024}


def detectors(
    spotter: torch.nn.Module,
    stride_ms: float,
    batch: int,
    names: Sequence[str] | None = None,
    **kwargs: Any,
) -> dict[str, StreamingDetector]:
    """The detectors a spotter is timed with, by how they score: ``frames`` (each frame once
    through the model) where it can stream so, and ``windows`` (every window whole) always; the
    first is the one ``StreamingDetector.from_spotter`` deploys.

    Args:
        spotter: a ``KeywordSpotter``.
        stride_ms: the detectors' stride.
        batch: their ``batch_size``.
        names: its classes; None (default): the 12-class task's.
        **kwargs: ``from_spotter``'s other arguments (``settings``, ``clip_samples``, ...).
    """
    from kws.streaming.stateful import stateful_problem

    causal = stateful_problem(spotter.frontend, spotter.head) is None
    kinds = [FRAMES, WINDOWS] if causal else [WINDOWS]
    names = class_names(KEYWORDS, True) if names is None else names
    return {
        kind: StreamingDetector.from_spotter(
            spotter, names, stride_ms=stride_ms, batch_size=batch, stateful=kind == FRAMES,
            **kwargs,
        )
        for kind in kinds
    }  # fmt: skip


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
    stride = next(iter(by_scoring.values())).stride_samples
    windows = sliding_window_view(audio, CLIP_SAMPLES)[::stride]  # (n, clip) view
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
                window = torch.from_numpy(audio[None, start : start + CLIP_SAMPLES].copy())
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


def _memory(
    detector: StreamingDetector, lengths: tuple[int, ...], chunk: int
) -> list[dict[str, float | None]]:
    """The process's memory while ``detector`` goes through generated streams of each of
    ``lengths`` samples pushed in ``chunk`` pieces, none of them held beyond its push."""
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


#: Each clock's prefix on the figures of a ratio: wall time's none.
CLOCKS = {"seconds": "", "cpu_seconds": "cpu_"}


def _ratios(timing: dict[str, float], over: dict[str, float], name: str) -> dict[str, float]:
    """``name`` and ``cpu_<name>``: ``over``'s time / ``timing``'s, on each clock."""
    return {f"{prefix}{name}": over[clock] / timing[clock] for clock, prefix in CLOCKS.items()}


def _row(
    spotter: torch.nn.Module, head: str, stride_ms: float, audio: np.ndarray,
    settings: StreamSettings,
) -> Report:  # fmt: skip
    """One head at one stride: the peers' medians, their ratios, the detector's memory."""
    by_scoring = detectors(spotter, stride_ms, settings.batch)
    deployed = next(iter(by_scoring))
    chunks = tuple(_samples(ms / 60_000) for ms in settings.chunks_ms)
    # Memory first, before the timed stream's features exist (and as the detector's warm-up).
    memory_lengths = tuple(sorted(_samples(m) for m in settings.memory_minutes))
    memory = _memory(by_scoring[deployed], memory_lengths, max(chunks))
    stride = by_scoring[deployed].stride_samples
    warm_up = audio[: CLIP_SAMPLES + settings.batch * stride]
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
    audio = np.concatenate(list(stream_chunks(_samples(settings.minutes), SAMPLE_RATE)))
    rows = []
    for head in settings.heads:
        spotter = build_spotter(head)
        rows += [
            _row(spotter, head, stride_ms, audio, settings) for stride_ms in settings.strides_ms
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


# --- latency --------------------------------------------------------------------------------------


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
    if module.hparams.clip_samples != clips.clip_format.clip_samples:
        raise ValueError(
            f"{path}: its clips are {module.hparams.clip_samples} samples, its data's "
            f"{clips.clip_format.clip_samples}"
        )
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
    from kws.streaming.scan import DetectorConfig

    stream = render_stream(clips, minutes, seed=0, volume=DEFAULT_VOLUME if clips.noise else 0.0)
    placed = [p for p in stream.placements if p.label != UNKNOWN]
    labels = [(p.label, float(p.start_ms)) for p in placed]
    ends_ms = _word_ends_ms(clips, placed)
    clip_ms = 1000.0 * module.hparams.clip_samples / SAMPLE_RATE
    rows = []
    for stride_ms in strides_ms:
        settings, note = DetectorConfig(stride_ms, batch, {}).settings_for(module.calibration)
        by_scoring = detectors(
            module.spotter, stride_ms, batch, module.class_names,
            clip_samples=module.hparams.clip_samples, settings=settings, keep_scores=True,
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


# --- the command ----------------------------------------------------------------------------------


def format_stream(report: Report) -> str:
    """The benchmark's table, a line per head, stride, scoring and chunk length, then the
    finest frame-by-frame stride against the coarsest window-scoring one, the memory and the
    latency.

    Args:
        report: from ``bench_stream``, with ``latency`` (``bench_latency``'s, with its
            ``checkpoint``) or None.
    """
    settings = report["settings"]
    before, after = report["load_average"]
    lines = [
        f"{report['audio_s']:g} s of audio, {settings['threads']} CPU thread(s) of "
        f"{report['cpus']} (load {before:.1f} before, {after:.1f} after), batch "
        f"{settings['batch']}, median of {settings['rounds']} rounds",
        "speed: seconds of audio per second of wall time and of the process's CPU time (x real "
        "time); ratios on CPU time, and on wall time where marked",
        f"{'head':<9}{'stride':>7}{'chunk':>6} {'scoring':<8}{'windows':>8}{'detector':>10}"
        f"{'det cpu':>10}{'head cpu':>10}{'loop cpu':>9}{'det/head':>9}{'vs loop':>8}"
        f"{'vs windows':>11}{'(wall)':>8}",
    ]
    for row in report["rows"]:
        for det in row["detectors"]:
            versus = (f"{det['cpu_speed_up_over_windows']:>10.1f}x"
                      f"{det['speed_up_over_windows']:>7.1f}x" if det["scoring"] == FRAMES
                      else f"{'':>11}{'':>8}")  # fmt: skip
            lines.append(
                f"{row['head']:<9}{row['stride_ms']:>5g}ms{det['chunk_ms'] / 1000:>5g}s "
                f"{det['scoring']:<8}{row['windows']:>8}{det['audio_s_per_s']:>9.1f}x"
                f"{det['audio_s_per_cpu_s']:>9.1f}x"
                f"{row['head_alone']['audio_s_per_cpu_s']:>9.1f}x"
                f"{row['loop']['audio_s_per_cpu_s']:>8.1f}x{det['cpu_vs_head_alone']:>8.2f}x"
                f"{det['cpu_speed_up_over_loop']:>7.1f}x{versus}"
            )
    timed = sorted({row["loop"]["windows_timed"] for row in report["rows"]})
    lines.append(
        f"loop: timed on {', '.join(map(str, timed))} windows spread over the stream, scaled to "
        "all; det/head: detector time / head-alone time; vs loop, vs windows: the loop's, the "
        "window-scoring detector's (same chunks) time / the detector's"
    )
    for pair in report["across_strides"]:
        lines.append(
            f"{pair['head']}, {pair['chunk_ms'] / 1000:g} s chunks: frames at "
            f"{pair['frames_stride_ms']:g} ms {pair['cpu_speed_up']:.2f}x as fast as windows at "
            f"{pair['windows_stride_ms']:g} ms (wall {pair['speed_up']:.2f}x)"
        )
    minutes = " / ".join(f"{m:g}" for m in settings["memory_minutes"])
    lines.append(
        f"the process's peak memory in MB (and before) while the detector goes through streams "
        f"of {minutes} min, chunks of {report['rows'][0]['memory']['chunk_ms'] / 1000:g} s:"
    )
    for row in report["rows"]:
        memory = row["memory"]
        peaks = " / ".join(
            "-" if run["peak_rss_mb"] is None
            else f"{run['peak_rss_mb']:.0f} (from {run['rss_before_mb']:.0f})"
            for run in memory["runs"]
        )  # fmt: skip
        growth = "" if memory["growth_mb"] is None else f" (growth {memory['growth_mb']:+.1f})"
        scoring = f"{row['head']} {row['stride_ms']:g} ms {memory['scoring']}"
        lines.append(f"  {scoring}: {peaks}{growth}")
    return "\n".join([*lines, *format_latency(report.get("latency"))])


def format_latency(latency: Report | None) -> list[str]:
    """The latency lines of ``format_stream``; without a checkpoint, that it needs one.

    Args:
        latency: ``bench_latency``'s report with its ``checkpoint``, or None.
    """
    if latency is None:
        return ["latency (keyword end to detection) needs a trained causal checkpoint: "
                "--checkpoint CKPT"]  # fmt: skip
    lines = [
        f"latency, detection time - keyword end, over the keywords detected correctly: "
        f"{latency['checkpoint']}, {latency['audio_s'] / 60:g}-minute word stream of its test "
        f"split, {latency['keywords']} keywords",
        f"{'stride':>6} {'scoring':<8}{'threshold':>10}{'detected':>9}{'false acc':>10}"
        f"{'median':>8}{'p90':>8}",
    ]
    for row in latency["rows"]:
        figures = ("" if row["median_ms"] is None
                   else f"{row['median_ms']:>6.0f}ms{row['p90_ms']:>6.0f}ms")  # fmt: skip
        lines.append(
            f"{row['stride_ms']:>4g}ms {row['scoring']:<8}{row['threshold']:>10.3f}"
            f"{row['detected']:>9}{row['false_accepts']:>10}{figures}"
        )
    for row in latency["rows"]:
        if "mean_abs_difference" in row:
            lines.append(
                f"{row['stride_ms']:>4g}ms windows scored whole against the frame-by-frame "
                f"scores of the same windows: |p difference| mean "
                f"{row['mean_abs_difference']:.4f}, largest {row['max_abs_difference']:.3f}; "
                f"top class differs in {row['top_class_differs']:.2%} of windows"
            )
    return [*lines, *dict.fromkeys(row["threshold_source"] for row in latency["rows"])]


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add the ``stream`` command.

    Args:
        commands: the CLI's subparsers.
    """
    parser = commands.add_parser(
        "stream", help="streaming detectors against the head alone and a per-window loop"
    )
    parser.add_argument("--minutes", type=float, default=1.0, help="the timed stream's length")
    parser.add_argument("--stride-ms", type=float, nargs="+", default=[10.0, 20.0, 30.0])
    parser.add_argument("--head", nargs="+", default=list(HEADS), help="conf/model names")
    parser.add_argument(
        "--chunk-ms", type=float, nargs="+", default=[1000.0, 10000.0],
        help="audio pushed at a time: one detector peer per length",
    )  # fmt: skip
    parser.add_argument("--batch", type=int, default=BATCH_SIZE, help="windows scored together")
    parser.add_argument("--rounds", type=int, default=3, help="rounds the peers take turns")
    parser.add_argument("--loop-windows", type=int, default=200, help="windows the loop times")
    parser.add_argument("--memory-minutes", type=float, nargs="+", default=[1.0, 4.0])
    parser.add_argument("--threads", type=int, default=1, help="torch's CPU threads")
    parser.add_argument("--checkpoint", help="a trained causal kws checkpoint: latency from a "
                        "keyword's end to its detection on its data's test split")  # fmt: skip
    parser.add_argument("--latency-minutes", type=float, default=5.0,
                        help="the latency's word stream, minutes")  # fmt: skip
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    """Run the ``stream`` command from its parsed arguments; torch's thread count is restored
    afterwards. A checkpoint is read and checked, and latency measured, before the timing."""
    try:
        if args.threads < 1:
            raise ValueError(f"threads must be >= 1, got {args.threads}")
        if args.json and not Path(args.json).resolve().parent.is_dir():
            raise ValueError(f"--json {args.json}: its folder does not exist")
        settings = StreamSettings(
            args.minutes, tuple(args.stride_ms), tuple(args.head), tuple(args.chunk_ms),
            args.batch, args.rounds, args.loop_windows, tuple(args.memory_minutes),
            args.latency_minutes,
        )  # fmt: skip
        source = None if args.checkpoint is None else load_causal_checkpoint(args.checkpoint)
    except (ValueError, OSError) as error:
        raise SystemExit(f"error: {error}") from None
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:  # latency first: its settings and stream are checked before the long timing
        latency = None
        if source is not None:
            figures = bench_latency(*source, settings.strides_ms, settings.latency_minutes,
                                    settings.batch)  # fmt: skip
            latency = {"checkpoint": str(args.checkpoint), **figures}
        report = bench_stream(settings) | {"latency": latency}
    finally:
        torch.set_num_threads(threads)
    print(format_stream(report))
    if args.json:
        write_json(args.json, report)
