"""Reads: priced products (for margins), bundle quotes, the incentive a customer gets now."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Count, Max, Q, Sum

from xsell_plugin.catalog.models import Product, Variant
from xsell_plugin.core.exceptions import ValidationFailed
from xsell_plugin.offers import rules
from xsell_plugin.offers.models import Bundle, BundleItem, Incentive, OfferStatus
from xsell_plugin.orders.models import Order, OrderLine
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


# --- the admin's builders: bundle checks and incentive margin previews -------------------------

MAX_ADDONS = 10  # every add-on choice of an adjustable bundle is checked against the floor
PREVIEW_LIMIT = 20


def products_available(*, store: Store, product_ids: Iterable[int]) -> dict[int, bool]:
    """For each product: active and some variant can be bought now (missing products: False)."""
    ids = {int(p) for p in product_ids}
    active = set(Product.objects.for_store(store).filter(pk__in=ids, status=Product.Status.ACTIVE)
                 .values_list("pk", flat=True))
    out = dict.fromkeys(ids, False)
    for v in Variant.objects.for_store(store).filter(product_id__in=active):
        if v.available:
            out[v.product_id] = True
    return out


@dataclass(frozen=True, slots=True)
class BundleCheck:
    """A bundle as the builder shows it: the full set's quote, stock, and the margin floor."""

    quote: rules.BundleQuote | None  # core + every add-on (None: nothing can be priced)
    floor: Decimal
    out_of_stock: tuple[int, ...]  # products not active or without a variant to buy
    missing_cost: tuple[int, ...]  # products without a cost (the floor cannot be checked)
    cost_total: Decimal | None  # of the full set (None when a cost is missing)
    margin: Decimal | None  # of the full set after its discount
    worst_margin: Decimal | None  # the lowest over every discounted add-on choice
    worst_addons: tuple[int, ...]  # that choice's add-ons
    margin_ok: bool  # every discounted choice keeps margin >= floor

    @property
    def in_stock(self) -> bool:
        return not self.out_of_stock


def _margin(lines: Sequence[rules.BundleLine], discount: rules.Discount | None) -> Decimal | None:
    if any(line.cost is None for line in lines):
        return None
    quote = rules.bundle_quote(lines, discount)
    return rules.margin(quote.total, sum((line.cost * line.quantity for line in lines), Decimal(0)))


def bundle_check(*, store: Store, kind: str, core_product_id: int, addon_product_ids: Sequence[int],
                 percent_off: Decimal | None = None, amount_off: Decimal | None = None,
                 min_addons: int = 1, quantities: dict[int, int] | None = None) -> BundleCheck:
    """Quote and check a bundle (saved or not) against the catalogue as it is now.

    A fixed bundle is checked as one set; an adjustable one for every choice of add-ons that
    gets the discount (``min_addons`` or more), since the customer picks. Uses ``rules``:
    ``bundle_quote`` (the price), ``bundle_margin_ok`` (the floor; without a cost a discount
    cannot be proved safe)."""
    floor = Decimal(str(store.margin_floor))
    discount = None if percent_off is None and amount_off is None else rules.Discount(
        percent_off=percent_off, amount_off=amount_off)
    ids = [core_product_id, *addon_product_ids]
    quantities = quantities or {}
    priced = {p.product_id: p for p in priced_products(store=store, product_ids=ids)}
    available = products_available(store=store, product_ids=ids)
    lines = {pid: rules.BundleLine(key=pid, unit_price=priced[pid].line.unit_price,
                                   quantity=quantities.get(pid, 1), cost=priced[pid].line.cost)
             for pid in ids if pid in priced}
    out_of_stock = tuple(pid for pid in ids if not available.get(pid) or pid not in lines)
    missing_cost = tuple(pid for pid in ids if pid in lines and lines[pid].cost is None)
    full = [lines[pid] for pid in ids if pid in lines]
    quote = rules.bundle_quote(full, discount) if full else None
    cost_total = None if missing_cost or not full else sum(
        (line.cost * line.quantity for line in full), Decimal(0))
    margin = _margin(full, discount) if full else None

    if kind == Bundle.Kind.ADJUSTABLE:
        addons = [pid for pid in addon_product_ids if pid in lines]
        choices = [c for n in range(max(min_addons, 1), len(addons) + 1)
                   for c in itertools.combinations(addons, n)]
    else:
        choices = [tuple(pid for pid in addon_product_ids if pid in lines)]
    worst, worst_addons, ok = None, (), True
    core = [lines[core_product_id]] if core_product_id in lines else []
    for choice in choices:
        chosen = [*core, *(lines[pid] for pid in choice)]
        if not chosen:
            continue
        if discount is not None and not rules.bundle_margin_ok(chosen, discount, floor):
            ok = False
        value = _margin(chosen, discount)
        if value is not None and (worst is None or value < worst):
            worst, worst_addons = value, tuple(choice)
    return BundleCheck(quote=quote, floor=floor, out_of_stock=out_of_stock,
                       missing_cost=missing_cost, cost_total=cost_total, margin=margin,
                       worst_margin=worst, worst_addons=worst_addons, margin_ok=ok)


def bundle_check_for(*, store: Store, bundle: Bundle) -> BundleCheck:
    items = list(BundleItem.objects.for_store(store).filter(bundle=bundle).order_by("position", "pk"))
    core = next((i.product_id for i in items if i.role == BundleItem.Role.CORE), None)
    addons = [i.product_id for i in items if i.role == BundleItem.Role.ADDON]
    if core is None:  # an incomplete bundle (not made by bundle_create): quote what is there
        core, addons = (items[0].product_id, [i.product_id for i in items[1:]]) if items else (0, [])
    return bundle_check(store=store, kind=bundle.kind, core_product_id=core, addon_product_ids=addons,
                        percent_off=bundle.percent_off, amount_off=bundle.amount_off,
                        min_addons=bundle.min_addons,
                        quantities={i.product_id: i.quantity for i in items})


@dataclass(frozen=True, slots=True)
class MarginRow:
    product_id: int
    external_id: str
    title: str
    price: Decimal
    cost: Decimal | None
    discounted_price: Decimal  # what the customer pays for it with the incentive
    margin_before: Decimal | None
    margin_after: Decimal | None
    breaks_floor: bool
    reason: str  # "" | "below_floor" | "no_cost" | "free_item"
    max_percent_off: Decimal  # the most a percent code could take off and keep the floor
    max_amount_off: Decimal


@dataclass(frozen=True, slots=True)
class IncentivePreview:
    floor: Decimal
    kind: str
    rows: tuple[MarginRow, ...]
    note: str = ""

    @property
    def breaking(self) -> int:
        return sum(1 for r in self.rows if r.breaks_floor)


def preview_products(*, store: Store, limit: int = PREVIEW_LIMIT) -> list[int]:
    """A sample of the store's products for a margin preview: its best sellers (by order lines)
    that can be bought now, then its newest such products."""
    sellers = (OrderLine.objects.for_store(store).filter(product__status=Product.Status.ACTIVE)
               .exclude(product__isnull=True).values("product_id").annotate(n=Count("pk"))
               .order_by("-n", "product_id").values_list("product_id", flat=True)[:limit * 3])
    newest = (Product.objects.for_store(store).filter(status=Product.Status.ACTIVE)
              .order_by("-pk").values_list("pk", flat=True)[:limit * 3])
    ids = list(dict.fromkeys([*sellers, *newest]))
    available = products_available(store=store, product_ids=ids)
    return [pid for pid in ids if available.get(pid)][:limit]


def incentive_margin_preview(*, store: Store, kind: str, percent_off: Decimal | None = None,
                             amount_off: Decimal | None = None, addon_product_id: int | None = None,
                             product_ids: Sequence[int] | None = None,
                             limit: int = PREVIEW_LIMIT) -> IncentivePreview:
    """Each product's margin before and after a proposed incentive, against the store's floor,
    with the rules codes are issued under (``services._terms``): percent / amount / loyalty
    credit off the item (``rules.margin_ok``); a free add-on with the item, whose price must
    cover both costs (``rules.free_addon_margin_ok``); free shipping leaves item margins as
    they are (the shipping cost is not known here)."""
    floor = Decimal(str(store.margin_floor))
    kind = rules.IncentiveKind(kind)
    ids = list(product_ids) if product_ids else preview_products(store=store, limit=limit)
    priced = priced_products(store=store, product_ids=ids[:100])
    titles = dict(Product.objects.for_store(store).filter(pk__in=[p.product_id for p in priced])
                  .values_list("pk", "title"))
    discount = None
    if kind == rules.IncentiveKind.PERCENT_OFF and percent_off is not None:
        discount = rules.Discount(percent_off=percent_off)
    elif kind in (rules.IncentiveKind.AMOUNT_OFF, rules.IncentiveKind.LOYALTY_CREDIT) \
            and amount_off is not None:
        discount = rules.Discount(amount_off=amount_off)
    addon = None
    if kind == rules.IncentiveKind.FREE_ADDON:
        found = priced_products(store=store, product_ids=[addon_product_id] if addon_product_id else [])
        if not found:
            raise ValidationFailed("A free add-on needs its add-on product.",
                                   extra={"fields": {"addon_product_id": ["Unknown product."]}})
        addon = found[0].line
    rows = []
    for p in priced:
        price, cost = p.line.unit_price, p.line.cost
        before = rules.margin(price, cost) if cost is not None else None
        if addon is not None:
            paid = price
            total_cost = None if cost is None or addon.cost is None else cost + addon.cost
            after = rules.margin(paid, total_cost) if total_cost is not None else None
            ok = rules.free_addon_margin_ok(p.line, addon, floor)
        else:
            paid = rules.discounted_price(price, discount)
            after = rules.margin_after(price, cost, discount) if discount else before
            ok = rules.margin_ok(price, cost, discount, floor)
        if ok:
            reason = ""
        elif paid <= 0:
            reason = "free_item"
        elif after is None:
            reason = "no_cost"
        else:
            reason = "below_floor"
        rows.append(MarginRow(
            product_id=p.product_id, external_id=p.external_id, title=titles.get(p.product_id, ""),
            price=price, cost=cost, discounted_price=paid, margin_before=before, margin_after=after,
            breaks_floor=not ok, reason=reason,
            max_percent_off=rules.max_percent_off(price, cost, floor),
            max_amount_off=rules.max_amount_off(price, cost, floor)))
    note = ""
    if kind == rules.IncentiveKind.FREE_SHIPPING:
        note = "Free shipping does not change item margins (the shipping cost is the store's)."
    elif kind == rules.IncentiveKind.LOYALTY_CREDIT:
        note = "A loyalty credit is checked as an amount off each item, like its codes are."
    return IncentivePreview(floor=floor, kind=kind.value, rows=tuple(rows), note=note)
