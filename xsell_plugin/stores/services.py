"""The tenant's lifecycle: install (or reinstall), credentials, uninstall, redact."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from xsell_plugin.core.exceptions import ValidationFailed
from xsell_plugin.sequences.models import Sequence
from xsell_plugin.sequences.services import default_sequences_install
from xsell_plugin.stores.models import Store, StoreCredentials


@dataclass(frozen=True, slots=True)
class Credentials:
    access_token: str = ""
    refresh_token: str = ""
    access_token_expires_at: datetime | None = None
    refresh_token_expires_at: datetime | None = None
    scopes: str = ""
    consumer_key: str = ""
    consumer_secret: str = ""
    webhook_secret: str = ""


_CREDENTIAL_FIELDS = frozenset(Credentials.__slots__)


def store_install(*, platform: str, domain: str, credentials: Credentials, name: str = "",
                  currency: str = "USD", timezone_name: str = "UTC") -> tuple[Store, bool]:
    """Create the store, or bring back an uninstalled one, with fresh credentials.

    Returns (store, created). The platform's auth flow then connects it (webhooks + backfill)
    after commit, through ``integrations.connection.store_connect``.
    """
    domain = domain.strip().lower()
    now = timezone.now()
    details = {"name": name or domain, "currency": currency, "timezone": timezone_name}
    try:  # before any write: PostgreSQL would refuse some of these with a bare DataError
        Store(platform=platform, domain=domain, **details).full_clean(
            validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        raise ValidationFailed("The store's details are not valid.",
                               extra={"fields": exc.message_dict}) from None
    with transaction.atomic():
        store, created = Store.objects.select_for_update().get_or_create(
            platform=platform, domain=domain,
            defaults={**details, "status": Store.Status.ACTIVE, "installed_at": now},
        )
        if not created:
            if store.status == Store.Status.UNINSTALLED:
                store.installed_at = now
            store.status = Store.Status.ACTIVE
            store.uninstalled_at = None
            store.name = name or store.name
            store.currency, store.timezone = currency, timezone_name
            store.updated_at = now
            store.save()
        StoreCredentials.objects.update_or_create(
            store=store, defaults={**asdict(credentials), "updated_at": now})
        if created:
            # The default sequences, paused: nothing is emailed until the merchant turns one on
            # in the admin (a reinstall keeps the merchant's own).
            default_sequences_install(store=store, status=Sequence.Status.PAUSED)
    return store, created


def store_details_set(*, store: Store, **fields) -> None:
    """The merchant's own details: ``postal_address`` (shown in every email's footer) and
    ``email_from`` (the sender when no mailer is connected)."""
    unknown = set(fields) - {"postal_address", "email_from"}
    if unknown:
        raise ValidationFailed("Unknown store details.", extra={"fields": sorted(unknown)})
    if fields:
        Store.objects.filter(pk=store.pk).update(**fields, updated_at=timezone.now())


def store_margin_floor_set(*, store: Store, margin_floor) -> None:
    """The share of the price every offer must keep as margin (0 to 0.999)."""
    Store.objects.filter(pk=store.pk).update(margin_floor=margin_floor, updated_at=timezone.now())


def store_credentials_update(*, store: Store, **changes) -> None:
    """Replace some credentials (e.g. a refreshed access token), leaving the others."""
    unknown = set(changes) - _CREDENTIAL_FIELDS
    if unknown:
        raise ValueError(f"unknown credential fields {sorted(unknown)}")
    StoreCredentials.objects.filter(store=store).update(**changes, updated_at=timezone.now())


def store_uninstall(*, store: Store, at: datetime | None = None) -> bool:
    """The merchant removed the app: stop at once and keep no access we were given.

    Marks the store uninstalled (every send re-checks this before it goes out) and wipes its
    credentials. Catalogue, customers and orders stay until the platform's redaction request
    (Shopify sends shop/redact 48 hours after uninstall) or a reinstall. False when it was
    already uninstalled.
    """
    at = at or timezone.now()
    with transaction.atomic():
        changed = (Store.objects.filter(pk=store.pk).exclude(status=Store.Status.UNINSTALLED)
                   .update(status=Store.Status.UNINSTALLED, uninstalled_at=at,
                           updated_at=timezone.now()))
        StoreCredentials.objects.filter(store=store).update(
            **{name: Credentials.__dataclass_fields__[name].default for name in _CREDENTIAL_FIELDS},
            updated_at=timezone.now())
    store.refresh_from_db()
    return bool(changed)


def store_redact(*, store: Store) -> None:
    """Delete everything we hold for this store (Shopify's shop/redact, or on request)."""
    with transaction.atomic():
        Store.objects.filter(pk=store.pk).delete()
