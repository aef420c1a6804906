"""Pure tensor functions the frontend layers are built from: windows, bases, padding, compression.

Nothing here holds state: each function maps tensors (or sizes) to tensors, the analytic bases
(Fourier kernels, mel filterbanks, DCT) in float64 so a layer can store them in float32 after
one rounding. The layers in ``stft.py``, ``mel.py`` and ``mfcc.py`` own the trainable copies.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Literal

import torch
import torch.nn.functional as F

from kws.checks import check_number

LogMode = Literal["log", "db"] | None
MelScale = Literal["htk", "slaney"]
#: How triangular filters are spaced: evenly in HTK or Slaney mels, or evenly in Hz.
FilterScale = Literal["htk", "slaney", "linear"]
PadMode = Literal["reflect", "constant", "replicate", "circular", "edge", "wrap"]

#: The ``center`` padding modes as ``F.pad`` names them; each pads as ``np.pad``'s namesake does
#: (``replicate`` is numpy's ``edge``, ``circular`` its ``wrap``), at any clip length.
PAD_MODES = ("reflect", "constant", "replicate", "circular")
#: librosa's (numpy's) names for two of them, accepted too.
PAD_MODE_ALIASES = {"edge": "replicate", "wrap": "circular"}

#: Where a frontend's settings sit in the configs (``conf/frontend/*.yaml``): every error about
#: a setting names it as ``frontend.<argument>``.
KEY = "frontend."
#: The longest frame: its kernels take ``8 * n_fft**2`` bytes while built, 0.5 GB at this size.
MAX_N_FFT = 8192
#: The sample rates a frontend takes, in Hz: telephone speech's 8 kHz and below, up to 384 kHz.
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 1000, 384_000
#: The largest ``log_eps``: 1 gives ``log(1 + x)``; a larger offset or floor only hides more of
#: the quiet energies under one constant.
MAX_LOG_EPS = 1.0
#: The largest ``top_db``: float32's whole range is about 830 dB, so a larger one floors nothing.
MAX_TOP_DB = 1000.0

#: Added under every differentiable square root, so the gradient at zero energy stays finite
#: (small enough to leave magnitudes of 1e-9 of full scale intact in float32).
SQRT_EPS = 1e-20

# Slaney's scale is linear below 1 kHz (3 mels per 200 Hz) and logarithmic above.
_SLANEY_F_BREAK = 1000.0
_SLANEY_HZ_PER_MEL = 200.0 / 3
_SLANEY_MEL_BREAK = _SLANEY_F_BREAK / _SLANEY_HZ_PER_MEL
_SLANEY_LOG_STEP = math.log(6.4) / 27.0


# --- Windows and the Fourier basis --------------------------------------------------------------


def make_window(name: str, win_length: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """A periodic analysis window (as librosa and ``torch.stft`` use).

    Args:
        name: ``"hann"``, ``"hamming"``, ``"blackman"`` or ``"rectangular"``.
        win_length: its length in samples.
        dtype: default ``torch.float64``.

    Returns:
        The window ``(win_length,)``.
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


# --- Padding, power and compression -------------------------------------------------------------


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


def check_framing(
    n_fft: int, win_length: int | None, hop_length: int | None, least: int = 1
) -> tuple[int, int]:
    """Reject framing settings out of range, each error naming ``frontend.<argument>``, and give
    the window and hop lengths.

    Args:
        n_fft: the frame length, a whole number in ``[least, MAX_N_FFT]``.
        win_length: the window's length, a whole number in ``[least, n_fft]``; ``None`` means
            ``n_fft``.
        hop_length: samples between frames, a whole number in ``[1, win_length]`` (a longer hop
            would leave samples between frames that no window covers); ``None`` means
            ``n_fft // 4`` (as librosa).
        least: the shortest frame and window. Default 1.

    Returns:
        ``(win_length, hop_length)``, ``None`` replaced.

    Raises:
        ValueError: a setting out of range, named as its config key.
    """
    check_number(KEY + "n_fft", n_fft, least, MAX_N_FFT, integer=True)
    win_length = n_fft if win_length is None else win_length
    hop_length = n_fft // 4 if hop_length is None else hop_length
    check_number(KEY + "win_length", win_length, least, n_fft, integer=True)
    check_number(KEY + "hop_length", hop_length, 1, win_length, integer=True)
    return win_length, hop_length


def check_log_eps(eps: float) -> None:
    """Reject a ``log_eps`` outside ``(0, MAX_LOG_EPS]``, naming ``frontend.log_eps``.

    Args:
        eps: the floor under (or the offset inside) a frontend's logarithm.
    """
    check_number(KEY + "log_eps", eps, 0.0, MAX_LOG_EPS, low_open=True)


def check_log_mode(log: LogMode, eps: float, top_db: float | None = None) -> None:
    """Reject, at construction time, settings that ``compress`` cannot honour, each error naming
    ``frontend.<argument>``.

    Args:
        log: ``"log"``, ``"db"`` or ``None``.
        eps: ``compress``'s ``eps`` (``check_log_eps``), checked whatever ``log`` is.
        top_db: ``compress``'s ``top_db``; only for ``log="db"``, in ``[0, MAX_TOP_DB]``.
            Default ``None``.
    """
    if log not in ("log", "db", None):
        raise ValueError(f"{KEY}log must be 'log', 'db' or None, got {log!r}")
    check_log_eps(eps)
    if top_db is not None:
        if log != "db":
            raise ValueError(f"{KEY}top_db needs log='db', got top_db={top_db} with log={log!r}")
        check_number(KEY + "top_db", top_db, 0.0, MAX_TOP_DB)


def compress(
    x: torch.Tensor, log: LogMode, eps: float, top_db: float | None = None
) -> torch.Tensor:
    """``log(x + eps)`` (BC-ResNet), ``10 log10(max(x, eps))`` (librosa's dB) or ``x`` unchanged.

    Args:
        x: energies ``(batch, ...)``, e.g. ``(batch, freq, frames)``.
        log: ``"log"``, ``"db"`` or ``None`` (no compression).
        eps: added inside the natural log; the floor under the dB (librosa's ``amin``).
        top_db: ``log="db"`` only: raise every value to at least its clip's maximum minus
            ``top_db``, as ``librosa.power_to_db(x, top_db=top_db)`` does for one clip
            (librosa takes the maximum over all it is given, here each clip has its own).
            Default ``None``: no such floor.

    Returns:
        A tensor shaped like ``x``.
    """
    if log == "log":
        return torch.log(x + eps)
    if log == "db":
        db = 10.0 * torch.log10(x.clamp(min=eps))
        if top_db is None:
            return db
        peak = db.amax(dim=tuple(range(1, db.dim())), keepdim=True)  # (batch, 1, ...)
        return torch.maximum(db, peak - top_db)
    return x


# --- Mel scale and filterbanks ------------------------------------------------------------------


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


def check_band(
    sample_rate: int, n_fft: int, n_filters: int, f_min: float, f_max: float | None
) -> float:
    """Reject a filterbank's settings out of range, each error naming ``frontend.<argument>``,
    and give its top edge.

    Args:
        sample_rate: in Hz, a whole number in ``[MIN_SAMPLE_RATE, MAX_SAMPLE_RATE]``.
        n_fft: the FFT's frame length (checked already): the filters are sampled on its
            ``n_fft // 2 + 1`` bins.
        n_filters: ``n_mels``, a whole number in ``[1, n_fft // 2 + 1]``: more filters than the
            bins they are sampled on cannot all differ.
        f_min: the lowest edge in Hz, ``0 <= f_min < f_max``.
        f_max: the highest edge in Hz, at most ``sample_rate / 2``; ``None`` means that.

    Returns:
        ``f_max``, ``sample_rate / 2`` where it was ``None``.

    Raises:
        ValueError: a setting out of range, named as its config key.
    """
    check_number(KEY + "sample_rate", sample_rate, MIN_SAMPLE_RATE, MAX_SAMPLE_RATE, integer=True)
    check_number(KEY + "n_mels", n_filters, 1, n_fft // 2 + 1, integer=True)
    nyquist = sample_rate / 2
    f_max = nyquist if f_max is None else f_max
    for name, value in (("f_min", f_min), ("f_max", f_max)):
        check_number(KEY + name, value, -math.inf, math.inf)
    for name, fits in (("f_min", 0 <= f_min < nyquist), ("f_max", f_min < f_max <= nyquist)):
        if not fits:
            raise ValueError(
                f"{KEY}{name} must satisfy 0 <= f_min < f_max <= sample_rate / 2 = {nyquist:g}, "
                f"got f_min={f_min!r}, f_max={f_max!r}"
            )
    return f_max


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
        ValueError: a setting out of range (``check_band``), named as ``frontend.<argument>``.
    """
    if scale not in ("htk", "slaney", "linear"):
        raise ValueError(f"{KEY}mel_scale must be 'htk' or 'slaney' (or 'linear'), got {scale!r}")
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


# --- DCT and drift ------------------------------------------------------------------------------


def dct_matrix(n_out: int, n_in: int) -> torch.Tensor:
    """Orthonormal DCT-II, the transform of ``scipy.fft.dct(norm="ortho")``, in float64.

    Args:
        n_out: coefficients kept (the first ``n_out``).
        n_in: length of the transformed axis.

    Returns:
        ``(n_out, n_in)``.
    """
    k = torch.arange(n_out, dtype=torch.float64)[:, None]
    n = torch.arange(n_in, dtype=torch.float64)[None, :]
    basis = torch.cos(math.pi / n_in * (n + 0.5) * k) * math.sqrt(2.0 / n_in)
    basis[0] /= math.sqrt(2.0)
    return basis


def relative_change(current: torch.Tensor, initial: torch.Tensor) -> torch.Tensor:
    """``||current - initial|| / ||initial||`` (Frobenius): how far a basis has drifted.

    Args:
        current: the basis now, any shape.
        initial: the basis it started from, the same shape.

    Returns:
        A scalar tensor, computed without gradient.
    """
    with torch.no_grad():
        return (current - initial).norm() / initial.norm()
