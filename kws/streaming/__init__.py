"""Streaming detection with a PyTorch model, and how well it detects.

The detector itself, its posterior handling and its pass over a recording are the runtime's
(``kws_runtime.detector``, ``kws_runtime.posterior``, ``kws_runtime.scan``: numpy only); the
names a training user needs are imported here too.

* ``kws.streaming.detector``: ``StreamingDetector.from_spotter``, a detector for a torch
  ``KeywordSpotter`` (``TorchScorer``, or a causal model's ``kws.streaming.stateful``).
* ``kws.streaming.scoring``: detections against a stream's labels: TensorFlow's figures, false
  accepts per hour, false-reject rates, the DET curve.
* ``kws.streaming.report``: those scores as ``stream_metrics.json``, a summary table and the DET
  figure.
* ``kws.streaming.scan``: a pass over labelled recordings and the files it writes (``detect.py``'s
  and ``evaluate.py stream=true``'s library).
* ``kws.streaming.calibration``: the threshold for a false-accept budget.
"""

from kws.streaming.detector import StreamingDetector, TorchScorer
from kws_runtime.detector import RuntimeScorer, WindowScorer
from kws_runtime.posterior import (
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
