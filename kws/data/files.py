"""Folders that appear whole or not at all: build next to the target, then rename into place.

A rename within one file system is atomic, so a reader finds either the old folder, the new one
or none, never a half-written one. Leftover ``.<name>.tmp-*`` folders are the remains of a run
that was killed; nothing reads them and they are safe to delete.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def staging_folder(target: Path) -> Iterator[Path]:
    """A new empty hidden folder beside ``target`` to build in; removed when the block ends
    (after ``replace_folder`` moved it, or what is left of it after an error)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; the data set it becomes is not
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def replace_folder(source: Path, target: Path) -> None:
    """Rename ``source`` to ``target``; an existing ``target`` is moved aside, then deleted."""
    if not target.exists():
        os.replace(source, target)
        return
    trash = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
    os.replace(target, trash / target.name)
    os.replace(source, target)
    shutil.rmtree(trash)
