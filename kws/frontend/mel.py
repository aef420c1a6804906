"""The ``MelSpectrogram`` layer: an ``STFT`` projected onto a (trainable) mel filterbank.

The filterbank is ``functional.mel_filterbank``'s (librosa's triangles, HTK or Slaney scale,
optional Slaney area normalisation), built in float64 and stored as float32.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from kws.frontend.functional import (
    SQRT_EPS,
    LogMode,
    MelScale,
    PadMode,
    check_log_mode,
    compress,
    fft_frequencies,
    mel_filterbank,
    relative_change,
)
from kws.frontend.protocol import MEL_BASIS_CHANGE, MEL_CENTRE_SHIFT_HZ
from kws.frontend.stft import STFT, Implementation


class MelSpectrogram(nn.Module):
    """Waveform ``(batch, samples)`` to (log-)Mel spectrogram ``(batch, n_mels, frames)``.

    ``trainable_stft`` trains the Fourier kernels, ``trainable_mel`` the filterbank. Whatever
    the flags, the layer computes with the weights it holds: a state dict from a trained layer
    loaded into a frozen one, or a trained layer frozen with ``requires_grad_(False)``, keeps
    the trained kernels and basis (see ``STFT``'s ``implementation`` for when the FFT serves).
    The basis is applied through ``filterbank()``, clamped at zero in every mode: the mel
    energies can never go negative (so ``log`` never sees a negative sum and never returns NaN).
    While the basis trains, gradients pass the clamp straight through, so an entry pushed below
    zero still receives gradient and can return, which a plain ReLU (zero gradient there) would
    forbid. This needs no cooperation from the optimiser, so it holds wherever the layer is used.

    Args:
        sample_rate: in Hz. Default 16000.
        n_fft: STFT frame length. Default 512.
        win_length: STFT window length, at most ``n_fft``; ``None`` means ``n_fft``.
            Default 480.
        hop_length: samples between frames; ``None`` means ``n_fft // 4``. Default 160.
        n_mels: number of mel filters, at least 1. Default 40.
        f_min: lowest filter edge in Hz. Default 0.
        f_max: highest filter edge in Hz; ``None`` (default) means ``sample_rate / 2``.
        mel_scale: ``"htk"`` (default) or ``"slaney"``.
        norm: ``"slaney"`` area normalisation or ``None`` (default).
        power: the exponent of ``|X|`` projected onto the basis: 2 (default) power, 1 magnitude.
        window: STFT window name. Default ``"hann"``.
        center: STFT centre padding. Default True.
        pad_mode: how ``center`` pads (see ``STFT``). Default ``"reflect"``.
        trainable_stft: train the Fourier kernels. Default False.
        trainable_mel: train the mel basis. Default False.
        log: ``"log"`` (default) gives ``log(mel + log_eps)`` (BC-ResNet), ``"db"`` gives
            ``10 * log10(max(mel, log_eps))`` (librosa's ``power_to_db`` with ``amin=log_eps``),
            ``None`` the linear energies.
        log_eps: added inside the log, or the floor under the dB. Default 1e-6.
        top_db: with ``log="db"``, raise each clip's values to at least its maximum minus
            ``top_db`` (librosa's ``top_db``, per clip); ``None`` (default): no such floor.
        implementation: the STFT's ``"auto"`` (default), ``"fft"`` or ``"conv"``.
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        n_fft: int = 512,
        win_length: int | None = 480,
        hop_length: int | None = 160,
        n_mels: int = 40,
        f_min: float = 0.0,
        f_max: float | None = None,
        mel_scale: MelScale = "htk",
        norm: Literal["slaney"] | None = None,
        power: float = 2.0,
        window: str = "hann",
        center: bool = True,
        pad_mode: PadMode = "reflect",
        trainable_stft: bool = False,
        trainable_mel: bool = False,
        log: LogMode = "log",
        log_eps: float = 1e-6,
        top_db: float | None = None,
        implementation: Implementation = "auto",
    ) -> None:
        super().__init__()
        check_log_mode(log, log_eps, top_db)
        if power <= 0:
            raise ValueError(f"power must be positive, got {power}")
        self.sample_rate = sample_rate
        self.n_mels = n_mels
        self.power = power
        self.log = log
        self.log_eps = log_eps
        self.top_db = top_db
        self.trainable_mel = trainable_mel
        self.stft = STFT(
            n_fft=n_fft,
            win_length=win_length,
            hop_length=hop_length,
            window=window,
            center=center,
            pad_mode=pad_mode,
            output="power",
            trainable=trainable_stft,
            implementation=implementation,
        )
        basis = mel_filterbank(sample_rate, n_fft, n_mels, f_min, f_max, mel_scale, norm).float()
        self.register_buffer("initial_mel_basis", basis.clone())
        fft_freqs = fft_frequencies(sample_rate, n_fft)
        self.register_buffer("fft_freqs", fft_freqs, persistent=False)
        if trainable_mel:
            self.mel_basis = nn.Parameter(basis)
        else:
            self.register_buffer("mel_basis", basis)

    def filterbank(self) -> torch.Tensor:
        """The mel basis as applied ``(n_mels, n_fft // 2 + 1)``: ``mel_basis`` clamped at zero,
        in every mode; while it trains, gradients pass the clamp straight through."""
        clamped = self.mel_basis.clamp(min=0.0)
        if not self.mel_basis.requires_grad:
            return clamped
        return self.mel_basis + (clamped - self.mel_basis).detach()

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        """The (log-)Mel spectrogram of each clip.

        Args:
            waveform: ``(batch, samples)`` or ``(samples,)``; ``batch`` may be 0.

        Returns:
            ``(batch, n_mels, frames)`` in float32, even under autocast.
        """
        power = self.stft(waveform)  # (batch, freq, frames), float32 even under autocast
        with torch.autocast(device_type=power.device.type, enabled=False):
            if self.power != 2.0:
                power = (power + SQRT_EPS) ** (self.power / 2)
            # Frame by frame, the projection is one GEMM over all frames, forward and backward (a
            # matmul broadcast over clips would run one small product per clip instead).
            by_frame = power.transpose(1, 2)  # (batch, frames, freq)
            mel = torch.matmul(by_frame, self.filterbank().T).transpose(1, 2)  # (B, n_mels, T)
            return compress(mel, self.log, self.log_eps, self.top_db)

    def centre_frequencies(self, basis: torch.Tensor | None = None) -> torch.Tensor:
        """Each filter's centre in Hz ``(n_mels,)``.

        The centre is the weighted mean frequency of the bins holding at least half the filter's
        peak, so a little weight learnt far from the main lobe does not move it.

        Args:
            basis: filters ``(n_mels, n_fft // 2 + 1)``; default ``None``: ``filterbank()``.
        """
        basis = self.filterbank().detach() if basis is None else basis
        lobe = basis * (basis >= 0.5 * basis.amax(dim=-1, keepdim=True))
        return (lobe * self.fft_freqs).sum(-1) / lobe.sum(-1).clamp(min=1e-12)

    def drift(self) -> dict[str, torch.Tensor]:
        """How far the basis moved: relative Frobenius changes and per-filter centre shift (Hz)."""
        with torch.no_grad():
            basis = self.filterbank()
            change = relative_change(basis, self.initial_mel_basis)
            shift = self.centre_frequencies(basis) - self.centre_frequencies(self.initial_mel_basis)
        return {**self.stft.drift(), MEL_BASIS_CHANGE: change, MEL_CENTRE_SHIFT_HZ: shift}

    def trainable_parts(self) -> dict[str, bool]:
        """Whether the Fourier kernels and the mel basis train, keyed like ``drift()``."""
        return {**self.stft.trainable_parts(), MEL_BASIS_CHANGE: self.trainable_mel}
