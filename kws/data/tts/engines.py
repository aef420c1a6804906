"""The speech engines and their voices: which are installed (``engine_voices``), eSpeak NG's data
folder and Flite's C library, loaded once per process through ctypes."""

from __future__ import annotations

import ctypes
import re
import shutil
import subprocess
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

from kws.data.phonemes import ESPEAK_PROGRAM, EngineMissingError, espeak_library

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
        flite_library()
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
def flite_library() -> ctypes.CDLL:
    """Flite's library, initialised, once per process.

    Raises:
        EngineMissingError: Flite is not installed, or its libraries do not load (naming its
            Debian package).
    """
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
def flite_voice(name: str) -> tuple[Any, float]:
    """A registered Flite voice, once per process, and its own mean f0 (Hz).

    Args:
        name: a key of ``FLITE_VOICES``.

    Raises:
        EngineMissingError: as ``flite_library``.
    """
    flite_library()
    library = FLITE_VOICES[name]
    register = getattr(ctypes.CDLL(f"libflite_{library}.so.1"), f"register_{library}")
    register.restype = ctypes.POINTER(_Voice)
    register.argtypes = [ctypes.c_char_p]
    voice = register(None)
    f0 = flite_library().get_param_float(voice.contents.features, b"int_f0_target_mean", 110.0)
    return voice, f0
