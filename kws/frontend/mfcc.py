"""MFCC: a log-Mel spectrogram followed by an orthonormal DCT-II, the DCT optionally trainable."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from kws.frontend.mel import MelSpectrogram
from kws.frontend.stft import relative_change


def dct_matrix(n_out: int, n_in: int) -> torch.Tensor:
    """Orthonormal DCT-II ``(n_out, n_in)``, the transform of ``scipy.fft.dct(norm="ortho")``."""
    k = torch.arange(n_out, dtype=torch.float64)[:, None]
    n = torch.arange(n_in, dtype=torch.float64)[None, :]
    basis = torch.cos(math.pi / n_in * (n + 0.5) * k) * math.sqrt(2.0 / n_in)
    basis[0] /= math.sqrt(2.0)
    return basis


class MFCC(nn.Module):
    """Waveform ``(batch, samples)`` to MFCCs ``(batch, n_mfcc, frames)``.

    Keyword arguments other than ``n_mfcc`` and ``trainable_dct`` configure the underlying
    ``MelSpectrogram`` (``log`` defaults to ``"db"`` here, as librosa's MFCC uses).
    """

    def __init__(self, n_mfcc: int = 40, trainable_dct: bool = False, **mel_kwargs: Any) -> None:
        super().__init__()
        mel_kwargs.setdefault("log", "db")
        self.mel = MelSpectrogram(**mel_kwargs)
        if not 0 < n_mfcc <= self.mel.n_mels:
            raise ValueError(f"n_mfcc must be in [1, n_mels={self.mel.n_mels}], got {n_mfcc}")
        self.n_mfcc = n_mfcc
        basis = dct_matrix(n_mfcc, self.mel.n_mels).float()
        self.register_buffer("initial_dct", basis.clone())
        if trainable_dct:
            self.dct = nn.Parameter(basis)
        else:
            self.register_buffer("dct", basis)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        log_mel = self.mel(waveform)  # (batch, n_mels, frames), float32
        with torch.autocast(device_type=log_mel.device.type, enabled=False):
            return torch.matmul(self.dct, log_mel)  # (batch, n_mfcc, frames)

    def drift(self) -> dict[str, torch.Tensor]:
        """The Mel layer's drift plus the relative Frobenius change of the DCT."""
        return {**self.mel.drift(), "dct_change": relative_change(self.dct, self.initial_dct)}
