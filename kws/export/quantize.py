"""Post-training static int8 quantisation of an exported spotter with onnxruntime's quantiser.

Two variants: ``"int8"`` quantises the whole graph, ``"int8-head"`` keeps the frontend (STFT,
power, Mel projection, log) in float and quantises only the head. The frontend is the hard part
for 8 bits: its power spectrum spans many orders of magnitude before the log compresses it, and
one scale per tensor cannot hold both the quiet bins and the loud ones.

Both calibrate activation ranges (MinMax) on clips of the training data and quantise weights per
output channel, in QDQ form (onnxruntime fuses each QuantizeLinear/DequantizeLinear pair around
an operator into its integer kernel). Weights use 7 of the 8 bits (``reduce_range``): x86 CPUs
without VNNI (AVX2 only, like this project's) add int8 products in pairs into 16-bit sums that
saturate at full range; full-range per-channel weights cost BC-ResNet-1 half its accuracy here.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
from onnxruntime.quantization import (
    CalibrationDataReader,
    QuantFormat,
    QuantType,
    quant_pre_process,
    quantize_static,
)

from kws.runtime.model_info import INPUT_NAME, ModelInfo

#: The calibration clips run through the model per batch.
_CALIBRATION_BATCH = 32
#: The operators given int8 kernels: those with weights. Quantising every operator onnxruntime
#: can (the adds, multiplies, sigmoids and norms between them too) lost BC-ResNet-1 more accuracy
#: on the generated data, for no smaller file.
OP_TYPES = ("Conv", "MatMul", "Gemm")


class _Clips(CalibrationDataReader):
    """Feeds calibration clips to the quantiser, a batch at a time."""

    def __init__(self, clips: np.ndarray) -> None:
        self.batches: Iterator[np.ndarray] = iter(
            [clips[i : i + _CALIBRATION_BATCH] for i in range(0, len(clips), _CALIBRATION_BATCH)]
        )

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self.batches, None)
        return None if batch is None else {INPUT_NAME: batch}


def frontend_output(model: onnx.ModelProto) -> str:
    """The tensor the frontend hands to the head, found from the exporter's name scopes: the
    output of a node inside ``frontend`` that a node outside it reads.

    Args:
        model: a float model written by ``kws.export.onnx_model.to_onnx``.
    """

    def in_frontend(node: onnx.NodeProto) -> bool:
        scopes = {p.key: p.value for p in node.metadata_props}.get("pkg.torch.onnx.name_scopes")
        return scopes is not None and "'frontend'" in scopes

    inside = [node for node in model.graph.node if in_frontend(node)]
    produced = {name for node in inside for name in node.output}
    crossing = {
        name
        for node in model.graph.node
        if not in_frontend(node)
        for name in node.input
        if name in produced
    }
    if len(crossing) != 1:
        raise ValueError(f"expected one tensor from frontend to head, found {sorted(crossing)}")
    return crossing.pop()


def ancestors(model: onnx.ModelProto, tensor: str) -> list[str]:
    """The names of the nodes ``tensor`` depends on, its producer included.

    Args:
        model: an ONNX model.
        tensor: a tensor of its graph.
    """
    producer = {name: node for node in model.graph.node for name in node.output}
    names, stack, seen = [], [tensor], set()
    while stack:
        node = producer.get(stack.pop())
        if node is None or node.name in seen:
            continue
        seen.add(node.name)
        names.append(node.name)
        stack.extend(node.input)
    return names


def quantize(
    model: onnx.ModelProto, calibration: np.ndarray, info: ModelInfo, head_only: bool
) -> onnx.ModelProto:
    """An int8 copy of a float export.

    Args:
        model: the float model from ``to_onnx``.
        calibration: ``(clips, clip_samples)`` float32 training clips to set activation ranges.
        info: the float model's metadata; the copy's says ``"int8"`` or ``"int8-head"``.
        head_only: keep every node the frontend's output depends on in float.

    Returns:
        The quantised model, with ``info`` (its quantisation updated) in ``metadata_props``.
    """
    boundary = frontend_output(model) if head_only else None
    with tempfile.TemporaryDirectory(prefix="kws-int8-") as folder:
        source, prepared, quantised = (Path(folder, f"{n}.onnx") for n in ("float", "pre", "int8"))
        onnx.save(model, source)
        # Shape inference and graph optimisation (BatchNorm folded into Conv, and so on).
        quant_pre_process(source, prepared, skip_symbolic_shape=True)
        excluded = ancestors(onnx.load(prepared), boundary) if boundary else []
        if boundary and not excluded:
            raise ValueError(f"the frontend's output {boundary!r} did not survive optimisation")
        quantize_static(
            prepared,
            quantised,
            _Clips(calibration),
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=list(OP_TYPES),
            per_channel=True,
            reduce_range=True,
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=excluded,
            extra_options={"ActivationSymmetric": False, "WeightSymmetric": True},
        )
        result = onnx.load(quantised)
    quantised_info = replace(info, quantization="int8-head" if head_only else "int8")
    del result.metadata_props[:]
    onnx.helper.set_model_props(result, quantised_info.to_props())
    onnx.checker.check_model(result, full_check=True)
    return result
