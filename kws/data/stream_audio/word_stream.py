"""Streams of one split's words over background noise: written (``make_stream``,
``write_word_stream``) or in memory (``render_stream``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kws.data.layout import KEYWORDS, SAMPLE_RATE
from kws.data.stream_audio.background import load_background
from kws.data.stream_audio.clips import SplitClips, check_clips, find_clips
from kws.data.stream_audio.files import StreamFiles, write_stream
from kws.data.stream_audio.mixing import mix
from kws.data.stream_audio.plan import Placement, plan_words
from kws.data.stream_audio.settings import (
    DEFAULT_GAP_MS,
    DEFAULT_MINUTES,
    DEFAULT_UNKNOWN_FRACTION,
    DEFAULT_VOLUME,
    check_name,
    check_word_settings,
    stream_samples,
)


def make_stream(
    root: str | Path,
    out_dir: str | Path,
    split: str = "test",
    minutes: float = DEFAULT_MINUTES,
    seed: int = 0,
    gap_ms: int = DEFAULT_GAP_MS,
    jitter_ms: int | None = None,
    unknown_fraction: float = DEFAULT_UNKNOWN_FRACTION,
    volume: float = DEFAULT_VOLUME,
    fixed_volume: bool = False,
    keywords: Sequence[str] = KEYWORDS,
    test_root: str | Path | None = None,
    name: str | None = None,
    progress: bool = False,
) -> StreamFiles:
    """Write a long stream of one split's words over background noise, and its labels.

    The defaults are TensorFlow's ``generate_streaming_test_wav.py``: 10 minutes, a word per
    slot of 1 s + 2 s at a random offset in the slot (200 words in 600 s), 30% of them
    non-keywords, background gain U(0, 0.1) per second. Words are added at their recorded
    level; the sum is clipped to [-1, 1]. Every clip the stream uses is checked first, so a bad
    one stops the run before anything is written.

    Args:
        root: the extracted data set: word folders, ``_background_noise_/`` and the two lists.
        out_dir: where the files go; made if missing.
        split: ``test`` (default), ``val`` or ``train`` (whose speakers a model trained on).
        minutes: the stream's length.
        seed: the random seed (at least 0): same settings and seed, same bytes.
        gap_ms: the average gap between two words, ms.
        jitter_ms: the spread of a word's start within its slot, ms, at most ``gap_ms``;
            None: ``gap_ms``.
        unknown_fraction: the share of the words that are non-keywords (``_unknown_`` rows).
        volume: the loudest background gain; 0: no background (and no noise files needed).
        fixed_volume: every second's background at ``volume``, not U(0, ``volume``).
        keywords: the words to spot; every other word folder is a non-keyword.
        test_root: the official 12-class test archive, the source of ``split="test"``; None:
            the clips of ``testing_list.txt``.
        name: the files' name; None: ``<split>_stream``.
        progress: show a progress bar while mixing.

    Returns:
        The files written, the length and the counts of keyword and ``_unknown_`` rows.

    Raises:
        FileNotFoundError: ``root``, a list file, the noise files or a keyword's clips are
            missing.
        BadFileError: a clip or noise file cannot be used (named, with its problem).
        ValueError: a setting is out of range.
        StreamWriteError: too little free space, or a write failed.
    """
    stream_samples(minutes, volume)  # settings first: find_clips reads the whole tree
    check_word_settings(gap_ms, jitter_ms, seed, unknown_fraction)
    check_name(name)
    return write_word_stream(
        find_clips(root, split, keywords, test_root), root, out_dir, minutes=minutes, seed=seed,
        gap_ms=gap_ms, jitter_ms=jitter_ms, unknown_fraction=unknown_fraction, volume=volume,
        fixed_volume=fixed_volume, name=name, progress=progress, check=True,
        test_root=None if test_root is None or split != "test" else str(Path(test_root).absolute()),
    )  # fmt: skip


def write_word_stream(
    clips: SplitClips,
    root: str | Path,
    out_dir: str | Path,
    minutes: float = DEFAULT_MINUTES,
    seed: int = 0,
    gap_ms: int = DEFAULT_GAP_MS,
    jitter_ms: int | None = None,
    unknown_fraction: float = DEFAULT_UNKNOWN_FRACTION,
    volume: float = DEFAULT_VOLUME,
    fixed_volume: bool = False,
    name: str | None = None,
    progress: bool = False,
    check: bool = False,
    **info: Any,
) -> StreamFiles:
    """``make_stream`` from clips already found, of any data set: Speech Commands
    (``find_clips``) or a folder of one's own recordings
    (``kws.data.FolderDataModule.stream_clips``), whose clips may be longer than a second
    (each word then takes a slot of ``clips.clip_ms + gap_ms``).

    Args:
        clips: the split's clips, their format and reader.
        root: the data set's folder, for the stream's JSON and messages.
        out_dir, minutes, seed, gap_ms, jitter_ms, unknown_fraction, volume, fixed_volume,
            name, progress: as ``make_stream``.
        check: inspect every placed clip as a Speech Commands clip before writing. Default
            False (for clips a cache build has checked).
        **info: more settings for the stream's JSON.

    Returns:
        The files written, the length and the counts of keyword and ``_unknown_`` rows.
    """
    samples = stream_samples(minutes, volume)
    jitter_ms = check_word_settings(gap_ms, jitter_ms, seed, unknown_fraction)
    check_name(name)
    seconds = samples / SAMPLE_RATE
    placements = plan_words(clips, seconds, seed, gap_ms, jitter_ms, unknown_fraction)
    if not placements:
        raise ValueError(
            f"minutes={minutes:g} is too short for a word: one needs {clips.clip_ms + gap_ms} ms"
        )
    if check:
        check_clips((p.clip for p in placements), clips.split)
    return write_stream(
        "words", root, clips, out_dir, name or f"{clips.split}_stream", samples, placements,
        seed=seed, gap_ms=gap_ms, volume=volume, fixed_volume=fixed_volume,
        keywords=list(clips.keywords), progress=progress, split=clips.split, jitter_ms=jitter_ms,
        unknown_fraction=unknown_fraction, clip_ms=clips.clip_ms, **info,
    )  # fmt: skip


@dataclass(frozen=True)
class RenderedStream:
    """A stream mixed in memory (``render_stream``).

    Attributes:
        audio: ``(samples,)`` int16 at 16 kHz, as a stream's WAV file holds it.
        placements: the words placed, in time order.
    """

    audio: np.ndarray
    placements: list[Placement]

    @property
    def labels(self) -> list[tuple[str, float]]:
        """``(label, start_ms)`` of every word, as the stream's labels file lists them."""
        return [(p.label, float(p.start_ms)) for p in self.placements]


def render_stream(
    clips: SplitClips,
    minutes: float,
    seed: int = 0,
    gap_ms: int = DEFAULT_GAP_MS,
    jitter_ms: int | None = None,
    unknown_fraction: float = DEFAULT_UNKNOWN_FRACTION,
    word_fraction: float = 1.0,
    volume: float = DEFAULT_VOLUME,
    fixed_volume: bool = False,
    root: str | Path = "",
) -> RenderedStream:
    """A stream in memory, laid out and mixed as ``write_word_stream`` writes one (``plan_words``;
    background from ``clips.noise``): for streams a program uses at once, such as training's
    keyword-free stream and validation's streams. With ``unknown_fraction=1`` it holds no
    keyword; ``word_fraction`` leaves slots empty.

    Args:
        clips: the split's clips, their format, reader and background recordings.
        minutes: the stream's length.
        seed, gap_ms, jitter_ms, unknown_fraction, word_fraction: as ``plan_words``.
        volume, fixed_volume: the background, as ``make_stream``'s; volume 0: none.
        root: the data set's folder, for messages.

    Raises:
        FileNotFoundError: ``volume`` is above 0 and ``clips`` has no background recording.
        ValueError: a setting is out of range, or words are wanted that the clips lack.
    """
    samples = stream_samples(minutes, volume)
    seconds = samples / SAMPLE_RATE
    placements = plan_words(
        clips, seconds, seed, gap_ms, jitter_ms, unknown_fraction, word_fraction
    )
    background = load_background(Path(root), clips, samples, seed, volume, fixed_volume)
    audio = np.concatenate(list(mix(samples, placements, background, clips)))
    return RenderedStream(audio, placements)
