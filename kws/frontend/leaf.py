"""``LEAF``: a Gabor filterbank with learnable centres and bandwidths, Gaussian lowpass pooling
and per-channel PCEN (the design of Zeghidour et al., 2021), computed through one FFT.

LEAF filters the waveform with ``n_mels`` complex Gabor filters at stride 1, takes each output's
squared magnitude, pools it with a Gaussian lowpass filter and decimates to the hop, then
compresses with PCEN. Done literally that is a stride-1 convolution with 40 long complex
filters, hundreds of times a Mel frontend's cost. Here the same quantities come from one FFT
per frame: the frame is windowed by the square root of the Gaussian pooling window, and each
filter's energy is the power spectrum weighted by the filter's power response, which for a
Gabor filter is a closed-form Gaussian::

    |Psi_k(f)|^2 = exp(-4 ln 2 (f - c_k)^2 / b_k^2)      (peak 1 at c_k, half-power width b_k)

the response of ``psi_k[n] = exp(-n^2 / (2 s_k^2)) exp(2j pi c_k n / sr) / (sqrt(2 pi) s_k)``
with ``s_k = sr sqrt(ln 2) / (pi b_k)``. What is exact and what is not: by Parseval the layer
gives, up to the factor ``n_fft``, the energy of the Gaussian-windowed frame filtered by
``psi_k`` (circularly in the ``n_fft`` frame), where LEAF pools the filtered waveform with the
squared window: the two agree for white noise on average and differ by how windowing and
filtering are swapped, little for filters shorter than the window (high, wide filters), more for
the long low ones (a test bounds the difference on speech-like audio); the Gaussian's tails
below 0 Hz and above ``sample_rate / 2`` are dropped. Two choices differ from LEAF: the pooling
window is one fixed Gaussian shared by all channels (LEAF learns a width per channel; here the
pooling is the FFT's window, and learning it would add a second FFT per step), and filters are
parametrised by centre and half-power bandwidth in units of the mean filter spacing,
``(f_max - f_min) / (n_mels + 1)`` Hz (LEAF uses radians per sample: a unit step here moves a
filter by about one filter, as for the other parametric filterbanks, so one learning rate suits
all), used clamped to ``[0, sample_rate / 2]`` and ``[sample_rate / n_fft, sample_rate / 2]``
(LEAF clamps too).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from kws.frontend.functional import KEY, check_framing, fft_frequencies, pad_both_ends
from kws.frontend.pcen import Compression, make_compression
from kws.frontend.protocol import FilterbankFrontend, mel_points
from kws.registry import register
from kws_runtime.checks import check_number

#: The widest Gaussian pooling window, as a fraction of half its support: wider, it is all but
#: flat over the support (LEAF keeps its learnt widths at most 0.5).
MAX_POOLING_WIDTH = 1.0


class GaussianPooling(nn.Module):
    """Power spectrogram ``(batch, n_fft // 2 + 1, frames)`` of frames windowed by the square
    root of a Gaussian pooling window, so that each bin's power is pooled by the window itself.

    Frame ``t`` is centred on sample ``t * hop_length`` (reflect padding of ``n_fft // 2`` at
    both ends, as ``STFT(center=True)``); the pooling window is LEAF's,
    ``exp(-(m / (pooling_width * (win_length - 1) / 2))^2 / 2)`` for ``|m| <= (win_length - 1) / 2``
    samples ``m`` from the frame's centre, zero beyond.

    Args:
        n_fft: frame length, in ``[2, MAX_N_FFT]`` (8192). Default 512.
        win_length: the pooling window's support, in ``[2, n_fft]``. Default 401 (LEAF's).
        hop_length: samples between frames, in ``[1, win_length]``. Default 160.
        pooling_width: the Gaussian's standard deviation as a fraction of half the support, in
            ``(0, MAX_POOLING_WIDTH]``. Default 0.4 (LEAF's initial value).

    Raises:
        ValueError: a setting out of range, named as its config key (``frontend.n_fft``, ...).
    """

    def __init__(
        self,
        n_fft: int = 512,
        win_length: int = 401,
        hop_length: int = 160,
        pooling_width: float = 0.4,
    ) -> None:
        super().__init__()
        check_framing(n_fft, win_length, hop_length, least=2)
        check_number(KEY + "pooling_width", pooling_width, 0.0, MAX_POOLING_WIDTH, low_open=True)
        self.n_fft = n_fft
        self.hop_length = hop_length
        offsets = torch.arange(n_fft, dtype=torch.float64) - n_fft // 2
        half = (win_length - 1) / 2
        pooling = torch.exp(-0.5 * (offsets / (pooling_width * half)) ** 2)
        window = torch.where(offsets.abs() <= half, pooling.sqrt(), 0.0)
        self.register_buffer("window", window.float(), persistent=False)

    def num_frames(self, num_samples: int) -> int:
        """Frames produced for a clip of ``num_samples >= 1`` samples."""
        return 1 + (num_samples + 2 * (self.n_fft // 2) - self.n_fft) // self.hop_length

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        """The pooled power spectrogram of each clip.

        Args:
            waveform: ``(batch, samples)`` or ``(samples,)``, ``samples >= 1``; ``batch`` may
                be 0.

        Returns:
            ``(batch, n_fft // 2 + 1, frames)`` in float32.
        """
        if waveform.dim() == 1:
            waveform = waveform.unsqueeze(0)
        if waveform.dim() != 2 or waveform.shape[1] < 1:
            raise ValueError(f"expected (batch, samples >= 1), got {tuple(waveform.shape)}")
        batch, samples = waveform.shape
        with torch.autocast(device_type=waveform.device.type, enabled=False):
            x = waveform.float()
            if batch == 0:  # the FFT libraries refuse empty input
                return x.new_zeros((0, self.n_fft // 2 + 1, self.num_frames(samples)))
            x = pad_both_ends(x, self.n_fft // 2, "reflect")
            frames = x.unfold(-1, self.n_fft, self.hop_length) * self.window  # (B, T, n_fft)
            spectrum = torch.fft.rfft(frames, dim=-1)  # (batch, frames, freq)
            return (spectrum.real.square() + spectrum.imag.square()).transpose(1, 2)


@register("frontend")
class LEAF(FilterbankFrontend):
    """Waveform ``(batch, samples)`` to LEAF features ``(batch, n_mels, frames)``: Gabor filter
    energies, Gaussian-pooled, PCEN-compressed (see the module docstring for how).

    The Gabor filters start on the Mel triangles (LEAF's initialisation): centre at each
    triangle's peak, half-power bandwidth the triangle's (half its base), at least one FFT bin.
    Centres and bandwidths are trainable, in mean filter spacings; PCEN's four per-channel
    parameters too.

    Args:
        sample_rate: in Hz, a whole number in [1000, 384000]. Default 16000.
        n_fft: frame length of the FFT, in [2, 8192] (as the STFT's, whose kernels are the
            memory bound). Default 512.
        win_length: the Gaussian pooling window's support, in ``[2, n_fft]``. Default 401.
        hop_length: samples between frames, in ``[1, win_length]``. Default 160.
        n_mels: number of Gabor filters, in ``[1, n_fft // 2 + 1]``: each is at least one FFT
            bin wide and taken on the bins, so more filters than bins could not all differ.
            Default 40.
        f_min: lowest initial edge in Hz (of the Mel triangles the filters start from),
            ``0 <= f_min < f_max``. Default 0.
        f_max: highest initial edge in Hz, at most ``sample_rate / 2``; ``None`` (default)
            means ``sample_rate / 2``.
        pooling_width: the Gaussian pooling window's standard deviation as a fraction of half
            ``win_length``, in (0, 1]; fixed. Default 0.4 (LEAF's initial value).
        compression: ``"pcen"`` (default, LEAF's) or ``"log"`` (``log(x + log_eps)``).
        log_eps: added inside the log with ``compression="log"``, in ``(0, 1]`` (checked with
            ``"pcen"`` too). Default 1e-6.

    Raises:
        ValueError: a setting out of range, named as its config key (``frontend.n_fft``, ...).
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        n_fft: int = 512,
        win_length: int = 401,
        hop_length: int = 160,
        n_mels: int = 40,
        f_min: float = 0.0,
        f_max: float | None = None,
        pooling_width: float = 0.4,
        compression: Compression = "pcen",
        log_eps: float = 1e-6,
    ) -> None:
        pooling = GaussianPooling(n_fft, win_length, hop_length, pooling_width)
        points = mel_points(sample_rate, n_fft, n_mels, f_min, f_max)
        super().__init__(
            pooling,
            make_compression(compression, n_mels, log_eps),
            fft_frequencies(sample_rate, n_fft),
        )
        self.sample_rate = sample_rate
        self.n_mels = n_mels
        self.min_bandwidth = sample_rate / n_fft  # one FFT bin
        self.unit = float(points[-1] - points[0]) / (n_mels + 1)  # the parameters' unit, in Hz
        bandwidths = ((points[2:] - points[:-2]) / 2).clamp(min=self.min_bandwidth)
        self.centre = nn.Parameter((points[1:-1] / self.unit).float())
        self.bandwidth = nn.Parameter((bandwidths / self.unit).float())
        self.remember_initial()

    def centres(self) -> torch.Tensor:
        """Each filter's centre (peak of its response) in Hz ``(n_mels,)``."""
        return (self.centre * self.unit).clamp(0.0, self.sample_rate / 2)

    def bandwidths(self) -> torch.Tensor:
        """Each filter's half-power bandwidth in Hz ``(n_mels,)``."""
        return (self.bandwidth * self.unit).clamp(self.min_bandwidth, self.sample_rate / 2)

    def response(self, freqs: torch.Tensor) -> torch.Tensor:
        """Each filter's power response at ``freqs`` (Hz, ``(n,)``): ``(n_mels, n)``."""
        offsets = (freqs[None, :] - self.centres()[:, None]) / self.bandwidths()[:, None]
        return torch.exp(-4 * math.log(2) * offsets.square())
