"""The content of ``stream_metrics.json``: one stream's figures at the detector's threshold
(``stream_metrics``), the best DET point within each false-accept budget (``budgets``), and
several streams pooled as one (``pooled_metrics``). JSON-safe: NaN becomes None.

The numbers come from ``kws.streaming.scoring``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from kws.streaming.scoring import (
    FA_PER_HOUR_TARGETS,
    TIME_TOLERANCE_MS,
    DetPoint,
    Label,
    frr_at_false_accepts,
    stream_scores,
)
from kws.streaming.scoring.matching import finite_or_none
from kws_runtime.posterior import IGNORED_LABELS, Detection, PosteriorSettings


def stream_metrics(
    detections: Iterable[Detection],
    labels: Iterable[Label],
    duration_ms: float,
    settings: PosteriorSettings,
    points: Sequence[DetPoint] | None = None,
    time_tolerance_ms: float = TIME_TOLERANCE_MS,
    ignore: Iterable[str] = IGNORED_LABELS,
    targets: Sequence[float] = FA_PER_HOUR_TARGETS,
) -> dict[str, Any]:
    """The content of ``stream_metrics.json`` (JSON-safe: NaN becomes None).

    Args:
        detections: the handler's detections at ``settings.threshold``.
        labels: the stream's ``(label, start_ms)`` rows.
        duration_ms: the stream's length.
        settings: the posterior settings the detections were made with.
        points: the DET curve, for the false-reject rate at each budget; None: left out.
        time_tolerance_ms: the matching tolerance, either side.
        ignore: labels never reported and label rows that are not keywords.
        targets: the false-accept budgets per hour.

    Returns:
        A dict: the settings, the stream, TensorFlow's figures, the error rates at the
        configured threshold and, with ``points``, the best point within each budget.
    """
    labels = list(labels)
    accuracy, errors = stream_scores(detections, labels, duration_ms, time_tolerance_ms, ignore)
    metrics: dict[str, Any] = {
        "settings": {
            "threshold": settings.threshold,
            "average_window_ms": settings.average_window_ms,
            "suppression_ms": settings.suppression_ms,
            "minimum_count": settings.minimum_count,
            "time_tolerance_ms": float(time_tolerance_ms),
        },
        "stream": {
            "duration_ms": float(duration_ms),
            "hours": errors.hours,
            "keywords": errors.keywords,
            "other_labels": len(labels) - errors.keywords,
        },
        "tensorflow": accuracy.as_dict(),
        "detections": errors.detections,
        "correct": errors.correct,
        "false_accepts": errors.false_accepts,
        "false_accepts_per_hour": errors.false_accepts_per_hour,
        "false_rejects": errors.false_rejects,
        "false_reject_rate": finite_or_none(errors.false_reject_rate),
    }
    if points is not None:
        metrics |= budgets(points, targets)
    return metrics


def budgets(
    points: Sequence[DetPoint], targets: Sequence[float] = FA_PER_HOUR_TARGETS
) -> dict[str, Any]:
    """The best point of a DET curve within each false-accept budget, for the metrics file.

    Args:
        points: the DET curve.
        targets: the false-accept budgets per hour.

    Returns:
        ``{"frr_at_fa_per_hour": {budget: point or None}, "det_thresholds": count}``.
    """
    budgets = {}
    for target in targets:
        best = frr_at_false_accepts(points, target)
        budgets[f"{target:g}"] = None if best is None else {
            "false_reject_rate": best.false_reject_rate,
            "false_accepts_per_hour": best.false_accepts_per_hour,
            "threshold": best.threshold,
        }  # fmt: skip
    return {"frr_at_fa_per_hour": budgets, "det_thresholds": len(points)}


#: The counts ``pooled_metrics`` adds up over streams.
_COUNTS = ("detections", "correct", "false_accepts", "false_rejects")


def pooled_metrics(
    streams: Mapping[str, dict[str, Any]],
    points: Sequence[DetPoint],
    targets: Sequence[float] = FA_PER_HOUR_TARGETS,
) -> dict[str, Any]:
    """The metrics of several streams scored at one threshold, as one stream of all their audio:
    false accepts per hour over all their hours, false rejects over all their keywords (a
    keyword-free stream adds hours and false accepts only), with each stream's own metrics
    under ``streams``.

    Args:
        streams: ``{name: stream_metrics(...)}``, each made with the same settings.
        points: the pooled DET curve (``kws.streaming.scoring.pool_det_curves``).
        targets: the false-accept budgets per hour.

    Returns:
        A dict shaped as ``stream_metrics``' (without TensorFlow's figures, which are per
        labelled stream), plus ``streams``.
    """
    first = next(iter(streams.values()))
    counts = {key: sum(m[key] for m in streams.values()) for key in _COUNTS}
    hours = sum(m["stream"]["hours"] for m in streams.values())
    keywords = sum(m["stream"]["keywords"] for m in streams.values())
    return {
        "settings": first["settings"],
        "stream": {
            "duration_ms": sum(m["stream"]["duration_ms"] for m in streams.values()),
            "hours": hours,
            "keywords": keywords,
            "other_labels": sum(m["stream"]["other_labels"] for m in streams.values()),
        },
        **counts,
        "false_accepts_per_hour": counts["false_accepts"] / hours,
        "false_reject_rate": counts["false_rejects"] / keywords if keywords else None,
        **budgets(points, targets),
        "streams": dict(streams),
    }
