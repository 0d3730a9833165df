"""Every /api/v1/ endpoint is scoped to the authenticated store: another store's ids answer 404,
lists and singletons never show another store's rows, and nobody unauthenticated gets in."""

from decimal import Decimal

import pytest

from emails import models as email_models
from emails.services import mailer_account_set, store_email_settings_set, template_copy_set
from tests.dashboard.conftest import client_for
from xsell_plugin.catalog.models import Product, Variant
from xsell_plugin.customers.models import Customer
from xsell_plugin.experiments.models import Experiment
from xsell_plugin.experiments.services import experiment_create, holdout_policy_set
from xsell_plugin.offers.models import Bundle, Incentive
from xsell_plugin.offers.services import bundle_create, incentive_create
from xsell_plugin.recommendations.models import ProductOverride, ProductTypeRule
from xsell_plugin.recommendations.services import product_override_set, product_type_rule_create
from xsell_plugin.sequences.models import Sequence, Step
from xsell_plugin.sequences.services import sequence_create

pytestmark = pytest.mark.django_db

LISTS = [
    "/api/v1/experiments",
    "/api/v1/holdouts",
    "/api/v1/testimonials",
    "/api/v1/sequences",
    "/api/v1/bundles",
    "/api/v1/incentives",
    "/api/v1/products",
    "/api/v1/customers",
    "/api/v1/recommendations/rules",
    "/api/v1/recommendations/overrides",
]
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
    "/api/v1/products?search=secret",
    "/api/v1/customers?search=secret",
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
    return {"experiment": experiment.pk, "holdout": policy.pk, "testimonial": testimonial.pk,
            **_first_store_offers_and_sequences(store)}


def _first_store_offers_and_sequences(store) -> dict:
    core = Product.objects.create(store=store, external_id="secret-1", title="Secret product",
                                  product_type="Secret type")
    addon = Product.objects.create(store=store, external_id="secret-2", title="Secret add-on")
    for p in (core, addon):
        Variant.objects.create(store=store, product=p, external_id=f"{p.external_id}-v",
                               price=Decimal("50.00"), cost=Decimal("10.00"), inventory_quantity=5)
    Customer.objects.create(store=store, external_id="secret-c", email="secret@first.example",
                            first_name="Secret")
    sequence = sequence_create(store=store, key="secret", name="Secret sequence", trigger="win_back",
                               steps=[{"kind": "value"}, {"kind": "feedback"}])
    bundle = bundle_create(store=store, name="Secret bundle", kind="fixed", core_product_id=core.pk,
                           addon_product_ids=[addon.pk], percent_off=Decimal("10"))
    incentive = incentive_create(store=store, name="Secret incentive", kind="percent_off",
                                 percent_off=Decimal("10"))
    rule = product_type_rule_create(store=store, product_type="Secret type", durable=True)
    override, _ = product_override_set(store=store, product_id=core.pk,
                                       recommended_product_id=addon.pk, action="pin")
    return {"sequence": sequence.pk, "step": sequence.steps.first().pk, "bundle": bundle.pk,
            "incentive": incentive.pk, "rule": rule.pk, "override": override.pk}


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
    ids = first_store_rows
    seq, step = ids["sequence"], ids["step"]
    calls += [
        ("get", f"/api/v1/sequences/{seq}"),
        ("patch", f"/api/v1/sequences/{seq}"),
        ("get", f"/api/v1/sequences/{seq}/steps"),
        ("post", f"/api/v1/sequences/{seq}/steps"),
        ("get", f"/api/v1/sequences/{seq}/steps/{step}"),
        ("patch", f"/api/v1/sequences/{seq}/steps/{step}"),
        ("delete", f"/api/v1/sequences/{seq}/steps/{step}"),
        ("get", f"/api/v1/sequences/{seq}/steps/{step}/preview"),
        ("post", f"/api/v1/sequences/{seq}/steps/{step}/send-test"),
        ("get", f"/api/v1/bundles/{ids['bundle']}"),
        ("patch", f"/api/v1/bundles/{ids['bundle']}"),
        ("delete", f"/api/v1/bundles/{ids['bundle']}"),
        ("get", f"/api/v1/incentives/{ids['incentive']}"),
        ("patch", f"/api/v1/incentives/{ids['incentive']}"),
        ("delete", f"/api/v1/incentives/{ids['incentive']}"),
        ("get", f"/api/v1/recommendations/rules/{ids['rule']}"),
        ("patch", f"/api/v1/recommendations/rules/{ids['rule']}"),
        ("delete", f"/api/v1/recommendations/rules/{ids['rule']}"),
        ("get", f"/api/v1/recommendations/overrides/{ids['override']}"),
        ("delete", f"/api/v1/recommendations/overrides/{ids['override']}"),
    ]
    for method, url in calls:
        response = getattr(other_api, method)(
            url,
            {"share": "0.1", "name": "x", "author": "y", "body": "z", "kind": "value", "to": "a@b.example"},
            content_type="application/json",
        )
        assert response.status_code == 404, (method, url, response.status_code)
        assert set(response.json()) == {"code", "message", "extra"}
    assert Experiment.objects.filter(pk=e, status="draft").exists()
    assert Sequence.objects.get(pk=seq).name == "Secret sequence"
    assert Step.objects.filter(sequence_id=seq).count() == 2
    assert Bundle.objects.filter(pk=ids["bundle"], name="Secret bundle").exists()
    assert Incentive.objects.filter(pk=ids["incentive"], name="Secret incentive").exists()
    assert ProductTypeRule.objects.filter(pk=ids["rule"]).exists()
    assert ProductOverride.objects.filter(pk=ids["override"]).exists()


def test_other_store_lists_and_singletons_never_show_first_stores_rows(first_store_rows, other_api,
                                                                    product_holdout):
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
    for url in LISTS[3:]:
        assert api.get(url).json()["count"] >= 1, url
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
