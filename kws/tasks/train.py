"""Train a keyword spotter from a composed config: fit, then score the chosen checkpoint."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from omegaconf import DictConfig, OmegaConf

from kws.data.clip_format import ClipFormat
from kws.frontend import drift_of, drift_summary
from kws.tasks.common import compile_model, instantiate_config, make_trainer, process_settings
from kws.training import KWSModule, check_resume
from kws.training.basis_health import BasisHealth
from kws.training.stream_validation import unmet
from kws_runtime.io import atomic_write, write_json

log = logging.getLogger(__name__)


def _first(results: list[dict[str, float]]) -> dict[str, float]:
    return {key: float(value) for key, value in results[0].items()}


def build_module(cfg: DictConfig, class_names: list[str], clip_format: ClipFormat) -> KWSModule:
    """The configured ``KWSModule``: ``cfg.module`` with ``cfg.frontend`` and ``cfg.model``,
    sized for the data's clips.

    Args:
        cfg: the composed ``conf/train.yaml``.
        class_names: the data's classes, in label order.
        clip_format: the data's clips (``ClipDataModule.clip_format``): their length sizes the
            model, their rate is the one the frontend must be built for.

    Raises:
        ValueError: ``frontend.sample_rate`` is not the data's rate (its filters and the
            exported model's metadata would describe audio the model never hears).
    """
    rate = cfg.frontend.get("sample_rate", clip_format.sample_rate)
    if rate != clip_format.sample_rate:
        raise ValueError(
            f"frontend.sample_rate={rate} but the data's clips are {clip_format.sample_rate} "
            f"Hz: set frontend.sample_rate={clip_format.sample_rate}"
        )
    return instantiate_config(
        cfg.module,
        frontend=OmegaConf.to_container(cfg.frontend, resolve=True),
        model=OmegaConf.to_container(cfg.model, resolve=True),
        class_names=class_names,
        clip_samples=clip_format.clip_samples,
    )


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
        ValueError: the run folder holds a symbolic link (writes could leave the folder).
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
    for folder, names, files in os.walk(run):  # writes must stay in the run folder
        links = [name for name in names + files if os.path.islink(os.path.join(folder, name))]
        if links:
            raise ValueError(
                f"ckpt_path={ckpt_path}: {os.path.join(folder, links[0])} is a symbolic link; "
                "a resumed run writes into its run folder and follows no links out of it"
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
    process_settings(cfg)
    pl.seed_everything(cfg.seed, workers=True)

    # Lightning calls prepare_data (download, cache build) on one process per node only.
    datamodule = instantiate_config(cfg.data, _convert_="all")
    module = build_module(cfg, datamodule.class_names, datamodule.clip_format)
    callbacks = [instantiate_config(c) for c in (cfg.get("callbacks") or {}).values()]
    if cfg.get("ckpt_path"):
        check_resume(cfg.ckpt_path, module, datamodule, callbacks)
    compile_model(module.spotter, cfg.get("compile"))
    loggers = [instantiate_config(c) for c in (cfg.get("logger") or {}).values()]
    trainer = make_trainer(cfg, callbacks=callbacks, logger=loggers or False)
    if trainer.is_global_zero:  # plain ddp runs this script once per rank
        with atomic_write(output_dir / "config.yaml") as file:
            OmegaConf.save(cfg, file, resolve=True)
    trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"), weights_only=True)
    # The frontend as training left it (testing may load another checkpoint into the module).
    drift = {k: float(v) for k, v in drift_summary(drift_of(module.spotter.frontend)).items()}

    chosen = None if trainer.fast_dev_run else _checkpoint_path(trainer, cfg.test_ckpt)
    if chosen:
        log.info("validating and testing the %s checkpoint %s", cfg.test_ckpt, chosen)
    else:
        log.info("validating and testing the weights as trained (no %s checkpoint)", cfg.test_ckpt)
    tested = {"datamodule": datamodule, "ckpt_path": chosen, "weights_only": True}
    # What rank zero logged: under ddp_spawn the ranks' modules are not this process's.
    val = _first(trainer.validate(module, verbose=False, **tested))
    test = _first(trainer.test(module, **tested))
    metrics = {
        **val,
        **test,
        "checkpoint": chosen,
        "epochs": trainer.current_epoch,
        "parameters": _parameter_counts(module),
        "drift": drift,
    }
    for callback in callbacks:  # the basis-health rule's verdict, where the run has the callback
        if isinstance(callback, BasisHealth):
            metrics["basis_health"] = verdict = callback.verdict()
            if verdict["status"] != "ok":
                log.warning(
                    "basis health: %s, %d findings (metrics.json basis_health; "
                    "docs/frontend.md#basis-health-no-silent-collapse)",
                    verdict["status"], len(verdict["findings"]),
                )  # fmt: skip
    if module.calibration is not None:  # the tested checkpoint's, from stream validation
        metrics["calibration"] = module.calibration.as_dict()
        log.info("calibrated: %s", module.calibration.describe())
        if not module.calibration.met:
            log.warning("the calibrated threshold misses its target: %s", unmet(module.calibration))
    if trainer.is_global_zero:
        write_json(output_dir / "metrics.json", metrics)
        log.info("metrics written to %s", output_dir / "metrics.json")
    return metrics


def _parameter_counts(module: KWSModule) -> dict[str, int]:
    """Trainable parameters of the head and of the frontend."""
    return {
        f"{part}_trainable": sum(p.numel() for p in layer.parameters() if p.requires_grad)
        for part, layer in (("head", module.spotter.head), ("frontend", module.spotter.frontend))
    }


def _checkpoint_path(trainer: pl.Trainer, which: str) -> str | None:
    """The ``best`` (a callback that monitors a metric) or ``last`` (one that does not) file."""
    for callback in trainer.checkpoint_callbacks:
        if (callback.monitor is not None) == (which == "best") and callback.best_model_path:
            return callback.best_model_path
    return None
