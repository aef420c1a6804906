"""Writing results so that a file on disk is either whole or absent, never half-written.

Standard library only, so torch-free code (``kws_runtime``, the stream generator) can use it.

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


class BadFileError(ValueError):
    """One file that cannot be used as it is; ``str()`` is ``"<path>: <problem>"``.

    Args:
        path: the file.
        problem: what is wrong with it.
    """

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem
