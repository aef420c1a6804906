"""DET curves: the error rates of ``kws.streaming.scoring.matching`` over a sweep of thresholds.

``det_curve`` re-runs the firing rule on the handler's averaged-score track
(``detections_sweep``) at each threshold; ``det_curves`` sweeps several streams at one set of
thresholds and ``pool_det_curves`` adds them up as one stream of all their audio;
``frr_at_false_accepts`` is the false-reject rate at a false-accept budget, read off the sweep as
the best threshold that meets it (no interpolation between thresholds). Under TensorFlow's firing
rule the counts need not be exactly monotonic in the threshold (a firing removed at a higher
threshold can free a later one), so the rows are given as computed.

numpy only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np

from kws.streaming.scoring.matching import (
    TIME_TOLERANCE_MS,
    ErrorRates,
    Label,
    error_rates,
    keyword_truth,
)
from kws_runtime.firing import top_class
from kws_runtime.posterior import IGNORED_LABELS, detections_sweep, reported_classes

#: The false-accept budgets (per hour) the false-reject rate is reported at.
FA_PER_HOUR_TARGETS = (1.0, 0.5)


class DetPoint(NamedTuple):
    """One threshold of a DET curve.

    Attributes:
        threshold: the detection threshold.
        false_reject_rate: false rejects / keyword labels.
        false_accepts_per_hour: false accepts per hour of stream.
        false_accepts: their count.
        false_rejects: their count.
        detections: detections reported at this threshold.
        keywords: keyword labels in the stream.
        hours: the stream's length.
    """

    threshold: float
    false_reject_rate: float
    false_accepts_per_hour: float
    false_accepts: int
    false_rejects: int
    detections: int
    keywords: int
    hours: float

    @classmethod
    def of(cls, threshold: float, errors: ErrorRates) -> DetPoint:
        """The point of ``errors`` at ``threshold``: every other field is read off them."""
        return cls(threshold, *(getattr(errors, name) for name in cls._fields[1:]))


def default_thresholds(
    averaged_scores: np.ndarray,
    class_names: Sequence[str],
    ignore: Iterable[str] = IGNORED_LABELS,
) -> np.ndarray:
    """Thresholds for a DET sweep: a coarse linear grid, a grid that closes in on 1 by
    decades (where low false-accept rates live), 41 quantiles of the steps' top scores where
    the top class is a keyword, and 1 (no detection at all: false-reject rate 1).

    Args:
        averaged_scores: ``(steps, classes)`` averaged-score track (NaN rows skipped).
        class_names: the class of each column.
        ignore: classes that are not keywords.

    Returns:
        Sorted unique thresholds in ``(0, 1]``.
    """
    linear = np.round(np.arange(0.05, 0.951, 0.05), 2)
    near_one = 1.0 - 10.0 ** -np.linspace(1.0, 5.0, 41)
    averaged = np.asarray(averaged_scores, dtype=np.float64)
    top, score = top_class(averaged[~np.isnan(averaged).any(axis=1)])
    keyword = reported_classes(class_names, ignore)[top]
    quantiles = np.zeros(0)
    if keyword.any():
        quantiles = np.quantile(score[keyword], np.linspace(0.0, 1.0, 41))
    grid = np.concatenate([linear, near_one, quantiles, [1.0]])
    return np.unique(grid[(grid > 0) & (grid <= 1)])


def det_curve(
    times_ms: np.ndarray,
    averaged_scores: np.ndarray,
    class_names: Sequence[str],
    labels: Iterable[Label],
    duration_ms: float,
    suppression_ms: float,
    thresholds: Iterable[float] | None = None,
    time_tolerance_ms: float = TIME_TOLERANCE_MS,
    ignore: Iterable[str] = IGNORED_LABELS,
) -> list[DetPoint]:
    """False-reject rate and false accepts per hour over a sweep of thresholds.

    Args:
        times_ms: ``(steps,)`` the track's times (``PosteriorHandler.track()``).
        averaged_scores: ``(steps, classes)`` its averaged scores.
        class_names: the class of each column.
        labels: the stream's ``(label, start_ms)`` rows.
        duration_ms: the stream's length.
        suppression_ms: the handler's suppression time.
        thresholds: thresholds in ``(0, 1]``; None: ``default_thresholds``.
        time_tolerance_ms: the matching tolerance, either side.
        ignore: labels never reported and label rows that are not keywords.

    Returns:
        One point per threshold, by increasing threshold.
    """
    ignore = tuple(ignore)
    truth, hours, tolerance = keyword_truth(labels, duration_ms, time_tolerance_ms, ignore)
    if thresholds is None:
        thresholds = default_thresholds(averaged_scores, class_names, ignore)
    thresholds = sorted(float(t) for t in thresholds)
    sweep = detections_sweep(
        times_ms, averaged_scores, class_names, thresholds, suppression_ms, ignore
    )
    return [
        DetPoint.of(threshold, error_rates(found, truth, tolerance, hours))
        for threshold, found in zip(thresholds, sweep, strict=True)
    ]


class ScoredStream(NamedTuple):
    """One stream as a detector scored it: its averaged-score track
    (``PosteriorHandler.track()``), its labels and its length.

    Attributes:
        times_ms: ``(steps,)`` the track's times.
        averaged_scores: ``(steps, classes)`` its averaged scores.
        labels: the stream's ``(label, start_ms)`` rows (none for a keyword-free stream).
        duration_ms: the stream's length.
    """

    times_ms: np.ndarray
    averaged_scores: np.ndarray
    labels: Sequence[Label]
    duration_ms: float


def det_curves(
    streams: Sequence[ScoredStream],
    class_names: Sequence[str],
    suppression_ms: float,
    thresholds: Iterable[float] = (),
    time_tolerance_ms: float = TIME_TOLERANCE_MS,
    ignore: Iterable[str] = IGNORED_LABELS,
) -> list[list[DetPoint]]:
    """Each stream's DET curve, all swept at one set of thresholds (``default_thresholds`` of
    every stream's scores together, and ``thresholds``), so that ``pool_det_curves`` can add
    them up.

    Args:
        streams: the scored streams.
        class_names: the class of each score column.
        suppression_ms: the handler's suppression time.
        thresholds: more thresholds to sweep, each in (0, 1] (a detector's own, say).
        time_tolerance_ms: the matching tolerance, either side.
        ignore: labels never reported and label rows that are not keywords.

    Returns:
        One curve per stream, in order, each by increasing threshold.
    """
    ignore = tuple(ignore)
    scores = np.concatenate([np.asarray(s.averaged_scores, dtype=np.float64) for s in streams])
    grid = default_thresholds(scores, class_names, ignore)
    thresholds = np.unique(np.concatenate([grid, np.asarray(list(thresholds), dtype=np.float64)]))
    return [
        det_curve(s.times_ms, s.averaged_scores, class_names, s.labels, s.duration_ms,
                  suppression_ms, thresholds, time_tolerance_ms, ignore)
        for s in streams
    ]  # fmt: skip


def pool_det_curves(curves: Sequence[Sequence[DetPoint]]) -> list[DetPoint]:
    """Several streams' DET curves, swept at the same thresholds, as one curve of all their
    audio: false accepts per hour over all their hours, the false-reject rate over all their
    keywords (a keyword-free stream adds hours and false accepts, no keyword).

    Args:
        curves: one DET curve per stream (``det_curves``).

    Returns:
        The pooled curve, by increasing threshold.

    Raises:
        ValueError: the curves were not swept at the same thresholds.
    """
    pooled = []
    for points in zip(*curves, strict=True):
        if len({p.threshold for p in points}) != 1:
            raise ValueError("pooled DET curves must be swept at the same thresholds")
        errors = ErrorRates(
            keywords=sum(p.keywords for p in points),
            detections=sum(p.detections for p in points),
            correct=sum(p.detections - p.false_accepts for p in points),
            false_accepts=sum(p.false_accepts for p in points),
            false_rejects=sum(p.false_rejects for p in points),
            hours=sum(p.hours for p in points),
        )
        pooled.append(DetPoint.of(points[0].threshold, errors))
    return pooled


def frr_at_false_accepts(points: Iterable[DetPoint], fa_per_hour: float) -> DetPoint | None:
    """The sweep's best point within a false-accept budget: of the thresholds with at most
    ``fa_per_hour`` false accepts per hour, the one with the lowest false-reject rate (ties:
    fewer false accepts, then the lower threshold). Not interpolated: it is a threshold that
    can be deployed.

    Args:
        points: the DET curve.
        fa_per_hour: the budget.

    Returns:
        The point, or None when no threshold meets the budget or there are no keywords.
    """
    meeting = [
        p
        for p in points
        if p.false_accepts_per_hour <= fa_per_hour and not math.isnan(p.false_reject_rate)
    ]
    if not meeting:
        return None
    return min(meeting, key=lambda p: (p.false_reject_rate, p.false_accepts_per_hour, p.threshold))
