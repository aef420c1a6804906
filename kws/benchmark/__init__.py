"""Benchmarks, each reported as ratios against peers measured in the same process and run.

- ``frontend``: kws's MelSpectrogram against nnAudio, torchaudio and per-clip librosa, frozen and
  trainable, forward and forward + backward; the table and the speed-up plot.
- ``training``: whole training steps (cached clips, augmentation, log-Mel, head, SGD step) against
  a reference pipeline that reads WAV files and uses nnAudio; the head alone as the ceiling; full
  BC-ResNet-1 epochs.
- ``data``: serving cached epochs without a model (``serve``) and building the decoded cache of a
  data set (``cache``).
- ``export``: each export of a trained checkpoint (float ONNX, int8) against PyTorch eager:
  accuracy, agreement, size and latency, and a per-stage int8 error analysis.
- ``stream``: the streaming detector against the head alone on the same windows and a per-window
  loop, strides 30 and 100 ms, linear and BC-ResNet-1, one thread; peak memory at two lengths.
- ``common``: what they share: timing a call on the CPU or a GPU, peak GPU memory, and the options
  and setup of the timed commands.

Run them with ``python -m kws.benchmark frontend|train|serve|cache|export|stream ...``
(``__main__``).
"""
