"""kws.reporting.compare: runs grouped by setting, seeds averaged, sizes and drift read; the
sweep hooks."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from matplotlib.image import imread
from omegaconf import OmegaConf

import kws.training.callbacks
from kws.reporting.compare import main, write_comparison
from kws.tasks import train
from kws.training.callbacks import SweepReport

ROOT = Path(__file__).resolve().parents[1]


def make_run(
    run_dir: Path,
    seed: int,
    trainable_mel: bool,
    test_acc: float,
    lr: float = 0.1,
    mel_change: float = 0.0,
) -> None:
    """A finished run folder as train.py leaves it, minus checkpoints and logs."""
    run_dir.mkdir(parents=True)
    frontend = {"_target_": "kws.frontend.MelSpectrogram", "trainable_stft": False,
                "trainable_mel": trainable_mel}  # fmt: skip
    config = {
        "seed": seed,
        "output_dir": str(run_dir),
        "frontend": frontend,
        "model": {"_target_": "kws.models.BCResNet", "tau": 1.0},
        "module": {"optimizer": {"lr": lr}},
        "data": {"seed": seed, "root": "data/synthetic"},
        "logger": {"csv": {"save_dir": str(run_dir)}},
        "callbacks": {"model_checkpoint": {"dirpath": f"{run_dir}/checkpoints"}},
        "trainer": {"enable_progress_bar": seed % 2 == 0},
    }
    OmegaConf.save(OmegaConf.create(config), run_dir / "config.yaml")
    metrics = {
        "val/acc": test_acc + 0.01, "test/acc": test_acc, "test/f1": test_acc - 0.02,
        "parameters": {"head_trainable": 9232, "frontend_trainable": 10280 * trainable_mel},
        "drift": {"mel_basis_change": mel_change, "stft_kernel_change": 0.0},
    }  # fmt: skip
    (run_dir / "metrics.json").write_text(json.dumps(metrics))


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as file:
        return list(csv.DictReader(file))


def test_runs_differing_only_in_seed_form_one_setting(tmp_path):
    sweep = tmp_path / "sweep"
    accuracies = {(False, 0): 0.80, (False, 1): 0.84, (False, 2): 0.83, (True, 0): 0.90}
    for job, ((mel, seed), acc) in enumerate(accuracies.items()):
        make_run(sweep / str(job), seed, mel, acc, mel_change=0.05 * mel * (seed + 1))
    make_run(sweep / "4", 0, True, 0.7, lr=0.01, mel_change=0.2)
    (sweep / "5").mkdir()
    OmegaConf.save(OmegaConf.create({"seed": 9}), sweep / "5" / "config.yaml")  # unfinished
    for not_a_run in (sweep / "0" / ".hydra", sweep / "0" / "wandb" / "run-1" / "files"):
        not_a_run.mkdir(parents=True)
        (not_a_run / "config.yaml").write_text("seed: 0\n")

    paths = write_comparison([sweep], sweep)
    assert [p.name for p in paths] == ["comparison.md", "comparison.csv", "comparison.png"]
    rows = read_rows(sweep / "comparison.csv")
    assert [(r["trainable_mel"], r["setting"], r["n_seeds"]) for r in rows] == [
        ("False", "module.optimizer.lr=0.1", "3"),
        ("True", "module.optimizer.lr=0.01", "1"),
        ("True", "module.optimizer.lr=0.1", "1"),
    ]
    fixed = rows[0]
    assert float(fixed["test_acc_mean"]) == pytest.approx(np.mean([0.80, 0.84, 0.83]))
    assert float(fixed["test_acc_std"]) == pytest.approx(np.std([0.80, 0.84, 0.83], ddof=1))
    assert float(fixed["val_acc_mean"]) == pytest.approx(np.mean([0.81, 0.85, 0.84]))
    assert fixed["seeds"] == "0;1;2" and int(fixed["head_params"]) == 9232
    assert (
        int(fixed["frontend_trainable_params"]) == 0
        and int(rows[1]["frontend_trainable_params"]) == 10280
    )
    assert float(fixed["mel_basis_change"]) == 0.0
    assert rows[2]["test_acc_std"] == "" and float(rows[2]["mel_basis_change"]) == 0.05
    assert float(rows[1]["mel_basis_change"]) == pytest.approx(0.2)  # as metrics.json says

    markdown = (sweep / "comparison.md").read_text()
    assert "# Comparison: 5 runs in 3 settings" in markdown
    assert "| module.optimizer.lr=0.1 | BCResNet τ=1 | MelSpectrogram | fixed | fixed |" in markdown
    assert "82.33 ± 2.08" in markdown and "3 (0, 1, 2)" in markdown
    skipped = markdown.split("Skipped")[1]
    assert "`5`" in skipped and ".hydra" not in skipped and "wandb" not in skipped
    height, width, _ = imread(sweep / "comparison.png").shape
    assert width >= 1000 and height >= 500


def test_sizes_and_drift_are_what_training_wrote(tmp_path, compose_config, synthetic_overrides):
    cfg = compose_config(
        [
            *synthetic_overrides,
            "model=linear",
            "frontend.trainable_stft=true",
            "+trainer.fast_dev_run=true",
            "module.scheduler=null",
            f"output_dir={tmp_path / 'runs' / 'one'}",
        ]
    )
    train(cfg)
    write_comparison([tmp_path / "runs"], tmp_path / "report")
    (row,) = read_rows(tmp_path / "report" / "comparison.csv")
    assert int(row["head_params"]) == 40 * 101 * 12 + 12
    assert int(row["frontend_trainable_params"]) == 2 * 257 * 480 + 40 * 257
    for key in ("mel_basis_change", "stft_kernel_change"):  # one SGD step: moved, not gone
        assert 0.0 < float(row[key]) < 0.5, key


def end_sweep(sweep_dir: Path) -> None:
    SweepReport().on_multirun_end(OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep_dir)}}}))


def test_sweep_report_writes_into_the_sweep_folder(tmp_path, caplog):
    make_run(tmp_path / "sweep" / "0", seed=0, trainable_mel=False, test_acc=0.8)
    end_sweep(tmp_path / "sweep")
    assert "| 80.00 |" in (tmp_path / "sweep" / "comparison.md").read_text()
    empty = tmp_path / "empty"
    empty.mkdir()
    end_sweep(empty)  # e.g. a sweep of evaluate.py: a warning, no report, no failure
    assert "no comparison report" in caplog.text and not list(empty.iterdir())


def test_cli_explains_a_folder_without_runs(tmp_path):
    with pytest.raises(SystemExit, match="error: no finished training run"):
        main([str(tmp_path)])
    with pytest.raises(SystemExit, match="not a folder"):
        main([str(tmp_path / "missing")])


@pytest.fixture
def hydra_multirun_job():
    """Hydra's state inside job 1 of a sweep, as ``HydraConfig.get()`` reports it to a job."""
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", return_hydra_config=True, overrides=["output_dir=x"])
    cfg.hydra.mode = RunMode.MULTIRUN
    cfg.hydra.sweep.dir = "multirun/train/2026-01-01_00-00-00"
    cfg.hydra.job.override_dirname = "frontend.trainable_mel=true,seed=1"
    HydraConfig.instance().set_config(cfg)
    yield cfg
    HydraConfig.instance().cfg = None


def test_hydra_runs_the_sweep_report_after_every_sweep(hydra_multirun_job):
    callback = hydra_multirun_job.hydra.callbacks.sweep_report
    assert isinstance(instantiate(callback), SweepReport)


def test_wandb_runs_of_a_sweep_share_its_folder_as_group(hydra_multirun_job, monkeypatch):
    monkeypatch.setattr(
        kws.training.callbacks, "WandbLogger", dict
    )  # records what W&B would be given
    assert kws.training.callbacks.wandb_logger(project="kws") == {
        "project": "kws",
        "group": "multirun/train/2026-01-01_00-00-00",
        "name": "frontend.trainable_mel=true,seed=1",
    }
    assert kws.training.callbacks.wandb_logger(group="mine", name="run")["group"] == "mine"
    HydraConfig.instance().cfg = None  # a single run: W&B's own defaults
    assert kws.training.callbacks.wandb_logger() == {"group": None, "name": None}


@pytest.mark.slow
def test_a_sweep_writes_its_comparison_and_closes_each_wandb_run(tmp_path, synthetic_root):
    sweep = tmp_path / "sweep"
    command = [
        sys.executable, str(ROOT / "train.py"), "-m", "data=synthetic",
        f"data.root={synthetic_root}", "model=linear", "logger=many", "trainer.max_epochs=1",
        "+trainer.limit_train_batches=2", "trainer.enable_progress_bar=false",
        "frontend.trainable_mel=false,true", "seed=0,1", f"hydra.sweep.dir={sweep}",
    ]  # fmt: skip
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    subprocess.run(command, cwd=tmp_path, env=env, check=True, timeout=600, capture_output=True)
    rows = read_rows(sweep / "comparison.csv")
    assert [(r["trainable_mel"], r["n_seeds"]) for r in rows] == [("False", "2"), ("True", "2")]
    for job, mel, seed in [(0, "False", 0), (1, "False", 1), (2, "True", 0), (3, "True", 1)]:
        (records,) = (sweep / str(job) / "wandb").glob("offline-run-*/run-*.wandb")
        content = records.read_bytes()
        assert f"frontend.trainable_mel={mel}".encode() in content  # the job's own run name
        assert f"seed={seed}".encode() in content
