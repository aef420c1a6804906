"""What gets exported: a trained ``KeywordSpotter`` as a pure inference graph, and its metadata.

``InferenceGraph`` is the spotter as deployed: waveform in, probabilities and logits out, in eval
mode, with no SpecAugment and no gradients. Its STFT always convolves with the kernels it holds
(``implementation="conv"``), so a trained STFT exports its trained kernels, every frontend
setting gives the same kind of graph (a Conv, an elementwise power, a MatMul with the Mel basis),
and the Fourier kernels are ordinary weights a quantiser can reach; the FFT path would export
as an ONNX ``DFT`` that holds no weights at all.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch
from torch import nn

from kws.data.download import sha256_of
from kws.data.layout import SAMPLE_RATE
from kws.frontend import STFT, MelSpectrogram
from kws.runtime.model_info import ModelInfo
from kws.training import KWSModule


class InferenceGraph(nn.Module):
    """A frozen copy of a spotter's frontend and head: waveforms ``(batch, samples)`` to
    ``(probabilities, logits)``, each ``(batch, classes)``.

    The copy's Mel basis is stored clamped at zero, as ``MelSpectrogram.filterbank()`` applies
    it, so the exported basis is the one the model was trained with.

    Args:
        frontend: the trained frontend (copied; the original is left as it is).
        head: the trained head (copied).
    """

    def __init__(self, frontend: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.eval()
        self.frontend = copy.deepcopy(frontend).eval().requires_grad_(False)
        self.head = copy.deepcopy(head).eval().requires_grad_(False)
        for layer in self.frontend.modules():
            if isinstance(layer, STFT):
                layer.implementation = "conv"
            if isinstance(layer, MelSpectrogram):
                with torch.no_grad():
                    layer.mel_basis.clamp_(min=0.0)

    def forward(self, waveform: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Scores of each clip.

        Args:
            waveform: ``(batch, samples)`` float32 in [-1, 1].

        Returns:
            ``(probabilities, logits)``, each ``(batch, classes)``.
        """
        features = self.frontend(waveform)  # (batch, n_features, frames)
        logits = self.head(features)  # (batch, classes)
        return logits.softmax(dim=-1), logits


def model_info(module: KWSModule, checkpoint: str | Path | None = None) -> ModelInfo:
    """The metadata an export of ``module`` carries (see ``kws.runtime.model_info``).

    Args:
        module: the trained module, e.g. from ``kws.training.load_checkpoint``.
        checkpoint: the file it was read from, recorded by name and sha256. Default None.
    """
    hparams = module.hparams
    source: dict[str, Any] = {}
    if checkpoint is not None:
        checkpoint = Path(checkpoint)
        source = {"checkpoint": checkpoint.name, "sha256": sha256_of(checkpoint)}
    metadata = getattr(module, "checkpoint_metadata", {})
    if metadata.get("epoch") is not None:
        source["epoch"] = metadata["epoch"]
    return ModelInfo(
        class_names=tuple(module.class_names),
        sample_rate=int(hparams["frontend"].get("sample_rate", SAMPLE_RATE)),
        clip_samples=int(hparams["clip_samples"]),
        frontend=dict(hparams["frontend"]),
        head=dict(hparams["model"]),
        data=metadata.get("datamodule"),
        source=source,
        calibration=None if module.calibration is None else module.calibration.as_dict(),
    )
