"""The ``listen`` benchmark: what ``python -m kws_runtime listen MODEL --device pulse`` costs on a
real sound server.

A PulseAudio server of its own (``pulse_server``: a 16 kHz mono null sink, in a temporary
folder) plays AUDIO into the sink with ``paplay`` while listen hears the sink's monitor, once per
``--block-ms``. From listen's first audio (its start line) for ``--seconds``: its CPU time
(``/proc/<pid>/stat`` utime + stime) as % of one core over that wall time, its resident memory
then and at its peak (``VmRSS``, ``VmHWM``), and, from its output, detections and overruns.
Where AUDIO has a labels CSV beside it (``<name>_labels.csv``, as ``kws.data.stream_audio``
writes), listen also records what it heard (``--record``, to place the file in the session) and
each keyword detected correctly gives its latency: from when the word's last sample (its clip's
last 10 ms frame within 20 dB of its loudest) reached listen to when its line was read.
"""

from kws.benchmark.listen.command import add_parser, run
from kws.benchmark.listen.latency import labels_beside, latencies, word_end
from kws.benchmark.listen.measure import bench_listen, measure
from kws.benchmark.listen.pulse import PACKAGES, RATE, SINK, AudioServerError, pulse_server

__all__ = [
    "PACKAGES",
    "RATE",
    "SINK",
    "AudioServerError",
    "add_parser",
    "bench_listen",
    "labels_beside",
    "latencies",
    "measure",
    "pulse_server",
    "run",
    "word_end",
]
