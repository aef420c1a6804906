"""The keyword-free training stream: a long stretch of a split's non-keyword speech over its
background noise (``kws.data.stream_audio.render_stream``), and where it holds speech, from which
stream-shaped batches cut windows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from kws.data.augment import crops
from kws.data.layout import SAMPLE_RATE
from kws.data.stream_audio import SplitClips, render_stream
from kws.data.stream_examples.bounds import BOUNDS_HOP_MS, word_bounds

if TYPE_CHECKING:
    from kws.data.stream_examples.examples import StreamExamples

#: The speech a keyword-free window must hold to be ``_unknown_`` rather than ``_silence_``.
MIN_SPEECH_MS = 50


@dataclass(frozen=True)
class KeywordFreeStream:
    """A long stretch of audio without a keyword, and where it holds speech.

    Args:
        audio: ``(samples,)`` int16, at least one window long.
        speech: ``(units + 1,)`` int64: ``speech[k]`` is how many of the stream's first ``k``
            units of ``unit`` samples hold speech (a running count from 0).
        unit: samples per unit of ``speech`` (10 ms).
    """

    audio: torch.Tensor
    speech: torch.Tensor
    unit: int

    def to(self, device: torch.device) -> KeywordFreeStream:
        """The same stream on ``device``."""
        return KeywordFreeStream(self.audio.to(device), self.speech.to(device), self.unit)

    def windows(self, starts: torch.Tensor, samples: int) -> torch.Tensor:
        """The windows starting at ``starts``.

        Args:
            starts: ``(n,)`` int64 first samples, each at most ``len(audio) - samples``.
            samples: window length.

        Returns:
            ``(n, samples)`` float32 in [-1, 1).
        """
        rows = torch.zeros_like(starts)
        return crops(self.audio[None], rows, starts, samples).float() / 32768.0

    def speech_ms(self, starts: torch.Tensor, samples: int, sample_rate: int) -> torch.Tensor:
        """How much speech each window holds, in ms (whole units inside it).

        Args:
            starts: ``(n,)`` int64 first samples.
            samples: window length.
            sample_rate: the stream's rate in Hz.

        Returns:
            ``(n,)`` float32 milliseconds.
        """
        first = torch.div(starts + self.unit - 1, self.unit, rounding_mode="floor")
        last = torch.div(starts + samples, self.unit, rounding_mode="floor")
        units = (self.speech[last] - self.speech[first]).clamp_min(0)
        return units.float() * (1000.0 * self.unit / sample_rate)


def keyword_free_stream(
    clips: SplitClips, settings: StreamExamples, seed: int, batch: int = 256
) -> KeywordFreeStream:
    """The keyword-free training stream: a split's non-keyword clips, one per slot of a clip
    plus ``settings.stream_gap_ms`` on average, over its background noise at U(0,
    ``settings.stream_volume``) per second (``kws.data.stream_audio.render_stream``), and where
    each clip's word is (``word_bounds``).

    Args:
        clips: the training split's clips (``stream_clips("train")``); only ``unknown`` and
            ``noise`` are used.
        settings: the stream's length, gap and volume.
        seed: its random seed.
        batch: clips measured together by ``word_bounds``. Default 256.

    Raises:
        ValueError: the split has no non-keyword clip, naming it.
    """
    if not clips.unknown:
        raise ValueError(
            f"data.stream_examples: the {clips.split} split has no non-keyword clip to make the "
            "keyword-free training stream of (add other words, or data.negatives for a folder)"
        )
    rendered = render_stream(
        clips, settings.stream_minutes, seed, gap_ms=settings.stream_gap_ms,
        volume=settings.stream_volume if clips.noise else 0.0, unknown_fraction=1.0,
    )  # fmt: skip
    if len(rendered.audio) < clips.clip_format.clip_samples:
        raise ValueError(
            f"data.stream_examples.stream_minutes={settings.stream_minutes:g} makes a keyword-free "
            f"stream shorter than one clip ({clips.clip_format.clip_samples} samples)"
        )
    unit = SAMPLE_RATE * BOUNDS_HOP_MS // 1000
    units = len(rendered.audio) // unit
    speech = np.zeros(units + 1, dtype=np.int64)  # +1 where a word starts, -1 where it ends
    starts = [p.start_ms * SAMPLE_RATE // 1000 for p in rendered.placements]
    for first in range(0, len(starts), batch):
        words = [clips.read(p.clip) for p in rendered.placements[first : first + batch]]
        width = max(len(w) for w in words)
        stack = torch.zeros(len(words), width)
        for row, word in enumerate(words):
            stack[row, : len(word)] = torch.from_numpy(np.asarray(word, dtype=np.float32))
        begin, end = word_bounds(stack)
        for offset, a, b in zip(
            starts[first : first + batch], begin.tolist(), end.tolist(), strict=True
        ):
            lo, hi = min((offset + a) // unit, units), min(-(-(offset + b) // unit), units)
            speech[lo] += 1
            speech[hi] -= 1
    inside = np.cumsum(speech[:-1]) > 0  # (units,) whether each unit holds speech
    counts = np.concatenate([[0], np.cumsum(inside)])
    return KeywordFreeStream(
        torch.from_numpy(rendered.audio), torch.from_numpy(counts.astype(np.int64)), unit
    )
