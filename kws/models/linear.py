"""Linear baseline: one fully connected layer on the flattened log-Mel spectrogram."""

import torch
from torch import nn


class LinearClassifier(nn.Module):
    """Flattened log-Mel -> one ``nn.Linear``; the nnAudio tutorial's baseline (48,492 params
    for 40 x 101 input and 12 classes), a floor any real model must beat.
    """

    def __init__(self, n_mels: int = 40, frames: int = 101, num_classes: int = 12) -> None:
        super().__init__()
        self.n_mels = n_mels
        self.frames = frames
        self.fc = nn.Linear(n_mels * frames, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1:] != (self.n_mels, self.frames):
            raise ValueError(
                f"LinearClassifier expects (batch, {self.n_mels}, {self.frames}), "
                f"got {tuple(x.shape)}"
            )
        return self.fc(x.flatten(1))  # (B, F, T) -> (B, F*T) -> (B, num_classes)
