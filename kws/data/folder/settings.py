"""A folder data set's settings: the limits of its clip length, and the checks that name the
config key of a setting out of range (``check_settings``)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from kws.data.clip_format import ALIGNS
from kws.data.folder.paths import is_word_name
from kws.data.layout import SAMPLE_RATE
from kws_runtime.model_info import MAX_CLIP_SAMPLES

#: The shortest recording taken, in seconds.
MIN_CLIP_SECONDS = 0.1
#: The longest word recording taken, in seconds (the longest ``clip_seconds``): a longer one is
#: no take of a word; ``negatives`` take recordings of any length.
MAX_WORD_SECONDS = MAX_CLIP_SAMPLES / SAMPLE_RATE
#: Settings that ``align`` replaced: setting one stops, naming ``data.align``.
REMOVED_SETTINGS = ("long_clips", "long_tolerance_s")


def check_settings(
    keywords: Sequence[Any],
    negatives: Sequence[Any],
    silence: bool,
    unknown: bool,
    clip_seconds: Any,
    align: Any,
    removed: Mapping[str, Any],
    speaker_pattern: Any,
    validation_percentage: Any,
    testing_percentage: Any,
) -> None:
    """Raise ``ValueError`` naming the config key of the first setting out of range, or of a
    ``REMOVED_SETTINGS`` one given.

    Args:
        keywords: ``data.keywords``: word folder names, at least two classes with ``silence``
            and ``unknown``.
        negatives: ``data.negatives``: a list of folders.
        silence: whether there is a ``_silence_`` class (a ``data.noise_dir``).
        unknown: ``data.unknown``.
        clip_seconds: ``data.clip_seconds``, in [``MIN_CLIP_SECONDS``, ``MAX_WORD_SECONDS``].
        align: ``data.align``, one of ``ALIGNS``.
        removed: the ``REMOVED_SETTINGS``' values, None where not given.
        speaker_pattern: ``data.speaker_pattern``, a regular expression.
        validation_percentage: ``data.validation_percentage``, in (0, 100).
        testing_percentage: ``data.testing_percentage``, in (0, 100), below 100 with the
            validation share.
    """
    for key, value in removed.items():
        if value is not None:
            raise ValueError(
                f"data.{key} is gone: data.align (loudest, start or cut) chooses which "
                "clip_seconds of a longer take make its clip, and no take is refused for its "
                "length up to a minute; data.long_clips=cut is data.align=cut"
            )
    strangers = [w for w in keywords if not isinstance(w, str) or not is_word_name(w)]
    if strangers:
        raise ValueError(
            f"data.keywords: {strangers} are not word folder names (a name with no '/', not "
            "starting with '.' or '_'; quote names YAML reads as numbers or booleans: \"on\")"
        )
    if len(keywords) + silence + unknown < 2:
        raise ValueError(
            f"data.keywords: one keyword {list(keywords)} is one class; a detector tells it from "
            "_unknown_ (data.unknown=true: other word folders, data.negatives) or _silence_ "
            "(data.noise_dir)"
        )
    if isinstance(negatives, str) or not all(isinstance(path, str) for path in negatives):
        raise ValueError(f"data.negatives must be a list of folders, got {negatives!r}")
    numbers = {
        "data.clip_seconds": (clip_seconds, MIN_CLIP_SECONDS, MAX_WORD_SECONDS),
        "data.validation_percentage": (validation_percentage, 0.0, 100.0),
        "data.testing_percentage": (testing_percentage, 0.0, 100.0),
    }
    for key, (value, least, most) in numbers.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not least <= value:
            raise ValueError(f"{key} must be a number of at least {least:g}, got {value!r}")
        if value > most:
            raise ValueError(f"{key} must be at most {most:g}, got {value!r}")
    if validation_percentage <= 0 or testing_percentage <= 0:
        raise ValueError("data.validation_percentage and data.testing_percentage must be above 0")
    if validation_percentage + testing_percentage >= 100:
        raise ValueError(
            "data.validation_percentage + data.testing_percentage must stay below 100, got "
            f"{validation_percentage + testing_percentage:g}: training needs speakers too"
        )
    if align not in ALIGNS:
        raise ValueError(f"data.align must be one of {', '.join(map(repr, ALIGNS))}, got {align!r}")
    if not isinstance(speaker_pattern, str):
        raise ValueError(f"data.speaker_pattern must be a string, got {speaker_pattern!r}")
    try:
        re.compile(speaker_pattern)
    except re.error as error:
        raise ValueError(
            f"data.speaker_pattern {speaker_pattern!r} is not a regular expression ({error})"
        ) from None
