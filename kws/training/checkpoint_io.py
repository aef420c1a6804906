"""Lightning's checkpoint writer, made atomic: ``kws_runtime.io.atomic_write`` around
``torch.save``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from pytorch_lightning.plugins.io import TorchCheckpointIO

from kws_runtime.io import atomic_write


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints are saved under a temporary name and renamed, so a crash leaves no torso."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any | None = None
    ) -> None:
        """Save ``checkpoint`` to ``path`` with ``torch.save``, atomically.

        Args:
            checkpoint: the state Lightning assembled.
            path: the checkpoint file; missing folders are made.
            storage_options: not supported (Lightning's own ``TorchCheckpointIO`` takes none).
        """
        if storage_options is not None:
            raise TypeError(
                f"{type(self).__name__}.save_checkpoint takes no storage_options, "
                f"got {storage_options!r}"
            )
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path, "wb") as file:
            torch.save(checkpoint, file)
