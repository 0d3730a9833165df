"""Our statistics are statsmodels' on fixed data; the plan's sample sizes too."""

import numpy as np
import pytest
from statsmodels.regression.linear_model import OLS
from statsmodels.stats.power import NormalIndPower, TTestIndPower
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_effectsize,
)
from statsmodels.stats.proportion import (
    test_proportions_2indep as score_test,
)
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from xsell_plugin.experiments import statistics

RNG = np.random.default_rng(20260301)
Y_T = np.round(RNG.exponential(40, 500) * (RNG.random(500) < 0.3), 2)
Y_C = np.round(RNG.exponential(35, 450) * (RNG.random(450) < 0.28), 2)
X_T = Y_T * 0.5 + RNG.exponential(10, 500)
X_C = Y_C * 0.5 + RNG.exponential(10, 450)


def test_difference_in_proportions_matches_statsmodels():
    est = statistics.difference_in_proportions(130, 1000, 100, 1000, alpha=0.05)
    low, high = confint_proportions_2indep(130, 1000, 100, 1000, method="newcomb", compare="diff")
    p = score_test(130, 1000, 100, 1000, method="score", compare="diff").pvalue
    assert est.estimate == pytest.approx(0.03)
    assert (est.ci_low, est.ci_high, est.p_value) == pytest.approx((low, high, p))


def test_difference_in_means_is_welch():
    est = statistics.difference_in_means(Y_T, Y_C, alpha=0.1)
    cm = CompareMeans(DescrStatsW(Y_T), DescrStatsW(Y_C))
    assert (est.ci_low, est.ci_high) == pytest.approx(cm.tconfint_diff(alpha=0.1, usevar="unequal"))
    assert est.p_value == pytest.approx(cm.ttest_ind(usevar="unequal")[1])
    assert est.estimate == pytest.approx(Y_T.mean() - Y_C.mean())


def test_cuped_is_ols_with_centred_covariate_and_narrows_the_interval():
    est = statistics.difference_in_means_cuped(Y_T, X_T, Y_C, X_C)
    y, x = np.concatenate([Y_T, Y_C]), np.concatenate([X_T, X_C])
    d = np.concatenate([np.ones(500), np.zeros(450)])
    fit = OLS(y, np.column_stack([np.ones(950), d, x - x.mean()])).fit(cov_type="HC2")
    assert est.estimate == pytest.approx(fit.params[1])
    assert (est.ci_low, est.ci_high) == pytest.approx(tuple(fit.conf_int(0.05)[1]))
    plain = statistics.difference_in_means(Y_T, Y_C)
    assert est.ci_high - est.ci_low < plain.ci_high - plain.ci_low
    assert statistics.difference_in_means_best(Y_T, X_T, Y_C, X_C).method.startswith("cuped")
    noise = RNG.random(950)
    assert statistics.difference_in_means_best(Y_T, noise[:500], Y_C, noise[500:]).method == "welch"


def test_sample_sizes_are_statsmodels_power():
    n = statistics.sample_size_conversion(0.05, 0.2, alpha=0.05, power=0.8)
    h = abs(proportion_effectsize(0.06, 0.05))
    assert n == int(np.ceil(NormalIndPower().solve_power(h, alpha=0.05, power=0.8)))
    m = statistics.sample_size_revenue(20.0, 60.0, 0.1, alpha=0.05, power=0.9, comparisons=2)
    assert m == int(np.ceil(TTestIndPower().solve_power(2.0 / 60.0, alpha=0.025, power=0.9)))
    with pytest.raises(ValueError):
        statistics.sample_size_conversion(0.5, 1.5)


def test_degenerate_inputs_do_not_crash():
    assert statistics.difference_in_proportions(0, 0, 1, 10) is None
    assert statistics.difference_in_proportions(0, 10, 0, 10).p_value == 1.0
    assert statistics.difference_in_means([1.0], [2.0, 3.0]) is None
    assert statistics.difference_in_means([0.0, 0.0], [0.0, 0.0]).estimate == 0.0
    assert statistics.adjust_pvalues([0.01, 0.04]) == pytest.approx([0.02, 0.04])
