"""A stream's three files, ``<name>.wav``, ``<name>_labels.csv`` and ``<name>.json``, written
under temporary names and renamed when complete."""

from __future__ import annotations

import csv
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import soundfile as sf

from kws.data.layout import SAMPLE_RATE, UNKNOWN
from kws.data.stream_audio.background import load_background
from kws.data.stream_audio.clips import SplitClips
from kws.data.stream_audio.mixing import mix
from kws.data.stream_audio.plan import Placement
from kws_runtime.io import atomic_write, write_json

#: The labels CSV's header: then one row per word placed, in time order.
LABELS_HEADER = ("label", "start_ms")


class StreamWriteError(OSError):
    """A stream cannot be written: too little free space, or a write failed."""


@dataclass(frozen=True)
class StreamFiles:
    """What ``make_stream`` or ``make_noise_stream`` wrote.

    Attributes:
        wav: the audio, 16 kHz mono 16-bit PCM.
        labels: the labels CSV: header ``label,start_ms``, one row per word placed.
        info: the settings and counts, JSON.
        seconds: the audio's length.
        keyword_count: the keyword rows of ``labels``.
        unknown_count: the ``_unknown_`` rows of ``labels`` (non-keywords, which must not fire).
    """

    wav: Path
    labels: Path
    info: Path
    seconds: float
    keyword_count: int
    unknown_count: int


def _check_free_space(out_dir: Path, samples: int, rows: int) -> None:
    """Raise ``StreamWriteError`` unless the disk holds the stream's files."""
    needed = 44 + 2 * samples + 32 * (rows + 1) + 4096
    free = shutil.disk_usage(out_dir).free
    if free < needed:
        raise StreamWriteError(
            f"{out_dir}: the stream needs {needed:,} bytes and the disk has {free:,} free"
        )


def write_stream(
    kind: str,
    root: str | Path,
    clips: SplitClips,
    out_dir: str | Path,
    name: str,
    samples: int,
    placements: Sequence[Placement],
    *,
    seed: int,
    gap_ms: int,
    volume: float,
    fixed_volume: bool,
    keywords: Sequence[str],
    progress: bool,
    **settings: Any,
) -> StreamFiles:
    """Read the background, make ``out_dir``, then write ``<name>.wav``, ``<name>_labels.csv``
    and ``<name>.json`` (``kind``, the settings shared by both kinds of stream and the caller's
    own ``settings``, then the counts) under temporary names and rename them when complete. The
    old files of that name are removed just before the renames, so a crash between them leaves a
    file missing, never a WAV beside another stream's labels.

    Args:
        kind: ``words`` or ``noise``, for the JSON.
        root: the data set's folder, for the JSON and messages.
        clips: the split's clips, their format, reader and background recordings.
        out_dir: where the files go; made if missing.
        name: the files' name.
        samples: the stream's length.
        placements: the words, in time order (``plan_words``).
        seed, gap_ms, volume, fixed_volume, keywords: the settings both kinds share.
        progress: show a progress bar while mixing.
        **settings: the caller's own settings, for the JSON.

    Raises:
        FileNotFoundError: ``volume`` is above 0 and ``clips`` has no background recording.
        BadFileError: a noise file cannot be used.
        StreamWriteError: too little free space, or a write failed.
    """
    background = load_background(Path(root), clips, samples, seed, volume, fixed_volume)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    info = {
        "kind": kind,
        "root": str(Path(root).absolute()),
        "keywords": list(keywords),
        "seed": seed,
        "gap_ms": gap_ms,
        "volume": volume,
        "fixed_volume": fixed_volume,
        "sample_rate": SAMPLE_RATE,
        **settings,
    }
    wav = out_dir / f"{name}.wav"
    labels = out_dir / f"{name}_labels.csv"
    info_path = out_dir / f"{name}.json"
    _check_free_space(out_dir, samples, len(placements))
    keyword_count = sum(p.label != UNKNOWN for p in placements)
    with atomic_write(wav, "wb") as wav_file, atomic_write(labels, "w", newline="") as csv_file:
        try:
            with sf.SoundFile(
                wav_file, "w", SAMPLE_RATE, 1, subtype="PCM_16", format="WAV"
            ) as handle:
                for block in mix(samples, placements, background, clips, progress):
                    handle.write(block)
        except (OSError, sf.LibsndfileError) as error:
            raise StreamWriteError(f"{wav}: cannot be written ({error})") from error
        writer = csv.writer(csv_file, lineterminator="\n")
        writer.writerow(LABELS_HEADER)
        writer.writerows((p.label, p.start_ms) for p in placements)
        for old in (info_path, labels, wav):
            old.unlink(missing_ok=True)
    counts = {"keyword_count": keyword_count, "unknown_count": len(placements) - keyword_count}
    info = {**info, "wav": wav.name, "labels": labels.name, "seconds": samples / SAMPLE_RATE}
    write_json(info_path, info | counts)
    return StreamFiles(wav, labels, info_path, samples / SAMPLE_RATE, **counts)
