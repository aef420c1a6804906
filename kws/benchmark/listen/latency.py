"""The ``listen`` benchmark's latency: from when a keyword's last sample reached listen to when its
line was read, over the keywords detected correctly (``latencies``), with the keyword rows from
the labels CSV beside the played file (``labels_beside``)."""

from __future__ import annotations

import re
import statistics
from datetime import datetime
from pathlib import Path

import numpy as np

from kws.benchmark.listen.pulse import RATE
from kws.streaming.scoring import Label, keyword_hits, keyword_labels, read_labels
from kws_runtime.posterior import Detection

#: listen's detection lines: wall time, label, score, session seconds.
_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3})  (\S+)  ([\d.]+)  at ([\d.]+) s$")


def labels_beside(wav: Path) -> list[Label] | None:
    """The keyword rows of the labels CSV beside ``wav`` (``<stem>_labels.csv``, as
    ``kws.data.stream_audio`` writes it), or None.

    Args:
        wav: the played file.

    Returns:
        ``(label, start_ms)`` of each keyword row (not ``_silence_`` / ``_unknown_``), in time
        order; None where there is no such CSV.

    Raises:
        ValueError: the CSV is not a labels file (``kws.streaming.scoring.read_labels``: its
            header, a row's field count, a start that is not a finite number >= 0, ...), one line
            naming the file and the line.
        OSError: the CSV cannot be read.
    """
    path = wav.with_name(f"{wav.stem}_labels.csv")
    if not path.is_file():
        return None
    try:
        rows = read_labels(path, None)
    except ValueError as error:
        problem = str(error).removeprefix(f"{path}: ")
        raise ValueError(f"{path}: not a label,start_ms CSV ({problem})") from None
    return keyword_labels(rows)


def word_end(audio: np.ndarray, start: int, clip: int) -> int:
    """Where the word of the clip at ``start`` ends: after the clip's last 10 ms frame within
    20 dB of its loudest (RMS).

    Args:
        audio: ``(samples,)`` the played file.
        start: the clip's first sample.
        clip: samples in a clip.
    """
    frame = clip // 100
    piece = audio[start : start + clip].astype(np.float64)
    energy = np.sqrt((piece[: len(piece) // frame * frame].reshape(-1, frame) ** 2).mean(axis=1))
    if not energy.size or not energy.max():
        return start
    return start + (int(np.flatnonzero(energy >= 0.1 * energy.max())[-1]) + 1) * frame


def _file_offset(heard: np.ndarray, played: np.ndarray) -> int | None:
    """Where ``played`` starts in ``heard``, found by 256 samples 1 s in (PulseAudio zeroes a
    stream's first few ms); None where they are not there exactly once."""
    at = min(RATE, max(0, len(played) - 256))
    key = played[at : at + 256]
    if len(heard) < len(key) or not key.any():
        return None
    hits = np.flatnonzero(
        (np.lib.stride_tricks.sliding_window_view(heard, len(key)) == key).all(axis=1)
    )
    return int(hits[0]) - at if len(hits) == 1 else None


def latencies(
    lines: list[tuple[float, str]],
    heard: np.ndarray,
    played: np.ndarray,
    labels: list[Label],
) -> dict[str, float] | None:
    """The latency of each keyword detected correctly (``keyword_hits``), ms: from when its word's
    end (``word_end``) reached listen, by listen's own clock on its detection line, to when that
    line was read.

    Args:
        lines: listen's detection lines, each with the wall time it was read at.
        heard: ``(samples,)`` int16, what listen recorded (``--record``).
        played: ``(samples,)`` int16, the played file's first channel.
        labels: its keyword rows (``labels_beside``).

    Returns:
        ``count`` and, with any, ``median_ms``, ``min_ms`` and ``max_ms``; None where the played
        file is not found in what was heard.
    """
    offset = _file_offset(heard, played)
    if offset is None:
        return None
    found = []
    for read_at, line in lines:
        match = _LINE.match(line)
        wall = datetime.strptime(match[1], "%Y-%m-%d %H:%M:%S.%f").timestamp()
        at = round(float(match[4]) * RATE)
        detection = Detection(match[2], 1000 * (at - offset) / RATE, float(match[3]))
        found.append((detection, wall, at, read_at))
    late = []
    for detection, row in keyword_hits([d for d, *_ in found], labels):
        _, wall, at, read_at = next(f for f in found if f[0] is detection)
        end = offset + word_end(played, round(labels[row][1] * RATE / 1000), RATE)
        late.append(1000 * (read_at - (wall + (end - at) / RATE)))
    if not late:
        return {"count": 0}
    return {"count": len(late), "median_ms": statistics.median(late), "min_ms": min(late),
            "max_ms": max(late)}  # fmt: skip
