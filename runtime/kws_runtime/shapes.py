"""Every tensor's shape in an ONNX graph, known before running: ONNX shape inference, plus the
small integer tensors of shape arithmetic that ONNX's inference does not carry through (a
``Div`` of a streaming export's chunk length), worked out here as ONNX defines each operator.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper, shape_inference

from kws_runtime.model_info import ModelFileError

#: Initializers of at most this many elements keep their values for shape inference (shapes,
#: axes, pads); larger ones are weights, of which inference needs only the shape.
_VALUES_KEPT = 1024
#: The integer operators whose values the checks work out where ONNX's inference does not
#: (``Div`` has no data propagation), the only ones shape arithmetic in an export uses.
_FOLDED = frozenset(
    {"Add", "Concat", "Div", "Gather", "Mul", "Reshape", "Shape", "Squeeze", "Sub", "Unsqueeze"}
)
#: Passes of shape inference and folding at most (an export needs one of folding).
_FOLD_ROUNDS = 4
_DETAIL_CHARS = 300  # of shape inference's message


def inferred_shapes(model: onnx.ModelProto, size: int, origin: str) -> dict[str, list[int]]:
    """Every tensor's shape by ONNX shape inference with each free input dimension set to
    ``size`` (and small integer tensors worked out, ``_fold_shape_arithmetic``); a dimension
    that cannot be worked out is -1. Large initializers are handed over as inputs of their
    shape, without their values.

    Args:
        model: the model (its structure checked: ``graph_checks.check_structure``).
        size: the free input dimensions' value (the batch, or a chunk's hops).
        origin: the file, for messages.

    Raises:
        ModelFileError: its shapes do not check.
    """
    graph = model.graph
    small = [t for t in graph.initializer if math.prod(t.dims) <= _VALUES_KEPT]
    large = [
        helper.make_tensor_value_info(t.name, t.data_type, t.dims)
        for t in graph.initializer
        if math.prod(t.dims) > _VALUES_KEPT
    ]
    constants = {t.name for t in graph.initializer}
    inputs = [value for value in graph.input if value.name not in constants]
    light = onnx.ModelProto(
        ir_version=model.ir_version,
        opset_import=model.opset_import,
        graph=onnx.GraphProto(
            name=graph.name,
            node=graph.node,
            input=[*inputs, *large],
            output=graph.output,
            initializer=small,
        ),
    )
    for value in light.graph.input[: len(inputs)]:
        for dim in value.type.tensor_type.shape.dim:
            if not dim.HasField("dim_value"):
                dim.dim_value = size
    values = {t.name: numpy_helper.to_array(t) for t in small if t.data_type == TensorProto.INT64}
    shapes = _infer(light, origin)
    for _ in range(_FOLD_ROUNDS):
        folded = _fold_shape_arithmetic(light.graph.node, shapes, values)
        if not folded:
            break
        # Each worked-out tensor becomes a constant, so inference reads its value.
        light.graph.initializer.extend(numpy_helper.from_array(values[n], n) for n in folded)
        kept = [node for node in light.graph.node if not set(node.output) <= set(folded)]
        del light.graph.node[:]
        light.graph.node.extend(kept)
        shapes = _infer(light, origin)
    return shapes


def _infer(light: onnx.ModelProto, origin: str) -> dict[str, list[int]]:
    """The shapes ONNX shape inference gives the tensors of ``light`` (its initializers'
    included), -1 for a dimension it cannot work out."""
    try:
        inferred = shape_inference.infer_shapes(
            light, check_type=True, strict_mode=True, data_prop=True
        ).graph
    except Exception as error:  # onnx raises several kinds, sharing no base below Exception
        detail = " ".join(str(error).split())
        if len(detail) > _DETAIL_CHARS:
            detail = detail[: _DETAIL_CHARS - 3] + "..."
        raise ModelFileError(
            f"{origin}: not a usable ONNX model (its shapes do not check: {detail})"
        ) from None
    shapes = {t.name: list(t.dims) for t in light.graph.initializer}
    for value in (*inferred.input, *inferred.value_info, *inferred.output):
        tensor = value.type.tensor_type
        if value.type.HasField("tensor_type") and tensor.HasField("shape"):
            shapes[value.name] = [
                d.dim_value if d.HasField("dim_value") and d.dim_value >= 0 else -1
                for d in tensor.shape.dim
            ]
    return shapes


def _fold_shape_arithmetic(
    nodes: Sequence[onnx.NodeProto],
    shapes: dict[str, list[int]],
    values: dict[str, np.ndarray],
) -> list[str]:
    """Work out, in graph order, the int64 outputs of ``_FOLDED`` nodes whose inputs are known
    (a ``Shape`` of a tensor whose shape is known), inputs and output each at most
    ``_VALUES_KEPT`` elements; add them to ``values`` and return their names. Anything else (an
    unknown or larger input, a missing attribute, a division by zero, an out-of-range index or
    axis, a larger result) is left for inference to leave unknown."""
    folded = []
    for node in nodes:
        if node.op_type not in _FOLDED or len(node.output) != 1 or node.output[0] in values:
            continue
        try:
            value = _fold_node(node, shapes, values)
        except (ValueError, IndexError, KeyError, TypeError, ZeroDivisionError):
            continue
        if value is not None and value.dtype == np.int64 and value.size <= _VALUES_KEPT:
            values[node.output[0]] = value
            folded.append(node.output[0])
    return folded


def _fold_node(
    node: onnx.NodeProto, shapes: dict[str, list[int]], values: dict[str, np.ndarray]
) -> np.ndarray | None:
    """The value of one ``_FOLDED`` node as ONNX defines it, or None where an input is not
    known. Raises ``ValueError`` (and kin) where the inputs do not fit the operator."""
    attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    if node.op_type == "Shape":
        shape = shapes.get(node.input[0], [-1])
        if -1 in shape:
            return None
        dims = np.array(shape, np.int64)
        return dims[attributes.get("start", 0) : attributes.get("end", len(dims))]
    given = [name for name in node.input if name]
    if any(name not in values for name in given):
        return None
    if sum(values[name].size for name in given) > _VALUES_KEPT:
        return None
    first, *rest = (values[name] for name in given)
    if node.op_type in ("Add", "Sub", "Mul"):
        operation = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply}[node.op_type]
        return operation(first, rest[0])
    if node.op_type == "Div":  # integer division truncates toward zero
        if (rest[0] == 0).any():
            raise ZeroDivisionError
        quotient = np.abs(first) // np.abs(rest[0])
        return quotient * np.sign(first) * np.sign(rest[0])
    if node.op_type == "Concat":
        return np.concatenate([first, *rest], axis=attributes["axis"])
    if node.op_type == "Gather":
        return np.take(first, rest[0], axis=attributes.get("axis", 0))
    if node.op_type == "Reshape":
        target = rest[0].copy()
        if not attributes.get("allowzero", 0):
            zeros = np.flatnonzero(target == 0)
            target[zeros] = np.array(first.shape)[zeros]
        return first.reshape(target)
    axes = tuple(int(axis) for axis in (rest[0] if rest else ()))
    if node.op_type == "Squeeze":
        return np.squeeze(first, axis=axes or None)
    return np.expand_dims(first, axes)  # Unsqueeze
