"""Where the word of a clip is: the span of its frames loud above both the clip's noise and a
floor below its loudest frame."""

from __future__ import annotations

import torch
import torch.nn.functional as F

#: Frames over which ``word_bounds`` measures energy: 20 ms long, every 10 ms (at 16 kHz).
BOUNDS_FRAME_MS = 20
BOUNDS_HOP_MS = 10
#: A frame is speech when its energy is within this many dB of the clip's loudest frame.
BOUNDS_FLOOR_DB = -20.0


def word_bounds(
    waveforms: torch.Tensor, sample_rate: int = 16000, floor_db: float = BOUNDS_FLOOR_DB
) -> tuple[torch.Tensor, torch.Tensor]:
    """Where the word of each clip is: from the first to the end of the last 20 ms frame whose
    energy is within ``floor_db`` of the clip's loudest frame and above the midpoint, in dB,
    between that frame and the clip's noise (its quietest 10% of frames), so that a clip
    recorded in a noisy room is not all word.

    Args:
        waveforms: ``(batch, samples)`` float clips, each holding one word (or none).
        sample_rate: their rate in Hz. Default 16000.
        floor_db: how far below the loudest frame speech reaches, in dB. Default -20.

    Returns:
        ``(start, end)``, each ``(batch,)`` int64 samples, ``0 <= start < end <= samples``; a
        silent clip is all word.
    """
    frame = sample_rate * BOUNDS_FRAME_MS // 1000
    hop = sample_rate * BOUNDS_HOP_MS // 1000
    samples = waveforms.shape[1]
    energy = F.avg_pool1d(waveforms[:, None].float() ** 2, frame, hop, ceil_mode=True)[:, 0]
    level = 10.0 * torch.log10(energy + 1e-10)  # (batch, frames) dB
    peak = level.amax(1, keepdim=True)
    noise = level.quantile(0.1, dim=1, keepdim=True)
    loud = level >= torch.maximum(peak + floor_db, (peak + noise) / 2)
    frames = torch.arange(loud.shape[1], device=waveforms.device)
    first = torch.where(loud, frames, loud.shape[1]).amin(1)
    last = torch.where(loud, frames, -1).amax(1)
    return first * hop, (last * hop + frame).clamp_max(samples)
