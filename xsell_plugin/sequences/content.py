"""What a step's email says, picked at send time (``settings.XSELL_SEQUENCE_CONTENT``).

Recommendations come from the recommendation engine (``recommendations.selectors.
customer_recommendations``: fresh stock and prices, the margin floor, nothing the customer owns)
and incentives from the offers rules (``offers.selectors.incentive_for_customer`` then
``offers.services.incentive_code_issue``: a real per-recipient code with its real end). This
module only maps them to the email snapshots of ``emails.context``; it invents nothing. When a
kind's content cannot be had honestly it falls back to a plainer kind (a bundle without a bundle
-> complements; an incentive without an incentive -> complements) or returns ``None`` (the step
is skipped with ``no_content``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from emails.context import incentive_snapshot, product_snapshot
from emails.kinds import Kind
from xsell_plugin.catalog.models import Product
from xsell_plugin.core.exceptions import ApplicationError
from xsell_plugin.offers.models import Bundle, BundleItem
from xsell_plugin.offers.selectors import bundle_quote_for, incentive_for_customer
from xsell_plugin.offers.services import incentive_code_issue
from xsell_plugin.recommendations.context import Mode
from xsell_plugin.recommendations.selectors import customer_recommendations
from xsell_plugin.sequences.models import Enrollment, Sequence, Step
from xsell_plugin.sequences.services import Content

logger = logging.getLogger(__name__)

VALUE_TIPS = [
    {"title": "Get set up in minutes", "body": "Unpack, read the quick-start card, and keep the "
                                               "receipt with the box for the first weeks."},
    {"title": "Look after it", "body": "A little care early on keeps it working like new for "
                                       "longer."},
    {"title": "We are here", "body": "Questions or something not right? Reply to this email: a "
                                     "person reads every message."},
]

MODE_BY_TRIGGER = {
    Sequence.Trigger.REPLENISHMENT_DUE: Mode.REPLENISH,
    Sequence.Trigger.UPGRADE_ANNIVERSARY: Mode.UPSELL,
}


def _products(store, external_ids) -> list[Product]:
    ids = [str(e) for e in external_ids if e]
    found = {p.external_id: p for p in Product.objects.for_store(store).filter(external_id__in=ids)
             .prefetch_related("variants")}
    return [found[e] for e in ids if e in found]


def _available(product: Product) -> bool:
    return product.status == Product.Status.ACTIVE and any(v.available for v in product.variants.all())


def _recommend(*, store, customer, enrollment: Enrollment, triggers: list[Product], now: datetime,
               mode: Mode, limit: int) -> list[Product]:
    emailed = [p.pk for p in _products(store, enrollment.recommended or ())]
    picks = customer_recommendations(
        store=store, customer_id=customer.pk, now=now, trigger_product_ids=[p.pk for p in triggers],
        recently_emailed=emailed, mode=mode, limit=limit)
    return _products(store, [r.external_id for r in picks])


def _snap(store, products: list[Product]) -> list[dict[str, Any]]:
    return [product_snapshot(p, store=store) for p in products]


def step_content(*, store, customer, enrollment: Enrollment, step: Step, kind: str, variant: str,
                 now: datetime, config: Mapping[str, Any] | None = None) -> Content | None:
    """``config``: what a running experiment's variant changes here (``offer_id``: the incentive
    or bundle to offer instead of the rules' choice; ``percent_off``: the incentive's size)."""
    config = config or {}
    facts = enrollment.facts or {}
    triggers = _products(store, facts.get("products") or ())
    mode = MODE_BY_TRIGGER.get(enrollment.sequence.trigger, Mode.CROSS_SELL)
    first = next((p for p in triggers if _available(p)), None)
    extra: dict[str, Any] = {}
    if facts.get("recovery_url"):
        extra["cta_url"] = facts["recovery_url"]

    if kind == Kind.FEEDBACK:
        return Content(kind, {})
    if kind in (Kind.VALUE, Kind.CHECKIN):
        context: dict[str, Any] = {"tips": VALUE_TIPS} if kind == Kind.VALUE else {}
        if first is not None:
            context["product"] = product_snapshot(first, store=store)
        return Content(kind, context)
    if kind == Kind.UPGRADE:
        if first is None:
            return None
        picks = _recommend(store=store, customer=customer, enrollment=enrollment, triggers=[first],
                           now=now, mode=Mode.UPSELL, limit=1)
        if not picks:
            return None
        return Content(kind, {"original": product_snapshot(first, store=store),
                              "upgrade": product_snapshot(picks[0], store=store)},
                       (picks[0].external_id,))
    if kind == Kind.BUNDLE:
        bundle = _bundle(store, triggers, now=now, bundle_id=config.get("offer_id"))
        if bundle is not None:
            return bundle
        kind = Kind.COMPLEMENTS
    if kind == Kind.INCENTIVE:
        incentive = _incentive(store, customer, enrollment, step, now=now, triggers=triggers,
                               incentive_id=config.get("offer_id"),
                               percent_off=config.get("percent_off"))
        if incentive is not None:
            return incentive
        kind = Kind.COMPLEMENTS
    if kind == Kind.FOLLOWUP:
        shown = [p for p in triggers if _available(p)][:3]
        if len(shown) < 2:
            shown += _recommend(store=store, customer=customer, enrollment=enrollment, triggers=triggers,
                                now=now, mode=mode, limit=3 - len(shown))
        if not shown:
            return None
        return Content(kind, {"products": _snap(store, shown[:4]), **extra},
                       tuple(p.external_id for p in shown[:4]))
    # complements (and the fallbacks above)
    picks = _recommend(store=store, customer=customer, enrollment=enrollment, triggers=triggers,
                       now=now, mode=mode, limit=3)
    if len(picks) < 2:
        return None
    return Content(Kind.COMPLEMENTS, {"products": _snap(store, picks), **extra},
                   tuple(p.external_id for p in picks))


def _bundle(store, triggers: list[Product], *, now: datetime, bundle_id: Any = None) -> Content | None:
    cores = BundleItem.objects.for_store(store).filter(
        product__in=triggers, role=BundleItem.Role.CORE).values_list("bundle_id", flat=True)
    bundles = Bundle.objects.for_store(store).filter(pk__in=list(cores))
    if bundle_id is not None:  # an experiment's offer: that bundle or none
        bundles = bundles.filter(pk=bundle_id)
    for bundle in bundles.order_by("pk"):
        if not bundle.running:
            continue
        quote = bundle_quote_for(store=store, bundle=bundle)
        items = _products(store, Product.objects.for_store(store).filter(
            pk__in=[line.key for line in quote.lines]).values_list("external_id", flat=True))
        if len(items) < 2 or not all(_available(p) for p in items) or quote.saving <= 0:
            continue
        return Content(Kind.BUNDLE, {"bundle": {"title": bundle.name, "items": _snap(store, items),
                                                "price": str(quote.total)}},
                       tuple(p.external_id for p in items))
    return None


def _incentive(store, customer, enrollment: Enrollment, step: Step, *, now: datetime,
               triggers: list[Product], incentive_id: Any = None,
               percent_off: Any = None) -> Content | None:
    if incentive_id is None:
        decision = incentive_for_customer(store=store, customer_id=customer.pk,
                                          step=step.position - 1, now=now,
                                          enrolled_at=enrollment.enrolled_at)
        if decision.option is None:
            return None
        incentive_id = decision.option.id
    picks = [p for p in triggers if _available(p)][:3] or _recommend(
        store=store, customer=customer, enrollment=enrollment, triggers=triggers, now=now,
        mode=Mode.CROSS_SELL, limit=3)
    try:
        code = incentive_code_issue(
            store=store, incentive_id=int(incentive_id), recipient_email=customer.email,
            offer_key=f"enrollment:{enrollment.pk}:step:{step.position}", now=now,
            product_ids=[p.pk for p in picks], customer_id=customer.pk,
            percent_off=Decimal(str(percent_off)) if percent_off is not None else None)
    except ApplicationError as exc:
        logger.info("store %s: no incentive for customer %s: %s", store.pk, customer.pk, exc.code)
        return None
    if code.status != code.Status.ISSUED:
        return None
    return Content(Kind.INCENTIVE, {
        "incentive": incentive_snapshot(code=code.code, expires_at=code.ends_at),
        "products": _snap(store, picks)}, tuple(p.external_id for p in picks))
