"""Writing results so that a file on disk is either whole or absent, never half-written."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from pytorch_lightning.plugins.io import TorchCheckpointIO


def write_json(path: str | Path, data: Any) -> None:
    """Write ``data`` as JSON to a temporary name beside ``path``, then rename it into place."""
    path = Path(path)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    with os.fdopen(handle, "w") as file:
        file.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints are saved under a temporary name and renamed, so a crash leaves no torso."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any | None = None
    ) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        super().save_checkpoint(checkpoint, tmp, storage_options)
        os.replace(tmp, path)
