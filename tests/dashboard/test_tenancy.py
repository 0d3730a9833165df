"""Every /api/v1/ endpoint is scoped to the authenticated store: another store's ids answer 404,
lists and singletons never show another store's rows, and nobody unauthenticated gets in."""

from decimal import Decimal

import pytest

from emails import models as email_models
from emails.services import mailer_account_set, store_email_settings_set, template_copy_set
from tests.dashboard.conftest import client_for
from xsell_plugin.experiments.models import Experiment
from xsell_plugin.experiments.services import experiment_create, holdout_policy_set

pytestmark = pytest.mark.django_db

LISTS = ["/api/v1/experiments", "/api/v1/holdouts", "/api/v1/testimonials"]
READS = [
    *LISTS,
    "/api/v1/store",
    "/api/v1/settings/guardrails",
    "/api/v1/segments",
    "/api/v1/mailer",
    "/api/v1/emails/settings",
    "/api/v1/emails/templates",
    "/api/v1/emails/templates/bundle",
    "/api/v1/experiments/sample-size?baseline_rate=0.1",
    "/api/v1/reports/summary",
    "/api/v1/reports/incremental",
    "/api/v1/reports/attribution",
    "/api/v1/reports/timeseries",
    "/api/v1/reports/funnel",
    "/api/v1/reports/cohorts",
    "/api/v1/reports/clv",
    "/api/v1/reports/clv/customers",
    "/api/v1/reports/retention/upgrades",
    "/api/v1/reports/nps",
    "/api/v1/reports/deliverability",
    "/api/v1/reports/review",
]


@pytest.fixture
def first_store_rows(store):
    experiment = experiment_create(
        store=store,
        name="Secret test",
        sequence_id=3,
        factor="subject",
        baseline_rate=Decimal("0.1"),
        variants=[{"key": "a", "is_control": True}, {"key": "b"}],
    )
    policy = holdout_policy_set(store=store, share="0.2", sequence_id=3)
    testimonial = email_models.Testimonial.objects.create(store=store, author="Secret author", body="x")
    mailer_account_set(
        store=store,
        transport="smtp",
        from_email="owner@first.example",
        smtp_host="smtp.first.example",
        smtp_password="hunter2",
    )
    store_email_settings_set(store=store, logo_url="https://first.example/logo.png")
    template_copy_set(store=store, kind="bundle", subject="First store's secret subject")
    holdout_policy_set(store=store, share="0.3")
    return {"experiment": experiment.pk, "holdout": policy.pk, "testimonial": testimonial.pk}


def test_other_store_gets_404_for_first_stores_objects(first_store_rows, other_api):
    e, h, t = first_store_rows["experiment"], first_store_rows["holdout"], first_store_rows["testimonial"]
    calls = [
        ("get", f"/api/v1/experiments/{e}"),
        ("patch", f"/api/v1/experiments/{e}"),
        ("delete", f"/api/v1/experiments/{e}"),
        ("post", f"/api/v1/experiments/{e}/start"),
        ("post", f"/api/v1/experiments/{e}/stop"),
        ("get", f"/api/v1/experiments/{e}/results"),
        ("get", f"/api/v1/holdouts/{h}"),
        ("put", f"/api/v1/holdouts/{h}"),
        ("delete", f"/api/v1/holdouts/{h}"),
        ("get", f"/api/v1/testimonials/{t}"),
        ("patch", f"/api/v1/testimonials/{t}"),
        ("put", f"/api/v1/testimonials/{t}"),
        ("delete", f"/api/v1/testimonials/{t}"),
    ]
    for method, url in calls:
        response = getattr(other_api, method)(
            url, {"share": "0.1", "name": "x", "author": "y", "body": "z"}, content_type="application/json"
        )
        assert response.status_code == 404, (method, url, response.status_code)
        assert set(response.json()) == {"code", "message", "extra"}
    assert Experiment.objects.filter(pk=e, status="draft").exists()


def test_other_store_lists_and_singletons_never_show_first_stores_rows(first_store_rows, other_api):
    for url in READS:
        response = other_api.get(url)
        assert response.status_code in (200, 404), (url, response.status_code)
        body = response.content.decode()
        for secret in ("Secret", "first.example", "First store", "hunter2"):
            assert secret not in body, (url, secret)
    for url in LISTS:
        assert other_api.get(url).json()["count"] == 0
    guard = other_api.get("/api/v1/settings/guardrails").json()
    assert guard["holdout_share"] == "0.100"  # the default, not the first store's 0.3
    assert other_api.get("/api/v1/mailer").status_code == 404


def test_first_store_sees_its_own_rows(first_store_rows, api):
    assert api.get("/api/v1/experiments").json()["count"] == 1
    assert api.get("/api/v1/holdouts").json()["count"] == 2
    mailer = api.get("/api/v1/mailer").json()
    assert mailer["has_smtp_password"] is True and "hunter2" not in str(mailer)
    assert api.get("/api/v1/emails/templates/bundle").json()["subject"] == "First store's secret subject"


def test_unauthenticated_requests_are_refused_in_the_error_shape(client, first_store_rows):
    for url in READS:
        response = client.get(url)
        assert response.status_code in (401, 403), url
        assert set(response.json()) == {"code", "message", "extra"}


def test_login_as_one_store_only_touches_that_store(store, other_store, first_store_rows):
    c = client_for(other_store)
    created = c.post(
        "/api/v1/testimonials", {"author": "Other", "body": "Nice"}, content_type="application/json"
    )
    assert created.status_code == 201
    assert email_models.Testimonial.objects.get(pk=created.json()["id"]).store_id == other_store.pk
