"""Google Speech Commands v0.02 as a LightningDataModule: the 12-class (or all-word) protocol.

Class order: ``_silence_``, ``_unknown_``, then the keywords in the order configured (by default
yes, no, up, down, left, right, on, off, stop, go), as TensorFlow's ``input_data`` orders them.
With ``keywords`` set to every word and ``silence_and_unknown=False`` it is the 35-word task.

``prepare_data`` downloads and extracts what is missing, then decodes every split once into the
cache (``kws.data.cache``); ``setup`` memory-maps it, so no epoch reads a WAV file. Batches move
to the device as int16 and become float waveforms there, where augmentation runs vectorised over
the batch; with ``on_device`` the whole training split waits on the device and batches are
gathered there.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable
from numbers import Integral
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
import pytorch_lightning as pl
import torch
import torch.distributed as dist
from pytorch_lightning.overrides.distributed import UnrepeatedDistributedSampler
from torch.utils.data import DataLoader, Dataset

from kws.data.audio import BadAudioError, inspect_clips, read_noise
from kws.data.augment import Augmentation, crops
from kws.data.cache import (
    BadFilesError,
    CacheDamagedError,
    ClipCache,
    SplitSource,
    fingerprint,
    list_folder,
    scan_tree,
)
from kws.data.download import (
    SPEECH_COMMANDS,
    SPEECH_COMMANDS_TEST,
    Archive,
    DownloadError,
    download_and_extract,
)
from kws.data.layout import (
    BACKGROUND_NOISE,
    CLIP_SAMPLES,
    KEYWORDS,
    SILENCE,
    TEST_SET_FOLDER,
    TESTING_LIST,
    VALIDATION_LIST,
    WORDS,
)
from kws.data.protocol import (
    SPLITS,
    Protocol,
    SplitIndex,
    class_names,
    folder_index,
    protocol_index,
    split_word_clips,
)

log = logging.getLogger(__name__)

SKIP_ADVICE = "Fix or remove them, or set data.skip_bad_files=true to leave them out."
DATA_SET_CONTENTS = (
    "the extracted speech_commands_v0.02.tar.gz (35 word folders, _background_noise_/, "
    "validation_list.txt, testing_list.txt)"
)
TEST_SET_CONTENTS = (
    "the extracted speech_commands_test_set_v0.02.tar.gz (one folder of clips per class: "
    "_silence_, _unknown_ and the 10 keywords)"
)

LISTED = {  # where each split's clips are, under the protocol
    "train": f"outside {VALIDATION_LIST} and {TESTING_LIST}",
    "val": f"in {VALIDATION_LIST}",
    "test": f"in {TESTING_LIST}",
}


class DatasetNotFoundError(FileNotFoundError):
    """A data set folder is missing and could not be downloaded; says what belongs there."""


class ClipDataset(Dataset):
    """int16 clips ``(N, CLIP_SAMPLES)`` (a memory map or an array) with int64 labels ``(N,)``.

    ``__getitems__`` fetches a whole batch with one fancy index into the memory map; the
    DataLoader's collate is then the identity.
    """

    def __init__(self, clips: np.ndarray, labels: np.ndarray) -> None:
        self.clips = clips
        self.labels = labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.from_numpy(np.array(self.clips[index])), torch.tensor(self.labels[index])

    def __getitems__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        rows = np.asarray(indices)
        return torch.from_numpy(self.clips[rows]), torch.from_numpy(self.labels[rows])


class ClipRows(NamedTuple):
    """A training batch as row numbers into the split held on the device (``on_device``)."""

    rows: torch.Tensor  # (batch,) int64


class RowDataset(Dataset):
    """Serves batches of row numbers only: the clips are gathered after the transfer."""

    def __init__(self, size: int) -> None:
        self.size = size

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> int:
        return index

    def __getitems__(self, indices: list[int]) -> ClipRows:
        return ClipRows(torch.as_tensor(indices, dtype=torch.int64))


def _whole_batch(batch: Any) -> Any:
    """Collate for datasets whose ``__getitems__`` already returns a whole batch."""
    return batch


def wavs_by_folder(files: Iterable[str]) -> dict[str, list[str]]:
    """Relative ``.wav`` paths grouped by their top folder, each group sorted, in one pass.

    Args:
        files: relative paths, ``"folder/name"``; others (top-level files) are left out.
    """
    folders: dict[str, list[str]] = {}
    for rel in sorted(files):
        folder, _, name = rel.partition("/")
        if name and name.endswith(".wav"):
            folders.setdefault(folder, []).append(rel)
    return folders


def fixed_noise_clips(noise: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` int16 silence clips: random 1 s crops of the float noise bank at volume U(0, 1).

    Args:
        noise: the noise bank, ``(files, samples)`` float in [-1, 1].
        count: clips to make.
        rng: what to draw the files, crops and volumes from.
    """
    files = rng.integers(0, noise.shape[0], count)
    starts = rng.integers(0, noise.shape[1] - CLIP_SAMPLES + 1, count)
    volume = rng.uniform(0.0, 1.0, (count, 1))
    cut = crops(
        torch.from_numpy(noise), torch.from_numpy(files), torch.from_numpy(starts), CLIP_SAMPLES
    ).numpy()  # (count, samples)
    return np.round(cut * volume * 32767).astype(np.int16)


def _to_device(clips: np.ndarray, device: torch.device, rows: int = 4096) -> torch.Tensor:
    """A copy of ``clips`` on ``device``, moved a block of rows at a time (no full host copy)."""
    out = torch.empty(clips.shape, dtype=torch.int16, device=device)
    for start in range(0, len(clips), rows):
        out[start : start + rows] = torch.from_numpy(np.array(clips[start : start + rows]))
    return out


def _check_settings(
    keywords: Collection[str],
    protocol: str,
    test_set: str,
    batch_size: int,
    eval_batch_size: int | None,
    num_workers: int,
) -> None:
    """Raise ``ValueError`` naming the config key of the first setting out of range."""
    if protocol not in ("bcresnet", "tensorflow"):
        raise ValueError(f"data.protocol must be 'bcresnet' or 'tensorflow', got {protocol!r}")
    if test_set not in ("official", "list"):
        raise ValueError(f"data.test_set must be 'official' or 'list', got {test_set!r}")
    if not keywords:
        raise ValueError("data.keywords is empty: name at least one word to spot")
    repeated = sorted({word for word in keywords if list(keywords).count(word) > 1})
    if repeated:
        raise ValueError(f"data.keywords names {repeated} more than once: each word is one class")
    strangers = [word for word in keywords if word not in WORDS]
    if strangers:
        raise ValueError(
            f"data.keywords: {strangers} not among the Speech Commands words {list(WORDS)}"
        )
    counts = {
        "data.batch_size": (batch_size, 1),
        "data.eval_batch_size": (batch_size if eval_batch_size is None else eval_batch_size, 1),
        "data.num_workers": (num_workers, 0),
    }
    for key, (value, least) in counts.items():
        if not isinstance(value, Integral) or value < least:
            raise ValueError(f"{key} must be a whole number of at least {least}, got {value!r}")


class _Folder(NamedTuple):
    """A data set folder: what it should hold, where to get it, what to do without it."""

    path: Path
    archive: Archive
    contents: str
    alternative: str

    def missing(self, why: str) -> DatasetNotFoundError:
        return DatasetNotFoundError(
            f"{self.path.absolute()} is missing and {why}. Expected there: {self.contents}. "
            f"Download {self.archive.url} and extract it there, point the config at a copy, "
            f"or: {self.alternative}."
        )


class SpeechCommandsDataModule(pl.LightningDataModule):
    """Speech Commands v0.02 under ``root``: splits from the official lists, 12-class protocol.

    ``protocol="bcresnet"`` caps silence and unknown at the mean keyword-class size per split
    (the unknown subset drawn once from ``seed``); ``"tensorflow"`` uses 10% of the keyword
    count for each. ``test_set="list"`` tests on ``testing_list.txt``; ``"official"`` on the
    separate 12-class test archive extracted at ``test_root`` (default: beside ``root``).
    Decoded clips are cached under ``cache_dir`` (default: ``cache`` beside ``root``). Bad
    source files stop the build with a list of all of them unless ``skip_bad_files``, which
    leaves them out; ``skipped_files`` then maps each to its problem. Every split must hold
    clips: an empty one is an error in ``prepare_data`` / ``setup``, before any training.

    Args:
        root: the extracted data set (downloaded or generated there when missing).
        test_root: the extracted official test archive; None: beside ``root``.
        cache_dir: where decoded caches go; None: ``cache`` beside ``root``.
        download: fetch a missing data set; False: stop and say what is missing.
        archive_url: the data set archive.
        archive_sha256: its sha256.
        test_archive_url: the official test archive.
        test_archive_sha256: its sha256.
        keywords: the words to spot, each a Speech Commands word, each once.
        silence_and_unknown: add the ``_silence_`` and ``_unknown_`` classes.
        protocol: ``bcresnet`` or ``tensorflow`` (see above).
        test_set: ``official`` or ``list`` (see above).
        batch_size: training clips per batch, at least 1.
        eval_batch_size: validation and test clips per batch, at least 1; None: ``batch_size``.
        num_workers: DataLoader worker processes, 0 or more.
        seed: for the unknown subset and the evaluation silence (and generated data).
        skip_bad_files: leave bad source files out instead of stopping.
        rebuild_cache: rebuild a cache found damaged (a file missing, cut short or changed since
            its build); False: stop with an error naming the file.
        on_device: keep the training split on the accelerator and gather batches there.
        augment: augment training batches on the device.
        augmentation: ``Augmentation`` settings.
        generate_synthetic: generate a synthetic data set at ``root`` when it is missing.
        synthetic_speakers: speakers to generate; None: the generator's default.

    Raises:
        ValueError: a setting out of range, naming its config key (``data.batch_size``, ...).
    """

    def __init__(
        self,
        root: str = "data/speech_commands_v0.02",
        test_root: str | None = None,
        cache_dir: str | None = None,
        download: bool = True,
        archive_url: str = SPEECH_COMMANDS.url,
        archive_sha256: str = SPEECH_COMMANDS.sha256,
        test_archive_url: str = SPEECH_COMMANDS_TEST.url,
        test_archive_sha256: str = SPEECH_COMMANDS_TEST.sha256,
        keywords: list[str] | tuple[str, ...] = KEYWORDS,
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
        augmentation: dict[str, float] | None = None,
        generate_synthetic: bool = False,
        synthetic_speakers: int | None = None,
    ) -> None:
        super().__init__()
        _check_settings(keywords, protocol, test_set, batch_size, eval_batch_size, num_workers)
        # Absolute paths in the hyper-parameters (and so in checkpoints): evaluate.py finds the
        # data again from any working directory.
        root = str(Path(root).absolute())
        test_root = str(Path(test_root).absolute()) if test_root else None
        cache_dir = str(Path(cache_dir).absolute()) if cache_dir else None
        self.save_hyperparameters()
        self.root = Path(root)
        self.test_root = Path(test_root) if test_root else self.root.parent / TEST_SET_FOLDER
        self.cache_dir = Path(cache_dir) if cache_dir else self.root.parent / "cache"
        self.download = download
        self.archive = Archive(archive_url, archive_sha256)
        self.test_archive = Archive(test_archive_url, test_archive_sha256)
        self.keywords = list(keywords)
        self.silence_and_unknown = silence_and_unknown
        self.class_names = class_names(self.keywords, silence_and_unknown)
        self.protocol: Protocol = protocol
        self.test_set = test_set
        self.batch_size = batch_size
        self.eval_batch_size = batch_size if eval_batch_size is None else eval_batch_size
        self.num_workers = num_workers
        self.seed = seed
        self.skip_bad_files = skip_bad_files
        self.rebuild_cache = rebuild_cache
        self.on_device = on_device
        self.augmentation = Augmentation(**(augmentation or {})) if augment else None
        self.generate_synthetic = generate_synthetic
        self.synthetic_speakers = synthetic_speakers
        self.datasets: dict[str, ClipDataset] = {}
        self.split_index: dict[str, SplitIndex] = {}
        self.skipped_files: dict[str, str] = {}
        self._device_split: tuple[torch.Tensor, torch.Tensor] | None = None
        self._cache: ClipCache | None = None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    # --- getting the data ---------------------------------------------------------------------

    def _folders(self) -> list[_Folder]:
        """The folders this configuration reads: the data set, and the official test set."""
        folders = [
            _Folder(self.root, self.archive, DATA_SET_CONTENTS,
                    "`python train.py data=synthetic` trains offline on generated data"),
        ]  # fmt: skip
        if self.test_set == "official":
            folders.append(
                _Folder(self.test_root, self.test_archive, TEST_SET_CONTENTS,
                        "data.test_set=list tests on testing_list.txt instead")
            )  # fmt: skip
        return folders

    def prepare_data(self) -> None:
        """Download (or generate) what is missing, then build the decoded cache if needed."""
        for folder in self._folders():
            if folder.path.is_dir() and list_folder(folder.path):
                continue
            if folder.path == self.root and self.generate_synthetic:
                from kws.data.synthetic import generate

                kwargs = {"speakers": self.synthetic_speakers} if self.synthetic_speakers else {}
                generate(self.root, seed=self.seed, **kwargs)
            elif not self.download:
                raise folder.missing("data.download is false")
            else:
                try:
                    download_and_extract(folder.archive, folder.path)
                except DownloadError as error:
                    raise folder.missing(
                        f"could not be downloaded (no network?): {error}"
                    ) from error
        if not self.datasets:  # set up in this process already: its cache is whole
            self._cache = self._load_cache()  # kept for setup: the source tree is scanned once

    def setup(self, stage: str | None = None) -> None:
        """Memory-map the decoded cache (building it first if ``prepare_data`` did not).

        Args:
            stage: Lightning's stage; every split is set up whatever it is.
        """
        if self.datasets:
            return
        cache = self._cache or self._load_cache()
        self.noise_bank = torch.from_numpy(cache.noise())
        for split in SPLITS:
            self.split_index[split] = cache.index(split)
            self.datasets[split] = ClipDataset(cache.clips(split), cache.index(split).labels)

    # --- the cache ----------------------------------------------------------------------------

    def _settings(self) -> dict[str, Any]:
        """Everything besides the source files that the cached index depends on."""
        return {
            "root": str(self.root.absolute()),
            "test_root": str(self.test_root.absolute()) if self.test_set == "official" else None,
            "keywords": self.keywords,
            "class_names": self.class_names,
            "protocol": self.protocol,
            "test_set": self.test_set,
            "seed": self.seed,
        }

    def _load_cache(self) -> ClipCache:
        """Open the cache that matches the sources and settings, building it when there is none
        and rebuilding it when it is damaged (unless ``rebuild_cache`` is false)."""
        for folder in self._folders():
            if not folder.path.is_dir():
                raise folder.missing("prepare_data() was not called to fetch it")
        sources = {"root": scan_tree(self.root)}
        if self.test_set == "official":
            sources["test_root"] = scan_tree(self.test_root)
        source_fingerprint = fingerprint(sources)
        folder = self.cache_dir / f"{self.root.name}-{fingerprint(self._settings())[:12]}"
        try:
            cache = ClipCache.open(folder, source_fingerprint)
        except CacheDamagedError as error:
            if not self.rebuild_cache:
                raise CacheDamagedError(
                    error.path,
                    f"{error.problem}: the decoded cache is damaged (data.rebuild_cache=true, "
                    "or deleting the folder, rebuilds it)",
                ) from None
            log.warning("rebuilding the damaged decoded cache: %s", error)
            cache = None
        if cache is None:
            cache = self._build_cache(folder, source_fingerprint, sources)
        if cache.skipped and not self.skip_bad_files:
            raise BadFilesError(cache.skipped, SKIP_ADVICE)
        if cache.skipped:
            log.warning("left out %d bad file(s) (data.skip_bad_files=true); the list is in %s",
                        len(cache.skipped), folder / "manifest.json")  # fmt: skip
        self.skipped_files = cache.skipped
        return cache

    def _build_cache(
        self, folder: Path, source_fingerprint: str, sources: dict[str, dict]
    ) -> ClipCache:
        """Check every source file, then decode the protocol's clips of every split."""
        lists = self._lists()
        folders = wavs_by_folder(sources["root"])
        word_clips, problems = self._word_clips(folders, sources["root"], lists)
        test_clips = self._test_clips(sources["test_root"]) if "test_root" in sources else {}
        noise_paths = [self.root / rel for rel in folders.get(BACKGROUND_NOISE, [])]
        noises, noise_problems = self._read_noise_files(noise_paths)
        clip_paths = [self.root / p for clips in word_clips.values() for p in clips]
        clip_paths += [self.test_root / p for clips in test_clips.values() for p in clips]
        problems |= noise_problems | inspect_clips(clip_paths)
        if problems and not self.skip_bad_files:
            raise BadFilesError(problems, SKIP_ADVICE)
        if not noises:
            raise FileNotFoundError(f"{self.root / BACKGROUND_NOISE}: no usable noise file left")
        length = min(len(n) for n in noises)
        noise = np.stack([n[:length] for n in noises])  # (files, samples), cut to the shortest
        index = self._index(word_clips, test_clips, lists, exclude=problems)
        rng = np.random.default_rng(self.seed)
        splits = {
            split: SplitSource(
                root=self._split_root(split),
                index=split_index,
                # Evaluation silence gets fixed noise so that metrics repeat exactly; training
                # silence stays zeros and gets fresh noise from the augmentation.
                silence=None
                if split == "train"
                else fixed_noise_clips(noise, split_index.paths.count(""), rng),
            )
            for split, split_index in index.items()
        }
        return ClipCache.build(
            folder, source_fingerprint, splits, noise, problems, self._settings()
        )

    def _read_noise_files(self, paths: list[Path]) -> tuple[list[np.ndarray], dict[str, str]]:
        """The background-noise recordings that read well (float32), and the others' problems."""
        if not paths:
            raise FileNotFoundError(
                f"{self.root / BACKGROUND_NOISE}: no background-noise .wav files; silence clips "
                "and noise augmentation are made from them"
            )
        noises, problems = [], {}
        for path in paths:
            try:
                noises.append(read_noise(path))
            except BadAudioError as error:
                problems[str(path)] = error.problem
        return noises, problems

    # --- the protocol -------------------------------------------------------------------------

    def _split_root(self, split: str) -> Path:
        return self.test_root if split == "test" and self.test_set == "official" else self.root

    def _word_clips(
        self, folders: dict[str, list[str]], files: Collection[str], lists: dict[str, list[str]]
    ) -> tuple[dict[str, list[str]], dict[str, str]]:
        """``{word: clips}`` of the word folders (``folders`` from ``wavs_by_folder(files)``), and
        the lines of ``lists`` that name a clip not in ``files``, as problems."""
        word_clips = {word: clips for word, clips in folders.items() if not word.startswith("_")}
        problems = {
            str(self.root / rel): f"named in {list_name} but missing"
            for list_name, listed in lists.items()
            for rel in listed
            if rel not in files
        }
        return word_clips, problems

    def _lists(self) -> dict[str, list[str]]:
        """The official split lists: ``{file name: relative clip paths}``."""
        lists = {}
        for name in (VALIDATION_LIST, TESTING_LIST):
            path = self.root / name
            if not path.is_file():
                raise FileNotFoundError(f"{path} is missing: expected {DATA_SET_CONTENTS}")
            lists[name] = path.read_text().split()
        return lists

    def _test_clips(self, files: Collection[str]) -> dict[str, list[str]]:
        """``{class: clips}`` of the official test set, one folder per class name."""
        folders = {rel.partition("/")[0] for rel in files if "/" in rel}
        missing = [name for name in self.class_names if name not in folders]
        strangers = sorted(folders - set(self.class_names) - {BACKGROUND_NOISE})
        if missing or strangers:
            raise FileNotFoundError(
                f"{self.test_root}: expected one folder per class {self.class_names}; missing "
                f"{missing}, not a class {strangers} (data.test_set=list fits other class sets)"
            )
        clips = wavs_by_folder(files)
        return {name: clips.get(name, []) for name in self.class_names}

    def _index(
        self,
        word_clips: dict[str, list[str]],
        test_clips: dict[str, list[str]],
        lists: dict[str, list[str]],
        exclude: Collection[str] = (),
    ) -> dict[str, SplitIndex]:
        """Every split's index from the clips found, less the files in ``exclude``."""
        usable = [
            p for clips in word_clips.values() for p in clips if str(self.root / p) not in exclude
        ]
        missing = sorted(set(self.keywords) - {p.partition("/")[0] for p in usable})
        if missing:
            raise FileNotFoundError(f"{self.root}: no usable clips of the keywords {missing}")
        by_split = split_word_clips(usable, lists[VALIDATION_LIST], lists[TESTING_LIST])
        rng = np.random.default_rng(self.seed)
        official = self.test_set == "official"  # the test split then comes from its own archive
        index = {
            split: protocol_index(
                by_split[split], self.class_names, self.keywords, self.protocol, rng
            )  # fmt: skip
            for split in SPLITS
            if not (official and split == "test")
        }
        if official:
            kept = {
                name: [p for p in clips if str(self.test_root / p) not in exclude]
                for name, clips in test_clips.items()
            }
            index["test"] = folder_index(kept, self.class_names)
        for split in SPLITS:
            if index[split].paths:
                continue
            if split == "test" and official:
                raise ValueError(
                    f"{self.test_root}: the test split is empty: its class folders hold no "
                    "usable clip"
                )
            raise ValueError(
                f"{self.root}: the {split} split is empty: no usable clip of the keywords "
                f"{self.keywords} is {LISTED[split]} (a generated data set needs more speakers "
                "or another seed)"
            )
        return index

    def build_index(self) -> dict[str, SplitIndex]:
        """Relative clip paths and labels per split under the configured protocol."""
        lists = self._lists()
        files = scan_tree(self.root).keys()
        word_clips, _ = self._word_clips(wavs_by_folder(files), files, lists)
        test_clips = self._test_clips(scan_tree(self.test_root).keys()) if (
            self.test_set == "official"
        ) else {}  # fmt: skip
        return self._index(word_clips, test_clips, lists)

    # --- serving batches ----------------------------------------------------------------------

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        if split not in self.datasets:
            self.setup()
        dataset: Dataset = self.datasets[split]
        on_device = self.on_device and split == "train"
        if on_device:  # row numbers only; nothing for workers to do
            dataset = RowDataset(len(self.datasets[split]))
        workers = 0 if on_device else self.num_workers
        sampler = None
        if split != "train" and dist.is_available() and dist.is_initialized():
            # Each rank scores its own share and the metrics are summed across ranks; the
            # default sampler would pad the shares to equal length and count clips twice.
            sampler = UnrepeatedDistributedSampler(dataset, shuffle=False)
        return DataLoader(
            dataset,
            batch_size=self.batch_size if split == "train" else self.eval_batch_size,
            shuffle=shuffle,
            sampler=sampler,
            num_workers=workers,
            collate_fn=_whole_batch,
            persistent_workers=workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)

    def _gather_on_device(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Clips and labels of ``rows`` from the training split, copied to their device once."""
        if self._device_split is None or self._device_split[0].device != rows.device:
            train = self.datasets["train"]
            self._device_split = (
                _to_device(train.clips, rows.device),
                torch.from_numpy(train.labels).to(rows.device),
            )
        clips, labels = self._device_split
        return clips.index_select(0, rows), labels.index_select(0, rows)

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """int16 clips become float waveforms on the device; training batches get augmented."""
        clips, labels = self._gather_on_device(batch.rows) if isinstance(batch, ClipRows) else batch
        waveforms = clips.float() / 32768.0  # (batch, samples) in [-1, 1)
        if self.augmentation is not None and self.trainer is not None and self.trainer.training:
            silence = (
                labels == self.class_names.index(SILENCE) if self.silence_and_unknown else None
            )
            if self.noise_bank.device != waveforms.device:  # moved once, then kept there
                self.noise_bank = self.noise_bank.to(waveforms.device)
            waveforms = self.augmentation(waveforms, self.noise_bank, silence)
        return waveforms, labels
