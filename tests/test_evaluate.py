"""evaluate(): metrics recounted from the model's own predictions, files, and a clean CLI error."""

from __future__ import annotations

import argparse
import csv
import json
import pickle
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from matplotlib.image import imread
from omegaconf import DictConfig, OmegaConf

from kws.data import SpeechCommandsDataModule
from kws.tasks import evaluate
from kws.training import CheckpointError, KWSModule, load_checkpoint, saved_datamodule

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ("confusion_matrix", "mel_filterbank", "stft_kernels", "stft_response", "frontend_drift")


def compose_in(output_dir: Path, overrides: list[str], name: str) -> DictConfig:
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose(name, overrides=[f"output_dir={output_dir}", *overrides])


def run_evaluate(checkpoint: Path, output_dir: Path, split: str) -> dict:
    cfg = compose_in(
        output_dir,
        [f"ckpt_path={checkpoint}", f"split={split}", "trainer.enable_progress_bar=false"],
        "evaluate",
    )
    return evaluate(cfg)


def recount(checkpoint: Path, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels, predictions and log-probabilities of every clip, without Lightning's loops."""
    module = load_checkpoint(checkpoint)
    datamodule = saved_datamodule(checkpoint, module.checkpoint_metadata["datamodule"])
    datamodule.setup()
    loader = datamodule.test_dataloader() if split == "test" else datamodule.val_dataloader()
    labels, log_probs = [], []
    with torch.no_grad():
        for batch in loader:
            waveforms, batch_labels = datamodule.on_after_batch_transfer(batch, 0)
            log_probs.append(torch.log_softmax(module(waveforms).double(), dim=1).numpy())
            labels.append(batch_labels.numpy())
    log_probs = np.concatenate(log_probs)
    return np.concatenate(labels), log_probs.argmax(axis=1), log_probs


@pytest.mark.parametrize("split", ["test", "val"])
def test_metrics_match_a_recount_from_the_predictions(linear_checkpoint, tmp_path, split):
    metrics = run_evaluate(linear_checkpoint, tmp_path, split)
    assert json.loads((tmp_path / "metrics.json").read_text()) == metrics

    labels, predicted, log_probs = recount(linear_checkpoint, split)
    classes = metrics["classes"]
    assert metrics["num_clips"] == len(labels) > 50
    assert len(set(predicted)) >= 4, "a model that predicts few classes tests little"
    assert metrics[f"{split}/acc"] == pytest.approx(np.mean(predicted == labels), abs=1e-12)
    loss = -log_probs[np.arange(len(labels)), labels].mean()
    assert metrics[f"{split}/loss"] == pytest.approx(loss, rel=1e-6)
    f1_scores = []
    for index, name in enumerate(classes):
        hits = np.sum((predicted == index) & (labels == index))
        n_predicted, n_true = np.sum(predicted == index), np.sum(labels == index)
        scores = metrics["per_class"][name]
        assert scores["clips"] == n_true
        assert scores["precision"] == pytest.approx(hits / n_predicted if n_predicted else 0.0)
        assert scores["recall"] == pytest.approx(hits / n_true if n_true else 0.0)
        if n_predicted + n_true:
            f1_scores.append(2 * hits / (n_predicted + n_true))
    assert metrics[f"{split}/f1"] == pytest.approx(np.mean(f1_scores), abs=1e-12)

    with (tmp_path / "confusion_matrix.csv").open(newline="") as file:
        rows = list(csv.reader(file))
    assert rows[0][1:] == classes and [row[0] for row in rows[1:]] == classes
    matrix = np.array([[int(count) for count in row[1:]] for row in rows[1:]])
    assert matrix.sum() == metrics["num_clips"]
    expected = np.zeros_like(matrix)
    np.add.at(expected, (labels, predicted), 1)
    np.testing.assert_array_equal(matrix, expected)

    for name in FIGURES:
        height, width, _ = imread(tmp_path / f"{name}.png").shape
        assert width >= 800 and height >= 500, name


def test_cli_reports_a_bad_checkpoint_in_one_line(tmp_path):
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 8)
    result = subprocess.run(
        [sys.executable, str(ROOT / "evaluate.py"), f"ckpt_path={truncated}",
         f"hydra.run.dir={tmp_path / 'run'}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: {truncated}: not a readable checkpoint (")
    assert result.stderr.count("\n") == 1, "one line, no traceback"


@pytest.mark.parametrize(
    "content",
    [pickle.dumps({"weights": [1.0, 2.0]}), pickle.dumps(argparse.Namespace(lr=0.1))],
    ids=["plain-pickle", "pickled-object"],
)
def test_a_pickle_that_is_not_a_checkpoint_is_refused(tmp_path, content):
    path = tmp_path / "model.pkl"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="not a (readable|kws) checkpoint") as error:
        evaluate(OmegaConf.create({"ckpt_path": str(path), "split": "test", "data": None,
                                   "output_dir": str(tmp_path / "eval")}))  # fmt: skip
    assert str(path) in str(error.value)


@pytest.fixture(scope="module")
def untrained(tmp_path_factory, synthetic_root) -> dict[int, Path]:
    """Untrained BC-ResNet-1 checkpoints (the model takes any number of frames) for 1 s and
    1.5 s clips, by clip samples, for the synthetic data's classes, saved with its settings."""
    datamodule = SpeechCommandsDataModule(root=str(synthetic_root), test_set="list")
    folder = tmp_path_factory.mktemp("untrained")
    paths = {}
    for clip_samples in (16000, 24000):
        module = KWSModule(
            {"_target_": "kws.frontend.MelSpectrogram", "n_mels": 40},
            {"_target_": "kws.models.BCResNet", "n_features": None},
            datamodule.class_names,
            {"_target_": "torch.optim.SGD", "lr": 0.1},
            clip_samples=clip_samples,
        )
        paths[clip_samples] = folder / f"clip{clip_samples}.ckpt"
        torch.save({"hyper_parameters": dict(module.hparams), "state_dict": module.state_dict(),
                    "datamodule_hyper_parameters": dict(datamodule.hparams)},
                   paths[clip_samples])  # fmt: skip
    return paths


def test_a_model_of_another_clip_length_is_refused(untrained, synthetic_root, tmp_path):
    """A model trained on 1.5 s clips, scored on its saved (1 s) data or on data=... alike."""
    checkpoint = untrained[24000]
    message = (
        rf"{re.escape(str(checkpoint))}: the model takes clips of 24000 samples \(1\.5 s\), the "
        r"data's are 16000 samples \(1 s\)"
    )
    for data in ([], ["data=synthetic", f"data.root={synthetic_root}"]):
        cfg = compose_in(tmp_path / "eval", [f"ckpt_path={checkpoint}", *data], "evaluate")
        with pytest.raises(ValueError, match=message):
            evaluate(cfg)
    assert not (tmp_path / "eval" / "metrics.json").exists()


@pytest.mark.parametrize(
    ("setting", "reason"),
    [
        ("stream_minutes=0", r"stream_minutes must be in \(0, 2236\], got 0"),
        ("stream_minutes=-1", r"stream_minutes must be in \(0, 2236\], got -1"),
        ("stream_minutes=1e9", r"stream_minutes must be in \(0, 2236\], got 1000000000\.0"),
        ("stream_free_minutes=-1", r"stream_free_minutes must be in \[0, 2236\], got -1"),
        ("stream_speech_fraction=1.5", r"stream_speech_fraction must be in \[0, 1\], got 1\.5"),
        ("stream_minutes=abc", r"stream_minutes must be a finite number, got 'abc'"),
    ],
)
def test_stream_settings_are_checked_before_any_work(untrained, tmp_path, setting, reason):
    cfg = compose_in(
        tmp_path / "eval", [f"ckpt_path={untrained[16000]}", "stream=true", setting], "evaluate"
    )
    with pytest.raises(ValueError, match=reason):
        evaluate(cfg)
    assert not (tmp_path / "eval" / "metrics.json").exists()
