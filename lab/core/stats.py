"""Intervals for results over seeds: a mean with its 95% interval, and paired comparisons.

A verdict needs the interval, not a mean. :func:`bootstrap_ci` gives the mean with its percentile bootstrap
interval, which assumes no normality (scores bounded in [0, 1] over a handful of seeds are far from normal);
:func:`paired` compares two conditions measured on the same units (the same game and seed): the bootstrap
interval of the mean difference and the sign test. Every bench, Compare and the sweep summaries use them.

>>> str(bootstrap_ci([0.5, 0.7, 0.6]))
'0.60 [0.50, 0.70] (n=3)'
>>> str(bootstrap_ci([0.4]))
'0.40 (n=1)'
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats

LEVEL = 0.95
RESAMPLES = 9999
"""Bootstrap resamples: enough for stable 95% bounds at the seed counts the lab runs (5-30)."""


@dataclass(frozen=True)
class Bootstrap:
    """A mean and its percentile-bootstrap interval at ``level`` (NaN bounds with fewer than two values)."""

    mean: float
    low: float
    high: float
    n: int

    def excludes(self, value: float = 0.0) -> bool:
        """Whether the interval lies wholly on one side of ``value`` (False without an interval)."""
        return not math.isnan(self.low) and (self.low > value or self.high < value)

    def format(self, digits: int = 2, count: bool = True) -> str:
        """``0.60 [0.50, 0.70] (n=3)``; ``0.40 (n=1)`` without an interval; ``–`` without values. Without
        ``count`` the ``(n=...)`` is left out (a table whose caption gives n)."""
        if self.n == 0:
            return "–"
        n = f" (n={self.n})" if count else ""
        if math.isnan(self.low):
            return f"{self.mean:.{digits}f}{n}"
        return f"{self.mean:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]{n}"

    def __str__(self) -> str:
        return self.format()


def bootstrap_ci(values: Sequence[float], level: float = LEVEL, seed: int = 0) -> Bootstrap:
    """The mean and its percentile bootstrap interval (``scipy.stats.bootstrap``, seeded so a table repeats).

    Constant values give a zero-width interval (every resample has the same mean).

    >>> str(bootstrap_ci([1.0, 1.0, 1.0]))
    '1.00 [1.00, 1.00] (n=3)'
    >>> bootstrap_ci([1.0, 1.0, 1.0]).format(1, count=False)
    '1.0 [1.0, 1.0]'
    >>> iv = bootstrap_ci([-1.0, 1.0] * 10)
    >>> round(iv.mean, 6), -0.5 < iv.low < 0 < iv.high < 0.5
    (0.0, True)
    """
    n = len(values)
    if n == 0:
        return Bootstrap(math.nan, math.nan, math.nan, 0)
    mean = math.fsum(values) / n
    if n < 2:
        return Bootstrap(mean, math.nan, math.nan, n)
    if max(values) == min(values):
        return Bootstrap(mean, mean, mean, n)
    result = stats.bootstrap((list(values),), _mean, confidence_level=level, n_resamples=RESAMPLES,
                             method="percentile", random_state=seed, vectorized=True)
    return Bootstrap(mean, float(result.confidence_interval.low), float(result.confidence_interval.high), n)


def _mean(sample, axis=-1):  # noqa: ANN001, ANN202 - scipy's statistic signature
    return sample.mean(axis=axis)


@dataclass(frozen=True)
class Paired:
    """Two conditions on the same units: the mean difference ``a - b`` with its bootstrap interval, and the
    sign test over the units where they differ (ties left out)."""

    difference: Bootstrap
    wins: int
    """Units where ``a`` is higher."""
    losses: int
    ties: int
    sign_p: float
    """Two-sided sign-test p-value (1.0 when every unit ties)."""

    def format(self, digits: int = 2) -> str:
        """``+0.20 [0.10, 0.30] (n=5), 5-0-0, sign test p=0.062``."""
        d = self.difference
        head = d.format(digits)
        if d.n and not math.isnan(d.mean):
            head = ("+" if d.mean >= 0 else "") + head
        return f"{head}, {self.wins}-{self.losses}-{self.ties}, sign test p={self.sign_p:.2g}"

    def __str__(self) -> str:
        return self.format()


def paired(a: Sequence[float], b: Sequence[float], level: float = LEVEL, seed: int = 0) -> Paired:
    """Paired comparison of ``a`` and ``b``, pairs taken in order (the same game and seed in both).

    >>> p = paired([0.5, 0.6, 0.7, 0.8, 0.9], [0.3, 0.4, 0.5, 0.6, 0.7])
    >>> str(p)
    '+0.20 [0.20, 0.20] (n=5), 5-0-0, sign test p=0.062'
    >>> paired([1, 0, 1, 0], [0, 1, 0, 1]).sign_p
    1.0
    """
    if len(a) != len(b):
        raise ValueError(f"paired values need equal lengths ({len(a)} and {len(b)})")
    deltas = [x - y for x, y in zip(a, b)]
    wins, losses = sum(d > 0 for d in deltas), sum(d < 0 for d in deltas)
    p = float(stats.binomtest(wins, wins + losses, 0.5).pvalue) if wins + losses else 1.0
    return Paired(bootstrap_ci(deltas, level, seed), wins, losses, len(deltas) - wins - losses, p)
