"""A frontend that is a plain ``nn.Module`` (no ``drift()``, no ``trainable_parts()``) trains,
evaluates and gets its figures, the drift-only ones skipped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf, open_dict
from torch import nn

from kws.registry import REGISTRY
from kws.reporting.figures import frontend_figures
from kws.tasks import evaluate, train

TARGET = f"{__name__}.FrameEnergy"


class FrameEnergy(nn.Module):
    """Log energy of 160-sample frames in 40 bands of strided samples: ``(batch, 40, 100)``."""

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        frames = waveform.reshape(waveform.shape[0], 40, -1, 4)  # (batch, 40, 100, 4)
        return torch.log(frames.pow(2).mean(dim=-1) + 1e-6)


def test_a_plain_module_frontend_trains_evaluates_and_draws(
    compose_config, synthetic_overrides, tmp_path, monkeypatch
):
    monkeypatch.setitem(REGISTRY["frontend"], TARGET, FrameEnergy)
    cfg = compose_config([*synthetic_overrides, "model=linear", "trainer.max_epochs=2",
                          "trainer.enable_progress_bar=false",
                          "callbacks.frontend_figures.every_n_epochs=1"])  # fmt: skip
    with open_dict(cfg):
        cfg.frontend = OmegaConf.create({"_target_": TARGET})
    trained = train(cfg)
    assert trained["drift"] == {} and trained["parameters"]["frontend_trainable"] == 0
    assert trained["parameters"]["head_trainable"] == 40 * 100 * 12 + 12

    eval_cfg = compose_config(
        [f"ckpt_path={trained['checkpoint']}", f"output_dir={tmp_path / 'eval'}",
         "trainer.enable_progress_bar=false"], name="evaluate"
    )  # fmt: skip
    evaluated = evaluate(eval_cfg)
    assert evaluated["test/acc"] == pytest.approx(trained["test/acc"], abs=1e-6)  # float32 there
    written = sorted(p.name for p in (tmp_path / "eval").iterdir())
    assert written == ["confusion_matrix.csv", "confusion_matrix.png", "metrics.json"]
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text())["num_clips"] > 0
    assert frontend_figures(FrameEnergy()) == {}
    assert not list((Path(trained["checkpoint"]).parents[1] / "figures").rglob("*.png"))
