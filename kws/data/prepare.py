"""One configuration's decoded cache: opened when it matches, else built from checked sources.

The cache folder is named after the index settings and belongs to one fingerprint of the source
files, so changing either makes a new one (``kws.data.cache``). Building checks every source file
first and lists all the bad ones at once; with ``skip_bad_files`` they are left out instead.
Any source shaped like ``ClipSource`` is built the same way: Speech Commands
(``kws.data.index.SpeechCommandsIndex``) and a folder of one's own words (``kws.data.folder``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from kws.data.cache import BadFilesError, CacheDamagedError, ClipCache, SplitSource, fingerprint
from kws.data.clip_format import ClipFormat
from kws.data.index import FoundClips
from kws.data.noise import fixed_noise_clips, read_noise_files, stack_noise
from kws.data.split_protocol import SplitIndex

log = logging.getLogger(__name__)


class ClipSource(Protocol):
    """What ``prepare_cache`` needs of a data source (``SpeechCommandsIndex`` is one).

    Attributes:
        root: the data set folder; the cache folder is named after it.
        seed: draws the evaluation silence clips.
        clip_format: how a file becomes a cache row.
        noise_folder: where the background noise is; None: no noise (a bank of silence).
        advice: the last line of a bad-files error.
    """

    root: Path
    seed: int
    clip_format: ClipFormat
    advice: str

    @property
    def noise_folder(self) -> Path | None: ...

    def settings(self) -> dict[str, Any]: ...

    def scan(self) -> dict[str, dict[str, tuple[int, int]]]: ...

    def find(self, sources: Mapping[str, Any]) -> FoundClips: ...

    def inspect(self, found: FoundClips) -> dict[str, str]: ...

    def index(self, found: FoundClips, exclude: Any = ()) -> dict[str, SplitIndex]: ...

    def split_root(self, split: str) -> Path: ...

    def read(self, path: Path) -> np.ndarray: ...


def prepare_cache(
    builder: ClipSource,
    cache_dir: Path,
    skip_bad_files: bool = False,
    rebuild_cache: bool = True,
) -> ClipCache:
    """Open the cache that matches the sources and settings of ``builder``, building it when there
    is none and rebuilding it when it is damaged.

    Args:
        builder: the data set and the index settings.
        cache_dir: where cache folders go, one per settings.
        skip_bad_files: leave bad source files out; False: stop, listing them all.
        rebuild_cache: rebuild a damaged cache; False: stop, naming the damaged file.

    Raises:
        BadFilesError: bad source files, unless ``skip_bad_files``; problems that no setting
            leaves out (``FoundClips.fatal``) always, listed with the bad files.
        CacheDamagedError: a damaged cache, unless ``rebuild_cache``.
    """
    sources = builder.scan()
    source_fingerprint = fingerprint(sources)
    folder = cache_dir / f"{builder.root.name}-{fingerprint(builder.settings())[:12]}"
    try:
        cache = ClipCache.open(folder, source_fingerprint)
    except CacheDamagedError as error:
        if not rebuild_cache:
            raise CacheDamagedError(
                error.path,
                f"{error.problem}: the decoded cache is damaged (data.rebuild_cache=true, "
                "or deleting the folder, rebuilds it)",
            ) from None
        log.warning("rebuilding the damaged decoded cache: %s", error)
        cache = None
    if cache is None:
        cache = _build_cache(builder, folder, source_fingerprint, sources, skip_bad_files)
    if cache.skipped and not skip_bad_files:
        raise BadFilesError(cache.skipped, builder.advice)
    if cache.skipped:
        log.warning("left out %d bad file(s) (data.skip_bad_files=true); the list is in %s",
                    len(cache.skipped), folder / "manifest.json")  # fmt: skip
    return cache


def _build_cache(
    builder: ClipSource,
    folder: Path,
    source_fingerprint: str,
    sources: dict[str, dict],
    skip_bad_files: bool,
) -> ClipCache:
    """Check every source file, then decode the protocol's clips of every split."""
    found = builder.find(sources)
    clip_format = builder.clip_format
    noise_folder = builder.noise_folder
    noises, noise_problems = [], {}
    if noise_folder is not None:
        noises, noise_problems = read_noise_files(found.noise_files, noise_folder, clip_format)
    problems = found.problems | noise_problems | builder.inspect(found)
    if found.fatal:
        raise BadFilesError(dict(found.fatal) | problems, builder.advice, "problem(s) in the data")
    if problems and not skip_bad_files:
        raise BadFilesError(problems, builder.advice)
    if noise_folder is None:  # no noise: the augmentation's noise is silence (the shift stays)
        noise = np.zeros((1, clip_format.clip_samples), dtype=np.float32)
    else:
        noise = stack_noise(noises, noise_folder)
    index = builder.index(found, exclude=problems)
    rng = np.random.default_rng(builder.seed)
    splits = {
        split: SplitSource(
            root=builder.split_root(split),
            index=split_index,
            # Evaluation silence gets fixed noise so that metrics repeat exactly; training
            # silence stays zeros and gets fresh noise from the augmentation.
            silence=None
            if split == "train"
            else fixed_noise_clips(
                noise, split_index.paths.count(""), rng, clip_format.clip_samples
            ),
        )
        for split, split_index in index.items()
    }
    return ClipCache.build(
        folder,
        source_fingerprint,
        splits,
        noise,
        problems,
        builder.settings(),
        builder.read,
        clip_format.clip_samples,
    )
