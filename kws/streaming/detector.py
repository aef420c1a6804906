"""The PyTorch side of ``StreamingDetector`` (``kws_runtime.detector``): a detector for a torch
``KeywordSpotter`` (``StreamingDetector.from_spotter``), and ``listen`` for a DET curve.

* With a causal model (``model.causal=true``, a per-frame frontend): ``FrameScorer`` streams
  every sample through ``kws.streaming.stateful.StatefulSpotter`` once, and a window's score is
  the model's output at the frame where the window ends, so the work per window is a stride's
  frames, not a clip's.
* Otherwise ``TorchScorer``: when the frontend is per frame (its ``frame_stft()`` names the
  ``STFT`` it follows, ``kws.frontend.protocol.frame_stft_of``; a pad mode other than
  ``circular``) and the stride is a whole number of hops, the stream's features are computed
  once per frame and kept in a short buffer. A window's frames away from its edges are those of
  the stream at the same place; the few frames whose ``n_fft`` span reaches past the window's
  edges (where ``center`` pads the window with its own reflection) are computed from the
  window's first and last few hundred samples. Otherwise every window runs through the frontend
  on its own. The feature buffer holds one batch of windows' frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from kws.data.layout import SAMPLE_RATE
from kws.frontend.protocol import frame_stft_of
from kws.streaming.scoring import ScoredStream
from kws_runtime import detector as runtime_detector
from kws_runtime.calibration import Calibration
from kws_runtime.detector import (
    STRIDE_MS,
    FrameScorer,
    WindowScorer,
    posterior_settings,
    stride_samples,
    window_view,
)
from kws_runtime.posterior import PosteriorSettings

if TYPE_CHECKING:
    import torch


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
        stft = frame_stft_of(spotter.frontend) if cache else None
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
                windows = self._tensor(window_view(audio, self.clip_samples, starts - offset))
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
                    window_view(audio, self.edge_samples, rel),
                    window_view(audio, self.edge_samples, rel + self.tail_first),
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


class StreamingDetector(runtime_detector.StreamingDetector):
    """``kws_runtime.detector.StreamingDetector`` (see it for the arguments), with a torch
    spotter's constructor and a whole stream's DET-curve scoring."""

    @classmethod
    def from_spotter(
        cls,
        spotter: torch.nn.Module,
        class_names: Sequence[str],
        *,
        clip_samples: int,
        sample_rate: int = SAMPLE_RATE,
        stride_ms: float = STRIDE_MS,
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
            clip_samples: window length, the model's clip (``KWSModule.clip_format``).
            sample_rate: Hz, the model's (``KWSModule.clip_format``). Default ``SAMPLE_RATE``,
                every kws data source's rate.
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
        settings = posterior_settings(settings, calibration)
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
