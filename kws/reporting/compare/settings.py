"""Settings: runs whose configs differ only in seed (``group_settings``), each with the config
values that tell it apart from the others and its metrics over seeds."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kws.reporting.compare.runs import Run
from kws.reporting.compare.statistics import Summary, summarise

# Config keys shown in their own columns, so never listed among a setting's differences.
SHOWN_KEYS = (
    "model._target_", "model.tau", "frontend._target_",
    "frontend.trainable", "frontend.trainable_stft", "frontend.trainable_mel",
)  # fmt: skip
#: The four settings of Heung, Cheuk and Herremans (2022), by (STFT trains, Mel basis trains).
PAPER_SETTINGS = {(False, False): "A", (False, True): "B", (True, False): "C", (True, True): "D"}
PAPER_SETTING_NAMES = {"A": "both fixed", "B": "Mel trained", "C": "STFT trained",
                       "D": "both trained"}  # fmt: skip


def flag_text(value: Any) -> str:
    """A part's trainable flag as a table or label shows it: trained, fixed, or – (unknown)."""
    return "–" if value is None else ("trained" if value else "fixed")


def natural_order(value: Any) -> tuple[int, float | str]:
    """Sorts numbers by value (10 before 40 before 128), everything else by its text."""
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    return (0, float(value)) if is_number else (1, str(value))


@dataclass
class Setting:
    """Runs whose configs differ only in seed (in order of seed), and the config values that
    set them apart."""

    runs: list[Run]
    differences: dict[str, Any]
    key: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.key = dict(self.runs[0].setting_key())

    def value(self, key: str) -> Any:
        return self.runs[0].config.get(key)

    @property
    def model(self) -> str:
        name = str(self.value("model._target_")).rsplit(".", 1)[-1]
        tau = self.value("model.tau")
        return name if tau is None else f"{name} τ={tau:g}"

    @property
    def frontend(self) -> str:
        return str(self.value("frontend._target_")).rsplit(".", 1)[-1]

    @property
    def trainable_stft(self) -> bool | None:
        stft = self.value("frontend.trainable_stft")
        return self.value("frontend.trainable") if stft is None else stft

    @property
    def trainable_mel(self) -> bool | None:
        return self.value("frontend.trainable_mel")

    @property
    def frontend_trains(self) -> bool | None:
        """Whether the frontend has trainable parameters (as every run's ``metrics.json`` says);
        None when the runs do not say or disagree."""
        counts = {r.frontend_trainable_params for r in self.runs}
        if None in counts or len({c > 0 for c in counts}) != 1:
            return None
        return counts.pop() > 0

    @property
    def paper_setting(self) -> str | None:
        """``"A"`` to ``"D"`` for a Mel frontend (Heung et al.'s settings), else None."""
        if self.frontend != "MelSpectrogram" or None in (self.trainable_stft, self.trainable_mel):
            return None
        return PAPER_SETTINGS[(bool(self.trainable_stft), bool(self.trainable_mel))]

    def name(self, without: Collection[str] = ()) -> str:
        """A one-line name: model, frontend, what trains, the differing config values.

        Args:
            without: parts to leave out: ``"model"``, or differing config keys.
        """
        parts = [] if "model" in without else [self.model]
        parts.append(self.frontend)
        if self.paper_setting:
            parts.append(f"{self.paper_setting} ({PAPER_SETTING_NAMES[self.paper_setting]})")
        differences = {k: v for k, v in self.differences.items() if k not in without}
        parts += [f"{key.removeprefix('module.')}={value}" for key, value in differences.items()]
        return ", ".join(parts)

    def label(self) -> str:
        """A short multi-line name for plots: model, what trains, the differing values (their
        keys without the ``frontend.`` or ``module.`` section)."""
        lines = [self.model]
        if self.trainable_stft is None:
            lines += [self.frontend, flag_text(self.frontend_trains)]
        else:
            lines.append(f"STFT {flag_text(self.trainable_stft)}")
        if self.trainable_mel is not None:
            lines.append(f"Mel {flag_text(self.trainable_mel)}")
        if self.paper_setting:
            lines[-1] += f" ({self.paper_setting})"
        lines += [
            f"{key.removeprefix('frontend.').removeprefix('module.')}={value}"
            for key, value in self.differences.items()
        ]
        return "\n".join(lines)

    def sort_key(self) -> tuple:
        differences = tuple((k, natural_order(v)) for k, v in self.differences.items())
        return (self.model, self.frontend, differences, str(self.trainable_stft),
                str(self.trainable_mel))  # fmt: skip

    def metric(self, name: str) -> np.ndarray:
        """The metric of every run that logged it, one value per seed."""
        return np.array([r.metrics[name] for r in self.runs if r.metrics.get(name) is not None])

    def per_seed(self, name: str) -> dict[Any, float]:
        """The metric by seed, for seeds run once in this setting."""
        seeds = [r.seed for r in self.runs]
        return {
            r.seed: float(r.metrics[name])
            for r in self.runs
            if seeds.count(r.seed) == 1 and r.metrics.get(name) is not None
        }

    def summary(self, name: str) -> Summary:
        return summarise(self.metric(name))

    def drift(self, name: str) -> float | None:
        values = [r.drift[name] for r in self.runs if name in r.drift]
        return float(np.mean(values)) if values else None


def _owner(key: str, config: dict[str, str]) -> str | None:
    """The ``_target_`` of the nearest section holding ``key`` (e.g. the frontend's class for
    ``frontend.n_mels``), as ``config`` (a ``setting_key`` dict) gives it; None if none does."""
    parts = key.split(".")
    for end in range(len(parts) - 1, 0, -1):
        target = config.get(".".join(parts[:end]) + "._target_")
        if target is not None:
            return target
    return None


def _varying(key: str, configs: Sequence[dict[str, str]]) -> set[str | None]:
    """The classes (``_owner``) among whose settings ``key`` takes more than one value, absent
    counting as a value: a key that only one frontend class has, or on which two classes
    differ by default (LEAF's window against Mel's), tells no settings of one class apart."""
    values: dict[str | None, set[str | None]] = {}
    for config in configs:
        values.setdefault(_owner(key, config), set()).add(config.get(key))
    return {owner for owner, seen in values.items() if len(seen) > 1}


def group_settings(runs: Sequence[Run]) -> list[Setting]:
    """Group runs by ``Run.setting_key``; each setting notes its values of the config keys,
    beyond the shown columns, that tell it apart from settings of the same classes (see
    ``_varying``).

    Args:
        runs: finished runs.
    """
    groups: dict[tuple, list[Run]] = {}
    for run in runs:
        groups.setdefault(run.setting_key(), []).append(run)
    kept = [dict(group_key) for group_key in groups]
    keys = sorted({key for group in kept for key in group} - set(SHOWN_KEYS))
    varying = {key: _varying(key, kept) for key in keys}
    settings = []
    for group_key, members in zip(kept, groups.values(), strict=True):
        differences = {
            key: members[0].config[key]
            for key, owners in varying.items()
            if key in group_key and _owner(key, group_key) in owners
        }
        settings.append(Setting(sorted(members, key=lambda r: natural_order(r.seed)), differences))
    return sorted(settings, key=Setting.sort_key)
