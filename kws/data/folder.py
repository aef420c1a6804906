"""A folder of one's own recordings as a data set (``data=folder``): any words, any sample rate
and channel count soundfile reads, any clip length.

```
ROOT/
  hey_kitchen/     alice_nohash_0.flac  bob_take2.wav  carol/one.wav ...   one folder per word
  stop/            ...
  other_words/     ...        every folder that is not a keyword: _unknown_
  validation_list.txt, testing_list.txt   optional: the splits, as in Speech Commands
```

``FolderIndex`` finds the clips and builds every split's index under the Speech Commands protocol
(``kws.data.protocol``); ``kws.data.prepare`` checks them all and decodes them once into the same
cache as Speech Commands, converting each to 16 kHz mono with soxr and keeping ``clip_seconds``
of it, padded: of a longer take, its loudest ``clip_seconds`` by default (``align``,
``kws.data.audio.ClipFormat``), so that a word anywhere in a take of a few seconds is kept whole.
``FolderDataModule`` serves that cache as ``SpeechCommandsDataModule`` serves its own
(``kws.data.datamodule.ClipDataModule``).

Splits come from the list files when ROOT has them, else from a hash of each clip's speaker,
read from its path (relative to its word folder) by ``speaker_pattern``, as TensorFlow's
``which_set`` does: a speaker is never in two splits, and adding files never moves others.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from kws.data.audio import ALIGNS, Align, ClipFormat, clip_rows, inspect_clips, read_clip
from kws.data.augment import Augmentation
from kws.data.cache import scan_tree
from kws.data.datamodule import ClipDataModule, check_common_settings
from kws.data.index import LISTED, FoundClips, check_links
from kws.data.layout import (
    MAX_CLIP_SAMPLES,
    SAMPLE_RATE,
    TESTING_LIST,
    UNKNOWN,
    VALIDATION_LIST,
)
from kws.data.protocol import (
    SPLITS,
    Protocol,
    SplitIndex,
    class_names,
    protocol_index,
    split_word_clips,
)
from kws.data.splits import speaker_set
from kws.data.stream_audio import SplitClips
from kws.data.stream_examples import make_stream_examples

#: The import path saved as ``_target_`` in the hyper-parameters, to rebuild a saved DataModule.
TARGET = "kws.data.FolderDataModule"
#: Speech Commands' file names, ``SPEAKER_nohash_N.wav``: the speaker is what precedes ``_nohash_``.
DEFAULT_SPEAKER_PATTERN = r"^(.*?)_nohash_"
#: The shortest recording taken, in seconds.
MIN_CLIP_SECONDS = 0.1
#: The longest word recording taken, in seconds (the longest ``clip_seconds``): a longer one is
#: no take of a word; ``negatives`` take recordings of any length.
MAX_WORD_SECONDS = MAX_CLIP_SAMPLES / SAMPLE_RATE
#: Settings that ``align`` replaced: setting one stops, naming ``data.align``.
REMOVED_SETTINGS = ("long_clips", "long_tolerance_s")
#: Folder levels searched inside a word, negatives or noise folder (``word/speaker/day/x.wav``).
NESTED_LEVELS = 3
#: The file name endings taken as recordings (formats soundfile reads); other files are ignored.
AUDIO_SUFFIXES = (
    ".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".aifc", ".au",
    ".snd", ".caf", ".w64", ".rf64",
)  # fmt: skip
#: What the hash gives, as split names.
_HASHED_SPLIT = {"training": "train", "validation": "val", "testing": "test"}


def is_audio(name: str) -> bool:
    """Whether a file name ends like a recording (``AUDIO_SUFFIXES``, any case).

    Args:
        name: a file name or path.
    """
    return name.lower().endswith(AUDIO_SUFFIXES)


def piece_path(path: str, piece: int) -> str:
    """The index path of a row-long piece of a negative recording: ``"<path>#<piece>"``.

    Args:
        path: the recording's absolute path.
        piece: which piece, from 0.
    """
    return f"{path}#{piece}"


def split_piece(path: str) -> tuple[str, int | None]:
    """``(file, piece)`` of an index path; ``piece`` is None for a whole clip. A piece's path
    ends in ``#`` and digits after an audio file name, which no clip's path does (it ends in an
    audio suffix).

    Args:
        path: an index path, or one joined to its root.
    """
    file, mark, piece = path.rpartition("#")
    if mark and piece.isdigit() and is_audio(file):
        return file, int(piece)
    return path, None


def _check_settings(
    keywords: Sequence[Any],
    negatives: Sequence[Any],
    silence: bool,
    unknown: bool,
    clip_seconds: Any,
    align: Any,
    removed: Mapping[str, Any],
    speaker_pattern: Any,
    validation_percentage: Any,
    testing_percentage: Any,
) -> None:
    """Raise ``ValueError`` naming the config key of the first setting out of range, or of a
    ``REMOVED_SETTINGS`` one given (``removed``: their values, None where not given)."""
    for key, value in removed.items():
        if value is not None:
            raise ValueError(
                f"data.{key} is gone: data.align (loudest, start or cut) chooses which "
                "clip_seconds of a longer take make its clip, and no take is refused for its "
                "length up to a minute; data.long_clips=cut is data.align=cut"
            )
    strangers = [w for w in keywords if not isinstance(w, str) or not _is_word_name(w)]
    if strangers:
        raise ValueError(
            f"data.keywords: {strangers} are not word folder names (a name with no '/', not "
            "starting with '.' or '_'; quote names YAML reads as numbers or booleans: \"on\")"
        )
    if len(keywords) + silence + unknown < 2:
        raise ValueError(
            f"data.keywords: one keyword {list(keywords)} is one class; a detector tells it from "
            "_unknown_ (data.unknown=true: other word folders, data.negatives) or _silence_ "
            "(data.noise_dir)"
        )
    if isinstance(negatives, str) or not all(isinstance(path, str) for path in negatives):
        raise ValueError(f"data.negatives must be a list of folders, got {negatives!r}")
    numbers = {
        "data.clip_seconds": (clip_seconds, MIN_CLIP_SECONDS, MAX_WORD_SECONDS),
        "data.validation_percentage": (validation_percentage, 0.0, 100.0),
        "data.testing_percentage": (testing_percentage, 0.0, 100.0),
    }
    for key, (value, least, most) in numbers.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not least <= value:
            raise ValueError(f"{key} must be a number of at least {least:g}, got {value!r}")
        if value > most:
            raise ValueError(f"{key} must be at most {most:g}, got {value!r}")
    if validation_percentage <= 0 or testing_percentage <= 0:
        raise ValueError("data.validation_percentage and data.testing_percentage must be above 0")
    if validation_percentage + testing_percentage >= 100:
        raise ValueError(
            "data.validation_percentage + data.testing_percentage must stay below 100, got "
            f"{validation_percentage + testing_percentage:g}: training needs speakers too"
        )
    if align not in ALIGNS:
        raise ValueError(f"data.align must be one of {', '.join(map(repr, ALIGNS))}, got {align!r}")
    if not isinstance(speaker_pattern, str):
        raise ValueError(f"data.speaker_pattern must be a string, got {speaker_pattern!r}")
    try:
        re.compile(speaker_pattern)
    except re.error as error:
        raise ValueError(
            f"data.speaker_pattern {speaker_pattern!r} is not a regular expression ({error})"
        ) from None


def _is_word_name(name: str) -> bool:
    """Whether ``name`` can be a word folder of the root: no ``/``, not hidden, no ``_`` first."""
    return bool(name) and "/" not in name and not name.startswith((".", "_"))


def _is_word_clip(rel: str) -> bool:
    """Whether a path relative to the root is a recording in a word folder."""
    folder, _, name = rel.partition("/")
    return bool(name) and _is_word_name(folder) and is_audio(name)


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
        protocol: how many silence and unknown clips each split gets (``kws.data.protocol``).
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

    def speaker(self, path: str) -> str:
        """The speaker of an index path, by ``speaker_pattern`` (else the path itself).

        Args:
            path: ``"word/..."``, or a negative piece's ``"/folder/...#k"``.
        """
        return self._speaker(self._below_folder(path))[0]

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
        clips = {self.root: [rel for rel in sources["root"] if _is_word_clip(rel)]}
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
            if name and _is_word_name(folder):
                (folders if is_audio(name) else others).setdefault(folder, []).append(rel)
                folders.setdefault(folder, [])
        for word in self.keywords:
            if word not in folders:
                fatal[str(self.root / word)] = (
                    f"no such folder, but data.keywords names it (word folders: {sorted(folders)})"
                )
        for word, clips in folders.items():
            if not clips:
                fatal[str(self.root / word)] = _no_audio(others.get(word, []))
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
            fatal |= self._unmatched_pattern(word_clips)
        noise = []
        if self.noise_dir is not None:
            noise = self.noise_files(sources["noise"])
            if not noise:
                fatal[str(self.noise_dir)] = _no_audio(sorted(sources["noise"]))
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
        by_split = self._split(usable, found.lists)
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

    def _split(
        self, usable: Mapping[str, list[str]], lists: Mapping[str, list[str]]
    ) -> dict[str, dict[str, list[str]]]:
        """``{split: {word: paths}}``: word clips by the lists when there are any, else by
        their speaker's hash; negative pieces always by their speaker's hash."""
        words = [p for word, clips in usable.items() if not os.path.isabs(word) for p in clips]
        if lists:
            validation, testing = lists[VALIDATION_LIST], lists[TESTING_LIST]
        else:
            chosen = {path: self._hashed_split(path) for path in words}
            validation = [path for path, split in chosen.items() if split == "val"]
            testing = [path for path, split in chosen.items() if split == "test"]
        by_split = split_word_clips(words, validation, testing)
        for word, clips in usable.items():
            if os.path.isabs(word):
                for split in SPLITS:
                    by_split[split][word] = []
                for path in clips:
                    by_split[self._hashed_split(path)][word].append(path)
        return by_split

    def _hashed_split(self, path: str) -> str:
        """``train``, ``val`` or ``test`` for an index path, by its speaker's hash."""
        chosen = speaker_set(
            self.speaker(path), self.validation_percentage, self.testing_percentage
        )
        return _HASHED_SPLIT[chosen]

    @cached_property
    def _pattern(self) -> re.Pattern[str]:
        """``speaker_pattern``, compiled once."""
        return re.compile(self.speaker_pattern)

    @cached_property
    def _negative_prefixes(self) -> tuple[str, ...]:
        """Each negatives folder's absolute path and a ``/``: how its pieces' paths begin."""
        return tuple(os.path.join(str(folder.absolute()), "") for folder in self.negatives)

    def _below_folder(self, path: str) -> str:
        """An index path below its word or negatives folder: ``"sub/name.wav"`` (string work
        only: it runs for every clip)."""
        file = split_piece(path)[0]
        if not os.path.isabs(file):
            return file.partition("/")[2]
        prefix = next(p for p in self._negative_prefixes if file.startswith(p))
        return file[len(prefix) :]

    def _speaker(self, below: str) -> tuple[str, bool]:
        """The speaker of a path below its folder, and whether the pattern found it."""
        match = self._pattern.search(below)
        if match is None:
            return below.rpartition(".")[0] or below, False
        if "speaker" in match.groupdict():
            return match.group("speaker"), True
        return (match.group(1) if match.re.groups else match.group(0)), True

    def _unmatched_pattern(self, word_clips: Mapping[str, list[str]]) -> dict[str, str]:
        """``{"data.speaker_pattern": problem}`` when the pattern matches no clip's path."""
        clips = sum(len(paths) for paths in word_clips.values())
        below = sorted({self._below_folder(p) for paths in word_clips.values() for p in paths})
        if not below or any(self._speaker(path)[1] for path in below):
            return {}
        return {
            "data.speaker_pattern": (
                f"{self.speaker_pattern!r} matches none of the {clips} clips' paths below their "
                f"folders (e.g. {below[:3]}); fix it, or leave it at its default"
            )
        }

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
                where.is_relative_to(root) and _is_word_name(where.relative_to(root).parts[0])
            ):
                fatal[f"data.negatives[{i}]"] = (
                    f"{folder} is, or is inside, a word folder of data.root: its clips are "
                    "_unknown_ already; leave it out of data.negatives"
                )
                continue
            files = sources[f"negatives/{i}"]
            paths = [str(folder.absolute() / rel) for rel in sorted(files) if is_audio(rel)]
            if not paths:
                fatal[str(folder)] = _no_audio(sorted(files))
            recordings[str(folder.absolute())] = paths
        return recordings


def _no_audio(others: Sequence[str]) -> str:
    """What to say of a folder without recordings, given its other files."""
    found = f"only {len(others)} other file(s) (e.g. {list(others[:3])})" if others else "empty"
    return f"no recordings, {found}; recordings end in {', '.join(AUDIO_SUFFIXES)}"


class FolderDataModule(ClipDataModule):
    """A folder of one's own recordings as a LightningDataModule (``FolderIndex``): decoded once
    into the cache, converted to 16 kHz mono clips of ``clip_seconds``, served and augmented
    as Speech Commands is.

    The hyper-parameters (saved in checkpoints) are the arguments, paths made absolute, plus
    ``"_target_": "kws.data.FolderDataModule"``, so that evaluation rebuilds the data set from
    the checkpoint.

    Args:
        root: the folder of word folders.
        keywords: the words to spot, in class order: folder names of ``root``.
        negatives: folders of recordings without the keywords (any length), cut into clips
            for ``_unknown_``. Default: none.
        noise_dir: background-noise recordings for ``_silence_`` and the noise augmentation;
            None (default): no ``_silence_``, the augmentation only shifts.
        unknown: add the ``_unknown_`` class (every other word folder, ``negatives``).
        clip_seconds: the clip length, in seconds; every recording is padded or cut to it.
            Default 1.0.
        align: which ``clip_seconds`` of a longer take make its clip: ``loudest`` (default),
            ``start`` or ``cut`` (``FolderIndex``).
        long_clips: removed (``align`` replaced it): any value but None raises ``ValueError``
            naming ``data.align``. Kept out of the hyper-parameters.
        long_tolerance_s: removed, as ``long_clips``.
        speaker_pattern: finds the speaker in a clip's path (``FolderIndex``).
        validation_percentage: share of the speakers in validation, without list files.
        testing_percentage: share of the speakers in testing, without list files.
        protocol: ``bcresnet``, ``tensorflow`` or ``all_unknown`` (``kws.data.protocol``).
        cache_dir: where decoded caches go; None: ``cache`` beside ``root``.
        batch_size: training clips per batch, in [1, 65536].
        eval_batch_size: validation and test clips per batch, in [1, 65536]; None: ``batch_size``.
        num_workers: DataLoader worker processes, in [0, 1024].
        seed: for the unknown subset and the evaluation silence.
        skip_bad_files: leave bad source files out instead of stopping.
        rebuild_cache: rebuild a damaged cache; False: stop, naming the file.
        on_device: keep the training split on the accelerator and gather batches there.
        augment: augment training batches on the device.
        augmentation: ``Augmentation`` settings; None: its defaults (BC-ResNet's).
        rir_dir: room impulse responses (WAV, any rate and channels) for
            ``augmentation.rir_prob``. Default None: none.
        stream_examples: ``kws.data.stream_examples.StreamExamples`` settings: stream-shaped
            training batches, their keyword-free stream made of the training split's
            ``_unknown_`` clips (other word folders and ``negatives``' pieces) over
            ``noise_dir``'s recordings; None (default): clips only.

    Raises:
        ValueError: a setting out of range, naming its config key (``data.clip_seconds``, ...).
    """

    def __init__(
        self,
        root: str,
        keywords: Sequence[str],
        negatives: Sequence[str] = (),
        noise_dir: str | None = None,
        unknown: bool = True,
        clip_seconds: float = 1.0,
        align: Align = "loudest",
        long_clips: Any = None,
        long_tolerance_s: Any = None,
        speaker_pattern: str = DEFAULT_SPEAKER_PATTERN,
        validation_percentage: float = 10.0,
        testing_percentage: float = 10.0,
        protocol: Protocol = "bcresnet",
        cache_dir: str | None = None,
        batch_size: int = 100,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        seed: int = 0,
        skip_bad_files: bool = False,
        rebuild_cache: bool = True,
        on_device: bool = False,
        augment: bool = True,
        augmentation: dict[str, Any] | None = None,
        rir_dir: str | None = None,
        stream_examples: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        keywords = list(keywords)
        check_common_settings(keywords, protocol, batch_size, eval_batch_size, num_workers)
        removed = {"long_clips": long_clips, "long_tolerance_s": long_tolerance_s}
        _check_settings(
            keywords, negatives, noise_dir is not None, unknown, clip_seconds, align, removed,
            speaker_pattern, validation_percentage, testing_percentage,
        )  # fmt: skip
        # Absolute paths in the hyper-parameters (and so in checkpoints): evaluate.py finds the
        # data again from any working directory.
        root = str(Path(root).absolute())
        negatives = [str(Path(path).absolute()) for path in negatives]
        noise_dir = str(Path(noise_dir).absolute()) if noise_dir else None
        cache_dir = str(Path(cache_dir).absolute()) if cache_dir else None
        rir_dir = str(Path(rir_dir).absolute()) if rir_dir else None
        self.save_hyperparameters(ignore=list(REMOVED_SETTINGS))
        self.hparams["_target_"] = TARGET  # after saving: not an argument, not logged
        self.root = Path(root)
        self.cache_dir = Path(cache_dir) if cache_dir else self.root.parent / "cache"
        self.index_builder = FolderIndex(
            root=self.root,
            keywords=tuple(keywords),
            negatives=tuple(Path(path) for path in negatives),
            noise_dir=Path(noise_dir) if noise_dir else None,
            unknown=unknown,
            protocol=protocol,
            seed=seed,
            clip_seconds=float(clip_seconds),
            align=align,
            speaker_pattern=speaker_pattern,
            validation_percentage=float(validation_percentage),
            testing_percentage=float(testing_percentage),
        )
        self.augmentation = Augmentation(**(augmentation or {})) if augment else None
        self.rir_dir = Path(rir_dir) if rir_dir else None
        self.stream_examples = make_stream_examples(stream_examples, self.class_names)

    def stream_clips(self, split: str) -> SplitClips:
        """A split's clips for a long test stream (``kws.data.stream_audio.write_word_stream``),
        after ``setup``: its keyword and ``_unknown_`` clips as the index chose them, read as the
        cache reads them (16 kHz mono, ``clip_seconds`` long), and ``noise_dir``'s recordings for
        the background (none without one).

        Args:
            split: ``train``, ``val`` or ``test``.

        Raises:
            RuntimeError: ``setup`` has not run.
        """
        if split not in self.split_index:
            raise RuntimeError("the data is not set up yet: call setup() first")
        builder, names = self.index_builder, self.class_names
        by_label: dict[str, list[Path]] = {}
        index = self.split_index[split]
        for path, label in zip(index.paths, index.labels, strict=True):
            if path:  # silence rows are made, not read
                by_label.setdefault(names[label], []).append(builder.root / path)

        def read(path: Path) -> np.ndarray:
            return builder.read(path).astype(np.float32) / np.float32(32768.0)

        return SplitClips(
            split,
            {word: by_label.get(word, []) for word in builder.keywords},
            by_label.get(UNKNOWN, []),
            builder.noise_files(),
            builder.clip_format,
            read,
        )
