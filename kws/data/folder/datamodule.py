"""``FolderDataModule``: a folder of one's own recordings as a LightningDataModule
(``data=folder``), over ``FolderIndex`` and the same cache and batches as Speech Commands."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from kws.data.augment import Augmentation
from kws.data.clip_format import Align
from kws.data.datamodule import ClipDataModule, check_common_settings
from kws.data.folder.index import FolderIndex
from kws.data.folder.settings import REMOVED_SETTINGS, check_settings
from kws.data.folder.speakers import DEFAULT_SPEAKER_PATTERN
from kws.data.layout import UNKNOWN
from kws.data.split_protocol import Protocol
from kws.data.stream_audio import SplitClips
from kws.data.stream_examples import make_stream_examples
from kws.registry import register

#: The import path saved as ``_target_`` in the hyper-parameters, to rebuild a saved DataModule.
TARGET = "kws.data.FolderDataModule"


@register("data")
class FolderDataModule(ClipDataModule):
    """A folder of one's own recordings as a LightningDataModule (``FolderIndex``): decoded once
    into the cache, converted to 16 kHz mono clips of ``clip_seconds``, served and augmented
    as Speech Commands is.

    The hyper-parameters (saved in checkpoints) are the arguments, paths made absolute, plus
    ``"_target_": "kws.data.FolderDataModule"``, so that evaluation rebuilds the data set from
    the checkpoint.

    Args:
        root: the folder of word folders.
        keywords: the words to spot, in class order: folder names of ``root``.
        negatives: folders of recordings without the keywords (any length), cut into clips
            for ``_unknown_``. Default: none.
        noise_dir: background-noise recordings for ``_silence_`` and the noise augmentation;
            None (default): no ``_silence_``, the augmentation only shifts.
        unknown: add the ``_unknown_`` class (every other word folder, ``negatives``).
        clip_seconds: the clip length, in seconds; every recording is padded or cut to it.
            Default 1.0.
        align: which ``clip_seconds`` of a longer take make its clip: ``loudest`` (default),
            ``start`` or ``cut`` (``FolderIndex``).
        long_clips: removed (``align`` replaced it): any value but None raises ``ValueError``
            naming ``data.align``. Kept out of the hyper-parameters.
        long_tolerance_s: removed, as ``long_clips``.
        speaker_pattern: finds the speaker in a clip's path (``FolderIndex``).
        validation_percentage: share of the speakers in validation, without list files.
        testing_percentage: share of the speakers in testing, without list files.
        protocol: ``bcresnet``, ``tensorflow`` or ``all_unknown`` (``kws.data.split_protocol``).
        cache_dir: where decoded caches go; None: ``cache`` beside ``root``.
        batch_size: training clips per batch, in [1, 65536].
        eval_batch_size: validation and test clips per batch, in [1, 65536]; None: ``batch_size``.
        num_workers: DataLoader worker processes, in [0, 1024].
        seed: for the unknown subset and the evaluation silence.
        skip_bad_files: leave bad source files out instead of stopping.
        rebuild_cache: rebuild a damaged cache; False: stop, naming the file.
        on_device: keep the training split on the accelerator and gather batches there.
        augment: augment training batches on the device.
        augmentation: ``Augmentation`` settings; None: its defaults (BC-ResNet's).
        rir_dir: room impulse responses (WAV, any rate and channels) for
            ``augmentation.rir_prob``. Default None: none.
        stream_examples: ``kws.data.stream_examples.StreamExamples`` settings: stream-shaped
            training batches, their keyword-free stream made of the training split's
            ``_unknown_`` clips (other word folders and ``negatives``' pieces) over
            ``noise_dir``'s recordings; None (default): clips only.

    Raises:
        ValueError: a setting out of range, naming its config key (``data.clip_seconds``, ...).
    """

    PATH_KEYS: ClassVar[tuple[str, ...]] = ("root", "negatives", "noise_dir", "rir_dir")
    #: the splits are drawn by speaker from these, beside the root, protocol and seed
    RESUME_KEYS: ClassVar[tuple[str, ...]] = (
        "root", "protocol", "seed", "speaker_pattern", "validation_percentage",
        "testing_percentage",
    )  # fmt: skip

    def __init__(
        self,
        root: str,
        keywords: Sequence[str],
        negatives: Sequence[str] = (),
        noise_dir: str | None = None,
        unknown: bool = True,
        clip_seconds: float = 1.0,
        align: Align = "loudest",
        long_clips: Any = None,
        long_tolerance_s: Any = None,
        speaker_pattern: str = DEFAULT_SPEAKER_PATTERN,
        validation_percentage: float = 10.0,
        testing_percentage: float = 10.0,
        protocol: Protocol = "bcresnet",
        cache_dir: str | None = None,
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
    ) -> None:
        super().__init__()
        keywords = list(keywords)
        check_common_settings(keywords, protocol, batch_size, eval_batch_size, num_workers)
        removed = {"long_clips": long_clips, "long_tolerance_s": long_tolerance_s}
        check_settings(
            keywords, negatives, noise_dir is not None, unknown, clip_seconds, align, removed,
            speaker_pattern, validation_percentage, testing_percentage,
        )  # fmt: skip
        # Absolute paths in the hyper-parameters (and so in checkpoints): evaluate.py finds the
        # data again from any working directory.
        root = str(Path(root).absolute())
        negatives = [str(Path(path).absolute()) for path in negatives]
        noise_dir = str(Path(noise_dir).absolute()) if noise_dir else None
        cache_dir = str(Path(cache_dir).absolute()) if cache_dir else None
        rir_dir = str(Path(rir_dir).absolute()) if rir_dir else None
        self.save_hyperparameters(ignore=list(REMOVED_SETTINGS))
        self.hparams["_target_"] = TARGET  # after saving: not an argument, not logged
        self.root = Path(root)
        self.cache_dir = Path(cache_dir) if cache_dir else self.root.parent / "cache"
        self.clip_source = FolderIndex(
            root=self.root,
            keywords=tuple(keywords),
            negatives=tuple(Path(path) for path in negatives),
            noise_dir=Path(noise_dir) if noise_dir else None,
            unknown=unknown,
            protocol=protocol,
            seed=seed,
            clip_seconds=float(clip_seconds),
            align=align,
            speaker_pattern=speaker_pattern,
            validation_percentage=float(validation_percentage),
            testing_percentage=float(testing_percentage),
        )
        self.augmentation = (
            Augmentation.for_clips(augmentation, self.sample_rate) if augment else None
        )
        self.rir_dir = Path(rir_dir) if rir_dir else None
        self.stream_examples = make_stream_examples(stream_examples, self.class_names)

    def stream_clips(self, split: str) -> SplitClips:
        """A split's clips for a long test stream (``kws.data.stream_audio.write_word_stream``),
        after ``setup``: its keyword and ``_unknown_`` clips as the index chose them, read as the
        cache reads them (16 kHz mono, ``clip_seconds`` long), and ``noise_dir``'s recordings for
        the background (none without one).

        Args:
            split: ``train``, ``val`` or ``test``.

        Raises:
            RuntimeError: ``setup`` has not run.
        """
        if split not in self.split_index:
            raise RuntimeError("the data is not set up yet: call setup() first")
        builder, names = self.clip_source, self.class_names
        by_label: dict[str, list[Path]] = {}
        index = self.split_index[split]
        for path, label in zip(index.paths, index.labels, strict=True):
            if path:  # silence rows are made, not read
                by_label.setdefault(names[label], []).append(builder.root / path)

        def read(path: Path) -> np.ndarray:
            return builder.read(path).astype(np.float32) / np.float32(32768.0)

        return SplitClips(
            split,
            {word: by_label.get(word, []) for word in builder.keywords},
            by_label.get(UNKNOWN, []),
            builder.noise_files(),
            builder.clip_format,
            read,
        )
