"""Stream-shaped training examples: what a detector meets on a stream besides centred words.

A streaming detector scores a window every few tens of milliseconds, so it sees keywords
anywhere in its window, parts of keywords entering and leaving it, and long stretches of speech
without a keyword and of noise. Centred clips teach none of that. ``StreamExamples`` makes
each training batch stream-shaped, on the device, vectorised over the batch:

* **placed keywords**: a keyword clip moved so that its word lands anywhere in the window, the
  whole word inside (its extent found by ``word_bounds``);
* **partial keywords**, labelled ``_unknown_``: a keyword's first or last part, cut at a random
  point, placed anywhere in the window (openWakeWord trains on partial phrases);
* **keyword-free windows**: windows cut at random places of a long stream of the training
  split's non-keyword speech over background noise (``KeywordFreeStream``, made by
  ``keyword_free_stream`` with ``kws.data.stream_audio.render_stream``), labelled ``_unknown_``
  where they hold speech and ``_silence_`` where they hold none (for the training accuracy: their
  loss does not tell the two apart);
* **hard negatives**: windows of that stream that a model scored high for a keyword, once
  ``kws.training.hard_negatives.HardNegativeMining`` has found some.

The partial keywords, keyword-free windows and hard negatives are rows added to the batch's clips,
so the clips train as they would without them; their target is "no keyword" (any class but the
keywords, ``TrainingBatch.not_keyword``) and they carry the loss weight ``weight``, the clips 1.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from kws.checks import check_number
from kws.data.augment import crops
from kws.data.layout import SAMPLE_RATE, SILENCE, UNKNOWN
from kws.data.stream_audio import SplitClips, render_stream

#: Frames over which ``word_bounds`` measures energy: 20 ms long, every 10 ms (at 16 kHz).
BOUNDS_FRAME_MS = 20
BOUNDS_HOP_MS = 10
#: A frame is speech when its energy is within this many dB of the clip's loudest frame.
BOUNDS_FLOOR_DB = -20.0
#: The speech a keyword-free window must hold to be ``_unknown_`` rather than ``_silence_``.
MIN_SPEECH_MS = 50


def word_bounds(
    waveforms: torch.Tensor, sample_rate: int = 16000, floor_db: float = BOUNDS_FLOOR_DB
) -> tuple[torch.Tensor, torch.Tensor]:
    """Where the word of each clip is: from the first to the end of the last 20 ms frame whose
    energy is within ``floor_db`` of the clip's loudest frame and above the midpoint, in dB,
    between that frame and the clip's noise (its quietest 10% of frames), so that a clip
    recorded in a noisy room is not all word.

    Args:
        waveforms: ``(batch, samples)`` float clips, each holding one word (or none).
        sample_rate: their rate in Hz. Default 16000.
        floor_db: how far below the loudest frame speech reaches, in dB. Default -20.

    Returns:
        ``(start, end)``, each ``(batch,)`` int64 samples, ``0 <= start < end <= samples``; a
        silent clip is all word.
    """
    frame = sample_rate * BOUNDS_FRAME_MS // 1000
    hop = sample_rate * BOUNDS_HOP_MS // 1000
    samples = waveforms.shape[1]
    energy = F.avg_pool1d(waveforms[:, None].float() ** 2, frame, hop, ceil_mode=True)[:, 0]
    level = 10.0 * torch.log10(energy + 1e-10)  # (batch, frames) dB
    peak = level.amax(1, keepdim=True)
    noise = level.quantile(0.1, dim=1, keepdim=True)
    loud = level >= torch.maximum(peak + floor_db, (peak + noise) / 2)
    frames = torch.arange(loud.shape[1], device=waveforms.device)
    first = torch.where(loud, frames, loud.shape[1]).amin(1)
    last = torch.where(loud, frames, -1).amax(1)
    return first * hop, (last * hop + frame).clamp_max(samples)


class TrainingBatch(NamedTuple):
    """What a training step receives.

    Attributes:
        waveforms: ``(batch, samples)`` float in [-1, 1].
        labels: ``(batch,)`` int64 class indices.
        weights: ``(batch,)`` float32 loss weights; None: all 1.
        not_keyword: ``(batch,)`` bool: rows whose target is "no keyword" (any class but the
            keywords: a stream-shaped negative, silence or not); None: none.
    """

    waveforms: torch.Tensor
    labels: torch.Tensor
    weights: torch.Tensor | None = None
    not_keyword: torch.Tensor | None = None


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


@dataclass(frozen=True)
class StreamClasses:
    """The class indices stream-shaped examples are labelled with.

    Args:
        silence: ``_silence_``'s index; None: no such class (speechless windows are unknown).
        unknown: ``_unknown_``'s index.
        keywords: ``(classes,)`` bool, True for the keywords.
    """

    silence: int | None
    unknown: int
    keywords: torch.Tensor


@dataclass(frozen=True)
class StreamExamples:
    """How much of each training batch is stream-shaped (config ``data.stream_examples``).

    Args:
        place_prob: the share of keyword clips moved so that the word lands anywhere in the
            window, whole (the others keep the augmentation's shift). Default 0.5.
        partial_share: rows of part of a keyword (its first or last part, cut between
            ``partial_cut`` of the word, labelled ``_unknown_``) added per clip of the batch.
            Default 0.1.
        negative_share: rows of the keyword-free training stream added per clip. Default 0.2.
        hard_share: rows of mined hard negatives added per clip, once there are any. Default
            0.1.
        weight: the loss weight of every added row (the clips weigh 1). Default 1.0.
        partial_cut: ``(lowest, highest)``: the part kept is this share of the word, drawn
            uniformly. Default (0.2, 0.7).
        stream_minutes: the keyword-free training stream's length. Default 10.
        stream_gap_ms: the average silence between its words, ms. Default 500.
        stream_volume: its background's loudest gain, drawn U(0, volume) per second. Default 1.0
            (the range of the silence clips).
        start_epoch: the first training epoch (from 0) whose batches are stream-shaped; earlier
            ones are clips only, so the model first learns the words. Default 0.

    Raises:
        ValueError: a setting out of range, naming ``data.stream_examples.<key>``.
    """

    place_prob: float = 0.5
    partial_share: float = 0.1
    negative_share: float = 0.2
    hard_share: float = 0.1
    weight: float = 1.0
    partial_cut: tuple[float, float] = (0.2, 0.7)
    stream_minutes: float = 10.0
    stream_gap_ms: int = 500
    stream_volume: float = 1.0
    start_epoch: int = 0

    def __post_init__(self) -> None:
        key = "data.stream_examples."
        for name in ("place_prob", "partial_share", "negative_share", "hard_share"):
            check_number(key + name, getattr(self, name), 0.0, 1.0)
        total = self.partial_share + self.negative_share + self.hard_share
        if total > 1.0:
            raise ValueError(
                f"{key}partial_share + negative_share + hard_share must be at most 1, got {total:g}"
            )
        check_number(key + "weight", self.weight, 0.0, math.inf, low_open=True)
        try:
            cut = tuple(self.partial_cut)
        except TypeError:
            raise ValueError(
                f"{key}partial_cut must be [lowest, highest], got {self.partial_cut!r}"
            ) from None
        if len(cut) != 2:
            raise ValueError(f"{key}partial_cut must be [lowest, highest], got {cut!r}")
        for value in cut:
            check_number(key + "partial_cut", value, 0.0, 1.0, low_open=True, high_open=True)
        if cut[0] > cut[1]:
            raise ValueError(f"{key}partial_cut must rise, got {list(cut)}")
        object.__setattr__(self, "partial_cut", (float(cut[0]), float(cut[1])))
        check_number(key + "stream_minutes", self.stream_minutes, 0.0, 4 * 60.0, low_open=True)
        check_number(key + "stream_gap_ms", self.stream_gap_ms, 0, 60_000, integer=True)
        check_number(key + "stream_volume", self.stream_volume, 0.0, 10.0)
        check_number(key + "start_epoch", self.start_epoch, 0, math.inf, integer=True)

    @property
    def uses_stream(self) -> bool:
        """Whether batches take windows of the keyword-free stream (or hard negatives)."""
        return self.negative_share > 0 or self.hard_share > 0

    def rows(self, batch: int) -> tuple[int, int, int]:
        """How many partial-keyword, keyword-free and hard-negative rows a batch of ``batch``
        clips gets.

        Args:
            batch: the clips in the batch.
        """
        return tuple(round(share * batch) for share in self.shares)

    @property
    def shares(self) -> tuple[float, float, float]:
        """``(partial_share, negative_share, hard_share)``."""
        return self.partial_share, self.negative_share, self.hard_share

    def __call__(
        self,
        waveforms: torch.Tensor,
        labels: torch.Tensor,
        classes: StreamClasses,
        augment: Callable[..., torch.Tensor],
        shift: int = 0,
        stream: KeywordFreeStream | None = None,
        hard_starts: torch.Tensor | None = None,
        sample_rate: int = 16000,
    ) -> TrainingBatch:
        """A training batch made stream-shaped, drawing from torch's random stream.

        Args:
            waveforms: ``(batch, samples)`` float clips in [-1, 1], not yet augmented.
            labels: ``(batch,)`` int64 class indices.
            classes: which indices are silence, unknown and keywords.
            augment: the augmentation, called as ``augment(waveforms, labels, shift_range)``
                (``ClipBatches.augment``): it adds noise and shifts each row by
                U{lowest..highest} samples.
            shift: the augmentation's own largest shift, samples: rows not placed are shifted
                by U{-shift..shift}. Default 0.
            stream: the keyword-free training stream, on the batch's device; None: no
                keyword-free rows.
            hard_starts: ``(n,)`` int64 starts of hard-negative windows in ``stream``; None or
                empty: no hard rows.
            sample_rate: the clips' rate in Hz. Default 16000.

        Returns:
            A ``TrainingBatch`` of the clips and then the added rows: the waveforms, their labels
            (an added row's says whether it holds speech: ``_unknown_``, else ``_silence_``),
            every row's loss weight, and which rows are added (their target: any class but a
            keyword).
        """
        batch, samples = waveforms.shape
        device = waveforms.device
        keyword = classes.keywords.to(device)[labels]  # (batch,) bool
        partial, negative, hard = self.rows(batch)
        if stream is None:
            negative = hard = 0
        if hard_starts is None or not len(hard_starts):
            hard = 0

        start, end = word_bounds(waveforms, sample_rate)
        # Every clip keeps the augmentation's own shift unless it is placed.
        lowest = torch.full((batch,), -shift, dtype=torch.int64, device=device)
        highest = torch.full((batch,), shift, dtype=torch.int64, device=device)
        placed = keyword & (torch.rand(batch, device=device) < self.place_prob)
        lowest = torch.where(placed, -start, lowest)
        highest = torch.where(placed, samples - end, highest)
        if partial:
            # Cut from the batch's keyword clips (any clip if there is none).
            sources = torch.multinomial(keyword.float() + 1e-6, partial, replacement=True)
            a, b = start[sources], end[sources]
            low, high = self.partial_cut
            kept = low + torch.rand(partial, device=device) * (high - low)
            first_part = torch.rand(partial, device=device) < 0.5
            length = ((b - a).float() * kept).long().clamp_min(1)
            cut_a = torch.where(first_part, a, b - length)  # the part kept: [cut_a, cut_b)
            cut_b = cut_a + length
            time = torch.arange(samples, device=device)
            inside = (time >= cut_a[:, None]) & (time < cut_b[:, None])  # (partial, samples)
            waveforms = torch.cat(
                [waveforms, waveforms[sources] * inside]
            )  # (batch + partial, samples)
            labels = torch.cat([labels, labels.new_full((partial,), classes.unknown)])
            lowest = torch.cat([lowest, -cut_a])
            highest = torch.cat([highest, samples - cut_b])
        waveforms = augment(waveforms, labels, (lowest, highest))
        if negative + hard:
            starts = torch.randint(0, len(stream.audio) - samples + 1, (negative + hard,),
                                   device=device)  # fmt: skip
            if hard:
                pick = torch.randint(0, len(hard_starts), (hard,), device=device)
                starts[negative:] = hard_starts.to(device)[pick]
            speech = stream.speech_ms(starts, samples, sample_rate) >= MIN_SPEECH_MS
            silence = classes.unknown if classes.silence is None else classes.silence
            waveforms = torch.cat([waveforms, stream.windows(starts, samples)])
            labels = torch.cat([labels, torch.where(speech, classes.unknown, silence)])
        not_keyword = torch.arange(len(labels), device=device) >= batch
        weights = torch.where(not_keyword, self.weight, 1.0).float()
        return TrainingBatch(waveforms, labels, weights, not_keyword)


def make_stream_examples(
    settings: Mapping[str, Any] | None, class_names: Sequence[str]
) -> StreamExamples | None:
    """The ``data.stream_examples`` settings, checked against the data's classes.

    Args:
        settings: ``StreamExamples``' arguments; None or empty: no stream-shaped examples.
        class_names: the data's classes.

    Raises:
        ValueError: an unknown key or a value out of range, or no ``_unknown_`` class (the
            stream-shaped negatives' label), naming the config key.
    """
    if not settings:
        return None
    known = StreamExamples.__dataclass_fields__
    unknown = sorted(set(settings) - set(known))
    if unknown:
        raise ValueError(
            f"data.stream_examples.{unknown[0]}: unknown key; known: {', '.join(known)}"
        )
    if UNKNOWN not in class_names:
        raise ValueError(
            "data.stream_examples: stream-shaped negatives are labelled _unknown_, and the data "
            "has no such class (data.unknown=true, or data.silence_and_unknown=true)"
        )
    return StreamExamples(**settings)


def stream_classes(class_names: Sequence[str]) -> StreamClasses:
    """The class indices stream-shaped rows get, from the data's class names.

    Args:
        class_names: the data's classes, ``_unknown_`` among them.
    """
    keywords = torch.tensor([name not in (SILENCE, UNKNOWN) for name in class_names])
    silence = class_names.index(SILENCE) if SILENCE in class_names else None
    return StreamClasses(silence, list(class_names).index(UNKNOWN), keywords)


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
