"""Speech from the engines: eSpeak NG and Flite in-process through their C libraries, MBROLA
through ``espeak-ng``; each utterance resampled to 16 kHz, trimmed and levelled (``say``)."""

from __future__ import annotations

import ctypes
import io
import subprocess
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import soundfile as sf
import soxr

from kws.data.layout import SAMPLE_RATE
from kws.data.phonemes import ESPEAK_PROGRAM, EngineMissingError, espeak_library
from kws.data.tts.engines import flite_library, flite_voice
from kws.data.tts.speakers import Speaker
from kws_runtime.audio import RESAMPLE_QUALITY

#: Trimming: samples below this share of the utterance's peak are silence; kept around speech.
_SILENCE = 0.02
_MARGIN = SAMPLE_RATE // 50  # 20 ms

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
    lib = flite_library()
    voice, f0 = flite_voice(speaker.voice)
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


def say_all(speaker: Speaker, texts: Sequence[str], seed: int) -> list[np.ndarray]:
    """Every text by one speaker, in a process of its own (one pool task): eSpeak NG's wave
    generator keeps state from one utterance to the next (the same text said twice differs),
    and its noise sources draw from the C library's ``rand``, seeded here from the speaker.

    Args:
        speaker: who says them.
        texts: what is said, in order.
        seed: seeds ``rand`` (with the speaker's name) and each text's level jitter (``say``).

    Returns:
        ``say``'s ``(samples,)`` float32 utterance of each text.
    """
    ctypes.CDLL(None).srand(zlib.crc32(f"{seed}|{speaker.name}".encode()))
    return [say(speaker, text, seed) for text in texts]
