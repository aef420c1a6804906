"""Statistics over seeds: ``summarise`` gives a metric's mean, sample standard deviation and
confidence interval of the mean (t distribution) as a ``Summary``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

#: Significance level of the paired tests, and the confidence level of every interval.
ALPHA = 0.05
CONFIDENCE = 1 - ALPHA


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

    def text(self, scale: float = 100.0, mean_format: str = ".2f", std_format: str = ".2f") -> str:
        """``mean ± std`` of ``scale`` times the values, ``mean`` alone for one value, ``–`` for
        none: a table cell or a figure's label.

        Args:
            scale: the factor the values are shown at. Default 100: percent.
            mean_format: the mean's format spec. Default ``".2f"``.
            std_format: the standard deviation's format spec. Default ``".2f"``.
        """
        scaled = self.scaled(scale)
        if scaled.mean is None:
            return "–"
        mean = f"{scaled.mean:{mean_format}}"
        return mean if scaled.std is None else f"{mean} ± {scaled.std:{std_format}}"


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
