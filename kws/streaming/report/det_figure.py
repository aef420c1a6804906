"""The DET curve drawn and written: ``det_curve.png`` (``det_curve_figure``) and ``det_curve.csv``
(``write_det_curve``).

Nothing here imports torch (the PNG is written by ``kws.plotting.images``).
"""

from __future__ import annotations

import csv
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator

from kws.plotting.images import save_figures
from kws.streaming.scoring import FA_PER_HOUR_TARGETS, DetPoint, frr_at_false_accepts
from kws_runtime.io import atomic_write
from kws_runtime.posterior import PosteriorSettings

#: TensorFlow's ``RecognizeCommands`` threshold (``PosteriorSettings``' default), marked on every
#: DET curve.
DEFAULT_THRESHOLD = PosteriorSettings().threshold
#: The shapes the marked thresholds take, in turn.
THRESHOLD_MARKERS = ("D", "*", "s", "P", "X", "v")
#: Where nothing on the curve is above 0, the width of the linear part of that symlog axis.
FALLBACK_FA_PER_HOUR = 0.5
FALLBACK_FRR = 0.01


def _smallest_positive(values: np.ndarray, fallback: float) -> float:
    positive = values[values > 0]
    return float(positive.min()) if positive.size else fallback


def _zero_then_log(scale: Axis, step: float, high: float, form: Callable[[float], str]) -> None:
    """Ticks of a symlog axis at 0 and on its log part, from ``step`` to ``high`` (1, 2 and 5
    times each power of ten over fewer than two decades): none inside the linear part, where
    nothing but 0 is drawn."""

    def log_ticks(subs: Sequence[float]) -> list[float]:
        return [v for v in LogLocator(subs=subs).tick_values(step, high) if step <= v <= high]

    labelled = (1.0, 2.0, 5.0) if high < 100 * step else (1.0,)
    scale.set_major_locator(FixedLocator([0.0, *(log_ticks(labelled) or [step])]))
    scale.set_minor_locator(FixedLocator(log_ticks(np.arange(2.0, 10.0))))
    scale.set_major_formatter(FuncFormatter(lambda value, _: form(value)))


def _nearest(points: Sequence[DetPoint], threshold: float) -> DetPoint | None:
    """The point of ``points`` (with a false-reject rate) whose threshold is nearest."""
    scored = [p for p in points if not math.isnan(p.false_reject_rate)]
    return min(scored, key=lambda p: abs(p.threshold - threshold), default=None)


def _say_instead(axis: Axes, lines: Sequence[str]) -> None:
    """Replace a DET curve with lines saying why there is none."""
    axis.set_axis_off()
    axis.text(0.5, 0.5, "\n".join([*lines, "(every threshold's figures are in det_curve.csv)"]),
              ha="center", va="center", transform=axis.transAxes)  # fmt: skip


def det_curve_figure(
    curves: Mapping[str, Sequence[DetPoint]],
    targets: Sequence[float] = FA_PER_HOUR_TARGETS,
    thresholds: Mapping[str, float] | None = None,
) -> Figure:
    """DET curves: false-reject rate against false accepts per hour, both on symlog axes, so
    that a point with no false accept or no false reject is drawn at the axis' 0 (to the left
    of, or below, the smallest rate there is, which starts the log part) instead of left out.

    Each budget in ``targets`` is a dotted line with the first curve's best point within it;
    TensorFlow's default threshold and each of ``thresholds`` is a marker on the first curve,
    named beside it (thresholds the sweep lacks: its nearest point, said so). The legend lies
    under the axes, off the data. Points with no false-reject rate (a stream without keywords)
    are left out; with nothing left, or every point at 0 false accepts and 0 false rejects, the
    figure says so instead of drawing a curve.

    Args:
        curves: ``{name: points}``, the first the one the budgets and thresholds are read off.
        targets: false-accept budgets per hour to mark. Default ``FA_PER_HOUR_TARGETS``.
        thresholds: ``{name: threshold}`` to mark besides ``DEFAULT_THRESHOLD`` (e.g.
            ``{"calibrated": 0.83}``); names of equal thresholds are joined. Default None.

    Returns:
        The figure (not attached to pyplot).
    """
    figure = Figure(figsize=(7.5, 7.0), layout="constrained")
    axis = figure.add_subplot()
    axis.set_title("Streaming detection: DET curve")
    scored = {
        name: [p for p in points if not math.isnan(p.false_reject_rate)]
        for name, points in curves.items()
    }
    fa = np.array([p.false_accepts_per_hour for ps in scored.values() for p in ps], np.float64)
    frr = np.array([p.false_reject_rate for ps in scored.values() for p in ps], np.float64)
    headline = next(iter(curves.values()), [])
    within: dict[DetPoint, list[float]] = {}  # each best point, and the budgets it is best in
    for target in targets:
        best = frr_at_false_accepts(headline, target)
        if best is not None:
            within.setdefault(best, []).append(target)
    met = [(best, (  # one marker and legend entry a point
        f"≤ {', '.join(f'{t:g}' for t in budgets_met)} FA/h: FRR {best.false_reject_rate:.1%} "
        f"(threshold {best.threshold:.4g}, {best.false_accepts_per_hour:.2g} FA/h)"
    )) for best, budgets_met in within.items()]  # fmt: skip
    if not fa.size:
        _say_instead(axis, ["No point has a false-reject rate to draw:",
                            "the streams have no keyword labels."])  # fmt: skip
        return figure
    if not (fa > 0).any() and not (frr > 0).any():
        _say_instead(axis, [
            "No threshold gives a false accept or a false reject:",
            "every point of the curve is 0 FA/h at 0% FRR.",
            *(label for _, label in met),
        ])  # fmt: skip
        return figure

    for k, (name, points) in enumerate(scored.items()):  # the first on top of the others
        axis.plot([p.false_accepts_per_hour for p in points],
                  [p.false_reject_rate for p in points],
                  marker=".", linewidth=1.2, label=name, zorder=2.5 if k == 0 else 2)  # fmt: skip
    for best, label in met:  # rings, so that a threshold's marker on the same point shows
        axis.plot(best.false_accepts_per_hour, best.false_reject_rate, marker="o",
                  markersize=14, markerfacecolor="none", markeredgewidth=2, linestyle="none",
                  label=label)  # fmt: skip
    names: dict[float, list[str]] = {}
    for name, threshold in {"default": DEFAULT_THRESHOLD, **(thresholds or {})}.items():
        names.setdefault(float(threshold), []).append(name)
    stacked: dict[tuple[float, float], int] = {}  # labels at each point, written one below another
    for (threshold, named), marker in zip(names.items(), itertools.cycle(THRESHOLD_MARKERS)):
        point = _nearest(next(iter(scored.values())), threshold)
        if point is None:
            continue
        name = " = ".join(named)
        label = (
            f"{name} threshold {threshold:.4g}: {point.false_accepts_per_hour:.2g} FA/h, "
            f"FRR {point.false_reject_rate:.1%}"
        )
        if point.threshold != threshold:
            label += f" (nearest swept threshold {point.threshold:.4g})"
        xy = (point.false_accepts_per_hour, point.false_reject_rate)
        axis.plot(*xy, marker=marker, markersize=10, markeredgecolor="black", linestyle="none",
                  zorder=4, label=label)  # fmt: skip
        below = stacked[xy] = stacked.get(xy, -1) + 1
        axis.annotate(f"{name} {threshold:.4g}", xy, xytext=(8, 6 - 12 * below),
                      textcoords="offset points", fontsize="small", zorder=5)  # fmt: skip
    for k, target in enumerate(targets):
        axis.axvline(target, color="0.5", linestyle=":", linewidth=0.9,
                     label=f"budgets: {', '.join(f'{t:g}' for t in targets)} FA/h" if k == 0
                     else "_budget")  # fmt: skip

    # symlog: linear from 0 to the smallest rate drawn (or budget), logarithmic above it.
    fa_step = min([_smallest_positive(fa, FALLBACK_FA_PER_HOUR), *targets])
    frr_step = _smallest_positive(frr, FALLBACK_FRR)
    axis.set_xscale("symlog", linthresh=fa_step, linscale=0.5)
    axis.set_yscale("symlog", linthresh=frr_step, linscale=0.5)
    fa_high = 1.6 * max([fa.max(), fa_step, *targets])
    frr_high = min(1.3, 1.6 * max(frr.max(), frr_step))
    axis.set_xlim(-0.2 * fa_step, fa_high)
    axis.set_ylim(-0.2 * frr_step, frr_high)
    _zero_then_log(axis.xaxis, fa_step, fa_high, lambda value: f"{value:g}")
    _zero_then_log(axis.yaxis, frr_step, frr_high, lambda value: f"{100 * value:g}%")
    axis.set_xlabel("False accepts per hour (0, then log scale)")
    axis.set_ylabel("False-reject rate (0, then log scale)")
    axis.grid(True, which="both", linewidth=0.4, alpha=0.5)
    figure.legend(loc="outside lower center", fontsize="small")  # under the axes: off the data
    return figure


#: The columns of ``det_curve.csv``: the curve's name, then ``DetPoint``'s fields.
DET_COLUMNS = ("curve", *DetPoint._fields)


def write_det_curve(
    curves: Mapping[str, Sequence[DetPoint]],
    directory: str | Path,
    targets: Sequence[float] = FA_PER_HOUR_TARGETS,
    thresholds: Mapping[str, float] | None = None,
) -> list[Path]:
    """Write ``det_curve.csv`` (every curve's points, named) and ``det_curve.png`` into
    ``directory``, each atomically.

    Args:
        curves: ``{name: points}``, the first the one the budgets are marked on.
        directory: where they go; made if missing.
        targets: false-accept budgets to mark on the figure. Default ``FA_PER_HOUR_TARGETS``.
        thresholds: thresholds to mark besides TensorFlow's default (``det_curve_figure``).
            Default None.

    Returns:
        The two paths.
    """
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
    [png_path] = save_figures(
        {"det_curve": det_curve_figure(curves, targets, thresholds)}, directory
    )
    return [csv_path, png_path]
