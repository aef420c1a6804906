"""The Lightning DataModules' shared part (``ClipDataModule``) and Google Speech Commands v0.02
as one: the 12-class (or all-word) protocol.

Class order: ``_silence_``, ``_unknown_``, then the keywords in the order configured (by default
yes, no, up, down, left, right, on, off, stop, go), as TensorFlow's ``input_data`` orders them.
With ``keywords`` set to every word and ``silence_and_unknown=False`` it is the 35-word task.

``prepare_data`` gets what is missing (``kws.data.sources``), then decodes every split once into
the cache (``kws.data.prepare``); ``setup`` memory-maps it, so no epoch reads a WAV file, and
serves it through ``ClipBatches`` (``kws.data.batches``), which also works without a Trainer.
A folder of one's own words (``kws.data.folder``) is the same ``ClipDataModule`` over another
source.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from functools import partial
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from kws.checks import check_number
from kws.data.augment import Augmentation
from kws.data.batches import ClipBatches
from kws.data.cache import ClipCache
from kws.data.datasets import ClipDataset
from kws.data.download import SPEECH_COMMANDS, SPEECH_COMMANDS_TEST, Archive
from kws.data.index import IndexBuilder
from kws.data.layout import (
    DATA_SET_CONTENTS,
    DEFAULT_ROOT,
    KEYWORDS,
    SILENCE,
    TEST_SET_CONTENTS,
    TEST_SET_FOLDER,
    WORDS,
)
from kws.data.noise import read_rirs, rir_bank, synthesise_rooms
from kws.data.prepare import ClipSource, prepare_cache
from kws.data.protocol import PROTOCOLS, SPLITS, Protocol, SplitIndex
from kws.data.sources import DataFolder, fetch_missing, require
from kws.data.stream_audio import SplitClips, find_clips
from kws.data.stream_examples import (
    StreamExamples,
    keyword_free_stream,
    make_stream_examples,
    stream_classes,
)
from kws.data.synthetic import DEFAULT_SPEAKERS, SECONDS_PER_SPEAKER, generate

#: The most clips in a batch: 65,536 one-second clips are 2 GiB of int16 audio and 8 GiB of
#: float32 waveforms on the device, past any keyword-spotting run's memory.
MAX_BATCH_SIZE = 65536
#: The most DataLoader worker processes (each a process with its own copy of the loader).
MAX_WORKERS = 1024

#: The import path saved as ``_target_`` in the hyper-parameters, to rebuild a saved DataModule.
TARGET = "kws.data.SpeechCommandsDataModule"


def _check_settings(
    keywords: Collection[str],
    protocol: str,
    test_set: str,
    batch_size: int,
    eval_batch_size: int | None,
    num_workers: int,
) -> None:
    """Raise ``ValueError`` naming the config key of the first setting out of range."""
    if test_set not in ("official", "list"):
        raise ValueError(f"data.test_set must be 'official' or 'list', got {test_set!r}")
    check_common_settings(keywords, protocol, batch_size, eval_batch_size, num_workers)
    strangers = [word for word in keywords if word not in WORDS]
    if strangers:
        raise ValueError(
            f"data.keywords: {strangers} not among the Speech Commands words {list(WORDS)}"
        )


def check_common_settings(
    keywords: Collection[str],
    protocol: str,
    batch_size: int,
    eval_batch_size: int | None,
    num_workers: int,
) -> None:
    """Raise ``ValueError`` naming the config key of the first setting every data source shares
    that is out of range.

    Args:
        keywords: the words to spot: at least one, each once.
        protocol: one of ``kws.data.protocol.PROTOCOLS``.
        batch_size: a whole number in ``[1, MAX_BATCH_SIZE]``.
        eval_batch_size: a whole number in ``[1, MAX_BATCH_SIZE]``, or None.
        num_workers: a whole number in ``[0, MAX_WORKERS]``.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"data.protocol must be one of {list(PROTOCOLS)}, got {protocol!r}")
    if not keywords:
        raise ValueError("data.keywords is empty: name at least one word to spot")
    repeated = sorted({word for word in keywords if list(keywords).count(word) > 1})
    if repeated:
        raise ValueError(f"data.keywords names {repeated} more than once: each word is one class")
    check_number("data.batch_size", batch_size, 1, MAX_BATCH_SIZE, integer=True)
    if eval_batch_size is not None:
        check_number("data.eval_batch_size", eval_batch_size, 1, MAX_BATCH_SIZE, integer=True)
    check_number("data.num_workers", num_workers, 0, MAX_WORKERS, integer=True)


class ClipDataModule(pl.LightningDataModule):
    """A data source decoded once into the cache and served from it: the Lightning hooks every
    kws DataModule shares.

    A subclass's ``__init__`` calls ``super().__init__()``, saves its arguments as the
    hyper-parameters (``batch_size``, ``eval_batch_size``, ``num_workers``, ``on_device``,
    ``skip_bad_files`` and ``rebuild_cache`` among them) and sets ``index_builder`` (the
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
    """

    OFFLINE: ClassVar[dict[str, Any]] = {"stream_examples": None, "augment": False}
    index_builder: ClipSource
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
        return self.index_builder.class_names

    @property
    def num_classes(self) -> int:
        """The number of classes."""
        return len(self.class_names)

    @property
    def clip_samples(self) -> int:
        """Samples per clip (16 kHz): what the model's input is sized for."""
        return self.index_builder.clip_format.clip_samples

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
            self.index_builder,
            self.cache_dir,
            skip_bad_files=self.hparams.skip_bad_files,
            rebuild_cache=self.hparams.rebuild_cache,
        )
        self.skipped_files = cache.skipped
        return cache

    def build_index(self) -> dict[str, SplitIndex]:
        """Relative clip paths and labels per split under the configured protocol, straight
        from the tree (the source's ``build_index``); the cache holds the same."""
        return self.index_builder.build_index()

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


class SpeechCommandsDataModule(ClipDataModule):
    """Speech Commands v0.02 under ``root``: splits from the official lists, 12-class protocol.

    ``protocol="bcresnet"`` caps silence and unknown at the mean keyword-class size per split
    (the unknown subset drawn once from ``seed``); ``"tensorflow"`` uses 10% of the keyword
    count for each; ``"all_unknown"`` keeps every non-keyword clip, silence as ``bcresnet``.
    ``test_set="list"`` tests on ``testing_list.txt``; ``"official"`` on the separate 12-class
    test archive extracted at ``test_root`` (default: beside ``root``).
    Decoded clips are cached under ``cache_dir`` (default: ``cache`` beside ``root``). Bad
    source files stop the build with a list of all of them unless ``skip_bad_files``, which
    leaves them out; ``skipped_files`` then maps each to its problem. Every split must hold
    clips: an empty one is an error in ``prepare_data`` / ``setup``, before any training.

    The hyper-parameters (saved in checkpoints) are the arguments, paths made absolute and
    ``keywords`` filled in, plus ``"_target_": "kws.data.SpeechCommandsDataModule"``, so that a
    caller can rebuild the saved DataModule; the constructor does not take ``_target_``.

    Args:
        root: the extracted data set (downloaded or generated there when missing).
        test_root: the extracted official test archive; None: beside ``root``.
        cache_dir: where decoded caches go; None: ``cache`` beside ``root``.
        download: fetch a missing data set; False: stop and say what is missing.
        archive_url: the data set archive (default: Google's, ``kws.data.download``).
        archive_sha256: its sha256.
        test_archive_url: the official test archive (default: Google's).
        test_archive_sha256: its sha256.
        keywords: the words to spot, each a Speech Commands word, each once; None: the 10
            keywords of the 12-class task (``kws.data.layout.KEYWORDS``).
        silence_and_unknown: add the ``_silence_`` and ``_unknown_`` classes.
        protocol: ``bcresnet``, ``tensorflow`` or ``all_unknown`` (see above).
        test_set: ``official`` or ``list`` (see above).
        batch_size: training clips per batch, in ``[1, MAX_BATCH_SIZE]`` (65,536).
        eval_batch_size: validation and test clips per batch, in ``[1, MAX_BATCH_SIZE]``;
            None: ``batch_size``.
        num_workers: DataLoader worker processes, in ``[0, MAX_WORKERS]`` (1,024).
        seed: for the unknown subset and the evaluation silence (and generated data).
        skip_bad_files: leave bad source files out instead of stopping.
        rebuild_cache: rebuild a cache found damaged (a file missing, cut short or changed since
            its build); False: stop with an error naming the file.
        on_device: keep the training split on the accelerator and gather batches there.
        augment: augment training batches on the device.
        augmentation: ``Augmentation`` settings; None: its defaults (BC-ResNet's).
        rir_dir: a folder of room impulse responses (WAV files, any rate and channel count) for
            the reverberation of ``augmentation.rir_prob``; None (default): none (or only
            ``augmentation.rooms``' synthesised rooms).
        stream_examples: ``StreamExamples`` settings: stream-shaped training batches (placed and
            partial keywords, windows of a keyword-free stream of the training split, hard
            negatives); None (default): clips only.
        generate_synthetic: generate a synthetic data set at ``root`` when it is missing.
        synthetic_speakers: speakers to generate; None: the generator's default.

    Raises:
        ValueError: a setting out of range, naming its config key (``data.batch_size``, ...).
    """

    OFFLINE: ClassVar[dict[str, Any]] = {
        "download": False, "generate_synthetic": False, "stream_examples": None, "augment": False,
    }  # fmt: skip

    def __init__(
        self,
        root: str = DEFAULT_ROOT,
        test_root: str | None = None,
        cache_dir: str | None = None,
        download: bool = True,
        archive_url: str = SPEECH_COMMANDS.url,
        archive_sha256: str = SPEECH_COMMANDS.sha256,
        test_archive_url: str = SPEECH_COMMANDS_TEST.url,
        test_archive_sha256: str = SPEECH_COMMANDS_TEST.sha256,
        keywords: Sequence[str] | None = None,
        silence_and_unknown: bool = True,
        protocol: Protocol = "bcresnet",
        test_set: Literal["official", "list"] = "official",
        batch_size: int = 100,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        seed: int = 0,
        skip_bad_files: bool = False,
        rebuild_cache: bool = True,
        on_device: bool = False,
        augment: bool = True,
        augmentation: dict[str, Any] | None = None,
        rir_dir: str | None = None,
        stream_examples: dict[str, Any] | None = None,
        generate_synthetic: bool = False,
        synthetic_speakers: int | None = None,
    ) -> None:
        super().__init__()
        keywords = list(KEYWORDS if keywords is None else keywords)
        _check_settings(keywords, protocol, test_set, batch_size, eval_batch_size, num_workers)
        # Absolute paths in the hyper-parameters (and so in checkpoints): evaluate.py finds the
        # data again from any working directory.
        root = str(Path(root).absolute())
        test_root = str(Path(test_root).absolute()) if test_root else None
        cache_dir = str(Path(cache_dir).absolute()) if cache_dir else None
        rir_dir = str(Path(rir_dir).absolute()) if rir_dir else None
        self.save_hyperparameters()
        self.hparams["_target_"] = TARGET  # after saving: not an argument, not logged
        self.root = Path(root)
        self.test_root = Path(test_root) if test_root else self.root.parent / TEST_SET_FOLDER
        self.cache_dir = Path(cache_dir) if cache_dir else self.root.parent / "cache"
        self.rir_dir = Path(rir_dir) if rir_dir else None
        self.index_builder = IndexBuilder(
            root=self.root,
            test_root=self.test_root if test_set == "official" else None,
            keywords=tuple(keywords),
            silence_and_unknown=silence_and_unknown,
            protocol=protocol,
            seed=seed,
        )
        speakers = synthetic_speakers or DEFAULT_SPEAKERS
        seconds = math.ceil(speakers * SECONDS_PER_SPEAKER)
        make = partial(generate, seed=seed, speakers=speakers) if generate_synthetic else None
        self.folders = [  # what this configuration reads, and how to get it
            DataFolder(
                self.root,
                Archive(archive_url, archive_sha256),
                DATA_SET_CONTENTS,
                alternative="`python train.py data=synthetic` trains offline on generated data",
                generate=make,
                generating=f"a synthetic data set of {speakers} speakers (about {seconds} s on 2 "
                "CPU cores; once, kept for later runs)",
            )
        ]
        if test_set == "official":
            self.folders.append(
                DataFolder(
                    self.test_root,
                    Archive(test_archive_url, test_archive_sha256),
                    TEST_SET_CONTENTS,
                    alternative="data.test_set=list tests on testing_list.txt instead",
                )
            )
        self.augmentation = Augmentation(**(augmentation or {})) if augment else None
        self.stream_examples = make_stream_examples(stream_examples, self.class_names)

    def _fetch(self) -> None:
        """Download (or generate) what is missing."""
        fetch_missing(self.folders, self.hparams.download)

    def stream_clips(self, split: str) -> SplitClips:
        """Every clip of a split's word folders, for a long test stream
        (``kws.data.stream_audio``): the official archive's for ``test`` when this data tests on
        it, else the lists'.

        Args:
            split: ``train``, ``val`` or ``test``.
        """
        official = self.hparams.test_set == "official" and split == "test"
        builder = self.index_builder
        return find_clips(self.root, split, builder.keywords, self.test_root if official else None)

    def _require(self) -> None:
        """Raise ``DatasetNotFoundError`` naming a missing data set folder."""
        require(self.folders)
