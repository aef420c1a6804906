"""Waveform augmentation on the device, vectorised over the batch: noise mixing and time shift."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from kws.checks import check_number


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


#: The loudest noise amplitude (the noisy clip is clamped to [-1, 1]; 10 is far past clipping).
MAX_VOLUME = 10.0
#: The highest sample rate, in Hz.
MAX_SAMPLE_RATE = 384_000


@dataclass
class Augmentation:
    """BC-ResNet's training augmentation (Kim et al. 2021, and the official ``utils.py``).

    Every silence clip and a ``noise_prob`` share of the others get a random 1 s crop of a random
    background noise, at amplitude U(0, silence_noise_volume) or U(0, noise_volume); exactly
    those clips are also shifted in time by U(-shift_s, shift_s), zero-filled, and clamped to
    [-1, 1]. The rest come back untouched: no shift, no noise, no clamp.

    Attributes:
        shift_s: largest time shift, in seconds, 0 to 1 (a longer shift moves a one-second word
            out of its clip, and pads every row by that much).
        noise_prob: share of non-silence clips that get noise (and so a shift), 0 to 1.
        noise_volume: their largest noise amplitude, 0 to ``MAX_VOLUME``.
        silence_noise_volume: silence clips' largest noise amplitude, 0 to ``MAX_VOLUME``.
        sample_rate: of the clips, to convert ``shift_s`` to samples, in Hz.

    Raises:
        ValueError: a setting out of range, naming ``data.augmentation.<key>``.
    """

    shift_s: float = 0.1
    noise_prob: float = 0.8
    noise_volume: float = 0.1
    silence_noise_volume: float = 1.0
    sample_rate: int = 16000

    def __post_init__(self) -> None:
        key = "data.augmentation."
        check_number(key + "shift_s", self.shift_s, 0.0, 1.0)
        check_number(key + "noise_prob", self.noise_prob, 0.0, 1.0)
        for name in ("noise_volume", "silence_noise_volume"):
            check_number(key + name, getattr(self, name), 0.0, MAX_VOLUME)
        check_number(key + "sample_rate", self.sample_rate, 1, MAX_SAMPLE_RATE, integer=True)

    @property
    def max_shift(self) -> int:
        """The largest shift, in samples."""
        return int(self.shift_s * self.sample_rate)

    def __call__(
        self,
        waveforms: torch.Tensor,
        noise_bank: torch.Tensor,
        silence: torch.Tensor | None,
        shift_range: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Augment a batch, drawing from torch's global random stream on its device.

        Args:
            waveforms: ``(batch, samples)`` float clips in [-1, 1].
            noise_bank: ``(files, noise_samples)`` float background noise, at least ``samples``
                long.
            silence: ``(batch,)`` bool, True for silence clips; None when there are none.
            shift_range: ``(lowest, highest)``, each ``(batch,)`` int64 samples: every row is
                shifted by U{lowest..highest} instead of U(-shift_s, shift_s), noised or not
                (rows placed elsewhere in the window, ``kws.data.stream_examples``); None: the
                augmentation's own shift, noised rows only.

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
        max_shift = self.max_shift
        if shift_range is not None:
            lowest, highest = shift_range
            draw = torch.rand(batch, device=device) * (highest - lowest + 1).to(torch.float32)
            shifted = shift_rows(waveforms, lowest + draw.long(), samples)
        elif max_shift > 0:
            shift = torch.randint(-max_shift, max_shift + 1, (batch,), device=device)
            shifted = shift_rows(waveforms, shift, max_shift)

        files = torch.randint(0, noise_bank.shape[0], (batch,), device=device)
        starts = torch.randint(0, noise_bank.shape[1] - samples + 1, (batch,), device=device)
        noise = crops(noise_bank, files, starts, samples)  # (batch, samples)
        noisy = (shifted + noise.mul_(volume)).clamp_(-1.0, 1.0)
        return torch.where(noised, noisy, waveforms if shift_range is None else shifted)


def shift_rows(waveforms: torch.Tensor, shift: torch.Tensor, reach: int) -> torch.Tensor:
    """Each row moved later by its own ``shift`` (earlier when negative), zero-filled:
    ``out[i, t] = waveforms[i, t - shift[i]]``.

    Args:
        waveforms: ``(batch, samples)``.
        shift: ``(batch,)`` int64 samples, each in ``[-reach, reach]``.
        reach: the largest shift either way (a fixed size, so nothing waits for the device).

    Returns:
        ``(batch, samples)``, a new tensor.
    """
    batch, samples = waveforms.shape
    padded = F.pad(waveforms, (reach, reach))  # (batch, samples + 2 * reach)
    rows = torch.arange(batch, device=waveforms.device)
    return crops(padded, rows, reach - shift, samples)
