"""kws: keyword spotting with trainable conv1d STFT / Mel frontends (Lightning + Hydra)."""
