"""The data benchmarks, without a model: ``serve`` times serving cached epochs (random int16 clips
in a memory map: no WAV files needed), with and without the int16-to-float conversion and
augmentation; ``cache`` times checking and decoding a data set into a fresh cache: a Speech
Commands tree given, or, without one, the same generated clips as 16 kHz mono WAV files (Speech
Commands' build) against 44.1 kHz stereo files converted by the folder source
(``kws.data.folder``), in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
import torch

from kws.data import FolderDataModule, SpeechCommandsDataModule
from kws.data.augment import Augmentation
from kws.data.batches import ClipBatches
from kws.data.datamodule import ClipDataModule
from kws.data.datasets import ClipDataset
from kws.data.layout import (
    BACKGROUND_NOISE,
    CLIP_SAMPLES,
    KEYWORDS,
    SAMPLE_RATE,
    TESTING_LIST,
    VALIDATION_LIST,
)
from kws.data.splits import which_set
from kws.data.synthetic import speak
from kws_runtime.io import write_json


def serve_cached(clips: int, batch: int, epochs: int) -> None:
    """Print the seconds per epoch of serving ``clips`` cached clips in batches of ``batch``.

    Args:
        clips: random clips written to a memory-mapped cache first.
        batch: clips per batch.
        epochs: epochs served, first by the loader alone, then with the training hook.
    """
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "train.npy"
        cache = np.lib.format.open_memmap(
            path, mode="w+", dtype=np.int16, shape=(clips, CLIP_SAMPLES)
        )
        rng = np.random.default_rng(0)
        for start in range(0, clips, 4096):  # (rows, samples) blocks of quiet random audio
            rows = min(4096, clips - start)
            cache[start : start + rows] = rng.integers(-3000, 3000, (rows, CLIP_SAMPLES))
        cache.flush()
        del cache
        labels = rng.integers(0, 12, clips)  # the 12 classes, _silence_ first
        noise = rng.uniform(-0.5, 0.5, (6, 10 * CLIP_SAMPLES)).astype(np.float32)
        batches = ClipBatches(
            datasets={"train": ClipDataset(np.load(path, mmap_mode="r"), labels)},
            noise_bank=torch.from_numpy(noise),  # (files, samples)
            batch_size=batch,
            augmentation=Augmentation(),
            silence_label=0,
        )
        for hook in (False, True):
            for epoch in range(epochs):
                start = time.perf_counter()
                served = 0
                for clip_batch in batches.loader("train"):
                    if hook:
                        clip_batch = batches.training_batch(clip_batch)
                    served += len(clip_batch[1])
                seconds = time.perf_counter() - start
                what = "loader + int16->float + augmentation" if hook else "loader only"
                print(f"{what}, epoch {epoch}: {served} clips in {seconds:.3f} s")


def _time_build(make: Callable[[str], ClipDataModule]) -> tuple[int, float]:
    """``(clips, seconds)`` of checking and decoding a data set into a new cache.

    Args:
        make: the DataModule, given a fresh cache folder.
    """
    with tempfile.TemporaryDirectory() as cache_dir:
        dm = make(cache_dir)
        start = time.perf_counter()
        dm.prepare_data()
        seconds = time.perf_counter() - start
        dm.setup()
        return sum(len(d) for d in dm.datasets.values()), seconds


def build_cache(root: Path, test_set: str) -> None:
    """Print how long checking and decoding ``root`` into a new cache takes.

    Args:
        root: a Speech Commands tree.
        test_set: ``"list"`` or ``"official"``.
    """
    decoded, seconds = _time_build(
        lambda cache_dir: SpeechCommandsDataModule(
            root=str(root), test_set=test_set, cache_dir=cache_dir
        )
    )
    print(
        f"checked every clip and decoded {decoded} into the cache in {seconds:.2f} s "
        f"({decoded / seconds:.0f} clips/s)"
    )


def write_clip_trees(
    folder: Path, clips: int, rate: int = 44100, channels: int = 2, suffix: str = ".wav"
) -> tuple[Path, Path]:
    """The same ``clips`` recordings twice: a Speech Commands tree of 16 kHz mono WAV files
    (the 10 keywords' folders, the two lists, one noise file) and a folder data set at ``rate``
    with ``channels`` channels (resampled with soxr, the same take on each channel), no lists.

    The recordings cycle through 100 takes of ``kws.data.synthetic.speak``; every file has its
    own speaker name, so the hash splits both trees alike.

    Args:
        folder: where the two trees go (``mono16k/``, ``converted/``).
        clips: recordings in each tree, spread over the 10 keywords.
        rate: the second tree's sample rate, Hz. Default 44100.
        channels: its channel count. Default 2.
        suffix: its format, by file name ending. Default ``.wav``.

    Returns:
        The two trees' folders.
    """
    mono, converted = folder / "mono16k", folder / "converted"
    takes = [speak(KEYWORDS[i % 10], i // 10) for i in range(100)]  # (samples,) int16 each
    wide = [
        soxr.resample(take.astype(np.float32) / 32768.0, SAMPLE_RATE, rate)[:, None]
        * np.ones(channels, dtype=np.float32)
        for take in takes
    ]
    (mono / BACKGROUND_NOISE).mkdir(parents=True)
    noise = np.random.default_rng(0).uniform(-0.1, 0.1, 2 * SAMPLE_RATE)
    sf.write(mono / BACKGROUND_NOISE / "noise.wav", noise, SAMPLE_RATE, subtype="PCM_16")
    listed: dict[str, list[str]] = {"validation": [], "testing": []}
    for i in range(clips):
        word, name = KEYWORDS[i % 10], f"{i:08x}_nohash_0"
        for tree in (mono, converted):
            (tree / word).mkdir(parents=True, exist_ok=True)
        sf.write(mono / word / f"{name}.wav", takes[i % 100], SAMPLE_RATE, subtype="PCM_16")
        sf.write(converted / word / f"{name}{suffix}", wide[i % 100], rate, subtype="PCM_16")
        listed.setdefault(which_set(name), []).append(f"{word}/{name}.wav")
    for split, name in (("validation", VALIDATION_LIST), ("testing", TESTING_LIST)):
        (mono / name).write_text("".join(f"{rel}\n" for rel in listed[split]))
    return mono, converted


def compare_cache_builds(
    clips: int, rate: int, channels: int, suffix: str, rounds: int, json_path: str | None
) -> dict[str, float]:
    """Print the clips per second of three cache builds of the same recordings, each from an
    empty cache, in turns over ``rounds``: Speech Commands' build of 16 kHz mono WAV files, the
    folder source on the same files, and the folder source converting them at ``rate`` with
    ``channels`` channels; then the converted build's ratio to Speech Commands'.

    Args:
        clips: recordings per tree (``write_clip_trees``).
        rate: the converted tree's sample rate, Hz.
        channels: its channel count.
        suffix: its format, by file name ending.
        rounds: builds of each, taking turns; the median is reported.
        json_path: also write the results there; None: do not.

    Returns:
        ``{peer: median clips per second, ..., "ratio": converted / Speech Commands}``.
    """
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        mono, converted = write_clip_trees(Path(folder), clips, rate, channels, suffix)
        print(f"wrote {clips} clips twice in {time.perf_counter() - start:.1f} s")
        every_clip = {"keywords": list(KEYWORDS), "batch_size": 100}
        peers: dict[str, Callable[[str], ClipDataModule]] = {
            "speech commands, 16 kHz mono": lambda cache: SpeechCommandsDataModule(
                root=str(mono), test_set="list", silence_and_unknown=False, cache_dir=cache,
                **every_clip,
            ),
            "folder, 16 kHz mono": lambda cache: FolderDataModule(
                root=str(mono), unknown=False, cache_dir=cache, **every_clip
            ),
            f"folder, {rate / 1000:g} kHz {channels} ch {suffix}": lambda cache: FolderDataModule(
                root=str(converted), unknown=False, cache_dir=cache, **every_clip
            ),
        }  # fmt: skip
        speeds: dict[str, list[float]] = {name: [] for name in peers}
        for _ in range(rounds):
            for name, make in peers.items():
                decoded, seconds = _time_build(make)
                speeds[name].append(decoded / seconds)
                print(f"{name}: {decoded} clips checked and decoded in {seconds:.2f} s "
                      f"({decoded / seconds:.0f} clips/s)")  # fmt: skip
    report = {name: statistics.median(values) for name, values in speeds.items()}
    first, *_, last = report
    report["ratio"] = report[last] / report[first]
    print(f"median clips/s: {', '.join(f'{k} {v:.0f}' for k, v in report.items() if k != 'ratio')}"
          f"; converted / Speech Commands: {report['ratio']:.2f}x")  # fmt: skip
    if json_path:
        settings = {"clips": clips, "rate": rate, "channels": channels, "suffix": suffix,
                    "rounds": rounds}  # fmt: skip
        write_json(json_path, {"settings": settings, "clips_per_second": report})
    return report


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add the ``serve`` and ``cache`` commands.

    Args:
        commands: the CLI's subparsers.
    """
    serving = commands.add_parser("serve", help="serving epochs from a cache, without a model")
    serving.add_argument("--clips", type=int, default=37000)
    serving.add_argument("--batch", type=int, default=100)
    serving.add_argument("--epochs", type=int, default=3)
    serving.set_defaults(run=lambda args: serve_cached(args.clips, args.batch, args.epochs))
    building = commands.add_parser(
        "cache",
        help="building the decoded cache of a data set; without ROOT, 16 kHz mono WAV files "
        "against converting 44.1 kHz stereo ones (generated)",
    )
    building.add_argument("root", type=Path, nargs="?", help="a Speech Commands tree")
    building.add_argument("--test-set", default="list", choices=["list", "official"])
    building.add_argument("--clips", type=int, default=10000, help="without ROOT: per tree")
    building.add_argument("--rate", type=int, default=44100, help="without ROOT: converted Hz")
    building.add_argument("--channels", type=int, default=2, help="without ROOT: converted")
    building.add_argument("--suffix", default=".wav", help="without ROOT: converted format")
    building.add_argument("--rounds", type=int, default=1, help="without ROOT: builds of each")
    building.add_argument("--json", help="without ROOT: also write the results here")
    building.set_defaults(
        run=lambda args: (
            build_cache(args.root, args.test_set)
            if args.root
            else compare_cache_builds(
                args.clips, args.rate, args.channels, args.suffix, args.rounds, args.json
            )
        )
    )
