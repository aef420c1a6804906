"""``BCResNet``: the BC-ResNet head (Broadcasted Residual Learning) and its blocks.

Kim et al., "Broadcasted Residual Learning for Efficient Keyword Spotting", Interspeech 2021,
arXiv:2106.04140; the names follow the paper (Table 1, Figure 2). Input is a log-Mel
spectrogram ``(B, F, T)`` (F = 40 in the paper); the model adds the channel dimension itself.

``causal=True`` is the streaming form (Google's kws_streaming makes its models so): every
convolution along time reads only the present and past frames (``PastFrames`` puts zeros, or a
stream's previous frames, before them), and the global average pool becomes an average over the
last ``window`` frames, so ``frames()`` gives logits at every frame that depend on no later one.
A clip's logits are those of its last frame."""

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from kws.models.sizes import KEY, MAX_SIZE, check_sizes
from kws.registry import register
from kws_runtime.checks import check_number

# Table 1 of the paper, one entry per stage of BC-ResBlocks.
STAGE_BLOCKS = (2, 2, 4, 4)  # BC-ResBlocks per stage
STAGE_WIDTHS = (1.0, 1.5, 2.0, 2.5)  # multiples of the base width c
STAGE_DILATIONS = (1, 2, 4, 8)  # temporal dilation of each stage's depthwise conv
STAGE_FREQ_STRIDES = (1, 2, 2, 1)  # frequency stride of each stage's first block
HEAD_KERNEL = 5  # the head's depthwise 5x5 conv, unpadded in frequency
#: The narrowest BC-ResNet-tau, base width ``int(8 * tau)`` one channel, and the widest:
#: 4.4 G parameters, more than any device trains (``kws.training.checkpoint`` refuses a
#: checkpoint's model above 50 M, tau 73 or so).
MIN_TAU, MAX_TAU = 0.125, 1000.0


class PastFrames:
    """The frames before a chunk that each causal time convolution reads, site by site.

    A causal model's padding is zeros: ``PastFrames()``. A stream continues from the frames the
    previous chunk left: ``PastFrames(previous.kept)``. Either way ``kept`` collects, in the
    order the model reads them, the last frames of each padded input, the next chunk's past.

    Args:
        past: one tensor per site, ``(..., frames)`` as the model reads them; ``None``
            (default): zeros, a clip or a stream's start.
    """

    def __init__(self, past: Sequence[torch.Tensor] | None = None) -> None:
        self._past = None if past is None else iter(past)
        self.kept: list[torch.Tensor] = []

    def __call__(self, x: torch.Tensor, frames: int) -> torch.Tensor:
        """``x`` ``(..., T)`` preceded by its ``frames`` past frames: ``(..., frames + T)``."""
        x = F.pad(x, (frames, 0)) if self._past is None else torch.cat([next(self._past), x], -1)
        self.kept.append(x[..., x.shape[-1] - frames :])
        return x


def _halve(size: int) -> int:
    """Output size of a kernel-3/5 conv with 'same' padding and stride 2."""
    return (size - 1) // 2 + 1


def frequency_strides(n_features: int, sub_bands: int) -> tuple[int, ...]:
    """The frequency stride of the stem and of each stage's first block for ``n_features``
    input bands.

    The paper halves the frequency axis in the stem and in stages 1 and 2 (40 -> 20 -> 10 ->
    5). Here each of those halvings happens only where its output still splits into
    ``sub_bands`` and keeps at least ``HEAD_KERNEL`` bands; otherwise that stride is 1. So 40 or
    80 bands get the paper's strides, and fewer bands fewer halvings: 20 -> 10 -> 5 -> 5,
    10 -> 5 -> 5 -> 5. Strides hold no parameters: the head's size does not depend on them.

    Args:
        n_features: input frequency bands, at least 1.
        sub_bands: SubSpectral Normalization's sub-bands.

    Returns:
        ``(stem, stage 0, stage 1, stage 2, stage 3)`` strides, each 1 or 2.

    Raises:
        ValueError: a frequency size would not split into ``sub_bands``, or fewer than
            ``HEAD_KERNEL`` bands would reach the head; the message lists the sizes.
    """
    size, strides, sizes = n_features, [], []
    for paper_stride in (2, *STAGE_FREQ_STRIDES):
        halved = _halve(size)
        stride = 2 if paper_stride == 2 and halved % sub_bands == 0 and halved >= HEAD_KERNEL else 1
        size = halved if stride == 2 else size
        strides.append(stride)
        sizes.append(size)
    if any(s % sub_bands for s in sizes) or sizes[-1] < HEAD_KERNEL:
        raise ValueError(
            f"{KEY}n_features={n_features} frequency bands give per-stage sizes {sizes}; "
            f"each must be divisible by sub_bands={sub_bands} and the last >= {HEAD_KERNEL} "
            "(e.g. 10, 20, 30, 40 or 80 mel bands)"
        )
    return tuple(strides)


class SubSpectralNorm(nn.Module):
    """SubSpectral Normalization (SSN, Chang et al. 2021): BatchNorm with separate statistics
    and affine parameters per frequency sub-band, so each band is normalised on its own.

    Args:
        channels: channels ``C`` of the input ``(B, C, F, T)``.
        sub_bands: sub-bands ``S`` the frequency axis splits into; ``F`` must divide by it.
    """

    def __init__(self, channels: int, sub_bands: int) -> None:
        super().__init__()
        self.sub_bands = sub_bands
        self.bn = nn.BatchNorm2d(channels * sub_bands)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``(B, C, F, T)`` normalised per channel and sub-band, the same shape."""
        b, c, f, t = x.shape
        x = x.reshape(b, c * self.sub_bands, f // self.sub_bands, t)  # (B, C*S, F/S, T)
        return self.bn(x).reshape(b, c, f, t)


class BCResBlock(nn.Module):
    """The paper's BC-ResBlock: ``y = ReLU(x + f2(x) + BC(f1(avgpool(f2(x)))))``.

    ``f2`` is the frequency-wise depthwise 3x1 conv with SubSpectral Normalization, ``f1`` the
    temporal part (depthwise 1x3 conv, BN, Swish, pointwise conv, dropout) on features averaged
    over frequency, broadcast (BC) back over it. When the channel count changes it is the
    paper's transition BC-ResBlock: a 1x1 conv, BN and ReLU first, and no identity shortcut;
    neither is there one where the block strides in frequency.

    Args:
        in_channels: input channels.
        out_channels: output channels; unlike ``in_channels`` makes a transition block.
        freq_stride: stride of ``f2`` in frequency, 1 or 2.
        dilation: temporal dilation of ``f1``'s depthwise conv.
        dropout: ``f1``'s channel dropout (``nn.Dropout2d``) probability.
        sub_bands: SubSpectral Normalization's sub-bands.
        causal: ``f1``'s depthwise conv reads the ``2 * dilation`` past frames instead of
            ``dilation`` on each side. Default False.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        freq_stride: int,
        dilation: int,
        dropout: float,
        sub_bands: int,
        causal: bool = False,
    ) -> None:
        super().__init__()
        self.past_frames = 2 * dilation if causal else 0
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
                padding=(0, 0 if causal else dilation),
                dilation=(1, dilation),
                groups=out_channels,
                bias=False,
            ),
            nn.BatchNorm2d(out_channels),
            nn.SiLU(),
            nn.Conv2d(out_channels, out_channels, 1, bias=False),
            nn.Dropout2d(dropout),
        )

    def forward(self, x: torch.Tensor, past: PastFrames | None = None) -> torch.Tensor:
        """``x`` ``(B, in_channels, F, T)`` to ``(B, out_channels, F / freq_stride, T)``;
        a causal block reads its past frames from ``past`` (required)."""
        f2 = self.f2(self.expand(x))  # (B, C, F', T), F' = F / freq_stride
        f1 = f2.mean(dim=2, keepdim=True)  # (B, C, 1, T)
        if self.past_frames:
            f1 = past(f1, self.past_frames)  # (B, C, 1, 2d + T)
        f1 = self.f1(f1)  # (B, C, 1, T)
        out = f2 + f1  # f1 broadcast over frequency
        if self.identity:
            out = out + x
        return torch.relu(out)


@register("model")
class BCResNet(nn.Module):
    """BC-ResNet-tau: log-Mel ``(batch, n_mels, frames)`` to logits ``(batch, num_classes)``.

    The stem (a 5x5 conv with frequency stride 2, BN, ReLU), four stages of BC-ResBlocks, and
    the head (depthwise 5x5 conv, 1x1 conv, BN, ReLU, global average pool, 1x1 classifier), as
    in the paper's Table 1. Width scales with ``tau`` (base width ``c = int(8 * tau)``); tau 1
    has 9,232 parameters, whatever the number of bands. Time is never downsampled, so any number
    of frames works; the frequency axis is halved where ``frequency_strides`` says (the paper's
    three halvings for 40 or 80 bands, fewer for 10 or 20), so ``n_features`` must split into
    ``sub_bands`` at every stage and leave at least 5 bands for the head (checked when built).

    Args:
        tau: width multiplier (BC-ResNet-tau), in ``[MIN_TAU, MAX_TAU]`` (0.125 to 1000).
            Default 1.0.
        num_classes: number of logits, in ``[1, MAX_SIZE]`` (``kws.models.sizes``). Default 12.
        dropout: the BC-ResBlocks' channel dropout probability, in [0, 1]. Default 0.1.
        sub_bands: SubSpectral Normalization's sub-bands, a whole number in
            ``[1, n_features]``. Default 5.
        n_features: the input's frequency bands, which set the frequency strides, in
            ``[1, MAX_SIZE]``. Default 40; any input with the same strides (e.g. 80 bands on a
            model built for 40) also runs.
        causal: the streaming form (see the module docstring): convolutions along time read
            only past frames and the pool averages the last ``window`` frames. Default False.
        window: the frames a causal model's pool averages, in ``[2, MAX_SIZE]``; a clip of
            ``window`` frames gets the global average the non-causal model takes. Default
            101 (one second at hop 160 with centring); unused unless ``causal``.

    Raises:
        ValueError: a setting out of range, named as its config key (``model.tau``, ...), or
            frequency bands the strides do not fit (``frequency_strides``).
    """

    def __init__(
        self,
        tau: float = 1.0,
        num_classes: int = 12,
        dropout: float = 0.1,
        sub_bands: int = 5,
        n_features: int = 40,
        causal: bool = False,
        window: int = 101,
    ) -> None:
        super().__init__()
        check_number(KEY + "tau", tau, MIN_TAU, MAX_TAU)
        check_number(KEY + "window", window, 2, MAX_SIZE, integer=True)
        self.causal = bool(causal)
        self.window = int(window)
        check_number(KEY + "dropout", dropout, 0.0, 1.0)
        check_sizes(num_classes, n_features=n_features)
        check_number(KEY + "sub_bands", sub_bands, 1, n_features, integer=True)
        self.sub_bands = sub_bands
        self.n_features = n_features
        self.freq_strides = frequency_strides(n_features, sub_bands)
        stem_stride, *stage_strides = self.freq_strides
        c = int(8 * tau)
        widths = [int(c * w) for w in STAGE_WIDTHS]
        # A causal model pads time in PastFrames, HEAD_KERNEL - 1 past frames for the 5x5 convs.
        time_padding = 0 if causal else HEAD_KERNEL // 2
        self.stem = nn.Sequential(
            nn.Conv2d(1, 2 * c, 5, stride=(stem_stride, 1), padding=(2, time_padding), bias=False),
            nn.BatchNorm2d(2 * c),
            nn.ReLU(),
        )
        stages = []
        in_channels = 2 * c
        for n_blocks, width, dilation, stride in zip(
            STAGE_BLOCKS, widths, STAGE_DILATIONS, stage_strides, strict=True
        ):
            blocks = [
                BCResBlock(
                    in_channels if i == 0 else width,
                    width,
                    stride if i == 0 else 1,
                    dilation,
                    dropout,
                    sub_bands,
                    causal,
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
                padding=(0, time_padding),
                groups=in_channels,
                bias=False,
            ),  # (B, 2.5c, F - 4, T)
            nn.Conv2d(in_channels, 4 * c, 1, bias=False),
            nn.BatchNorm2d(4 * c),
            nn.ReLU(),
            # (B, 4c, 1, 1); causal (after the classifier, see frames): each frame the mean of
            # the last `window` frames
            nn.AvgPool2d((1, self.window), stride=1) if causal else nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(4 * c, num_classes, 1),
        )

    def _takes(self, bands: int) -> bool:
        """Whether ``bands`` input bands run through this model's frequency strides."""
        try:
            return frequency_strides(bands, self.sub_bands) == self.freq_strides
        except ValueError:
            return False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The logits of each clip (a causal model's: those of the clip's last frame).

        Args:
            x: log-Mel features ``(batch, n_features, frames)``, or any number of bands with the
                same ``frequency_strides``.

        Returns:
            ``(batch, num_classes)``.
        """
        if self.causal:
            return self.frames(x)[0][..., -1]
        x = self._stem_input(x)
        x = self.stem(x)  # (B, 1, 40, T) -> (B, 2c, 20, T)
        for stage in self.stages:
            x = stage(x)  # freq 20 -> 20 -> 10 -> 5 -> 5 (for 40); channels c, 1.5c, 2c, 2.5c
        return self.head(x).flatten(1)  # (B, 2.5c, 5, T) -> (B, num_classes)

    def frames(
        self, x: torch.Tensor, past: Sequence[torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """A causal model's logits at every frame, and the past the next chunk needs.

        Run on a stream chunk by chunk, each call given the previous call's past, it returns
        what one call on the whole stream returns, frame for frame.

        Args:
            x: features ``(batch, n_features, T)``, the next ``T`` frames, ``T >= 1``.
            past: the previous chunk's past (this method's second output); ``None`` (default):
                zeros, the start of a stream (``state_shapes`` gives the shapes).

        Returns:
            ``(logits, past)``: logits ``(batch, num_classes, T)``, and the frames each causal
            site reads next, ``(batch, ..., frames)`` in the order of ``state_shapes``.

        Raises:
            ValueError: the model is not causal, or ``x`` has the wrong shape.
        """
        if not self.causal:
            raise ValueError("BCResNet.frames needs a causal model (model.causal=true)")
        state = PastFrames(past)
        x = self._stem_input(x)
        x = self.stem(state(x, HEAD_KERNEL - 1))  # (B, 1, 40, 4 + T) -> (B, 2c, 20, T)
        for stage in self.stages:
            for block in stage:
                x = block(x, state)  # as in forward
        x = self.head[0](state(x, HEAD_KERNEL - 1))  # (B, 2.5c, 5, 4 + T) -> (B, 2.5c, 1, T)
        x = self.head[5](self.head[1:4](x))  # (B, 4c, 1, T) -> (B, num_classes, 1, T)
        # The classifier is linear, so it commutes with the mean: pooling its logits keeps the
        # past of num_classes channels, not 4c.
        x = self.head[4](state(x, self.window - 1))  # mean of each last `window` frames
        return x.squeeze(2), state.kept  # (B, num_classes, T)

    def state_shapes(self, batch: int = 1) -> list[tuple[int, ...]]:
        """The shapes of a causal model's past (``frames``), site by site: the stem's input,
        each BC-ResBlock's ``f1`` input, the head's depthwise conv input, the pool's input (the
        classifier's logits).

        Args:
            batch: streams run together. Default 1.
        """
        bands = self.n_features
        for stride in self.freq_strides:
            bands = _halve(bands) if stride == 2 else bands
        head_conv, classifier = self.head[0], self.head[5]
        return [
            (batch, 1, self.n_features, HEAD_KERNEL - 1),
            *(
                (batch, block.f1[0].in_channels, 1, block.past_frames)
                for stage in self.stages
                for block in stage
            ),
            (batch, head_conv.in_channels, bands, HEAD_KERNEL - 1),
            (batch, classifier.out_channels, 1, self.window - 1),
        ]

    def _stem_input(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``(B, F, T)`` checked and given its channel: ``(B, 1, F, T)``."""
        if x.dim() != 3:
            raise ValueError(f"BCResNet expects (batch, n_mels, frames), got {tuple(x.shape)}")
        if x.shape[1] != self.n_features and not self._takes(x.shape[1]):
            raise ValueError(
                f"BCResNet was built for n_features={self.n_features} frequency bands (strides "
                f"{self.freq_strides}), got {x.shape[1]}, which these strides do not fit"
            )
        return x.unsqueeze(1)
