"""``LinearClassifier``: the linear baseline head, one fully connected layer on flat features."""

import torch
from torch import nn

from kws.models.sizes import check_sizes
from kws.registry import register


@register("model")
class LinearClassifier(nn.Module):
    """Features ``(batch, n_features, frames)``, flattened, to logits ``(batch, num_classes)``
    through one ``nn.Linear``.

    The nnAudio tutorial's baseline (48,492 parameters for 40 x 101 log-Mel input and 12
    classes), a floor any real model must beat. It takes any frontend's output, e.g. 257 STFT
    bins, but only of the size it was built for.

    Args:
        n_features: features per frame (mel bands, STFT bins, MFCCs), in ``[1, MAX_SIZE]``
            (100,000, ``kws.models.sizes``). Default 40.
        frames: frames per clip, in ``[1, MAX_SIZE]``. Default 101 (one second at hop 160 with
            centring).
        num_classes: number of logits, in ``[1, MAX_SIZE]``. Default 12.

    Raises:
        ValueError: a size out of range, named as its config key (``model.frames``, ...).
    """

    def __init__(self, n_features: int = 40, frames: int = 101, num_classes: int = 12) -> None:
        super().__init__()
        check_sizes(num_classes, n_features=n_features, frames=frames)
        self.n_features = n_features
        self.frames = frames
        self.fc = nn.Linear(n_features * frames, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The logits of each clip.

        Args:
            x: features ``(batch, n_features, frames)``, exactly the built sizes.

        Returns:
            ``(batch, num_classes)``.
        """
        if x.shape[1:] != (self.n_features, self.frames):
            raise ValueError(
                f"LinearClassifier expects (batch, {self.n_features}, {self.frames}), "
                f"got {tuple(x.shape)}"
            )
        return self.fc(x.flatten(1))  # (B, F, T) -> (B, F*T) -> (B, num_classes)
