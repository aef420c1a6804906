"""Per-channel energy normalisation (PCEN) with trainable per-channel parameters, and the log it
replaces: the compression stage of the filterbank frontends (``compression="log"|"pcen"``).

PCEN (Wang et al., 2017) divides each channel's energy by a smoothed copy of itself and
compresses the result with a root::

    M(t) = (1 - s) M(t - 1) + s E(t),   M(0) = E(0)
    PCEN(t) = (E(t) / (eps + M(t))^alpha + delta)^r - delta^r

with ``alpha``, ``delta``, ``r`` and ``s`` learnt per channel (LEAF's design, with its initial
values). ``M(0) = E(0)`` starts the smoother as if the first frame had always been there
(LEAF's start; ``librosa.pcen`` starts from the steady state of a unit input unless given
``zi``), so a clip's first frames are normalised like its others.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal, get_args

import torch
from torch import nn

from kws.frontend.functional import KEY, check_log_eps, compress, relative_change
from kws.frontend.protocol import PCEN_CHANGE
from kws_runtime.checks import check_number

Compression = Literal["log", "pcen"]
#: The ``Compression`` values.
COMPRESSIONS: tuple[str, ...] = get_args(Compression)

#: The smallest ``delta`` and ``r`` PCEN applies: near zero, ``delta**r`` has a gradient in
#: ``delta`` that grows without bound, and ``r = 0`` would make every output zero.
DELTA_MIN = 1e-3
R_MIN = 1e-2


class _PCEN(torch.autograd.Function):
    """``pcen`` with its backward pass written out (see there), on ``(batch, frames, channels)``
    tensors."""

    @staticmethod
    def forward(
        ctx: Any,
        energies: torch.Tensor,
        alpha: torch.Tensor,
        delta: torch.Tensor,
        r: torch.Tensor,
        smooth: torch.Tensor,
        eps: float,
    ) -> torch.Tensor:
        # energies: (batch, frames, channels), contiguous; the parameters: (channels,)
        smoothed = torch.empty_like(energies)
        smoothed[:, 0] = energies[:, 0]
        for t in range(1, energies.shape[1]):
            torch.lerp(smoothed[:, t - 1], energies[:, t], smooth, out=smoothed[:, t])
        log_smoothed = (smoothed + eps).log_()
        gain = torch.mul(log_smoothed, -alpha).exp_()  # 1 / (eps + M)^alpha
        shifted = torch.addcmul(delta, energies, gain)  # Z = E / (eps + M)^alpha + delta
        log_shifted = shifted.log()
        rooted = torch.mul(log_shifted, r).exp_()  # Z^r
        ctx.eps = eps
        ctx.save_for_backward(
            energies, smoothed, gain, shifted, log_smoothed, log_shifted, rooted,
            alpha, delta, r, smooth,
        )  # fmt: skip
        return rooted - delta**r

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        (
            energies, smoothed, gain, shifted, log_smoothed, log_shifted, rooted,
            alpha, delta, r, smooth,
        ) = ctx.saved_tensors  # fmt: skip
        clips_and_frames = (0, 1)
        grad_sum = grad.sum(clips_and_frames)
        grad_rooted = grad * rooted
        grad_r = (grad_rooted * log_shifted).sum(clips_and_frames) - grad_sum * delta**r * (
            delta.log()
        )
        grad_shifted = grad_rooted.div_(shifted).mul_(r)  # dPCEN/dZ = r Z^(r - 1)
        grad_delta = grad_shifted.sum(clips_and_frames) - grad_sum * r * delta ** (r - 1)
        grad_energies = grad_shifted * gain  # dZ/dE directly: 1 / (eps + M)^alpha
        # dZ/dM = -alpha E gain / (eps + M); and dZ/dalpha = -E gain log(eps + M)
        grad_gained = grad_energies * energies
        grad_alpha = -(grad_gained * log_smoothed).sum(clips_and_frames)
        lam = grad_gained.mul_(-alpha).div_(smoothed + ctx.eps)
        # The smoother's adjoint is the same recursion run backwards in time:
        # lam(t) = dM(t) + (1 - s) lam(t + 1); dE(t) += s lam(t) for t >= 1, lam(0) for t = 0.
        keep = 1.0 - smooth
        for t in range(lam.shape[1] - 2, -1, -1):
            lam[:, t].addcmul_(keep, lam[:, t + 1])
        grad_smooth = (lam[:, 1:] * (energies[:, 1:] - smoothed[:, :-1])).sum(clips_and_frames)
        grad_energies[:, 1:].addcmul_(lam[:, 1:], smooth)
        grad_energies[:, 0].add_(lam[:, 0])
        return grad_energies, grad_alpha, grad_delta, grad_r, grad_smooth, None


def pcen(
    energies: torch.Tensor,
    alpha: torch.Tensor,
    delta: torch.Tensor,
    r: torch.Tensor,
    smooth: torch.Tensor,
    eps: float = 1e-6,
) -> torch.Tensor:
    """PCEN of each channel, with per-channel parameters (the equations in the module docstring).

    The backward pass is written out: autograd's graph of the smoother's frame loop and of the
    pointwise steps costs several times more (the smoother's adjoint is the same recursion run
    backwards in time). The work runs on ``(batch, frames, channels)`` memory, the layout a
    filterbank's frame-by-frame projection leaves (``energies.transpose(1, 2)`` of it costs no
    copy), so each frame's update is one vector operation.

    Args:
        energies: non-negative ``(batch, channels, frames)``, ``frames >= 1``.
        alpha: gain normalisation exponents ``(channels,)``, in [0, 1].
        delta: biases ``(channels,)``, positive.
        r: root exponents ``(channels,)``, in (0, 1].
        smooth: smoothing coefficients ``s`` ``(channels,)``, in [0, 1].
        eps: added to ``M`` before its power. Default 1e-6.

    Returns:
        ``(batch, channels, frames)``.
    """
    by_frame = energies.transpose(1, 2).contiguous()  # (batch, frames, channels)
    parameters = (p.to(energies.dtype) for p in (alpha, delta, r, smooth))
    return _PCEN.apply(by_frame, *parameters, eps).transpose(1, 2)


class PCEN(nn.Module):
    """Per-channel energy normalisation of non-negative energies ``(batch, channels, frames)``.

    The parameters are used clamped to where the equations stay finite and mean what they say:
    ``alpha`` and ``s`` to [0, 1], ``r`` to [``R_MIN``, 1], ``delta`` to at least ``DELTA_MIN``;
    a parameter trained past a bound acts as the bound (and gets no gradient there), as in LEAF.

    Args:
        n_channels: channels (filters), each with its own parameters, at least 1.
        alpha: initial gain normalisation exponent, in [0, 1]. Default 0.96 (LEAF).
        delta: initial bias, finite and at least ``DELTA_MIN``. Default 2.0.
        r: initial root exponent (LEAF's ``1 / root``), in [``R_MIN``, 1]. Default 0.5.
        smooth: initial smoothing coefficient ``s``, in [0, 1]. Default 0.04 (about 25
            frames).
        eps: added to ``M`` before its power, finite and positive. Default 1e-6
            (``librosa.pcen``'s).
        trainable: make the four per-channel parameters ``nn.Parameter``s. Default True.

    Raises:
        ValueError: a value out of range, named (``PCEN alpha must be in [0, 1], got 1.5``).
    """

    #: Each frame is normalised by a smoother carried over the frames before it.
    per_frame: ClassVar[bool] = False

    def __init__(
        self,
        n_channels: int,
        alpha: float = 0.96,
        delta: float = 2.0,
        r: float = 0.5,
        smooth: float = 0.04,
        eps: float = 1e-6,
        trainable: bool = True,
    ) -> None:
        super().__init__()
        # Not config keys: a frontend builds PCEN(n_mels) with these defaults.
        check_number("PCEN n_channels", n_channels, 1, math.inf, integer=True)
        check_number("PCEN alpha", alpha, 0.0, 1.0)
        check_number("PCEN delta", delta, DELTA_MIN, math.inf)
        check_number("PCEN r", r, R_MIN, 1.0)
        check_number("PCEN smooth", smooth, 0.0, 1.0)
        check_number("PCEN eps", eps, 0.0, math.inf, low_open=True)
        self.n_channels = n_channels
        self.eps = eps
        initial = torch.tensor([alpha, delta, r, smooth])[:, None].expand(4, n_channels)
        self.register_buffer("initial_parameters", initial.clone())
        for name, values in zip(("alpha", "delta", "r", "smooth"), initial, strict=True):
            if trainable:
                setattr(self, name, nn.Parameter(values.clone()))
            else:
                self.register_buffer(name, values.clone())

    def parameters_as_applied(self) -> torch.Tensor:
        """``alpha``, ``delta``, ``r`` and ``s`` after their clamps, ``(4, n_channels)``."""
        return torch.stack(
            [
                self.alpha.clamp(0.0, 1.0),
                self.delta.clamp(min=DELTA_MIN),
                self.r.clamp(R_MIN, 1.0),
                self.smooth.clamp(0.0, 1.0),
            ]
        )

    def forward(self, energies: torch.Tensor) -> torch.Tensor:
        """PCEN of each channel.

        Args:
            energies: non-negative ``(batch, n_channels, frames)``, ``frames >= 1``.

        Returns:
            ``(batch, n_channels, frames)``.
        """
        if energies.dim() != 3 or energies.shape[1] != self.n_channels:
            raise ValueError(
                f"expected energies (batch, {self.n_channels}, frames), got {tuple(energies.shape)}"
            )
        return pcen(energies, *self.parameters_as_applied(), eps=self.eps)

    def drift(self) -> dict[str, torch.Tensor]:
        """Relative Frobenius change of the applied parameters from their initial values."""
        return {PCEN_CHANGE: relative_change(self.parameters_as_applied(), self.initial_parameters)}

    def trainable_parts(self) -> dict[str, bool]:
        """Whether the parameters train, keyed like ``drift()``."""
        return {PCEN_CHANGE: any(p.requires_grad for p in self.parameters())}

    def extra_repr(self) -> str:
        return f"n_channels={self.n_channels}, eps={self.eps}"


class LogCompression(nn.Module):
    """``log(energies + eps)``, the compression PCEN replaces (BC-ResNet's), shape kept.

    Args:
        eps: added inside the log, in ``(0, 1]`` (a frontend's ``log_eps``). Default 1e-6.
    """

    #: Each frame is compressed from its own energies alone.
    per_frame: ClassVar[bool] = True

    def __init__(self, eps: float = 1e-6) -> None:
        super().__init__()
        check_log_eps(eps)
        self.eps = eps

    def forward(self, energies: torch.Tensor) -> torch.Tensor:
        """``log(energies + eps)``.

        Args:
            energies: non-negative, any shape.
        """
        return compress(energies, "log", self.eps)


def check_compression(compression: Any) -> None:
    """The one check of a frontend's ``compression`` setting, where it enters.

    Args:
        compression: the setting, as configured.

    Raises:
        ValueError: not one of ``COMPRESSIONS``, naming ``frontend.compression``.
    """
    if compression not in COMPRESSIONS:
        raise ValueError(
            f"{KEY}compression must be one of {', '.join(map(repr, COMPRESSIONS))}; "
            f"got {compression!r}"
        )


def make_compression(compression: Compression, n_channels: int, log_eps: float) -> nn.Module:
    """The compression a frontend's ``compression`` setting names.

    Args:
        compression: ``"log"`` (``log(x + log_eps)``) or ``"pcen"`` (``PCEN(n_channels)`` with
            its default initial values).
        n_channels: the filters the energies come in.
        log_eps: ``"log"``'s ``eps``, in ``(0, 1]``, checked for ``"pcen"`` too (a setting of
            the config either way).

    Raises:
        ValueError: ``compression`` or ``log_eps`` out of range, named as its config key.
    """
    check_compression(compression)
    if compression == "log":
        return LogCompression(log_eps)
    check_log_eps(log_eps)
    return PCEN(n_channels)
