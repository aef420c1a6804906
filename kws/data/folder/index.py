"""Which clips, with which labels, make up every split of a folder of one's own recordings
(``FolderIndex``): the folders scanned, the clips sorted into words, negative pieces and noise,
checked, and indexed under the Speech Commands protocol."""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from kws.data.audio import clip_rows, inspect_clips, read_clip
from kws.data.clip_format import Align, ClipFormat
from kws.data.folder.paths import (
    is_audio,
    is_word_clip,
    is_word_name,
    no_audio,
    piece_path,
    split_piece,
)
from kws.data.folder.settings import MAX_WORD_SECONDS, MIN_CLIP_SECONDS
from kws.data.folder.speakers import DEFAULT_SPEAKER_PATTERN, SpeakerSplits
from kws.data.index import LISTED, FoundClips, check_links
from kws.data.layout import SAMPLE_RATE, TESTING_LIST, VALIDATION_LIST
from kws.data.split_protocol import SPLITS, Protocol, SplitIndex, class_names, protocol_index
from kws.data.tree import scan_tree

#: Folder levels searched inside a word, negatives or noise folder (``word/speaker/day/x.wav``).
NESTED_LEVELS = 3


@dataclass(frozen=True)
class FolderIndex:
    """Which clips, with which labels, make up every split of a folder of one's own recordings.

    Every folder of ``root`` whose name does not start with ``.`` or ``_`` is a word; its
    recordings (``AUDIO_SUFFIXES``, in it or up to ``NESTED_LEVELS`` folders down) are that
    word's clips. Classes: ``_silence_`` when there is a ``noise_dir``, ``_unknown_`` when
    ``unknown`` (every other word folder's clips, and the row-long pieces of the ``negatives``
    folders' recordings), then the keywords.

    Args:
        root: the folder of word folders (and optionally the two list files).
        keywords: the words to spot, in class order: folder names of ``root``.
        negatives: folders of recordings of any length without the keywords, cut into
            row-long pieces for ``_unknown_``. Default: none.
        noise_dir: a folder of background-noise recordings, each at least one row long, for
            ``_silence_`` and the noise augmentation; None (default): no ``_silence_`` class,
            and the augmentation only shifts.
        unknown: add the ``_unknown_`` class. Default True.
        protocol: how many silence and unknown clips each split gets (``kws.data.split_protocol``).
        seed: for the draw of the unknown clips.
        clip_seconds: the clip length every recording is padded or cut to. Default 1.0.
        align: which ``clip_seconds`` of a longer word recording (up to ``MAX_WORD_SECONDS``)
            make its clip (``kws.data.audio.window_start``): ``loudest`` (default) the window
            with the most energy, ``start`` from where its sound starts (leading silence left
            out, of shorter takes too), ``cut`` the first. A shorter take is kept whole,
            zero-padded at the end.
        speaker_pattern: a regular expression searched in each clip's path below its word (or
            negatives) folder; the named group ``speaker``, else the first group, else the
            match is the speaker. A path it does not match is its own speaker. Default
            ``DEFAULT_SPEAKER_PATTERN`` (Speech Commands' ``SPEAKER_nohash_N``).
        validation_percentage: share of the speakers in validation, without list files.
        testing_percentage: share of the speakers in testing, without list files.
    """

    root: Path
    keywords: tuple[str, ...]
    negatives: tuple[Path, ...] = ()
    noise_dir: Path | None = None
    unknown: bool = True
    protocol: Protocol = "bcresnet"
    seed: int = 0
    clip_seconds: float = 1.0
    align: Align = "loudest"
    speaker_pattern: str = DEFAULT_SPEAKER_PATTERN
    validation_percentage: float = 10.0
    testing_percentage: float = 10.0

    #: The last line of a bad-files error.
    advice: ClassVar[str] = (
        "Fix or remove them, or set data.skip_bad_files=true to leave bad files out; a word "
        "take over a minute long: cut it, or move it to a data.negatives folder."
    )

    @property
    def class_names(self) -> list[str]:
        """``[_silence_, _unknown_, *keywords]``, less the classes not configured."""
        return class_names(self.keywords, self.noise_dir is not None, self.unknown)

    @cached_property
    def clip_format(self) -> ClipFormat:
        """How a word clip becomes a cache row: converted to 16 kHz mono, the ``clip_seconds``
        that ``align`` chooses."""
        return ClipFormat(
            clip_samples=round(self.clip_seconds * SAMPLE_RATE),
            convert=True,
            min_seconds=MIN_CLIP_SECONDS,
            max_seconds=MAX_WORD_SECONDS,
            align=self.align,
        )

    @cached_property
    def recording_format(self) -> ClipFormat:
        """How a negative recording, of any length, becomes row-long pieces."""
        return ClipFormat(self.clip_format.clip_samples, True, MIN_CLIP_SECONDS, max_seconds=None)

    @property
    def noise_folder(self) -> Path | None:
        """The background-noise folder, ``noise_dir``."""
        return self.noise_dir

    def settings(self) -> dict[str, Any]:
        """Everything besides the source files that the index and rows depend on (the cache's
        key)."""
        return {
            "source": "folder",
            "root": str(self.root.absolute()),
            "negatives": [str(path.absolute()) for path in self.negatives],
            "noise_dir": None if self.noise_dir is None else str(self.noise_dir.absolute()),
            "keywords": list(self.keywords),
            "class_names": self.class_names,
            "protocol": self.protocol,
            "seed": self.seed,
            "clip_samples": self.clip_format.clip_samples,
            "align": self.align,
            "speaker_pattern": self.speaker_pattern,
            "validation_percentage": self.validation_percentage,
            "testing_percentage": self.testing_percentage,
        }

    def split_root(self, split: str) -> Path:
        """The folder index paths start from: ``root`` (a negative piece's path is absolute).

        Args:
            split: ``train``, ``val`` or ``test``.
        """
        return self.root

    @cached_property
    def _speakers(self) -> SpeakerSplits:
        """Each clip's speaker and split, by ``speaker_pattern`` and the percentages."""
        return SpeakerSplits(
            self.speaker_pattern,
            self.negatives,
            self.validation_percentage,
            self.testing_percentage,
        )

    def speaker(self, path: str) -> str:
        """The speaker of an index path, by ``speaker_pattern`` (else the path itself).

        Args:
            path: ``"word/..."``, or a negative piece's ``"/folder/...#k"``.
        """
        return self._speakers.speaker(path)

    def scan(self) -> dict[str, dict[str, tuple[int, int]]]:
        """Every file's relative path, size and modification time (``scan_tree``), of ``root``
        (``"root"``), each negatives folder (``"negatives/<i>"``) and ``noise_dir``
        (``"noise"``).

        Raises:
            FileNotFoundError: naming each configured folder that is not one, all at once.
            DataTreeError: a folder cannot be listed, or a link would read a recording of
                ``root`` or ``negatives`` twice (``kws.data.index.check_links``).
        """
        folders = {"data.root": self.root, "data.noise_dir": self.noise_dir}
        folders |= {f"data.negatives[{i}]": path for i, path in enumerate(self.negatives)}
        missing = [
            f"{key}: {path} is not a folder"
            for key, path in folders.items()
            if path is not None and not path.is_dir()
        ]
        if missing:
            raise FileNotFoundError("; ".join(missing))
        sources = {"root": scan_tree(self.root, NESTED_LEVELS + 1)}
        for i, path in enumerate(self.negatives):
            sources[f"negatives/{i}"] = scan_tree(path, NESTED_LEVELS)
        if self.noise_dir is not None:
            sources["noise"] = scan_tree(self.noise_dir, NESTED_LEVELS)
        clips = {self.root: [rel for rel in sources["root"] if is_word_clip(rel)]}
        for i, path in enumerate(self.negatives):
            clips[path] = [rel for rel in sources[f"negatives/{i}"] if is_audio(rel)]
        check_links(clips)
        return sources

    def find(self, sources: Mapping[str, Mapping[str, Any]]) -> FoundClips:
        """Sort the scanned files into word clips, negative pieces and noise; read the lists and
        the negatives' headers (how many pieces each makes). What no setting leaves out goes
        into ``fatal``: a keyword without a folder, a folder without recordings, one list file
        without the other, a ``speaker_pattern`` that matches no file, no ``_unknown_`` clips.

        Args:
            sources: what ``scan`` returned.
        """
        files = sources["root"]
        fatal: dict[str, str] = {}
        folders: dict[str, list[str]] = {}
        others: dict[str, list[str]] = {}  # non-audio files per word folder, for messages
        for rel in sorted(files):
            folder, _, name = rel.partition("/")
            if name and is_word_name(folder):
                (folders if is_audio(name) else others).setdefault(folder, []).append(rel)
                folders.setdefault(folder, [])
        for word in self.keywords:
            if word not in folders:
                fatal[str(self.root / word)] = (
                    f"no such folder, but data.keywords names it (word folders: {sorted(folders)})"
                )
        for word, clips in folders.items():
            if not clips:
                fatal[str(self.root / word)] = no_audio(others.get(word, []))
        lists, problems = self._read_lists(files, fatal)
        word_clips = {word: clips for word, clips in folders.items() if clips}
        negatives = self._negative_recordings(sources, fatal)
        pieces: list[int] = []
        if negatives:
            pieces, negative_problems = clip_rows(
                [Path(path) for paths in negatives.values() for path in paths],
                self.recording_format,
                "checking the negative recordings",
            )
            problems |= negative_problems
        counts = iter(pieces)
        for folder, paths in negatives.items():
            word_clips[folder] = [
                piece_path(path, k) for path in paths for k in range(next(counts))
            ]
        if self.unknown and not any(
            clips for word, clips in word_clips.items() if word not in self.keywords
        ):
            fatal["data.unknown"] = (
                "no clips for _unknown_: no word folder besides the keywords and no "
                "data.negatives; add some, or set data.unknown=false"
            )
        if self.speaker_pattern != DEFAULT_SPEAKER_PATTERN:
            fatal |= self._speakers.unmatched(word_clips)
        noise = []
        if self.noise_dir is not None:
            noise = self.noise_files(sources["noise"])
            if not noise:
                fatal[str(self.noise_dir)] = no_audio(sorted(sources["noise"]))
        return FoundClips(lists, word_clips, {}, noise, problems, fatal)

    def noise_files(self, listing: Mapping[str, Any] | None = None) -> list[Path]:
        """``noise_dir``'s recordings, sorted; [] without one.

        Args:
            listing: ``scan_tree`` of ``noise_dir`` when already made; None: scanned here.
        """
        if self.noise_dir is None:
            return []
        listing = scan_tree(self.noise_dir, NESTED_LEVELS) if listing is None else listing
        return [self.noise_dir / rel for rel in sorted(listing) if is_audio(rel)]

    def inspect(self, found: FoundClips) -> dict[str, str]:
        """``{path: problem}`` of every word clip that cannot make a row, and of every word
        folder left without one (the negatives were checked by ``find``).

        Args:
            found: what ``find`` returned.
        """
        words = {w: c for w, c in found.word_clips.items() if not os.path.isabs(w)}
        problems = inspect_clips(
            [self.root / p for clips in words.values() for p in clips],
            "checking clips",
            self.clip_format,
        )
        root = str(self.root)
        for word, clips in words.items():
            if problems and all(os.path.join(root, p) in problems for p in clips):
                problems[str(self.root / word)] = (
                    f"no usable clip: all {len(clips)} of its recordings are bad"
                )
        return problems

    def read(self, path: Path) -> np.ndarray:
        """One row: a word clip converted and padded or cut, or a negative recording's piece.

        Args:
            path: ``root`` joined with an index path.
        """
        file, piece = split_piece(str(path))
        if piece is None:
            return read_clip(path, self.clip_format)
        return read_clip(Path(file), self.recording_format, piece)

    def index(self, found: FoundClips, exclude: Collection[str] = ()) -> dict[str, SplitIndex]:
        """Every split's index from the clips found, less the files in ``exclude``.

        Args:
            found: what ``find`` returned.
            exclude: absolute paths of files to leave out (bad files).

        Raises:
            FileNotFoundError: a keyword has no usable clip.
            ValueError: a split would be empty.
        """
        root = str(self.root)
        usable = {  # a negative piece's path is absolute: joining keeps it
            word: [p for p in clips if os.path.join(root, split_piece(p)[0]) not in exclude]
            for word, clips in found.word_clips.items()
        }
        missing = [word for word in self.keywords if not usable.get(word)]
        if missing:
            raise FileNotFoundError(f"{self.root}: no usable clips of the keywords {missing}")
        by_split = self._speakers.split(usable, found.lists)
        rng = np.random.default_rng(self.seed)
        names = self.class_names
        index = {
            split: protocol_index(by_split[split], names, self.keywords, self.protocol, rng)
            for split in SPLITS
        }
        for split in SPLITS:
            if not any(by_split[split][word] for word in self.keywords):
                how = (
                    LISTED[split]
                    if found.lists
                    else "given to it by the speaker hash (it needs more speakers, other "
                    "data.validation_percentage / data.testing_percentage, or a "
                    "data.speaker_pattern that finds the speakers)"
                )
                raise ValueError(
                    f"{self.root}: the {split} split has no keyword clip: no usable clip of "
                    f"{list(self.keywords)} is {how}"
                )
        return index

    def build_index(self) -> dict[str, SplitIndex]:
        """Every split's index straight from the tree; reads the lists and the negatives'
        headers only."""
        return self.index(self.find(self.scan()))

    def _read_lists(
        self, files: Mapping[str, Any], fatal: dict[str, str]
    ) -> tuple[dict[str, list[str]], dict[str, str]]:
        """The split lists, when ``root`` has both (one alone goes into ``fatal``), and the
        listed clips that are not in the tree."""
        present = [name for name in (VALIDATION_LIST, TESTING_LIST) if name in files]
        if len(present) == 1:
            absent = VALIDATION_LIST if present == [TESTING_LIST] else TESTING_LIST
            fatal[str(self.root / absent)] = (
                f"missing, but {present[0]} is there: give both lists, or neither for splits "
                "by the speaker hash"
            )
        if len(present) < 2:
            return {}, {}
        lists = {  # a line a path: paths may hold spaces ("hey kitchen/take 1.wav")
            name: [line.strip() for line in (self.root / name).read_text().splitlines()]
            for name in present
        }
        lists = {name: [rel for rel in listed if rel] for name, listed in lists.items()}
        problems = {
            str(self.root / rel): f"named in {name} but missing"
            for name, listed in lists.items()
            for rel in listed
            if rel not in files
        }
        return lists, problems

    def _negative_recordings(
        self, sources: Mapping[str, Mapping[str, Any]], fatal: dict[str, str]
    ) -> dict[str, list[str]]:
        """``{folder: absolute paths of its recordings}`` of the negatives folders; a folder
        without recordings, or one that is a word folder of ``root``, goes into ``fatal``."""
        recordings = {}
        root = self.root.resolve()
        for i, folder in enumerate(self.negatives):
            where = folder.resolve()
            if where == root or (
                where.is_relative_to(root) and is_word_name(where.relative_to(root).parts[0])
            ):
                fatal[f"data.negatives[{i}]"] = (
                    f"{folder} is, or is inside, a word folder of data.root: its clips are "
                    "_unknown_ already; leave it out of data.negatives"
                )
                continue
            files = sources[f"negatives/{i}"]
            paths = [str(folder.absolute() / rel) for rel in sorted(files) if is_audio(rel)]
            if not paths:
                fatal[str(folder)] = no_audio(sorted(files))
            recordings[str(folder.absolute())] = paths
        return recordings
