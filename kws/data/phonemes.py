"""Words that sound like a phrase: the negatives ``python -m kws.data.tts --negatives auto`` says.

Every lower-case alphabetic word of a word list (``/usr/share/dict/words`` by default) is
phonemised once with eSpeak NG's American English (``espeak_TextToPhonemes`` of
``libespeak-ng.so.1``, called in-process: tens of thousands of words a second) and the result
cached under ``$XDG_CACHE_HOME/kws`` (``~/.cache/kws``), keyed by the list's bytes and the
eSpeak NG version. Phonemes are compared by Levenshtein distance over phoneme symbols (one
symbol per phoneme: stress marks and eSpeak's allophone marks dropped), computed for the whole
list at once with numpy.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import os
import re
import shutil
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import numpy as np

from kws_runtime.io import atomic_write

#: The word list ``--negatives auto`` searches by default (Debian's ``wamerican``).
DEFAULT_WORD_LIST = Path("/usr/share/dict/words")
#: The library and program of the eSpeak NG engine, and the Debian package holding both.
ESPEAK_LIBRARY = "libespeak-ng.so.1"
ESPEAK_PROGRAM = "espeak-ng"
ESPEAK_PACKAGE = "espeak-ng"
#: The voice whose pronunciation the distances use.
PHONEME_VOICE = "en-us"
_ALPHABETIC = re.compile(r"[a-z]+")
# Stress and syllable marks and eSpeak's allophone marks ("I#", "O2", "n-"): not phonemes.
_MARKS = re.compile(r"[',%=#;\-]|(?<=[A-Za-z@])2")
#: Phoneme classes (by eSpeak NG symbol): a substitution within a class costs half of one
#: across classes or of an insertion or deletion. Vowels are the symbols starting with a vowel
#: letter, ``@``, ``3`` or ``0``; the rest are consonants of these manners.
_CONSONANT_CLASSES = (
    ("p", "b", "t", "d", "k", "g", "?", "tS", "dZ"),  # stops and affricates
    ("f", "v", "T", "D", "s", "z", "S", "Z", "h", "x"),  # fricatives
    ("m", "n", "N"),  # nasals
    ("l", "r", "w", "j"),  # approximants
)
_VOWEL_STARTS = tuple("aeiouAEIOUV@03")
#: The cost of a substitution within a phoneme class.
NEAR_SUBSTITUTION = 0.5
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_PHONEME_SEPARATOR = ord("_") << 8  # phonememode bits 8-23: the character between phonemes


class EngineMissingError(RuntimeError):
    """A speech synthesiser is not installed; ``str()`` says which Debian package to install."""


@cache
def espeak_library() -> ctypes.CDLL:
    """eSpeak NG's library, initialised for synchronous synthesis (its sample rate in
    ``.sample_rate``), once per process.

    Raises:
        EngineMissingError: the ``espeak-ng`` program or its library is missing.
    """
    if shutil.which(ESPEAK_PROGRAM) is None:
        raise EngineMissingError(
            f"{ESPEAK_PROGRAM} is not installed (not on PATH): apt-get install {ESPEAK_PACKAGE}"
        )
    try:
        lib = ctypes.CDLL(ESPEAK_LIBRARY)
    except OSError:
        raise EngineMissingError(
            f"{ESPEAK_LIBRARY} does not load: apt-get install {ESPEAK_PACKAGE}"
        ) from None
    lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
    lib.espeak_TextToPhonemes.argtypes = [
        ctypes.POINTER(ctypes.c_char_p),
        ctypes.c_int,
        ctypes.c_int,
    ]
    lib.espeak_Info.restype = ctypes.c_char_p
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_Synth.argtypes = [
        ctypes.c_char_p,
        ctypes.c_size_t,
        ctypes.c_uint,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.c_uint,
        ctypes.c_void_p,
        ctypes.c_void_p,
    ]
    lib.sample_rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, None, 0)
    if lib.sample_rate <= 0:
        raise EngineMissingError(
            f"{ESPEAK_LIBRARY} found no voice data: apt-get install --reinstall {ESPEAK_PACKAGE}"
        )
    return lib


def phonemise(texts: Sequence[str], voice: str = PHONEME_VOICE) -> list[tuple[str, ...]]:
    """Each text's phonemes, as eSpeak NG says it with ``voice``, without stress marks.

    Args:
        texts: words or phrases (one clause each).
        voice: an eSpeak NG voice name. Default ``PHONEME_VOICE``.

    Returns:
        One tuple of phoneme symbols per text, in order (word boundaries dropped).

    Raises:
        EngineMissingError: eSpeak NG is not installed.
    """
    lib = espeak_library()
    if lib.espeak_SetVoiceByName(voice.encode()) != 0:
        raise ValueError(f"eSpeak NG has no voice {voice!r}")
    result = []
    for text in texts:
        pointer = ctypes.c_char_p(text.encode())
        phonemes: list[str] = []
        while pointer.value:  # one clause per call; the pointer moves on to the next
            said = lib.espeak_TextToPhonemes(ctypes.byref(pointer), 0, _PHONEME_SEPARATOR)
            phonemes += _MARKS.sub("", (said or b"").decode()).replace(" ", "_").split("_")
        result.append(tuple(p for p in phonemes if p))
    return result


def _cache_folder() -> Path:
    """``$XDG_CACHE_HOME/kws``, else ``~/.cache/kws``."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kws"


def dictionary(word_list: Path = DEFAULT_WORD_LIST) -> dict[str, tuple[str, ...]]:
    """Every lower-case alphabetic word of ``word_list`` (one a line) with its phonemes
    (``phonemise``), read from the cache when it holds this list's.

    Args:
        word_list: the word list. Default ``DEFAULT_WORD_LIST``.

    Raises:
        FileNotFoundError: ``word_list`` is missing (naming it and ``--word-list``).
        ValueError: it holds no lower-case alphabetic word.
        EngineMissingError: eSpeak NG is not installed.
    """
    try:
        raw = word_list.read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        raise FileNotFoundError(
            f"--word-list {word_list}: no such file (apt-get install wamerican, or give a list)"
        ) from None
    words = sorted({w for w in raw.decode("utf-8", "replace").split() if _ALPHABETIC.fullmatch(w)})
    if not words:
        raise ValueError(f"--word-list {word_list}: no lower-case alphabetic words")
    version = espeak_library().espeak_Info(None).decode()
    key = hashlib.sha256(raw + version.encode() + PHONEME_VOICE.encode()).hexdigest()[:16]
    cached = _cache_folder() / f"phonemes-{key}.tsv"
    if cached.is_file():
        lines = cached.read_text().splitlines()
        if len(lines) == len(words):
            return {w: tuple(line.split(" ")[1:]) for w, line in zip(words, lines, strict=True)}
    said = phonemise(words)
    cached.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(cached) as file:
        file.writelines(f"{w} {' '.join(p)}\n" for w, p in zip(words, said, strict=True))
    return dict(zip(words, said, strict=True))


def phoneme_class(symbol: str) -> int:
    """0 for a vowel, 1 to 4 for a consonant class of ``_CONSONANT_CLASSES``, 5 for any other.

    Args:
        symbol: an eSpeak NG phoneme symbol (marks dropped).
    """
    if symbol.startswith(_VOWEL_STARTS):
        return 0
    found = (k + 1 for k, members in enumerate(_CONSONANT_CLASSES) if symbol in members)
    return next(found, len(_CONSONANT_CLASSES) + 1)


def edit_distances(candidates: Sequence[Sequence[str]], target: Sequence[str]) -> np.ndarray:
    """Weighted Levenshtein distance from each candidate's phoneme sequence to ``target``'s, all
    candidates at once: an insertion or deletion costs 1, a substitution 1, or
    ``NEAR_SUBSTITUTION`` within a phoneme class (``phoneme_class``: "k" for "t", "I" for "@").

    Args:
        candidates: ``n`` phoneme sequences.
        target: one phoneme sequence.

    Returns:
        ``(n,)`` float64 distances.
    """
    symbols = sorted({p for c in candidates for p in c} | set(target))
    code = {p: i for i, p in enumerate(symbols)}
    classes = np.array([phoneme_class(p) for p in symbols] + [-1])  # -1: padding
    lengths = np.array([len(c) for c in candidates])
    longest = int(lengths.max(initial=0))
    coded = np.full((len(candidates), longest), -1)
    for row, candidate in enumerate(candidates):
        coded[row, : len(candidate)] = [code[p] for p in candidate]
    goal = np.array([code[p] for p in target], dtype=np.int64)
    previous = np.broadcast_to(np.arange(len(goal) + 1.0), (len(candidates), len(goal) + 1))
    found = np.full(len(candidates), float(len(goal)))  # an empty candidate: delete the target
    for i in range(longest):
        column = coded[:, i]
        column_class = classes[column]
        current = np.empty_like(previous)
        current[:, 0] = i + 1
        for j, symbol in enumerate(goal, start=1):
            cost = np.where(
                column == symbol,
                0.0,
                np.where(column_class == classes[symbol], NEAR_SUBSTITUTION, 1.0),
            )
            substitute = previous[:, j - 1] + cost
            current[:, j] = np.minimum(
                np.minimum(previous[:, j], current[:, j - 1]) + 1, substitute
            )
        previous = current
        found = np.where(lengths == i + 1, current[:, -1], found)
    return found


def _common_start(first: Sequence[str], second: Sequence[str]) -> int:
    """How many phonemes two sequences share from their start."""
    return next(
        (i for i, (a, b) in enumerate(zip(first, second, strict=False)) if a != b),
        min(len(first), len(second)),
    )


def contains(sound: Sequence[str], part: Sequence[str]) -> bool:
    """Whether the phonemes ``part`` are a contiguous run of ``sound`` ("kitchens", "kitchen").

    Args:
        sound: a phoneme sequence.
        part: another.
    """
    n = len(part)
    return any(tuple(sound[i : i + n]) == tuple(part) for i in range(len(sound) - n + 1))


def nearest_words(
    phrase: Sequence[str],
    words: dict[str, tuple[str, ...]],
    count: int,
    keywords: Sequence[Sequence[str]],
) -> list[tuple[str, float, str]]:
    """The ``count`` words of ``words`` that sound nearest to ``phrase`` or one of its words.

    The targets are the whole phrase and, for a phrase of several words, each of its words.
    Each target ranks every word by its phoneme edit distance (``edit_distances``) divided by the
    target's phoneme count, then by how many phonemes it shares with the target from the start
    (most first: a detector hears the onset first), then by the difference in phoneme count,
    then alphabetically; the
    targets then take turns giving their next best word not taken yet, so that every word of
    the phrase gets its sound-alikes. Left out: words pronounced exactly as a keyword's word
    (the keywords' own words and their homophones: "hay" for "hey"), and words that hold a
    whole keyword's phonemes ("kitchens" for "kitchen"): spoken, they hold the keyword.

    Args:
        phrase: the phrase's words, spelled.
        words: every word with its phonemes (``dictionary``).
        count: how many to return.
        keywords: every keyword's words, spelled (this phrase's among them).

    Returns:
        ``(word, distance, target)``: the word, its weighted edit distance to ``target``, the
        target it was chosen for; in the order chosen.
    """
    whole = [" ".join(k) for k in keywords]
    own = {w for k in keywords for w in k}
    banned = set(phonemise(sorted(own)))
    forbidden = phonemise(whole)
    names = [
        w
        for w, sound in words.items()
        if len(w) > 1 and sound not in banned and not any(contains(sound, k) for k in forbidden)
    ]
    sounds = [words[w] for w in names]
    targets = [" ".join(phrase), *phrase] if len(phrase) > 1 else list(phrase)
    rankings = []
    for target, said in zip(targets, phonemise(targets), strict=True):
        distance = edit_distances(sounds, said)
        spread = np.abs(np.array([len(s) for s in sounds]) - len(said))
        onset = np.array([_common_start(s, said) for s in sounds])
        order = np.lexsort((np.array(names), spread, -onset, distance / max(len(said), 1)))
        rankings.append((target, distance, iter(order)))
    chosen: dict[str, tuple[str, float, str]] = {}
    while len(chosen) < min(count, len(names)):
        for target, distance, order in rankings:
            index = next((i for i in order if names[i] not in chosen), None)
            if index is not None and len(chosen) < count:
                chosen[names[index]] = (names[index], float(distance[index]), target)
    return list(chosen.values())
