"""Synthetic data laid out exactly like Speech Commands v0.02, for tests and offline development.

Each of the 35 words is a fixed sequence of 2-4 speech-like segments (voiced sounds with gliding
formants, fricative hiss, plosive bursts); every synthetic speaker says them with their own pitch,
rate, vocal-tract length, loudness, microphone colour and room noise, so a classifier has to
generalise across speakers the way it must on the real archive. The word patterns depend only on
the word; the seed picks the speakers and every random detail of their recordings.

``speak`` says any other word the same way, and ``write_words`` lays such recordings out as a
folder of one's own words (``kws.data.folder``), at any sample rate and channel count.

``words`` holds the word patterns, ``speakers`` the speakers and their recordings, ``noise`` the
shaped noise and the background-noise stand-ins, ``tree`` writes the data sets, and
``__main__`` is the command.

Usage: ``python -m kws.data.synthetic [OUT_DIR] [--speakers N] [--seed S] [--force]`` (OUT_DIR:
``data/synthetic_speech_commands`` by default, where ``data=synthetic`` reads it), or with
``--words hey_kitchen,stop,... [--rate 44100] [--channels 2] [--suffix .flac]`` a folder of
those words.
"""

from kws.data.synthetic.noise import NOISE_FILES
from kws.data.synthetic.speakers import speak, speaker_ids
from kws.data.synthetic.tree import (
    DEFAULT_OUT_DIR,
    DEFAULT_SPEAKERS,
    SECONDS_PER_SPEAKER,
    generate,
    worker_count,
    write_words,
)

__all__ = [
    "DEFAULT_OUT_DIR",
    "DEFAULT_SPEAKERS",
    "NOISE_FILES",
    "SECONDS_PER_SPEAKER",
    "generate",
    "speak",
    "speaker_ids",
    "worker_count",
    "write_words",
]
