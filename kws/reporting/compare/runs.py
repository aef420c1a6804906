"""Runs as ``train.py`` leaves them: ``find_runs`` finds the folders, ``read_run`` reads one
(flattened config, ``metrics.json``, trainable parameter counts, drift)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

#: The metrics every run reports, with their column titles.
METRICS = {"val/acc": "val acc (%)", "test/acc": "test acc (%)", "test/f1": "test F1 (%)"}
#: Stream figures of stream-aware runs (``kws.training.stream_validation``): name -> (column,
#: scale); a column is shown where some run logged its figure.
STREAM_METRICS = {
    "val/frr_at_target": ("val FRR at target (%)", 100.0),
    "val/fa_per_hour": ("val FA/h at reference", 1.0),
    "val/frr": ("val FRR at reference (%)", 100.0),
    "val/threshold": ("calibrated threshold", 1.0),
}
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
