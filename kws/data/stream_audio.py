"""Long test audio: one split's words at random times over background noise, and noise-only
streams, to judge a keyword spotter on continuous audio.

``make_stream`` follows TensorFlow's ``generate_streaming_test_wav.py``, with its defaults (600 s;
one word per slot of 1 s plus an average 2,000 ms gap, placed at a random offset; 30% of the words
non-keywords; background noise at volume 0.1), so that streaming results compare.
``make_noise_stream`` makes long stretches of ``_background_noise_``, optionally with non-keyword
speech, for counting false accepts per hour.

A stream is three files in one folder: ``<name>.wav`` (16 kHz mono 16-bit PCM),
``<name>_labels.csv`` (header ``label,start_ms``, then one row per word placed, in time order:
the keyword, or ``_unknown_`` for a non-keyword, and the start of its 1 s clip in whole
milliseconds) and ``<name>.json`` (the settings and counts). Each is written under a temporary
name and renamed when complete; the audio is mixed and written a block at a time, so memory does
not grow with the stream's length. The same settings and seed give the same bytes.

Usage: ``python -m kws.data.stream_audio OUT_DIR [--root ROOT] [--split test] [--minutes 10]
[--seed S] [--noise] ...`` (``--help`` lists every option).
"""

from __future__ import annotations

import argparse
import bisect
import csv
import math
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import soundfile as sf

from kws.data.audio import (
    SPEECH_COMMANDS_CLIPS,
    BadAudioError,
    ClipFormat,
    inspect_clips,
    read_noise,
    read_waveform,
    to_int16,
)
from kws.data.cache import scan_tree
from kws.data.index import IndexBuilder
from kws.data.layout import (
    BACKGROUND_NOISE,
    CLIP_SAMPLES,
    DATA_SET_CONTENTS,
    DEFAULT_ROOT,
    KEYWORDS,
    SAMPLE_RATE,
    TESTING_LIST,
    UNKNOWN,
    VALIDATION_LIST,
)
from kws.data.protocol import SPLITS, split_word_clips
from kws.data.synthetic import DEFAULT_OUT_DIR as SYNTHETIC_ROOT
from kws.io import atomic_write, write_json

# TensorFlow's generate_streaming_test_wav.py defaults.
DEFAULT_MINUTES = 10.0  # 600 s
DEFAULT_GAP_MS = 2000  # average silence between two words
DEFAULT_UNKNOWN_FRACTION = 0.3  # share of the words that are non-keywords
DEFAULT_VOLUME = 0.1  # the loudest background: each second's noise gain is U(0, volume)
# Noise-only streams: the gain range of the silence clips training sees (U(0, 1)).
DEFAULT_NOISE_MINUTES = 60.0
DEFAULT_NOISE_VOLUME = 1.0

CLIP_MS = 1000 * CLIP_SAMPLES // SAMPLE_RATE  # a Speech Commands word occupies one clip of 1 s
LABELS_HEADER = ("label", "start_ms")
#: The longest stream a WAV file can hold: its sizes are 32-bit (4 GiB of 16-bit samples).
MAX_SAMPLES = (2**32 - 1 - 44) // 2

_SEGMENT = SAMPLE_RATE  # background: a new noise file, offset and gain every second
_CROSSFADE = SAMPLE_RATE // 10  # equal-power crossfade between background segments (100 ms)
_WORD_FADE = SAMPLE_RATE // 50  # raised-cosine ramps at a clip's ends (20 ms): no clicks
_BLOCK = 10 * SAMPLE_RATE  # samples mixed and written at a time
_SAMPLES_PER_MS = SAMPLE_RATE // 1000


class StreamWriteError(OSError):
    """A stream cannot be written: too little free space, or a write failed."""


@dataclass(frozen=True)
class StreamFiles:
    """What ``make_stream`` or ``make_noise_stream`` wrote.

    Attributes:
        wav: the audio, 16 kHz mono 16-bit PCM.
        labels: the labels CSV: header ``label,start_ms``, one row per word placed.
        info: the settings and counts, JSON.
        seconds: the audio's length.
        keyword_count: the keyword rows of ``labels``.
        unknown_count: the ``_unknown_`` rows of ``labels`` (non-keywords, which must not fire).
    """

    wav: Path
    labels: Path
    info: Path
    seconds: float
    keyword_count: int
    unknown_count: int


class Placement(NamedTuple):
    """One word placed in a stream.

    Attributes:
        start_ms: where its clip starts, in whole milliseconds from the start of the stream.
        label: the keyword, or ``_unknown_``.
        clip: the clip's WAV file.
    """

    start_ms: int
    label: str
    clip: Path


def read_word(path: Path) -> np.ndarray:
    """A Speech Commands clip as float32: a 16 kHz mono WAV of at most one second, unpadded.

    Args:
        path: the clip's file.
    """
    return read_waveform(path, max_frames=CLIP_SAMPLES)


@dataclass(frozen=True)
class SplitClips:
    """The clips a stream's words are drawn from: every clip of one split's word folders.

    Attributes:
        split: ``train``, ``val`` or ``test``.
        keywords: ``{keyword: sorted clip files}``, in keyword order.
        unknown: the split's non-keyword clips, sorted.
        noise: the background-noise recordings (Speech Commands':
            ``<root>/_background_noise_/*.wav``), sorted; may be empty.
        clip_format: the clips' length (``clip_samples``, one slot of the stream's layout) and
            how a noise recording becomes 16 kHz mono. Default: Speech Commands' one second.
        read: a clip's samples, float32 at 16 kHz mono, at most ``clip_format.clip_samples``.
            Default ``read_word``.
    """

    split: str
    keywords: dict[str, list[Path]]
    unknown: list[Path]
    noise: list[Path] = field(default_factory=list)
    clip_format: ClipFormat = SPEECH_COMMANDS_CLIPS
    read: Callable[[Path], np.ndarray] = read_word

    @property
    def clip_ms(self) -> int:
        """A clip's length in whole milliseconds."""
        return 1000 * self.clip_format.clip_samples // SAMPLE_RATE


# --- which clips ---------------------------------------------------------------------------------


def _check_root(root: Path) -> None:
    """Raise ``FileNotFoundError`` unless ``root`` is a folder."""
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder; expected {DATA_SET_CONTENTS}")


def find_clips(
    root: str | Path,
    split: str = "test",
    keywords: Sequence[str] = KEYWORDS,
    test_root: str | Path | None = None,
) -> SplitClips:
    """The clips of one split, chosen as the project's data split chooses them: the clips named
    in ``validation_list.txt`` are ``val``, those in ``testing_list.txt`` ``test``, every other
    clip ``train`` (the lists follow TensorFlow's speaker hash, so a ``val`` or ``test`` speaker
    never speaks in ``train``). With ``test_root``, ``test`` is the official 12-class archive:
    its keyword folders and its ``_unknown_`` folder.

    Unlike the classification index, every non-keyword clip of the split is a candidate, not
    the protocol's subsample of them.

    Args:
        root: the extracted data set (word folders and the two lists).
        split: ``train``, ``val`` or ``test``.
        keywords: the words to spot.
        test_root: the official test archive, for ``split="test"``; None: ``testing_list.txt``.

    Raises:
        FileNotFoundError: ``root`` or a list file is missing, or a keyword has no clip in the
            split.
        DataTreeError: a folder cannot be listed, or a link would read a clip twice
            (``kws.data.index.check_links``).
        ValueError: ``split`` or ``keywords`` are not valid.
    """
    _check_split_and_keywords(split, keywords)
    root = Path(root)
    _check_root(root)
    official = split == "test" and test_root is not None
    if official:
        _check_root(Path(test_root))
    builder = IndexBuilder(root, Path(test_root) if official else None, tuple(keywords))
    found = builder.find(builder.scan())
    base = builder.split_root(split)
    if official:
        by_word = found.test_clips
        unknown = by_word[UNKNOWN]
    else:
        usable = [path for clips in found.word_clips.values() for path in clips]
        lists = found.lists
        by_word = split_word_clips(usable, lists[VALIDATION_LIST], lists[TESTING_LIST])[split]
        unknown = sorted(p for word, ps in by_word.items() if word not in keywords for p in ps)
    missing = [word for word in keywords if not by_word.get(word)]
    if missing:
        raise FileNotFoundError(f"{base}: no clips of the keywords {missing} in the {split} split")
    return SplitClips(
        split,
        {word: [base / p for p in by_word[word]] for word in keywords},
        [base / p for p in unknown],
        list(found.noise_files),
    )


def _noise_files(root: Path) -> list[Path]:
    """The background-noise recordings, ``<root>/_background_noise_/*.wav``, sorted, listing
    that folder alone; [] when it is missing."""
    folder = root / BACKGROUND_NOISE
    if not folder.is_dir():
        return []
    files = scan_tree(folder)  # its files, and those of its subfolders as "sub/name"
    return [folder / name for name in sorted(files) if "/" not in name and name.endswith(".wav")]


def _check_clips(paths: Iterable[Path], split: str) -> None:
    """Raise ``BadAudioError`` naming the first bad clip (and how many more there are)."""
    problems = inspect_clips(sorted(set(paths)), description=f"checking the {split} clips")
    if problems:
        first = min(problems)
        more = len(problems) - 1
        suffix = f" (and {more} more bad clip(s) among the {split} clips placed)" if more else ""
        raise BadAudioError(Path(first), problems[first] + suffix)


# --- where the words go --------------------------------------------------------------------------


class _Deck:
    """Clips dealt in a shuffled order, reshuffled once all are dealt: every clip is used once
    before any is used twice."""

    def __init__(self, items: Sequence[Path], rng: np.random.Generator) -> None:
        self._items = list(items)
        self._rng = rng
        self._order: list[int] = []

    def deal(self) -> Path:
        """The next clip."""
        if not self._order:
            self._order = list(self._rng.permutation(len(self._items))[::-1])
        return self._items[self._order.pop()]


def plan_words(
    clips: SplitClips,
    seconds: float,
    seed: int = 0,
    gap_ms: int = DEFAULT_GAP_MS,
    jitter_ms: int | None = None,
    unknown_fraction: float = DEFAULT_UNKNOWN_FRACTION,
    word_fraction: float = 1.0,
) -> list[Placement]:
    """Where each word of a stream goes, and which clip it is, without reading any audio.

    The stream is cut into slots of ``clips.clip_ms + gap_ms``; a word's clip starts in slot
    ``i`` at ``i * slot + U{0..jitter_ms}`` ms, so clips never overlap and the average gap
    between two words is ``gap_ms`` (TensorFlow's layout). Each word is ``_unknown_`` with
    probability ``unknown_fraction``, else a keyword drawn uniformly; its clip is dealt from that
    word's shuffled clips (from all the split's non-keyword clips for ``_unknown_``). Timing, word
    choice and clips have their own random streams from ``seed``.

    Args:
        clips: the split's clips (``find_clips``).
        seconds: the stream's length; only slots that end within it hold a word.
        seed: the random seed, at least 0.
        gap_ms: the average gap between two words, ms.
        jitter_ms: the spread of a word's start within its slot, ms, at most ``gap_ms``; None:
            ``gap_ms``.
        unknown_fraction: the share of the words that are non-keywords, in [0, 1].
        word_fraction: the share of the slots that hold a word, in [0, 1].

    Returns:
        The placements, in time order.

    Raises:
        ValueError: a setting is out of range, or words are wanted that the clips lack.
    """
    jitter_ms = _check_word_settings(gap_ms, jitter_ms, seed, unknown_fraction)
    _check_fraction("word_fraction", word_fraction)
    return _plan_words(clips, seconds, seed, gap_ms, jitter_ms, unknown_fraction, word_fraction)


def _plan_words(
    clips: SplitClips,
    seconds: float,
    seed: int,
    gap_ms: int,
    jitter_ms: int,
    unknown_fraction: float,
    word_fraction: float,
) -> list[Placement]:
    """``plan_words`` with its settings already checked."""
    if unknown_fraction > 0 and word_fraction > 0 and not clips.unknown:
        raise ValueError(f"the {clips.split} split has no non-keyword clip to place as _unknown_")
    slot_ms = clips.clip_ms + gap_ms
    count = int(seconds * 1000) // slot_ms
    timing = np.random.default_rng([seed, 1])
    starts = np.arange(count) * slot_ms + timing.integers(0, jitter_ms, count, endpoint=True)
    choice = np.random.default_rng([seed, 2])
    filled = choice.random(count) < word_fraction
    unknown = choice.random(count) < unknown_fraction
    which = choice.integers(0, len(clips.keywords), count)
    deal = np.random.default_rng([seed, 3])
    words = list(clips.keywords)
    decks = {word: _Deck(clips.keywords[word], deal) for word in words}
    decks[UNKNOWN] = _Deck(clips.unknown, deal)
    placements = []
    for start, fill, is_unknown, index in zip(starts, filled, unknown, which, strict=True):
        if fill:
            label = UNKNOWN if is_unknown else words[index]
            placements.append(Placement(int(start), label, decks[label].deal()))
    return placements


# --- the background ------------------------------------------------------------------------------


def _envelope() -> np.ndarray:
    """A background segment's gain over its ``_SEGMENT + _CROSSFADE`` samples: equal-power
    (sine, cosine) ramps over the first and last ``_CROSSFADE``, so that the crossfade of two
    unrelated noises keeps the level."""
    ramp = (np.arange(_CROSSFADE) + 0.5) / _CROSSFADE * (np.pi / 2)
    envelope = np.ones(_SEGMENT + _CROSSFADE, dtype=np.float32)
    envelope[:_CROSSFADE] = np.sin(ramp)
    envelope[_SEGMENT:] = np.cos(ramp)
    return envelope


class _Background:
    """Background noise, one segment per second: a random recording from a random offset
    (looped past its end) at gain U(0, volume), or ``volume`` when fixed; neighbours crossfade.

    Segment ``k`` sounds over samples ``[k * _SEGMENT - _CROSSFADE, (k + 1) * _SEGMENT)``.
    """

    def __init__(
        self,
        noise: Sequence[np.ndarray],
        samples: int,
        seed: int,
        volume: float,
        fixed_volume: bool,
    ) -> None:
        self._noise = noise
        # enough segments that the last one fades out after the end, as the first fades in before
        count = -(-(samples + _CROSSFADE) // _SEGMENT) if noise and volume > 0 else 0
        rng = np.random.default_rng([seed, 4])
        self._files = rng.integers(0, max(len(noise), 1), count)
        lengths = np.array([len(noise[f]) for f in self._files], dtype=np.int64)
        self._offsets = (rng.random(count) * lengths).astype(np.int64)
        self._gains = np.full(count, volume) if fixed_volume else rng.uniform(0, volume, count)
        self._envelope = _envelope()

    def add(self, block: np.ndarray, start: int) -> None:
        """Add the background of samples ``[start, start + len(block))`` to ``block``."""
        end = start + len(block)
        last = min(len(self._gains), -(-(end + _CROSSFADE) // _SEGMENT))
        for k in range(start // _SEGMENT, last):
            begin = k * _SEGMENT - _CROSSFADE
            lo, hi = max(begin, start), min(begin + _SEGMENT + _CROSSFADE, end)
            if lo >= hi:
                continue
            where = np.arange(lo - begin, hi - begin)
            source = np.take(self._noise[self._files[k]], self._offsets[k] + where, mode="wrap")
            block[lo - start : hi - start] += self._gains[k] * self._envelope[where] * source


# --- writing -------------------------------------------------------------------------------------


def _read_word(path: Path, read: Callable[[Path], np.ndarray]) -> np.ndarray:
    """A clip as float32 (``read``), its ends faded in and out."""
    clip = read(path)
    fade = min(_WORD_FADE, len(clip) // 2)
    if fade:
        ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(fade) + 0.5) / fade)
        clip[:fade] *= ramp
        clip[len(clip) - fade :] *= ramp[::-1]
    return clip


def _mix(
    samples: int,
    placements: Sequence[Placement],
    background: _Background,
    clips: SplitClips,
    progress: bool = False,
) -> Iterator[np.ndarray]:
    """The stream mixed a block at a time: background, then the words (read by ``clips.read``),
    clipped to [-1, 1] and stored as int16 blocks of ``_BLOCK`` samples (the last shorter)."""
    from tqdm.auto import tqdm

    starts = [p.start_ms * _SAMPLES_PER_MS for p in placements]
    words: dict[int, np.ndarray] = {}  # placement index -> clip, for the words of this block
    for start in tqdm(range(0, samples, _BLOCK), desc="mixing", unit="block", disable=not progress):
        block = np.zeros(min(_BLOCK, samples - start), dtype=np.float32)
        end = start + len(block)
        background.add(block, start)
        # the words that may sound here: those starting in (start - one clip, end); one that
        # started before this block was in the previous block's window, so each is read once
        first = bisect.bisect_left(starts, start - clips.clip_format.clip_samples + 1)
        window = range(first, bisect.bisect_left(starts, end))
        words = {
            i: words[i] if i in words else _read_word(placements[i].clip, clips.read)
            for i in window
        }
        for i, clip in words.items():
            lo, hi = max(starts[i], start), min(starts[i] + len(clip), end)
            if lo < hi:
                block[lo - start : hi - start] += clip[lo - starts[i] : hi - starts[i]]
        yield to_int16(block)


def _check_free_space(out_dir: Path, samples: int, rows: int) -> None:
    """Raise ``StreamWriteError`` unless the disk holds the stream's files."""
    needed = 44 + 2 * samples + 32 * (rows + 1) + 4096
    free = shutil.disk_usage(out_dir).free
    if free < needed:
        raise StreamWriteError(
            f"{out_dir}: the stream needs {needed:,} bytes and the disk has {free:,} free"
        )


def _background(
    root: Path, clips: SplitClips, samples: int, seed: int, volume: float, fixed_volume: bool
) -> _Background:
    """The background of a stream from ``clips.noise``; reads the noise files only when
    ``volume`` is above 0.

    Raises:
        FileNotFoundError: ``volume`` is above 0 and there is no noise file.
        BadFileError: a noise file cannot be used.
    """
    noise = clips.noise
    if volume > 0 and not noise:
        raise FileNotFoundError(
            f"{root}: no background-noise recordings ({BACKGROUND_NOISE}/ of Speech Commands, "
            "data.noise_dir of a folder) for a background at volume "
            f"{volume:g}; volume 0 makes none"
        )
    arrays = [read_noise(path, clips.clip_format) for path in noise] if volume > 0 else []
    return _Background(arrays, samples, seed, volume, fixed_volume)


def _write_stream(
    kind: str,
    root: str | Path,
    clips: SplitClips,
    out_dir: str | Path,
    name: str,
    samples: int,
    placements: Sequence[Placement],
    *,
    seed: int,
    gap_ms: int,
    volume: float,
    fixed_volume: bool,
    keywords: Sequence[str],
    progress: bool,
    **settings: Any,
) -> StreamFiles:
    """Read the background, make ``out_dir``, then write ``<name>.wav``, ``<name>_labels.csv``
    and ``<name>.json`` (``kind``, the settings shared by both kinds of stream and the caller's
    own ``settings``, then the counts) under temporary names and rename them when complete. The
    old files of that name are removed just before the renames, so a crash between them leaves a
    file missing, never a WAV beside another stream's labels."""
    background = _background(Path(root), clips, samples, seed, volume, fixed_volume)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    info = {
        "kind": kind,
        "root": str(Path(root).absolute()),
        "keywords": list(keywords),
        "seed": seed,
        "gap_ms": gap_ms,
        "volume": volume,
        "fixed_volume": fixed_volume,
        "sample_rate": SAMPLE_RATE,
        **settings,
    }
    wav = out_dir / f"{name}.wav"
    labels = out_dir / f"{name}_labels.csv"
    info_path = out_dir / f"{name}.json"
    _check_free_space(out_dir, samples, len(placements))
    keyword_count = sum(p.label != UNKNOWN for p in placements)
    with atomic_write(wav, "wb") as wav_file, atomic_write(labels, "w", newline="") as csv_file:
        try:
            with sf.SoundFile(
                wav_file, "w", SAMPLE_RATE, 1, subtype="PCM_16", format="WAV"
            ) as handle:
                for block in _mix(samples, placements, background, clips, progress):
                    handle.write(block)
        except (OSError, sf.LibsndfileError) as error:
            raise StreamWriteError(f"{wav}: cannot be written ({error})") from error
        writer = csv.writer(csv_file, lineterminator="\n")
        writer.writerow(LABELS_HEADER)
        writer.writerows((p.label, p.start_ms) for p in placements)
        for old in (info_path, labels, wav):
            old.unlink(missing_ok=True)
    counts = {"keyword_count": keyword_count, "unknown_count": len(placements) - keyword_count}
    info = {**info, "wav": wav.name, "labels": labels.name, "seconds": samples / SAMPLE_RATE}
    write_json(info_path, info | counts)
    return StreamFiles(wav, labels, info_path, samples / SAMPLE_RATE, **counts)


# --- checks --------------------------------------------------------------------------------------


def _check_split_and_keywords(split: str, keywords: Sequence[str]) -> None:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {list(SPLITS)}, not {split!r}")
    if isinstance(keywords, str) or not keywords:
        raise ValueError(f"keywords must be a non-empty list of words, not {keywords!r}")
    if len(set(keywords)) != len(keywords) or any(not w or w.startswith("_") for w in keywords):
        raise ValueError(f"keywords must be distinct word folder names, not {list(keywords)}")


def _check_timing(gap_ms: int, jitter_ms: int, seed: int) -> None:
    if gap_ms < 0:
        raise ValueError(f"gap_ms must be at least 0, not {gap_ms}")
    if not 0 <= jitter_ms <= gap_ms:
        raise ValueError(f"jitter_ms must be in [0, gap_ms={gap_ms}], not {jitter_ms}")
    if seed < 0:
        raise ValueError(f"seed must be at least 0, not {seed}")


def _check_word_settings(
    gap_ms: int, jitter_ms: int | None, seed: int, unknown_fraction: float
) -> int:
    """Check how words are laid out; return ``jitter_ms`` (``gap_ms`` when None)."""
    jitter_ms = gap_ms if jitter_ms is None else jitter_ms
    _check_timing(gap_ms, jitter_ms, seed)
    _check_fraction("unknown_fraction", unknown_fraction)
    return jitter_ms


def _check_name(name: str | None) -> None:
    """Raise ``ValueError`` unless ``name`` (a stream's files' name) is None or a file name, so
    that the files stay in their folder: not empty, no ``/`` or ``\\``, no ``.`` first (``..``,
    hidden files).

    Args:
        name: the name, or None for the default.
    """
    if name is not None and (not name or name[0] == "." or any(c in name for c in "/\\\0")):
        raise ValueError(
            f"name {name!r} must be a file name (no '/' or '\\', not starting with '.'): the "
            "stream's files go into its folder"
        )


def _file_name(text: str) -> str:
    """``--name``'s type: ``text`` when ``_check_name`` takes it."""
    try:
        _check_name(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def _check_fraction(key: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{key} must be in [0, 1], not {value}")


def _samples(minutes: float, volume: float) -> int:
    """The stream's length in samples; checks ``minutes`` and ``volume``."""
    if not (math.isfinite(volume) and volume >= 0):
        raise ValueError(f"volume must be a finite number at least 0, not {volume}")
    if not (math.isfinite(minutes) and minutes > 0):
        raise ValueError(f"minutes must be a positive number, not {minutes}")
    samples = round(minutes * 60 * SAMPLE_RATE)
    if samples > MAX_SAMPLES:
        limit = MAX_SAMPLES / SAMPLE_RATE / 60
        raise ValueError(
            f"minutes={minutes:g} is too long for one WAV file (4 GiB): at most {limit:.0f}"
        )
    return samples


# --- the two kinds of stream ---------------------------------------------------------------------


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
    _samples(minutes, volume)  # settings first: find_clips reads the whole tree
    _check_word_settings(gap_ms, jitter_ms, seed, unknown_fraction)
    _check_name(name)
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
    samples = _samples(minutes, volume)
    jitter_ms = _check_word_settings(gap_ms, jitter_ms, seed, unknown_fraction)
    _check_name(name)
    seconds = samples / SAMPLE_RATE
    placements = _plan_words(clips, seconds, seed, gap_ms, jitter_ms, unknown_fraction, 1.0)
    if not placements:
        raise ValueError(
            f"minutes={minutes:g} is too short for a word: one needs {clips.clip_ms + gap_ms} ms"
        )
    if check:
        _check_clips((p.clip for p in placements), clips.split)
    return _write_stream(
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
    samples = _samples(minutes, volume)
    jitter_ms = _check_word_settings(gap_ms, jitter_ms, seed, unknown_fraction)
    _check_fraction("word_fraction", word_fraction)
    seconds = samples / SAMPLE_RATE
    placements = _plan_words(
        clips, seconds, seed, gap_ms, jitter_ms, unknown_fraction, word_fraction
    )
    background = _background(Path(root), clips, samples, seed, volume, fixed_volume)
    audio = np.concatenate(list(_mix(samples, placements, background, clips)))
    return RenderedStream(audio, placements)


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
    _samples(minutes, volume)  # settings first: find_clips reads the whole tree
    _check_timing(gap_ms, gap_ms, seed)
    _check_fraction("speech_fraction", speech_fraction)
    _check_name(name)
    if speech_fraction > 0:
        clips = find_clips(root, split, keywords, test_root)
    else:  # only the noise folder is listed
        _check_split_and_keywords(split, keywords)
        _check_root(Path(root))
        clips = SplitClips(split, {}, [], _noise_files(Path(root)) if volume > 0 else [])
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
    samples = _samples(minutes, volume)
    _check_timing(gap_ms, gap_ms, seed)
    _check_fraction("speech_fraction", speech_fraction)
    _check_name(name)
    placements: list[Placement] = []
    if speech_fraction > 0:
        seconds = samples / SAMPLE_RATE
        placements = _plan_words(clips, seconds, seed, gap_ms, gap_ms, 1.0, speech_fraction)
        if check:
            _check_clips((p.clip for p in placements), clips.split)
    if volume == 0 and not placements:
        raise ValueError("volume=0 and speech_fraction=0 would make a silent stream")
    info.setdefault("keywords", list(clips.keywords))
    return _write_stream(
        "noise", root, clips, out_dir, name or "noise_stream", samples, placements,
        seed=seed, gap_ms=gap_ms, volume=volume, fixed_volume=fixed_volume, progress=progress,
        split=clips.split if speech_fraction > 0 else None, speech_fraction=speech_fraction,
        **info,
    )  # fmt: skip


# --- the command ---------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m kws.data.stream_audio",
        description="Write long 16 kHz test audio and its labels CSV (label,start_ms per word) "
        "from one split's clips over background noise, or (--noise) a stream with no keyword "
        "for counting false accepts. Defaults follow TensorFlow's generate_streaming_test_wav.",
    )
    parser.add_argument("out_dir", type=Path, help="folder for <name>.wav, _labels.csv, .json")
    parser.add_argument(
        "--root", type=Path, default=None,
        help=f"the extracted data set (default {DEFAULT_ROOT}, or where it is missing the "
        f"generated {SYNTHETIC_ROOT})",
    )  # fmt: skip
    parser.add_argument(
        "--test-root", type=Path, default=None,
        help="the official 12-class test archive: the test split's source (default: "
        "testing_list.txt)",
    )  # fmt: skip
    parser.add_argument("--split", choices=SPLITS, default="test", help="clips from (test)")
    parser.add_argument(
        "--minutes", type=float, default=None,
        help=f"length (words: {DEFAULT_MINUTES:g}, --noise: {DEFAULT_NOISE_MINUTES:g})",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="random seed (same seed, same bytes)")
    parser.add_argument(
        "--gap-ms", type=int, default=DEFAULT_GAP_MS, help="average gap between words (2000)"
    )
    parser.add_argument(
        "--jitter-ms", type=int, default=None, help="spread of a word's start (default: gap)"
    )
    parser.add_argument(
        "--unknown-fraction", type=float, default=None,
        help=f"share of non-keyword words ({DEFAULT_UNKNOWN_FRACTION:g}; not with --noise)",
    )  # fmt: skip
    parser.add_argument(
        "--volume", type=float, default=None,
        help=f"loudest background gain, drawn U(0, volume) per second (words: "
        f"{DEFAULT_VOLUME:g}, --noise: {DEFAULT_NOISE_VOLUME:g})",
    )  # fmt: skip
    parser.add_argument("--fixed-volume", action="store_true", help="background always at --volume")
    parser.add_argument(
        "--keywords", default=",".join(KEYWORDS), help="comma-separated words to spot"
    )
    parser.add_argument("--noise", action="store_true", help="a stream with no keyword")
    parser.add_argument(
        "--speech-fraction", type=float, default=None,
        help="--noise: share of word slots holding non-keyword speech (0)",
    )  # fmt: skip
    parser.add_argument(
        "--name", type=_file_name, default=None,
        help="the files' name (<split>_stream, --noise: noise_stream)",
    )  # fmt: skip
    return parser


def _default_root() -> Path:
    """The data set without ``--root``: ``DEFAULT_ROOT``, else (saying so on stderr) the
    generated ``SYNTHETIC_ROOT`` that ``experiment=quickstart`` makes.

    Raises:
        FileNotFoundError: neither is a folder.
    """
    real, generated = Path(DEFAULT_ROOT), Path(SYNTHETIC_ROOT)
    if real.is_dir():
        return real
    if not generated.is_dir():
        raise FileNotFoundError(
            f"--root: neither {real} (the extracted Speech Commands v0.02) nor {generated} "
            f"(generated data: python -m kws.data.synthetic) is in {Path.cwd()}; give --root"
        )
    print(f"--root: {real} is missing; using the generated data set {generated}", file=sys.stderr)
    return generated


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point; prints one line naming what was written, or exits with one
    ``error:`` line.

    Args:
        argv: the arguments; None: ``sys.argv[1:]``.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    if args.noise and (args.unknown_fraction is not None or args.jitter_ms is not None):
        parser.error("--unknown-fraction and --jitter-ms make no sense with --noise")
    if not args.noise and args.speech_fraction is not None:
        parser.error("--speech-fraction applies to --noise streams only")
    keywords = [word.strip() for word in args.keywords.split(",") if word.strip()]
    shared = {
        "out_dir": args.out_dir,
        "seed": args.seed,
        "gap_ms": args.gap_ms,
        "fixed_volume": args.fixed_volume,
        "keywords": keywords,
        "test_root": args.test_root,
        "split": args.split,
        "name": args.name,
        "progress": True,
    }
    began = time.perf_counter()
    try:
        shared["root"] = args.root if args.root is not None else _default_root()
        if args.noise:
            files = make_noise_stream(
                minutes=DEFAULT_NOISE_MINUTES if args.minutes is None else args.minutes,
                volume=DEFAULT_NOISE_VOLUME if args.volume is None else args.volume,
                speech_fraction=args.speech_fraction or 0.0,
                **shared,
            )
        else:
            files = make_stream(
                minutes=DEFAULT_MINUTES if args.minutes is None else args.minutes,
                volume=DEFAULT_VOLUME if args.volume is None else args.volume,
                jitter_ms=args.jitter_ms,
                unknown_fraction=(
                    DEFAULT_UNKNOWN_FRACTION
                    if args.unknown_fraction is None
                    else args.unknown_fraction
                ),
                **shared,
            )
    except (OSError, ValueError) as error:  # BadFileError is a ValueError
        sys.exit("error: " + " ".join(str(error).splitlines()))
    print(
        f"wrote {files.wav} ({files.seconds:g} s; {files.keyword_count} keywords, "
        f"{files.unknown_count} non-keywords) and {files.labels.name} in "
        f"{time.perf_counter() - began:.1f} s"
    )


if __name__ == "__main__":
    main()
