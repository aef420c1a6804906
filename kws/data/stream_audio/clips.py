"""The clips a stream's words are drawn from: one split's word folders (``find_clips``, as the
project's data split chooses them), read and checked as Speech Commands clips."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kws.data.audio import inspect_clips, read_waveform
from kws.data.clip_format import SPEECH_COMMANDS_CLIPS, ClipFormat
from kws.data.index import SpeechCommandsIndex
from kws.data.layout import (
    BACKGROUND_NOISE,
    CLIP_SAMPLES,
    DATA_SET_CONTENTS,
    KEYWORDS,
    SAMPLE_RATE,
    TESTING_LIST,
    UNKNOWN,
    VALIDATION_LIST,
)
from kws.data.split_protocol import split_word_clips
from kws.data.stream_audio.settings import check_split_and_keywords
from kws.data.tree import scan_tree
from kws_runtime.audio import BadAudioError

CLIP_MS = 1000 * CLIP_SAMPLES // SAMPLE_RATE  # a Speech Commands word occupies one clip of 1 s


def read_word(path: Path) -> np.ndarray:
    """A Speech Commands clip as float32: a 16 kHz mono WAV of at most one second, unpadded.

    Args:
        path: the clip's file.
    """
    return read_waveform(path, max_frames=CLIP_SAMPLES)


@dataclass(frozen=True)
class SplitClips:
    """The clips a stream's words are drawn from: every clip of one split's word folders.

    Attributes:
        split: ``train``, ``val`` or ``test``.
        keywords: ``{keyword: sorted clip files}``, in keyword order.
        unknown: the split's non-keyword clips, sorted.
        noise: the background-noise recordings (Speech Commands':
            ``<root>/_background_noise_/*.wav``), sorted; may be empty.
        clip_format: the clips' length (``clip_samples``, one slot of the stream's layout) and
            how a noise recording becomes 16 kHz mono. Default: Speech Commands' one second.
        read: a clip's samples, float32 at 16 kHz mono, at most ``clip_format.clip_samples``.
            Default ``read_word``.
    """

    split: str
    keywords: dict[str, list[Path]]
    unknown: list[Path]
    noise: list[Path] = field(default_factory=list)
    clip_format: ClipFormat = SPEECH_COMMANDS_CLIPS
    read: Callable[[Path], np.ndarray] = read_word

    @property
    def clip_ms(self) -> int:
        """A clip's length in whole milliseconds."""
        return 1000 * self.clip_format.clip_samples // self.clip_format.sample_rate


def check_root(root: Path) -> None:
    """Raise ``FileNotFoundError`` unless ``root`` is a folder.

    Args:
        root: a data set's folder.
    """
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder; expected {DATA_SET_CONTENTS}")


def find_clips(
    root: str | Path,
    split: str = "test",
    keywords: Sequence[str] = KEYWORDS,
    test_root: str | Path | None = None,
) -> SplitClips:
    """The clips of one split, chosen as the project's data split chooses them: the clips named
    in ``validation_list.txt`` are ``val``, those in ``testing_list.txt`` ``test``, every other
    clip ``train`` (the lists follow TensorFlow's speaker hash, so a ``val`` or ``test`` speaker
    never speaks in ``train``). With ``test_root``, ``test`` is the official 12-class archive:
    its keyword folders and its ``_unknown_`` folder.

    Unlike the classification index, every non-keyword clip of the split is a candidate, not
    the protocol's subsample of them.

    Args:
        root: the extracted data set (word folders and the two lists).
        split: ``train``, ``val`` or ``test``.
        keywords: the words to spot.
        test_root: the official test archive, for ``split="test"``; None: ``testing_list.txt``.

    Raises:
        FileNotFoundError: ``root`` or a list file is missing, or a keyword has no clip in the
            split.
        DataTreeError: a folder cannot be listed, or a link would read a clip twice
            (``kws.data.index.check_links``).
        ValueError: ``split`` or ``keywords`` are not valid.
    """
    check_split_and_keywords(split, keywords)
    root = Path(root)
    check_root(root)
    official = split == "test" and test_root is not None
    if official:
        check_root(Path(test_root))
    builder = SpeechCommandsIndex(root, Path(test_root) if official else None, tuple(keywords))
    found = builder.find(builder.scan())
    base = builder.split_root(split)
    if official:
        by_word = found.test_clips
        unknown = by_word[UNKNOWN]
    else:
        usable = [path for clips in found.word_clips.values() for path in clips]
        lists = found.lists
        by_word = split_word_clips(usable, lists[VALIDATION_LIST], lists[TESTING_LIST])[split]
        unknown = sorted(p for word, ps in by_word.items() if word not in keywords for p in ps)
    missing = [word for word in keywords if not by_word.get(word)]
    if missing:
        raise FileNotFoundError(f"{base}: no clips of the keywords {missing} in the {split} split")
    return SplitClips(
        split,
        {word: [base / p for p in by_word[word]] for word in keywords},
        [base / p for p in unknown],
        list(found.noise_files),
    )


def noise_files(root: Path) -> list[Path]:
    """The background-noise recordings, ``<root>/_background_noise_/*.wav``, sorted, listing
    that folder alone; [] when it is missing.

    Args:
        root: a Speech Commands tree.
    """
    folder = root / BACKGROUND_NOISE
    if not folder.is_dir():
        return []
    files = scan_tree(folder)  # its files, and those of its subfolders as "sub/name"
    return [folder / name for name in sorted(files) if "/" not in name and name.endswith(".wav")]


def check_clips(paths: Iterable[Path], split: str) -> None:
    """Raise ``BadAudioError`` naming the first bad clip (and how many more there are).

    Args:
        paths: the clips placed (repeats are checked once).
        split: the split they come from, for messages.
    """
    problems = inspect_clips(sorted(set(paths)), description=f"checking the {split} clips")
    if problems:
        first = min(problems)
        more = len(problems) - 1
        suffix = f" (and {more} more bad clip(s) among the {split} clips placed)" if more else ""
        raise BadAudioError(Path(first), problems[first] + suffix)
