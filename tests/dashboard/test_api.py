"""The admin API's behaviour: experiments lifecycle, holdouts, guardrails, previews, mailer,
testimonials' review flags, pagination, filtering and the error shape."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from emails import models as email_models

pytestmark = pytest.mark.django_db

EXPERIMENT = {
    "name": "Shorter subject",
    "sequence_id": 12,
    "factor": "subject",
    "metric": "conversion",
    "baseline_rate": "0.0500",
    "minimum_detectable_effect": "0.200",
    "variants": [
        {"key": "control", "is_control": True, "config": {"subject": "Long"}},
        {"key": "short", "config": {"subject": "Short"}},
    ],
}


def test_experiment_lifecycle(api):
    created = api.post("/api/v1/experiments", EXPERIMENT, content_type="application/json")
    assert created.status_code == 201, created.json()
    pk = created.json()["id"]
    assert [v["key"] for v in created.json()["variants"]] == ["control", "short"]
    started = api.post(f"/api/v1/experiments/{pk}/start")
    assert started.status_code == 200 and started.json()["status"] == "running"
    assert started.json()["planned_per_arm"] > 1000
    changed = api.patch(
        f"/api/v1/experiments/{pk}", {"baseline_rate": "0.1"}, content_type="application/json"
    )
    assert changed.status_code == 409 and changed.json()["code"] == "conflict"
    second = api.post("/api/v1/experiments", EXPERIMENT, content_type="application/json").json()["id"]
    assert api.post(f"/api/v1/experiments/{second}/start").status_code == 409  # one running per sequence
    results = api.get(f"/api/v1/experiments/{pk}/results").json()
    assert results["decision"] == "collecting" and len(results["arms"]) == 2
    assert api.delete(f"/api/v1/experiments/{pk}").status_code == 409
    stopped = api.post(
        f"/api/v1/experiments/{pk}/stop", {"winner": "short"}, content_type="application/json"
    )
    assert stopped.json()["status"] == "stopped" and stopped.json()["winner"] == "short"
    assert api.get("/api/v1/experiments?status=stopped").json()["count"] == 1
    assert api.get("/api/v1/experiments?limit=1").json()["next"] is not None
    assert api.delete(f"/api/v1/experiments/{pk}").status_code == 204


def test_experiment_validation_errors_use_the_error_shape(api):
    bad = {**EXPERIMENT, "variants": [{"key": "only", "is_control": True}]}
    response = api.post("/api/v1/experiments", bad, content_type="application/json")
    assert response.status_code == 400 and set(response.json()) == {"code", "message", "extra"}
    no_plan = api.post(
        "/api/v1/experiments", {**EXPERIMENT, "baseline_rate": None}, content_type="application/json"
    ).json()["id"]
    assert api.post(f"/api/v1/experiments/{no_plan}/start").json()["code"] == "validation_failed"


def test_sample_size_guidance(api):
    body = api.get(
        "/api/v1/experiments/sample-size?baseline_rate=0.05&minimum_detectable_effect=0.2"
    ).json()
    assert body["per_arm"] > 5000 and body["total"] == 2 * body["per_arm"]
    revenue = api.get(
        "/api/v1/experiments/sample-size?metric=revenue&baseline_mean=20&baseline_sd=60"
    ).json()
    assert revenue["per_arm"] > 1000
    assert api.get("/api/v1/experiments/sample-size?metric=revenue").status_code == 400


def test_holdouts_and_guardrails(api, store):
    assert (
        api.put(
            "/api/v1/settings/guardrails",
            {"holdout_share": "0.15", "attribution_window_days": 7, "margin_floor": "0.300"},
            content_type="application/json",
        ).status_code
        == 200
    )
    guard = api.get("/api/v1/settings/guardrails").json()
    assert (guard["holdout_share"], guard["attribution_window_days"], guard["margin_floor"]) == (
        "0.150",
        7,
        "0.300",
    )
    created = api.post(
        "/api/v1/holdouts", {"sequence_id": 4, "share": "0.25"}, content_type="application/json"
    )
    assert created.status_code == 201
    assert (
        api.put(
            f"/api/v1/holdouts/{created.json()['id']}", {"share": "0.6"}, content_type="application/json"
        ).status_code
        == 400
    )
    assert api.delete(f"/api/v1/holdouts/{created.json()['id']}").status_code == 204
    default = api.get("/api/v1/holdouts?sequence_id=").json()["results"]
    assert (
        any(p["sequence_id"] is None for p in api.get("/api/v1/holdouts").json()["results"])
        or default == []
    )


def test_sending_guardrails_drive_the_engine_policy(api, store):
    from xsell_plugin.sequences.selectors import policy_for

    defaults = api.get("/api/v1/settings/guardrails").json()
    assert (defaults["max_per_window"], defaults["quiet_start_hour"], defaults["soft_opt_in"]) == (
        3, 21, False)
    changed = api.put("/api/v1/settings/guardrails",
                      {"max_per_window": 2, "window_days": 10, "quiet_start_hour": 20,
                       "quiet_end_hour": 9, "daily_cap": 800},
                      content_type="application/json")
    assert changed.status_code == 200 and changed.json()["max_per_window"] == 2
    policy = policy_for(store)
    assert (policy.max_per_window, policy.window.days, policy.quiet_start_hour,
            policy.quiet_end_hour, policy.daily_cap) == (2, 10, 20, 9, 800)

    # A bad value names its field; a refused change leaves everything as it was (one transaction).
    bad = api.put("/api/v1/settings/guardrails", {"quiet_end_hour": 24}, content_type="application/json")
    assert bad.status_code == 400 and "quiet_end_hour" in bad.json()["extra"]["fields"]
    refused = api.put("/api/v1/settings/guardrails", {"holdout_share": "0.2", "soft_opt_in": True},
                      content_type="application/json")
    assert refused.status_code == 400 and refused.json()["code"] == "validation_failed"
    after = api.get("/api/v1/settings/guardrails").json()
    assert (after["holdout_share"], after["soft_opt_in"]) == (defaults["holdout_share"], False)
    ok = api.put("/api/v1/settings/guardrails",
                 {"soft_opt_in": True, "soft_opt_in_policy": "https://shop.test/privacy#soft-opt-in"},
                 content_type="application/json")
    assert ok.status_code == 200 and policy_for(store).soft_opt_in is True


def test_the_postal_address_is_set_by_the_merchant_and_shown_in_emails(api, store):
    assert api.get("/api/v1/store").json()["postal_address"] == ""
    changed = api.patch("/api/v1/store", {"postal_address": "12 Quay Street\nCork T12 X2Y3"},
                        content_type="application/json")
    assert changed.status_code == 200 and changed.json()["postal_address"].startswith("12 Quay")
    preview = api.post("/api/v1/emails/preview", {"kind": "value"}, content_type="application/json")
    assert preview.status_code == 200 and "12 Quay Street" in preview.json()["html"]
    bad = api.patch("/api/v1/store", {"domain": "other.myshopify.com", "email_from": "nope"},
                    content_type="application/json")
    assert bad.status_code == 400 and set(bad.json()["extra"]["fields"]) == {"domain"}
    bad = api.patch("/api/v1/store", {"email_from": "nope"}, content_type="application/json")
    assert bad.status_code == 400 and "email_from" in bad.json()["extra"]["fields"]
    store.refresh_from_db()
    assert store.domain == "first-shop.myshopify.com" and store.email_from == ""


def test_email_preview_uses_the_store_look(api):
    api.put(
        "/api/v1/emails/templates/complements",
        {"subject": "Picked for you, {first_name}"},
        content_type="application/json",
    )
    response = api.post(
        "/api/v1/emails/preview",
        {"kind": "complements", "first_name": "Sam"},
        content_type="application/json",
    )
    assert response.status_code == 200
    assert response.json()["subject"] == "Picked for you, Sam"
    assert "<html" in response.json()["html"].lower() and response.json()["text"]
    bad = api.post(
        "/api/v1/emails/preview",
        {"kind": "bundle", "context": {"bundle": {"items": []}}},
        content_type="application/json",
    )
    assert bad.status_code == 400 and set(bad.json()) == {"code", "message", "extra"}


def test_mailer_settings_and_test_send(api):
    assert api.get("/api/v1/mailer").status_code == 404
    saved = api.put(
        "/api/v1/mailer",
        {"transport": "outbox", "from_email": "shop@example.com"},
        content_type="application/json",
    )
    assert saved.status_code == 200 and saved.json()["transport"] == "outbox"
    sent = api.post("/api/v1/mailer/test", {"to": "owner@example.com"}, content_type="application/json")
    assert sent.status_code == 200 and sent.json()["ok"] is True
    assert api.get("/api/v1/mailer").json()["last_test_ok"] is True


def test_testimonials_are_flagged_after_ninety_days(api, store, product_holdout):
    old = email_models.Testimonial.objects.create(
        store=store, author="Ann", body="Great", updated_at=timezone.now() - timedelta(days=91)
    )
    listed = api.get("/api/v1/testimonials").json()["results"]
    assert listed[0]["needs_review"] is True
    refreshed = api.patch(
        f"/api/v1/testimonials/{old.pk}", {"body": "Still great"}, content_type="application/json"
    )
    assert refreshed.json()["needs_review"] is False
    assert api.get("/api/v1/reports/review").json()["items"] == []
    assert Decimal(api.get("/api/v1/settings/guardrails").json()["holdout_share"]) == Decimal("0.1")


def test_reports_serve_figures_for_the_demo_store():
    """The demo store (real Complete Journey orders) through /api/v1/reports/..."""
    from tests.dashboard.conftest import client_for
    from xsell_plugin.demo.services import demo_store_load

    store = demo_store_load(limit_households=60).store
    api = client_for(store)
    summary = api.get("/api/v1/reports/summary").json()
    assert summary["store"]["orders"] > 1000 and summary["incremental"]["label"].startswith("Incremental")
    assert "not causal" in summary["attributed"]["label"]
    series = api.get("/api/v1/reports/timeseries?metric=orders&interval=month").json()["points"]
    assert len(series) >= 6 and all(p["value"] > 0 for p in series)
    cohorts = api.get("/api/v1/reports/cohorts").json()["rows"]
    assert cohorts and cohorts[0]["retention"][0] == 1.0
    assert api.get("/api/v1/reports/cohorts?by=segment&dimension=rfm").json()["rows"]
    clv = api.get("/api/v1/reports/clv").json()
    assert clv["status"] == "ok" and clv["clv_12m_total"] > 0
    top = api.get("/api/v1/reports/clv/customers?limit=5").json()
    assert top["count"] == 60 and len(top["results"]) == 5
    assert sum(api.get("/api/v1/segments").json()["lifecycle"].values()) == 60
    bad = api.get("/api/v1/reports/timeseries?metric=nonsense")
    assert bad.status_code == 400 and bad.json()["code"] == "validation_failed"


def test_reports_serve_the_simulated_demo_store(settings, product_holdout):
    """The simulation (real Complete Journey customers and orders, our engine sending) leaves a
    holdout in every sequence: the incremental report compares treated and held-out customers."""
    from tests.dashboard.conftest import client_for
    from xsell_plugin.demo.simulation import SIM_DOMAIN, simulate
    from xsell_plugin.experiments.models import SequenceAssignment
    from xsell_plugin.sequences.models import Enrollment
    from xsell_plugin.stores.models import Store

    settings.XSELL_SEQUENCE_CONTENT = "xsell_plugin.sequences.content.step_content"
    report = simulate(days=21, households=80, tick_minutes=120, seed=3)
    store = Store.objects.get(domain=SIM_DOMAIN)
    arms = set(SequenceAssignment.objects.for_store(store).values_list("arm", flat=True))
    assert arms == {"treatment", "holdout"}
    held = Enrollment.objects.for_store(store).filter(exit_reason="holdout")
    assert held.exists() and report.held_out == held.count()
    api = client_for(store)
    incremental = api.get("/api/v1/reports/incremental?horizon_days=7").json()
    assert incremental["matured_treated"] > 0 and incremental["matured_holdout"] > 0
    assert incremental["sequences"] and incremental["incremental_revenue"] is not None
    summary = api.get("/api/v1/reports/summary").json()
    assert summary["incremental"]["label"].startswith("Incremental")
