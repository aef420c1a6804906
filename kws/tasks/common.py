"""What the train and evaluate tasks share: config building, Trainer, one-line errors.

Also the process-wide settings a config asks for.
"""

from __future__ import annotations

import inspect
import logging
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import pytorch_lightning as pl
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig

from kws.allocator import keep_freed_memory
from kws.training.checkpoint_io import AtomicCheckpointIO

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


def instantiate_config(config: Any, **kwargs: Any) -> Any:
    """``hydra.utils.instantiate``, raising what the built class raised rather than Hydra's
    wrapper, so a bad setting keeps its own error type and message.

    Args:
        config: a config with a ``_target_`` (from the user's own config files, trusted).
        **kwargs: passed on to ``instantiate``.
    """
    try:
        return instantiate(config, **kwargs)
    except InstantiationException as error:
        if isinstance(error.__cause__, Exception):
            raise error.__cause__ from None
        raise


def compile_model(model: torch.nn.Module, settings: Mapping[str, Any] | None) -> None:
    """``torch.compile`` a model in place (its state dict keeps its keys), or leave it be.

    ``{"backend": "cudagraphs"}`` captures each traced graph's forward and backward as CUDA
    graphs (one launch where eager issues hundreds, no code generation); ``{"mode":
    "reduce-overhead"}`` adds inductor's generated kernels. Tracing happens at the first call.

    Shapes are static unless ``dynamic`` is given: each batch size (an epoch's last, smaller
    batch too) is traced once on its own. With dynamic shapes, torch 2.11's CUDA graph trees
    replayed the full batch's graph on the last batch and failed (seen on an H200).

    Args:
        model: the module to compile.
        settings: ``torch.compile``'s keyword arguments (config key ``compile``); None or empty:
            nothing is compiled. ``dynamic`` defaults to False here.

    Raises:
        ValueError: a setting torch.compile does not take, or rejects (an unknown backend or
            mode), named as ``compile.<key>``.
    """
    if not settings:
        return
    if not isinstance(settings, Mapping):
        raise ValueError(f"compile must map torch.compile's arguments to values, got {settings!r}")
    allowed = [name for name in inspect.signature(torch.compile).parameters if name != "model"]
    unknown = sorted(set(settings) - set(allowed))
    if unknown:
        raise ValueError(
            f"compile.{unknown[0]}: torch.compile takes no such argument (it takes {allowed})"
        )
    try:
        model.compile(**{"dynamic": False, **settings})
    except RuntimeError as error:  # an unknown backend or mode, raised before any tracing
        raise ValueError(f"compile: {error}") from None


def make_trainer(cfg: DictConfig, **kwargs: Any) -> pl.Trainer:
    """The configured ``cfg.trainer``, saving checkpoints atomically.

    Args:
        cfg: the composed config.
        **kwargs: more Trainer arguments (callbacks, logger).
    """
    if cfg.trainer.get("strategy") == "ddp" and _local_multirun():
        # Plain ddp starts the other ranks by re-running the command line, which under -m
        # would relaunch the whole sweep; spawning keeps them inside this job.
        log.info("multirun: using strategy ddp_spawn instead of ddp")
        kwargs["strategy"] = "ddp_spawn"
    return instantiate_config(cfg.trainer, plugins=[AtomicCheckpointIO()], **kwargs)


def _local_multirun() -> bool:
    """A sweep whose jobs run in this process (not on SLURM, where each task is one rank)."""
    return (
        HydraConfig.initialized()
        and HydraConfig.get().mode == RunMode.MULTIRUN
        and "SLURM_NTASKS" not in os.environ
    )


def process_settings(cfg: DictConfig) -> None:
    """Apply the process-wide settings a config asks for, before any tensor is made.

    Args:
        cfg: the composed config; its ``keep_freed_memory`` key.
    """
    if cfg.get("keep_freed_memory") and keep_freed_memory():
        log.info("keep_freed_memory: freed CPU memory stays in the process for reuse")
