"""The file names of a folder data set: which files are recordings, which folders are words, and
the index paths of a negative recording's row-long pieces."""

from __future__ import annotations

from collections.abc import Sequence

#: The file name endings taken as recordings (formats soundfile reads); other files are ignored.
AUDIO_SUFFIXES = (
    ".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".aifc", ".au",
    ".snd", ".caf", ".w64", ".rf64",
)  # fmt: skip


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


def is_word_name(name: str) -> bool:
    """Whether ``name`` can be a word folder of the root: no ``/``, not hidden, no ``_`` first.

    Args:
        name: a folder name.
    """
    return bool(name) and "/" not in name and not name.startswith((".", "_"))


def is_word_clip(rel: str) -> bool:
    """Whether a path relative to the root is a recording in a word folder.

    Args:
        rel: a file's path relative to the root.
    """
    folder, _, name = rel.partition("/")
    return bool(name) and is_word_name(folder) and is_audio(name)


def no_audio(others: Sequence[str]) -> str:
    """What to say of a folder without recordings.

    Args:
        others: its other files, sorted.
    """
    found = f"only {len(others)} other file(s) (e.g. {list(others[:3])})" if others else "empty"
    return f"no recordings, {found}; recordings end in {', '.join(AUDIO_SUFFIXES)}"
