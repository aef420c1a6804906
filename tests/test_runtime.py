"""``kws_runtime``: an exported ONNX spotter scores clips as the torch model does, without torch;
every hostile model file, waveform or WAV is a clear error naming it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import soundfile as sf
import torch
from conftest import run_command
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from kws.frontend import MelSpectrogram
from kws.models import KeywordSpotter, LinearClassifier
from kws_runtime import (
    ModelFileError,
    ModelInfo,
    ModelInfoError,
    Spotter,
    graph_checks,
    model_file,
    shapes,
)
from kws_runtime import spotter as spotter_module

RATE = 8000  # not the data set's 16 kHz: the runtime must take the model's rate, not a default
CLIP = 4000
CLASSES = ("yes", "no", "up", "_silence_", "_unknown_")
INFO = ModelInfo(
    class_names=CLASSES,
    sample_rate=RATE,
    clip_samples=CLIP,
    frontend={"_target_": "kws.frontend.MelSpectrogram", "n_mels": 16},
    head={"_target_": "kws.models.LinearClassifier", "num_classes": len(CLASSES)},
)
ROOT = Path(__file__).resolve().parents[1]
#: The ``exported`` fixture: the model file, the same graph without metadata, the torch model.
Exported = tuple[Path, Path, nn.Module]


class _Scores(nn.Module):
    """A spotter as the exporter wraps it: waveform to ``(probabilities, logits)``."""

    def __init__(self, spotter: nn.Module) -> None:
        super().__init__()
        self.spotter = spotter

    def forward(self, waveform: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.spotter(waveform)
        return logits.softmax(-1), logits


def _with_props(source: Path, target: Path, props: dict[str, str]) -> Path:
    """``source`` saved as ``target`` with metadata ``props`` instead of its own."""
    model = onnx.load(source)
    del model.metadata_props[:]
    helper.set_model_props(model, props)
    onnx.save(model, target)
    return target


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Exported:
    """``(model.onnx, the same graph without metadata, the torch model it was exported from)``:
    a small log-Mel + linear spotter at 8 kHz, 0.5 s clips, five classes."""
    folder = tmp_path_factory.mktemp("runtime")
    torch.manual_seed(0)
    frontend = MelSpectrogram(
        sample_rate=RATE, n_fft=256, win_length=200, hop_length=80, n_mels=16,
        implementation="conv",
    )  # fmt: skip
    model = _Scores(KeywordSpotter(frontend, LinearClassifier(16, CLIP // 80 + 1, len(CLASSES))))
    model.eval()
    program = torch.onnx.export(
        model,
        (torch.zeros(2, CLIP),),
        f=None,
        dynamo=True,
        opset_version=18,
        input_names=["waveform"],
        output_names=["probabilities", "logits"],
        dynamic_shapes={"waveform": {0: torch.export.Dim("batch")}},
        verbose=False,
    )
    bare = folder / "bare.onnx"
    program.save(str(bare))
    return _with_props(bare, folder / "model.onnx", INFO.to_props()), bare, model


@pytest.fixture(scope="module")
def spotter(exported: Exported) -> Spotter:
    return Spotter.from_file(exported[0])


def _clips(batch: int, samples: int = CLIP, seed: int = 0) -> np.ndarray:
    """``(batch, samples)`` float32 noise bursts and tones in [-1, 1]."""
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / RATE
    tones = np.sin(2 * np.pi * rng.uniform(100, 3000, (batch, 1)) * t)
    return np.clip(0.3 * tones + 0.1 * rng.standard_normal((batch, samples)), -1, 1).astype(
        np.float32
    )


def test_scores_match_the_torch_model(spotter: Spotter, exported: Exported) -> None:
    _, _, model = exported
    clips = _clips(6)
    probabilities, logits = spotter.run(clips)
    with torch.no_grad():
        expected_probabilities, expected_logits = model(torch.from_numpy(clips))
    assert probabilities.dtype == np.float32 and probabilities.shape == (6, len(CLASSES))
    np.testing.assert_allclose(probabilities, expected_probabilities.numpy(), rtol=0, atol=1e-5)
    np.testing.assert_allclose(logits, expected_logits.numpy(), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-6)
    assert len(set(probabilities.argmax(axis=1).tolist())) > 1  # the clips score differently
    assert np.array_equal(spotter.predict(clips), probabilities)
    assert spotter.class_names == CLASSES
    assert (spotter.sample_rate, spotter.clip_samples) == (RATE, CLIP)
    assert spotter.info == INFO


def test_int16_is_scaled_and_any_float_width_is_taken(spotter: Spotter) -> None:
    ints = np.round(_clips(3) * 32767).astype(np.int16)
    scaled = ints.astype(np.float32) / 32768
    assert np.array_equal(spotter.predict(ints), spotter.predict(scaled))
    assert np.array_equal(spotter.predict(scaled.astype(np.float64)), spotter.predict(scaled))
    half = scaled.astype(np.float16)
    assert np.array_equal(spotter.predict(half), spotter.predict(half.astype(np.float32)))


def test_short_clips_are_zero_padded_and_one_clip_gives_one_row(spotter: Spotter) -> None:
    clip = _clips(1, 2500)[0]
    padded = np.concatenate([clip, np.zeros(CLIP - 2500, np.float32)])
    probabilities, logits = spotter.run(clip)
    assert probabilities.shape == logits.shape == (len(CLASSES),)
    assert np.array_equal(probabilities, spotter.predict(padded))
    assert np.array_equal(probabilities, spotter.predict(clip[np.newaxis])[0])
    # What fills the tail matters, so the equality with zero-padding above says something.
    other_tail = np.concatenate([clip, _clips(1, CLIP - 2500, seed=5)[0]])
    assert not np.allclose(probabilities, spotter.predict(other_tail), atol=1e-3)


def test_large_batches_run_in_chunks_with_the_same_scores(exported: Exported, monkeypatch) -> None:
    whole = Spotter.from_file(exported[0])
    chunked = Spotter.from_file(exported[0], max_batch=3)
    for setting in ("threads", "max_batch"):
        with pytest.raises(ValueError, match=f"^{setting} must be at least 1: 0$"):
            Spotter.from_file(exported[0], **{setting: 0})
    calls = []
    session_run = chunked._session.run

    def counting_run(names: list[str], feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        calls.append(feeds["waveform"].shape)
        return session_run(names, feeds)

    monkeypatch.setattr(chunked._session, "run", counting_run)
    clips = _clips(7, seed=1)
    for mine, theirs in zip(chunked.run(clips), whole.run(clips), strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=0, atol=1e-6)
    assert calls == [(3, CLIP), (3, CLIP), (1, CLIP)]
    # A read-only strided view of overlapping windows, as the streaming detector will pass.
    audio = _clips(1, 3 * CLIP, seed=2)[0]
    windows = np.lib.stride_tricks.sliding_window_view(audio, CLIP)[:: CLIP // 2]
    assert windows.shape == (5, CLIP) and not windows.flags.writeable
    np.testing.assert_allclose(
        chunked.predict(windows), whole.predict(np.ascontiguousarray(windows)), rtol=0, atol=1e-6
    )


def test_an_empty_batch_gives_no_rows(spotter: Spotter) -> None:
    probabilities, logits = spotter.run(np.zeros((0, CLIP), np.float32))
    assert probabilities.shape == logits.shape == (0, len(CLASSES))


@pytest.mark.parametrize(
    ("waveform", "message"),
    [
        (np.zeros(CLIP + 1, np.float32), "clips of 4001 samples, longer than the model's 4000"),
        (np.zeros((2, 2, CLIP), np.float32), "(samples,) or (batch, samples), got shape (2, 2"),
        (np.zeros(CLIP, np.int32), "float or int16 samples, got int32"),
        (np.stack([np.zeros(CLIP), np.full(CLIP, np.nan)]), "clip 1 has NaN or infinite"),
        (np.full((1, CLIP), 1e300), "clip 0 has NaN or infinite"),
        (np.full(CLIP, 3000.0), "clip 0 reaches 3e+03: float samples must be in [-1, 1]"),
    ],
    ids=["too long", "wrong rank", "wrong dtype", "NaN", "beyond float32", "int16 scale"],
)
def test_bad_waveforms_say_what_is_wrong(
    spotter: Spotter, waveform: np.ndarray, message: str
) -> None:
    with pytest.raises(ValueError) as caught:
        spotter.predict(waveform)
    assert message in str(caught.value)


def test_nan_in_a_later_chunk_names_its_clip(exported: Exported) -> None:
    clips = _clips(5)
    clips[4, 10] = np.inf
    with pytest.raises(ValueError, match="waveform clip 4 has NaN or infinite samples"):
        Spotter.from_file(exported[0], max_batch=2).predict(clips)


def _expect_model_error(path: Path, message: str, kind: type = ModelFileError) -> str:
    with pytest.raises(kind) as caught:
        Spotter.from_file(path)
    text = str(caught.value)
    assert text.startswith(f"{path}: ") and message in text and "\n" not in text
    return text


def test_model_files_that_are_not_usable_onnx(tmp_path: Path, monkeypatch) -> None:
    not_onnx = tmp_path / "notes.onnx"
    not_onnx.write_text("this is not a model\n" * 20)
    _expect_model_error(not_onnx, "not a usable ONNX model (")
    _expect_model_error(tmp_path / "missing.onnx", "file does not exist")
    _expect_model_error(tmp_path, "cannot be read (Is a directory)")
    monkeypatch.setattr(model_file, "MAX_MODEL_BYTES", 100)
    _expect_model_error(not_onnx, "more than 100 bytes, too large for a model")


def test_metadata_that_does_not_describe_the_graph(exported: Exported, tmp_path: Path) -> None:
    path, bare, _ = exported
    _expect_model_error(bare, "not a kws export (no 'format' in its metadata)", ModelInfoError)
    wrong_format = INFO.to_props() | {"format": '"kws-export-0"'}
    _expect_model_error(
        _with_props(path, tmp_path / "format.onnx", wrong_format),
        "export format 'kws-export-0', this kws reads 'kws-export-1'",
        ModelInfoError,
    )
    fewer = replace(INFO, class_names=CLASSES[:4]).to_props()
    _expect_model_error(
        _with_props(path, tmp_path / "classes.onnx", fewer),
        "graph's 'probabilities' is tensor(float) ['batch', 5], its metadata asks for "
        "tensor(float) ['batch', 4]",
    )
    longer = replace(INFO, clip_samples=16000).to_props()
    _expect_model_error(
        _with_props(path, tmp_path / "clip.onnx", longer),
        "graph's 'waveform' is tensor(float) ['batch', 4000], its metadata asks for "
        "tensor(float) ['batch', 16000]",
    )


# Tiny hand-made graphs: waveform (batch, 4) @ w (4, 3) -> logits, softmax -> probabilities.
TINY = ModelInfo(("a", "b", "c"), 8000, 4, frontend={}, head={})
WEIGHT = np.arange(12, dtype=np.float32).reshape(4, 3) - 5


def _tiny_model(
    initializers: list[TensorProto], nodes: list[onnx.NodeProto], *, batch: str | int = "batch"
) -> onnx.ModelProto:
    """A graph of ``nodes`` from ``waveform`` to ``product`` to ``logits``, then softmax."""

    def tensor(name: str, width: int) -> onnx.ValueInfoProto:
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, [batch, width])

    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["waveform", "w"], ["product"]),
            *nodes,
            helper.make_node("Softmax", ["logits"], ["probabilities"]),
        ],
        "tiny",
        [tensor("waveform", 4)],
        [tensor("probabilities", 3), tensor("logits", 3)],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    helper.set_model_props(model, TINY.to_props())
    return model


def _save(model: onnx.ModelProto, path: Path) -> Path:
    path.write_bytes(model.SerializeToString())
    return path


IDENTITY = [helper.make_node("Clip", ["product"], ["logits"])]  # no bounds: the identity


def test_a_tiny_handmade_model_runs(tmp_path: Path) -> None:
    model = _tiny_model([numpy_helper.from_array(WEIGHT, "w")], IDENTITY)
    spotter = Spotter.from_file(_save(model, tmp_path / "tiny.onnx"))
    logits = spotter.run(np.eye(4, dtype=np.float32))[1]
    assert logits.tolist() == WEIGHT.tolist()


def test_a_fixed_batch_is_refused(tmp_path: Path) -> None:
    model = _tiny_model([numpy_helper.from_array(WEIGHT, "w")], IDENTITY, batch=1)
    _expect_model_error(
        _save(model, tmp_path / "fixed.onnx"),
        "graph's 'waveform' is tensor(float) [1, 4], its metadata asks for tensor(float) "
        "['batch', 4]",
    )


# --- hostile graphs: refused before onnxruntime builds them -----------------------------------


def _const(name: str, value: object) -> TensorProto:
    """An int64 initializer (float32 for a float ``value``)."""
    dtype = np.float32 if isinstance(value, float) else np.int64
    return numpy_helper.from_array(np.array(value, dtype), name)


def _logits_plus(scalar_per_clip: str) -> onnx.NodeProto:
    """logits = product + ``scalar_per_clip`` (a ``(batch, 1)`` tensor)."""
    return helper.make_node("Add", ["product", scalar_per_clip], ["logits"])


def _forever_loop() -> tuple[list[onnx.NodeProto], list[TensorProto]]:
    """logits = product, passed through a Loop of 2^62 iterations."""
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["go"], ["go_on"]),
            helper.make_node("Identity", ["carried"], ["carried_on"]),
        ],
        "body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("go", TensorProto.BOOL, []),
            helper.make_tensor_value_info("carried", TensorProto.FLOAT, None),
        ],
        [
            helper.make_tensor_value_info("go_on", TensorProto.BOOL, []),
            helper.make_tensor_value_info("carried_on", TensorProto.FLOAT, None),
        ],
    )
    loop = helper.make_node("Loop", ["trips", "", "product"], ["logits"], body=body, name="forever")
    return [loop], [_const("trips", 2**62)]


# Each: nodes from waveform (batch, 4) and product (batch, 3) to logits, their constants, and
# the error's end. 2^15 x 2^15 float32 is the 4 GB that a 2 KB file made onnxruntime allocate.
HOSTILE = {
    "loop": (*_forever_loop(), "node 'forever' (Loop): an operator no kws export contains"),
    "constant of shape": (
        [
            helper.make_node("ConstantOfShape", ["huge"], ["big"], name="bomb"),
            helper.make_node("ReduceMean", ["big"], ["mean"], keepdims=1),
            _logits_plus("mean"),
        ],
        [_const("huge", [2**15, 2**15])],
        "node 'bomb' (ConstantOfShape): an operator no kws export contains",
    ),
    "custom domain": (
        [helper.make_node("FusedMatMul", ["waveform", "w"], ["logits"], domain="com.microsoft")],
        [],
        "node #1 (com.microsoft.FusedMatMul): an operator no kws export contains",
    ),
    "constant expand": (
        [
            helper.make_node("Expand", ["one", "huge"], ["big"], name="bomb"),
            helper.make_node("ReduceMean", ["big"], ["mean"], keepdims=1),
            _logits_plus("mean"),
        ],
        [_const("one", 1.0), _const("huge", [2**15, 2**15])],
        "node 'bomb' (Expand): 'big' is [32768, 32768] (1,073,741,824 elements per clip), which "
        "brings the graph's tensors to more than 134,217,728 elements per clip",
    ),
    "expand of the input": (  # not constant: built without a fuss, and explodes when run
        [
            helper.make_node("Expand", ["product", "copies"], ["big"], name="bomb"),
            helper.make_node("ReduceMean", ["big", "first"], ["logits"], keepdims=0),
        ],
        [_const("copies", [2**26, 1, 1]), _const("first", [0])],
        "node 'bomb' (Expand): 'big' is [67108864, 1, 3] (201,326,592 elements per clip)",
    ),
    "pad": (
        [
            helper.make_node("Pad", ["product", "pads"], ["padded"], name="bomb"),
            helper.make_node("Slice", ["padded", "zero", "three", "columns"], ["logits"]),
        ],
        [_const("pads", [0, 0, 0, 2**28]), _const("zero", [0]), _const("three", [3])]
        + [_const("columns", [1])],
        "node 'bomb' (Pad): 'padded' is [1, 268435459] (268,435,459 elements per clip)",
    ),
    "batch squared": (
        [
            helper.make_node("Transpose", ["waveform"], ["across"]),
            helper.make_node("MatMul", ["waveform", "across"], ["outer"], name="outer"),
            helper.make_node("ReduceMean", ["outer", "columns"], ["mean"], keepdims=1),
            _logits_plus("mean"),
        ],
        [_const("columns", [1])],
        "node 'outer' (MatMul): 'outer' grows faster than the batch (1 elements for 1 clip, 4 "
        "for 2)",
    ),
    "multiply-adds": (  # (batch, 256, 4096) @ (4096, 4096): 2^32 per clip in 2^25 elements
        [
            helper.make_node("ReduceMean", ["waveform", "columns"], ["mean"], keepdims=1),
            helper.make_node("Unsqueeze", ["mean", "last"], ["column"]),
            helper.make_node("Expand", ["column", "rows"], ["left"]),
            helper.make_node("Expand", ["one", "square"], ["right"]),
            helper.make_node("MatMul", ["left", "right"], ["busy"], name="bomb"),
            helper.make_node("ReduceMean", ["busy", "both"], ["total"], keepdims=0),
            helper.make_node("Unsqueeze", ["total", "columns"], ["offset"]),
            _logits_plus("offset"),
        ],
        [_const("columns", [1]), _const("last", [2]), _const("rows", [1, 256, 4096])]
        + [_const("one", 1.0), _const("square", [4096, 4096]), _const("both", [1, 2])],
        "node 'bomb' (MatMul) takes 4,294,967,296 multiply-adds per clip, which brings the "
        "graph to more than 1,073,741,824",
    ),
    "subgraph attribute": (
        [
            helper.make_node(
                "Clip",
                ["product"],
                ["logits"],
                name="odd",
                body=helper.make_graph([], "empty", [], []),
            )
        ],  # fmt: skip
        [],
        "node 'odd' (Clip): attribute 'body' is a GRAPH; a kws export's attributes are numbers "
        "and strings (no subgraphs)",
    ),
    "no shape": (
        [helper.make_node("Add", ["product", "extra"], ["logits"])],
        [],
        "node #1 (Add): the shape of 'extra' cannot be worked out before running",
    ),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_graphs_are_refused_before_onnxruntime_builds_them(
    tmp_path: Path, monkeypatch, case: str
) -> None:
    nodes, constants, message = HOSTILE[case]
    model = _tiny_model([numpy_helper.from_array(WEIGHT, "w"), *constants], nodes)
    if case == "no shape":
        model.graph.input.append(helper.make_value_info("extra", onnx.TypeProto()))
    path = _save(model, tmp_path / "hostile.onnx")
    assert path.stat().st_size < 2048
    built = []
    monkeypatch.setattr(spotter_module, "open_session", lambda *args: built.append(args))
    _expect_model_error(path, message)
    assert built == []  # onnxruntime never saw it


def test_graph_bounds_name_the_file_and_the_part(tmp_path: Path, monkeypatch) -> None:
    path = _save(
        _tiny_model([numpy_helper.from_array(WEIGHT, "w")], IDENTITY), tmp_path / "tiny.onnx"
    )
    monkeypatch.setattr(graph_checks, "MAX_WEIGHTS", 11)
    _expect_model_error(
        path, "initializer 'w' ([4, 3]) brings the weights to 12 elements, more than 11"
    )
    monkeypatch.setattr(graph_checks, "MAX_NODES", 2)
    _expect_model_error(path, "3 nodes, more than 2 (a kws export has a few thousand at most)")
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")  # parses as an ONNX model with nothing in it
    _expect_model_error(empty, "not a usable ONNX model (it holds no graph)")
    model = _tiny_model([numpy_helper.from_array(WEIGHT, "w")], IDENTITY)
    opsets = [helper.make_opsetid("", 18)]
    model.functions.append(helper.make_function("local", "Clip", ["x"], ["y"], [], opsets))
    _expect_model_error(
        _save(model, tmp_path / "functions.onnx"),
        "the model holds local functions, which a kws export never does",
    )


def test_the_clips_per_call_keep_the_graphs_tensors_bounded(tmp_path: Path, monkeypatch) -> None:
    path = _save(
        _tiny_model([numpy_helper.from_array(WEIGHT, "w")], IDENTITY), tmp_path / "tiny.onnx"
    )
    assert Spotter.from_file(path).max_batch == 256
    # product, logits and probabilities: 9 elements per clip, so 3 clips in 30
    monkeypatch.setattr(spotter_module, "MAX_CALL_ACTIVATIONS", 30)
    spotter = Spotter.from_file(path)
    assert spotter.max_batch == 3
    assert Spotter.from_file(path, max_batch=2).max_batch == 2
    clips = np.tile(np.eye(4, dtype=np.float32), (2, 1))[:7]
    assert spotter.run(clips)[1].tolist() == WEIGHT[[0, 1, 2, 3, 0, 1, 2]].tolist()


# --- hostile metadata ------------------------------------------------------------------------


def _tiny_with(tmp_path: Path, **fields: str) -> Path:
    """The tiny model with metadata ``fields`` (raw JSON text) instead of its own."""
    model = _tiny_model([numpy_helper.from_array(WEIGHT, "w")], IDENTITY)
    del model.metadata_props[:]
    helper.set_model_props(model, TINY.to_props() | fields)
    return _save(model, tmp_path / "meta.onnx")


def _names(*names: str) -> str:
    return json.dumps(list(names))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"class_names": _names("yes", "../../etc", "no")},
            "metadata 'class_names' entry 1 is a path, not a name (it holds / or \\, or is . or "
            "..)",
        ),
        ({"class_names": _names("yes", "no", "..")}, "entry 2 is a path, not a name"),
        (
            {"class_names": _names("yes\nno", "up", "down")},
            "metadata 'class_names' entry 0 holds a line break or another control character",
        ),
        (
            {"class_names": _names("yes", "x" * 65, "no")},
            "metadata 'class_names' entry 1 is 65 characters long, more than 64",
        ),
        (
            {"class_names": _names("yes", "x" * 10 * 2**20, "no")},
            "metadata 'class_names' is 10,485,777 characters long, more than 131,072",
        ),
        (
            {"frontend": "[" * 100_000 + "]" * 100_000},
            "metadata 'frontend' is 200,000 characters long, more than 131,072",
        ),
        ({"frontend": "[" * 5_000 + "]" * 5_000}, "'frontend' is nested more than 16 deep"),
        ({"head": "[" * 17 + "]" * 17}, "metadata 'head' is nested more than 16 deep"),
        ({f"extra{i}": "0" for i in range(55)}, "65 metadata entries, more than 64"),
    ],
    ids=[
        "separator",
        "dots",
        "newline",
        "65 chars",
        "10 MB",
        "100k deep",
        "5k deep",
        "17 deep",
        "65 entries",
    ],  # fmt: skip
)
def test_hostile_metadata_is_one_error_naming_the_field(
    tmp_path: Path, fields: dict[str, str], message: str
) -> None:
    _expect_model_error(_tiny_with(tmp_path, **fields), message, ModelInfoError)


def _streaming(hop: object = 2, states: object = None) -> str:
    """A streaming export's metadata for the tiny model (4-sample clips): ``hop`` and
    ``states`` (default: one state ``s`` to ``ns`` of shape ``[1, 3]``) as JSON."""
    states = [{"input": "s", "output": "ns", "shape": [1, 3]}] if states is None else states
    return json.dumps({"hop_length": hop, "states": states})


def _state(name: str, shape: object = (1, 3), output: str | None = None) -> dict[str, object]:
    return {"input": name, "output": f"next_{name}" if output is None else output,
            "shape": list(shape) if isinstance(shape, tuple) else shape}  # fmt: skip


@pytest.mark.parametrize(
    ("streaming", "message"),
    [
        ("[]", "metadata 'streaming' must be a JSON object"),
        (_streaming(hop=0), "metadata 'streaming' 'hop_length' must be in 1..4: 0"),
        (_streaming(hop=True), "metadata 'streaming' 'hop_length' must be in 1..4: True"),
        (_streaming(hop=3), "'hop_length' 3 does not divide the clip's 4 samples"),
        (_streaming(states=[]), "metadata 'streaming' 'states' must be a list of 1 to 256"),
        (_streaming(states=[_state(f"s{i}") for i in range(257)]), "a list of 1 to 256 states"),
        (_streaming(states=["s"]), "metadata 'streaming' state 0 must be a JSON object"),
        (_streaming(states=[_state("")]), "state 0 'input' is not a name of 1 to 64 characters"),
        (_streaming(states=[_state("a\nb")]), "state 0 'input' holds a line break or another"),
        (_streaming(states=[_state("chunk")]), "state 0 'input' 'chunk' names another tensor too"),
        (
            _streaming(states=[_state("a"), _state("b", output="next_a")]),
            "metadata 'streaming' state 1 'output' 'next_a' names another tensor too",
        ),
        (_streaming(states=[_state("a", (2, 3))]), "state 0 'shape' must be 1 to 8 sizes, batch"),
        (_streaming(states=[_state("a", (1, 0))]), "'shape' must be 1 to 8 sizes, batch 1 first"),
        (_streaming(states=[_state("a", [1, 1.5])]), "'shape' must be 1 to 8 sizes"),
        (_streaming(states=[_state("a", [1, True])]), "'shape' must be 1 to 8 sizes"),
        (_streaming(states=[_state("a", (1,) * 9)]), "'shape' must be 1 to 8 sizes"),
        (
            _streaming(states=[_state(f"s{i}", (1, 2**21)) for i in range(3)]),
            "metadata 'streaming' state 2 brings the state to more than 4,194,304 elements",
        ),
    ],
    ids=[
        "not an object",
        "hop 0",
        "hop true",
        "hop 3",
        "no states",
        "257 states",
        "a string",
        "empty name",
        "newline",
        "chunk",
        "twice",
        "batch 2",
        "size 0",
        "float size",
        "bool size",
        "9 dims",
        "16 MB",
    ],  # fmt: skip
)
def test_hostile_streaming_metadata_is_one_error_naming_the_part(
    tmp_path: Path, streaming: str, message: str
) -> None:
    _expect_model_error(_tiny_with(tmp_path, streaming=streaming), message, ModelInfoError)


def test_streaming_metadata_on_a_clip_graph_is_refused_before_it_runs(tmp_path: Path) -> None:
    _expect_model_error(
        _tiny_with(tmp_path, streaming=_streaming()),
        "graph takes ['waveform'] and gives ['logits', 'probabilities'], expected ['chunk', "
        "'s'] and ['ns', 'probabilities']",
    )
    clip = Spotter.from_file(_tiny_with(tmp_path, streaming="null"))
    assert clip.streaming is None
    with pytest.raises(ValueError, match="a clip export, which cannot run as a stream"):
        clip.stream()


# A tiny streaming graph: chunk (1, n * 2) -> frames (1, n, 2) @ w (2, 3) + s -> softmax, the
# frame count worked out from the chunk's length (Shape, Div: no ONNX data propagation).
STREAM_HOP = 2
FRAMES = [
    helper.make_node("Shape", ["chunk"], ["length"], start=1),
    helper.make_node("Div", ["length", "hop"], ["frames"]),
    helper.make_node("Concat", ["one", "frames", "hop"], ["framed_shape"], axis=0),
    helper.make_node("Reshape", ["chunk", "framed_shape"], ["framed"]),
]
STREAM_CONSTANTS = [
    numpy_helper.from_array(np.array([STREAM_HOP], np.int64), "hop"),
    numpy_helper.from_array(np.array([1], np.int64), "one"),
    numpy_helper.from_array(WEIGHT[:2], "w"),
]


def _tiny_stream(
    nodes: list[onnx.NodeProto] | None = None, constants: list[TensorProto] | None = None
) -> onnx.ModelProto:
    """The tiny streaming graph (``nodes`` in place of ``FRAMES``), its metadata saying so."""
    state = [1, 3]
    graph = helper.make_graph(
        [
            *(FRAMES if nodes is None else nodes),
            helper.make_node("MatMul", ["framed", "w"], ["product"]),
            helper.make_node("Add", ["product", "s"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probabilities"]),
            helper.make_node("Relu", ["s"], ["next_s"]),
        ],
        "tiny-stream",
        [
            helper.make_tensor_value_info("chunk", TensorProto.FLOAT, [1, "samples"]),
            helper.make_tensor_value_info("s", TensorProto.FLOAT, state),
        ],
        [
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [1, "frames", 3]),
            helper.make_tensor_value_info("next_s", TensorProto.FLOAT, state),
        ],
        STREAM_CONSTANTS if constants is None else constants,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    states = [{"input": "s", "output": "next_s", "shape": state}]
    helper.set_model_props(model, TINY.to_props() | {"streaming": _streaming(2, states)})
    return model


def test_a_streaming_graph_s_shape_arithmetic_is_worked_out_before_it_runs(
    tmp_path: Path, monkeypatch
) -> None:
    path = _save(_tiny_stream(), tmp_path / "stream.onnx")
    spotter = Spotter.from_file(path)
    assert spotter.streaming.hop_length == STREAM_HOP
    chunk = np.array([0.5, -0.25, 0.125, 0.0, -1.0, 1.0], np.float32)
    logits = chunk.reshape(3, 2) @ WEIGHT[:2]
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert np.abs(spotter.stream().step(chunk) - expected).max() < 1e-6
    # per hop (2 samples): framed 2; product, logits, probabilities, next_s 3 each; 5 integers
    assert graph_checks.check_graph(onnx.load(path), "x", hop=STREAM_HOP) == 19
    assert graph_checks.multiply_adds(onnx.load(path), "x", STREAM_HOP, count=5) == 5 * 3 * 2
    # ONNX's inference alone leaves the frame count unknown after the Div
    monkeypatch.setattr(shapes, "_FOLD_ROUNDS", 0)
    _expect_model_error(path, "node #3 (Reshape): the shape of 'framed' cannot be worked out")


def test_hostile_streaming_graphs_are_refused(tmp_path: Path, monkeypatch) -> None:
    built = []
    monkeypatch.setattr(spotter_module, "open_session", lambda *args: built.append(args))
    zero = [numpy_helper.from_array(np.array([0], np.int64), "hop"), *STREAM_CONSTANTS[1:]]
    _expect_model_error(
        _save(_tiny_stream(constants=zero), tmp_path / "zero.onnx"),
        "not a usable ONNX model (its shapes do not check: ",  # the frames: 2 samples / 0
    )
    square = [
        helper.make_node("Transpose", ["chunk"], ["column"], perm=[1, 0]),
        helper.make_node("MatMul", ["column", "chunk"], ["square"]),  # (samples, samples)
        helper.make_node("Reshape", ["square", "framed_shape"], ["framed"]),
    ]
    constants = [
        numpy_helper.from_array(np.array([1, -1, 2], np.int64), "framed_shape"),
        STREAM_CONSTANTS[2],
    ]
    _expect_model_error(
        _save(_tiny_stream(square, constants), tmp_path / "square.onnx"),
        "node #1 (MatMul): 'square' grows faster than the chunk (4 elements for 1 hop, 16 for 2)",
    )
    assert built == []  # onnxruntime never saw them


def test_metadata_at_the_bounds_is_read(tmp_path: Path) -> None:
    names = ("x" * 64, "a b_c-1", "_silence_")
    spotter = Spotter.from_file(
        _tiny_with(tmp_path, class_names=_names(*names), head='{"a": ' + "[" * 15 + "]" * 15 + "}")
    )
    assert spotter.class_names == names


def test_commands_report_a_hostile_model_in_one_line(tmp_path: Path) -> None:
    wav = _write_wavs(tmp_path / "wavs")["good"]
    deep = _tiny_with(tmp_path, frontend="[" * 5_000 + "]" * 5_000)
    result = _runtime_command(deep, wav)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"error: {deep}: metadata 'frontend' is nested more than 16 deep\n"
    nodes, constants, _ = HOSTILE["loop"]
    weights = [numpy_helper.from_array(WEIGHT, "w"), *constants]
    loop = _save(_tiny_model(weights, nodes), tmp_path / "loop.onnx")
    result = run_command("detect.py", f"model_path={loop}", f"audio={wav}", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"error: {loop}: node 'forever' (Loop): an operator no kws export contains"
    ]


def _external_weight(location: str, offset: int = 0) -> TensorProto:
    """Initializer ``w`` whose 48 bytes live in another file, at ``location``."""
    weight = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[4, 3])
    weight.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", str(offset)), ("length", "48")):
        weight.external_data.add(key=key, value=value)
    return weight


@pytest.mark.parametrize("where", ["beside", "climbing", "absolute", "memory"])
def test_external_data_is_never_read(tmp_path: Path, monkeypatch, where: str) -> None:
    secret = (np.arange(12, dtype=np.float32) + 1000).reshape(4, 3)
    folder = tmp_path / "work"
    folder.mkdir()
    (folder / "secret.bin").write_bytes(secret.tobytes())
    monkeypatch.chdir(folder)  # from bytes, onnxruntime looks below the working directory
    location, offset = {
        "beside": ("secret.bin", 0),
        "climbing": ("../work/secret.bin", 0),
        "absolute": (str(folder / "secret.bin"), 0),
        "memory": ("*/_ORT_MEM_ADDR_/*", secret.ctypes.data),  # onnxruntime's in-memory tag
    }[where]
    model = _tiny_model([_external_weight(location, offset)], IDENTITY)
    path = _save(model, folder / "model.onnx")
    if where == "beside":  # the file is a working model: loaded by path, it reads the secret
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        leaked = session.run(["logits"], {"waveform": np.eye(4, dtype=np.float32)})[0]
        assert leaked.tolist() == secret.tolist()
    _expect_model_error(
        path,
        "not a usable ONNX model (its weights refer to other files or memory (ONNX external "
        "data), which kws never reads)",
    )


# logits = product[:, [0, 1, 7]] of 3 columns: loads (only shapes are checked), fails when run.
OUT_OF_RANGE = [helper.make_node("Gather", ["product", "columns"], ["logits"], axis=1)]
OUT_OF_RANGE_CONSTANTS = [numpy_helper.from_array(np.array([0, 1, 7], np.int64), "columns")]


@pytest.mark.parametrize(
    ("nodes", "initializers", "message"),
    [
        (OUT_OF_RANGE, OUT_OF_RANGE_CONSTANTS, "the model failed on 2 clips ("),
        (  # each clip's row twice: (2, batch, 3) reshaped to (2 * batch, 3)
            [
                helper.make_node("Expand", ["product", "twice"], ["stacked"]),
                helper.make_node("Reshape", ["stacked", "rows"], ["logits"]),
            ],
            [
                numpy_helper.from_array(np.array([2, 1, 1], np.int64), "twice"),
                numpy_helper.from_array(np.array([-1, 3], np.int64), "rows"),
            ],
            "the model gave 'probabilities' float32 (4, 3) for 2 clips, expected float32 (2, 3)",
        ),
        (
            [helper.make_node("Log", ["product"], ["logits"])],
            [],
            "gave NaN or infinite 'probabilities'",
        ),
    ],
    ids=["fails", "wrong shape", "NaN"],
)
def test_a_model_misbehaving_at_run_time_is_blamed(
    tmp_path: Path, nodes: list, initializers: list, message: str
) -> None:
    model = _tiny_model([numpy_helper.from_array(WEIGHT, "w"), *initializers], nodes)
    path = _save(model, tmp_path / "odd.onnx")
    spotter = Spotter.from_file(path)
    with pytest.raises(ModelFileError) as caught:
        spotter.run(np.eye(4, dtype=np.float32)[:2])
    assert str(caught.value).startswith(f"{path}: ") and message in str(caught.value)


def _write_wavs(folder: Path) -> dict[str, Path]:
    """A good clip, a short float one, a non-WAV, a 16 kHz one and a too-long one."""
    folder.mkdir(exist_ok=True)
    wavs = {name: folder / f"{name}.wav" for name in ("good", "float", "bad", "rate", "long")}
    sf.write(wavs["good"], _clips(1, CLIP, seed=3)[0], RATE, subtype="PCM_16")
    sf.write(wavs["float"], _clips(1, 1200, seed=4)[0], RATE, subtype="FLOAT")
    wavs["bad"].write_bytes(b"RIFF this is not audio" * 10)
    sf.write(wavs["rate"], _clips(1, CLIP)[0], 16000, subtype="PCM_16")
    sf.write(wavs["long"], _clips(1, CLIP + 800)[0], RATE, subtype="PCM_16")
    return wavs


def test_read_clip_reads_the_model_s_rate_unpadded(spotter: Spotter, tmp_path: Path) -> None:
    wavs = _write_wavs(tmp_path)
    clip = spotter.read_clip(wavs["float"])
    assert clip.dtype == np.float32 and clip.shape == (1200,)
    expected = np.round(_clips(1, 1200, seed=4)[0].astype(np.float64) * 32768) / 32768
    np.testing.assert_allclose(clip, expected, rtol=0, atol=1e-7)
    lines: list[str] = []
    converted = spotter.read_clip(wavs["rate"], report=lines.append)  # 16 kHz: taken, converted
    assert converted.shape == (CLIP // 2,) and lines == [
        f"converted {wavs['rate']}: 16000 Hz mono -> {RATE} Hz mono"
    ]
    with pytest.raises(ValueError, match=r"long\.wav: 0\.600 s long, expected at most 0\.5 s$"):
        spotter.read_clip(wavs["long"])


def _runtime_command(
    *args: str | Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kws_runtime", *map(str, args)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip


def _assert_scores(line: str, spotter: Spotter, wav: Path, top: int = 1) -> None:
    """The CLI's line for ``wav``: the path, then ``top`` (class, probability) pairs, the first
    the in-process prediction's best class, with its probability to 3 decimals."""
    probabilities = spotter.predict(spotter.read_clip(wav))
    assert line.startswith(f"{wav}  "), line
    fields = line[len(str(wav)) :].split()
    assert len(fields) == 2 * top, line
    assert fields[0] == CLASSES[int(np.argmax(probabilities))], line
    assert re.fullmatch(r"\d\.\d{3}", fields[1]), line
    assert abs(float(fields[1]) - probabilities.max()) <= 1e-3, (line, probabilities.max())


def test_cli_scores_each_file_and_reports_each_bad_one(
    spotter: Spotter, exported: Exported, tmp_path: Path
) -> None:
    wavs = _write_wavs(tmp_path)
    stereo = tmp_path / "stereo.wav"  # 8 kHz, the good clip in both channels: their mean
    good = sf.read(wavs["good"], dtype="int16")[0]
    sf.write(stereo, np.stack([good, good], 1), RATE, subtype="PCM_16")
    order = ("good", "bad", "float", "rate", "long")
    files = [*(wavs[name] for name in order), stereo]
    result = _runtime_command(exported[0], *files, "--top", "2")
    assert result.returncode == 1
    good_line, float_line, rate_line, stereo_line = result.stdout.splitlines()
    _assert_scores(good_line, spotter, wavs["good"], 2)
    _assert_scores(float_line, spotter, wavs["float"], 2)
    _assert_scores(rate_line, spotter, wavs["rate"], 2)
    _assert_scores(stereo_line, spotter, stereo, 2)
    assert stereo_line.split()[1:] == good_line.split()[1:]
    bad, rate, long, mixed = result.stderr.splitlines()
    assert bad.startswith(f"error: {wavs['bad']}: not readable as audio (")
    assert rate == f"converted {wavs['rate']}: 16000 Hz mono -> 8000 Hz mono"
    assert mixed == f"converted {stereo}: 8000 Hz 2 channels -> 8000 Hz mono"
    assert long == f"error: {wavs['long']}: 0.600 s long, expected at most 0.5 s"
    good = _runtime_command(exported[0], wavs["good"], "--threads", "2")
    assert (good.returncode, good.stderr, good.stdout.count("\n")) == (0, "", 1)
    _assert_scores(good.stdout.removesuffix("\n"), spotter, wavs["good"])


def test_cli_refuses_a_bad_model_in_one_line(exported: Exported, tmp_path: Path) -> None:
    wav = _write_wavs(tmp_path)["good"]
    for model, message in ((wav, "not a usable ONNX model ("), (exported[1], "not a kws export")):
        result = _runtime_command(model, wav)
        assert result.returncode == 2 and result.stdout == ""
        assert result.stderr.startswith(f"error: {model}: ") and message in result.stderr
        assert result.stderr.count("\n") == 1
    failing = _tiny_model(
        [numpy_helper.from_array(WEIGHT, "w"), *OUT_OF_RANGE_CONSTANTS], OUT_OF_RANGE
    )
    model = _save(failing, tmp_path / "failing.onnx")
    sf.write(tmp_path / "full.wav", np.ones(4), 8000, subtype="PCM_16")
    result = _runtime_command(model, tmp_path / "full.wav", tmp_path / "full.wav")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith(f"error: {model}: the model failed on 1 clips (")
    assert result.stderr.count("\n") == 1  # the first failure ends the run
    usage = _runtime_command(exported[0], wav, "--threads", "0")
    assert usage.returncode == 2 and "--threads: must be at least 1: 0" in usage.stderr


BLOCKED = ("torch", "lightning", "pytorch_lightning", "torchmetrics", "hydra", "tqdm")


def test_runtime_runs_where_torch_cannot_be_imported(
    spotter: Spotter, exported: Exported, tmp_path: Path
) -> None:
    blocker = tmp_path / "blocked"
    for name in BLOCKED:
        (blocker / name).mkdir(parents=True)
        (blocker / name / "__init__.py").write_text(
            f"raise ImportError('{name} is not installed here')\n"
        )
    blocked = os.environ | {"PYTHONPATH": os.pathsep.join([str(blocker), str(ROOT)])}
    wav = _write_wavs(tmp_path / "wavs")["good"]
    control = subprocess.run(
        [sys.executable, "-c", "import torch"], capture_output=True, text=True, env=blocked
    )
    assert "torch is not installed here" in control.stderr
    result = _runtime_command(exported[0], wav, env=blocked)
    assert (result.returncode, result.stderr, result.stdout.count("\n")) == (0, "", 1)
    _assert_scores(result.stdout.removesuffix("\n"), spotter, wav)
    # The library too: it scores as in-process, and where torch is importable, nothing asks
    # for it (or for Lightning, Hydra, tqdm).
    script = (
        "import sys; from kws_runtime import Spotter; "
        f"s = Spotter.from_file({str(exported[0])!r}); "
        f"print(s.predict(s.read_clip({str(wav)!r})).tolist()); "
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {set(BLOCKED)!r}))"
    )
    expected = [str(spotter.predict(spotter.read_clip(wav)).tolist()), "[]"]
    for env in (blocked, None):
        lines = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
        ).stdout.splitlines()
        assert lines == expected
