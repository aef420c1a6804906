"""Train and evaluate from a composed Hydra config; ``train.py`` and ``evaluate.py`` call these.

They take the config as an argument (not through ``@hydra.main``) so tests can compose a
config with Hydra's compose API and run exactly what the command line runs.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from kws.data.speech_commands import SpeechCommandsDataModule
from kws.io import AtomicCheckpointIO, write_json
from kws.module import KWSModule, load_checkpoint

log = logging.getLogger(__name__)


def _trainer(cfg: DictConfig, **kwargs: Any) -> pl.Trainer:
    return instantiate(cfg.trainer, plugins=[AtomicCheckpointIO()], **kwargs)


def _first(results: list[dict[str, float]]) -> dict[str, float]:
    return {key: float(value) for key, value in results[0].items()}


def train(cfg: DictConfig) -> dict[str, Any]:
    """Fit, then validate and test the chosen checkpoint; write config and ``metrics.json``."""
    output_dir = Path(cfg.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(cfg, output_dir / "config.yaml", resolve=True)
    pl.seed_everything(cfg.seed, workers=True)

    datamodule: SpeechCommandsDataModule = instantiate(cfg.data, _convert_="all")
    datamodule.prepare_data()
    module: KWSModule = instantiate(cfg.module, class_names=datamodule.class_names)
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values()]
    loggers = [instantiate(c) for c in (cfg.get("logger") or {}).values()]
    trainer = _trainer(cfg, callbacks=callbacks, logger=loggers or False)
    trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))

    checkpoint = trainer.checkpoint_callback
    chosen = None
    if checkpoint is not None and not trainer.fast_dev_run:
        chosen = (
            checkpoint.best_model_path if cfg.test_ckpt == "best" else checkpoint.last_model_path
        )
    val = _first(trainer.validate(module, datamodule=datamodule, ckpt_path=chosen, verbose=False))
    test = _first(trainer.test(module, datamodule=datamodule, ckpt_path=chosen))
    metrics = {**val, **test, "checkpoint": chosen, "epochs": trainer.current_epoch}
    write_json(output_dir / "metrics.json", metrics)
    log.info("metrics written to %s", output_dir / "metrics.json")
    return metrics


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Rebuild a model from ``cfg.ckpt_path`` alone and score it on ``cfg.split``."""
    if cfg.split not in ("test", "val"):
        raise ValueError(f"split must be 'test' or 'val', got {cfg.split!r}")
    output_dir = Path(cfg.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    module = load_checkpoint(cfg.ckpt_path)
    if cfg.get("data") is not None:
        datamodule = instantiate(cfg.data, _convert_="all")
    else:
        datamodule = SpeechCommandsDataModule(**module.checkpoint_metadata["datamodule"])
    if datamodule.class_names != module.class_names:
        raise ValueError(
            f"{cfg.ckpt_path}: the model's classes {module.class_names} differ from the data's "
            f"{datamodule.class_names}"
        )
    datamodule.prepare_data()
    trainer = _trainer(cfg, logger=False)
    run = trainer.test if cfg.split == "test" else trainer.validate
    metrics = {**_first(run(module, datamodule=datamodule)), "checkpoint": str(cfg.ckpt_path)}
    write_json(output_dir / "metrics.json", metrics)
    print(f"{cfg.split} accuracy: {metrics[f'{cfg.split}/acc']:.4f}  ({cfg.ckpt_path})")
    return metrics
