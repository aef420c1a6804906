"""The data set folders a configuration reads, and getting a missing one: download or generate."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NamedTuple

from kws.data.download import Archive, DownloadError, download_and_extract
from kws.data.tree import list_folder

log = logging.getLogger(__name__)


class DatasetNotFoundError(FileNotFoundError):
    """A data set folder is missing and could not be downloaded; says what belongs there."""


class DataFolder(NamedTuple):
    """A data set folder: what it should hold, where to get it, what to do without it.

    Attributes:
        path: the folder.
        archive: the archive it is extracted from.
        contents: what belongs there, for error messages.
        alternative: what to do instead when it cannot be had, for error messages.
        generate: makes the folder when it is missing, called with ``path``; None: download it.
        generating: what ``generate`` makes and roughly how long it takes, for the line logged
            before it runs. Default ``"it"``.
    """

    path: Path
    archive: Archive
    contents: str
    alternative: str
    generate: Callable[[Path], Any] | None = None
    generating: str = "it"

    def missing(self, why: str) -> DatasetNotFoundError:
        """The error for this folder missing, ``why`` saying why it is.

        Args:
            why: completes "``path`` is missing and ...".
        """
        return DatasetNotFoundError(
            f"{self.path.absolute()} is missing and {why}. Expected there: {self.contents}. "
            f"Download {self.archive.url} and extract it there, point the config at a copy, "
            f"or: {self.alternative}."
        )


def fetch_missing(folders: Iterable[DataFolder], download: bool) -> None:
    """Generate or download (and extract) every folder that is missing or empty; a generated one
    is announced first, in one logged line: where, what and roughly how long.

    Args:
        folders: the folders a configuration reads.
        download: fetch a missing folder that is not generated; False: raise instead.

    Raises:
        DatasetNotFoundError: a folder is missing and ``download`` is false, or it could not be
            downloaded; naming the folder, what belongs there and the alternative.
    """
    for folder in folders:
        if folder.path.is_dir() and list_folder(folder.path):
            continue
        if folder.generate is not None:
            state = "is empty" if folder.path.is_dir() else "is missing"
            log.info("%s %s: generating %s", folder.path.absolute(), state, folder.generating)
            folder.generate(folder.path)
        elif not download:
            raise folder.missing("data.download is false")
        else:
            try:
                download_and_extract(folder.archive, folder.path)
            except DownloadError as error:
                raise folder.missing(f"could not be downloaded (no network?): {error}") from error


def require(folders: Iterable[DataFolder]) -> None:
    """Raise ``DatasetNotFoundError`` for the first folder that does not exist.

    Args:
        folders: the folders a configuration reads.
    """
    for folder in folders:
        if not folder.path.is_dir():
            raise folder.missing("prepare_data() was not called to fetch it")
