"""Train/validation/test assignment by speaker, as in TensorFlow's ``input_data.which_set``.

The split is a hash of the speaker id, so every clip of a speaker lands in the same split and the
assignment stays stable as new clips are added to the data set. ``speaker_id`` is Speech
Commands' rule for the id (``SPEAKER_nohash_N.wav``); a folder data set sets its own
(``kws.data.folder``).
"""

from __future__ import annotations

import hashlib
import os
import re

MAX_NUM_WAVS_PER_CLASS = 2**27 - 1  # ~134M: the hash range the rule spreads percentages over.

_NOHASH = re.compile(r"_nohash_.*$")


def speaker_id(filename: str) -> str:
    """Return the speaker part of a clip name: ``"bed/0a7c2a8d_nohash_0.wav"`` -> ``"0a7c2a8d"``.

    Args:
        filename: a clip's name or path.
    """
    return _NOHASH.sub("", os.path.basename(filename))


def speaker_set(
    speaker: str, validation_percentage: float = 10.0, testing_percentage: float = 10.0
) -> str:
    """Return ``"validation"``, ``"testing"`` or ``"training"`` for a speaker, by the hash of
    its id (TensorFlow's rule): the same speaker always gets the same split, whatever else is
    in the data set.

    Args:
        speaker: the speaker id.
        validation_percentage: share of the speakers in validation, in percent.
        testing_percentage: share of the speakers in testing, in percent.
    """
    hashed = int(hashlib.sha1(speaker.encode("utf-8")).hexdigest(), 16)
    percentage = (hashed % (MAX_NUM_WAVS_PER_CLASS + 1)) * (100.0 / MAX_NUM_WAVS_PER_CLASS)
    if percentage < validation_percentage:
        return "validation"
    if percentage < validation_percentage + testing_percentage:
        return "testing"
    return "training"


def which_set(
    filename: str, validation_percentage: float = 10.0, testing_percentage: float = 10.0
) -> str:
    """Return ``"validation"``, ``"testing"`` or ``"training"`` for a clip, by its speaker's hash.

    Reproduces the rule the published ``validation_list.txt`` / ``testing_list.txt`` were made with.

    Args:
        filename: a clip's name or path.
        validation_percentage: share of the speakers in validation, in percent.
        testing_percentage: share of the speakers in testing, in percent.
    """
    return speaker_set(speaker_id(filename), validation_percentage, testing_percentage)
