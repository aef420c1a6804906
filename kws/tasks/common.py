"""What the train and evaluate tasks share: config building, Trainer, one-line errors.

Also the process-wide settings a config asks for.
"""

from __future__ import annotations

import functools
import inspect
import logging
import math
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
from kws.training.progress import with_progress_bar
from kws_runtime.checks import check_number

log = logging.getLogger(__name__)
T = TypeVar("T")


def report_errors(task: Callable[[DictConfig], T], cfg: DictConfig) -> T:
    """Run ``task(cfg)`` as a command: a failure prints one ``error: ...`` message to stderr and
    exits with status 1, without a traceback unless ``debug=true`` or ``HYDRA_FULL_ERROR=1``.
    The message of a ``ValueError``, ``OSError`` or ``FloatingPointError`` (a diverged training
    run) stands alone; any other error's is prefixed with its type.

    Args:
        task: ``train`` or ``evaluate``.
        cfg: the composed config; its ``debug`` key (default false) lets errors through.
    """
    if cfg.get("debug") or os.environ.get("HYDRA_FULL_ERROR") == "1":
        return task(cfg)
    try:
        return task(cfg)
    except Exception as error:  # noqa: BLE001 - every failure becomes one message
        named = isinstance(error, ValueError | OSError | FloatingPointError) and str(error)
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


#: ``torch.compile``'s settings of a fixed kind: what each must be, and a test of it.
COMPILE_KINDS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "fullgraph": ("true or false", lambda v: isinstance(v, bool)),
    "disable": ("true or false", lambda v: isinstance(v, bool)),
    "isolate_recompiles": ("true or false", lambda v: isinstance(v, bool)),
    "dynamic": ("true, false or null", lambda v: v is None or isinstance(v, bool)),
    "mode": ("a name or null", lambda v: v is None or isinstance(v, str)),
    "backend": ("a name", lambda v: isinstance(v, str)),
    "name": ("a name or null", lambda v: v is None or isinstance(v, str)),
    "options": ("a map of settings to values", lambda v: v is None or isinstance(v, Mapping)),
    "recompile_limit": (
        "a whole number >= 1 or null",
        lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool) and v >= 1),
    ),
}


def compile_model(model: torch.nn.Module, settings: Mapping[str, Any] | None) -> None:
    """``torch.compile`` a model in place (its state dict keeps its keys), or leave it be.

    ``{"backend": "cudagraphs"}`` captures each traced graph's forward and backward as CUDA
    graphs (one launch where eager issues hundreds, no code generation); ``{"mode":
    "reduce-overhead"}`` adds inductor's generated kernels. Tracing happens at the first call;
    an error torch raises then (``fullgraph: true`` on a model that breaks the graph, a backend
    that fails) comes out as a ``ValueError`` naming the settings.

    Shapes are static unless ``dynamic`` is given: each batch size (an epoch's last, smaller
    batch too) is traced once on its own. With dynamic shapes, torch 2.11's CUDA graph trees
    replayed the full batch's graph on the last batch and failed (seen on an H200).

    Args:
        model: the module to compile.
        settings: ``torch.compile``'s keyword arguments (config key ``compile``); None or empty:
            nothing is compiled. ``dynamic`` defaults to False here.

    Raises:
        ValueError: a setting torch.compile does not take, one of the wrong kind
            (``COMPILE_KINDS``), or one it rejects (an unknown ``compile.backend``, an unknown
            ``compile.mode`` or ``compile.options``), named as ``compile.<key>``.
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
    for key, value in settings.items():
        what, fits = COMPILE_KINDS.get(key, ("", lambda _: True))
        if not fits(value):
            raise ValueError(f"compile.{key} must be {what}, got {value!r}")
    settings = {"dynamic": False, **settings}
    from torch._dynamo.exc import BackendCompilerFailed, InvalidBackend, Unsupported

    try:
        model.compile(**settings)
    except InvalidBackend as error:
        raise ValueError(f"compile.backend: {_first_line(error)}") from None
    except RuntimeError as error:  # inductor refuses a mode, an option, or the two together
        keys = [f"compile.{key}" for key in ("mode", "options") if settings.get(key) is not None]
        raise ValueError(f"{' and '.join(keys) or 'compile'}: {_first_line(error)}") from None
    # torch.compile's own failures at the first call say nothing of the settings behind them.

    traced = model._compiled_call_impl  # what Module.compile set; Module.__call__ calls it

    @functools.wraps(traced)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return traced(*args, **kwargs)
        except Unsupported as error:
            if not settings.get("fullgraph"):  # not a graph break: torch's own error
                raise
            raise ValueError(
                f"compile.fullgraph=true: torch.compile cannot trace the model as one graph "
                f"({_first_line(error)}); leave compile.fullgraph out to let it split the graph"
            ) from None
        except BackendCompilerFailed as error:
            inner = error.inner_exception
            raise ValueError(
                f"compile.backend={settings.get('backend', 'inductor')}: the backend failed "
                f"to compile the model ({type(inner).__name__}: {_first_line(inner)})"
            ) from None

    model._compiled_call_impl = call


def _first_line(error: BaseException) -> str:
    """The first line of an error's message (torch's run to pages)."""
    return next(iter(str(error).strip().splitlines()), "")


def make_trainer(cfg: DictConfig, **kwargs: Any) -> pl.Trainer:
    """The configured ``cfg.trainer``, saving checkpoints atomically, with kws's progress display
    (``kws.training.progress``).

    Args:
        cfg: the composed config.
        **kwargs: more Trainer arguments (callbacks, logger).

    Raises:
        ValueError: ``trainer.gradient_clip_val`` is neither null nor a finite number >= 0,
            checked before the Trainer is built (Lightning takes any number: NaN turns every
            gradient into NaN, a negative one reverses them).
    """
    clip = cfg.trainer.get("gradient_clip_val")
    if clip is not None:
        check_number("trainer.gradient_clip_val", clip, 0.0, math.inf)
    if cfg.trainer.get("strategy") == "ddp" and _local_multirun():
        # Plain ddp starts the other ranks by re-running the command line, which under -m
        # would relaunch the whole sweep; spawning keeps them inside this job.
        log.info("multirun: using strategy ddp_spawn instead of ddp")
        kwargs["strategy"] = "ddp_spawn"
    kwargs["callbacks"] = with_progress_bar(
        list(kwargs.get("callbacks", [])), cfg.trainer.get("enable_progress_bar", True)
    )
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
