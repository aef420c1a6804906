"""What a frontend is to the rest of kws: the ``Frontend`` protocol and the drift keys, once.

A frontend maps waveforms ``(batch, samples)`` to features ``(batch, n_features, frames)``; any
``nn.Module`` that does is one. A frontend with a basis that starts analytic may also report how
far that basis moved (``drift()``), which of its parts train (``trainable_parts()``), both keyed
by the constants below, and where its filters sit (``filter_centres()``); ``drift_of``,
``trainable_parts`` and ``filter_centres_of`` read them from any frontend, giving ``{}`` (or
``None``) for one without them, so callers never need to ask which kind they hold.

``FilterbankFrontend`` is what the parametric filterbanks (``TriangularFilterbank``,
``SincFilterbank``, ``LEAF``) share: a fixed power spectrogram, a filterbank built from a few
parameters per filter once per call, and a compression, with drift and centres read from them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar, Protocol

import torch
from torch import nn

from kws.frontend.functional import (
    MelScale,
    check_band,
    check_mel_scale,
    filter_edges,
    relative_change,
)

#: Relative Frobenius change of the STFT's Fourier kernels from their initial values (scalar).
STFT_KERNEL_CHANGE = "stft_kernel_change"
#: Relative Frobenius change of the applied mel filterbank from its initial one (scalar).
MEL_BASIS_CHANGE = "mel_basis_change"
#: Shift in Hz of each mel filter's centre from its initial centre, ``(n_mels,)``.
MEL_CENTRE_SHIFT_HZ = "mel_centre_shift_hz"
#: Relative Frobenius change of a parametric filterbank's power responses on the FFT bins
#: (``SincFilterbank``, ``LEAF``'s Gabor filters) from their initial ones (scalar).
FILTERBANK_CHANGE = "filterbank_change"
#: Shift in Hz of each parametric filter's centre from its initial centre, ``(n_filters,)``.
FILTER_CENTRE_SHIFT_HZ = "filter_centre_shift_hz"
#: Relative Frobenius change of PCEN's per-channel parameters from their initial values (scalar).
PCEN_CHANGE = "pcen_change"
#: Relative Frobenius change of the MFCC's DCT matrix from its initial values (scalar).
DCT_CHANGE = "dct_change"

#: Each drift key with the label a table or figure shows for it, in processing order.
DRIFT_LABELS: dict[str, str] = {
    STFT_KERNEL_CHANGE: "STFT kernels",
    MEL_BASIS_CHANGE: "Mel basis",
    MEL_CENTRE_SHIFT_HZ: "Mel centre shift (Hz)",
    FILTERBANK_CHANGE: "Filterbank",
    FILTER_CENTRE_SHIFT_HZ: "Filter centre shift (Hz)",
    PCEN_CHANGE: "PCEN",
    DCT_CHANGE: "DCT",
}


class Frontend(Protocol):
    """Waveforms to features: what ``KeywordSpotter`` and the training code need of a frontend.

    Any ``nn.Module`` whose forward does this qualifies. Five methods are optional, each read
    only through its function here, so callers never ask which kind of frontend they hold:

    - ``drift() -> dict[str, Tensor]`` (``drift_of``): how far each part moved from its initial
      basis, keyed by ``DRIFT_LABELS``' keys;
    - ``trainable_parts() -> dict[str, bool]`` (``trainable_parts``): whether each part trains,
      keyed by the drift key of its relative change (``STFT_KERNEL_CHANGE``,
      ``MEL_BASIS_CHANGE``, ``FILTERBANK_CHANGE``, ``PCEN_CHANGE``, ``DCT_CHANGE``);
    - ``filter_centres() -> tuple[Tensor, Tensor]`` (``filter_centres_of``): each filter's
      initial and current centre in Hz, each ``(n_filters,)``;
    - ``frame_stft() -> STFT | None`` (``frame_stft_of``): the ``STFT`` whose frames the
      features follow, one feature frame from each of its frames' samples alone, or None: a
      stream's frames are then those of its windows, which streaming detection reuses and a
      causal model streams frame by frame;
    - ``prepare_export() -> None`` (``prepare_export``, called on every submodule that has
      it): set a frozen copy up to be exported (``STFT``, ``MelSpectrogram``).
    """

    def __call__(self, waveform: torch.Tensor) -> torch.Tensor:
        """The features of each clip.

        Args:
            waveform: ``(batch, samples)``.

        Returns:
            ``(batch, n_features, frames)``.
        """
        ...


def frame_stft_of(frontend: nn.Module) -> nn.Module | None:
    """The ``STFT`` whose frames ``frontend``'s features follow frame by frame, or None where
    a feature frame depends on more than its own samples (``top_db``, PCEN) or the frontend
    does not say.

    Args:
        frontend: any frontend module; its ``frame_stft()`` is called where it has one.
    """
    method = getattr(frontend, "frame_stft", None)
    return method() if callable(method) else None


def prepare_export(frontend: nn.Module) -> None:
    """Set each layer of a frozen copy of ``frontend`` up to be exported, in place: every
    submodule with a ``prepare_export()`` (an ``STFT`` picks the FFT or its kernels, a
    ``MelSpectrogram`` clamps its basis) calls it, so a frontend built of kws's layers exports
    as they do, and a new layer with needs of its own says so in its own ``prepare_export()``.

    Args:
        frontend: a copy of the trained frontend, in eval mode (changed in place).
    """
    for layer in frontend.modules():
        method = getattr(layer, "prepare_export", None)
        if callable(method):
            method()


def drift_of(frontend: nn.Module) -> dict[str, torch.Tensor]:
    """How far ``frontend``'s parts moved from their initial bases; ``{}`` if it does not say.

    Args:
        frontend: any frontend module; its ``drift()`` is called where it has one.

    Returns:
        Drift key (see ``DRIFT_LABELS``) to a scalar or per-filter tensor.
    """
    drift = getattr(frontend, "drift", None)
    return drift() if callable(drift) else {}


def trainable_parts(frontend: nn.Module) -> dict[str, bool]:
    """Whether each part of ``frontend`` with an initial basis trains; ``{}`` if it does not say.

    The keys are those of the parts' relative changes in ``drift_of(frontend)`` (e.g.
    ``{STFT_KERNEL_CHANGE: False, MEL_BASIS_CHANGE: True}`` for a Mel layer whose basis alone
    trains), in processing order, so they also list which parts the frontend has.

    Args:
        frontend: any frontend module; its ``trainable_parts()`` is called where it has one.
    """
    parts = getattr(frontend, "trainable_parts", None)
    return parts() if callable(parts) else {}


def filter_centres_of(frontend: nn.Module) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Each filter's initial and current centre in Hz; ``None`` if ``frontend`` does not say.

    Args:
        frontend: any frontend module; its ``filter_centres()`` is called where it has one.

    Returns:
        ``(initial, current)``, each ``(n_filters,)``, or ``None``.
    """
    centres = getattr(frontend, "filter_centres", None)
    return centres() if callable(centres) else None


def drift_summary(drift: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Each entry of a ``drift()`` as one number, as logs, comparisons and figures report it.

    Args:
        drift: a frontend's drift (see ``drift_of``); per-filter entries become their mean
            magnitude, scalars stay as they are.

    Returns:
        The same keys, each to a scalar tensor.
    """
    return {name: value.abs().mean() if value.dim() else value for name, value in drift.items()}


class FilterbankFrontend(nn.Module, ABC):
    """Power spectrogram, then a filterbank built from its parameters, then compression.

    The base of the parametric filterbanks: ``spectrogram`` maps waveforms ``(batch, samples)``
    to a fixed power spectrogram ``(batch, freq, frames)``; a subclass builds its filters'
    power responses at any frequencies from its own parameters (``response``), and the layer
    applies them on the spectrogram's bins as one matrix product per call, so all filters cost
    one projection whatever their number; ``compression`` maps the energies
    ``(batch, n_filters, frames)`` to the features. The parameters registered on the subclass
    itself (not those of ``spectrogram`` or ``compression``) are the filters'; ``drift()``,
    ``trainable_parts()`` and ``filter_centres()`` read them and the submodules' own.

    A subclass sets ``basis_key`` and ``centre_key`` (the drift keys of the filterbank's change
    and of the centre shift), creates its parameters, then calls ``remember_initial()``.

    Args:
        spectrogram: waveforms to power ``(batch, len(freqs), frames)``, not trained.
        compression: energies to features, shape kept (e.g. ``PCEN`` or a log).
        freqs: the frequency in Hz of each of ``spectrogram``'s bins ``(freq,)``.
    """

    basis_key: ClassVar[str] = FILTERBANK_CHANGE
    centre_key: ClassVar[str] = FILTER_CENTRE_SHIFT_HZ

    def __init__(self, spectrogram: nn.Module, compression: nn.Module, freqs: torch.Tensor) -> None:
        super().__init__()
        self.spectrogram = spectrogram
        self.compression = compression
        self.register_buffer("fft_freqs", freqs.float(), persistent=False)

    @abstractmethod
    def response(self, freqs: torch.Tensor) -> torch.Tensor:
        """Each filter's power response (gain squared) at ``freqs`` (Hz, ``(n,)``): ``(n_filters,
        n)``, differentiable in the parameters."""

    @abstractmethod
    def centres(self) -> torch.Tensor:
        """Each filter's centre in Hz, as its parameters say, ``(n_filters,)``."""

    def remember_initial(self) -> None:
        """Keep the filterbank and centres as they are now as the drift's reference (buffers,
        saved with the state, so a loaded layer measures drift from its own start)."""
        with torch.no_grad():
            self.register_buffer("initial_filterbank", self.filterbank().clone())
            self.register_buffer("initial_centres", self.centres().float().clone())

    def filterbank(self) -> torch.Tensor:
        """The power responses on the spectrogram's bins as applied ``(n_filters, freq)``, in
        float32; values too small for a normal float32 (far tails) are zero, as denormal
        numbers would slow the projection many times over."""
        responses = self.response(self.fft_freqs).float()
        return responses.masked_fill(responses < torch.finfo(torch.float32).tiny, 0.0)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        """The compressed filterbank energies of each clip.

        Args:
            waveform: ``(batch, samples)`` or ``(samples,)``; ``batch`` may be 0.

        Returns:
            ``(batch, n_filters, frames)`` in float32, even under autocast.
        """
        power = self.spectrogram(waveform)  # (batch, freq, frames)
        with torch.autocast(device_type=power.device.type, enabled=False):
            by_frame = power.float().transpose(1, 2)  # one GEMM over all frames, as in Mel
            energies = torch.matmul(by_frame, self.filterbank().T).transpose(1, 2)
            return self.compression(energies)

    def filter_centres(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Each filter's initial and current centre in Hz, each ``(n_filters,)``."""
        return self.initial_centres, self.centres().detach().float()

    def frame_stft(self) -> nn.Module | None:
        """The spectrogram's ``STFT`` where the compression keeps frames apart (not PCEN, whose
        smoother carries each frame into the next), else None."""
        if not getattr(self.compression, "per_frame", False):
            return None
        return frame_stft_of(self.spectrogram)

    def drift(self) -> dict[str, torch.Tensor]:
        """How far the filterbank moved (relative Frobenius change of the power responses on
        the bins, and each centre's shift in Hz), with the spectrogram's and compression's."""
        with torch.no_grad():
            change = relative_change(self.filterbank(), self.initial_filterbank)
            initial, current = self.filter_centres()
        return {
            **drift_of(self.spectrogram),
            self.basis_key: change,
            self.centre_key: current - initial,
            **drift_of(self.compression),
        }

    def trainable_parts(self) -> dict[str, bool]:
        """Whether the spectrogram, the filters and the compression train, keyed like
        ``drift()``."""
        filters = any(p.requires_grad for p in self.parameters(recurse=False))
        return {
            **trainable_parts(self.spectrogram),
            self.basis_key: filters,
            **trainable_parts(self.compression),
        }


def mel_points(
    sample_rate: int,
    n_fft: int,
    n_filters: int,
    f_min: float,
    f_max: float | None,
    scale: MelScale = "htk",
) -> torch.Tensor:
    """The Mel filterbank's edges (``functional.filter_edges``) for a parametric filterbank's
    settings, checked first (``functional.check_mel_scale``, ``functional.check_band``; a
    ValueError names the config key):
    ``n_filters + 2`` frequencies evenly spaced in mels from ``f_min`` to ``f_max``, filter ``i``
    rising from point ``i`` to a peak at ``i + 1`` and falling to ``i + 2``, where the parametric
    filterbanks start.

    Args:
        sample_rate: in Hz, a whole number in [1000, 384000].
        n_fft: the FFT the filters are sampled on (checked already).
        n_filters: ``n_mels``, a whole number in ``[1, n_fft // 2 + 1]``: more filters than FFT
            bins could not all differ on them.
        f_min: the lowest point in Hz, at least 0.
        f_max: the highest point in Hz, above ``f_min`` and at most ``sample_rate / 2``;
            ``None`` means ``sample_rate / 2``.
        scale: ``"htk"`` (default) or ``"slaney"``.

    Returns:
        ``(n_filters + 2,)`` in float64.
    """
    check_mel_scale(scale)
    f_max = check_band(sample_rate, n_fft, n_filters, f_min, f_max)
    return filter_edges(n_filters, f_min, f_max, scale)
