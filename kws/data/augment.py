"""Waveform augmentation on the device, vectorised over the batch: time shift and noise mixing."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


def crops(
    source: torch.Tensor, rows: torch.Tensor, starts: torch.Tensor, length: int
) -> torch.Tensor:
    """``source[rows[i], starts[i] : starts[i] + length]`` for every i, in one copy.

    ``source`` is ``(n, width)``; the windows of its flattened view are selected by row number,
    which moves whole contiguous slices instead of indexing every sample. Returns
    ``(len(rows), length)``.
    """
    windows = source.reshape(-1).unfold(0, length, 1)  # (n * width - length + 1, length), a view
    return windows.index_select(0, rows * source.shape[1] + starts)


@dataclass
class Augmentation:
    """BC-ResNet's recipe: shift by U(-shift_s, shift_s), zero-filled; add a random crop of a
    random background noise at amplitude U(0, noise_volume) to a ``noise_prob`` share of clips
    and at U(0, silence_noise_volume) to every silence clip; clamp to [-1, 1]."""

    shift_s: float = 0.1
    noise_prob: float = 0.8
    noise_volume: float = 0.1
    silence_noise_volume: float = 1.0
    sample_rate: int = 16000

    def __call__(
        self, waveforms: torch.Tensor, noise_bank: torch.Tensor, silence: torch.Tensor | None
    ) -> torch.Tensor:
        # waveforms (batch, samples), noise_bank (files, noise_samples), silence (batch,) bool
        batch, samples = waveforms.shape
        device = waveforms.device
        max_shift = int(self.shift_s * self.sample_rate)
        if max_shift > 0:
            shift = torch.randint(-max_shift, max_shift + 1, (batch,), device=device)
            padded = F.pad(waveforms, (max_shift, max_shift))  # (batch, samples + 2 * max_shift)
            rows = torch.arange(batch, device=device)
            waveforms = crops(padded, rows, max_shift - shift, samples)  # x[t - shift], zeros out

        files = torch.randint(0, noise_bank.shape[0], (batch,), device=device)
        starts = torch.randint(0, noise_bank.shape[1] - samples + 1, (batch,), device=device)
        noise = crops(noise_bank, files, starts, samples)  # (batch, samples)
        volume = torch.rand(batch, 1, device=device) * self.noise_volume
        volume = volume * (torch.rand(batch, 1, device=device) < self.noise_prob)
        if silence is not None:
            silent_volume = torch.rand(batch, 1, device=device) * self.silence_noise_volume
            volume = torch.where(silence[:, None], silent_volume, volume)
        return (waveforms + noise.mul_(volume)).clamp_(-1.0, 1.0)
