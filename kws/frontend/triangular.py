"""``TriangularFilterbank``: Mel-like triangles whose centres and bandwidths train, constrained.

The FastAudio idea: instead of a free ``(n_mels, freq)`` matrix, each filter keeps the shape of
a triangle and only its centre and bandwidth train, under constraints that hold whatever the
optimiser does. Centres live on the mel scale between ``f_min`` and ``f_max``: the gaps between
successive centres (and to both ends) are a softmax of ``n_mels + 1`` logits times the mel span,
so the centres stay strictly ordered inside the band. Each filter's half-width in mels is a
sigmoid of its own logit times the span, so it is positive and finite. Filter ``i`` rises
linearly in Hz from ``mel_to_hz(m_i - w_i)`` to 1 at ``mel_to_hz(m_i)`` and falls to 0 at
``mel_to_hz(m_i + w_i)``: at initialisation (equal gaps, ``w_i`` one gap) that is exactly the
Mel triangle of ``functional.mel_filterbank``. A side narrower than one FFT bin is widened to
one bin, so no filter ever falls between the bins and goes dark. A unit step of a logit moves
a centre or a width by about one filter spacing, the unit ``SincFilterbank`` and ``LEAF``
parameters are in too, so one learning rate suits all three.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from kws.frontend.functional import MelScale, PadMode, fft_frequencies, hz_to_mel, mel_to_hz
from kws.frontend.pcen import Compression, make_compression
from kws.frontend.protocol import (
    MEL_BASIS_CHANGE,
    MEL_CENTRE_SHIFT_HZ,
    FilterbankFrontend,
    mel_points,
)
from kws.frontend.stft import STFT
from kws.registry import register


@register("frontend")
class TriangularFilterbank(FilterbankFrontend):
    """Waveform ``(batch, samples)`` to compressed triangular filterbank energies
    ``(batch, n_mels, frames)``, each triangle's centre and bandwidth trainable.

    The power spectrogram is ``STFT``'s (fixed; the FFT computes it); the triangles are built
    from their ``2 * n_mels + 1`` parameters on every call (``filterbank()``) and applied as one
    matrix product, as ``MelSpectrogram`` applies its basis. Drift is reported under the Mel
    keys (``mel_basis_change``, ``mel_centre_shift_hz``): this is a Mel basis, constrained.

    Args:
        sample_rate: in Hz, a whole number in [1000, 384000]. Default 16000.
        n_fft: STFT frame length, in [1, 8192]. Default 512.
        win_length: STFT window length, at most ``n_fft``; ``None`` means ``n_fft``.
            Default 480.
        hop_length: samples between frames, at most ``win_length``; ``None`` means
            ``n_fft // 4``. Default 160.
        n_mels: number of triangles, in ``[1, n_fft // 2 + 1]``: each side is at least one
            FFT bin wide, so more triangles than bins could not all differ. Default 40.
        f_min: the lowest centre's lower bound and the first triangle's initial left edge, in
            Hz, ``0 <= f_min < f_max``. Default 0.
        f_max: the same at the top, at most ``sample_rate / 2``; ``None`` (default) means
            ``sample_rate / 2``.
        mel_scale: the scale centres and widths live on, ``"htk"`` (default) or ``"slaney"``.
        window: STFT window name. Default ``"hann"``.
        center: STFT centre padding. Default True.
        pad_mode: how ``center`` pads (see ``STFT``). Default ``"reflect"``.
        compression: ``"log"`` (default, ``log(x + log_eps)``) or ``"pcen"`` (trainable
            ``PCEN``).
        log_eps: added inside the log, in ``(0, 1]`` (checked with ``"pcen"`` too).
            Default 1e-6.

    Raises:
        ValueError: a setting out of range, named as its config key (``frontend.n_mels``, ...).
    """

    basis_key = MEL_BASIS_CHANGE
    centre_key = MEL_CENTRE_SHIFT_HZ

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
        window: str = "hann",
        center: bool = True,
        pad_mode: PadMode = "reflect",
        compression: Compression = "log",
        log_eps: float = 1e-6,
    ) -> None:
        stft = STFT(n_fft, win_length, hop_length, window, center, pad_mode, output="power")
        points = mel_points(sample_rate, n_fft, n_mels, f_min, f_max, mel_scale)
        compressor = make_compression(compression, n_mels, log_eps)
        super().__init__(stft, compressor, fft_frequencies(sample_rate, n_fft))
        self.sample_rate = sample_rate
        self.n_mels = n_mels
        self.mel_scale = mel_scale
        self.bin_hz = sample_rate / n_fft
        low, high = hz_to_mel(points[[0, -1]], mel_scale).tolist()
        self.mel_low, self.mel_span = low, high - low
        # Equal gaps; half-widths of one gap (sigmoid(-log n) = 1 / (n + 1)).
        self.gap_logits = nn.Parameter(torch.zeros(n_mels + 1))
        self.width_logits = nn.Parameter(torch.full((n_mels,), -math.log(n_mels)))
        self.remember_initial()

    def _centres_mel(self) -> torch.Tensor:
        """Each centre in mels, strictly increasing inside the band, float64 ``(n_mels,)``."""
        gaps = torch.softmax(self.gap_logits.double(), dim=0)
        return self.mel_low + self.mel_span * torch.cumsum(gaps, dim=0)[:-1]

    def centres(self) -> torch.Tensor:
        """Each triangle's peak in Hz ``(n_mels,)``, increasing."""
        return mel_to_hz(self._centres_mel(), self.mel_scale)

    def edges(self) -> torch.Tensor:
        """Each triangle's left edge, peak and right edge in Hz, float64 ``(3, n_mels)``, the
        sides at least one FFT bin wide."""
        centres = self._centres_mel()
        half_widths = self.mel_span * torch.sigmoid(self.width_logits.double())
        left, peak, right = mel_to_hz(
            torch.stack([centres - half_widths, centres, centres + half_widths]), self.mel_scale
        )
        rise = (peak - left).clamp(min=self.bin_hz)
        fall = (right - peak).clamp(min=self.bin_hz)
        return torch.stack([peak - rise, peak, peak + fall])

    def response(self, freqs: torch.Tensor) -> torch.Tensor:
        """Each triangle's weight at ``freqs`` (Hz, ``(n,)``): ``(n_mels, n)`` in float64."""
        left, peak, right = self.edges()[..., None]
        f = freqs.double()[None, :]
        rising = (f - left) / (peak - left)
        falling = (right - f) / (right - peak)
        return torch.minimum(rising, falling).clamp(min=0.0)
