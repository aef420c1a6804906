"""The decoded cache: every split's clips as one contiguous int16 array, memory-mapped.

A cache folder holds ``{split}.npy`` (``(N, CLIP_SAMPLES)`` int16), ``index.json`` (path,
label and speaker of every row, per split), ``noise.npy`` (the background-noise bank, float32)
and ``manifest.json``, written last. It is built in a staging folder and renamed into place
whole, and it belongs to one fingerprint of its source files (relative path, size and
modification time of each): when they change, it is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kws.data.audio import read_clips_into
from kws.data.files import replace_folder, staging_folder
from kws.data.layout import CLIP_SAMPLES
from kws.data.protocol import SplitIndex

CACHE_FORMAT = 1
MANIFEST = "manifest.json"


class BadFilesError(ValueError):
    """Source files that cannot be used, every one listed with its problem."""

    def __init__(self, problems: dict[str, str], advice: str) -> None:
        listing = "\n  ".join(f"{path}: {problem}" for path, problem in sorted(problems.items()))
        super().__init__(f"{len(problems)} bad file(s):\n  {listing}\n{advice}")
        self.problems = problems


def scan_tree(root: Path) -> dict[str, tuple[int, int]]:
    """``{relative path: (size, mtime_ns)}`` of every file in ``root`` and its subfolders one
    level down (the Speech Commands layout); hidden names are skipped."""
    files: dict[str, tuple[int, int]] = {}
    with os.scandir(root) as top:
        for entry in top:
            if entry.name.startswith("."):
                continue
            if entry.is_file():
                stat = entry.stat()
                files[entry.name] = (stat.st_size, stat.st_mtime_ns)
            elif entry.is_dir():
                with os.scandir(entry.path) as folder:
                    for child in folder:
                        if not child.name.startswith(".") and child.is_file():
                            stat = child.stat()
                            files[f"{entry.name}/{child.name}"] = (stat.st_size, stat.st_mtime_ns)
    return files


def fingerprint(value: Any) -> str:
    """A sha256 hex digest of any JSON-serialisable value, independent of dict order."""
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


@dataclass
class SplitSource:
    """What to decode for one split: clips under ``root`` and, for the index's silence rows
    (path ``""``), ``silence`` clips ``(n_silent, CLIP_SAMPLES)`` int16 (zeros when None)."""

    root: Path
    index: SplitIndex
    silence: np.ndarray | None = None


class ClipCache:
    """A complete cache folder, opened read-only; the clip arrays are memory maps."""

    def __init__(self, folder: Path, manifest: dict[str, Any]) -> None:
        self.folder = folder
        self.manifest = manifest
        index = json.loads((folder / "index.json").read_text())
        self._index = {
            split: SplitIndex(entry["paths"], np.asarray(entry["labels"], dtype=np.int64))
            for split, entry in index.items()
        }

    @classmethod
    def open(cls, folder: Path, source_fingerprint: str) -> ClipCache | None:
        """The cache in ``folder`` if it is complete and was built from these sources, else None."""
        try:
            manifest = json.loads((folder / MANIFEST).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
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
    ) -> ClipCache:
        """Decode every split into a new cache that replaces ``folder`` when whole.

        ``skipped`` lists bad source files left out (kept in the manifest, so opening the cache
        can report them); ``about`` records the settings the index was made with. A file that
        fails to decode now aborts the build: it passed the checks before, so it changed or the
        disk failed, and nothing is written.
        """
        with staging_folder(folder) as staging:
            problems: dict[str, str] = {}
            for split, source in splits.items():
                problems |= _decode_split(staging / f"{split}.npy", split, source)
            if problems:
                raise BadFilesError(problems, "They changed or became unreadable during the build.")
            index = {
                split: {
                    "paths": source.index.paths,
                    "labels": source.index.labels.tolist(),
                }
                for split, source in splits.items()
            }
            (staging / "index.json").write_text(json.dumps(index))
            np.save(staging / "noise.npy", noise.astype(np.float32))
            manifest = {
                "format": CACHE_FORMAT,
                "sources": source_fingerprint,
                "clips": {split: len(source.index.paths) for split, source in splits.items()},
                "skipped": skipped,
                **about,
            }
            (staging / MANIFEST).write_text(json.dumps(manifest, indent=1))
            staging.chmod(0o755)
            replace_folder(staging, folder)
        return cls(folder, manifest)

    @property
    def skipped(self) -> dict[str, str]:
        """``{path: problem}`` of the source files left out when this cache was built."""
        return self.manifest["skipped"]

    def index(self, split: str) -> SplitIndex:
        return self._index[split]

    def clips(self, split: str) -> np.ndarray:
        """``(N, CLIP_SAMPLES)`` int16, memory-mapped read-only: pages load as rows are read."""
        return np.load(self.folder / f"{split}.npy", mmap_mode="r")

    def noise(self) -> np.ndarray:
        """The background-noise bank, ``(files, samples)`` float32."""
        return np.load(self.folder / "noise.npy")


def _decode_split(destination: Path, split: str, source: SplitSource) -> dict[str, str]:
    """Write one split's clips into a new ``.npy`` memory map; return any decode problems."""
    paths = source.index.paths
    clips = np.lib.format.open_memmap(
        destination, mode="w+", dtype=np.int16, shape=(len(paths), CLIP_SAMPLES)
    )
    silent = np.array([path == "" for path in paths], dtype=bool)
    if source.silence is not None:
        clips[silent] = source.silence
    problems = read_clips_into(
        clips, [source.root / path if path else None for path in paths], f"decoding {split}"
    )
    clips.flush()
    del clips
    return problems
