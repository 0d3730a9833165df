"""Writes to customers: upserts from the platform, consent changes, suppression."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from integrations.base import ConsentData, CustomerData
from xsell_plugin.core.upsert import UpsertResult, upsert_rows
from xsell_plugin.customers.models import Customer, Suppression
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
