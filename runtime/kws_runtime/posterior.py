"""Posterior handling for streaming detection: TensorFlow's ``RecognizeCommands``, in numpy.

A streaming detector scores the last second of audio every few tens of milliseconds and hands
each step's class probabilities to a ``PosteriorHandler``, which smooths them and decides when a
keyword was said. The rules are those of ``RecognizeCommands`` in TensorFlow's
``tensorflow/examples/speech_commands/recognize_commands.py`` (and its C++ twin
``recognize_commands.cc``, which agrees), the smoother behind its ``test_streaming_accuracy``:

* **Averaging.** A step at time ``t`` averages the scores of every step with a time in
  ``[t - average_window_ms, t]`` (both ends included), itself among them, with equal weights.
* **Reliability.** A step whose window holds fewer than ``minimum_count`` steps (TensorFlow's
  ``test_streaming_accuracy.py`` uses 4), or spans less than ``average_window_ms / 4`` from its
  oldest step to itself, has no average and never detects: this covers the start of a stream.
* **Top class.** Only the class with the highest averaged score can fire (ties: the first in
  ``class_names``), and only when that score is strictly above ``threshold``.
* **A new label.** The top class fires only if it differs from the label that fired last, and
  only if strictly more than ``suppression_ms`` has passed since that firing, whatever label it
  was; after ``_silence_`` fired (and at the start, which counts as ``_silence_``) there is no
  waiting time. So the suppression applies across labels, and the same keyword cannot fire twice
  in a row until some other label, ``_silence_`` or ``_unknown_`` included, has fired between
  them: in a stream that is usually the silence between two words.
* **Reporting.** ``_silence_`` and ``_unknown_`` fire like any class (they move the state above)
  but are never reported as detections. TensorFlow's script drops only ``_silence_``; reporting
  no ``_unknown_`` either is deliberate, since it is not a keyword.

Other deliberate differences: times are float milliseconds (TensorFlow truncates to integers);
times must rise strictly from step to step (TensorFlow checks only against the oldest step in
its window); non-finite scores are refused; the average is the window's sum divided by its
count (TensorFlow adds each score divided by the count, which may differ in the last bit).

The rule itself is ``kws_runtime.firing``'s; ``detections_at`` and ``detections_sweep`` apply
it to a kept track of averaged scores: a threshold sweep (a DET curve) without rescoring.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from kws_runtime.firing import NO_LABEL, State, fire, top_class, window_averages

SILENCE_LABEL = "_silence_"
UNKNOWN_LABEL = "_unknown_"
#: Labels that fire internally but are never reported as detections.
IGNORED_LABELS = (SILENCE_LABEL, UNKNOWN_LABEL)


def _real(name: str, value: object) -> float:
    """``value`` as a finite float, or a ValueError naming the config key ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return value


@dataclass(frozen=True)
class PosteriorSettings:
    """How per-step scores become detections (see the module docstring for the rules).

    Args:
        average_window_ms: scores are averaged over the steps of the last this many
            milliseconds (config ``detector.average_window_ms``); ``>= 0``.
        threshold: the averaged score of the top class must be strictly above this to fire
            (``detector.threshold``); in ``(0, 1]``, where 1 never fires on probabilities.
        suppression_ms: after a firing, no other label fires until strictly more than this
            many milliseconds have passed, unless the firing was ``_silence_``
            (``detector.suppression_ms``); ``>= 0``.
        minimum_count: a window with fewer steps than this has no average
            (``detector.minimum_count``); ``>= 1``. TensorFlow's streaming test uses 4.
    """

    average_window_ms: float = 500.0
    threshold: float = 0.7
    suppression_ms: float = 500.0
    minimum_count: int = 4

    def __post_init__(self) -> None:
        window = _real("detector.average_window_ms", self.average_window_ms)
        if window < 0:
            raise ValueError(f"detector.average_window_ms must be >= 0, got {window:g}")
        threshold = _real("detector.threshold", self.threshold)
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"detector.threshold must be in (0, 1], got {threshold:g}")
        suppression = _real("detector.suppression_ms", self.suppression_ms)
        if suppression < 0:
            raise ValueError(f"detector.suppression_ms must be >= 0, got {suppression:g}")
        count = self.minimum_count
        if isinstance(count, bool) or not isinstance(count, numbers.Integral) or count < 1:
            raise ValueError(f"detector.minimum_count must be an integer >= 1, got {count!r}")
        object.__setattr__(self, "average_window_ms", window)
        object.__setattr__(self, "threshold", threshold)
        object.__setattr__(self, "suppression_ms", suppression)
        object.__setattr__(self, "minimum_count", int(count))

    def check_stride(self, stride_ms: float) -> None:
        """Refuse a step interval at which a full window can never be averaged.

        At a steady ``stride_ms`` a window holds ``floor(average_window_ms / stride_ms) + 1``
        steps; it must hold ``minimum_count`` of them and span ``average_window_ms / 4``, or
        no step ever detects.

        Args:
            stride_ms: the detector's step interval (``detector.stride_ms``); ``> 0``.

        Raises:
            ValueError: naming the settings that cannot work together.
        """
        stride = _real("detector.stride_ms", stride_ms)
        if stride <= 0:
            raise ValueError(f"detector.stride_ms must be > 0, got {stride:g}")
        steps = int(self.average_window_ms // stride) + 1
        if steps < self.minimum_count or (steps - 1) * stride < self.average_window_ms / 4:
            raise ValueError(
                f"detector.average_window_ms={self.average_window_ms:g} holds {steps} step(s) "
                f"of detector.stride_ms={stride:g}, spanning {(steps - 1) * stride:g} ms: "
                f"averaging needs detector.minimum_count={self.minimum_count} steps spanning "
                f"at least {self.average_window_ms / 4:g} ms, so nothing would ever be detected"
            )


class Detection(NamedTuple):
    """One reported keyword.

    Attributes:
        label: the keyword, one of the class names.
        time_ms: the time of the step that fired, as the detector stamped it.
        score: the keyword's averaged score at that step.
    """

    label: str
    time_ms: float
    score: float


def _check_class_names(class_names: Sequence[str]) -> tuple[str, ...]:
    names = tuple(class_names)
    if not names:
        raise ValueError("class_names is empty")
    if not all(isinstance(name, str) for name in names):
        raise ValueError(f"class_names must be strings, got {names!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"class_names has duplicates: {names!r}")
    return names


def _check_ignore(ignore: Iterable[str]) -> frozenset[str]:
    labels = frozenset(ignore)
    if not all(isinstance(label, str) for label in labels):
        raise ValueError(f"ignore must hold label strings, got {sorted(map(repr, labels))}")
    return labels


def _initial_state(class_names: Sequence[str]) -> State:
    # TensorFlow starts as if _silence_ had fired at minus infinity: no waiting time.
    silence = class_names.index(SILENCE_LABEL) if SILENCE_LABEL in class_names else NO_LABEL
    return State(silence, -np.inf)


def reported_classes(class_names: Sequence[str], ignore: Iterable[str]) -> np.ndarray:
    """``(classes,)`` bool: which classes are reported.

    Args:
        class_names: the classes.
        ignore: labels never reported.
    """
    ignored = frozenset(ignore)
    return np.array([name not in ignored for name in class_names], dtype=bool)


def _report(
    fired: np.ndarray,
    times: np.ndarray,
    top: np.ndarray,
    score: np.ndarray,
    class_names: Sequence[str],
    reported: np.ndarray,
) -> list[Detection]:
    """The fired steps as detections, but for classes not ``reported``."""
    fired = fired[reported[top[fired]]]
    labels = [class_names[i] for i in top[fired].tolist()]
    return list(map(Detection, labels, times[fired].tolist(), score[fired].tolist()))


def _check_times(times_ms: np.ndarray, after: float) -> np.ndarray:
    times = np.asarray(times_ms, dtype=np.float64)
    if times.ndim != 1:
        raise ValueError(f"times_ms must be 1-D (steps,), got shape {times.shape}")
    if not np.all(np.isfinite(times)):
        raise ValueError("times_ms holds a NaN or infinite time")
    if times.size and (times[0] <= after or np.any(np.diff(times) <= 0)):
        raise ValueError(
            "times_ms must rise strictly, from step to step and from one push to the next"
        )
    return times


def _check_track(
    times_ms: np.ndarray, averaged_scores: np.ndarray, class_names: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    times = _check_times(times_ms, -np.inf)
    averaged = np.asarray(averaged_scores, dtype=np.float64)
    if averaged.shape != (len(times), len(class_names)):
        raise ValueError(
            f"averaged_scores must have shape (steps, classes) = "
            f"({len(times)}, {len(class_names)}), got {averaged.shape}"
        )
    return times, averaged


def detections_sweep(
    times_ms: np.ndarray,
    averaged_scores: np.ndarray,
    class_names: Sequence[str],
    thresholds: Iterable[float],
    suppression_ms: float,
    ignore: Iterable[str] = IGNORED_LABELS,
) -> list[list[Detection]]:
    """The detections a whole stream gives at each of several thresholds, from its track of
    averaged scores (``PosteriorHandler.track()``), by the handler's own firing rule.

    Args:
        times_ms: ``(steps,)`` strictly increasing step times.
        averaged_scores: ``(steps, classes)`` averaged scores; NaN rows never fire.
        class_names: the class of each column.
        thresholds: the thresholds, each in ``(0, 1]``.
        suppression_ms: the waiting time after a firing, ``>= 0``.
        ignore: labels that fire but are not reported.

    Returns:
        One list of detections per threshold, in the order given.
    """
    names = _check_class_names(class_names)
    times, averaged = _check_track(times_ms, averaged_scores, names)
    reported = reported_classes(names, _check_ignore(ignore))
    top, score = top_class(averaged)
    start = _initial_state(names)
    silence = start.label
    results = []
    for threshold in thresholds:
        settings = PosteriorSettings(threshold=threshold, suppression_ms=suppression_ms)
        fired, _ = fire(
            times, top, score, settings.threshold, settings.suppression_ms, silence, start
        )
        results.append(_report(fired, times, top, score, names, reported))
    return results


def detections_at(
    times_ms: np.ndarray,
    averaged_scores: np.ndarray,
    class_names: Sequence[str],
    threshold: float,
    suppression_ms: float,
    ignore: Iterable[str] = IGNORED_LABELS,
) -> list[Detection]:
    """The detections a whole stream gives at one threshold, from its averaged-score track.

    With the handler's own threshold and suppression, this returns exactly the detections the
    handler reported.

    Args:
        times_ms: ``(steps,)`` strictly increasing step times.
        averaged_scores: ``(steps, classes)`` averaged scores; NaN rows never fire.
        class_names: the class of each column.
        threshold: in ``(0, 1]``.
        suppression_ms: ``>= 0``.
        ignore: labels that fire but are not reported.

    Returns:
        The detections, in time order.
    """
    return detections_sweep(
        times_ms, averaged_scores, class_names, [threshold], suppression_ms, ignore
    )[0]


class PosteriorHandler:
    """Turns a stream of per-step class scores into keyword detections, step by step.

    ``push`` takes any number of steps at a time and gives the same detections however the
    stream is split; it keeps only the steps the next averaging window can reach, so its memory
    does not grow with the stream, except for the averaged-score track if ``keep_track``.

    Args:
        class_names: the class of each score column.
        settings: the averaging and firing settings.
        ignore: labels that fire (and so move the suppression state) but are never reported.
        keep_track: keep every step's time and averaged scores for ``track()`` (8 bytes per
            class and step: 12 MB for an hour of 30 ms steps and 12 classes), for threshold
            sweeps.
    """

    def __init__(
        self,
        class_names: Sequence[str],
        settings: PosteriorSettings | None = None,
        ignore: Iterable[str] = IGNORED_LABELS,
        keep_track: bool = False,
    ) -> None:
        self.class_names = _check_class_names(class_names)
        self.settings = PosteriorSettings() if settings is None else settings
        if not isinstance(self.settings, PosteriorSettings):
            raise ValueError(f"settings must be a PosteriorSettings, got {settings!r}")
        self.ignore = _check_ignore(ignore)
        self.keep_track = keep_track
        self._silence = _initial_state(self.class_names).label
        self._reported = reported_classes(self.class_names, self.ignore)
        self.reset()

    def reset(self) -> None:
        """Forget the stream: the next push starts a new one."""
        self._times = np.zeros(0, dtype=np.float64)
        self._scores = np.zeros((0, len(self.class_names)), dtype=np.float64)
        self._state = _initial_state(self.class_names)
        self._track_times: list[np.ndarray] = []
        self._track_scores: list[np.ndarray] = []

    @property
    def buffered_steps(self) -> int:
        """How many past steps are held for the averaging window."""
        return len(self._times)

    def push(self, times_ms: np.ndarray, scores: np.ndarray) -> list[Detection]:
        """Add steps to the stream and return the detections among them.

        Args:
            times_ms: ``(steps,)`` their times in milliseconds, strictly increasing and after
                every earlier step's. A detector should stamp a step with the start of the
                second it scored to compare with labels as TensorFlow does (a word's label is
                the time its clip starts); any consistent stamp works within the tolerance.
            scores: ``(steps, classes)`` their finite class scores (probabilities).

        Returns:
            The detections, in time order; ``_silence_``/``_unknown_`` (``ignore``) are left
            out.

        Raises:
            ValueError: on a shape mismatch, a non-finite value or a time that does not rise.
        """
        # The buffer always keeps the last step (see below): later times must follow it.
        times = _check_times(times_ms, self._times[-1] if len(self._times) else -np.inf)
        scores = np.asarray(scores, dtype=np.float64)
        if scores.shape != (len(times), len(self.class_names)):
            raise ValueError(
                f"scores must have shape (steps, classes) = "
                f"({len(times)}, {len(self.class_names)}), got {scores.shape}"
            )
        if not np.all(np.isfinite(scores)):
            raise ValueError("scores hold a NaN or infinite value")
        if not len(times):
            return []
        start = len(self._times)
        all_times = np.concatenate([self._times, times])
        all_scores = np.concatenate([self._scores, scores])
        averaged = window_averages(
            all_times, all_scores, start, self.settings.average_window_ms,
            self.settings.minimum_count,
        )  # fmt: skip
        top, score = top_class(averaged)
        fired, self._state = fire(
            times,
            top,
            score,
            self.settings.threshold,
            self.settings.suppression_ms,
            self._silence,
            self._state,
        )
        # Keep only what a later step's window can reach: times >= the last - window, the last
        # step always among them.
        keep = np.searchsorted(all_times, all_times[-1] - self.settings.average_window_ms, "left")
        self._times, self._scores = all_times[keep:].copy(), all_scores[keep:].copy()
        if self.keep_track:
            self._track_times.append(times)
            self._track_scores.append(averaged)
        return _report(fired, times, top, score, self.class_names, self._reported)

    def track(self) -> tuple[np.ndarray, np.ndarray]:
        """Every step's time and averaged scores so far, for ``detections_at`` and sweeps.

        Returns:
            ``(steps,)`` times and ``(steps, classes)`` float64 averaged scores, NaN rows where
            a window had no reliable average.

        Raises:
            RuntimeError: the handler was made without ``keep_track``.
        """
        if not self.keep_track:
            raise RuntimeError("PosteriorHandler(keep_track=True) keeps the track; this did not")
        if len(self._track_times) != 1:
            times = np.concatenate([np.zeros(0), *self._track_times])
            scores = np.concatenate([np.zeros((0, len(self.class_names))), *self._track_scores])
            self._track_times, self._track_scores = [times], [scores]
        return self._track_times[0], self._track_scores[0]
