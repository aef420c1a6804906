"""Benchmarks, reported as ratios against peers measured in the same process and run.

``python -m kws.benchmark frontend [--device cpu|cuda] [--batch 256] [--threads 2] [--json PATH]``
times kws's MelSpectrogram against nnAudio (when installed), torchaudio (where it imports) and a
per-clip librosa loop (CPU, frozen forward only), with the same settings, in three cases: frozen,
trainable mel, trainable STFT and mel; forward and forward + backward. Repeats are interleaved
across implementations, so drifts in machine load hit every peer alike; medians are reported.

``python -m kws.benchmark serve [--clips 37000]`` times serving cached epochs without a model
(random int16 clips in a memory map: no WAV files needed), with and without the int16-to-float
conversion and augmentation; ``python -m kws.benchmark cache DATA_ROOT`` times checking and
decoding a data set into a fresh cache.

``python -m kws.benchmark train [--device cpu|cuda] [--batch 256] [--json PATH]`` times whole
training steps (cached clips -> augmentation on the device -> trainable log-Mel -> head ->
backward -> SGD step) against a reference pipeline that reads each WAV file in a DataLoader and
uses nnAudio's MelSpectrogram, same head, data and augmentation, for the linear head and
BC-ResNet-1, in float32 and bf16-mixed; and each head alone on ready features, which both
pipelines share and which bounds the speed-up ("ceiling"); then one full 12-class BC-ResNet-1
epoch of about 37,000 clips (generated clips repeated) per precision, and on CUDA the same with
``on_device``. The pipelines take turns in rounds; medians are reported.

``python -m kws.benchmark export CKPT [--calls 300] [--json PATH]`` exports a trained checkpoint
(float ONNX, int8 whole model, int8 head only) and scores each against PyTorch eager on the
checkpoint's test split: accuracy, agreement, largest probability difference, file size and
latency per clip at batch 1 on one CPU thread; ratios against PyTorch and the float file.

``python -m kws.benchmark stream [--minutes 1] [--stride-ms 10 20 30] [--head linear bcresnet]
[--chunk-ms 1000 10000] [--threads 1] [--checkpoint CKPT] [--json PATH]`` times the streaming
detector (frame cache or stateful model, head, posterior handling) on a generated stream, in
seconds of audio per second of wall time, for untrained heads built from ``conf/`` (BC-ResNet
causal) at each stride, the stream pushed in chunks of each length: the causal BC-ResNet's
stateful detector (``frames``) against window scoring on the same model (``windows``), the head
alone on the same windows' ready features in batches of 256 (the floor) and the loop written by
hand (each one-second window cut out, its spectrogram computed, scored at batch 1; timed on a
sample of windows and scaled), on one CPU thread by default (restored afterwards). The peers take
turns in rounds; medians are reported. And the process's peak memory while the deployed detector
goes through streams of two lengths (``--memory-minutes 1 4``): flat means equal. With a causal
checkpoint, the latency from each keyword's end to its detection on its test split's stream.

``python -m kws.benchmark stream-quality [--seeds 0 1 2] [--recipe NAME=OVERRIDES ...]
[--word-minutes 10] [--free-minutes 60] [--window-scoring] [--out DIR] [--json PATH]`` trains
recipes (by default the quick start plain, stream-aware, and stream-aware with the
negative-weight ramp) over seeds on generated data and scores each best checkpoint on the seed's
test streams: the false-reject rate within 1 and 0.5 false accepts per hour, false accepts per
hour and false rejects at the threshold it deploys, clip accuracy and training time against the
first recipe's; with ``--window-scoring`` a causal recipe also with whole windows scored.

``python -m kws.benchmark tts [--voices 40] [--rounds 3] [--workers N] [--json PATH]`` times
``python -m kws.data.tts`` writing 40 phrases by each speaker (eSpeak NG alone, and every engine
installed) against one ``espeak-ng`` process per clip, in clips per second of wall and of CPU time.

``python -m kws.benchmark listen MODEL.onnx AUDIO.wav [--block-ms 30 100] [--seconds 30]
[--threshold auto|X] [--json PATH]`` plays AUDIO into a PulseAudio null sink of its own while
``python -m kws_runtime listen MODEL --device pulse`` hears it, once per block size: its CPU as
% of one core, resident memory, detections, overruns and, with a labels CSV beside AUDIO, the
latency from each keyword's end to its printed line.

``frontend`` and ``train`` make glibc keep freed memory for reuse first, as ``train.py`` does
(``--no-keep-freed-memory``: glibc's default), for every peer in the process alike.
"""

from __future__ import annotations

import argparse

from kws.benchmark import data, export, frontend, listen, stream, stream_quality, training, tts

# The one convention for a benchmark's command line: the benchmark's module (a package: its
# ``command.py``) defines ``add_parser(commands)``, which adds its sub-command and options and sets
# its ``run(args)`` as the default, beside what it times; this file only gathers them. A new
# benchmark: such a module, one entry here (and a paragraph above).
BENCHMARKS = (frontend, training, data, export, stream, stream_quality, tts, listen)


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and run the command it names.

    Args:
        argv: the arguments; ``None``: the process's.
    """
    parser = argparse.ArgumentParser(prog="python -m kws.benchmark", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for benchmark in BENCHMARKS:
        benchmark.add_parser(commands)
    args = parser.parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main()
