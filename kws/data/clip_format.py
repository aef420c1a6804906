"""``ClipFormat``: what a clip is (its sample rate and samples), what a source file must be to
make cache rows, and which part of a longer recording makes its row (``window_start``: the
loudest window, from where the sound starts, or the start).

The data module owns one (``ClipDataModule.clip_format``) and hands it on: to the module
(``kws.tasks.train.build_module``, which checks the frontend's rate against it), whose
checkpoints keep it (``KWSModule.clip_format``), and from there to export and the detector.
Where a model meets data, ``ClipFormat.mismatch`` is the one rule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import soundfile as sf

from kws.data.layout import CLIP_SAMPLES, SAMPLE_RATE
from kws_runtime.audio import format_problem

#: Which ``clip_samples`` of a longer recording make its row (``window_start``).
Align = Literal["loudest", "start", "cut"]
#: The ``Align`` values.
ALIGNS: tuple[str, ...] = get_args(Align)
#: ``start``: the sound starts at the first 10 ms frame whose energy is within ``ONSET_DB`` of
#: the loudest frame's.
ONSET_FRAME_SAMPLES = SAMPLE_RATE // 100
ONSET_DB = 30.0


def window_start(samples: np.ndarray, length: int, align: Align) -> int:
    """Where the row of ``length`` samples starts in a recording (``ClipFormat.align``).

    Args:
        samples: ``(frames,)`` int16 mono audio.
        length: samples per row.
        align: ``loudest``: the window of ``length`` with the most energy (sum of squares, by a
            cumulative sum; the first of equals), as Speech Commands' clips were cut
            (``extract_loudest_section``); 0 for a recording no longer than a row.
            ``start``: the first ``ONSET_FRAME_SAMPLES`` frame within ``ONSET_DB`` of the
            loudest frame's energy (leading silence left out; 0 for silence). ``cut``: 0.

    Returns:
        The first sample of the row, in ``[0, len(samples))`` (0 for no samples).
    """
    squares = samples.astype(np.int64) ** 2  # exact: 60 s of full scale is below 2**63
    if align == "loudest" and len(samples) > length:
        energy = np.concatenate(([0], np.cumsum(squares)))
        return int(np.argmax(energy[length:] - energy[:-length]))
    if align == "start" and len(samples):
        frames = np.add.reduceat(squares, np.arange(0, len(samples), ONSET_FRAME_SAMPLES))
        loud = frames >= frames.max() * 10 ** (-ONSET_DB / 10)
        return int(np.argmax(loud)) * ONSET_FRAME_SAMPLES
    return 0


@dataclass(frozen=True)
class ClipFormat:
    """What a clip is, and what a source file must be to make cache rows and how it makes them:
    int16 at ``sample_rate`` mono, ``clip_samples`` long, zero-padded at the end.

    Args:
        clip_samples: samples per row, at ``sample_rate``. Default ``CLIP_SAMPLES`` (one
            second).
        convert: take any sample rate and channel count soundfile reads: mix down to mono (the
            channels' mean) and resample to ``sample_rate`` with soxr (``RESAMPLE_QUALITY``).
            Default False: mono files at ``sample_rate`` only; others are bad.
        min_seconds: the shortest recording taken, in seconds. Default 0: any with a frame.
        max_seconds: the longest recording taken, in seconds; None: any length. Of a
            recording longer than a row, ``read_clip`` reads the row ``align`` chooses, or
            one row-long piece (``pieces`` counts them). Default 1.0 (Speech Commands').
        align: which row of a recording longer than a row is read (``window_start``), after
            the conversion: ``loudest``, ``start`` (leading silence left out: for a shorter
            recording too) or ``cut`` (default: the first; only the row is read from the file).
        sample_rate: the clips' rate, in Hz. Default ``SAMPLE_RATE`` (16 kHz, every kws data
            source's).

    Raises:
        ValueError: ``clip_samples`` below 1, ``sample_rate`` not a whole number >= 1,
            ``max_seconds`` shorter than a row, or ``align`` not one of ``ALIGNS``.
    """

    clip_samples: int = CLIP_SAMPLES
    convert: bool = False
    min_seconds: float = 0.0
    max_seconds: float | None = CLIP_SAMPLES / SAMPLE_RATE
    align: Align = "cut"
    sample_rate: int = SAMPLE_RATE

    def __post_init__(self) -> None:
        if self.clip_samples < 1:
            raise ValueError(f"clip_samples must be at least 1, got {self.clip_samples}")
        if isinstance(self.sample_rate, bool) or not (
            isinstance(self.sample_rate, int) and self.sample_rate >= 1
        ):
            raise ValueError(
                f"sample_rate must be a whole number of Hz >= 1, got {self.sample_rate!r}"
            )
        if self.align not in ALIGNS:
            raise ValueError(f"align must be one of {ALIGNS}, got {self.align!r}")
        if self.max_seconds is not None and self.max_seconds * self.sample_rate < self.clip_samples:
            raise ValueError(
                f"max_seconds {self.max_seconds} is shorter than a row of {self.clip_samples} "
                f"samples at {self.sample_rate} Hz"
            )

    @property
    def seconds(self) -> float:
        """A clip's length, in seconds."""
        return self.clip_samples / self.sample_rate

    def mismatch(self, data: ClipFormat) -> str | None:
        """Why a model that takes these clips cannot take ``data``'s, naming the setting that
        makes them, or None.

        Args:
            data: the data's clips (``ClipDataModule.clip_format``).
        """
        if self.sample_rate != data.sample_rate:
            return (
                f"the model hears {self.sample_rate} Hz, the data's clips are "
                f"{data.sample_rate} Hz (frontend.sample_rate)"
            )
        if self.clip_samples != data.clip_samples:
            return (
                f"the model takes clips of {self.clip_samples} samples ({self.seconds:g} s), the "
                f"data's are {data.clip_samples} samples ({data.seconds:g} s); use data of its "
                "own clip length (a folder's data.clip_seconds)"
            )
        return None

    def problem(self, handle: sf.SoundFile) -> str | None:
        """Why an open file cannot make rows (its rate, channels or length), or None.

        Args:
            handle: the open file.
        """
        rate = handle.samplerate
        longest = None if self.max_seconds is None else math.floor(self.max_seconds * rate + 1e-6)
        shortest = max(1, math.ceil(self.min_seconds * rate - 1e-6))
        return format_problem(handle, longest, None if self.convert else self.sample_rate, shortest)

    def row_frames(self, rate: int) -> float:
        """The frames of a file at ``rate`` that make one row.

        Args:
            rate: the file's sample rate, in Hz.
        """
        return self.clip_samples * rate / self.sample_rate

    def pieces(self, frames: int, rate: int) -> int:
        """The rows a recording of ``frames`` at ``rate`` makes when cut into row-long pieces:
        every whole piece, then the rest if it lasts ``min_seconds``; at least one.

        Args:
            frames: the recording's length, in frames.
            rate: its sample rate, in Hz.
        """
        span = self.row_frames(rate)
        whole = math.floor(frames / span + 1e-9)
        rest = frames - whole * span
        return max(1, whole + int(rest > 0 and rest >= self.min_seconds * rate - 1e-6))


#: Speech Commands' clips: 16 kHz mono, at most one second, as they are.
SPEECH_COMMANDS_CLIPS = ClipFormat()
