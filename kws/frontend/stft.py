"""The ``STFT`` layer: a short-time Fourier transform as one conv1d with trainable kernels.

The kernels are the rows of a windowed DFT matrix, real and imaginary parts stacked into one
conv1d weight, so one convolution computes the whole spectrogram and back-propagation can reach
the basis itself (the nnAudio idea). While the kernels still hold that analytic basis the same
numbers come from an FFT, which is faster because it does O(N log N) work per frame instead of
O(N^2); once they hold anything else (trained, or loaded from a trained layer) only the
convolution computes with them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from kws.frontend.functional import (
    KEY,
    PAD_MODE_ALIASES,
    PAD_MODES,
    SQRT_EPS,
    LogMode,
    PadMode,
    check_framing,
    check_log_mode,
    compress,
    fourier_kernels,
    make_window,
    pad_both_ends,
    relative_change,
    stacked_power,
)
from kws.frontend.protocol import STFT_KERNEL_CHANGE
from kws.registry import register

Output = Literal["power", "magnitude", "complex"]
Implementation = Literal["auto", "fft", "conv"]


@contextmanager
def _float32_convolutions(x: torch.Tensor) -> Iterator[None]:
    """cuDNN convolutions in IEEE float32 while the block runs, for CUDA input outside tracing.

    torch lets cuDNN run float32 convolutions in TF32 by default, whose 10-bit mantissa moves a
    quiet bin of the power spectrum by several percent (a DFT is a sum with cancellation); the
    FFT path and the CPU compute in float32 throughout.
    """
    cudnn = torch.backends.cudnn
    if not x.is_cuda or torch.compiler.is_compiling() or torch.jit.is_tracing():
        yield
        return
    with cudnn.flags(
        enabled=cudnn.enabled, benchmark=cudnn.benchmark, benchmark_limit=cudnn.benchmark_limit,
        deterministic=cudnn.deterministic, allow_tf32=False,
    ):  # fmt: skip
        yield


@register("frontend")
class STFT(nn.Module):
    """Spectrogram of ``(batch, samples)`` or ``(samples,)`` audio as ``(batch, freq, frames)``.

    ``freq`` is ``n_fft // 2 + 1`` and ``frames`` is ``num_frames(samples)``. The kernels are a
    ``nn.Parameter`` when ``trainable``, else a buffer; either way they are what the layer
    computes with, so a state dict from a trained layer means the same in a frozen one. The
    initial kernels are kept as the buffer ``initial_kernels`` so drift can be measured later.

    Args:
        n_fft: frame length in samples, in ``[1, MAX_N_FFT]`` (8192). Default 512.
        win_length: window length, at most ``n_fft``, centred in the frame; ``None`` means
            ``n_fft``. Default ``None``.
        hop_length: samples between frames, in ``[1, win_length]``; ``None`` means
            ``n_fft // 4`` (as librosa). Default 160.
        window: ``"hann"``, ``"hamming"``, ``"blackman"`` or ``"rectangular"``. Default
            ``"hann"``.
        center: pad ``n_fft // 2`` samples at both ends so frame ``t`` is centred on sample
            ``t * hop_length``; without it a clip needs at least ``n_fft`` samples. Default True.
        pad_mode: how ``center`` pads, as ``np.pad``/librosa would, for clips of any length:
            ``"reflect"``, ``"constant"`` (zeros), ``"replicate"`` (or librosa's ``"edge"``),
            ``"circular"`` (or ``"wrap"``). Default ``"reflect"``.
        output: ``"power"`` (``|X|^2``), ``"magnitude"`` (``|X|``) or ``"complex"``. Default
            ``"power"``.
        trainable: make the Fourier kernels an ``nn.Parameter``. Default False.
        implementation: ``"conv"`` always convolves with the kernels; ``"fft"`` always uses the
            FFT and refuses in ``forward`` once the kernels differ from the analytic basis;
            ``"auto"`` (default) uses the FFT exactly when that gives the same numbers, i.e. the
            kernels still hold the analytic basis and no gradient must reach them.
        log: compress power or magnitude as ``compress`` does: ``"log"``, ``"db"`` or ``None``
            (default).
        log_eps: ``compress``'s ``eps``, in ``(0, 1]`` whatever ``log`` is. Default 1e-6.

    Raises:
        ValueError: a setting out of range, named as its config key (``frontend.n_fft``, ...).
    """

    def __init__(
        self,
        n_fft: int = 512,
        win_length: int | None = None,
        hop_length: int | None = 160,
        window: str = "hann",
        center: bool = True,
        pad_mode: PadMode = "reflect",
        output: Output = "power",
        trainable: bool = False,
        implementation: Implementation = "auto",
        log: LogMode = None,
        log_eps: float = 1e-6,
    ) -> None:
        super().__init__()
        win_length, hop = check_framing(n_fft, win_length, hop_length)
        pad_mode = PAD_MODE_ALIASES.get(pad_mode, pad_mode)
        if pad_mode not in PAD_MODES:
            raise ValueError(
                f"{KEY}pad_mode must be one of {PAD_MODES} or librosa's "
                f"{tuple(PAD_MODE_ALIASES)}, got {pad_mode!r}"
            )
        if output not in ("power", "magnitude", "complex"):
            raise ValueError(
                f"{KEY}output must be 'power', 'magnitude' or 'complex', got {output!r}"
            )
        if implementation not in ("auto", "fft", "conv"):
            raise ValueError(
                f"{KEY}implementation must be 'auto', 'fft' or 'conv', got {implementation!r}"
            )
        if log is not None and output == "complex":
            raise ValueError(f"{KEY}log={log!r} needs output='power' or 'magnitude'")
        check_log_mode(log, log_eps)
        if implementation == "fft" and trainable:
            raise ValueError(
                f"{KEY}implementation='fft' cannot train the kernels; use 'conv' or 'auto'"
            )
        self.n_fft = n_fft
        self.win_length = win_length
        self.hop_length = hop
        self.center = center
        self.pad_mode = pad_mode
        self.output = output
        self.log = log
        self.log_eps = log_eps
        self.trainable = trainable
        self.implementation = implementation
        self.n_freqs = n_fft // 2 + 1

        window_taps = make_window(window, win_length)
        kernels = fourier_kernels(n_fft, window_taps).float()
        self.window_offset = (n_fft - win_length) // 2  # the window sits centred in the frame
        fft_window = F.pad(
            window_taps.float(), (self.window_offset, n_fft - win_length - self.window_offset)
        )
        self.register_buffer("fft_window", fft_window, persistent=False)
        # What the FFT path computes with, in the kernels' form: not state (the analytic basis
        # of these settings), unlike initial_kernels, which a loaded state dict may overwrite.
        self.register_buffer("fourier_basis", kernels.clone(), persistent=False)
        self.register_buffer("initial_kernels", kernels.clone())
        if trainable:
            self.kernels = nn.Parameter(kernels)
        else:
            self.register_buffer("kernels", kernels)
        # The kernels as last compared with the analytic basis, and whether they held it (see
        # holds_fourier_basis): now they are that basis.
        self._checked_kernels = self._kernels_key()
        self._kernels_are_fourier = True

    def num_frames(self, num_samples: int) -> int:
        """Frames produced for a clip of ``num_samples`` samples.

        Args:
            num_samples: the clip's length; at least 1, or at least ``n_fft`` with
                ``center=False``, else a ValueError says so.
        """
        if self.center:
            if num_samples < 1:
                raise ValueError(f"a clip needs at least 1 sample, got {num_samples}")
            num_samples += 2 * (self.n_fft // 2)
        elif num_samples < self.n_fft:
            raise ValueError(
                f"with center=False a clip needs at least n_fft={self.n_fft} samples for one "
                f"frame, got {num_samples}: pad it or use center=True"
            )
        return 1 + (num_samples - self.n_fft) // self.hop_length

    def holds_fourier_basis(self) -> bool:
        """Whether the kernels equal the analytic windowed Fourier basis ``fourier_basis``,
        the condition under which the FFT computes what the convolution computes.

        The comparison runs again only after the kernels change: every in-place write to them
        (``load_state_dict``, an optimiser step, ``kernels.mul_``) advances their version
        counter, and moving them gives new storage, so an unchanged layer pays a tuple
        comparison per call. (Writes through ``kernels.data`` bypass the version counter, as
        they bypass autograd's checks; kernels made under ``torch.inference_mode`` keep no
        version and are compared on every call.)
        """
        key = self._kernels_key()
        if key[-1] is None or key != self._checked_kernels:
            basis = self.fourier_basis.to(self.kernels)
            self._kernels_are_fourier = torch.equal(self.kernels, basis)
            self._checked_kernels = key
        return self._kernels_are_fourier

    def _kernels_key(self) -> tuple[int, torch.device, int | None]:
        """The kernels' storage, device and version (``None`` for an inference tensor)."""
        kernels = self.kernels
        version = None if kernels.is_inference() else kernels._version
        return kernels.data_ptr(), kernels.device, version

    @property
    def use_fft(self) -> bool:
        """Whether ``forward`` takes the FFT path now (see ``implementation``); a RuntimeError
        for ``implementation="fft"`` once the kernels differ from the analytic basis."""
        if self.implementation == "conv":
            return False
        if torch.compiler.is_exporting():
            # torch.export traces with fake kernels, which hold no values to compare: "fft" is
            # taken as set (its setter checked the kernels, as kws.export.inference_frontend
            # does) and "auto" convolves, which is right whatever the kernels hold.
            return self.implementation == "fft"
        if self.implementation == "auto" and self.kernels.requires_grad and torch.is_grad_enabled():
            return False  # only the convolution passes gradients to the kernels
        if self.holds_fourier_basis():
            return True
        if self.implementation == "fft":
            raise RuntimeError(
                "implementation='fft' computes with the analytic Fourier basis, but this "
                "layer's kernels hold other values (trained or loaded): use 'auto' or 'conv'"
            )
        return False

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        """The spectrogram of each clip.

        Args:
            waveform: ``(batch, samples)`` or ``(samples,)``; ``batch`` may be 0.

        Returns:
            ``(batch, n_fft // 2 + 1, frames)``: float32, or complex64 for ``"complex"``.
        """
        if waveform.dim() == 1:
            waveform = waveform.unsqueeze(0)
        if waveform.dim() != 2:
            raise ValueError(
                f"expected (batch, samples) or (samples,), got {tuple(waveform.shape)}"
            )
        batch, samples = waveform.shape
        frames = self.num_frames(samples)
        with torch.autocast(device_type=waveform.device.type, enabled=False):
            x = waveform.float()
            if batch == 0:  # nothing to transform (and the FFT libraries refuse empty input)
                dtype = torch.complex64 if self.output == "complex" else torch.float32
                return x.new_zeros((0, self.n_freqs, frames), dtype=dtype)
            if self.center:
                x = pad_both_ends(x, self.n_fft // 2, self.pad_mode)  # (batch, padded samples)
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
        frames = self._frames(x) * self.fft_window  # (batch, frames, n_fft)
        spectrum = torch.fft.rfft(frames, dim=-1)  # (batch, frames, freq)
        if self.output != "complex":
            spectrum = spectrum.real.square() + spectrum.imag.square()
        return spectrum.transpose(1, 2)  # (batch, freq, frames)

    def _frames(self, x: torch.Tensor) -> torch.Tensor:
        """The ``(batch, frames, n_fft)`` frames of padded audio ``(batch, samples)``.

        Eagerly a view (``unfold``). While ``torch.export`` traces, the frames are cut from
        ``hop_length``-long chunks instead, ``ceil(n_fft / hop_length)`` slices side by side:
        ``unfold`` would export as a ``Gather`` storing ``frames x n_fft`` int64 indices
        (413 KB at BC-ResNet's settings), more than all the rest of a small spotter.
        """
        if not torch.compiler.is_exporting():
            return x.unfold(-1, self.n_fft, self.hop_length)
        frames = 1 + (x.shape[-1] - self.n_fft) // self.hop_length
        pieces = -(-self.n_fft // self.hop_length)  # chunks a frame spans
        chunks = frames + pieces - 1
        span = chunks * self.hop_length  # padded or cut to this: past the last frame is unread
        if x.shape[-1] < span:
            x = F.pad(x, (0, span - x.shape[-1]))
        x = x[:, :span].reshape(x.shape[0], chunks, self.hop_length)
        frames_by_chunks = torch.cat([x[:, i : i + frames] for i in range(pieces)], dim=-1)
        return frames_by_chunks[..., : self.n_fft]

    def _conv(self, x: torch.Tensor) -> torch.Tensor:
        """Complex spectrum or power of padded audio, as one convolution with the kernels."""
        # Kernels span only the window: skip the zero taps around it in each n_fft frame.
        frames = 1 + (x.shape[-1] - self.n_fft) // self.hop_length
        start = self.window_offset
        x = x[:, None, start : start + (frames - 1) * self.hop_length + self.win_length]
        with _float32_convolutions(x):
            spectrum = F.conv1d(x, self.kernels.unsqueeze(1), stride=self.hop_length)
        # (batch, 2 * freq, frames): real parts, then imaginary parts
        if self.output == "complex":
            return torch.complex(spectrum[:, : self.n_freqs], spectrum[:, self.n_freqs :])
        return stacked_power(spectrum)  # (batch, freq, frames)

    def prepare_export(self) -> None:
        """Set a frozen copy up to be exported: the FFT (``implementation="fft"``, an ONNX
        ``DFT`` with no kernels stored) while the kernels hold the analytic Fourier basis, else
        their convolution (``"conv"``, the trained kernels stored as ``Conv`` weights)."""
        self.implementation = "fft" if self.holds_fourier_basis() else "conv"

    def frame_stft(self) -> STFT:
        """Itself: each frame is computed from its own samples."""
        return self

    def drift(self) -> dict[str, torch.Tensor]:
        """Relative Frobenius change of the Fourier kernels from their initial values."""
        return {STFT_KERNEL_CHANGE: relative_change(self.kernels, self.initial_kernels)}

    def trainable_parts(self) -> dict[str, bool]:
        """Whether the Fourier kernels train, keyed like ``drift()``."""
        return {STFT_KERNEL_CHANGE: self.trainable}

    def extra_repr(self) -> str:
        return (
            f"n_fft={self.n_fft}, win_length={self.win_length}, hop_length={self.hop_length}, "
            f"center={self.center}, output={self.output!r}, trainable={self.trainable}, "
            f"implementation={self.implementation!r}"
        )
