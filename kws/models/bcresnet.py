"""BC-ResNet: Broadcasted Residual Learning for keyword spotting.

Kim et al., Interspeech 2021, arXiv:2106.04140. Input is a log-Mel spectrogram ``(B, F, T)``
(F = 40 in the paper); the model adds the channel dimension itself.
"""

import functools

import torch
from torch import nn

STAGE_BLOCKS = (2, 2, 4, 4)
STAGE_WIDTHS = (1.0, 1.5, 2.0, 2.5)  # multiples of the base width c
STAGE_DILATIONS = (1, 2, 4, 8)  # temporal dilation of each stage's depthwise conv
STAGE_FREQ_STRIDES = (1, 2, 2, 1)  # frequency stride of each stage's first block
HEAD_KERNEL = 5


def _halve(size: int) -> int:
    """Output size of a kernel-3/5 conv with 'same' padding and stride 2."""
    return (size - 1) // 2 + 1


@functools.cache
def _check_freq(n_mels: int, sub_bands: int) -> None:
    """Raise if ``n_mels`` does not split into ``sub_bands`` at every stage (once per size)."""
    sizes = [_halve(n_mels)]  # after the stem
    for stride in STAGE_FREQ_STRIDES:
        sizes.append(_halve(sizes[-1]) if stride == 2 else sizes[-1])
    if any(s % sub_bands for s in sizes) or sizes[-1] < HEAD_KERNEL:
        raise ValueError(
            f"BCResNet: n_mels={n_mels} gives per-stage frequency sizes {sizes}; each must be "
            f"divisible by sub_bands={sub_bands} and the last >= {HEAD_KERNEL} "
            "(e.g. n_mels=40 or 80)"
        )


class SubSpectralNorm(nn.Module):
    """BatchNorm with separate statistics per frequency sub-band, so each band is normalised."""

    def __init__(self, channels: int, sub_bands: int) -> None:
        super().__init__()
        self.sub_bands = sub_bands
        self.bn = nn.BatchNorm2d(channels * sub_bands)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, f, t = x.shape
        x = x.reshape(b, c * self.sub_bands, f // self.sub_bands, t)  # (B, C*S, F/S, T)
        return self.bn(x).reshape(b, c, f, t)


class BroadcastedBlock(nn.Module):
    """BC-ResNet block: 2D frequency-wise features f2 plus 1D temporal features f1 broadcast over
    frequency. When the channel count changes it is the paper's TransitionBlock: a 1x1 conv first
    and no identity shortcut.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        freq_stride: int,
        dilation: int,
        dropout: float,
        sub_bands: int,
    ) -> None:
        super().__init__()
        self.transition = in_channels != out_channels
        self.identity = not self.transition and freq_stride == 1
        self.expand = (
            nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, bias=False),
                nn.BatchNorm2d(out_channels),
                nn.ReLU(),
            )
            if self.transition
            else nn.Identity()
        )
        self.f2 = nn.Sequential(
            nn.Conv2d(
                out_channels,
                out_channels,
                (3, 1),
                stride=(freq_stride, 1),
                padding=(1, 0),
                groups=out_channels,
                bias=False,
            ),
            SubSpectralNorm(out_channels, sub_bands),
        )
        self.f1 = nn.Sequential(
            nn.Conv2d(
                out_channels,
                out_channels,
                (1, 3),
                padding=(0, dilation),
                dilation=(1, dilation),
                groups=out_channels,
                bias=False,
            ),
            nn.BatchNorm2d(out_channels),
            nn.SiLU(),
            nn.Conv2d(out_channels, out_channels, 1, bias=False),
            nn.Dropout2d(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, C_in, F, T)
        f2 = self.f2(self.expand(x))  # (B, C, F', T), F' = F / freq_stride
        f1 = self.f1(f2.mean(dim=2, keepdim=True))  # (B, C, 1, T)
        out = f2 + f1  # f1 broadcast over frequency
        if self.identity:
            out = out + x
        return torch.relu(out)


class BCResNet(nn.Module):
    """BC-ResNet-tau keyword-spotting head on log-Mel input ``(B, F, T)`` -> logits ``(B, K)``.

    Width scales with ``tau`` (base width ``c = int(8 * tau)``); tau 1 has 9,232 parameters.
    """

    def __init__(
        self,
        tau: float = 1.0,
        num_classes: int = 12,
        dropout: float = 0.1,
        sub_bands: int = 5,
    ) -> None:
        super().__init__()
        self.sub_bands = sub_bands
        c = int(8 * tau)
        widths = [int(c * w) for w in STAGE_WIDTHS]
        self.stem = nn.Sequential(
            nn.Conv2d(1, 2 * c, 5, stride=(2, 1), padding=2, bias=False),
            nn.BatchNorm2d(2 * c),
            nn.ReLU(),
        )
        stages = []
        in_channels = 2 * c
        for n_blocks, width, dilation, stride in zip(
            STAGE_BLOCKS, widths, STAGE_DILATIONS, STAGE_FREQ_STRIDES, strict=True
        ):
            blocks = [
                BroadcastedBlock(
                    in_channels if i == 0 else width,
                    width,
                    stride if i == 0 else 1,
                    dilation,
                    dropout,
                    sub_bands,
                )
                for i in range(n_blocks)
            ]
            stages.append(nn.Sequential(*blocks))
            in_channels = width
        self.stages = nn.ModuleList(stages)
        self.head = nn.Sequential(
            nn.Conv2d(
                in_channels,
                in_channels,
                HEAD_KERNEL,
                padding=(0, HEAD_KERNEL // 2),
                groups=in_channels,
                bias=False,
            ),  # (B, 2.5c, F - 4, T)
            nn.Conv2d(in_channels, 4 * c, 1, bias=False),
            nn.BatchNorm2d(4 * c),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),  # (B, 4c, 1, 1)
            nn.Conv2d(4 * c, num_classes, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3:
            raise ValueError(f"BCResNet expects (batch, n_mels, frames), got {tuple(x.shape)}")
        _check_freq(x.shape[1], self.sub_bands)
        x = self.stem(x.unsqueeze(1))  # (B, 1, 40, T) -> (B, 2c, 20, T)
        for stage in self.stages:
            x = stage(x)  # freq 20 -> 20 -> 10 -> 5 -> 5; channels c, 1.5c, 2c, 2.5c
        return self.head(x).flatten(1)  # (B, 2.5c, 5, T) -> (B, num_classes)
