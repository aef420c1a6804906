"""``StreamExamples``: the ``data.stream_examples`` settings, checked, and the making of a
stream-shaped training batch from a batch of clips (placed and partial keywords, keyword-free
windows, hard negatives), on the device, vectorised over the batch."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from kws.data.layout import UNKNOWN
from kws.data.stream_examples.batch import StreamClasses, TrainingBatch
from kws.data.stream_examples.bounds import word_bounds
from kws.data.stream_examples.keyword_free import MIN_SPEECH_MS, KeywordFreeStream
from kws_runtime.checks import check_number


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
