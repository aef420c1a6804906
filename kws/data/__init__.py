"""Speech Commands for keyword spotting: the layout's names and ``SpeechCommandsDataModule``.

The DataModule (``kws.data.datamodule``) is imported on first use, so that ``python -m
kws.data.synthetic`` and the other light modules start without importing Lightning.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kws.data.layout import KEYWORDS, SILENCE, UNKNOWN, WORDS

if TYPE_CHECKING:
    from kws.data.datamodule import SpeechCommandsDataModule

__all__ = ["KEYWORDS", "SILENCE", "UNKNOWN", "WORDS", "SpeechCommandsDataModule"]


def __getattr__(name: str) -> Any:
    """``SpeechCommandsDataModule``, imported on first use."""
    if name == "SpeechCommandsDataModule":
        from kws.data.datamodule import SpeechCommandsDataModule

        return SpeechCommandsDataModule
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
