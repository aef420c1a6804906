"""The background-noise bank and the fixed silence clips cut from it, and the room impulse
responses the augmentation reverberates with.

The bank is the background-noise recordings (Speech Commands' ``_background_noise_/``, or a
folder data set's ``noise_dir``), each cut to the shortest. Training silence clips are zeros
that the augmentation fills with fresh noise from the bank; validation and test silence clips are
cut from it once, from the seed, so that metrics repeat.

The impulse-response bank (``rir_bank``) is the recordings of ``data.rir_dir`` and the rooms
synthesised with pyroomacoustics (``data.augmentation.rooms``), each aligned so that its direct
path (its largest sample) is tap 0, cut to a clip's length and scaled to unit energy.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from kws.data.audio import read_clip, read_noise
from kws.data.augment import crops
from kws.data.clip_format import SPEECH_COMMANDS_CLIPS, ClipFormat
from kws.data.layout import SAMPLE_RATE
from kws.data.tree import scan_tree
from kws_runtime.audio import BadAudioError
from kws_runtime.io import BadFileError

#: The longest impulse-response recording read, in seconds (a concert hall's tail is shorter).
MAX_RIR_SECONDS = 10.0
#: Folder levels searched below ``data.rir_dir``.
RIR_LEVELS = 3
#: An impulse response's file name endings.
RIR_SUFFIXES = (".wav", ".wave")
#: Synthesised rooms' sizes in metres, (length, width, height) from the smallest to the largest;
#: source and microphone at least ``ROOM_MARGIN_M`` from every wall.
ROOM_SIZES_M = ((3.0, 3.0, 2.4), (8.0, 6.0, 3.5))
ROOM_MARGIN_M = 0.5


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
    noise: np.ndarray, count: int, rng: np.random.Generator, clip_samples: int
) -> np.ndarray:
    """``count`` int16 silence clips: random crops of the float noise bank at volume U(0, 1).

    Args:
        noise: the noise bank, ``(files, samples)`` float in [-1, 1], ``samples`` at least
            ``clip_samples``.
        count: clips to make.
        rng: what to draw the files, crops and volumes from.
        clip_samples: samples per clip (the source's ``ClipFormat.clip_samples``).

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


def unit_response(rir: np.ndarray, taps: int) -> np.ndarray | None:
    """An impulse response from its direct path (its largest sample in magnitude) on, cut to
    ``taps``, trailing zeros dropped, and scaled to unit energy; None when it is all zeros.

    Args:
        rir: ``(n,)`` float.
        taps: the most taps kept.

    Returns:
        ``(at most min(taps, n - direct),)`` float32.
    """
    cut = np.trim_zeros(rir[int(np.argmax(np.abs(rir))) :][:taps].astype(np.float64), "b")
    energy = float(np.sum(cut**2))
    return None if energy == 0.0 else (cut / np.sqrt(energy)).astype(np.float32)


def read_rirs(folder: Path, taps: int) -> list[np.ndarray]:
    """The impulse responses recorded in ``folder`` (WAV files, any rate and channel count,
    mixed down to mono and resampled to 16 kHz with soxr as clips are), as ``unit_response``s.

    Args:
        folder: ``data.rir_dir``; WAV files in it and ``RIR_LEVELS`` levels below.
        taps: the most taps kept (a clip's samples: later taps cannot reach the clip).

    Returns:
        ``[(taps_i,) float32, ...]``, sorted by path.

    Raises:
        FileNotFoundError: ``folder`` is missing or holds no WAV file.
        BadFileError: a file is unreadable, longer than ``MAX_RIR_SECONDS`` or silent, naming it.
    """
    if not folder.is_dir():
        raise FileNotFoundError(f"data.rir_dir: {folder} is not a folder")
    names = sorted(n for n in scan_tree(folder, RIR_LEVELS) if n.lower().endswith(RIR_SUFFIXES))
    if not names:
        raise FileNotFoundError(f"data.rir_dir: {folder} holds no .wav impulse response")
    longest = ClipFormat(
        clip_samples=round(MAX_RIR_SECONDS * SAMPLE_RATE), convert=True, max_seconds=MAX_RIR_SECONDS
    )  # the whole recording as one row, zero-padded
    rirs = []
    for name in names:
        rir = unit_response(read_clip(folder / name, longest) / np.float32(32768.0), taps)
        if rir is None:
            raise BadFileError(folder / name, "all samples are zero: no impulse response")
        rirs.append(rir)
    return rirs


def synthesise_rooms(
    count: int, rt60_s: tuple[float, float], rng: np.random.Generator, taps: int
) -> list[np.ndarray]:
    """Impulse responses of ``count`` shoebox rooms made with pyroomacoustics' image-source
    method, as ``unit_response``s: each room of a random size within ``ROOM_SIZES_M`` and a
    reverberation time from U(rt60_s) (Sabine's absorption), with a source and a microphone at
    random places ``ROOM_MARGIN_M`` from the walls.

    Args:
        count: rooms to make.
        rt60_s: ``(low, high)`` reverberation times, in seconds (``RT60_S_LIMITS``).
        rng: what the rooms are drawn from.
        taps: the most taps kept.

    Returns:
        ``[(taps_i,) float32, ...]``.

    Raises:
        ModuleNotFoundError: pyroomacoustics is not installed, saying how to install it.
    """
    try:
        import pyroomacoustics as pra  # an optional dependency: the `rooms` extra
    except ModuleNotFoundError:
        raise ModuleNotFoundError(
            "data.augmentation.rooms needs pyroomacoustics: pip install -c constraints.txt "
            "'kws[rooms]' (or set data.rir_dir instead)"
        ) from None
    smallest, largest = (np.array(size) for size in ROOM_SIZES_M)
    rirs = []
    for _ in range(count):
        size = rng.uniform(smallest, largest)
        absorption, max_order = pra.inverse_sabine(rng.uniform(*rt60_s), size)
        room = pra.ShoeBox(
            size, fs=SAMPLE_RATE, materials=pra.Material(absorption), max_order=max_order
        )
        room.add_source(rng.uniform(ROOM_MARGIN_M, size - ROOM_MARGIN_M))
        room.add_microphone(rng.uniform(ROOM_MARGIN_M, size - ROOM_MARGIN_M))
        room.compute_rir()
        rirs.append(unit_response(np.asarray(room.rir[0][0]), taps))
    return rirs


def rir_bank(rirs: Sequence[np.ndarray]) -> np.ndarray:
    """The impulse responses as rows, zero-padded to the longest.

    Args:
        rirs: ``(taps_i,)`` float each, at least one.

    Returns:
        ``(len(rirs), max taps_i)`` float32.
    """
    bank = np.zeros((len(rirs), max(len(r) for r in rirs)), dtype=np.float32)
    for row, rir in zip(bank, rirs, strict=True):
        row[: len(rir)] = rir
    return bank
