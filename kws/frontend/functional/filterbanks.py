"""The mel scale and triangular filterbanks: Hz to mels and back, filter edges, Slaney's gains,
and the filters themselves, as ``librosa.filters.mel`` builds them, in float64."""

from __future__ import annotations

import math
import warnings
from typing import Literal

import torch

from kws.frontend.functional.fourier import fft_frequencies
from kws.frontend.functional.settings import (
    KEY,
    FilterScale,
    MelScale,
    check_band,
    check_mel_scale,
)

# Slaney's scale is linear below 1 kHz (3 mels per 200 Hz) and logarithmic above.
_SLANEY_F_BREAK = 1000.0
_SLANEY_HZ_PER_MEL = 200.0 / 3
_SLANEY_MEL_BREAK = _SLANEY_F_BREAK / _SLANEY_HZ_PER_MEL
_SLANEY_LOG_STEP = math.log(6.4) / 27.0


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


def filter_edges(
    n_filters: int, f_min: float, f_max: float, scale: FilterScale = "htk"
) -> torch.Tensor:
    """The ``n_filters + 2`` edge frequencies of a triangular filterbank, in Hz, in float64.

    Filter ``i`` rises from edge ``i`` to ``i + 1`` and falls to ``i + 2``; the edges are spaced
    evenly in mels (``"htk"`` or ``"slaney"``) or in Hz (``"linear"``) from ``f_min`` to
    ``f_max``.

    Args:
        n_filters: number of filters.
        f_min: the lowest edge in Hz.
        f_max: the highest edge in Hz.
        scale: ``"htk"`` (default), ``"slaney"`` or ``"linear"``.

    Returns:
        ``(n_filters + 2,)``, rising.
    """
    if scale == "linear":
        return torch.linspace(f_min, f_max, n_filters + 2, dtype=torch.float64)
    mel_range = hz_to_mel(torch.tensor([f_min, f_max], dtype=torch.float64), scale)
    return mel_to_hz(torch.linspace(*mel_range.tolist(), n_filters + 2, dtype=torch.float64), scale)


def slaney_gains(edges: torch.Tensor) -> torch.Tensor:
    """Slaney's area normalisation: the gain ``2 / (edge[i + 2] - edge[i])`` that gives each
    unit-height triangle of ``filter_edges`` unit area in Hz.

    Args:
        edges: ``(n_filters + 2,)`` in Hz, as ``filter_edges`` gives them.

    Returns:
        ``(n_filters,)``, in the edges' dtype.
    """
    return 2.0 / (edges[2:] - edges[:-2])


def mel_filterbank(
    sample_rate: int,
    n_fft: int,
    n_mels: int = 40,
    f_min: float = 0.0,
    f_max: float | None = None,
    scale: FilterScale = "htk",
    norm: Literal["slaney"] | None = None,
) -> torch.Tensor:
    """Triangular mel filters in float64, as ``librosa.filters.mel`` builds them.

    Filter ``i`` rises from mel point ``i`` to ``i + 1`` and falls to ``i + 2``, the points
    spaced evenly in mels between ``f_min`` and ``f_max`` (``filter_edges``); with
    ``scale="linear"`` they are spaced evenly in Hz instead, the linear-frequency filterbank the
    mel scale is compared with. A filter so narrow that it covers no FFT bin is all zero: like
    librosa, this warns (``UserWarning``) naming those filters.

    Args:
        sample_rate: in Hz.
        n_fft: the STFT's frame length.
        n_mels: number of filters, in ``[1, n_fft // 2 + 1]``. Default 40.
        f_min: lowest edge in Hz. Default 0.
        f_max: highest edge in Hz, at most ``sample_rate / 2``; ``None`` (default) means that.
        scale: ``"htk"`` (default) or ``"slaney"`` mels, or ``"linear"`` (Hz).
        norm: ``"slaney"`` scales each filter to unit area in Hz (``slaney_gains``); ``None``
            (default) leaves peaks at 1.

    Returns:
        ``(n_mels, n_fft // 2 + 1)``.

    Raises:
        ValueError: a setting out of range (``check_mel_scale``, ``check_band``), named as
            ``frontend.<argument>``.
    """
    check_mel_scale(scale, linear=True)
    if norm not in (None, "slaney"):
        raise ValueError(f"{KEY}norm must be None or 'slaney', got {norm!r}")
    f_max = check_band(sample_rate, n_fft, n_mels, f_min, f_max)
    fft_freqs = fft_frequencies(sample_rate, n_fft, torch.float64)
    edges = filter_edges(n_mels, f_min, f_max, scale)
    widths = edges.diff()  # (n_mels + 1,)
    offsets = edges[:, None] - fft_freqs[None, :]  # (n_mels + 2, freq)
    rising = -offsets[:-2] / widths[:-1, None]
    falling = offsets[2:] / widths[1:, None]
    filters = torch.clamp(torch.minimum(rising, falling), min=0.0)
    if norm == "slaney":
        filters *= slaney_gains(edges)[:, None]
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
