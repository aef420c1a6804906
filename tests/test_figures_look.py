"""What a person sees in kws's figures, asserted on the drawn figure: the confusion matrix's
title inside the canvas, the initial Mel filters visible over the learned ones, no difference
image for an unchanged STFT, and a DET curve whose legend stays off the data, whose default and
calibrated thresholds are marked, and whose points at 0 false accepts per hour are drawn."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from kws.frontend import STFT, MelSpectrogram
from kws.reporting.figures import (
    RESPONSE_FLOOR_DB,
    confusion_matrix_figure,
    frontend_figures,
    mel_filterbank_figure,
    stft_kernels_figure,
    stft_response_figure,
)
from kws.streaming.report import DEFAULT_THRESHOLD, det_curve_figure
from kws.streaming.scoring import DetPoint

EVALUATE_TITLE = (  # the title kws.tasks.evaluate gives it
    "Confusion matrix, test split: 211 clips, accuracy 91.94% (rows: true class, columns: "
    "predicted)"
)


def _drawn(figure: Figure) -> FigureCanvasAgg:
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return canvas


def _inside(inner, outer, slack: float = 0.5) -> bool:
    return (
        inner.x0 >= outer.x0 - slack
        and inner.y0 >= outer.y0 - slack
        and inner.x1 <= outer.x1 + slack
        and inner.y1 <= outer.y1 + slack
    )


# --- the confusion matrix ---------------------------------------------------------------------


@pytest.mark.parametrize("classes", [2, 4, 12])
def test_the_confusion_matrix_title_is_whole_inside_the_canvas(classes: int):
    matrix = np.diag(np.full(classes, 20)) + 1
    names = [f"word_{k}" for k in range(classes)]
    figure = confusion_matrix_figure(matrix, names, EVALUATE_TITLE)
    renderer = _drawn(figure).get_renderer()
    titles = [t for t in [figure._suptitle, *(a.title for a in figure.axes)] if t and t.get_text()]
    [title] = titles
    assert " ".join(title.get_text().split()) == EVALUATE_TITLE  # every word, maybe wrapped
    assert _inside(title.get_window_extent(renderer), figure.bbox)
    [matrix_axis, _] = figure.axes
    # Above the matrix, not over it.
    assert title.get_window_extent(renderer).y0 >= matrix_axis.get_window_extent(renderer).y1


# --- the Mel filterbank -----------------------------------------------------------------------


def test_initial_mel_filters_are_drawn_over_the_learned_ones_and_named():
    mel = MelSpectrogram(trainable_mel=True)
    with torch.no_grad():
        mel.mel_basis.mul_(1.2)
    figure = mel_filterbank_figure(mel)
    filters = figure.axes[0]
    initial = [line for line in filters.lines if line.get_linestyle() == "--"]
    learned = [line for line in filters.lines if line.get_linestyle() == "-"]
    assert len(initial) == len(learned) == 40
    # On top, and thinner: the learned filters do not hide them.
    assert min(line.get_zorder() for line in initial) > max(line.get_zorder() for line in learned)
    assert max(line.get_linewidth() for line in initial) < min(
        line.get_linewidth() for line in learned
    )
    np.testing.assert_allclose(initial[5].get_ydata(), mel.initial_mel_basis[5].numpy())
    np.testing.assert_allclose(learned[5].get_ydata(), 1.2 * mel.initial_mel_basis[5].numpy())
    [legend] = figure.legends
    renderer = _drawn(figure).get_renderer()
    assert not legend.get_window_extent(renderer).overlaps(filters.get_window_extent(renderer))
    legend = [text.get_text() for text in legend.get_texts()]
    assert any("learned" in text for text in legend)
    assert any("initial" in text for text in legend)


def test_an_unchanged_mel_basis_is_drawn_once_without_a_zero_shift_panel():
    for mel, word in ((MelSpectrogram(trainable_mel=False), "fixed"),
                      (MelSpectrogram(trainable_mel=True), "unchanged")):  # fmt: skip
        [filters] = mel_filterbank_figure(mel).axes
        assert len(filters.lines) == 40
        assert word in filters.get_title()


# --- the STFT ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("trainable", "word"), [(False, "fixed"), (True, "unchanged")])
def test_an_unchanged_stft_has_no_change_panel_nor_its_colour_bar(trainable: bool, word: str):
    stft = STFT(n_fft=512, win_length=480, trainable=trainable)
    figure = stft_response_figure(stft)
    images = [image for axis in figure.axes for image in axis.images]
    assert len(images) == 1  # the kernels, which are the initial ones
    colour_bars = [axis for axis in figure.axes if axis.get_label() == "<colorbar>"]
    assert len(colour_bars) == 1
    assert images[0].get_clim() == (RESPONSE_FLOOR_DB, 0.0)
    texts = [axis.get_title() for axis in figure.axes] + [figure.get_suptitle()]
    assert any(word in text for text in texts)
    assert not any("Change" in text for text in texts)

    kernels = stft_kernels_figure(stft)
    titles = [axis.get_title() for axis in kernels.axes]
    assert len(kernels.axes) == 4 * 2  # real and imaginary, no change column
    assert not any("Change" in title or "%" in title for title in titles)
    assert word in kernels.get_suptitle()
    assert all(len(axis.lines) == 1 for axis in kernels.axes)  # not a copy over itself


@pytest.mark.parametrize("moved", [False, True], ids=["fixed-stft", "moved-mel-and-stft"])
def test_every_frontend_figures_titles_lie_inside_the_canvas(moved: bool):
    frontend = MelSpectrogram(trainable_stft=moved, trainable_mel=moved)
    with torch.no_grad():
        for parameter in frontend.parameters():
            parameter.mul_(1.1)
    for name, figure in frontend_figures(frontend).items():
        renderer = _drawn(figure).get_renderer()
        titles = [figure._suptitle, *(axis.title for axis in figure.axes)]
        for title in (t for t in titles if t is not None and t.get_text()):
            assert _inside(title.get_window_extent(renderer), figure.bbox), (name, title)


# --- the DET curve ----------------------------------------------------------------------------


def _point(threshold: float, frr: float, false_accepts: int, hours: float = 1.0) -> DetPoint:
    keywords = 100
    rejects = 0 if math.isnan(frr) else round(frr * keywords)
    return DetPoint(
        threshold, frr, false_accepts / hours, false_accepts, rejects, 0, keywords, hours
    )


#: Threshold, false-reject rate, false accepts in an hour: the last four make none.
CURVE = [_point(t, frr, fa) for t, frr, fa in [
    (0.3, 0.02, 40), (0.5, 0.04, 12), (0.7, 0.06, 5), (0.8, 0.09, 2), (0.83, 0.11, 1),
    (0.9, 0.15, 0), (0.95, 0.21, 0), (0.99, 0.4, 0), (1.0, 1.0, 0),
]]  # fmt: skip


def _marker(axis, text: str):
    [line] = [line for line in axis.lines if text in line.get_label()]
    return line


def test_the_det_legend_stays_off_the_data_and_thresholds_are_marked():
    figure = det_curve_figure({"all streams": CURVE}, thresholds={"calibrated": 0.83})
    renderer = _drawn(figure).get_renderer()
    [axis] = figure.axes
    legends = [*figure.legends, *([axis.get_legend()] if axis.get_legend() else [])]
    [legend] = legends
    # Outside the axes: it cannot cover a point of the curve, wherever the curve lies.
    legend_box, axis_box = legend.get_window_extent(renderer), axis.get_window_extent(renderer)
    assert legend_box.y1 <= axis_box.y0 or legend_box.x0 >= axis_box.x1
    assert _inside(legend_box, figure.bbox)

    default = _marker(axis, f"default threshold {DEFAULT_THRESHOLD:g}")
    assert (default.get_xdata()[0], default.get_ydata()[0]) == (5.0, 0.06)
    calibrated = _marker(axis, "calibrated threshold 0.83")
    assert (calibrated.get_xdata()[0], calibrated.get_ydata()[0]) == (1.0, 0.11)
    assert default.get_marker() != calibrated.get_marker()
    notes = {text.get_text() for text in axis.texts}
    assert {"default 0.7", "calibrated 0.83"} <= notes  # labelled beside the markers
    legend_texts = [text.get_text() for text in legend.get_texts()]
    assert "calibrated threshold 0.83: 1 FA/h, FRR 11.0%" in legend_texts


def test_threshold_labels_on_one_point_do_not_overlap():
    # 0.7 and 0.75 both show the sweep's 0.7 point: their labels are written one below another.
    figure = det_curve_figure({"all streams": CURVE}, thresholds={"calibrated": 0.75})
    renderer = _drawn(figure).get_renderer()
    [axis] = figure.axes
    boxes = {t.get_text(): t.get_window_extent(renderer) for t in axis.texts}
    default, calibrated = boxes["default 0.7"], boxes["calibrated 0.75"]
    assert not default.overlaps(calibrated), (default, calibrated)


def test_a_threshold_between_swept_ones_names_the_point_it_shows():
    figure = det_curve_figure({"stream": CURVE}, thresholds={"in use": 0.84})
    marker = _marker(figure.axes[0], "in use threshold 0.84")
    assert "nearest swept threshold 0.83" in marker.get_label()
    assert marker.get_xdata()[0] == 1.0


def test_det_points_without_false_accepts_are_drawn_at_zero():
    figure = det_curve_figure({"all streams": CURVE})
    renderer = _drawn(figure).get_renderer()
    [axis] = figure.axes
    curve = _marker(axis, "all streams")
    assert list(curve.get_xdata()) == [p.false_accepts_per_hour for p in CURVE]
    assert axis.get_xscale() == axis.get_yscale() == "symlog"
    left, right = axis.get_xlim()
    assert left < 0.0 and right >= 40.0  # 0 FA/h lies inside the axes
    zero_ticks = [t for t in axis.get_xticklabels() if t.get_position()[0] == 0.0]
    assert [t.get_text() for t in zero_ticks] == ["0"]
    # The 0.5 FA/h budget's best point has no false accept: on the axes, not only in the legend.
    budget = _marker(axis, "≤ 0.5 FA/h")
    assert (budget.get_xdata()[0], budget.get_ydata()[0]) == (0.0, 0.15)
    assert "off the" not in budget.get_label()
    x, y = axis.transData.transform((0.0, 0.15))
    assert _inside(axis.get_window_extent(renderer), figure.bbox)
    box = axis.get_window_extent(renderer)
    assert box.x0 < x < box.x1 and box.y0 < y < box.y1


@pytest.mark.parametrize(
    "points",
    [
        [_point(t, frr, 0) for t, frr in [(0.5, 0.1), (0.7, 0.2), (1.0, 1.0)]],  # no FA at all
        [_point(t, 0.0, fa) for t, fa in [(0.5, 9), (0.7, 3), (0.9, 1)]],  # no FR at all
        [_point(t, math.nan, fa) for t, fa in [(0.5, 9), (0.7, 3)]],  # no keywords
    ],
    ids=["no-false-accept", "no-false-reject", "no-keywords"],
)
def test_det_curves_on_an_axis_edge_draw_without_warnings(points: list[DetPoint]):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        figure = det_curve_figure({"stream": points})
        _drawn(figure)
    [axis] = figure.axes
    finite = [p for p in points if not math.isnan(p.false_reject_rate)]
    if finite:
        curve = _marker(axis, "stream")
        assert len(curve.get_xdata()) == len(finite)
    else:
        assert "no keyword" in " ".join(t.get_text() for t in axis.texts)


def test_a_det_curve_without_budgets_still_draws():
    [axis] = det_curve_figure({"stream": CURVE}, targets=()).axes
    assert not [line for line in axis.lines if "FA/h:" in line.get_label()]  # no budget point
    assert axis.get_xlim()[1] >= 40.0
