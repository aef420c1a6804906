"""train.py and evaluate.py end to end through the compose API, as the command line runs them."""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from hydra.utils import get_object, instantiate
from omegaconf import OmegaConf

from kws.data.clip_format import SPEECH_COMMANDS_CLIPS
from kws.frontend import drift_of
from kws.tasks import common, evaluate, train
from kws.tasks.train import build_module
from kws.training import CheckpointError, load_checkpoint

#: The module (``kws.tasks.train`` as an attribute is the function).
train_module = importlib.import_module("kws.tasks.train")

CONF = Path(__file__).resolve().parents[1] / "conf"
PRIMARY = {"detector": "detect"}  # groups that only another entry point's config uses
GROUPS = sorted(p.name for p in CONF.iterdir() if p.is_dir() and p.name != "hydra")


@pytest.mark.parametrize(
    "override",
    [
        f"{group}={option.stem}"
        for group in GROUPS
        for option in sorted((CONF / group).glob("*.yaml"))
    ],
)
def test_every_config_composes_and_resolves(compose_config, override):
    name = PRIMARY.get(override.split("=")[0], "train")
    cfg = compose_config([override], name=name)
    OmegaConf.resolve(cfg)
    targets = list(_targets(OmegaConf.to_container(cfg)))
    if name == "train":
        assert "kws.training.KWSModule" in targets
    for target in targets:  # every `_target_` names something that imports
        assert get_object(target) is not None, target


def _targets(node: Any) -> Iterator[str]:
    """Every ``_target_`` value in a config tree."""
    if isinstance(node, dict):
        if "_target_" in node:
            yield node["_target_"]
        for value in node.values():
            yield from _targets(value)
    elif isinstance(node, list):
        for value in node:
            yield from _targets(value)


def test_evaluate_config_composes(compose_config):
    cfg = compose_config(["ckpt_path=some.ckpt", "data=synthetic"], name="evaluate")
    OmegaConf.resolve(cfg)
    assert cfg.split == "test" and cfg.data.test_set == "list"


def test_fast_dev_run_reports_the_models_scores_on_the_test_clips(
    compose_config, synthetic_overrides, monkeypatch
):
    """The default run (BC-ResNet-1 on a trainable Mel basis), one batch of each stage: the
    accuracy, macro F1 and loss it reports are the model's on the test clips, recounted here."""
    built = []  # the module train() builds, as training leaves it
    monkeypatch.setattr(
        train_module,
        "build_module",
        lambda *a, **k: built.append(build_module(*a, **k)) or built[0],
    )
    cfg = compose_config([*synthetic_overrides, "+trainer.fast_dev_run=true"])
    metrics = train(cfg)
    datamodule = instantiate(cfg.data, _convert_="all")
    datamodule.setup("test")
    clips, labels = next(iter(datamodule.test_dataloader()))[:2]  # fast_dev_run: one batch
    with torch.no_grad():
        logits = built[0].eval().spotter(clips)
    predicted = logits.argmax(dim=1)
    assert len(labels) == len(datamodule.datasets["test"])  # the whole test split
    assert metrics["test/acc"] == pytest.approx(
        float((predicted == labels).double().mean()), abs=1e-6
    )
    # Macro F1: per class labelled or predicted, 2 tp / (2 tp + fp + fn), averaged.
    hits = [(predicted == c, labels == c) for c in torch.cat([labels, predicted]).unique()]
    f1 = torch.stack(
        [2 * (ours & theirs).sum() / (ours.sum() + theirs.sum()) for ours, theirs in hits]
    )
    assert metrics["test/f1"] == pytest.approx(float(f1.mean()), abs=1e-6)
    assert metrics["test/loss"] == pytest.approx(
        float(torch.nn.functional.cross_entropy(logits.double(), labels)), rel=1e-5
    )
    written = json.loads((Path(cfg.output_dir) / "metrics.json").read_text())
    assert written["test/loss"] == pytest.approx(metrics["test/loss"])
    assert (Path(cfg.output_dir) / "config.yaml").is_file()


def test_train_then_evaluate_agree(compose_config, synthetic_overrides, tmp_path, monkeypatch):
    kept = []  # both entry points apply the process settings their config asks for
    monkeypatch.setattr(common, "keep_freed_memory", lambda: kept.append(True) or True)
    cfg = compose_config([*synthetic_overrides, "trainer.max_epochs=2", "model=linear"])
    trained = train(cfg)
    assert kept == [True]
    run_dir = Path(cfg.output_dir)
    assert {"val/acc", "test/acc", "test/loss"} <= set(trained)
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert Path(trained["checkpoint"]) == run_dir / "checkpoints" / "best.ckpt"
    assert not list(run_dir.rglob("*.tmp")), "no temporary checkpoint may be left behind"

    eval_cfg = OmegaConf.create(
        {"ckpt_path": trained["checkpoint"], "split": "test", "data": None,
         "output_dir": str(tmp_path / "eval"), "trainer": cfg.trainer, "keep_freed_memory": True}
    )  # fmt: skip
    evaluated = evaluate(eval_cfg)
    assert kept == [True, True]
    assert evaluated["test/acc"] == pytest.approx(trained["test/acc"], abs=1e-6)  # float32 there
    assert evaluated["test/loss"] == pytest.approx(trained["test/loss"], rel=1e-6)
    on_disk = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert on_disk["test/acc"] == evaluated["test/acc"]

    best = Path(trained["checkpoint"])
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(best.read_bytes()[: best.stat().st_size // 2])
    foreign = tmp_path / "foreign.ckpt"
    torch.save({"state_dict": {}, "epoch": 3}, foreign)
    tampered = tmp_path / "tampered.ckpt"
    checkpoint = torch.load(best, weights_only=True)
    checkpoint["hyper_parameters"]["frontend"]["_target_"] = "os.system"
    torch.save(checkpoint, tampered)
    cases = [
        (truncated, "not a readable checkpoint"),
        (foreign, "not a kws checkpoint"),
        (tampered, r"frontend._target_: 'os.system' is not one of"),
    ]
    for bad, reason in cases:
        with pytest.raises(CheckpointError, match=reason) as error:
            load_checkpoint(bad)
        assert str(bad) in str(error.value)


def test_missing_speech_commands_names_the_folder_and_the_offline_alternative(
    compose_config, tmp_path
):
    cfg = compose_config([f"data_dir={tmp_path / 'nowhere'}", "data.download=false"])
    with pytest.raises(FileNotFoundError) as error:
        train(cfg)
    message = str(error.value)
    assert str(tmp_path / "nowhere" / "speech_commands_v0.02") in message
    assert "data=synthetic" in message


def test_default_run_is_bcresnet1_with_trainable_mel_on_speech_commands(compose_config):
    cfg = compose_config()
    assert cfg.model._target_ == "kws.models.BCResNet" and cfg.model.tau == 1.0
    assert cfg.frontend.trainable_mel and not cfg.frontend.trainable_stft
    assert cfg.data.root.endswith("speech_commands_v0.02") and cfg.data.test_set == "official"


@pytest.mark.parametrize("frontend", sorted(p.stem for p in (CONF / "frontend").glob("*.yaml")))
def test_every_frontend_config_builds_a_model_that_runs(compose_config, frontend):
    cfg = compose_config([f"frontend={frontend}", "model=linear"])
    # With fixed and trained Fourier kernels where the frontend has the switch; the parametric
    # filterbanks (triangular, sinc, leaf) have none: their filters always train.
    switch = next((key for key in ("trainable_stft", "trainable") if key in cfg.frontend), None)
    for trainable in (False, True) if switch else (None,):
        if switch:
            cfg.frontend[switch] = trainable
        module = build_module(cfg, ["a", "b", "c"], SPEECH_COMMANDS_CLIPS)
        logits = module(0.1 * torch.randn(2, 16000))
        assert logits.shape == (2, 3) and torch.isfinite(logits).all()
        assert drift_of(module.spotter.frontend)  # every kws frontend reports its drift


def test_a_head_that_does_not_fit_the_frontend_fails_at_construction(compose_config):
    cfg = compose_config(["frontend=stft"])  # 257 bins: BC-ResNet needs 40 (or 80) mels
    with pytest.raises(ValueError, match=r"BCResNet does not take .*\(257, 101\)"):
        build_module(cfg, ["a", "b"], SPEECH_COMMANDS_CLIPS)
