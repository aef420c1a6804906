"""Writing a spotter as an ONNX model: exported, folded, labelled, checked, then saved whole.

``torch.onnx.export(..., dynamo=True)`` traces ``InferenceGraph`` with ``torch.export`` and
translates it to ONNX (``translate``, which ``kws.export.streaming`` shares); onnxscript's
optimiser then folds what is constant (the clamped Mel basis, the kernels' reshapes), and the
exporter's debugging records are dropped, all but the frontend's nodes' name scopes
(``kws.export.quantize.strip_metadata``: three quarters of a BC-ResNet-1 file). The model is checked
with ``onnx.checker`` and run with onnxruntime against PyTorch before it is written, under a
temporary name renamed into place.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnxscript import optimizer

from kws.export.graph import InferenceGraph
from kws.export.quantize import strip_metadata
from kws_runtime.io import atomic_write
from kws_runtime.model_info import INPUT_NAME, OUTPUT_NAMES, ModelInfo

#: The lowest ONNX opset written (the first with an STFT operator; kws needs none).
OPSET = 18
#: The largest constant the optimiser folds, in elements (the Mel basis at n_fft 8192 and 256
#: filters, and the Fourier kernels of n_fft 2048).
_FOLD_LIMIT = 1 << 23


class ExportError(RuntimeError):
    """An export that failed a check; nothing was written under its name."""


def example_batch(info: ModelInfo, batch: int = 3, seed: int = 0) -> np.ndarray:
    """Seeded audio-like clips to trace and check an export with: noise at a speech-like level.

    Args:
        info: the exported model's metadata (clip length).
        batch: clips. Default 3.
        seed: the noise's seed. Default 0.

    Returns:
        ``(batch, clip_samples)`` float32 in [-1, 1].
    """
    rng = np.random.default_rng(seed)
    clips = rng.normal(0.0, 0.1, (batch, info.clip_samples)) * rng.uniform(0.01, 1.0, (batch, 1))
    return np.clip(clips, -1.0, 1.0).astype(np.float32)


def translate(
    program: torch.nn.Module | torch.export.ExportedProgram,
    example: tuple[torch.Tensor, ...],
    names: tuple[Sequence[str], Sequence[str]],
    info: ModelInfo,
    doc: str,
    dynamic_shapes: Any = None,
) -> onnx.ModelProto:
    """A module (traced here) or a ``torch.export`` program as a kws ONNX model: translated,
    constants folded, debugging records dropped, ``info`` in ``metadata_props``.

    Args:
        program: what to export, in eval mode.
        example: its example inputs.
        names: the graph's input names and output names, in order.
        info: its metadata.
        doc: the graph's one-line description (``doc_string``).
        dynamic_shapes: a module's free dimensions, as ``torch.export`` takes them; None for a
            program (traced with its own). Default None.

    Returns:
        The model, checked with ``onnx.checker`` (full check, with shape inference).
    """
    with contextlib.redirect_stdout(io.StringIO()):  # the exporter reports each step on stdout
        exported = torch.onnx.export(
            program,
            example,
            dynamo=True,
            opset_version=OPSET,
            input_names=list(names[0]),
            output_names=list(names[1]),
            dynamic_shapes=dynamic_shapes,
            verbose=False,
        )
    optimizer.optimize(exported.model, input_size_limit=_FOLD_LIMIT, output_size_limit=_FOLD_LIMIT)
    model = exported.model_proto
    strip_metadata(model, keep_scopes=True)
    model.producer_name = "kws"
    model.doc_string = doc
    onnx.helper.set_model_props(model, info.to_props())
    onnx.checker.check_model(model, full_check=True)
    return model


def to_onnx(graph: InferenceGraph, info: ModelInfo) -> onnx.ModelProto:
    """``graph`` as an ONNX model with a dynamic batch axis and ``info`` in ``metadata_props``.

    Args:
        graph: the spotter to export.
        info: its metadata.

    Returns:
        The model, checked with ``onnx.checker`` (full check, with shape inference).
    """
    doc = (
        f"kws keyword spotter: {INPUT_NAME} (batch, {info.clip_samples}) float32 at "
        f"{info.sample_rate} Hz -> {' and '.join(OUTPUT_NAMES)} (batch, {len(info.class_names)})"
    )
    return translate(
        graph,
        (torch.from_numpy(example_batch(info)),),
        ([INPUT_NAME], OUTPUT_NAMES),
        info,
        doc,
        dynamic_shapes={INPUT_NAME: {0: torch.export.Dim("batch")}},
    )


def max_difference(
    model: onnx.ModelProto | bytes, graph: InferenceGraph, clips: np.ndarray
) -> float:
    """The largest difference between onnxruntime's probabilities and PyTorch's.

    Args:
        model: the ONNX model (or its bytes).
        graph: the PyTorch graph it was exported from (or that it approximates).
        clips: ``(batch, samples)`` float32 to compare on.
    """
    data = model if isinstance(model, bytes) else model.SerializeToString()
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    ours = session.run([OUTPUT_NAMES[0]], {INPUT_NAME: clips})[0]
    with torch.no_grad():
        theirs = graph(torch.from_numpy(clips))[0].numpy()
    return float(np.abs(ours - theirs).max(initial=0.0))


def save_model(model: onnx.ModelProto, path: str | Path) -> Path:
    """Write ``model`` to ``path`` atomically (a temporary name, renamed when complete).

    Args:
        model: the model, at most 2 GB (one protobuf, no external data).
        path: the ``.onnx`` file; its folder must exist.
    """
    with atomic_write(path, "wb") as handle:
        handle.write(model.SerializeToString())
    return Path(path)
