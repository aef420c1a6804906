"""Synthetic data laid out exactly like Speech Commands v0.02, for tests and offline development.

Each of the 35 words is a fixed sequence of 2-4 speech-like segments (voiced sounds with gliding
formants, fricative hiss, plosive bursts); every synthetic speaker says them with their own pitch,
rate, vocal-tract length, loudness, microphone colour and room noise, so a classifier has to
generalise across speakers the way it must on the real archive. The word patterns depend only on
the word; the seed picks the speakers and every random detail of their recordings.

``speak`` says any other word the same way, and ``write_words`` lays such recordings out as a
folder of one's own words (``kws.data.folder``), at any sample rate and channel count.

Usage: ``python -m kws.data.synthetic [OUT_DIR] [--speakers N] [--seed S] [--force]`` (OUT_DIR:
``data/synthetic_speech_commands`` by default, where ``data=synthetic`` reads it), or with
``--words hey_kitchen,stop,... [--rate 44100] [--channels 2] [--suffix .flac]`` a folder of
those words.
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import os
import sys
import time
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from itertools import repeat
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from kws.data.files import replace_folder, staging_folder
from kws.data.layout import (
    BACKGROUND_NOISE,
    KEYWORDS,
    SAMPLE_RATE,
    TESTING_LIST,
    VALIDATION_LIST,
    WORDS,
)
from kws.data.splits import speaker_id, which_set

NOISE_FILES = (
    "exercise_bike.wav",
    "pink_noise.wav",
    "running_tap.wav",
    "white_noise.wav",
)
DEFAULT_SPEAKERS = 80
#: Roughly how long generating takes per speaker on 2 CPU cores (80 speakers: 6-8 s).
SECONDS_PER_SPEAKER = 0.1
#: Where ``data=synthetic`` (``experiment=quickstart``) keeps it, relative to the working folder.
DEFAULT_OUT_DIR = "data/synthetic_speech_commands"

_NOISE_SECONDS = 10.0
_UNKNOWN_PROB = 0.35  # chance that a speaker records each of the 25 non-keywords (once)
_SHORT_CLIP_PROB = 0.1  # share of clips cut shorter than one second, as in the real archive
_BLOCK = 80  # samples (5 ms) over which harmonic amplitudes are held constant
_MAX_HARMONIC_HZ = 5000.0
_WORD_SECONDS = 0.55  # longest word for a neutral speaker; slow speakers stretch it
_MAX_SPEECH = int(0.95 * SAMPLE_RATE)  # an utterance never runs longer than this
# Words whose pattern differs from their partner's in the first sound only.
_LOOKALIKES = {"go": "no", "tree": "three", "bird": "bed", "dog": "down", "follow": "forward"}


@dataclass(frozen=True)
class _Segment:
    """One sound of a word's recipe; frequencies are for a neutral speaker (scale 1)."""

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


@dataclass(frozen=True)
class _Speaker:
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


_EQ_FREQS = np.array([0.0, 250.0, 600.0, 1200.0, 2400.0, 4500.0, 8000.0])


def _voiced(rng: np.random.Generator) -> _Segment:
    f1 = rng.uniform(250, 850, size=2)
    f2 = np.maximum(rng.uniform(800, 2500, size=2), f1 + 250)
    f3 = np.maximum(rng.uniform(2100, 3400, size=2), f2 + 300)
    return _Segment(
        kind="voiced",
        seconds=rng.uniform(0.08, 0.24),
        gap=0.0,
        amp=rng.uniform(0.6, 1.0),
        f0_glide=(rng.uniform(0.9, 1.2), rng.uniform(0.8, 1.1)),
        formants_start=(f1[0], f2[0], f3[0]),
        formants_end=(f1[1], f2[1], f3[1]),
        formant_amps=(1.0, rng.uniform(0.4, 0.9), rng.uniform(0.15, 0.5)),
    )


def _noise_segment(rng: np.random.Generator, kind: str) -> _Segment:
    if kind == "burst":
        centre = rng.uniform(500, 4500)
        return _Segment(
            kind=kind,
            seconds=rng.uniform(0.02, 0.045),
            gap=rng.uniform(0.02, 0.05),
            amp=rng.uniform(0.5, 1.0),
            centre=centre,
            width=centre * rng.uniform(0.3, 0.6),
        )
    centre = rng.uniform(1800, 6500)
    return _Segment(
        kind=kind,
        seconds=rng.uniform(0.06, 0.18),
        gap=0.0,
        amp=rng.uniform(0.25, 0.6),
        centre=centre,
        width=rng.uniform(300, 1500),
    )


def _segment(rng: np.random.Generator, kind: str) -> _Segment:
    return _voiced(rng) if kind == "voiced" else _noise_segment(rng, kind)


def _draw_segments(word: str) -> list[_Segment]:
    """2-4 random segments, at least one voiced, from an RNG seeded by the word alone."""
    rng = np.random.default_rng(zlib.crc32(word.encode()))
    n = int(rng.choice([2, 3, 4], p=[0.35, 0.4, 0.25]))
    kinds = rng.choice(["voiced", "fricative", "burst"], size=n, p=[0.55, 0.25, 0.2])
    kinds[rng.integers(n)] = "voiced"  # every word has a vowel
    return [_segment(rng, str(k)) for k in kinds]


def _recipe(word: str) -> tuple[_Segment, ...]:
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


def _speaker(rng: np.random.Generator) -> _Speaker:
    return _Speaker(
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


def _noise(
    rng: np.random.Generator,
    n: int,
    exponent: float = 0.0,
    band: tuple[float, float] | None = None,
) -> np.ndarray:
    """Unit-RMS Gaussian noise, shaped in the frequency domain: power ~ 1/f**exponent (0 white,
    1 pink, 2 brown), times a Gaussian ``band`` (centre, standard deviation in Hz) if given."""
    freqs = np.fft.rfftfreq(n, 1.0 / SAMPLE_RATE)
    shape = np.maximum(freqs, 20.0) ** (-exponent / 2)
    if band is not None:
        shape = shape * np.exp(-0.5 * ((freqs - band[0]) / band[1]) ** 2)
    spec = (rng.standard_normal(len(freqs)) + 1j * rng.standard_normal(len(freqs))) * shape
    x = np.fft.irfft(spec, n)
    return x / (np.sqrt(np.mean(x**2)) + 1e-12)


def _fade(n: int, fade_in: int, fade_out: int) -> np.ndarray:
    """A flat envelope with raised-cosine ramps, so segments start and stop without clicks."""
    env = np.ones(n)
    fade_in, fade_out = min(fade_in, n // 2), min(fade_out, n // 2)
    env[:fade_in] = 0.5 - 0.5 * np.cos(np.pi * np.arange(fade_in) / fade_in)
    env[n - fade_out :] = 0.5 + 0.5 * np.cos(np.pi * np.arange(fade_out) / fade_out)
    return env


def _render_voiced(
    rng: np.random.Generator,
    seg: _Segment,
    n: int,
    f0: float,
    formants: np.ndarray,
    sp: _Speaker,
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


def _accent(rng: np.random.Generator, recipe: tuple[_Segment, ...]) -> tuple[_Segment, ...]:
    """A speaker's own way of saying a word: their segment lengths, vowels and stress differ."""
    return tuple(
        replace(
            seg,
            seconds=seg.seconds * np.exp(rng.normal(0, 0.15)),
            amp=seg.amp * np.exp(rng.normal(0, 0.25)),
            formants_start=tuple(np.multiply(seg.formants_start, np.exp(rng.normal(0, 0.08, 3)))),
            formants_end=tuple(np.multiply(seg.formants_end, np.exp(rng.normal(0, 0.08, 3)))),
            centre=seg.centre * np.exp(rng.normal(0, 0.08)),
        )
        for seg in recipe
    )


def _render_word(
    rng: np.random.Generator, segments: tuple[_Segment, ...], sp: _Speaker
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
            x = _noise(rng, n, band=(seg.centre * scale, seg.width * scale))
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


def _record(
    rng: np.random.Generator, segments: tuple[_Segment, ...], sp: _Speaker, room: np.ndarray
) -> np.ndarray:
    """A clip as int16: the word at some onset in a (maybe short) clip, through the speaker's
    microphone, plus a random stretch of their ``room`` noise."""
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


def _noise_file(rng: np.random.Generator, name: str) -> np.ndarray:
    """Ten seconds of one background-noise recording stand-in, as int16."""
    n = int(_NOISE_SECONDS * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    if name == "white_noise.wav":
        x = _noise(rng, n)
    elif name == "pink_noise.wav":
        x = _noise(rng, n, exponent=1.0)
    elif name == "running_tap.wav":  # splashing water: a broad band fluttering a few times/s
        knots = np.arange(0.0, _NOISE_SECONDS + 0.2, 0.12)
        flutter = np.interp(t, knots, rng.uniform(0.4, 1.0, len(knots)))
        x = _noise(rng, n, band=(2500.0, 1500.0)) * flutter
    else:  # exercise bike: rumbling brown noise pulsing with the pedals, plus a whine
        pedal = 1 + 0.7 * np.sin(2 * np.pi * 1.3 * t)
        whine = np.sin(2 * np.pi * 180 * t + 3 * np.sin(2 * np.pi * 1.3 * t))
        x = _noise(rng, n, exponent=2.0) * pedal + 0.3 * whine * pedal
    x = 0.25 * x / np.abs(x).max()
    return np.round(x * 32767).astype(np.int16)


def _speaker_ids(seed: int, count: int) -> list[str]:
    """``count`` distinct 8-hex-digit ids, a function of the seed only."""
    rng = np.random.default_rng([seed, 0])
    ids: list[str] = []
    while len(ids) < count:
        sid = f"{int(rng.integers(0, 2**32)):08x}"
        if sid not in ids:
            ids.append(sid)
    return ids


def _write_wav(path: Path, audio: np.ndarray) -> None:
    """Encode in memory and write once: far fewer system calls than letting libsndfile stream."""
    buf = io.BytesIO()
    sf.write(buf, audio, SAMPLE_RATE, subtype="PCM_16", format="WAV")
    path.write_bytes(buf.getvalue())


def _write_speaker(root: Path, seed: int, index: int, sid: str) -> list[str]:
    """Record and write every clip of one speaker; return their paths relative to ``root``.

    Each speaker, word and repetition has its own RNG, so the bytes do not depend on which process
    renders what, or in which order.
    """
    rng = np.random.default_rng([seed, 2, index])
    sp = _speaker(rng)
    room = _noise(np.random.default_rng([seed, 5, index]), 4 * SAMPLE_RATE, sp.noise_exponent)
    written: list[str] = []
    for w, word in enumerate(WORDS):
        reps = int(rng.integers(1, 3)) if word in KEYWORDS else int(rng.random() < _UNKNOWN_PROB)
        if not reps:
            continue
        segments = _accent(np.random.default_rng([seed, 3, index, w]), _RECIPES[word])
        for r in range(reps):
            clip = _record(np.random.default_rng([seed, 4, index, w, r]), segments, sp, room)
            rel = f"{word}/{sid}_nohash_{r}.wav"
            _write_wav(root / rel, clip)
            written.append(rel)
    return written


def worker_count(jobs: int) -> int:
    """Processes worth forking: one per usable CPU core, no more than there are jobs. One (no
    pool) where ``fork`` is unavailable, since spawned workers would re-import the whole package,
    or inside a daemon process, which may not have children.

    Args:
        jobs: the number of independent jobs (speakers).
    """
    if "fork" not in multiprocessing.get_all_start_methods():
        return 1
    if multiprocessing.current_process().daemon:
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, jobs))


def _write_tree(root: Path, speakers: int, seed: int) -> None:
    """Fill the empty folder ``root`` with clips, background noise, split lists and a README."""
    for word in WORDS:
        (root / word).mkdir()
    (root / BACKGROUND_NOISE).mkdir()
    for i, name in enumerate(NOISE_FILES):
        _write_wav(
            root / BACKGROUND_NOISE / name, _noise_file(np.random.default_rng([seed, 1, i]), name)
        )

    ids = _speaker_ids(seed, speakers)
    jobs = (repeat(root), repeat(seed), range(speakers), ids)
    workers = worker_count(speakers)
    if workers == 1:
        per_speaker = list(map(_write_speaker, *jobs))
    else:
        fork = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=workers, mp_context=fork) as pool:
            per_speaker = list(pool.map(_write_speaker, *jobs))
    clips = [rel for written in per_speaker for rel in written]
    for split, list_name in (("validation", VALIDATION_LIST), ("testing", TESTING_LIST)):
        listed = sorted(rel for rel in clips if which_set(rel) == split)
        (root / list_name).write_text("".join(f"{rel}\n" for rel in listed))
    (root / "README.md").write_text(
        "# Synthetic Speech Commands\n\n"
        f"Generated by `python -m kws.data.synthetic` (speakers={speakers}, seed={seed}).\n"
        "Not real speech: each word is a fixed synthetic pattern of voiced, fricative and burst\n"
        "segments, varied per synthetic speaker. Same layout, split rule and audio format\n"
        "(16 kHz mono 16-bit WAV, at most 1 s) as Speech Commands v0.02.\n"
    )


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
    sp = _speaker(np.random.default_rng([seed, 2, speaker]))
    room = _noise(np.random.default_rng([seed, 5, speaker]), 4 * SAMPLE_RATE, sp.noise_exponent)
    key = zlib.crc32(word.encode())
    recipe = _RECIPES[word] if word in _RECIPES else _recipe(word)
    segments = _accent(np.random.default_rng([seed, 3, speaker, key]), recipe)
    return _record(np.random.default_rng([seed, 4, speaker, key, repetition]), segments, sp, room)


def write_words(
    out_dir: str | Path,
    words: list[str],
    speakers: int = 20,
    seed: int = 0,
    sample_rate: int = SAMPLE_RATE,
    channels: int = 1,
    suffix: str = ".wav",
    force: bool = False,
) -> Path:
    """Write a folder of one's own words (``kws.data.folder``'s layout): ``OUT/word/
    SPEAKER_nohash_0<suffix>``, every speaker saying every word once (``speak``), resampled
    to ``sample_rate`` with soxr, the same take on every channel at falling levels. No list
    files, no noise. Built in a staging folder and renamed into place when complete.

    Args:
        out_dir: the folder to make; absent or empty unless ``force``.
        words: the word folders to make.
        speakers: synthetic speakers, at least 1. Default 20.
        seed: picks the speakers (same seed, same bytes). Default 0.
        sample_rate: of the files, in Hz. Default 16000.
        channels: of the files. Default 1.
        suffix: the files' format, by its name ending (``.wav``, ``.flac``, ...). Default
            ``.wav``.
        force: replace a non-empty ``out_dir``.

    Raises:
        ValueError: ``speakers`` or ``channels`` below 1, no words, or a ``suffix`` that names
            no format soundfile writes.
        FileExistsError: ``out_dir`` is not empty and ``force`` is false.
    """
    if speakers < 1 or channels < 1 or not words:
        raise ValueError(f"need speakers, channels >= 1 and words: {speakers}, {channels}, {words}")
    if suffix.lstrip(".").upper() not in sf.available_formats():
        raise ValueError(f"suffix {suffix!r} names no format soundfile writes")
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()) and not force:
        raise FileExistsError(f"{out} exists and is not empty; use force=True (--force) to replace")
    levels = np.float32(0.8) ** np.arange(channels, dtype=np.float32)  # (channels,)
    with staging_folder(out) as staging:
        for word in words:
            (staging / word).mkdir()
        for index, sid in enumerate(_speaker_ids(seed, speakers)):
            for word in words:
                clip = speak(word, index, seed=seed).astype(np.float32) / 32768.0
                if sample_rate != SAMPLE_RATE:
                    clip = soxr.resample(clip, SAMPLE_RATE, sample_rate)
                sf.write(staging / word / f"{sid}_nohash_0{suffix}", clip[:, None] * levels,
                         sample_rate, subtype="PCM_16")  # fmt: skip
        staging.chmod(0o755)
        replace_folder(staging, out)
    return out


def generate(
    out_dir: str | Path,
    speakers: int = DEFAULT_SPEAKERS,
    seed: int = 0,
    force: bool = False,
) -> Path:
    """Write a synthetic Speech Commands v0.02 tree to ``out_dir`` and return its path.

    The tree is built in a temporary sibling folder and renamed into place when complete, so a
    crash never leaves a half-written data set. A non-empty ``out_dir`` is refused unless ``force``.

    Args:
        out_dir: the folder to make; absent or empty unless ``force``.
        speakers: synthetic speakers, at least 1; each records every keyword once or twice and
            some of the other words.
        seed: picks the speakers and every random detail of their recordings (same seed, same
            bytes).
        force: replace a non-empty ``out_dir``.

    Raises:
        ValueError: ``speakers`` is below 1.
        FileExistsError: ``out_dir`` is not empty and ``force`` is false.
    """
    if speakers < 1:
        raise ValueError(f"speakers must be at least 1, got {speakers}")
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()) and not force:
        raise FileExistsError(f"{out} exists and is not empty; use force=True (--force) to replace")
    with staging_folder(out) as staging:
        _write_tree(staging, speakers, seed)
        staging.chmod(0o755)
        replace_folder(staging, out)
    return out


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point; prints a one-line summary of what was written.

    Args:
        argv: the arguments; None: ``sys.argv[1:]``.
    """
    parser = argparse.ArgumentParser(
        prog="python -m kws.data.synthetic", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "out_dir", type=Path, nargs="?", default=None,
        help=f"folder to create, absent or empty (default {DEFAULT_OUT_DIR}, where data=synthetic "
        "and experiment=quickstart read it; needed with --words)",
    )  # fmt: skip
    parser.add_argument(
        "--speakers",
        type=int,
        default=None,
        help=f"number of speakers (default {DEFAULT_SPEAKERS}; 20 with --words)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (same seed, same bytes)")
    parser.add_argument("--force", action="store_true", help="replace a non-empty OUT_DIR")
    parser.add_argument(
        "--words",
        default=None,
        help="comma-separated words: a folder of these words instead (no lists)",
    )
    parser.add_argument("--rate", type=int, default=SAMPLE_RATE, help="with --words: Hz")
    parser.add_argument("--channels", type=int, default=1, help="with --words: channels")
    parser.add_argument("--suffix", default=".wav", help="with --words: .wav, .flac, ...")
    args = parser.parse_args(argv)  # fmt: skip
    if args.out_dir is None and args.words:
        parser.error("OUT_DIR is needed with --words")
    out_dir = args.out_dir or Path(DEFAULT_OUT_DIR)
    start = time.perf_counter()
    try:
        if args.words:
            words = [word for word in args.words.split(",") if word]
            out = write_words(out_dir, words, args.speakers or 20, args.seed, args.rate,
                              args.channels, args.suffix, args.force)  # fmt: skip
            print(f"wrote {len(words)} words by {args.speakers or 20} speakers to {out} in "
                  f"{time.perf_counter() - start:.1f} s")  # fmt: skip
            return
        speakers = args.speakers or DEFAULT_SPEAKERS
        out = generate(out_dir, speakers=speakers, seed=args.seed, force=args.force)
    except (FileExistsError, ValueError) as err:
        sys.exit(f"error: {err}")
    seconds = time.perf_counter() - start
    clips = sum(1 for w in WORDS for _ in (out / w).glob("*.wav"))
    listed = {s: (out / f"{s}_list.txt").read_text().split() for s in ("validation", "testing")}
    held_out = [
        f"{split} {len(names)} ({len({speaker_id(n) for n in names})} speakers)"
        for split, names in listed.items()
    ]
    train = clips - sum(len(names) for names in listed.values())
    print(
        f"wrote {clips} clips from {speakers} speakers to {out}: training {train}, "
        f"{', '.join(held_out)} in {seconds:.1f} s"
    )


if __name__ == "__main__":
    main()
