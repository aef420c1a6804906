"""Reading WAV files with soundfile: Speech Commands clips as fixed-length int16, other
recordings (background noise, audio for an exported model) as float32 of their own length.

Every problem with a file is a ``BadAudioError`` that names the file and what is wrong with it;
``inspect_clips`` and ``read_clips`` run over many files in parallel threads (libsndfile
releases the GIL) and return every problem found instead of stopping at the first.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import numpy as np
import soundfile as sf

from kws.data.files import BadFileError
from kws.data.layout import CLIP_SAMPLES, SAMPLE_RATE

#: The largest float sample taken as audio (clipped to full scale): 6 dB over it. Beyond it a
#: float file is scaled wrongly or is no audio at all, and would decode to a full-scale square.
FLOAT_PEAK_LIMIT = 2.0
_CHUNK = 64  # files per thread task: few enough for a lively progress bar, many enough to be cheap


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


def _format_problem(handle: sf.SoundFile, max_frames: int | None, sample_rate: int) -> str | None:
    """Why an open file is not a ``sample_rate`` mono recording of at most ``max_frames``
    frames, or None."""
    if handle.samplerate != sample_rate:
        return f"sample rate {handle.samplerate} Hz, expected {sample_rate}"
    if handle.channels != 1:
        return f"{handle.channels} channels, expected mono"
    if max_frames is not None and handle.frames > max_frames:
        return (
            f"{handle.frames / sample_rate:.3f} s long, "
            f"expected at most {max_frames / sample_rate:g} s"
        )
    if handle.frames == 0:
        return "no audio frames"
    return None


def _open_checked(
    path: Path, max_frames: int | None = CLIP_SAMPLES, sample_rate: int = SAMPLE_RATE
) -> sf.SoundFile:
    """Open ``path`` with libsndfile after checking it is whole, at ``sample_rate``, mono and
    short enough."""
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
    problem = _riff_truncation(path, size) or _format_problem(handle, max_frames, sample_rate)
    if problem:
        handle.close()
        raise BadAudioError(path, problem)
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


def _read_int16(handle: sf.SoundFile, path: Path) -> np.ndarray:
    """All samples as int16 at full scale: libsndfile scales integer PCM of any width itself, but
    would truncate float samples to 0 and +-1, so those are read as float and scaled here. A
    non-finite float sample (NaN, infinity), or one beyond ``FLOAT_PEAK_LIMIT``, makes the file
    bad."""
    if not _is_float(handle):
        return handle.read(dtype="int16")
    samples = handle.read(dtype="float64")
    problem = float_problem(samples[None])
    if problem and problem.non_finite:
        raise BadAudioError(
            path, f"{problem.non_finite} of {len(samples)} samples are NaN or infinite"
        )
    if problem:
        raise BadAudioError(
            path,
            f"float samples reach {problem.peak:.3g}, far outside [-1, 1] (more than "
            f"{FLOAT_PEAK_LIMIT} is not audio at full scale; up to it, samples are clipped)",
        )
    return to_int16(samples)


def inspect_clip(path: Path) -> None:
    """Raise ``BadAudioError`` if ``path`` is not a usable clip. Reads the header, and the samples
    of float files only, the one kind whose samples can be unusable (NaN or infinity).

    Args:
        path: the WAV file.
    """
    with _open_checked(path) as handle:
        if _is_float(handle):
            _read_int16(handle, path)


def read_clip(path: Path) -> np.ndarray:
    """One mono 16 kHz clip of at most one second as int16, zero-padded to ``CLIP_SAMPLES``.

    16-bit, 24-bit, 32-bit and float WAVs all read at full scale; anything else unusable raises
    ``BadAudioError``.

    Args:
        path: the WAV file.
    """
    with _open_checked(path) as handle:
        samples = _read_int16(handle, path)
    clip = np.zeros(CLIP_SAMPLES, dtype=np.int16)
    clip[: len(samples)] = samples
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
    with _open_checked(path, max_frames, sample_rate) as handle:
        if handle.frames < min_frames:
            raise BadAudioError(
                path,
                f"{handle.frames / sample_rate:.3f} s long, need {min_frames / sample_rate:g} s",
            )
        return _read_int16(handle, path).astype(np.float32) / 32768.0


def read_noise(path: Path) -> np.ndarray:
    """One background-noise recording, 16 kHz mono of at least one second, as float32 in [-1, 1].

    Args:
        path: the WAV file.
    """
    return read_waveform(path, min_frames=CLIP_SAMPLES)


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


def inspect_clips(paths: Sequence[Path], description: str = "checking clips") -> dict[str, str]:
    """Check every file in parallel, as ``inspect_clip`` does.

    Args:
        paths: the WAV files.
        description: the progress bar's label.

    Returns:
        ``{path: problem}`` for every bad file.
    """
    return _in_blocks(
        lambda rows: _per_file(paths, rows, lambda i: inspect_clip(paths[i])),
        len(paths),
        description,
    )


def read_clips(
    paths: Sequence[Path | None],
    write: Callable[[int, np.ndarray], None],
    description: str = "decoding clips",
) -> dict[str, str]:
    """Decode the files in parallel, a block of consecutive rows at a time, and hand each block on.

    Args:
        paths: the WAV file of every row; None leaves its row zeros.
        write: called as ``write(start, clips)`` once per block, from the decoding threads and in
            any order: ``clips`` is ``(rows, CLIP_SAMPLES)`` int16, rows ``start`` onwards, the
            rows of bad files zeros. An exception it raises stops the decoding and propagates.
        description: the progress bar's label.

    Returns:
        ``{path: problem}`` for every bad file.
    """

    def decode(rows: range) -> dict[str, str]:
        clips = np.zeros((len(rows), CLIP_SAMPLES), dtype=np.int16)

        def put(i: int) -> None:
            clips[i - rows.start] = read_clip(paths[i])

        problems = _per_file(paths, rows, put)
        write(rows.start, clips)
        return problems

    return _in_blocks(decode, len(paths), description)
