"""``Calibration``: a detector's operating threshold, chosen for a false-accept budget on
validation streams, with what it gave there and the posterior settings it was chosen with.

Training chooses it (``kws.streaming.calibration.calibrate``); it travels in the checkpoint and
in the ONNX model's metadata, where it is hostile input: ``from_dict`` checks every field.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from kws_runtime.posterior import PosteriorSettings


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
