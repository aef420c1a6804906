"""Finding a Speech Commands tree's clips and building every split's index under the protocol.

``SpeechCommandsIndex`` does the file-system work (listing the folders, reading the official
lists, checking the official test set's class folders); ``kws.data.split_protocol`` decides,
from relative paths alone, which clips make up each split and class. ``kws.data.prepare`` builds
the cache from any source shaped like it (``kws.data.folder.FolderIndex`` is the other).
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import numpy as np

from kws.data.audio import inspect_clips, read_clip
from kws.data.clip_format import SPEECH_COMMANDS_CLIPS, ClipFormat
from kws.data.layout import BACKGROUND_NOISE, DATA_SET_CONTENTS, TESTING_LIST, VALIDATION_LIST
from kws.data.split_protocol import (
    SPLITS,
    Protocol,
    SplitIndex,
    class_names,
    folder_index,
    protocol_index,
    split_word_clips,
)
from kws.data.tree import DataTreeError, list_folder, scan_tree

LISTED = {  # where each split's clips are, under the protocol
    "train": f"outside {VALIDATION_LIST} and {TESTING_LIST}",
    "val": f"in {VALIDATION_LIST}",
    "test": f"in {TESTING_LIST}",
}

#: ``{relative path: (size, mtime_ns)}`` of a folder's files, as ``scan_tree`` gives them.
Files = Mapping[str, Any]


def wavs_by_folder(files: Iterable[str]) -> dict[str, list[str]]:
    """Relative ``.wav`` paths grouped by their top folder, each group sorted, in one pass.

    Args:
        files: relative paths, ``"folder/name"``; others (top-level files) are left out.
    """
    folders: dict[str, list[str]] = {}
    for rel in sorted(files):
        folder, _, name = rel.partition("/")
        if name and name.endswith(".wav"):
            folders.setdefault(folder, []).append(rel)
    return folders


def check_links(trees: Mapping[Path, Iterable[str]]) -> None:
    """Make sure no recording is read through two paths. Raise ``DataTreeError`` naming each link
    (a file or a folder) on the way to a clip that leads to a folder holding the link itself (a
    loop), or to recordings read through another path already: a folder of the trees (a word
    folder's clip, relabelled by the link's word folder) or another link. Links to recordings
    reached through no other path are followed.

    The folders read as they are: each tree's top folders that hold clips and are not links,
    and a tree with clips at its top. A link's target must not hold, equal or lie in any of
    them, nor another link's target.

    Args:
        trees: ``{folder: relative paths of the clips indexed in it}``, ``/``-separated, as
            ``scan_tree`` lists them (links followed).

    Raises:
        DataTreeError: one line naming every such link, where it leads and why.
    """
    folders: dict[Path, set[str]] = {}  # every folder on a clip's way ("": the tree), by tree
    read: dict[str, str] = {}  # real path -> the path it is read through
    for tree, clips in trees.items():
        holding = {rel.rpartition("/")[0] for rel in clips}
        for top in {folder.partition("/")[0] for folder in holding}:
            if not top or not os.path.islink(tree / top):
                read[os.path.realpath(tree / top)] = str(tree / top)
        folders[tree] = {""}
        for folder in holding:
            while folder not in folders[tree]:
                folders[tree].add(folder)
                folder = folder.rpartition("/")[0]
    claimed = sorted(read)
    problems = []
    for tree, clips in trees.items():
        ways = folders[tree] | set(clips)
        bad: list[str] = []  # what lies below a bad link is not judged: a loop repeats it
        for folder in sorted(folders[tree], key=lambda folder: (folder.count("/"), folder)):
            if any(folder == link or folder.startswith(link + "/") for link in bad):
                continue
            for entry in list_folder(tree / folder):
                if not entry.is_symlink():
                    continue
                step = f"{folder}/{entry.name}" if folder else entry.name
                if step not in ways:
                    continue
                target = os.path.realpath(entry.path)
                holder = os.path.realpath(tree / folder)
                if holder == target or holder.startswith(target + os.sep):
                    why = "a folder that holds the link itself (a loop)"
                elif (other := _overlap(target, read, claimed)) is not None:
                    why = f"whose recordings are read through {read[other]} already"
                else:
                    read[target] = entry.path
                    bisect.insort(claimed, target)
                    continue
                bad.append(step)
                problems.append(
                    f"{entry.path} is a link to {target}, {why}: recordings would be read twice "
                    "(under two word folders, labels or splits); remove the link"
                )
    if problems:
        raise DataTreeError("; ".join(problems))


def _overlap(path: str, read: Collection[str], claimed: list[str]) -> str | None:
    """The path of ``read`` (``claimed``: the same, sorted) that ``path`` equals, lies in or
    holds; None when there is none."""
    for folder in (path, *map(str, Path(path).parents)):
        if folder in read:
            return folder
    first_below = bisect.bisect_left(claimed, path + os.sep)
    if first_below < len(claimed) and claimed[first_below].startswith(path + os.sep):
        return claimed[first_below]
    return None


class FoundClips(NamedTuple):
    """What a scan of the data set (and the official test set) found, before any file is read.

    Attributes:
        lists: ``{list file name: relative clip paths}`` of the official validation and testing
            lists.
        word_clips: ``{word: sorted relative paths}`` of the word folders.
        test_clips: ``{class name: sorted relative paths}`` of the official test set's class
            folders; empty when testing on ``testing_list.txt``.
        noise_files: the background-noise recordings.
        problems: ``{absolute path: problem}`` of the listed clips that are not in the tree
            (left out with ``skip_bad_files``).
        fatal: ``{path or config key: problem}`` that no setting leaves out (a folder data
            set's missing keyword folder, say); empty for Speech Commands, whose missing
            structure raises at once.
    """

    lists: dict[str, list[str]]
    word_clips: dict[str, list[str]]
    test_clips: dict[str, list[str]]
    noise_files: list[Path]
    problems: dict[str, str]
    fatal: Mapping[str, str] = {}


@dataclass(frozen=True)
class SpeechCommandsIndex:
    """Which clips, with which labels, make up every split of a Speech Commands tree.

    Args:
        root: the extracted data set: word folders, ``_background_noise_/`` and the two lists.
        test_root: the extracted official test set (one folder per class), which then makes the
            test split; None: the test split is the clips named in ``testing_list.txt``.
        keywords: the words to spot, in class order.
        silence_and_unknown: add the ``_silence_`` and ``_unknown_`` classes (the 12-class task).
        protocol: how many silence and unknown clips each split gets (``kws.data.split_protocol``).
        seed: for the draw of the unknown clips.
    """

    root: Path
    test_root: Path | None
    keywords: tuple[str, ...]
    silence_and_unknown: bool = True
    protocol: Protocol = "bcresnet"
    seed: int = 0

    #: How the clips become cache rows: 16 kHz mono, at most one second, as they are.
    clip_format: ClassVar[ClipFormat] = SPEECH_COMMANDS_CLIPS
    #: The last line of a bad-files error.
    advice = "Fix or remove them, or set data.skip_bad_files=true to leave them out."

    @property
    def class_names(self) -> list[str]:
        """``[_silence_, _unknown_, *keywords]``, or just the keywords."""
        return class_names(self.keywords, self.silence_and_unknown)

    @property
    def noise_folder(self) -> Path:
        """The background-noise recordings' folder, ``_background_noise_``."""
        return self.root / BACKGROUND_NOISE

    def settings(self) -> dict[str, Any]:
        """Everything besides the source files that the index depends on (the cache's key)."""
        return {
            "root": str(self.root.absolute()),
            "test_root": str(self.test_root.absolute()) if self.test_root is not None else None,
            "keywords": list(self.keywords),
            "class_names": self.class_names,
            "protocol": self.protocol,
            "test_set": "list" if self.test_root is None else "official",
            "seed": self.seed,
        }

    def split_root(self, split: str) -> Path:
        """The folder a split's relative paths start from.

        Args:
            split: ``train``, ``val`` or ``test``.
        """
        return self.test_root if split == "test" and self.test_root is not None else self.root

    def scan(self) -> dict[str, dict[str, tuple[int, int]]]:
        """``{"root": files, "test_root": files}`` (the latter with the official test set only):
        every file's relative path, size and modification time (``scan_tree``).

        Raises:
            DataTreeError: a folder cannot be listed, or a link would read a clip twice
                (``check_links``).
        """
        sources = {"root": scan_tree(self.root)}
        by_folder = wavs_by_folder(sources["root"])
        clips = {self.root: [p for w, paths in by_folder.items() if w[0] != "_" for p in paths]}
        if self.test_root is not None:
            sources["test_root"] = scan_tree(self.test_root)
            by_folder = wavs_by_folder(sources["test_root"])
            clips[self.test_root] = [
                p for name, paths in by_folder.items() if name != BACKGROUND_NOISE for p in paths
            ]
        check_links(clips)
        return sources

    def find(self, sources: Mapping[str, Files]) -> FoundClips:
        """Sort the scanned files into word clips, test clips and noise; read the lists.

        Args:
            sources: what ``scan`` returned.

        Raises:
            FileNotFoundError: a list file is missing, or the official test set's folders are
                not one per class.
        """
        lists = self._read_lists()
        files = sources["root"]
        folders = wavs_by_folder(files)
        word_clips = {word: clips for word, clips in folders.items() if not word.startswith("_")}
        problems = {
            str(self.root / rel): f"named in {list_name} but missing"
            for list_name, listed in lists.items()
            for rel in listed
            if rel not in files
        }
        test_clips = {} if self.test_root is None else self._test_clips(sources["test_root"])
        noise = [self.root / rel for rel in folders.get(BACKGROUND_NOISE, [])]
        return FoundClips(lists, word_clips, test_clips, noise, problems)

    def inspect(self, found: FoundClips) -> dict[str, str]:
        """``{path: problem}`` of every word and test clip that is not a usable clip
        (``kws.data.audio.inspect_clips``).

        Args:
            found: what ``find`` returned.
        """
        paths = [self.root / p for clips in found.word_clips.values() for p in clips]
        if self.test_root is not None:
            paths += [self.test_root / p for clips in found.test_clips.values() for p in clips]
        return inspect_clips(paths)

    def read(self, path: Path) -> np.ndarray:
        """One clip as a cache row (``kws.data.audio.read_clip``).

        Args:
            path: the clip, a split's root joined with its index path.
        """
        return read_clip(path)

    def index(self, found: FoundClips, exclude: Collection[str] = ()) -> dict[str, SplitIndex]:
        """Every split's index from the clips found, less the files in ``exclude``.

        Args:
            found: what ``find`` returned.
            exclude: absolute paths of files to leave out (bad files).

        Raises:
            FileNotFoundError: a keyword has no usable clip.
            ValueError: a split would be empty.
        """
        usable = [
            p
            for clips in found.word_clips.values()
            for p in clips
            if str(self.root / p) not in exclude
        ]
        missing = sorted(set(self.keywords) - {p.partition("/")[0] for p in usable})
        if missing:
            raise FileNotFoundError(f"{self.root}: no usable clips of the keywords {missing}")
        lists = found.lists
        by_split = split_word_clips(usable, lists[VALIDATION_LIST], lists[TESTING_LIST])
        rng = np.random.default_rng(self.seed)
        official = self.test_root is not None  # the test split then comes from its own archive
        names = self.class_names
        index = {
            split: protocol_index(by_split[split], names, self.keywords, self.protocol, rng)
            for split in SPLITS
            if not (official and split == "test")
        }
        if official:
            kept = {
                name: [p for p in clips if str(self.test_root / p) not in exclude]
                for name, clips in found.test_clips.items()
            }
            index["test"] = folder_index(kept, names)
        for split in SPLITS:
            if index[split].paths:
                continue
            if split == "test" and official:
                raise ValueError(
                    f"{self.test_root}: the test split is empty: its class folders hold no "
                    "usable clip"
                )
            raise ValueError(
                f"{self.root}: the {split} split is empty: no usable clip of the keywords "
                f"{list(self.keywords)} is {LISTED[split]} (a generated data set needs more "
                "speakers or another seed)"
            )
        return index

    def build_index(self) -> dict[str, SplitIndex]:
        """Every split's index straight from the tree, no file read but the lists."""
        return self.index(self.find(self.scan()))

    def _read_lists(self) -> dict[str, list[str]]:
        """The official split lists: ``{file name: relative clip paths}``."""
        lists = {}
        for name in (VALIDATION_LIST, TESTING_LIST):
            path = self.root / name
            if not path.is_file():
                raise FileNotFoundError(f"{path} is missing: expected {DATA_SET_CONTENTS}")
            lists[name] = path.read_text().split()
        return lists

    def _test_clips(self, files: Collection[str]) -> dict[str, list[str]]:
        """``{class: clips}`` of the official test set, one folder per class name."""
        names = self.class_names
        folders = {rel.partition("/")[0] for rel in files if "/" in rel}
        missing = [name for name in names if name not in folders]
        strangers = sorted(folders - set(names) - {BACKGROUND_NOISE})
        if missing or strangers:
            raise FileNotFoundError(
                f"{self.test_root}: expected one folder per class {names}; missing "
                f"{missing}, not a class {strangers} (data.test_set=list fits other class sets)"
            )
        clips = wavs_by_folder(files)
        return {name: clips.get(name, []) for name in names}
