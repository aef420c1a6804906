"""``python -m kws.benchmark stream``: how fast the streaming detector gets through audio, and
how soon after a keyword it speaks.

Speed is **seconds of audio per second of wall time** ("x real time", the inverse of the
real-time factor that ``detect.py`` reports), on ``--threads`` (default one) CPU threads; the
same per second of the process's CPU time is given beside it. For each head
(``conf/model/<head>.yaml`` on ``conf/frontend/mel.yaml``, untrained: speed does not depend on
the weights; a head with a causal form, BC-ResNet, is built causal, ``model.causal=true``) and
stride, peers go through the same stream, taking turns in ``--rounds`` rounds (medians reported,
of wall time and of the process's CPU time: on a shared machine other processes inflate the
first far more than the second):

* ``detector``: the whole ``StreamingDetector`` (posterior handling and its bookkeeping
  included), the stream pushed in chunks of each of ``--chunk-ms`` (a peer each; default 1 s, as
  a live stream arrives, and 10 s, the blocks ``detect.py`` reads a file in), scoring as
  ``StreamingDetector.from_spotter`` chooses: ``frames``, each frame streamed through a causal
  model once (``kws.streaming.stateful``), where the head is causal, else ``windows``, every
  window scored whole (frontend with its frame cache, head);
* for a causal head also the window-scoring detector on the same model (``stateful=False``),
  pushed the same chunks: what the frame-by-frame detector saves;
* ``head alone``: the head's forward pass over the same windows' features, computed beforehand,
  in batches of ``--batch``: the floor a window-scoring detector can approach;
* ``loop``: the loop written by hand: each one-second window cut out, its spectrogram computed
  and scored alone at batch 1 (no posterior handling); timed on ``--loop-windows`` windows spread
  evenly over the stream and scaled to all of them.

Memory: the process's peak resident memory (Linux's high-water mark, reset before each run,
after freed memory is handed back to the OS) while the detector ``from_spotter`` chooses goes
through streams of each of ``--memory-minutes``, generated chunk by chunk, so that nothing but
the detector could grow with the stream: flat memory means equal peaks.

Latency (``--checkpoint CKPT``, a trained causal kws checkpoint): a word stream of its data's
test split (``kws.data.stream_audio.render_stream``, TensorFlow's layout, ``--latency-minutes``
long, seed 0) goes through the frame-by-frame and the window-scoring detector at each stride, at
the checkpoint's ``detector.threshold=auto`` settings. A keyword ends where its clip's word
ends (``kws.data.stream_examples.word_bounds``); it is detected when its window has arrived
(the window's stamp, its start, plus one clip); reported over the keywords detected correctly
(``kws.streaming.scoring.detection_errors``' matching): the median and 90th percentile of
detection time minus keyword end.

The parts: ``workload`` (the settings, the stream, the spotters and detectors), ``speed`` (the
peers timed), ``memory``, ``latency``, ``table`` (the printed report) and ``command`` (the
options and the run).
"""

from kws.benchmark.stream.command import add_parser, run
from kws.benchmark.stream.latency import bench_latency, keyword_latencies, load_causal_checkpoint
from kws.benchmark.stream.memory import detector_memory, peak_rss_mb
from kws.benchmark.stream.speed import bench_stream
from kws.benchmark.stream.table import format_latency, format_stream
from kws.benchmark.stream.workload import (
    CONF_DIR,
    FRAMES,
    HEADS,
    MAX_LATENCY_MINUTES,
    WINDOWS,
    StreamSettings,
    build_untrained,
    detectors,
    stream_chunks,
)

__all__ = [
    "CONF_DIR",
    "FRAMES",
    "HEADS",
    "MAX_LATENCY_MINUTES",
    "WINDOWS",
    "StreamSettings",
    "add_parser",
    "bench_latency",
    "bench_stream",
    "build_untrained",
    "detector_memory",
    "detectors",
    "format_latency",
    "format_stream",
    "keyword_latencies",
    "load_causal_checkpoint",
    "peak_rss_mb",
    "run",
    "stream_chunks",
]
