"""Writes: bundles, per-recipient codes through the store's platform, offer counters, pruning."""

from __future__ import annotations

import logging
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
from xsell_plugin.core.exceptions import NotFound, ValidationFailed
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

def bundle_create(*, store: Store, name: str, kind: str, core_product_id: int,
                  addon_product_ids: Sequence[int], percent_off: Decimal | None = None,
                  amount_off: Decimal | None = None, min_addons: int = 1) -> Bundle:
    """A bundle set in our admin: one core product and its add-ons (all of them for a fixed
    set; any ``min_addons`` or more for an adjustable one), with one bundle discount."""
    if kind not in Bundle.Kind.values:
        raise ValidationFailed("Unknown bundle kind.", extra={"kind": kind})
    if percent_off is not None or amount_off is not None:
        try:
            rules.Discount(percent_off=percent_off, amount_off=amount_off)
        except ValueError as exc:
            raise ValidationFailed(str(exc)) from None
    product_ids = [core_product_id, *addon_product_ids]
    if not addon_product_ids or len(set(product_ids)) != len(product_ids):
        raise ValidationFailed("A bundle needs a core product and distinct add-ons.")
    found = set(Product.objects.for_store(store).filter(pk__in=product_ids)
                .values_list("pk", flat=True))
    if found != set(product_ids):
        raise NotFound("Unknown product for this store.",
                       extra={"products": sorted(set(product_ids) - found)})
    with transaction.atomic():
        bundle = Bundle.objects.create(store=store, name=name, kind=kind, percent_off=percent_off,
                                       amount_off=amount_off, min_addons=max(min_addons, 1))
        BundleItem.objects.bulk_create([
            BundleItem(store=store, bundle=bundle, product_id=pid,
                       role=BundleItem.Role.CORE if i == 0 else BundleItem.Role.ADDON, position=i)
            for i, pid in enumerate(product_ids)])
    return bundle


# --- codes -------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _CodeTerms:
    percent_off: Decimal | None
    amount_off: Decimal | None
    product_external_ids: tuple[str, ...]


def incentive_code_issue(*, store: Store, incentive_id: int, recipient_email: str, offer_key: str,
                         now: datetime | None = None, product_ids: Sequence[int] = (),
                         customer_id: int | None = None) -> IssuedCode:
    """A real per-recipient code for ``incentive``, created on the store's platform.

    Idempotent per (incentive, recipient, offer_key): a second call returns the same row (and
    re-sends a code still pending after a retryable platform error, under the same code). The
    caps (per customer, per store-local day) are claimed with a conditional UPDATE in the
    transaction that inserts the pending row; a refused code gives them back. The margin guard
    runs first: after the incentive, every product the code covers keeps margin >= the store's
    floor (from its variant's cost). ``product_ids`` are the email's products (percent and
    amount codes are restricted to them); for a free add-on the first is the item it comes with.
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
        terms = _terms(store, incentive, product_ids)
        existing = _code_claim(store=store, incentive=incentive, recipient=recipient,
                               offer_key=offer_key, customer_id=customer_id, terms=terms, now=now)
    if existing.status != IssuedCode.Status.PENDING:
        return existing
    return _code_send(store=store, code=existing, now=now)


def _check_available(incentive: Incentive, now: datetime) -> None:
    if not incentive.running or (incentive.starts_at and now < incentive.starts_at) or (
            incentive.ends_at and now >= incentive.ends_at):
        raise IncentiveUnavailable(extra={"incentive": incentive.pk, "status": incentive.status})


def _terms(store: Store, incentive: Incentive, product_ids: Sequence[int]) -> _CodeTerms:
    kind = IncentiveKind(incentive.kind)
    floor = Decimal(str(store.margin_floor))
    if kind == IncentiveKind.FREE_SHIPPING:
        # The Platform interface issues percent or amount codes only (integrations.base).
        raise IncentiveNotIssuable(extra={"kind": kind.value})
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
    discount = rules.Discount(percent_off=incentive.percent_off
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
        product_external_ids=tuple(code.product_external_ids), usage_limit=1)
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
