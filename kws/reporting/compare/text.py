"""Text that fits a figure: ``wrap`` breaks lines to a width in inches as drawn, ``text_height``
measures them; the comparison's long setting names and config values go through it."""

from __future__ import annotations

import re

from matplotlib.font_manager import FontProperties
from matplotlib.textpath import text_to_path

# Lines are measured by the font's outlines; the Agg renderer hints glyphs, which
# draws some lines a few percent wider, so a line may take this share of the width it is given.
HINTING = 1.1
LINE_SPACING = 1.2  # matplotlib's, in font sizes
WORD = re.compile(r"\S+\s*|\s+")  # a word with the spaces after it
# Where a word too long for a line may break, after one of these; the first that will do.
BREAKS = (",;=", "./:", "_-")


def _points(size: float | str) -> float:
    """A font size, in points or by name (``"small"``), in points."""
    return FontProperties(size=size).get_size_in_points()


def _fits(line: str, width: float, size: float | str) -> bool:
    """Whether one line of text at font ``size`` is at most ``width`` inches wide, drawn."""
    drawn, _, _ = text_to_path.get_text_width_height_descent(
        line, FontProperties(size=size), ismath=False
    )
    return drawn * HINTING / 72 <= width


def wrap(text: str, width: float, size: float | str = "medium") -> str:
    """``text`` with each of its lines broken into lines at most ``width`` inches wide at font
    ``size``: after a space where it can, else inside a long word after the first of
    ``BREAKS`` that will do (``key.part=value`` breaks after ``=``, then after ``.``, then after
    ``_``), else between characters; and with ``$`` escaped, so that matplotlib draws the text
    as written, never as mathtext (which may fail on a config value).

    Args:
        text: the text, lines apart at ``\\n``.
        width: the widest line, in inches.
        size: the font size it is drawn at, in points or by name. Default ``"medium"``.
    """

    def pieces(word: str, level: int = 0) -> list[str]:
        """The word, or its parts at the ``level``-th breaks, each broken further if too wide."""
        if _fits(word.rstrip(), width, size):
            return [word]
        if level == len(BREAKS):
            return list(word)
        breaks = re.escape(BREAKS[level])
        parts = re.findall(rf"[^{breaks}]*[{breaks}]+|[^{breaks}]+", word)
        return [piece for part in parts for piece in pieces(part, level + 1)]

    lines = []
    for line in text.split("\n"):
        current = ""
        for piece in (piece for word in WORD.findall(line) for piece in pieces(word)):
            if current.strip() and not _fits(current + piece.rstrip(), width, size):
                lines.append(current.rstrip())
                current = piece
            else:
                current += piece
        lines.append(current.rstrip())
    return "\n".join(lines).replace("$", r"\$")


def text_height(text: str, size: float | str) -> float:
    """The height of ``text``'s lines at font ``size``, in inches.

    Args:
        text: the text, lines apart at ``\\n``.
        size: the font size, in points or by name.
    """
    return (text.count("\n") + 1) * LINE_SPACING * _points(size) / 72
