"""Streaming detections scored against a stream's labels: TensorFlow's figures, false accepts per
hour, false-reject rates and a DET curve, as numbers.

A labelled stream has a CSV of ``label,start_ms`` rows (``read_labels``): each keyword said, at
the time its one-second clip starts, and possibly ``_unknown_`` words placed among them, which
are not keywords. Detections come from ``kws.streaming.PosteriorHandler``.

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
  tolerance and no earlier detection took it (the nearest such label is taken); every other
  detection is a false accept, every label no detection took a false reject. TensorFlow's
  matching is not used here, because it holds a detection against the earliest label in reach
  whatever its word: a keyword said within the tolerance after another keyword is then counted
  both missed and falsely accepted, however well the detector did. ``stream_scores`` gives
  TensorFlow's counts and the error rates together.
* ``det_curve``: both of those over a sweep of thresholds, by re-running the firing rule on the
  handler's averaged-score track (``detections_sweep``), and ``frr_at_false_accepts``: the
  false-reject rate at a false-accept budget, read off the sweep as the best threshold that
  meets it (no interpolation between thresholds). Under TensorFlow's firing rule the counts need
  not be exactly monotonic in the threshold (a firing removed at a higher threshold can free a
  later one), so the rows are given as computed.

numpy only: the scores also work beside the torch-free runtime. ``kws.streaming.report`` turns
them into ``stream_metrics.json``, a summary table and the DET figure.
"""

from __future__ import annotations

import bisect
import csv
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from kws.streaming.posterior import IGNORED_LABELS, Detection, _reported, _top, detections_sweep

#: TensorFlow's ``--time_tolerance_ms`` default in ``test_streaming_accuracy.py``.
TIME_TOLERANCE_MS = 1500.0
#: The false-accept budgets (per hour) the false-reject rate is reported at.
FA_PER_HOUR_TARGETS = (1.0, 0.5)
#: A label file larger than this is refused: an hour of stream has about 1,200 rows.
MAX_LABEL_FILE_BYTES = 16 * 1024 * 1024
LABEL_HEADER = ("label", "start_ms")
MS_PER_HOUR = 3_600_000.0

Label = tuple[str, float]


def _label_error(path: str | Path, line: int, problem: str) -> ValueError:
    return ValueError(f"{path}: line {line}: {problem}")


def _names_list(class_names: Sequence[str]) -> str:
    shown = ", ".join(class_names[:20])
    return shown + (", ..." if len(class_names) > 20 else "")


def read_labels(path: str | Path, class_names: Sequence[str]) -> list[Label]:
    """Read a stream's labels: a CSV with the header ``label,start_ms`` and one row per word.

    Extra columns after these two are allowed and ignored (each row must have as many fields
    as the header); blank lines are skipped. Every label must be one of ``class_names``;
    ``_unknown_`` (and ``_silence_``) rows are returned like the others and left out of the
    keyword counts by the metrics.

    Args:
        path: the CSV file (UTF-8, a byte-order mark allowed).
        class_names: the model's classes.

    Returns:
        ``(label, start_ms)`` pairs sorted by time (rows at the same time keep file order).

    Raises:
        ValueError: one line naming the file, the line and the problem: a missing or wrong
            header, a wrong field count, an unknown label, a time that is not a finite number
            >= 0, undecodable text, or a file over ``MAX_LABEL_FILE_BYTES``.
        OSError: the file cannot be read.
    """
    names = set(class_names)
    with open(path, "rb") as file:
        data = file.read(MAX_LABEL_FILE_BYTES + 1)
    if len(data) > MAX_LABEL_FILE_BYTES:
        line = data[:MAX_LABEL_FILE_BYTES].count(b"\n") + 1
        raise _label_error(
            path, line, f"the file passes the {MAX_LABEL_FILE_BYTES}-byte limit for labels here"
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise _label_error(path, line, f"not UTF-8 text ({error.reason})") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[Label] = []
    try:
        header = next(reader, None)
        if header is None or [field.strip() for field in header[:2]] != list(LABEL_HEADER):
            found = "an empty file" if header is None else repr(",".join(header))[:80]
            raise _label_error(path, 1, f"expected the header 'label,start_ms', found {found}")
        width = len(header)
        for row in reader:
            line = reader.line_num
            if not any(field.strip() for field in row):
                continue
            if len(row) != width:
                raise _label_error(
                    path, line, f"expected {width} fields like the header, found {len(row)}"
                )
            label, start = row[0].strip(), row[1].strip()
            if label not in names:
                raise _label_error(
                    path,
                    line,
                    f"unknown label {label[:40]!r}, not one of the {len(class_names)} classes "
                    f"({_names_list(list(class_names))})",
                )
            try:
                start_ms = float(start)
            except ValueError:
                raise _label_error(path, line, f"start_ms {start[:40]!r} is not a number") from None
            if not math.isfinite(start_ms):
                raise _label_error(path, line, f"start_ms {start[:40]!r} is not finite")
            if start_ms < 0:
                raise _label_error(path, line, f"start_ms {start_ms:g} is negative")
            rows.append((label, start_ms))
    except csv.Error as error:
        raise _label_error(path, reader.line_num, f"not valid CSV ({error})") from None
    return sorted(rows, key=lambda row: row[1])


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


def _finite_or_none(value: float) -> float | None:
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
        return {**asdict(self), **{k: _finite_or_none(v) for k, v in percents.items()}}


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


def _scoring(
    labels: Iterable[Label],
    duration_ms: float,
    time_tolerance_ms: float,
    ignore: Iterable[str],
) -> tuple[list[Label], float, float]:
    """The keyword labels, the stream's hours and the tolerance, checked: the set-up of the
    error rates (``detection_errors``, ``stream_scores``, ``det_curve``)."""
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
        correct: detections that were correct (TensorFlow's matching).
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


def _error_rates(
    detections: Sequence[Detection], truth: Sequence[Label], tolerance_ms: float, hours: float
) -> ErrorRates:
    """The error counts of time-ordered detections against the keyword labels
    (``keyword_hits``)."""
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
    truth, hours, tolerance = _scoring(labels, duration_ms, time_tolerance_ms, ignore)
    return _error_rates(_in_time_order(detections), truth, tolerance, hours)


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
    truth, hours, tolerance = _scoring(labels, duration_ms, time_tolerance_ms, ignore)
    found = _in_time_order(detections)
    accuracy = _accuracy(_match(found, truth, tolerance), len(truth))
    return accuracy, _error_rates(found, truth, tolerance, hours)


class DetPoint(NamedTuple):
    """One threshold of a DET curve.

    Attributes:
        threshold: the detection threshold.
        false_reject_rate: false rejects / keyword labels.
        false_accepts_per_hour: false accepts per hour of stream.
        false_accepts: their count.
        false_rejects: their count.
        detections: detections reported at this threshold.
        keywords: keyword labels in the stream.
        hours: the stream's length.
    """

    threshold: float
    false_reject_rate: float
    false_accepts_per_hour: float
    false_accepts: int
    false_rejects: int
    detections: int
    keywords: int
    hours: float

    @classmethod
    def of(cls, threshold: float, errors: ErrorRates) -> DetPoint:
        """The point of ``errors`` at ``threshold``: every other field is read off them."""
        return cls(threshold, *(getattr(errors, name) for name in cls._fields[1:]))


def default_thresholds(
    averaged_scores: np.ndarray,
    class_names: Sequence[str],
    ignore: Iterable[str] = IGNORED_LABELS,
) -> np.ndarray:
    """Thresholds for a DET sweep: a coarse linear grid, a grid that closes in on 1 by
    decades (where low false-accept rates live), 41 quantiles of the steps' top scores where
    the top class is a keyword, and 1 (no detection at all: false-reject rate 1).

    Args:
        averaged_scores: ``(steps, classes)`` averaged-score track (NaN rows skipped).
        class_names: the class of each column.
        ignore: classes that are not keywords.

    Returns:
        Sorted unique thresholds in ``(0, 1]``.
    """
    linear = np.round(np.arange(0.05, 0.951, 0.05), 2)
    near_one = 1.0 - 10.0 ** -np.linspace(1.0, 5.0, 41)
    averaged = np.asarray(averaged_scores, dtype=np.float64)
    top, score = _top(averaged[~np.isnan(averaged).any(axis=1)])
    keyword = _reported(class_names, ignore)[top]
    quantiles = np.zeros(0)
    if keyword.any():
        quantiles = np.quantile(score[keyword], np.linspace(0.0, 1.0, 41))
    grid = np.concatenate([linear, near_one, quantiles, [1.0]])
    return np.unique(grid[(grid > 0) & (grid <= 1)])


def det_curve(
    times_ms: np.ndarray,
    averaged_scores: np.ndarray,
    class_names: Sequence[str],
    labels: Iterable[Label],
    duration_ms: float,
    suppression_ms: float,
    thresholds: Iterable[float] | None = None,
    time_tolerance_ms: float = TIME_TOLERANCE_MS,
    ignore: Iterable[str] = IGNORED_LABELS,
) -> list[DetPoint]:
    """False-reject rate and false accepts per hour over a sweep of thresholds.

    Args:
        times_ms: ``(steps,)`` the track's times (``PosteriorHandler.track()``).
        averaged_scores: ``(steps, classes)`` its averaged scores.
        class_names: the class of each column.
        labels: the stream's ``(label, start_ms)`` rows.
        duration_ms: the stream's length.
        suppression_ms: the handler's suppression time.
        thresholds: thresholds in ``(0, 1]``; None: ``default_thresholds``.
        time_tolerance_ms: the matching tolerance, either side.
        ignore: labels never reported and label rows that are not keywords.

    Returns:
        One point per threshold, by increasing threshold.
    """
    ignore = tuple(ignore)
    truth, hours, tolerance = _scoring(labels, duration_ms, time_tolerance_ms, ignore)
    if thresholds is None:
        thresholds = default_thresholds(averaged_scores, class_names, ignore)
    thresholds = sorted(float(t) for t in thresholds)
    sweep = detections_sweep(
        times_ms, averaged_scores, class_names, thresholds, suppression_ms, ignore
    )
    return [
        DetPoint.of(threshold, _error_rates(found, truth, tolerance, hours))
        for threshold, found in zip(thresholds, sweep, strict=True)
    ]


class ScoredStream(NamedTuple):
    """One stream as a detector scored it: its averaged-score track
    (``PosteriorHandler.track()``), its labels and its length.

    Attributes:
        times_ms: ``(steps,)`` the track's times.
        averaged_scores: ``(steps, classes)`` its averaged scores.
        labels: the stream's ``(label, start_ms)`` rows (none for a keyword-free stream).
        duration_ms: the stream's length.
    """

    times_ms: np.ndarray
    averaged_scores: np.ndarray
    labels: Sequence[Label]
    duration_ms: float


def det_curves(
    streams: Sequence[ScoredStream],
    class_names: Sequence[str],
    suppression_ms: float,
    thresholds: Iterable[float] = (),
    time_tolerance_ms: float = TIME_TOLERANCE_MS,
    ignore: Iterable[str] = IGNORED_LABELS,
) -> list[list[DetPoint]]:
    """Each stream's DET curve, all swept at one set of thresholds (``default_thresholds`` of
    every stream's scores together, and ``thresholds``), so that ``pool_det_curves`` can add
    them up.

    Args:
        streams: the scored streams.
        class_names: the class of each score column.
        suppression_ms: the handler's suppression time.
        thresholds: more thresholds to sweep, each in (0, 1] (a detector's own, say).
        time_tolerance_ms: the matching tolerance, either side.
        ignore: labels never reported and label rows that are not keywords.

    Returns:
        One curve per stream, in order, each by increasing threshold.
    """
    ignore = tuple(ignore)
    scores = np.concatenate([np.asarray(s.averaged_scores, dtype=np.float64) for s in streams])
    grid = default_thresholds(scores, class_names, ignore)
    thresholds = np.unique(np.concatenate([grid, np.asarray(list(thresholds), dtype=np.float64)]))
    return [
        det_curve(s.times_ms, s.averaged_scores, class_names, s.labels, s.duration_ms,
                  suppression_ms, thresholds, time_tolerance_ms, ignore)
        for s in streams
    ]  # fmt: skip


def pool_det_curves(curves: Sequence[Sequence[DetPoint]]) -> list[DetPoint]:
    """Several streams' DET curves, swept at the same thresholds, as one curve of all their
    audio: false accepts per hour over all their hours, the false-reject rate over all their
    keywords (a keyword-free stream adds hours and false accepts, no keyword).

    Args:
        curves: one DET curve per stream (``det_curves``).

    Returns:
        The pooled curve, by increasing threshold.

    Raises:
        ValueError: the curves were not swept at the same thresholds.
    """
    pooled = []
    for points in zip(*curves, strict=True):
        if len({p.threshold for p in points}) != 1:
            raise ValueError("pooled DET curves must be swept at the same thresholds")
        errors = ErrorRates(
            keywords=sum(p.keywords for p in points),
            detections=sum(p.detections for p in points),
            correct=sum(p.detections - p.false_accepts for p in points),
            false_accepts=sum(p.false_accepts for p in points),
            false_rejects=sum(p.false_rejects for p in points),
            hours=sum(p.hours for p in points),
        )
        pooled.append(DetPoint.of(points[0].threshold, errors))
    return pooled


def frr_at_false_accepts(points: Iterable[DetPoint], fa_per_hour: float) -> DetPoint | None:
    """The sweep's best point within a false-accept budget: of the thresholds with at most
    ``fa_per_hour`` false accepts per hour, the one with the lowest false-reject rate (ties:
    fewer false accepts, then the lower threshold). Not interpolated: it is a threshold that
    can be deployed.

    Args:
        points: the DET curve.
        fa_per_hour: the budget.

    Returns:
        The point, or None when no threshold meets the budget or there are no keywords.
    """
    meeting = [
        p
        for p in points
        if p.false_accepts_per_hour <= fa_per_hour and not math.isnan(p.false_reject_rate)
    ]
    if not meeting:
        return None
    return min(meeting, key=lambda p: (p.false_reject_rate, p.false_accepts_per_hour, p.threshold))
