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

from kws.data.augment import Augmentation, shift_rows
from kws.data.datasets import ClipDataset, ClipRows, DeviceSplit, RowDataset, whole_batch
from kws.data.stream_examples import (
    KeywordFreeStream,
    StreamClasses,
    StreamExamples,
    TrainingBatch,
)


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
        rir_bank: ``(responses, taps)`` float room impulse responses for its reverberation
            (``kws.data.noise.rir_bank``), moved like ``noise_bank``; None: none.
        silence_label: the ``_silence_`` class, whose clips always get noise at their own
            volume; None: there is no such class.
        stream_examples: how much of each training batch is stream-shaped; None: none.
        stream_classes: the classes stream-shaped rows are labelled with (with
            ``stream_examples``).
        keyword_free: the keyword-free training stream its windows are cut from; None: none.
        sample_rate: the clips' rate in Hz. Default 16000.

    Attributes:
        hard_starts: ``(n,)`` int64 starts of mined hard-negative windows in ``keyword_free``
            (``set_hard_negatives``); None until some are mined.
    """

    datasets: dict[str, ClipDataset]
    noise_bank: torch.Tensor
    batch_size: int = 100
    eval_batch_size: int | None = None
    num_workers: int = 0
    on_device: bool = False
    augmentation: Augmentation | None = None
    rir_bank: torch.Tensor | None = None
    silence_label: int | None = None
    stream_examples: StreamExamples | None = None
    stream_classes: StreamClasses | None = None
    keyword_free: KeywordFreeStream | None = None
    sample_rate: int = 16000
    hard_starts: torch.Tensor | None = field(default=None, init=False)
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

    def augment(
        self,
        waveforms: torch.Tensor,
        labels: torch.Tensor,
        shift_range: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """The waveforms augmented (a new tensor), drawing from torch's random stream on their
        device; the same tensor without ``augmentation`` and ``shift_range``.

        Args:
            waveforms: ``(batch, samples)`` float in [-1, 1].
            labels: ``(batch,)`` int64 class indices, on the same device.
            shift_range: ``(lowest, highest)`` ``(batch,)`` int64: each row's shift is drawn
                from U{lowest..highest} samples (``Augmentation``); None: the augmentation's own.
        """
        if self.augmentation is None:
            if shift_range is None:
                return waveforms
            lowest, highest = shift_range
            draw = torch.rand(len(lowest), device=waveforms.device)
            shift = lowest + (draw * (highest - lowest + 1).float()).long()
            return shift_rows(waveforms, shift, waveforms.shape[1])
        silence = labels == self.silence_label if self.silence_label is not None else None
        if self.noise_bank.device != waveforms.device:  # moved once, then kept there
            self.noise_bank = self.noise_bank.to(waveforms.device)
        if self.rir_bank is not None and self.rir_bank.device != waveforms.device:
            self.rir_bank = self.rir_bank.to(waveforms.device)
        return self.augmentation(waveforms, self.noise_bank, silence, shift_range, self.rir_bank)

    def set_hard_negatives(self, starts: torch.Tensor | None) -> None:
        """Hand over the hard-negative windows training batches draw from.

        Args:
            starts: ``(n,)`` int64 first samples of windows of ``keyword_free``; None or empty:
                no hard negatives.

        Raises:
            ValueError: there is no keyword-free stream, or a window lies outside it.
        """
        if starts is not None and len(starts):
            if self.keyword_free is None:
                raise ValueError("hard negatives need a keyword-free training stream")
            last = len(self.keyword_free.audio) - self.datasets["train"].clips.shape[1]
            if int(starts.min()) < 0 or int(starts.max()) > last:
                raise ValueError(f"hard-negative windows must start in [0, {last}]")
        self.hard_starts = None if starts is None else starts.to(torch.int64)

    def training_batch(self, batch: Any, epoch: int = 0) -> TrainingBatch:
        """What a training step receives: ``waveforms`` of the batch, then ``augment``; with
        ``stream_examples`` (from their ``start_epoch`` on), stream-shaped rows, their loss
        weights and targets too.

        Args:
            batch: a loader's batch, on its device.
            epoch: the training epoch, from 0. Default 0.

        Returns:
            Waveforms ``(batch, samples)`` float and labels ``(batch,)`` int64, and with
            ``stream_examples`` the weights and the "no keyword" rows.
        """
        waveforms, labels = self.waveforms(batch)
        if self.stream_examples is None or epoch < self.stream_examples.start_epoch:
            return TrainingBatch(self.augment(waveforms, labels), labels)
        device = waveforms.device
        if self.keyword_free is not None and self.keyword_free.audio.device != device:
            self.keyword_free = self.keyword_free.to(device)  # moved once, then kept there
        shift = 0 if self.augmentation is None else self.augmentation.max_shift
        return self.stream_examples(
            waveforms, labels, self.stream_classes, self.augment, shift, self.keyword_free,
            self.hard_starts, self.sample_rate,
        )  # fmt: skip
