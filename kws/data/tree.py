"""The source data tree: listing its folders and scanning its files, hidden names skipped and
links followed, with one error (``DataTreeError``) naming what cannot be listed or examined."""

from __future__ import annotations

import os
import stat
from pathlib import Path


class DataTreeError(OSError):
    """A folder of the data tree that cannot be listed, or an entry that cannot be examined."""


def list_folder(folder: Path) -> list[os.DirEntry]:
    """The entries of ``folder``, hidden ones included.

    Args:
        folder: the folder to list.

    Raises:
        DataTreeError: it cannot be listed (no permission, a link loop, not a folder).
    """
    try:
        with os.scandir(folder) as entries:
            return list(entries)
    except OSError as error:
        raise DataTreeError(f"{folder}: cannot list this folder ({error.strerror})") from error


def _visible(folder: Path | str) -> list[tuple[str, str, os.stat_result]]:
    """``(name, path, stat)`` of the entries of ``folder`` not hidden, links followed."""
    found = []
    for entry in list_folder(Path(folder)):
        if entry.name.startswith("."):
            continue
        try:
            found.append((entry.name, entry.path, entry.stat()))
        except OSError as error:
            raise DataTreeError(f"{entry.path}: cannot be examined ({error.strerror})") from error
    return found


def scan_tree(root: Path, depth: int = 1) -> dict[str, tuple[int, int]]:
    """``{relative path: (size, mtime_ns)}`` of every file in ``root`` and its subfolders down
    to ``depth`` levels (1: the Speech Commands layout, ``word/clip.wav``); relative paths use
    ``/``, hidden names are skipped, links followed.

    Args:
        root: the data set folder.
        depth: folder levels below ``root`` to list. Default 1.

    Raises:
        DataTreeError: naming a folder that cannot be listed or an entry that cannot be
            examined (a link loop, a broken link, no permission).
    """
    files: dict[str, tuple[int, int]] = {}
    for name, path, info in _visible(root):
        if stat.S_ISREG(info.st_mode):
            files[name] = (info.st_size, info.st_mtime_ns)
        elif stat.S_ISDIR(info.st_mode) and depth > 0:
            for child, record in scan_tree(Path(path), depth - 1).items():
                files[f"{name}/{child}"] = record
    return files
