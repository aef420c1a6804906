"""Post-training static int8 quantisation of an exported spotter with onnxruntime's quantiser.

Two variants: ``"int8"`` quantises the whole graph, ``"int8-head"`` computes the frontend (STFT,
power, Mel projection, log) in float and quantises only the head. The frontend is the hard part
for 8 bits: its power spectrum spans many orders of magnitude before the log compresses it, and
one scale per tensor cannot hold both the quiet bins and the loud ones.

Both calibrate activation ranges (MinMax) on clips of the training data and quantise weights per
output channel, in QDQ form (onnxruntime fuses each QuantizeLinear/DequantizeLinear pair around
an operator into its integer kernel). Weights use 7 of the 8 bits (``reduce_range``): x86 CPUs
without VNNI (AVX2 only, like this project's) add int8 products in pairs into 16-bit sums that
saturate at full range; full-range per-channel weights cost BC-ResNet-1 half its accuracy here.

``int8-head`` stores the frontend's projection matrices (the Mel basis, an MFCC's DCT) as int8 too,
one scale per filter, dequantised to float before the float product: an error of at most 0.4% of
each filter's peak, against the head's input grid of about 1/250 of the log-Mel range. The DFT,
the window and a trained STFT's kernels stay float. Both variants drop the exporter's debugging
records (``strip_metadata``) and number their tensors, so a file is mostly its weights: a
BC-ResNet-1 on a fixed STFT is about 70 KB as ``int8-head``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, shape_inference
from onnxruntime.quantization import (
    CalibrationDataReader,
    QuantFormat,
    QuantType,
    quant_pre_process,
    quantize_static,
)

from kws_runtime.model_info import INPUT_NAME, ModelInfo

#: The calibration clips run through the model per batch.
_CALIBRATION_BATCH = 32
#: The operators given int8 kernels: those with weights. Quantising every operator onnxruntime
#: can (the adds, multiplies, sigmoids and norms between them too) lost BC-ResNet-1 more accuracy
#: on the generated data, for no smaller file.
OP_TYPES = ("Conv", "MatMul", "Gemm")
#: The node metadata naming the modules a node was traced in, which ``frontend_output`` reads.
NAME_SCOPES = "pkg.torch.onnx.name_scopes"


class _Clips(CalibrationDataReader):
    """Feeds calibration inputs to the quantiser: clips a batch at a time, or given feeds (a
    streaming export's chunk and state, ``kws.export.streaming.calibration_feeds``)."""

    def __init__(self, calibration: np.ndarray | Sequence[dict[str, np.ndarray]]) -> None:
        if isinstance(calibration, np.ndarray):
            calibration = [
                {INPUT_NAME: calibration[i : i + _CALIBRATION_BATCH]}
                for i in range(0, len(calibration), _CALIBRATION_BATCH)
            ]
        self.feeds: Iterator[dict[str, np.ndarray]] = iter(calibration)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self.feeds, None)


def _in_frontend(node: onnx.NodeProto) -> bool:
    """Whether the exporter traced ``node`` inside the spotter's ``frontend`` module, as its
    ``NAME_SCOPES`` say."""
    scopes = {p.key: p.value for p in node.metadata_props}.get(NAME_SCOPES)
    return scopes is not None and "'frontend'" in scopes


def frontend_output(model: onnx.ModelProto) -> str:
    """The tensor the frontend hands to the head, found from the exporter's name scopes: the
    float output of a node inside ``frontend`` that a node outside it reads (a streaming
    export's head also reads integers the frontend worked out from the chunk's length).

    Args:
        model: a float model written by ``kws.export.onnx_model.to_onnx`` or
            ``kws.export.streaming.to_stream_onnx``.
    """
    inside = [node for node in model.graph.node if _in_frontend(node)]
    inferred = shape_inference.infer_shapes(model).graph.value_info
    floats = {v.name for v in inferred if v.type.tensor_type.elem_type == TensorProto.FLOAT}
    produced = {name for node in inside for name in node.output if name in floats}
    crossing = {
        name
        for node in model.graph.node
        if not _in_frontend(node)
        for name in node.input
        if name in produced
    }
    if len(crossing) != 1:
        raise ValueError(f"expected one tensor from frontend to head, found {sorted(crossing)}")
    return crossing.pop()


def strip_metadata(model: onnx.ModelProto, keep_scopes: bool) -> None:
    """Drop, in place, what the exporter records for debugging: the graph's metadata (the
    ``torch.export`` signature, which lists every parameter), each value's, and each node's
    (the stack trace, with the exporting machine's paths; the FX node; class hierarchy,
    namespace, name scopes, rewrite rule), and the intermediate tensors' inferred shapes
    (``value_info``, which onnxruntime and ``kws_runtime`` infer again). In a BC-ResNet-1
    export on a fixed STFT they are three quarters of the file (300 of 407 KB).

    Args:
        model: an exported model.
        keep_scopes: keep the ``NAME_SCOPES`` of the frontend's nodes (the head's nodes are
            those without), by which ``frontend_output`` finds the frontend's output.
    """
    graph = model.graph
    del graph.metadata_props[:]
    del graph.value_info[:]
    for value in (*graph.input, *graph.output, *graph.initializer):
        del value.metadata_props[:]
    for node in graph.node:
        kept = [
            p
            for p in node.metadata_props
            if keep_scopes and p.key == NAME_SCOPES and _in_frontend(node)
        ]
        del node.metadata_props[:]
        node.metadata_props.extend(kept)


def _number_tensors(model: onnx.ModelProto) -> None:
    """Name every tensor but the graph's inputs and outputs by number, and the nodes not at all,
    in place: the quantiser's names (``..._DequantizeLinear_Output``) are a third of a small
    int8 file."""
    graph = model.graph
    kept = {value.name for value in (*graph.input, *graph.output)}
    names: dict[str, str] = {}

    def number(name: str) -> str:
        return name if not name or name in kept else names.setdefault(name, f"t{len(names)}")

    for tensor in graph.initializer:
        tensor.name = number(tensor.name)
    for node in graph.node:
        node.name = ""
        node.input[:] = [number(name) for name in node.input]
        node.output[:] = [number(name) for name in node.output]


def _int8_projections(model: onnx.ModelProto, nodes: Iterable[str]) -> None:
    """Store the float matrices the ``MatMul`` nodes among ``nodes`` multiply by as int8, in
    place: one symmetric scale per output column (``(K, N)`` second input) or row (``(M, K)``
    first input), dequantised (``DequantizeLinear``) before the float product."""
    graph = model.graph
    weights = {t.name: t for t in graph.initializer}
    chosen = set(nodes)
    for node in [n for n in graph.node if n.name in chosen and n.op_type == "MatMul"]:
        for axis, name in enumerate(node.input):  # axis: the output dimension of a 2-D operand
            tensor = weights.pop(name, None)  # a matrix two products share is stored once
            if (
                tensor is None
                or tensor.data_type != onnx.TensorProto.FLOAT
                or len(tensor.dims) != 2
            ):
                continue
            values = onnx.numpy_helper.to_array(tensor)
            peak = np.abs(values).max(axis=1 - axis)
            scale = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float32)
            shape = (-1, 1) if axis == 0 else (1, -1)
            codes = np.round(values / scale.reshape(shape)).astype(np.int8)
            graph.initializer.remove(tensor)
            graph.initializer.extend(
                [
                    onnx.numpy_helper.from_array(codes, f"{name}_int8"),
                    onnx.numpy_helper.from_array(scale, f"{name}_scale"),
                    onnx.numpy_helper.from_array(
                        np.zeros_like(codes, shape=scale.shape), f"{name}_zero"
                    ),
                ]
            )
            graph.node.insert(
                0,
                onnx.helper.make_node(
                    "DequantizeLinear",
                    [f"{name}_int8", f"{name}_scale", f"{name}_zero"],
                    [name],
                    axis=axis,
                ),
            )


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
    model: onnx.ModelProto,
    calibration: np.ndarray | Sequence[dict[str, np.ndarray]],
    info: ModelInfo,
    head_only: bool,
) -> onnx.ModelProto:
    """An int8 copy of a float export, without the exporter's debugging records and with its
    tensors numbered (see the module docstring).

    Args:
        model: the float model from ``to_onnx`` (its node name scopes are read for
            ``head_only``).
        calibration: ``(clips, clip_samples)`` float32 training clips to set activation ranges,
            or the model's inputs call by call (a streaming export's chunks and states).
        info: the float model's metadata; the copy's says ``"int8"`` or ``"int8-head"``.
        head_only: compute every node the frontend's output depends on in float, with its
            ``MatMul`` matrices stored as int8 per filter.

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
    _int8_projections(result, excluded)
    strip_metadata(result, keep_scopes=False)
    _number_tensors(result)
    quantised_info = replace(info, quantization="int8-head" if head_only else "int8")
    del result.metadata_props[:]
    onnx.helper.set_model_props(result, quantised_info.to_props())
    onnx.checker.check_model(result, full_check=True)
    return result
