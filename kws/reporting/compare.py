"""Compare training runs: ``python -m kws.reporting.compare DIR [DIR ...] [--output OUT]``.

Finds every run under the folders given (a folder holding the ``config.yaml`` and
``metrics.json`` that ``train.py`` writes), groups runs whose configs differ only in seed, and
writes ``comparison.md``, ``comparison.csv`` and ``comparison.png``: per setting the model, the
frontend and which of its parts train, trainable parameter counts, validation and test accuracy
and test F1 as mean ± standard deviation over seeds, and how far the frontend drifted.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from omegaconf import OmegaConf

from kws.frontend import DRIFT_LABELS, MEL_BASIS_CHANGE, MEL_CENTRE_SHIFT_HZ, STFT_KERNEL_CHANGE
from kws.io import atomic_write
from kws.reporting.figures import save_figures

log = logging.getLogger(__name__)

METRICS = {"val/acc": "val acc (%)", "test/acc": "test acc (%)", "test/f1": "test F1 (%)"}
# The drift columns: relative changes in %, the centre shift as a mean magnitude in Hz.
DRIFTS = {
    STFT_KERNEL_CHANGE: f"{DRIFT_LABELS[STFT_KERNEL_CHANGE]} change (%)",
    MEL_BASIS_CHANGE: f"{DRIFT_LABELS[MEL_BASIS_CHANGE]} change (%)",
    MEL_CENTRE_SHIFT_HZ: f"mean abs. {DRIFT_LABELS[MEL_CENTRE_SHIFT_HZ]}",
}
# Config keys shown in their own columns, so never listed among a setting's differences.
SHOWN_KEYS = (
    "model._target_", "model.tau", "frontend._target_",
    "frontend.trainable", "frontend.trainable_stft", "frontend.trainable_mel",
)  # fmt: skip
# Config that changes how a run reports, not what it learns: never tells settings apart.
REPORTING_PREFIXES = ("logger.", "callbacks.frontend_figures.")
REPORTING_KEYS = ("trainer.enable_progress_bar", "trainer.log_every_n_steps", "data.num_workers")


# Folders that hold a config.yaml of their own but are not runs: Hydra's and W&B's.
NOT_RUNS = {".hydra", "wandb"}


class NoRunsError(FileNotFoundError):
    """No finished training run under the folders given."""


@dataclass
class Run:
    """One finished training run: its flattened config, final metrics, sizes and drift."""

    path: Path
    config: dict[str, Any]
    metrics: dict[str, float]
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


@dataclass
class Setting:
    """Runs whose configs differ only in seed, and the config values that set them apart."""

    runs: list[Run]
    differences: dict[str, Any]

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

    def label(self) -> str:
        """A short multi-line name for plots."""
        lines = [self.model, f"STFT {_flag(self.trainable_stft)}"]
        if self.trainable_mel is not None:
            lines.append(f"Mel {_flag(self.trainable_mel)}")
        lines += [f"{key.removeprefix('module.')}={v}" for key, v in self.differences.items()]
        return "\n".join(lines)

    def sort_key(self) -> tuple[str, ...]:
        return (self.model, self.frontend, str(self.trainable_stft), str(self.trainable_mel),
                str(self.differences))  # fmt: skip

    def metric(self, name: str) -> np.ndarray:
        """The metric of every run that logged it, one value per seed."""
        return np.array([r.metrics[name] for r in self.runs if r.metrics.get(name) is not None])

    def drift(self, name: str) -> float | None:
        values = [r.drift[name] for r in self.runs if name in r.drift]
        return float(np.mean(values)) if values else None


def group_settings(runs: Sequence[Run]) -> list[Setting]:
    """Group runs by ``Run.setting_key``; each setting notes the config values, beyond the shown
    columns, that vary between settings.

    Args:
        runs: finished runs.
    """
    groups: dict[tuple, list[Run]] = {}
    for run in runs:
        groups.setdefault(run.setting_key(), []).append(run)
    keys = sorted({key for run in runs for key in run.config})
    kept = [dict(group_key) for group_key in groups]
    varying = [
        key for key in keys if key not in SHOWN_KEYS and len({group.get(key) for group in kept}) > 1
    ]
    settings = [
        Setting(members, {key: members[0].config.get(key) for key in varying})
        for members in groups.values()
    ]
    return sorted(settings, key=Setting.sort_key)


def _mean_std(values: np.ndarray) -> tuple[float | None, float | None]:
    if values.size == 0:
        return None, None
    return float(values.mean()), float(values.std(ddof=1)) if values.size > 1 else None


def _percent(values: np.ndarray) -> str:
    mean, std = _mean_std(100 * values)
    if mean is None:
        return "–"
    return f"{mean:.2f}" if std is None else f"{mean:.2f} ± {std:.2f}"


def _number(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}g}"


def _count(value: int | None) -> str:
    return "–" if value is None else f"{value:,}"


def _relative(path: Path, start: Path) -> str:
    return os.path.relpath(path.resolve(), start.resolve())


def _markdown(settings: list[Setting], unfinished: list[Path], output: Path) -> str:
    n_runs = sum(len(s.runs) for s in settings)
    header = [
        "model", "frontend", "STFT", "Mel", "head params", "frontend trainable params",
        *METRICS.values(), "seeds", *DRIFTS.values(), "runs",
    ]  # fmt: skip
    if any(s.differences for s in settings):
        header.insert(0, "setting")
    lines = [
        f"# Comparison: {n_runs} runs in {len(settings)} settings",
        "",
        "Accuracy and F1 are mean ± sample standard deviation over the seeds of a setting (runs "
        "whose configs differ only in seed). Drift is the relative Frobenius change of the "
        "frontend's STFT kernels and Mel basis from their initial values, and the mean absolute "
        "shift of the Mel filters' centre frequencies, at the end of each run's training, averaged "
        "over seeds.",
        "",
        "| " + " | ".join(header) + " |",
        "| " + " | ".join("---" for _ in header) + " |",
    ]
    for s in settings:
        drifts = [s.drift(name) for name in DRIFTS]
        drift_cells = [
            _number(None if d is None else (d if name.endswith("_hz") else 100 * d))
            for name, d in zip(DRIFTS, drifts, strict=True)
        ]
        seeds = sorted(str(r.seed) for r in s.runs)
        cells = [
            s.model, s.frontend, _flag(s.trainable_stft), _flag(s.trainable_mel),
            _count(s.runs[0].head_params), _count(s.runs[0].frontend_trainable_params),
            *[_percent(s.metric(name)) for name in METRICS],
            f"{len(s.runs)} ({', '.join(seeds)})", *drift_cells,
            "<br>".join(f"`{_relative(r.path, output)}`" for r in s.runs),
        ]  # fmt: skip
        if "setting" in header:
            cells.insert(0, ", ".join(f"{k}={v}" for k, v in s.differences.items()))
        lines.append("| " + " | ".join(cells) + " |")
    if unfinished:
        lines += ["", "Skipped, no `metrics.json` (unfinished or failed):"]
        lines += [f"- `{_relative(path, output)}`" for path in unfinished]
    lines += ["", "![test accuracy and drift per setting](comparison.png)", ""]
    return "\n".join(lines)


def _write_csv(settings: list[Setting], path: Path) -> None:
    stats = [f"{name}_{part}".replace("/", "_") for name in METRICS for part in ("mean", "std")]
    columns = [
        "setting", "model", "frontend", "trainable_stft", "trainable_mel", "head_params",
        "frontend_trainable_params", *stats, "n_seeds", "seeds", *DRIFTS, "runs",
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
                "head_params": s.runs[0].head_params,
                "frontend_trainable_params": s.runs[0].frontend_trainable_params,
                "n_seeds": len(s.runs),
                "seeds": ";".join(sorted(str(r.seed) for r in s.runs)),
                "runs": ";".join(str(r.path) for r in s.runs),
            }
            for name in METRICS:
                mean, std = _mean_std(s.metric(name))
                prefix = name.replace("/", "_")
                row[f"{prefix}_mean"], row[f"{prefix}_std"] = mean, std
            row.update({name: s.drift(name) for name in DRIFTS})
            writer.writerow(row)


def comparison_figure(settings: list[Setting]) -> Figure:
    """Test accuracy per setting (mean, std, each seed) beside the STFT and Mel drift.

    Args:
        settings: the settings to draw, in order.
    """
    x = np.arange(len(settings))
    figure = Figure(figsize=(max(11.0, 2.4 * len(settings) + 3), 5.8), layout="constrained")
    accuracy, drift = figure.subplots(1, 2)

    stats = [_mean_std(100 * s.metric("test/acc")) for s in settings]
    means = np.array([np.nan if m is None else m for m, _ in stats])
    spreads = np.array([0.0 if d is None else d for _, d in stats])
    bars = accuracy.bar(x, means, yerr=spreads, capsize=5, color="tab:blue", alpha=0.8, width=0.6)
    for i, s in enumerate(settings):
        seeds = 100 * s.metric("test/acc")
        accuracy.scatter(np.full(seeds.size, i), seeds, color="black", s=14, zorder=3)
    accuracy.bar_label(bars, [_percent(s.metric("test/acc")) for s in settings], padding=4)
    accuracy.set_ylim(0, 105)
    accuracy.set_ylabel("Test accuracy (%)")
    accuracy.set_title("Test accuracy per setting: mean ± std over seeds (dots: seeds)")

    width = 0.38
    parts = (
        (STFT_KERNEL_CHANGE, "trainable_stft", "tab:orange"),
        (MEL_BASIS_CHANGE, "trainable_mel", "tab:green"),
    )
    for offset, (name, flag, colour) in zip((-width / 2, width / 2), parts, strict=True):
        label = DRIFT_LABELS[name]
        values = [s.drift(name) for s in settings]
        heights = [0.0 if v is None else 100 * v for v in values]
        notes = [
            "–" if v is None else ("fixed" if not getattr(s, flag) else f"{100 * v:.3g}")
            for s, v in zip(settings, values, strict=True)
        ]
        bars = drift.bar(x + offset, heights, width, color=colour, label=label)
        drift.bar_label(bars, notes, padding=2, fontsize="small")
    drift.set_ylabel("Relative change ‖W − W₀‖ / ‖W₀‖ (%)")
    drift.set_title("Frontend drift at the end of training (mean over seeds)")
    drift.legend(loc="upper left")
    drift.margins(y=0.15)
    for axis in (accuracy, drift):
        axis.set_xticks(x, [s.label() for s in settings], fontsize="small")
        axis.grid(axis="y", alpha=0.3)
    return figure


def write_comparison(dirs: Iterable[str | Path], output: str | Path) -> list[Path]:
    """Compare the runs under ``dirs``; write the report into ``output``; return its files.

    Args:
        dirs: folders holding runs (a sweep folder, run folders).
        output: where ``comparison.{md,csv,png}`` go; made if missing.
    """
    dirs = [Path(d) for d in dirs]
    finished, unfinished = find_runs(dirs)
    if not finished:
        raise NoRunsError(f"no finished training run (config.yaml and metrics.json) under {dirs}")
    settings = group_settings([read_run(path) for path in finished])
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    paths = [output / f"comparison.{ext}" for ext in ("md", "csv", "png")]
    with atomic_write(paths[0]) as file:
        file.write(_markdown(settings, unfinished, output))
    _write_csv(settings, paths[1])
    save_figures({"comparison": comparison_figure(settings)}, output)
    return paths


def main(argv: Sequence[str] | None = None) -> None:
    """Run the command.

    Args:
        argv: the command-line arguments; None: ``sys.argv[1:]``.
    """
    parser = argparse.ArgumentParser(
        prog="python -m kws.reporting.compare",
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
