"""TensorFlow's ``RecognizeCommands`` firing rule on arrays: windowed averages of per-step
scores, each step's top class, and which steps fire (``kws_runtime.posterior`` states the
rules and applies them to a live stream and to a kept track).
"""

from __future__ import annotations

import bisect
from typing import NamedTuple

import numpy as np

#: The index of "no label" in the firing state: nothing fired yet and no ``_silence_`` class.
NO_LABEL = -1


def window_count(times_ms: np.ndarray, average_window_ms: float) -> np.ndarray:
    """How many steps each step's averaging window holds, itself included.

    Args:
        times_ms: ``(steps,)`` strictly increasing step times.
        average_window_ms: the window length.

    Returns:
        ``(steps,)`` int64 counts (steps within ``[t - average_window_ms, t]``).
    """
    first = np.searchsorted(times_ms, times_ms - average_window_ms, side="left")
    return np.arange(len(times_ms)) - first + 1


def window_averages(
    times: np.ndarray,
    scores: np.ndarray,
    start: int,
    average_window_ms: float,
    minimum_count: int,
) -> np.ndarray:
    """Averaged scores of steps ``start:`` of ``times`` / ``scores``, whose rows before
    ``start`` must hold every earlier step their windows reach; rows with no reliable average
    (fewer than ``minimum_count`` steps, or spanning less than ``average_window_ms / 4``) are
    NaN.

    Each step's sum adds its window's rows newest first, in the same order whatever else is in
    the arrays, so a step's average is bit-identical however the stream was split into pushes.
    The cost is ``steps x window steps x classes``: a sliding sum, not a cumulative one, whose
    rounding would depend on where the stream was cut.

    Args:
        times: ``(steps,)`` strictly increasing step times.
        scores: ``(steps, classes)`` their scores.
        start: the first step averaged.
        average_window_ms: the averaging window.
        minimum_count: the fewest steps a reliable average holds.

    Returns:
        ``(steps - start, classes)`` float64 averages.
    """
    counts = window_count(times, average_window_ms)[start:]
    deepest = int(counts.max(initial=0))
    # Zero rows in front, so that every shifted slice below is in bounds; rows past a step's
    # window add an exact 0.0 to it, which changes no sum.
    padded = np.concatenate([np.zeros((deepest, scores.shape[1])), scores])
    total = np.zeros((len(counts), scores.shape[1]), dtype=np.float64)
    for back in range(deepest):
        rows = padded[deepest + start - back : deepest + len(times) - back]
        inside = counts > back
        total += rows if inside.all() else np.where(inside[:, None], rows, 0.0)
    averages = total / counts[:, None]
    span = times[start:] - times[np.arange(start, len(times)) - counts + 1]
    unreliable = (counts < minimum_count) | (span < average_window_ms / 4)
    averages[unreliable] = np.nan
    return averages


def top_class(averaged: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The top class of each averaged row (the first on ties) and its score; NaN rows give
    index 0 and a NaN score, which never passes a threshold.

    Args:
        averaged: ``(steps, classes)`` averaged scores.

    Returns:
        ``(steps,)`` class indices and ``(steps,)`` scores.
    """
    filled = np.where(np.isnan(averaged), -np.inf, averaged)
    top = np.argmax(filled, axis=1) if averaged.shape[0] else np.zeros(0, dtype=np.int64)
    score = averaged[np.arange(averaged.shape[0]), top]
    return top, score


class State(NamedTuple):
    """The firing rule's memory: the label that fired last and when."""

    label: int
    time_ms: float


def fire(
    times: np.ndarray,
    top: np.ndarray,
    score: np.ndarray,
    threshold: float,
    suppression_ms: float,
    silence: int,
    state: State,
) -> tuple[np.ndarray, State]:
    """TensorFlow's firing rule over consecutive steps: which of them fire, and the state after.

    A step is a candidate when its top score is above ``threshold``; a candidate fires when its
    label differs from the last fired one and, unless that was ``silence`` (or nothing), it comes
    strictly more than ``suppression_ms`` after it. Steps that are not candidates change
    nothing, so the loop runs once per firing, jumping over the waiting time by binary search
    and over a run of candidates of the last fired label to the next label change.

    Args:
        times: ``(steps,)`` strictly increasing step times.
        top: ``(steps,)`` the top class of each step.
        score: ``(steps,)`` its averaged score (NaN: no average, never fires).
        threshold: scores must be strictly above it.
        suppression_ms: the waiting time after a firing.
        silence: the index of ``_silence_`` (``NO_LABEL`` if there is none).
        state: the last firing before these steps.

    Returns:
        The indices of the steps that fired, in order, and the state after the last step.
    """
    candidates = np.flatnonzero(score > threshold)
    # Plain lists and bisect: the loop body runs once per firing, on Python scalars.
    cand_times = times[candidates].tolist()
    cand_labels = top[candidates]
    # Positions where the candidates' label changes: a run of the last fired label is skipped
    # to the next of these.
    changes = (np.flatnonzero(cand_labels[1:] != cand_labels[:-1]) + 1).tolist()
    cand_labels = cand_labels.tolist()
    n = len(cand_times)
    fired: list[int] = []
    label, when = state
    position = 0
    while position < n:
        q = position
        if label != silence and label != NO_LABEL:
            # The first candidate with time - when > suppression_ms, evaluated exactly as
            # TensorFlow writes it (the search's guess is corrected for rounding).
            q = max(position, bisect.bisect_right(cand_times, when + suppression_ms))
            while q > position and cand_times[q - 1] - when > suppression_ms:
                q -= 1
            while q < n and not cand_times[q] - when > suppression_ms:
                q += 1
            if q >= n:
                break
        if cand_labels[q] == label:
            after = bisect.bisect_right(changes, q)
            if after == len(changes):
                break
            q = changes[after]
        fired.append(q)
        label, when = cand_labels[q], cand_times[q]
        position = q + 1
    return candidates[np.asarray(fired, dtype=np.int64)], State(label, when)
