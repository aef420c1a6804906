"""torch Datasets over int16 clip arrays, and a split held on the device, gathered there by row."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset


class ClipDataset(Dataset):
    """int16 clips with their labels; a whole batch is fetched with one fancy index.

    ``__getitems__`` returns the batch whole, so the DataLoader's collate is ``whole_batch``.

    Args:
        clips: ``(N, CLIP_SAMPLES)`` int16, a memory map or an array.
        labels: ``(N,)`` int64.
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
    """A training batch as row numbers into the split held on the device (``DeviceSplit``)."""

    rows: torch.Tensor  # (batch,) int64


class RowDataset(Dataset):
    """Serves batches of row numbers only (``ClipRows``): the clips are gathered on the device.

    Args:
        size: rows in the split.
    """

    def __init__(self, size: int) -> None:
        self.size = size

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> int:
        return index

    def __getitems__(self, indices: list[int]) -> ClipRows:
        return ClipRows(torch.as_tensor(indices, dtype=torch.int64))


def whole_batch(batch: Any) -> Any:
    """Collate for datasets whose ``__getitems__`` already returns a whole batch: the identity.

    Args:
        batch: what ``__getitems__`` returned.
    """
    return batch


def copy_to_device(clips: np.ndarray, device: torch.device, rows: int = 4096) -> torch.Tensor:
    """A copy of ``clips`` on ``device``, moved a block of rows at a time (no full host copy).

    Args:
        clips: ``(N, samples)`` int16, a memory map or an array.
        device: where the copy goes.
        rows: rows per block.

    Returns:
        ``(N, samples)`` int16 on ``device``.
    """
    out = torch.empty(clips.shape, dtype=torch.int16, device=device)
    for start in range(0, len(clips), rows):
        out[start : start + rows] = torch.from_numpy(np.array(clips[start : start + rows]))
    return out


class DeviceSplit:
    """A split copied to a device once (at the first gather there), then gathered by row number.

    Args:
        dataset: the split.
    """

    def __init__(self, dataset: ClipDataset) -> None:
        self.dataset = dataset
        self._held: tuple[torch.Tensor, torch.Tensor] | None = None  # clips, labels

    def gather(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The clips and labels of ``rows``, on the device of ``rows``.

        Args:
            rows: ``(batch,)`` int64 row numbers.

        Returns:
            Clips ``(batch, CLIP_SAMPLES)`` int16 and labels ``(batch,)`` int64.
        """
        if self._held is None or self._held[0].device != rows.device:
            self._held = (
                copy_to_device(self.dataset.clips, rows.device),
                torch.from_numpy(self.dataset.labels).to(rows.device),
            )
        clips, labels = self._held
        return clips.index_select(0, rows), labels.index_select(0, rows)
