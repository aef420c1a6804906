"""What a config or checkpoint may build: each class registers itself where it is defined.

A frontend, head, SpecAugment, optimiser, schedule or data source is marked buildable by the
decorator ``register(part)`` on its definition (``@register("frontend")`` in
``kws/frontend/mel.py``), so a new one is its own file and its config, nothing else. This module
imports nothing of kws, so every package can use it.

A checkpoint stores its model and data as configs (``{"_target_": name, **arguments}``) and is
rebuilt from them, so those configs are hostile input: a name resolved through Hydra's
``_target_`` import machinery can reach any attribute of any module
(``kws.frontend.stft.torch.load``). ``check`` therefore accepts a name only where it leads to a
registered class or function of that part, and arguments only as plain data (numbers, strings,
booleans, ``None`` and lists of them): no callables, no objects, no nested configs and no Hydra
keys such as ``_partial_`` (data settings may also hold flat dicts of such values, e.g.
``augmentation``). A name not yet registered is looked for in one place only: the module it
names, imported only where the name lies under the part's own package (``HOMES``: a frontend
under ``kws.frontend.``), each dotted part an identifier not starting with ``_``; what that
module holds under the name is accepted only if it is a registered one. No other module is
imported and nothing is called.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

T = TypeVar("T", bound=Callable[..., Any])

#: Each part's package: its modules register the part's classes, and a name under it may be
#: imported to find one (``kws.frontend.foo.Foo`` imports ``kws.frontend.foo``).
HOMES = {
    "frontend": "kws.frontend",
    "model": "kws.models",
    "spec_augment": "kws.models",
    "optimizer": "kws.training.schedules",
    "scheduler": "kws.training.schedules",
    "data": "kws.data",
}

#: The longest name looked for by importing (kws's own are at most 5 parts and 60 characters):
#: a longer one is refused before Python's import machinery walks it.
MAX_NAME_PARTS = 8
MAX_NAME_CHARS = 200
#: The deepest nesting of lists (and data settings' dicts) an argument may have.
MAX_NESTING = 8

#: Where each part sits in ``conf/train.yaml``, for messages that name the key to fix.
CONFIG_KEYS = {
    "frontend": "frontend",
    "model": "model",
    "spec_augment": "module.spec_augment",
    "optimizer": "module.optimizer",
    "scheduler": "module.scheduler",
    "data": "data",
}

#: What each part may build: a name (its definition's ``module.qualname``, any name given to
#: ``register``, and each other name found to lead to it) to the class or function.
REGISTRY: dict[str, dict[str, Callable[..., Any]]] = {part: {} for part in HOMES}


class ConfigError(ValueError):
    """A model config that names something outside the registry, or passes it non-plain data."""


def register(part: str, *names: str) -> Callable[[T], T]:
    """Mark a class or function as buildable for ``part``, by its definition's name
    (``module.qualname``) and ``names``.

    Args:
        part: one of ``HOMES``' keys (``"frontend"``, ``"model"``, ``"spec_augment"``,
            ``"optimizer"``, ``"scheduler"``, ``"data"``).
        *names: more names for it, e.g. ``"torch.optim.SGD"`` for a class defined outside kws
            (``torch.optim.sgd.SGD``). Default: none.

    Returns:
        The decorator, which returns what it registers unchanged.

    Raises:
        KeyError: ``part`` is not one of ``HOMES``' keys.
    """
    table = REGISTRY[part]

    def decorate(target: T) -> T:
        for name in (f"{target.__module__}.{target.__qualname__}", *names):
            table[name] = target
        return target

    return decorate


def _importable(name: str, home: str) -> bool:
    """Whether ``name`` lies under ``home`` as at most ``MAX_NAME_PARTS`` dotted identifiers
    (``MAX_NAME_CHARS`` in all), none private."""
    parts = name.split(".")
    return (
        len(name) <= MAX_NAME_CHARS
        and len(parts) <= MAX_NAME_PARTS
        and name.startswith(f"{home}.")
        and all(part.isidentifier() and not part.startswith("_") for part in parts)
    )


def lookup(part: str, name: Any) -> Callable[..., Any] | None:
    """The registered class or function ``name`` leads to for ``part``, or None.

    A name not registered yet is looked for first by importing the part's package (``HOMES``),
    then, where it lies under that package (``_importable``), by importing the module it
    names; what that module holds under the name must be one of the part's registered ones.

    Args:
        part: one of ``HOMES``' keys.
        name: a ``_target_`` as a config or checkpoint holds it (any value: hostile input).
    """
    table = REGISTRY[part]
    if not isinstance(name, str):
        return None
    if name not in table:
        importlib.import_module(HOMES[part])
    if name in table or not _importable(name, HOMES[part]):
        return table.get(name)
    module_name, attribute = name.rsplit(".", 1)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:  # no such module; a registered module's own is raised
        if error.name and f"{module_name}.".startswith(f"{error.name}."):
            return None
        raise
    found = getattr(module, attribute, None)
    if not any(found is target for target in table.values()):
        return None
    table[name] = found
    return found


def registered(part: str) -> list[str]:
    """Every name ``part`` may build now, its package's exported ones loaded first.

    Args:
        part: one of ``HOMES``' keys.
    """
    package = importlib.import_module(HOMES[part])
    for name in getattr(package, "__all__", ()):
        getattr(package, name)  # loads what the package exports lazily (its DataModules)
    return sorted(REGISTRY[part])


def _shown(value: Any, chars: int = 80) -> str:
    """``repr(value)``, cut to ``chars`` characters for a message."""
    text = repr(value)
    return text if len(text) <= chars else f"{text[: chars - 3]}..."


def is_plain_data(value: Any, mappings: bool = False, depth: int = MAX_NESTING) -> bool:
    """Whether ``value`` is a number, string, boolean, ``None``, or a list of such values,
    nested at most ``depth`` deep.

    Args:
        value: what to check.
        mappings: also accept dicts with string keys and such values (default ``False``).
        depth: the deepest nesting accepted. Default ``MAX_NESTING``.
    """
    if value is None or isinstance(value, bool | int | float | str):
        return True
    if depth < 1:
        return False
    if isinstance(value, list | tuple):
        return all(is_plain_data(item, mappings, depth - 1) for item in value)
    return (
        mappings
        and isinstance(value, dict)
        and all(
            isinstance(k, str) and is_plain_data(v, mappings, depth - 1) for k, v in value.items()
        )
    )


def check(config: Mapping[str, Any], part: str) -> tuple[Callable[..., Any], dict[str, Any]]:
    """The registered class or function a config names, and its arguments, or a ``ConfigError``.

    Args:
        config: ``{"_target_": name, **arguments}``, e.g. from a checkpoint.
        part: the part the name must be registered for (one of ``HOMES``' keys); messages
            name its key in ``conf/train.yaml`` (``CONFIG_KEYS``).

    Raises:
        ConfigError: ``config`` is no mapping, its ``_target_`` leads to nothing registered
            for ``part`` (``lookup``), or an argument is not a plain name with plain data.
    """
    name = CONFIG_KEYS[part]
    if not isinstance(config, Mapping):
        raise ConfigError(f"{name}: expected a config with a _target_, got {type(config).__name__}")
    target = config.get("_target_")
    found = lookup(part, target)
    if found is None:
        raise ConfigError(
            f"{name}._target_: {_shown(target)} is not one of {registered(part)} (a new one "
            f"registers itself with kws.registry's @register({part!r}), in a module under "
            f"{HOMES[part]})"
        )
    arguments = {}
    for key, value in config.items():
        if key == "_target_":
            continue
        if not isinstance(key, str) or not key.isidentifier() or key.startswith("_"):
            raise ConfigError(f"{name}: {_shown(key)} is not an argument name {target} may take")
        if not is_plain_data(value, mappings=part == "data"):
            raise ConfigError(
                f"{name}.{key}: only numbers, strings, booleans, null and lists of them (at most "
                f"{MAX_NESTING} deep) are accepted, got {type(value).__name__}"
            )
        arguments[key] = list(value) if isinstance(value, tuple) else value
    return found, arguments


def build(config: Mapping[str, Any], part: str, /, **extra: Any) -> Any:
    """Build what a config names (see ``check``), called with its arguments and ``extra``.

    Args:
        config: ``{"_target_": name, **arguments}``.
        part: the part the name must be registered for.
        **extra: arguments the caller adds (e.g. ``num_classes``), which win over the config's.

    Raises:
        ConfigError: as ``check``.
    """
    target, arguments = check(config, part)
    return target(**{**arguments, **extra})


def partial(config: Mapping[str, Any], part: str, /) -> Callable[..., Any]:
    """What a config names, with its arguments bound, to be called later (optimisers take the
    parameters, schedules the optimiser). Args and Raises as for ``build``."""
    target, arguments = check(config, part)
    return functools.partial(target, **arguments)
