"""Long test audio: one split's words at random times over background noise, and noise-only
streams, to judge a keyword spotter on continuous audio.

``make_stream`` follows TensorFlow's ``generate_streaming_test_wav.py``, with its defaults (600 s;
one word per slot of 1 s plus an average 2,000 ms gap, placed at a random offset; 30% of the words
non-keywords; background noise at volume 0.1), so that streaming results compare.
``make_noise_stream`` makes long stretches of ``_background_noise_``, optionally with non-keyword
speech, for counting false accepts per hour.

A stream is three files in one folder: ``<name>.wav`` (16 kHz mono 16-bit PCM),
``<name>_labels.csv`` (header ``label,start_ms``, then one row per word placed, in time order:
the keyword, or ``_unknown_`` for a non-keyword, and the start of its 1 s clip in whole
milliseconds) and ``<name>.json`` (the settings and counts). Each is written under a temporary
name and renamed when complete; the audio is mixed and written a block at a time, so memory does
not grow with the stream's length. The same settings and seed give the same bytes.

``settings`` holds the defaults and checks, ``clips`` finds a split's clips, ``plan`` places the
words, ``background`` and ``mixing`` make the audio, ``files`` writes a stream's three files;
``word_stream`` and ``noise_stream`` are the two kinds of stream, and ``__main__`` the command:
``python -m kws.data.stream_audio OUT_DIR [--root ROOT] [--split test] [--minutes 10] [--seed S]
[--noise] ...`` (``--help`` lists every option).
"""

from kws.data.stream_audio.clips import CLIP_MS, SplitClips, find_clips, read_word
from kws.data.stream_audio.files import LABELS_HEADER, StreamFiles, StreamWriteError
from kws.data.stream_audio.noise_stream import make_noise_stream, write_noise_stream
from kws.data.stream_audio.plan import Placement, plan_words
from kws.data.stream_audio.settings import (
    DEFAULT_GAP_MS,
    DEFAULT_MINUTES,
    DEFAULT_NOISE_MINUTES,
    DEFAULT_NOISE_VOLUME,
    DEFAULT_UNKNOWN_FRACTION,
    DEFAULT_VOLUME,
    MAX_SAMPLES,
)
from kws.data.stream_audio.word_stream import (
    RenderedStream,
    make_stream,
    render_stream,
    write_word_stream,
)

__all__ = [
    "CLIP_MS",
    "DEFAULT_GAP_MS",
    "DEFAULT_MINUTES",
    "DEFAULT_NOISE_MINUTES",
    "DEFAULT_NOISE_VOLUME",
    "DEFAULT_UNKNOWN_FRACTION",
    "DEFAULT_VOLUME",
    "LABELS_HEADER",
    "MAX_SAMPLES",
    "Placement",
    "RenderedStream",
    "SplitClips",
    "StreamFiles",
    "StreamWriteError",
    "find_clips",
    "make_noise_stream",
    "make_stream",
    "plan_words",
    "read_word",
    "render_stream",
    "write_noise_stream",
    "write_word_stream",
]
