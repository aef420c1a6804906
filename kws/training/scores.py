"""Classification scores, computed one way for training, validation, test and evaluate.py.

``Scores`` accumulates a confusion matrix and a summed cross-entropy (summed across DDP ranks);
``ClassificationReport`` reads accuracy, macro F1, loss and per-class figures from them.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torchmetrics import Metric

from kws_runtime.io import atomic_write


class Scores(Metric):
    """The confusion matrix and summed cross-entropy of the batches seen since the last reset.

    Args:
        num_classes: the number of classes.

    ``update(logits, labels)`` takes logits ``(batch, classes)`` and labels ``(batch,)``;
    ``report()`` gives a ``ClassificationReport`` over every rank's batches.
    """

    full_state_update = False

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.add_state("confusion", torch.zeros(num_classes, num_classes, dtype=torch.long),
                       dist_reduce_fx="sum")  # fmt: skip
        self.add_state("loss_sum", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(
        self, logits: torch.Tensor, labels: torch.Tensor, loss: torch.Tensor | None = None
    ) -> None:
        """Count one batch.

        Args:
            logits: ``(batch, classes)``.
            labels: ``(batch,)`` class indices.
            loss: the batch's mean cross-entropy where the caller has it already (training);
                default None: computed here, in float64.
        """
        n = self.num_classes
        pairs = labels * n + logits.argmax(dim=1)
        self.confusion += torch.bincount(pairs, minlength=n * n).reshape(n, n)
        if loss is None:
            loss = F.cross_entropy(logits.detach().double(), labels, reduction="mean")
        self.loss_sum += loss.detach().double() * len(labels)

    def compute(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The confusion matrix ``(classes, classes)`` and the mean cross-entropy per clip."""
        return self.confusion, self.loss_sum / self.confusion.sum().clamp(min=1)

    def report(self) -> ClassificationReport:
        """``compute()``'s result (over every rank) as a ``ClassificationReport``."""
        confusion, loss = self.compute()
        return ClassificationReport(confusion.cpu().numpy(), float(loss))


@dataclass(frozen=True)
class ClassificationReport:
    """Scores of one pass over a split, from the confusion matrix (rows: true class, columns:
    predicted) and the mean cross-entropy.

    Macro F1 averages over the classes present in the labels or the predictions, as torchmetrics
    and scikit-learn do; a precision or recall with nothing to count (0 / 0) is 0.
    """

    confusion: np.ndarray  # (classes, classes) counts
    loss: float  # mean cross-entropy per clip

    @property
    def num_clips(self) -> int:
        return int(self.confusion.sum())

    @property
    def accuracy(self) -> float:
        return float(np.trace(self.confusion) / max(self.num_clips, 1))

    def _ratio(self, totals: np.ndarray) -> np.ndarray:
        return np.diag(self.confusion) / np.maximum(totals, 1)

    @property
    def precision(self) -> np.ndarray:
        return self._ratio(self.confusion.sum(axis=0))

    @property
    def recall(self) -> np.ndarray:
        return self._ratio(self.confusion.sum(axis=1))

    @property
    def f1(self) -> np.ndarray:
        """Per class, ``2 tp / (2 tp + fp + fn)``: the harmonic mean of precision and recall."""
        return self._ratio(self.confusion.sum(axis=0) + self.confusion.sum(axis=1)) * 2

    @property
    def macro_f1(self) -> float:
        present = (self.confusion.sum(axis=0) + self.confusion.sum(axis=1)) > 0
        return float(self.f1[present].mean())

    def summary(self, stage: str) -> dict[str, float]:
        """``{stage/acc, stage/f1, stage/loss}``: the figures logged and written for a split.

        Args:
            stage: ``"train"``, ``"val"`` or ``"test"``.
        """
        return {f"{stage}/acc": self.accuracy, f"{stage}/f1": self.macro_f1,
                f"{stage}/loss": self.loss}  # fmt: skip

    def per_class(self, classes: list[str]) -> dict[str, dict[str, float]]:
        """``{class: {precision, recall, f1, clips}}``.

        Args:
            classes: one name per class, in label order.
        """
        clips = self.confusion.sum(axis=1)
        return {
            name: {
                "precision": float(self.precision[i]),
                "recall": float(self.recall[i]),
                "f1": float(self.f1[i]),
                "clips": int(clips[i]),
            }
            for i, name in enumerate(classes)
        }

    def write_confusion_csv(self, path: Path, classes: list[str]) -> None:
        """Counts with a header row of predicted classes and a first column of true classes,
        written atomically.

        Args:
            path: the CSV file.
            classes: one name per class, in label order.
        """
        with atomic_write(path, newline="") as file:
            writer = csv.writer(file)
            writer.writerow([r"true \ predicted", *classes])
            for name, row in zip(classes, self.confusion, strict=True):
                writer.writerow([name, *map(int, row)])

    def table(self, classes: list[str], heading: str) -> str:
        """A short plain-text summary: overall scores, then precision and recall per class.

        Args:
            classes: one name per class, in label order.
            heading: the first line's text.
        """
        width = max(len("class"), *map(len, classes))
        lines = [
            f"{heading}: {self.num_clips} clips",
            f"accuracy {100 * self.accuracy:.2f}%   macro F1 {100 * self.macro_f1:.2f}%   "
            f"loss {self.loss:.4f}",
            f"{'class':<{width}}  precision   recall  clips",
        ]
        clips = self.confusion.sum(axis=1)
        for i, name in enumerate(classes):
            lines.append(
                f"{name:<{width}}  {100 * self.precision[i]:8.2f}%  {100 * self.recall[i]:6.2f}%"
                f"  {clips[i]:5d}"
            )
        return "\n".join(lines)
