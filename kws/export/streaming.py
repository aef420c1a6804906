"""The streaming export: a causal spotter as an ONNX model with external state.

``python -m kws.export CKPT OUT --streaming`` writes ``spotter.stream.onnx``, the
``kws.streaming.stateful.StatefulSpotter`` of a causal checkpoint (``model.causal=true``) in the
form Google's kws_streaming calls a streaming model with external state: it keeps nothing
between calls. Each call takes

- ``chunk``: float32 ``(1, n * hop_length)``, the stream's next samples, for any ``n >= 1``
  (a dynamic axis: one file serves chunks of 1 hop, of a stride, of a second);
- ``state_0`` ... ``state_{k}``: the previous call's next state, zeros at a stream's start;

and gives

- ``probabilities``: float32 ``(1, n, classes)``, the class probabilities at each frame the
  chunk completes (frame ``t`` ends at sample ``(t + 1) * hop_length`` of the stream);
- ``next_state_0`` ... ``next_state_{k}``: the state for the next call, shaped as the inputs.

``state_0`` is the frame tail (the last ``n_fft - hop_length`` samples), the others the past
frames each causal layer reads (``StatefulSpotter.state_shapes``). The metadata's ``streaming``
(``kws_runtime.model_info.StreamInfo``) holds the hop and every state's names and shape, so
``kws_runtime.Spotter`` runs the file without knowing the model (``RuntimeStream``).

The frontend is ``inference_frontend``'s frozen copy (the ONNX ``DFT`` where the STFT kernels
hold the Fourier basis). The file is kept to its weights: no debugging records (the saved file
drops the name scopes too, once ``--int8`` has used them), and each batch norm that no
convolution absorbs (BC-ResNet's SubSpectral Normalization) stored as the scale and shift it
applies, two numbers per channel instead of four. It is checked before it is
written: onnxruntime, fed a seeded stream in chunks of random sizes, must give PyTorch's
probabilities at every frame within ``kws.export.checkpoint.FLOAT_TOLERANCE``.

With ``--int8``, ``spotter.stream.int8-head.onnx`` is the same model with its head quantised
(``kws.export.quantize``, ``head_only``: the frontend stays float), calibrated on training clips
played one after another as a stream (``calibration_feeds``).
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, replace
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import helper

from kws.export.graph import inference_frontend
from kws.export.onnx_model import translate
from kws.streaming.stateful import StatefulSpotter, stateful_problem
from kws.training import KWSModule
from kws_runtime.graph_checks import multiply_adds
from kws_runtime.model_info import CHUNK_NAME, OUTPUT_NAMES, ModelInfo, StateInfo, StreamInfo
from kws_runtime.spotter import Spotter

#: The chunks, in hops, whose work ``stream_report`` counts: a frame, and a 30 ms stride.
REPORTED_HOPS = (1, 3)
#: The hops of the chunk the export is traced with (any number other than 0 and 1, which
#: ``torch.export`` would take as special sizes).
_TRACE_HOPS = 3


def streaming_model(module: KWSModule, source: str = "the model") -> StatefulSpotter:
    """The streaming form of a trained causal module, frozen for export.

    Args:
        module: the trained module.
        source: the file it came from, for messages. Default ``"the model"``.

    Raises:
        ValueError: the module cannot stream frame by frame (not ``model.causal=true``, or a
            frontend whose frames depend on more than their own samples), or its clip is not a
            whole number of hops; one line naming ``source`` and the setting.
    """
    spotter = module.spotter
    problem = stateful_problem(spotter.frontend, spotter.head)
    if problem:
        raise ValueError(f"{source}: cannot export a streaming model: {problem}")
    head = copy.deepcopy(spotter.head).eval().requires_grad_(False)
    model = StatefulSpotter(inference_frontend(spotter.frontend), head).eval()
    clip = int(module.hparams["clip_samples"])
    if clip % model.hop_length:
        raise ValueError(
            f"{source}: its clip of {clip} samples (data.clip_samples) is not a whole number "
            f"of its {model.hop_length}-sample hops (frontend.hop_length), so no window ends on "
            "a frame"
        )
    return model


def stream_info(info: ModelInfo, model: StatefulSpotter) -> ModelInfo:
    """``info`` with ``streaming`` describing ``model``'s inputs: its hop and states.

    Args:
        info: the module's metadata (``kws.export.graph.model_info``).
        model: its streaming form.
    """
    states = tuple(
        StateInfo(f"state_{i}", f"next_state_{i}", tuple(shape))
        for i, shape in enumerate(model.state_shapes(1))
    )
    return replace(info, streaming=StreamInfo(model.hop_length, states))


def to_stream_onnx(model: StatefulSpotter, info: ModelInfo) -> onnx.ModelProto:
    """``model`` as an ONNX model with external state and a chunk of any number of hops.

    Args:
        model: the streaming model (``streaming_model``).
        info: its metadata, with ``streaming`` (``stream_info``).

    Returns:
        The model, checked with ``onnx.checker``.
    """
    assert info.streaming is not None, "stream_info describes the states"
    hop = model.hop_length
    state = model.initial_state(1)
    chunk = torch.zeros(1, _TRACE_HOPS * hop)
    hops = torch.export.Dim("hops", min=1)
    with torch.no_grad():
        program = torch.export.export(
            model,
            (chunk, *state),
            dynamic_shapes=({1: hop * hops}, tuple(None for _ in state)),
            strict=False,
        )
    states = info.streaming.states
    names = (
        [CHUNK_NAME, *(s.input for s in states)],
        [OUTPUT_NAMES[0], *(s.output for s in states)],
    )
    doc = (
        f"kws streaming keyword spotter: {CHUNK_NAME} (1, n * {hop}) float32 at "
        f"{info.sample_rate} Hz and {len(states)} states -> {OUTPUT_NAMES[0]} "
        f"(1, n, {len(info.class_names)}) and the next states; the metadata 'streaming' lists "
        "the states, zeros at a stream's start"
    )
    exported = translate(program, (chunk, *state), names, info, doc)
    _affine_batch_norms(exported)
    onnx.checker.check_model(exported, full_check=True)
    return exported


def _affine_batch_norms(model: onnx.ModelProto) -> None:
    """Replace, in place, each ``BatchNormalization`` whose four parameters are stored by the
    ``Mul`` and ``Add`` it computes at inference, ``x * scale + shift`` per channel: half the
    numbers stored. Its input's rank comes from ONNX shape inference.

    Args:
        model: an exported model (inference mode: no batch norm updates its statistics).
    """
    graph = model.graph
    weights = {tensor.name: tensor for tensor in graph.initializer}
    inferred = onnx.shape_inference.infer_shapes(model).graph
    ranks = {
        value.name: len(value.type.tensor_type.shape.dim)
        for value in (*inferred.input, *inferred.value_info)
        if value.type.tensor_type.HasField("shape")
    }
    nodes, used = [], set()
    for node in graph.node:
        params = node.input[1:]
        if not (
            node.op_type == "BatchNormalization"
            and len(node.output) == 1
            and all(name in weights for name in params)
            and ranks.get(node.input[0], 0) >= 2
        ):
            nodes.append(node)
            used.update(node.input)
            continue
        gamma, beta, mean, variance = (onnx.numpy_helper.to_array(weights[n]) for n in params)
        epsilon = next((a.f for a in node.attribute if a.name == "epsilon"), 1e-5)
        scale = gamma / np.sqrt(variance + np.float32(epsilon))
        shift = beta - mean * scale
        shape = (-1,) + (1,) * (ranks[node.input[0]] - 2)  # channels, then broadcast
        product = f"{node.output[0]}_scaled"
        for name, value in ((f"{product}_scale", scale), (f"{product}_shift", shift)):
            graph.initializer.append(
                onnx.numpy_helper.from_array(value.astype(np.float32).reshape(shape), name)
            )
        nodes += [
            helper.make_node("Mul", [node.input[0], f"{product}_scale"], [product]),
            helper.make_node("Add", [product, f"{product}_shift"], [node.output[0]]),
        ]
        used.update([node.input[0], f"{product}_scale", f"{product}_shift"])
    del graph.node[:]
    graph.node.extend(nodes)
    kept = [tensor for tensor in graph.initializer if tensor.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)


def example_stream(info: ModelInfo, seed: int = 0) -> np.ndarray:
    """A seeded stream to check a streaming export on: noise whose level changes every 100 ms
    (speech-like bursts and near silence), two clips and a half long, so the model's longest
    memory (its pool's window) fills and moves on.

    Args:
        info: the model's metadata (sample rate, clip, hop).
        seed: the noise's seed. Default 0.

    Returns:
        float32 ``(samples,)`` in [-1, 1], a whole number of hops.
    """
    assert info.streaming is not None, "a streaming model's metadata"
    hop = info.streaming.hop_length
    samples = (5 * info.clip_samples // 2) // hop * hop
    rng = np.random.default_rng(seed)
    burst = max(1, info.sample_rate // 10)
    level = np.repeat(rng.uniform(0.001, 0.3, samples // burst + 1), burst)[:samples]
    return np.clip(rng.normal(0.0, 1.0, samples) * level, -1.0, 1.0).astype(np.float32)


def chunk_sizes(total_hops: int, most: int, seed: int = 0) -> list[int]:
    """Random chunk sizes in hops, 1 to ``most`` each, adding up to ``total_hops``.

    Args:
        total_hops: the stream's hops.
        most: the largest chunk, in hops.
        seed: the draw's seed. Default 0.
    """
    rng = np.random.default_rng(seed)
    sizes: list[int] = []
    while sum(sizes) < total_hops:
        sizes.append(min(int(rng.integers(1, most + 1)), total_hops - sum(sizes)))
    return sizes


def stream_difference(
    model: onnx.ModelProto, stateful: StatefulSpotter, info: ModelInfo, seed: int = 0
) -> float:
    """The largest difference between onnxruntime's probabilities and PyTorch's at any frame of
    ``example_stream``: onnxruntime takes it in chunks of random sizes (1 hop to a clip), each
    with the previous call's state, PyTorch in one call.

    Args:
        model: the streaming ONNX model (``to_stream_onnx``, or a quantised copy).
        stateful: the PyTorch model it was exported from.
        info: its metadata, with ``streaming``.
        seed: the stream's and the chunk sizes' seed. Default 0.
    """
    assert info.streaming is not None, "a streaming model's metadata"
    audio = example_stream(info, seed)
    with torch.no_grad():
        chunk = torch.from_numpy(audio)[None]
        theirs = stateful(chunk, *stateful.initial_state(1))[0][0].numpy()
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    stream = Spotter(session, info, "the streaming export").stream()
    hop, first, rows = info.streaming.hop_length, 0, []
    for hops in chunk_sizes(len(audio) // hop, info.clip_samples // hop, seed):
        rows.append(stream.step(audio[first : first + hops * hop]))
        first += hops * hop
    return float(np.abs(np.concatenate(rows) - theirs).max(initial=0.0))


def calibration_feeds(model: onnx.ModelProto, info: ModelInfo, clips: np.ndarray) -> list[dict]:
    """The inputs of a streaming model over a stream of calibration clips, a clip per call:
    each clip with the state the float model reaches before it (what int8 calibration runs).

    Args:
        model: the float streaming model.
        info: its metadata, with ``streaming``.
        clips: ``(clips, clip_samples)`` float32 training clips, played one after another.

    Returns:
        One feed per clip: ``{CHUNK_NAME: (1, clip_samples), state input: state, ...}``.
    """
    assert info.streaming is not None, "a streaming model's metadata"
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    stream = Spotter(session, info, "the streaming export").stream()
    feeds = []
    for clip in clips:
        inputs = zip(info.streaming.states, stream.state, strict=True)
        feeds.append({CHUNK_NAME: clip[None], **{s.input: value for s, value in inputs}})
        stream.step(clip)
    return feeds


def stream_report(model: onnx.ModelProto, info: ModelInfo) -> dict[str, Any]:
    """What a streaming export costs: its ``streaming`` metadata, the bytes of its weights and
    of its (float32) state, and the multiply-adds of a step on a chunk of each of
    ``REPORTED_HOPS`` hops (``kws_runtime.graph_checks.multiply_adds``: the ``DFT`` counted as a
    direct transform).

    Args:
        model: the streaming model.
        info: its metadata, with ``streaming``.
    """
    assert info.streaming is not None, "a streaming model's metadata"
    hop = info.streaming.hop_length
    weights = model.graph.initializer
    return {
        "streaming": asdict(info.streaming),
        "weight_bytes": sum(
            math.prod(t.dims) * helper.tensor_dtype_to_np_dtype(t.data_type).itemsize
            for t in weights
        ),
        "state_bytes": 4 * info.streaming.state_elements,
        "multiply_adds": {  # by the chunk's hops
            str(hops): multiply_adds(model, "the streaming export", hop, hops)
            for hops in REPORTED_HOPS
        },
    }
