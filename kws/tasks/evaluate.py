"""Score a trained checkpoint on a split: metrics, confusion matrix and frontend figures."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from kws.io import write_json
from kws.reporting.figures import confusion_matrix_figure, frontend_figures, save_figures
from kws.tasks.common import instantiate_config, make_trainer, process_settings
from kws.training import CheckpointError, load_checkpoint
from kws.training.registry import ConfigError, build

log = logging.getLogger(__name__)


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Rebuild a model from ``cfg.ckpt_path`` alone, score it on ``cfg.split``, print a table and
    write ``metrics.json``, ``confusion_matrix.{csv,png}`` and the frontend figures.

    The scores are the ``ClassificationReport`` the module computes in validation and test, so
    the metrics, the confusion matrix and the clip count agree exactly with training's.

    Args:
        cfg: ``conf/evaluate.yaml`` composed: ``ckpt_path``, ``split``, ``data`` (None: the
            data the checkpoint names), ``output_dir``, ``trainer``.
    """
    if cfg.split not in ("test", "val"):
        raise ValueError(f"split must be 'test' or 'val', got {cfg.split!r}")
    output_dir = Path(cfg.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    process_settings(cfg)
    module = load_checkpoint(cfg.ckpt_path)
    if cfg.get("data") is not None:
        datamodule = instantiate_config(cfg.data, _convert_="all")
    elif module.checkpoint_metadata["datamodule"]:
        datamodule = saved_datamodule(cfg.ckpt_path, module.checkpoint_metadata["datamodule"])
    else:
        raise ValueError(f"{cfg.ckpt_path}: names no data set; pass data=... to evaluate it")
    if datamodule.class_names != module.class_names:
        raise ValueError(
            f"{cfg.ckpt_path}: the model's classes {module.class_names} differ from the data's "
            f"{datamodule.class_names}"
        )
    trainer = make_trainer(cfg, logger=False)
    run = trainer.test if cfg.split == "test" else trainer.validate
    run(module, datamodule=datamodule, verbose=False)
    report = module.reports[cfg.split]

    split, classes = cfg.split, module.class_names
    epoch = module.checkpoint_metadata["epoch"]
    metrics = {
        **report.summary(split),
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
        **frontend_figures(module.spotter.frontend),
    }
    written = save_figures(figures, output_dir)
    print(report.table(classes, f"{split} split of {cfg.ckpt_path} (epoch {epoch})"))
    print(f"written to {output_dir}: metrics.json, confusion_matrix.csv, "
          f"{', '.join(p.name for p in written)}")  # fmt: skip
    return metrics


def saved_datamodule(ckpt_path: str, saved: dict[str, Any]) -> Any:
    """The data a checkpoint was trained on, as it is on disk now. The checkpoint's settings are
    hostile input: they are built through the registry (a registered DataModule, its arguments
    as plain data), with absolute data paths only, the cache in its default place beside the
    data (a saved ``cache_dir`` is ignored), and nothing downloaded or generated.

    Args:
        ckpt_path: the checkpoint, for messages.
        saved: its ``datamodule_hyper_parameters``.
    """
    relative = [k for k in ("root", "test_root") if saved.get(k) and not os.path.isabs(saved[k])]
    if relative:
        raise CheckpointError(
            f"{ckpt_path}: its data.{relative[0]} is not an absolute path; pass data=... to "
            "evaluate it"
        )
    settings = {k: v for k, v in saved.items() if k != "cache_dir"}  # default: beside root
    try:
        return build(settings, "data", download=False, generate_synthetic=False)
    except (ConfigError, TypeError) as error:
        raise CheckpointError(
            f"{ckpt_path}: its data settings cannot be used ({error}); pass data=... to evaluate it"
        ) from None
