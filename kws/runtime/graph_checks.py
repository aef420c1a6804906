"""Checks on an ONNX model's graph before onnxruntime builds a session for it: hostile input.

onnxruntime builds whatever a file describes and computes its constant parts while it does: a
600-byte graph that expands a constant to 16,384 x 16,384 elements made loading it peak at
2.3 GB (and larger shapes take more), and a ``Loop`` of 2^62 iterations never returns. A kws
export is a small graph of a fixed kind, so ``check_graph`` refuses anything else first:

- operators: only the default-domain ``EXPORT_OPS``, the operators ``kws.export`` writes for
  every frontend and head the project configures, float and int8 (``tests/test_export.py``
  exports each kind and fails on an operator missing here); no control flow, so no subgraphs.
- attributes: numbers and strings only (a subgraph or tensor attribute is refused); no local
  functions, sparse or external weights, or training information.
- sizes: at most ``MAX_NODES`` nodes and ``MAX_WEIGHTS`` weight elements; every tensor's shape
  is worked out (ONNX shape inference, with the batch at 1 and at 2 clips) and must be known
  before running, grow no faster than the batch, and stay within ``MAX_ACTIVATIONS`` elements
  per clip, all tensors together; ``Conv``, ``MatMul``, ``Gemm`` and ``DFT`` together take at
  most ``MAX_MACS`` multiply-adds per clip.

``check_graph`` returns the elements per clip, so that a caller can keep the clips it runs at
once to ``MAX_CALL_ACTIVATIONS`` elements.

Torch-free: the ``onnx`` package and the standard library only.
"""

from __future__ import annotations

import math

import onnx
from onnx import AttributeProto, TensorProto, helper, shape_inference

from kws.runtime.model_info import ModelFileError

#: The operators (default ONNX domain) a kws export holds: those ``kws.export`` writes for
#: every frontend (conf/frontend, log or PCEN compression, fixed or trainable) and head
#: (conf/model), float and int8. Anything else is refused before onnxruntime sees the graph.
EXPORT_OPS = frozenset(
    {
        "Add", "BatchNormalization", "Clip", "Conv", "DFT", "DequantizeLinear", "Div", "Exp",
        "Expand", "Gather", "Gemm", "Log", "MatMul", "Mul", "Pad", "Pow", "QuantizeLinear",
        "ReduceMean", "Relu", "Reshape", "ScatterElements", "Shape", "Sigmoid", "Slice",
        "Softmax", "Sqrt", "Squeeze", "Sub", "Transpose", "Unsqueeze", "Where",
    }
)  # fmt: skip
# The bounds leave room above the largest export the configs make: BC-ResNet-8 (tau 8) on
# 2-second clips with PCEN, int8: 2,819 nodes, 573,558 weights, 39.0 million tensor elements
# and 223 million multiply-adds per clip (BC-ResNet-1 on 1-second clips: 3.2 and 30 million).
#: The most nodes a graph may have.
MAX_NODES = 65_536
#: The most weight elements (initializers), all together.
MAX_WEIGHTS = 2**24
#: The most elements per clip of the tensors the nodes compute, all together.
MAX_ACTIVATIONS = 2**27
#: The most multiply-adds per clip in ``Conv``, ``MatMul``, ``Gemm`` and ``DFT`` together.
MAX_MACS = 2**30
#: The most tensor elements (``check_graph``'s per clip times the clips) one onnxruntime call
#: may compute: 1 GiB of float32 were every tensor kept.
MAX_CALL_ACTIVATIONS = 2**28
#: Initializers of at most this many elements keep their values for shape inference (shapes,
#: axes, pads); larger ones are weights, of which inference needs only the shape.
_VALUES_KEPT = 1024
_PLAIN_ATTRIBUTES = {
    AttributeProto.FLOAT, AttributeProto.INT, AttributeProto.STRING,
    AttributeProto.FLOATS, AttributeProto.INTS, AttributeProto.STRINGS,
}  # fmt: skip
_NAME_CHARS = 60  # of a hostile name in a message
_DETAIL_CHARS = 300  # of shape inference's message


def _quote(name: str) -> str:
    """``name`` as a message shows it: repr, shortened."""
    text = repr(name)
    return text if len(text) <= _NAME_CHARS else text[: _NAME_CHARS - 4] + "...'"


def _node(node: onnx.NodeProto, index: int) -> str:
    """A node as a message names it: ``node 'name' (Op)``, its index when it has no name, its
    operator's domain when not the default one."""
    name = _quote(node.name) if node.name else f"#{index}"
    operator = f"{node.domain}.{node.op_type}" if node.domain else node.op_type
    return f"node {name} ({_quote(operator)[1:-1]})"


def check_graph(model: onnx.ModelProto, origin: str) -> int:
    """Refuse a model that is not a kws export's kind of graph, before onnxruntime builds it.

    Args:
        model: the parsed model file.
        origin: the file, for messages.

    Returns:
        The elements of the tensors its nodes compute for one clip, all together.

    Raises:
        ModelFileError: the model has no graph, or one with an operator outside
            ``EXPORT_OPS``, a subgraph or tensor attribute, local functions, sparse or
            external weights, or sizes beyond ``MAX_NODES``, ``MAX_WEIGHTS``,
            ``MAX_ACTIVATIONS`` or ``MAX_MACS``; a shape that cannot be worked out before
            running, or that grows faster than the batch. The message starts with ``origin``
            and names the node or initializer.
    """
    graph = model.graph
    if not graph.node:
        raise ModelFileError(f"{origin}: not a usable ONNX model (it holds no graph)")
    extras = {
        "local functions": len(model.functions),
        "training information": len(model.training_info),
        "sparse weights": len(graph.sparse_initializer),
    }
    for what, count in extras.items():
        if count:
            raise ModelFileError(f"{origin}: the model holds {what}, which a kws export never does")
    if len(graph.node) > MAX_NODES:
        raise ModelFileError(
            f"{origin}: {len(graph.node):,} nodes, more than {MAX_NODES:,} (a kws export has "
            "a few thousand at most)"
        )
    for index, node in enumerate(graph.node):
        if node.domain not in ("", "ai.onnx") or node.op_type not in EXPORT_OPS:
            raise ModelFileError(
                f"{origin}: {_node(node, index)}: an operator no kws export contains"
            )
        for attribute in node.attribute:
            if attribute.type not in _PLAIN_ATTRIBUTES:
                kind = AttributeProto.AttributeType.Name(attribute.type)
                raise ModelFileError(
                    f"{origin}: {_node(node, index)}: attribute {_quote(attribute.name)} is a "
                    f"{kind}; a kws export's attributes are numbers and strings (no subgraphs)"
                )
    _check_weights(graph, origin)
    return _check_shapes(model, origin)


def _check_weights(graph: onnx.GraphProto, origin: str) -> None:
    """Refuse external data and weights beyond ``MAX_WEIGHTS`` elements, naming the
    initializer."""
    total = 0
    for tensor in graph.initializer:
        if tensor.data_location == TensorProto.EXTERNAL or tensor.external_data:
            raise ModelFileError(
                f"{origin}: not a usable ONNX model (its weights refer to other files or memory "
                "(ONNX external data), which kws never reads)"
            )
        if any(dim < 0 for dim in tensor.dims):
            raise ModelFileError(
                f"{origin}: initializer {_quote(tensor.name)} has a negative dimension"
            )
        total += math.prod(tensor.dims)
        if total > MAX_WEIGHTS:
            raise ModelFileError(
                f"{origin}: initializer {_quote(tensor.name)} ({list(tensor.dims)}) brings the "
                f"weights to {total:,} elements, more than {MAX_WEIGHTS:,}"
            )


def _inferred_shapes(model: onnx.ModelProto, batch: int, origin: str) -> dict[str, list[int]]:
    """Every tensor's shape by ONNX shape inference with each free input dimension set to
    ``batch``; a dimension that cannot be worked out is -1. Large initializers are handed over
    as inputs of their shape, without their values."""
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
                dim.dim_value = batch
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
    shapes = {t.name: list(t.dims) for t in small}
    for value in (*inferred.input, *inferred.value_info, *inferred.output):
        tensor = value.type.tensor_type
        if value.type.HasField("tensor_type") and tensor.HasField("shape"):
            shapes[value.name] = [
                d.dim_value if d.HasField("dim_value") and d.dim_value >= 0 else -1
                for d in tensor.shape.dim
            ]
    return shapes


def _macs(node: onnx.NodeProto, shapes: dict[str, list[int]]) -> int:
    """The multiply-adds of a ``Conv``, ``MatMul``, ``Gemm`` or ``DFT`` node (0 for others):
    its output's elements times the products summed into each. ``shapes`` holds its inputs'
    and outputs' shapes."""
    if node.op_type not in ("Conv", "MatMul", "Gemm", "DFT"):
        return 0
    first, out = shapes[node.input[0]], shapes[node.output[0]]
    if node.op_type == "Conv":  # each output sums input channels / group x kernel
        terms = math.prod(shapes[node.input[1]][1:])
    elif node.op_type == "Gemm":
        transposed = any(a.name == "transA" and a.i for a in node.attribute)
        terms = first[0 if transposed else -1]
    elif node.op_type == "MatMul":
        terms = first[-1] if first else 1
    else:  # DFT: each output sums the whole signal (or dft_length) along the axis
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1) % max(len(first), 1)
        terms = max(first[axis], out[axis]) if first else 1
    return math.prod(out) * terms


def _check_shapes(model: onnx.ModelProto, origin: str) -> int:
    """Refuse shapes that cannot be worked out, that grow faster than the batch, or that need
    more than ``MAX_ACTIVATIONS`` elements or ``MAX_MACS`` multiply-adds per clip; the
    elements per clip."""
    one, two = (_inferred_shapes(model, batch, origin) for batch in (1, 2))
    activations = macs = 0
    for index, node in enumerate(model.graph.node):
        where = f"{origin}: {_node(node, index)}"
        for name in filter(None, (*node.input, *node.output)):
            if -1 in one.get(name, [-1]) or -1 in two.get(name, [-1]):
                raise ModelFileError(
                    f"{where}: the shape of {_quote(name)} cannot be worked out before running; "
                    "a kws export's shapes are fixed but the batch"
                )
        for name in filter(None, node.output):
            size, doubled = math.prod(one[name]), math.prod(two[name])
            if doubled > 2 * size:
                raise ModelFileError(
                    f"{where}: {_quote(name)} grows faster than the batch ({size:,} elements "
                    f"for 1 clip, {doubled:,} for 2)"
                )
            activations += size
            if activations > MAX_ACTIVATIONS:
                raise ModelFileError(
                    f"{where}: {_quote(name)} is {one[name]} ({size:,} elements per clip), "
                    f"which brings the graph's tensors to more than {MAX_ACTIVATIONS:,} "
                    "elements per clip"
                )
        cost = _macs(node, one)
        macs += cost
        if macs > MAX_MACS:
            raise ModelFileError(
                f"{where} takes {cost:,} multiply-adds per clip, which brings the graph to "
                f"more than {MAX_MACS:,}"
            )
    return activations
