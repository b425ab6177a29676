"""Intervals for results over seeds: a mean with its 95% Student-t interval, and paired differences.

A verdict needs the interval, not a mean: :func:`mean_ci` gives both, and :func:`paired_ci` the interval
of the mean difference between two conditions measured on the same units (the same game and seed).

>>> iv = mean_ci([0.5, 0.7, 0.6])
>>> round(iv.mean, 3), round(iv.half, 3), iv.n
(0.6, 0.248, 3)
>>> str(iv)
'0.60 ± 0.25 (n=3)'
>>> str(mean_ci([0.4]))
'0.40 (n=1)'
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats

LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    """A mean and the half-width of its interval (NaN with fewer than two values)."""

    mean: float
    half: float
    n: int

    @property
    def low(self) -> float:
        return self.mean - self.half

    @property
    def high(self) -> float:
        return self.mean + self.half

    def excludes(self, value: float = 0.0) -> bool:
        """Whether the interval lies wholly on one side of ``value`` (False without an interval)."""
        return not math.isnan(self.half) and (self.low > value or self.high < value)

    def format(self, digits: int = 2) -> str:
        """``0.60 ± 0.25 (n=3)``; ``0.40 (n=1)`` without an interval; ``–`` without values."""
        if self.n == 0:
            return "–"
        if math.isnan(self.half):
            return f"{self.mean:.{digits}f} (n={self.n})"
        return f"{self.mean:.{digits}f} ± {self.half:.{digits}f} (n={self.n})"

    def __str__(self) -> str:
        return self.format()


def mean_ci(values: Sequence[float], level: float = LEVEL) -> Interval:
    """The mean and the half-width of its Student-t interval at ``level`` (values: one per seed)."""
    n = len(values)
    if n == 0:
        return Interval(math.nan, math.nan, 0)
    mean = math.fsum(values) / n
    if n < 2:
        return Interval(mean, math.nan, n)
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    return Interval(mean, float(stats.t.ppf((1 + level) / 2, n - 1)) * sd / math.sqrt(n), n)


def paired_ci(a: Sequence[float], b: Sequence[float], level: float = LEVEL) -> Interval:
    """The interval of the mean of ``a - b``, pairs taken in order (the same unit in both)."""
    if len(a) != len(b):
        raise ValueError(f"paired values need equal lengths ({len(a)} and {len(b)})")
    return mean_ci([x - y for x, y in zip(a, b)], level)
