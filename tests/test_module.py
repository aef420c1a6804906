"""The LightningModule: the frontend's own optimiser group, trainable means trained, and a loss
that is no longer finite stops training, naming where."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from conftest import run_command
from torch.utils.data import DataLoader, TensorDataset

from kws.data import KEYWORDS, SILENCE, UNKNOWN
from kws.training import KWSModule

CLASSES = [SILENCE, UNKNOWN, *KEYWORDS]


def make_module(trainable_stft: bool, trainable_mel: bool) -> KWSModule:
    return KWSModule(
        frontend={
            "_target_": "kws.frontend.MelSpectrogram",
            "trainable_stft": trainable_stft,
            "trainable_mel": trainable_mel,
        },
        model={"_target_": "kws.models.BCResNet", "tau": 1.0},
        class_names=CLASSES,
        optimizer={"_target_": "torch.optim.SGD", "lr": 0.1, "momentum": 0.9},
        frontend_optimizer={"lr": 0.01, "weight_decay": 0.0},
    )


def one_step(module: KWSModule) -> None:
    torch.manual_seed(0)
    optimizer = module.configure_optimizers()["optimizer"]
    waveforms, labels = 0.1 * torch.randn(4, 16000), torch.tensor([0, 1, 2, 11])
    loss = F.cross_entropy(module(waveforms), labels)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


@pytest.mark.parametrize("trainable_stft", [False, True])
@pytest.mark.parametrize("trainable_mel", [False, True])
def test_one_step_moves_exactly_the_trainable_bases(trainable_stft, trainable_mel):
    module = make_module(trainable_stft, trainable_mel)
    frontend = module.spotter.frontend
    kernels, basis = frontend.stft.kernels.clone(), frontend.mel_basis.clone()
    one_step(module)
    assert torch.equal(frontend.stft.kernels, kernels) is not trainable_stft
    assert torch.equal(frontend.mel_basis, basis) is not trainable_mel


def test_frontend_has_its_own_parameter_group():
    module = make_module(trainable_stft=True, trainable_mel=True)
    groups = module.configure_optimizers()["optimizer"].param_groups
    by_name = {group["name"]: group for group in groups}
    frontend = by_name["frontend"]
    assert frontend["lr"] == 0.01 and frontend["weight_decay"] == 0.0
    assert by_name["model"]["lr"] == 0.1
    assert {id(p) for p in frontend["params"]} == {
        id(module.spotter.frontend.stft.kernels),
        id(module.spotter.frontend.mel_basis),
    }
    head_params = sum(p.numel() for p in by_name["model"]["params"])
    assert head_params == 9232  # BC-ResNet-1, the paper's count


def test_frozen_frontend_leaves_no_empty_group():
    groups = make_module(False, False).configure_optimizers()["optimizer"].param_groups
    assert [group["name"] for group in groups] == ["model"]


def nan_run(folder: Path, batch: int, check_every: int) -> tuple[pl.Trainer, KWSModule, DataLoader]:
    """A linear spotter, a Trainer for one epoch that saves a checkpoint at its end into
    ``folder``, and 8 batches of 4 clips, the first clip of ``batch`` NaN."""
    torch.manual_seed(0)
    module = KWSModule(
        frontend={"_target_": "kws.frontend.MelSpectrogram"},
        model={"_target_": "kws.models.LinearClassifier"},
        class_names=CLASSES,
        optimizer={"_target_": "torch.optim.SGD", "lr": 0.01},
    )
    waveforms = 0.1 * torch.randn(32, 16000)
    waveforms[4 * batch, 100] = torch.nan
    labels = torch.arange(32) % len(CLASSES)
    trainer = pl.Trainer(
        max_epochs=1, logger=False, enable_progress_bar=False, enable_model_summary=False,
        limit_val_batches=0, log_every_n_steps=check_every,
        callbacks=[pl.callbacks.ModelCheckpoint(dirpath=folder, save_last=True)],
    )  # fmt: skip
    return trainer, module, DataLoader(TensorDataset(waveforms, labels), batch_size=4)


def test_a_nan_loss_stops_training_naming_the_epoch_and_batch(tmp_path):
    trainer, module, loader = nan_run(tmp_path, batch=3, check_every=3)
    with pytest.raises(FloatingPointError, match=r"loss became nan at epoch 1, batch 4 "):
        trainer.fit(module, loader)
    # Looked at on the host as often as the loss is logged: after batch 5, not at the end.
    assert trainer.global_step == 6


def test_a_nan_loss_in_the_last_batch_leaves_no_checkpoint(tmp_path):
    # Too few batches for a look on the host: the epoch's end looks before anything is saved.
    trainer, module, loader = nan_run(tmp_path, batch=7, check_every=50)
    with pytest.raises(FloatingPointError, match=r"loss became nan at epoch 1, batch 8 "):
        trainer.fit(module, loader)
    assert trainer.global_step == 8
    assert list(tmp_path.iterdir()) == []


def test_a_run_whose_loss_diverges_exits_1_and_writes_no_metrics(synthetic_overrides, tmp_path):
    result = run_command(
        "train.py", *synthetic_overrides, "model=linear", "trainer.max_epochs=1",
        "module.optimizer.lr=1e30", "module.scheduler.warmup_epochs=0",
        "trainer.enable_progress_bar=false", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "error: training stopped: the loss became" in errors[0]
    assert "at epoch 1, batch " in errors[0]
    assert (tmp_path / "hydra" / "config.yaml").is_file()
    assert not (tmp_path / "hydra" / "metrics.json").exists()
