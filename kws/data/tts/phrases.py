"""The keyword phrases of ``--phrases``: checked (``parse_phrases``), and their word folders."""

from __future__ import annotations

import re

_PHRASE = re.compile(r"[a-z]+(?:[ -][a-z]+)*")


def folder_name(phrase: str) -> str:
    """A phrase's word folder (and ``data.keywords`` entry): spaces replaced by ``_``.

    Args:
        phrase: a checked phrase (``parse_phrases``).
    """
    return phrase.replace(" ", "_")


def parse_phrases(text: str) -> list[str]:
    """The comma-separated phrases of ``--phrases``, lower-case, single-spaced.

    Args:
        text: ``"hey kitchen,lights off"``.

    Raises:
        ValueError: naming ``--phrases``: an empty phrase, a character other than a-z, space
            and hyphen (non-ASCII letters, digits, path characters), or a phrase given twice.
    """
    phrases = [" ".join(part.split()).lower() for part in text.split(",")]
    for phrase, part in zip(phrases, text.split(","), strict=True):
        if not phrase:
            raise ValueError(f"--phrases: empty phrase in {text!r} (comma-separated phrases)")
        if not _PHRASE.fullmatch(phrase):
            bad = sorted({c for c in phrase if not ("a" <= c <= "z" or c in " -")})
            raise ValueError(
                f"--phrases: {part.strip()!r} holds {bad or 'a stray hyphen'}: use the letters "
                "a-z, spaces and hyphens (spell numbers and symbols out as words)"
            )
    twice = sorted({folder_name(p) for p in phrases if phrases.count(p) > 1})
    if twice:
        raise ValueError(f"--phrases: {twice} given more than once")
    return phrases
