"""Streams with no keyword in them, for counting false accepts per hour: background noise and,
optionally, non-keyword speech."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kws.data.layout import KEYWORDS, SAMPLE_RATE
from kws.data.stream_audio.clips import SplitClips, check_clips, check_root, find_clips, noise_files
from kws.data.stream_audio.files import StreamFiles, write_stream
from kws.data.stream_audio.plan import Placement, plan_words
from kws.data.stream_audio.settings import (
    DEFAULT_GAP_MS,
    DEFAULT_NOISE_MINUTES,
    DEFAULT_NOISE_VOLUME,
    check_fraction,
    check_name,
    check_split_and_keywords,
    check_timing,
    stream_samples,
)


def make_noise_stream(
    root: str | Path,
    out_dir: str | Path,
    minutes: float = DEFAULT_NOISE_MINUTES,
    seed: int = 0,
    volume: float = DEFAULT_NOISE_VOLUME,
    fixed_volume: bool = False,
    speech_fraction: float = 0.0,
    split: str = "test",
    gap_ms: int = DEFAULT_GAP_MS,
    keywords: Sequence[str] = KEYWORDS,
    test_root: str | Path | None = None,
    name: str | None = None,
    progress: bool = False,
) -> StreamFiles:
    """Write a long stream with no keyword in it, for counting false accepts per hour:
    ``_background_noise_`` at gain U(0, ``volume``) per second (by default U(0, 1), the range of
    the silence clips training sees), and, with ``speech_fraction``, non-keyword speech.

    Speech, if any, is laid out as ``make_stream`` lays out words (slots of 1 s + ``gap_ms``),
    a share ``speech_fraction`` of the slots holding a non-keyword clip of ``split``; each is an
    ``_unknown_`` row of the labels. Without speech no clip or list file is read.

    Args:
        root: the extracted data set (``_background_noise_/``; with speech also the word folders
            and the two lists).
        out_dir: where the files go; made if missing.
        minutes: the stream's length.
        seed: the random seed (at least 0): same settings and seed, same bytes.
        volume: the loudest background gain.
        fixed_volume: every second's background at ``volume``, not U(0, ``volume``).
        speech_fraction: the share of the slots that hold a non-keyword, in [0, 1].
        split: where the non-keyword speech comes from.
        gap_ms: the average gap between two non-keywords, ms.
        keywords: the words to spot: they never occur; every other word is non-keyword speech.
        test_root: the official test archive, whose ``_unknown_`` folder is then the speech
            of ``split="test"``.
        name: the files' name; None: ``noise_stream``.
        progress: show a progress bar while mixing.

    Returns:
        The files written; ``keyword_count`` is 0.

    Raises:
        FileNotFoundError: ``root`` or the noise files are missing (with speech: a list file).
        BadFileError: a noise file or clip cannot be used (named, with its problem).
        ValueError: a setting is out of range.
        StreamWriteError: too little free space, or a write failed.
    """
    stream_samples(minutes, volume)  # settings first: find_clips reads the whole tree
    check_timing(gap_ms, gap_ms, seed)
    check_fraction("speech_fraction", speech_fraction)
    check_name(name)
    if speech_fraction > 0:
        clips = find_clips(root, split, keywords, test_root)
    else:  # only the noise folder is listed
        check_split_and_keywords(split, keywords)
        check_root(Path(root))
        clips = SplitClips(split, {}, [], noise_files(Path(root)) if volume > 0 else [])
    return write_noise_stream(
        clips, root, out_dir, minutes=minutes, seed=seed, volume=volume,
        fixed_volume=fixed_volume, speech_fraction=speech_fraction, gap_ms=gap_ms, name=name,
        progress=progress, check=True, keywords=list(keywords),
        test_root=(
            None if test_root is None or speech_fraction == 0 else str(Path(test_root).absolute())
        ),
    )  # fmt: skip


def write_noise_stream(
    clips: SplitClips,
    root: str | Path,
    out_dir: str | Path,
    minutes: float = DEFAULT_NOISE_MINUTES,
    seed: int = 0,
    volume: float = DEFAULT_NOISE_VOLUME,
    fixed_volume: bool = False,
    speech_fraction: float = 0.0,
    gap_ms: int = DEFAULT_GAP_MS,
    name: str | None = None,
    progress: bool = False,
    check: bool = False,
    **info: Any,
) -> StreamFiles:
    """``make_noise_stream`` from clips already found, of any data set: Speech Commands
    (``find_clips``) or a folder of one's own recordings
    (``kws.data.FolderDataModule.stream_clips``): its background recordings, and with
    ``speech_fraction`` its non-keyword clips, each in a slot of ``clips.clip_ms + gap_ms``.

    Args:
        clips: the split's clips, their format, reader and background recordings.
        root: the data set's folder, for the stream's JSON and messages.
        out_dir, minutes, seed, volume, fixed_volume, speech_fraction, gap_ms, name, progress:
            as ``make_noise_stream``.
        check: inspect every placed clip as a Speech Commands clip before writing. Default
            False (for clips a cache build has checked).
        **info: more settings for the stream's JSON (``keywords`` among them).

    Returns:
        The files written; ``keyword_count`` is 0.
    """
    samples = stream_samples(minutes, volume)
    check_timing(gap_ms, gap_ms, seed)
    check_fraction("speech_fraction", speech_fraction)
    check_name(name)
    placements: list[Placement] = []
    if speech_fraction > 0:
        seconds = samples / SAMPLE_RATE
        placements = plan_words(clips, seconds, seed, gap_ms, gap_ms, 1.0, speech_fraction)
        if check:
            check_clips((p.clip for p in placements), clips.split)
    if volume == 0 and not placements:
        raise ValueError("volume=0 and speech_fraction=0 would make a silent stream")
    info.setdefault("keywords", list(clips.keywords))
    return write_stream(
        "noise", root, clips, out_dir, name or "noise_stream", samples, placements,
        seed=seed, gap_ms=gap_ms, volume=volume, fixed_volume=fixed_volume, progress=progress,
        split=clips.split if speech_fraction > 0 else None, speech_fraction=speech_fraction,
        **info,
    )  # fmt: skip
