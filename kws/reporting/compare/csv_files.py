"""The report's CSV files: ``comparison.csv`` (one row per setting, every statistic) and
``comparison_paired.csv`` (one row per paired test), each written atomically."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from kws.frontend import DRIFT_LABELS
from kws.reporting.compare.paired import PAIRED_METRIC, PairedTest
from kws.reporting.compare.runs import METRICS, STREAM_METRICS
from kws.reporting.compare.settings import Setting
from kws_runtime.io import atomic_write


def write_settings_csv(settings: list[Setting], path: Path) -> None:
    """One row per setting: what it is, each metric's mean, std and interval, drift and runs.

    Args:
        settings: the report's settings, in order.
        path: the CSV file.
    """
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


def write_tests_csv(tests: list[PairedTest], path: Path) -> None:
    """One row per paired test: both settings, the paired values, the gain, t, p, q, verdict.

    Args:
        tests: the paired tests made.
        path: the CSV file.
    """
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
