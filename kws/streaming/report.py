"""Streaming scores presented: ``stream_metrics.json``'s content, its summary table, and the DET
curve as ``det_curve.csv`` and ``det_curve.png``.

The numbers come from ``kws.streaming.scoring``. Nothing here imports torch until the figure is
written (``write_det_curve`` uses ``kws.reporting.figures``).
"""

from __future__ import annotations

import csv
import math
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np
from matplotlib.figure import Figure

from kws.io import atomic_write
from kws.streaming.posterior import IGNORED_LABELS, Detection, PosteriorSettings
from kws.streaming.scoring import (
    FA_PER_HOUR_TARGETS,
    TIME_TOLERANCE_MS,
    DetPoint,
    Label,
    frr_at_false_accepts,
    stream_scores,
)


def det_curve_figure(
    curves: Mapping[str, Sequence[DetPoint]], targets: Sequence[float] = FA_PER_HOUR_TARGETS
) -> Figure:
    """DET curves on log axes: false-reject rate against false accepts per hour.

    Points with no false accept or no false reject lie off log axes and are left out (they are
    in ``det_curve.csv``); each budget in ``targets`` is a dotted line with the first curve's
    best point within it, named in the legend. With no point on the axes at all (a model that
    makes no false accept, or misses nothing) the figure says so instead of a curve.

    Args:
        curves: ``{name: points}``, the first the one the budgets are read off.
        targets: false-accept budgets per hour to mark.

    Returns:
        The figure (not attached to pyplot).
    """
    figure = Figure(figsize=(6.5, 4.8))
    axis = figure.add_subplot()
    drawn = 0
    for name, points in curves.items():
        fa = np.array([p.false_accepts_per_hour for p in points], dtype=np.float64)
        frr = np.array([p.false_reject_rate for p in points], dtype=np.float64)
        drawable = (fa > 0) & (frr > 0)
        drawn += int(drawable.sum())
        # In threshold order: false accepts fall and false rejects rise along the curve.
        axis.plot(fa[drawable], frr[drawable], marker=".", linewidth=1.2, label=name)
    headline = next(iter(curves.values()), [])
    for target in targets:
        best = frr_at_false_accepts(headline, target)
        if best is None:
            continue
        label = (
            f"≤ {target:g} FA/h: FRR {best.false_reject_rate:.1%} "
            f"(threshold {best.threshold:.4g}, {best.false_accepts_per_hour:.2g} FA/h)"
        )
        on_axes = best.false_reject_rate > 0 and best.false_accepts_per_hour > 0
        drawn += on_axes
        if not on_axes:
            label += ", off the log axes"
        x, y = ([best.false_accepts_per_hour], [best.false_reject_rate]) if on_axes else ([], [])
        axis.plot(x, y, marker="o", linestyle="none", label=label)
    axis.set_title("Streaming detection: DET curve")
    if drawn:
        axis.set_xscale("log")
        axis.set_yscale("log")
        for target in targets:
            axis.axvline(target, color="0.5", linestyle=":", linewidth=0.9)
        axis.set_xlabel("False accepts per hour")
        axis.set_ylabel("False-reject rate")
        axis.grid(True, which="both", linewidth=0.4, alpha=0.5)
        axis.legend(fontsize="small", loc="upper right")  # DET curves fall to the lower right
    else:  # nothing on log axes: say what the curve is instead of drawing empty axes
        budgets = [line.get_label().removesuffix(", off the log axes") for line in axis.lines]
        axis.clear()
        axis.set_axis_off()
        axis.set_title("Streaming detection: DET curve")
        message = [
            "No threshold gives both a false accept and a false reject,",
            "so there is no point to draw on log axes:",
            *budgets[len(curves) :],
            "(every threshold's figures are in det_curve.csv)",
        ]
        axis.text(0.5, 0.5, "\n".join(message), ha="center", va="center",
                  transform=axis.transAxes)  # fmt: skip
    figure.tight_layout()
    return figure


#: The columns of ``det_curve.csv``: the curve's name, then ``DetPoint``'s fields.
DET_COLUMNS = ("curve", *DetPoint._fields)


def write_det_curve(
    curves: Mapping[str, Sequence[DetPoint]],
    directory: str | Path,
    targets: Sequence[float] = FA_PER_HOUR_TARGETS,
) -> list[Path]:
    """Write ``det_curve.csv`` (every curve's points, named) and ``det_curve.png`` into
    ``directory``, each atomically.

    Args:
        curves: ``{name: points}``, the first the one the budgets are marked on.
        directory: where they go; made if missing.
        targets: false-accept budgets to mark on the figure.

    Returns:
        The two paths.
    """
    from kws.reporting.figures import save_figures  # imports torch: only when writing

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    csv_path = directory / "det_curve.csv"
    with atomic_write(csv_path, newline="") as file:
        writer = csv.writer(file)
        writer.writerow(DET_COLUMNS)
        for name, points in curves.items():
            for p in points:
                writer.writerow(
                    [
                        name,
                        repr(p.threshold),
                        "" if math.isnan(p.false_reject_rate) else f"{p.false_reject_rate:.6g}",
                        f"{p.false_accepts_per_hour:.6g}",
                        p.false_accepts,
                        p.false_rejects,
                        p.detections,
                        p.keywords,
                        f"{p.hours:.6g}",
                    ]
                )
    [png_path] = save_figures({"det_curve": det_curve_figure(curves, targets)}, directory)
    return [csv_path, png_path]


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


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
        "false_reject_rate": _finite_or_none(errors.false_reject_rate),
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


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _show(value: float | None, form: str, unit: str = "") -> str:
    return "n/a" if value is None or not math.isfinite(value) else format(value, form) + unit


def format_summary(metrics: dict[str, Any]) -> str:
    """A plain-text table of ``stream_metrics`` output.

    Args:
        metrics: what ``stream_metrics`` returned (or read back from its JSON).

    Returns:
        The table, lines joined by newlines.
    """
    s, stream = metrics["settings"], metrics["stream"]
    rows = [
        ("stream" if "streams" not in metrics else "all streams",
         f"{stream['hours']:.3f} h, {stream['keywords']} keywords"
         f" (+{stream['other_labels']} other labels)"),
        ("settings", f"threshold {s['threshold']:.4g}, average {s['average_window_ms']:g} ms,"
                     f" suppression {s['suppression_ms']:g} ms, minimum count "
                     f"{s['minimum_count']}, tolerance ±{s['time_tolerance_ms']:g} ms"),
    ]  # fmt: skip
    for name, each in metrics.get("streams", {}).items():
        rows.append((
            name, f"{each['stream']['hours']:.3f} h, {each['stream']['keywords']} keywords: "
            f"{_count(each['false_accepts'], 'false accept')} "
            f"({_show(each['false_accepts_per_hour'], '.2f')} per hour), "
            f"{_count(each['false_rejects'], 'false reject')} "
            f"(rate {_show(each['false_reject_rate'], '.2%')})",
        ))  # fmt: skip
    tf = metrics.get("tensorflow")
    if tf is not None:
        rows += [
            ("TF matched", _show(tf["matched_percent"], ".1f", "%")),
            ("TF correct", _show(tf["correct_percent"], ".1f", "%")),
            ("TF wrong", _show(tf["wrong_percent"], ".1f", "%")),
            ("TF false positive", _show(tf["false_positive_percent"], ".1f", "%")),
        ]
    rows += [
        ("detections", f"{metrics['detections']} ({metrics['correct']} correct)"),
        ("false accepts", f"{metrics['false_accepts']}"
                          f" ({_show(metrics['false_accepts_per_hour'], '.2f')} per hour)"),
        ("false rejects", f"{metrics['false_rejects']}"
                          f" (rate {_show(metrics['false_reject_rate'], '.2%')})"),
    ]  # fmt: skip
    for target, best in metrics.get("frr_at_fa_per_hour", {}).items():
        value = "no threshold meets it" if best is None else (
            f"{best['false_reject_rate']:.2%} (threshold {best['threshold']:.4g}, "
            f"{best['false_accepts_per_hour']:.2f} FA/h)"
        )  # fmt: skip
        rows.append((f"FRR at <= {target} FA/h", value))
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def print_summary(metrics: dict[str, Any], file: TextIO | None = None) -> None:
    """Print ``format_summary(metrics)``.

    Args:
        metrics: what ``stream_metrics`` returned.
        file: where to print; None: standard output.
    """
    print(format_summary(metrics), file=sys.stdout if file is None else file)
