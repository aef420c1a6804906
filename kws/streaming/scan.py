"""One pass of a streaming detector over a recording file, and what it writes.

``DetectorConfig`` checks the ``detector`` config group, ``Recording`` a mono file at the model's
rate, read in blocks so memory stays flat in its length. ``scan`` pushes the file through a
``StreamingDetector``; ``report_scan`` writes ``detections.csv`` and, with the recording's labels
(``label,start_ms`` rows, as ``python -m kws.data.stream_audio`` writes them),
``stream_metrics.json``, ``det_curve.csv`` and ``det_curve.png``: TensorFlow's streaming
figures, and false rejects against false accepts per hour over a sweep of thresholds.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from kws.io import atomic_write, write_json
from kws.streaming.detector import StreamingDetector
from kws.streaming.posterior import Detection, PosteriorSettings
from kws.streaming.report import format_summary, stream_metrics, write_det_curve
from kws.streaming.scoring import det_curve, read_labels

#: What fired: ``label,time_ms,score`` rows.
DETECTIONS_FILE = "detections.csv"
#: ``kws.streaming.report.stream_metrics`` of a labelled recording, with the timing.
METRICS_FILE = "stream_metrics.json"
#: The ``detector.*`` keys: the step, the batch of windows scored together, and the posterior
#: handling (``PosteriorSettings``' fields).
POSTERIOR_KEYS = ("average_window_ms", "threshold", "suppression_ms", "minimum_count")
DETECTOR_KEYS = ("stride_ms", "batch_size", *POSTERIOR_KEYS)
#: Samples read from the file and pushed at a time (10 s at 16 kHz).
BLOCK_SAMPLES = 160_000


@dataclass(frozen=True)
class DetectorConfig:
    """The ``detector`` config group, checked.

    Args:
        stride_ms: milliseconds between scored windows.
        batch_size: windows scored together.
        settings: the posterior handling.
    """

    stride_ms: float
    batch_size: int
    settings: PosteriorSettings

    @classmethod
    def from_config(cls, detector: Mapping[str, Any]) -> DetectorConfig:
        """Check ``cfg.detector`` (``conf/detector/default.yaml`` with overrides).

        Args:
            detector: the group's keys.

        Raises:
            ValueError: an unknown key or a value out of range, naming ``detector.<key>``.
        """
        unknown = sorted(set(detector) - set(DETECTOR_KEYS))
        if unknown:
            raise ValueError(
                f"detector.{unknown[0]}: unknown key; known: {', '.join(DETECTOR_KEYS)}"
            )
        settings = PosteriorSettings(
            **{key: detector[key] for key in POSTERIOR_KEYS if key in detector}
        )
        stride_ms = detector.get("stride_ms", 30.0)
        settings.check_stride(stride_ms)
        batch_size = detector.get("batch_size", 256)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"detector.batch_size must be an integer >= 1, got {batch_size!r}")
        return cls(float(stride_ms), batch_size, settings)


@dataclass(frozen=True)
class Recording:
    """A mono recording at the model's rate, checked from its header.

    Args:
        path: the audio file.
        sample_rate: its rate in Hz.
        frames: its length in samples.
    """

    path: Path
    sample_rate: int
    frames: int

    @property
    def duration_ms(self) -> float:
        """Its length in milliseconds."""
        return 1000.0 * self.frames / self.sample_rate

    @classmethod
    def open(cls, path: str | Path, sample_rate: int) -> Recording:
        """Check that ``path`` is a readable mono file at ``sample_rate``.

        Args:
            path: the audio file (any format soundfile reads; WAV in practice).
            sample_rate: the model's rate in Hz.

        Raises:
            ValueError: naming the file and its problem (unreadable, not mono, another rate, empty).
        """
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"{path}: no such file (audio=)")
        try:
            info = sf.info(str(path))
        except (RuntimeError, sf.LibsndfileError) as error:
            raise ValueError(f"{path}: not a readable audio file ({error})") from None
        if info.channels != 1:
            raise ValueError(
                f"{path}: {info.channels} channels; detection takes mono audio (mix it down first)"
            )
        if info.samplerate != sample_rate:
            raise ValueError(
                f"{path}: {info.samplerate} Hz; the model takes {sample_rate} Hz "
                "(resample the file first)"
            )
        if info.frames < 1:
            raise ValueError(f"{path}: holds no audio")
        return cls(path, sample_rate, int(info.frames))

    def blocks(self, block_samples: int = BLOCK_SAMPLES) -> Iterator[tuple[int, np.ndarray]]:
        """The samples as float32 in [-1, 1], block by block (int16 files scaled by 1/32768).

        Args:
            block_samples: samples per block. Default ``BLOCK_SAMPLES``.

        Yields:
            ``(first sample, block)`` pairs.
        """
        first = 0
        try:
            for block in sf.blocks(str(self.path), blocksize=block_samples, dtype="float32"):
                yield first, block
                first += len(block)
        except (RuntimeError, sf.LibsndfileError) as error:
            raise ValueError(f"{self.path}: unreadable at sample {first} ({error})") from None


@dataclass(frozen=True)
class Scan:
    """What one pass of a detector over a recording found.

    Args:
        detections: in time order.
        seconds: the wall-clock time of the pass (reading, scoring, posterior handling).
        duration_ms: the recording's length.
    """

    detections: list[Detection]
    seconds: float
    duration_ms: float

    @property
    def real_time_factor(self) -> float:
        """Processing time over audio time: below 1 is faster than real time."""
        return self.seconds / (self.duration_ms / 1000.0)


def scan(detector: StreamingDetector, recording: Recording) -> Scan:
    """Push a recording through ``detector`` block by block, timing the pass.

    Args:
        detector: a fresh or reused detector (it is reset first).
        recording: the checked file.

    Raises:
        ValueError: a block the detector refuses (float samples outside [-1, 1], NaN), naming
            the file and the second where it starts.
    """
    detector.reset()
    detections: list[Detection] = []
    start = time.perf_counter()
    for first, block in recording.blocks():
        try:
            detections += detector.push(block)
        except ValueError as error:
            second = first / recording.sample_rate
            raise ValueError(
                f"{recording.path}: in the block from {second:.1f} s: {error}"
            ) from None
    return Scan(detections, time.perf_counter() - start, recording.duration_ms)


def write_detections(path: Path, detections: Sequence[Detection]) -> None:
    """Write ``label,time_ms,score`` rows, atomically.

    Args:
        path: the CSV file.
        detections: what fired.
    """
    with atomic_write(path, newline="") as file:
        writer = csv.writer(file)
        writer.writerow(("label", "time_ms", "score"))
        for found in detections:
            writer.writerow((found.label, f"{found.time_ms:.3f}", f"{found.score:.6f}"))


def report_scan(
    detector: StreamingDetector,
    recording: Recording,
    labels_path: str | Path | None,
    output_dir: Path,
    config: DetectorConfig,
) -> dict[str, Any]:
    """Scan a recording, write ``detections.csv`` and, with labels, the stream's metrics and DET
    curve; print the summary and the real-time factor.

    The labels are read and checked before the scan, so a bad file costs nothing.

    Args:
        detector: built with ``keep_track`` when labels are given.
        recording: the checked file.
        labels_path: its ``label,start_ms`` CSV; None: detections only.
        output_dir: where the files go.
        config: the detector settings (for the metrics file).

    Returns:
        The metrics (``stream_metrics``' dict plus ``real_time_factor``), or with no labels the
        detection count and the real-time factor.
    """
    classes = detector.class_names
    labels = None
    if labels_path is not None:
        labels = read_labels(labels_path, classes)
        late = [(word, ms) for word, ms in labels if ms > recording.duration_ms]
        if late:
            raise ValueError(
                f"{labels_path}: the label {late[0][0]!r} at {late[0][1]:g} ms lies past the end "
                f"of {recording.path} ({recording.duration_ms:g} ms)"
            )
    result = scan(detector, recording)
    output_dir.mkdir(parents=True, exist_ok=True)
    write_detections(output_dir / DETECTIONS_FILE, result.detections)
    timing = {
        "audio_seconds": result.duration_ms / 1000.0,
        "wall_seconds": result.seconds,
        "real_time_factor": result.real_time_factor,
        "stride_ms": config.stride_ms,
    }
    written = [DETECTIONS_FILE]
    if labels is None:
        metrics = {"detections": len(result.detections), **timing}
        print(f"{len(result.detections)} detections in {recording.path}")
    else:
        times, averaged = detector.track()
        points = det_curve(
            times, averaged, classes, labels, result.duration_ms, config.settings.suppression_ms
        )
        metrics = stream_metrics(
            result.detections, labels, result.duration_ms, config.settings, points
        )
        metrics.update(timing, audio=str(recording.path), labels=str(labels_path))
        write_json(output_dir / METRICS_FILE, metrics)
        written += [METRICS_FILE, *(p.name for p in write_det_curve(points, output_dir))]
        print(format_summary(metrics))
    print(
        f"real-time factor {result.real_time_factor:.4f} ({result.duration_ms / 1000:.1f} s of "
        f"audio in {result.seconds:.2f} s, stride {config.stride_ms:g} ms)"
    )
    print(f"written to {output_dir}: {', '.join(written)}")
    return metrics
