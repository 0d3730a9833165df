"""A fitted model on a small real demo slice, and the evaluation on a small slice (not timed)."""

import json
from datetime import timedelta

import pytest
from django.core.management import call_command

from xsell_plugin.demo.services import demo_store_load
from xsell_plugin.orders.models import Order
from xsell_plugin.recommendations import evaluation, selectors, services

SLICE_SPLITS = (evaluation.Split(35, 36, 39, "tuning"), evaluation.Split(44, 45, 48))


@pytest.mark.django_db
def test_model_on_a_real_demo_slice_recommends_with_reasons():
    selectors.model_cache_clear()
    store = demo_store_load(limit_households=12).store
    last = Order.objects.for_store(store).order_by("-placed_at").first()
    row = services.recs_model_refresh(store=store, now=last.placed_at)  # the trigger: last order
    assert row.version == 1 and row.stats["customers"] == 12
    trigger = list(last.lines.values_list("product_id", flat=True))
    recs = selectors.customer_recommendations(
        store=store, customer_id=last.customer_id, now=last.placed_at + timedelta(minutes=5),
        trigger_product_ids=trigger, limit=3)
    assert len(recs) == 3
    assert all(r.reason.text for r in recs)
    assert not set(trigger) & {r.key for r in recs}
    selectors.model_cache_clear()


@pytest.fixture(scope="module")
def slice_data():
    return evaluation.load_data(prefer_package=False, limit_households=60)


def test_evaluation_is_well_formed_for_both_models_on_two_splits(slice_data):
    result = evaluation.evaluate(splits=SLICE_SPLITS, data=slice_data)
    assert result["households"] == 60
    assert len(result["splits"]) == 2
    for split in result["splits"]:
        assert split["cases"] > 10
        for model in ("popularity_28d", "xsell"):
            for level in ("product", "product_type"):
                metrics = split["models"][model][level]
                assert set(metrics) == {"hr@3", "hr@10", "mrr@10"}
                assert 0 <= metrics["mrr@10"] <= metrics["hr@10"] <= 1
                assert metrics["hr@3"] <= metrics["hr@10"]
        assert set(split["uplift_percent"]) == {"product", "product_type"}
    json.dumps(result)


def test_weeks_follow_the_data():
    assert evaluation.week_start(31).isoformat() == "2017-07-24T00:00:00-04:00"
    assert evaluation.week_start(45).isoformat() == "2017-10-30T00:00:00-04:00"


def test_latency_benchmark_reports_percentiles(slice_data):
    out = evaluation.latency_benchmark(customers=5, data=slice_data, split=SLICE_SPLITS[1])
    assert out["customers"] == 5 and out["p50_ms"] <= out["p99_ms"]


def test_command_prints_the_table_and_writes_json(tmp_path, capsys):
    path = tmp_path / "eval.json"
    call_command("xsell_recs_eval", "--sample", "--households", "40", "--splits", "35:36-39,44:45-48",
                 "--json", str(path))
    out = capsys.readouterr().out
    assert "popularity 28d" in out and "xsell" in out and "uplift" in out
    written = json.loads(path.read_text())
    assert [s["role"] for s in written["splits"]] == ["report", "report"]
