"""Writing results so that a file on disk is either whole or absent, never half-written.

Every file is written under a hidden temporary name in its own folder and renamed into place
when complete: a rename within one file system is atomic, so a reader finds the old file, the new
one or none. A failed write removes its temporary file; only a process killed outright can leave
a hidden ``.<name>.<random>.tmp`` behind, which nothing reads and which is safe to delete.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import torch
from pytorch_lightning.plugins.io import TorchCheckpointIO


@contextmanager
def atomic_write(path: str | Path, mode: str = "w", **open_args: Any) -> Iterator[IO]:
    """Open a temporary file beside ``path`` for writing and rename it to ``path`` when the block
    ends; if the block raises, the temporary file is removed and ``path`` is left as it was.

    The file is flushed to disk before the rename, so even a machine that loses power keeps the
    old file or the new one; its permissions follow the umask, as ``open`` would set them.

    Args:
        path: the file's final name; its folder must exist.
        mode: ``"w"`` for text or ``"wb"`` for bytes.
        **open_args: passed on to ``open``, e.g. ``newline=""`` for ``csv`` writers.

    Yields:
        The open temporary file.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb', not {mode!r}")
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    # "x": a new file, so that an error below removes only our own; closed by the with below
    file = open(tmp, mode.replace("w", "x"), **open_args)  # noqa: SIM115
    try:
        with file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json(path: str | Path, data: Any) -> None:
    """Write ``data`` as indented JSON with sorted keys, atomically.

    Args:
        path: the file to write; its folder must exist.
        data: anything ``json.dumps`` takes.
    """
    with atomic_write(path) as file:
        file.write(json.dumps(data, indent=2, sort_keys=True) + "\n")


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
