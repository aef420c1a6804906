"""Download, verify and safely extract the Speech Commands archives.

``download`` streams into ``<archive>.part``, resuming it with an HTTP Range request after an
interruption (in the same call or a later one; a server that ignores Range is read from the
start again), and renames it to ``<archive>`` only once its sha256 matches: a file under the
final name is always verified. A complete download with the wrong checksum is deleted, since
resuming it could never fix it. ``extract_tar`` refuses any member that would land outside the
target folder and extracts into a staging folder renamed into place when whole.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import posixpath
import shutil
import tarfile
import time
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.error import HTTPError

from tqdm.auto import tqdm

from kws.data.files import replace_folder, staging_folder

_BLOCK = 1 << 20  # bytes per read while downloading and hashing


@dataclass(frozen=True)
class Archive:
    """A published archive: where it lives and the sha256 of its bytes.

    Args:
        url: where to download it.
        sha256: the hex digest of its bytes.
    """

    url: str
    sha256: str

    @property
    def filename(self) -> str:
        """The archive's file name, the last part of its URL."""
        return posixpath.basename(self.url)


# 2,428,923,189 bytes: 105,829 clips of 35 words, _background_noise_/, the split lists.
SPEECH_COMMANDS = Archive(
    "https://storage.googleapis.com/download.tensorflow.org/data/speech_commands_v0.02.tar.gz",
    "af14739ee7dc311471de98f5f9d2c9191b18aedfe957f4a6ff791c709868ff58",
)
# 112,563,277 bytes: the official 12-class test set, 4,890 clips in one folder per class.
SPEECH_COMMANDS_TEST = Archive(
    "https://storage.googleapis.com/download.tensorflow.org/data/"
    "speech_commands_test_set_v0.02.tar.gz",
    "cc2a00c1147c2254e9be3fa0f779d8c17421dc349b86366567a8edfa9acd51df",
)


class DownloadError(OSError):
    """The transfer failed (no network, HTTP error, connection lost without progress)."""


class ChecksumError(ValueError):
    """A downloaded file's sha256 is not the published one."""


class ArchiveError(ValueError):
    """An archive that cannot be extracted (unreadable, or a member that is not allowed)."""


def sha256_of(path: Path) -> str:
    """The sha256 hex digest of a file, read in blocks with a progress bar on a terminal.

    Args:
        path: the file.
    """
    digest = hashlib.sha256()
    size = path.stat().st_size
    with (
        path.open("rb") as handle,
        tqdm(
            total=size,
            unit="B",
            unit_scale=True,
            desc=f"verifying {path.name}",
            leave=False,
            disable=None,  # a bar on a terminal only: none in a log or a pipe
        ) as progress,
    ):
        while block := handle.read(_BLOCK):
            digest.update(block)
            progress.update(len(block))
    return digest.hexdigest()


def _fetch_rest(url: str, part: Path, timeout: float, progress: tqdm) -> None:
    """One request: append what ``part`` still lacks of ``url`` (all of it if the server ignores
    the Range header). Raises ``ConnectionError`` if the connection ends before the whole file."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    try:
        response = urllib.request.urlopen(
            urllib.request.Request(url, headers=headers), timeout=timeout
        )
    except HTTPError as error:
        if error.code == 416 and have:  # nothing after byte `have`: the file is already whole
            return
        raise
    with response:
        content_range = response.headers.get("Content-Range", "")
        if response.status == 206:
            if not content_range.startswith(f"bytes {have}-"):
                raise ConnectionError(f"asked for bytes {have}- and got {content_range!r}")
            total = int(content_range.rsplit("/", 1)[1])
        else:  # 200: the server ignored Range and sends the whole file
            have = 0
            length = response.headers.get("Content-Length")
            total = int(length) if length else None
        progress.reset(total=total)
        progress.update(have)
        with part.open("ab" if have else "wb") as out:
            while block := response.read(_BLOCK):
                out.write(block)
                have += len(block)
                progress.update(len(block))
    if total is not None and have < total:
        raise ConnectionError(f"connection closed after {have:,} of {total:,} bytes")


def download(
    url: str, sha256: str, destination: Path, timeout: float = 30.0, attempts: int = 5
) -> Path:
    """Fetch ``url`` to ``destination`` via ``destination.part`` and verify its sha256.

    An attempt that ends early is resumed at once while attempts make progress (up to
    ``attempts``); one that gets nothing (no network, HTTP error) fails at once with
    ``DownloadError``, keeping what ``.part`` holds for the next call to resume.

    Args:
        url: what to fetch.
        sha256: its published sha256 hex digest.
        destination: the file to make; its folder is created if missing.
        timeout: bounds the connection and every read, in seconds.
        attempts: the most requests made.

    Returns:
        ``destination``.

    Raises:
        DownloadError: the transfer failed.
        ChecksumError: the file is not the published one (and was deleted).
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    part = destination.with_name(destination.name + ".part")
    with tqdm(unit="B", unit_scale=True, unit_divisor=1024, desc=destination.name) as progress:
        for attempt in range(1, attempts + 1):
            before = part.stat().st_size if part.exists() else 0
            try:
                _fetch_rest(url, part, timeout, progress)
                break
            except (OSError, http.client.HTTPException) as error:
                have = part.stat().st_size if part.exists() else 0
                if have <= before or attempt == attempts:
                    kept = f"; {part} keeps {have:,} bytes to resume from" if have else ""
                    raise DownloadError(
                        f"downloading {url} failed ({type(error).__name__}: {error}){kept}"
                    ) from error
                time.sleep(min(attempt - 1, 5))  # resume at once, then back off a little
    actual = sha256_of(part)
    if actual != sha256:
        part.unlink()
        raise ChecksumError(
            f"{destination.name} from {url} has sha256 {actual}, expected {sha256}: the file "
            "was deleted and nothing was extracted; run again to download it afresh"
        )
    os.replace(part, destination)
    return destination


def _refused(archive: Path, member: tarfile.TarInfo, problem: str) -> ArchiveError:
    return ArchiveError(f"{archive}: member {member.name!r} {problem}; nothing was extracted")


def _member_path(archive: Path, member: tarfile.TarInfo) -> PurePosixPath | None:
    """Where a member goes, relative to the target; None for the archive's own ``.``.

    Only plain files and folders with relative paths that stay inside are allowed: absolute
    paths, ``..``, links and devices raise ``ArchiveError`` naming the member.
    """
    name = member.name
    if PurePosixPath(name).is_absolute():
        problem = "has an absolute path"
    elif ".." in PurePosixPath(name).parts:
        problem = "would land outside the target folder"
    elif member.issym() or member.islnk():
        problem = f"is a link to {member.linkname!r}"
    elif not (member.isfile() or member.isdir()):
        problem = "is a device or pipe, not a file or folder"
    else:
        parts = [part for part in PurePosixPath(name).parts if part != "."]
        return PurePosixPath(*parts) if parts else None
    raise _refused(archive, member, problem)


def _extract_member(
    archive: Path, tar: tarfile.TarFile, member: tarfile.TarInfo, path: Path
) -> None:
    """Write one file or folder member to ``path`` (a file with the member's modification time).

    A path that is a file for one member and a folder for another, or a time the system cannot
    store, raises ``ArchiveError`` naming the member.
    """
    try:
        if member.isdir():
            path.mkdir(parents=True, exist_ok=True)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        with tar.extractfile(member) as source, path.open("wb") as out:
            shutil.copyfileobj(source, out)
    except (FileExistsError, IsADirectoryError, NotADirectoryError):
        raise _refused(
            archive,
            member,
            "clashes with an earlier member: one path as both a file and a folder",
        ) from None
    try:
        os.utime(path, (member.mtime, member.mtime))
    except (OverflowError, ValueError):
        raise _refused(
            archive, member, f"has a modification time out of range ({member.mtime})"
        ) from None


def extract_tar(archive: Path, target: Path) -> Path:
    """Extract a (compressed) tar archive to ``target``, which appears only when complete.

    An archive whose members all sit in one top folder gives that folder's content.

    Args:
        archive: the tar file, compressed or not.
        target: the folder to make (an existing one is replaced).

    Returns:
        ``target``.

    Raises:
        ArchiveError: the archive is unreadable or holds a member that is not allowed (outside
            the target, a link or device, a path both file and folder, an impossible time);
            nothing is extracted.
    """
    with staging_folder(target) as staging:
        try:
            with (
                archive.open("rb") as raw,
                tqdm.wrapattr(
                    raw, "read", total=archive.stat().st_size, desc=f"extracting {archive.name}"
                ) as stream,
                tarfile.open(fileobj=stream, mode="r|*") as tar,
            ):
                for member in tar:
                    relative = _member_path(archive, member)
                    if relative is not None:
                        _extract_member(archive, tar, member, staging / relative)
        except (tarfile.TarError, EOFError, zlib.error) as error:
            raise ArchiveError(f"{archive}: not a readable tar archive ({error})") from error
        entries = list(staging.iterdir())
        single_folder = len(entries) == 1 and entries[0].is_dir()
        replace_folder(entries[0] if single_folder else staging, target)
    return target


def download_and_extract(archive: Archive, target: Path, timeout: float = 30.0) -> Path:
    """Download (or resume) ``archive`` next to ``target``, verify it, extract it to ``target``
    and delete it.

    Args:
        archive: what to fetch.
        target: the folder to extract it to.
        timeout: bounds the connection and every read, in seconds.

    Returns:
        ``target``.
    """
    path = target.parent / archive.filename
    if not path.is_file():  # a file under the final name has been verified
        download(archive.url, archive.sha256, path, timeout=timeout)
    extract_tar(path, target)
    path.unlink()
    return target
