"""Writes: bundles, per-recipient codes through the store's platform, offer counters, pruning."""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from integrations.base import DiscountCodeRequest
from integrations.exceptions import RetryablePlatformError, TerminalPlatformError
from integrations.registry import get_platform
from xsell_plugin.catalog.models import Product
from xsell_plugin.core.exceptions import Conflict, NotFound, ValidationFailed
from xsell_plugin.offers import rules, selectors
from xsell_plugin.offers.exceptions import (
    IncentiveCapReached,
    IncentiveNotIssuable,
    IncentiveUnavailable,
    MarginFloorBreached,
)
from xsell_plugin.offers.models import (
    Bundle,
    BundleItem,
    Incentive,
    IncentiveUsage,
    IssuedCode,
    OfferStatus,
)
from xsell_plugin.offers.rules import IncentiveKind
from xsell_plugin.stores.models import Store

logger = logging.getLogger(__name__)

CODE_ATTEMPTS = 3


# --- bundles -----------------------------------------------------------------------------------

def field_error(field: str, message: str, **extra) -> ValidationFailed:
    """A 400 in the API's field-error shape (``extra.fields.<field>``)."""
    return ValidationFailed(message, extra={"fields": {field: [message]}, **extra})


def _discount_check(percent_off: Decimal | None, amount_off: Decimal | None) -> None:
    if percent_off is not None and amount_off is not None:
        raise field_error("amount_off", "A discount is a percentage or an amount, not both.")
    try:
        if percent_off is not None or amount_off is not None:
            rules.Discount(percent_off=percent_off, amount_off=amount_off)
    except ValueError as exc:
        raise field_error("percent_off" if percent_off is not None else "amount_off",
                     str(exc).capitalize() + ".") from None


def _bundle_fields_check(store: Store, *, name: str, kind: str, core_product_id: int,
                         addon_product_ids: Sequence[int], percent_off: Decimal | None,
                         amount_off: Decimal | None, min_addons: int, status: str) -> None:
    if not (name or "").strip():
        raise field_error("name", "A bundle needs a name.")
    if kind not in Bundle.Kind.values:
        raise ValidationFailed("Unknown bundle kind.", extra={"kind": kind,
                                                              "fields": {"kind": ["Unknown kind."]}})
    if status not in (OfferStatus.ACTIVE, OfferStatus.PAUSED, OfferStatus.FLAGGED):
        raise field_error("status", "A bundle is active or paused.")
    _discount_check(percent_off, amount_off)
    product_ids = [core_product_id, *addon_product_ids]
    if not addon_product_ids or len(set(product_ids)) != len(product_ids):
        raise ValidationFailed("A bundle needs a core product and distinct add-ons.", extra={
            "fields": {"addon_product_ids": ["At least one add-on, each once, not the core product."]}})
    if len(addon_product_ids) > selectors.MAX_ADDONS:
        raise field_error("addon_product_ids", f"A bundle has at most {selectors.MAX_ADDONS} add-ons.")
    if kind == Bundle.Kind.ADJUSTABLE and not 1 <= min_addons <= len(addon_product_ids):
        raise field_error("min_addons", "An adjustable bundle needs 1 to all of its add-ons chosen "
                                   "for the discount.")
    found = set(Product.objects.for_store(store).filter(pk__in=product_ids)
                .values_list("pk", flat=True))
    if found != set(product_ids):
        raise NotFound("Unknown product for this store.",
                       extra={"products": sorted(set(product_ids) - found)})


def _bundle_rules_check(store: Store, *, kind: str, core_product_id: int,
                        addon_product_ids: Sequence[int], percent_off: Decimal | None,
                        amount_off: Decimal | None, min_addons: int) -> None:
    """Refuse a bundle the store could not honour: an item that cannot be bought now, or a
    discount that takes any choice of items below the store's margin floor."""
    check = selectors.bundle_check(store=store, kind=kind, core_product_id=core_product_id,
                                   addon_product_ids=addon_product_ids, percent_off=percent_off,
                                   amount_off=amount_off, min_addons=min_addons)
    if check.out_of_stock:
        field = "core_product_id" if core_product_id in check.out_of_stock else "addon_product_ids"
        message = "Out of stock or not for sale: a bundle's items must be available."
        raise ValidationFailed(message, code="out_of_stock", extra={
            "fields": {field: [message]}, "products": list(check.out_of_stock)})
    if not check.margin_ok:
        field = "percent_off" if percent_off is not None else "amount_off"
        if check.missing_cost:
            message = ("Some items have no cost, so the discount cannot be checked against the "
                       "margin floor: add their cost or remove the discount.")
        else:
            message = (f"This discount takes the bundle's margin to {check.worst_margin:.1%}, "
                       f"below the store's floor of {check.floor:.1%}.")
        raise MarginFloorBreached(message, extra={
            "fields": {field: [message]}, "floor": str(check.floor),
            "margin": None if check.worst_margin is None else str(round(check.worst_margin, 4)),
            "products": list(check.missing_cost) or [core_product_id, *check.worst_addons]})


def _bundle_items_write(store: Store, bundle: Bundle, product_ids: Sequence[int]) -> None:
    BundleItem.objects.bulk_create([
        BundleItem(store=store, bundle=bundle, product_id=pid,
                   role=BundleItem.Role.CORE if i == 0 else BundleItem.Role.ADDON, position=i)
        for i, pid in enumerate(product_ids)])


def _name_taken(model, store: Store, name: str, exclude_pk: int | None = None) -> bool:
    rows = model.objects.for_store(store).filter(name=name)
    if exclude_pk is not None:
        rows = rows.exclude(pk=exclude_pk)
    return rows.exists()


def bundle_create(*, store: Store, name: str, kind: str, core_product_id: int,
                  addon_product_ids: Sequence[int], percent_off: Decimal | None = None,
                  amount_off: Decimal | None = None, min_addons: int = 1,
                  status: str = OfferStatus.ACTIVE) -> Bundle:
    """A bundle set in our admin: one core product and its add-ons (all of them for a fixed
    set; any ``min_addons`` or more for an adjustable one), with one bundle discount. Refused
    when an item cannot be bought now or the discount breaks the store's margin floor."""
    addon_product_ids = list(addon_product_ids)
    _bundle_fields_check(store, name=name, kind=kind, core_product_id=core_product_id,
                         addon_product_ids=addon_product_ids, percent_off=percent_off,
                         amount_off=amount_off, min_addons=min_addons, status=status)
    _bundle_rules_check(store, kind=kind, core_product_id=core_product_id,
                        addon_product_ids=addon_product_ids, percent_off=percent_off,
                        amount_off=amount_off, min_addons=min_addons)
    if _name_taken(Bundle, store, name):
        raise field_error("name", "Another bundle has this name.")
    try:
        with transaction.atomic():
            bundle = Bundle.objects.create(store=store, name=name, kind=kind, percent_off=percent_off,
                                           amount_off=amount_off, min_addons=max(min_addons, 1),
                                           status=status)
            _bundle_items_write(store, bundle, [core_product_id, *addon_product_ids])
    except IntegrityError:  # the same name, saved concurrently
        raise field_error("name", "Another bundle has this name.") from None
    return bundle


BUNDLE_EDITABLE = frozenset({"name", "kind", "percent_off", "amount_off", "min_addons", "status",
                             "core_product_id", "addon_product_ids"})
# Changes that alter what the customer gets or pays: checked against stock and the floor again.
_BUNDLE_PRICING = frozenset({"kind", "percent_off", "amount_off", "min_addons", "core_product_id",
                             "addon_product_ids"})


def _status_changes(row, status: str, now: datetime) -> dict:
    """The bookkeeping of a status the merchant sets (pruning's flag is cleared by hand too)."""
    if status == row.status:
        return {}
    if status == OfferStatus.PAUSED:
        return {"status": status, "paused_at": now}
    return {"status": status, "flagged_at": None, "sends_at_flag": None, "paused_at": None}


def bundle_update(*, store: Store, bundle_id: int, now: datetime | None = None, **fields) -> Bundle:
    """Change a bundle (``BUNDLE_EDITABLE``; ``addon_product_ids`` replaces the add-ons). A
    change of items, discount or kind, or a return to active, is checked like a new bundle;
    pausing or renaming never is (an item going out of stock must not lock the merchant out).
    Setting one discount clears the other."""
    now = now or timezone.now()
    unknown = sorted(set(fields) - BUNDLE_EDITABLE)
    if unknown:
        raise field_error(unknown[0], "This field cannot be changed.")
    with transaction.atomic():
        bundle = Bundle.objects.for_store(store).select_for_update().filter(pk=bundle_id).first()
        if bundle is None:
            raise NotFound("No such bundle.", extra={"bundle_id": bundle_id})
        items = list(BundleItem.objects.for_store(store).filter(bundle=bundle)
                     .order_by("position", "pk"))
        core = next((i.product_id for i in items if i.role == BundleItem.Role.CORE), None)
        current = {"name": bundle.name, "kind": bundle.kind, "percent_off": bundle.percent_off,
                   "amount_off": bundle.amount_off, "min_addons": bundle.min_addons,
                   "status": bundle.status, "core_product_id": core,
                   "addon_product_ids": [i.product_id for i in items if i.role == BundleItem.Role.ADDON]}
        if fields.get("percent_off") is not None and "amount_off" not in fields:
            fields["amount_off"] = None
        if fields.get("amount_off") is not None and "percent_off" not in fields:
            fields["percent_off"] = None
        merged = {**current, **fields}
        merged["addon_product_ids"] = list(merged["addon_product_ids"])
        if merged["kind"] == Bundle.Kind.FIXED and "min_addons" not in fields:
            merged["min_addons"] = 1
        _bundle_fields_check(store, **merged)
        reactivated = merged["status"] == OfferStatus.ACTIVE and bundle.status != OfferStatus.ACTIVE
        if _BUNDLE_PRICING & set(fields) or reactivated:
            _bundle_rules_check(store, kind=merged["kind"], core_product_id=merged["core_product_id"],
                                addon_product_ids=merged["addon_product_ids"],
                                percent_off=merged["percent_off"], amount_off=merged["amount_off"],
                                min_addons=merged["min_addons"])
        if _name_taken(Bundle, store, merged["name"], exclude_pk=bundle.pk):
            raise field_error("name", "Another bundle has this name.")
        changes = {k: merged[k] for k in ("name", "kind", "percent_off", "amount_off", "min_addons")}
        changes.update(_status_changes(bundle, merged["status"], now))
        Bundle.objects.for_store(store).filter(pk=bundle.pk).update(**changes, updated_at=now)
        product_ids = [merged["core_product_id"], *merged["addon_product_ids"]]
        if product_ids != [current["core_product_id"], *current["addon_product_ids"]]:
            BundleItem.objects.for_store(store).filter(bundle=bundle).delete()
            _bundle_items_write(store, bundle, product_ids)
        bundle.refresh_from_db()
    return bundle


def bundle_delete(*, store: Store, bundle_id: int) -> None:
    """Delete a bundle and its items (emails already sent keep their own copy of it)."""
    deleted, _ = Bundle.objects.for_store(store).filter(pk=bundle_id).delete()
    if not deleted:
        raise NotFound("No such bundle.", extra={"bundle_id": bundle_id})


# --- incentives --------------------------------------------------------------------------------

INCENTIVE_EDITABLE = frozenset({"name", "kind", "percent_off", "amount_off", "addon_product_id",
                                "level", "segments", "starts_at", "ends_at", "code_valid_hours",
                                "code_prefix", "per_customer_cap", "per_store_daily_cap", "status"})
INCENTIVE_SEGMENTS = frozenset({rules.ANY_SEGMENT, rules.Segment.NEW, rules.Segment.REPEAT,
                                rules.Segment.VIP, rules.Segment.LAPSED})
CODE_PREFIX = re.compile(r"^[A-Za-z0-9]{1,12}$")


def _incentive_check(store: Store, fields: dict) -> dict:
    """A whole incentive (after a partial update is merged), checked field by field; returns it
    with the values its kind does not use cleared."""
    clean = dict(fields)
    if not (clean.get("name") or "").strip():
        raise field_error("name", "An incentive needs a name.")
    try:
        kind = IncentiveKind(clean.get("kind"))
    except ValueError:
        raise field_error("kind", f"Unknown incentive kind {clean.get('kind')!r}.") from None
    percent, amount = clean.get("percent_off"), clean.get("amount_off")
    if kind == IncentiveKind.PERCENT_OFF:
        if percent is None:
            raise field_error("percent_off", "A percent-off incentive needs its percentage.")
        _discount_check(percent, None)
        clean.update(amount_off=None, addon_product_id=None)
    elif kind in (IncentiveKind.AMOUNT_OFF, IncentiveKind.LOYALTY_CREDIT):
        if amount is None:
            raise field_error("amount_off", "This incentive needs its amount.")
        _discount_check(None, amount)
        clean.update(percent_off=None, addon_product_id=None)
    elif kind == IncentiveKind.FREE_ADDON:
        addon = clean.get("addon_product_id")
        if addon is None or not Product.objects.for_store(store).filter(pk=addon).exists():
            raise field_error("addon_product_id", "A free add-on needs one of the store's products.")
        clean.update(percent_off=None, amount_off=None)
    else:
        clean.update(percent_off=None, amount_off=None, addon_product_id=None)
    segments = clean.get("segments") or []
    if not isinstance(segments, list | tuple) or not set(segments) <= INCENTIVE_SEGMENTS:
        allowed = ", ".join(sorted(INCENTIVE_SEGMENTS))
        raise field_error("segments", f"Segments are any of: {allowed} (frequent buyers never get one).")
    clean["segments"] = list(dict.fromkeys(segments))
    if not 0 <= int(clean.get("level", 0)) <= 10:
        raise field_error("level", "The level is 0 (first email) to 10.")
    starts, ends = clean.get("starts_at"), clean.get("ends_at")
    if starts is not None and ends is not None and ends <= starts:
        raise field_error("ends_at", "The end is not after the start.")
    if not 1 <= int(clean.get("code_valid_hours", 72)) <= 24 * 90:
        raise field_error("code_valid_hours", "A code is valid for 1 hour to 90 days.")
    if not CODE_PREFIX.match(str(clean.get("code_prefix", "XS"))):
        raise field_error("code_prefix", "The code prefix is 1 to 12 letters or digits.")
    for cap in ("per_customer_cap", "per_store_daily_cap"):
        if clean.get(cap) is not None and int(clean[cap]) < 1:
            raise field_error(cap, "A cap is at least 1 (leave it empty for none).")
    if clean.get("status", OfferStatus.ACTIVE) not in OfferStatus.values:
        raise field_error("status", "An incentive is active or paused.")
    return clean


def incentive_create(*, store: Store, name: str, kind: str, now: datetime | None = None,
                     **fields) -> Incentive:
    """An incentive the rules engine may pick (``rules.choose_incentive``); its codes are
    checked against the margin floor product by product when they are issued."""
    now = now or timezone.now()
    unknown = sorted(set(fields) - INCENTIVE_EDITABLE)
    if unknown:
        raise field_error(unknown[0], "Unknown field.")
    clean = _incentive_check(store, {"name": name, "kind": kind, **fields})
    if _name_taken(Incentive, store, clean["name"]):
        raise field_error("name", "Another incentive has this name.")
    if clean.get("status") == OfferStatus.PAUSED:
        clean["paused_at"] = now
    try:
        with transaction.atomic():
            return Incentive.objects.create(store=store, created_at=now, updated_at=now, **clean)
    except IntegrityError:
        raise field_error("name", "Another incentive has this name.") from None


def incentive_update(*, store: Store, incentive_id: int, now: datetime | None = None,
                     **fields) -> Incentive:
    """Change an incentive (``INCENTIVE_EDITABLE``). Codes already issued keep their terms."""
    now = now or timezone.now()
    unknown = sorted(set(fields) - INCENTIVE_EDITABLE)
    if unknown:
        raise field_error(unknown[0], "This field cannot be changed.")
    with transaction.atomic():
        incentive = Incentive.objects.for_store(store).select_for_update().filter(pk=incentive_id).first()
        if incentive is None:
            raise NotFound("No such incentive.", extra={"incentive_id": incentive_id})
        current = {f: getattr(incentive, f) for f in INCENTIVE_EDITABLE - {"addon_product_id"}}
        current["addon_product_id"] = incentive.addon_product_id
        clean = _incentive_check(store, {**current, **fields})
        if _name_taken(Incentive, store, clean["name"], exclude_pk=incentive.pk):
            raise field_error("name", "Another incentive has this name.")
        status = clean.pop("status")
        clean.update(_status_changes(incentive, status, now))
        Incentive.objects.for_store(store).filter(pk=incentive.pk).update(**clean, updated_at=now)
        incentive.refresh_from_db()
    return incentive


def incentive_delete(*, store: Store, incentive_id: int) -> None:
    """Delete an incentive that never issued a code; one that did is kept (its codes point at
    it): pause it instead (409)."""
    with transaction.atomic():
        incentive = Incentive.objects.for_store(store).select_for_update().filter(pk=incentive_id).first()
        if incentive is None:
            raise NotFound("No such incentive.", extra={"incentive_id": incentive_id})
        issued = IssuedCode.objects.for_store(store).filter(incentive=incentive).count()
        if issued:
            raise Conflict(f"This incentive has issued {issued} code(s): pause it instead.",
                           extra={"incentive_id": incentive_id, "codes": issued})
        incentive.delete()


# --- codes -------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _CodeTerms:
    percent_off: Decimal | None
    amount_off: Decimal | None
    product_external_ids: tuple[str, ...]


def incentive_code_issue(*, store: Store, incentive_id: int, recipient_email: str, offer_key: str,
                         now: datetime | None = None, product_ids: Sequence[int] = (),
                         customer_id: int | None = None,
                         percent_off: Decimal | None = None) -> IssuedCode:
    """A real per-recipient code for ``incentive``, created on the store's platform.

    Idempotent per (incentive, recipient, offer_key): a second call returns the same row (and
    re-sends a code still pending after a retryable platform error, under the same code). The
    caps (per customer, per store-local day) are claimed with a conditional UPDATE in the
    transaction that inserts the pending row; a refused code gives them back. The margin guard
    runs first: after the incentive, every product the code covers keeps margin >= the store's
    floor (from its variant's cost). ``product_ids`` are the email's products (percent and
    amount codes are restricted to them); for a free add-on the first is the item it comes with.
    ``percent_off``: an A/B variant's incentive size, in place of a percent-off incentive's own
    (the margin guard checks it the same way). Free-shipping codes discount no item, so they
    need no products and no margin check.
    """
    now = now or timezone.now()
    recipient = recipient_email.strip().lower()
    if not recipient or not offer_key:
        raise ValidationFailed("A code needs a recipient and an offer key.")
    incentive = Incentive.objects.for_store(store).filter(pk=incentive_id).first()
    if incentive is None:
        raise NotFound("Unknown incentive for this store.", extra={"incentive": incentive_id})

    existing = IssuedCode.objects.for_store(store).filter(
        incentive=incentive, recipient=recipient, offer_key=offer_key).first()
    if existing is None:
        _check_available(incentive, now)
        terms = _terms(store, incentive, product_ids, percent_off=percent_off)
        existing = _code_claim(store=store, incentive=incentive, recipient=recipient,
                               offer_key=offer_key, customer_id=customer_id, terms=terms, now=now)
    if existing.status != IssuedCode.Status.PENDING:
        return existing
    return _code_send(store=store, code=existing, now=now)


def _check_available(incentive: Incentive, now: datetime) -> None:
    if not incentive.running or (incentive.starts_at and now < incentive.starts_at) or (
            incentive.ends_at and now >= incentive.ends_at):
        raise IncentiveUnavailable(extra={"incentive": incentive.pk, "status": incentive.status})


def _terms(store: Store, incentive: Incentive, product_ids: Sequence[int], *,
           percent_off: Decimal | None = None) -> _CodeTerms:
    kind = IncentiveKind(incentive.kind)
    floor = Decimal(str(store.margin_floor))
    if percent_off is not None and (kind != IncentiveKind.PERCENT_OFF
                                    or not Decimal(0) < Decimal(percent_off) <= Decimal(100)):
        raise IncentiveNotIssuable("Only a percent-off incentive takes another size (0 to 100).",
                                   extra={"kind": kind.value, "percent_off": str(percent_off)})
    if kind == IncentiveKind.FREE_SHIPPING:
        return _CodeTerms(None, None, ())
    items = selectors.priced_products(store=store, product_ids=product_ids)
    if kind == IncentiveKind.FREE_ADDON:
        if incentive.addon_product_id is None or not items:
            raise ValidationFailed("A free add-on needs its add-on and the item it comes with.")
        addon = selectors.priced_products(store=store, product_ids=[incentive.addon_product_id])
        if not addon:
            raise NotFound("The add-on product is gone.", extra={"product": incentive.addon_product_id})
        core = items[0]
        if not rules.free_addon_margin_ok(core.line, addon[0].line, floor):
            raise MarginFloorBreached(extra={"products": [core.product_id, addon[0].product_id],
                                             "floor": str(floor)})
        return _CodeTerms(Decimal("100"), None, (addon[0].external_id,))
    if not items:
        raise ValidationFailed("A code needs the products it is for (the margin guard).")
    discount = rules.Discount(percent_off=(Decimal(percent_off) if percent_off is not None
                                           else incentive.percent_off)
                              if kind == IncentiveKind.PERCENT_OFF else None,
                              amount_off=None if kind == IncentiveKind.PERCENT_OFF
                              else incentive.amount_off)
    breached = [i.product_id for i in items
                if not rules.margin_ok(i.line.unit_price, i.line.cost, discount, floor)]
    if breached:
        raise MarginFloorBreached(extra={"products": breached, "floor": str(floor)})
    # A loyalty credit is for the next order as a whole; the others only for these products.
    scope = () if kind == IncentiveKind.LOYALTY_CREDIT else tuple(i.external_id for i in items)
    return _CodeTerms(discount.percent_off, discount.amount_off, scope)


def _code_claim(*, store: Store, incentive: Incentive, recipient: str, offer_key: str,
                customer_id: int | None, terms: _CodeTerms, now: datetime) -> IssuedCode:
    ends_at = rules.code_ends_at(now=now, valid_for=timedelta(hours=incentive.code_valid_hours),
                                 window_ends_at=incentive.ends_at)
    for _ in range(CODE_ATTEMPTS):
        code = f"{incentive.code_prefix}-{secrets.token_hex(4).upper()}"
        try:
            with transaction.atomic():
                _usage_claim(store, incentive, IncentiveUsage.Scope.CUSTOMER, recipient,
                             incentive.per_customer_cap)
                _usage_claim(store, incentive, IncentiveUsage.Scope.DAY,
                             rules.store_day(now, store.timezone), incentive.per_store_daily_cap)
                return IssuedCode.objects.create(
                    store=store, incentive=incentive, customer_id=customer_id, recipient=recipient,
                    offer_key=offer_key, code=code, ends_at=ends_at,
                    percent_off=terms.percent_off, amount_off=terms.amount_off,
                    product_external_ids=list(terms.product_external_ids), updated_at=now)
        except IntegrityError:
            # The same recipient and offer won a race (return theirs), or the code was taken.
            found = IssuedCode.objects.for_store(store).filter(
                incentive=incentive, recipient=recipient, offer_key=offer_key).first()
            if found is not None:
                return found
    raise IntegrityError("no free code after several attempts")


def _usage_claim(store: Store, incentive: Incentive, scope: str, key: str, cap: int | None) -> None:
    if cap is None:
        return
    IncentiveUsage.objects.bulk_create(
        [IncentiveUsage(store=store, incentive=incentive, scope=scope, key=key)],
        ignore_conflicts=True)
    claimed = IncentiveUsage.objects.for_store(store).filter(
        incentive=incentive, scope=scope, key=key, count__lt=cap).update(count=F("count") + 1)
    if claimed != 1:
        raise IncentiveCapReached(extra={"incentive": incentive.pk, "scope": scope, "cap": cap})


def _usage_release(code: IssuedCode, store: Store) -> None:
    incentive = code.incentive
    keys = []
    if incentive.per_customer_cap is not None:
        keys.append((IncentiveUsage.Scope.CUSTOMER, code.recipient))
    if incentive.per_store_daily_cap is not None:
        keys.append((IncentiveUsage.Scope.DAY, rules.store_day(code.created_at, store.timezone)))
    for scope, key in keys:
        IncentiveUsage.objects.for_store(store).filter(
            incentive=incentive, scope=scope, key=key, count__gt=0).update(count=F("count") - 1)


def _code_send(*, store: Store, code: IssuedCode, now: datetime) -> IssuedCode:
    request = DiscountCodeRequest(
        code=code.code, ends_at=code.ends_at, percent_off=code.percent_off,
        amount_off=code.amount_off, customer_email=code.recipient,
        product_external_ids=tuple(code.product_external_ids), usage_limit=1,
        free_shipping=code.incentive.kind == IncentiveKind.FREE_SHIPPING)
    try:
        issued = get_platform(store).create_discount_code(request)
    except RetryablePlatformError:
        raise  # still pending: the next attempt re-sends the same code
    except TerminalPlatformError as exc:
        with transaction.atomic():
            failed = IssuedCode.objects.for_store(store).filter(
                pk=code.pk, status=IssuedCode.Status.PENDING).update(
                status=IssuedCode.Status.FAILED, error=exc.message[:500], updated_at=now)
            if failed:
                _usage_release(code, store)
        raise
    # The platform's spelling of the code is what the customer types (WooCommerce lower-cases).
    IssuedCode.objects.for_store(store).filter(pk=code.pk, status=IssuedCode.Status.PENDING).update(
        status=IssuedCode.Status.ISSUED, code=issued.code or code.code,
        external_id=issued.external_id, ends_at=issued.ends_at, issued_at=now, updated_at=now)
    code.refresh_from_db()
    return code


# --- measurement and pruning -------------------------------------------------------------------

def offer_send_record(*, store: Store, incentive_id: int | None = None,
                      bundle_id: int | None = None) -> None:
    """One more email carried this offer."""
    _bump(store, incentive_id, bundle_id, "sends")


def offer_conversion_record(*, store: Store, incentive_id: int | None = None,
                            bundle_id: int | None = None) -> None:
    """An order was attributed to an email carrying this offer."""
    _bump(store, incentive_id, bundle_id, "conversions")


def _bump(store: Store, incentive_id: int | None, bundle_id: int | None, field: str) -> None:
    if incentive_id is not None:
        Incentive.objects.for_store(store).filter(pk=incentive_id).update(**{field: F(field) + 1})
    if bundle_id is not None:
        Bundle.objects.for_store(store).filter(pk=bundle_id).update(**{field: F(field) + 1})


def offers_prune(*, store: Store, now: datetime | None = None,
                 policy: rules.PrunePolicy = rules.DEFAULT_PRUNE_POLICY) -> dict[str, list[str]]:
    """Flag running offers converting below the threshold (with the minimum sample), pause the
    flagged ones still below after the grace sends, clear flags that recovered. Each change is
    a conditional UPDATE on the status it read, so two runs never double-apply. Returns the
    changed offers as ``"incentive:<id>"`` / ``"bundle:<id>"``."""
    now = now or timezone.now()
    changes: dict[str, list[str]] = {"flagged": [], "paused": [], "cleared": []}
    for model, prefix in ((Incentive, "incentive"), (Bundle, "bundle")):
        rows = model.objects.for_store(store).filter(
            status__in=(OfferStatus.ACTIVE, OfferStatus.FLAGGED))
        for row in rows:
            action = rules.prune_action(
                sends=row.sends, conversions=row.conversions,
                flagged=row.status == OfferStatus.FLAGGED, sends_at_flag=row.sends_at_flag,
                policy=policy)
            same = model.objects.for_store(store).filter(pk=row.pk, status=row.status)
            if action == rules.PruneAction.FLAG:
                if same.update(status=OfferStatus.FLAGGED, flagged_at=now,
                               sends_at_flag=row.sends, updated_at=now):
                    changes["flagged"].append(f"{prefix}:{row.pk}")
            elif action == rules.PruneAction.PAUSE:
                if same.update(status=OfferStatus.PAUSED, paused_at=now, updated_at=now):
                    changes["paused"].append(f"{prefix}:{row.pk}")
            elif action == rules.PruneAction.CLEAR and same.update(
                    status=OfferStatus.ACTIVE, flagged_at=None, sends_at_flag=None, updated_at=now):
                changes["cleared"].append(f"{prefix}:{row.pk}")
    return changes
