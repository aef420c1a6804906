"""What gets exported: a trained ``KeywordSpotter`` as a pure inference graph, and its metadata.

``InferenceGraph`` is the spotter as deployed: waveform in, probabilities and logits out, in eval
mode, with no SpecAugment and no gradients. Its frontend is ``inference_frontend``'s copy, which
stores the STFT's kernels only where training changed them:

- An STFT whose kernels still hold the analytic Fourier basis (a fixed one, or a trainable one
  that never moved) computes with the FFT (``implementation="fft"``), which exports as ONNX's
  ``DFT``: its window (``n_fft`` floats) is its only weight. The kernels would be
  ``2 (n_fft // 2 + 1) x win_length`` floats, 964 KB at BC-ResNet's settings, where a
  BC-ResNet-1 head is 37 KB: its float file is 113 KB this way, 1,387 KB with the kernels.
  onnxruntime's DFT is slower than the convolution's GEMM, though: 1.37 against 1.07 ms per
  1-second clip for the whole BC-ResNet-1 at batch 1 on one thread of this project's CPU.
  A DFT export gives PyTorch's probabilities within 1e-5 (``tests/test_export_dft.py``).
- An STFT whose kernels moved convolves with them (``implementation="conv"``), so the trained
  kernels are exported, as ``Conv`` weights.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch
from torch import nn

from kws.data.download import sha256_of
from kws.frontend import prepare_export
from kws.training import KWSModule
from kws_runtime.model_info import ModelInfo


def inference_frontend(frontend: nn.Module) -> nn.Module:
    """A frozen copy of a trained frontend, set up to be exported.

    The copy is in eval mode with no gradients, and each of its layers is set up by its own
    ``prepare_export()`` (``kws.frontend.prepare_export``): each Mel basis is stored clamped at
    zero, as ``MelSpectrogram.filterbank()`` applies it, so the exported basis is the one the
    model was trained with; each ``STFT`` computes with the FFT (``implementation="fft"``,
    exported as an ONNX ``DFT`` with no kernels stored) where its kernels hold the analytic
    Fourier basis (``STFT.holds_fourier_basis``), else convolves with its kernels (``"conv"``,
    the trained kernels stored as ``Conv`` weights).

    Args:
        frontend: the trained frontend, any module (copied; the original is left as it is).

    Returns:
        The copy, ``(batch, samples)`` waveforms to features as the original computes them.
    """
    frontend = copy.deepcopy(frontend).eval().requires_grad_(False)
    prepare_export(frontend)
    return frontend


class InferenceGraph(nn.Module):
    """A frozen copy of a spotter's frontend and head: waveforms ``(batch, samples)`` to
    ``(probabilities, logits)``, each ``(batch, classes)``.

    The frontend is prepared by ``inference_frontend`` (Mel basis clamped at zero, the FFT
    where the STFT kernels hold the Fourier basis, else the kernels' convolution).

    Args:
        frontend: the trained frontend (copied; the original is left as it is).
        head: the trained head (copied).
    """

    def __init__(self, frontend: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.eval()
        self.frontend = inference_frontend(frontend)
        self.head = copy.deepcopy(head).eval().requires_grad_(False)

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
    """The metadata an export of ``module`` carries (see ``kws_runtime.model_info``).

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
        sample_rate=module.clip_format.sample_rate,
        clip_samples=module.clip_format.clip_samples,
        frontend=dict(hparams["frontend"]),
        head=dict(hparams["model"]),
        data=metadata.get("datamodule"),
        source=source,
        calibration=None if module.calibration is None else module.calibration.as_dict(),
    )
