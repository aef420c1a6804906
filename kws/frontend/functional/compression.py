"""The compression of filterbank energies into features: natural log, dB, or none."""

from __future__ import annotations

import torch

from kws.frontend.functional.settings import LogMode


def compress(
    x: torch.Tensor, log: LogMode, eps: float, top_db: float | None = None
) -> torch.Tensor:
    """``log(x + eps)`` (BC-ResNet), ``10 log10(max(x, eps))`` (librosa's dB) or ``x`` unchanged.

    The settings are checked where a layer takes them (``check_log_mode``).

    Args:
        x: energies ``(batch, ...)``, e.g. ``(batch, freq, frames)``.
        log: ``"log"``, ``"db"`` or ``None`` (no compression).
        eps: added inside the natural log; the floor under the dB (librosa's ``amin``).
        top_db: ``log="db"`` only: raise every value to at least its clip's maximum minus
            ``top_db``, as ``librosa.power_to_db(x, top_db=top_db)`` does for one clip
            (librosa takes the maximum over all it is given, here each clip has its own).
            Default ``None``: no such floor.

    Returns:
        A tensor shaped like ``x``.
    """
    if log == "log":
        return torch.log(x + eps)
    if log == "db":
        db = 10.0 * torch.log10(x.clamp(min=eps))
        if top_db is None:
            return db
        peak = db.amax(dim=tuple(range(1, db.dim())), keepdim=True)  # (batch, 1, ...)
        return torch.maximum(db, peak - top_db)
    return x
