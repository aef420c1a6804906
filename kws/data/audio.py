"""Reading audio files with soundfile: clips as fixed-length int16, other recordings (background
noise, audio for an exported model) as float32 of their own length.

A ``ClipFormat`` says what a source file must be and how it becomes a cache row: Speech
Commands' (the default) takes 16 kHz mono clips of at most one second; a converting one (a
folder of the user's own recordings) takes any rate and channel count soundfile reads, mixes
down to mono, resamples to 16 kHz with soxr, and pads or cuts to its clip length, keeping the
part of a longer recording its ``align`` chooses: the loudest window (``window_start``), the
part from where the sound starts, or the start.

Every problem with a file is a ``BadAudioError`` that names the file and what is wrong with it;
``inspect_clips`` and ``read_clips`` run over many files in parallel threads (libsndfile and
soxr release the GIL) and return every problem found instead of stopping at the first.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple, get_args

import numpy as np
import soundfile as sf
import soxr

from kws.data.files import BadFileError
from kws.data.layout import CLIP_SAMPLES, SAMPLE_RATE

#: The largest float sample taken as audio (clipped to full scale): 6 dB over it. Beyond it a
#: float file is scaled wrongly or is no audio at all, and would decode to a full-scale square.
FLOAT_PEAK_LIMIT = 2.0
#: The most samples (over all channels) ``read_blocks`` reads at a time: 8 MiB of int16.
MAX_BLOCK_VALUES = 1 << 22
_CHUNK = 64  # files per thread task: few enough for a lively progress bar, many enough to be cheap

#: Which ``clip_samples`` of a longer recording make its row (``window_start``).
Align = Literal["loudest", "start", "cut"]
#: The ``Align`` values.
ALIGNS: tuple[str, ...] = get_args(Align)
#: ``start``: the sound starts at the first 10 ms frame whose energy is within ``ONSET_DB`` of
#: the loudest frame's.
ONSET_FRAME_SAMPLES = SAMPLE_RATE // 100
ONSET_DB = 30.0


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


def _format_problem(
    handle: sf.SoundFile,
    max_frames: int | None,
    sample_rate: int | None,
    min_frames: int = 1,
) -> str | None:
    """Why an open file is not a ``sample_rate`` mono recording (``None``: any rate and channel
    count) of ``min_frames`` to ``max_frames`` frames, or None."""
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


def _open_checked(path: Path, problem: Callable[[sf.SoundFile], str | None]) -> sf.SoundFile:
    """Open ``path`` with libsndfile after checking it is whole and that ``problem`` finds
    nothing wrong with its header (``_format_problem`` with the limits asked for)."""
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


def _is_float(handle: sf.SoundFile) -> bool:
    """Whether samples are stored as floats (or in another non-integer coding) rather than
    integer PCM: read as float, they can hold NaN or infinity."""
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


def _read_int16(handle: sf.SoundFile, path: Path, frames: int = -1) -> np.ndarray:
    """``frames`` samples (-1: all the rest) as int16 at full scale, ``(frames,)`` for mono and
    ``(frames, channels)`` otherwise: libsndfile scales integer PCM of any width itself, but
    would truncate float samples to 0 and +-1, so those are read as float and scaled here. A
    non-finite float sample (NaN, infinity), or one beyond ``FLOAT_PEAK_LIMIT``, makes the file
    bad, and so does a read that fails to decode (a damaged FLAC) or ends before the frames the
    header declares."""
    start, rate = handle.tell(), handle.samplerate
    expected = handle.frames - start if frames < 0 else frames
    span = f"between {start / rate:.3f} s and {(start + expected) / rate:.3f} s"
    try:
        samples = handle.read(frames, dtype="float64" if _is_float(handle) else "int16")
    except sf.LibsndfileError as error:  # a compressed stream damaged part-way: "lost sync"
        raise BadAudioError(
            path,
            f"damaged: decoding fails {span} of its {handle.frames / rate:.3f} s "
            f"({error.error_string.strip().rstrip('.')})",
        ) from None
    if _is_float(handle):
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
        yield _read_int16(handle, path, min(step, handle.frames - handle.tell()))


def _header_vouches(handle: sf.SoundFile) -> bool:
    """Whether checking the header alone shows the samples can be read: integer PCM in a
    RIFF/WAVE file, whose cut-off ``_riff_truncation`` finds. Other files are decoded to know
    (a FLAC damaged part-way has a whole header, float samples can be NaN)."""
    return handle.format in ("WAV", "WAVEX") and not _is_float(handle)


def window_start(samples: np.ndarray, length: int, align: Align) -> int:
    """Where the row of ``length`` samples starts in a recording (``ClipFormat.align``).

    Args:
        samples: ``(frames,)`` int16 mono audio.
        length: samples per row.
        align: ``loudest``: the window of ``length`` with the most energy (sum of squares, by a
            cumulative sum; the first of equals), as Speech Commands' clips were cut
            (``extract_loudest_section``); 0 for a recording no longer than a row.
            ``start``: the first ``ONSET_FRAME_SAMPLES`` frame within ``ONSET_DB`` of the
            loudest frame's energy (leading silence left out; 0 for silence). ``cut``: 0.

    Returns:
        The first sample of the row, in ``[0, len(samples))`` (0 for no samples).
    """
    squares = samples.astype(np.int64) ** 2  # exact: 60 s of full scale is below 2**63
    if align == "loudest" and len(samples) > length:
        energy = np.concatenate(([0], np.cumsum(squares)))
        return int(np.argmax(energy[length:] - energy[:-length]))
    if align == "start" and len(samples):
        frames = np.add.reduceat(squares, np.arange(0, len(samples), ONSET_FRAME_SAMPLES))
        loud = frames >= frames.max() * 10 ** (-ONSET_DB / 10)
        return int(np.argmax(loud)) * ONSET_FRAME_SAMPLES
    return 0


@dataclass(frozen=True)
class ClipFormat:
    """What a source file must be to make cache rows, and how it makes them: int16 at 16 kHz
    (``SAMPLE_RATE``) mono, ``clip_samples`` long, zero-padded at the end.

    Args:
        clip_samples: samples per row, at 16 kHz. Default ``CLIP_SAMPLES`` (one second).
        convert: take any sample rate and channel count soundfile reads: mix down to mono (the
            channels' mean) and resample to 16 kHz with soxr (``RESAMPLE_QUALITY``). Default False:
            16 kHz mono files only; others are bad.
        min_seconds: the shortest recording taken, in seconds. Default 0: any with a frame.
        max_seconds: the longest recording taken, in seconds; None: any length. Of a
            recording longer than a row, ``read_clip`` reads the row ``align`` chooses, or
            one row-long piece (``pieces`` counts them). Default 1.0 (Speech Commands').
        align: which row of a recording longer than a row is read (``window_start``), after
            the conversion: ``loudest``, ``start`` (leading silence left out: for a shorter
            recording too) or ``cut`` (default: the first; only the row is read from the file).

    Raises:
        ValueError: ``clip_samples`` below 1, ``max_seconds`` shorter than a row, or ``align``
            not one of ``ALIGNS``.
    """

    clip_samples: int = CLIP_SAMPLES
    convert: bool = False
    min_seconds: float = 0.0
    max_seconds: float | None = CLIP_SAMPLES / SAMPLE_RATE
    align: Align = "cut"

    def __post_init__(self) -> None:
        if self.clip_samples < 1:
            raise ValueError(f"clip_samples must be at least 1, got {self.clip_samples}")
        if self.align not in ALIGNS:
            raise ValueError(f"align must be one of {ALIGNS}, got {self.align!r}")
        if self.max_seconds is not None and self.max_seconds * SAMPLE_RATE < self.clip_samples:
            raise ValueError(
                f"max_seconds {self.max_seconds} is shorter than a row of {self.clip_samples} "
                f"samples at {SAMPLE_RATE} Hz"
            )

    def problem(self, handle: sf.SoundFile) -> str | None:
        """Why an open file cannot make rows (its rate, channels or length), or None.

        Args:
            handle: the open file.
        """
        rate = handle.samplerate
        longest = None if self.max_seconds is None else math.floor(self.max_seconds * rate + 1e-6)
        shortest = max(1, math.ceil(self.min_seconds * rate - 1e-6))
        return _format_problem(handle, longest, None if self.convert else SAMPLE_RATE, shortest)

    def row_frames(self, rate: int) -> float:
        """The frames of a file at ``rate`` that make one row.

        Args:
            rate: the file's sample rate, in Hz.
        """
        return self.clip_samples * rate / SAMPLE_RATE

    def pieces(self, frames: int, rate: int) -> int:
        """The rows a recording of ``frames`` at ``rate`` makes when cut into row-long pieces:
        every whole piece, then the rest if it lasts ``min_seconds``; at least one.

        Args:
            frames: the recording's length, in frames.
            rate: its sample rate, in Hz.
        """
        span = self.row_frames(rate)
        whole = math.floor(frames / span + 1e-9)
        rest = frames - whole * span
        return max(1, whole + int(rest > 0 and rest >= self.min_seconds * rate - 1e-6))


#: Speech Commands' clips: 16 kHz mono, at most one second, as they are.
SPEECH_COMMANDS_CLIPS = ClipFormat()
#: Extra input read past a converted row's end, so that its last samples are resampled from
#: audio on both sides rather than from an edge: 10 ms.
_MARGIN_SECONDS = 0.01


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


_converters = threading.local()  # per decoding thread: {(rate, channels): MonoConverter}


def _mono_16k(samples: np.ndarray, rate: int) -> np.ndarray:
    """int16 ``(frames,)`` or ``(frames, channels)`` at ``rate`` as int16 ``(samples,)`` mono at
    ``SAMPLE_RATE`` (``MonoConverter``); each thread keeps one converter per format, cleared
    after every clip, so that soxr's filter is designed once rather than for every clip."""
    converters = _converters.__dict__.setdefault("by_format", {})
    key = (rate, 1 if samples.ndim == 1 else samples.shape[1])
    if key not in converters:
        converters[key] = MonoConverter(rate, SAMPLE_RATE, key[1])
    try:
        return converters[key](samples, last=True)
    finally:
        converters[key].clear()


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
        return _format_problem(handle, longest, None, min_frames)

    return _open_checked(path, problem)


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
        return convert(_read_int16(handle, path), last=True), convert.describe(path)


def inspect_clip(path: Path, clip_format: ClipFormat = SPEECH_COMMANDS_CLIPS) -> int:
    """Raise ``BadAudioError`` if ``path`` cannot make rows. Reads the header, and decodes the
    samples of every file but integer PCM WAV (``_header_vouches``), a second at a time: float
    samples can be NaN or infinite, and a compressed file (FLAC) can be damaged part-way.

    Args:
        path: the audio file.
        clip_format: what it must be. Default: Speech Commands' clips.

    Returns:
        The row-long pieces it holds (``ClipFormat.pieces``; 1 for a clip no longer than a row).
    """
    with _open_checked(path, clip_format.problem) as handle:
        if not _header_vouches(handle):
            for _ in read_blocks(handle, path):
                pass
        return clip_format.pieces(handle.frames, handle.samplerate)


def read_clip(
    path: Path, clip_format: ClipFormat = SPEECH_COMMANDS_CLIPS, piece: int = 0
) -> np.ndarray:
    """One row of an audio file as int16, ``(clip_format.clip_samples,)``, zero-padded at the
    end: the file as it is (Speech Commands), or converted to 16 kHz mono, and the row its
    ``clip_format.align`` chooses.

    16-bit, 24-bit, 32-bit and float files all read at full scale; anything else unusable raises
    ``BadAudioError``.

    Args:
        path: the audio file.
        clip_format: what it must be and how it becomes a row. Default: Speech Commands'
            clips.
        piece: which row-long piece of a longer recording (``ClipFormat.pieces``), with
            ``align`` ``cut`` only. Default 0: its start.

    Raises:
        BadAudioError: the file cannot make the row.
        ValueError: a ``piece`` other than 0 with ``align`` other than ``cut``.
    """
    if clip_format.align != "cut":
        if piece:
            raise ValueError(f"piece {piece} of {path}: pieces are read with align 'cut' only")
        with _open_checked(path, clip_format.problem) as handle:
            samples = _mono_16k(_read_int16(handle, path), handle.samplerate)
        samples = samples[window_start(samples, clip_format.clip_samples, clip_format.align) :]
        return _padded(samples, clip_format.clip_samples)
    with _open_checked(path, clip_format.problem) as handle:
        rate = handle.samplerate
        span = clip_format.row_frames(rate)
        start = round(piece * span)
        if not 0 <= start < handle.frames:
            raise BadAudioError(path, f"has no piece {piece} of {span:g} frames")
        handle.seek(start)
        native = rate == SAMPLE_RATE and handle.channels == 1
        margin = 0 if native else math.ceil(_MARGIN_SECONDS * rate)
        frames = min(handle.frames - start, math.ceil(span) + margin)
        samples = _mono_16k(_read_int16(handle, path, frames), rate)
    return _padded(samples, clip_format.clip_samples)


def _padded(samples: np.ndarray, length: int) -> np.ndarray:
    """The first ``length`` int16 samples, zero-padded at the end to ``length``."""
    clip = np.zeros(length, dtype=np.int16)
    kept = min(len(samples), length)
    clip[:kept] = samples[:kept]
    return clip


def read_waveform(
    path: Path,
    min_frames: int = 1,
    max_frames: int | None = None,
    sample_rate: int = SAMPLE_RATE,
) -> np.ndarray:
    """One mono recording as float32 in [-1, 1], read as ``read_clip`` reads (through int16, so
    the samples are those training sees), with no padding.

    Args:
        path: the WAV file.
        min_frames: the fewest samples it may hold. Default 1.
        max_frames: the most samples it may hold; ``None`` (default): no limit.
        sample_rate: the sample rate it must have, in Hz. Default ``SAMPLE_RATE`` (16000).

    Returns:
        ``(samples,)`` float32, ``samples / 32768`` of the int16 samples.

    Raises:
        BadAudioError: the file is unreadable, cut off, not mono, at another sample rate,
            shorter than ``min_frames`` or longer than ``max_frames``, or holds NaN, infinite
            or far out of range float samples.
    """

    def problem(handle: sf.SoundFile) -> str | None:
        return _format_problem(handle, max_frames, sample_rate, min_frames)

    with _open_checked(path, problem) as handle:
        return _read_int16(handle, path).astype(np.float32) / 32768.0


def read_noise(path: Path, clip_format: ClipFormat = SPEECH_COMMANDS_CLIPS) -> np.ndarray:
    """One background-noise recording of at least one row, as float32 in [-1, 1] at 16 kHz
    mono (converted as ``clip_format`` says).

    Args:
        path: the audio file.
        clip_format: what it must be and the row it must fill. Default: Speech Commands'
            (16 kHz mono, at least one second).
    """

    def problem(handle: sf.SoundFile) -> str | None:
        shortest = math.ceil(clip_format.row_frames(handle.samplerate) - 1e-6)
        rate = None if clip_format.convert else SAMPLE_RATE
        return _format_problem(handle, None, rate, shortest)

    with _open_checked(path, problem) as handle:
        samples = _mono_16k(_read_int16(handle, path), handle.samplerate)
    return samples.astype(np.float32) / np.float32(32768.0)


def _workers() -> int:
    """Threads for decoding: a few per core, since file opens wait on the disk."""
    return min(8, 2 * (os.cpu_count() or 1))


def _per_file(
    paths: Sequence[Path | None], rows: range, task: Callable[[int], None]
) -> dict[str, str]:
    """Run ``task(i)`` for every ``i`` in ``rows`` whose path is not None; ``{path: problem}``."""
    problems: dict[str, str] = {}
    for i in rows:
        if paths[i] is not None:
            try:
                task(i)
            except BadAudioError as error:
                problems[str(error.path)] = error.problem
    return problems


def _in_blocks(
    task: Callable[[range], dict[str, str]], count: int, description: str
) -> dict[str, str]:
    """Run ``task(rows)`` over blocks of consecutive rows below ``count`` in threads, with a
    progress bar; the problems they return, merged. An exception ends it (pending blocks are
    cancelled) and propagates."""
    from tqdm.auto import tqdm  # here, so that reading one file (kws.runtime) needs no tqdm

    blocks = [range(start, min(start + _CHUNK, count)) for start in range(0, count, _CHUNK)]
    problems: dict[str, str] = {}
    with (
        ThreadPoolExecutor(_workers()) as pool,
        tqdm(total=count, desc=description, unit="clip", leave=False) as progress,
    ):
        for rows, found in zip(blocks, pool.map(task, blocks), strict=True):
            problems |= found
            progress.update(len(rows))
    return problems


def clip_rows(
    paths: Sequence[Path],
    clip_format: ClipFormat = SPEECH_COMMANDS_CLIPS,
    description: str = "checking clips",
) -> tuple[list[int], dict[str, str]]:
    """Check every file in parallel, as ``inspect_clip`` does, and count the rows each makes.

    Args:
        paths: the audio files.
        clip_format: what they must be. Default: Speech Commands' clips.
        description: the progress bar's label.

    Returns:
        The row-long pieces each file holds (``ClipFormat.pieces``; 0 for a bad file), and
        ``{path: problem}`` of the bad files.
    """
    counts = [0] * len(paths)

    def check(i: int) -> None:
        counts[i] = inspect_clip(paths[i], clip_format)

    problems = _in_blocks(lambda rows: _per_file(paths, rows, check), len(paths), description)
    return counts, problems


def inspect_clips(
    paths: Sequence[Path],
    description: str = "checking clips",
    clip_format: ClipFormat = SPEECH_COMMANDS_CLIPS,
) -> dict[str, str]:
    """Check every file in parallel, as ``inspect_clip`` does.

    Args:
        paths: the audio files.
        description: the progress bar's label.
        clip_format: what they must be. Default: Speech Commands' clips.

    Returns:
        ``{path: problem}`` for every bad file.
    """
    return clip_rows(paths, clip_format, description)[1]


def read_clips(
    paths: Sequence[Path | None],
    write: Callable[[int, np.ndarray], None],
    description: str = "decoding clips",
    read: Callable[[Path], np.ndarray] = read_clip,
    clip_samples: int = CLIP_SAMPLES,
) -> dict[str, str]:
    """Decode the files in parallel, a block of consecutive rows at a time, and hand each block on.

    Args:
        paths: the file of every row; None leaves its row zeros.
        write: called as ``write(start, clips)`` once per block, from the decoding threads and in
            any order: ``clips`` is ``(rows, clip_samples)`` int16, rows ``start`` onwards, the
            rows of bad files zeros. An exception it raises stops the decoding and propagates.
        description: the progress bar's label.
        read: makes one row from a path, ``(clip_samples,)`` int16, or raises
            ``BadAudioError``. Default ``read_clip`` (a Speech Commands clip).
        clip_samples: samples per row. Default ``CLIP_SAMPLES``.

    Returns:
        ``{path: problem}`` for every bad file.
    """

    def decode(rows: range) -> dict[str, str]:
        clips = np.zeros((len(rows), clip_samples), dtype=np.int16)

        def put(i: int) -> None:
            clips[i - rows.start] = read(paths[i])

        problems = _per_file(paths, rows, put)
        write(rows.start, clips)
        return problems

    return _in_blocks(decode, len(paths), description)
