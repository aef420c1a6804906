"""Mel filterbanks built in-repo, and a (log-)Mel spectrogram layer whose basis can train.

The filterbank follows the triangular construction librosa and torchaudio share (HTK or Slaney
mel scale, optional Slaney area normalisation), computed in float64 and stored as float32.
"""

from __future__ import annotations

import math
import warnings
from typing import Literal

import torch
from torch import nn

from kws.frontend.stft import (
    SQRT_EPS,
    STFT,
    Implementation,
    LogMode,
    PadMode,
    check_log_mode,
    compress,
    relative_change,
)

MelScale = Literal["htk", "slaney"]

# Slaney's scale is linear below 1 kHz (3 mels per 200 Hz) and logarithmic above.
_SLANEY_F_BREAK = 1000.0
_SLANEY_HZ_PER_MEL = 200.0 / 3
_SLANEY_MEL_BREAK = _SLANEY_F_BREAK / _SLANEY_HZ_PER_MEL
_SLANEY_LOG_STEP = math.log(6.4) / 27.0


def fft_frequencies(
    sample_rate: int, n_fft: int, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """The centre frequency in Hz of each STFT bin.

    Args:
        sample_rate: in Hz.
        n_fft: the STFT's frame length.
        dtype: default ``torch.float32``.

    Returns:
        ``(n_fft // 2 + 1,)``.
    """
    return torch.arange(n_fft // 2 + 1, dtype=dtype) * sample_rate / n_fft


def hz_to_mel(hz: torch.Tensor, scale: MelScale = "htk") -> torch.Tensor:
    """Frequency in Hz to mels.

    Args:
        hz: frequencies, any shape.
        scale: ``"htk"`` (default) or ``"slaney"``.

    Returns:
        Mels, shaped like ``hz``.
    """
    if scale == "htk":
        return 2595.0 * torch.log10(1.0 + hz / 700.0)
    linear = hz / _SLANEY_HZ_PER_MEL
    log = _SLANEY_MEL_BREAK + torch.log(hz.clamp(min=_SLANEY_F_BREAK) / _SLANEY_F_BREAK) / (
        _SLANEY_LOG_STEP
    )
    return torch.where(hz >= _SLANEY_F_BREAK, log, linear)


def mel_to_hz(mel: torch.Tensor, scale: MelScale = "htk") -> torch.Tensor:
    """Mels to frequency in Hz, the inverse of ``hz_to_mel``.

    Args:
        mel: mels, any shape.
        scale: ``"htk"`` (default) or ``"slaney"``.

    Returns:
        Frequencies in Hz, shaped like ``mel``.
    """
    if scale == "htk":
        return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)
    linear = mel * _SLANEY_HZ_PER_MEL
    log = _SLANEY_F_BREAK * torch.exp(_SLANEY_LOG_STEP * (mel - _SLANEY_MEL_BREAK))
    return torch.where(mel >= _SLANEY_MEL_BREAK, log, linear)


def mel_filterbank(
    sample_rate: int,
    n_fft: int,
    n_mels: int = 40,
    f_min: float = 0.0,
    f_max: float | None = None,
    scale: MelScale = "htk",
    norm: Literal["slaney"] | None = None,
) -> torch.Tensor:
    """Triangular mel filters in float64, as ``librosa.filters.mel`` builds them.

    Filter ``i`` rises from mel point ``i`` to ``i + 1`` and falls to ``i + 2``, the points
    spaced evenly in mels between ``f_min`` and ``f_max``. A filter so narrow that it covers no
    FFT bin is all zero: like librosa, this warns (``UserWarning``) naming those filters.

    Args:
        sample_rate: in Hz.
        n_fft: the STFT's frame length.
        n_mels: number of filters, at least 1. Default 40.
        f_min: lowest edge in Hz. Default 0.
        f_max: highest edge in Hz, at most ``sample_rate / 2``; ``None`` (default) means that.
        scale: mel scale, ``"htk"`` (default) or ``"slaney"``.
        norm: ``"slaney"`` scales each filter to unit area in Hz (``2 / bandwidth``); ``None``
            (default) leaves peaks at 1.

    Returns:
        ``(n_mels, n_fft // 2 + 1)``.
    """
    if scale not in ("htk", "slaney"):
        raise ValueError(f"mel_scale must be 'htk' or 'slaney', got {scale!r}")
    if norm not in (None, "slaney"):
        raise ValueError(f"norm must be None or 'slaney', got {norm!r}")
    if not n_mels >= 1:
        raise ValueError(f"n_mels must be at least 1, got {n_mels}")
    f_max = sample_rate / 2 if f_max is None else f_max
    if not 0 <= f_min < f_max <= sample_rate / 2:
        raise ValueError(f"need 0 <= f_min < f_max <= {sample_rate / 2}, got {f_min}, {f_max}")
    fft_freqs = fft_frequencies(sample_rate, n_fft, torch.float64)
    mel_range = hz_to_mel(torch.tensor([f_min, f_max], dtype=torch.float64), scale)
    edges = mel_to_hz(torch.linspace(*mel_range.tolist(), n_mels + 2, dtype=torch.float64), scale)
    widths = edges.diff()  # (n_mels + 1,)
    offsets = edges[:, None] - fft_freqs[None, :]  # (n_mels + 2, freq)
    rising = -offsets[:-2] / widths[:-1, None]
    falling = offsets[2:] / widths[1:, None]
    filters = torch.clamp(torch.minimum(rising, falling), min=0.0)
    if norm == "slaney":
        filters *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    empty = (filters.amax(dim=-1) == 0).nonzero().flatten().tolist()
    if empty:
        warnings.warn(
            f"{len(empty)} of n_mels={n_mels} mel filters cover no FFT bin and are all zero "
            f"(filters {empty}); those channels will always be empty: use fewer mels, a larger "
            f"n_fft (now {n_fft}) or a wider f_min..f_max",
            UserWarning,
            stacklevel=2,
        )
    return filters


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
        return {**self.stft.drift(), "mel_basis_change": change, "mel_centre_shift_hz": shift}
