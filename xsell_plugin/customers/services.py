"""Writes to customers: upserts from the platform, consent changes, suppression."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.db import models, transaction
from django.utils import timezone

from integrations.base import ConsentData, CustomerData
from xsell_plugin.activity.models import ActivityEvent, Checkout
from xsell_plugin.core.upsert import UpsertResult, upsert_rows
from xsell_plugin.customers.models import Customer, DataExport, Suppression
from xsell_plugin.orders.models import Order
from xsell_plugin.orders.services import orders_link_customers
from xsell_plugin.stores.models import Store

_CUSTOMER_FIELDS = (
    "email", "first_name", "last_name", "timezone", "tags", "consent_state", "consent_source",
    "consent_updated_at", "source_created_at", "source_updated_at", "updated_at",
)


def normalise_email(email: str) -> str:
    return email.strip().lower()


def customers_upsert(*, store: Store, customers: Sequence[CustomerData]) -> UpsertResult:
    """Insert or update customers (consent included); older data than stored is skipped."""
    now = timezone.now()
    with transaction.atomic():
        applied = upsert_rows(
            Customer,
            (
                {
                    "store_id": store.pk, "external_id": c.external_id,
                    "email": normalise_email(c.email), "first_name": c.first_name[:255],
                    "last_name": c.last_name[:255], "timezone": c.timezone, "tags": list(c.tags),
                    "consent_state": str(c.consent.state), "consent_source": c.consent.source,
                    "consent_updated_at": c.consent.updated_at or c.updated_at,
                    "source_created_at": c.created_at, "source_updated_at": c.updated_at,
                    "updated_at": now,
                }
                for c in customers
            ),
            unique=("store_id", "external_id"), update=_CUSTOMER_FIELDS,
            version="source_updated_at",
        )
        orders_link_customers(store=store, customer_external_ids=[
            c.external_id for c in customers if (store.pk, c.external_id) in applied])
    return UpsertResult(received=len(customers), applied=len(applied))


def customer_upsert(*, store: Store, customer: CustomerData) -> bool:
    return customers_upsert(store=store, customers=[customer]).applied == 1


def customer_consent_set(*, store: Store, external_id: str, consent: ConsentData,
                         at: datetime | None = None) -> bool:
    """A consent change on its own (e.g. a consent webhook); older news than stored is ignored."""
    at = consent.updated_at or at or timezone.now()
    updated = (
        Customer.objects.for_store(store).filter(external_id=external_id)
        .exclude(consent_updated_at__gt=at)
        .update(consent_state=str(consent.state), consent_source=consent.source,
                consent_updated_at=at, updated_at=timezone.now())
    )
    return updated == 1


def suppression_add(*, store: Store, email: str, reason: str, source: str = "") -> bool:
    """Never email this address for this store again. True when newly added."""
    _, created = Suppression.objects.get_or_create(
        store=store, email=normalise_email(email), defaults={"reason": reason, "source": source}
    )
    return created


def _matching(store: Store, external_id: str, email: str):
    match = models.Q(pk__in=[])
    if external_id:
        match |= models.Q(external_id=external_id)
    if email:
        match |= models.Q(email=normalise_email(email))
    return Customer.objects.for_store(store).filter(match)


def customer_data_export(*, store: Store, external_id: str = "", email: str = "") -> dict:
    """Everything we hold about one customer (a data-subject access request)."""
    email = normalise_email(email)
    customers = list(_matching(store, external_id, email))
    emails = {c.email for c in customers if c.email} | ({email} if email else set())
    orders = Order.objects.for_store(store).filter(
        models.Q(customer__in=customers) | models.Q(email__in=emails))
    checkouts = Checkout.objects.for_store(store).filter(
        models.Q(customer__in=customers) | models.Q(email__in=emails))
    return {
        "store": store.domain,
        "customers": [
            {"external_id": c.external_id, "email": c.email, "first_name": c.first_name,
             "last_name": c.last_name, "consent_state": c.consent_state,
             "consent_source": c.consent_source,
             "consent_updated_at": c.consent_updated_at.isoformat() if c.consent_updated_at else None,
             "preference": _preference(c)}
            for c in customers
        ],
        "orders": [
            {"external_id": o.external_id, "name": o.name, "placed_at": o.placed_at.isoformat(),
             "total": str(o.total), "currency": o.currency,
             "lines": [{"title": ln.title, "quantity": ln.quantity, "unit_price": str(ln.unit_price)}
                       for ln in o.lines.all()]}
            for o in orders.prefetch_related("lines")
        ],
        "checkouts": [{"external_id": k.external_id, "lines": k.lines,
                       "updated_at": k.source_updated_at.isoformat() if k.source_updated_at else None}
                      for k in checkouts],
        "activity": [{"kind": a.kind, "product": a.product.external_id,
                      "occurred_at": a.occurred_at.isoformat()}
                     for a in ActivityEvent.objects.for_store(store).filter(customer__in=customers)
                     .select_related("product")],
        "suppressed": list(Suppression.objects.for_store(store).filter(email__in=emails)
                           .values_list("reason", flat=True)),
    }


def customer_data_export_record(*, store: Store, request_id: str, external_id: str = "",
                                email: str = "") -> tuple[DataExport, bool]:
    """Keep a data-subject access export for the merchant; a repeated request id keeps the first.
    Returns (export, created)."""
    data = customer_data_export(store=store, external_id=external_id, email=email)
    return DataExport.objects.get_or_create(
        store=store, request_id=request_id[:100],
        defaults={"customer_external_id": external_id, "email": normalise_email(email),
                  "data": data})


def _preference(customer: Customer) -> dict | None:
    pref = getattr(customer, "preference", None)
    if pref is None:
        return None
    return {"paused_until": pref.paused_until.isoformat() if pref.paused_until else None,
            "frequency": pref.frequency}


def customer_redact(*, store: Store, external_id: str = "", email: str = "") -> int:
    """Erase one customer: their row (with preferences and activity), open carts and suppression
    entries go; orders stay for the merchant's revenue figures but lose every personal field.
    Returns how many customer rows were deleted."""
    email = normalise_email(email)
    with transaction.atomic():
        customers = list(_matching(store, external_id, email))
        emails = {c.email for c in customers if c.email} | ({email} if email else set())
        ids = [c.pk for c in customers]
        external_ids = {c.external_id for c in customers} | ({external_id} if external_id else set())
        Order.objects.for_store(store).filter(
            models.Q(customer_id__in=ids) | models.Q(email__in=emails)
            | models.Q(customer_external_id__in=external_ids)
        ).update(customer=None, customer_external_id="", email="", updated_at=timezone.now())
        Checkout.objects.for_store(store).filter(
            models.Q(customer_id__in=ids) | models.Q(email__in=emails)
            | models.Q(customer_external_id__in=external_ids)).delete()
        Suppression.objects.for_store(store).filter(email__in=emails).delete()
        DataExport.objects.for_store(store).filter(
            models.Q(customer_external_id__in=external_ids - {""}) | models.Q(email__in=emails)
        ).delete()
        deleted = Customer.objects.for_store(store).filter(pk__in=ids).delete()[1].get(
            "customers.Customer", 0)
    return deleted
