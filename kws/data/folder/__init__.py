"""A folder of one's own recordings as a data set (``data=folder``): any words, any sample rate
and channel count soundfile reads, any clip length.

```
ROOT/
  hey_kitchen/     alice_nohash_0.flac  bob_take2.wav  carol/one.wav ...   one folder per word
  stop/            ...
  other_words/     ...        every folder that is not a keyword: _unknown_
  validation_list.txt, testing_list.txt   optional: the splits, as in Speech Commands
```

``FolderIndex`` finds the clips and builds every split's index under the Speech Commands protocol
(``kws.data.split_protocol``); ``kws.data.prepare`` checks them all and decodes them once into the
same cache as Speech Commands, converting each to 16 kHz mono with soxr and keeping
``clip_seconds`` of it, padded: of a longer take, its loudest ``clip_seconds`` by default
(``align``, ``kws.data.clip_format.ClipFormat``), so that a word anywhere in a take of a few
seconds is kept whole. ``FolderDataModule`` serves that cache as ``SpeechCommandsDataModule``
serves its own (``kws.data.datamodule.ClipDataModule``).

Splits come from the list files when ROOT has them, else from a hash of each clip's speaker,
read from its path (relative to its word folder) by ``speaker_pattern``, as TensorFlow's
``which_set`` does: a speaker is never in two splits, and adding files never moves others.

``index`` builds the index (``FolderIndex``), ``paths`` says which files are recordings and
which folders words, ``speakers`` finds each clip's speaker and split, ``settings`` checks the
settings, and ``datamodule`` is ``FolderDataModule``.
"""

from kws.data.folder.datamodule import TARGET, FolderDataModule
from kws.data.folder.index import NESTED_LEVELS, FolderIndex
from kws.data.folder.paths import AUDIO_SUFFIXES, is_audio, piece_path, split_piece
from kws.data.folder.settings import MAX_WORD_SECONDS, MIN_CLIP_SECONDS, REMOVED_SETTINGS
from kws.data.folder.speakers import DEFAULT_SPEAKER_PATTERN

__all__ = [
    "AUDIO_SUFFIXES",
    "DEFAULT_SPEAKER_PATTERN",
    "MAX_WORD_SECONDS",
    "MIN_CLIP_SECONDS",
    "NESTED_LEVELS",
    "REMOVED_SETTINGS",
    "TARGET",
    "FolderDataModule",
    "FolderIndex",
    "is_audio",
    "piece_path",
    "split_piece",
]
