"""The comparison report: ``write_comparison`` reads the runs under some folders and writes
``comparison.md``, ``comparison.csv``, ``comparison_paired.csv`` and the figures."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from kws.plotting.images import save_figures
from kws.reporting.compare.centres import read_centres
from kws.reporting.compare.csv_files import write_settings_csv, write_tests_csv
from kws.reporting.compare.figures import (
    centres_figure,
    comparison_figure,
    gain_figure,
    n_mels_figure,
)
from kws.reporting.compare.markdown import markdown_report
from kws.reporting.compare.paired import paired_tests
from kws.reporting.compare.runs import NoRunsError, find_runs, read_run
from kws.reporting.compare.settings import group_settings
from kws_runtime.io import atomic_write


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
            markdown_report(settings, tests, unpaired, unfinished, list(figures), problems, output)
        )
    write_settings_csv(settings, paths[1])
    write_tests_csv(tests, paths[2])
    return paths + save_figures(figures, output)
