"""What the ``stream`` benchmark runs: its settings (``StreamSettings``, checked when made), the
generated stream (``stream_chunks``), the untrained spotters built from ``conf/``
(``build_untrained``) and the detectors a spotter is timed with (``detectors``)."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from kws.data.clip_format import SPEECH_COMMANDS_CLIPS, ClipFormat
from kws.data.layout import CLIP_SAMPLES, KEYWORDS, SAMPLE_RATE
from kws.data.split_protocol import class_names
from kws.streaming import PosteriorSettings, StreamingDetector
from kws_runtime.checks import check_number
from kws_runtime.detector import BATCH_SIZE, stride_samples

if TYPE_CHECKING:
    from kws.training import KWSModule

#: The model configs timed: ``conf/model/<name>.yaml``.
HEADS = ("linear", "bcresnet")
CONF_DIR = Path(__file__).resolve().parents[3] / "conf"
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
        if len({minutes_to_samples(ms / 60_000) for ms in self.chunks_ms}) < len(self.chunks_ms):
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


def minutes_to_samples(minutes: float) -> int:
    """``minutes`` in whole samples.

    Args:
        minutes: a length of audio.
    """
    return int(round(minutes * 60 * SAMPLE_RATE))


def build_untrained(head: str) -> KWSModule:
    """An untrained ``KWSModule`` of the 12-class task on Speech Commands' clips
    (``SPEECH_COMMANDS_CLIPS``), its spotter in eval mode, built from ``conf/train.yaml`` with
    ``frontend=mel`` and ``model=<head>`` as ``train.py`` builds it; causal
    (``model.causal=true``) where the model has a causal form.

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
    module = build_module(cfg, class_names(KEYWORDS, True), SPEECH_COMMANDS_CLIPS)
    module.spotter.eval()
    return module


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


def detectors(
    spotter: torch.nn.Module,
    clips: ClipFormat,
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
        clips: the clips it takes (``KWSModule.clip_format``): the detectors' windows.
        stride_ms: the detectors' stride.
        batch: their ``batch_size``.
        names: its classes; None (default): the 12-class task's.
        **kwargs: ``from_spotter``'s other arguments (``settings``, ``keep_scores``, ...).
    """
    from kws.streaming.stateful import stateful_problem

    causal = stateful_problem(spotter.frontend, spotter.head) is None
    kinds = [FRAMES, WINDOWS] if causal else [WINDOWS]
    names = class_names(KEYWORDS, True) if names is None else names
    return {
        kind: StreamingDetector.from_spotter(
            spotter, names, clip_samples=clips.clip_samples, sample_rate=clips.sample_rate,
            stride_ms=stride_ms, batch_size=batch, stateful=kind == FRAMES, **kwargs,
        )
        for kind in kinds
    }  # fmt: skip
