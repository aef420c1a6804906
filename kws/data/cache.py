"""The decoded cache: every split's clips as one contiguous int16 array, memory-mapped.

A cache folder holds ``{split}.npy`` (``(N, clip_samples)`` int16), ``index.json`` (path and
label of every row, per split), ``noise.npy`` (the background-noise bank, float32) and
``manifest.json``, written last, which records the size of every other file and the sha256 of
``index.json``. It is built in a staging folder and renamed into place whole, and it belongs to
one fingerprint of its source files (relative path, size and modification time of each): when
they change, it is rebuilt. Opening checks every file against the manifest, so one deleted, cut
short or edited since the build is found (``CacheDamagedError``); the arrays are checked by size
and header, not hashed (gigabytes).

The build checks the free space first and writes with ordinary file writes, never through a
memory map, so a full disk is an ``OSError`` (reported as ``CacheWriteError``), not a SIGBUS.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kws.data.audio import read_clips
from kws.data.files import replace_folder, staging_folder
from kws.data.layout import CLIP_SAMPLES
from kws.data.split_protocol import SplitIndex
from kws_runtime.io import BadFileError

CACHE_FORMAT = 2
MANIFEST = "manifest.json"
INDEX = "index.json"
NOISE = "noise.npy"


class BadFilesError(ValueError):
    """Source files (or folders) that cannot be used, every one listed with its problem.

    Args:
        problems: ``{path: problem}``, kept as ``problems``.
        advice: what to do about them, the message's last line.
        what: what the listed things are, in the first line. Default ``"bad file(s)"``.
    """

    def __init__(self, problems: dict[str, str], advice: str, what: str = "bad file(s)") -> None:
        listing = "\n  ".join(f"{path}: {problem}" for path, problem in sorted(problems.items()))
        super().__init__(f"{len(problems)} {what}:\n  {listing}\n{advice}")
        self.problems = problems


class CacheDamagedError(BadFileError):
    """A file of a built cache that is missing or no longer what its manifest records;
    ``str()`` is ``"<path>: <problem>"``."""


class CacheWriteError(OSError):
    """The cache cannot be written: too little free space, or a write failed."""


def fingerprint(value: Any) -> str:
    """A sha256 hex digest of any JSON-serialisable value, independent of dict order.

    Args:
        value: what to digest.
    """
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


@dataclass
class SplitSource:
    """What to decode for one split.

    Args:
        root: the folder the index's paths start from.
        index: the split's clips and labels.
        silence: the clips of the index's silence rows (path ``""``), in order,
            ``(n_silent, clip_samples)`` int16; None: zeros.
    """

    root: Path
    index: SplitIndex
    silence: np.ndarray | None = None


class ClipCache:
    """A complete cache folder, opened read-only; the clip arrays are memory maps.

    Making one checks every file against the manifest's record of it first.

    Args:
        folder: the cache folder.
        manifest: its parsed ``manifest.json``.

    Raises:
        CacheDamagedError: naming the first file that is missing or does not match its record.
    """

    def __init__(self, folder: Path, manifest: dict[str, Any]) -> None:
        self.folder = folder
        self.manifest = manifest
        for name, record in manifest["files"].items():
            _check_file(folder / name, record)
        index = json.loads((folder / INDEX).read_text())
        self._index = {
            split: SplitIndex(entry["paths"], np.asarray(entry["labels"], dtype=np.int64))
            for split, entry in index.items()
        }
        self._clips = {
            split: _map_clips(folder / f"{split}.npy", (len(split_index.paths), self.clip_samples))
            for split, split_index in self._index.items()
        }

    @classmethod
    def open(cls, folder: Path, source_fingerprint: str) -> ClipCache | None:
        """The cache in ``folder`` if it was built from these sources by this version's format.

        Args:
            folder: the cache folder.
            source_fingerprint: ``fingerprint`` of the source files, as given to ``build``.

        Returns:
            The cache, or None where there is no folder, or its cache is of another format or
            other sources (then it is to be rebuilt).

        Raises:
            CacheDamagedError: naming the manifest, or a file it records, if that is missing, cut
                short or changed since the build.
        """
        if not folder.exists():
            return None
        path = folder / MANIFEST
        try:
            manifest = json.loads(path.read_text())
        except FileNotFoundError:
            raise CacheDamagedError(path, "missing") from None
        except ValueError:  # not JSON, or not even UTF-8
            raise CacheDamagedError(path, "not valid JSON") from None
        if not isinstance(manifest, dict):
            raise CacheDamagedError(path, "not a cache manifest")
        if manifest.get("format") != CACHE_FORMAT or manifest.get("sources") != source_fingerprint:
            return None
        return cls(folder, manifest)

    @classmethod
    def build(
        cls,
        folder: Path,
        source_fingerprint: str,
        splits: dict[str, SplitSource],
        noise: np.ndarray,
        skipped: dict[str, str],
        about: dict[str, Any],
        read: Callable[[Path], np.ndarray],
        clip_samples: int,
    ) -> ClipCache:
        """Decode every split into a new cache that replaces ``folder`` when whole.

        The free space is checked before anything is written. A file that fails to decode now
        aborts the build: it passed the checks before, so it changed or the disk failed. Either
        way nothing is left behind.

        Args:
            folder: the cache folder to make, or replace.
            source_fingerprint: ``fingerprint`` of the source files, kept for ``open``.
            splits: what to decode for each split.
            noise: the background-noise bank, ``(files, samples)`` float.
            skipped: ``{path: problem}`` of the bad source files left out, kept in the manifest
                so that opening the cache can report them.
            about: the settings the index was made with, kept in the manifest.
            read: makes one row, ``(clip_samples,)`` int16, from a split's root joined with
                an index path; raises ``BadAudioError`` (the source's ``read``).
            clip_samples: samples per row (the source's ``ClipFormat.clip_samples``).

        Raises:
            CacheWriteError: naming ``folder`` and the bytes the cache needs, when the disk has
                less free or a write fails.
            BadFilesError: a source file failed to decode.
        """
        index = json.dumps(
            {
                split: {"paths": source.index.paths, "labels": source.index.labels.tolist()}
                for split, source in splits.items()
            }
        ).encode()
        noise = noise.astype(np.float32)
        headers = {
            split: _npy_header((len(source.index.paths), clip_samples), np.int16)
            for split, source in splits.items()
        }
        row_bytes = clip_samples * np.dtype(np.int16).itemsize
        files: dict[str, dict[str, Any]] = {
            f"{split}.npy": {"bytes": len(headers[split]) + len(source.index.paths) * row_bytes}
            for split, source in splits.items()
        }
        files[NOISE] = {"bytes": len(_npy_header(noise.shape, noise.dtype)) + noise.nbytes}
        files[INDEX] = {"bytes": len(index), "sha256": hashlib.sha256(index).hexdigest()}
        manifest = {
            "format": CACHE_FORMAT,
            "sources": source_fingerprint,
            "clips": {split: len(source.index.paths) for split, source in splits.items()},
            "clip_samples": clip_samples,
            "files": files,
            "skipped": skipped,
            **about,
        }
        manifest_bytes = json.dumps(manifest, indent=1).encode()
        needed = sum(record["bytes"] for record in files.values()) + len(manifest_bytes)
        advice = "free some space, or put the cache on another disk (data.cache_dir)"
        with staging_folder(folder) as staging:
            free = shutil.disk_usage(staging).free
            if free < needed:
                raise CacheWriteError(
                    f"{folder}: the decoded cache needs {needed:,} bytes and the disk has "
                    f"{free:,} free: {advice}"
                )
            try:
                problems: dict[str, str] = {}
                for split, source in splits.items():
                    problems |= _write_clips(
                        staging / f"{split}.npy", headers[split], source, read, clip_samples
                    )
                if problems:
                    raise BadFilesError(
                        problems,
                        "They passed the check before decoding (which decodes every file but "
                        "integer PCM WAV), so they changed during the build or the disk failed.",
                    )
                (staging / INDEX).write_bytes(index)
                np.save(staging / NOISE, noise)
                (staging / MANIFEST).write_bytes(manifest_bytes)
            except OSError as error:
                raise CacheWriteError(
                    f"{folder}: writing the decoded cache failed ({error.strerror or error}); "
                    f"it needs {needed:,} bytes: {advice}"
                ) from error
            staging.chmod(0o755)
            replace_folder(staging, folder)
        return cls(folder, manifest)

    @property
    def clip_samples(self) -> int:
        """Samples per row."""
        return self.manifest.get("clip_samples", CLIP_SAMPLES)

    @property
    def skipped(self) -> dict[str, str]:
        """``{path: problem}`` of the source files left out when this cache was built."""
        return self.manifest["skipped"]

    def index(self, split: str) -> SplitIndex:
        """The paths and labels of a split's rows.

        Args:
            split: ``train``, ``val`` or ``test``.
        """
        return self._index[split]

    def clips(self, split: str) -> np.ndarray:
        """``(N, clip_samples)`` int16, memory-mapped read-only: pages load as rows are read.

        Args:
            split: ``train``, ``val`` or ``test``.
        """
        return self._clips[split]

    def noise(self) -> np.ndarray:
        """The background-noise bank, ``(files, samples)`` float32."""
        return np.load(self.folder / NOISE)


def _npy_header(shape: tuple[int, ...], dtype: np.dtype | type) -> bytes:
    """The header ``np.save`` writes before the data of a C-order array of this shape and type."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header,
        {
            "descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
            "fortran_order": False,
            "shape": shape,
        },
    )
    return header.getvalue()


def _write_clips(
    path: Path,
    header: bytes,
    source: SplitSource,
    read: Callable[[Path], np.ndarray],
    clip_samples: int,
) -> dict[str, str]:
    """Decode one split into the ``.npy`` file ``path``: ``header``, then every row (``read``)
    in place, with plain writes (a full disk is an ``OSError``). Returns the decode problems."""
    row_bytes = clip_samples * np.dtype(np.int16).itemsize
    paths = source.index.paths
    silence_row = np.full(len(paths), -1)  # each row's clip in source.silence, -1 for none
    if source.silence is not None:
        silent = np.array([path == "" for path in paths], dtype=bool)
        silence_row[silent] = np.arange(np.count_nonzero(silent))
    lock = threading.Lock()
    with path.open("wb") as out:
        out.write(header)

        def write(start: int, clips: np.ndarray) -> None:
            rows = silence_row[start : start + len(clips)]
            if (rows >= 0).any():
                clips[rows >= 0] = source.silence[rows[rows >= 0]]
            with lock:  # blocks come from the decoding threads, in any order
                out.seek(len(header) + start * row_bytes)
                out.write(clips.data)

        return read_clips(
            [source.root / path if path else None for path in paths],
            write,
            read,
            clip_samples,
            f"decoding {path.stem}",
        )


def _check_file(path: Path, record: dict[str, Any]) -> None:
    """Raise ``CacheDamagedError`` unless ``path`` has the recorded size (and sha256, if any)."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise CacheDamagedError(path, "missing") from None
    if size != record["bytes"]:
        raise CacheDamagedError(path, f"{size:,} bytes, the manifest records {record['bytes']:,}")
    if "sha256" in record and hashlib.sha256(path.read_bytes()).hexdigest() != record["sha256"]:
        raise CacheDamagedError(path, "changed since the build (its sha256 is not the manifest's)")


def _map_clips(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """Memory-map a split's clips, checking the array is the ``(rows, clip_samples)`` int16 the
    index and manifest need."""
    try:
        clips = np.load(path, mmap_mode="r")
    except ValueError as error:
        raise CacheDamagedError(path, f"not a readable array ({error})") from None
    if clips.dtype != np.int16 or clips.shape != shape:
        raise CacheDamagedError(
            path, f"holds {clips.dtype} {clips.shape}, the index needs int16 {shape}"
        )
    return clips
