"""``StreamingDetector``: keywords found in a stream of audio pushed in chunks of any size.

Every ``stride_ms`` the detector scores the last second (``clip_samples``) of audio and hands
the class probabilities to a ``PosteriorHandler`` (TensorFlow's ``RecognizeCommands`` rules).
The first window is scored once a whole clip has arrived; a window is stamped with its start,
``start_sample * 1000 / sample_rate`` milliseconds, as TensorFlow stamps it. How the stream is
split into chunks changes nothing: windows are cut from the stream, never from a chunk.

Scoring is delegated to a scorer (``WindowScorer``):

* ``from_spotter`` with a causal model (``model.causal=true``, a per-frame frontend):
  ``FrameScorer`` streams every sample through ``kws.streaming.stateful.StatefulSpotter`` once,
  and a window's score is the model's output at the frame where the window ends, so the work per
  window is a stride's frames, not a clip's.
* ``from_spotter`` (torch) otherwise: when the frontend is per frame (an ``STFT``,
  ``MelSpectrogram`` or ``MFCC`` without ``top_db`` and with a pad mode other than
  ``circular``) and the stride is a whole number of hops, the stream's features are computed
  once per frame and kept in a short buffer. A window's frames away from its edges are those
  of the stream at the same place; the few frames whose ``n_fft`` span reaches past the
  window's edges (where ``center`` pads the window with its own reflection) are computed from
  the window's first and last few hundred samples. Otherwise every window runs through the
  frontend on its own.
* ``from_runtime`` (numpy, no torch) with a streaming export (``python -m kws.export
  --streaming``): ``FrameScorer`` streams every sample through it once
  (``kws.runtime.spotter.RuntimeStream``), as ``from_spotter`` streams the causal model.
* ``from_runtime`` with a clip export: windows are a strided view over the sample buffer,
  batched to ``kws.runtime.Spotter.predict``.

Any way a scorer gets at most ``batch_size`` windows at a time, in one batch.

Memory is flat in the stream's length: the sample buffer holds at most one clip plus one
batch of strides, the feature buffer one batch of windows' frames.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from numpy.lib.stride_tricks import as_strided

from kws.checks import check_number
from kws.data.audio import float_problem, to_float32
from kws.streaming.posterior import (
    IGNORED_LABELS,
    Detection,
    PosteriorHandler,
    PosteriorSettings,
)
from kws.streaming.scoring import ScoredStream

if TYPE_CHECKING:
    import torch

    from kws.runtime.spotter import Spotter
    from kws.streaming.calibration import Calibration

#: Windows scored together by default.
BATCH_SIZE = 256
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
        spotter: a ``kws.runtime.Spotter`` (or anything with ``predict((batch, samples))``).
        clip_samples: the window length in samples.
    """

    def __init__(self, spotter: Spotter, clip_samples: int) -> None:
        self.spotter = spotter
        self.clip_samples = clip_samples

    def reset(self) -> None:
        """Nothing is cached."""

    def score(self, audio: np.ndarray, offset: int, starts: np.ndarray) -> np.ndarray:
        """See ``WindowScorer.score``."""
        windows = _windows(audio, self.clip_samples, starts - offset)  # (n, clip) view
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
            ``kws.runtime.spotter.RuntimeStream``).
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


def _windows(audio: np.ndarray, length: int, firsts: np.ndarray) -> np.ndarray:
    """Rows ``audio[first : first + length]`` for each of ``firsts``, which rise evenly and end
    within ``audio``: a read-only strided view ``(len(firsts), length)``."""
    assert firsts[0] >= 0 and firsts[-1] + length <= len(audio), "a window past the samples"
    step = int(firsts[1] - firsts[0]) if len(firsts) > 1 else 1
    item = audio.strides[0]
    return as_strided(
        audio[firsts[0] :], (len(firsts), length), (step * item, item), writeable=False
    )


def frame_stft(frontend: Any) -> Any:
    """The ``STFT`` layer of a per-frame frontend, or ``None`` where frames are not computed
    independently of each other (``top_db``, PCEN, an unknown frontend).

    Args:
        frontend: a frontend module.
    """
    from kws.frontend import MFCC, STFT, MelSpectrogram

    if isinstance(frontend, MFCC):
        frontend = frontend.mel
    if isinstance(frontend, MelSpectrogram):
        if frontend.top_db is not None or frontend.compression == "pcen":
            return None  # frames that depend on the whole clip, not only their own samples
        return frontend.stft
    if isinstance(frontend, STFT):
        return frontend
    return None


class TorchScorer:
    """Scores windows with a torch ``KeywordSpotter``, reusing the stream's frames.

    Args:
        spotter: a ``KeywordSpotter`` (``frontend``, ``spec_augment``, ``head``); it is put in
            eval mode and run on its own device under ``torch.inference_mode``.
        clip_samples: the window length in samples.
        stride_samples: the samples between window starts.
        cache: reuse the stream's frames where exact (see the module docstring); ``False``
            runs every window through the frontend. Default True.
    """

    def __init__(
        self,
        spotter: torch.nn.Module,
        clip_samples: int,
        stride_samples: int,
        cache: bool = True,
    ) -> None:
        import torch

        self.torch = torch
        self.spotter = spotter.eval()
        self.clip_samples = clip_samples
        param = next(iter(spotter.parameters()), None)
        self.device = param.device if param is not None else torch.device("cpu")
        stft = frame_stft(spotter.frontend) if cache else None
        self.cached = stft is not None and self._plan(stft, clip_samples, stride_samples)
        self.reset()

    def _plan(self, stft: Any, clip: int, stride: int) -> bool:
        """Set the frame geometry; whether the frame cache is exact for it."""
        hop, n_fft = stft.hop_length, stft.n_fft
        if stft.center and stft.pad_mode == "circular":
            return False  # a window's left padding would come from its right end
        if stride % hop or clip < n_fft:
            return False
        half = n_fft // 2 if stft.center else 0
        self.hop, self.n_fft, self.half, self.step = hop, n_fft, half, stride // hop
        self.frames = stft.num_frames(clip)  # T: frames per window
        # Window frame j spans samples [j*hop - half, j*hop - half + n_fft) of the window:
        # frames lo..hi lie inside it and equal the stream's frames at the same place.
        self.lo = -(-half // hop)
        self.hi = (clip + half - n_fft) // hop
        # The stream frames still to compute must start no earlier than the next window.
        if self.hi + 1 - self.lo < self.step:
            return False
        # Without centre padding every frame lies inside (lo = 0, hi = T - 1). With it, frames
        # 0..lo-1 and hi+1..T-1 reach past the window's edges; they come from one frontend call
        # on two segments of each window, of one length: its last samples from `tail_first` (a
        # whole number of hops: window frame hi+1 is the segment's frame lo) and its first as
        # many, which hold the `head_samples` that frames 0..lo-1 span.
        head_samples = (self.lo - 1) * hop - half + n_fft
        self.tail_first = (self.hi + 1 - self.lo) * hop
        self.edge_samples = clip - self.tail_first
        return not self.lo or head_samples <= self.edge_samples

    def reset(self) -> None:
        """Forget the cached frames."""
        self._feats: torch.Tensor | None = None  # (features, kept frames)
        self._feat_first = self.lo if self.cached else 0  # stream index of _feats[:, 0]

    @property
    def buffered_frames(self) -> int:
        """How many stream frames are held."""
        return 0 if self._feats is None else self._feats.shape[-1]

    def score(self, audio: np.ndarray, offset: int, starts: np.ndarray) -> np.ndarray:
        """See ``WindowScorer.score``; the windows go through the model as one batch (the
        detector bounds its size)."""
        with self.torch.inference_mode():
            if self.cached:
                features = self._cached_features(audio, offset, starts)
            else:
                windows = self._tensor(_windows(audio, self.clip_samples, starts - offset))
                features = self.spotter.frontend(windows)  # (n, features, frames)
            features = self.spotter.spec_augment(features)
            logits = self.spotter.head(features)  # (n, classes)
            return logits.float().softmax(-1).cpu().numpy().astype(np.float64)

    def _tensor(self, rows: np.ndarray) -> torch.Tensor:
        """A float32 copy of ``rows`` on the spotter's device (a view of the buffer is
        read-only and is overwritten later)."""
        return self.torch.from_numpy(np.array(rows, dtype=np.float32)).to(self.device)

    def _extend(self, audio: np.ndarray, offset: int, last: int) -> None:
        """Compute the stream's frames up to ``last`` (included) into the buffer."""
        have = self._feat_first + self.buffered_frames
        if last < have:
            return
        # A segment starting lo hops before frame `have` gives it as its frame lo.
        begin = (have - self.lo) * self.hop - offset
        end = last * self.hop - self.half + self.n_fft - offset
        assert begin >= 0, "the samples of a needed frame were dropped"
        segment = self._tensor(audio[None, begin:end])  # (1, samples)
        count = last - have + 1
        new = self.spotter.frontend(segment)[0, :, self.lo : self.lo + count]  # (F, count)
        self._feats = new if self._feats is None else self.torch.cat([self._feats, new], -1)

    def _cached_features(self, audio: np.ndarray, offset: int, starts: np.ndarray) -> Any:
        """The features ``(n, F, T)`` of the windows at ``starts``, interior from the cache."""
        torch = self.torch
        count = len(starts)
        firsts = starts // self.hop  # stream frame of each window's frame 0
        self._extend(audio, offset, int(firsts[-1]) + self.hi)
        width = self.hi + 1 - self.lo
        first = int(firsts[0]) + self.lo - self._feat_first
        span = self._feats[:, first : first + (count - 1) * self.step + width]
        parts = [span.unfold(-1, width, self.step).transpose(0, 1)]  # (n, F, width) view
        if self.lo:
            rel = starts - offset
            rows = np.concatenate(
                [
                    _windows(audio, self.edge_samples, rel),
                    _windows(audio, self.edge_samples, rel + self.tail_first),
                ]
            )  # (2n, edge_samples): every window's first samples, then its last
            edges = self.spotter.frontend(torch.from_numpy(rows).to(self.device))
            tail = edges[count:, :, self.lo : self.lo + self.frames - self.hi - 1]
            parts = [edges[:count, :, : self.lo], *parts, tail]
        features = torch.cat(parts, -1)  # (n, F, T)
        # Keep only frames a later window can use: from the next window's first interior one.
        drop = int(firsts[-1]) + self.step + self.lo - self._feat_first
        self._feats = self._feats[:, drop:].clone()
        self._feat_first += drop
        return features


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


def _settings(
    settings: PosteriorSettings | None, calibration: Calibration | None
) -> PosteriorSettings:
    """``settings``, else the calibration's, else TensorFlow's defaults."""
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
        stride_ms: float = 30.0,
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
    def from_spotter(
        cls,
        spotter: torch.nn.Module,
        class_names: Sequence[str],
        sample_rate: int | None = None,
        clip_samples: int | None = None,
        stride_ms: float = 30.0,
        settings: PosteriorSettings | None = None,
        cache: bool = True,
        calibration: Calibration | None = None,
        stateful: bool | None = None,
        **kwargs: Any,
    ) -> StreamingDetector:
        """A detector scoring with a torch ``KeywordSpotter``.

        Args:
            spotter: the trained ``KeywordSpotter``.
            class_names: its classes, in the order of its logits.
            sample_rate: Hz; ``None``: the frontend's ``sample_rate``, else 16000.
            clip_samples: window length; ``None``: one second.
            stride_ms: see the class. Default 30.
            settings: see the class; None: ``calibration``'s, else TensorFlow's defaults.
            cache: reuse the stream's frames where exact (window scoring). Default True.
            calibration: the model's calibrated threshold (``KWSModule.calibration``), used when
                ``settings`` is None. Default None.
            stateful: stream each frame through the model once (``FrameScorer`` with
                ``kws.streaming.stateful.StatefulSpotter``); ``None`` (default): when the model
                can (a causal head, a per-frame frontend); ``False``: score whole windows.
            **kwargs: the class's other arguments (``keep_track``, ``batch_size``, ...).

        Raises:
            ValueError: ``stateful=True`` for a model that cannot stream frame by frame, or
                settings the class refuses.
        """
        if sample_rate is None:
            frontend = spotter.frontend
            frontend = getattr(frontend, "mel", frontend)
            sample_rate = int(getattr(frontend, "sample_rate", 16000))
        clip_samples = sample_rate if clip_samples is None else clip_samples
        settings = _settings(settings, calibration)
        # Checked before the scorer is built on it (the class checks it the same way).
        stride = stride_samples(stride_ms, sample_rate, settings)
        scorer: WindowScorer
        if stateful is None or stateful:
            from kws.streaming.stateful import StatefulSpotter, TorchStream, stateful_problem

            problem = stateful_problem(spotter.frontend, spotter.head)
            if problem and stateful:
                raise ValueError(f"the spotter cannot stream frame by frame: {problem}")
            stateful = problem is None
        if stateful:
            model = StatefulSpotter(spotter.frontend, spotter.head)
            scorer = FrameScorer(TorchStream(model), clip_samples, stride)
        else:
            scorer = TorchScorer(spotter, clip_samples, stride, cache)
        return cls(scorer, class_names, sample_rate, clip_samples, stride_ms, settings, **kwargs)

    @classmethod
    def from_runtime(
        cls,
        spotter: Spotter,
        stride_ms: float = 30.0,
        settings: PosteriorSettings | None = None,
        **kwargs: Any,
    ) -> StreamingDetector:
        """A detector scoring with an exported model run by ``kws.runtime.Spotter`` (no torch):
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
        settings = _settings(settings, spotter.calibration)
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

    def listen(self, waveform: Any, labels: Sequence[tuple[str, float]] = ()) -> ScoredStream:
        """A whole labelled stream scored for a DET curve: ``detect`` it and keep its track.

        Args:
            waveform: ``(samples,)``, as for ``push``.
            labels: its ``(label, start_ms)`` rows; none for a keyword-free stream.

        Returns:
            The track, the labels and the stream's length (``kws.streaming.scoring``).

        Raises:
            RuntimeError: the detector keeps no track (``keep_track``).
        """
        self.detect(waveform)
        duration_ms = 1000.0 * len(waveform) / self.sample_rate
        return ScoredStream(*self.track(), list(labels), duration_ms)

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
