"""What a training step receives (``TrainingBatch``) and the class indices stream-shaped rows
are labelled with (``StreamClasses``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch

from kws.data.layout import SILENCE, UNKNOWN


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


def stream_classes(class_names: Sequence[str]) -> StreamClasses:
    """The class indices stream-shaped rows get, from the data's class names.

    Args:
        class_names: the data's classes, ``_unknown_`` among them.
    """
    keywords = torch.tensor([name not in (SILENCE, UNKNOWN) for name in class_names])
    silence = class_names.index(SILENCE) if SILENCE in class_names else None
    return StreamClasses(silence, list(class_names).index(UNKNOWN), keywords)
