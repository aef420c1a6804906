"""kws.streaming.calibration: the operating threshold for a false-accept budget, and what reads it
back from hostile files; the detector config's ``threshold: auto``."""

from __future__ import annotations

import math

import pytest

from kws.streaming import PosteriorSettings
from kws.streaming.calibration import calibrate
from kws.streaming.scoring import DetPoint
from kws_runtime.calibration import Calibration
from kws_runtime.scan import DetectorConfig

SETTINGS = PosteriorSettings()


def point(threshold: float, frr: float, fa: float, keywords: int = 40) -> DetPoint:
    """A pooled DET point over two hours."""
    return DetPoint(threshold, frr, fa, round(fa * 2), round(frr * keywords), 0, keywords, 2.0)


CURVE = [
    point(0.3, 0.0, 6.0),
    point(0.5, 0.0, 1.0),
    point(0.6, 0.025, 0.5),
    point(0.7, 0.025, 0.0),
    point(0.8, 0.025, 0.0),
    point(0.9, 0.1, 0.0),
    point(0.99, 0.5, 0.0),
    point(1.0, 1.0, 0.0),
]


def test_the_threshold_is_the_highest_with_the_least_false_rejects_within_budget():
    calibration = calibrate(CURVE, 0.5, SETTINGS, 30.0, epoch=7)
    # 0.6, 0.7 and 0.8 keep within 0.5 FA/h with the lowest false-reject rate (2.5%).
    assert calibration.threshold == 0.8
    assert calibration.met and calibration.false_reject_rate == 0.025
    assert calibration.false_accepts_per_hour == 0.0
    assert (calibration.hours, calibration.keywords, calibration.epoch) == (2.0, 40, 7)
    # A looser budget moves it down to where nothing is missed.
    assert calibrate(CURVE, 1.0, SETTINGS, 30.0).threshold == 0.5
    assert calibrate(CURVE, 6.0, SETTINGS, 30.0).threshold == 0.5


def test_a_slack_of_standard_errors_takes_a_higher_threshold_the_keywords_cannot_tell_apart():
    """With 40 keywords the lowest rate within budget is 2.5%: its standard error is
    sqrt(0.025 * 0.975 / 40) = 2.47%, taken as one keyword, 2.5%. One error of slack ties
    rates up to 5%, two up to 7.5%: 0.9 (10%) ties only at 3 errors."""
    curve = [*CURVE[:5], point(0.85, 0.05, 0.0), *CURVE[5:]]
    chosen = {k: calibrate(curve, 0.5, SETTINGS, 30.0, frr_slack_se=k) for k in (0, 1, 2, 3)}
    assert [c.threshold for c in chosen.values()] == [0.8, 0.85, 0.85, 0.9]
    assert chosen[1].false_reject_rate == 0.05 and chosen[1].met
    # Ten errors (25%) reach 0.9 but not 0.99 (50%); a threshold over the budget (0.5, which
    # misses nothing) never ties, whatever the slack.
    assert calibrate(curve, 0.5, SETTINGS, 30.0, frr_slack_se=10).threshold == 0.9
    with pytest.raises(ValueError, match="frr_slack_se"):
        calibrate(curve, 0.5, SETTINGS, 30.0, frr_slack_se=-1)


def test_a_budget_no_detecting_threshold_meets_is_said():
    rows = [(0.5, 0.0, 9.0), (0.9, 0.2, 3.0), (1.0, 1.0, 0.0)]
    noisy = [point(t, frr, fa) for t, frr, fa in rows]
    calibration = calibrate(noisy, 0.5, SETTINGS, 30.0)
    assert not calibration.met
    assert (calibration.threshold, calibration.false_accepts_per_hour) == (0.9, 3.0)
    assert "does NOT meet 0.5" in calibration.describe() and "3.00 FA/h" in calibration.describe()
    with pytest.raises(ValueError, match="keywords"):
        calibrate([DetPoint(0.5, math.nan, 0.0, 0, 0, 0, 0, 1.0)], 0.5, SETTINGS, 30.0)
    with pytest.raises(ValueError, match="target_fa_per_hour"):
        calibrate(CURVE, 0.0, SETTINGS, 30.0)


def test_a_calibration_round_trips_and_refuses_tampering():
    calibration = calibrate(CURVE, 0.5, SETTINGS, 30.0, epoch=3)
    assert Calibration.from_dict(calibration.as_dict(), "x.ckpt") == calibration
    assert calibration.settings.threshold == calibration.threshold
    for field, value, problem in [
        ("threshold", 1.5, "not in"),
        ("threshold", "0.7", "not a number"),
        ("met", 1, "not true or false"),
        ("minimum_count", 0, "minimum_count"),
        ("stride_ms", 1000.0, "stride_ms"),
        ("epoch", None, "not an integer"),
        ("target_fa_per_hour", math.nan, r"target_fa_per_hour nan is not a finite number > 0"),
        ("false_reject_rate", 7.0, r"false_reject_rate 7.0 is not in \[0, 1\]"),
        ("keywords", -5, "keywords -5 is not at least 1"),
        ("hours", math.inf, "hours inf is not a finite number > 0"),
        ("hours", 10**400, "calibration.hours is out of range"),
        ("false_accepts_per_hour", 0.6, "met is true, but its false accepts per hour"),
    ]:
        with pytest.raises(ValueError, match=problem):
            Calibration.from_dict({**calibration.as_dict(), field: value}, "x.ckpt")
    with pytest.raises(ValueError, match="x.ckpt: its calibration is not a mapping"):
        Calibration.from_dict([0.7], "x.ckpt")


def test_threshold_auto_takes_the_calibrated_one():
    calibration = calibrate(CURVE, 0.5, SETTINGS, 30.0, epoch=3)
    auto = DetectorConfig.from_config({"threshold": "auto", "stride_ms": 30})
    settings, note = auto.settings_for(calibration)
    assert settings.threshold == 0.8 and "calibrated" in note and "epoch 3" in note
    assert "stride" not in note
    _, note = DetectorConfig.from_config({"stride_ms": 60}).settings_for(calibration)
    assert "chosen at a 30 ms stride and this detector takes 60 ms" in note
    settings, note = auto.settings_for(None)
    assert settings.threshold == 0.7 and "no calibrated threshold" in note
    given = DetectorConfig.from_config({"threshold": 0.9, "suppression_ms": 300})
    settings, note = given.settings_for(calibration)
    assert (settings.threshold, settings.suppression_ms) == (0.9, 300.0)
    assert note.startswith("threshold 0.9 (detector.threshold)")
    with pytest.raises(ValueError, match="detector.threshold must be a number in"):
        DetectorConfig.from_config({"threshold": "high"})
    with pytest.raises(ValueError, match=r"detector.threshold must be in \(0, 1\]"):
        DetectorConfig.from_config({"threshold": 1.5})
