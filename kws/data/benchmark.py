"""Time the data path without a model: serving cached epochs, and building the cache.

Usage::

    python -m kws.data.benchmark serve [--clips 37000] [--batch 100] [--epochs 3]
    python -m kws.data.benchmark build DATA_ROOT [--test-set list]

``serve`` writes a memory-mapped int16 cache of ``--clips`` one-second clips (random values: no
WAV files needed) and times full training epochs through the DataModule's own loader, with and
without ``on_after_batch_transfer`` (int16 to float and the augmentation, here on the CPU).
``build`` times decoding a data set's splits into a fresh cache (in a temporary folder).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from kws.data.layout import CLIP_SAMPLES
from kws.data.speech_commands import ClipDataset, SpeechCommandsDataModule


class _Training:
    """Stands in for the Trainer so that ``on_after_batch_transfer`` augments."""

    training = True


def serve(clips: int, batch: int, epochs: int) -> None:
    """Print the seconds per epoch of serving ``clips`` cached clips in batches of ``batch``."""
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
        labels = rng.integers(0, 12, clips)
        dm = SpeechCommandsDataModule(batch_size=batch)
        dm.datasets["train"] = ClipDataset(np.load(path, mmap_mode="r"), labels)
        noise = rng.uniform(-0.5, 0.5, (6, 10 * CLIP_SAMPLES)).astype(np.float32)
        dm.noise_bank = torch.from_numpy(noise)  # (files, samples)
        dm.trainer = _Training()
        for hook in (False, True):
            for epoch in range(epochs):
                start = time.perf_counter()
                served = 0
                for clip_batch in dm.train_dataloader():
                    if hook:
                        clip_batch = dm.on_after_batch_transfer(clip_batch, 0)
                    served += len(clip_batch[1])
                seconds = time.perf_counter() - start
                what = "loader + int16->float + augmentation" if hook else "loader only"
                print(f"{what}, epoch {epoch}: {served} clips in {seconds:.3f} s")


def build(root: Path, test_set: str) -> None:
    """Print how long checking and decoding ``root`` into a new cache takes."""
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m kws.data.benchmark", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serving = commands.add_parser("serve", help="time serving epochs from a cache")
    serving.add_argument("--clips", type=int, default=37000)
    serving.add_argument("--batch", type=int, default=100)
    serving.add_argument("--epochs", type=int, default=3)
    building = commands.add_parser("build", help="time building the cache of a data set")
    building.add_argument("root", type=Path)
    building.add_argument("--test-set", default="list", choices=["list", "official"])
    args = parser.parse_args(argv)
    if args.command == "serve":
        serve(args.clips, args.batch, args.epochs)
    else:
        build(args.root, args.test_set)


if __name__ == "__main__":
    main()
