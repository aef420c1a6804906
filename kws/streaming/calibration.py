"""The operating threshold: the one that keeps a detector within a false-accept budget.

A spotter is deployed at a threshold, and the threshold decides its false accepts per hour. kws
chooses it on validation streams (``kws.training.stream_validation``): of the thresholds whose
false accepts per hour stay within the target, those with the lowest false-reject rate are
equally good on the validation audio, and the highest of them is chosen, as far as that rate
allows from false accepts that minutes of validation audio are too short to show. The result,
a ``Calibration``, travels in the checkpoint and in the ONNX model's metadata, and every detector
uses its threshold when none is given (``detector.threshold=auto``).

A target no threshold meets while still detecting something is not an error: the calibration
says so (``met`` False), keeps the threshold with the fewest false accepts that still detects,
and names the best rate reached.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from kws.streaming.scoring import DetPoint
from kws_runtime.calibration import Calibration
from kws_runtime.posterior import PosteriorSettings

#: The default false-accept budget per hour (openWakeWord's stated target).
TARGET_FA_PER_HOUR = 0.5


def calibrate(
    points: Iterable[DetPoint],
    target_fa_per_hour: float,
    settings: PosteriorSettings,
    stride_ms: float,
    epoch: int = -1,
    frr_slack_se: float = 0.0,
) -> Calibration:
    """The threshold for a false-accept budget, from a (pooled) DET curve.

    Of the thresholds within the budget that detect something (false-reject rate below 1), those
    whose false-reject rate is the lowest, or within ``frr_slack_se`` standard errors of it,
    tie, and the highest of them is chosen: the validation audio is too short to see the rarest
    false accepts, and a higher threshold keeps further from them at no cost to the false-reject
    rate measured, or at a cost the validation keywords are too few to tell from chance (the
    one-standard-error rule of model selection: the standard error of a rate ``p`` over ``n``
    keywords, ``sqrt(p (1 - p) / n)``, taken as at least one keyword, ``1 / n``). When none is
    within the budget, the
    threshold with the fewest false accepts per hour that still detects (ties: the lowest
    false-reject rate, then the highest threshold; when nothing is detected at all, 1: no
    detection) is kept and ``met`` is False.

    Args:
        points: the DET curve, one point per threshold.
        target_fa_per_hour: the budget, > 0.
        settings: the posterior settings the curve was swept with (its threshold is not used).
        stride_ms: the detector's stride.
        epoch: the model's training epoch. Default -1: not known.
        frr_slack_se: how many standard errors above the lowest false-reject rate still tie,
            ``>= 0``. Default 0: only the lowest.

    Returns:
        The calibration.

    Raises:
        ValueError: a budget or slack out of range, or a curve with no keyword to measure false
            rejects on.
    """
    if not (math.isfinite(target_fa_per_hour) and target_fa_per_hour > 0):
        raise ValueError(
            f"target_fa_per_hour must be a finite number > 0, got {target_fa_per_hour!r}"
        )
    if not (math.isfinite(frr_slack_se) and frr_slack_se >= 0):
        raise ValueError(f"frr_slack_se must be a finite number >= 0, got {frr_slack_se!r}")
    points = sorted(points, key=lambda p: p.threshold)
    if not points or not points[0].keywords:
        raise ValueError("calibration needs a stream with keywords to count false rejects on")
    detecting = [p for p in points if p.false_reject_rate < 1.0]
    within = [p for p in detecting if p.false_accepts_per_hour <= target_fa_per_hour]
    met = bool(within)
    if met:
        best = min(p.false_reject_rate for p in within)
        keywords = within[0].keywords
        slack = frr_slack_se * max(math.sqrt(best * (1 - best) / keywords), 1 / keywords)
        tied = [p for p in within if p.false_reject_rate <= best + slack + 1e-12]
        chosen = max(tied, key=lambda p: p.threshold)
        threshold = chosen.threshold
    else:
        pool = detecting or points
        chosen = min(
            pool, key=lambda p: (p.false_accepts_per_hour, p.false_reject_rate, -p.threshold)
        )
        threshold = chosen.threshold
    return Calibration(
        threshold=float(threshold),
        target_fa_per_hour=float(target_fa_per_hour),
        met=met,
        false_accepts_per_hour=float(chosen.false_accepts_per_hour),
        false_reject_rate=float(chosen.false_reject_rate),
        hours=float(chosen.hours),
        keywords=int(chosen.keywords),
        stride_ms=float(stride_ms),
        average_window_ms=settings.average_window_ms,
        suppression_ms=settings.suppression_ms,
        minimum_count=settings.minimum_count,
        epoch=int(epoch),
    )
