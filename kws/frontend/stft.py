"""Short-time Fourier transform as a 1-D convolution with (optionally trainable) Fourier kernels.

The kernels are the rows of a windowed DFT matrix, real and imaginary parts stacked into one
conv1d weight, so one convolution computes the whole spectrogram and back-propagation can reach
the basis itself (the nnAudio idea). While the kernels are frozen the same numbers come from
``torch.stft``, which is faster because the FFT does O(N log N) work per frame instead of O(N^2).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

Output = Literal["power", "magnitude", "complex"]
Implementation = Literal["auto", "fft", "conv"]
LogMode = Literal["log", "db"] | None

#: Added under every differentiable square root, so the gradient at zero energy stays finite
#: (small enough to leave magnitudes of 1e-9 of full scale intact in float32).
SQRT_EPS = 1e-20


def relative_change(current: torch.Tensor, initial: torch.Tensor) -> torch.Tensor:
    """``||current - initial|| / ||initial||`` (Frobenius): how far a basis has drifted."""
    with torch.no_grad():
        return (current - initial).norm() / initial.norm()


def drift_summary(drift: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Each entry of a ``drift()`` as one number (per-filter ones by their mean magnitude), as
    logs, comparisons and figures report it."""
    return {name: value.abs().mean() if value.dim() else value for name, value in drift.items()}


def check_log_mode(log: LogMode) -> None:
    """Reject a log mode that ``compress`` does not know, at construction time."""
    if log not in ("log", "db", None):
        raise ValueError(f"log must be 'log', 'db' or None, got {log!r}")


def compress(x: torch.Tensor, log: LogMode, eps: float) -> torch.Tensor:
    """``log(x + eps)`` (BC-ResNet), ``10 log10(max(x, eps))`` (librosa's dB) or ``x`` unchanged."""
    if log == "log":
        return torch.log(x + eps)
    if log == "db":
        return 10.0 * torch.log10(x.clamp(min=eps))
    return x


def make_window(name: str, win_length: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """A periodic analysis window (as librosa and ``torch.stft`` use) of ``win_length`` samples."""
    windows = {
        "hann": torch.hann_window,
        "hamming": torch.hamming_window,
        "blackman": torch.blackman_window,
    }
    if name == "rectangular":
        return torch.ones(win_length, dtype=dtype)
    if name not in windows:
        raise ValueError(
            f"unknown window {name!r}; choose from {sorted([*windows, 'rectangular'])}"
        )
    return windows[name](win_length, periodic=True, dtype=dtype)


def fourier_kernels(n_fft: int, window: torch.Tensor) -> torch.Tensor:
    """Windowed DFT kernels ``(2 * (n_fft // 2 + 1), win_length)``: real parts, then imaginary.

    Kernel ``k`` at tap ``m`` is ``window[m] * exp(-2j*pi*k*(m + offset)/n_fft)`` where ``offset``
    centres the window inside the ``n_fft`` frame, exactly as ``torch.stft`` and librosa pad it;
    taps outside the window are zero and are left out, so the convolution does no wasted work.
    """
    win_length = window.numel()
    offset = (n_fft - win_length) // 2
    freqs = torch.arange(n_fft // 2 + 1, dtype=torch.float64)[:, None]
    taps = torch.arange(win_length, dtype=torch.float64)[None, :] + offset
    phase = 2 * math.pi * freqs * taps / n_fft
    return torch.cat([torch.cos(phase) * window, -torch.sin(phase) * window])


class StackedPower(torch.autograd.Function):
    """``real**2 + imag**2`` of a ``(batch, 2 * freq, frames)`` spectrum, real rows first.

    Written out because autograd's version of the same expression (slices, or a view that is
    squared and summed) zero-fills, expands and copies full-size gradient buffers; here the
    backward pass is a single broadcast product, which makes the trainable STFT measurably
    faster (see ``python -m kws.benchmark frontend``).
    """

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


class STFT(nn.Module):
    """Spectrogram of ``(batch, samples)`` or ``(samples,)`` audio as ``(batch, freq, frames)``.

    ``output="power"`` gives ``|X|^2``, ``"magnitude"`` gives ``|X|``, ``"complex"`` a complex
    tensor; ``log`` compresses power or magnitude as ``compress`` does. ``trainable=True`` makes
    the Fourier kernels an ``nn.Parameter``; the initial kernels are kept as the buffer
    ``initial_kernels`` so drift can be measured later. ``implementation`` picks the FFT (fixed
    kernels only) or the convolution; ``"auto"`` uses the FFT exactly when the kernels cannot
    have changed.
    """

    def __init__(
        self,
        n_fft: int = 512,
        win_length: int | None = None,
        hop_length: int = 160,
        window: str = "hann",
        center: bool = True,
        pad_mode: str = "reflect",
        output: Output = "power",
        trainable: bool = False,
        implementation: Implementation = "auto",
        log: LogMode = None,
        log_eps: float = 1e-6,
    ) -> None:
        super().__init__()
        win_length = n_fft if win_length is None else win_length
        if not 0 < win_length <= n_fft:
            raise ValueError(f"win_length must be in [1, n_fft={n_fft}], got {win_length}")
        if output not in ("power", "magnitude", "complex"):
            raise ValueError(f"output must be 'power', 'magnitude' or 'complex', got {output!r}")
        if implementation not in ("auto", "fft", "conv"):
            raise ValueError(f"implementation must be 'auto', 'fft' or 'conv': {implementation!r}")
        if log is not None and output == "complex":
            raise ValueError("log compression needs output='power' or 'magnitude'")
        check_log_mode(log)
        if implementation == "fft" and trainable:
            raise ValueError("implementation='fft' cannot train the kernels; use 'conv' or 'auto'")
        self.n_fft = n_fft
        self.win_length = win_length
        self.hop_length = hop_length
        self.center = center
        self.pad_mode = pad_mode
        self.output = output
        self.log = log
        self.log_eps = log_eps
        self.trainable = trainable
        self.use_fft = implementation == "fft" or (implementation == "auto" and not trainable)
        self.n_freqs = n_fft // 2 + 1

        window_taps = make_window(window, win_length)
        kernels = fourier_kernels(n_fft, window_taps).float()
        self.window_offset = (n_fft - win_length) // 2  # the window sits centred in the frame
        fft_window = F.pad(
            window_taps.float(), (self.window_offset, n_fft - win_length - self.window_offset)
        )
        self.register_buffer("fft_window", fft_window, persistent=False)
        self.register_buffer("initial_kernels", kernels.clone())
        if trainable:
            self.kernels = nn.Parameter(kernels)
        else:
            self.register_buffer("kernels", kernels)

    def num_frames(self, num_samples: int) -> int:
        """Frames produced for a clip of ``num_samples`` samples."""
        padded = num_samples + (2 * (self.n_fft // 2) if self.center else 0)
        return 1 + (padded - self.n_fft) // self.hop_length

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        # (batch, samples) or (samples,) -> (batch, freq, frames)
        if waveform.dim() == 1:
            waveform = waveform.unsqueeze(0)
        if waveform.dim() != 2:
            raise ValueError(
                f"expected (batch, samples) or (samples,), got {tuple(waveform.shape)}"
            )
        with torch.autocast(device_type=waveform.device.type, enabled=False):
            x = waveform.float()
            if self.center:
                half = self.n_fft // 2
                x = F.pad(x, (half, half), mode=self.pad_mode)  # (batch, padded samples)
            spectrum = self._fft(x) if self.use_fft else self._conv(x)
            if self.output == "complex":
                return spectrum
            if self.output == "magnitude":
                spectrum = (spectrum + SQRT_EPS).sqrt()
            return compress(spectrum, self.log, self.log_eps)

    def _fft(self, x: torch.Tensor) -> torch.Tensor:
        """Complex spectrum or power of padded audio, computed as ``torch.stft`` would.

        The result is a (batch, freq, frames) view of a tensor stored frame by frame, so a Mel
        projection reading it frame by frame is one GEMM with no copy (``torch.stft`` copies).
        """
        frames = x.unfold(-1, self.n_fft, self.hop_length) * self.fft_window  # (B, T, n_fft)
        spectrum = torch.fft.rfft(frames, dim=-1)  # (batch, frames, freq)
        if self.output != "complex":
            spectrum = spectrum.real.square() + spectrum.imag.square()
        return spectrum.transpose(1, 2)  # (batch, freq, frames)

    def _conv(self, x: torch.Tensor) -> torch.Tensor:
        """Complex spectrum or power of padded audio, as one convolution with the kernels."""
        # Kernels span only the window: skip the zero taps around it in each n_fft frame.
        frames = 1 + (x.shape[-1] - self.n_fft) // self.hop_length
        start = self.window_offset
        x = x[:, None, start : start + (frames - 1) * self.hop_length + self.win_length]
        spectrum = F.conv1d(x, self.kernels.unsqueeze(1), stride=self.hop_length)
        # (batch, 2 * freq, frames): real parts, then imaginary parts
        if self.output == "complex":
            return torch.complex(spectrum[:, : self.n_freqs], spectrum[:, self.n_freqs :])
        return StackedPower.apply(spectrum)  # (batch, freq, frames)

    def drift(self) -> dict[str, torch.Tensor]:
        """Relative Frobenius change of the Fourier kernels from their initial values."""
        return {"stft_kernel_change": relative_change(self.kernels, self.initial_kernels)}

    def extra_repr(self) -> str:
        path = "fft" if self.use_fft else "conv"
        return (
            f"n_fft={self.n_fft}, win_length={self.win_length}, hop_length={self.hop_length}, "
            f"center={self.center}, output={self.output!r}, trainable={self.trainable}, "
            f"path={path!r}"
        )
