"""`xsell_bench all` runs every registered suite, reports a missing or failing one without stopping
the others, and prints section 7's figures next to their references. The real ingestion suites
(`webhooks`, `backfill`) run here at a tiny `--scale` (a CI smoke run: the figures mean nothing at
that size and nothing is asserted on them)."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command


def fast_suite(*, size=None, progress=None, options=None):
    return {"title": "fast", "rows": [{"name": "one", "per_second": 10.0, "ms_per_message": 0.1}],
            "figures": [{"figure": "speed", "ours": 10.0, "unit": "/s", "reference": 5.0,
                         "reference_name": "naive", "ratio": 2.0, "bar": ">= 1/s", "met": True}],
            "scale": (options or {}).get("scale")}


def broken_suite(*, size=None, progress=None, options=None):
    raise RuntimeError("the suite broke")


def test_all_runs_every_suite_and_survives_missing_and_failing_ones(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    settings.XSELL_BENCH_SUITES = {
        "fast": "tests.benchmarks.test_bench_all.fast_suite",
        "broken": "tests.benchmarks.test_bench_all.broken_suite",
        "missing": "xsell_plugin.nowhere.bench.run",
        "all": "xsell_plugin.core.bench.run_all",
    }
    out = StringIO()
    call_command("xsell_bench", "all", "--scale", "0.5", "--no-progress", stdout=out)
    printed = out.getvalue()
    assert "fast: speed" in printed and "ratio 2.00" in printed and "bar >= 1/s: met" in printed
    assert "broken: failed" in printed and "the suite broke" in printed
    assert "missing: missing" in printed
    report = json.loads((tmp_path / "bench" / "all.json").read_text())
    assert report["suites"]["fast"]["status"] == "ok"
    assert report["suites"]["fast"]["report"]["scale"] == 0.5
    assert report["suites"]["broken"]["status"] == "failed"
    assert report["suites"]["missing"]["status"] == "missing"
    assert json.loads((tmp_path / "bench" / "fast.json").read_text())["title"] == "fast"


def test_the_emails_report_is_read_as_section_7_figures():
    from xsell_plugin.core.bench import _figures

    report = {"pipeline": {"per_second": 2000.0}, "bar": {"per_second_per_core": 1000},
              "naive_pipeline": {"per_second": 300.0}, "mjml_python": {"per_second": 8000.0},
              "node_mjml": {"skipped": "node is not installed"}}
    figures = _figures("emails", report)
    assert [round(f["ratio"], 2) if f["ratio"] else None for f in figures] == [6.67, 0.25, None]
    assert all(f["met"] for f in figures)


def test_scale_must_be_positive():
    with pytest.raises(CommandError, match="--scale"):
        call_command("xsell_bench", "emails", "--scale", "0", stdout=StringIO())


@pytest.mark.slow
def test_ingestion_suites_smoke_run_at_a_tiny_scale(settings, tmp_path):
    """The real `webhooks` and `backfill` suites, end to end, at a size CI can afford."""
    settings.XSELL_BENCH_SUITES = {"webhooks": "integrations.bench.webhooks",
                                   "backfill": "integrations.bench.backfill",
                                   "all": "xsell_plugin.core.bench.run_all"}
    settings.VAR_DIR = tmp_path
    out = StringIO()
    call_command("xsell_bench", "all", "--scale", "0.0005", "--no-progress", stdout=out)
    report = json.loads((tmp_path / "bench" / "all.json").read_text())
    assert {name: suite["status"] for name, suite in report["suites"].items()} == {
        "webhooks": "ok", "backfill": "ok"}, {n: s.get("error") for n, s in report["suites"].items()}
    webhooks = report["suites"]["webhooks"]["report"]
    assert webhooks["lost"] == 0 and webhooks["delivery_check"]["accepted"] > 0
    backfill = report["suites"]["backfill"]["report"]
    assert backfill["written"]["Product"] == backfill["products"]
    assert backfill["written"]["OrderLine"] == backfill["order_lines"]
    assert "webhook ingest" in out.getvalue() and "bulk_create of the same rows" in out.getvalue()


def test_recs_suite_reports_ratios_fit_and_latency_at_a_small_scale(settings, tmp_path):
    """`xsell_bench recs` through `all`: HR@10 ours vs popularity as ratios at both levels, the
    fit time and the per-customer time, in the table and the JSON (figures not asserted)."""
    settings.VAR_DIR = tmp_path
    settings.XSELL_BENCH_SUITES = {"recs": "xsell_plugin.recommendations.bench.run",
                                   "all": "xsell_plugin.core.bench.run_all"}
    out = StringIO()
    call_command("xsell_bench", "all", "--scale", "0.02", "--no-progress", stdout=out)
    report = json.loads((tmp_path / "bench" / "all.json").read_text())
    suite = report["suites"]["recs"]
    assert suite["status"] == "ok", suite.get("traceback")
    names = [f["figure"] for f in suite["report"]["figures"]]
    assert any(n.startswith("HR@10 product,") for n in names)
    assert any(n.startswith("HR@10 product type,") for n in names)
    assert "model fit (slowest split)" in names and "one customer's recommendations, CPU" in names
    for figure in suite["report"]["figures"]:
        if figure["figure"].startswith("HR@10") and figure["reference"]:
            assert figure["ratio"] == pytest.approx(figure["ours"] / figure["reference"])
    assert suite["report"]["latency"]["customers"] > 0
    printed = out.getvalue()
    assert "recs: HR@10 product" in printed and "popularity of the last 28 days" in printed
    assert json.loads((tmp_path / "bench" / "recs.json").read_text())["suite"] == "recs"
