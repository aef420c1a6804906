"""Streaming detection: keywords found in a continuous audio stream.

``kws.streaming.posterior`` holds the posterior handling (numpy only): per-step class scores
averaged over a window and turned into detections by TensorFlow's ``RecognizeCommands`` rules,
plus the same rule applied to a kept track of averaged scores for threshold sweeps. A
``StreamingDetector`` that scores the stream with a keyword spotter lives in
``kws.streaming.detector``. This package's import stays light and torch-free, so the ONNX
runtime can use it.
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
