"""Streaming detection: keywords found in a continuous audio stream, and how well.

* ``kws.streaming.posterior``: the posterior handling (numpy only): per-step class scores
  averaged over a window and turned into detections by TensorFlow's ``RecognizeCommands`` rules,
  plus the same rule applied to a kept track of averaged scores for threshold sweeps.
* ``kws.streaming.detector``: ``StreamingDetector``, which scores the stream with a keyword
  spotter (a checkpoint's or the ONNX runtime's).
* ``kws.streaming.scoring``: detections against a stream's labels: TensorFlow's figures, false
  accepts per hour, false-reject rates, the DET curve.
* ``kws.streaming.report``: those scores as ``stream_metrics.json``, a summary table and the DET
  figure.
* ``kws.streaming.scan``: one pass over a recording file and the files it writes (``detect.py``'s
  and ``evaluate.py stream=true``'s library).

This package's import (posterior and detector) stays light and torch-free, so the ONNX runtime
can use it; ``scoring``, ``report`` and ``scan`` are imported by name.
"""

from kws.streaming.detector import (
    RuntimeScorer,
    StreamingDetector,
    TorchScorer,
    WindowScorer,
)
from kws.streaming.posterior import (
    IGNORED_LABELS,
    SILENCE_LABEL,
    UNKNOWN_LABEL,
    Detection,
    PosteriorHandler,
    PosteriorSettings,
    detections_at,
    detections_sweep,
)

__all__ = [
    "IGNORED_LABELS",
    "SILENCE_LABEL",
    "UNKNOWN_LABEL",
    "Detection",
    "PosteriorHandler",
    "PosteriorSettings",
    "RuntimeScorer",
    "StreamingDetector",
    "TorchScorer",
    "WindowScorer",
    "detections_at",
    "detections_sweep",
]
