"""Serving cached splits as batches and making them model input on the device, without a Trainer.

Batches leave the loader as int16 clips (or, with ``on_device``, as row numbers into the training
split held on the device) and become float waveforms after the transfer, where training batches
get augmented, vectorised over the batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist
from pytorch_lightning.overrides.distributed import UnrepeatedDistributedSampler
from torch.utils.data import DataLoader, Dataset

from kws.data.augment import Augmentation
from kws.data.datasets import ClipDataset, ClipRows, DeviceSplit, RowDataset, whole_batch


@dataclass
class ClipBatches:
    """The splits' DataLoaders and what their batches become on the device.

    Args:
        datasets: ``{split: ClipDataset}``; ``train`` is shuffled, the others are not.
        noise_bank: ``(files, samples)`` float background noise for the augmentation; moved to
            the batches' device at the first augmented batch.
        batch_size: training clips per batch.
        eval_batch_size: validation and test clips per batch; None: ``batch_size``.
        num_workers: DataLoader worker processes.
        on_device: load training batches as row numbers and gather their clips from a copy of
            the training split on the device.
        augmentation: what ``augment`` applies; None: nothing.
        silence_label: the ``_silence_`` class, whose clips always get noise at their own
            volume; None: there is no such class.
    """

    datasets: dict[str, ClipDataset]
    noise_bank: torch.Tensor
    batch_size: int = 100
    eval_batch_size: int | None = None
    num_workers: int = 0
    on_device: bool = False
    augmentation: Augmentation | None = None
    silence_label: int | None = None
    _train_on_device: DeviceSplit | None = field(default=None, init=False, repr=False)

    def loader(self, split: str) -> DataLoader:
        """The DataLoader of a split: ``(clips (batch, CLIP_SAMPLES) int16, labels (batch,))``
        batches, or ``ClipRows`` for training with ``on_device``.

        Under ``torch.distributed``, each rank evaluates its own share of the validation and
        test clips, none twice (the default sampler would pad the shares to equal length).

        Args:
            split: ``train``, ``val`` or ``test``.
        """
        training = split == "train"
        dataset: Dataset = self.datasets[split]
        rows_only = self.on_device and training
        if rows_only:  # row numbers only; nothing for workers to do
            dataset = RowDataset(len(self.datasets[split]))
        workers = 0 if rows_only else self.num_workers
        sampler = None
        if not training and dist.is_available() and dist.is_initialized():
            # Each rank scores its own share and the metrics are summed across ranks.
            sampler = UnrepeatedDistributedSampler(dataset, shuffle=False)
        eval_batch_size = self.batch_size if self.eval_batch_size is None else self.eval_batch_size
        return DataLoader(
            dataset,
            batch_size=self.batch_size if training else eval_batch_size,
            shuffle=training,
            sampler=sampler,
            num_workers=workers,
            collate_fn=whole_batch,
            persistent_workers=workers > 0,
        )

    def waveforms(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """A loader's batch, on its device, as float waveforms and labels; no augmentation.

        Args:
            batch: ``(clips, labels)``, or ``ClipRows`` of the training split.

        Returns:
            Waveforms ``(batch, CLIP_SAMPLES)`` float in [-1, 1) and labels ``(batch,)`` int64.
        """
        if isinstance(batch, ClipRows):
            if self._train_on_device is None:
                self._train_on_device = DeviceSplit(self.datasets["train"])
            clips, labels = self._train_on_device.gather(batch.rows)
        else:
            clips, labels = batch
        return clips.float() / 32768.0, labels

    def augment(self, waveforms: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The waveforms augmented (a new tensor), drawing from torch's random stream on their
        device; the same tensor without ``augmentation``.

        Args:
            waveforms: ``(batch, samples)`` float in [-1, 1].
            labels: ``(batch,)`` int64 class indices, on the same device.
        """
        if self.augmentation is None:
            return waveforms
        silence = labels == self.silence_label if self.silence_label is not None else None
        if self.noise_bank.device != waveforms.device:  # moved once, then kept there
            self.noise_bank = self.noise_bank.to(waveforms.device)
        return self.augmentation(waveforms, self.noise_bank, silence)

    def training_batch(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """What a training step receives: ``waveforms`` of the batch, then ``augment``.

        Args:
            batch: a loader's batch, on its device.

        Returns:
            Waveforms ``(batch, CLIP_SAMPLES)`` float and labels ``(batch,)`` int64.
        """
        waveforms, labels = self.waveforms(batch)
        return self.augment(waveforms, labels), labels
