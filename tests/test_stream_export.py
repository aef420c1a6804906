"""The streaming export (``python -m kws.export --streaming``): a causal spotter as ONNX with
external state, checked against PyTorch frame for frame before it is written, run without torch
by ``kws_runtime`` (``RuntimeStream``) with the PyTorch stateful detector's detections."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import soundfile as sf
import torch

from kws.export import FILE_NAMES, ExportError
from kws.export import checkpoint as export_checkpoint_module
from kws.export.__main__ import main as export_main
from kws.export.checkpoint import export_module
from kws.export.streaming import chunk_sizes
from kws.streaming import PosteriorSettings, StreamingDetector
from kws.streaming.stateful import StatefulSpotter
from kws.training import KWSModule
from kws_runtime import ModelFileError, ModelInfo, Spotter, graph_checks
from kws_runtime.detector import FrameScorer

ROOT = Path(__file__).resolve().parents[1]
HOP = 160
CLASSES = ["_silence_", "_unknown_", *(f"word{i}" for i in range(10))]
#: conf/frontend/mel.yaml's settings and BC-ResNet-1 in its streaming form.
MEL = {"_target_": "kws.frontend.MelSpectrogram", "n_fft": 512, "win_length": 480,
       "hop_length": HOP, "n_mels": 40}  # fmt: skip
CAUSAL = {"_target_": "kws.models.BCResNet", "tau": 1.0, "causal": True}
SGD = {"_target_": "torch.optim.SGD", "lr": 0.1}
#: A low threshold, so a random model detects something in a few seconds.
LOW = PosteriorSettings(threshold=0.3)
KB = 1024


def causal_module(frontend: dict[str, Any] = MEL, seed: int = 0) -> KWSModule:
    """A causal BC-ResNet-1 that behaves on ``varied`` audio as a trained one does on speech:
    its batch norms' statistics taken from such audio, and each class's logit scaled to move
    by about 3 around zero over it, so that the top class changes and keywords fire."""
    torch.manual_seed(seed)
    module = KWSModule(frontend, CAUSAL, CLASSES, SGD)
    for layer in module.modules():
        if isinstance(layer, torch.nn.BatchNorm2d):
            layer.momentum = None  # running statistics: the plain average over the batches
    audio = torch.from_numpy(varied(30.0, seed=seed + 1))
    with torch.no_grad():
        module.train().spotter(audio.unfold(0, 16000, 4000))
        head = module.eval().spotter.head
        logits = head.frames(module.spotter.frontend(audio[None]))[0][0]  # (classes, frames)
        scale = 3.0 / logits.std(dim=1)
        head.head[-1].weight.mul_(scale[:, None, None, None])
        head.head[-1].bias.sub_(logits.mean(dim=1)).mul_(scale)
    return module


def varied(seconds: float, seed: int = 0) -> np.ndarray:
    """1.5-second stretches of tones, noise and noise bursts at levels from a whisper to a
    shout, ``(samples,)`` float32."""
    rng = np.random.default_rng(seed)
    t = np.arange(24000) / 16000
    parts = []
    for _ in range(int(np.ceil(seconds / 1.5))):
        kind, level = rng.integers(3), 10 ** rng.uniform(-2.5, -0.7)
        if kind == 0:  # over a little noise: a pure tone's far bins hold rounding noise only
            part = np.sin(2 * np.pi * rng.uniform(100, 4000) * t) + rng.normal(0, 0.01, len(t))
        else:
            part = rng.normal(0, 1, len(t))
            if kind == 2:
                part *= np.sin(2 * np.pi * rng.uniform(2, 8) * t) ** 2
        parts.append(level * part)
    return np.clip(np.concatenate(parts)[: int(seconds * 16000)], -1, 1).astype(np.float32)


def torch_stream(module: KWSModule, audio: np.ndarray) -> np.ndarray:
    """The PyTorch streaming model (the module's own frontend and head) on the whole stream in
    one call: ``(frames, classes)``."""
    model = StatefulSpotter(module.spotter.frontend, module.spotter.head).eval()
    with torch.no_grad():
        return model(torch.from_numpy(audio)[None], *model.initial_state())[0][0].numpy()


def save(module: KWSModule, path: Path) -> Path:
    torch.save({"hyper_parameters": dict(module.hparams), "state_dict": module.state_dict()}, path)
    return path


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[KWSModule, Path, dict, str]:
    """The module, the folder ``python -m kws.export CKPT OUT --streaming`` wrote (run in
    this process), its report (``export.json``) and what the command printed."""
    module = causal_module()
    folder = tmp_path_factory.mktemp("stream")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        export_main([str(save(module, folder / "causal.ckpt")), str(folder / "out"), "--streaming"])
    report = json.loads((folder / "out" / "export.json").read_text())
    return module, folder / "out", report, printed.getvalue()


def test_only_the_streaming_file_is_written_and_it_describes_its_inputs(exported) -> None:
    module, out, report, _ = exported
    assert sorted(p.name for p in out.iterdir()) == ["export.json", FILE_NAMES["stream"]]
    assert list(report["files"]) == ["stream"]
    assert report["files"]["stream"]["max_difference"] <= 1e-4
    model = onnx.load(out / FILE_NAMES["stream"])
    info = ModelInfo.from_props({p.key: p.value for p in model.metadata_props}, "stream")
    assert info.streaming is not None and info.streaming.hop_length == HOP
    shapes = StatefulSpotter(module.spotter.frontend, module.spotter.head).state_shapes(1)
    assert [s.shape for s in info.streaming.states] == [tuple(s) for s in shapes]
    assert [s.input for s in info.streaming.states] == [f"state_{i}" for i in range(16)]
    inputs = {v.name: v.type.tensor_type.shape.dim for v in model.graph.input}
    assert list(inputs)[:2] == ["chunk", "state_0"]
    assert inputs["chunk"][0].dim_value == 1 and inputs["chunk"][1].dim_param  # n * hop, free
    assert [d.dim_value for d in inputs["state_15"]] == [1, 12, 1, 100]  # the pool's logits
    outputs = [v.name for v in model.graph.output]
    assert outputs == ["probabilities", *(f"next_state_{i}" for i in range(16))]
    props = {p.key: json.loads(p.value) for p in model.metadata_props}
    assert json.loads(json.dumps(report["files"]["stream"]["streaming"])) == props["streaming"]


def test_the_runtime_streams_it_as_pytorch_does_in_chunks_of_any_size(exported) -> None:
    module, out, *_ = exported
    spotter = Spotter.from_file(out / FILE_NAMES["stream"])  # the graph checks pass
    audio = varied(4.0, seed=3)
    theirs = torch_stream(module, audio)
    assert theirs.std(0).mean() > 0.02  # probabilities that move from frame to frame
    stream = spotter.stream()
    for sizes in ([1], [3], [100], chunk_sizes(len(audio) // HOP, 150, seed=2)):
        stream.reset()
        rows, first = [], 0
        for i in range(len(audio) // HOP):
            if first >= len(audio):
                break
            hops = sizes[i % len(sizes)]
            rows.append(stream.step(audio[first : first + hops * HOP]))
            first += hops * HOP
        ours = np.concatenate(rows)
        assert ours.shape == theirs.shape == (400, len(CLASSES))
        assert np.abs(ours - theirs).max() < 1e-4, sizes[:3]
    assert stream.step(np.zeros(0, np.float32)).shape == (0, len(CLASSES))
    before = [s.copy() for s in stream.state]
    with pytest.raises(ValueError, match="^161 samples are not a whole number of the model's"):
        stream.step(np.zeros(161, np.float32))
    with pytest.raises(ValueError, match="^samples hold 1 NaN or infinite values"):
        stream.step(np.array([np.nan, *np.zeros(159)], np.float32))
    assert all(np.array_equal(a, b) for a, b in zip(before, stream.state, strict=True))


def test_a_stream_is_run_a_bounded_number_of_hops_at_a_time(exported, monkeypatch) -> None:
    module, out, *_ = exported
    spotter = Spotter.from_file(out / FILE_NAMES["stream"], max_batch=7)
    calls = []
    run = spotter._session.run

    def counting_run(names: list[str], feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        calls.append(feeds["chunk"].shape)
        return run(names, feeds)

    monkeypatch.setattr(spotter._session, "run", counting_run)
    audio = varied(0.5, seed=4)  # 50 hops: 7 calls of at most 7 hops
    ours = spotter.stream().step(audio)
    assert [shape[1] // HOP for shape in calls] == [7] * 7 + [1]
    assert np.abs(ours - torch_stream(module, audio)).max() < 1e-4


def test_a_clip_is_scored_as_a_stream_starting_with_it(exported) -> None:
    module, out, *_ = exported
    spotter = Spotter.from_file(out / FILE_NAMES["stream"])
    clips = np.stack([varied(1.0, seed) for seed in (5, 6, 7)])
    probabilities, logits = spotter.run(clips)
    expected = np.stack([torch_stream(module, clip)[-1] for clip in clips])
    assert np.abs(probabilities - expected).max() < 1e-4
    # the log-probabilities stand in for logits: the same softmax and argmax
    softmax = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert np.abs(softmax - probabilities).max() < 1e-6
    short = spotter.predict(clips[0, :8000])  # zero-padded to the clip, as a clip export pads
    assert np.abs(short - torch_stream(module, np.pad(clips[0, :8000], (0, 8000)))[-1]).max() < 1e-4


def test_the_runtime_detector_finds_what_the_torch_stateful_detector_finds(exported) -> None:
    module, out, *_ = exported
    audio = varied(12.0, seed=8)
    torch_detector = StreamingDetector.from_spotter(
        module.spotter, CLASSES, clip_samples=16000, settings=LOW, keep_scores=True
    )
    runtime = StreamingDetector.from_runtime(
        Spotter.from_file(out / FILE_NAMES["stream"]), settings=LOW, keep_scores=True
    )
    assert isinstance(runtime.scorer, FrameScorer)
    assert isinstance(torch_detector.scorer, FrameScorer)
    expected = torch_detector.detect(audio)
    assert len(expected) >= 3, "a model that detects little tests little"
    times, scores = torch_detector.scores()
    for cuts in (None, np.sort(np.random.default_rng(9).integers(0, len(audio), 60))):
        runtime.reset()
        found = [d for piece in ([audio] if cuts is None else np.split(audio, cuts))
                 for d in runtime.push(piece)]  # fmt: skip
        assert [(d.label, d.time_ms) for d in found] == [(d.label, d.time_ms) for d in expected]
        np.testing.assert_allclose([d.score for d in found], [d.score for d in expected], atol=1e-4)
        ours_times, ours = runtime.scores()
        assert np.array_equal(ours_times, times)
        assert np.abs(ours - scores).max() < 1e-4


def test_a_stride_that_is_not_a_whole_number_of_hops_is_refused(exported) -> None:
    _, out, *_ = exported
    spotter = Spotter.from_file(out / FILE_NAMES["stream"])
    with pytest.raises(ValueError, match=r"detector\.stride_ms\) to be whole numbers"):
        StreamingDetector.from_runtime(spotter, stride_ms=25, settings=PosteriorSettings())


def test_a_model_that_cannot_stream_is_one_line_naming_model_causal(tmp_path, capsys) -> None:
    torch.manual_seed(0)
    plain = KWSModule(MEL, {**CAUSAL, "causal": False}, CLASSES, SGD)
    checkpoint = save(plain, tmp_path / "plain.ckpt")
    with pytest.raises(SystemExit) as stopped:
        export_main([str(checkpoint), str(tmp_path / "out"), "--streaming"])
    assert stopped.value.code == 1
    err = capsys.readouterr().err
    assert err == (
        f"error: {checkpoint}: cannot export a streaming model: its head BCResNet is not causal "
        "(model.causal=true)\n"
    )
    assert not (tmp_path / "out").exists()


def test_an_export_that_fails_its_stream_check_writes_nothing(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(export_checkpoint_module, "stream_difference", lambda *args: 0.01)
    with pytest.raises(ExportError, match="streaming ONNX export's probabilities differ .* 0.01"):
        export_module(causal_module(), tmp_path / "out", ("onnx",), streaming=True)
    assert not (tmp_path / "out").exists()


def test_the_streaming_graph_is_small_and_its_work_per_step_is_a_hop_s(exported) -> None:
    """BC-ResNet-1 on a fixed log-Mel: weights with no Fourier kernels (the DFT), each
    SubSpectral Normalization two numbers per channel, and 4,032 floats of state; a step of n
    hops costs n frames' work, a hundredth of a window's each."""
    _, out, report, _ = exported
    entry = report["files"]["stream"]
    model = onnx.load(out / FILE_NAMES["stream"])
    weights = sum(onnx.numpy_helper.to_array(t).nbytes for t in model.graph.initializer)
    assert entry["weight_bytes"] == weights < 80 * KB
    assert entry["state_bytes"] == 4 * 4032
    assert entry["bytes"] < 110 * KB  # the weights, the graph and the metadata
    assert not any(n.op_type == "BatchNormalization" for n in model.graph.node)
    macs = entry["multiply_adds"]
    assert macs["3"] == 3 * macs["1"]
    hop = 160
    assert macs["1"] == graph_checks.multiply_adds(model, "stream", hop, 1) < 400_000
    window = graph_checks.multiply_adds(model, "stream", hop, 100)  # a clip's frames
    assert window == 100 * macs["1"]


BLOCKED = ("torch", "lightning", "pytorch_lightning", "torchmetrics", "hydra", "tqdm")


def test_the_command_line_scores_wavs_with_it_without_torch(exported, tmp_path) -> None:
    _, out, *_ = exported
    blocker = tmp_path / "blocked"
    for name in BLOCKED:
        (blocker / name).mkdir(parents=True)
        (blocker / name / "__init__.py").write_text(f"raise ImportError('{name} is blocked')\n")
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(blocker), str(ROOT)])}
    wav = tmp_path / "clip.wav"
    sf.write(wav, varied(1.0, seed=11), 16000, subtype="FLOAT")
    model = out / FILE_NAMES["stream"]
    result = subprocess.run(
        [sys.executable, "-m", "kws_runtime", str(model), str(wav), "--top", "2"],
        capture_output=True, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert (result.returncode, result.stderr) == (0, "")
    spotter = Spotter.from_file(model)
    probabilities = spotter.predict(spotter.read_clip(wav))
    best = np.argsort(-probabilities)[:2]
    expected = "  ".join(f"{CLASSES[i]}  {probabilities[i]:.3f}" for i in best)
    assert result.stdout == f"{wav}  {expected}\n"
    # the detector, in a process where torch cannot be imported
    script = (
        "import numpy as np, soundfile as sf, sys; from kws_runtime import Spotter; "
        "from kws_runtime.detector import StreamingDetector; "
        f"d = StreamingDetector.from_runtime(Spotter.from_file({str(model)!r})); "
        f"audio = sf.read({str(wav)!r}, dtype='float32')[0]; "
        "print(type(d.scorer).__name__, len(d.detect(audio))); "
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {set(BLOCKED)!r}))"
    )
    lines = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    ).stdout.splitlines()
    assert lines[0].startswith("FrameScorer ") and lines[1] == "[]"


def test_the_command_prints_the_streaming_file(exported) -> None:
    _, out, report, printed = exported
    entry = report["files"]["stream"]
    assert entry["bytes"] == (out / FILE_NAMES["stream"]).stat().st_size
    lines = printed.splitlines()
    assert lines[1].split() == [
        "stream", "spotter.stream.onnx", f"{entry['bytes'] / 1024:.1f}",
        f"{entry['max_difference']:.2e}",
    ]  # fmt: skip
    assert lines[2] == f"written to {out} (export.json lists the same)"


def test_a_graph_that_does_not_match_its_streaming_metadata_is_refused(exported, tmp_path) -> None:
    _, out, *_ = exported
    model = onnx.load(out / FILE_NAMES["stream"])
    props = {p.key: p.value for p in model.metadata_props}
    streaming = json.loads(props["streaming"])
    streaming["states"][15]["shape"] = [1, 32, 1, 99]
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, props | {"streaming": json.dumps(streaming)})
    path = tmp_path / "wrong.onnx"
    onnx.save(model, path)
    with pytest.raises(ModelFileError) as error:
        Spotter.from_file(path)
    assert str(error.value) == (
        f"{path}: graph's 'state_15' is tensor(float) [1, 12, 1, 100], its metadata asks for "
        "tensor(float) [1, 32, 1, 99]"
    )


@pytest.mark.slow
def test_int8_head_quantises_the_head_and_streams_chunk_invariantly(exported, tmp_path) -> None:
    """``--int8``: the head int8, calibrated on clips played as one stream; the DFT and the
    rest of the frontend float. Its state is carried as the float export's is: chunked, it
    gives what it gives in one call. (How close it stays to float needs a trained model:
    docs/export.md.)"""
    module = exported[0]
    clips = np.stack([varied(1.0, seed) for seed in range(20, 52)])
    report = export_module(module, tmp_path / "out", (), clips, streaming=True)
    assert sorted(report["files"]) == ["stream", "stream-int8-head"]
    path = tmp_path / "out" / FILE_NAMES["stream-int8-head"]
    int8 = Spotter.from_file(path)
    assert int8.info.quantization == "int8-head" and int8.streaming is not None
    model = onnx.load(path)
    producer = {name: node for node in model.graph.node for name in node.output}
    upstream, stack = set(), list(next(n for n in model.graph.node if n.op_type == "DFT").input)
    while stack:
        node = producer.get(stack.pop())
        if node is not None:
            upstream.add(node.op_type)
            stack.extend(node.input)
    assert upstream and not {"QuantizeLinear", "DequantizeLinear"} & upstream
    convolutions = [n for n in model.graph.node if n.op_type == "Conv"]
    assert convolutions and all(
        producer[n.input[1]].op_type == "DequantizeLinear" for n in convolutions
    )
    audio = varied(4.0, seed=9)
    whole = int8.stream().step(audio)
    stream, first, rows = int8.stream(), 0, []
    for hops in chunk_sizes(len(audio) // HOP, 100, seed=3):
        rows.append(stream.step(audio[first : first + hops * HOP]))
        first += hops * HOP
    assert np.abs(np.concatenate(rows) - whole).max() < 1e-5
    assert report["files"]["stream-int8-head"]["max_difference"] > 0  # measured, not gated


def test_a_causal_model_also_exports_as_a_clip_model(tmp_path) -> None:
    """The causal model's clip export (its last frame's scores) loads in the runtime and scores
    as PyTorch does: the causal padding is an ONNX ``Pad``, an operator kws exports write."""
    module = causal_module()
    report = export_module(module, tmp_path, ("onnx",))
    spotter = Spotter.from_file(tmp_path / FILE_NAMES["onnx"])
    clips = varied(3.0, seed=5).reshape(3, 16000)
    with torch.no_grad():
        expected = module.spotter(torch.from_numpy(clips)).softmax(-1).numpy()
    assert np.abs(spotter.predict(clips) - expected).max() < 1e-4
    assert report["files"]["onnx"]["max_difference"] < 1e-4
