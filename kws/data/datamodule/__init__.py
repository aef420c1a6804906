"""The Lightning DataModules' shared part and Google Speech Commands v0.02 as one.

``base`` holds ``ClipDataModule`` (a source decoded once into the cache and served from it, the
hooks every kws DataModule shares), ``settings`` the settings every source shares and their
checks, and ``speech_commands`` ``SpeechCommandsDataModule`` (the 12-class or all-word
protocol). A folder of one's own words (``kws.data.folder``) is the same ``ClipDataModule`` over
another source.
"""

from kws.data.datamodule.base import ClipDataModule
from kws.data.datamodule.settings import MAX_BATCH_SIZE, MAX_WORKERS, check_common_settings
from kws.data.datamodule.speech_commands import TARGET, SpeechCommandsDataModule

__all__ = [
    "MAX_BATCH_SIZE",
    "MAX_WORKERS",
    "TARGET",
    "ClipDataModule",
    "SpeechCommandsDataModule",
    "check_common_settings",
]
