"""What the STFT is built from: analysis windows, the windowed Fourier basis, bin frequencies,
``center`` padding and the power of a stacked spectrum.

The Fourier kernels are built in float64, so a layer can store them in float32 after one
rounding.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
import torch.nn.functional as F

from kws.frontend.functional.settings import KEY

PadMode = Literal["reflect", "constant", "replicate", "circular", "edge", "wrap"]

#: The ``center`` padding modes as ``F.pad`` names them; each pads as ``np.pad``'s namesake does
#: (``replicate`` is numpy's ``edge``, ``circular`` its ``wrap``), at any clip length.
PAD_MODES = ("reflect", "constant", "replicate", "circular")
#: librosa's (numpy's) names for two of them, accepted too.
PAD_MODE_ALIASES = {"edge": "replicate", "wrap": "circular"}

#: Added under every differentiable square root, so the gradient at zero energy stays finite
#: (small enough to leave magnitudes of 1e-9 of full scale intact in float32).
SQRT_EPS = 1e-20


def make_window(name: str, win_length: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """A periodic analysis window (as librosa and ``torch.stft`` use).

    Args:
        name: ``"hann"``, ``"hamming"``, ``"blackman"`` or ``"rectangular"``.
        win_length: its length in samples.
        dtype: default ``torch.float64``.

    Returns:
        The window ``(win_length,)``.

    Raises:
        ValueError: an unknown ``name``, naming ``frontend.window``.
    """
    windows = {
        "hann": torch.hann_window,
        "hamming": torch.hamming_window,
        "blackman": torch.blackman_window,
    }
    if name == "rectangular":
        return torch.ones(win_length, dtype=dtype)
    if name not in windows:
        raise ValueError(
            f"{KEY}window must be one of {sorted([*windows, 'rectangular'])}, got {name!r}"
        )
    return windows[name](win_length, periodic=True, dtype=dtype)


def fourier_kernels(n_fft: int, window: torch.Tensor) -> torch.Tensor:
    """Windowed DFT kernels: the analytic basis an STFT layer starts from.

    Kernel ``k`` at tap ``m`` is ``window[m] * exp(-2j*pi*k*(m + offset)/n_fft)`` where ``offset``
    centres the window inside the ``n_fft`` frame, exactly as ``torch.stft`` and librosa pad it;
    taps outside the window are zero and are left out, so the convolution does no wasted work.

    Args:
        n_fft: the frame length in samples.
        window: the analysis window ``(win_length,)``, ``win_length <= n_fft``.

    Returns:
        ``(2 * (n_fft // 2 + 1), win_length)`` in the window's dtype: real parts, then imaginary.
    """
    win_length = window.numel()
    offset = (n_fft - win_length) // 2
    freqs = torch.arange(n_fft // 2 + 1, dtype=torch.float64)[:, None]
    taps = torch.arange(win_length, dtype=torch.float64)[None, :] + offset
    phase = 2 * math.pi * freqs * taps / n_fft
    return torch.cat([torch.cos(phase) * window, -torch.sin(phase) * window])


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


def pad_both_ends(x: torch.Tensor, pad: int, mode: str) -> torch.Tensor:
    """``x`` with ``pad`` samples added at each end, as ``np.pad`` adds them, at any length.

    ``F.pad`` does the work where it can. A reflection wider than the clip (``pad >= samples``,
    e.g. a 10 ms chunk under ``n_fft // 2`` samples of centre padding), or a wrap wider than it,
    which ``F.pad`` refuses, repeats the clip's mirror images or periods as numpy does; a single
    sample reflects as itself.

    Args:
        x: audio ``(batch, samples)``, ``batch >= 1``, ``samples >= 1``.
        pad: samples to add at each end.
        mode: one of ``PAD_MODES``.

    Returns:
        ``(batch, samples + 2 * pad)``.
    """
    length = x.shape[-1]
    if mode in ("constant", "replicate") or pad < length:
        return F.pad(x, (pad, pad), mode=mode)
    positions = torch.arange(-pad, length + pad, device=x.device)
    if mode == "circular":
        return x[:, positions.remainder(length)]
    # Reflection is periodic with period 2 * (length - 1), mirrored within each period; the
    # period of 1 for a single sample sends every position to sample 0.
    period = max(2 * (length - 1), 1)
    folded = positions.remainder(period)
    return x[:, torch.minimum(folded, period - folded)]


class _StackedPower(torch.autograd.Function):
    """``stacked_power`` with its backward pass written out (see there)."""

    @staticmethod
    def forward(ctx: Any, spectrum: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(spectrum)
        real, imag = spectrum.unflatten(1, (2, -1)).unbind(1)
        return real.square().addcmul_(imag, imag)  # (batch, freq, frames)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        (spectrum,) = ctx.saved_tensors
        pairs = spectrum.unflatten(1, (2, -1))  # (batch, 2, freq, frames)
        return (pairs * (2 * grad).unsqueeze(1)).flatten(1, 2)


def stacked_power(spectrum: torch.Tensor) -> torch.Tensor:
    """``real**2 + imag**2`` of a spectrum whose real rows are stacked above its imaginary rows.

    The backward pass is written out because autograd's version of the same expression (slices,
    or a view that is squared and summed) zero-fills, expands and copies full-size gradient
    buffers; here it is a single broadcast product, which makes the trainable STFT measurably
    faster (see ``python -m kws.benchmark frontend``).

    Args:
        spectrum: ``(batch, 2 * freq, frames)``, real parts then imaginary parts, as the
            convolution with ``fourier_kernels`` gives them.

    Returns:
        The power ``(batch, freq, frames)``.
    """
    return _StackedPower.apply(spectrum)
