"""Hard-negative mining: the windows of the keyword-free training stream that the model takes
for keywords, fed back to training as negatives.

Random windows of keyword-free audio are mostly easy; the few that fool the model are what
makes it fire on a stream. Every ``every_n_epochs`` training epochs, ``HardNegativeMining``
runs the model over the training split's keyword-free stream (``kws.data.stream_examples``,
never a validation or test speaker) the way the streaming detector does (``TorchScorer``: one
window every ``stride_ms``, frames computed once), keeps the ``max_windows`` windows with the
highest keyword probability (at least ``min_score``, no two closer than ``spacing_ms``) and
hands them to the data (``ClipBatches.set_hard_negatives``), whose batches then draw a
``data.stream_examples.hard_share`` of their rows from them, labelled ``_unknown_`` (or
``_silence_`` where they hold no speech).

It is a callback, not a training option, because it needs what a training step does not have:
the epoch count, the whole model in evaluation mode, and the data module's stream; and because
Lightning keeps a callback's state in every checkpoint: the windows' starts and the stream's
fingerprint, so a resumed run continues with the same set (and refuses a different stream).
The scan is deterministic, so the same seed mines the same windows.
"""

from __future__ import annotations

import hashlib
import logging
import math
import reprlib
import time
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch

from kws.streaming import TorchScorer
from kws_runtime.checks import check_number

log = logging.getLogger(__name__)


def stream_fingerprint(audio: torch.Tensor) -> str:
    """A sha256 hex digest of a stream's int16 samples.

    Args:
        audio: ``(samples,)`` int16, on any device.
    """
    return hashlib.sha256(audio.cpu().numpy().tobytes()).hexdigest()


def pick_windows(
    scores: np.ndarray, starts: np.ndarray, count: int, min_score: float, spacing: int
) -> np.ndarray:
    """The highest-scoring windows, at least ``min_score``, no two starting closer than
    ``spacing`` samples (the higher kept), at most ``count``; ties go to the earlier window.

    Args:
        scores: ``(windows,)`` each window's keyword probability.
        starts: ``(windows,)`` int64 first samples, rising.
        count: the most windows kept.
        min_score: the least score kept.
        spacing: samples.

    Returns:
        ``(kept,)`` int64 starts, rising.
    """
    order = np.lexsort((starts, -scores))  # by score, high first; ties: earlier first
    kept: list[int] = []
    for index in order:
        if len(kept) >= count or scores[index] < min_score:
            break
        start = int(starts[index])
        if all(abs(start - other) >= spacing for other in kept):
            kept.append(start)
    return np.sort(np.asarray(kept, dtype=np.int64))


class HardNegativeMining(pl.Callback):
    """Every ``every_n_epochs`` training epochs, mine the keyword-free training stream for the
    windows the model scores highest for a keyword, and train on them as negatives.

    Args:
        every_n_epochs: epochs between scans, made before epochs n, 2n, ... Default 5.
        max_windows: the most windows kept. Default 256.
        min_score: the least keyword probability a kept window has. Default 0.01.
        stride_ms: the scan's stride. Default 100.
        spacing_ms: the least distance between two kept windows. Default 250.
        batch_size: windows scored together. Default 256.

    Raises:
        ValueError: a setting out of range, naming ``callbacks.hard_negatives.<key>``.
    """

    def __init__(
        self,
        every_n_epochs: int = 5,
        max_windows: int = 256,
        min_score: float = 0.01,
        stride_ms: float = 100.0,
        spacing_ms: float = 250.0,
        batch_size: int = 256,
    ) -> None:
        key = "callbacks.hard_negatives."
        for name, value in (
            ("every_n_epochs", every_n_epochs),
            ("max_windows", max_windows),
            ("batch_size", batch_size),
        ):
            check_number(key + name, value, 1, math.inf, integer=True)
        check_number(key + "min_score", min_score, 0.0, 1.0)
        for name, value in (("stride_ms", stride_ms), ("spacing_ms", spacing_ms)):
            check_number(key + name, value, 0.0, math.inf, low_open=True)
        self.every_n_epochs = every_n_epochs
        self.max_windows = max_windows
        self.min_score = float(min_score)
        self.stride_ms = float(stride_ms)
        self.spacing_ms = float(spacing_ms)
        self.batch_size = batch_size
        self.starts = np.zeros(0, dtype=np.int64)
        self.fingerprint: str | None = None

    @staticmethod
    def _batches(trainer: pl.Trainer) -> Any:
        """The data's ``ClipBatches``, with its keyword-free stream."""
        if trainer.datamodule is None:
            raise ValueError("callbacks.hard_negatives needs the run's kws DataModule")
        batches = trainer.datamodule.batches
        if batches.keyword_free is None:
            raise ValueError(
                "callbacks.hard_negatives: the data has no keyword-free training stream; set "
                "data.stream_examples (with a negative_share or hard_share above 0)"
            )
        return batches

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Check the data before the first epoch; a resumed run takes its saved windows back."""
        if trainer.datamodule is not None:
            trainer.datamodule.setup("fit")
        batches = self._batches(trainer)
        fingerprint = stream_fingerprint(batches.keyword_free.audio)
        if self.fingerprint is not None and self.fingerprint != fingerprint:
            raise ValueError(
                "callbacks.hard_negatives: the checkpoint's hard negatives were mined from "
                "another keyword-free stream (the training data or data.stream_examples changed)"
            )
        self.fingerprint = fingerprint
        batches.set_hard_negatives(torch.from_numpy(self.starts) if len(self.starts) else None)

    def mine(self, pl_module: Any, batches: Any) -> np.ndarray:
        """Scan the keyword-free stream with the module's spotter.

        Args:
            pl_module: a ``KWSModule``.
            batches: the data's ``ClipBatches``.

        Returns:
            The chosen windows' starts, ``(n,)`` int64.
        """
        stream = batches.keyword_free
        audio = stream.audio.cpu().numpy().astype(np.float32) / np.float32(32768.0)
        clip = pl_module.clip_format.clip_samples
        rate = batches.sample_rate
        stride = max(1, round(self.stride_ms * rate / 1000))
        keywords = batches.stream_classes.keywords.numpy()
        was_training = pl_module.training
        scorer = TorchScorer(pl_module.spotter, clip, stride)
        scores = []
        all_starts = np.arange(0, len(audio) - clip + 1, stride, dtype=np.int64)
        for first in range(0, len(all_starts), self.batch_size):
            starts = all_starts[first : first + self.batch_size]
            scores.append(scorer.score(audio, 0, starts)[:, keywords].max(1))
        pl_module.train(was_training)
        spacing = round(self.spacing_ms * rate / 1000)
        return pick_windows(
            np.concatenate(scores), all_starts, self.max_windows, self.min_score, spacing
        )

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Mine before every ``every_n_epochs``-th epoch (not the first), with the weights the
        previous epoch left: a run resumed from any checkpoint mines the same windows at the
        same epoch, whenever its checkpoints were saved."""
        epoch = trainer.current_epoch
        if epoch == 0 or epoch % self.every_n_epochs:
            return
        began = time.perf_counter()
        batches = self._batches(trainer)
        self.starts = self.mine(pl_module, batches)
        batches.set_hard_negatives(torch.from_numpy(self.starts) if len(self.starts) else None)
        pl_module.log("train/hard_negatives", float(len(self.starts)))
        log.info(
            "hard negatives before epoch %d: %d windows in %.1f s",
            epoch, len(self.starts), time.perf_counter() - began,
        )  # fmt: skip

    def state_dict(self) -> dict[str, Any]:
        return {"starts": self.starts.tolist(), "fingerprint": self.fingerprint}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Take back the windows and stream fingerprint a checkpoint saved.

        Args:
            state_dict: ``{"starts": [int, ...], "fingerprint": str | None}``, from a checkpoint.

        Raises:
            ValueError: ``starts`` are not at most ``max_windows`` sample offsets, or windows
                come without a ``fingerprint`` (text); the message names the state's key.
        """
        starts = state_dict.get("starts", [])
        if not isinstance(starts, list) or not all(
            type(s) is int and 0 <= s < 2**62 for s in starts
        ):
            raise ValueError(
                "callbacks.hard_negatives: the checkpoint's windows ('starts') are not sample "
                f"offsets (integers >= 0), got {reprlib.repr(starts)}"
            )
        if len(starts) > self.max_windows:
            raise ValueError(
                f"callbacks.hard_negatives: the checkpoint's 'starts' holds {len(starts)} windows, "
                f"more than max_windows={self.max_windows}"
            )
        fingerprint = state_dict.get("fingerprint")
        if (
            fingerprint is not None
            and not isinstance(fingerprint, str)
            or (starts and fingerprint is None)
        ):
            raise ValueError(
                "callbacks.hard_negatives: the checkpoint's windows name no stream they were "
                f"mined from (its 'fingerprint' is {reprlib.repr(fingerprint)}, not text)"
            )
        self.starts = np.asarray(starts, dtype=np.int64)
        self.fingerprint = fingerprint
