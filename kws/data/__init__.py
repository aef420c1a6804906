"""Data for keyword spotting: Speech Commands' layout names, ``SpeechCommandsDataModule``, and
``FolderDataModule`` for a folder of one's own recordings.

The DataModules (``kws.data.datamodule``, ``kws.data.folder``) are imported on first use, so
that ``python -m kws.data.synthetic`` and the other light modules start without importing
Lightning.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kws.data.layout import KEYWORDS, SILENCE, UNKNOWN, WORDS

if TYPE_CHECKING:
    from kws.data.datamodule import SpeechCommandsDataModule
    from kws.data.folder import FolderDataModule

__all__ = [
    "KEYWORDS", "SILENCE", "UNKNOWN", "WORDS", "FolderDataModule", "SpeechCommandsDataModule",
]  # fmt: skip


def __getattr__(name: str) -> Any:
    """``SpeechCommandsDataModule`` and ``FolderDataModule``, imported on first use."""
    if name == "SpeechCommandsDataModule":
        from kws.data.datamodule import SpeechCommandsDataModule

        return SpeechCommandsDataModule
    if name == "FolderDataModule":
        from kws.data.folder import FolderDataModule

        return FolderDataModule
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
