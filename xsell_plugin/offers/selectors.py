"""Reads: priced products (for margins), bundle quotes, the incentive a customer gets now."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Count, Max, Q, Sum

from xsell_plugin.catalog.models import Product, Variant
from xsell_plugin.core.exceptions import ValidationFailed
from xsell_plugin.offers import rules
from xsell_plugin.offers.models import Bundle, BundleItem, Incentive, OfferStatus
from xsell_plugin.orders.models import Order
from xsell_plugin.stores.models import Store


@dataclass(frozen=True, slots=True)
class PricedProduct:
    product_id: int
    external_id: str
    variant_external_id: str
    inventory_quantity: int | None
    line: rules.BundleLine  # price and cost of its cheapest available variant


def priced_products(*, store: Store, product_ids: Iterable[int]) -> list[PricedProduct]:
    """The products (in the order given) with their cheapest available variant; products with
    no variant are left out."""
    ids = list(dict.fromkeys(int(p) for p in product_ids))
    if not ids:
        return []
    products = {p.pk: p for p in Product.objects.for_store(store).filter(pk__in=ids)}
    variants: dict[int, list[Variant]] = {}
    for v in Variant.objects.for_store(store).filter(product_id__in=ids).order_by("position", "pk"):
        variants.setdefault(v.product_id, []).append(v)
    out = []
    for pid in ids:
        vs = variants.get(pid)
        if pid not in products or not vs:
            continue
        v = min([x for x in vs if x.available] or vs, key=lambda x: (x.price, x.position, x.pk))
        out.append(PricedProduct(product_id=pid, external_id=products[pid].external_id,
                                 variant_external_id=v.external_id,
                                 inventory_quantity=v.inventory_quantity,
                                 line=rules.BundleLine(key=pid, unit_price=v.price, cost=v.cost)))
    return out


def bundle_discount(bundle: Bundle) -> rules.Discount | None:
    if bundle.percent_off is None and bundle.amount_off is None:
        return None
    return rules.Discount(percent_off=bundle.percent_off, amount_off=bundle.amount_off)


def bundle_quote_for(*, store: Store, bundle: Bundle,
                     addon_product_ids: Sequence[int] | None = None) -> rules.BundleQuote:
    """A fixed bundle: every item at the bundle price. An adjustable one: the core plus the
    chosen add-ons; with fewer than ``min_addons`` chosen there is no bundle discount."""
    items = list(BundleItem.objects.for_store(store).filter(bundle=bundle).order_by("position", "pk"))
    core = [i for i in items if i.role == BundleItem.Role.CORE]
    addons = [i for i in items if i.role == BundleItem.Role.ADDON]
    discount = bundle_discount(bundle)
    if bundle.kind == Bundle.Kind.ADJUSTABLE and addon_product_ids is not None:
        unknown = set(addon_product_ids) - {i.product_id for i in addons}
        if unknown:
            raise ValidationFailed("Those products are not add-ons of this bundle.",
                                   extra={"products": sorted(unknown)})
        chosen = set(addon_product_ids)
        addons = [i for i in addons if i.product_id in chosen]
        if len(addons) < bundle.min_addons:
            discount = None
    chosen_items = core + addons
    priced = {p.product_id: p for p in priced_products(
        store=store, product_ids=[i.product_id for i in chosen_items])}
    lines = [rules.BundleLine(key=i.product_id, unit_price=priced[i.product_id].line.unit_price,
                              quantity=i.quantity, cost=priced[i.product_id].line.cost)
             for i in chosen_items if i.product_id in priced]
    return rules.bundle_quote(lines, discount)


def customer_stats(*, store: Store, customer_id: int, now: datetime,
                   enrolled_at: datetime | None = None) -> rules.CustomerStats:
    orders = Order.objects.for_store(store).filter(customer_id=customer_id, placed_at__lt=now,
                                                   cancelled_at__isnull=True)
    agg = orders.aggregate(
        n=Count("pk"), recent=Count("pk", filter=Q(placed_at__gte=now - timedelta(days=30))),
        spent=Sum("total"), refunded=Sum("refunded_total"), last=Max("placed_at"),
        since=Count("pk", filter=Q(placed_at__gte=enrolled_at)) if enrolled_at else Count(
            "pk", filter=Q(pk__in=[])))
    spent = (agg["spent"] or Decimal("0")) - (agg["refunded"] or Decimal("0"))
    return rules.CustomerStats(orders=agg["n"], orders_last_30_days=agg["recent"], spent=spent,
                               last_order_at=agg["last"],
                               bought_since_enrolment=bool(enrolled_at and agg["since"]))


def incentive_options(*, store: Store) -> list[rules.IncentiveOption]:
    return [
        rules.IncentiveOption(
            id=i.pk, kind=rules.IncentiveKind(i.kind), level=i.level,
            segments=tuple(i.segments) or (rules.ANY_SEGMENT,), starts_at=i.starts_at,
            ends_at=i.ends_at, active=i.running, percent_off=i.percent_off, amount_off=i.amount_off)
        for i in Incentive.objects.for_store(store)
        .filter(status__in=(OfferStatus.ACTIVE, OfferStatus.FLAGGED)).order_by("pk")
    ]


def incentive_for_customer(*, store: Store, customer_id: int, step: int, now: datetime,
                           enrolled_at: datetime | None = None) -> rules.IncentiveDecision:
    """What the rules engine gives this customer's email at ``step`` (0 = the first)."""
    stats = customer_stats(store=store, customer_id=customer_id, now=now, enrolled_at=enrolled_at)
    return rules.choose_incentive(incentive_options(store=store), stats=stats, step=step, now=now)
