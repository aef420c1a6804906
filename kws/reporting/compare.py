"""Compare training runs: ``python -m kws.compare DIR [DIR ...] [--output OUT]``.

Finds every run under the folders given (a folder holding the ``config.yaml`` and
``metrics.json`` that ``train.py`` writes) and groups runs whose configs differ only in seed into
settings. Per setting: the model, the frontend and which of its parts train, trainable parameter
counts, validation and test accuracy and test F1 as mean, standard deviation and 95% confidence
interval over seeds (t distribution), the validation streams' figures of stream-aware runs, and
how far the frontend drifted. Each setting whose
frontend trains is tested against its fixed baseline (the setting whose frontend trains nothing,
with the same head, data, schedule and number of filters), paired by seed (``ttest_rel``), and
called better or worse only where the test says so at p < 0.05. Writes ``comparison.md``,
``comparison.csv`` (settings), ``comparison_paired.csv`` (tests) and the figures
``comparison.png`` (accuracy and drift per setting), ``comparison_n_mels.png`` (accuracy against
the number of filters), ``comparison_gain.png`` (gain from training against the head's size) and
``comparison_centres.png`` (learned filter centres against initial ones, from the checkpoints).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps, rcParams
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.textpath import text_to_path
from omegaconf import OmegaConf
from scipy import stats

from kws.frontend import DRIFT_LABELS, MEL_BASIS_CHANGE, STFT_KERNEL_CHANGE, filter_centres_of
from kws.io import atomic_write
from kws.reporting.figures import save_figures

METRICS = {"val/acc": "val acc (%)", "test/acc": "test acc (%)", "test/f1": "test F1 (%)"}
#: Stream figures of stream-aware runs (``kws.training.stream_validation``): name -> (column,
#: scale); a column is shown where some run logged its figure.
STREAM_METRICS = {
    "val/frr_at_target": ("val FRR at target (%)", 100.0),
    "val/fa_per_hour": ("val FA/h at reference", 1.0),
    "val/frr": ("val FRR at reference (%)", 100.0),
    "val/threshold": ("calibrated threshold", 1.0),
}
#: The metric the paired tests, the n_mels figure and the gain figure compare.
PAIRED_METRIC = "test/acc"
#: Significance level of the paired tests, and the confidence level of every interval.
ALPHA = 0.05
CONFIDENCE = 1 - ALPHA
# Config keys shown in their own columns, so never listed among a setting's differences.
SHOWN_KEYS = (
    "model._target_", "model.tau", "frontend._target_",
    "frontend.trainable", "frontend.trainable_stft", "frontend.trainable_mel",
)  # fmt: skip
# Config that changes how a run reports, not what it learns: never tells settings apart.
REPORTING_PREFIXES = ("logger.", "callbacks.frontend_figures.")
REPORTING_KEYS = ("trainer.enable_progress_bar", "trainer.log_every_n_steps", "data.num_workers")
# How the frontend is built and trained: what a trainable setting and its fixed baseline may
# differ in. Of these, a baseline must share the number of filters and the masked bins.
FRONTEND_PREFIXES = ("frontend.", "module.frontend_optimizer.")
MATCHED_FRONTEND_KEYS = ("frontend.n_mels", "frontend.mask_bins")
N_MELS = "frontend.n_mels"
#: The four settings of Heung, Cheuk and Herremans (2022), by (STFT trains, Mel basis trains).
PAPER_SETTINGS = {(False, False): "A", (False, True): "B", (True, False): "C", (True, True): "D"}
PAPER_NOTE = (
    "A–D are the settings of Heung, Cheuk and Herremans (2022): A both fixed, B Mel basis "
    "trained, C STFT trained, D both. "
)
PAPER_SETTING_NAMES = {"A": "both fixed", "B": "Mel trained", "C": "STFT trained",
                       "D": "both trained"}  # fmt: skip

# Folders that hold a config.yaml of their own but are not runs: Hydra's and W&B's.
NOT_RUNS = {".hydra", "wandb"}


class NoRunsError(FileNotFoundError):
    """No finished training run under the folders given."""


@dataclass
class Run:
    """One finished training run: its flattened config, final metrics, sizes and drift."""

    path: Path
    config: dict[str, Any]
    metrics: dict[str, Any]
    head_params: int | None
    frontend_trainable_params: int | None
    drift: dict[str, float]

    @property
    def seed(self) -> Any:
        return self.config.get("seed")

    def setting_key(self) -> tuple[tuple[str, str], ...]:
        """The config without what may differ between runs of one setting: keys named ``seed``,
        values naming the run's own folder (output, logger and checkpoint paths) and reporting.
        """
        where = str(self.config.get("output_dir", self.path))
        return tuple(
            (key, repr(value))
            for key, value in sorted(self.config.items())
            if key.rsplit(".", 1)[-1] != "seed"
            and key != "output_dir"
            and where not in str(value)
            and key not in REPORTING_KEYS
            and not key.startswith(REPORTING_PREFIXES)
        )

    def checkpoint(self) -> Path | None:
        """The checkpoint ``metrics.json`` names (the one tested), found in this run folder even
        when the folder has moved since training; None when no checkpoint was tested."""
        saved = self.metrics.get("checkpoint")
        if not isinstance(saved, str):
            return None
        path, recorded = Path(saved), Path(str(self.config.get("output_dir", self.path)))
        return self.path / path.relative_to(recorded) if path.is_relative_to(recorded) else path


def _flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = tuple(value) if isinstance(value, list) else value
    return flat


def read_run(path: Path) -> Run:
    """Read a run folder: its ``config.yaml`` and the ``metrics.json`` that ``train.py`` writes,
    with the trainable parameter counts and the frontend's drift at the end of training.

    Args:
        path: the run folder.
    """
    config = _flatten(OmegaConf.to_container(OmegaConf.load(path / "config.yaml")))
    metrics = json.loads((path / "metrics.json").read_text())
    parameters = metrics.get("parameters", {})
    return Run(
        path=path,
        config=config,
        metrics=metrics,
        head_params=parameters.get("head_trainable"),
        frontend_trainable_params=parameters.get("frontend_trainable"),
        drift=metrics.get("drift", {}),
    )


def find_runs(dirs: Iterable[Path]) -> tuple[list[Path], list[Path]]:
    """Run folders under ``dirs``: the finished ones (with ``metrics.json``) and the others.

    Args:
        dirs: folders to search, each at any depth.
    """
    folders = set()
    for directory in map(Path, dirs):
        if not directory.is_dir():
            raise NotADirectoryError(f"{directory}: not a folder")
        folders |= {
            config.parent
            for config in directory.rglob("config.yaml")
            if not NOT_RUNS.intersection(config.relative_to(directory).parts)
        }
    finished = sorted(f for f in folders if (f / "metrics.json").is_file())
    return finished, sorted(folders - set(finished))


def _flag(value: Any) -> str:
    return "–" if value is None else ("trained" if value else "fixed")


def _order(value: Any) -> tuple[int, float | str]:
    """Sorts numbers by value (10 before 40 before 128), everything else by its text."""
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    return (0, float(value)) if is_number else (1, str(value))


@dataclass(frozen=True)
class Summary:
    """One metric of a setting over its seeds: count, mean, sample standard deviation and the
    95% confidence interval of the mean (t distribution; None for fewer than two seeds)."""

    n: int
    mean: float | None
    std: float | None
    ci: tuple[float, float] | None

    @property
    def half_widths(self) -> tuple[float, float]:
        """Distances from the mean to the interval's ends (0 without one), for error bars."""
        if self.ci is None or self.mean is None:
            return 0.0, 0.0
        return self.mean - self.ci[0], self.ci[1] - self.mean

    def scaled(self, factor: float) -> Summary:
        """The same summary of ``factor`` times the values (e.g. 100 for percent)."""

        def times(value: float | None) -> float | None:
            return None if value is None else factor * value

        ci = None if self.ci is None else (factor * self.ci[0], factor * self.ci[1])
        return Summary(self.n, times(self.mean), times(self.std), ci)


def summarise(values: Sequence[float]) -> Summary:
    """Mean, sample standard deviation and ``CONFIDENCE`` interval of the mean of ``values``.

    The interval is ``mean ± t(n - 1) * std / sqrt(n)`` (``scipy.stats.t.interval``); for one
    value there is neither standard deviation nor interval.

    Args:
        values: one value per seed.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return Summary(0, None, None, None)
    mean = float(values.mean())
    if values.size == 1:
        return Summary(1, mean, None, None)
    std = float(values.std(ddof=1))
    sem = std / np.sqrt(values.size)
    if sem == 0.0:
        return Summary(values.size, mean, std, (mean, mean))
    low, high = stats.t.interval(CONFIDENCE, values.size - 1, loc=mean, scale=sem)
    return Summary(values.size, mean, std, (float(low), float(high)))


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
            lines += [self.frontend, _flag(self.frontend_trains)]
        else:
            lines.append(f"STFT {_flag(self.trainable_stft)}")
        if self.trainable_mel is not None:
            lines.append(f"Mel {_flag(self.trainable_mel)}")
        if self.paper_setting:
            lines[-1] += f" ({self.paper_setting})"
        lines += [
            f"{key.removeprefix('frontend.').removeprefix('module.')}={value}"
            for key, value in self.differences.items()
        ]
        return "\n".join(lines)

    def sort_key(self) -> tuple:
        differences = tuple((k, _order(v)) for k, v in self.differences.items())
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
        settings.append(Setting(sorted(members, key=lambda r: _order(r.seed)), differences))
    return sorted(settings, key=Setting.sort_key)


@dataclass
class PairedTest:
    """A setting whose frontend trains against its fixed baseline, over the seeds both ran.

    ``trained`` and ``fixed`` hold ``PAIRED_METRIC`` per paired seed; the test is
    ``scipy.stats.ttest_rel`` (two-sided), ``ci`` the ``CONFIDENCE`` interval of the mean gain,
    ``q_value`` the Benjamini-Hochberg adjusted p-value over all tests of one report.
    """

    setting: Setting
    baseline: Setting
    seeds: list[Any]
    trained: np.ndarray
    fixed: np.ndarray
    statistic: float | None = None
    p_value: float | None = None
    ci: tuple[float, float] | None = None
    q_value: float | None = None

    @property
    def gain(self) -> float | None:
        """Mean of trained minus fixed over the paired seeds."""
        return float(np.mean(self.trained - self.fixed)) if self.seeds else None

    @property
    def constant(self) -> bool:
        """Every seed gained exactly as much (to rounding): the t statistic is undefined."""
        differences = self.trained - self.fixed
        return len(self.seeds) > 1 and bool(np.ptp(differences) <= 1e-12)

    @property
    def verdict(self) -> str:
        """``better`` or ``worse`` where p < ``ALPHA``, else ``no significant difference``, or
        why the test could not be made."""
        if len(self.seeds) < 2:
            return f"not tested: {len(self.seeds)} paired seed(s), a test needs 2 or more"
        if self.constant:
            if self.gain == 0:
                return "no significant difference (identical scores)"
            return "not tested: every seed gained exactly as much (the t statistic is undefined)"
        if self.p_value is not None and self.p_value < ALPHA:
            return "better" if self.gain > 0 else "worse"
        return "no significant difference"


def paired_test(setting: Setting, baseline: Setting, metric: str = PAIRED_METRIC) -> PairedTest:
    """Test ``setting`` against ``baseline`` on ``metric``, paired by seed.

    Args:
        setting: a setting whose frontend trains.
        baseline: its fixed baseline.
        metric: the metric to compare. Default ``PAIRED_METRIC``.
    """
    mine, theirs = setting.per_seed(metric), baseline.per_seed(metric)
    seeds = sorted((s for s in mine if s in theirs), key=_order)
    test = PairedTest(
        setting, baseline, seeds,
        np.array([mine[s] for s in seeds]), np.array([theirs[s] for s in seeds]),
    )  # fmt: skip
    if len(seeds) > 1 and not test.constant:
        result = stats.ttest_rel(test.trained, test.fixed)
        interval = result.confidence_interval(CONFIDENCE)
        test.statistic, test.p_value = float(result.statistic), float(result.pvalue)
        test.ci = (float(interval.low), float(interval.high))
    return test


def fixed_baseline(setting: Setting, settings: Sequence[Setting]) -> tuple[Setting | None, str]:
    """The setting to test ``setting`` against, and why there is none when there is none.

    The baseline's frontend trains nothing; it shares every config value outside the frontend
    and its optimiser group (head, data, schedule), and the number of filters and masked bins
    where both frontends have them; of those, the one whose frontend config differs in the
    fewest keys (trainable Mel pairs with fixed Mel, not with a fixed frontend of another kind).

    Args:
        setting: a setting whose frontend trains.
        settings: all settings of the report.
    """
    mine = setting.key

    def comparable(other: Setting) -> bool:
        theirs = other.key
        outside = {k for k in mine.keys() | theirs.keys() if not k.startswith(FRONTEND_PREFIXES)}
        shared = [k for k in MATCHED_FRONTEND_KEYS if k in mine and k in theirs]
        return all(mine.get(k) == theirs.get(k) for k in [*outside, *shared])

    def distance(other: Setting) -> int:
        keys = {k for k in mine.keys() | other.key.keys() if k.startswith(FRONTEND_PREFIXES)}
        return sum(k not in mine or k not in other.key or mine[k] != other.key[k] for k in keys)

    fixed = [i for i, s in enumerate(settings) if s.frontend_trains is False and comparable(s)]
    candidates = sorted((distance(settings[i]), i) for i in fixed)
    if not candidates:
        return None, "no fixed setting with the same head, data, schedule and filters"
    if len(candidates) > 1 and candidates[0][0] == candidates[1][0]:
        return None, "several fixed settings are equally close: " + "; ".join(
            settings[i].name() for d, i in candidates if d == candidates[0][0]
        )
    return settings[candidates[0][1]], ""


def paired_tests(settings: Sequence[Setting]) -> tuple[list[PairedTest], list[tuple[Setting, str]]]:
    """Each setting whose frontend trains against its fixed baseline, with Benjamini-Hochberg
    adjusted p-values over the tests made; and the trainable settings without a baseline.

    Args:
        settings: all settings of the report.
    """
    tests, unpaired = [], []
    for setting in settings:
        if setting.frontend_trains:
            baseline, reason = fixed_baseline(setting, settings)
            if baseline is None:
                unpaired.append((setting, reason))
            else:
                tests.append(paired_test(setting, baseline))
    made = [t for t in tests if t.p_value is not None]
    if made:
        adjusted = stats.false_discovery_control([t.p_value for t in made])
        for test, q in zip(made, adjusted, strict=True):
            test.q_value = float(q)
    return tests, unpaired


@dataclass
class Centres:
    """One run's filter centres in Hz, as its tested checkpoint (path, epoch) holds them."""

    seed: Any
    checkpoint: Path
    epoch: int | None
    initial: np.ndarray
    learned: np.ndarray


def read_centres(
    settings: Sequence[Setting],
) -> tuple[list[tuple[Setting, list[Centres]]], list[str]]:
    """The initial and learned filter centres of each run whose frontend trains, read from the
    checkpoint its ``metrics.json`` names through kws's safe checkpoint loader; and a line for
    each checkpoint that could not be read, and one counting the runs that name none.

    Args:
        settings: all settings of the report; those whose frontend reports no filter centres
            (``kws.frontend.filter_centres_of``) are left out.
    """
    from kws.training import CheckpointError, load_checkpoint

    found, problems, unnamed = [], [], 0
    for setting in settings:
        if not setting.frontend_trains:
            continue
        centres = []
        for run in setting.runs:
            path = run.checkpoint()
            if path is None:
                unnamed += 1
                continue
            try:
                module = load_checkpoint(path)
            except CheckpointError as error:
                problems.append(str(error))
                continue
            pair = filter_centres_of(module.spotter.frontend)
            if pair is not None:
                initial, learned = (t.detach().double().cpu().numpy() for t in pair)
                epoch = module.checkpoint_metadata["epoch"]
                centres.append(Centres(run.seed, path, epoch, initial, learned))
        if centres:
            found.append((setting, sorted(centres, key=lambda c: _order(c.seed))))
    if unnamed:
        problems.append(f"{unnamed} run(s) tested no checkpoint (metrics.json names none)")
    return found, problems


def _percent(summary: Summary) -> str:
    summary = summary.scaled(100)
    if summary.mean is None:
        return "–"
    return (
        f"{summary.mean:.2f}" if summary.std is None else f"{summary.mean:.2f} ± {summary.std:.2f}"
    )


def _interval(ci: tuple[float, float] | None, factor: float = 100) -> str:
    return "–" if ci is None else f"[{factor * ci[0]:.2f}, {factor * ci[1]:.2f}]"


def _number(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}g}"


def _count(value: int | None) -> str:
    return "–" if value is None else f"{value:,}"


def _relative(path: Path, start: Path) -> str:
    return os.path.relpath(path.resolve(), start.resolve())


def _drift_columns(settings: Sequence[Setting]) -> dict[str, str]:
    """The drift keys any run reports, in ``DRIFT_LABELS``' order, with their column titles:
    relative changes in %, per-filter shifts (keys ending ``_hz``) as a mean magnitude."""
    reported = {name for s in settings for r in s.runs for name in r.drift}
    return {
        name: f"mean abs. {label}" if name.endswith("_hz") else f"{label} change (%)"
        for name, label in DRIFT_LABELS.items()
        if name in reported
    }


def _drift(name: str, value: float | None) -> str:
    """A drift value as its column shows it: relative changes in %, shifts in Hz."""
    if value is None:
        return _number(None)
    return _number(value if name.endswith("_hz") else 100 * value)


def _stream_columns(settings: list[Setting]) -> dict[str, tuple[str, float]]:
    """The stream figures some run logged, with their columns and scales."""
    logged = {name for s in settings for r in s.runs for name in r.metrics}
    return {name: column for name, column in STREAM_METRICS.items() if name in logged}


def _scaled(summary: Summary, scale: float) -> str:
    """A summary as a table cell: mean ± standard deviation, scaled."""
    summary = summary.scaled(scale)
    if summary.mean is None:
        return "–"
    return (
        f"{summary.mean:.3g}" if summary.std is None else f"{summary.mean:.3g} ± {summary.std:.2g}"
    )


def _settings_table(settings: list[Setting], output: Path) -> list[str]:
    drifts = _drift_columns(settings)
    streams = _stream_columns(settings)
    header = [
        "model", "frontend", "STFT", "Mel", "head params", "frontend trainable params",
        *METRICS.values(), *(column for column, _ in streams.values()),
        f"test acc {CONFIDENCE:.0%} CI", "seeds", *drifts.values(), "runs",
    ]  # fmt: skip
    if any(s.paper_setting for s in settings):
        header.insert(4, "A–D")
    if any(s.differences for s in settings):
        header.insert(0, "setting")
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    for s in settings:
        drift_cells = [_drift(name, s.drift(name)) for name in drifts]
        seeds = [r.seed for r in s.runs]
        cells = [
            s.model, s.frontend, _flag(s.trainable_stft), _flag(s.trainable_mel),
            _count(s.runs[0].head_params), _count(s.runs[0].frontend_trainable_params),
            *[_percent(s.summary(name)) for name in METRICS],
            *[_scaled(s.summary(name), scale) for name, (_, scale) in streams.items()],
            _interval(s.summary(PAIRED_METRIC).ci),
            f"{len(s.runs)} ({', '.join(map(str, seeds))})", *drift_cells,
            "<br>".join(f"`{_relative(r.path, output)}`" for r in s.runs),
        ]  # fmt: skip
        if "A–D" in header:
            cells.insert(4, s.paper_setting or "")
        if "setting" in header:
            cells.insert(0, ", ".join(f"{k}={v}" for k, v in s.differences.items()))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _tests_table(tests: list[PairedTest]) -> list[str]:
    header = [
        "setting", "fixed baseline", "paired seeds", "trained test acc (%)", "fixed test acc (%)",
        f"gain (points) [{CONFIDENCE:.0%} CI]", "t", "p", "q (BH)", "verdict",
    ]  # fmt: skip
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    for t in tests:
        gain = "–" if t.gain is None else f"{100 * t.gain:+.2f}"
        gain += "" if t.ci is None else f" {_interval(t.ci)}"
        cells = [
            t.setting.name(), t.baseline.name(), ", ".join(map(str, t.seeds)) or "–",
            _percent(summarise(t.trained)), _percent(summarise(t.fixed)), gain,
            _number(t.statistic), _number(t.p_value, 2), _number(t.q_value, 2), t.verdict,
        ]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _markdown(
    settings: list[Setting],
    tests: list[PairedTest],
    unpaired: list[tuple[Setting, str]],
    unfinished: list[Path],
    figures: list[str],
    problems: list[str],
    output: Path,
) -> str:
    n_runs = sum(len(s.runs) for s in settings)
    n_made = sum(t.p_value is not None for t in tests)
    lines = [
        f"# Comparison: {n_runs} runs in {len(settings)} settings",
        "",
        "Accuracy and F1 are mean ± sample standard deviation over the seeds of a setting (runs "
        f"whose configs differ only in seed); the {CONFIDENCE:.0%} confidence interval of the "
        "mean test accuracy uses the t distribution with n − 1 degrees of freedom. "
        + PAPER_NOTE
        * any(s.paper_setting for s in settings)
        + "Drift is the relative Frobenius change of the frontend's parts from their initial "
        "values, and the mean absolute shift of the filters' centre frequencies, at the end of "
        "each run's training, averaged over seeds; the filter centres figure draws each run's "
        "tested checkpoint (its legend names the file and epoch).",
        "",
        *_settings_table(settings, output),
    ]
    if tests or unpaired:
        lines += [
            "",
            "## Trainable against fixed, paired by seed",
            "",
            "Each setting whose frontend trains is compared with its fixed baseline: the setting "
            "whose frontend trains nothing, with the same head, data, schedule, number of filters "
            "and masked bins, and the fewest other frontend differences. The gain is the mean "
            "over the seeds both ran of the difference in test accuracy; p is the two-sided "
            "paired t-test's (scipy.stats.ttest_rel). A setting is called better or worse only "
            f"where p < {ALPHA}; otherwise there is no significant difference. q is p adjusted "
            f"for the {n_made} test(s) made in this report (Benjamini-Hochberg): where no "
            f"setting matters, about one test in {round(1 / ALPHA)} still has p < {ALPHA}.",
            "",
        ]
        lines += _tests_table(tests) if tests else ["No setting whose frontend trains has one."]
        if unpaired:
            lines += ["", "Not tested, no fixed baseline:"]
            lines += [f"- {s.name()}: {reason}" for s, reason in unpaired]
    if unfinished:
        lines += ["", "Skipped, no `metrics.json` (unfinished or failed):"]
        lines += [f"- `{_relative(path, output)}`" for path in unfinished]
    if problems:
        lines += ["", "Filter centres not drawn:"]
        lines += [f"- {problem}" for problem in problems]
    lines += ["", *(f"![{title}]({name}.png)" for name, title in FIGURE_TITLES.items()
                    if name in figures), ""]  # fmt: skip
    return "\n".join(lines)


def _write_csv(settings: list[Setting], path: Path) -> None:
    parts = ("mean", "std", "ci_low", "ci_high")
    stat_columns = [
        f"{name}_{part}".replace("/", "_") for name in (*METRICS, *STREAM_METRICS) for part in parts
    ]
    columns = [
        "setting", "model", "frontend", "trainable_stft", "trainable_mel", "paper_setting",
        "head_params", "frontend_trainable_params", *stat_columns, "n_seeds", "seeds",
        *DRIFT_LABELS, "runs",
    ]  # fmt: skip
    with atomic_write(path, newline="") as file:
        writer = csv.DictWriter(file, columns)
        writer.writeheader()
        for s in settings:
            row: dict[str, Any] = {
                "setting": ";".join(f"{k}={v}" for k, v in s.differences.items()),
                "model": s.model,
                "frontend": s.frontend,
                "trainable_stft": s.trainable_stft,
                "trainable_mel": s.trainable_mel,
                "paper_setting": s.paper_setting,
                "head_params": s.runs[0].head_params,
                "frontend_trainable_params": s.runs[0].frontend_trainable_params,
                "n_seeds": len(s.runs),
                "seeds": ";".join(str(r.seed) for r in s.runs),
                "runs": ";".join(str(r.path) for r in s.runs),
            }
            for name in (*METRICS, *STREAM_METRICS):
                summary, prefix = s.summary(name), name.replace("/", "_")
                low, high = summary.ci or (None, None)
                row.update({f"{prefix}_mean": summary.mean, f"{prefix}_std": summary.std,
                            f"{prefix}_ci_low": low, f"{prefix}_ci_high": high})  # fmt: skip
            row.update({name: s.drift(name) for name in DRIFT_LABELS})
            writer.writerow(row)


def _write_tests_csv(tests: list[PairedTest], path: Path) -> None:
    columns = [
        "setting", "baseline", "metric", "seeds", "trained", "fixed", "gain", "gain_ci_low",
        "gain_ci_high", "t", "p", "q", "verdict", "runs", "baseline_runs",
    ]  # fmt: skip
    with atomic_write(path, newline="") as file:
        writer = csv.DictWriter(file, columns)
        writer.writeheader()
        for t in tests:
            low, high = t.ci or (None, None)
            writer.writerow({
                "setting": t.setting.name(), "baseline": t.baseline.name(),
                "metric": PAIRED_METRIC, "seeds": ";".join(map(str, t.seeds)),
                "trained": ";".join(map(repr, t.trained.tolist())),
                "fixed": ";".join(map(repr, t.fixed.tolist())),
                "gain": t.gain, "gain_ci_low": low, "gain_ci_high": high,
                "t": t.statistic, "p": t.p_value, "q": t.q_value, "verdict": t.verdict,
                "runs": ";".join(str(r.path) for r in t.setting.runs),
                "baseline_runs": ";".join(str(r.path) for r in t.baseline.runs),
            })  # fmt: skip


# Figure text. Lines are measured by the font's outlines; the Agg renderer hints glyphs, which
# draws some lines a few percent wider, so a line may take this share of the width it is given.
HINTING = 1.1
LINE_SPACING = 1.2  # matplotlib's, in font sizes
WORD = re.compile(r"\S+\s*|\s+")  # a word with the spaces after it
# Where a word too long for a line may break, after one of these; the first that will do.
BREAKS = (",;=", "./:", "_-")
# The comparison figure: the height of each of its two panels, and the width its y axes take
# (inches); every figure: room for a panel's title, axis labels and pads beyond its axes.
PANEL_HEIGHT = 3.6
Y_AXIS_WIDTH = 1.2
DECORATIONS = 1.3


def _points(size: float | str) -> float:
    """A font size, in points or by name (``"small"``), in points."""
    return FontProperties(size=size).get_size_in_points()


def _fits(line: str, width: float, size: float | str) -> bool:
    """Whether one line of text at font ``size`` is at most ``width`` inches wide, drawn."""
    drawn, _, _ = text_to_path.get_text_width_height_descent(
        line, FontProperties(size=size), ismath=False
    )
    return drawn * HINTING / 72 <= width


def _wrap(text: str, width: float, size: float | str = "medium") -> str:
    """``text`` with each of its lines broken into lines at most ``width`` inches wide at font
    ``size``: after a space where it can, else inside a long word after the first of
    ``BREAKS`` that will do (``key.part=value`` breaks after ``=``, then after ``.``, then after
    ``_``), else between characters; and with ``$`` escaped, so that matplotlib draws the text
    as written, never as mathtext (which may fail on a config value).

    Args:
        text: the text, lines apart at ``\\n``.
        width: the widest line, in inches.
        size: the font size it is drawn at, in points or by name. Default ``"medium"``.
    """

    def pieces(word: str, level: int = 0) -> list[str]:
        """The word, or its parts at the ``level``-th breaks, each broken further if too wide."""
        if _fits(word.rstrip(), width, size):
            return [word]
        if level == len(BREAKS):
            return list(word)
        breaks = re.escape(BREAKS[level])
        parts = re.findall(rf"[^{breaks}]*[{breaks}]+|[^{breaks}]+", word)
        return [piece for part in parts for piece in pieces(part, level + 1)]

    lines = []
    for line in text.split("\n"):
        current = ""
        for piece in (piece for word in WORD.findall(line) for piece in pieces(word)):
            if current.strip() and not _fits(current + piece.rstrip(), width, size):
                lines.append(current.rstrip())
                current = piece
            else:
                current += piece
        lines.append(current.rstrip())
    return "\n".join(lines).replace("$", r"\$")


def _height(text: str, size: float | str) -> float:
    """The height of ``text``'s lines at font ``size``, in inches."""
    return (text.count("\n") + 1) * LINE_SPACING * _points(size) / 72


def _headroom(top: float, room: float, height: float) -> float:
    """The upper limit of an axis from 0 whose data reach ``top`` that leaves ``room`` inches
    above them in a panel ``height`` inches tall.

    Args:
        top: the highest data value, > 0.
        room: the room to leave above it, in inches, less than ``height``.
        height: the panel's height in inches.
    """
    return top * height / (height - room)


def comparison_figure(settings: list[Setting]) -> Figure:
    """Test accuracy per setting (mean ± std, each seed) above the STFT and Mel drift; each
    setting's label under both, wrapped to its slot, the figure as tall as the labels need.

    Args:
        settings: the settings to draw, in order.
    """
    x = np.arange(len(settings))
    width = max(11.0, 1.3 * len(settings) + 2)
    slot = 0.92 * (width - Y_AXIS_WIDTH) / len(settings)  # a setting's share, less a gap
    labels = [_wrap(s.label(), slot, "small") for s in settings]
    label_height = max(_height(label, "small") for label in labels)
    figure = Figure(
        figsize=(width, 2 * PANEL_HEIGHT + label_height + DECORATIONS), layout="constrained"
    )
    accuracy, drift = figure.subplots(2, 1, sharex=True)  # the labels once, under both
    panel = 0.85 * PANEL_HEIGHT  # the least a panel gets, the titles taken

    summaries = [s.summary("test/acc").scaled(100) for s in settings]
    means = np.array([np.nan if m.mean is None else m.mean for m in summaries])
    spreads = np.array([0.0 if m.std is None else m.std for m in summaries])
    accuracy.bar(x, means, yerr=spreads, capsize=5, color="tab:blue", alpha=0.8, width=0.6)
    tops = []  # above the error bar and every seed: the mean ± std label
    for i, s in enumerate(settings):
        seeds = 100 * s.metric("test/acc")
        accuracy.scatter(np.full(seeds.size, i), seeds, color="black", s=14, zorder=3)
        tops.append(max((v for v in (*seeds, means[i] + spreads[i]) if np.isfinite(v)),
                        default=0.0))  # fmt: skip
    notes = [_wrap(_percent(s.summary("test/acc")), slot) for s in settings]
    for i, note in enumerate(notes):
        accuracy.annotate(note, (i, tops[i]), xytext=(0, 4), textcoords="offset points",
                          ha="center", va="bottom")  # fmt: skip
    # Room for the labels: their 4 points off the data, their lines and 4 points to spare.
    room = (4 + 4) / 72 + max(_height(note, "medium") for note in notes)
    accuracy.set_ylim(0, max(100.0, _headroom(max(tops), room, panel)))
    accuracy.set_ylabel("Test accuracy (%)")
    accuracy.set_title("Test accuracy per setting: mean ± std over seeds (dots: seeds)")

    bar = 0.38
    parts = (
        (STFT_KERNEL_CHANGE, "trainable_stft", "tab:orange"),
        (MEL_BASIS_CHANGE, "trainable_mel", "tab:green"),
    )
    highest = 0.0
    for offset, (name, flag, colour) in zip((-bar / 2, bar / 2), parts, strict=True):
        label = DRIFT_LABELS[name]
        values = [s.drift(name) for s in settings]
        heights = [0.0 if v is None else 100 * v for v in values]
        notes = [
            "–" if v is None else ("fixed" if not getattr(s, flag) else f"{100 * v:.3g}")
            for s, v in zip(settings, values, strict=True)
        ]
        bars = drift.bar(x + offset, heights, bar, color=colour, label=label)
        drift.bar_label(bars, notes, padding=2, fontsize="small")
        highest = max([highest, *(h for h in heights if np.isfinite(h))])
    drift.set_ylabel("Relative change ‖W − W₀‖ / ‖W₀‖ (%)")
    drift.set_title("Frontend drift at the end of training (mean over seeds)")
    drift.legend(loc="upper left", ncols=2)  # one row, above the bars and their labels
    # Room for the bars' labels (2 points off the bar, a line) and the legend's row with its
    # frame and pads (three lines), and 6 points to spare.
    room = (2 + 6) / 72 + _height("0", "small") + 3 * _height("0", "medium")
    drift.set_ylim(0, _headroom(highest, room, panel) if highest > 0 else 1.0)
    drift.set_xticks(x, labels, fontsize="small")
    drift.set_xlim(-0.5, len(settings) - 0.5)
    for axis in (accuracy, drift):
        axis.grid(axis="y", alpha=0.3)
    return figure


def _grid(figure: Figure, n: int, columns: int) -> list:
    """``n`` axes in rows of ``columns``; the unused ones of the last row hidden."""
    rows = -(-n // columns)
    axes = np.atleast_1d(figure.subplots(rows, min(n, columns), squeeze=False)).ravel()
    for axis in axes[n:]:
        axis.set_visible(False)
    return list(axes[:n])


def n_mels_figure(settings: Sequence[Setting]) -> Figure | None:
    """Test accuracy against the number of filters, one line per setting (all else equal), one
    panel per head, one legend beside them (off the lines); error bars are the ``CONFIDENCE``
    intervals over seeds. None when no setting was run at two or more ``frontend.n_mels``.

    Args:
        settings: all settings of the report.
    """
    series: dict[tuple, list[Setting]] = {}
    for s in settings:
        if N_MELS in s.key:
            rest = tuple((k, v) for k, v in s.key.items() if k != N_MELS)
            series.setdefault(rest, []).append(s)
    series = {k: v for k, v in series.items() if len({s.value(N_MELS) for s in v}) > 1}
    if not series:
        return None
    models = sorted({members[0].model for members in series.values()})
    kinds = sorted({members[0].name(without=("model", N_MELS)) for members in series.values()})
    sizes = [s.value(N_MELS) for members in series.values() for s in members]
    step = 0.01 * (max(sizes) - min(sizes))  # lines of one size spread a little sideways
    width, legend = 7.0, 2.8  # a panel's and the legend's
    figure = Figure(figsize=(width * len(models) + legend, 5.2), layout="constrained")
    panels = dict(zip(models, _grid(figure, len(models), len(models)), strict=True))
    colours = colormaps["tab10"]
    for members in series.values():
        members = sorted(members, key=lambda s: _order(s.value(N_MELS)))
        kind = kinds.index(members[0].name(without=("model", N_MELS)))
        summaries = [s.summary(PAIRED_METRIC).scaled(100) for s in members]
        panels[members[0].model].errorbar(
            [s.value(N_MELS) + step * (kind - (len(kinds) - 1) / 2) for s in members],
            [np.nan if m.mean is None else m.mean for m in summaries],
            yerr=np.array([m.half_widths for m in summaries]).T,
            marker="o", capsize=4, color=colours(kind % 10),
        )  # fmt: skip
    for model, axis in panels.items():
        title = f"{model}: test accuracy, mean and {CONFIDENCE:.0%} CI over seeds"
        axis.set_title(_wrap(title, width - Y_AXIS_WIDTH, rcParams["axes.titlesize"]))
        axis.set_xlabel("Number of filters (frontend.n_mels)")
        axis.set_ylabel("Test accuracy (%)")
        axis.grid(alpha=0.3)
    figure.legend(
        handles=[Line2D([], [], color=colours(i % 10), marker="o",
                        label=_wrap(kind, legend - 0.6, "small")) for i, kind in enumerate(kinds)],
        loc="outside right upper", fontsize="small",
    )  # fmt: skip
    return figure


def gain_figure(tests: Sequence[PairedTest]) -> Figure | None:
    """The gain from training the frontend against the head's trainable parameter count: one
    colour per kind of trainable setting, one marker per number of filters (points of one head
    size spread a little sideways); error bars are the gain's ``CONFIDENCE`` interval, filled
    markers the gains the paired test calls significant; the legend beside the axes, off the
    bars. None without a gain to draw.

    Args:
        tests: the report's paired tests.
    """
    drawn = [t for t in tests if t.gain is not None and t.setting.runs[0].head_params]
    if not drawn:
        return None
    kinds = sorted({t.setting.name(without=("model", N_MELS)) for t in drawn})
    n_mels = sorted({t.setting.value(N_MELS) for t in drawn}, key=_order)
    colours, markers = colormaps["tab10"], "os^Dv<>pP*"
    width, legend = 9.0, 2.8  # the axes' and their legend's
    figure = Figure(figsize=(width + legend, 5.4), layout="constrained")
    axis = figure.subplots()
    for t in drawn:
        kind = kinds.index(t.setting.name(without=("model", N_MELS)))
        size = n_mels.index(t.setting.value(N_MELS))
        spread = kind * len(n_mels) + size - (len(kinds) * len(n_mels) - 1) / 2
        x, gain, colour = (
            t.setting.runs[0].head_params * 1.02**spread,
            100 * t.gain,
            colours(kind % 10),
        )
        errors = (
            [[0.0], [0.0]] if t.ci is None else [[gain - 100 * t.ci[0]], [100 * t.ci[1] - gain]]
        )
        significant = t.verdict in ("better", "worse")
        axis.errorbar(
            x, gain, yerr=errors, marker=markers[size % len(markers)], capsize=3, color=colour,
            markerfacecolor=colour if significant else "white",
        )  # fmt: skip
    for size in {(t.setting.model, t.setting.runs[0].head_params) for t in drawn}:
        axis.annotate(size[0], (size[1], 0.01), xycoords=("data", "axes fraction"),
                      ha="center", fontsize="x-small", color="0.3")  # fmt: skip
    for i, kind in enumerate(kinds):
        axis.plot([], [], "s", color=colours(i % 10),
                  label=_wrap(kind, legend - 0.6, "small"))  # fmt: skip
    for i, value in enumerate(n_mels):
        if value is not None:
            axis.plot([], [], markers[i % len(markers)], color="0.3", label=f"{value} filters")
    axis.axhline(0.0, color="0.4", linewidth=0.8)
    axis.set_xscale("log")
    axis.set_xlabel("Head's trainable parameters (log scale)")
    axis.set_ylabel("Gain in test accuracy over the fixed baseline (points)")
    title = (
        f"Gain from training the frontend:\nmean and {CONFIDENCE:.0%} CI over paired seeds "
        f"(filled: p < {ALPHA})"
    )
    axis.set_title(_wrap(title, width - Y_AXIS_WIDTH, rcParams["axes.titlesize"]))
    axis.grid(alpha=0.3)
    axis.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return figure


def centres_figure(centres: Sequence[tuple[Setting, list[Centres]]]) -> Figure | None:
    """Each filter's learned centre frequency against its initial one, one panel per setting
    whose frontend trains (three to a row, each titled with the setting's name wrapped to its
    width), one colour per seed. None without centres to draw.

    Args:
        centres: what ``read_centres`` found.
    """
    if not centres:
        return None
    columns = min(3, len(centres))
    width = max(6.4, 5.2 * columns) / columns  # a panel's
    room = width - Y_AXIS_WIDTH  # its axes'
    titles = [_wrap(setting.name(), room, "small") for setting, _ in centres]
    rows = [titles[i : i + columns] for i in range(0, len(titles), columns)]
    suptitle = _wrap("Filter centres in the tested checkpoints (legend: mean |shift|)",
                     width * columns, "medium")  # fmt: skip
    height = sum(PANEL_HEIGHT + DECORATIONS + max(_height(t, "small") for t in row) for row in rows)
    figure = Figure(
        figsize=(width * columns, height + _height(suptitle, "medium")), layout="constrained"
    )
    colours = colormaps["tab10"]
    panels = _grid(figure, len(centres), columns)
    for axis, title, (_, runs) in zip(panels, titles, centres, strict=True):
        top = max(max(c.initial.max(), c.learned.max()) for c in runs) / 1000
        axis.plot([0, top], [0, top], **{"color": "0.55", "linestyle": "--", "linewidth": 0.9})
        for i, run in enumerate(runs):
            shift = np.abs(run.learned - run.initial).mean()
            label = f"seed {run.seed} ({run.checkpoint.name}, epoch {run.epoch}): {shift:.0f} Hz"
            axis.scatter(run.initial / 1000, run.learned / 1000, s=12, color=colours(i % 10),
                         label=_wrap(label, 0.8 * room, "x-small"))  # fmt: skip
        axis.set_title(title, fontsize="small")
        axis.set_xlabel("Initial centre (kHz)")
        axis.set_ylabel("Learned centre (kHz)")
        axis.grid(alpha=0.3)
        axis.legend(fontsize="x-small")
    figure.suptitle(suptitle, fontsize="medium")
    return figure


FIGURE_TITLES = {
    "comparison": "test accuracy and drift per setting",
    "comparison_n_mels": "test accuracy against the number of filters",
    "comparison_gain": "gain from training the frontend against the head's size",
    "comparison_centres": "learned filter centres against initial ones",
}


def write_comparison(dirs: Iterable[str | Path], output: str | Path) -> list[Path]:
    """Compare the runs under ``dirs``; write the report into ``output``; return its files.

    Args:
        dirs: folders holding runs (a sweep folder, run folders).
        output: where ``comparison.md``, the CSV files and the figures go; made if missing.
    """
    dirs = [Path(d) for d in dirs]
    finished, unfinished = find_runs(dirs)
    if not finished:
        raise NoRunsError(f"no finished training run (config.yaml and metrics.json) under {dirs}")
    settings = group_settings([read_run(path) for path in finished])
    tests, unpaired = paired_tests(settings)
    centres, problems = read_centres(settings)
    figures = {
        "comparison": comparison_figure(settings),
        "comparison_n_mels": n_mels_figure(settings),
        "comparison_gain": gain_figure(tests),
        "comparison_centres": centres_figure(centres),
    }
    figures = {name: figure for name, figure in figures.items() if figure is not None}
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    paths = [output / name for name in ("comparison.md", "comparison.csv", "comparison_paired.csv")]
    with atomic_write(paths[0]) as file:
        file.write(
            _markdown(settings, tests, unpaired, unfinished, list(figures), problems, output)
        )
    _write_csv(settings, paths[1])
    _write_tests_csv(tests, paths[2])
    return paths + save_figures(figures, output)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the command.

    Args:
        argv: the command-line arguments; None: ``sys.argv[1:]``.
    """
    parser = argparse.ArgumentParser(
        prog="python -m kws.compare",
        description="Compare training runs (run or multirun folders) in one report.",
    )
    parser.add_argument("dirs", nargs="+", type=Path, help="run or multirun folders")
    parser.add_argument(
        "-o", "--output", type=Path,
        help="where to write the report (default: the folder given, or . for several)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    output = args.output or (args.dirs[0] if len(args.dirs) == 1 else Path("."))
    try:
        paths = write_comparison(args.dirs, output)
    except (NoRunsError, NotADirectoryError) as error:
        raise SystemExit(f"error: {error}") from None
    print(paths[0].read_text())
    print("written:", ", ".join(map(str, paths)))


if __name__ == "__main__":
    main()
