"""The statistics of holdouts and A/B tests: thin, pure wrappers over statsmodels (and scipy).

Nothing is computed by hand here: every interval, test and sample size is a statsmodels call,
so the figures are the textbook ones and a test can check them against statsmodels directly.

* Conversion: difference of two proportions, Newcombe's hybrid-score interval
  (``confint_proportions_2indep``) and the score test (``test_proportions_2indep``).
* Revenue per recipient: difference of means, Welch's unequal-variance t interval and test
  (``CompareMeans``), robust to the heavy right tail of order values.
* CUPED (Deng et al. 2013) in its regression form (Lin 2013): OLS of the outcome on the arm and
  the centred pre-period spend with HC2 (heteroskedasticity-robust) errors. The arm coefficient
  is the CUPED estimate; it is used only when the pre-period covariate explains enough variance
  to help (``CUPED_MIN_R2``), otherwise the plain Welch figures stand.
* Sample size: ``NormalIndPower`` on Cohen's h for conversion, ``TTestIndPower`` on Cohen's d
  for revenue, both two-sided.
* Several variants against one control: Holm's step-down adjustment of the p-values and
  Bonferroni-widened intervals (``multipletests``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from statsmodels.regression.linear_model import OLS
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower, TTestIndPower
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_confint,
    proportion_effectsize,
    test_proportions_2indep,
)
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

CUPED_MIN_R2 = 0.01  # use the adjustment when the covariate explains at least 1 % of the variance


@dataclass(frozen=True, slots=True)
class Estimate:
    """Treatment minus control, with a two-sided (1 - alpha) interval."""

    estimate: float
    ci_low: float
    ci_high: float
    p_value: float
    alpha: float
    method: str
    n_treatment: int
    n_control: int
    treatment: float  # the treatment arm's rate or mean
    control: float

    @property
    def significant(self) -> bool:
        return self.p_value < self.alpha

    def covers(self, value: float) -> bool:
        return self.ci_low <= value <= self.ci_high

    def as_dict(self) -> dict:
        return {
            "estimate": self.estimate,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "p_value": self.p_value,
            "alpha": self.alpha,
            "method": self.method,
            "n_treatment": self.n_treatment,
            "n_control": self.n_control,
            "treatment": self.treatment,
            "control": self.control,
            "significant": self.significant,
        }


def _finite(value: float) -> float:
    value = float(value)
    return value if math.isfinite(value) else float("nan")


def difference_in_proportions(
    successes_t: int, n_t: int, successes_c: int, n_c: int, *, alpha: float = 0.05
) -> Estimate | None:
    """Conversion rate of treatment minus control. ``None`` without units in both arms."""
    if n_t <= 0 or n_c <= 0:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):  # statsmodels also computes ratios
        low, high = confint_proportions_2indep(
            successes_t, n_t, successes_c, n_c, method="newcomb", compare="diff", alpha=alpha
        )
        if successes_t + successes_c in (0, n_t + n_c):  # the score test is undefined: no variation
            p_value = 1.0
        else:
            p_value = test_proportions_2indep(
                successes_t, n_t, successes_c, n_c, method="score", compare="diff", return_results=True
            ).pvalue
    p_t, p_c = successes_t / n_t, successes_c / n_c
    return Estimate(
        p_t - p_c,
        _finite(low),
        _finite(high),
        _finite(p_value),
        alpha,
        "newcomb interval, score test",
        n_t,
        n_c,
        p_t,
        p_c,
    )


def difference_in_means(
    y_t: Sequence[float], y_c: Sequence[float], *, alpha: float = 0.05
) -> Estimate | None:
    """Mean of treatment minus control (Welch). ``None`` with fewer than 2 units in an arm."""
    y_t, y_c = np.asarray(y_t, dtype=float), np.asarray(y_c, dtype=float)
    if len(y_t) < 2 or len(y_c) < 2:
        return None
    compare = CompareMeans(DescrStatsW(y_t), DescrStatsW(y_c))
    if np.var(y_t) == 0 and np.var(y_c) == 0:
        diff = float(y_t.mean() - y_c.mean())
        return Estimate(
            diff,
            diff,
            diff,
            1.0 if diff == 0 else 0.0,
            alpha,
            "welch (no variance)",
            len(y_t),
            len(y_c),
            float(y_t.mean()),
            float(y_c.mean()),
        )
    low, high = compare.tconfint_diff(alpha=alpha, usevar="unequal")
    _, p_value, _ = compare.ttest_ind(usevar="unequal")
    return Estimate(
        float(y_t.mean() - y_c.mean()),
        _finite(low),
        _finite(high),
        _finite(p_value),
        alpha,
        "welch",
        len(y_t),
        len(y_c),
        float(y_t.mean()),
        float(y_c.mean()),
    )


def cuped_r2(y: Sequence[float], x: Sequence[float]) -> float:
    """Share of the outcome's variance the pre-period covariate explains (squared correlation)."""
    y, x = np.asarray(y, dtype=float), np.asarray(x, dtype=float)
    if len(y) < 3 or np.var(x) == 0 or np.var(y) == 0:
        return 0.0
    return float(np.corrcoef(y, x)[0, 1] ** 2)


def difference_in_means_cuped(
    y_t: Sequence[float],
    x_t: Sequence[float],
    y_c: Sequence[float],
    x_c: Sequence[float],
    *,
    alpha: float = 0.05,
) -> Estimate | None:
    """CUPED: OLS ``y ~ 1 + treated + (x - mean x)`` with HC2 errors; the ``treated``
    coefficient is the variance-reduced difference in means."""
    y_t, y_c = np.asarray(y_t, dtype=float), np.asarray(y_c, dtype=float)
    x_t, x_c = np.asarray(x_t, dtype=float), np.asarray(x_c, dtype=float)
    if len(y_t) < 2 or len(y_c) < 2:
        return None
    y = np.concatenate([y_t, y_c])
    x = np.concatenate([x_t, x_c])
    treated = np.concatenate([np.ones(len(y_t)), np.zeros(len(y_c))])
    design = np.column_stack([np.ones(len(y)), treated, x - x.mean()])
    fit = OLS(y, design).fit(cov_type="HC2")
    low, high = fit.conf_int(alpha=alpha)[1]
    return Estimate(
        float(fit.params[1]),
        _finite(low),
        _finite(high),
        _finite(fit.pvalues[1]),
        alpha,
        "cuped (ols, hc2)",
        len(y_t),
        len(y_c),
        float(y_t.mean()),
        float(y_c.mean()),
    )


def difference_in_means_best(y_t, x_t, y_c, x_c, *, alpha: float = 0.05) -> Estimate | None:
    """CUPED where the covariate helps, plain Welch otherwise."""
    if x_t is not None and x_c is not None:
        r2 = cuped_r2(
            np.concatenate([np.asarray(y_t, float), np.asarray(y_c, float)]),
            np.concatenate([np.asarray(x_t, float), np.asarray(x_c, float)]),
        )
        if r2 >= CUPED_MIN_R2:
            return difference_in_means_cuped(y_t, x_t, y_c, x_c, alpha=alpha)
    return difference_in_means(y_t, y_c, alpha=alpha)


def rate_interval(successes: int, n: int, *, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson interval of one proportion."""
    if n <= 0:
        return (float("nan"), float("nan"))
    low, high = proportion_confint(successes, n, alpha=alpha, method="wilson")
    return float(low), float(high)


def adjust_pvalues(p_values: Sequence[float], *, alpha: float = 0.05) -> list[float]:
    """Holm's step-down adjustment for several variants against one control."""
    if len(p_values) <= 1:
        return [float(p) for p in p_values]
    return [float(p) for p in multipletests(list(p_values), alpha=alpha, method="holm")[1]]


# Sample size (fixed-horizon plan) ---------------------------------------------------------------


def sample_size_conversion(
    baseline_rate: float,
    relative_mde: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    comparisons: int = 1,
) -> int:
    """Units per arm to detect ``baseline * (1 + relative_mde)`` (Cohen's h, normal power)."""
    if not 0 < baseline_rate < 1:
        raise ValueError("baseline_rate must be in (0, 1)")
    target = baseline_rate * (1 + relative_mde)
    if not 0 < target < 1 or relative_mde == 0:
        raise ValueError("baseline_rate * (1 + mde) must be in (0, 1) and differ from it")
    effect = abs(proportion_effectsize(target, baseline_rate))
    n = NormalIndPower().solve_power(
        effect_size=effect, alpha=alpha / comparisons, power=power, ratio=1.0, alternative="two-sided"
    )
    return math.ceil(n)


def sample_size_revenue(
    baseline_mean: float,
    baseline_sd: float,
    relative_mde: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    comparisons: int = 1,
) -> int:
    """Units per arm to detect a mean of ``baseline_mean * (1 + relative_mde)`` (Cohen's d)."""
    if baseline_sd <= 0 or baseline_mean <= 0 or relative_mde == 0:
        raise ValueError("baseline mean and sd must be positive and the mde non-zero")
    effect = abs(baseline_mean * relative_mde) / baseline_sd
    n = TTestIndPower().solve_power(
        effect_size=effect, alpha=alpha / comparisons, power=power, ratio=1.0, alternative="two-sided"
    )
    return math.ceil(n)


def detectable_difference(
    n_treatment: int, n_control: int, sd: float, *, alpha: float = 0.05, power: float = 0.8
) -> float | None:
    """The smallest difference in means (in the outcome's unit) these arm sizes detect with the
    given power: how informative a holdout of this size is."""
    if n_treatment < 2 or n_control < 2 or sd <= 0:
        return None
    effect = NormalIndPower().solve_power(
        effect_size=None,
        nobs1=n_control,
        alpha=alpha,
        power=power,
        ratio=n_treatment / n_control,
        alternative="two-sided",
    )
    return float(effect * sd)
