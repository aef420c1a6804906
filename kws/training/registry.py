"""The exact names a config or checkpoint may build, and the functions that build them.

A checkpoint stores its model and data as configs (``{"_target_": name, **arguments}``) and is
rebuilt from them, so those configs are hostile input: a name resolved through Hydra's ``_target_``
import machinery can reach any attribute of any module (``kws.frontend.stft.torch.load``).
``build`` therefore looks a name up in a fixed table of classes and functions, and accepts
arguments only as plain data (numbers, strings, booleans, ``None`` and lists of them): no
callables, no objects, no nested configs and no Hydra keys such as ``_partial_`` (data settings
may also hold flat dicts of such values, e.g. ``augmentation``).

A new frontend, head, optimiser, schedule or data source is one more line in its table below.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import torch

from kws.data import FolderDataModule, SpeechCommandsDataModule
from kws.data.datamodule import TARGET as DATAMODULE_TARGET
from kws.data.folder import TARGET as FOLDER_TARGET
from kws.frontend import LEAF, MFCC, STFT, MelSpectrogram, SincFilterbank, TriangularFilterbank
from kws.models import BCResNet, LinearClassifier, SpecAugment
from kws.training.schedules import warmup_cosine

#: What each part of a model config may name: exact ``_target_`` strings, nothing else.
REGISTRY: dict[str, dict[str, Callable[..., Any]]] = {
    "frontend": {
        "kws.frontend.MelSpectrogram": MelSpectrogram,
        "kws.frontend.STFT": STFT,
        "kws.frontend.MFCC": MFCC,
        "kws.frontend.TriangularFilterbank": TriangularFilterbank,
        "kws.frontend.SincFilterbank": SincFilterbank,
        "kws.frontend.LEAF": LEAF,
    },
    "model": {
        "kws.models.BCResNet": BCResNet,
        "kws.models.LinearClassifier": LinearClassifier,
    },
    "spec_augment": {"kws.models.SpecAugment": SpecAugment},
    "optimizer": {
        "torch.optim.SGD": torch.optim.SGD,
        "torch.optim.Adam": torch.optim.Adam,
        "torch.optim.AdamW": torch.optim.AdamW,
    },
    "scheduler": {"kws.training.schedules.warmup_cosine": warmup_cosine},
    "data": {DATAMODULE_TARGET: SpeechCommandsDataModule, FOLDER_TARGET: FolderDataModule},
}

#: Where each part sits in ``conf/train.yaml``, for messages that name the key to fix.
CONFIG_KEYS = {
    "frontend": "frontend",
    "model": "model",
    "spec_augment": "module.spec_augment",
    "optimizer": "module.optimizer",
    "scheduler": "module.scheduler",
    "data": "data",
}


class ConfigError(ValueError):
    """A model config that names something outside the registry, or passes it non-plain data."""


def is_plain_data(value: Any, mappings: bool = False) -> bool:
    """Whether ``value`` is a number, string, boolean, ``None``, or a list of such values.

    Args:
        value: what to check.
        mappings: also accept dicts with string keys and such values (default ``False``).
    """
    if value is None or isinstance(value, bool | int | float | str):
        return True
    if isinstance(value, list | tuple):
        return all(is_plain_data(item, mappings) for item in value)
    return (
        mappings
        and isinstance(value, dict)
        and all(isinstance(k, str) and is_plain_data(v, mappings) for k, v in value.items())
    )


def check(config: Mapping[str, Any], part: str) -> tuple[Callable[..., Any], dict[str, Any]]:
    """The registered class or function a config names, and its arguments, or a ``ConfigError``.

    Args:
        config: ``{"_target_": name, **arguments}``, e.g. from a checkpoint.
        part: which table of ``REGISTRY`` the name must be in (``"frontend"``, ``"model"``,
            ``"spec_augment"``, ``"optimizer"``, ``"scheduler"`` or ``"data"``); messages name
            its key in ``conf/train.yaml`` (``CONFIG_KEYS``).
    """
    table, name = REGISTRY[part], CONFIG_KEYS[part]
    if not isinstance(config, Mapping):
        raise ConfigError(f"{name}: expected a config with a _target_, got {type(config).__name__}")
    target = config.get("_target_")
    if not isinstance(target, str) or target not in table:
        raise ConfigError(
            f"{name}._target_: {target!r} is not one of {sorted(table)} "
            "(a new one is registered in kws/training/registry.py)"
        )
    arguments = {}
    for key, value in config.items():
        if key == "_target_":
            continue
        if not isinstance(key, str) or not key.isidentifier() or key.startswith("_"):
            raise ConfigError(f"{name}: {key!r} is not an argument name {target} may take")
        if not is_plain_data(value, mappings=part == "data"):
            raise ConfigError(
                f"{name}.{key}: only numbers, strings, booleans, null and lists of them are "
                f"accepted, got {type(value).__name__}"
            )
        arguments[key] = list(value) if isinstance(value, tuple) else value
    return table[target], arguments


def build(config: Mapping[str, Any], part: str, /, **extra: Any) -> Any:
    """Build what a config names (see ``check``), called with its arguments and ``extra``.

    Args:
        config: ``{"_target_": name, **arguments}``.
        part: the ``REGISTRY`` table the name must be in.
        **extra: arguments the caller adds (e.g. ``num_classes``), which win over the config's.
    """
    target, arguments = check(config, part)
    return target(**{**arguments, **extra})


def partial(config: Mapping[str, Any], part: str, /) -> Callable[..., Any]:
    """What a config names, with its arguments bound, to be called later (optimisers take the
    parameters, schedules the optimiser). Args as for ``build``."""
    target, arguments = check(config, part)
    return functools.partial(target, **arguments)
