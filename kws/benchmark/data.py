"""The data benchmarks, without a model: ``serve`` times serving cached epochs (random int16 clips
in a memory map: no WAV files needed), with and without the int16-to-float conversion and
augmentation; ``cache`` times checking and decoding a data set into a fresh cache.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from kws.data import SpeechCommandsDataModule
from kws.data.augment import Augmentation
from kws.data.batches import ClipBatches
from kws.data.datasets import ClipDataset
from kws.data.layout import CLIP_SAMPLES


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


def build_cache(root: Path, test_set: str) -> None:
    """Print how long checking and decoding ``root`` into a new cache takes.

    Args:
        root: a Speech Commands tree.
        test_set: ``"list"`` or ``"official"``.
    """
    with tempfile.TemporaryDirectory() as cache_dir:
        dm = SpeechCommandsDataModule(root=str(root), test_set=test_set, cache_dir=cache_dir)
        start = time.perf_counter()
        dm.prepare_data()
        seconds = time.perf_counter() - start
        dm.setup()
        decoded = sum(len(d) for d in dm.datasets.values())
        print(
            f"checked every clip and decoded {decoded} into the cache in {seconds:.2f} s "
            f"({decoded / seconds:.0f} clips/s)"
        )


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
    building = commands.add_parser("cache", help="building the decoded cache of a data set")
    building.add_argument("root", type=Path)
    building.add_argument("--test-set", default="list", choices=["list", "official"])
    building.set_defaults(run=lambda args: build_cache(args.root, args.test_set))
