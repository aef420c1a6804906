"""Streaming detections scored against a stream's labels: TensorFlow's figures, false accepts per
hour, false-reject rates and a DET curve, as numbers.

A labelled stream has a CSV of ``label,start_ms`` rows (``read_labels``, here): each keyword
said, at the time its one-second clip starts, and possibly ``_unknown_`` words placed among them,
which are not keywords. Detections come from ``kws.streaming.PosteriorHandler``.

* ``kws.streaming.scoring.matching``: one detection list against the labels: TensorFlow's
  figures (``streaming_accuracy``), and false accepts per hour and the false-reject rate as
  deployed spotters are judged (``keyword_hits``, ``detection_errors``, ``stream_scores``).
* ``kws.streaming.scoring.det``: those error rates over a sweep of thresholds (``det_curve``,
  ``det_curves``), pooled over streams (``pool_det_curves``), and the false-reject rate at a
  false-accept budget (``frr_at_false_accepts``).

numpy only: the scores also work beside the torch-free runtime. ``kws.streaming.report`` turns
them into ``stream_metrics.json``, a summary table and the DET figure.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path

from kws.streaming.scoring.det import (
    FA_PER_HOUR_TARGETS,
    DetPoint,
    ScoredStream,
    default_thresholds,
    det_curve,
    det_curves,
    frr_at_false_accepts,
    pool_det_curves,
)
from kws.streaming.scoring.matching import (
    MS_PER_HOUR,
    TIME_TOLERANCE_MS,
    ErrorRates,
    Label,
    StreamingAccuracy,
    detection_errors,
    keyword_hits,
    keyword_labels,
    stream_scores,
    streaming_accuracy,
)

#: A label file larger than this is refused: an hour of stream has about 1,200 rows.
MAX_LABEL_FILE_BYTES = 16 * 1024 * 1024
LABEL_HEADER = ("label", "start_ms")


def _label_error(path: str | Path, line: int, problem: str) -> ValueError:
    return ValueError(f"{path}: line {line}: {problem}")


def _names_list(class_names: Sequence[str]) -> str:
    shown = ", ".join(class_names[:20])
    return shown + (", ..." if len(class_names) > 20 else "")


def read_labels(path: str | Path, class_names: Sequence[str] | None) -> list[Label]:
    """Read a stream's labels: a CSV with the header ``label,start_ms`` and one row per word.

    Extra columns after these two are allowed and ignored (each row must have as many fields
    as the header); blank lines are skipped. Every label must be one of ``class_names``;
    ``_unknown_`` (and ``_silence_``) rows are returned like the others and left out of the
    keyword counts by the metrics (``keyword_labels``).

    Args:
        path: the CSV file (UTF-8, a byte-order mark allowed).
        class_names: the model's classes; None: any label is taken (where the classes are not
            known, as for ``python -m kws.benchmark listen``'s ONNX model).

    Returns:
        ``(label, start_ms)`` pairs sorted by time (rows at the same time keep file order).

    Raises:
        ValueError: one line naming the file, the line and the problem: a missing or wrong
            header, a wrong field count, an unknown label, a time that is not a finite number
            >= 0, undecodable text, or a file over ``MAX_LABEL_FILE_BYTES``.
        OSError: the file cannot be read.
    """
    names = None if class_names is None else set(class_names)
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
            if names is not None and label not in names:
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


__all__ = [
    "FA_PER_HOUR_TARGETS",
    "LABEL_HEADER",
    "MAX_LABEL_FILE_BYTES",
    "MS_PER_HOUR",
    "TIME_TOLERANCE_MS",
    "DetPoint",
    "ErrorRates",
    "Label",
    "ScoredStream",
    "StreamingAccuracy",
    "default_thresholds",
    "det_curve",
    "det_curves",
    "detection_errors",
    "frr_at_false_accepts",
    "keyword_hits",
    "keyword_labels",
    "pool_det_curves",
    "read_labels",
    "stream_scores",
    "streaming_accuracy",
]
