"""Whose each clip is, and so which split it goes to: the speaker read from the clip's path by
``speaker_pattern`` and hashed as TensorFlow's ``which_set`` hashes it, unless list files decide
(``SpeakerSplits``)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from kws.data.folder.paths import split_piece
from kws.data.layout import TESTING_LIST, VALIDATION_LIST
from kws.data.split_protocol import SPLITS, split_word_clips
from kws.data.splits import speaker_set

#: Speech Commands' file names, ``SPEAKER_nohash_N.wav``: the speaker is what precedes ``_nohash_``.
DEFAULT_SPEAKER_PATTERN = r"^(.*?)_nohash_"
#: What the hash gives, as split names.
_HASHED_SPLIT = {"training": "train", "validation": "val", "testing": "test"}


@dataclass(frozen=True)
class SpeakerSplits:
    """The speaker of every index path of a folder data set, and the split each clip goes to.

    Args:
        speaker_pattern: a regular expression searched in each clip's path below its word (or
            negatives) folder; the named group ``speaker``, else the first group, else the
            match is the speaker. A path it does not match is its own speaker.
        negatives: the negatives folders, whose pieces' index paths are absolute.
        validation_percentage: share of the speakers in validation, without list files.
        testing_percentage: share of the speakers in testing, without list files.
    """

    speaker_pattern: str
    negatives: tuple[Path, ...]
    validation_percentage: float
    testing_percentage: float

    def speaker(self, path: str) -> str:
        """The speaker of an index path, by ``speaker_pattern`` (else the path itself).

        Args:
            path: ``"word/..."``, or a negative piece's ``"/folder/...#k"``.
        """
        return self._speaker(self._below_folder(path))[0]

    def split(
        self, usable: Mapping[str, list[str]], lists: Mapping[str, list[str]]
    ) -> dict[str, dict[str, list[str]]]:
        """``{split: {word: paths}}``: word clips by the lists when there are any, else by
        their speaker's hash; negative pieces always by their speaker's hash.

        Args:
            usable: ``{word or negatives folder: index paths}`` of the clips to split.
            lists: ``{list file name: relative clip paths}``; empty: no list files.
        """
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

    def unmatched(self, word_clips: Mapping[str, list[str]]) -> dict[str, str]:
        """``{"data.speaker_pattern": problem}`` when the pattern matches no clip's path, else
        ``{}``.

        Args:
            word_clips: ``{word or negatives folder: index paths}`` of every clip found.
        """
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
