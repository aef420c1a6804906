"""Checks of numeric settings, each error naming the config key it came from."""

from __future__ import annotations

import math


class SettingError(ValueError):
    """A setting out of range or of the wrong kind; its message names the setting's key."""


def _bound(value: float) -> str:
    """A range's end as a person reads it: whole numbers in full, others shortest."""
    return f"{int(value)}" if float(value).is_integer() else f"{value:g}"


def check_number(
    key: str,
    value: object,
    least: float,
    most: float,
    low_open: bool = False,
    high_open: bool = False,
    integer: bool = False,
) -> None:
    """Raise ``SettingError`` (a ``ValueError``) naming ``key`` unless ``value`` is a finite
    number in range.

    Args:
        key: the setting's config key, for the message (``data.stream_examples.weight``).
        value: the value given.
        least, most: the range's ends.
        low_open, high_open: whether ``least`` / ``most`` are themselves out of range.
            Default False.
        integer: whether only whole numbers (Python ints, not bools) are allowed. Default False.
    """
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not math.isfinite(value):
        what = "a whole number" if integer else "a finite number"
        raise SettingError(f"{key} must be {what}, got {value!r}")
    too_low = value <= least if low_open else value < least
    too_high = value >= most if high_open else value > most
    if too_low or too_high:
        lo, hi = "(" if low_open else "[", ")" if high_open else "]"
        ends = f"{lo}{_bound(least)}, {_bound(most)}{hi}"
        raise SettingError(f"{key} must be in {ends}, got {value!r}")
