"""Train and evaluate from a composed Hydra config; ``train.py`` and ``evaluate.py`` call these.

They take the config as an argument (not through ``@hydra.main``) so tests can compose a
config with Hydra's compose API and run exactly what the command line runs.
"""

from __future__ import annotations

import csv
import inspect
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from kws.allocator import keep_freed_memory
from kws.callbacks import PredictionRecorder
from kws.data.speech_commands import SpeechCommandsDataModule
from kws.io import AtomicCheckpointIO, atomic_write, write_json
from kws.module import CheckpointError, KWSModule, check_resume, load_checkpoint
from kws.registry import is_plain_data
from kws.viz import confusion_matrix_figure, frontend_figures, save_figures

log = logging.getLogger(__name__)
T = TypeVar("T")


def report_errors(task: Callable[[DictConfig], T], cfg: DictConfig) -> T:
    """Run ``task(cfg)`` as a command: a failure prints one ``error: ...`` message to stderr and
    exits with status 1, without a traceback unless ``debug=true`` or ``HYDRA_FULL_ERROR=1``.

    Args:
        task: ``train`` or ``evaluate``.
        cfg: the composed config; its ``debug`` key (default false) lets errors through.
    """
    if cfg.get("debug") or os.environ.get("HYDRA_FULL_ERROR") == "1":
        return task(cfg)
    try:
        return task(cfg)
    except Exception as error:  # noqa: BLE001 - every failure becomes one message
        named = isinstance(error, ValueError | OSError) and str(error)
        message = str(error).strip() if named else f"{type(error).__name__}: {error}".strip()
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(1) from None


def _build(config: Any, **kwargs: Any) -> Any:
    """``hydra.utils.instantiate``, raising what the built class raised rather than Hydra's
    wrapper, so a bad setting keeps its own error type and message."""
    try:
        return instantiate(config, **kwargs)
    except InstantiationException as error:
        if isinstance(error.__cause__, Exception):
            raise error.__cause__ from None
        raise


def _trainer(cfg: DictConfig, **kwargs: Any) -> pl.Trainer:
    if cfg.trainer.get("strategy") == "ddp" and _local_multirun():
        # Plain ddp starts the other ranks by re-running the command line, which under -m
        # would relaunch the whole sweep; spawning keeps them inside this job.
        log.info("multirun: using strategy ddp_spawn instead of ddp")
        kwargs["strategy"] = "ddp_spawn"
    return _build(cfg.trainer, plugins=[AtomicCheckpointIO()], **kwargs)


def _local_multirun() -> bool:
    """A sweep whose jobs run in this process (not on SLURM, where each task is one rank)."""
    return (
        HydraConfig.initialized()
        and HydraConfig.get().mode == RunMode.MULTIRUN
        and "SLURM_NTASKS" not in os.environ
    )


def _process_settings(cfg: DictConfig) -> None:
    """Process-wide settings a config asks for, before any tensor is made."""
    if cfg.get("keep_freed_memory") and keep_freed_memory():
        log.info("keep_freed_memory: freed CPU memory stays in the process for reuse")


def _first(results: list[dict[str, float]]) -> dict[str, float]:
    return {key: float(value) for key, value in results[0].items()}


def check_train_config(cfg: DictConfig) -> None:
    """Settings that would otherwise fail only after training, or train nothing: one
    ``ValueError`` naming the key, before any work starts."""
    if cfg.test_ckpt not in ("best", "last"):
        raise ValueError(f"test_ckpt must be 'best' or 'last', got {cfg.test_ckpt!r}")
    for key in ("max_epochs", "max_steps"):
        value = cfg.trainer.get(key)
        if value is None or value == -1:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(
                f"trainer.{key} must be a positive integer (or -1 for no limit), got {value!r}"
            )


def resume_folder(ckpt_path: str | Path) -> Path:
    """The run folder a checkpoint belongs to (``RUN/checkpoints/NAME.ckpt`` beside
    ``RUN/config.yaml``): a resumed run goes on there, so its best-checkpoint tracking, logs and
    ``metrics.json`` continue as if it had never stopped.

    Args:
        ckpt_path: the checkpoint to resume from.

    Raises:
        FileNotFoundError: the file is missing or does not sit in such a run folder.
    """
    path = Path(ckpt_path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"ckpt_path={ckpt_path}: no such checkpoint file")
    run = path.parent.parent
    if path.parent.name != "checkpoints" or not (run / "config.yaml").is_file():
        raise FileNotFoundError(
            f"ckpt_path={ckpt_path}: resuming needs the checkpoint in its run folder "
            "(RUN/checkpoints/NAME.ckpt beside RUN/config.yaml), where training goes on"
        )
    return run


def train(cfg: DictConfig) -> dict[str, Any]:
    """Fit, then validate and test the chosen checkpoint; write config and ``metrics.json``.

    With ``cfg.ckpt_path`` the run resumes in the checkpoint's own run folder (``resume_folder``)
    after ``check_resume`` has matched the checkpoint to the configured model and classes.
    """
    check_train_config(cfg)
    if cfg.get("ckpt_path"):
        cfg.output_dir = str(resume_folder(cfg.ckpt_path))
        log.info("resuming in the checkpoint's run folder %s", cfg.output_dir)
    output_dir = Path(cfg.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    _process_settings(cfg)
    pl.seed_everything(cfg.seed, workers=True)

    # Lightning calls prepare_data (download, cache build) on one process per node only.
    datamodule: SpeechCommandsDataModule = _build(cfg.data, _convert_="all")
    module: KWSModule = _build(cfg.module, class_names=datamodule.class_names)
    if cfg.get("ckpt_path"):
        check_resume(cfg.ckpt_path, module)
    callbacks = [_build(c) for c in (cfg.get("callbacks") or {}).values()]
    loggers = [_build(c) for c in (cfg.get("logger") or {}).values()]
    trainer = _trainer(cfg, callbacks=callbacks, logger=loggers or False)
    if trainer.is_global_zero:  # plain ddp runs this script once per rank
        with atomic_write(output_dir / "config.yaml") as file:
            OmegaConf.save(cfg, file, resolve=True)
    trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"), weights_only=True)

    chosen = None if trainer.fast_dev_run else _checkpoint_path(trainer, cfg.test_ckpt)
    tested = {"datamodule": datamodule, "ckpt_path": chosen, "weights_only": True}
    val = _first(trainer.validate(module, verbose=False, **tested))
    test = _first(trainer.test(module, **tested))
    metrics = {**val, **test, "checkpoint": chosen, "epochs": trainer.current_epoch}
    if trainer.is_global_zero:
        write_json(output_dir / "metrics.json", metrics)
        log.info("metrics written to %s", output_dir / "metrics.json")
    return metrics


def _checkpoint_path(trainer: pl.Trainer, which: str) -> str | None:
    """The ``best`` (a callback that monitors a metric) or ``last`` (one that does not) file."""
    for callback in trainer.checkpoint_callbacks:
        if (callback.monitor is not None) == (which == "best") and callback.best_model_path:
            return callback.best_model_path
    return None


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Rebuild a model from ``cfg.ckpt_path`` alone, score it on ``cfg.split``, print a table and
    write ``metrics.json``, ``confusion_matrix.{csv,png}`` and the frontend figures.

    Every number is computed from the model's prediction for each clip, so the metrics, the
    confusion matrix and the clip count agree exactly.
    """
    if cfg.split not in ("test", "val"):
        raise ValueError(f"split must be 'test' or 'val', got {cfg.split!r}")
    output_dir = Path(cfg.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    _process_settings(cfg)
    module = load_checkpoint(cfg.ckpt_path)
    if cfg.get("data") is not None:
        datamodule = _build(cfg.data, _convert_="all")
    elif module.checkpoint_metadata["datamodule"]:
        datamodule = _saved_datamodule(cfg.ckpt_path, module.checkpoint_metadata["datamodule"])
    else:
        raise ValueError(f"{cfg.ckpt_path}: names no data set; pass data=... to evaluate it")
    if datamodule.class_names != module.class_names:
        raise ValueError(
            f"{cfg.ckpt_path}: the model's classes {module.class_names} differ from the data's "
            f"{datamodule.class_names}"
        )
    recorder = PredictionRecorder()
    trainer = _trainer(cfg, logger=False, callbacks=[recorder])
    run = trainer.test if cfg.split == "test" else trainer.validate
    run(module, datamodule=datamodule, verbose=False)
    report = ClassificationReport.from_logits(*recorder.predictions())

    split, classes = cfg.split, module.class_names
    epoch = module.checkpoint_metadata["epoch"]
    metrics = {
        f"{split}/acc": report.accuracy,
        f"{split}/f1": report.macro_f1,
        f"{split}/loss": report.loss,
        "num_clips": report.num_clips,
        "per_class": report.per_class(classes),
        "classes": classes,
        "split": split,
        "checkpoint": str(cfg.ckpt_path),
        "checkpoint_epoch": epoch,
    }
    write_json(output_dir / "metrics.json", metrics)
    report.write_confusion_csv(output_dir / "confusion_matrix.csv", classes)
    title = (
        f"Confusion matrix, {split} split: {report.num_clips} clips, "
        f"accuracy {100 * report.accuracy:.2f}% (rows: true class, columns: predicted)"
    )
    figures = {
        "confusion_matrix": confusion_matrix_figure(report.confusion, classes, title),
        **frontend_figures(module.model.frontend),
    }
    written = save_figures(figures, output_dir)
    print(report.table(classes, f"{split} split of {cfg.ckpt_path} (epoch {epoch})"))
    print(f"written to {output_dir}: metrics.json, confusion_matrix.csv, "
          f"{', '.join(p.name for p in written)}")  # fmt: skip
    return metrics


def _saved_datamodule(ckpt_path: str, saved: dict[str, Any]) -> SpeechCommandsDataModule:
    """The data a checkpoint was trained on, as it is on disk now. The checkpoint's settings are
    hostile input: only the DataModule's own arguments, as plain data, are taken, and nothing is
    downloaded or generated."""
    known = set(inspect.signature(SpeechCommandsDataModule).parameters)
    unknown = sorted(str(key) for key in saved if key not in known)
    bad = [
        key
        for key, value in saved.items()
        if key in known and not is_plain_data(value, mappings=True)
    ]
    if unknown or bad:
        raise CheckpointError(
            f"{ckpt_path}: its data settings are not DataModule arguments as plain data "
            f"({', '.join(unknown + bad)}); pass data=... to evaluate it"
        )
    return SpeechCommandsDataModule(**{**saved, "download": False, "generate_synthetic": False})


@dataclass(frozen=True)
class ClassificationReport:
    """Scores of one pass over a split, from the confusion matrix (rows: true class, columns:
    predicted) and the mean cross-entropy.

    Macro F1 averages over the classes present in the labels or the predictions, as torchmetrics
    and scikit-learn do; a precision or recall with nothing to count (0 / 0) is 0.
    """

    confusion: np.ndarray
    loss: float

    @classmethod
    def from_logits(cls, logits: torch.Tensor, labels: torch.Tensor) -> ClassificationReport:
        n = logits.shape[1]
        predicted = logits.argmax(dim=1)
        pairs = (labels * n + predicted).numpy()
        confusion = np.bincount(pairs, minlength=n * n).reshape(n, n)
        loss = F.cross_entropy(logits.double(), labels, reduction="mean").item()
        return cls(confusion, loss)

    @property
    def num_clips(self) -> int:
        return int(self.confusion.sum())

    @property
    def accuracy(self) -> float:
        return float(np.trace(self.confusion) / self.num_clips)

    def _ratio(self, totals: np.ndarray) -> np.ndarray:
        return np.diag(self.confusion) / np.maximum(totals, 1)

    @property
    def precision(self) -> np.ndarray:
        return self._ratio(self.confusion.sum(axis=0))

    @property
    def recall(self) -> np.ndarray:
        return self._ratio(self.confusion.sum(axis=1))

    @property
    def f1(self) -> np.ndarray:
        """Per class, ``2 tp / (2 tp + fp + fn)``: the harmonic mean of precision and recall."""
        return self._ratio(self.confusion.sum(axis=0) + self.confusion.sum(axis=1)) * 2

    @property
    def macro_f1(self) -> float:
        present = (self.confusion.sum(axis=0) + self.confusion.sum(axis=1)) > 0
        return float(self.f1[present].mean())

    def per_class(self, classes: list[str]) -> dict[str, dict[str, float]]:
        """``{class: {precision, recall, f1, clips}}``."""
        clips = self.confusion.sum(axis=1)
        return {
            name: {
                "precision": float(self.precision[i]),
                "recall": float(self.recall[i]),
                "f1": float(self.f1[i]),
                "clips": int(clips[i]),
            }
            for i, name in enumerate(classes)
        }

    def write_confusion_csv(self, path: Path, classes: list[str]) -> None:
        """Counts with a header row of predicted classes and a first column of true classes."""
        with atomic_write(path, newline="") as file:
            writer = csv.writer(file)
            writer.writerow([r"true \ predicted", *classes])
            for name, row in zip(classes, self.confusion, strict=True):
                writer.writerow([name, *map(int, row)])

    def table(self, classes: list[str], heading: str) -> str:
        """A short plain-text summary: overall scores, then precision and recall per class."""
        width = max(len("class"), *map(len, classes))
        lines = [
            f"{heading}: {self.num_clips} clips",
            f"accuracy {100 * self.accuracy:.2f}%   macro F1 {100 * self.macro_f1:.2f}%   "
            f"loss {self.loss:.4f}",
            f"{'class':<{width}}  precision   recall  clips",
        ]
        clips = self.confusion.sum(axis=1)
        for i, name in enumerate(classes):
            lines.append(
                f"{name:<{width}}  {100 * self.precision[i]:8.2f}%  {100 * self.recall[i]:6.2f}%"
                f"  {clips[i]:5d}"
            )
        return "\n".join(lines)
