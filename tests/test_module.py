"""The LightningModule: the frontend's own optimiser group, and trainable means trained."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

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
