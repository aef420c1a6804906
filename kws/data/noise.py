"""The background-noise bank and the fixed silence clips cut from it.

The bank is the background-noise recordings (Speech Commands' ``_background_noise_/``, or a
folder data set's ``noise_dir``), each cut to the shortest. Training silence clips are zeros
that the augmentation fills with fresh noise from the bank; validation and test silence clips are
cut from it once, from the seed, so that metrics repeat.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from kws.data.audio import SPEECH_COMMANDS_CLIPS, BadAudioError, ClipFormat, read_noise
from kws.data.augment import crops
from kws.data.layout import CLIP_SAMPLES


def read_noise_files(
    paths: Sequence[Path], folder: Path, clip_format: ClipFormat = SPEECH_COMMANDS_CLIPS
) -> tuple[list[np.ndarray], dict[str, str]]:
    """The background-noise recordings that read well, and the others' problems.

    Args:
        paths: the recordings, each at least one row long.
        folder: where they are, for the error message.
        clip_format: what they must be and how they are read (``read_noise``). Default:
            Speech Commands' (16 kHz mono WAV files of at least one second).

    Returns:
        ``([recording (samples,) float32 in [-1, 1], ...], {path: problem})``.

    Raises:
        FileNotFoundError: ``paths`` is empty.
    """
    if not paths:
        raise FileNotFoundError(
            f"{folder}: no background-noise .wav files; silence clips and noise augmentation "
            "are made from them"
        )
    noises, problems = [], {}
    for path in paths:
        try:
            noises.append(read_noise(path, clip_format))
        except BadAudioError as error:
            problems[str(path)] = error.problem
    return noises, problems


def stack_noise(noises: Sequence[np.ndarray], folder: Path) -> np.ndarray:
    """The noise bank: the recordings as rows, each cut to the shortest.

    Args:
        noises: recordings, ``(samples,)`` float each.
        folder: where they came from, for the error message.

    Returns:
        ``(files, samples)``.

    Raises:
        FileNotFoundError: ``noises`` is empty (every file was bad).
    """
    if not noises:
        raise FileNotFoundError(f"{folder}: no usable noise file left")
    length = min(len(n) for n in noises)
    return np.stack([n[:length] for n in noises])


def fixed_noise_clips(
    noise: np.ndarray, count: int, rng: np.random.Generator, clip_samples: int = CLIP_SAMPLES
) -> np.ndarray:
    """``count`` int16 silence clips: random crops of the float noise bank at volume U(0, 1).

    Args:
        noise: the noise bank, ``(files, samples)`` float in [-1, 1], ``samples`` at least
            ``clip_samples``.
        count: clips to make.
        rng: what to draw the files, crops and volumes from.
        clip_samples: samples per clip. Default ``CLIP_SAMPLES`` (one second).

    Returns:
        ``(count, clip_samples)`` int16.
    """
    files = rng.integers(0, noise.shape[0], count)
    starts = rng.integers(0, noise.shape[1] - clip_samples + 1, count)
    volume = rng.uniform(0.0, 1.0, (count, 1))
    cut = crops(
        torch.from_numpy(noise), torch.from_numpy(files), torch.from_numpy(starts), clip_samples
    ).numpy()  # (count, samples)
    return np.round(cut * volume * 32767).astype(np.int16)
