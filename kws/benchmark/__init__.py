"""Benchmarks, each reported as ratios against peers measured in the same process and run.

- ``frontend``: kws's MelSpectrogram against nnAudio, torchaudio and per-clip librosa, frozen and
  trainable, forward and forward + backward; the table and the speed-up plot.
- ``training``: whole training steps (cached clips, augmentation, log-Mel, head, SGD step) against
  a reference pipeline that reads WAV files and uses nnAudio; the head alone as the ceiling; full
  BC-ResNet-1 epochs.
- ``data``: serving cached epochs without a model (``serve``) and building the decoded cache of a
  data set (``cache``).
- ``common``: what they share: timing a call on the CPU or a GPU, peak GPU memory, and the options
  and setup of the timed commands.

Run them with ``python -m kws.benchmark frontend|train|serve|cache ...`` (``__main__``).
"""
