"""kws.streaming.scoring and kws.streaming.report: TensorFlow's streaming accuracy figures on hand
cases, false accepts per hour and false-reject rates, the DET curve on a constructed track, and
hostile label files."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kws.streaming import Detection, PosteriorSettings, detections_at, scoring
from kws.streaming.report import (
    DET_COLUMNS,
    det_curve_figure,
    format_summary,
    print_summary,
    stream_metrics,
    write_det_curve,
)
from kws.streaming.scoring import (
    det_curve,
    detection_errors,
    frr_at_false_accepts,
    read_labels,
    streaming_accuracy,
)

NAMES = (
    "_silence_", "_unknown_", "yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go",
)  # fmt: skip
HOUR_MS = 3_600_000.0

LABELS = [("yes", 1000.0), ("no", 5000.0), ("yes", 10000.0), ("up", 20000.0),
          ("_unknown_", 30000.0)]  # fmt: skip
DETECTIONS = [
    Detection("yes", 1200.0, 0.9),  # correct
    Detection("yes", 5100.0, 0.9),  # wrong: "no" at 5000 is the label in reach
    Detection("yes", 11500.0, 0.9),  # correct: "yes" at 10000 is exactly 1500 ms before
    Detection("left", 15000.0, 0.9),  # false positive: nothing within 1500 ms
    Detection("go", 30500.0, 0.9),  # on an _unknown_ word: false positive, or wrong with it
]  # "up" at 20000 is missed


def counts(stats):
    return (stats.ground_truth, stats.matched, stats.correct, stats.wrong, stats.false_positives)


def percents(stats):
    """The matched, correct, wrong and false-positive percentages, as ``as_dict`` gives them."""
    keys = ("matched_percent", "correct_percent", "wrong_percent", "false_positive_percent")
    return tuple(stats.as_dict()[key] for key in keys)


def test_tensorflow_figures_on_a_hand_case():
    stats = streaming_accuracy(DETECTIONS, LABELS)
    assert counts(stats) == (4, 3, 2, 1, 2)
    assert percents(stats) == (75.0, 50.0, 25.0, 50.0)
    # TensorFlow's own counting keeps the _unknown_ row: "go" on it is a wrong word.
    stats = streaming_accuracy(DETECTIONS, LABELS, ignore=())
    assert counts(stats) == (5, 4, 2, 2, 1)
    assert percents(stats) == (80.0, 40.0, 40.0, 20.0)
    # Detections are taken in time order, whatever order they come in.
    assert streaming_accuracy(DETECTIONS[::-1], LABELS) == streaming_accuracy(DETECTIONS, LABELS)


@pytest.mark.parametrize(
    ("time_ms", "outcome"),
    [(11500.0, "correct"), (11500.5, "false positive"), (8500.0, "correct"),
     (8499.5, "false positive")],
)  # fmt: skip
def test_tolerance_edges(time_ms, outcome):
    stats = streaming_accuracy([Detection("yes", time_ms, 0.9)], [("yes", 10000.0)])
    assert (stats.correct, stats.false_positives) == ((1, 0) if outcome == "correct" else (0, 1))
    narrow = streaming_accuracy([Detection("yes", 10300.0, 0.9)], [("yes", 10000.0)], 299.0)
    assert narrow.false_positives == 1


def test_the_earliest_label_in_reach_is_taken():
    # TensorFlow matches a detection to the first label in reach, matched or not: "no" at
    # 2100 ms is held against "yes" at 1000 (wrong), and "no" at 2000 stays unmatched.
    stats = streaming_accuracy([Detection("no", 2100.0, 0.9)], [("yes", 1000.0), ("no", 2000.0)])
    assert counts(stats) == (2, 1, 0, 1, 0)
    # A label counts once: a second detection of it is wrong.
    twice = [Detection("yes", 1000.0, 0.9), Detection("yes", 1100.0, 0.9)]
    assert counts(streaming_accuracy(twice, [("yes", 1000.0)])) == (1, 1, 1, 1, 0)
    assert counts(streaming_accuracy([], [])) == (0, 0, 0, 0, 0)
    assert percents(streaming_accuracy([], [])) == (None, None, None, None)  # no labels


def test_false_accepts_per_hour_and_false_reject_rate():
    errors = detection_errors(DETECTIONS, LABELS, HOUR_MS)
    assert (errors.keywords, errors.detections, errors.correct) == (4, 5, 2)
    assert (errors.false_accepts, errors.false_rejects) == (3, 2)
    assert (errors.false_accepts_per_hour, errors.false_reject_rate) == (3.0, 0.5)
    assert detection_errors(DETECTIONS, LABELS, HOUR_MS / 2).false_accepts_per_hour == 6.0
    with pytest.raises(ValueError, match="past|after the stream's end"):
        detection_errors(DETECTIONS, LABELS, 15000.0)
    with pytest.raises(ValueError, match="duration_ms"):
        detection_errors(DETECTIONS, LABELS, 0.0)


# --- DET curve --------------------------------------------------------------------------------

TRUE_PEAKS = [0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.99]
FALSE_PEAKS = [0.6, 0.8, 0.92, 0.97]


def constructed_track():
    """An hour of 100 ms steps: silence at 0.999, ten "yes" said (one step each, at the peaks
    above, labelled) and four "no" bumps nobody said."""
    times = np.arange(36_000) * 100.0
    averaged = np.full((36_000, len(NAMES)), 0.001 / 11)
    averaged[:, 0] = 0.999
    labels = []
    bumps = [("yes", 60_000.0 * (k + 1), p) for k, p in enumerate(TRUE_PEAKS)]
    bumps += [("no", 700_000.0 + 60_000.0 * j, q) for j, q in enumerate(FALSE_PEAKS)]
    for label, t, peak in bumps:
        row = np.zeros(len(NAMES))
        row[0], row[NAMES.index(label)] = 1.0 - peak, peak
        averaged[int(t // 100)] = row
        if label == "yes":
            labels.append(("yes", t))
    return times, averaged, labels


def test_det_curve_on_a_constructed_track():
    times, averaged, labels = constructed_track()
    thresholds = np.round(np.arange(0.5, 1.0001, 0.01), 2)
    points = det_curve(times, averaged, NAMES, labels, HOUR_MS, 500.0, thresholds)
    assert [p.threshold for p in points] == sorted(thresholds.tolist())
    for p in points:
        assert p.false_reject_rate == pytest.approx(
            sum(peak <= p.threshold for peak in TRUE_PEAKS) / 10
        )
        assert p.false_accepts_per_hour == sum(peak > p.threshold for peak in FALSE_PEAKS)
    frr = [p.false_reject_rate for p in points]
    fa = [p.false_accepts_per_hour for p in points]
    assert frr == sorted(frr) and fa == sorted(fa, reverse=True)  # monotonic here
    at_one, at_half = frr_at_false_accepts(points, 1.0), frr_at_false_accepts(points, 0.5)
    # (threshold, false-reject rate, false accepts per hour): the best threshold within budget
    assert at_one[:3] == (0.92, 0.8, 1.0) and at_half[:3] == (0.97, 0.9, 0.0)
    assert frr_at_false_accepts(points, -1.0) is None
    # A point of the sweep is what the detections at its threshold give.
    found = detections_at(times, averaged, NAMES, 0.7, 500.0)
    errors = detection_errors(found, labels, HOUR_MS)
    [point] = [p for p in points if p.threshold == 0.7]
    assert point[3:5] == (errors.false_accepts, errors.false_rejects)
    assert (errors.false_accepts, errors.false_rejects) == (3, 4)


def test_default_thresholds_end_with_no_detection():
    times, averaged, labels = constructed_track()
    points = det_curve(times, averaged, NAMES, labels, HOUR_MS, 500.0)
    thresholds = [p.threshold for p in points]
    assert thresholds == sorted(set(thresholds)) and thresholds[0] > 0 and thresholds[-1] == 1.0
    assert (points[-1].false_reject_rate, points[-1].detections) == (1.0, 0)
    assert len(points) > 50


def test_det_files_metrics_and_summary(tmp_path: Path):
    times, averaged, labels = constructed_track()
    points = det_curve(times, averaged, NAMES, labels, HOUR_MS, 500.0)
    paths = write_det_curve({"stream": points}, tmp_path / "out")
    assert [p.name for p in paths] == ["det_curve.csv", "det_curve.png"]
    rows = (tmp_path / "out" / "det_curve.csv").read_text().splitlines()
    assert rows[0] == ",".join(DET_COLUMNS) and len(rows) == len(points) + 1
    with Image.open(paths[1]) as image:
        assert image.size[0] > 100
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "det_curve.csv",
        "det_curve.png",
    ]  # no temporary files left

    settings = PosteriorSettings()
    found = detections_at(times, averaged, NAMES, settings.threshold, settings.suppression_ms)
    metrics = stream_metrics(found, labels + [("_unknown_", 5.0)], HOUR_MS, settings, points)
    json.dumps(metrics, allow_nan=False)
    assert metrics["stream"] == {
        "duration_ms": HOUR_MS, "hours": 1.0, "keywords": 10, "other_labels": 1
    }  # fmt: skip
    assert (metrics["false_accepts"], metrics["false_rejects"]) == (3, 4)
    assert metrics["tensorflow"]["correct_percent"] == 60.0
    assert metrics["frr_at_fa_per_hour"]["1"]["false_reject_rate"] == 0.8
    text = format_summary(metrics)
    assert "TF correct" in text and "60.0%" in text and "FRR at <= 0.5 FA/h" in text
    out = io.StringIO()
    print_summary(metrics, out)
    assert out.getvalue() == text + "\n"


def test_metrics_without_keywords_are_json_safe():
    metrics = stream_metrics([Detection("yes", 10.0, 0.9)], [], HOUR_MS, PosteriorSettings())
    assert metrics["false_reject_rate"] is None
    assert metrics["tensorflow"]["false_positive_percent"] is None
    json.dumps(metrics, allow_nan=False)
    assert "n/a" in format_summary(metrics)


# --- label files ------------------------------------------------------------------------------


def test_read_labels(tmp_path: Path):
    path = tmp_path / "labels.csv"
    path.write_bytes(
        "\ufefflabel, start_ms ,source\n"
        "no, 5000.5,a.wav\n\n"
        "_unknown_,300,b.wav\n"
        "yes,1000,c.wav\n".encode()
    )
    assert read_labels(path, NAMES) == [("_unknown_", 300.0), ("yes", 1000.0), ("no", 5000.5)]
    path.write_text("label,start_ms\n")
    assert read_labels(path, NAMES) == []


@pytest.mark.parametrize(
    ("content", "line", "problem"),
    [
        (b"", 1, "expected the header 'label,start_ms', found an empty file"),
        (b"yes,1000\n", 1, "expected the header"),
        (b"label,start_ms\nyes,1000\nfoo,2000\n", 3, "unknown label 'foo'"),
        (b"label,start_ms\nyes,-5\n", 2, "start_ms -5 is negative"),
        (b"label,start_ms\nyes,abc\n", 2, "start_ms 'abc' is not a number"),
        (b"label,start_ms\nyes,nan\n", 2, "start_ms 'nan' is not finite"),
        (b"label,start_ms\nyes,-inf\n", 2, "is not finite"),
        (b"label,start_ms\nyes\n", 2, "expected 2 fields"),
        (b"label,start_ms\nyes,1,2\n", 2, "expected 2 fields"),
        (b"label,start_ms\nyes,1\n\xff\xfe,3\n", 3, "not UTF-8"),
    ],
)
def test_bad_label_files(tmp_path: Path, content: bytes, line: int, problem: str):
    path = tmp_path / "labels.csv"
    path.write_bytes(content)
    with pytest.raises(ValueError) as caught:
        read_labels(path, NAMES)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{path}: line {line}: ")
    assert problem in message


def test_huge_label_files_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(scoring, "MAX_LABEL_FILE_BYTES", 100)
    path = tmp_path / "labels.csv"
    path.write_text("label,start_ms\n" + "yes,1000\n" * 30)
    with pytest.raises(ValueError, match=r"line 11: the file passes the 100-byte limit"):
        read_labels(path, NAMES)


def test_error_rates_hold_each_detection_to_its_own_word():
    # "yes" said 1.2 s after "no": TensorFlow's matching holds the "yes" detection against the
    # earlier "no" (wrong), so it would count one false accept and two false rejects. Deployed
    # spotters are judged by whether each keyword said was found: both were.
    labels = [("no", 10_000.0), ("yes", 11_200.0)]
    found = [Detection("no", 9_700.0, 0.9), Detection("yes", 10_900.0, 0.9)]
    assert counts(streaming_accuracy(found, labels)) == (2, 1, 1, 1, 0)
    errors = detection_errors(found, labels, HOUR_MS)
    assert (errors.correct, errors.false_accepts, errors.false_rejects) == (2, 0, 0)
    # A keyword fired twice on one word: the second is a false accept; a detection takes the
    # nearest label of its word.
    twice = [Detection("yes", 10_900.0, 0.9), Detection("yes", 11_500.0, 0.9)]
    errors = detection_errors(twice, labels, HOUR_MS)
    assert (errors.correct, errors.false_accepts, errors.false_rejects) == (1, 1, 1)
    two_yes = [("yes", 10_000.0), ("yes", 11_200.0)]
    errors = detection_errors([Detection("yes", 11_000.0, 0.9)] * 2, two_yes, HOUR_MS)
    assert (errors.correct, errors.false_accepts, errors.false_rejects) == (2, 0, 0)


def test_pooled_det_curves_add_hours_and_false_accepts():
    times, averaged, labels = constructed_track()
    words = scoring.ScoredStream(times, averaged, labels, HOUR_MS)
    # A keyword-free hour whose only bumps are two "no"s at 0.85 and 0.95.
    quiet = averaged.copy()
    quiet[:, 0], quiet[:, 2:] = 0.999, 0.001 / 11
    for k, peak in enumerate((0.85, 0.95)):
        quiet[1000 * (k + 1), 0], quiet[1000 * (k + 1), 3] = 1 - peak, peak
    free = scoring.ScoredStream(times, quiet, [], HOUR_MS)
    curves = scoring.det_curves([words, free], NAMES, 500.0)
    assert [p.threshold for p in curves[0]] == [p.threshold for p in curves[1]]
    pooled = scoring.pool_det_curves(curves)
    for w, f, p in zip(*curves, pooled, strict=True):
        assert p.hours == 2.0 and p.keywords == 10 and f.keywords == 0
        assert p.false_accepts == w.false_accepts + f.false_accepts
        assert p.false_accepts_per_hour == p.false_accepts / 2.0
        assert p.false_reject_rate == w.false_reject_rate
    [at_90] = [p for p in pooled if p.threshold == 0.9]
    assert at_90.false_accepts == 3  # "no" at 0.92 and 0.97 in the word hour, 0.95 here
    with pytest.raises(ValueError, match="same thresholds"):
        scoring.pool_det_curves([curves[0], curves[1][1:] + curves[1][:1]])


def test_the_det_figure_draws_every_curve_and_survives_no_errors(tmp_path: Path):
    times, averaged, labels = constructed_track()
    points = det_curve(times, averaged, NAMES, labels, HOUR_MS, 500.0)
    figure = write_det_curve({"all streams": points, "words": points[::2]}, tmp_path)
    rows = (tmp_path / "det_curve.csv").read_text().splitlines()
    assert rows[0].startswith("curve,threshold,")
    assert len(rows) == 1 + len(points) + len(points[::2])
    assert {row.split(",")[0] for row in rows[1:]} == {"all streams", "words"}
    # A model that never errs: every point at 0 FA/h and 0% FRR, no curve; the figure says so.
    perfect = [p._replace(false_accepts_per_hour=0.0, false_reject_rate=0.0) for p in points]
    [_, png] = write_det_curve({"stream": perfect}, tmp_path / "perfect")
    with Image.open(png) as image, Image.open(figure[1]) as drawn:
        assert image.size == drawn.size
    [axis] = det_curve_figure({"stream": perfect}).axes
    assert not axis.axison and not axis.lines
    [text] = axis.texts
    assert "No threshold gives a false accept or a false reject" in text.get_text()
    assert "≤ 1, 0.5 FA/h: FRR 0.0%" in text.get_text()  # one point meets both budgets
