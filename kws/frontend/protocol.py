"""What a frontend is to the rest of kws: the ``Frontend`` protocol and the drift keys, once.

A frontend maps waveforms ``(batch, samples)`` to features ``(batch, n_features, frames)``; any
``nn.Module`` that does is one. A frontend with a basis that starts analytic may also report how
far that basis moved (``drift()``) and which of its parts train (``trainable_parts()``), both
keyed by the constants below; ``drift_of`` and ``trainable_parts`` read them from any frontend,
giving ``{}`` for one without them, so callers never need to ask which kind they hold.
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import nn

#: Relative Frobenius change of the STFT's Fourier kernels from their initial values (scalar).
STFT_KERNEL_CHANGE = "stft_kernel_change"
#: Relative Frobenius change of the applied mel filterbank from its initial one (scalar).
MEL_BASIS_CHANGE = "mel_basis_change"
#: Shift in Hz of each mel filter's centre from its initial centre, ``(n_mels,)``.
MEL_CENTRE_SHIFT_HZ = "mel_centre_shift_hz"
#: Relative Frobenius change of the MFCC's DCT matrix from its initial values (scalar).
DCT_CHANGE = "dct_change"

#: Each drift key with the label a table or figure shows for it, in processing order.
DRIFT_LABELS: dict[str, str] = {
    STFT_KERNEL_CHANGE: "STFT kernels",
    MEL_BASIS_CHANGE: "Mel basis",
    MEL_CENTRE_SHIFT_HZ: "Mel centre shift (Hz)",
    DCT_CHANGE: "DCT",
}


class Frontend(Protocol):
    """Waveforms to features: what ``KeywordSpotter`` and the training code need of a frontend.

    Any ``nn.Module`` whose forward does this qualifies. Two methods are optional, and read only
    through ``drift_of`` and ``trainable_parts``: ``drift() -> dict[str, Tensor]`` (how far each
    part moved from its initial basis, keyed by ``DRIFT_LABELS``' keys) and
    ``trainable_parts() -> dict[str, bool]`` (whether each part trains, keyed by the drift key
    of its relative change: ``STFT_KERNEL_CHANGE``, ``MEL_BASIS_CHANGE``, ``DCT_CHANGE``).
    """

    def __call__(self, waveform: torch.Tensor) -> torch.Tensor:
        """The features of each clip.

        Args:
            waveform: ``(batch, samples)``.

        Returns:
            ``(batch, n_features, frames)``.
        """
        ...


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


def drift_summary(drift: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Each entry of a ``drift()`` as one number, as logs, comparisons and figures report it.

    Args:
        drift: a frontend's drift (see ``drift_of``); per-filter entries become their mean
            magnitude, scalars stay as they are.

    Returns:
        The same keys, each to a scalar tensor.
    """
    return {name: value.abs().mean() if value.dim() else value for name, value in drift.items()}
