"""``python -m kws.benchmark stream``: how fast the streaming detector gets through audio.

Speed is **seconds of audio per second of wall time** ("x real time", the inverse of the
real-time factor that ``detect.py`` reports), on ``--threads`` (default one) CPU threads. For
each head (``conf/model/<head>.yaml`` on ``conf/frontend/mel.yaml``, untrained: speed does not
depend on the weights) and stride, three peers go through the same stream, taking turns in
``--rounds`` rounds (medians reported, of wall time and of the process's CPU time: on a shared
machine other processes inflate the first far more than the second):

* ``detector``: the whole ``StreamingDetector`` (frame cache, head, posterior handling and its
  bookkeeping), the stream pushed in chunks of each of ``--chunk-ms`` (a peer each; default 1 s,
  as a live stream arrives, and 10 s, the blocks ``detect.py`` reads a file in);
* ``head alone``: the head's forward pass over the same windows' features, computed beforehand,
  in batches of ``--batch``: the floor the detector can approach;
* ``loop``: the loop written by hand: each one-second window cut out, its spectrogram computed
  and scored alone at batch 1 (no posterior handling); timed on ``--loop-windows`` windows spread
  evenly over the stream and scaled to all of them.

Memory: the process's peak resident memory (Linux's high-water mark, reset before each run,
after freed memory is handed back to the OS) while the detector goes through streams of each of
``--memory-minutes``, generated chunk by chunk, so that nothing but the detector could grow with
the stream: flat memory means equal peaks.
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
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view

from kws.benchmark.common import Report
from kws.data.layout import CLIP_SAMPLES, KEYWORDS, SAMPLE_RATE
from kws.data.protocol import class_names
from kws.io import write_json
from kws.streaming import PosteriorSettings, StreamingDetector
from kws.streaming.detector import BATCH_SIZE, stride_samples

#: The model configs timed: ``conf/model/<name>.yaml``.
HEADS = ("linear", "bcresnet")
CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


@dataclass(frozen=True)
class StreamSettings:
    """What ``bench_stream`` times, checked when made (``ValueError`` naming the setting).

    Args:
        minutes: the timed stream's length, at least one second. Default 2.
        strides_ms: the detector's strides, each a whole number of samples that the default
            ``PosteriorSettings`` can average at. Default 30 and 100.
        heads: ``conf/model`` names. Default ``HEADS``: the linear head and BC-ResNet-1.
        chunks_ms: the detector is pushed the stream in chunks of each of these lengths, one
            timed peer each. Default 1 s (a live stream) and 10 s (``detect.py``'s blocks).
        batch: the detector's ``batch_size`` and the head alone's batch. Default 256.
        rounds: rounds in which the peers take turns. Default 3.
        loop_windows: windows the loop is timed on, spread over the stream. Default 200.
        memory_minutes: the stream lengths whose peak memory is measured, shortest first
            (pushed in the longest chunks), each at least one second. Default 1 and 4.
    """

    minutes: float = 2.0
    strides_ms: tuple[float, ...] = (30.0, 100.0)
    heads: tuple[str, ...] = HEADS
    chunks_ms: tuple[float, ...] = (1000.0, 10000.0)
    batch: int = BATCH_SIZE
    rounds: int = 3
    loop_windows: int = 200
    memory_minutes: tuple[float, ...] = (1.0, 4.0)

    def __post_init__(self) -> None:
        for name, minutes in [("minutes", self.minutes)] + [
            ("memory_minutes", m) for m in self.memory_minutes
        ]:
            if not CLIP_SAMPLES <= minutes * 60 * SAMPLE_RATE < math.inf:
                raise ValueError(f"{name} must be at least one second (1/60), got {minutes:g}")
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
    ``conf/train.yaml`` with ``frontend=mel`` and ``model=<head>`` as ``train.py`` builds it.

    Args:
        head: the name of a ``conf/model`` config, e.g. ``bcresnet`` (BC-ResNet-1).
    """
    from hydra import compose, initialize_config_dir

    from kws.tasks.train import build_module

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=["frontend=mel", f"model={head}", "output_dir=unused"])
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


def _peers(
    spotter: torch.nn.Module,
    detector: StreamingDetector,
    audio: np.ndarray,
    chunks: tuple[int, ...],
    batch: int,
    loop_windows: int,
) -> dict[str, Callable[[], int]]:
    """Each peer over ``audio`` as a call that returns how many windows it scored: the detector
    pushed chunks of each of ``chunks`` samples, the head alone, the loop on a sample."""
    stride = detector.stride_samples
    windows = sliding_window_view(audio, CLIP_SAMPLES)[::stride]  # (n, clip) view
    with torch.inference_mode():  # the features the head alone starts from: (n, F, T)
        features = torch.cat(
            [spotter.frontend(torch.from_numpy(windows[i : i + batch].copy()))
             for i in range(0, len(windows), batch)]
        )  # fmt: skip
    sample = np.linspace(0, len(windows) - 1, min(loop_windows, len(windows)))
    sample_starts = np.unique(sample.round().astype(np.int64)) * stride

    def run_detector(chunk: int) -> int:
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

    peers = {_detector_name(c): functools.partial(run_detector, c) for c in chunks}
    return peers | {"head_alone": run_head, "loop": run_loop}


def _detector_name(chunk: int) -> str:
    """The detector peer's name for chunks of ``chunk`` samples."""
    return f"detector, chunks of {chunk}"


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


def _row(
    spotter: torch.nn.Module, head: str, stride_ms: float, audio: np.ndarray,
    settings: StreamSettings,
) -> Report:  # fmt: skip
    """One head at one stride: the peers' medians, their ratios, the detector's memory."""
    names = class_names(KEYWORDS, True)
    detector = StreamingDetector.from_spotter(
        spotter, names, stride_ms=stride_ms, batch_size=settings.batch
    )
    chunks = tuple(_samples(ms / 60_000) for ms in settings.chunks_ms)
    # Memory first, before the timed stream's features exist (and as the detector's warm-up).
    memory_lengths = tuple(sorted(_samples(m) for m in settings.memory_minutes))
    memory = _memory(detector, memory_lengths, max(chunks))
    warm_up = audio[: CLIP_SAMPLES + settings.batch * detector.stride_samples]
    for call in _peers(spotter, detector, warm_up, chunks, settings.batch, 2).values():
        call()
    peers = _peers(spotter, detector, audio, chunks, settings.batch, settings.loop_windows)
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
               "windows_per_s": count / median[name, "seconds"]}
        for name in peers
    }  # fmt: skip
    timings["loop"]["windows_timed"] = loop_timed
    detectors = []
    for chunk_ms, chunk in zip(settings.chunks_ms, chunks, strict=True):
        timing = timings[_detector_name(chunk)]
        ratios = {}
        for clock, prefix in (("seconds", ""), ("cpu_seconds", "cpu_")):
            ratios[f"{prefix}vs_head_alone"] = timing[clock] / timings["head_alone"][clock]
            ratios[f"{prefix}speed_up_over_loop"] = timings["loop"][clock] / timing[clock]
        detectors.append(timing | ratios | {"chunk_ms": chunk_ms})
    peaks = [run["peak_rss_mb"] for run in memory]
    return {
        "head": head,
        "stride_ms": stride_ms,
        "audio_s": audio_s,
        "windows": count,
        "frame_cache": detector.scorer.cached,
        "detectors": detectors,
        "head_alone": timings["head_alone"],
        "loop": timings["loop"],
        "memory": {
            "chunk_ms": settings.chunks_ms[chunks.index(max(chunks))],
            "runs": memory,
            "growth_mb": None if None in peaks else peaks[-1] - peaks[0],  # longest - shortest
        },
    }


def bench_stream(settings: StreamSettings) -> Report:
    """Time the detector, the head alone and the per-window loop, per head and stride, on
    torch's current CPU threads (the command sets them).

    Args:
        settings: what to time.

    Returns:
        ``settings`` (with torch's ``threads``), ``audio_s`` (the timed stream's length),
        ``cpus`` and ``load_average`` (the machine's one-minute load before and after: other
        processes' work slows the peers) and ``rows``, one per head and stride (see the
        module's doc).
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
    }


def format_stream(report: Report) -> str:
    """The benchmark's table, a line per head, stride and chunk length, then the memory.

    Args:
        report: from ``bench_stream``.
    """
    settings = report["settings"]
    before, after = report["load_average"]
    lines = [
        f"{report['audio_s']:g} s of audio, {settings['threads']} CPU thread(s) of "
        f"{report['cpus']} (load {before:.1f} before, {after:.1f} after), batch "
        f"{settings['batch']}, median of {settings['rounds']} rounds",
        "speed: seconds of audio per second of wall time (x real time); ratios on wall time "
        "and on the process's CPU time",
        f"{'head':<9}{'stride':>7}{'chunk':>7}{'windows':>8}{'detector':>10}{'head alone':>11}"
        f"{'loop':>8}{'det/head':>9}{'vs loop':>8}{'head win/s':>11}{'det/head cpu':>13}"
        f"{'vs loop cpu':>12}",
    ]
    for row in report["rows"]:
        for detector in row["detectors"]:
            lines.append(
                f"{row['head']:<9}{row['stride_ms']:>5g}ms{detector['chunk_ms'] / 1000:>6g}s"
                f"{row['windows']:>8}{detector['audio_s_per_s']:>9.1f}x"
                f"{row['head_alone']['audio_s_per_s']:>10.1f}x{row['loop']['audio_s_per_s']:>7.1f}x"
                f"{detector['vs_head_alone']:>8.2f}x{detector['speed_up_over_loop']:>7.1f}x"
                f"{row['head_alone']['windows_per_s']:>11.0f}"
                f"{detector['cpu_vs_head_alone']:>12.2f}x{detector['cpu_speed_up_over_loop']:>11.1f}x"
            )
    timed = sorted({row["loop"]["windows_timed"] for row in report["rows"]})
    minutes = " / ".join(f"{m:g}" for m in settings["memory_minutes"])
    lines += [
        f"loop: timed on {', '.join(map(str, timed))} windows spread over the stream, scaled to "
        "all; det/head: detector time / head-alone time; vs loop: loop time / detector time",
        f"the process's peak memory in MB (and before) while the detector goes through streams "
        f"of {minutes} min, chunks of {report['rows'][0]['memory']['chunk_ms'] / 1000:g} s:",
    ]
    for row in report["rows"]:
        memory = row["memory"]
        peaks = " / ".join(
            "-" if run["peak_rss_mb"] is None
            else f"{run['peak_rss_mb']:.0f} (from {run['rss_before_mb']:.0f})"
            for run in memory["runs"]
        )  # fmt: skip
        growth = "" if memory["growth_mb"] is None else f" (growth {memory['growth_mb']:+.1f})"
        lines.append(f"  {row['head']} {row['stride_ms']:g} ms: {peaks}{growth}")
    return "\n".join(lines)


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add the ``stream`` command.

    Args:
        commands: the CLI's subparsers.
    """
    parser = commands.add_parser(
        "stream", help="streaming detector against the head alone and a per-window loop"
    )
    parser.add_argument("--minutes", type=float, default=2.0, help="the timed stream's length")
    parser.add_argument("--stride-ms", type=float, nargs="+", default=[30.0, 100.0])
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
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    """Run the ``stream`` command from its parsed arguments; torch's thread count is restored
    afterwards."""
    try:
        if args.threads < 1:
            raise ValueError(f"threads must be >= 1, got {args.threads}")
        if args.json and not Path(args.json).resolve().parent.is_dir():
            raise ValueError(f"--json {args.json}: its folder does not exist")
        settings = StreamSettings(
            args.minutes, tuple(args.stride_ms), tuple(args.head), tuple(args.chunk_ms),
            args.batch, args.rounds, args.loop_windows, tuple(args.memory_minutes),
        )  # fmt: skip
    except ValueError as error:
        raise SystemExit(f"error: {error}") from None
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        report = bench_stream(settings)
    finally:
        torch.set_num_threads(threads)
    print(format_stream(report))
    if args.json:
        write_json(args.json, report)
