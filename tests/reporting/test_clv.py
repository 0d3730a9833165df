"""CLV: BG/NBD + Gamma-Gamma fit CDNOW and predict held-out repeat purchases; the store fit."""

import pytest

from xsell_plugin.reporting import clv


@pytest.fixture(scope="module")
def cdnow():
    return clv.cdnow_validation()


def test_cdnow_fit_matches_the_published_parameters_and_predicts_the_holdout(cdnow):
    assert cdnow["customers"] == 23570
    p = cdnow["bgnbd_params"]
    # Fader, Hardie & Lee (2005) on the 1/10 sample: r 0.243, alpha 4.41, a 0.793, b 2.43.
    assert 0.2 < p["r"] < 0.3 and 3.5 < p["alpha"] < 5.5 and 0.6 < p["a"] < 0.9 and 1.8 < p["b"] < 2.8
    g = cdnow["gamma_gamma_params"]  # Fader & Hardie (2013): p 6.25, q 3.74, v 15.44
    assert 5.5 < g["p"] < 7 and 3 < g["q"] < 4.5 and 13 < g["v"] < 17
    assert cdnow["correlation"] > 0.6
    assert 0.8 < cdnow["predicted_total"] / cdnow["actual_total"] < 1.05
    rows = cdnow["by_calibration_frequency"]
    # More calibration purchases -> more predicted and more actual holdout purchases.
    assert [r["predicted_mean"] for r in rows] == sorted(r["predicted_mean"] for r in rows)
    assert rows[-1]["actual_mean"] > 5 * rows[0]["actual_mean"]


@pytest.mark.django_db
def test_store_clv_on_the_demo_store():
    from xsell_plugin.demo.services import demo_store_load

    store = demo_store_load(limit_households=60).store
    report = clv.store_clv(store=store, use_cache=False)
    assert report.status == "ok", report.message
    assert report.customers == 60 and report.repeaters > 30
    assert report.clv_12m_total > 0 and report.expected_purchases_90d > 0
    assert all(0 <= v.p_alive <= 1 and v.churn_risk == pytest.approx(1 - v.p_alive) for v in report.values)
    assert sum(c["customers"] for c in report.cohorts) == 60
    assert clv.store_clv(store=store) == clv.store_clv(store=store)  # cached


@pytest.mark.django_db
def test_too_little_data_says_so(store):
    report = clv.store_clv(store=store, use_cache=False)
    assert report.status == "insufficient_data" and report.values == ()
