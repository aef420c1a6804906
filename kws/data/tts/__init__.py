"""Your own wake word from a phrase you type: synthetic speakers say it, and words that sound
like it, into a folder of one's own words (``data=folder``, ``kws.data.folder``).

Usage: ``python -m kws.data.tts OUT_DIR --phrases "hey kitchen,lights off" [--voices 40]
[--seed 0] [--negatives auto|none] [--clip-seconds S] [--engines espeak,flite] [--force]``

Speakers come from the engines installed: eSpeak NG (``apt-get install espeak-ng``: each
English accent times each voice variant, ``en-us+m3``), its MBROLA voices where the ``mbrola``
program and the voice are installed (``mb-us1``), and Flite (``apt-get install flite``: kal16,
awb, rms, slt). Each speaker also gets a speaking rate, a pitch, a vocal-tract factor (the
audio played faster or slower: pitch and formants move together) and a loudness, all drawn
from the seed. eSpeak NG and Flite run in-process through their C libraries (ctypes), in one
process per CPU core (a fresh one forked per speaker, so that
the same seed gives the same bytes). Every clip is 16 kHz mono 16-bit WAV, resampled with soxr as
``kws.data.audio`` converts, its silence trimmed and the speech placed at a random start in a
clip of ``--clip-seconds``. Files are ``OUT/<phrase_with_underscores>/<speaker>_nohash_0.wav``
with speakers named ``espeak-en-us-m3_r170_p40``: the folder's default
``data.speaker_pattern`` keeps all of a speaker's clips in one split. The tree is built in a
staging folder and renamed into place when complete; ``OUT/tts.json`` records the settings,
the speakers and why each negative was chosen (``kws.data.phonemes``).

``engines`` finds the engines and voices installed, ``speakers`` draws the speakers,
``synthesis`` makes their speech, ``phrases`` checks the phrases, ``negatives`` chooses what else
they say, ``tree`` writes the folder, and ``__main__`` is the command.
"""

from kws.data.phonemes import DEFAULT_WORD_LIST, EngineMissingError
from kws.data.tts.engines import (
    ENGINES,
    ESPEAK_ACCENTS,
    FLITE_VOICES,
    PACKAGES,
    SKIPPED_VARIANTS,
    engine_voices,
)
from kws.data.tts.negatives import (
    COMMON_WORDS,
    DEFAULT_NEAR,
    DEFAULT_ORDINARY,
    DEFAULT_SENTENCES,
    Negative,
    choose_negatives,
)
from kws.data.tts.phrases import folder_name, parse_phrases
from kws.data.tts.speakers import (
    DEFAULT_VOICES,
    PEAK_DB,
    PITCHES,
    RATES,
    TRACTS,
    Speaker,
    draw_speakers,
)
from kws.data.tts.synthesis import say
from kws.data.tts.tree import CLIP_STEP_SECONDS, place, write_phrases

__all__ = [
    "CLIP_STEP_SECONDS",
    "COMMON_WORDS",
    "DEFAULT_NEAR",
    "DEFAULT_ORDINARY",
    "DEFAULT_SENTENCES",
    "DEFAULT_VOICES",
    "DEFAULT_WORD_LIST",
    "ENGINES",
    "ESPEAK_ACCENTS",
    "EngineMissingError",
    "FLITE_VOICES",
    "Negative",
    "PACKAGES",
    "PEAK_DB",
    "PITCHES",
    "RATES",
    "SKIPPED_VARIANTS",
    "Speaker",
    "TRACTS",
    "choose_negatives",
    "draw_speakers",
    "engine_voices",
    "folder_name",
    "parse_phrases",
    "place",
    "say",
    "write_phrases",
]
