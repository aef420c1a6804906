"""One pass of a streaming detector over a recording file, with numpy only.

``DetectorConfig`` checks a detector's settings (the ``detector`` config group of ``detect.py``,
the options of ``python -m kws_runtime detect`` and ``listen``) and says where the threshold
comes from; ``Recording`` is a file of any rate and channel count, read in blocks and converted
to the model's rate in mono as training converts (``kws_runtime.audio.MonoConverter``), so
memory stays flat in its length; ``scan`` pushes it through a ``StreamingDetector`` and
``write_detections`` writes what fired.
"""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kws_runtime.audio import BadAudioError, MonoConverter, open_recording, read_blocks
from kws_runtime.calibration import Calibration
from kws_runtime.checks import check_number
from kws_runtime.detector import BATCH_SIZE, MAX_BATCH_SIZE, STRIDE_MS, StreamingDetector
from kws_runtime.io import atomic_write
from kws_runtime.posterior import Detection, PosteriorSettings

#: What fired: ``label,time_ms,score`` rows.
DETECTIONS_FILE = "detections.csv"
#: The ``detector.*`` keys: the step, the batch of windows scored together, and the posterior
#: handling (``PosteriorSettings``' fields).
POSTERIOR_KEYS = ("average_window_ms", "threshold", "suppression_ms", "minimum_count")
DETECTOR_KEYS = ("stride_ms", "batch_size", *POSTERIOR_KEYS)
#: Samples (at the model's rate) read from the file and pushed at a time (10 s at 16 kHz).
BLOCK_SAMPLES = 160_000


#: ``detector.threshold``'s value for "the model's calibrated threshold".
AUTO = "auto"


@dataclass(frozen=True)
class DetectorConfig:
    """The ``detector`` config group, checked.

    Args:
        stride_ms: milliseconds between scored windows.
        batch_size: windows scored together.
        posterior: the ``PosteriorSettings`` keys given (a number each); those left out, and
            ``threshold`` when ``auto``, come from the model's calibration (``settings_for``).
    """

    stride_ms: float
    batch_size: int
    posterior: dict[str, Any]

    @classmethod
    def from_config(cls, detector: Mapping[str, Any]) -> DetectorConfig:
        """Check ``cfg.detector`` (``conf/detector/default.yaml`` with overrides).

        Args:
            detector: the group's keys; ``threshold: auto`` and a posterior key set to null
                take the model's calibrated value.

        Raises:
            ValueError: an unknown key or a value out of range, naming ``detector.<key>``.
        """
        unknown = sorted(set(detector) - set(DETECTOR_KEYS))
        if unknown:
            raise ValueError(
                f"detector.{unknown[0]}: unknown key; known: {', '.join(DETECTOR_KEYS)}"
            )
        posterior = {
            key: detector[key]
            for key in POSTERIOR_KEYS
            if detector.get(key) is not None and detector.get(key) != AUTO
        }
        if isinstance(detector.get("threshold"), str) and detector["threshold"] != AUTO:
            raise ValueError(
                f"detector.threshold must be a number in (0, 1] or {AUTO!r}, got "
                f"{detector['threshold']!r}"
            )
        stride_ms = detector.get("stride_ms", STRIDE_MS)
        PosteriorSettings(**posterior).check_stride(stride_ms)  # checked now, before any work
        batch_size = detector.get("batch_size", BATCH_SIZE)
        check_number("detector.batch_size", batch_size, 1, MAX_BATCH_SIZE, integer=True)
        return cls(float(stride_ms), batch_size, posterior)

    def settings_for(
        self, calibration: Calibration | None, given: str = "detector.threshold"
    ) -> tuple[PosteriorSettings, str]:
        """The posterior settings to detect with on a model: the keys given, the others from
        the model's calibration (the threshold it chose on validation streams and the averaging
        it chose it with), else TensorFlow's defaults.

        Args:
            calibration: the model's (``KWSModule.calibration``, ``Spotter.calibration``), or
                None.
            given: where a threshold given came from, for the line. Default
                ``detector.threshold``.

        Returns:
            The settings, and a line saying where the threshold came from.

        Raises:
            ValueError: the settings cannot average at ``stride_ms``.
        """
        if "threshold" in self.posterior:
            base, source = {}, given
        elif calibration is not None:
            base = {key: getattr(calibration, key) for key in POSTERIOR_KEYS}
            source = f"calibrated: {calibration.describe()}"
            if calibration.epoch >= 0:
                source += f" (epoch {calibration.epoch})"
            if calibration.stride_ms != self.stride_ms:
                source += (
                    f"; it was chosen at a {calibration.stride_ms:g} ms stride and this detector "
                    f"takes {self.stride_ms:g} ms, so its rates may differ"
                )
        else:
            base = {}
            source = "TensorFlow's default: the model has no calibrated threshold"
        settings = PosteriorSettings(**{**base, **self.posterior})
        settings.check_stride(self.stride_ms)
        return settings, f"threshold {settings.threshold:.4g} ({source})"


@dataclass(frozen=True)
class Recording:
    """A recording of any rate and channel count soundfile reads, checked from its header, and
    heard at the model's rate in mono, converted as training converts (``MonoConverter``).

    Args:
        path: the audio file.
        sample_rate: the model's rate in Hz, which the detector hears it at.
        frames: its length in samples at ``sample_rate`` (soxr's: the file's frames times the
            rate ratio, rounded).
        file_rate: the file's own rate in Hz.
        channels: the file's channel count.
    """

    path: Path
    sample_rate: int
    frames: int
    file_rate: int
    channels: int

    @property
    def duration_ms(self) -> float:
        """Its length in milliseconds."""
        return 1000.0 * self.frames / self.sample_rate

    @property
    def conversion(self) -> str | None:
        """The line saying what it is converted from, or None when it is heard as it is."""
        return MonoConverter(self.file_rate, self.sample_rate, self.channels).describe(self.path)

    @classmethod
    def open(cls, path: str | Path, sample_rate: int) -> Recording:
        """Check that ``path`` is a readable recording (``kws_runtime.audio.open_recording``).

        Args:
            path: the audio file (any format, rate and channel count soundfile reads).
            sample_rate: the model's rate in Hz.

        Raises:
            ValueError: naming the file and its problem (missing, unreadable, cut off, empty,
                a sample rate out of range).
        """
        path = Path(path)
        with open_recording(path) as handle:
            rate, channels, frames = handle.samplerate, handle.channels, handle.frames
        return cls(path, sample_rate, round(frames * sample_rate / rate), rate, channels)

    def blocks(self, block_samples: int = BLOCK_SAMPLES) -> Iterator[np.ndarray]:
        """The samples as int16 at ``sample_rate`` in mono, converted block by block by one
        ``MonoConverter``, so that the blocks join to what the whole file converts to.

        Args:
            block_samples: about how many samples per block, at ``sample_rate``. Default
                ``BLOCK_SAMPLES``.

        Raises:
            BadAudioError: a ``ValueError`` naming the file: it changed since it was opened, or
                a part of it is damaged or holds NaN or far out of range float samples (named
                to the second).
        """
        with open_recording(self.path) as handle:
            if (handle.samplerate, handle.channels) != (self.file_rate, self.channels):
                raise BadAudioError(self.path, "changed while it was being scanned")
            convert = MonoConverter(self.file_rate, self.sample_rate, self.channels)
            frames = math.ceil(block_samples * self.file_rate / self.sample_rate)
            for block in read_blocks(handle, self.path, frames):
                yield convert(block, last=handle.tell() >= handle.frames)


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
        BadAudioError: a ``ValueError`` naming the file and the part of it that is damaged or
            holds NaN or far out of range float samples.
    """
    detector.reset()
    detections: list[Detection] = []
    start = time.perf_counter()
    for block in recording.blocks():
        detections += detector.push(block)
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
