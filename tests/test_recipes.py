"""Training as the recipes run it: resume after an interruption, mixed precision, DDP on CPU."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

from kws.data.speech_commands import SpeechCommandsDataModule
from kws.frontend import MelSpectrogram
from kws.module import load_checkpoint
from kws.tasks import train

ROOT = Path(__file__).resolve().parents[1]

FAST = ["trainer.max_epochs=4", "trainer.deterministic=true", "seed=3", "test_ckpt=last"]


class StopAfterEpoch(pl.Callback):
    """Ends fitting after ``epoch`` (0-based), as a killed job would, once its checkpoint is out."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.current_epoch == self.epoch and not trainer.sanity_checking:
            trainer.should_stop = True


def test_a_resumed_run_ends_exactly_like_an_uninterrupted_one(
    compose_config, synthetic_overrides, tmp_path
):
    base = [*synthetic_overrides, *FAST, "data.batch_size=64"]
    whole = train(compose_config([*base, f"output_dir={tmp_path / 'whole'}"]))

    interrupted_cfg = compose_config(
        [*base, f"output_dir={tmp_path / 'cut'}",
         f"+callbacks.stop._target_={__name__}.StopAfterEpoch", "+callbacks.stop.epoch=1"]
    )  # fmt: skip
    train(interrupted_cfg)
    last = tmp_path / "cut" / "checkpoints" / "last.ckpt"
    resumed = train(
        compose_config([*base, f"output_dir={tmp_path / 'resumed'}", f"ckpt_path={last}"])
    )
    assert resumed["epochs"] == whole["epochs"] == 4
    for key in ("val/acc", "val/loss", "test/acc", "test/loss"):
        assert resumed[key] == whole[key], key


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
    cfg = compose_config(
        [*synthetic_overrides, "+trainer.fast_dev_run=true", "trainer.precision=bf16-mixed",
         "frontend.trainable_stft=true"]
    )  # fmt: skip
    metrics = train(cfg)
    assert 0.0 <= metrics["test/acc"] <= 1.0 and metrics["test/loss"] == metrics["test/loss"]
    assert any(autocast for autocast, _ in seen)  # the training steps ran under autocast...
    assert {dtype for _, dtype in seen} == {torch.float32}  # ...and the frontend in float32


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
    datamodule = SpeechCommandsDataModule(**module.checkpoint_metadata["datamodule"])
    trainer = pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False)
    one = trainer.test(module, datamodule=datamodule, verbose=False)[0]
    n_test = len(datamodule.datasets["test"])
    assert round(written["test/acc"] * n_test) == round(one["test/acc"] * n_test)
    assert written["test/acc"] == pytest.approx(one["test/acc"], abs=1e-6)


# A one-process gloo group; prints whether it is still up when the interpreter's exit begins.
EXIT_PROBE = """
import atexit, sys
import torch.distributed as dist
from kws.module import _end_process_group_at_exit
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
