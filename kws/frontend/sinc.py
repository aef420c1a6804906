"""``SincFilterbank``: SincNet's band-pass filters, learned low and high cut-offs per filter,
applied to the waveform through the STFT as band energies.

Filter ``k`` is SincNet's windowed ideal band-pass between ``f1`` and ``f2`` (cycles per
sample ``f / sample_rate``)::

    h_k[n] = (2 f2 sinc(2 f2 n) - 2 f1 sinc(2 f1 n)) * hamming[n],   |n| <= (kernel_size - 1) / 2

gain 1 in its pass band. Its taps are built from the two cut-offs on every call and its exact
frequency response ``H_k(f) = sum_n h_k[n] cos(2 pi f n)`` (real: the filter is symmetric) is
taken on the FFT bins by one small matrix product; the layer outputs
``sum_f |H_k(f)|^2 |X_t(f)|^2`` over the bins of the power spectrogram ``|X_t(f)|^2`` of the
(Hann-)windowed frame ``t``. By Parseval that is, up to the factor ``n_fft / 2``, the energy of
the windowed frame filtered by ``h_k`` (circularly, within the ``n_fft`` frame), i.e. of
SincNet's filtered waveform pooled with the squared window; the two differ in that windowing
and filtering are swapped, which is exact for a filter much shorter than the window and
otherwise smooths each band's energy over up to ``kernel_size`` more samples (a test bounds the
difference against the time-domain filter on speech-like audio). No stride-1 convolution of
``n_mels`` long filters ever runs, which is what makes the layer about as fast as a Mel one.

Cut-offs are kept valid as SincNet keeps them: ``f1 = min_low_hz + u |low|``,
``f2 = min(f1 + min_band_hz + u |band|, sample_rate / 2)`` (``f1`` itself capped at
``sample_rate / 2 - min_band_hz``), so ``0 < f1 < f2 <= sample_rate / 2`` whatever the training.
The trainable ``low`` and ``band`` are in units ``u`` of the mean filter spacing,
``(f_max - f_min) / (n_mels + 1)`` Hz: a step of 1 moves a cut-off by about one filter, as a
unit step of ``TriangularFilterbank``'s logits does, so one learning rate suits both (SincNet
keeps Hz, where plain SGD's steps would be thousands of times larger).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from kws.frontend.functional import KEY, PadMode, fft_frequencies
from kws.frontend.pcen import Compression, make_compression
from kws.frontend.protocol import FilterbankFrontend, mel_points
from kws.frontend.stft import STFT
from kws.registry import register
from kws_runtime.checks import check_number


@register("frontend")
class SincFilterbank(FilterbankFrontend):
    """Waveform ``(batch, samples)`` to compressed Sinc band energies ``(batch, n_mels, frames)``.

    Each filter starts on a Mel triangle: its band is the triangle's half-power width (from
    halfway up its rising side to halfway down its falling side), so the bands start adjacent
    and centred on the Mel centres (SincNet starts from adjacent mel-spaced bands too); a low
    cut-off or band under its minimum starts 1 Hz above it (the lowest filters overlap). The
    two trainable parameters per filter are in mean filter spacings (module docstring).

    Args:
        sample_rate: in Hz, a whole number in [1000, 384000]. Default 16000.
        n_fft: STFT frame length, in [1, 8192]. Default 512.
        win_length: STFT window length, at most ``n_fft``; ``None`` means ``n_fft``.
            Default 480.
        hop_length: samples between frames, at most ``win_length``; ``None`` means
            ``n_fft // 4``. Default 160.
        n_mels: number of band-pass filters, in ``[1, n_fft // 2 + 1]``: their responses are
            taken on the FFT's bins, so more filters than bins could not all differ. Default 40.
        f_min: lowest initial edge in Hz (of the Mel triangles the bands start from),
            ``0 <= f_min < f_max``. Default 0.
        f_max: highest initial edge in Hz, at most ``sample_rate / 2``; ``None`` (default)
            means ``sample_rate / 2``.
        kernel_size: taps of each filter, odd, in ``[1, n_fft]``: the band energies are those of
            the frame filtered circularly within ``n_fft`` samples, where a longer filter would
            wrap onto itself. Default 251 (SincNet's at 16 kHz).
        min_low_hz: the lowest low cut-off, in ``[0, sample_rate / 2)``. Default 50 (SincNet's).
        min_band_hz: the narrowest band, in ``(0, sample_rate / 2)``, with ``min_low_hz +
            min_band_hz < sample_rate / 2``. Default 50 (SincNet's).
        window: STFT window name. Default ``"hann"``.
        center: STFT centre padding. Default True.
        pad_mode: how ``center`` pads (see ``STFT``). Default ``"reflect"``.
        compression: ``"log"`` (default, ``log(x + log_eps)``) or ``"pcen"`` (trainable
            ``PCEN``).
        log_eps: added inside the log, in ``(0, 1]`` (checked with ``"pcen"`` too).
            Default 1e-6.

    Raises:
        ValueError: a setting out of range, named as its config key (``frontend.kernel_size``,
            ...).
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
        kernel_size: int = 251,
        min_low_hz: float = 50.0,
        min_band_hz: float = 50.0,
        window: str = "hann",
        center: bool = True,
        pad_mode: PadMode = "reflect",
        compression: Compression = "log",
        log_eps: float = 1e-6,
    ) -> None:
        stft = STFT(n_fft, win_length, hop_length, window, center, pad_mode, output="power")
        points = mel_points(sample_rate, n_fft, n_mels, f_min, f_max)
        check_number(KEY + "kernel_size", kernel_size, 1, n_fft, integer=True)
        if kernel_size % 2 == 0:
            raise ValueError(
                f"{KEY}kernel_size must be odd (a symmetric filter), got {kernel_size}"
            )
        nyquist = sample_rate / 2
        check_number(KEY + "min_low_hz", min_low_hz, 0.0, nyquist, high_open=True)
        check_number(KEY + "min_band_hz", min_band_hz, 0.0, nyquist, low_open=True, high_open=True)
        if not min_low_hz + min_band_hz < nyquist:
            raise ValueError(
                f"{KEY}min_low_hz + {KEY}min_band_hz must be below sample_rate / 2 = "
                f"{nyquist:g}, got {min_low_hz} + {min_band_hz}"
            )
        compressor = make_compression(compression, n_mels, log_eps)
        super().__init__(stft, compressor, fft_frequencies(sample_rate, n_fft))
        self.sample_rate = sample_rate
        self.n_mels = n_mels
        self.kernel_size = kernel_size
        self.min_low = min_low_hz / sample_rate
        self.min_band = min_band_hz / sample_rate
        # the parameters' unit, the mean filter spacing, in cycles per sample
        self.unit = float(points[-1] - points[0]) / (n_mels + 1) / sample_rate
        half = kernel_size // 2
        # The taps n = 0..half (the filter is symmetric) and their weights in the response.
        taps = torch.arange(half + 1, dtype=torch.float64)
        window_taps = torch.hamming_window(kernel_size, periodic=False, dtype=torch.float64)
        self.register_buffer("taps", taps, persistent=False)
        self.register_buffer("tap_window", window_taps[half:], persistent=False)
        self.register_buffer("tap_weights", torch.where(taps == 0, 1.0, 2.0), persistent=False)
        # Half-power points of the Mel triangles: halfway along each side.
        low = (points[:-2] + points[1:-1]) / 2 / sample_rate
        high = (points[1:-1] + points[2:]) / 2 / sample_rate
        # At least 1 Hz above each minimum: |x| has no gradient at exactly 0.
        floor = 1.0 / sample_rate
        low_above = (low - self.min_low).clamp(min=floor) / self.unit
        self.low = nn.Parameter(low_above.float())
        low_cut = self.min_low + low_above * self.unit
        band_above = (high - low_cut - self.min_band).clamp(min=floor)
        self.band = nn.Parameter((band_above / self.unit).float())
        self.remember_initial()

    def cutoffs(self) -> torch.Tensor:
        """Each filter's low and high cut-off in cycles per sample, float64 ``(2, n_mels)``:
        ``0 < low < high <= 0.5``."""
        low = self.min_low + self.unit * self.low.double().abs()
        low = low.clamp(max=0.5 - self.min_band)
        high = (low + self.min_band + self.unit * self.band.double().abs()).clamp(max=0.5)
        return torch.stack([low, high])

    def centres(self) -> torch.Tensor:
        """Each band's centre, the mean of its cut-offs, in Hz ``(n_mels,)``."""
        return self.cutoffs().mean(dim=0) * self.sample_rate

    def kernels(self) -> torch.Tensor:
        """Each filter's taps ``h_k[n]`` for ``n = 0 .. kernel_size // 2`` (``h_k[-n]`` is the
        same), float64 ``(n_mels, kernel_size // 2 + 1)``."""
        low, high = self.cutoffs()[..., None]
        n = self.taps
        band_pass = 2 * high * torch.sinc(2 * high * n) - 2 * low * torch.sinc(2 * low * n)
        return band_pass * self.tap_window

    def response(self, freqs: torch.Tensor) -> torch.Tensor:
        """Each filter's power response ``|H_k(f)|^2`` at ``freqs`` (Hz, ``(n,)``):
        ``(n_mels, n)`` in float64, exact for the windowed taps."""
        cycles = freqs.double()[None, :] / self.sample_rate
        cosines = torch.cos(2 * math.pi * self.taps[:, None] * cycles)
        gains = (self.kernels() * self.tap_weights) @ cosines
        return gains.square()
