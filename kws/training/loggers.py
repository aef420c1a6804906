"""Loggers that survive a resume (Lightning's CSV logger, appending instead of deleting), and
the third-party log lines and warnings kws's commands leave out."""

from __future__ import annotations

import contextlib
import csv
import logging
import os
import re
import warnings
from collections.abc import Iterator

from lightning_fabric.loggers.logger import rank_zero_experiment
from pytorch_lightning.loggers import CSVLogger as LightningCSVLogger
from pytorch_lightning.loggers.csv_logs import ExperimentWriter


class _AppendingWriter(ExperimentWriter):
    """Keeps an existing ``metrics.csv`` (Lightning deletes it) and appends under its header."""

    def _check_log_dir_exists(self) -> None:
        if os.path.isfile(self.metrics_file_path):
            with open(self.metrics_file_path, newline="") as file:
                self.metrics_keys = next(csv.reader(file), [])


class CSVLogger(LightningCSVLogger):
    """Lightning's ``CSVLogger`` (same arguments), except that a run resumed in its own folder
    appends to the ``metrics.csv`` it wrote before instead of deleting it."""

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            os.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AppendingWriter(log_dir=self.log_dir)
        return self._experiment


# Lines a person cannot act on, by the logger that writes them and how they start: Lightning's
# advertisements and device inventory (a real mismatch, e.g. an unused GPU, stays a warning), its
# restore notes (kws names the checkpoint it resumes from or tests itself) and torch.onnx's note on
# the torchvision operators kws never uses.
QUIET_LINES: dict[str, tuple[str, ...]] = {
    "pytorch_lightning.utilities.rank_zero": (
        "💡 Tip:",
        "GPU available:",
        "TPU available:",
        "HPU available:",
        "Loading `train_dataloader` to estimate",
        "Restoring states from the checkpoint path",
        "Loaded model weights from the checkpoint",
    ),
    "pytorch_lightning.accelerators.cuda": ("LOCAL_RANK:",),
    "torch.onnx._internal.exporter._registration": ("torchvision is not installed",),
}
# Warnings about Lightning's own code, or advice kws does not need: Lightning's use of a pytree
# class torch deprecated, and its note that an epoch has fewer batches than the logging interval
# (kws logs every epoch's metrics whatever the interval).
QUIET_WARNINGS: tuple[tuple[type[Warning], str], ...] = (
    (FutureWarning, re.escape("`isinstance(treespec, LeafSpec)` is deprecated")),
    (UserWarning, r"The number of training batches \(\d+\) is smaller than the logging interval"),
)


class _DropLines(logging.Filter):
    """Drops the records whose message starts with one of ``starts``."""

    def __init__(self, starts: tuple[str, ...]) -> None:
        super().__init__()
        self.starts = starts

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.starts)


@contextlib.contextmanager
def quiet_libraries() -> Iterator[None]:
    """Leave out ``QUIET_LINES`` and ``QUIET_WARNINGS`` while a kws command runs; every other
    line and warning shows as before, and all of them do again afterwards."""
    filters = [
        (logging.getLogger(name), _DropLines(starts)) for name, starts in QUIET_LINES.items()
    ]
    for logger, line_filter in filters:
        logger.addFilter(line_filter)
    try:
        with warnings.catch_warnings():
            for category, message in QUIET_WARNINGS:
                warnings.filterwarnings("ignore", message=message, category=category)
            yield
    finally:
        for logger, line_filter in filters:
            logger.removeFilter(line_filter)
