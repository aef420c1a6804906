"""A whole keyword spotter as one ``nn.Module``: waveform -> frontend -> SpecAugment -> head."""

from __future__ import annotations

import torch
from torch import nn


class KeywordSpotter(nn.Module):
    """Waveforms ``(batch, samples)`` to logits ``(batch, classes)``; usable without Lightning.

    SpecAugment (if any) acts only in training mode, on the device, between frontend and head.
    """

    def __init__(
        self, frontend: nn.Module, head: nn.Module, spec_augment: nn.Module | None = None
    ) -> None:
        super().__init__()
        self.frontend = frontend
        self.spec_augment = spec_augment if spec_augment is not None else nn.Identity()
        self.head = head

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        features = self.frontend(waveform)  # (batch, n_mels, frames)
        features = self.spec_augment(features)
        return self.head(features)  # (batch, classes)
