"""kws_runtime.posterior: TensorFlow's RecognizeCommands rules on hand-built score tracks, the
averaging window, chunking invariance, flat memory, speed and settings validation."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest

from kws.streaming import (
    Detection,
    PosteriorHandler,
    PosteriorSettings,
    detections_at,
    detections_sweep,
)
from kws_runtime.firing import window_count

NAMES = ("_silence_", "_unknown_", "yes", "no")
SPEECH_COMMANDS = (
    "_silence_", "_unknown_", "yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go",
)  # fmt: skip


def track(*rows: dict[str, float] | None, stride_ms: float = 100.0):
    """Times every ``stride_ms`` and one averaged row per argument: the scores given, the rest
    of 1 on ``_silence_`` unless it is given; None: a row with no average (NaN)."""
    averaged = np.zeros((len(rows), len(NAMES)))
    for i, row in enumerate(rows):
        if row is None:
            averaged[i] = np.nan
            continue
        for label, score in row.items():
            averaged[i, NAMES.index(label)] = score
        if "_silence_" not in row:
            averaged[i, 0] = 1.0 - sum(row.values())
    return np.arange(len(rows)) * stride_ms, averaged


def fired(times, averaged, threshold=0.7, suppression_ms=500.0, **kwargs):
    return [(d.label, d.time_ms) for d in
            detections_at(times, averaged, NAMES, threshold, suppression_ms, **kwargs)]  # fmt: skip


# --- the firing rule --------------------------------------------------------------------------


def test_threshold_is_strict():
    assert fired(*track({"yes": 0.7})) == []
    times, averaged = track({"yes": 0.7000001})
    assert detections_at(times, averaged, NAMES, 0.7, 500.0) == [Detection("yes", 0.0, 0.7000001)]


def test_only_the_top_class_fires():
    # "yes" passes the threshold but "no" is the top class: "no" fires.
    assert fired(*track({"yes": 0.45, "no": 0.5}), threshold=0.4) == [("no", 0.0)]
    # "yes" passes, "_unknown_" is on top: it fires, unreported, and "yes" does not.
    assert fired(*track({"yes": 0.45, "_unknown_": 0.5}), threshold=0.4) == []


def test_suppression_applies_across_labels_and_is_strict():
    # "yes" fires at 0; "no" is on top from 100 ms but may fire only once t - 0 > 500.
    rows = [{"yes": 0.9}] + [{"no": 0.9}] * 10
    assert fired(*track(*rows)) == [("yes", 0.0), ("no", 600.0)]
    assert fired(*track(*rows), suppression_ms=0.0) == [("yes", 0.0), ("no", 100.0)]


def test_the_same_label_waits_for_another_firing():
    # TensorFlow's rule: the top class must differ from the label that fired last, so a second
    # "yes" two seconds later is not reported while nothing else fired in between...
    rows = [{"yes": 0.9}] + [{"yes": 0.6}] * 19 + [{"yes": 0.9}]
    assert fired(*track(*rows)) == [("yes", 0.0)]
    # ...and is once _silence_ fired (unreported) between them.
    rows[10] = {"_silence_": 0.9}
    assert fired(*track(*rows)) == [("yes", 0.0), ("yes", 2000.0)]


def test_silence_lifts_the_suppression():
    # _silence_ fires at 600 (> 500 after "yes"): "no" may fire 100 ms later.
    rows = [{"yes": 0.9}, *[{"yes": 0.1}] * 5, {"_silence_": 0.9}, {"no": 0.9}]
    assert fired(*track(*rows)) == [("yes", 0.0), ("no", 700.0)]
    # _silence_ at 400 comes too soon to fire, so "no" waits for t > 500.
    rows = [{"yes": 0.9}, *[{"yes": 0.1}] * 3, {"_silence_": 0.9}, {"no": 0.9}, {"no": 0.9}]
    assert fired(*track(*rows)) == [("yes", 0.0), ("no", 600.0)]


def test_unknown_fires_unreported_and_suppresses():
    # _unknown_ fires at 600 (not reported); "yes" at 800 is too soon after it, at 1200 it fires
    # (a different label from _unknown_, so the same keyword twice in a row).
    rows = [{"yes": 0.9}, *[{"yes": 0.1}] * 5, {"_unknown_": 0.9}, {"yes": 0.1},
            {"yes": 0.9}, *[{"yes": 0.1}] * 3, {"yes": 0.9}]  # fmt: skip
    assert fired(*track(*rows)) == [("yes", 0.0), ("yes", 1200.0)]
    assert fired(*track(*rows), ignore=()) == [("yes", 0.0), ("_unknown_", 600.0), ("yes", 1200.0)]
    assert fired(*track(*rows), ignore=("_silence_", "_unknown_", "yes")) == []


def test_the_start_counts_as_silence():
    # _silence_ on top at the start does not fire (it is the initial label), keywords at once.
    rows = [{"_silence_": 0.95}, {"_silence_": 0.95}, {"yes": 0.9}]
    assert fired(*track(*rows), ignore=()) == [("yes", 200.0)]


def test_steps_without_an_average_never_fire():
    assert fired(*track(None, None, {"yes": 0.9})) == [("yes", 200.0)]


def test_sweep_is_the_same_rule_at_each_threshold():
    times, averaged = track({"yes": 0.8}, *[{"yes": 0.1}] * 6, {"no": 0.95}, {"no": 0.1})
    sweep = detections_sweep(times, averaged, NAMES, [0.5, 0.85, 0.95, 1.0], 500.0)
    assert [[(d.label, d.time_ms) for d in found] for found in sweep] == [
        [("yes", 0.0), ("no", 700.0)],
        [("no", 700.0)],
        [],
        [],
    ]


# --- averaging --------------------------------------------------------------------------------


def naive_average(times, scores, window_ms, minimum_count):
    """The window mean of each step, written plainly (NaN where TensorFlow bails)."""
    out = np.full(scores.shape, np.nan)
    for i, t in enumerate(times):
        inside = (times >= t - window_ms) & (times <= t)
        span = t - times[inside].min()
        if inside.sum() >= minimum_count and span >= window_ms / 4:
            out[i] = scores[inside].mean(axis=0)
    return out


def test_handler_averages_over_the_window_and_fires():
    # 100 ms steps: silence, then "yes" for 1000..1500 ms, then silence again.
    times = np.arange(31) * 100.0
    scores = np.zeros((31, 4))
    scores[:, 0] = 1.0
    scores[10:16] = [0.0, 0.0, 1.0, 0.0]
    handler = PosteriorHandler(NAMES, PosteriorSettings(), keep_track=True)
    # The window [t - 500, t] holds 6 steps: "yes" averages 4/6 at 1300 ms, 5/6 at 1400 ms.
    assert handler.push(times, scores) == [Detection("yes", 1400.0, 5 / 6)]
    track_times, averaged = handler.track()
    np.testing.assert_array_equal(track_times, times)
    assert np.isnan(averaged[:3]).all() and not np.isnan(averaged[3:]).any()  # 4 steps needed
    np.testing.assert_allclose(averaged, naive_average(times, scores, 500.0, 4), rtol=1e-12)
    assert window_count(times, 500.0)[-1] == 6  # both window ends included


def test_window_span_and_minimum_count():
    rng = np.random.default_rng(1)
    # 10 ms steps: four steps arrive by 30 ms, but the window must span 500 / 4 = 125 ms.
    times = np.arange(40) * 10.0
    handler = PosteriorHandler(NAMES, keep_track=True)
    handler.push(times, rng.random((40, 4)))
    valid = ~np.isnan(handler.track()[1][:, 0])
    assert times[valid][0] == 130.0
    # 200 ms steps: a 500 ms window holds 3 steps, fewer than 4: nothing is ever averaged...
    with pytest.raises(ValueError, match=r"detector\.stride_ms=200.*detector\.minimum_count=4"):
        PosteriorSettings().check_stride(200)
    handler = PosteriorHandler(NAMES, keep_track=True)
    handler.push(np.arange(40) * 200.0, rng.random((40, 4)))
    assert np.isnan(handler.track()[1]).all()
    # ...unless 3 will do.
    PosteriorSettings(minimum_count=3).check_stride(200)
    PosteriorSettings().check_stride(30)


# --- streaming --------------------------------------------------------------------------------


def bursty_stream(steps: int, seed: int = 0, classes: int = len(SPEECH_COMMANDS)):
    """Step times every 30 ms and softmax scores: mostly silence, with keyword bursts."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(steps, classes))
    logits[:, 0] += 3.0
    for start in rng.integers(0, steps - 30, steps // 60):
        logits[start : start + rng.integers(5, 30), rng.integers(1, classes)] += 7.0
    scores = np.exp(logits)
    return np.arange(steps) * 30.0, scores / scores.sum(axis=1, keepdims=True)


def push_in(handler: PosteriorHandler, times, scores, cuts) -> list[Detection]:
    found = []
    for a, b in zip(cuts[:-1], cuts[1:], strict=True):
        found += handler.push(times[a:b], scores[a:b])
    return found


def test_detections_do_not_depend_on_how_the_stream_is_split():
    times, scores = bursty_stream(4000)
    whole = PosteriorHandler(SPEECH_COMMANDS, keep_track=True)
    expected = whole.push(times, scores)
    assert len(expected) >= 20 and {d.label for d in expected} > {"yes", "no"}
    expected_track = whole.track()
    rng = np.random.default_rng(2)
    random_cuts = np.unique(np.r_[0, rng.integers(0, 4000, 150), 4000, 4000])
    for cuts in (np.arange(4001), random_cuts, [0, 1, 2, 17, 18, 4000]):
        handler = PosteriorHandler(SPEECH_COMMANDS, keep_track=True)
        assert push_in(handler, times, scores, list(cuts)) == expected  # exact, scores included
        for got, want in zip(handler.track(), expected_track, strict=True):
            np.testing.assert_array_equal(got, want)
    # The kept track gives the handler's detections back.
    assert detections_at(*expected_track, SPEECH_COMMANDS, 0.7, 500.0) == expected


def reference_detections(times, scores, class_names, settings, ignore=("_silence_", "_unknown_")):
    """TensorFlow's RecognizeCommands restated one step at a time, as plainly as possible."""
    window: list[tuple[float, np.ndarray]] = []
    last_label, last_time = "_silence_", -np.inf
    found = []
    for t, row in zip(times.tolist(), scores, strict=True):
        window.append((t, row))
        while window[0][0] < t - settings.average_window_ms:
            window.pop(0)
        if len(window) < settings.minimum_count or t - window[0][0] < (
            settings.average_window_ms / 4
        ):
            continue
        total = np.zeros(len(class_names))
        for _, old in reversed(window):
            total = total + old
        average = total / len(window)
        top = int(np.argmax(average))
        label, score = class_names[top], average[top]
        since = np.inf if last_label == "_silence_" else t - last_time
        if score > settings.threshold and label != last_label and since > settings.suppression_ms:
            last_label, last_time = label, t
            if label not in ignore:
                found.append(Detection(label, t, float(score)))
    return found


@pytest.mark.parametrize(
    "settings",
    [PosteriorSettings(), PosteriorSettings(250, 0.5, 1000, 3), PosteriorSettings(600, 0.9, 0)],
)
def test_matches_a_step_by_step_reference(settings):
    times, scores = bursty_stream(3000, seed=6)
    times = times * (32.0 / 30.0) + 0.1  # 32 ms steps, times that are not whole numbers
    expected = reference_detections(times, scores, SPEECH_COMMANDS, settings)
    assert len(expected) >= 10
    assert PosteriorHandler(SPEECH_COMMANDS, settings).push(times, scores) == expected


def test_memory_stays_flat():
    times, scores = bursty_stream(3000, seed=3)
    handler = PosteriorHandler(SPEECH_COMMANDS)
    largest = 0
    for i in range(0, 3000, 7):
        handler.push(times[i : i + 7], scores[i : i + 7])
        largest = max(largest, handler.buffered_steps)
    assert largest == 17  # 500 ms of 30 ms steps, both ends included


def test_an_hour_of_steps_is_fast():
    times, scores = bursty_stream(120_000, seed=4)
    handler = PosteriorHandler(SPEECH_COMMANDS, keep_track=True)
    start = time.perf_counter()
    found = handler.push(times, scores)
    pushed = time.perf_counter() - start
    start = time.perf_counter()
    again = detections_at(*handler.track(), SPEECH_COMMANDS, 0.7, 500.0)
    swept = time.perf_counter() - start
    assert found == again and len(found) > 500
    assert pushed < 1.0, f"120,000 steps x 12 classes took {pushed:.2f} s"
    assert swept < 0.5, f"one threshold over the track took {swept:.2f} s"


def test_reset_starts_a_new_stream():
    times, scores = bursty_stream(600, seed=5)
    handler = PosteriorHandler(SPEECH_COMMANDS)
    first = handler.push(times, scores)
    handler.reset()
    assert handler.push(times, scores) == first


# --- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({"threshold": 0.0}, "detector.threshold"),
        ({"threshold": 1.5}, "detector.threshold"),
        ({"threshold": float("nan")}, "detector.threshold"),
        ({"threshold": True}, "detector.threshold"),
        ({"threshold": "0.7"}, "detector.threshold"),
        ({"average_window_ms": -1}, "detector.average_window_ms"),
        ({"suppression_ms": float("inf")}, "detector.suppression_ms"),
        ({"suppression_ms": -0.5}, "detector.suppression_ms"),
        ({"minimum_count": 0}, "detector.minimum_count"),
        ({"minimum_count": 2.5}, "detector.minimum_count"),
    ],
)
def test_bad_settings_are_named(settings, key):
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        PosteriorSettings(**settings)


def test_settings_take_config_numbers():
    settings = PosteriorSettings(average_window_ms=500, threshold=1, suppression_ms=0)
    assert settings == PosteriorSettings(500.0, 1.0, 0.0, 4)
    assert isinstance(settings.threshold, float)
    with pytest.raises(ValueError, match=r"detector\.stride_ms"):
        settings.check_stride(0)


def test_bad_pushes_are_refused():
    handler = PosteriorHandler(NAMES)
    good = np.full((3, 4), 0.25)
    with pytest.raises(ValueError, match="shape"):
        handler.push(np.arange(3.0), np.full((3, 5), 0.2))
    with pytest.raises(ValueError, match="NaN"):
        handler.push(np.arange(3.0), np.where(np.eye(3, 4) > 0, np.nan, 0.25))
    with pytest.raises(ValueError, match="rise strictly"):
        handler.push(np.array([0.0, 30.0, 30.0]), good)
    with pytest.raises(ValueError, match="1-D"):
        handler.push(np.zeros((3, 1)), good)
    handler.push(np.array([0.0, 30.0, 60.0]), good)
    with pytest.raises(ValueError, match="rise strictly"):
        handler.push(np.array([60.0]), good[:1])
    assert handler.push(np.zeros(0), np.zeros((0, 4))) == []
    with pytest.raises(RuntimeError, match="keep_track"):
        handler.track()
    with pytest.raises(ValueError, match="duplicates"):
        PosteriorHandler(("yes", "yes"))


def test_the_runtime_s_streaming_imports_no_torch():
    """The posterior handling, the detector and a recording's scan live in kws_runtime, whose
    imports load no torch."""
    modules = "kws_runtime.posterior, kws_runtime.firing, kws_runtime.detector, kws_runtime.scan"
    code = f"import sys, {modules}; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
