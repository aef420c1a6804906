"""``KeywordSpotter``: a whole keyword spotter as one ``nn.Module``, waveform to logits."""

from __future__ import annotations

import torch
from torch import nn


class KeywordSpotter(nn.Module):
    """Waveforms ``(batch, samples)`` to logits ``(batch, num_classes)``: frontend, SpecAugment,
    head. Usable without Lightning (export, inference, benchmarks).

    SpecAugment (if any) acts only in training mode, on the features, so on the device that
    holds them, between frontend and head.

    Args:
        frontend: a ``kws.frontend.Frontend``, an ``nn.Module`` mapping waveforms
            ``(batch, samples)`` to features ``(batch, n_features, frames)``, e.g.
            ``kws.frontend.MelSpectrogram``.
        head: an ``nn.Module`` mapping features ``(batch, n_features, frames)`` to logits
            ``(batch, num_classes)``, e.g. ``kws.models.BCResNet``.
        spec_augment: applied to the features between the two, shape-preserving, e.g.
            ``kws.models.SpecAugment``; ``None`` (default): none (``nn.Identity``).
    """

    def __init__(
        self, frontend: nn.Module, head: nn.Module, spec_augment: nn.Module | None = None
    ) -> None:
        super().__init__()
        self.frontend = frontend
        self.spec_augment = spec_augment if spec_augment is not None else nn.Identity()
        self.head = head

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        """The logits of each clip.

        Args:
            waveform: ``(batch, samples)``.

        Returns:
            ``(batch, num_classes)``.
        """
        features = self.frontend(waveform)  # (batch, n_features, frames)
        features = self.spec_augment(features)
        return self.head(features)  # (batch, num_classes)
