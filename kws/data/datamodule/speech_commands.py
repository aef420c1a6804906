"""Google Speech Commands v0.02 as a DataModule: the 12-class (or all-word) protocol.

Class order: ``_silence_``, ``_unknown_``, then the keywords in the order configured (by default
yes, no, up, down, left, right, on, off, stop, go), as TensorFlow's ``input_data`` orders them.
With ``keywords`` set to every word and ``silence_and_unknown=False`` it is the 35-word task.
What is missing is downloaded (or generated) by ``kws.data.sources``; the rest is
``ClipDataModule``'s.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from functools import partial
from pathlib import Path
from typing import Any, ClassVar, Literal

from kws.data.augment import Augmentation
from kws.data.datamodule.base import ClipDataModule
from kws.data.datamodule.settings import check_common_settings
from kws.data.download import SPEECH_COMMANDS, SPEECH_COMMANDS_TEST, Archive
from kws.data.index import SpeechCommandsIndex
from kws.data.layout import (
    DATA_SET_CONTENTS,
    DEFAULT_ROOT,
    KEYWORDS,
    TEST_SET_CONTENTS,
    TEST_SET_FOLDER,
    WORDS,
)
from kws.data.sources import DataFolder, fetch_missing, require
from kws.data.split_protocol import Protocol
from kws.data.stream_audio import SplitClips, find_clips
from kws.data.stream_examples import make_stream_examples
from kws.data.synthetic import DEFAULT_SPEAKERS, SECONDS_PER_SPEAKER, generate
from kws.registry import register

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


@register("data")
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
    PATH_KEYS: ClassVar[tuple[str, ...]] = ("root", "test_root", "rir_dir")
    RESUME_KEYS: ClassVar[tuple[str, ...]] = ("root", "test_root", "test_set", "protocol", "seed")

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
        self.clip_source = SpeechCommandsIndex(
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
        self.augmentation = (
            Augmentation.for_clips(augmentation, self.sample_rate) if augment else None
        )
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
        builder = self.clip_source
        return find_clips(self.root, split, builder.keywords, self.test_root if official else None)

    def _require(self) -> None:
        """Raise ``DatasetNotFoundError`` naming a missing data set folder."""
        require(self.folders)
