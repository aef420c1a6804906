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
  per clip, all tensors together; ``Conv``, ``MatMul``, ``Gemm``, ``DFT`` and ``AveragePool``
  together take at most ``MAX_MACS`` multiply-adds per clip.

A streaming export (``kws.export.streaming``: a chunk of ``n * hop`` samples and a fixed-size
state in) is checked the same way with its hop in place of the clip: its chunk is set to 1 hop
and to 2 (``hop``), so its bounds hold per hop and no tensor may grow faster than the chunk.
Its frame count is shape arithmetic (a ``Div`` of the chunk's length), which ONNX's inference
does not carry through; the checks work out such small integer tensors themselves
(``kws_runtime.shapes``) so that every shape is still known before running.

``check_graph`` returns the elements per clip (per hop), so that a caller can keep the clips
(hops) it runs at once to ``MAX_CALL_ACTIVATIONS`` elements; ``multiply_adds`` counts a graph's
work for a given number of clips or hops.

Torch-free: the ``onnx`` package, numpy and the standard library only.
"""

from __future__ import annotations

import math

import onnx
from onnx import AttributeProto, TensorProto

from kws_runtime.model_info import ModelFileError
from kws_runtime.shapes import inferred_shapes

#: The operators (default ONNX domain) a kws export holds: those ``kws.export`` writes for
#: every frontend (conf/frontend, log or PCEN compression, fixed or trainable) and head
#: (conf/model), float and int8, clip and streaming (``AveragePool``: a causal BC-ResNet's pool).
#: Anything else is refused before onnxruntime sees the graph.
EXPORT_OPS = frozenset(
    {
        "Add", "AveragePool", "BatchNormalization", "Clip", "Concat", "Conv", "DFT",
        "DequantizeLinear", "Div", "Exp", "Expand", "Gather", "Gemm", "Log", "MatMul", "Mul",
        "Pad", "Pow", "QuantizeLinear", "ReduceMean", "Relu", "Reshape", "ScatterElements",
        "Shape", "Sigmoid", "Slice", "Softmax", "Sqrt", "Squeeze", "Sub", "Transpose",
        "Unsqueeze", "Where",
    }
)  # fmt: skip
# The bounds leave room above the largest export the configs make: BC-ResNet-8 (tau 8) on
# 2-second clips with PCEN, int8: 2,818 nodes, 326,588 weights, 38.8 million tensor elements
# and 226 million multiply-adds per clip (BC-ResNet-1 on 1-second clips: 2.9 and 30 million),
# its fixed STFT a DFT (a trained STFT's 2 x 257 x 480 kernels add 246,720 weights).
#: The most nodes a graph may have.
MAX_NODES = 65_536
#: The most weight elements (initializers), all together.
MAX_WEIGHTS = 2**24
#: The most elements per clip of the tensors the nodes compute, all together.
MAX_ACTIVATIONS = 2**27
#: The most multiply-adds per clip in ``Conv``, ``MatMul``, ``Gemm``, ``DFT`` and
#: ``AveragePool`` (its adds) together.
MAX_MACS = 2**30
#: The most tensor elements (``check_graph``'s per clip times the clips) one onnxruntime call
#: may compute: 1 GiB of float32 were every tensor kept.
MAX_CALL_ACTIVATIONS = 2**28
_PLAIN_ATTRIBUTES = {
    AttributeProto.FLOAT, AttributeProto.INT, AttributeProto.STRING,
    AttributeProto.FLOATS, AttributeProto.INTS, AttributeProto.STRINGS,
}  # fmt: skip
_NAME_CHARS = 60  # of a hostile name in a message


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


def check_graph(model: onnx.ModelProto, origin: str, hop: int | None = None) -> int:
    """Refuse a model that is not a kws export's kind of graph, before onnxruntime builds it:
    ``check_structure``, then ``check_shapes``.

    Args:
        model: the parsed model file.
        origin: the file, for messages.
        hop: a streaming export's hop in samples (its metadata's); None (default): a clip
            export.

    Returns:
        The elements of the tensors its nodes compute for one clip (one hop), all together.

    Raises:
        ModelFileError: see ``check_structure`` and ``check_shapes``.
    """
    check_structure(model, origin)
    return check_shapes(model, origin, hop)


def check_structure(model: onnx.ModelProto, origin: str) -> None:
    """Refuse a model whose parts are not a kws export's kind, shapes aside.

    Args:
        model: the parsed model file.
        origin: the file, for messages.

    Raises:
        ModelFileError: the model has no graph, or one with an operator outside
            ``EXPORT_OPS``, a subgraph or tensor attribute, local functions, sparse or
            external weights, more than ``MAX_NODES`` nodes or ``MAX_WEIGHTS`` weight
            elements. The message starts with ``origin`` and names the node or initializer.
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


def _macs(node: onnx.NodeProto, shapes: dict[str, list[int]]) -> int:
    """The multiply-adds of a ``Conv``, ``MatMul``, ``Gemm``, ``DFT`` or ``AveragePool`` node
    (0 for others): its output's elements times the products (an average's terms) summed into
    each. ``shapes`` holds its inputs' and outputs' shapes."""
    if node.op_type not in ("Conv", "MatMul", "Gemm", "DFT", "AveragePool"):
        return 0
    first, out = shapes[node.input[0]], shapes[node.output[0]]
    if node.op_type == "Conv":  # each output sums input channels / group x kernel
        terms = math.prod(shapes[node.input[1]][1:])
    elif node.op_type == "AveragePool":
        terms = math.prod(next((a.ints for a in node.attribute if a.name == "kernel_shape"), []))
    elif node.op_type == "Gemm":
        transposed = any(a.name == "transA" and a.i for a in node.attribute)
        terms = first[0 if transposed else -1]
    elif node.op_type == "MatMul":
        terms = first[-1] if first else 1
    else:  # DFT: each output sums the whole signal (or dft_length) along the axis
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1) % max(len(first), 1)
        terms = max(first[axis], out[axis]) if first else 1
    return math.prod(out) * terms


def check_shapes(model: onnx.ModelProto, origin: str, hop: int | None = None) -> int:
    """Refuse a graph whose shapes cannot be worked out before running, grow faster than the
    batch (a streaming export's chunk), or need more than ``MAX_ACTIVATIONS`` elements or
    ``MAX_MACS`` multiply-adds per clip (per hop).

    Args:
        model: a model that passed ``check_structure``.
        origin: the file, for messages.
        hop: a streaming export's hop in samples: its free dimension (the chunk's samples) is
            set to 1 and 2 hops; None (default): a clip export, its free dimension (the batch)
            set to 1 and 2 clips.

    Returns:
        The elements of the tensors its nodes compute for one clip (one hop), all together.

    Raises:
        ModelFileError: the message starts with ``origin`` and names the node.
    """
    unit, per = (1, "clip") if hop is None else (hop, "hop")
    one, two = (inferred_shapes(model, count * unit, origin) for count in (1, 2))
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
                growing = "the batch" if hop is None else "the chunk"
                raise ModelFileError(
                    f"{where}: {_quote(name)} grows faster than {growing} ({size:,} elements "
                    f"for 1 {per}, {doubled:,} for 2)"
                )
            activations += size
            if activations > MAX_ACTIVATIONS:
                raise ModelFileError(
                    f"{where}: {_quote(name)} is {one[name]} ({size:,} elements per {per}), "
                    f"which brings the graph's tensors to more than {MAX_ACTIVATIONS:,} "
                    f"elements per {per}"
                )
        cost = _macs(node, one)
        macs += cost
        if macs > MAX_MACS:
            raise ModelFileError(
                f"{where} takes {cost:,} multiply-adds per {per}, which brings the graph to "
                f"more than {MAX_MACS:,}"
            )
    return activations


def multiply_adds(
    model: onnx.ModelProto, origin: str, hop: int | None = None, count: int = 1
) -> int:
    """The multiply-adds (``_macs``) of one call on ``count`` clips, or on a chunk of ``count``
    hops of a streaming export, for a model that passed ``check_graph``.

    Args:
        model: the model.
        origin: the file, for messages.
        hop: a streaming export's hop in samples; None (default): a clip export.
        count: the clips or hops. Default 1.
    """
    shapes = inferred_shapes(model, count * (1 if hop is None else hop), origin)
    return sum(_macs(node, shapes) for node in model.graph.node)
