"""``StreamingDetector``: keywords found in a stream of audio pushed in chunks of any size.

Every ``stride_ms`` the detector scores the last ``clip_samples`` of audio and hands the class
probabilities to a ``PosteriorHandler`` (TensorFlow's ``RecognizeCommands`` rules). The first
window is scored once a whole clip has arrived; a window is stamped with its start,
``start_sample * 1000 / sample_rate`` milliseconds, as TensorFlow stamps it. How the stream is
split into chunks changes nothing: windows are cut from the stream, never from a chunk.

Scoring is delegated to a scorer (``WindowScorer``). ``from_runtime`` builds one for an exported
model: a streaming export (``python -m kws.export --streaming``) streams every sample through
the model once (``FrameScorer`` over ``kws_runtime.spotter.RuntimeStream``: a window's score is
the model's output at the frame where the window ends); a clip export scores whole windows, a
strided view over the sample buffer batched to ``Spotter.predict`` (``RuntimeScorer``). The
training package adds PyTorch scorers (``kws.streaming.detector``). Any scorer gets at most
``batch_size`` windows at a time, in one batch.

Memory is flat in the stream's length: the sample buffer holds at most one clip plus one batch
of strides.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from numpy.lib.stride_tricks import as_strided

from kws_runtime.audio import float_problem, to_float32
from kws_runtime.checks import check_number
from kws_runtime.posterior import (
    IGNORED_LABELS,
    Detection,
    PosteriorHandler,
    PosteriorSettings,
)

if TYPE_CHECKING:
    from kws_runtime.calibration import Calibration
    from kws_runtime.spotter import Spotter

#: Windows scored together by default.
BATCH_SIZE = 256
#: Milliseconds between scored windows by default (TensorFlow's streaming test's 30 ms).
STRIDE_MS = 30.0
#: The most windows scored together: past a few thousand a batch costs memory, not time.
MAX_BATCH_SIZE = 4096


class WindowScorer(Protocol):
    """Scores one-second windows of a stream given as a contiguous stretch of its samples."""

    def reset(self) -> None:
        """Forget the stream (any cached features)."""

    def score(self, audio: np.ndarray, offset: int, starts: np.ndarray) -> np.ndarray:
        """The class probabilities of the windows starting at ``starts``.

        Args:
            audio: float32 ``(samples,)``, the stream from sample ``offset`` on; it holds every
                window, ``starts - offset >= 0`` and ``starts - offset + clip <= samples``.
            offset: the stream index of ``audio[0]``.
            starts: ``(windows,)`` int64 stream indices of the windows' first samples, rising
                evenly (one stride apart).

        Returns:
            ``(windows, classes)`` probabilities.
        """
        ...


class RuntimeScorer:
    """Windows as a strided view of the samples, batched through an ONNX runtime ``Spotter``.

    Args:
        spotter: a ``kws_runtime.Spotter`` (or anything with ``predict((batch, samples))``).
        clip_samples: the window length in samples.
    """

    def __init__(self, spotter: Spotter, clip_samples: int) -> None:
        self.spotter = spotter
        self.clip_samples = clip_samples

    def reset(self) -> None:
        """Nothing is cached."""

    def score(self, audio: np.ndarray, offset: int, starts: np.ndarray) -> np.ndarray:
        """See ``WindowScorer.score``."""
        windows = window_view(audio, self.clip_samples, starts - offset)  # (n, clip) view
        return np.asarray(self.spotter.predict(windows), dtype=np.float64)


class FrameStream(Protocol):
    """A stateful streaming model run on one stream: samples in, a probability row per frame."""

    hop_length: int

    def reset(self) -> None:
        """Start a new stream."""

    def step(self, samples: np.ndarray) -> np.ndarray:
        """``(n * hop_length,)`` float32 samples in, ``(n, classes)`` probabilities out."""
        ...


class FrameScorer:
    """Scores windows with a stateful streaming model, each sample going through it once: a
    window's score is the model's output at the frame that ends where the window ends.

    Args:
        stream: the model (``kws.streaming.stateful.TorchStream``, the runtime's
            ``kws_runtime.spotter.RuntimeStream``).
        clip_samples: the window length in samples, a whole number of hops.
        stride_samples: the samples between window starts, a whole number of hops.

    Raises:
        ValueError: a length that is not a whole number of the model's hops.
    """

    def __init__(self, stream: FrameStream, clip_samples: int, stride_samples: int) -> None:
        hop = stream.hop_length
        if clip_samples % hop or stride_samples % hop or stride_samples > clip_samples:
            raise ValueError(
                f"a stateful detector needs the clip ({clip_samples} samples) and the stride "
                f"({stride_samples}, detector.stride_ms) to be whole numbers of the model's hop "
                f"({hop} samples), "
                "the stride no longer than the clip"
            )
        self.stream = stream
        self.clip_samples = clip_samples
        self.reset()

    def reset(self) -> None:
        """Start a new stream."""
        self.stream.reset()
        self._done = 0  # stream samples the model has taken

    def score(self, audio: np.ndarray, offset: int, starts: np.ndarray) -> np.ndarray:
        """See ``WindowScorer.score``: the model takes the samples up to the last window's end
        that it has not yet taken."""
        ends = starts + self.clip_samples
        probabilities = self.stream.step(audio[self._done - offset : ends[-1] - offset])
        rows = (ends - self._done) // self.stream.hop_length - 1  # the frame ending at each end
        self._done = int(ends[-1])
        return probabilities[rows]


def window_view(audio: np.ndarray, length: int, firsts: np.ndarray) -> np.ndarray:
    """Rows ``audio[first : first + length]`` for each of ``firsts``, without copying.

    Args:
        audio: ``(samples,)``.
        length: samples per row.
        firsts: ``(rows,)`` the rows' first indices, rising evenly, every row within ``audio``.

    Returns:
        A read-only strided view ``(rows, length)``.
    """
    assert firsts[0] >= 0 and firsts[-1] + length <= len(audio), "a window past the samples"
    step = int(firsts[1] - firsts[0]) if len(firsts) > 1 else 1
    item = audio.strides[0]
    return as_strided(
        audio[firsts[0] :], (len(firsts), length), (step * item, item), writeable=False
    )


def stride_samples(stride_ms: float, sample_rate: int, settings: PosteriorSettings) -> int:
    """``stride_ms`` in samples, refused (``ValueError``) unless ``settings`` can average at it
    and it is a whole number (>= 1) of samples at ``sample_rate``.

    Args:
        stride_ms: milliseconds between windows.
        sample_rate: the stream's sample rate in Hz.
        settings: the posterior settings that average the windows' scores.
    """
    settings.check_stride(stride_ms)
    stride = stride_ms * sample_rate / 1000
    if not math.isclose(stride, round(stride), abs_tol=1e-9) or round(stride) < 1:
        raise ValueError(
            f"detector.stride_ms={stride_ms:g} is {stride:g} samples at {sample_rate} Hz: it must "
            "be a whole number of samples"
        )
    return int(round(stride))


def posterior_settings(
    settings: PosteriorSettings | None, calibration: Calibration | None
) -> PosteriorSettings:
    """The settings a detector uses: ``settings``, else ``calibration``'s, else TensorFlow's
    defaults.

    Args:
        settings: settings given, or None.
        calibration: the model's calibrated threshold, or None.
    """
    if settings is not None:
        return settings
    return PosteriorSettings() if calibration is None else calibration.settings


class StreamingDetector:
    """Keyword detections in an audio stream pushed chunk by chunk.

    Args:
        scorer: scores windows (``TorchScorer``, ``RuntimeScorer`` or any ``WindowScorer``).
        class_names: the class of each score column.
        sample_rate: the stream's sample rate in Hz.
        clip_samples: samples per scored window (one second).
        stride_ms: milliseconds between windows. Default 30; ``stride_ms * sample_rate / 1000``
            must be a whole number of samples.
        settings: the posterior settings. Default ``PosteriorSettings()`` (average over 500 ms,
            threshold 0.7, suppression 500 ms).
        keep_track: keep every step's averaged scores for ``track()``. Default False.
        keep_scores: keep every window's raw probabilities for ``scores()`` (grows with the
            stream; for tests and analysis). Default False.
        ignore: labels never reported. Default ``_silence_`` and ``_unknown_``.
        batch_size: windows scored per push of at most this many strides of audio (bounds
            memory for long chunks), 1 to ``MAX_BATCH_SIZE``. Default ``BATCH_SIZE``.

    Raises:
        ValueError: ``batch_size`` out of range (named ``detector.batch_size``), ``clip_samples``
            below 1, or settings that cannot average at ``stride_ms``.
    """

    def __init__(
        self,
        scorer: WindowScorer,
        class_names: Sequence[str],
        sample_rate: int,
        clip_samples: int,
        stride_ms: float = STRIDE_MS,
        settings: PosteriorSettings | None = None,
        keep_track: bool = False,
        keep_scores: bool = False,
        ignore: Sequence[str] = IGNORED_LABELS,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        settings = PosteriorSettings() if settings is None else settings
        self.stride_samples = stride_samples(stride_ms, sample_rate, settings)
        if clip_samples < 1:
            raise ValueError(f"need clip_samples >= 1, got {clip_samples}")
        check_number("detector.batch_size", batch_size, 1, MAX_BATCH_SIZE, integer=True)
        self.scorer = scorer
        self.sample_rate = sample_rate
        self.clip_samples = clip_samples
        self.keep_scores = keep_scores
        self.handler = PosteriorHandler(class_names, settings, ignore, keep_track)
        self.class_names = self.handler.class_names
        self._piece = batch_size * self.stride_samples
        self._audio = np.zeros(clip_samples + self._piece + self.stride_samples, np.float32)
        self.reset()

    @classmethod
    def from_runtime(
        cls,
        spotter: Spotter,
        stride_ms: float = STRIDE_MS,
        settings: PosteriorSettings | None = None,
        **kwargs: Any,
    ) -> StreamingDetector:
        """A detector scoring with an exported model run by ``kws_runtime.Spotter`` (no torch):
        a streaming export streams each sample through the model once (``FrameScorer``), a
        clip export scores whole windows.

        Args:
            spotter: the loaded runtime spotter; its class names, sample rate and clip length
                are used.
            stride_ms: see the class. Default 30; a streaming export's stride must be a whole
                number of its hops.
            settings: see the class; None: the model's calibrated settings
                (``spotter.calibration``), else TensorFlow's defaults.
            **kwargs: the class's other arguments.

        Raises:
            ValueError: settings the class refuses, or a stride that is not a whole number of
                a streaming export's hops.
        """
        settings = posterior_settings(settings, spotter.calibration)
        scorer: WindowScorer
        if spotter.streaming is not None:
            stride = stride_samples(stride_ms, spotter.sample_rate, settings)
            scorer = FrameScorer(spotter.stream(), spotter.clip_samples, stride)
        else:
            scorer = RuntimeScorer(spotter, spotter.clip_samples)
        return cls(
            scorer,
            spotter.class_names,
            spotter.sample_rate,
            spotter.clip_samples,
            stride_ms,
            settings,
            **kwargs,
        )

    def reset(self) -> None:
        """Forget the stream: the next push starts a new one at time 0."""
        self._offset = 0  # stream index of _audio[0]
        self._fill = 0  # samples held in _audio
        self._next = 0  # stream index of the next window's start
        self._times: list[np.ndarray] = []
        self._scores: list[np.ndarray] = []
        self.handler.reset()
        self.scorer.reset()

    @property
    def buffer_capacity(self) -> int:
        """The sample buffer's size, fixed: a clip, one batch of strides and one stride."""
        return len(self._audio)

    @property
    def windows_scored(self) -> int:
        """The windows scored since the last ``reset``."""
        return self._next // self.stride_samples

    def push(self, chunk: Any) -> list[Detection]:
        """Add audio to the stream and return the detections it completes.

        Args:
            chunk: ``(samples,)`` float in [-1, 1] (numpy, torch on any device, or a list) or
                int16 (scaled by 1/32768); any length, 0 included.

        Returns:
            The detections of the windows scored, in time order.
        """
        if hasattr(chunk, "detach"):
            chunk = chunk.detach().cpu().numpy()
        chunk = np.asarray(chunk)
        if chunk.ndim != 1:
            raise ValueError(f"a chunk must be (samples,), got shape {chunk.shape}")
        audio = to_float32(chunk)
        problem = None if chunk.dtype == np.int16 else float_problem(audio[None])
        if problem and problem.non_finite:
            raise ValueError(f"the chunk has {problem.non_finite} NaN or infinite samples")
        if problem:
            raise ValueError(
                f"the chunk reaches {problem.peak:.3g}: float samples must be in [-1, 1] "
                "(int16 samples are scaled by 1/32768)"
            )
        chunk = audio
        detections: list[Detection] = []
        for first in range(0, len(chunk), self._piece):
            detections += self._push_piece(chunk[first : first + self._piece])
        return detections

    def _push_piece(self, piece: np.ndarray) -> list[Detection]:
        """Append at most one batch of strides and score the windows now complete."""
        self._audio[self._fill : self._fill + len(piece)] = piece
        self._fill += len(piece)
        end = self._offset + self._fill
        # At most batch_size windows: less than a clip was held from _next on before the piece.
        count = max(0, (end - self.clip_samples - self._next) // self.stride_samples + 1)
        detections: list[Detection] = []
        if count:
            starts = self._next + self.stride_samples * np.arange(count, dtype=np.int64)
            scores = self.scorer.score(self._audio[: self._fill], self._offset, starts)
            times = starts * 1000.0 / self.sample_rate
            if self.keep_scores:
                self._times.append(times)
                self._scores.append(scores)
            detections = self.handler.push(times, scores)
            self._next += count * self.stride_samples
        # Drop samples before the next window's start (moving what is kept to the front).
        drop = min(self._next - self._offset, self._fill)
        if drop > 0:
            kept = self._fill - drop
            self._audio[:kept] = self._audio[drop : self._fill]
            self._offset += drop
            self._fill = kept
        return detections

    def detect(self, waveform: Any) -> list[Detection]:
        """All detections in one recording: ``reset`` and ``push`` it whole. A window is scored
        as soon as its whole clip has arrived, so the end of a stream needs no call.

        Args:
            waveform: ``(samples,)``, as for ``push``.
        """
        self.reset()
        return self.push(waveform)

    def track(self) -> tuple[np.ndarray, np.ndarray]:
        """Every step's time and averaged scores (needs ``keep_track``); see
        ``PosteriorHandler.track``."""
        return self.handler.track()

    def scores(self) -> tuple[np.ndarray, np.ndarray]:
        """Every window's start time in ms ``(steps,)`` and raw probabilities
        ``(steps, classes)`` (needs ``keep_scores``)."""
        if not self.keep_scores:
            raise RuntimeError("StreamingDetector(keep_scores=True) keeps the scores; this did not")
        classes = len(self.class_names)
        times = np.concatenate([np.zeros(0), *self._times])
        scores = np.concatenate([np.zeros((0, classes)), *self._scores])
        return times, scores
