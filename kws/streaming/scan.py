"""A streaming detector's pass over labelled recordings, and the files it writes.

``report_scan`` scans recordings (``kws_runtime.scan``: a file of any rate and channel count,
read in blocks and converted as training converts), writes ``detections.csv`` and, with the
recordings' labels (``label,start_ms`` rows, as ``python -m kws.data.stream_audio`` writes
them), ``stream_metrics.json``, ``det_curve.csv`` and ``det_curve.png``: TensorFlow's streaming
figures, and false rejects against false accepts per hour over a sweep of thresholds.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kws.streaming.detector import StreamingDetector
from kws.streaming.report import (
    budgets,
    format_summary,
    pooled_metrics,
    stream_metrics,
    write_det_curve,
)
from kws.streaming.scoring import ScoredStream, det_curves, pool_det_curves, read_labels
from kws_runtime.detector import FrameScorer
from kws_runtime.io import write_json
from kws_runtime.scan import DETECTIONS_FILE, Recording, scan, write_detections

#: ``kws.streaming.report.stream_metrics`` of a labelled recording, with the timing.
METRICS_FILE = "stream_metrics.json"


def report_scan(
    detector: StreamingDetector,
    recordings: Mapping[str, tuple[Recording, str | Path | None]],
    output_dir: Path,
    stride_ms: float,
    threshold_note: str = "",
    calibrated: float | None = None,
) -> dict[str, Any]:
    """Scan recordings, write what fired and, with labels, the metrics and DET curves; print
    the summary and the real-time factor.

    One recording writes ``detections.csv`` and ``stream_metrics.json`` as
    ``kws.streaming.report.stream_metrics`` makes it. Several (a word stream and a keyword-free
    stream, say) write ``detections_<name>.csv`` each, and pool their metrics and DET curves
    (``pooled_metrics``): false accepts per hour over all the audio, false rejects over all the
    keywords; ``det_curve.png`` draws the pooled curve and each labelled stream's own. The
    labels are read and checked before any scan, so a bad file costs nothing. A recording
    converted to the model's rate in mono gets a line saying so (``Recording.conversion``).

    Args:
        detector: built with ``keep_track`` when labels are given.
        recordings: ``{name: (recording, its label,start_ms CSV or None)}``; several need labels
            for every one.
        output_dir: where the files go.
        stride_ms: the detector's stride (for the metrics file).
        threshold_note: where the threshold came from, printed and kept in the metrics.
        calibrated: the model's calibrated threshold, marked on the DET curve beside the one in
            use. Default None: the model has none.

    Returns:
        The metrics (``stream_metrics`` or ``pooled_metrics``, plus the timing), or with no
        labels the detection count and the timing.
    """
    classes = detector.class_names
    labels = {}
    for name, (recording, labels_path) in recordings.items():
        if labels_path is None:
            if len(recordings) > 1:
                raise ValueError(f"{recording.path}: several streams are pooled by their labels")
            continue
        labels[name] = read_labels(labels_path, classes)
        late = [(word, ms) for word, ms in labels[name] if ms > recording.duration_ms]
        if late:
            raise ValueError(
                f"{labels_path}: the label {late[0][0]!r} at {late[0][1]:g} ms lies past the end "
                f"of {recording.path} ({recording.duration_ms:g} ms)"
            )
    output_dir.mkdir(parents=True, exist_ok=True)
    settings = detector.handler.settings
    written, scans, streams, scored = [], {}, {}, []
    for name, (recording, _) in recordings.items():
        if recording.conversion:
            print(recording.conversion)
        result = scans[name] = scan(detector, recording)
        file = DETECTIONS_FILE if len(recordings) == 1 else f"detections_{name}.csv"
        write_detections(output_dir / file, result.detections)
        written.append(file)
        if name in labels:
            streams[name] = stream_metrics(
                result.detections, labels[name], result.duration_ms, settings
            )
            scored.append(ScoredStream(*detector.track(), labels[name], result.duration_ms))
    seconds = sum(r.seconds for r in scans.values())
    audio_seconds = sum(r.duration_ms for r in scans.values()) / 1000.0
    timing = {
        "audio_seconds": audio_seconds,
        "wall_seconds": seconds,
        "real_time_factor": seconds / audio_seconds,
        "stride_ms": stride_ms,
        "threshold_source": threshold_note,
    }
    if not labels:
        count = sum(len(r.detections) for r in scans.values())
        metrics = {"detections": count, **timing}
        print(f"{count} detections in {', '.join(str(r.path) for r, _ in recordings.values())}")
    else:
        marks = {"in use": settings.threshold}
        if calibrated is not None:
            marks = {"calibrated": calibrated, **marks}
        curves = det_curves(scored, classes, settings.suppression_ms, marks.values())
        if len(streams) == 1:
            [metrics] = streams.values()
            metrics |= budgets(curves[0])
            drawn = {"stream": curves[0]}
        else:
            pooled = pool_det_curves(curves)
            metrics = pooled_metrics(streams, pooled)
            drawn = {"all streams": pooled}
            drawn |= {n: c for n, c in zip(streams, curves, strict=True) if c[0].keywords}
        metrics.update(
            timing,
            audio=[str(r.path) for r, _ in recordings.values()],
            labels=[str(path) for _, path in recordings.values()],
        )
        write_json(output_dir / METRICS_FILE, metrics)
        written += [
            METRICS_FILE,
            *(p.name for p in write_det_curve(drawn, output_dir, thresholds=marks)),
        ]
        print(format_summary(metrics))
    if threshold_note:
        print(threshold_note)
    frame_by_frame = isinstance(detector.scorer, FrameScorer)
    scoring = "each frame through the model once" if frame_by_frame else "each window scored"
    print(
        f"real-time factor {timing['real_time_factor']:.4f} ({audio_seconds:.1f} s of audio in "
        f"{seconds:.2f} s, stride {stride_ms:g} ms, {scoring})"
    )
    print(f"written to {output_dir}: {', '.join(written)}")
    return metrics
