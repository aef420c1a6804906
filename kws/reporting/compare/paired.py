"""Trainable against fixed: each setting whose frontend trains, tested against its fixed
baseline on the seeds both ran (``paired_tests``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from kws.reporting.compare.settings import Setting, natural_order
from kws.reporting.compare.statistics import ALPHA, CONFIDENCE

#: The metric the paired tests, the n_mels figure and the gain figure compare.
PAIRED_METRIC = "test/acc"
# How the frontend is built and trained: what a trainable setting and its fixed baseline may
# differ in. Of these, a baseline must share the number of filters and the masked bins.
FRONTEND_PREFIXES = ("frontend.", "module.frontend_optimizer.")
MATCHED_FRONTEND_KEYS = ("frontend.n_mels", "frontend.mask_bins")


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
    seeds = sorted((s for s in mine if s in theirs), key=natural_order)
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
