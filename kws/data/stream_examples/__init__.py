"""Stream-shaped training examples: what a detector meets on a stream besides centred words.

A streaming detector scores a window every few tens of milliseconds, so it sees keywords
anywhere in its window, parts of keywords entering and leaving it, and long stretches of speech
without a keyword and of noise. Centred clips teach none of that. ``StreamExamples`` makes
each training batch stream-shaped, on the device, vectorised over the batch:

* **placed keywords**: a keyword clip moved so that its word lands anywhere in the window, the
  whole word inside (its extent found by ``word_bounds``);
* **partial keywords**, labelled ``_unknown_``: a keyword's first or last part, cut at a random
  point, placed anywhere in the window (openWakeWord trains on partial phrases);
* **keyword-free windows**: windows cut at random places of a long stream of the training
  split's non-keyword speech over background noise (``KeywordFreeStream``, made by
  ``keyword_free_stream`` with ``kws.data.stream_audio.render_stream``), labelled ``_unknown_``
  where they hold speech and ``_silence_`` where they hold none (for the training accuracy: their
  loss does not tell the two apart);
* **hard negatives**: windows of that stream that a model scored high for a keyword, once
  ``kws.training.hard_negatives.HardNegativeMining`` has found some.

The partial keywords, keyword-free windows and hard negatives are rows added to the batch's clips,
so the clips train as they would without them; their target is "no keyword" (any class but the
keywords, ``TrainingBatch.not_keyword``) and they carry the loss weight ``weight``, the clips 1.

``bounds`` finds the word in a clip, ``batch`` holds what a training step receives and the
classes rows are labelled with, ``keyword_free`` the keyword-free stream and ``examples`` the
settings and the making of a batch.
"""

from kws.data.stream_examples.batch import StreamClasses, TrainingBatch, stream_classes
from kws.data.stream_examples.bounds import (
    BOUNDS_FLOOR_DB,
    BOUNDS_FRAME_MS,
    BOUNDS_HOP_MS,
    word_bounds,
)
from kws.data.stream_examples.examples import StreamExamples, make_stream_examples
from kws.data.stream_examples.keyword_free import (
    MIN_SPEECH_MS,
    KeywordFreeStream,
    keyword_free_stream,
)

__all__ = [
    "BOUNDS_FLOOR_DB",
    "BOUNDS_FRAME_MS",
    "BOUNDS_HOP_MS",
    "MIN_SPEECH_MS",
    "KeywordFreeStream",
    "StreamClasses",
    "StreamExamples",
    "TrainingBatch",
    "keyword_free_stream",
    "make_stream_examples",
    "stream_classes",
    "word_bounds",
]
