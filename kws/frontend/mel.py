"""The ``MelSpectrogram`` layer: an ``STFT`` projected onto a (trainable) mel filterbank.

The filterbank is ``functional.mel_filterbank``'s (librosa's triangles, HTK or Slaney scale,
optional Slaney area normalisation), built in float64 and stored as float32; for the study of
trainable bases it may also start as triangles evenly spaced in Hz or as seeded random filters,
train additively or multiplicatively, see a range of FFT bins masked out, and be compressed by a
log or by PCEN.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import nn

from kws.frontend.functional import (
    KEY,
    SQRT_EPS,
    LogMode,
    MelScale,
    PadMode,
    check_log_mode,
    check_mel_scale,
    compress,
    fft_frequencies,
    filter_edges,
    mel_filterbank,
    relative_change,
    slaney_gains,
    top_edge,
)
from kws.frontend.pcen import PCEN, Compression, check_compression
from kws.frontend.protocol import MEL_BASIS_CHANGE, MEL_CENTRE_SHIFT_HZ, drift_of, trainable_parts
from kws.frontend.stft import STFT, Implementation
from kws.registry import register
from kws_runtime.checks import check_number

MelInit = Literal["mel", "random", "linear"]
MelParam = Literal["additive", "multiplicative"]
MEL_INITS = ("mel", "random", "linear")
MEL_PARAMS = ("additive", "multiplicative")
#: The largest ``power`` (1, magnitude, and 2, power, are the usual ones): at 8 a full-scale
#: square wave's mel energies at ``n_fft`` 8192 reach 1.2e27, well inside float32's 3.4e38.
MAX_POWER = 8.0
#: The largest ``init_seed`` (``torch.Generator.manual_seed`` takes 64-bit seeds).
MAX_SEED = 2**63 - 1


@register("frontend")
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

    How the basis trains (``mel_param``): the filterbank is ``basis_scale * mel_basis`` (both
    ``(n_mels, n_fft // 2 + 1)``, the first a buffer, the second the parameter), so the same
    optimiser setting means the same relative change whatever the basis's own scale:

    * ``"additive"``: ``basis_scale`` holds each filter's normalisation gain (Slaney's
      ``2 / bandwidth`` with ``norm="slaney"``, else 1) and ``mel_basis`` the unit-height
      filters. Any entry may grow, so a filter may spread over any bins: a free matrix, stepping
      in units of its filter's gain. With ``norm=None`` this is nnAudio's trainable basis.
    * ``"multiplicative"``: ``basis_scale`` holds the initial filterbank and ``mel_basis``
      starts at 1: each entry steps relative to its own initial value. Under the log the
      gradient with respect to an entry is then the share of its bin in its filter's energy, at
      most 1 per frame, whatever the bin's power or the basis's scale; a filter keeps its
      support (a triangle can reshape and move its centre between its neighbours' centres, but
      not leave them), so the basis stays a filterbank.

    Without ``trainable_mel`` both give the same fixed filterbank.

    Args:
        sample_rate: in Hz, a whole number in [1000, 384000]. Default 16000.
        n_fft: STFT frame length, in [1, 8192]. Default 512.
        win_length: STFT window length, at most ``n_fft``; ``None`` means ``n_fft``.
            Default 480.
        hop_length: samples between frames, at most ``win_length``; ``None`` means
            ``n_fft // 4``. Default 160.
        n_mels: number of mel filters, in ``[1, n_fft // 2 + 1]``. Default 40.
        f_min: lowest filter edge in Hz, ``0 <= f_min < f_max``. Default 0.
        f_max: highest filter edge in Hz, at most ``sample_rate / 2``; ``None`` (default)
            means ``sample_rate / 2``.
        mel_scale: ``"htk"`` (default) or ``"slaney"``.
        norm: ``"slaney"`` area normalisation or ``None`` (default).
        power: the exponent of ``|X|`` projected onto the basis, in ``(0, MAX_POWER]``:
            2 (default) power, 1 magnitude.
        window: STFT window name. Default ``"hann"``.
        center: STFT centre padding. Default True.
        pad_mode: how ``center`` pads (see ``STFT``). Default ``"reflect"``.
        trainable_stft: train the Fourier kernels. Default False.
        trainable_mel: train the mel basis. Default False.
        log: ``"log"`` (default) gives ``log(mel + log_eps)`` (BC-ResNet), ``"db"`` gives
            ``10 * log10(max(mel, log_eps))`` (librosa's ``power_to_db`` with ``amin=log_eps``),
            ``None`` the linear energies. Used with ``compression="log"`` only.
        log_eps: added inside the log, or the floor under the dB, in ``(0, 1]`` (checked even
            where unused). Default 1e-6.
        top_db: with ``log="db"``, raise each clip's values to at least its maximum minus
            ``top_db`` (librosa's ``top_db``, per clip), in [0, 1000]; ``None`` (default): no
            such floor.
        implementation: the STFT's ``"auto"`` (default), ``"fft"`` or ``"conv"``.
        mel_init: the initial filters: ``"mel"`` (default) the mel triangles of ``mel_scale``;
            ``"linear"`` triangles with edges evenly spaced in Hz from ``f_min`` to ``f_max``;
            ``"random"`` entries drawn uniformly from [0, 1) by a generator seeded with
            ``init_seed``. With ``norm="slaney"`` each filter is scaled by the Slaney gain of
            its triangle (for ``"random"``, of the mel triangle it replaces).
        init_seed: the seed of ``mel_init="random"``, a whole number in ``[0, 2**63 - 1]``.
            Default 0.
        mel_param: ``"additive"`` (default) or ``"multiplicative"``: how the basis trains (see
            above).
        mask_bins: ``None`` (default) or ``[start, end]``: FFT bins ``start`` to ``end - 1``
            (a slice, ``0 <= start < end <= n_fft // 2 + 1``) are zeroed before the mel
            projection, fixed or trainable alike (the basis's columns there are masked, so
            they neither contribute nor train). A filter wholly inside the range is empty.
        compression: ``"log"`` (default) applies ``log``; ``"pcen"`` replaces it with
            per-channel energy normalisation (``kws.frontend.pcen.PCEN(n_mels)``, whose
            parameters train with the frontend), and ``log``, ``log_eps`` and ``top_db`` are
            unused.

    Raises:
        ValueError: a setting out of range, named as its config key (``frontend.n_mels``, ...).
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
        mel_init: MelInit = "mel",
        init_seed: int = 0,
        mel_param: MelParam = "additive",
        mask_bins: list[int] | tuple[int, int] | None = None,
        compression: Compression = "log",
    ) -> None:
        super().__init__()
        check_log_mode(log, log_eps, top_db)
        check_number(KEY + "power", power, 0.0, MAX_POWER, low_open=True)
        check_mel_scale(
            mel_scale, advice=" (for triangles evenly spaced in Hz use mel_init='linear')"
        )
        _check_choice("mel_init", mel_init, MEL_INITS)
        _check_choice("mel_param", mel_param, MEL_PARAMS)
        check_compression(compression)
        check_number(KEY + "init_seed", init_seed, 0, MAX_SEED, integer=True)
        self.sample_rate = sample_rate
        self.n_mels = n_mels
        self.power = power
        self.log = log
        self.log_eps = log_eps
        self.top_db = top_db
        self.trainable_mel = trainable_mel
        self.mel_init = mel_init
        self.mel_param = mel_param
        self.compression = compression
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
        self.mask_bins = _check_mask(mask_bins, self.stft.n_freqs)
        filters, gains = _initial_filters(
            sample_rate, n_fft, n_mels, f_min, f_max, mel_scale, norm, mel_init, init_seed
        )
        if mel_param == "additive":
            scale, weights = gains[:, None].expand_as(filters), filters / gains[:, None]
        else:
            scale, weights = filters, torch.ones_like(filters)
        self.register_buffer("basis_scale", scale.float().contiguous())
        if trainable_mel:
            self.mel_basis = nn.Parameter(weights.float())
        else:
            self.register_buffer("mel_basis", weights.float())
        bin_mask = torch.ones(self.stft.n_freqs)
        if self.mask_bins is not None:
            bin_mask[slice(*self.mask_bins)] = 0.0
        self.register_buffer("bin_mask", bin_mask, persistent=False)
        self.register_buffer("fft_freqs", fft_frequencies(sample_rate, n_fft), persistent=False)
        with torch.no_grad():
            self.register_buffer("initial_mel_basis", self.filterbank().clone())
        self.pcen = PCEN(n_mels) if compression == "pcen" else None

    def filterbank(self) -> torch.Tensor:
        """The mel basis as applied ``(n_mels, n_fft // 2 + 1)``: ``basis_scale * mel_basis``
        clamped at zero, in every mode (while it trains, gradients pass the clamp straight
        through), with the columns of ``mask_bins`` zeroed."""
        basis = self.basis_scale * self.mel_basis
        clamped = basis.clamp(min=0.0)
        if self.mel_basis.requires_grad:
            clamped = basis + (clamped - basis).detach()
        return clamped * self.bin_mask

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
            if self.pcen is not None:
                return self.pcen(mel)
            return compress(mel, self.log, self.log_eps, self.top_db)

    def centre_frequencies(self, basis: torch.Tensor | None = None) -> torch.Tensor:
        """Each filter's centre in Hz ``(n_mels,)``; 0 for an all-zero filter.

        The centre is the weighted mean frequency of the bins holding at least half the filter's
        peak, so a little weight learnt far from the main lobe does not move it.

        Args:
            basis: filters ``(n_mels, n_fft // 2 + 1)``; default ``None``: ``filterbank()``.
        """
        basis = self.filterbank().detach() if basis is None else basis
        lobe = basis * (basis >= 0.5 * basis.amax(dim=-1, keepdim=True))
        return (lobe * self.fft_freqs).sum(-1) / lobe.sum(-1).clamp(min=1e-12)

    def filter_centres(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Each filter's centre in Hz (see ``centre_frequencies``) at initialisation and now,
        each ``(n_mels,)``."""
        with torch.no_grad():
            return self.centre_frequencies(self.initial_mel_basis), self.centre_frequencies()

    def prepare_export(self) -> None:
        """Set a frozen copy up to be exported: the Mel basis stored clamped at zero, as
        ``filterbank()`` applies it, so the exported basis is the one the model trained with."""
        with torch.no_grad():
            self.mel_basis.clamp_(min=0.0)

    def frame_stft(self) -> STFT | None:
        """Its ``STFT``, unless ``top_db`` (per clip) or PCEN (a smoother over frames) makes a
        frame depend on more than its own samples."""
        return None if self.top_db is not None or self.pcen is not None else self.stft

    def drift(self) -> dict[str, torch.Tensor]:
        """How far the basis moved: relative Frobenius changes and per-filter centre shift (Hz),
        and with ``compression="pcen"`` PCEN's relative change."""
        with torch.no_grad():
            basis = self.filterbank()
            change = relative_change(basis, self.initial_mel_basis)
            shift = self.centre_frequencies(basis) - self.centre_frequencies(self.initial_mel_basis)
        return {
            **self.stft.drift(),
            MEL_BASIS_CHANGE: change,
            MEL_CENTRE_SHIFT_HZ: shift,
            **(drift_of(self.pcen) if self.pcen is not None else {}),
        }

    def trainable_parts(self) -> dict[str, bool]:
        """Whether the Fourier kernels, the mel basis (and PCEN) train, keyed like ``drift()``."""
        return {
            **self.stft.trainable_parts(),
            MEL_BASIS_CHANGE: self.trainable_mel,
            **(trainable_parts(self.pcen) if self.pcen is not None else {}),
        }

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
        """Read a state dict from before ``basis_scale`` existed (kws up to issue 14), whose
        ``mel_basis`` is the filterbank itself, as that filterbank: with a scale of 1."""
        if prefix + "mel_basis" in state_dict and prefix + "basis_scale" not in state_dict:
            state_dict[prefix + "basis_scale"] = torch.ones_like(state_dict[prefix + "mel_basis"])
        super()._load_from_state_dict(state_dict, prefix, *args)


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    """Raise a ValueError naming ``frontend.<name>`` unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(
            f"{KEY}{name} must be one of {', '.join(map(repr, choices))}; got {value!r}"
        )


def _check_mask(mask_bins: Any, n_freqs: int) -> tuple[int, int] | None:
    """``mask_bins`` as a ``(start, end)`` slice of the ``n_freqs`` FFT bins, or None."""
    if mask_bins is None:
        return None
    bounds = list(mask_bins) if isinstance(mask_bins, list | tuple) else None
    if (
        bounds is None
        or len(bounds) != 2
        or not all(isinstance(b, int) and not isinstance(b, bool) for b in bounds)
        or not 0 <= bounds[0] < bounds[1] <= n_freqs
    ):
        raise ValueError(
            f"{KEY}mask_bins must be null or [start, end], whole numbers with 0 <= start < end <= "
            f"n_fft // 2 + 1 = {n_freqs} (bins start .. end - 1 are masked); got {mask_bins!r}"
        )
    return bounds[0], bounds[1]


def _initial_filters(
    sample_rate: int,
    n_fft: int,
    n_mels: int,
    f_min: float,
    f_max: float | None,
    mel_scale: MelScale,
    norm: Literal["slaney"] | None,
    mel_init: MelInit,
    init_seed: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The initial filterbank ``(n_mels, n_fft // 2 + 1)`` and each filter's normalisation gain
    ``(n_mels,)``, in float64 (arguments as ``MelSpectrogram``'s)."""
    scale = "linear" if mel_init == "linear" else mel_scale
    filters = mel_filterbank(sample_rate, n_fft, n_mels, f_min, f_max, scale, norm)
    gains = torch.ones(n_mels, dtype=torch.float64)
    if norm == "slaney":
        edges = filter_edges(n_mels, f_min, top_edge(sample_rate, f_max), scale)
        gains = slaney_gains(edges)
    if mel_init == "random":
        generator = torch.Generator().manual_seed(init_seed)
        uniform = torch.rand(filters.shape, generator=generator, dtype=torch.float64)
        filters = gains[:, None] * uniform
    return filters, gains
