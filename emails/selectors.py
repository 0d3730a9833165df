"""Reads for emails."""

from __future__ import annotations

from django.db.models import Count

from emails.look import StoreLook, look_build
from emails.models import MailerAccount, OutboundEmail, StoreEmailSettings, TemplateCopy, Testimonial
from xsell_plugin.stores.models import Store


def store_look(*, store: Store) -> StoreLook:
    """The store's branding, copy and testimonials (shipped defaults where it has none)."""
    return look_build(
        store=store,
        settings=StoreEmailSettings.objects.for_store(store).first(),
        copies=TemplateCopy.objects.for_store(store),
        testimonials=Testimonial.objects.for_store(store).filter(active=True).order_by("position", "pk"),
    )


def mailer_account_get(*, store: Store) -> MailerAccount | None:
    return MailerAccount.objects.for_store(store).first()


def outbound_status_counts(*, store: Store | None = None) -> dict[str, int]:
    """How many outbound emails are in each status (``unknown`` included: report it)."""
    rows = OutboundEmail.objects.all() if store is None else OutboundEmail.objects.for_store(store)
    counts = {status: 0 for status in OutboundEmail.Status.values}
    for row in rows.values("status").annotate(n=Count("pk")):
        counts[row["status"]] = row["n"]
    return counts


def outbound_unknown_count(*, store: Store | None = None) -> int:
    rows = OutboundEmail.objects.all() if store is None else OutboundEmail.objects.for_store(store)
    return rows.filter(status=OutboundEmail.Status.UNKNOWN).count()
