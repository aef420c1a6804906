"""A stream mixed a block at a time: its background, then its words, as int16 blocks, so that
memory does not grow with the stream's length."""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from kws.data.layout import SAMPLE_RATE
from kws.data.stream_audio.background import Background
from kws.data.stream_audio.clips import SplitClips
from kws.data.stream_audio.plan import Placement
from kws_runtime.audio import to_int16

_WORD_FADE = SAMPLE_RATE // 50  # raised-cosine ramps at a clip's ends (20 ms): no clicks
_BLOCK = 10 * SAMPLE_RATE  # samples mixed and written at a time
_SAMPLES_PER_MS = SAMPLE_RATE // 1000


def _read_word(path: Path, read: Callable[[Path], np.ndarray]) -> np.ndarray:
    """A clip as float32 (``read``), its ends faded in and out."""
    clip = read(path)
    fade = min(_WORD_FADE, len(clip) // 2)
    if fade:
        ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(fade) + 0.5) / fade)
        clip[:fade] *= ramp
        clip[len(clip) - fade :] *= ramp[::-1]
    return clip


def mix(
    samples: int,
    placements: Sequence[Placement],
    background: Background,
    clips: SplitClips,
    progress: bool = False,
) -> Iterator[np.ndarray]:
    """The stream mixed a block at a time: background, then the words (read by ``clips.read``),
    clipped to [-1, 1] and stored as int16 blocks of ``_BLOCK`` samples (the last shorter).

    Args:
        samples: the stream's length.
        placements: the words, in time order (``plan_words``).
        background: the background (``load_background``).
        clips: reads each word's clip (``read``) of ``clip_format.clip_samples`` at most.
        progress: show a progress bar, on a terminal only. Default False.
    """
    from tqdm.auto import tqdm

    starts = [p.start_ms * _SAMPLES_PER_MS for p in placements]
    words: dict[int, np.ndarray] = {}  # placement index -> clip, for the words of this block
    blocks = range(0, samples, _BLOCK)
    for start in tqdm(blocks, desc="mixing", unit="block", disable=None if progress else True):
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
