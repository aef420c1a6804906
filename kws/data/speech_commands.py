"""Google Speech Commands v0.02 as a LightningDataModule: the 12-class (or all-word) protocol.

Class order: ``_silence_``, ``_unknown_``, then the keywords in the order configured (by default
yes, no, up, down, left, right, on, off, stop, go), as TensorFlow's ``input_data`` orders them.
With ``keywords`` set to every word and ``silence_and_unknown=False`` it is the 35-word task.
Clips are decoded once into int16 arrays; batches move to the device as int16 and become float
waveforms there, where augmentation runs vectorised over the batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from kws.data.audio import decode_clips, read_noise_bank
from kws.data.augment import Augmentation
from kws.data.layout import (
    BACKGROUND_NOISE,
    CLIP_SAMPLES,
    KEYWORDS,
    SILENCE,
    TESTING_LIST,
    UNKNOWN,
    VALIDATION_LIST,
)

SPLITS = ("train", "val", "test")


@dataclass
class SplitIndex:
    """The clips of one split: relative paths (``""`` for a silence clip) and class indices."""

    paths: list[str]
    labels: np.ndarray


class ClipDataset(Dataset):
    """In-memory int16 clips ``(N, samples)`` with labels; fetches whole batches at once."""

    def __init__(self, clips: torch.Tensor, labels: torch.Tensor) -> None:
        self.clips = clips
        self.labels = labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.clips[index], self.labels[index]

    def __getitems__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        index = torch.as_tensor(indices)
        return self.clips[index], self.labels[index]


def _whole_batch(batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Collate for ``ClipDataset.__getitems__``, which already returns stacked tensors."""
    return batch


class SpeechCommandsDataModule(pl.LightningDataModule):
    """Speech Commands v0.02 under ``root``: splits from the official lists, 12-class protocol.

    ``protocol="bcresnet"`` caps silence and unknown at the mean keyword-class size per split
    (the unknown subset drawn once from ``seed``); ``"tensorflow"`` uses 10% of the keyword
    count for each. ``test_set="list"`` tests on ``testing_list.txt``; ``"official"`` on the
    separate 12-class test archive extracted at ``test_root``.
    """

    def __init__(
        self,
        root: str = "data/speech_commands_v0.02",
        test_root: str | None = None,
        keywords: list[str] | tuple[str, ...] = KEYWORDS,
        silence_and_unknown: bool = True,
        protocol: Literal["bcresnet", "tensorflow"] = "bcresnet",
        test_set: Literal["official", "list"] = "official",
        batch_size: int = 100,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        seed: int = 0,
        augment: bool = True,
        augmentation: dict[str, float] | None = None,
        generate_synthetic: bool = False,
        synthetic_speakers: int | None = None,
    ) -> None:
        super().__init__()
        if protocol not in ("bcresnet", "tensorflow"):
            raise ValueError(f"protocol must be 'bcresnet' or 'tensorflow', got {protocol!r}")
        if test_set not in ("official", "list"):
            raise ValueError(f"test_set must be 'official' or 'list', got {test_set!r}")
        self.save_hyperparameters()
        self.root = Path(root)
        self.test_root = Path(test_root) if test_root else None
        self.keywords = list(keywords)
        self.silence_and_unknown = silence_and_unknown
        self.class_names = (
            [SILENCE, UNKNOWN, *self.keywords] if silence_and_unknown else list(self.keywords)
        )
        self.protocol = protocol
        self.test_set = test_set
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.num_workers = num_workers
        self.seed = seed
        self.augmentation = Augmentation(**(augmentation or {})) if augment else None
        self.generate_synthetic = generate_synthetic
        self.synthetic_speakers = synthetic_speakers
        self.datasets: dict[str, ClipDataset] = {}

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def prepare_data(self) -> None:
        """Make sure the data set is on disk (generating it for synthetic data), else explain."""
        if self.root.is_dir() and (self.root / VALIDATION_LIST).is_file():
            return
        if self.generate_synthetic:
            from kws.data.synthetic import generate

            kwargs = {"speakers": self.synthetic_speakers} if self.synthetic_speakers else {}
            generate(self.root, seed=self.seed, **kwargs)
            return
        raise FileNotFoundError(
            f"Speech Commands v0.02 not found at {self.root.resolve()}: expected the extracted "
            "archive there (35 word folders, _background_noise_/, validation_list.txt, "
            "testing_list.txt). Download it to that folder, point data.root at a copy, or train "
            "offline on generated data with `python train.py data=synthetic`."
        )

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        index = self.build_index()
        noise = read_noise_bank(self.root / BACKGROUND_NOISE)
        self.noise_bank = torch.from_numpy(noise)
        rng = np.random.default_rng(self.seed)
        for split, split_index in index.items():
            clips = decode_clips(self._split_root(split), split_index.paths)
            if split != "train":
                # Evaluation silence gets fixed noise so that metrics repeat exactly.
                silent = np.array([p == "" for p in split_index.paths])
                clips[silent] = fixed_noise_clips(noise, int(silent.sum()), rng)
            self.datasets[split] = ClipDataset(
                torch.from_numpy(clips), torch.from_numpy(split_index.labels)
            )

    def _split_root(self, split: str) -> Path:
        return self.test_root if split == "test" and self.test_set == "official" else self.root

    def build_index(self) -> dict[str, SplitIndex]:
        """Relative clip paths and labels per split under the configured protocol."""
        by_split = self._word_clips_by_split()
        rng = np.random.default_rng(self.seed)
        index = {split: self._protocol_split(by_split[split], rng) for split in SPLITS}
        if self.test_set == "official":
            index["test"] = self._official_test_index()
        return index

    def _word_clips_by_split(self) -> dict[str, dict[str, list[str]]]:
        """``{split: {word: sorted relative paths}}`` from the official list files."""
        listed: dict[str, str] = {}
        for list_name, split in ((VALIDATION_LIST, "val"), (TESTING_LIST, "test")):
            list_file = self.root / list_name
            for line in list_file.read_text().split():
                if not (self.root / line).is_file():
                    raise FileNotFoundError(f"{list_file}: names {line}, which does not exist")
                listed[line] = split
        words = sorted(
            d.name for d in self.root.iterdir() if d.is_dir() and not d.name.startswith("_")
        )
        missing = [k for k in self.keywords if k not in words]
        if missing:
            raise FileNotFoundError(f"{self.root}: no folder for keywords {missing}")
        by_split: dict[str, dict[str, list[str]]] = {s: {w: [] for w in words} for s in SPLITS}
        for word in words:
            for wav in sorted((self.root / word).glob("*.wav")):
                relative = f"{word}/{wav.name}"
                by_split[listed.get(relative, "train")][word].append(relative)
        return by_split

    def _protocol_split(self, word_clips: dict[str, list[str]], rng: np.random.Generator):
        keyword_index = {word: i for i, word in enumerate(self.class_names)}
        paths, labels = [], []
        for word in self.keywords:
            paths += word_clips[word]
            labels += [keyword_index[word]] * len(word_clips[word])
        if self.silence_and_unknown:
            others = sorted(p for w, ps in word_clips.items() if w not in self.keywords for p in ps)
            n_silence, n_unknown = self._extra_class_sizes(len(paths), len(others))
            unknown = [others[i] for i in sorted(rng.permutation(len(others))[:n_unknown])]
            paths += unknown + [""] * n_silence
            labels += [keyword_index[UNKNOWN]] * n_unknown + [keyword_index[SILENCE]] * n_silence
        return SplitIndex(paths, np.asarray(labels, dtype=np.int64))

    def _extra_class_sizes(self, n_keyword_clips: int, n_other_clips: int) -> tuple[int, int]:
        """Clips of ``_silence_`` and ``_unknown_`` in a split, by the configured protocol."""
        if self.protocol == "bcresnet":
            size = round(n_keyword_clips / len(self.keywords))
        else:
            size = math.ceil(0.1 * n_keyword_clips)
        return size, min(size, n_other_clips)

    def _official_test_index(self) -> SplitIndex:
        """The 12-class test archive: one folder per class, silence and unknown included."""
        if self.test_root is None or not self.test_root.is_dir():
            raise FileNotFoundError(
                f"official 12-class test set not found at {self.test_root}: extract "
                "speech_commands_test_set_v0.02.tar.gz there, or set data.test_set=list"
            )
        paths, labels = [], []
        for label, name in enumerate(self.class_names):
            clips = sorted((self.test_root / name).glob("*.wav"))
            paths += [f"{name}/{c.name}" for c in clips]
            labels += [label] * len(clips)
        return SplitIndex(paths, np.asarray(labels, dtype=np.int64))

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        if split not in self.datasets:
            self.setup()
        batch_size = self.batch_size if split == "train" else self.eval_batch_size
        return DataLoader(
            self.datasets[split],
            batch_size=batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            collate_fn=_whole_batch,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """int16 clips become float waveforms on the device; training batches get augmented."""
        clips, labels = batch
        waveforms = clips.float() / 32768.0
        if self.augmentation is not None and self.trainer is not None and self.trainer.training:
            silence = (
                labels == self.class_names.index(SILENCE) if self.silence_and_unknown else None
            )
            if self.noise_bank.device != waveforms.device:  # moved once, then kept there
                self.noise_bank = self.noise_bank.to(waveforms.device)
            waveforms = self.augmentation(waveforms, self.noise_bank, silence)
        return waveforms, labels


def fixed_noise_clips(noise: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` int16 silence clips: random 1 s crops of the float noise bank at volume U(0, 1)."""
    files = rng.integers(0, noise.shape[0], count)
    starts = rng.integers(0, noise.shape[1] - CLIP_SAMPLES + 1, count)
    volume = rng.uniform(0.0, 1.0, (count, 1))
    crops = noise[files[:, None], starts[:, None] + np.arange(CLIP_SAMPLES)]
    return np.round(crops * volume * 32767).astype(np.int16)
