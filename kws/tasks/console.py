"""What a person sees from a kws command: the command line checked before any work (a misspelled
setting named with its nearest key, every missing value at once, each as one ``error: ...``
line), and no third-party chatter (``quiet_libraries``).

``train.py``, ``evaluate.py`` and ``detect.py`` declare their main function with ``@command``
instead of ``@hydra.main``.
"""

from __future__ import annotations

import copy
import difflib
import functools
import inspect
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import hydra
from hydra import compose, initialize_config_dir
from hydra._internal.utils import get_args_parser  # the parser @hydra.main reads sys.argv with
from hydra.core.config_loader import ConfigLoader
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, ValueType
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

from kws.training.loggers import quiet_libraries

T = TypeVar("T")


def command(config_name: str) -> Callable[[Callable[[DictConfig], T]], Callable[[], T | None]]:
    """``@hydra.main`` for a kws command, its configs in ``conf/`` beside the script.

    Before Hydra starts, the command line's settings are checked against the config they compose
    (``unknown_settings``); each job then checks for missing values (``missing_settings``) and
    runs inside ``quiet_libraries``. A problem is one ``error: ...`` line and exit status 1.

    Args:
        config_name: the config in ``conf/`` (``train``, ``evaluate``, ``detect``).
    """

    def decorate(task_function: Callable[[DictConfig], T]) -> Callable[[], T | None]:
        config_dir = Path(inspect.getfile(task_function)).parent / "conf"

        @functools.wraps(task_function)
        def job(cfg: DictConfig) -> T:
            missing = missing_settings(cfg)
            if missing:
                _fail(_describe_missing(missing))
            with quiet_libraries():
                return task_function(cfg)

        run = hydra.main(version_base="1.3", config_path="conf", config_name=config_name)(job)

        @functools.wraps(task_function)
        def main() -> T | None:
            check_command_line(config_dir, config_name, sys.argv[1:])
            return run()

        return main

    return decorate


def check_command_line(config_dir: str | Path, config_name: str, argv: Sequence[str]) -> None:
    """Refuse a command line that sets a key its config does not have, naming the nearest
    existing keys, as one ``error: ...`` line (exit status 1), before Hydra makes a run folder.

    Hydra's own help, completion and other config folders are left to Hydra, and so is every other
    problem (Hydra reports it as before).

    Args:
        config_dir: the folder of the command's configs.
        config_name: the command's default config; ``--config-name`` overrides it.
        argv: the command line after the script's name.
    """
    args = get_args_parser().parse_args(list(argv))
    if args.help or args.hydra_help or args.shell_completion or args.experimental_rerun:
        return
    if args.config_path or args.config_dir:
        return
    unknown = unknown_settings(config_dir, args.config_name or config_name, args.overrides)
    if unknown:
        script = Path(sys.argv[0]).name
        _fail(" ".join(_describe_unknown(key, near, script) for key, near in unknown.items()))


def unknown_settings(
    config_dir: str | Path, config_name: str, overrides: Sequence[str]
) -> dict[str, list[str]]:
    """The settings ``overrides`` change that the composed config does not have (Hydra refuses
    them: ``+key=value`` adds a key), each with its nearest existing keys.

    The config is composed with the command line's group choices (a sweep's first option) and
    additions, so a key is looked for where the chosen groups put their keys.

    Args:
        config_dir: the folder of the configs.
        config_name: the config to compose, e.g. ``train``.
        overrides: Hydra overrides as on the command line (sweeps such as ``a=1,2`` included).

    Returns:
        Each unknown key (as written) and its nearest keys (possibly none), in command-line order;
        empty when all are known, or when the command line fails for another reason (Hydra
        reports that one).
    """
    try:
        parsed = OverridesParser.create().parse_overrides(list(overrides))
        with initialize_config_dir(config_dir=str(Path(config_dir).resolve()), version_base="1.3"):
            loader = GlobalHydra.instance().config_loader()
            changes = [_changes_a_value(o, loader) for o in parsed]
            cfg = compose(
                config_name,
                overrides=[
                    _first_value(o, loader) for o, c in zip(parsed, changes, strict=True) if not c
                ],
                return_hydra_config=True,
            )
    except (HydraException, OmegaConfBaseException):
        return {}
    keys = [key for key, _ in _walk(OmegaConf.to_container(cfg, resolve=False))]
    unknown = {}
    for override in (o for o, c in zip(parsed, changes, strict=True) if c):
        key = override.key_or_group
        if _absent(cfg, key):  # Hydra's own keys are suggested only for a hydra.* key
            hydra_key = key.startswith("hydra.")
            unknown[key] = _nearest(key, [k for k in keys if k.startswith("hydra.") == hydra_key])
    return unknown


def missing_settings(cfg: DictConfig) -> list[str]:
    """The keys whose value is still ``???`` (mandatory, given by no config nor the command line),
    in config order.

    Args:
        cfg: a composed config.
    """
    plain = OmegaConf.to_container(cfg, resolve=False)
    return [key for key, value in _walk(plain) if value == "???"]


def _changes_a_value(override: Override, loader: ConfigLoader) -> bool:
    """A plain ``key=value`` on a config key (not a group choice, ``+``, ``++`` or ``~``)."""
    if override.is_add() or override.is_force_add() or override.is_delete():
        return False
    if override.package is not None:
        return False
    parent, _, name = override.key_or_group.rpartition("/")
    return name not in loader.list_groups(parent)


def _first_value(override: Override, loader: ConfigLoader) -> str:
    """The override as written, a sweep (``a=1,2``, ``model=glob(*)``) reduced to its first
    value (an empty one is left as written, for Hydra to report)."""
    if not override.is_sweep_override():
        return override.input_line
    if override.value_type == ValueType.GLOB_CHOICE_SWEEP:
        values = iter(override.value().filter(loader.get_group_options(override.key_or_group)))
    else:
        values = override.sweep_string_iterator()
    first = next(values, None)
    return override.input_line if first is None else f"{override.get_key_element()}={first}"


def _absent(cfg: DictConfig, key: str) -> bool:
    """Whether Hydra would refuse ``key=value``: setting it in the struct config fails."""
    try:
        OmegaConf.update(copy.deepcopy(cfg), key, None, merge=True)
    except (ConfigAttributeError, ConfigKeyError):
        return True
    except OmegaConfBaseException:  # a known key that refuses None: known all the same
        return False
    return False


def _walk(node: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every dotted key of a plain container (``OmegaConf.to_container``) and its value."""
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for key, value in items:
        path = f"{prefix}{key}"
        yield path, value
        if isinstance(value, dict | list):
            yield from _walk(value, f"{path}.")


def _nearest(key: str, keys: list[str]) -> list[str]:
    """The keys whose last part is nearest ``key``'s: among its siblings first, then anywhere
    (a typo in the group: ``trainr.max_epochs`` -> ``trainer.max_epochs``)."""
    parent, _, leaf = key.rpartition(".")
    siblings = [k for k in keys if k.rpartition(".")[0] == parent]
    for pool in (siblings, keys):
        by_leaf: dict[str, list[str]] = {}
        for k in pool:
            by_leaf.setdefault(k.rpartition(".")[2], []).append(k)
        close = difflib.get_close_matches(leaf, list(by_leaf), n=1, cutoff=0.6)
        if close:
            return by_leaf[close[0]][:3]
    return []


def _describe_unknown(key: str, near: list[str], script: str) -> str:
    if near:
        return f"{key} is not a setting; did you mean {' or '.join(near)}?"
    return (
        f"{key} is not a setting (`python {script} --cfg job` shows them all; "
        f"+{key}=... adds a new one)."
    )


def _describe_missing(missing: list[str]) -> str:
    names = " and ".join([", ".join(missing[:-1]), missing[-1]] if len(missing) > 1 else missing)
    verb = "needs" if len(missing) == 1 else "need"
    given = " ".join(f"{key}=..." for key in missing)
    return f"{names} {verb} a value: add {given} to the command"


def _fail(message: str) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(1)
