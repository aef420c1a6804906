"""``RuntimeStream``: a streaming export (``python -m kws.export --streaming``) run on one
stream, each sample through the model once, its state carried from call to call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from kws_runtime.audio import float_problem, to_float32

if TYPE_CHECKING:
    from kws_runtime.spotter import Spotter


class RuntimeStream:
    """A streaming export run on one stream, its state kept between calls: what
    ``kws_runtime.detector.FrameScorer`` pushes samples into (torch's counterpart is
    ``kws.streaming.stateful.TorchStream``). Build it with ``Spotter.stream()``.

    Args:
        spotter: a ``Spotter`` loaded from a streaming export.

    Raises:
        ValueError: the spotter's model is a clip export.
    """

    def __init__(self, spotter: Spotter) -> None:
        if spotter.streaming is None:
            raise ValueError(
                f"{spotter.origin}: a clip export, which cannot run as a stream "
                "(python -m kws.export --streaming writes a streaming export)"
            )
        self.spotter = spotter
        self.hop_length = spotter.streaming.hop_length
        self._shapes = [info.shape for info in spotter.streaming.states]
        self.reset()

    def reset(self) -> None:
        """Start a new stream: zeros of the state."""
        self.state = [np.zeros(shape, np.float32) for shape in self._shapes]

    def step(self, samples: np.ndarray) -> np.ndarray:
        """The probabilities at the frames ``samples`` complete; the state moves past them.

        Args:
            samples: ``(n * hop_length,)``, the stream's next samples, ``n >= 0``: float in
                [-1, 1] or int16 (scaled by 1/32768). They go to onnxruntime
                ``spotter.max_batch`` hops at a time.

        Returns:
            ``(n, classes)`` float64, a row per frame, columns in the order of
            ``spotter.class_names``.

        Raises:
            ValueError: not ``(samples,)`` float or int16, a length that is not a whole number
                of hops, or NaN, infinite or far out of range samples (the state is kept).
            ModelFileError: the model failed or gave outputs of the wrong shape, or NaN or
                infinite ones.
        """
        samples = np.asarray(samples)
        if samples.ndim != 1 or (samples.dtype != np.int16 and samples.dtype.kind != "f"):
            raise ValueError(
                f"samples must be (samples,) float or int16, got {samples.dtype} {samples.shape}"
            )
        if len(samples) % self.hop_length:
            raise ValueError(
                f"{len(samples)} samples are not a whole number of the model's "
                f"{self.hop_length}-sample hops"
            )
        audio = to_float32(samples)
        problem = None if samples.dtype == np.int16 else float_problem(audio[np.newaxis])
        if problem and problem.non_finite:
            raise ValueError(f"samples hold {problem.non_finite} NaN or infinite values")
        if problem:
            raise ValueError(
                f"samples reach {problem.peak:.3g}: float samples must be in [-1, 1] "
                "(int16 samples are scaled by 1/32768)"
            )
        rows = [np.zeros((0, len(self.spotter.class_names)), np.float32)]
        piece = self.spotter.max_batch * self.hop_length
        for first in range(0, len(audio), piece):
            probabilities, self.state = self.spotter._run_stream(
                audio[first : first + piece], self.state
            )
            rows.append(probabilities)
        return np.concatenate(rows).astype(np.float64)
