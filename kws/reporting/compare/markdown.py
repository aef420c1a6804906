"""``comparison.md``: the settings' table, the paired tests' table, what was skipped and the
figures, with the text that says how each number was computed (``markdown_report``)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from kws.frontend import DRIFT_LABELS
from kws.reporting.compare.figures import FIGURE_TITLES
from kws.reporting.compare.paired import PAIRED_METRIC, PairedTest
from kws.reporting.compare.runs import METRICS, STREAM_METRICS
from kws.reporting.compare.settings import Setting, flag_text
from kws.reporting.compare.statistics import ALPHA, CONFIDENCE, summarise

#: Said under the settings' table when some setting is one of the paper's four.
PAPER_NOTE = (
    "A–D are the settings of Heung, Cheuk and Herremans (2022): A both fixed, B Mel basis "
    "trained, C STFT trained, D both. "
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
            s.model, s.frontend, flag_text(s.trainable_stft), flag_text(s.trainable_mel),
            _count(s.runs[0].head_params), _count(s.runs[0].frontend_trainable_params),
            *[s.summary(name).text() for name in METRICS],
            *[s.summary(name).text(scale, ".3g", ".2g") for name, (_, scale) in streams.items()],
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
            summarise(t.trained).text(), summarise(t.fixed).text(), gain,
            _number(t.statistic), _number(t.p_value, 2), _number(t.q_value, 2), t.verdict,
        ]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def markdown_report(
    settings: list[Setting],
    tests: list[PairedTest],
    unpaired: list[tuple[Setting, str]],
    unfinished: list[Path],
    figures: list[str],
    problems: list[str],
    output: Path,
) -> str:
    """The text of ``comparison.md``.

    Args:
        settings: the report's settings, in order.
        tests: the paired tests made.
        unpaired: the trainable settings without a fixed baseline, each with the reason.
        unfinished: run folders without ``metrics.json``.
        figures: the names of the figures written (``FIGURE_TITLES``' keys).
        problems: why filter centres were not drawn, one line each.
        output: the report's folder; run paths are written relative to it.
    """
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
