"""The sound pattern of every word: a fixed sequence of 2-4 speech-like segments (voiced sounds
with gliding formants, fricative hiss, plosive bursts) that depends on the word alone, for a
neutral speaker; ``kws.data.synthetic.speakers`` says it in each speaker's own way."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, replace

import numpy as np

from kws.data.layout import WORDS

_WORD_SECONDS = 0.55  # longest word for a neutral speaker; slow speakers stretch it
# Words whose pattern differs from their partner's in the first sound only.
_LOOKALIKES = {"go": "no", "tree": "three", "bird": "bed", "dog": "down", "follow": "forward"}


@dataclass(frozen=True)
class Segment:
    """One sound of a word's recipe; frequencies are for a neutral speaker (scale 1).

    Attributes:
        kind: ``voiced``, ``fricative`` or ``burst``.
        seconds: its length.
        gap: silence before it (a stop closure), seconds.
        amp: its loudness relative to the word's other segments.
        f0_glide: pitch multipliers at its start and end (voiced).
        formants_start, formants_end: three formant frequencies, Hz (voiced).
        formant_amps: the three formants' amplitudes (voiced).
        centre: the noise band's centre, Hz (fricative, burst).
        width: the noise band's standard deviation, Hz (fricative, burst).
    """

    kind: str  # "voiced" | "fricative" | "burst"
    seconds: float
    gap: float  # silence before the segment (a stop closure), seconds
    amp: float  # loudness relative to the other segments of the word
    f0_glide: tuple[float, float] = (1.0, 1.0)  # pitch multipliers at start and end
    formants_start: tuple[float, float, float] = (500.0, 1500.0, 2500.0)
    formants_end: tuple[float, float, float] = (500.0, 1500.0, 2500.0)
    formant_amps: tuple[float, float, float] = (1.0, 0.6, 0.3)
    centre: float = 4000.0  # noise band centre (fricative, burst), Hz
    width: float = 1000.0  # noise band standard deviation, Hz


def _voiced(rng: np.random.Generator) -> Segment:
    f1 = rng.uniform(250, 850, size=2)
    f2 = np.maximum(rng.uniform(800, 2500, size=2), f1 + 250)
    f3 = np.maximum(rng.uniform(2100, 3400, size=2), f2 + 300)
    return Segment(
        kind="voiced",
        seconds=rng.uniform(0.08, 0.24),
        gap=0.0,
        amp=rng.uniform(0.6, 1.0),
        f0_glide=(rng.uniform(0.9, 1.2), rng.uniform(0.8, 1.1)),
        formants_start=(f1[0], f2[0], f3[0]),
        formants_end=(f1[1], f2[1], f3[1]),
        formant_amps=(1.0, rng.uniform(0.4, 0.9), rng.uniform(0.15, 0.5)),
    )


def _noise_segment(rng: np.random.Generator, kind: str) -> Segment:
    if kind == "burst":
        centre = rng.uniform(500, 4500)
        return Segment(
            kind=kind,
            seconds=rng.uniform(0.02, 0.045),
            gap=rng.uniform(0.02, 0.05),
            amp=rng.uniform(0.5, 1.0),
            centre=centre,
            width=centre * rng.uniform(0.3, 0.6),
        )
    centre = rng.uniform(1800, 6500)
    return Segment(
        kind=kind,
        seconds=rng.uniform(0.06, 0.18),
        gap=0.0,
        amp=rng.uniform(0.25, 0.6),
        centre=centre,
        width=rng.uniform(300, 1500),
    )


def _segment(rng: np.random.Generator, kind: str) -> Segment:
    return _voiced(rng) if kind == "voiced" else _noise_segment(rng, kind)


def _draw_segments(word: str) -> list[Segment]:
    """2-4 random segments, at least one voiced, from an RNG seeded by the word alone."""
    rng = np.random.default_rng(zlib.crc32(word.encode()))
    n = int(rng.choice([2, 3, 4], p=[0.35, 0.4, 0.25]))
    kinds = rng.choice(["voiced", "fricative", "burst"], size=n, p=[0.55, 0.25, 0.2])
    kinds[rng.integers(n)] = "voiced"  # every word has a vowel
    return [_segment(rng, str(k)) for k in kinds]


def _recipe(word: str) -> tuple[Segment, ...]:
    """The word's segment sequence for a neutral speaker; the same for every seed.

    A look-alike word takes its partner's sequence with a different first sound (same kind, new
    parameters), so the set has hard pairs like the real archive's "go"/"no" and "tree"/"three".
    """
    if word in _LOOKALIKES:
        segs = _draw_segments(_LOOKALIKES[word])
        segs[0] = _segment(np.random.default_rng(zlib.crc32(word.encode())), segs[0].kind)
    else:
        segs = _draw_segments(word)
    total = sum(s.seconds + s.gap for s in segs)
    squeeze = min(1.0, _WORD_SECONDS / total)
    return tuple(replace(s, seconds=s.seconds * squeeze, gap=s.gap * squeeze) for s in segs)


_RECIPES = {word: _recipe(word) for word in WORDS}


def recipe(word: str) -> tuple[Segment, ...]:
    """A word's segment sequence for a neutral speaker (``_recipe``), the same for every seed;
    Speech Commands' 35 words are worked out once, at import.

    Args:
        word: any word.
    """
    return _RECIPES[word] if word in _RECIPES else _recipe(word)
