"""``SpecAugment``: random frequency and time masks (Park et al., 2019), batch-vectorised."""

import math

import torch
from torch import nn

from kws.registry import register
from kws_runtime.checks import check_number

#: The most masks of each kind per example (each is a loop over the batch's masks).
MAX_MASKS = 100


def _band_mask(
    batch: int, size: int, max_width: int, n_masks: int, device: torch.device
) -> torch.Tensor:
    """Union of ``n_masks`` random bands per example along an axis of ``size``: (batch, size) bool.

    Each band has width ~ U{0..max_width - 1} (BC-ResNet's ``int(U(0, max_width))``), at most
    ``size``, and start ~ U{0..size - width}, drawn per example.
    """
    widths = max(1, min(max_width, size + 1))  # how many widths: 0 .. widths - 1
    positions = torch.arange(size, device=device)  # (size,)
    mask = torch.zeros(batch, size, dtype=torch.bool, device=device)
    for _ in range(n_masks):
        width = torch.randint(0, widths, (batch, 1), device=device)  # (B, 1)
        start = (torch.rand(batch, 1, device=device) * (size - width + 1)).long()  # (B, 1)
        mask |= (positions >= start) & (positions < start + width)  # (B, size)
    return mask


@register("spec_augment")
class SpecAugment(nn.Module):
    """Random frequency and time masks on ``(B, F, T)`` spectrograms during training only.

    As in BC-ResNet's official code, a mask parameter ``w`` draws widths ``int(U(0, w))``, that is
    0 to ``w - 1``: ``w`` of 0 or 1 masks nothing. Masked bins are set to ``fill`` (0 in the log
    domain, as BC-ResNet does); eval is identity.

    Args:
        freq_mask_width: ``w`` of the frequency masks, a whole number >= 0: widths 0 to
            ``w - 1`` bins. Default 0 (none).
        time_mask_width: ``w`` of the time masks, a whole number >= 0: widths 0 to ``w - 1``
            frames. Default 0 (none).
        n_freq_masks: frequency masks per example, 0 to ``MAX_MASKS``. Default 2.
        n_time_masks: time masks per example, 0 to ``MAX_MASKS``. Default 2.
        fill: the value of masked bins, a finite number. Default 0.0.

    Raises:
        ValueError: a setting out of range, naming ``module.spec_augment.<key>``.
    """

    def __init__(
        self,
        freq_mask_width: int = 0,
        time_mask_width: int = 0,
        n_freq_masks: int = 2,
        n_time_masks: int = 2,
        fill: float = 0.0,
    ) -> None:
        super().__init__()
        key = "module.spec_augment."
        check_number(key + "freq_mask_width", freq_mask_width, 0, math.inf, integer=True)
        check_number(key + "time_mask_width", time_mask_width, 0, math.inf, integer=True)
        check_number(key + "n_freq_masks", n_freq_masks, 0, MAX_MASKS, integer=True)
        check_number(key + "n_time_masks", n_time_masks, 0, MAX_MASKS, integer=True)
        check_number(key + "fill", fill, -math.inf, math.inf)
        self.freq_mask_width = freq_mask_width
        self.time_mask_width = time_mask_width
        self.n_freq_masks = n_freq_masks
        self.n_time_masks = n_time_masks
        self.fill = fill

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` with masks drawn per example in training mode, ``x`` itself in eval mode.

        Args:
            x: features ``(batch, n_features, frames)``.

        Returns:
            The same shape.
        """
        if not self.training or (self.freq_mask_width <= 1 and self.time_mask_width <= 1):
            return x
        b, f, t = x.shape
        freq = _band_mask(b, f, self.freq_mask_width, self.n_freq_masks, x.device)  # (B, F)
        time = _band_mask(b, t, self.time_mask_width, self.n_time_masks, x.device)  # (B, T)
        mask = freq[:, :, None] | time[:, None, :]  # (B, F, T)
        return x.masked_fill(mask, self.fill)

    def extra_repr(self) -> str:
        return (
            f"freq_mask_width={self.freq_mask_width}, time_mask_width={self.time_mask_width}, "
            f"n_freq_masks={self.n_freq_masks}, n_time_masks={self.n_time_masks}, fill={self.fill}"
        )
