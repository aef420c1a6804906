"""How far a trainable basis has moved from where it started."""

from __future__ import annotations

import torch


def relative_change(current: torch.Tensor, initial: torch.Tensor) -> torch.Tensor:
    """``||current - initial|| / ||initial||`` (Frobenius): how far a basis has drifted.

    Args:
        current: the basis now, any shape.
        initial: the basis it started from, the same shape.

    Returns:
        A scalar tensor, computed without gradient.
    """
    with torch.no_grad():
        return (current - initial).norm() / initial.norm()
