"""Folders that appear whole or not at all, and the error that names one bad file.

A rename within one file system is atomic, so a reader finds either the old folder, the new one
or none, never a half-written one. The work folders beside a target are named after the
process that made them: ``.<name>.tmp-<host>-<pid>-<random>`` while being built and
``.<name>.old-<host>-<pid>-<random>`` while an old version is deleted. One whose process is
gone (on this host, no process with that id runs) is the remains of a killed run: it is removed
the next time a staging folder for the same target is made. Folders of running processes, and
of other hosts sharing the disk, are never touched.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)


def _work_folder(target: Path, kind: str) -> Path:
    """A new empty folder ``.<target name>.<kind>-<host>-<pid>-<random>`` beside ``target``."""
    owner = f"{socket.gethostname()}-{os.getpid()}"
    return Path(tempfile.mkdtemp(prefix=f".{target.name}.{kind}-{owner}-", dir=target.parent))


def _is_dead(host: str, pid: int) -> bool:
    """Whether the process that named a work folder is known to be gone: on this host only, and
    only where signal 0 asks (on Windows ``os.kill`` would end the process instead)."""
    if os.name != "posix" or host != socket.gethostname():
        return False
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return True
    except PermissionError:  # it runs, as another user
        return False
    return False


def _remove_dead_work_folders(target: Path) -> None:
    """Delete the work folders beside ``target`` left by processes that are gone."""
    pattern = re.compile(rf"\.{re.escape(target.name)}\.(?:tmp|old)-(.+)-(\d{{1,9}})-[a-z0-9_]+")
    with os.scandir(target.parent) as siblings:
        leftovers = [
            (entry.path, match.group(1), int(match.group(2)))
            for entry in siblings
            if (match := pattern.fullmatch(entry.name)) and entry.is_dir(follow_symlinks=False)
        ]
    for path, host, pid in leftovers:
        if _is_dead(host, pid):
            log.info("removing %s, left by process %d, which is gone", path, pid)
            shutil.rmtree(path, ignore_errors=True)


@contextmanager
def staging_folder(target: Path) -> Iterator[Path]:
    """A new empty hidden folder beside ``target`` to build in; removed when the block ends
    (after ``replace_folder`` moved it, or what is left of it after an error). Work folders of
    dead processes beside ``target`` are removed first.

    Args:
        target: the folder the staging folder will become; its parent is created if missing.

    Yields:
        The staging folder, on the same file system as ``target``.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_dead_work_folders(target)
    staging = _work_folder(target, "tmp")
    staging.chmod(0o755)  # mkdtemp makes it private; the data set it becomes is not
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def replace_folder(source: Path, target: Path) -> None:
    """Rename ``source`` to ``target``; an existing ``target`` is moved aside, then deleted.

    Args:
        source: the finished folder, on the same file system as ``target``.
        target: where it goes.
    """
    if not target.exists():
        os.replace(source, target)
        return
    trash = _work_folder(target, "old")
    os.replace(target, trash / target.name)
    os.replace(source, target)
    shutil.rmtree(trash)
