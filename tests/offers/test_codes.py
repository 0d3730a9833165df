"""Per-recipient codes issued through the real loopback fakes of Shopify and WooCommerce:
idempotent per recipient and offer, unique per store, capped, margin-guarded."""

from datetime import timedelta
from decimal import Decimal

import pytest

from integrations.exceptions import TerminalPlatformError
from tests.offers.conftest import NOW, priced
from xsell_plugin.core.exceptions import NotFound
from xsell_plugin.offers import rules, services
from xsell_plugin.offers.exceptions import (
    IncentiveCapReached,
    IncentiveNotIssuable,
    IncentiveUnavailable,
    MarginFloorBreached,
)
from xsell_plugin.offers.models import Incentive, IncentiveUsage, IssuedCode, OfferStatus


def incentive(store, **kw) -> Incentive:
    base = {"name": "Ten off", "kind": "percent_off", "percent_off": Decimal("10"),
            "code_valid_hours": 48}
    return Incentive.objects.create(store=store, **(base | kw))


def issue(ps, inc, products, *, email="ada@example.com", key="send:1", now=NOW):
    return services.incentive_code_issue(store=ps.store, incentive_id=inc.pk,
                                         recipient_email=email, offer_key=key, now=now,
                                         product_ids=[p.pk for p in products])


def test_percent_code_is_created_on_the_platform(platform_store):
    ps = platform_store
    product = priced(ps.store, ps.product_ext(101), price="50.00", cost="20.00")
    code = issue(ps, incentive(ps.store), [product])
    assert code.status == IssuedCode.Status.ISSUED
    assert code.code.upper().startswith("XS-") and code.external_id
    assert code.ends_at == NOW + timedelta(hours=48)  # the platform's own end date
    assert code.recipient == "ada@example.com"
    sent = ps.discounts()
    assert [d["code"] for d in sent] == [code.code]  # as the platform spells it
    assert sent[0]["percent"] == Decimal("10")
    assert sent[0]["products"] == [ps.product_ext(101)]


def test_idempotent_per_recipient_and_offer(platform_store):
    ps = platform_store
    product = priced(ps.store, ps.product_ext(101), price="50.00", cost="20.00")
    inc = incentive(ps.store)
    first = issue(ps, inc, [product], email="Ada@Example.com")
    again = issue(ps, inc, [product], email="ada@example.com")
    assert again.pk == first.pk and again.code == first.code
    other_offer = issue(ps, inc, [product], key="send:2")
    assert other_offer.code != first.code
    assert len(ps.discounts()) == 2
    assert IssuedCode.objects.for_store(ps.store).count() == 2


def test_amount_and_loyalty_credit(platform_store):
    ps = platform_store
    product = priced(ps.store, ps.product_ext(101), price="50.00", cost="20.00")
    amount = issue(ps, incentive(ps.store, name="Five", kind="amount_off", percent_off=None,
                                 amount_off=Decimal("5.00")), [product])
    credit = issue(ps, incentive(ps.store, name="Credit", kind="loyalty_credit", percent_off=None,
                                 amount_off=Decimal("3.00")), [product])
    sent = {d["code"]: d for d in ps.discounts()}
    assert sent[amount.code]["amount"] == Decimal("5.00")
    assert sent[amount.code]["products"] == [ps.product_ext(101)]
    assert sent[credit.code]["amount"] == Decimal("3.00")
    assert sent[credit.code]["products"] == []  # a credit is for the next order as a whole


def test_free_addon_is_a_100_percent_code_on_the_addon(platform_store):
    ps = platform_store
    core = priced(ps.store, ps.product_ext(101), price="50.00", cost="30.00")
    addon = priced(ps.store, ps.product_ext(102), price="8.00", cost="5.00")
    inc = incentive(ps.store, name="Free mug", kind="free_addon", percent_off=None,
                    addon_product=addon)
    code = issue(ps, inc, [core])  # margin (50 - 35) / 50 = 0.30 >= 0.20
    sent = ps.discounts()[0]
    assert sent["percent"] == Decimal("100") and sent["products"] == [ps.product_ext(102)]
    assert code.percent_off == Decimal("100")


def test_margin_guard_refuses_before_anything_is_sent(platform_store):
    ps = platform_store
    thin = priced(ps.store, ps.product_ext(101), price="10.00", cost="7.50")  # 10 % off: 0.1667
    with pytest.raises(MarginFloorBreached) as err:
        issue(ps, incentive(ps.store), [thin])
    assert err.value.extra["products"] == [thin.pk]
    assert ps.discounts() == []
    assert not IssuedCode.objects.for_store(ps.store).exists()


def test_caps_per_customer_and_per_store_day(platform_store):
    ps = platform_store
    product = priced(ps.store, ps.product_ext(101), price="50.00", cost="20.00")
    inc = incentive(ps.store, per_customer_cap=1, per_store_daily_cap=2)
    issue(ps, inc, [product], email="a@example.com", key="s1")
    with pytest.raises(IncentiveCapReached) as err:
        issue(ps, inc, [product], email="a@example.com", key="s2")
    assert err.value.extra["scope"] == "customer"
    issue(ps, inc, [product], email="b@example.com", key="s1")
    with pytest.raises(IncentiveCapReached) as err:
        issue(ps, inc, [product], email="c@example.com", key="s1")
    assert err.value.extra["scope"] == "day"
    # the next store-local day has its own count
    issue(ps, inc, [product], email="c@example.com", key="s1", now=NOW + timedelta(days=1))
    assert len(ps.discounts()) == 3
    day = IncentiveUsage.objects.for_store(ps.store).get(scope="day", key="2026-06-10")
    assert day.count == 2


def test_free_shipping_code_on_the_platform(platform_store):
    ps = platform_store
    product = priced(ps.store, ps.product_ext(101), price="50.00", cost="20.00")
    code = issue(ps, incentive(ps.store, kind="free_shipping", percent_off=None), [product])
    assert code.status == IssuedCode.Status.ISSUED
    [sent] = ps.discounts()
    assert sent["free_shipping"] and sent["code"] == code.code and not sent["percent"]


def test_a_variant_size_replaces_the_percent_but_keeps_the_margin_guard(platform_store):
    ps = platform_store
    product = priced(ps.store, ps.product_ext(101), price="50.00", cost="20.00")  # 60 % margin
    inc = incentive(ps.store)  # 10 % off
    code = services.incentive_code_issue(store=ps.store, incentive_id=inc.pk, now=NOW,
                                         recipient_email="ada@example.com", offer_key="v:1",
                                         product_ids=[product.pk], percent_off=Decimal("15"))
    assert code.percent_off == Decimal("15") and ps.discounts()[0]["percent"] == Decimal("15")
    with pytest.raises(MarginFloorBreached):  # 55 % off leaves an 11 % margin: below the 20 % floor
        services.incentive_code_issue(store=ps.store, incentive_id=inc.pk, now=NOW,
                                      recipient_email="bob@example.com", offer_key="v:1",
                                      product_ids=[product.pk], percent_off=Decimal("55"))
    amount = incentive(ps.store, name="Five off", kind="amount_off", percent_off=None,
                       amount_off=Decimal("5"))
    with pytest.raises(IncentiveNotIssuable):
        services.incentive_code_issue(store=ps.store, incentive_id=amount.pk, now=NOW,
                                      recipient_email="ada@example.com", offer_key="v:2",
                                      product_ids=[product.pk], percent_off=Decimal("15"))


def test_paused_or_out_of_window_incentives_issue_nothing(platform_store):
    ps = platform_store
    product = priced(ps.store, ps.product_ext(101), price="50.00", cost="20.00")
    with pytest.raises(IncentiveUnavailable):
        issue(ps, incentive(ps.store, status=OfferStatus.PAUSED), [product])
    with pytest.raises(IncentiveUnavailable):
        issue(ps, incentive(ps.store, name="Later", starts_at=NOW + timedelta(hours=1)), [product])
    window_end = NOW + timedelta(hours=6)
    code = issue(ps, incentive(ps.store, name="Short", ends_at=window_end), [product])
    assert code.ends_at == window_end  # never past the incentive's window
    assert rules.expiry_copy(code.ends_at, now=NOW, timezone_name="UTC") == (
        "Code expires in 6 hours (21:00)")


def test_refused_code_is_failed_and_gives_its_cap_back(platform_store, monkeypatch):
    ps = platform_store
    product = priced(ps.store, ps.product_ext(101), price="50.00", cost="20.00")
    inc = incentive(ps.store, per_customer_cap=1)

    def refuse(self, request):
        raise TerminalPlatformError("no")

    from integrations.registry import get_platform
    monkeypatch.setattr(type(get_platform(ps.store)), "create_discount_code", refuse)
    with pytest.raises(TerminalPlatformError):
        issue(ps, inc, [product])
    row = IssuedCode.objects.for_store(ps.store).get()
    assert row.status == IssuedCode.Status.FAILED
    assert IncentiveUsage.objects.for_store(ps.store).get(scope="customer").count == 0


@pytest.mark.django_db
def test_another_stores_incentive_is_not_found(store, other_store):
    inc = incentive(other_store)
    with pytest.raises(NotFound):
        services.incentive_code_issue(store=store, incentive_id=inc.pk, recipient_email="a@b.c",
                                      offer_key="k", now=NOW)
