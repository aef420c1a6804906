"""The operating threshold: the one that keeps a detector within a false-accept budget.

A spotter is deployed at a threshold, and the threshold decides its false accepts per hour. kws
chooses it on validation streams (``kws.training.stream_validation``): of the thresholds whose
false accepts per hour stay within the target, those with the lowest false-reject rate are
equally good on the validation audio, and the highest of them is chosen, as far as that rate
allows from false accepts that minutes of validation audio are too short to show. The result,
a ``Calibration``, travels in the checkpoint and in the ONNX model's metadata, and every detector
uses its threshold when none is given (``detector.threshold=auto``).

A target no threshold meets while still detecting something is not an error: the calibration
says so (``met`` False), keeps the threshold with the fewest false accepts that still detects,
and names the best rate reached.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from kws.streaming.posterior import PosteriorSettings
from kws.streaming.scoring import DetPoint

#: The default false-accept budget per hour (openWakeWord's stated target).
TARGET_FA_PER_HOUR = 0.5


@dataclass(frozen=True)
class Calibration:
    """A threshold chosen on labelled validation streams, and what it gave there.

    Args:
        threshold: the detection threshold, in (0, 1].
        target_fa_per_hour: the false-accept budget it was chosen for.
        met: whether it meets the budget while detecting keywords.
        false_accepts_per_hour: on the validation streams, at ``threshold``.
        false_reject_rate: on the validation streams, at ``threshold``.
        hours: of validation audio.
        keywords: keyword labels in it.
        stride_ms: the detector's stride it was chosen with.
        average_window_ms: the posterior averaging it was chosen with.
        suppression_ms: the posterior suppression it was chosen with.
        minimum_count: the posterior's minimum count it was chosen with.
        epoch: the training epoch of the model it was chosen for (-1: not known).
    """

    threshold: float
    target_fa_per_hour: float
    met: bool
    false_accepts_per_hour: float
    false_reject_rate: float
    hours: float
    keywords: int
    stride_ms: float
    average_window_ms: float
    suppression_ms: float
    minimum_count: int
    epoch: int = -1

    def as_dict(self) -> dict[str, Any]:
        """Plain data, for a checkpoint or the ONNX metadata."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any, source: str) -> Calibration:
        """A calibration read back from hostile input (a checkpoint, a model file).

        Args:
            data: what ``as_dict`` wrote.
            source: the file, for messages.

        Raises:
            ValueError: naming ``source`` and the field that is missing or out of range.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"{source}: its calibration is not a mapping")
        values = {}
        for name in cls.__dataclass_fields__:
            value = data.get(name)
            kind = {"met": bool, "keywords": int, "minimum_count": int, "epoch": int}.get(
                name, float
            )
            if kind is bool:
                ok = isinstance(value, bool)
            elif kind is int:
                ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
            else:
                ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
            if not ok:
                what = {bool: "true or false", int: "an integer", float: "a number"}[kind]
                raise ValueError(f"{source}: calibration.{name} is {value!r}, not {what}")
            try:
                values[name] = kind(value)
            except OverflowError:
                raise ValueError(f"{source}: calibration.{name} is out of range") from None
        ranges = {
            "threshold": (lambda v: 0.0 < v <= 1.0, "in (0, 1]"),
            "target_fa_per_hour": (lambda v: 0.0 < v < math.inf, "a finite number > 0"),
            "false_accepts_per_hour": (lambda v: 0.0 <= v < math.inf, "a finite number >= 0"),
            "false_reject_rate": (lambda v: 0.0 <= v <= 1.0, "in [0, 1]"),
            "hours": (lambda v: 0.0 < v < math.inf, "a finite number > 0"),
            "keywords": (lambda v: v >= 1, "at least 1"),
            "epoch": (lambda v: v >= -1, "at least -1"),
        }
        for name, (fits, what) in ranges.items():
            if not fits(values[name]):
                raise ValueError(f"{source}: calibration.{name} {values[name]!r} is not {what}")
        if values["met"] and values["false_accepts_per_hour"] > values["target_fa_per_hour"]:
            raise ValueError(
                f"{source}: calibration.met is true, but its false accepts per hour "
                f"({values['false_accepts_per_hour']:g}) exceed its target "
                f"({values['target_fa_per_hour']:g})"
            )
        try:
            cls._settings(values)
        except ValueError as error:
            raise ValueError(f"{source}: calibration: {error}") from None
        return cls(**values)

    @staticmethod
    def _settings(values: Mapping[str, Any]) -> PosteriorSettings:
        """The posterior settings a calibration's fields name, checked against its stride."""
        settings = PosteriorSettings(
            values["average_window_ms"], values["threshold"], values["suppression_ms"],
            values["minimum_count"],
        )  # fmt: skip
        settings.check_stride(values["stride_ms"])
        return settings

    @property
    def settings(self) -> PosteriorSettings:
        """The posterior settings it was chosen with, at its threshold."""
        return self._settings(asdict(self))

    def describe(self) -> str:
        """One line for logs and messages."""
        verdict = "meets" if self.met else "does NOT meet"
        return (
            f"threshold {self.threshold:.4g} {verdict} {self.target_fa_per_hour:g} false accepts "
            f"per hour on {self.hours:.2f} h of validation streams: "
            f"{self.false_accepts_per_hour:.2f} FA/h, false-reject rate "
            f"{self.false_reject_rate:.1%} of {self.keywords} keywords"
        )


def calibrate(
    points: Iterable[DetPoint],
    target_fa_per_hour: float,
    settings: PosteriorSettings,
    stride_ms: float,
    epoch: int = -1,
) -> Calibration:
    """The threshold for a false-accept budget, from a (pooled) DET curve.

    Of the thresholds within the budget that detect something (false-reject rate below 1), those
    with the lowest false-reject rate tie, and the highest of them is chosen: the validation
    audio is too short to see the rarest false accepts, and a higher threshold keeps further
    from them at no cost to the false-reject rate measured. When none is within the budget, the
    threshold with the fewest false accepts per hour that still detects (ties: the lowest
    false-reject rate, then the highest threshold; when nothing is detected at all, 1: no
    detection) is kept and ``met`` is False.

    Args:
        points: the DET curve, one point per threshold.
        target_fa_per_hour: the budget, > 0.
        settings: the posterior settings the curve was swept with (its threshold is not used).
        stride_ms: the detector's stride.
        epoch: the model's training epoch. Default -1: not known.

    Returns:
        The calibration.

    Raises:
        ValueError: a budget out of range, or a curve with no keyword to measure false rejects
            on.
    """
    if not (math.isfinite(target_fa_per_hour) and target_fa_per_hour > 0):
        raise ValueError(
            f"target_fa_per_hour must be a finite number > 0, got {target_fa_per_hour!r}"
        )
    points = sorted(points, key=lambda p: p.threshold)
    if not points or not points[0].keywords:
        raise ValueError("calibration needs a stream with keywords to count false rejects on")
    detecting = [p for p in points if p.false_reject_rate < 1.0]
    within = [p for p in detecting if p.false_accepts_per_hour <= target_fa_per_hour]
    met = bool(within)
    if met:
        best = min(p.false_reject_rate for p in within)
        chosen = max((p for p in within if p.false_reject_rate == best), key=lambda p: p.threshold)
        threshold = chosen.threshold
    else:
        pool = detecting or points
        chosen = min(
            pool, key=lambda p: (p.false_accepts_per_hour, p.false_reject_rate, -p.threshold)
        )
        threshold = chosen.threshold
    return Calibration(
        threshold=float(threshold),
        target_fa_per_hour=float(target_fa_per_hour),
        met=met,
        false_accepts_per_hour=float(chosen.false_accepts_per_hour),
        false_reject_rate=float(chosen.false_reject_rate),
        hours=float(chosen.hours),
        keywords=int(chosen.keywords),
        stride_ms=float(stride_ms),
        average_window_ms=settings.average_window_ms,
        suppression_ms=settings.suppression_ms,
        minimum_count=settings.minimum_count,
        epoch=int(epoch),
    )
