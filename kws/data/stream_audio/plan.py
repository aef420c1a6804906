"""Where each word of a stream goes and which clip it is (``plan_words``), without reading any
audio: TensorFlow's layout of one word per slot at a random offset."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from kws.data.layout import UNKNOWN
from kws.data.stream_audio.clips import SplitClips
from kws.data.stream_audio.settings import (
    DEFAULT_GAP_MS,
    DEFAULT_UNKNOWN_FRACTION,
    check_fraction,
    check_word_settings,
)


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
    jitter_ms = check_word_settings(gap_ms, jitter_ms, seed, unknown_fraction)
    check_fraction("word_fraction", word_fraction)
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
