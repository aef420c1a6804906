"""Waveform augmentation on the device, vectorised over the batch: noise mixing and time shift."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


def crops(
    source: torch.Tensor, rows: torch.Tensor, starts: torch.Tensor, length: int
) -> torch.Tensor:
    """``source[rows[i], starts[i] : starts[i] + length]`` for every i, in one copy.

    The windows of ``source``'s flattened view are selected by row number, which moves whole
    contiguous slices instead of indexing every sample.

    Args:
        source: ``(n, width)``.
        rows: ``(k,)`` row of each window.
        starts: ``(k,)`` first column of each window; ``starts + length <= width``.
        length: samples per window.

    Returns:
        ``(k, length)``.
    """
    windows = source.reshape(-1).unfold(0, length, 1)  # (n * width - length + 1, length), a view
    return windows.index_select(0, rows * source.shape[1] + starts)


@dataclass
class Augmentation:
    """BC-ResNet's training augmentation (Kim et al. 2021, and the official ``utils.py``).

    Every silence clip and a ``noise_prob`` share of the others get a random 1 s crop of a random
    background noise, at amplitude U(0, silence_noise_volume) or U(0, noise_volume); exactly
    those clips are also shifted in time by U(-shift_s, shift_s), zero-filled, and clamped to
    [-1, 1]. The rest come back untouched: no shift, no noise, no clamp.

    Attributes:
        shift_s: largest time shift, in seconds.
        noise_prob: share of non-silence clips that get noise (and so a shift).
        noise_volume: their largest noise amplitude.
        silence_noise_volume: silence clips' largest noise amplitude.
        sample_rate: of the clips, to convert ``shift_s`` to samples.
    """

    shift_s: float = 0.1
    noise_prob: float = 0.8
    noise_volume: float = 0.1
    silence_noise_volume: float = 1.0
    sample_rate: int = 16000

    def __call__(
        self, waveforms: torch.Tensor, noise_bank: torch.Tensor, silence: torch.Tensor | None
    ) -> torch.Tensor:
        """Augment a batch, drawing from torch's global random stream on its device.

        Args:
            waveforms: ``(batch, samples)`` float clips in [-1, 1].
            noise_bank: ``(files, noise_samples)`` float background noise, at least ``samples``
                long.
            silence: ``(batch,)`` bool, True for silence clips; None when there are none.

        Returns:
            ``(batch, samples)``, a new tensor.
        """
        batch, samples = waveforms.shape
        device = waveforms.device
        noised = torch.rand(batch, 1, device=device) < self.noise_prob  # (batch, 1)
        volume = torch.rand(batch, 1, device=device) * self.noise_volume
        if silence is not None:
            silent_volume = torch.rand(batch, 1, device=device) * self.silence_noise_volume
            volume = torch.where(silence[:, None], silent_volume, volume)
            noised |= silence[:, None]

        shifted = waveforms
        max_shift = int(self.shift_s * self.sample_rate)
        if max_shift > 0:
            shift = torch.randint(-max_shift, max_shift + 1, (batch,), device=device)
            padded = F.pad(waveforms, (max_shift, max_shift))  # (batch, samples + 2 * max_shift)
            rows = torch.arange(batch, device=device)
            shifted = crops(padded, rows, max_shift - shift, samples)  # x[t - shift], zeros out

        files = torch.randint(0, noise_bank.shape[0], (batch,), device=device)
        starts = torch.randint(0, noise_bank.shape[1] - samples + 1, (batch,), device=device)
        noise = crops(noise_bank, files, starts, samples)  # (batch, samples)
        noisy = (shifted + noise.mul_(volume)).clamp_(-1.0, 1.0)
        return torch.where(noised, noisy, waveforms)
