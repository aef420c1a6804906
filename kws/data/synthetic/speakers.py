"""Synthetic speakers and their recordings: each says a word's pattern
(``kws.data.synthetic.words``) with their own pitch, rate, vocal-tract length, loudness,
microphone colour and room noise, so that a classifier has to generalise across speakers."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, replace

import numpy as np

from kws.data.layout import SAMPLE_RATE
from kws.data.synthetic.noise import shaped_noise
from kws.data.synthetic.words import Segment, recipe

_SHORT_CLIP_PROB = 0.1  # share of clips cut shorter than one second, as in the real archive
_BLOCK = 80  # samples (5 ms) over which harmonic amplitudes are held constant
_MAX_HARMONIC_HZ = 5000.0
_MAX_SPEECH = int(0.95 * SAMPLE_RATE)  # an utterance never runs longer than this
_EQ_FREQS = np.array([0.0, 250.0, 600.0, 1200.0, 2400.0, 4500.0, 8000.0])


@dataclass(frozen=True)
class Speaker:
    """How one synthetic person talks and what their recording chain sounds like."""

    f0: float
    rate: float  # duration multiplier
    formant_scale: float  # vocal-tract length: multiplies formants and noise bands
    loudness: float  # target peak amplitude
    tilt: float  # source spectral slope: harmonic k has amplitude k**-tilt
    eq_db: tuple[float, ...]  # microphone colour at _EQ_FREQS
    highpass: float
    lowpass: float
    noise_exponent: float  # room noise PSD ~ 1/f**exponent
    snr_db: float  # speech peak to noise RMS
    onset: float  # typical start of speech in the clip, seconds


def draw_speaker(rng: np.random.Generator) -> Speaker:
    """A new synthetic person: their voice, microphone and room, drawn from ``rng``.

    Args:
        rng: the speaker's generator; ``generate`` goes on drawing from it afterwards.
    """
    return Speaker(
        f0=float(np.exp(rng.uniform(np.log(90), np.log(260)))),
        rate=rng.uniform(0.8, 1.25),
        formant_scale=rng.uniform(0.85, 1.15),
        loudness=float(np.exp(rng.uniform(np.log(0.05), np.log(0.9)))),
        tilt=rng.uniform(0.3, 0.9),
        eq_db=tuple(rng.normal(0.0, 3.0, size=len(_EQ_FREQS))),
        highpass=rng.uniform(50, 300),
        lowpass=rng.uniform(4500, 7800),
        noise_exponent=rng.uniform(0.0, 1.5),
        snr_db=rng.uniform(20, 50),
        onset=rng.uniform(0.03, 0.3),
    )


def room_noise(seed: int, index: int, speaker: Speaker) -> np.ndarray:
    """The noise of a speaker's room: four seconds of it, from which every clip of theirs
    takes a stretch.

    Args:
        seed: the data set's seed.
        index: the speaker's number.
        speaker: their ``noise_exponent`` shapes it.

    Returns:
        ``(4 * SAMPLE_RATE,)`` float64, unit RMS.
    """
    return shaped_noise(
        np.random.default_rng([seed, 5, index]), 4 * SAMPLE_RATE, speaker.noise_exponent
    )


def _fade(n: int, fade_in: int, fade_out: int) -> np.ndarray:
    """A flat envelope with raised-cosine ramps, so segments start and stop without clicks."""
    env = np.ones(n)
    fade_in, fade_out = min(fade_in, n // 2), min(fade_out, n // 2)
    env[:fade_in] = 0.5 - 0.5 * np.cos(np.pi * np.arange(fade_in) / fade_in)
    env[n - fade_out :] = 0.5 + 0.5 * np.cos(np.pi * np.arange(fade_out) / fade_out)
    return env


def _render_voiced(
    rng: np.random.Generator,
    seg: Segment,
    n: int,
    f0: float,
    formants: np.ndarray,
    sp: Speaker,
) -> np.ndarray:
    """Harmonics of a gliding f0, weighted by three gliding formant resonances in parallel."""
    blocks = -(-n // _BLOCK)
    f0_track = f0 * np.linspace(seg.f0_glide[0], seg.f0_glide[1], blocks * _BLOCK)
    phase = 2 * np.pi * np.cumsum(f0_track) / SAMPLE_RATE + rng.uniform(0, 2 * np.pi)
    f0_block = f0_track[_BLOCK // 2 :: _BLOCK]  # (blocks,)
    pos = np.linspace(0.0, 1.0, blocks)[None, :]
    track = formants[:, :1] + (formants[:, 1:] - formants[:, :1]) * pos  # (3, blocks)
    k = np.arange(1, int(_MAX_HARMONIC_HZ / f0_block.min()) + 1, dtype=np.float32)  # (K,)
    freq = k[:, None] * f0_block[None, :]  # (K, blocks)
    envelope = sum(
        amp / np.sqrt(1 + ((freq - fc[None]) / (30.0 + 0.04 * fc[None])) ** 2)
        for amp, fc in zip(seg.formant_amps, track, strict=True)
    )
    # Fade harmonics out over the top 1.5 kHz: a hard cut would click as a gliding one crosses it.
    rolloff = np.clip((_MAX_HARMONIC_HZ - freq) / 1500.0, 0.0, 1.0)
    gain = envelope * k[:, None] ** (-sp.tilt) * rolloff
    block_phase = phase.astype(np.float32).reshape(blocks, 1, _BLOCK)
    waves = np.sin(k[None, :, None] * block_phase)  # (blocks, K, _BLOCK)
    x = np.matmul(gain.T.astype(np.float32)[:, None, :], waves).ravel()[:n]
    return x / (np.sqrt(np.mean(x**2)) + 1e-12)


def accent(rng: np.random.Generator, segments: tuple[Segment, ...]) -> tuple[Segment, ...]:
    """A speaker's own way of saying a word: their segment lengths, vowels and stress differ.

    Args:
        rng: the generator of this speaker and word.
        segments: the word's neutral pattern (``kws.data.synthetic.words.recipe``).
    """
    return tuple(
        replace(
            seg,
            seconds=seg.seconds * np.exp(rng.normal(0, 0.15)),
            amp=seg.amp * np.exp(rng.normal(0, 0.25)),
            formants_start=tuple(np.multiply(seg.formants_start, np.exp(rng.normal(0, 0.08, 3)))),
            formants_end=tuple(np.multiply(seg.formants_end, np.exp(rng.normal(0, 0.08, 3)))),
            centre=seg.centre * np.exp(rng.normal(0, 0.08)),
        )
        for seg in segments
    )


def _render_word(
    rng: np.random.Generator, segments: tuple[Segment, ...], sp: Speaker
) -> np.ndarray:
    """One utterance by ``sp``; every repetition jitters timing, pitch, formants and stress."""
    f0 = sp.f0 * np.exp(rng.normal(0, 0.04))
    stretch = sp.rate * np.exp(rng.normal(0, 0.07, len(segments)))
    lengths = np.array([s.seconds for s in segments]) * stretch * SAMPLE_RATE
    gaps = np.array([s.gap for s in segments]) * stretch * SAMPLE_RATE
    squeeze = min(1.0, _MAX_SPEECH / (lengths.sum() + gaps.sum()))
    overlap = int(0.01 * SAMPLE_RATE)
    pieces: list[tuple[int, np.ndarray]] = []
    cursor = 0
    for seg, length, gap in zip(segments, lengths * squeeze, gaps * squeeze, strict=True):
        n = max(int(length), 4 * _BLOCK)
        cursor += int(gap)
        amp = seg.amp * np.exp(rng.normal(0, 0.1))
        if seg.kind == "voiced":
            formants = np.array([seg.formants_start, seg.formants_end]).T  # (3, 2)
            formants = formants * sp.formant_scale * np.exp(rng.normal(0, 0.025, size=(3, 1)))
            x = _render_voiced(rng, seg, n, f0, formants, sp) * _fade(n, 240, 320)
        else:
            scale = sp.formant_scale * np.exp(rng.normal(0, 0.03))
            x = shaped_noise(rng, n, band=(seg.centre * scale, seg.width * scale))
            if seg.kind == "burst":
                x = x * np.exp(-np.arange(n) / (0.3 * n)) * _fade(n, 16, 16)
            else:
                x = x * _fade(n, 320, 320)
        start = max(cursor - overlap, 0) if pieces and gap == 0 else cursor
        pieces.append((start, amp * x))
        cursor = start + n
    out = np.zeros(cursor)
    for start, x in pieces:
        out[start : start + len(x)] += x
    return out[:_MAX_SPEECH]


def record(
    rng: np.random.Generator, segments: tuple[Segment, ...], sp: Speaker, room: np.ndarray
) -> np.ndarray:
    """A clip as int16: the word at some onset in a (maybe short) clip, through the speaker's
    microphone, plus a random stretch of their ``room`` noise.

    Args:
        rng: the generator of this take.
        segments: the word as this speaker says it (``accent``).
        sp: the speaker.
        room: their room's noise (``room_noise``).

    Returns:
        ``(samples,)`` int16, at most ``SAMPLE_RATE`` samples.
    """
    speech = _render_word(rng, segments, sp)
    length = SAMPLE_RATE
    if rng.random() < _SHORT_CLIP_PROB:
        length = int(rng.uniform(0.6, 0.99) * SAMPLE_RATE)
    length = min(max(length, len(speech) + SAMPLE_RATE // 50), SAMPLE_RATE)
    slack = length - len(speech)
    onset = int(np.clip((sp.onset + rng.normal(0, 0.05)) * SAMPLE_RATE, 0, slack))
    clip = np.zeros(length)
    clip[onset : onset + len(speech)] = speech

    freqs = np.fft.rfftfreq(length, 1.0 / SAMPLE_RATE)
    f = np.maximum(freqs, 1.0)
    channel = 10 ** (np.interp(freqs, _EQ_FREQS, sp.eq_db) / 20)
    channel = channel / np.sqrt((1 + (sp.highpass / f) ** 4) * (1 + (f / sp.lowpass) ** 8))
    clip = np.fft.irfft(np.fft.rfft(clip) * channel, length)

    peak = min(sp.loudness * np.exp(rng.normal(0, 0.15)), 0.9)
    clip *= peak / np.abs(clip).max()
    start = rng.integers(0, len(room) - length + 1)
    clip += peak * 10 ** (-sp.snr_db / 20) * room[start : start + length]
    clip *= min(1.0, 0.99 / np.abs(clip).max())  # loud speaker in a noisy room: no clipping
    return np.round(clip * 32767).astype(np.int16)


def speaker_ids(seed: int, count: int) -> list[str]:
    """``count`` distinct 8-hex-digit speaker ids (the ``SPEAKER`` of ``SPEAKER_nohash_N.wav``),
    a function of the seed only.

    Args:
        seed: the data set's seed.
        count: how many.
    """
    rng = np.random.default_rng([seed, 0])
    ids: list[str] = []
    while len(ids) < count:
        sid = f"{int(rng.integers(0, 2**32)):08x}"
        if sid not in ids:
            ids.append(sid)
    return ids


def speak(word: str, speaker: int, repetition: int = 0, seed: int = 0) -> np.ndarray:
    """One synthetic recording of any word, as Speech Commands' clips are: int16, 16 kHz, mono,
    at most one second. The word's sound pattern depends on the word alone; ``speaker`` and
    ``seed`` pick the synthetic person and every random detail of the recording.

    Args:
        word: any word (a Speech Commands word sounds as in ``generate``'s data).
        speaker: the speaker's number, 0 or more.
        repetition: which take. Default 0.
        seed: picks the speakers. Default 0.

    Returns:
        ``(samples,)`` int16, at most ``SAMPLE_RATE`` samples.
    """
    sp = draw_speaker(np.random.default_rng([seed, 2, speaker]))
    room = room_noise(seed, speaker, sp)
    key = zlib.crc32(word.encode())
    segments = accent(np.random.default_rng([seed, 3, speaker, key]), recipe(word))
    return record(np.random.default_rng([seed, 4, speaker, key, repetition]), segments, sp, room)
