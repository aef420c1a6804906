"""What a person sees: a misspelled setting is one line naming the nearest key, every missing
value is listed at once, epochs count out of the total, and Lightning's and torch's chatter stays
out of the console and the log files."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from conftest import CONF_DIR, ROOT, run_command
from torch.utils.data import DataLoader, TensorDataset

from kws.tasks.console import missing_settings, unknown_settings
from kws.training.progress import EpochBar, EpochLines

# What a normal run printed before: advertisements, device lines, repeated restores, warnings a
# user cannot act on, and terminal escapes in output that is no terminal.
CHATTER = [
    "💡",
    "litlogger",
    "GPU available",
    "TPU available",
    "Loading `train_dataloader`",
    "Restoring states from the checkpoint",
    "Loaded model weights from the checkpoint",
    "smaller than the logging interval",
    "LeafSpec",
    "\r",
    "\x1b",
]


@pytest.mark.parametrize(
    "sweep",
    [[], pytest.param(["-m", "seed=0,1"], marks=pytest.mark.slow)],
    ids=["run", "multirun"],
)
def test_a_misspelled_setting_is_one_line_naming_the_nearest(tmp_path, sweep):
    result = run_command("train.py", *sweep, "trainer.max_epoch=1", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: trainer.max_epoch is not a setting; did you mean trainer.max_epochs?"
    ]
    assert list(tmp_path.iterdir()) == []  # refused before Hydra made a run folder


def test_unknown_settings_are_found_all_at_once_against_the_chosen_groups():
    overrides = [
        "model=linear",
        "model.tau=2",  # BC-ResNet's, not the linear model's
        "trainr.max_epochs=3",
        "seeed=1",
        "frontend.n_mel=20",
        "hydra.run.dri=x",
        "trainer.wibble=1",
        "+trainer.limit_train_batches=2",  # added on purpose
        "trainer.max_epochs=2",
        "hydra.run.dir=x",
    ]
    assert unknown_settings(CONF_DIR, "train", overrides) == {
        "model.tau": [],
        "trainr.max_epochs": ["trainer.max_epochs"],
        "seeed": ["seed"],
        "frontend.n_mel": ["frontend.n_mels"],
        "hydra.run.dri": ["hydra.run.dir"],
        "trainer.wibble": [],
    }
    assert unknown_settings(CONF_DIR, "train", ["model=bcresnet", "model.tau=2"]) == {}


def test_sweeps_are_checked_with_their_first_values():
    sweep = ["model=glob(*,exclude=bcresnet)", "seed=0,1,2", "trainer.max_epochs=range(1,3)"]
    assert unknown_settings(CONF_DIR, "train", sweep) == {}
    assert unknown_settings(CONF_DIR, "train", [*sweep, "sed=0,1", "model.tau=1"]) == {
        "sed": ["seed"],
        "model.tau": [],  # the glob's first model is the linear one
    }


def test_every_missing_value_is_listed_at_once(compose_config, tmp_path):
    assert missing_settings(compose_config(["data=folder"])) == ["data.root", "data.keywords"]
    assert missing_settings(compose_config(["data=folder", "data.root=x"])) == ["data.keywords"]
    result = run_command("train.py", "data=folder", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: data.root and data.keywords need a value: add data.root=... data.keywords=... "
        "to the command"
    ]
    assert "Seed set" not in result.stdout + result.stderr  # no work started


class _Tiny(pl.LightningModule):
    """A one-weight regression, to drive a real Trainer through its epochs."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(1, 1)

    def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = torch.nn.functional.mse_loss(self.layer(batch[0]), batch[1])
        self.log("train/loss", loss, prog_bar=True, on_step=False, on_epoch=True)
        return loss

    def on_train_epoch_end(self) -> None:  # as KWSModule logs train/acc: after the callbacks'
        self.log("train/epoch", float(self.current_epoch), prog_bar=True)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _fit(bar: pl.Callback, max_epochs: int) -> None:
    data = DataLoader(TensorDataset(torch.ones(8, 1), torch.zeros(8, 1)), batch_size=4)
    trainer = pl.Trainer(
        max_epochs=max_epochs, callbacks=[bar], logger=False, enable_checkpointing=False,
        enable_model_summary=False, accelerator="cpu",
    )  # fmt: skip
    trainer.fit(_Tiny(), data)


def test_the_bar_counts_epochs_out_of_the_total(capsys):
    _fit(EpochBar(), max_epochs=3)
    out = capsys.readouterr().out
    assert "Epoch 3/3: 100%" in out and "Epoch 1/3" in out
    assert "Epoch 0" not in out


def test_without_a_terminal_each_epoch_is_one_line(caplog):
    with caplog.at_level(logging.INFO, logger="kws.training.progress"):
        _fit(EpochLines(), max_epochs=2)
    lines = [r.getMessage() for r in caplog.records if r.name == "kws.training.progress"]
    assert [line.split(":")[0] for line in lines] == ["Epoch 1/2", "Epoch 2/2"]
    # each line shows its own epoch's values, those logged at its very end included
    assert "train/epoch 0," in lines[0] and "train/epoch 1," in lines[1]
    assert "train/loss" in lines[0] and "\r" not in "".join(lines)


def test_a_run_shows_epochs_out_of_the_total_and_no_chatter(tmp_path, synthetic_root):
    result = run_command(
        "train.py", "data=synthetic", f"data.root={synthetic_root}", "model=linear",
        "trainer.max_epochs=2", "trainer.log_every_n_steps=50", cwd=tmp_path,
    )  # fmt: skip
    shown = result.stdout + result.stderr
    assert result.returncode == 0, shown
    assert [chatter for chatter in CHATTER if chatter in shown] == []
    log = (tmp_path / "hydra" / "train.log").read_text()
    for text in (shown, log):
        assert "Epoch 1/2: " in text and "Epoch 2/2: " in text
        assert text.count("testing the best checkpoint") == 1


@pytest.mark.slow
def test_export_prints_no_warnings_a_user_cannot_act_on(tmp_path, linear_checkpoint):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    result = subprocess.run(
        [sys.executable, "-m", "kws.export", str(linear_checkpoint), str(tmp_path / "out")],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    shown = result.stdout + result.stderr
    for chatter in ("torchvision is not installed", "Warning", "LeafSpec"):
        assert chatter not in shown
    assert Path(tmp_path / "out" / "spotter.onnx").is_file()
