"""Reading recordings as the training data is read, with numpy, soundfile and soxr only.

Every file is checked before its samples are used: a missing, empty, cut-off (a RIFF ``data``
chunk longer than the file) or undecodable file, float samples that are NaN, infinite or far
beyond full scale, and a compressed stream damaged part-way are each a ``BadAudioError`` naming
the file and the problem. ``MonoConverter`` is the one conversion of a recording at any rate and
channel count to mono at the model's rate (the channels' mean, soxr): training (``kws.data``),
``detect.py``, ``python -m kws_runtime`` and ``listen`` all convert with it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np
import soundfile as sf
import soxr

from kws_runtime.io import BadFileError

#: The largest float sample taken as audio (clipped to full scale): 6 dB over it. Beyond it a
#: float file is scaled wrongly or is no audio at all, and would decode to a full-scale square.
FLOAT_PEAK_LIMIT = 2.0
#: The most samples (over all channels) ``read_blocks`` reads at a time: 8 MiB of int16.
MAX_BLOCK_VALUES = 1 << 22


class BadAudioError(BadFileError):
    """A file that cannot serve as a clip; ``str()`` is ``"<path>: <problem>"``."""


def _riff_truncation(path: Path, file_size: int) -> str | None:
    """Describe a RIFF/WAVE file whose ``data`` chunk runs past the end of the file, else None.

    libsndfile quietly reads whatever audio a cut-off file still holds; the declared chunk size
    is the only sign that part of the recording is gone.
    """
    with path.open("rb") as handle:
        head = handle.read(12)
        if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        position = 12
        while position + 8 <= file_size:
            handle.seek(position)
            chunk = handle.read(8)
            declared = int.from_bytes(chunk[4:8], "little")
            if chunk[:4] == b"data":
                available = file_size - position - 8
                if declared > available:
                    return (
                        f"truncated: header declares {declared} audio bytes, file holds {available}"
                    )
                return None
            position += 8 + declared + (declared & 1)  # chunks are padded to an even size
    return None


def format_problem(
    handle: sf.SoundFile,
    max_frames: int | None,
    sample_rate: int | None,
    min_frames: int = 1,
) -> str | None:
    """Why an open file is not a ``sample_rate`` mono recording of ``min_frames`` to
    ``max_frames`` frames, or None.

    Args:
        handle: the open file.
        max_frames: the most frames it may hold; None: any number.
        sample_rate: the rate it must have, in Hz (and then mono); None: any rate and channel
            count.
        min_frames: the fewest frames it may hold. Default 1.
    """
    rate = handle.samplerate
    if sample_rate is not None and rate != sample_rate:
        return f"sample rate {rate} Hz, expected {sample_rate}"
    if sample_rate is not None and handle.channels != 1:
        return f"{handle.channels} channels, expected mono"
    if max_frames is not None and handle.frames > max_frames:
        return f"{handle.frames / rate:.3f} s long, expected at most {max_frames / rate:g} s"
    if handle.frames == 0:
        return "no audio frames"
    if handle.frames < min_frames:
        return f"{handle.frames / rate:.3f} s long, need at least {min_frames / rate:g} s"
    return None


def open_checked(path: Path, problem: Callable[[sf.SoundFile], str | None]) -> sf.SoundFile:
    """Open ``path`` with libsndfile after checking it is whole and that ``problem`` finds
    nothing wrong with its header.

    Args:
        path: the audio file.
        problem: what is wrong with the open file's header, or None (``format_problem`` with
            the limits asked for).

    Raises:
        BadAudioError: the file is missing, empty, unreadable, cut off, or ``problem`` says why.
    """
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise BadAudioError(path, "file does not exist") from None
    except OSError as error:
        raise BadAudioError(path, f"cannot be examined ({error.strerror})") from None
    if size == 0:
        raise BadAudioError(path, "empty file (0 bytes)")
    try:
        handle = sf.SoundFile(str(path))
    except sf.LibsndfileError as error:
        raise BadAudioError(path, f"not readable as audio ({error.error_string})") from None
    found = _riff_truncation(path, size) or problem(handle)
    if found:
        handle.close()
        raise BadAudioError(path, found)
    return handle


def is_float(handle: sf.SoundFile) -> bool:
    """Whether samples are stored as floats (or in another non-integer coding) rather than
    integer PCM: read as float, they can hold NaN or infinity.

    Args:
        handle: the open file.
    """
    return not handle.subtype.startswith("PCM_")


class FloatProblem(NamedTuple):
    """The first row of float audio that is no audio: its index, how many of its samples are
    NaN or infinite, and its peak (checked once all are finite)."""

    row: int
    non_finite: int
    peak: float


def float_problem(samples: np.ndarray) -> FloatProblem | None:
    """The first row holding a NaN or infinite sample, or a sample beyond ``FLOAT_PEAK_LIMIT``;
    None when every row is audio.

    Args:
        samples: ``(rows, samples)`` float audio.
    """
    non_finite = np.count_nonzero(~np.isfinite(samples), axis=1)
    if non_finite.any():
        row = int(np.argmax(non_finite > 0))
        return FloatProblem(row, int(non_finite[row]), float("nan"))
    peaks = np.abs(samples).max(axis=1, initial=0.0)
    if (peaks > FLOAT_PEAK_LIMIT).any():
        row = int(np.argmax(peaks > FLOAT_PEAK_LIMIT))
        return FloatProblem(row, 0, float(peaks[row]))
    return None


def to_float32(samples: np.ndarray) -> np.ndarray:
    """Audio as float32: int16 scaled by 1/32768, floats cast (beyond float32's range:
    infinite, for ``float_problem`` to find).

    Args:
        samples: int16 or float audio of any shape.
    """
    if samples.dtype == np.int16:
        return samples.astype(np.float32) / np.float32(32768.0)
    with np.errstate(over="ignore"):
        return samples.astype(np.float32, copy=False)


def to_int16(samples: np.ndarray) -> np.ndarray:
    """Float audio in [-1, 1] as int16 at full scale, rounded, clipped to int16's range.

    Args:
        samples: float audio of any shape.
    """
    return np.clip(np.round(samples * 32768.0), -32768, 32767).astype(np.int16)


def read_int16(handle: sf.SoundFile, path: Path, frames: int = -1) -> np.ndarray:
    """``frames`` samples (-1: all the rest) as int16 at full scale, ``(frames,)`` for mono and
    ``(frames, channels)`` otherwise: libsndfile scales integer PCM of any width itself, but
    would truncate float samples to 0 and +-1, so those are read as float and scaled here. A
    non-finite float sample (NaN, infinity), or one beyond ``FLOAT_PEAK_LIMIT``, makes the file
    bad, and so does a read that fails to decode (a damaged FLAC) or ends before the frames the
    header declares.

    Args:
        handle: the open file (``open_checked``), read from where it stands.
        path: its path, for messages.
        frames: how many frames; -1 (default): all the rest.

    Raises:
        BadAudioError: the part read is damaged, cut off, NaN, infinite or far out of range.
    """
    start, rate = handle.tell(), handle.samplerate
    expected = handle.frames - start if frames < 0 else frames
    span = f"between {start / rate:.3f} s and {(start + expected) / rate:.3f} s"
    try:
        samples = handle.read(frames, dtype="float64" if is_float(handle) else "int16")
    except sf.LibsndfileError as error:  # a compressed stream damaged part-way: "lost sync"
        raise BadAudioError(
            path,
            f"damaged: decoding fails {span} of its {handle.frames / rate:.3f} s "
            f"({error.error_string.strip().rstrip('.')})",
        ) from None
    if is_float(handle):
        problem = float_problem(samples.reshape(1, -1))
        if problem and problem.non_finite:
            part = "" if expected == handle.frames else f" {span}"
            raise BadAudioError(
                path, f"{problem.non_finite} of {samples.size} samples{part} are NaN or infinite"
            )
        if problem:
            raise BadAudioError(
                path,
                f"float samples reach {problem.peak:.3g}, far outside [-1, 1] (more than "
                f"{FLOAT_PEAK_LIMIT} is not audio at full scale; up to it, samples are clipped)",
            )
        samples = to_int16(samples)
    if len(samples) < expected:
        raise BadAudioError(
            path, f"truncated: the header declares {handle.frames} frames, fewer could be read"
        )
    return samples


def read_blocks(
    handle: sf.SoundFile, path: Path, frames: int | None = None
) -> Iterator[np.ndarray]:
    """The rest of an open file, block by block, as int16 at full scale (``(frames,)`` mono,
    ``(frames, channels)`` otherwise): a damaged part, a NaN or an out-of-range float sample
    is found, and named to the second, without holding the whole file.

    Args:
        handle: the open file (``open_recording``).
        path: its path, for messages.
        frames: frames per block; None (default): a second's. At most ``MAX_BLOCK_VALUES``
            samples over all channels are read at a time, however many channels.

    Raises:
        BadAudioError: the part read is damaged, cut off or holds no audio.
    """
    step = min(frames or handle.samplerate, max(1, MAX_BLOCK_VALUES // handle.channels))
    while handle.tell() < handle.frames:
        yield read_int16(handle, path, min(step, handle.frames - handle.tell()))


#: soxr's 'MQ': 16-bit precision (the rows are int16) with a passband flat to 0.05 dB at 7 kHz
#: and aliases 127 dB down; its 20-bit 'HQ' adds precision the int16 rows cannot hold.
RESAMPLE_QUALITY = "MQ"
#: The sample rates a converting read takes, in Hz (the frontends' range): below, no speech
#: recording; above, resampling would cost far more than the audio is worth.
MIN_FILE_RATE, MAX_FILE_RATE = 1000, 384_000


class MonoConverter:
    """int16 audio at any rate and channel count as int16 mono at ``target_rate``, as training
    converts a recording (``ClipFormat.convert``): the channels' mean, soxr at
    ``RESAMPLE_QUALITY``, rounded to 16 bits; mono at ``target_rate`` passes as it is. The one
    conversion of training, ``detect.py``, the runtime and ``listen``.

    One soxr stream runs over successive calls, so blocks convert as the whole would, bit for
    bit: soxr holds back its filter delay until the call with ``last=True``; ``clear`` starts
    a new signal.

    Args:
        rate: the audio's sample rate, in Hz.
        target_rate: the rate wanted, in Hz.
        channels: the audio's channel count.
    """

    def __init__(self, rate: int, target_rate: int, channels: int) -> None:
        self.rate, self.target_rate, self.channels = rate, target_rate, channels
        self.scale = np.float32(1.0 / (32768.0 * channels))
        self.weights = np.full(channels, self.scale, dtype=np.float32)
        self.resampler = None
        if rate != target_rate:
            self.resampler = soxr.ResampleStream(
                rate, target_rate, 1, dtype="float32", quality=RESAMPLE_QUALITY
            )

    def describe(self, path: Path | str) -> str | None:
        """The line saying what ``path`` was converted from, or None when it is not converted.

        Args:
            path: the file, named in the line.
        """
        if self.resampler is None and self.channels == 1:
            return None
        channels = "mono" if self.channels == 1 else f"{self.channels} channels"
        return f"converted {path}: {self.rate} Hz {channels} -> {self.target_rate} Hz mono"

    def __call__(self, samples: np.ndarray, last: bool = False) -> np.ndarray:
        """The next block converted.

        Args:
            samples: int16 ``(frames,)`` (mono) or ``(frames, channels)``.
            last: the signal ends with it: soxr's held-back samples follow. Default False.

        Returns:
            int16 ``(samples,)`` at ``target_rate``.
        """
        if samples.ndim == 2 and samples.shape[1] == 1:
            samples = samples[:, 0]
        if samples.ndim == 1 and self.resampler is None:
            return samples
        if samples.ndim == 1:
            mono = samples.astype(np.float32) * self.scale
        else:  # a matrix product: numpy's mean over a short axis is many times slower
            mono = samples.astype(np.float32) @ self.weights
        if self.resampler is not None:
            mono = self.resampler.resample_chunk(mono, last=last)
        return to_int16(mono)

    def clear(self) -> None:
        """Forget the signal so far: the next call starts a new one."""
        if self.resampler is not None:
            self.resampler.clear()


def open_recording(
    path: Path, max_seconds: float | None = None, min_frames: int = 1
) -> sf.SoundFile:
    """Open a recording of any channel count and a rate in ``[MIN_FILE_RATE, MAX_FILE_RATE]``
    for ``read_blocks`` or ``read_converted``, checked from its header.

    Args:
        path: the audio file.
        max_seconds: the longest it may be; None (default): any length.
        min_frames: the fewest frames it may hold. Default 1.

    Raises:
        BadAudioError: it is missing, unreadable, cut off, at a rate out of range, or too
            long or short.
    """

    def problem(handle: sf.SoundFile) -> str | None:
        rate = handle.samplerate
        if not MIN_FILE_RATE <= rate <= MAX_FILE_RATE:
            return f"sample rate {rate} Hz, outside [{MIN_FILE_RATE}, {MAX_FILE_RATE}]"
        longest = None if max_seconds is None else math.floor(max_seconds * rate + 1e-6)
        return format_problem(handle, longest, None, min_frames)

    return open_checked(path, problem)


def read_converted(
    path: Path, sample_rate: int, max_seconds: float | None = None
) -> tuple[np.ndarray, str | None]:
    """A whole recording of any rate and channel count as int16 mono at ``sample_rate``
    (``MonoConverter``).

    Args:
        path: the audio file.
        sample_rate: the rate wanted, in Hz.
        max_seconds: the longest it may be; None (default): any length.

    Returns:
        ``(samples,)`` int16, and the line saying it was converted (None: it was not).

    Raises:
        BadAudioError: see ``open_recording``; or the samples are damaged, NaN or far out of
            range.
    """
    with open_recording(path, max_seconds) as handle:
        convert = MonoConverter(handle.samplerate, sample_rate, handle.channels)
        return convert(read_int16(handle, path), last=True), convert.describe(path)
