"""Shared fixtures: a generated Speech Commands tree, DataModules over it, configs as the CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from kws.data.synthetic import generate

if TYPE_CHECKING:  # imported by the fixture: tests without a DataModule skip Lightning's import
    from kws.data import SpeechCommandsDataModule

CONF_DIR = str(Path(__file__).resolve().parents[1] / "conf")


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated data set in the exact Speech Commands layout, made once per test session."""
    return generate(tmp_path_factory.mktemp("data") / "synthetic_speech_commands", speakers=40)


@pytest.fixture
def root(synthetic_root: Path, tmp_path: Path) -> Path:
    """A private copy of the generated data set, so a test may plant bad files in it."""
    return Path(shutil.copytree(synthetic_root, tmp_path / "speech_commands"))


@pytest.fixture
def datamodule() -> Callable[..., SpeechCommandsDataModule]:
    """``datamodule(root, **settings)``: a DataModule over ``root`` that tests on
    testing_list.txt (a generated tree has no official test set)."""
    from kws.data import SpeechCommandsDataModule

    def _datamodule(root: Path, **settings) -> SpeechCommandsDataModule:
        return SpeechCommandsDataModule(root=str(root), test_set="list", **settings)

    return _datamodule


@pytest.fixture
def compose_config(tmp_path: Path) -> Callable[..., DictConfig]:
    """Compose ``conf/<name>.yaml`` with overrides, its outputs under this test's tmp_path."""

    def _compose(overrides: list[str] = (), name: str = "train") -> DictConfig:
        with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
            return compose(name, overrides=[f"output_dir={tmp_path / 'run'}", *overrides])

    return _compose


@pytest.fixture
def synthetic_overrides(synthetic_root: Path) -> list[str]:
    """Overrides that point ``data=synthetic`` at the session's generated tree."""
    return ["data=synthetic", f"data.root={synthetic_root}"]


ROOT = Path(__file__).resolve().parents[1]


def _trained(run_dir: Path, synthetic_root: Path, *overrides: str) -> Path:
    """``train.py`` with ``overrides`` on the synthetic data into ``run_dir``, no warm-up, no
    progress bar; its last checkpoint."""
    from kws.tasks import train

    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[f"output_dir={run_dir}", "data=synthetic", f"data.root={synthetic_root}",
                       *overrides, "module.scheduler.warmup_epochs=0",
                       "trainer.enable_progress_bar=false"],
        )  # fmt: skip
    train(cfg)
    return run_dir / "checkpoints" / "last.ckpt"


@pytest.fixture(scope="session")
def linear_checkpoint(tmp_path_factory: pytest.TempPathFactory, synthetic_root: Path) -> Path:
    """A linear model on a trainable Mel basis, trained 4 epochs on the synthetic data: enough
    to predict many classes, right and wrong. Shared by the evaluate and detect tests."""
    run_dir = tmp_path_factory.mktemp("trained")
    return _trained(run_dir, synthetic_root, "model=linear", "trainer.max_epochs=4")


@pytest.fixture(scope="session")
def causal_checkpoint(tmp_path_factory: pytest.TempPathFactory, synthetic_root: Path) -> Path:
    """A causal BC-ResNet-1 (``model.causal=true``) on a fixed log-Mel, trained 3 epochs on
    the synthetic data: a model that streams frame by frame, with trained weights and batch
    statistics."""
    run_dir = tmp_path_factory.mktemp("causal")
    return _trained(
        run_dir, synthetic_root, "model=bcresnet", "model.causal=true",
        "frontend.trainable_mel=false", "trainer.max_epochs=3",
    )  # fmt: skip


def run_command(script: str, *overrides: str, cwd: Path) -> subprocess.CompletedProcess:
    """``python SCRIPT OVERRIDES...`` as a user runs it (no ``HYDRA_FULL_ERROR``), in ``cwd``."""
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    return subprocess.run(
        [sys.executable, str(ROOT / script), *overrides, "hydra.run.dir=hydra"],
        cwd=cwd, capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
