"""The frontend settings' types, limits and range checks, each rule once.

Every error names the setting as its config key, ``frontend.<argument>`` (``KEY``); the layers
and the builders of ``kws.frontend.functional`` call these checks where a value enters.
"""

from __future__ import annotations

import math
from typing import Literal

from kws_runtime.checks import check_number

LogMode = Literal["log", "db"] | None
MelScale = Literal["htk", "slaney"]
#: How triangular filters are spaced: evenly in HTK or Slaney mels, or evenly in Hz.
FilterScale = Literal["htk", "slaney", "linear"]
#: The mel scales (``MelScale``), and with ``"linear"`` the filter spacings (``FilterScale``).
MEL_SCALES = ("htk", "slaney")
FILTER_SCALES = (*MEL_SCALES, "linear")

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

    Raises:
        ValueError: ``eps`` out of range.
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

    Raises:
        ValueError: a setting out of range, named as its config key.
    """
    if log not in ("log", "db", None):
        raise ValueError(f"{KEY}log must be 'log', 'db' or None, got {log!r}")
    check_log_eps(eps)
    if top_db is not None:
        if log != "db":
            raise ValueError(f"{KEY}top_db needs log='db', got top_db={top_db} with log={log!r}")
        check_number(KEY + "top_db", top_db, 0.0, MAX_TOP_DB)


def check_mel_scale(scale: str, linear: bool = False, advice: str = "") -> None:
    """Reject a ``mel_scale`` that is not one of ``MEL_SCALES`` (nor ``"linear"``, where that is
    taken), naming ``frontend.mel_scale``.

    Args:
        scale: the scale the filters are spaced on.
        linear: also take ``"linear"`` (filters evenly spaced in Hz). Default False.
        advice: appended to the message, e.g. where else to ask for linear spacing. Default
            ``""``.

    Raises:
        ValueError: ``scale`` is not taken.
    """
    if scale not in (FILTER_SCALES if linear else MEL_SCALES):
        alternative = " (or 'linear')" if linear else ""
        raise ValueError(
            f"{KEY}mel_scale must be 'htk' or 'slaney'{alternative}, got {scale!r}{advice}"
        )


def top_edge(sample_rate: float, f_max: float | None) -> float:
    """A filterbank's highest edge in Hz: ``f_max``, or ``sample_rate / 2`` where it is ``None``.

    Args:
        sample_rate: in Hz.
        f_max: the configured highest edge in Hz, or ``None``.
    """
    return sample_rate / 2 if f_max is None else f_max


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
        f_max: the highest edge in Hz, at most ``sample_rate / 2``; ``None`` means that
            (``top_edge``).

    Returns:
        ``f_max``, ``sample_rate / 2`` where it was ``None``.

    Raises:
        ValueError: a setting out of range, named as its config key.
    """
    check_number(KEY + "sample_rate", sample_rate, MIN_SAMPLE_RATE, MAX_SAMPLE_RATE, integer=True)
    check_number(KEY + "n_mels", n_filters, 1, n_fft // 2 + 1, integer=True)
    nyquist = sample_rate / 2
    f_max = top_edge(sample_rate, f_max)
    for name, value in (("f_min", f_min), ("f_max", f_max)):
        check_number(KEY + name, value, -math.inf, math.inf)
    for name, fits in (("f_min", 0 <= f_min < nyquist), ("f_max", f_min < f_max <= nyquist)):
        if not fits:
            raise ValueError(
                f"{KEY}{name} must satisfy 0 <= f_min < f_max <= sample_rate / 2 = {nyquist:g}, "
                f"got f_min={f_min!r}, f_max={f_max!r}"
            )
    return f_max
