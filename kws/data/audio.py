"""Reading Speech Commands WAV files with soundfile into fixed-length int16 clips."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import soundfile as sf

from kws.data.layout import CLIP_SAMPLES, SAMPLE_RATE


class BadAudioError(ValueError):
    """One or more audio files could not be used; the message lists every one and why."""


def read_clip(path: Path) -> np.ndarray:
    """One mono 16 kHz clip of at most one second as int16, zero-padded to ``CLIP_SAMPLES``."""
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as error:
        raise BadAudioError(f"{path}: not readable as audio ({error})") from None
    if info.samplerate != SAMPLE_RATE:
        raise BadAudioError(f"{path}: sample rate {info.samplerate} Hz, expected {SAMPLE_RATE}")
    if info.channels != 1:
        raise BadAudioError(f"{path}: {info.channels} channels, expected mono")
    if info.frames > CLIP_SAMPLES:
        raise BadAudioError(f"{path}: {info.frames / SAMPLE_RATE:.3f} s long, expected at most 1 s")
    if info.frames == 0:
        raise BadAudioError(f"{path}: no audio frames")
    try:
        samples, _ = sf.read(str(path), dtype="int16", always_2d=False)
    except (sf.LibsndfileError, RuntimeError) as error:
        raise BadAudioError(f"{path}: truncated or corrupt audio ({error})") from None
    clip = np.zeros(CLIP_SAMPLES, dtype=np.int16)
    clip[: len(samples)] = samples
    return clip


def decode_clips(root: Path, paths: list[str], workers: int | None = None) -> np.ndarray:
    """Decode ``root / path`` for every path, in parallel, into ``(len(paths), CLIP_SAMPLES)``.

    An empty path stands for a silent clip (zeros). Every bad file is reported, not only the
    first, in one ``BadAudioError``.
    """
    clips = np.zeros((len(paths), CLIP_SAMPLES), dtype=np.int16)
    errors: list[str] = []

    def decode(i: int) -> None:
        if paths[i]:
            try:
                clips[i] = read_clip(root / paths[i])
            except BadAudioError as error:
                errors.append(str(error))

    with ThreadPoolExecutor(workers or min(8, (os.cpu_count() or 1) + 2)) as pool:
        list(pool.map(decode, range(len(paths))))
    if errors:
        listing = "\n  ".join(sorted(errors))
        raise BadAudioError(f"{len(errors)} bad audio file(s):\n  {listing}")
    return clips


def read_noise_bank(folder: Path) -> np.ndarray:
    """Background-noise WAVs of ``folder`` as float32 ``(files, samples)``, cut to the shortest."""
    files = sorted(folder.glob("*.wav")) if folder.is_dir() else []
    if not files:
        raise FileNotFoundError(f"{folder}: no background-noise .wav files (needed for silence)")
    noises = []
    for path in files:
        try:
            samples, rate = sf.read(str(path), dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as error:
            raise BadAudioError(f"{path}: not readable as audio ({error})") from None
        if rate != SAMPLE_RATE or len(samples) < CLIP_SAMPLES:
            raise BadAudioError(f"{path}: need at least 1 s at {SAMPLE_RATE} Hz, got {rate} Hz")
        noises.append(samples.mean(axis=1))
    length = min(len(n) for n in noises)
    return np.stack([n[:length] for n in noises])
