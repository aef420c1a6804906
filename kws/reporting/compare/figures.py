"""The comparison's figures: accuracy and drift per setting, accuracy against the number of
filters, the gain from training against the head's size, and learned filter centres."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib import colormaps, rcParams
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from kws.frontend import DRIFT_LABELS, MEL_BASIS_CHANGE, STFT_KERNEL_CHANGE
from kws.reporting.compare.centres import Centres
from kws.reporting.compare.paired import PAIRED_METRIC, PairedTest
from kws.reporting.compare.settings import Setting, natural_order
from kws.reporting.compare.statistics import ALPHA, CONFIDENCE
from kws.reporting.compare.text import text_height, wrap

N_MELS = "frontend.n_mels"
# The comparison figure: the height of each of its two panels, and the width its y axes take
# (inches); every figure: room for a panel's title, axis labels and pads beyond its axes.
PANEL_HEIGHT = 3.6
Y_AXIS_WIDTH = 1.2
DECORATIONS = 1.3
#: The figures a report may have, by file stem, with their titles in ``comparison.md``.
FIGURE_TITLES = {
    "comparison": "test accuracy and drift per setting",
    "comparison_n_mels": "test accuracy against the number of filters",
    "comparison_gain": "gain from training the frontend against the head's size",
    "comparison_centres": "learned filter centres against initial ones",
}


def _headroom(top: float, room: float, height: float) -> float:
    """The upper limit of an axis from 0 whose data reach ``top`` that leaves ``room`` inches
    above them in a panel ``height`` inches tall.

    Args:
        top: the highest data value, > 0.
        room: the room to leave above it, in inches, less than ``height``.
        height: the panel's height in inches.
    """
    return top * height / (height - room)


def comparison_figure(settings: list[Setting]) -> Figure:
    """Test accuracy per setting (mean ± std, each seed) above the STFT and Mel drift; each
    setting's label under both, wrapped to its slot, the figure as tall as the labels need.

    Args:
        settings: the settings to draw, in order.
    """
    x = np.arange(len(settings))
    width = max(11.0, 1.3 * len(settings) + 2)
    slot = 0.92 * (width - Y_AXIS_WIDTH) / len(settings)  # a setting's share, less a gap
    labels = [wrap(s.label(), slot, "small") for s in settings]
    label_height = max(text_height(label, "small") for label in labels)
    figure = Figure(
        figsize=(width, 2 * PANEL_HEIGHT + label_height + DECORATIONS), layout="constrained"
    )
    accuracy, drift = figure.subplots(2, 1, sharex=True)  # the labels once, under both
    panel = 0.85 * PANEL_HEIGHT  # the least a panel gets, the titles taken

    summaries = [s.summary("test/acc").scaled(100) for s in settings]
    means = np.array([np.nan if m.mean is None else m.mean for m in summaries])
    spreads = np.array([0.0 if m.std is None else m.std for m in summaries])
    accuracy.bar(x, means, yerr=spreads, capsize=5, color="tab:blue", alpha=0.8, width=0.6)
    tops = []  # above the error bar and every seed: the mean ± std label
    for i, s in enumerate(settings):
        seeds = 100 * s.metric("test/acc")
        accuracy.scatter(np.full(seeds.size, i), seeds, color="black", s=14, zorder=3)
        tops.append(max((v for v in (*seeds, means[i] + spreads[i]) if np.isfinite(v)),
                        default=0.0))  # fmt: skip
    notes = [wrap(s.summary("test/acc").text(), slot) for s in settings]
    for i, note in enumerate(notes):
        accuracy.annotate(note, (i, tops[i]), xytext=(0, 4), textcoords="offset points",
                          ha="center", va="bottom")  # fmt: skip
    # Room for the labels: their 4 points off the data, their lines and 4 points to spare.
    room = (4 + 4) / 72 + max(text_height(note, "medium") for note in notes)
    accuracy.set_ylim(0, max(100.0, _headroom(max(tops), room, panel)))
    accuracy.set_ylabel("Test accuracy (%)")
    accuracy.set_title("Test accuracy per setting: mean ± std over seeds (dots: seeds)")

    bar = 0.38
    parts = (
        (STFT_KERNEL_CHANGE, "trainable_stft", "tab:orange"),
        (MEL_BASIS_CHANGE, "trainable_mel", "tab:green"),
    )
    highest = 0.0
    for offset, (name, flag, colour) in zip((-bar / 2, bar / 2), parts, strict=True):
        label = DRIFT_LABELS[name]
        values = [s.drift(name) for s in settings]
        heights = [0.0 if v is None else 100 * v for v in values]
        notes = [
            "–" if v is None else ("fixed" if not getattr(s, flag) else f"{100 * v:.3g}")
            for s, v in zip(settings, values, strict=True)
        ]
        bars = drift.bar(x + offset, heights, bar, color=colour, label=label)
        drift.bar_label(bars, notes, padding=2, fontsize="small")
        highest = max([highest, *(h for h in heights if np.isfinite(h))])
    drift.set_ylabel("Relative change ‖W − W₀‖ / ‖W₀‖ (%)")
    drift.set_title("Frontend drift at the end of training (mean over seeds)")
    drift.legend(loc="upper left", ncols=2)  # one row, above the bars and their labels
    # Room for the bars' labels (2 points off the bar, a line) and the legend's row with its
    # frame and pads (three lines), and 6 points to spare.
    room = (2 + 6) / 72 + text_height("0", "small") + 3 * text_height("0", "medium")
    drift.set_ylim(0, _headroom(highest, room, panel) if highest > 0 else 1.0)
    drift.set_xticks(x, labels, fontsize="small")
    drift.set_xlim(-0.5, len(settings) - 0.5)
    for axis in (accuracy, drift):
        axis.grid(axis="y", alpha=0.3)
    return figure


def _grid(figure: Figure, n: int, columns: int) -> list:
    """``n`` axes in rows of ``columns``; the unused ones of the last row hidden."""
    rows = -(-n // columns)
    axes = np.atleast_1d(figure.subplots(rows, min(n, columns), squeeze=False)).ravel()
    for axis in axes[n:]:
        axis.set_visible(False)
    return list(axes[:n])


def n_mels_figure(settings: Sequence[Setting]) -> Figure | None:
    """Test accuracy against the number of filters, one line per setting (all else equal), one
    panel per head, one legend beside them (off the lines); error bars are the ``CONFIDENCE``
    intervals over seeds. None when no setting was run at two or more ``frontend.n_mels``.

    Args:
        settings: all settings of the report.
    """
    series: dict[tuple, list[Setting]] = {}
    for s in settings:
        if N_MELS in s.key:
            rest = tuple((k, v) for k, v in s.key.items() if k != N_MELS)
            series.setdefault(rest, []).append(s)
    series = {k: v for k, v in series.items() if len({s.value(N_MELS) for s in v}) > 1}
    if not series:
        return None
    models = sorted({members[0].model for members in series.values()})
    kinds = sorted({members[0].name(without=("model", N_MELS)) for members in series.values()})
    sizes = [s.value(N_MELS) for members in series.values() for s in members]
    step = 0.01 * (max(sizes) - min(sizes))  # lines of one size spread a little sideways
    width, legend = 7.0, 2.8  # a panel's and the legend's
    figure = Figure(figsize=(width * len(models) + legend, 5.2), layout="constrained")
    panels = dict(zip(models, _grid(figure, len(models), len(models)), strict=True))
    colours = colormaps["tab10"]
    for members in series.values():
        members = sorted(members, key=lambda s: natural_order(s.value(N_MELS)))
        kind = kinds.index(members[0].name(without=("model", N_MELS)))
        summaries = [s.summary(PAIRED_METRIC).scaled(100) for s in members]
        panels[members[0].model].errorbar(
            [s.value(N_MELS) + step * (kind - (len(kinds) - 1) / 2) for s in members],
            [np.nan if m.mean is None else m.mean for m in summaries],
            yerr=np.array([m.half_widths for m in summaries]).T,
            marker="o", capsize=4, color=colours(kind % 10),
        )  # fmt: skip
    for model, axis in panels.items():
        title = f"{model}: test accuracy, mean and {CONFIDENCE:.0%} CI over seeds"
        axis.set_title(wrap(title, width - Y_AXIS_WIDTH, rcParams["axes.titlesize"]))
        axis.set_xlabel("Number of filters (frontend.n_mels)")
        axis.set_ylabel("Test accuracy (%)")
        axis.grid(alpha=0.3)
    figure.legend(
        handles=[Line2D([], [], color=colours(i % 10), marker="o",
                        label=wrap(kind, legend - 0.6, "small")) for i, kind in enumerate(kinds)],
        loc="outside right upper", fontsize="small",
    )  # fmt: skip
    return figure


def gain_figure(tests: Sequence[PairedTest]) -> Figure | None:
    """The gain from training the frontend against the head's trainable parameter count: one
    colour per kind of trainable setting, one marker per number of filters (points of one head
    size spread a little sideways); error bars are the gain's ``CONFIDENCE`` interval, filled
    markers the gains the paired test calls significant; the legend beside the axes, off the
    bars. None without a gain to draw.

    Args:
        tests: the report's paired tests.
    """
    drawn = [t for t in tests if t.gain is not None and t.setting.runs[0].head_params]
    if not drawn:
        return None
    kinds = sorted({t.setting.name(without=("model", N_MELS)) for t in drawn})
    n_mels = sorted({t.setting.value(N_MELS) for t in drawn}, key=natural_order)
    colours, markers = colormaps["tab10"], "os^Dv<>pP*"
    width, legend = 9.0, 2.8  # the axes' and their legend's
    figure = Figure(figsize=(width + legend, 5.4), layout="constrained")
    axis = figure.subplots()
    for t in drawn:
        kind = kinds.index(t.setting.name(without=("model", N_MELS)))
        size = n_mels.index(t.setting.value(N_MELS))
        spread = kind * len(n_mels) + size - (len(kinds) * len(n_mels) - 1) / 2
        x, gain, colour = (
            t.setting.runs[0].head_params * 1.02**spread,
            100 * t.gain,
            colours(kind % 10),
        )
        errors = (
            [[0.0], [0.0]] if t.ci is None else [[gain - 100 * t.ci[0]], [100 * t.ci[1] - gain]]
        )
        significant = t.verdict in ("better", "worse")
        axis.errorbar(
            x, gain, yerr=errors, marker=markers[size % len(markers)], capsize=3, color=colour,
            markerfacecolor=colour if significant else "white",
        )  # fmt: skip
    for size in {(t.setting.model, t.setting.runs[0].head_params) for t in drawn}:
        axis.annotate(size[0], (size[1], 0.01), xycoords=("data", "axes fraction"),
                      ha="center", fontsize="x-small", color="0.3")  # fmt: skip
    for i, kind in enumerate(kinds):
        axis.plot([], [], "s", color=colours(i % 10),
                  label=wrap(kind, legend - 0.6, "small"))  # fmt: skip
    for i, value in enumerate(n_mels):
        if value is not None:
            axis.plot([], [], markers[i % len(markers)], color="0.3", label=f"{value} filters")
    axis.axhline(0.0, color="0.4", linewidth=0.8)
    axis.set_xscale("log")
    axis.set_xlabel("Head's trainable parameters (log scale)")
    axis.set_ylabel("Gain in test accuracy over the fixed baseline (points)")
    title = (
        f"Gain from training the frontend:\nmean and {CONFIDENCE:.0%} CI over paired seeds "
        f"(filled: p < {ALPHA})"
    )
    axis.set_title(wrap(title, width - Y_AXIS_WIDTH, rcParams["axes.titlesize"]))
    axis.grid(alpha=0.3)
    axis.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return figure


def centres_figure(centres: Sequence[tuple[Setting, list[Centres]]]) -> Figure | None:
    """Each filter's learned centre frequency against its initial one, one panel per setting
    whose frontend trains (three to a row, each titled with the setting's name wrapped to its
    width), one colour per seed. None without centres to draw.

    Args:
        centres: what ``read_centres`` found.
    """
    if not centres:
        return None
    columns = min(3, len(centres))
    width = max(6.4, 5.2 * columns) / columns  # a panel's
    room = width - Y_AXIS_WIDTH  # its axes'
    titles = [wrap(setting.name(), room, "small") for setting, _ in centres]
    rows = [titles[i : i + columns] for i in range(0, len(titles), columns)]
    suptitle = wrap("Filter centres in the tested checkpoints (legend: mean |shift|)",
                     width * columns, "medium")  # fmt: skip
    height = sum(
        PANEL_HEIGHT + DECORATIONS + max(text_height(t, "small") for t in row) for row in rows
    )
    figure = Figure(
        figsize=(width * columns, height + text_height(suptitle, "medium")), layout="constrained"
    )
    colours = colormaps["tab10"]
    panels = _grid(figure, len(centres), columns)
    for axis, title, (_, runs) in zip(panels, titles, centres, strict=True):
        top = max(max(c.initial.max(), c.learned.max()) for c in runs) / 1000
        axis.plot([0, top], [0, top], **{"color": "0.55", "linestyle": "--", "linewidth": 0.9})
        for i, run in enumerate(runs):
            shift = np.abs(run.learned - run.initial).mean()
            label = f"seed {run.seed} ({run.checkpoint.name}, epoch {run.epoch}): {shift:.0f} Hz"
            axis.scatter(run.initial / 1000, run.learned / 1000, s=12, color=colours(i % 10),
                         label=wrap(label, 0.8 * room, "x-small"))  # fmt: skip
        axis.set_title(title, fontsize="small")
        axis.set_xlabel("Initial centre (kHz)")
        axis.set_ylabel("Learned centre (kHz)")
        axis.grid(alpha=0.3)
        axis.legend(fontsize="x-small")
    figure.suptitle(suptitle, fontsize="medium")
    return figure
