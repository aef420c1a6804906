"""The ``MFCC`` layer: a log-Mel spectrogram followed by an orthonormal DCT-II that can train."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from kws.frontend.functional import KEY, dct_matrix, relative_change
from kws.frontend.mel import MelSpectrogram
from kws.frontend.protocol import DCT_CHANGE
from kws.registry import register
from kws_runtime.checks import check_number


@register("frontend")
class MFCC(nn.Module):
    """Waveform ``(batch, samples)`` to MFCCs ``(batch, n_mfcc, frames)``.

    A ``MelSpectrogram`` in dB followed by an orthonormal DCT-II (``dct_type=2``,
    ``norm="ortho"``, no lifter), the computation of ``librosa.feature.mfcc``. The defaults are
    this project's, not librosa's: librosa uses ``sr=22050, n_mfcc=20, n_fft=2048,
    hop_length=512, win_length=None, pad_mode="constant", n_mels=128``, the Slaney mel scale
    with Slaney norm, and ``power_to_db``'s ``amin=1e-10, top_db=80`` (``ref=1`` as here).
    Here ``log_eps`` plays ``amin`` (default 1e-6) and ``top_db`` defaults to ``None`` (no
    floor); when set it is taken from each clip's own maximum, whereas librosa takes it from the
    maximum over everything passed in one call. So, for one clip at 16 kHz,
    ``MFCC(n_mfcc=20, n_fft=2048, hop_length=512, win_length=None, pad_mode="constant",
    n_mels=128, mel_scale="slaney", norm="slaney", log_eps=1e-10, top_db=80.0)`` gives
    ``librosa.feature.mfcc(y=clip, sr=16000)``.

    Args:
        n_mfcc: coefficients kept, a whole number in ``[1, n_mels]``; ``None`` keeps
            ``n_mels`` (so a sweep over ``n_mels`` keeps every coefficient). Default 40.
        trainable_dct: make the DCT matrix an ``nn.Parameter``. Default False.
        **mel_kwargs: the ``MelSpectrogram``'s arguments (``trainable_stft``, ``trainable_mel``,
            ``mel_param``, ``mel_init``, ``mask_bins``, ``top_db``, ...); ``log`` defaults to
            ``"db"`` here.

    Raises:
        ValueError: a setting out of range, named as its config key (``frontend.n_mfcc``, ...).
    """

    def __init__(
        self, n_mfcc: int | None = 40, trainable_dct: bool = False, **mel_kwargs: Any
    ) -> None:
        super().__init__()
        mel_kwargs.setdefault("log", "db")
        self.mel = MelSpectrogram(**mel_kwargs)
        n_mfcc = self.mel.n_mels if n_mfcc is None else n_mfcc
        check_number(KEY + "n_mfcc", n_mfcc, 1, self.mel.n_mels, integer=True)
        self.n_mfcc = n_mfcc
        self.trainable_dct = trainable_dct
        basis = dct_matrix(n_mfcc, self.mel.n_mels).float()
        self.register_buffer("initial_dct", basis.clone())
        if trainable_dct:
            self.dct = nn.Parameter(basis)
        else:
            self.register_buffer("dct", basis)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        """The MFCCs of each clip.

        Args:
            waveform: ``(batch, samples)`` or ``(samples,)``; ``batch`` may be 0.

        Returns:
            ``(batch, n_mfcc, frames)`` in float32, even under autocast.
        """
        log_mel = self.mel(waveform)  # (batch, n_mels, frames), float32
        with torch.autocast(device_type=log_mel.device.type, enabled=False):
            return torch.matmul(self.dct, log_mel)  # (batch, n_mfcc, frames)

    def frame_stft(self) -> nn.Module | None:
        """The Mel layer's (``MelSpectrogram.frame_stft``): the DCT mixes bands, not frames."""
        return self.mel.frame_stft()

    def drift(self) -> dict[str, torch.Tensor]:
        """The Mel layer's drift plus the relative Frobenius change of the DCT."""
        return {**self.mel.drift(), DCT_CHANGE: relative_change(self.dct, self.initial_dct)}

    def trainable_parts(self) -> dict[str, bool]:
        """Whether the Fourier kernels, the mel basis and the DCT train, keyed like ``drift()``."""
        return {**self.mel.trainable_parts(), DCT_CHANGE: self.trainable_dct}
