"""Exports give PyTorch's answers: ONNX and torch.export for every frontend setting and both
heads, trained kernels exported as trained, int8 within a point, evaluate.py on an export."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import torch
from conftest import ROOT
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from kws.export import FILE_NAMES, ExportError, export_checkpoint
from kws.export import checkpoint as export_module
from kws.export.__main__ import main
from kws.export.checkpoint import training_data
from kws.export.onnx_model import example_batch
from kws.frontend import STFT
from kws.tasks import evaluate, train
from kws.training import KWSModule, load_checkpoint
from kws_runtime import ModelInfo, Spotter
from kws_runtime.graph_checks import EXPORT_OPS

SGD = {"_target_": "torch.optim.SGD", "lr": 0.1}
MEL = {"_target_": "kws.frontend.MelSpectrogram", "n_mels": 40}
FRONTENDS = {
    "mel-fixed": MEL,
    "mel-trainable-mel": {**MEL, "trainable_mel": True},
    "mel-trainable-stft": {**MEL, "trainable_stft": True, "trainable_mel": True},
    "stft-trainable": {"_target_": "kws.frontend.STFT", "trainable": True, "log": "log"},
    "mfcc-trainable-dct": {"_target_": "kws.frontend.MFCC", "n_mfcc": 20, "trainable_dct": True},
}
HEADS = {
    "linear": {"_target_": "kws.models.LinearClassifier", "n_features": None, "frames": None},
    "bcresnet": {"_target_": "kws.models.BCResNet", "tau": 1.0},
}
CLASSES = ["_silence_", "_unknown_", "yes", "no"]
# The fast run covers every frontend with the linear head and BC-ResNet on a trained STFT;
# the rest of the grid runs with -m slow.
FAST = {(frontend, "linear") for frontend in FRONTENDS} | {("mel-trainable-stft", "bcresnet")}
GRID = [
    pytest.param(f, h, id=f"{f}-{h}", marks=() if (f, h) in FAST else pytest.mark.slow)
    for f in FRONTENDS
    for h in HEADS
]


def as_trained(frontend: dict[str, Any], head: dict[str, Any], seed: int = 0) -> KWSModule:
    """A module whose trainable frontend tensors moved well away from their initial values, as
    training moves them, and whose head is random."""
    torch.manual_seed(seed)
    module = KWSModule(frontend, head, CLASSES, SGD).eval()
    with torch.no_grad():
        for name, parameter in module.spotter.frontend.named_parameters():
            parameter.mul_(1 + 0.3 * torch.randn_like(parameter))
            if name.endswith("mel_basis"):
                parameter.sub_(0.02)  # some entries negative: the export must clamp them
    return module


def save(module: KWSModule, path: Path) -> Path:
    torch.save({"hyper_parameters": dict(module.hparams), "state_dict": module.state_dict()}, path)
    return path


def torch_probabilities(module: KWSModule, clips: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return module.spotter(torch.from_numpy(clips)).softmax(dim=-1).numpy()


@pytest.mark.parametrize(("frontend", "head"), GRID)
def test_exports_give_pytorchs_probabilities(tmp_path, frontend, head):
    module = as_trained(FRONTENDS[frontend], HEADS[head])
    checkpoint = save(module, tmp_path / "trained.ckpt")
    report = export_checkpoint(checkpoint, tmp_path / "out", formats=("onnx", "torch-export"))
    clips = example_batch(ModelInfo.from_dict(report["model"], "report"), batch=5, seed=7)
    expected = torch_probabilities(module, clips)

    spotter = Spotter.from_file(tmp_path / "out" / FILE_NAMES["onnx"])
    assert spotter.class_names == tuple(CLASSES)
    np.testing.assert_allclose(spotter.predict(clips), expected, rtol=0, atol=1e-4)
    np.testing.assert_allclose(spotter.predict(clips[:1]), expected[:1], rtol=0, atol=1e-4)

    program = torch.export.load(tmp_path / "out" / FILE_NAMES["torch-export"])
    with torch.no_grad():
        probabilities, logits = program.module()(torch.from_numpy(clips))
    np.testing.assert_allclose(probabilities.numpy(), expected, rtol=0, atol=1e-4)
    assert logits.shape == (5, len(CLASSES))
    sidecar = json.loads((tmp_path / "out" / "spotter.json").read_text())
    assert ModelInfo.from_dict(sidecar, "spotter.json") == spotter.info


def test_a_trained_stft_exports_its_trained_kernels(tmp_path):
    module = as_trained(FRONTENDS["mel-trainable-stft"], HEADS["linear"])
    kernels = module.spotter.frontend.stft.kernels.detach().numpy()
    assert not np.allclose(kernels, module.spotter.frontend.stft.initial_kernels.numpy())
    export_checkpoint(save(module, tmp_path / "trained.ckpt"), tmp_path / "out")
    model = onnx.load(tmp_path / "out" / FILE_NAMES["onnx"])
    weights = [onnx.numpy_helper.to_array(t) for t in model.graph.initializer]
    assert any(
        w.size == kernels.size and np.array_equal(w.ravel(), kernels.ravel()) for w in weights
    )
    # The answers are the trained model's, far from those of the initial (Fourier) kernels.
    clips = example_batch(Spotter.from_file(tmp_path / "out" / FILE_NAMES["onnx"]).info, 4)
    ours = Spotter.from_file(tmp_path / "out" / FILE_NAMES["onnx"]).predict(clips)
    with torch.no_grad():
        module.spotter.frontend.stft.kernels.copy_(module.spotter.frontend.stft.initial_kernels)
    assert np.abs(ours - torch_probabilities(module, clips)).max() > 1e-2


def test_the_metadata_travels_inside_the_onnx_file(tmp_path):
    module = as_trained(FRONTENDS["mfcc-trainable-dct"], HEADS["linear"])
    checkpoint = save(module, tmp_path / "trained.ckpt")
    export_checkpoint(checkpoint, tmp_path / "out")
    model = onnx.load(tmp_path / "out" / FILE_NAMES["onnx"])
    onnx.checker.check_model(model, full_check=True)
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 17
    props = {p.key: p.value for p in model.metadata_props}
    info = ModelInfo.from_props(props, "spotter.onnx")
    assert info.class_names == tuple(CLASSES)
    assert (info.sample_rate, info.clip_samples) == (16000, 16000)
    assert info.frontend == module.hparams["frontend"]
    assert info.head == module.hparams["model"]
    assert info.quantization == "float32"
    assert len(info.source["sha256"]) == 64
    assert [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim][
        1:
    ] == [16000]
    assert not model.graph.input[0].type.tensor_type.shape.dim[0].dim_value  # a free batch axis


# --- a trained BC-ResNet-1: int8 and evaluate.py ----------------------------------------------


def compose_in(output_dir: Path, overrides: list[str], name: str):
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose(name, overrides=[f"output_dir={output_dir}", *overrides])


def train_run(run_dir: Path, synthetic_root: Path, *overrides: str) -> Path:
    """Train on the generated data; the run's last checkpoint."""
    cfg = compose_in(
        run_dir,
        ["data=synthetic", f"data.root={synthetic_root}", "frontend=mel",
         "trainer.enable_progress_bar=false", *overrides],
        "train",
    )  # fmt: skip
    train(cfg)
    return run_dir / "checkpoints" / "last.ckpt"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, synthetic_root: Path) -> Path:
    """A linear head on a trainable Mel basis, trained a few epochs on the generated data."""
    return train_run(
        tmp_path_factory.mktemp("trained"), synthetic_root, "model=linear",
        "trainer.max_epochs=20", "module.scheduler.warmup_epochs=0",
    )  # fmt: skip


@pytest.fixture(scope="module")
def exported(trained: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("exported")
    export_checkpoint(trained, out, ("onnx",), int8=True, calibration=200)
    return out


def run_evaluate(output_dir: Path, source: str) -> dict:
    cfg = compose_in(output_dir, [source, "trainer.enable_progress_bar=false"], "evaluate")
    return evaluate(cfg)


def test_evaluate_scores_an_export_as_its_checkpoint(trained, exported, tmp_path):
    from_checkpoint = run_evaluate(tmp_path / "ckpt", f"ckpt_path={trained}")
    from_onnx = run_evaluate(tmp_path / "onnx", f"model_path={exported / FILE_NAMES['onnx']}")
    assert from_onnx["num_clips"] == from_checkpoint["num_clips"] > 50
    assert from_onnx["test/acc"] == from_checkpoint["test/acc"]
    assert from_onnx["test/f1"] == from_checkpoint["test/f1"]
    assert from_onnx["test/loss"] == pytest.approx(from_checkpoint["test/loss"], rel=1e-6)
    assert from_onnx["per_class"] == from_checkpoint["per_class"]
    assert from_onnx["checkpoint_epoch"] == from_checkpoint["checkpoint_epoch"]
    confusion = [(tmp_path / d / "confusion_matrix.csv").read_text() for d in ("ckpt", "onnx")]
    assert confusion[0] == confusion[1]


def int8_accuracies(checkpoint: Path, exported: Path) -> tuple[dict[str, float], float]:
    """Accuracy of each ONNX variant on every clip of the generated data set (the test split
    alone is too small to resolve one point), and how often int8-head agrees with float."""
    datamodule = training_data(load_checkpoint(checkpoint), checkpoint)
    splits = [datamodule.datasets[split] for split in ("train", "val", "test")]
    clips = np.concatenate([np.asarray(s.clips, dtype=np.float32) / 32768 for s in splits])
    labels = np.concatenate([np.asarray(s.labels) for s in splits])
    predicted = {
        kind: Spotter.from_file(exported / FILE_NAMES[kind]).predict(clips).argmax(axis=1)
        for kind in ("onnx", "int8-head", "int8")
    }
    assert len(labels) > 500
    agreement = float((predicted["int8-head"] == predicted["onnx"]).mean())
    return {kind: float((p == labels).mean()) for kind, p in predicted.items()}, agreement


def test_int8_with_the_frontend_in_float_stays_close(trained, exported):
    """The fast check, on the linear head (the 1-point bound for BC-ResNet-1 runs with -m slow
    and in ``python -m kws.benchmark export``): a 4,040-input linear layer sums more rounding
    than BC-ResNet's small convolutions, and this one is barely trained."""
    scores, agreement = int8_accuracies(trained, exported)
    assert scores["onnx"] > 0.5  # a model that learned something: the bound means something
    assert scores["int8-head"] >= scores["onnx"] - 0.03
    assert agreement >= 0.9
    sizes = {kind: (exported / FILE_NAMES[kind]).stat().st_size for kind in scores}
    assert sizes["int8"] < 0.6 * sizes["onnx"]  # the frontend's kernels are int8 too
    for kind in ("int8", "int8-head"):
        model = onnx.load(exported / FILE_NAMES[kind])
        assert (
            ModelInfo.from_props({p.key: p.value for p in model.metadata_props}, kind).quantization
            == kind
        )
        assert "QuantizeLinear" in [n.op_type for n in model.graph.node]
    # head only: nothing the log-Mel features depend on is quantised
    head_only = onnx.load(exported / FILE_NAMES["int8-head"])
    first = next(i for i, n in enumerate(head_only.graph.node) if n.op_type == "Log")
    assert "QuantizeLinear" not in [n.op_type for n in head_only.graph.node[:first]]


# --- bad input ---------------------------------------------------------------------------------


def export_command(*args: str, capsys: pytest.CaptureFixture) -> tuple[int, str]:
    """``python -m kws.export ARGS`` run in this process: its exit status and stderr."""
    capsys.readouterr()
    try:
        main(list(args))
        status = 0
    except SystemExit as exit:
        status = exit.code
    return status, capsys.readouterr().err


def test_a_file_that_is_not_a_kws_checkpoint_is_one_line(tmp_path, capsys):
    bad = tmp_path / "model.ckpt"
    torch.save({"state_dict": {}}, bad)
    status, stderr = export_command(str(bad), str(tmp_path / "out"), capsys=capsys)
    assert status == 1
    assert stderr.strip().splitlines() == [
        f"error: {bad}: not a kws checkpoint (no 'kws-1' hyper-parameters)"
    ]
    assert not (tmp_path / "out").exists()


def test_an_unknown_format_is_refused_before_any_work(tmp_path, capsys):
    status, stderr = export_command("x.ckpt", str(tmp_path / "out"), "--format", "tflite",
                                    capsys=capsys)  # fmt: skip
    assert status == 2
    assert "invalid choice: 'tflite'" in stderr
    with pytest.raises(ValueError, match="format must be some of"):
        export_checkpoint(tmp_path / "x.ckpt", tmp_path / "out", formats=("tflite",))


def test_calibration_data_that_cannot_be_read_stops_before_writing(tmp_path, capsys):
    module = as_trained(FRONTENDS["mel-fixed"], HEADS["linear"])
    checkpoint = tmp_path / "trained.ckpt"
    data = {"_target_": "kws.data.SpeechCommandsDataModule", "root": str(tmp_path / "gone")}
    torch.save({"hyper_parameters": dict(module.hparams), "state_dict": module.state_dict(),
                "datamodule_hyper_parameters": data}, checkpoint)  # fmt: skip
    status, stderr = export_command(str(checkpoint), str(tmp_path / "out"), "--int8",
                                    capsys=capsys)  # fmt: skip
    assert status == 1
    (line,) = stderr.strip().splitlines()
    assert line.startswith("error: ") and str(tmp_path / "gone") in line
    assert not (tmp_path / "out").exists()


def test_an_export_that_fails_its_check_leaves_no_file(tmp_path, monkeypatch):
    module = as_trained(FRONTENDS["mel-fixed"], HEADS["linear"])
    monkeypatch.setattr(export_module, "FLOAT_TOLERANCE", -1.0)  # every export now fails it
    with pytest.raises(ExportError, match="not written"):
        export_checkpoint(save(module, tmp_path / "m.ckpt"), tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == []


def test_the_command_writes_every_format(tmp_path):
    module = as_trained(FRONTENDS["mel-trainable-mel"], HEADS["linear"])
    checkpoint = save(module, tmp_path / "m.ckpt")
    result = subprocess.run(
        [sys.executable, "-m", "kws.export", str(checkpoint), str(tmp_path / "out"), "--format",
         "all"], cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == ["export.json", "spotter.json", "spotter.onnx", "spotter.pt2"]
    report = json.loads((tmp_path / "out" / "export.json").read_text())
    assert set(report["files"]) == {"onnx", "torch-export"}
    assert all(entry["max_difference"] <= 1e-4 for entry in report["files"].values())
    assert "spotter.onnx" in result.stdout


def test_the_export_benchmark_reports_every_variant_against_pytorch(trained, tmp_path):
    from kws.benchmark.export import bench_export, format_export

    report = bench_export(trained, tmp_path / "out", calls=3, calibration=50)
    rows = {row["variant"]: row for row in report["rows"]}
    assert list(rows) == [
        "pytorch eager float32", "onnx float32", "onnx int8 (whole model)", "onnx int8 (head only)"
    ]  # fmt: skip
    torch_row, onnx_row = rows["pytorch eager float32"], rows["onnx float32"]
    assert onnx_row["accuracy"] == torch_row["accuracy"]
    assert onnx_row["same_class_as_pytorch"] >= 0.999
    assert onnx_row["max_probability_difference"] <= 1e-4
    assert onnx_row["bytes"] == (tmp_path / "out" / "spotter.onnx").stat().st_size
    assert all(row["latency_ms"] > 0 for row in rows.values())
    assert torch_row["latency_vs_pytorch"] == 1.0
    stages = {(row["stage"], row["bits"]): row for row in report["stages"]}
    assert {stage for stage, _ in stages} == {"stft", "power", "mel", "log"}
    # the log-Mel features take 8 bits with little error; the power spectrum does not
    assert stages["log", 8]["feature_error"] < 0.05 < stages["power", 8]["feature_error"]
    assert "onnx int8 (head only)" in format_export(report)


@pytest.mark.slow
def test_int8_bcresnet_1_loses_at_most_a_point(tmp_path, synthetic_root):
    """The issue's bound on its model: BC-ResNet-1 as experiment=quickstart trains it."""
    checkpoint = train_run(tmp_path / "run", synthetic_root, "experiment=quickstart")
    export_checkpoint(checkpoint, tmp_path / "out", ("onnx",), int8=True)
    scores, agreement = int8_accuracies(checkpoint, tmp_path / "out")
    assert scores["onnx"] > 0.6  # the tests' data set is smaller than the quick start's
    # the bound is on accuracy; on this less certain model (75% on every generated
    # clip) int8 moves borderline clips both ways: 88% of the classes agreed in one run
    assert scores["int8-head"] >= scores["onnx"] - 0.01, (scores, agreement)


# --- every kind of export stays within what the runtime accepts ---------------------------------

#: Every frontend (conf/frontend) under every head (conf/model), BC-ResNet on the frontends of
#: a few dozen bands (not the 257-bin STFT), and the frontend settings that change the graph.
EXPORT_KINDS = {
    f"{frontend}-{model}": [f"frontend={frontend}", f"model={model}"]
    for frontend in sorted(p.stem for p in (ROOT / "conf" / "frontend").glob("*.yaml"))
    for model in sorted(p.stem for p in (ROOT / "conf" / "model").glob("*.yaml"))
    if (frontend, model) != ("stft", "bcresnet")
} | {
    f"{frontend}-{setting.split('=')[1]}-linear": [
        f"frontend={frontend}", f"frontend.{setting}", "model=linear"
    ]
    for frontend, setting in (
        ("mel", "compression=pcen"), ("sinc", "compression=pcen"),
        ("triangular", "compression=pcen"), ("leaf", "compression=log"),
        ("stft", "output=magnitude"),
    )
} | {
    # trained kernels export as a convolution (export_operators moves them), fixed ones as a DFT
    "mel-trained-stft-linear": ["frontend=mel", "frontend.trainable_stft=true", "model=linear"],
}  # fmt: skip


def export_operators(overrides: list[str], folder: Path) -> set[str]:
    """The operators of a module's float, int8 and int8-head exports (``domain.Op`` outside the
    default domain), each file loaded by the runtime (every check passes)."""
    cfg = compose_in(folder, overrides, "train")
    frontend, head = (OmegaConf.to_container(cfg[key]) for key in ("frontend", "model"))
    module = KWSModule(frontend, head, CLASSES, SGD).eval()
    with torch.no_grad():  # trainable STFT kernels moved, as training moves them
        for layer in module.modules():
            if isinstance(layer, STFT) and layer.trainable:
                layer.kernels.mul_(1.01)
    rng = np.random.default_rng(0)
    clips = rng.uniform(-0.5, 0.5, (8, module.hparams["clip_samples"])).astype(np.float32)
    export_module.export_module(module, folder / "out", ("onnx",), clips)
    operators = set()
    for kind in ("onnx", "int8", "int8-head"):
        path = folder / "out" / FILE_NAMES[kind]
        nodes = onnx.load(path).graph.node
        operators |= {f"{n.domain}.{n.op_type}" if n.domain else n.op_type for n in nodes}
        Spotter.from_file(path)
    return operators


@pytest.mark.parametrize("kind", ["leaf-log-linear", "mfcc-linear", "stft-magnitude-linear"])
def test_exports_use_only_operators_the_runtime_allows(tmp_path, kind):
    """The fast check, on kinds that export quickly (BC-ResNet's float export is loaded by the
    runtime in the grid above, every kind's in the slow test below)."""
    assert export_operators(EXPORT_KINDS[kind], tmp_path) <= EXPORT_OPS


@pytest.mark.slow
def test_the_runtime_allows_exactly_the_operators_of_every_export_kind(tmp_path):
    """The allow-list is derived, not guessed: a new operator in any export fails here, and so
    does one the list holds that no export writes any more."""
    used = set()
    for kind, overrides in EXPORT_KINDS.items():
        used |= export_operators(overrides, tmp_path / kind)
    assert sorted(used - EXPORT_OPS) == []
    assert sorted(EXPORT_OPS - used) == []
