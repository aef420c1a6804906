"""``stream_metrics.json``'s content as a plain-text table (``format_summary``), as ``detect.py``
and ``evaluate.py stream=true`` print it."""

from __future__ import annotations

import math
import sys
from typing import Any, TextIO


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
