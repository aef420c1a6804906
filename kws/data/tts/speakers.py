"""The synthetic speakers: an engine's voice with a speaking rate, pitch, vocal-tract factor and
level, all drawn from the seed (``draw_speakers``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_VOICES = 40
#: Speaking rate (eSpeak NG's words per minute; Flite's duration stretch is 175 / rate), pitch
#: (eSpeak NG's 0-100; Flite's mean f0 scaled by 2 ** ((pitch - 50) / 200)), vocal-tract factor
#: and peak level in dB below full scale: each speaker's are drawn uniformly from these.
RATES = (130, 210)
PITCHES = (20, 80)
TRACTS = (0.92, 1.08)
PEAK_DB = (-20.0, -1.0)


@dataclass(frozen=True)
class Speaker:
    """One synthetic speaker: an engine's voice said at its own rate, pitch, tract and level.

    Args:
        engine: ``espeak``, ``flite`` or ``mbrola``.
        voice: the engine's voice name (``en-us+m3``, ``slt``, ``mb-us1``).
        rate: speaking rate, words per minute (175 is eSpeak NG's default).
        pitch: 0-100, 50 the voice's own.
        tract: played this much faster (above 1: higher pitch and formants, shorter).
        peak_db: the utterance's peak level, dB below full scale.
    """

    engine: str
    voice: str
    rate: int
    pitch: int
    tract: float
    peak_db: float

    @property
    def name(self) -> str:
        """File-name stem: ``<engine>-<voice>_r<rate>_p<pitch>`` (``+`` as ``-``)."""
        return f"{self.engine}-{self.voice.replace('+', '-')}_r{self.rate}_p{self.pitch}"


def draw_speakers(voices: dict[str, list[str]], count: int, seed: int) -> list[Speaker]:
    """``count`` distinct speakers: voices taken in turns from each voice family (each eSpeak NG
    accent, MBROLA, Flite), in an order the seed shuffles, a voice of the family drawn each
    turn, each with a seeded rate, pitch, tract and level. Flite's natural voices cost ten times
    eSpeak NG's per clip (about 25 ms against 2.5 ms): one family keeps them a tenth of the mix.

    Args:
        voices: each engine's voices (``engine_voices``).
        count: how many, at least 1.
        seed: picks the voices and their settings (same seed, same speakers).
    """
    rng = np.random.default_rng([seed, 24])
    families: dict[tuple[str, str], list[str]] = {}
    for engine, names in voices.items():
        for name in names:
            family = name.split("+")[0] if engine == "espeak" else engine
            families.setdefault((engine, family), []).append(name)
    order = [families[key] for key in sorted(families)]
    rng.shuffle(order)
    speakers: dict[str, Speaker] = {}
    turn = 0
    while len(speakers) < count:
        family = order[turn % len(order)]
        engine = next(e for e, names in voices.items() if family[0] in names)
        speaker = Speaker(
            engine=engine,
            voice=family[int(rng.integers(len(family)))],
            rate=int(rng.integers(RATES[0], RATES[1] + 1)),
            pitch=int(rng.integers(PITCHES[0], PITCHES[1] + 1)),
            tract=round(float(rng.uniform(*TRACTS)), 3),
            peak_db=round(float(rng.uniform(*PEAK_DB)), 1),
        )
        speakers.setdefault(speaker.name, speaker)
        turn += 1
    return list(speakers.values())
