"""A stream's settings: their defaults (TensorFlow's ``generate_streaming_test_wav.py``'s for word
streams) and their checks, each raising ``ValueError`` naming the setting before any work."""

from __future__ import annotations

import math
from collections.abc import Sequence

from kws.data.layout import SAMPLE_RATE
from kws.data.split_protocol import SPLITS

# TensorFlow's generate_streaming_test_wav.py defaults.
DEFAULT_MINUTES = 10.0  # 600 s
DEFAULT_GAP_MS = 2000  # average silence between two words
DEFAULT_UNKNOWN_FRACTION = 0.3  # share of the words that are non-keywords
DEFAULT_VOLUME = 0.1  # the loudest background: each second's noise gain is U(0, volume)
# Noise-only streams: the gain range of the silence clips training sees (U(0, 1)).
DEFAULT_NOISE_MINUTES = 60.0
DEFAULT_NOISE_VOLUME = 1.0
#: The longest stream a WAV file can hold: its sizes are 32-bit (4 GiB of 16-bit samples).
MAX_SAMPLES = (2**32 - 1 - 44) // 2


def check_split_and_keywords(split: str, keywords: Sequence[str]) -> None:
    """Raise ``ValueError`` unless ``split`` is one of ``SPLITS`` and ``keywords`` a non-empty
    list of distinct word folder names (none starting with ``_``).

    Args:
        split: ``train``, ``val`` or ``test``.
        keywords: the words to spot.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {list(SPLITS)}, not {split!r}")
    if isinstance(keywords, str) or not keywords:
        raise ValueError(f"keywords must be a non-empty list of words, not {keywords!r}")
    if len(set(keywords)) != len(keywords) or any(not w or w.startswith("_") for w in keywords):
        raise ValueError(f"keywords must be distinct word folder names, not {list(keywords)}")


def check_timing(gap_ms: int, jitter_ms: int, seed: int) -> None:
    """Raise ``ValueError`` unless ``gap_ms`` is at least 0, ``jitter_ms`` in [0, ``gap_ms``]
    and ``seed`` at least 0.

    Args:
        gap_ms: the average gap between two words, ms.
        jitter_ms: the spread of a word's start within its slot, ms.
        seed: the random seed.
    """
    if gap_ms < 0:
        raise ValueError(f"gap_ms must be at least 0, not {gap_ms}")
    if not 0 <= jitter_ms <= gap_ms:
        raise ValueError(f"jitter_ms must be in [0, gap_ms={gap_ms}], not {jitter_ms}")
    if seed < 0:
        raise ValueError(f"seed must be at least 0, not {seed}")


def check_word_settings(
    gap_ms: int, jitter_ms: int | None, seed: int, unknown_fraction: float
) -> int:
    """Check how words are laid out (``check_timing``, ``unknown_fraction`` in [0, 1]).

    Args:
        gap_ms, seed: as ``check_timing``.
        jitter_ms: as ``check_timing``; None: ``gap_ms``.
        unknown_fraction: the share of the words that are non-keywords.

    Returns:
        ``jitter_ms``, ``gap_ms`` when None.
    """
    jitter_ms = gap_ms if jitter_ms is None else jitter_ms
    check_timing(gap_ms, jitter_ms, seed)
    check_fraction("unknown_fraction", unknown_fraction)
    return jitter_ms


def check_name(name: str | None) -> None:
    """Raise ``ValueError`` unless ``name`` (a stream's files' name) is None or a file name, so
    that the files stay in their folder: not empty, no ``/`` or ``\\``, no ``.`` first (``..``,
    hidden files).

    Args:
        name: the name, or None for the default.
    """
    if name is not None and (not name or name[0] == "." or any(c in name for c in "/\\\0")):
        raise ValueError(
            f"name {name!r} must be a file name (no '/' or '\\', not starting with '.'): the "
            "stream's files go into its folder"
        )


def check_fraction(key: str, value: float) -> None:
    """Raise ``ValueError`` naming ``key`` unless ``value`` is in [0, 1].

    Args:
        key: the setting's name.
        value: its value.
    """
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{key} must be in [0, 1], not {value}")


def stream_samples(minutes: float, volume: float) -> int:
    """The stream's length in samples, checking ``minutes`` and ``volume``.

    Args:
        minutes: the stream's length: above 0, and short enough for one WAV file.
        volume: the loudest background gain: finite, at least 0.

    Raises:
        ValueError: naming the setting out of range.
    """
    if not (math.isfinite(volume) and volume >= 0):
        raise ValueError(f"volume must be a finite number at least 0, not {volume}")
    if not (math.isfinite(minutes) and minutes > 0):
        raise ValueError(f"minutes must be a positive number, not {minutes}")
    samples = round(minutes * 60 * SAMPLE_RATE)
    if samples > MAX_SAMPLES:
        limit = MAX_SAMPLES / SAMPLE_RATE / 60
        raise ValueError(
            f"minutes={minutes:g} is too long for one WAV file (4 GiB): at most {limit:.0f}"
        )
    return samples
