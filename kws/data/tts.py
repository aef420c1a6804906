"""Your own wake word from a phrase you type: synthetic speakers say it, and words that sound
like it, into a folder of one's own words (``data=folder``, ``kws.data.folder``).

Usage: ``python -m kws.data.tts OUT_DIR --phrases "hey kitchen,lights off" [--voices 40]
[--seed 0] [--negatives auto|none] [--clip-seconds S] [--engines espeak,flite] [--force]``

Speakers come from the engines installed: eSpeak NG (``apt-get install espeak-ng``: each
English accent times each voice variant, ``en-us+m3``), its MBROLA voices where the ``mbrola``
program and the voice are installed (``mb-us1``), and Flite (``apt-get install flite``: kal16,
awb, rms, slt). Each speaker also gets a speaking rate, a pitch, a vocal-tract factor (the
audio played faster or slower: pitch and formants move together) and a loudness, all drawn
from the seed. eSpeak NG and Flite run in-process through their C libraries (ctypes), in one
process per CPU core (a fresh one forked per speaker, so that
the same seed gives the same bytes). Every clip is 16 kHz mono 16-bit WAV, resampled with soxr as
``kws.data.audio`` converts, its silence trimmed and the speech placed at a random start in a
clip of ``--clip-seconds``. Files are ``OUT/<phrase_with_underscores>/<speaker>_nohash_0.wav``
with speakers named ``espeak-en-us-m3_r170_p40``: the folder's default
``data.speaker_pattern`` keeps all of a speaker's clips in one split. The tree is built in a
staging folder and renamed into place when complete; ``OUT/tts.json`` records the settings,
the speakers and why each negative was chosen (``kws.data.phonemes``).
"""

from __future__ import annotations

import argparse
import ctypes
import io
import multiprocessing
import re
import shutil
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import soxr

from kws.data.audio import RESAMPLE_QUALITY
from kws.data.files import replace_folder, staging_folder
from kws.data.layout import SAMPLE_RATE, WORDS
from kws.data.phonemes import (
    DEFAULT_WORD_LIST,
    ESPEAK_PROGRAM,
    EngineMissingError,
    contains,
    dictionary,
    espeak_library,
    nearest_words,
    phonemise,
)
from kws.data.synthetic import worker_count
from kws.io import write_json

ENGINES = ("espeak", "flite", "mbrola")
#: The Debian packages that install each engine.
PACKAGES = {"espeak": "espeak-ng", "flite": "flite", "mbrola": "mbrola mbrola-us1"}
#: eSpeak NG's English accents (its ``--voices=en`` voices; ``en`` is British English).
ESPEAK_ACCENTS = (
    "en-us",
    "en",
    "en-gb-scotland",
    "en-gb-x-rp",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
    "en-029",
    "en-us-nyc",
)
#: eSpeak NG variants left out: a test setting and effects that are no voice.
SKIPPED_VARIANTS = frozenset({"fast", "Demonic", "UniRobot", "anikaRobot", "announcer"})
#: Flite's voices used, by name, with the library registering each; ``kal`` (the same speaker
#: as ``kal16`` at 8 kHz) and ``awb_time`` (it can only tell the time) are left out.
FLITE_VOICES = {
    "kal16": "cmu_us_kal16",
    "awb": "cmu_us_awb",
    "rms": "cmu_us_rms",
    "slt": "cmu_us_slt",
}
DEFAULT_VOICES = 40
#: Everyday words the ordinary negatives and sentences are drawn from (with Speech Commands'
#: 35 words): a word list holds rare and offensive words, and no word frequencies.
_EVERYDAY = (
    "the",
    "a",
    "is",
    "it",
    "what",
    "time",
    "turn",
    "please",
    "open",
    "close",
    "door",
    "music",
    "play",
    "light",
    "kitchen",
    "room",
    "hello",
    "good",
    "morning",
    "night",
    "today",
    "tomorrow",
    "water",
    "coffee",
    "tea",
    "phone",
    "call",
    "message",
    "weather",
    "cold",
    "warm",
    "hot",
    "fan",
    "window",
    "table",
    "chair",
    "book",
    "read",
    "write",
    "where",
    "when",
    "who",
    "why",
    "how",
    "much",
    "many",
    "more",
    "less",
    "start",
    "finish",
    "pause",
    "next",
    "back",
    "volume",
    "loud",
    "quiet",
    "timer",
    "alarm",
    "minute",
    "hour",
    "set",
    "check",
    "list",
    "shopping",
    "milk",
    "bread",
    "dinner",
    "lunch",
    "breakfast",
    "car",
    "garage",
    "garden",
    "dog",
)
COMMON_WORDS = tuple(sorted(set(WORDS) | set(_EVERYDAY)))
#: Per phrase: sound-alike words (``kws.data.phonemes.nearest_words``).
DEFAULT_NEAR = 20
#: Ordinary words and short sentences of them, drawn from the word list, in all.
DEFAULT_ORDINARY = 20
DEFAULT_SENTENCES = 10
#: Speaking rate (eSpeak NG's words per minute; Flite's duration stretch is 175 / rate), pitch
#: (eSpeak NG's 0-100; Flite's mean f0 scaled by 2 ** ((pitch - 50) / 200)), vocal-tract factor
#: and peak level in dB below full scale: each speaker's are drawn uniformly from these.
RATES = (130, 210)
PITCHES = (20, 80)
TRACTS = (0.92, 1.08)
PEAK_DB = (-20.0, -1.0)
#: Clip lengths chosen automatically are multiples of this, at least 1 s.
CLIP_STEP_SECONDS = 0.25
#: Trimming: samples below this share of the utterance's peak are silence; kept around speech.
_SILENCE = 0.02
_MARGIN = SAMPLE_RATE // 50  # 20 ms
_PHRASE = re.compile(r"[a-z]+(?:[ -][a-z]+)*")
_MANIFEST = "tts.json"


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


@dataclass(frozen=True)
class Negative:
    """A text said as a negative, and why it was chosen.

    Args:
        text: what is said.
        kind: ``near`` (sounds like ``target``), ``part`` (words of a phrase), ``swap`` (a
            phrase with a word swapped or the words reordered), ``ordinary`` or ``sentence``.
        target: the phrase or word it was chosen for; empty for ordinary words and sentences.
        distance: the weighted phoneme edit distance to ``target`` (``near``), else None.
    """

    text: str
    kind: str
    target: str = ""
    distance: float | None = None

    @property
    def folder(self) -> str:
        """The word folder: the text with spaces as ``_``."""
        return folder_name(self.text)


def folder_name(phrase: str) -> str:
    """A phrase's word folder (and ``data.keywords`` entry): spaces replaced by ``_``.

    Args:
        phrase: a checked phrase (``parse_phrases``).
    """
    return phrase.replace(" ", "_")


def parse_phrases(text: str) -> list[str]:
    """The comma-separated phrases of ``--phrases``, lower-case, single-spaced.

    Args:
        text: ``"hey kitchen,lights off"``.

    Raises:
        ValueError: naming ``--phrases``: an empty phrase, a character other than a-z, space
            and hyphen (non-ASCII letters, digits, path characters), or a phrase given twice.
    """
    phrases = [" ".join(part.split()).lower() for part in text.split(",")]
    for phrase, part in zip(phrases, text.split(","), strict=True):
        if not phrase:
            raise ValueError(f"--phrases: empty phrase in {text!r} (comma-separated phrases)")
        if not _PHRASE.fullmatch(phrase):
            bad = sorted({c for c in phrase if not ("a" <= c <= "z" or c in " -")})
            raise ValueError(
                f"--phrases: {part.strip()!r} holds {bad or 'a stray hyphen'}: use the letters "
                "a-z, spaces and hyphens (spell numbers and symbols out as words)"
            )
    twice = sorted({folder_name(p) for p in phrases if phrases.count(p) > 1})
    if twice:
        raise ValueError(f"--phrases: {twice} given more than once")
    return phrases


@cache
def _espeak_data() -> Path:
    """eSpeak NG's data folder, as ``espeak-ng --version`` names it."""
    version = subprocess.run([ESPEAK_PROGRAM, "--version"], capture_output=True, text=True)
    found = re.search(r"Data at: (\S+)", version.stdout)
    if version.returncode or not found:
        raise EngineMissingError(f"{ESPEAK_PROGRAM} --version failed: apt-get install espeak-ng")
    return Path(found.group(1))


def _mbrola_voices() -> list[str]:
    """eSpeak NG's English MBROLA voices whose ``mbrola`` program and voice file are installed."""
    if shutil.which("mbrola") is None:
        return []
    folder = _espeak_data() / "voices" / "mb"
    names = sorted(p.name for p in folder.glob("mb-*")) if folder.is_dir() else []
    usable = []
    for name in names:
        database = name.removeprefix("mb-").removesuffix("-en")
        places = (
            Path("/usr/share/mbrola") / database,
            Path("/usr/share/mbrola") / database / database,
            Path("/usr/share/mbrola/voices") / database,
        )
        if (name.startswith("mb-us") or name.endswith("-en")) and any(p.is_file() for p in places):
            usable.append(name)
    return usable


def engine_voices(engines: Sequence[str] | None = None) -> dict[str, list[str]]:
    """The voices of each engine asked for (``None``: every one installed), by engine.

    Args:
        engines: names from ``ENGINES``; None: all that are installed (at least one).

    Raises:
        EngineMissingError: an engine asked for is not installed (naming its Debian package),
            or, with ``engines`` None, none is.
        ValueError: an unknown engine name (naming ``--engines``).
    """
    unknown = sorted(set(engines or ()) - set(ENGINES))
    if unknown:
        raise ValueError(f"--engines: unknown {unknown}; choose from {list(ENGINES)}")
    voices: dict[str, list[str]] = {}
    problems = {}
    for engine in engines or ENGINES:
        try:
            voices[engine] = _voices_of(engine)
        except EngineMissingError as error:
            problems[engine] = str(error)
    if engines is not None and problems:
        raise EngineMissingError("; ".join(problems.values()))
    voices = {engine: names for engine, names in voices.items() if names}
    if not voices:
        raise EngineMissingError(
            "no speech synthesiser is installed: apt-get install espeak-ng (and flite for more "
            f"voices); {'; '.join(problems.values())}"
        )
    return voices


def _voices_of(engine: str) -> list[str]:
    """One engine's voices; raises ``EngineMissingError`` naming its package when missing."""
    if engine == "flite":
        _flite()
        return list(FLITE_VOICES)
    espeak_library()
    if engine == "mbrola":
        found = _mbrola_voices()
        if not found:
            raise EngineMissingError(
                "no MBROLA voice works (the mbrola program or its voices are missing): "
                f"apt-get install {PACKAGES['mbrola']}"
            )
        return found
    variants = sorted(
        p.name
        for p in (_espeak_data() / "voices" / "!v").iterdir()
        if p.is_file() and p.name.isidentifier() and p.name not in SKIPPED_VARIANTS
    )
    return [f"{accent}+{variant}" for accent in ESPEAK_ACCENTS for variant in variants]


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


class _Wave(ctypes.Structure):
    """Flite's ``cst_wave``."""

    _fields_ = [
        ("type", ctypes.c_char_p),
        ("sample_rate", ctypes.c_int),
        ("num_samples", ctypes.c_int),
        ("num_channels", ctypes.c_int),
        ("samples", ctypes.POINTER(ctypes.c_short)),
    ]


class _Voice(ctypes.Structure):
    """The head of Flite's ``cst_voice``: its name and features."""

    _fields_ = [("name", ctypes.c_char_p), ("features", ctypes.c_void_p)]


@cache
def _flite() -> ctypes.CDLL:
    """Flite's library, initialised, once per process; raises ``EngineMissingError``."""
    if shutil.which("flite") is None:
        raise EngineMissingError("flite is not installed (not on PATH): apt-get install flite")
    try:
        lib = ctypes.CDLL("libflite.so.1", mode=ctypes.RTLD_GLOBAL)
        for needed in ("libflite_usenglish.so.1", "libflite_cmulex.so.1"):
            ctypes.CDLL(needed, mode=ctypes.RTLD_GLOBAL)
    except OSError as error:
        raise EngineMissingError(
            f"Flite's libraries do not load ({error}): apt-get install flite"
        ) from None
    lib.flite_init()
    lib.flite_text_to_wave.restype = ctypes.POINTER(_Wave)
    lib.flite_text_to_wave.argtypes = [ctypes.c_char_p, ctypes.POINTER(_Voice)]
    lib.delete_wave.argtypes = [ctypes.POINTER(_Wave)]
    lib.flite_feat_set_float.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_float]
    lib.get_param_float.restype = ctypes.c_float
    lib.get_param_float.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_float]
    return lib


@cache
def _flite_voice(name: str) -> tuple[Any, float]:
    """A registered Flite voice and its own mean f0."""
    _flite()
    library = FLITE_VOICES[name]
    register = getattr(ctypes.CDLL(f"libflite_{library}.so.1"), f"register_{library}")
    register.restype = ctypes.POINTER(_Voice)
    register.argtypes = [ctypes.c_char_p]
    voice = register(None)
    return voice, _flite().get_param_float(voice.contents.features, b"int_f0_target_mean", 110.0)


_chunks: list[np.ndarray] = []  # eSpeak NG's callback fills it during one espeak_Synth


@ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
def _collect(wave: Any, count: int, events: Any) -> int:
    """eSpeak NG's synthesis callback: keep the samples, go on (0)."""
    if count > 0:
        _chunks.append(np.ctypeslib.as_array(wave, (count,)).copy())
    return 0


def _espeak(speaker: Speaker, text: str) -> tuple[np.ndarray, int]:
    """``text`` by an eSpeak NG speaker through the library: int16 samples and their rate."""
    lib = espeak_library()
    lib.espeak_SetSynthCallback(_collect)
    if lib.espeak_SetVoiceByName(speaker.voice.encode()) != 0:
        raise EngineMissingError(f"eSpeak NG has no voice {speaker.voice!r}")
    lib.espeak_SetParameter(1, speaker.rate, 0)  # espeakRATE
    lib.espeak_SetParameter(3, speaker.pitch, 0)  # espeakPITCH
    _chunks.clear()
    said = text.encode()
    lib.espeak_Synth(said, len(said) + 1, 0, 0, 0, 0, None, None)
    samples = np.concatenate(_chunks) if _chunks else np.zeros(0, np.int16)
    return samples, lib.sample_rate


def _mbrola(speaker: Speaker, text: str) -> tuple[np.ndarray, int]:
    """``text`` by an MBROLA voice, through ``espeak-ng --stdout`` (its rate is the voice's)."""
    wav = subprocess.run(
        [
            ESPEAK_PROGRAM,
            "-v",
            speaker.voice,
            "-s",
            str(speaker.rate),
            "-p",
            str(speaker.pitch),
            "--stdout",
            text,
        ],
        capture_output=True,
        check=True,
    ).stdout
    samples, rate = sf.read(io.BytesIO(wav), dtype="int16")
    return samples, rate


def _flite_say(speaker: Speaker, text: str) -> tuple[np.ndarray, int]:
    """``text`` by a Flite speaker through the library: int16 samples and their rate."""
    lib = _flite()
    voice, f0 = _flite_voice(speaker.voice)
    features = voice.contents.features
    lib.flite_feat_set_float(features, b"duration_stretch", 175.0 / speaker.rate)
    lib.flite_feat_set_float(
        features, b"int_f0_target_mean", f0 * 2 ** ((speaker.pitch - 50) / 200)
    )
    wave = lib.flite_text_to_wave(text.encode(), voice)
    try:
        head = wave.contents
        samples = np.ctypeslib.as_array(head.samples, (head.num_samples,)).copy()
        return samples, head.sample_rate
    finally:
        lib.delete_wave(wave)


_SYNTHESISERS = {"espeak": _espeak, "flite": _flite_say, "mbrola": _mbrola}


def say(speaker: Speaker, text: str, seed: int = 0) -> np.ndarray:
    """``text`` said by ``speaker``: 16 kHz mono float32 at the speaker's level (and a seeded
    take-to-take jitter of up to 1 dB), silence trimmed to 20 ms around the speech.

    Args:
        speaker: who says it.
        text: what is said.
        seed: picks the level jitter.

    Returns:
        ``(samples,)`` float32.

    Raises:
        RuntimeError: the engine said nothing.
    """
    samples, rate = _SYNTHESISERS[speaker.engine](speaker, text)
    audio = samples.astype(np.float32) / 32768.0
    loud = np.flatnonzero(np.abs(audio) > _SILENCE * np.abs(audio).max(initial=0.0))
    if not len(loud):
        raise RuntimeError(f"{speaker.name} said nothing for {text!r}")
    audio = soxr.resample(audio, rate * speaker.tract, SAMPLE_RATE, RESAMPLE_QUALITY)
    first = max(int(loud[0] * SAMPLE_RATE / (rate * speaker.tract)) - _MARGIN, 0)
    last = int(loud[-1] * SAMPLE_RATE / (rate * speaker.tract)) + _MARGIN
    audio = audio[first:last]
    jitter = np.random.default_rng([seed, zlib.crc32(f"{speaker.name}|{text}".encode())])
    level = 10 ** ((speaker.peak_db + jitter.uniform(-1.0, 1.0)) / 20)
    return (audio * (level / max(float(np.abs(audio).max()), 1e-9))).astype(np.float32)


def _say_all(speaker: Speaker, texts: Sequence[str], seed: int) -> list[np.ndarray]:
    """Every text by one speaker, in a process of its own (one pool task): eSpeak NG's wave
    generator keeps state from one utterance to the next (the same text said twice differs),
    and its noise sources draw from the C library's ``rand``, seeded here from the speaker."""
    ctypes.CDLL(None).srand(zlib.crc32(f"{seed}|{speaker.name}".encode()))
    return [say(speaker, text, seed) for text in texts]


def place(speech: np.ndarray, clip_samples: int, rng: np.random.Generator) -> np.ndarray:
    """``speech`` at a random start in ``clip_samples`` of silence, as int16; cut at the end
    when longer.

    Args:
        speech: ``(samples,)`` float32.
        clip_samples: the clip's length.
        rng: picks the start.
    """
    clip = np.zeros(clip_samples, np.float32)
    speech = speech[:clip_samples]
    start = int(rng.integers(0, clip_samples - len(speech) + 1))
    clip[start : start + len(speech)] = speech
    return np.round(np.clip(clip, -1.0, 32767 / 32768) * 32768).astype(np.int16)


def choose_negatives(
    phrases: Sequence[str],
    near: int = DEFAULT_NEAR,
    ordinary: int = DEFAULT_ORDINARY,
    sentences: int = DEFAULT_SENTENCES,
    seed: int = 0,
    word_list: Path = DEFAULT_WORD_LIST,
) -> list[Negative]:
    """What the speakers say besides the phrases: sound-alikes, parts, swaps, ordinary words
    and sentences, none of them a phrase (see ``docs/own_words.md``).

    Args:
        phrases: the keyword phrases (``parse_phrases``).
        near: sound-alike words per phrase (``kws.data.phonemes.nearest_words``). Default 20.
        ordinary: random words of ``COMMON_WORDS``, none sounding as a phrase's word. Default
            20.
        sentences: random 3-5 word sentences of such words. Default 10.
        seed: picks the ordinary words, sentences and swaps.
        word_list: the word list searched. Default ``/usr/share/dict/words``.

    Raises:
        FileNotFoundError: ``word_list`` is missing.
        EngineMissingError: eSpeak NG is not installed (it gives the phonemes).
    """
    words = dictionary(word_list)
    split = [p.replace("-", " ").split() for p in phrases]
    rng = np.random.default_rng([seed, 25])
    chosen: list[Negative] = []
    for phrase, parts in zip(phrases, split, strict=True):
        found = nearest_words(parts, words, near, split)
        chosen += [Negative(w, "near", target, distance) for w, distance, target in found]
        spans = [parts[i:j] for i in range(len(parts)) for j in range(i + 1, len(parts) + 1)]
        chosen += [Negative(" ".join(s), "part", phrase) for s in spans if s != parts]
        if len(parts) > 1:
            chosen.append(Negative(" ".join(reversed(parts)), "swap", phrase))
            for i, part in enumerate(parts):  # each word swapped for its nearest sound-alike
                alike = next(
                    w
                    for w, _, _ in nearest_words([part], words, 50, split)
                    if not contains(words[w], phonemise([part])[0])
                )
                chosen.append(
                    Negative(" ".join([*parts[:i], alike, *parts[i + 1 :]]), "swap", phrase)
                )
        for other, other_parts in zip(phrases, split, strict=True):
            if other != phrase:  # the start of one phrase with the end of another
                chosen.append(
                    Negative(f"{parts[0]} {other_parts[-1]}", "swap", f"{phrase}/{other}")
                )
    said = {tuple(s) for s in phonemise(sorted({w for parts in split for w in parts}))}
    pool = [
        w for w in COMMON_WORDS if words.get(w) not in said and w not in {n.text for n in chosen}
    ]
    picked = rng.choice(len(pool), size=min(ordinary, len(pool)), replace=False)
    chosen += [Negative(pool[i], "ordinary") for i in picked]
    for _ in range(sentences):
        sentence = rng.choice(len(pool), size=int(rng.integers(3, 6)), replace=False)
        chosen.append(Negative(" ".join(pool[i] for i in sentence), "sentence"))
    keywords = {folder_name(p) for p in phrases}
    unique: dict[str, Negative] = {}
    for negative in chosen:
        if negative.folder not in keywords:
            unique.setdefault(negative.folder, negative)
    return list(unique.values())


def _pool_map(
    speakers: Sequence[Speaker], texts: Sequence[str], seed: int, workers: int
) -> Iterator[list[np.ndarray]]:
    """Each speaker's utterances of ``texts``, in speaker order, over ``workers`` processes, a
    fresh one forked for each speaker so that its clips do not depend on who spoke before in
    the same process (same seed, same bytes). Without ``fork`` (or in a daemon process), in
    this process: then the bytes depend on the order."""
    if "fork" not in multiprocessing.get_all_start_methods() or (
        multiprocessing.current_process().daemon
    ):
        yield from (_say_all(s, texts, seed) for s in speakers)
        return
    with multiprocessing.get_context("fork").Pool(workers, maxtasksperchild=1) as pool:
        yield from pool.starmap(_say_all, [(s, texts, seed) for s in speakers], chunksize=1)


def _write_wav(path: Path, clip: np.ndarray) -> None:
    """One int16 clip as a 16 kHz mono 16-bit WAV file."""
    sf.write(path, clip, SAMPLE_RATE, subtype="PCM_16", format="WAV")


def write_phrases(
    out_dir: str | Path,
    phrases: Sequence[str],
    voices: int = DEFAULT_VOICES,
    seed: int = 0,
    negatives: bool = True,
    clip_seconds: float | None = None,
    engines: Sequence[str] | None = None,
    near: int = DEFAULT_NEAR,
    ordinary: int = DEFAULT_ORDINARY,
    sentences: int = DEFAULT_SENTENCES,
    word_list: Path = DEFAULT_WORD_LIST,
    force: bool = False,
    workers: int | None = None,
) -> dict[str, Any]:
    """Write a folder of one's own words: every speaker says every phrase and negative once.

    Args:
        out_dir: the folder to make; absent or empty unless ``force``.
        phrases: the keyword phrases (``parse_phrases``).
        voices: synthetic speakers, at least 1. Default 40.
        seed: picks the speakers, negatives and placements (same seed, same bytes).
        negatives: also say ``choose_negatives``' texts, as ``_unknown_`` word folders.
        clip_seconds: every clip's length; None (default): the shortest multiple of 0.25 s,
            at least 1 s, that holds the longest phrase said.
        engines: from ``ENGINES``; None: every one installed.
        near, ordinary, sentences, word_list: see ``choose_negatives``.
        force: replace a non-empty ``out_dir``.
        workers: processes; None: one per usable CPU core.

    Returns:
        The manifest written to ``OUT/tts.json``.

    Raises:
        ValueError: a setting out of range (naming its option), or a phrase too long for
            ``clip_seconds``.
        FileExistsError: ``out_dir`` is not empty and ``force`` is false.
        EngineMissingError: an engine asked for, or every engine, is missing.
    """
    if isinstance(voices, bool) or not isinstance(voices, int) or voices < 1:
        raise ValueError(f"--voices must be a whole number of at least 1, got {voices!r}")
    for key, value in (("--near", near), ("--ordinary", ordinary), ("--sentences", sentences)):
        if value < 0:
            raise ValueError(f"{key} must be at least 0, got {value}")
    if clip_seconds is not None and not 0.1 <= clip_seconds <= 60:
        raise ValueError(f"--clip-seconds must be within 0.1 and 60, got {clip_seconds}")
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()) and not force:
        raise FileExistsError(f"{out} exists and is not empty; --force replaces it")
    speakers = draw_speakers(engine_voices(engines), voices, seed)
    said = [Negative(p, "keyword") for p in phrases]
    if negatives:
        said += choose_negatives(phrases, near, ordinary, sentences, seed, word_list)
    texts = [n.text for n in said]
    utterances = list(_pool_map(speakers, texts, seed, workers or worker_count(len(speakers))))
    keyword_seconds = max(len(u) for row in utterances for u in row[: len(phrases)]) / SAMPLE_RATE
    if clip_seconds is None:
        clip_seconds = max(1.0, np.ceil(keyword_seconds / CLIP_STEP_SECONDS) * CLIP_STEP_SECONDS)
    elif keyword_seconds > clip_seconds:
        raise ValueError(
            f"--clip-seconds {clip_seconds:g}: a phrase lasts {keyword_seconds:.2f} "
            "s; leave --clip-seconds out to fit it"
        )
    clip_samples = round(clip_seconds * SAMPLE_RATE)
    manifest = {
        "phrases": list(phrases),
        "keywords": [folder_name(p) for p in phrases],
        "clip_seconds": clip_seconds,
        "seed": seed,
        "word_list": str(word_list),
        "speakers": [asdict(s) | {"name": s.name} for s in speakers],
        "negatives": [asdict(n) | {"folder": n.folder} for n in said[len(phrases) :]],
    }
    with staging_folder(out) as staging:
        for negative in said:
            (staging / negative.folder).mkdir()
        for index, (speaker, row) in enumerate(zip(speakers, utterances, strict=True)):
            for t, (negative, speech) in enumerate(zip(said, row, strict=True)):
                rng = np.random.default_rng([seed, 26, index, t])
                clip = place(speech, clip_samples, rng)
                _write_wav(staging / negative.folder / f"{speaker.name}_nohash_0.wav", clip)
        write_json(staging / _MANIFEST, manifest)
        replace_folder(staging, out)
    return manifest


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point; prints what was written and the command that trains on it.

    Args:
        argv: the arguments; None: ``sys.argv[1:]``.
    """
    parser = argparse.ArgumentParser(
        prog="python -m kws.data.tts", description=__doc__.splitlines()[0]
    )
    parser.add_argument("out_dir", type=Path, help="folder to create, absent or empty")
    parser.add_argument("--phrases", required=True, help='comma-separated: "hey kitchen,stop"')
    parser.add_argument(
        "--voices",
        type=int,
        default=DEFAULT_VOICES,
        help=f"synthetic speakers (default {DEFAULT_VOICES})",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (same seed, same bytes)")
    parser.add_argument(
        "--negatives",
        choices=("auto", "none"),
        default="auto",
        help="auto (default): also sound-alikes, parts and ordinary words",
    )
    parser.add_argument("--near", type=int, default=DEFAULT_NEAR, help="sound-alikes per phrase")
    parser.add_argument("--ordinary", type=int, default=DEFAULT_ORDINARY, help="ordinary words")
    parser.add_argument("--sentences", type=int, default=DEFAULT_SENTENCES, help="sentences")
    parser.add_argument(
        "--word-list",
        type=Path,
        default=DEFAULT_WORD_LIST,
        help=f"words searched for negatives (default {DEFAULT_WORD_LIST})",
    )
    parser.add_argument(
        "--clip-seconds",
        type=float,
        default=None,
        help="clip length (default: fit the longest phrase, at least 1 s)",
    )
    parser.add_argument(
        "--engines",
        default=None,
        help=f"comma-separated, of {','.join(ENGINES)} (default: all installed)",
    )
    parser.add_argument("--force", action="store_true", help="replace a non-empty OUT_DIR")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        phrases = parse_phrases(args.phrases)
        engines = args.engines.split(",") if args.engines else None
        manifest = write_phrases(
            args.out_dir,
            phrases,
            args.voices,
            args.seed,
            args.negatives == "auto",
            args.clip_seconds,
            engines,
            args.near,
            args.ordinary,
            args.sentences,
            args.word_list,
            args.force,
        )
    except (FileExistsError, FileNotFoundError, ValueError, EngineMissingError) as error:
        sys.exit(f"error: {error}")
    folders = len(manifest["keywords"]) + len(manifest["negatives"])
    clips = folders * len(manifest["speakers"])
    print(
        f"wrote {clips} clips ({folders} folders x {len(manifest['speakers'])} speakers) to "
        f"{args.out_dir} in {time.perf_counter() - start:.1f} s; train with:\n  python train.py "
        f"data=folder data.root={args.out_dir} 'data.keywords=[{','.join(manifest['keywords'])}]' "
        f"data.clip_seconds={manifest['clip_seconds']:g}"
    )


if __name__ == "__main__":
    main()
