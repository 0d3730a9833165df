"""Writes for tracking: links of a sent message, clicks, opens, unsubscribes, preferences and
the ESP's delivery events (bounce, complaint, unsubscribe -> the store's suppression list)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from emails.models import OutboundEmail
from integrations.base import ConsentData, ConsentState
from xsell_plugin.core.exceptions import NotFound, TokenInvalid, ValidationFailed
from xsell_plugin.core.tasks import enqueue_on_commit
from xsell_plugin.customers.models import Customer, Preference, Suppression
from xsell_plugin.customers.services import customer_consent_set, normalise_email, suppression_add
from xsell_plugin.stores.models import Store
from xsell_plugin.tracking import links
from xsell_plugin.tracking.models import Click, MailerEvent, Open, TrackedLink, Unsubscribe

logger = logging.getLogger(__name__)

PAUSE_DAYS = 30


def _store(store_id: int) -> Store:
    store = Store.objects.filter(pk=store_id).first()
    if store is None:
        raise TokenInvalid()
    return store


def tracked_links_save(*, store: Store, outbound_id: int, records: Sequence[links.LinkRecord]) -> None:
    """Keep the links of one message before it leaves (a retry of the same message keeps the
    first rows: positions and URLs are the same)."""
    TrackedLink.objects.bulk_create(
        [TrackedLink(store=store, outbound_id=outbound_id, position=r.position, url=r.url, label=r.label)
         for r in records],
        ignore_conflicts=True,
    )


def click_record(*, token: str, now: datetime | None = None) -> str:
    """Record a click and return where it goes: only ever the URL stored at send time."""
    store_id, outbound_id, position = links.read_click(token)
    store = _store(store_id)
    link = (TrackedLink.objects.for_store(store).select_related("outbound")
            .filter(outbound_id=outbound_id, position=position).first())
    if link is None:
        raise TokenInvalid()
    Click.objects.create(store=store, link=link, outbound_id=outbound_id,
                         customer_id=link.outbound.customer_id, clicked_at=now or timezone.now())
    return link.url


def open_record(*, token: str, now: datetime | None = None) -> bool:
    store_id, outbound_id = links.read_open(token)
    store = _store(store_id)
    Open.objects.create(store=store, outbound_id=outbound_id, opened_at=now or timezone.now())
    return True


@dataclass(frozen=True, slots=True)
class Recipient:
    store: Store
    customer: Customer | None
    outbound_id: int | None
    sequence_id: int | None = None


def unsubscribe_target(token: str) -> Recipient:
    store_id, customer_id, outbound_id = links.read_unsubscribe(token)
    store = _store(store_id)
    customer = Customer.objects.for_store(store).filter(pk=customer_id).first()
    return Recipient(store=store, customer=customer, outbound_id=outbound_id)


def preferences_target(token: str) -> Recipient:
    store_id, customer_id, sequence_id = links.read_preferences(token)
    store = _store(store_id)
    customer = Customer.objects.for_store(store).filter(pk=customer_id).first()
    if customer is None:
        raise NotFound("This customer is no longer on file.")
    return Recipient(store=store, customer=customer, outbound_id=None, sequence_id=sequence_id)


def customer_unsubscribe(*, store: Store, customer: Customer, source: str,
                         now: datetime | None = None, outbound_id: int | None = None,
                         sequence_id: int | None = None) -> None:
    """Unsubscribe at once: consent ``unsubscribed`` and the address on the suppression list
    (every send re-checks both), then tell the platform after commit. The first time (from
    subscribed) an ``Unsubscribe`` row credits it to the email or sequence it came from."""
    now = now or timezone.now()
    with transaction.atomic():
        state = (Customer.objects.select_for_update().filter(pk=customer.pk)
                 .values_list("consent_state", flat=True).first())
        if state is not None and state != ConsentState.UNSUBSCRIBED:
            email_row = (OutboundEmail.objects.for_store(store).filter(pk=outbound_id)
                         .values_list("pk", "sequence_id").first() if outbound_id else None)
            Unsubscribe.objects.create(
                store=store, customer=customer, email=customer.email or "", source=source[:100],
                outbound_id=email_row[0] if email_row else None,
                sequence_id=sequence_id if sequence_id is not None else (
                    email_row[1] if email_row else None),
                unsubscribed_at=now)
        customer_consent_set(store=store, external_id=customer.external_id,
                             consent=ConsentData(ConsentState.UNSUBSCRIBED, source, now), at=now)
        if customer.email:
            suppression_add(store=store, email=customer.email,
                            reason=Suppression.Reason.UNSUBSCRIBED, source=source)
        enqueue_on_commit("xsell_plugin.tracking.tasks.consent_push", customer.pk, queue="sync")


def unsubscribe_by_token(*, token: str, source: str = "xsell:one-click",
                         now: datetime | None = None) -> Recipient:
    recipient = unsubscribe_target(token)
    if recipient.customer is not None:
        customer_unsubscribe(store=recipient.store, customer=recipient.customer, source=source, now=now,
                             outbound_id=recipient.outbound_id)
    return recipient


PREFERENCE_ACTIONS = ("pause", "fewer", "leave_sequence", "unsubscribe", "reset")


def preference_apply(*, token: str, action: str, now: datetime | None = None) -> Recipient:
    """One choice from the preference page."""
    if action not in PREFERENCE_ACTIONS:
        raise ValidationFailed("Unknown choice.", extra={"action": action})
    now = now or timezone.now()
    recipient = preferences_target(token)
    store, customer = recipient.store, recipient.customer
    if action == "unsubscribe":
        customer_unsubscribe(store=store, customer=customer, source="xsell:preference-page", now=now,
                             sequence_id=recipient.sequence_id)
        return recipient
    with transaction.atomic():
        pref, _ = Preference.objects.select_for_update().get_or_create(store=store, customer=customer)
        if action == "pause":
            pref.paused_until = now + timedelta(days=PAUSE_DAYS)
        elif action == "fewer":
            pref.frequency = Preference.Frequency.FEWER
        elif action == "leave_sequence":
            if recipient.sequence_id is None:
                raise ValidationFailed("This email is not part of a sequence.")
            if recipient.sequence_id not in pref.left_sequences:
                pref.left_sequences = [*pref.left_sequences, recipient.sequence_id]
        else:  # reset (never re-subscribes: consent comes back only through the store)
            pref.paused_until = None
            pref.frequency = Preference.Frequency.NORMAL
            pref.left_sequences = []
        pref.updated_at = now
        pref.save()
    return recipient


# ESP events ---------------------------------------------------------------------------------------

# anymail's normalised event types that put an address on the suppression list.
SUPPRESSING = {"bounced": Suppression.Reason.BOUNCED, "complained": Suppression.Reason.COMPLAINED,
               "unsubscribed": Suppression.Reason.UNSUBSCRIBED}
_SOFT_BOUNCES = frozenset({"SoftBounce", "Transient", "DnsError"})  # Postmark's bounce types


def _soft(event) -> bool:
    raw = event.esp_event if isinstance(event.esp_event, dict) else {}
    return raw.get("Type") in _SOFT_BOUNCES or raw.get("severity") == "temporary"


def _event_id(esp: str, event) -> str:
    if event.event_id:
        return str(event.event_id)[:255]
    basis = f"{esp}|{event.event_type}|{event.recipient}|{event.message_id}|{event.timestamp}"
    return "sha256:" + hashlib.sha256(basis.encode()).hexdigest()


def _outbound_for_message(store: Store, message_id: str) -> int | None:
    if not message_id:
        return None
    return (OutboundEmail.objects.for_store(store)
            .filter(Q(esp_message_id=message_id) | Q(message_id=message_id))
            .values_list("pk", flat=True).first())


def mailer_events_apply(*, store: Store, esp: str, events: Iterable) -> dict[str, int]:
    """Apply verified anymail tracking events once each (deduplicated on the ESP's event id).
    Hard bounces, complaints and unsubscribes suppress the address; complaints and unsubscribes
    also set the customer's consent to unsubscribed."""
    counts = {"received": 0, "new": 0, "suppressed": 0}
    for event in events:
        counts["received"] += 1
        email = normalise_email(event.recipient or "")
        reason = SUPPRESSING.get(str(event.event_type))
        suppress = bool(reason and email and not (reason == Suppression.Reason.BOUNCED and _soft(event)))
        with transaction.atomic():
            _, created = MailerEvent.objects.get_or_create(
                store=store, esp=esp, event_id=_event_id(esp, event),
                defaults={"event_type": str(event.event_type)[:30], "email": email[:254],
                          "message_id": (event.message_id or "")[:255],
                          "description": (event.description or event.mta_response or "")[:500],
                          "occurred_at": event.timestamp, "suppressed": suppress},
            )
            if not created:
                continue
            counts["new"] += 1
            if not suppress:
                continue
            counts["suppressed"] += int(suppression_add(store=store, email=email, reason=reason,
                                                        source=f"esp:{esp}"))
            if reason != Suppression.Reason.BOUNCED:
                outbound_id = _outbound_for_message(store, event.message_id or "")
                for customer in Customer.objects.for_store(store).filter(email=email):
                    customer_unsubscribe(store=store, customer=customer, source=f"esp:{esp}",
                                         outbound_id=outbound_id)
    return counts
