"""Training's progress, as a person reads it: epochs counted from 1 out of the total
(``Epoch 3/30``), a bar on a terminal and one line per epoch in a file or a pipe.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback, ProgressBar, TQDMProgressBar
from pytorch_lightning.callbacks.progress.tqdm_progress import convert_inf

log = logging.getLogger(__name__)


def epoch_label(trainer: pl.Trainer) -> str:
    """``Epoch N/TOTAL`` counting from 1, or ``Epoch N`` where no epoch count bounds the run
    (``max_epochs`` -1, or a ``max_steps`` that may end it sooner).

    Args:
        trainer: the Trainer in its current epoch.
    """
    epoch = trainer.current_epoch + 1
    total = trainer.max_epochs
    if total is None or total < 0 or trainer.max_steps != -1:
        return f"Epoch {epoch}"
    return f"Epoch {epoch}/{total}"


class EpochBar(TQDMProgressBar):
    """Lightning's progress bar, its epochs counted out of the total (``Epoch 3/30``)."""

    def on_train_epoch_start(self, trainer: pl.Trainer, *_: Any) -> None:
        # Lightning's, labelled by epoch_label (its own shows "Epoch 0" first, then ours).
        if self._leave:
            self.train_progress_bar = self.init_train_tqdm()
        self.train_progress_bar.reset(convert_inf(self.total_train_batches))
        self.train_progress_bar.initial = 0
        self.train_progress_bar.set_description(epoch_label(trainer))


class EpochLines(ProgressBar):
    """No bars, one log line per epoch (``Epoch 3/30: train/acc 0.91, ... (12.3 s)``): the
    progress of a run whose output is no terminal (a file, a pipe, a cluster job's log).

    An epoch's line is written when the next one starts (or training ends): the module logs its
    epoch's training accuracy after the callbacks' ``on_train_epoch_end``.
    """

    def __init__(self) -> None:
        super().__init__()
        self._enabled = True
        self._epoch: str | None = None  # the label of the epoch not yet reported
        self._started = 0.0

    @property
    def is_enabled(self) -> bool:
        return self._enabled

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._report(trainer, pl_module)
        self._epoch = epoch_label(trainer)
        self._started = time.monotonic()

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._report(trainer, pl_module)

    def _report(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Log the finished epoch's line (its metrics and seconds), if one is pending."""
        if self._epoch is None or not self._enabled:
            return
        shown = ", ".join(
            f"{name.removesuffix('_epoch')} {value:.4g}"
            if isinstance(value, float)
            else f"{name} {value}"
            for name, value in sorted(self.get_metrics(trainer, pl_module).items())
            if not name.endswith("_step")
        )
        log.info("%s: %s (%.1f s)", self._epoch, shown, time.monotonic() - self._started)
        self._epoch = None


def with_progress_bar(callbacks: list[Callback], enabled: bool) -> list[Callback]:
    """``callbacks`` and kws's progress display: ``EpochBar`` on a terminal, ``EpochLines``
    where the output goes to a file or a pipe (no carriage returns or escapes in logs).

    Args:
        callbacks: the configured callbacks; one that is a progress bar is kept instead.
        enabled: the config's ``trainer.enable_progress_bar``; False adds none.
    """
    if not enabled or any(isinstance(callback, ProgressBar) for callback in callbacks):
        return callbacks
    return [*callbacks, EpochBar() if sys.stdout.isatty() else EpochLines()]
