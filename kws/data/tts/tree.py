"""Writing a folder of one's own words (``write_phrases``): every speaker says every phrase and
negative, in a process per speaker, each utterance placed in a clip; built in a staging folder
and renamed into place whole, with ``tts.json``."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from kws.data.files import replace_folder, staging_folder
from kws.data.layout import SAMPLE_RATE
from kws.data.phonemes import DEFAULT_WORD_LIST
from kws.data.synthetic import worker_count
from kws.data.tts.engines import engine_voices
from kws.data.tts.negatives import (
    DEFAULT_NEAR,
    DEFAULT_ORDINARY,
    DEFAULT_SENTENCES,
    Negative,
    choose_negatives,
)
from kws.data.tts.phrases import folder_name
from kws.data.tts.speakers import DEFAULT_VOICES, Speaker, draw_speakers
from kws.data.tts.synthesis import say_all
from kws_runtime.io import write_json

#: Clip lengths chosen automatically are multiples of this, at least 1 s.
CLIP_STEP_SECONDS = 0.25
_MANIFEST = "tts.json"


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
        yield from (say_all(s, texts, seed) for s in speakers)
        return
    with multiprocessing.get_context("fork").Pool(workers, maxtasksperchild=1) as pool:
        yield from pool.starmap(say_all, [(s, texts, seed) for s in speakers], chunksize=1)


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
