"""The recipes as the official BC-ResNet code runs them, and training as the recipes run it:
mixed precision, DDP on CPU (resuming: tests/test_resume.py)."""

from __future__ import annotations

import importlib
import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from hydra.utils import instantiate

from kws.data.augment import Augmentation
from kws.frontend import MelSpectrogram
from kws.models import SpecAugment
from kws.tasks import train
from kws.tasks.train import build_module as build
from kws.training import load_checkpoint, saved_datamodule

#: The module (``kws.tasks.train`` as an attribute is the function).
train_module = importlib.import_module("kws.tasks.train")

ROOT = Path(__file__).resolve().parents[1]


# The official code's frequency-mask parameter per tau (time masks: 20; no SpecAugment below 1.5).
OFFICIAL_FREQ_MASK = {"1": 0, "1.5": 1, "2": 3, "3": 5, "6": 7, "8": 7}


@pytest.mark.parametrize("tau", OFFICIAL_FREQ_MASK)
def test_bcresnet_recipes_train_on_a_fixed_log_mel(compose_config, tau):
    cfg = compose_config([f"experiment=bcresnet_{tau}"])
    assert cfg.frontend.trainable_stft is False and cfg.frontend.trainable_mel is False
    assert not any(p.requires_grad for p in instantiate(cfg.frontend).parameters())
    masks = cfg.module.spec_augment
    assert masks.freq_mask_width == OFFICIAL_FREQ_MASK[tau]
    assert masks.time_mask_width == (0 if tau == "1" else 20)


def test_the_trainable_mel_variant_changes_only_the_mel_basis(compose_config):
    fixed = compose_config(["experiment=bcresnet_1"])
    trained = compose_config(["experiment=bcresnet_1_trainable_mel"])
    assert trained.frontend.trainable_mel is True and trained.frontend.trainable_stft is False
    trained.frontend.trainable_mel = False
    assert trained == fixed


def test_only_the_clips_that_get_noise_are_shifted():
    """Official ``utils.py``: every silence clip and 80% of the others get noise and, with it, a
    time shift; the other clips come back bit for bit."""
    torch.manual_seed(0)
    clips = torch.linspace(-0.5, 0.5, 16000).repeat(400, 1)  # any shift changes a ramp
    silence = torch.arange(400) < 100
    silent_bank = torch.zeros(2, 32000)  # noise of amplitude 0: a noised clip is only shifted
    out = Augmentation(noise_prob=0.8)(clips, silent_bank, silence)
    unchanged = (out.view(torch.int32) == clips.view(torch.int32)).all(dim=1)
    assert not unchanged[silence].any()
    assert 0.12 < unchanged[~silence].float().mean() < 0.28  # the 20% without noise
    assert torch.equal(Augmentation(noise_prob=0.0)(clips, silent_bank, None), clips)


@pytest.mark.parametrize("width", [1, 3, 7])
def test_mask_widths_are_drawn_like_the_official_int_of_a_uniform(width):
    """``int(U(0, w))``: widths 0 to w - 1, so w = 1 never masks; a band may touch either edge."""
    torch.manual_seed(2)
    x = torch.rand(3000, 40, 3) + 1.0  # strictly positive: only a mask makes a 0
    out = SpecAugment(freq_mask_width=width, n_freq_masks=1).train()(x)
    rows_masked = (out == 0.0).all(dim=2)  # (B, F)
    assert set(rows_masked.sum(dim=1).tolist()) == set(range(width))
    if width > 1:
        assert rows_masked[:, 0].any() and rows_masked[:, -1].any()


def test_bf16_mixed_precision_trains_with_a_float32_frontend(
    compose_config, synthetic_overrides, monkeypatch
):
    seen = []  # (autocast on around the frontend, dtype of its output)
    forward = MelSpectrogram.forward

    def recording(self, waveform):
        out = forward(self, waveform)
        seen.append((torch.is_autocast_enabled("cpu"), out.dtype))
        return out

    monkeypatch.setattr(MelSpectrogram, "forward", recording)
    built, initial = [], {}  # the module train() builds, and its parameters as built

    def building(*args, **kwargs):
        built.append(build(*args, **kwargs))
        initial.update({n: p.detach().clone() for n, p in built[0].named_parameters()})
        return built[0]

    monkeypatch.setattr(train_module, "build_module", building)
    cfg = compose_config(
        [*synthetic_overrides, "+trainer.fast_dev_run=true", "trainer.precision=bf16-mixed",
         "frontend.trainable_stft=true", "module.scheduler.warmup_epochs=0"]
    )  # fmt: skip
    metrics = train(cfg)
    assert any(autocast for autocast, _ in seen)  # the training steps ran under autocast...
    assert {dtype for _, dtype in seen} == {torch.float32}  # ...and the frontend in float32
    # The one step trained every part (no step skipped for a non-finite gradient), and the
    # weights stayed float32.
    for name, parameter in built[0].named_parameters():
        assert parameter.dtype == torch.float32 and torch.isfinite(parameter).all(), name
        assert (parameter - initial[name]).abs().max() > 0, f"{name} did not move"
    # The loss it reports is float32's on those weights, to bf16's precision.
    datamodule = instantiate(cfg.data, _convert_="all")
    datamodule.setup("test")
    clips, labels = next(iter(datamodule.test_dataloader()))[:2]  # fast_dev_run: one batch
    with torch.no_grad():
        loss = F.cross_entropy(built[0].eval().spotter(clips).double(), labels)
    assert metrics["test/loss"] == pytest.approx(float(loss), rel=1e-3)


def _loopback_works() -> bool:
    try:
        with socket.create_server(("127.0.0.1", 0)):
            return True
    except OSError:
        return False


@pytest.mark.skipif(not _loopback_works(), reason="gloo needs the loopback interface")
def test_two_process_ddp_counts_what_one_process_counts(synthetic_root, tmp_path):
    """train.py with two gloo processes; its test accuracy, synchronised across ranks, equals
    one process's on the same checkpoint and data (a hung gloo fails by timeout, not forever)."""
    run_dir = tmp_path / "ddp"
    command = [
        sys.executable, "train.py", "data=synthetic", f"data.root={synthetic_root}",
        "model=linear", "trainer=ddp_cpu", "trainer.max_epochs=1", f"hydra.run.dir={run_dir}",
        "trainer.enable_progress_bar=false",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    written = json.loads((run_dir / "metrics.json").read_text())

    module = load_checkpoint(written["checkpoint"])
    datamodule = saved_datamodule(written["checkpoint"], module.checkpoint_metadata["datamodule"])
    trainer = pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False)
    one = trainer.test(module, datamodule=datamodule, verbose=False)[0]
    n_test = module.reports["test"].num_clips
    assert round(written["test/acc"] * n_test) == round(one["test/acc"] * n_test)
    assert written["test/acc"] == pytest.approx(one["test/acc"], abs=1e-6)


# A one-process gloo group; prints whether it is still up when the interpreter's exit begins.
EXIT_PROBE = """
import atexit, sys
import torch.distributed as dist
from kws.training.module import _end_process_group_at_exit
dist.init_process_group("gloo", init_method=f"file://{sys.argv[1]}", rank=0, world_size=1)
atexit.register(lambda: print("group up at exit:", dist.is_initialized()))  # runs last (LIFO)
if sys.argv[2] == "end":
    _end_process_group_at_exit()
    _end_process_group_at_exit()  # registered once however many stages set up
"""


@pytest.mark.skipif(not _loopback_works(), reason="gloo needs the loopback interface")
@pytest.mark.parametrize("mode, up", [("end", False), ("leave", True)])
def test_a_gloo_group_is_ended_before_the_process_exits(tmp_path, mode, up):
    """Left to the interpreter's shutdown, gloo's threads could abort a finished DDP run."""
    done = subprocess.run(
        [sys.executable, "-c", EXIT_PROBE, str(tmp_path / "store"), mode],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert done.stdout.strip() == f"group up at exit: {up}"
