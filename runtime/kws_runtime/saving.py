"""``listen --save``: the audio around each detection, and random keyword-free stretches, as
16-bit WAV files in a ``data=folder``-ready layout, each written atomically.
"""

from __future__ import annotations

import math
import re
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import soundfile as sf

from kws_runtime.devices import ListenError
from kws_runtime.io import atomic_write

#: ``--save``'s folders: detections (for ``data.negatives``) and keyword-free stretches.
NEGATIVES_FOLDER = "negatives"
BACKGROUND_FOLDER = "background"
#: The most keyword-free stretches saved an hour (``--save-free``): one a second on average.
MAX_FREE_PER_HOUR = 3600.0


class History:
    """The last ``capacity`` samples heard, by session sample index; zeros stand for samples
    not held: before the session or the last gap (``restart``)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.audio = np.zeros(0, dtype=np.int16)
        self.end = 0  # session index just past the last sample
        self.first = 0  # session index where the contiguous audio starts

    def add(self, samples: np.ndarray) -> None:
        self.audio = np.concatenate([self.audio, samples])[-self.capacity :]
        self.end += len(samples)

    def restart(self) -> None:
        """A gap: what was held is no longer contiguous with what comes."""
        self.audio = self.audio[:0]
        self.first = self.end

    def take(self, start: int, stop: int) -> np.ndarray:
        """Samples ``start:stop`` (``stop <= end``), zeros where not held."""
        out = np.zeros(stop - start, dtype=np.int16)
        held = self.end - len(self.audio)
        lo = max(start, held)
        if lo < stop:
            out[lo - start :] = self.audio[lo - held : stop - held]
        return out


class Clock:
    """Wall-clock time of session samples, from when the latest block arrived (so the device's
    clock drifting from the computer's does not add up)."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.end, self.arrival = 0, time.time()

    def tick(self, end: int, arrival: float) -> None:
        self.end, self.arrival = end, arrival

    def at(self, sample: int) -> datetime:
        return datetime.fromtimestamp(self.arrival - (self.end - sample) / self.rate)


def _file_label(label: str) -> str:
    """A class name as part of a file name: characters other than letters, digits, ``-`` and
    ``_`` become ``_`` (a model's class names are its author's)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", label)


def _stamp(when: datetime) -> str:
    """A file name's time: ``YYYYmmdd-HHMMSS-mmm``."""
    return when.strftime("%Y%m%d-%H%M%S-") + f"{when.microsecond // 1000:03d}"


class Saver:
    """``--save``: the audio around detections, and random keyword-free stretches.

    A detection whose window starts at ``s`` saves samples ``s - clip`` to ``s + clip``; a
    stretch ``a`` to ``a + 2 clip`` is saved once every window that overlaps it has been
    scored (``a + 3 clip`` heard), if none of them fired, all of it is contiguous audio and it
    is not digital silence. Starts are drawn ``Exp(3600 / per_hour)`` seconds apart.

    Args:
        folder: ``--save``'s folder, holding ``NEGATIVES_FOLDER`` (and ``BACKGROUND_FOLDER``
            when ``per_hour``).
        rate: the model's sample rate.
        clip: the model's clip, in samples.
        per_hour: keyword-free stretches an hour on average; 0: none.
        rng: draws the stretches' starts. Default: a new unseeded generator.
    """

    def __init__(
        self,
        folder: Path,
        rate: int,
        clip: int,
        per_hour: float,
        rng: np.random.Generator | None = None,
    ) -> None:
        self.negatives = folder / NEGATIVES_FOLDER
        self.background = folder / BACKGROUND_FOLDER
        self.rate, self.clip = rate, clip
        self.mean_gap = 3600.0 * rate / per_hour if per_hour > 0 else math.inf
        self.rng = np.random.default_rng() if rng is None else rng
        self.fired: list[int] = []  # recent detections' window starts
        self.next_free = self._after(0)

    def _after(self, sample: int) -> float:
        """The next stretch's start after ``sample``."""
        if not math.isfinite(self.mean_gap):
            return math.inf
        return sample + self.rng.exponential(self.mean_gap)

    def _write(self, path: Path, samples: np.ndarray) -> Path:
        """``samples`` as a 16-bit WAV file at ``path``, atomically."""
        with atomic_write(path, "wb") as handle:
            sf.write(handle, samples, self.rate, subtype="PCM_16", format="WAV")
        return path

    def detection(self, label: str, start: int, history: History, clock: Clock) -> Path:
        """Save the audio around a detection whose window starts at ``start``."""
        if math.isfinite(self.mean_gap):
            self.fired.append(start)
        name = f"{_file_label(label)}_{_stamp(clock.at(start))}.wav"
        audio = history.take(start - self.clip, start + self.clip)
        return self._write(self.negatives / name, audio)

    def free(self, history: History, clock: Clock) -> list[Path]:
        """Save the keyword-free stretches that ``history`` now completes."""
        saved = []
        clip = self.clip
        while self.next_free + 3 * clip <= history.end:
            start = math.ceil(self.next_free)
            self.fired = [s for s in self.fired if s > start - clip]
            stretch = history.take(start, start + 2 * clip)
            if (
                start >= history.first
                and not any(start - clip < s < start + 2 * clip for s in self.fired)
                and stretch.any()
            ):
                name = f"free_{_stamp(clock.at(start))}.wav"
                saved.append(self._write(self.background / name, stretch))
                start += 2 * clip
            self.next_free = self._after(start)
        return saved


def make_folder(path: Path, what: str) -> Path:
    """``path``, made if missing.

    Args:
        path: the folder.
        what: the option it came from, for the message.

    Raises:
        ListenError: naming ``what``: it cannot be made.
    """
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ListenError(f"{what} {path}: cannot be made ({error.strerror})") from None
    return path
