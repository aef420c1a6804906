"""``ClipDataModule``: a data source decoded once into the cache and served from it, the
Lightning hooks every kws DataModule shares.

``prepare_data`` gets what is missing (the subclass's ``_fetch``), then decodes every split once
into the cache (``kws.data.prepare``); ``setup`` memory-maps it, so no epoch reads a WAV file,
and serves it through ``ClipBatches`` (``kws.data.batches``), which also works without a Trainer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from kws.data.augment import Augmentation
from kws.data.batches import ClipBatches
from kws.data.cache import ClipCache
from kws.data.clip_format import ClipFormat
from kws.data.datasets import ClipDataset
from kws.data.layout import SILENCE
from kws.data.noise import read_rirs, rir_bank, synthesise_rooms
from kws.data.prepare import ClipSource, prepare_cache
from kws.data.split_protocol import SPLITS, SplitIndex
from kws.data.stream_examples import StreamExamples, keyword_free_stream, stream_classes


class ClipDataModule(pl.LightningDataModule):
    """A data source decoded once into the cache and served from it: the Lightning hooks every
    kws DataModule shares.

    A subclass's ``__init__`` calls ``super().__init__()``, saves its arguments as the
    hyper-parameters (``batch_size``, ``eval_batch_size``, ``num_workers``, ``on_device``,
    ``skip_bad_files`` and ``rebuild_cache`` among them) and sets ``clip_source`` (the
    source, ``kws.data.prepare.ClipSource``), ``cache_dir``, ``augmentation`` and ``rir_dir``
    (``seed`` among the hyper-parameters draws the synthesised rooms); it may
    override ``_fetch`` and ``_require``, and sets ``stream_examples`` for stream-shaped training
    batches (``kws.data.stream_examples``), whose keyword-free stream is made from
    ``stream_clips("train")``.

    Attributes:
        OFFLINE: the arguments that make a saved configuration rebuild without downloading or
            generating anything, the keyword-free training stream included, and without the
            training augmentation (its room impulse responses): evaluation from a checkpoint
            passes them.
        PATH_KEYS: the settings that name files or folders (a list: each of its entries),
            which a checkpoint's saved settings must give as absolute paths to be rebuilt.
        RESUME_KEYS: the settings a resumed run must share with its checkpoint: which clips,
            in which split.
    """

    OFFLINE: ClassVar[dict[str, Any]] = {"stream_examples": None, "augment": False}
    PATH_KEYS: ClassVar[tuple[str, ...]] = ("root", "rir_dir")
    RESUME_KEYS: ClassVar[tuple[str, ...]] = ("root", "protocol", "seed")
    clip_source: ClipSource
    cache_dir: Path
    augmentation: Augmentation | None
    rir_dir: Path | None = None
    stream_examples: StreamExamples | None = None

    def __init__(self) -> None:
        super().__init__()
        self.split_index: dict[str, SplitIndex] = {}
        self.skipped_files: dict[str, str] = {}
        self._cache: ClipCache | None = None
        self._batches: ClipBatches | None = None
        self._rirs: torch.Tensor | None = None

    @property
    def class_names(self) -> list[str]:
        """The class names, in label order."""
        return self.clip_source.class_names

    @property
    def num_classes(self) -> int:
        """The number of classes."""
        return len(self.class_names)

    @property
    def clip_format(self) -> ClipFormat:
        """The clips' format, the one owner of their sample rate and length: every source file
        is read or converted to it, the module is sized for it and the frontend checked
        against it (``kws.tasks.train.build_module``)."""
        return self.clip_source.clip_format

    @property
    def clip_samples(self) -> int:
        """Samples per clip (``clip_format``'s): what the model's input is sized for."""
        return self.clip_format.clip_samples

    @property
    def sample_rate(self) -> int:
        """The clips' sample rate in Hz (``clip_format``'s)."""
        return self.clip_format.sample_rate

    @property
    def batches(self) -> ClipBatches:
        """The cached splits' loaders and device-side batch handling, after ``setup``.

        Raises:
            RuntimeError: ``setup`` has not run.
        """
        if self._batches is None:
            raise RuntimeError("the data is not set up yet: call setup() first")
        return self._batches

    @property
    def datasets(self) -> dict[str, ClipDataset]:
        """``{split: ClipDataset}`` of the memory-mapped cache; empty before ``setup``."""
        return {} if self._batches is None else self._batches.datasets

    def _fetch(self) -> None:
        """Get what is missing (``prepare_data``, one process per node); nothing by default."""

    def _require(self) -> None:
        """Raise if a folder the source reads is missing; nothing by default (the source's
        scan names it)."""

    def rirs(self) -> torch.Tensor | None:
        """The room impulse responses the augmentation reverberates with (read and made once):
        ``rir_dir``'s and ``augmentation.rooms`` synthesised rooms (``kws.data.noise``), a clip
        long at most; None without ``augmentation.rir_prob``.

        Returns:
            ``(responses, taps)`` float32, or None.

        Raises:
            ValueError: ``rir_prob`` is set with neither ``rir_dir`` nor ``rooms``.
            FileNotFoundError, BadFileError: ``rir_dir`` is missing, empty or holds a bad file.
        """
        settings = self.augmentation
        if self._rirs is not None or settings is None or settings.rir_prob is None:
            return self._rirs
        if self.rir_dir is None and settings.rooms is None:
            raise ValueError(
                "data.augmentation.rir_prob needs room impulse responses: set data.rir_dir or "
                "data.augmentation.rooms"
            )
        taps = self.clip_samples
        found = [] if self.rir_dir is None else read_rirs(self.rir_dir, taps)
        if settings.rooms is not None:
            rng = np.random.default_rng(self.hparams.seed)
            found += synthesise_rooms(settings.rooms, settings.rt60_s, rng, taps)
        self._rirs = torch.from_numpy(rir_bank(found))
        return self._rirs

    def prepare_data(self) -> None:
        """Check and read the room impulse responses, get what is missing, then build the
        decoded cache if needed."""
        self.rirs()
        self._fetch()
        if self._batches is None:  # set up in this process already: its cache is whole
            self._cache = self._open_cache()  # kept for setup: the source tree is scanned once

    def setup(self, stage: str | None = None) -> None:
        """Memory-map the decoded cache (building it first if ``prepare_data`` did not).

        Args:
            stage: Lightning's stage; every split is set up whatever it is.
        """
        if self._batches is not None:
            return
        rirs = self.rirs()  # before the cache: a bad rir_dir stops the run before long work
        cache = self._cache or self._open_cache()
        hparams = self.hparams
        self.split_index = {split: cache.index(split) for split in SPLITS}
        names = self.class_names
        settings = self.stream_examples
        keyword_free = None
        if settings is not None and settings.uses_stream:
            keyword_free = keyword_free_stream(
                self.stream_clips("train"), settings, self.hparams.seed
            )
        self._batches = ClipBatches(
            datasets={
                split: ClipDataset(cache.clips(split), self.split_index[split].labels)
                for split in SPLITS
            },
            noise_bank=torch.from_numpy(cache.noise()),
            rir_bank=rirs,
            batch_size=hparams.batch_size,
            eval_batch_size=hparams.eval_batch_size,
            num_workers=hparams.num_workers,
            on_device=hparams.on_device,
            augmentation=self.augmentation,
            silence_label=names.index(SILENCE) if SILENCE in names else None,
            stream_examples=settings,
            stream_classes=None if settings is None else stream_classes(names),
            keyword_free=keyword_free,
        )

    def _open_cache(self) -> ClipCache:
        """The cache of this configuration (``prepare_cache``); notes the skipped files."""
        self._require()
        cache = prepare_cache(
            self.clip_source,
            self.cache_dir,
            skip_bad_files=self.hparams.skip_bad_files,
            rebuild_cache=self.hparams.rebuild_cache,
        )
        self.skipped_files = cache.skipped
        return cache

    def build_index(self) -> dict[str, SplitIndex]:
        """Relative clip paths and labels per split under the configured protocol, straight
        from the tree (the source's ``build_index``); the cache holds the same."""
        return self.clip_source.build_index()

    def train_dataloader(self) -> DataLoader:
        return self._loader("train")

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")

    def _loader(self, split: str) -> DataLoader:
        if self._batches is None:
            self.setup()
        return self.batches.loader(split)

    def augment(self, waveforms: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Training augmentation of a batch, without a Trainer (after ``setup``); the waveforms
        unchanged with ``augment=False``.

        Args:
            waveforms: ``(batch, samples)`` float in [-1, 1], on any device.
            labels: ``(batch,)`` int64 class indices, on the same device.

        Returns:
            ``(batch, samples)``, a new tensor when augmented.
        """
        return self.batches.augment(waveforms, labels)

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """int16 clips become float waveforms on the device; training batches get augmented."""
        if self.trainer is not None and self.trainer.training:
            return self.batches.training_batch(batch, self.trainer.current_epoch)
        return self.batches.waveforms(batch)
