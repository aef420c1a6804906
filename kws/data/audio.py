"""Reading audio files with soundfile: clips as fixed-length int16, other recordings (background
noise, audio for an exported model) as float32 of their own length.

A ``ClipFormat`` (``kws.data.clip_format``) says what a source file must be and how it becomes
a cache row: Speech Commands' (the default) takes 16 kHz mono clips of at most one second; a
converting one (a folder of the user's own recordings) takes any rate and channel count
soundfile reads, mixes down to mono, resamples to 16 kHz with soxr (``kws_runtime.audio``), and
pads or cuts to its clip length, keeping the part of a longer recording its ``align`` chooses.

Every problem with a file is a ``BadAudioError`` that names the file and what is wrong with it;
``inspect_clips`` and ``read_clips`` run over many files in parallel threads (libsndfile and
soxr release the GIL) and return every problem found instead of stopping at the first.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import soundfile as sf

from kws.data.clip_format import SPEECH_COMMANDS_CLIPS, ClipFormat, window_start
from kws.data.layout import SAMPLE_RATE
from kws_runtime.audio import (
    BadAudioError,
    MonoConverter,
    format_problem,
    is_float,
    open_checked,
    read_blocks,
    read_int16,
)

_CHUNK = 64  # files per thread task: few enough for a lively progress bar, many enough to be cheap


def _header_vouches(handle: sf.SoundFile) -> bool:
    """Whether checking the header alone shows the samples can be read: integer PCM in a
    RIFF/WAVE file, whose cut-off ``_riff_truncation`` finds. Other files are decoded to know
    (a FLAC damaged part-way has a whole header, float samples can be NaN)."""
    return handle.format in ("WAV", "WAVEX") and not is_float(handle)


#: Extra input read past a converted row's end, so that its last samples are resampled from
#: audio on both sides rather than from an edge: 10 ms.
_MARGIN_SECONDS = 0.01


_converters = threading.local()  # per decoding thread: {(rate, channels): MonoConverter}


def _mono(samples: np.ndarray, rate: int, clip_format: ClipFormat) -> np.ndarray:
    """int16 ``(frames,)`` or ``(frames, channels)`` at ``rate`` as int16 ``(samples,)`` mono at
    ``clip_format.sample_rate`` (``MonoConverter``); each thread keeps one converter per format,
    cleared after every clip, so that soxr's filter is designed once rather than for every
    clip."""
    converters = _converters.__dict__.setdefault("by_format", {})
    key = (rate, 1 if samples.ndim == 1 else samples.shape[1], clip_format.sample_rate)
    if key not in converters:
        converters[key] = MonoConverter(rate, key[2], key[1])
    try:
        return converters[key](samples, last=True)
    finally:
        converters[key].clear()


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
    with open_checked(path, clip_format.problem) as handle:
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
        with open_checked(path, clip_format.problem) as handle:
            samples = _mono(read_int16(handle, path), handle.samplerate, clip_format)
        samples = samples[window_start(samples, clip_format.clip_samples, clip_format.align) :]
        return _padded(samples, clip_format.clip_samples)
    with open_checked(path, clip_format.problem) as handle:
        rate = handle.samplerate
        span = clip_format.row_frames(rate)
        start = round(piece * span)
        if not 0 <= start < handle.frames:
            raise BadAudioError(path, f"has no piece {piece} of {span:g} frames")
        handle.seek(start)
        native = rate == clip_format.sample_rate and handle.channels == 1
        margin = 0 if native else math.ceil(_MARGIN_SECONDS * rate)
        frames = min(handle.frames - start, math.ceil(span) + margin)
        samples = _mono(read_int16(handle, path, frames), rate, clip_format)
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
        return format_problem(handle, max_frames, sample_rate, min_frames)

    with open_checked(path, problem) as handle:
        return read_int16(handle, path).astype(np.float32) / 32768.0


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
        rate = None if clip_format.convert else clip_format.sample_rate
        return format_problem(handle, None, rate, shortest)

    with open_checked(path, problem) as handle:
        samples = _mono(read_int16(handle, path), handle.samplerate, clip_format)
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
    from tqdm.auto import tqdm  # here, so that reading one file (kws_runtime) needs no tqdm

    blocks = [range(start, min(start + _CHUNK, count)) for start in range(0, count, _CHUNK)]
    problems: dict[str, str] = {}
    with (
        ThreadPoolExecutor(_workers()) as pool,
        tqdm(total=count, desc=description, unit="clip", leave=False, disable=None) as progress,
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
    read: Callable[[Path], np.ndarray],
    clip_samples: int,
    description: str = "decoding clips",
) -> dict[str, str]:
    """Decode the files in parallel, a block of consecutive rows at a time, and hand each block on.

    Args:
        paths: the file of every row; None leaves its row zeros.
        write: called as ``write(start, clips)`` once per block, from the decoding threads and in
            any order: ``clips`` is ``(rows, clip_samples)`` int16, rows ``start`` onwards, the
            rows of bad files zeros. An exception it raises stops the decoding and propagates.
        description: the progress bar's label.
        read: makes one row from a path, ``(clip_samples,)`` int16, or raises
            ``BadAudioError`` (e.g. ``read_clip`` with the source's ``ClipFormat``).
        clip_samples: samples per row (the source's ``ClipFormat.clip_samples``).

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
