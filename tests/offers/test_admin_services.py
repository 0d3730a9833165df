"""The offers the admin edits: bundle checks over every add-on choice, updates and deletes,
incentive writes with their field errors, and the margin preview's rules."""

from decimal import Decimal

import pytest
from django.utils import timezone

from tests.offers.conftest import priced
from xsell_plugin.core.exceptions import Conflict, NotFound, ValidationFailed
from xsell_plugin.offers import selectors, services
from xsell_plugin.offers.exceptions import MarginFloorBreached
from xsell_plugin.offers.models import Bundle, BundleItem, Incentive, IssuedCode

pytestmark = pytest.mark.django_db
D = Decimal


def test_adjustable_bundles_are_checked_for_every_discounted_choice(store):
    core = priced(store, "core", price="100.00", cost="40.00")
    cheap = priced(store, "cheap", price="10.00", cost="4.00")
    dear = priced(store, "dear", price="60.00", cost="20.00")
    # 30.00 off: core + dear (160 - 30 = 130 for 60) is fine, core + cheap (110 - 30 = 80 for 44:
    # 45 %) too; a floor of 50 % breaks only on the cheap choice.
    store.margin_floor = D("0.500")
    store.save()
    check = selectors.bundle_check(store=store, kind="adjustable", core_product_id=core.pk,
                                   addon_product_ids=[cheap.pk, dear.pk], amount_off=D("30.00"),
                                   min_addons=1)
    assert check.margin_ok is False and check.worst_addons == (cheap.pk,)
    assert check.worst_margin == D("0.45")
    # with two add-ons required for the discount, only the full set counts: (170 - 30 - 64) / 140
    both = selectors.bundle_check(store=store, kind="adjustable", core_product_id=core.pk,
                                  addon_product_ids=[cheap.pk, dear.pk], amount_off=D("30.00"),
                                  min_addons=2)
    assert both.margin_ok is True and both.worst_addons == (cheap.pk, dear.pk)
    with pytest.raises(MarginFloorBreached) as refused:
        services.bundle_create(store=store, name="Pick one", kind="adjustable", core_product_id=core.pk,
                               addon_product_ids=[cheap.pk, dear.pk], amount_off=D("30.00"))
    assert refused.value.extra["products"] == [core.pk, cheap.pk]
    assert services.bundle_create(store=store, name="Pick two", kind="adjustable", core_product_id=core.pk,
                                  addon_product_ids=[cheap.pk, dear.pk], amount_off=D("30.00"),
                                  min_addons=2).min_addons == 2


def test_bundle_update_and_delete(store, other_store):
    core = priced(store, "core", price="100.00", cost="40.00")
    a = priced(store, "a", price="40.00", cost="10.00")
    b = priced(store, "b", price="20.00", cost="5.00")
    bundle = services.bundle_create(store=store, name="Set", kind="fixed", core_product_id=core.pk,
                                    addon_product_ids=[a.pk], percent_off=D("10"))
    with pytest.raises(NotFound):
        services.bundle_update(store=other_store, bundle_id=bundle.pk, name="Theirs")
    updated = services.bundle_update(store=store, bundle_id=bundle.pk, core_product_id=a.pk,
                                     addon_product_ids=[core.pk, b.pk], amount_off=D("5.00"))
    assert (updated.percent_off, updated.amount_off) == (None, D("5.00"))
    assert list(BundleItem.objects.filter(bundle=bundle).order_by("position")
                .values_list("product_id", "role")) == [(a.pk, "core"), (core.pk, "addon"), (b.pk, "addon")]
    with pytest.raises(ValidationFailed) as unknown:
        services.bundle_update(store=store, bundle_id=bundle.pk, sends=10)
    assert "sends" in unknown.value.extra["fields"]
    with pytest.raises(NotFound):
        services.bundle_delete(store=other_store, bundle_id=bundle.pk)
    services.bundle_delete(store=store, bundle_id=bundle.pk)
    assert not Bundle.objects.exists() and not BundleItem.objects.exists()


def test_incentive_writes(store):
    mug = priced(store, "mug", price="12.00", cost="3.00")
    made = services.incentive_create(store=store, name="Mug", kind="free_addon", addon_product_id=mug.pk,
                                     percent_off=D("10"), segments=["any", "any"])
    assert made.percent_off is None and made.segments == ["any"]  # what the kind does not use is cleared
    with pytest.raises(ValidationFailed) as dup:
        services.incentive_create(store=store, name="Mug", kind="free_shipping")
    assert "name" in dup.value.extra["fields"]
    with pytest.raises(ValidationFailed) as window:
        now = timezone.now()
        services.incentive_update(store=store, incentive_id=made.pk, starts_at=now, ends_at=now)
    assert "ends_at" in window.value.extra["fields"]
    changed = services.incentive_update(store=store, incentive_id=made.pk, kind="percent_off",
                                        percent_off=D("12.5"))
    assert (changed.kind, changed.percent_off, changed.addon_product_id) == ("percent_off", D("12.5"), None)
    flagged = Incentive.objects.filter(pk=made.pk)
    flagged.update(status="flagged", flagged_at=timezone.now(), sends_at_flag=200)
    cleared = services.incentive_update(store=store, incentive_id=made.pk, status="active")
    assert cleared.status == "active" and cleared.flagged_at is None and cleared.sends_at_flag is None
    IssuedCode.objects.create(store=store, incentive=made, recipient="a@example.com", offer_key="k",
                              code="XS-1", ends_at=timezone.now())
    with pytest.raises(Conflict):
        services.incentive_delete(store=store, incentive_id=made.pk)


def test_margin_preview_rules(store):
    item = priced(store, "item", price="80.00", cost="50.00")
    credit = selectors.incentive_margin_preview(store=store, kind="loyalty_credit", amount_off=D("20.00"),
                                                product_ids=[item.pk])
    # 80 - 20 = 60 for a cost of 50: 16.7 %, below the 20 % floor
    [row] = credit.rows
    assert (row.discounted_price, row.breaks_floor, row.reason) == (D("60.00"), True, "below_floor")
    assert round(row.margin_after, 4) == D("0.1667") and credit.note
    everything = selectors.incentive_margin_preview(store=store, kind="amount_off", amount_off=D("500"),
                                                    product_ids=[item.pk])
    assert everything.rows[0].reason == "free_item" and everything.rows[0].discounted_price == 0
    shipping = selectors.incentive_margin_preview(store=store, kind="free_shipping", product_ids=[item.pk])
    assert shipping.rows[0].breaks_floor is False and "shipping" in shipping.note
    with pytest.raises(ValidationFailed):
        selectors.incentive_margin_preview(store=store, kind="free_addon", product_ids=[item.pk])
