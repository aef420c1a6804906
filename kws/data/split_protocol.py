"""Which clips make up each split and class: the 12-class (or all-word) Speech Commands protocol.

Pure functions over relative clip paths (``"word/SPEAKER_nohash_N.wav"``); ``kws.data.index``
(and ``kws.data.folder`` for a folder of one's own words) does the file-system work. Class order:
``_silence_``, ``_unknown_``, then the keywords in the order configured (TensorFlow's
``input_data`` order); either extra class may be left out, and without both it is just the words.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from kws.data.layout import SILENCE, UNKNOWN
from kws.data.splits import speaker_id

SPLITS = ("train", "val", "test")
Protocol = Literal["bcresnet", "tensorflow", "all_unknown"]
PROTOCOLS = ("bcresnet", "tensorflow", "all_unknown")


@dataclass
class SplitIndex:
    """The clips of one split and their classes.

    Args:
        paths: each clip's path relative to the split's folder; ``""`` for a silence clip,
            whose audio is made, not read.
        labels: ``(N,)`` int64 class indices.
    """

    paths: list[str]
    labels: np.ndarray  # (N,) int64

    @property
    def speakers(self) -> list[str]:
        """The speaker of every clip (``""`` for silence), from the file name."""
        return [speaker_id(path) for path in self.paths]


def class_names(keywords: Sequence[str], silence: bool, unknown: bool | None = None) -> list[str]:
    """``[_silence_, _unknown_, *keywords]``, either extra class left out as asked; just the
    keywords for an all-word task.

    Args:
        keywords: the words to spot, in class order.
        silence: put ``_silence_`` first.
        unknown: put ``_unknown_`` before the keywords; None (default): as ``silence``.
    """
    unknown = silence if unknown is None else unknown
    return [SILENCE] * silence + [UNKNOWN] * unknown + list(keywords)


def split_word_clips(
    clips: Iterable[str], validation: Collection[str], testing: Collection[str]
) -> dict[str, dict[str, list[str]]]:
    """``{split: {word: sorted paths}}``: clips named in the validation or testing list go there,
    every other clip to training. Every word of ``clips`` appears in every split.

    Args:
        clips: relative clip paths, ``"word/name.wav"``.
        validation: the paths of ``validation_list.txt``.
        testing: the paths of ``testing_list.txt``.
    """
    assignment = {path: "val" for path in validation} | {path: "test" for path in testing}
    clips = sorted(clips)
    words = sorted({path.split("/")[0] for path in clips})
    by_split: dict[str, dict[str, list[str]]] = {s: {w: [] for w in words} for s in SPLITS}
    for path in clips:
        by_split[assignment.get(path, "train")][path.split("/")[0]].append(path)
    return by_split


def extra_class_size(protocol: Protocol, keyword_clips: int, keywords: int) -> int:
    """Clips of ``_silence_`` (and at most as many of ``_unknown_``, but for ``all_unknown``)
    in a split.

    ``bcresnet`` and ``all_unknown``: the mean keyword-class size, rounded up (3,077 / 371 / 408
    on v0.02); ``tensorflow``: 10% of the keyword clips, rounded up.

    Args:
        protocol: ``bcresnet``, ``tensorflow`` or ``all_unknown``.
        keyword_clips: keyword clips in the split.
        keywords: keyword classes.
    """
    if protocol == "tensorflow":
        return math.ceil(0.1 * keyword_clips)
    return math.ceil(keyword_clips / keywords)


def protocol_index(
    word_clips: Mapping[str, list[str]],
    names: Sequence[str],
    keywords: Sequence[str],
    protocol: Protocol,
    rng: np.random.Generator,
) -> SplitIndex:
    """One split's clips under the protocol: every keyword clip; then, if ``names`` holds
    ``_unknown_``, a seeded draw of other words' clips (all of them for ``all_unknown``); then,
    if it holds ``_silence_``, silence clips.

    Args:
        word_clips: ``{word: paths}`` of the split (``split_word_clips``), every keyword included;
            every other key's clips are candidates for ``_unknown_``.
        names: the class names (``class_names``).
        keywords: the words to spot.
        protocol: how many silence and unknown clips (``extra_class_size``).
        rng: draws the unknown clips; advanced by one permutation per split with ``_unknown_``.
    """
    label = {name: i for i, name in enumerate(names)}
    paths = [path for word in keywords for path in word_clips[word]]
    labels = [label[word] for word in keywords for _ in word_clips[word]]
    size = extra_class_size(protocol, len(paths), len(keywords))
    if UNKNOWN in label:
        others = sorted(p for word, ps in word_clips.items() if word not in keywords for p in ps)
        drawn = len(others) if protocol == "all_unknown" else size
        unknown = [others[i] for i in sorted(rng.permutation(len(others))[:drawn])]
        paths += unknown
        labels += [label[UNKNOWN]] * len(unknown)
    if SILENCE in label:
        paths += [""] * size
        labels += [label[SILENCE]] * size
    return SplitIndex(paths, np.asarray(labels, dtype=np.int64))


def folder_index(class_clips: Mapping[str, list[str]], names: Sequence[str]) -> SplitIndex:
    """A split laid out as one folder per class (the official 12-class test archive).

    Args:
        class_clips: ``{class name: paths}``, every name included.
        names: the class names, in class order.
    """
    paths = [path for name in names for path in sorted(class_clips[name])]
    labels = [i for i, name in enumerate(names) for _ in class_clips[name]]
    return SplitIndex(paths, np.asarray(labels, dtype=np.int64))
