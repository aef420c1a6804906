"""One detection list held against a stream's labels: TensorFlow's streaming accuracy figures, and
false accepts per hour and the false-reject rate.

* ``streaming_accuracy``: TensorFlow's figures, as ``StreamingAccuracyStats`` in
  ``tensorflow/examples/speech_commands/accuracy_utils.py`` computes them at the end of a stream.
  Each detection, in time order, is matched to the *earliest* label whose time lies within
  ``[time - tolerance, time + tolerance]`` (both ends included; 1,500 ms by default), whether
  or not that label was matched before or has the same word. It is *correct* if the words agree
  and no earlier detection was matched to that label, *wrong* otherwise; a detection with no
  label in reach is a *false positive*. *Matched* counts labels that some detection was matched
  to. All four are given as percentages of the labels (false positives can pass 100%).
  Deliberate differences: times stay float milliseconds (TensorFlow rounds them), labels matched
  are told apart by row rather than by time, and by default ``_unknown_`` rows are left out of
  the labels (TensorFlow's generator writes them and its script counts them), since no
  ``_unknown_`` is ever reported: a keyword fired on an unknown word is then a false positive,
  not a wrong word. Pass ``ignore=()`` to count them as TensorFlow does.
* ``detection_errors``: false accepts per hour and the false-reject rate, as deployed spotters
  are judged: a detection *hits* a keyword said when a label of its own word lies within the
  tolerance and no earlier detection took it (the nearest such label is taken, ``keyword_hits``);
  every other detection is a false accept, every label no detection took a false reject.
  TensorFlow's matching is not used here, because it holds a detection against the earliest
  label in reach whatever its word: a keyword said within the tolerance after another keyword is
  then counted both missed and falsely accepted, however well the detector did.
  ``stream_scores`` gives TensorFlow's counts and the error rates together.

numpy only. ``kws.streaming.scoring.det`` sweeps the error rates over thresholds.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import NamedTuple

import numpy as np

from kws_runtime.posterior import IGNORED_LABELS, Detection

#: TensorFlow's ``--time_tolerance_ms`` default in ``test_streaming_accuracy.py``.
TIME_TOLERANCE_MS = 1500.0
MS_PER_HOUR = 3_600_000.0

#: A label row: ``(word, start_ms)``.
Label = tuple[str, float]


def keyword_labels(labels: Iterable[Label], ignore: Iterable[str] = IGNORED_LABELS) -> list[Label]:
    """The labels that count as keywords, sorted by time.

    Args:
        labels: ``(label, start_ms)`` pairs.
        ignore: labels that are not keywords.

    Returns:
        The pairs whose label is not in ``ignore``, sorted by time (ties keep their order).
    """
    ignored = set(ignore)
    return sorted(((lab, float(t)) for lab, t in labels if lab not in ignored), key=lambda r: r[1])


class _Matches(NamedTuple):
    """Each detection's fate under TensorFlow's matching."""

    label_index: np.ndarray  # the label each detection was matched to, -1: none in reach
    correct: np.ndarray  # bool per detection


def _match(
    detections: Sequence[Detection], truth: Sequence[Label], tolerance_ms: float
) -> _Matches:
    """TensorFlow's matching of time-ordered detections to time-sorted labels (vectorised)."""
    truth_times = np.array([t for _, t in truth], dtype=np.float64)
    times = np.array([d.time_ms for d in detections], dtype=np.float64)
    first = np.searchsorted(truth_times, times - tolerance_ms, side="left")
    in_reach = first < len(truth_times)
    in_reach[in_reach] = truth_times[first[in_reach]] <= times[in_reach] + tolerance_ms
    index = np.where(in_reach, first, -1)
    # A label counts once: only the first detection matched to it can be correct.
    first_to_reach = np.zeros(len(detections), dtype=bool)
    reached = np.flatnonzero(in_reach)
    _, firsts = np.unique(index[reached], return_index=True)
    first_to_reach[reached[firsts]] = True
    same = np.array(
        [
            i >= 0 and truth[i][0] == d.label
            for i, d in zip(index.tolist(), detections, strict=True)
        ],
        dtype=bool,
    )
    return _Matches(index, first_to_reach & same)


def keyword_hits(
    detections: Sequence[Detection],
    truth: Sequence[Label],
    tolerance_ms: float = TIME_TOLERANCE_MS,
) -> list[tuple[Detection, int]]:
    """Which keyword said each correct detection hit: in time order, a detection takes the
    nearest label of its own word within ``tolerance_ms`` either side that no earlier detection
    took (ties: the earlier label). The other detections are false accepts, the labels left
    false rejects.

    Args:
        detections: the detections, in any order.
        truth: the keyword labels ``(word, start_ms)``, in time order.
        tolerance_ms: how far a detection may be from its label. Default TensorFlow's 1,500.

    Returns:
        ``(detection, row of truth)`` of each correct detection, in time order.
    """
    rows: dict[str, list[int]] = {}
    for row, (word, _) in enumerate(truth):
        rows.setdefault(word, []).append(row)
    times = {word: [truth[row][1] for row in word_rows] for word, word_rows in rows.items()}
    taken = {word: [False] * len(ts) for word, ts in times.items()}
    hits = []
    for found in _in_time_order(detections):
        ts = times.get(found.label)
        if ts is None:
            continue
        lo = bisect.bisect_left(ts, found.time_ms - tolerance_ms)
        hi = bisect.bisect_right(ts, found.time_ms + tolerance_ms)
        free = [i for i in range(lo, hi) if not taken[found.label][i]]
        if free:
            nearest = min(free, key=lambda i: abs(ts[i] - found.time_ms))
            taken[found.label][nearest] = True
            hits.append((found, rows[found.label][nearest]))
    return hits


def _in_time_order(detections: Iterable[Detection]) -> list[Detection]:
    return sorted(detections, key=lambda d: d.time_ms)


def _percent(count: int, total: int) -> float:
    return 100.0 * count / total if total else math.nan


def finite_or_none(value: float) -> float | None:
    """``value``, or None where it is NaN or infinite (JSON has neither).

    Args:
        value: the number.
    """
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class StreamingAccuracy:
    """TensorFlow's streaming accuracy counts.

    Attributes:
        ground_truth: labels counted.
        matched: labels some detection was matched to.
        correct: detections of the right word, first at their label.
        wrong: detections matched to a label that were not correct.
        false_positives: detections with no label within the tolerance.
    """

    ground_truth: int
    matched: int
    correct: int
    wrong: int
    false_positives: int

    def as_dict(self) -> dict[str, float | int | None]:
        """The counts and, as ``matched_percent``, ``correct_percent``, ``wrong_percent`` and
        ``false_positive_percent``, each as a % of the labels (false positives may pass 100),
        for JSON: None without labels."""
        percents = {
            f"{name.removesuffix('s')}_percent": _percent(getattr(self, name), self.ground_truth)
            for name in ("matched", "correct", "wrong", "false_positives")
        }
        return {**asdict(self), **{k: finite_or_none(v) for k, v in percents.items()}}


def _accuracy(matches: _Matches, keywords: int) -> StreamingAccuracy:
    """TensorFlow's counts from the matching of the detections to ``keywords`` labels."""
    in_reach = matches.label_index >= 0
    correct = int(matches.correct.sum())
    return StreamingAccuracy(
        ground_truth=keywords,
        matched=len(np.unique(matches.label_index[in_reach])),
        correct=correct,
        wrong=int(in_reach.sum()) - correct,
        false_positives=int((~in_reach).sum()),
    )


def streaming_accuracy(
    detections: Iterable[Detection],
    labels: Iterable[Label],
    time_tolerance_ms: float = TIME_TOLERANCE_MS,
    ignore: Iterable[str] = IGNORED_LABELS,
) -> StreamingAccuracy:
    """TensorFlow's matched / correct / wrong / false-positive counts for a whole stream.

    Args:
        detections: the detections (taken in time order).
        labels: the stream's ``(label, start_ms)`` rows.
        time_tolerance_ms: how far a label may be from a detection, either side, inclusive.
        ignore: label rows left out of the ground truth (``()``: TensorFlow's counting).

    Returns:
        The counts; ``as_dict()`` adds the percentages.
    """
    found = _in_time_order(detections)
    truth = keyword_labels(labels, ignore)
    return _accuracy(_match(found, truth, _tolerance(time_tolerance_ms)), len(truth))


def _tolerance(time_tolerance_ms: float) -> float:
    value = float(time_tolerance_ms)
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"time_tolerance_ms must be a finite number >= 0, got {value!r}")
    return value


def _hours(duration_ms: float) -> float:
    value = float(duration_ms)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"the stream's duration_ms must be finite and > 0, got {value!r}")
    return value / MS_PER_HOUR


def _check_within(truth: Sequence[Label], duration_ms: float) -> None:
    late = [(lab, t) for lab, t in truth if t >= duration_ms]
    if late:
        raise ValueError(
            f"{len(late)} label(s) start at or after the stream's end ({duration_ms:g} ms), "
            f"the first {late[0][0]!r} at {late[0][1]:g} ms: labels and audio do not match"
        )


def keyword_truth(
    labels: Iterable[Label],
    duration_ms: float,
    time_tolerance_ms: float,
    ignore: Iterable[str],
) -> tuple[list[Label], float, float]:
    """The keyword labels, the stream's hours and the tolerance, checked: the set-up of the
    error rates (``detection_errors``, ``stream_scores``, ``det_curve``).

    Args:
        labels: the stream's ``(label, start_ms)`` rows.
        duration_ms: the stream's length, finite and > 0.
        time_tolerance_ms: the matching tolerance, either side, finite and >= 0.
        ignore: label rows that are not keywords.

    Returns:
        The keyword labels sorted by time, the stream's hours and the tolerance in ms.

    Raises:
        ValueError: a bad duration or tolerance, or a keyword label past the stream's end.
    """
    truth = keyword_labels(labels, ignore)
    hours = _hours(duration_ms)
    _check_within(truth, float(duration_ms))
    return truth, hours, _tolerance(time_tolerance_ms)


@dataclass(frozen=True)
class ErrorRates:
    """False accepts and false rejects of one detection list.

    Attributes:
        keywords: keyword labels in the stream.
        detections: detections reported.
        correct: detections that hit a keyword said (``keyword_hits``).
        false_accepts: detections that were not correct.
        false_rejects: keyword labels with no correct detection.
        hours: the stream's length.
    """

    keywords: int
    detections: int
    correct: int
    false_accepts: int
    false_rejects: int
    hours: float

    @property
    def false_accepts_per_hour(self) -> float:
        """False accepts per hour of stream."""
        return self.false_accepts / self.hours

    @property
    def false_reject_rate(self) -> float:
        """False rejects as a fraction of the keyword labels (NaN without any)."""
        return self.false_rejects / self.keywords if self.keywords else math.nan


def error_rates(
    detections: Sequence[Detection], truth: Sequence[Label], tolerance_ms: float, hours: float
) -> ErrorRates:
    """The error counts of detections against the keyword labels (``keyword_hits``).

    Args:
        detections: the detections, in time order.
        truth: the keyword labels ``(word, start_ms)``, in time order (``keyword_truth``).
        tolerance_ms: how far a detection may be from its label, either side.
        hours: the stream's length.
    """
    correct = len(keyword_hits(detections, truth, tolerance_ms))
    keywords, detections = len(truth), len(detections)
    return ErrorRates(
        keywords=keywords,
        detections=detections,
        correct=correct,
        false_accepts=detections - correct,
        false_rejects=keywords - correct,
        hours=hours,
    )


def detection_errors(
    detections: Iterable[Detection],
    labels: Iterable[Label],
    duration_ms: float,
    time_tolerance_ms: float = TIME_TOLERANCE_MS,
    ignore: Iterable[str] = IGNORED_LABELS,
) -> ErrorRates:
    """False accepts (per hour) and false rejects (rate) of a detection list.

    Args:
        detections: the detections.
        labels: the stream's ``(label, start_ms)`` rows.
        duration_ms: the stream's length.
        time_tolerance_ms: the matching tolerance, either side.
        ignore: label rows that are not keywords.

    Returns:
        The counts; rates are properties.

    Raises:
        ValueError: a bad duration or tolerance, or a keyword label past the stream's end.
    """
    truth, hours, tolerance = keyword_truth(labels, duration_ms, time_tolerance_ms, ignore)
    return error_rates(_in_time_order(detections), truth, tolerance, hours)


def stream_scores(
    detections: Iterable[Detection],
    labels: Iterable[Label],
    duration_ms: float,
    time_tolerance_ms: float = TIME_TOLERANCE_MS,
    ignore: Iterable[str] = IGNORED_LABELS,
) -> tuple[StreamingAccuracy, ErrorRates]:
    """TensorFlow's counts and the error rates of a detection list.

    Args:
        detections: the detections.
        labels: the stream's ``(label, start_ms)`` rows.
        duration_ms: the stream's length.
        time_tolerance_ms: the matching tolerance, either side.
        ignore: label rows that are not keywords.

    Returns:
        What ``streaming_accuracy`` and ``detection_errors`` return.

    Raises:
        ValueError: a bad duration or tolerance, or a keyword label past the stream's end.
    """
    truth, hours, tolerance = keyword_truth(labels, duration_ms, time_tolerance_ms, ignore)
    found = _in_time_order(detections)
    accuracy = _accuracy(_match(found, truth, tolerance), len(truth))
    return accuracy, error_rates(found, truth, tolerance, hours)
