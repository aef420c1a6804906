"""A stream's background: one noise recording per second, at a random offset and gain, the
seconds crossfaded at equal power."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from kws.data.audio import read_noise
from kws.data.layout import BACKGROUND_NOISE, SAMPLE_RATE
from kws.data.stream_audio.clips import SplitClips

_SEGMENT = SAMPLE_RATE  # background: a new noise file, offset and gain every second
_CROSSFADE = SAMPLE_RATE // 10  # equal-power crossfade between background segments (100 ms)


def _envelope() -> np.ndarray:
    """A background segment's gain over its ``_SEGMENT + _CROSSFADE`` samples: equal-power
    (sine, cosine) ramps over the first and last ``_CROSSFADE``, so that the crossfade of two
    unrelated noises keeps the level."""
    ramp = (np.arange(_CROSSFADE) + 0.5) / _CROSSFADE * (np.pi / 2)
    envelope = np.ones(_SEGMENT + _CROSSFADE, dtype=np.float32)
    envelope[:_CROSSFADE] = np.sin(ramp)
    envelope[_SEGMENT:] = np.cos(ramp)
    return envelope


class Background:
    """Background noise, one segment per second: a random recording from a random offset
    (looped past its end) at gain U(0, volume), or ``volume`` when fixed; neighbours crossfade.

    Segment ``k`` sounds over samples ``[k * _SEGMENT - _CROSSFADE, (k + 1) * _SEGMENT)``.

    Args:
        noise: the recordings, float32 at 16 kHz; may be empty when ``volume`` is 0.
        samples: the stream's length.
        seed: draws the recordings, offsets and gains.
        volume: the loudest gain; 0: silence.
        fixed_volume: every segment at ``volume``.
    """

    def __init__(
        self,
        noise: Sequence[np.ndarray],
        samples: int,
        seed: int,
        volume: float,
        fixed_volume: bool,
    ) -> None:
        self._noise = noise
        # enough segments that the last one fades out after the end, as the first fades in before
        count = -(-(samples + _CROSSFADE) // _SEGMENT) if noise and volume > 0 else 0
        rng = np.random.default_rng([seed, 4])
        self._files = rng.integers(0, max(len(noise), 1), count)
        lengths = np.array([len(noise[f]) for f in self._files], dtype=np.int64)
        self._offsets = (rng.random(count) * lengths).astype(np.int64)
        self._gains = np.full(count, volume) if fixed_volume else rng.uniform(0, volume, count)
        self._envelope = _envelope()

    def add(self, block: np.ndarray, start: int) -> None:
        """Add the background of samples ``[start, start + len(block))`` to ``block``.

        Args:
            block: float32 samples, added to in place.
            start: the stream sample that ``block`` starts at.
        """
        end = start + len(block)
        last = min(len(self._gains), -(-(end + _CROSSFADE) // _SEGMENT))
        for k in range(start // _SEGMENT, last):
            begin = k * _SEGMENT - _CROSSFADE
            lo, hi = max(begin, start), min(begin + _SEGMENT + _CROSSFADE, end)
            if lo >= hi:
                continue
            where = np.arange(lo - begin, hi - begin)
            source = np.take(self._noise[self._files[k]], self._offsets[k] + where, mode="wrap")
            block[lo - start : hi - start] += self._gains[k] * self._envelope[where] * source


def load_background(
    root: Path, clips: SplitClips, samples: int, seed: int, volume: float, fixed_volume: bool
) -> Background:
    """The background of a stream from ``clips.noise``; reads the noise files only when
    ``volume`` is above 0.

    Args:
        root: the data set's folder, for messages.
        clips: the split's clips: ``noise``, the recordings, and ``clip_format``, how one
            becomes 16 kHz mono.
        samples, seed, volume, fixed_volume: as ``Background``.

    Raises:
        FileNotFoundError: ``volume`` is above 0 and there is no noise file.
        BadFileError: a noise file cannot be used.
    """
    noise = clips.noise
    if volume > 0 and not noise:
        raise FileNotFoundError(
            f"{root}: no background-noise recordings ({BACKGROUND_NOISE}/ of Speech Commands, "
            "data.noise_dir of a folder) for a background at volume "
            f"{volume:g}; volume 0 makes none"
        )
    arrays = [read_noise(path, clips.clip_format) for path in noise] if volume > 0 else []
    return Background(arrays, samples, seed, volume, fixed_volume)
