"""The DCT-II basis an MFCC layer starts from."""

from __future__ import annotations

import math

import torch


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
