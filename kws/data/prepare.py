"""One configuration's decoded cache: opened when it matches, else built from checked sources.

The cache folder is named after the index settings and belongs to one fingerprint of the source
files, so changing either makes a new one (``kws.data.cache``). Building checks every source file
first and lists all the bad ones at once; with ``skip_bad_files`` they are left out instead.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from kws.data.audio import inspect_clips
from kws.data.cache import BadFilesError, CacheDamagedError, ClipCache, SplitSource, fingerprint
from kws.data.index import IndexBuilder
from kws.data.layout import BACKGROUND_NOISE
from kws.data.noise import fixed_noise_clips, read_noise_files, stack_noise

log = logging.getLogger(__name__)

SKIP_ADVICE = "Fix or remove them, or set data.skip_bad_files=true to leave them out."


def prepare_cache(
    builder: IndexBuilder,
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
        BadFilesError: bad source files, unless ``skip_bad_files``.
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
        raise BadFilesError(cache.skipped, SKIP_ADVICE)
    if cache.skipped:
        log.warning("left out %d bad file(s) (data.skip_bad_files=true); the list is in %s",
                    len(cache.skipped), folder / "manifest.json")  # fmt: skip
    return cache


def _build_cache(
    builder: IndexBuilder,
    folder: Path,
    source_fingerprint: str,
    sources: dict[str, dict],
    skip_bad_files: bool,
) -> ClipCache:
    """Check every source file, then decode the protocol's clips of every split."""
    found = builder.find(sources)
    root = builder.root
    noises, noise_problems = read_noise_files(
        [root / rel for rel in found.noise_files], root / BACKGROUND_NOISE
    )
    clip_paths = [root / p for clips in found.word_clips.values() for p in clips]
    clip_paths += [builder.test_root / p for clips in found.test_clips.values() for p in clips]
    problems = found.problems | noise_problems | inspect_clips(clip_paths)
    if problems and not skip_bad_files:
        raise BadFilesError(problems, SKIP_ADVICE)
    noise = stack_noise(noises, root / BACKGROUND_NOISE)
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
            else fixed_noise_clips(noise, split_index.paths.count(""), rng),
        )
        for split, split_index in index.items()
    }
    return ClipCache.build(folder, source_fingerprint, splits, noise, problems, builder.settings())
