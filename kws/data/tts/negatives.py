"""What the speakers say besides the phrases (``choose_negatives``): sound-alikes, parts, swaps,
ordinary words and sentences, each with why it was chosen."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kws.data.layout import WORDS
from kws.data.phonemes import (
    DEFAULT_WORD_LIST,
    contains,
    dictionary,
    nearest_words,
    phonemise,
)
from kws.data.tts.phrases import folder_name

#: Everyday words the ordinary negatives and sentences are drawn from (with Speech Commands'
#: 35 words): a word list holds rare and offensive words, and no word frequencies.
_EVERYDAY = (
    "the",
    "a",
    "is",
    "it",
    "what",
    "time",
    "turn",
    "please",
    "open",
    "close",
    "door",
    "music",
    "play",
    "light",
    "kitchen",
    "room",
    "hello",
    "good",
    "morning",
    "night",
    "today",
    "tomorrow",
    "water",
    "coffee",
    "tea",
    "phone",
    "call",
    "message",
    "weather",
    "cold",
    "warm",
    "hot",
    "fan",
    "window",
    "table",
    "chair",
    "book",
    "read",
    "write",
    "where",
    "when",
    "who",
    "why",
    "how",
    "much",
    "many",
    "more",
    "less",
    "start",
    "finish",
    "pause",
    "next",
    "back",
    "volume",
    "loud",
    "quiet",
    "timer",
    "alarm",
    "minute",
    "hour",
    "set",
    "check",
    "list",
    "shopping",
    "milk",
    "bread",
    "dinner",
    "lunch",
    "breakfast",
    "car",
    "garage",
    "garden",
    "dog",
)
COMMON_WORDS = tuple(sorted(set(WORDS) | set(_EVERYDAY)))
#: Per phrase: sound-alike words (``kws.data.phonemes.nearest_words``).
DEFAULT_NEAR = 20
#: Ordinary words and short sentences of them, drawn from the word list, in all.
DEFAULT_ORDINARY = 20
DEFAULT_SENTENCES = 10


@dataclass(frozen=True)
class Negative:
    """A text said as a negative, and why it was chosen.

    Args:
        text: what is said.
        kind: ``near`` (sounds like ``target``), ``part`` (words of a phrase), ``swap`` (a
            phrase with a word swapped or the words reordered), ``ordinary`` or ``sentence``.
        target: the phrase or word it was chosen for; empty for ordinary words and sentences.
        distance: the weighted phoneme edit distance to ``target`` (``near``), else None.
    """

    text: str
    kind: str
    target: str = ""
    distance: float | None = None

    @property
    def folder(self) -> str:
        """The word folder: the text with spaces as ``_``."""
        return folder_name(self.text)


def choose_negatives(
    phrases: Sequence[str],
    near: int = DEFAULT_NEAR,
    ordinary: int = DEFAULT_ORDINARY,
    sentences: int = DEFAULT_SENTENCES,
    seed: int = 0,
    word_list: Path = DEFAULT_WORD_LIST,
) -> list[Negative]:
    """What the speakers say besides the phrases: sound-alikes, parts, swaps, ordinary words
    and sentences, none of them a phrase (see ``docs/own_words.md``).

    Args:
        phrases: the keyword phrases (``parse_phrases``).
        near: sound-alike words per phrase (``kws.data.phonemes.nearest_words``). Default 20.
        ordinary: random words of ``COMMON_WORDS``, none sounding as a phrase's word. Default
            20.
        sentences: random 3-5 word sentences of such words. Default 10.
        seed: picks the ordinary words, sentences and swaps.
        word_list: the word list searched. Default ``/usr/share/dict/words``.

    Raises:
        FileNotFoundError: ``word_list`` is missing.
        EngineMissingError: eSpeak NG is not installed (it gives the phonemes).
    """
    words = dictionary(word_list)
    split = [p.replace("-", " ").split() for p in phrases]
    rng = np.random.default_rng([seed, 25])
    chosen: list[Negative] = []
    for phrase, parts in zip(phrases, split, strict=True):
        found = nearest_words(parts, words, near, split)
        chosen += [Negative(w, "near", target, distance) for w, distance, target in found]
        spans = [parts[i:j] for i in range(len(parts)) for j in range(i + 1, len(parts) + 1)]
        chosen += [Negative(" ".join(s), "part", phrase) for s in spans if s != parts]
        if len(parts) > 1:
            chosen.append(Negative(" ".join(reversed(parts)), "swap", phrase))
            for i, part in enumerate(parts):  # each word swapped for its nearest sound-alike
                alike = next(
                    w
                    for w, _, _ in nearest_words([part], words, 50, split)
                    if not contains(words[w], phonemise([part])[0])
                )
                chosen.append(
                    Negative(" ".join([*parts[:i], alike, *parts[i + 1 :]]), "swap", phrase)
                )
        for other, other_parts in zip(phrases, split, strict=True):
            if other != phrase:  # the start of one phrase with the end of another
                chosen.append(
                    Negative(f"{parts[0]} {other_parts[-1]}", "swap", f"{phrase}/{other}")
                )
    said = {tuple(s) for s in phonemise(sorted({w for parts in split for w in parts}))}
    pool = [
        w for w in COMMON_WORDS if words.get(w) not in said and w not in {n.text for n in chosen}
    ]
    picked = rng.choice(len(pool), size=min(ordinary, len(pool)), replace=False)
    chosen += [Negative(pool[i], "ordinary") for i in picked]
    for _ in range(sentences):
        sentence = rng.choice(len(pool), size=int(rng.integers(3, 6)), replace=False)
        chosen.append(Negative(" ".join(pool[i] for i in sentence), "sentence"))
    keywords = {folder_name(p) for p in phrases}
    unique: dict[str, Negative] = {}
    for negative in chosen:
        if negative.folder not in keywords:
            unique.setdefault(negative.folder, negative)
    return list(unique.values())
