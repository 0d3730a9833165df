"""Writes for emails: outbound records and their idempotent sending, mailer accounts, copy.

Sending (DESIGN.md section 6). ``outbound_email_create`` writes the record before anything
leaves; ``email_send(outbound_id)`` then:

1. claims it with one conditional UPDATE (row count checked): ``scheduled`` and due, or
   ``sending`` with an expired lease and *no* phase marker (a worker died before contacting the
   mailer). A second delivery of the same task claims nothing and exits;
2. re-checks consent at send time (customer subscribed, address not suppressed, store active,
   not paused, sequence not left) -> ``skipped`` with the reason;
3. renders, saves the tracked links, builds the MIME message;
4. sets the phase marker ``smtp_started_at`` (conditional on still holding the claim), then
   hands the message to the mailer;
5. ``sent`` | ``failed`` (terminal: SMTP 5xx...) | back to ``scheduled`` with backoff (SMTP
   4xx, unreachable; bounded attempts) | ``unknown`` (the connection dropped after the data
   was sent).

A row left ``sending`` with an expired lease *and* the marker set may have been delivered: it
becomes ``unknown`` (``outbound_sweep`` or the next ``email_send``) and is never resent.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from emails.context import display_context
from emails.esp import ESPS
from emails.exceptions import (
    ContextInvalid,
    DeliveryError,
    EmailTooLarge,
    MailerNotConfigured,
    TemplateInvalid,
    UnknownKind,
)
from emails.kinds import KINDS, Kind
from emails.mime import build_message
from emails.models import MailerAccount, OutboundEmail, StoreEmailSettings, TemplateCopy
from emails.rendering import RenderedEmail, render
from emails.selectors import mailer_account_get, store_look
from emails.transport import Envelope, deliver
from xsell_plugin.core.exceptions import ValidationFailed
from xsell_plugin.core.tasks import enqueue_now, enqueue_on_commit
from xsell_plugin.customers.models import ConsentState, Customer, Preference, Suppression
from xsell_plugin.sequences.consent import soft_opt_in_allows
from xsell_plugin.stores.models import Store
from xsell_plugin.tracking import links as tracking_links
from xsell_plugin.tracking.services import tracked_links_save

logger = logging.getLogger(__name__)
Status = OutboundEmail.Status
SEND_TASK = "emails.tasks.send"


# Outbound records --------------------------------------------------------------------------------

def _json_snapshot(context: dict[str, Any]) -> dict[str, Any]:
    try:
        return json.loads(json.dumps(context, cls=DjangoJSONEncoder))
    except (TypeError, ValueError) as exc:
        raise ContextInvalid(f"The context must be JSON: {exc}") from None


def outbound_email_create(*, store: Store, customer: Customer, kind: str, context: dict[str, Any],
                          scheduled_for: datetime | None = None, sequence_id: int | None = None,
                          idempotency_key: str | None = None, enqueue: bool = True) -> OutboundEmail:
    """Record one email to send (before anything leaves). Idempotent on ``idempotency_key``
    (e.g. the scheduled step's id): the same key returns the existing record. Due records are
    enqueued after commit; later ones are picked up by ``outbound_sweep``."""
    if kind not in KINDS:
        raise UnknownKind(f"There is no email kind {kind!r}.", extra={"kind": kind})
    if customer.store_id != store.pk:
        raise ValidationFailed("The customer belongs to another store.")
    now = timezone.now()
    scheduled_for = scheduled_for or now
    key = (idempotency_key or f"auto:{uuid.uuid4().hex}")[:100]
    with transaction.atomic():
        outbound, created = OutboundEmail.objects.get_or_create(
            store=store, idempotency_key=key,
            defaults={"customer": customer, "email": customer.email, "kind": kind,
                      "context": _json_snapshot(context), "sequence_id": sequence_id,
                      "scheduled_for": scheduled_for,
                      "enqueued_at": now if scheduled_for <= now and enqueue else None},
        )
        if created and enqueue and scheduled_for <= now:
            enqueue_on_commit(SEND_TASK, outbound.pk, queue="send")
    return outbound


@dataclass(frozen=True, slots=True)
class SendResult:
    outbound_id: int
    status: str
    reason: str = ""
    claimed: bool = True


def _claimable(now: datetime) -> Q:
    return (Q(status=Status.SCHEDULED, scheduled_for__lte=now)
            | Q(status=Status.SENDING, lease_expires_at__lt=now, smtp_started_at__isnull=True))


def _finish(outbound_id: int, attempt: int, **changes: Any) -> bool:
    """Write an outcome while still holding the claim (``attempts`` is the fencing token)."""
    changes.setdefault("lease_expires_at", None)
    changes["updated_at"] = timezone.now()
    return OutboundEmail.objects.filter(pk=outbound_id, status=Status.SENDING,
                                        attempts=attempt).update(**changes) == 1


def _stale_to_unknown(qs, now: datetime) -> int:
    return qs.filter(status=Status.SENDING, lease_expires_at__lt=now,
                     smtp_started_at__isnull=False).update(
        status=Status.UNKNOWN, lease_expires_at=None, updated_at=now,
        reason="The worker stopped while talking to the mailer; the email may have been "
               "delivered, so it is not resent.")


def skip_reason(outbound: OutboundEmail, *, now: datetime) -> str:
    """Why this email must not go out now (empty: it may). Read fresh at send time."""
    store = outbound.store
    if store.status != Store.Status.ACTIVE:
        return f"store {store.status}"
    customer = outbound.customer
    if customer is None:
        return "customer deleted"
    if customer.consent_state != ConsentState.SUBSCRIBED and not soft_opt_in_allows(store, customer):
        return f"consent {customer.consent_state}"
    if not customer.email:
        return "no email address"
    suppression = Suppression.objects.for_store(store).filter(email=customer.email).first()
    if suppression is not None:
        return f"suppressed ({suppression.reason})"
    pref = Preference.objects.for_store(store).filter(customer=customer).first()
    if pref is not None:
        if pref.is_paused(now):
            return "paused by the customer"
        if outbound.sequence_id is not None and outbound.sequence_id in (pref.left_sequences or []):
            return "customer left this sequence"
    return ""


def _sender(store: Store, account: MailerAccount | None) -> tuple[str, str, str]:
    """(from address, from name, reply-to)."""
    public_host = settings.XSELL_PUBLIC_URL.split("://", 1)[1].split(":")[0]
    if account is not None and account.from_email:
        return account.from_email, account.from_name or store.name, account.reply_to
    return store.email_from or f"no-reply@{public_host}", store.name or store.domain, ""


def _list_id(store: Store, domain: str) -> str:
    name = "".join(ch for ch in (store.name or store.domain) if ch.isalnum() or ch in " .-&'")[:60]
    label = f"xsell-{store.pk}.{domain}"
    return f'"{name}" <{label}>' if name else f"<{label}>"


def _mailbox(domain: str) -> str:
    return settings.XSELL_EMAIL_UNSUBSCRIBE_MAILBOX or f"unsubscribe@{domain}"


def compliance_headers(*, store: Store, customer_id: int, outbound_id: int | None, kind: str,
                       unsubscribe_url: str, sender_domain: str) -> list[tuple[str, str]]:
    """List-Unsubscribe (https + mailto), List-Unsubscribe-Post (RFC 8058), List-Id and
    Feedback-ID, folded for the wire."""
    mailto = tracking_links.unsubscribe_mailto(
        mailbox=_mailbox(settings.XSELL_PUBLIC_URL.split("://", 1)[1].split(":")[0]),
        store_id=store.pk, customer_id=customer_id, outbound_id=outbound_id)
    return [
        ("List-Unsubscribe", f"<{unsubscribe_url}>,\r\n <{mailto}>"),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ("List-Id", _list_id(store, sender_domain)),
        ("Feedback-ID", f"{kind}:{store.pk}:xsell"),
    ]


@dataclass(frozen=True)
class Built:
    envelope: Envelope
    links: list


def email_build(outbound: OutboundEmail, *, account: MailerAccount | None, now: datetime) -> Built:
    """Render one outbound email for its customer and build the message (no I/O but reads)."""
    store, customer = outbound.store, outbound.customer
    look = store_look(store=store)
    tracker = tracking_links.LinkTracker(store_id=store.pk, outbound_id=outbound.pk,
                                         campaign=outbound.kind)
    unsubscribe = tracking_links.unsubscribe_url(store_id=store.pk, customer_id=customer.pk,
                                                 outbound_id=outbound.pk)
    display = display_context(
        outbound.kind, outbound.context, look=look, first_name=customer.first_name,
        unsubscribe_url=unsubscribe,
        preferences_url=tracking_links.preferences_url(store_id=store.pk, customer_id=customer.pk,
                                                       sequence_id=outbound.sequence_id),
        open_pixel_url=(tracking_links.open_pixel_url(store_id=store.pk, outbound_id=outbound.pk)
                        if settings.XSELL_EMAIL_OPEN_PIXEL else ""),
        links=tracker,
    )
    rendered = render(outbound.kind, {"store": store, "look": look, **display})
    from_email, from_name, reply_to = _sender(store, account)
    domain = from_email.rsplit("@", 1)[-1].lower()
    message_id = f"<xsell.{store.pk}.{outbound.pk}@{domain}>"
    headers = compliance_headers(store=store, customer_id=customer.pk, outbound_id=outbound.pk,
                                 kind=outbound.kind, unsubscribe_url=unsubscribe, sender_domain=domain)
    raw = build_message(from_email=from_email, from_name=from_name, to=customer.email,
                        subject=rendered.subject, text=rendered.text, html=rendered.html,
                        message_id=message_id, date=now, reply_to=reply_to, headers=headers)
    envelope = Envelope(from_email=from_email, from_name=from_name, to=customer.email,
                        subject=rendered.subject, text=rendered.text, html=rendered.html, raw=raw,
                        message_id=message_id, headers=headers, reply_to=reply_to,
                        idempotency_key=f"xsell-{store.pk}-{outbound.idempotency_key}"[:250])
    return Built(envelope=envelope, links=tracker.records)


def _backoff(attempt: int) -> timedelta:
    base = float(settings.XSELL_EMAIL_RETRY_BACKOFF)
    return timedelta(seconds=min(base * (2 ** max(attempt - 1, 0)),
                                 float(settings.XSELL_EMAIL_RETRY_MAX_DELAY)))


def email_send(outbound_id: int, *, now: datetime | None = None) -> SendResult:
    """Send one outbound email at most once (see the module docstring). Safe to call any number
    of times, from any number of workers."""
    now = now or timezone.now()
    lease = now + timedelta(seconds=float(settings.XSELL_EMAIL_LEASE_SECONDS))
    max_attempts = int(settings.XSELL_EMAIL_MAX_ATTEMPTS)
    claimed = OutboundEmail.objects.filter(_claimable(now), pk=outbound_id, attempts__lt=max_attempts).update(
        status=Status.SENDING, lease_expires_at=lease, smtp_started_at=None,
        attempts=F("attempts") + 1, updated_at=now)
    if claimed != 1:
        _stale_to_unknown(OutboundEmail.objects.filter(pk=outbound_id), now)
        row = OutboundEmail.objects.filter(pk=outbound_id).values("status", "reason").first()
        status = row["status"] if row else "missing"
        return SendResult(outbound_id, status, row["reason"] if row else "", claimed=False)

    outbound = OutboundEmail.objects.select_related("store", "customer").get(pk=outbound_id)
    attempt = outbound.attempts
    reason = skip_reason(outbound, now=now)
    if reason:
        _finish(outbound_id, attempt, status=Status.SKIPPED, reason=reason)
        return SendResult(outbound_id, Status.SKIPPED, reason)

    account = mailer_account_get(store=outbound.store)
    try:
        built = email_build(outbound, account=account, now=now)
    except (ContextInvalid, TemplateInvalid, EmailTooLarge, UnknownKind) as exc:
        _finish(outbound_id, attempt, status=Status.FAILED, reason=f"{exc.code}: {exc.message}"[:500])
        return SendResult(outbound_id, Status.FAILED, exc.message)
    tracked_links_save(store=outbound.store, outbound_id=outbound_id, records=built.links)

    class LeaseLost(Exception):
        pass

    def mark_started() -> None:
        started = OutboundEmail.objects.filter(pk=outbound_id, status=Status.SENDING,
                                               attempts=attempt).update(
            smtp_started_at=timezone.now(), email=outbound.customer.email,
            message_id=built.envelope.message_id, updated_at=timezone.now())
        if started != 1:
            raise LeaseLost()

    try:
        delivered = deliver(store=outbound.store, account=account, envelope=built.envelope,
                            outbound_id=outbound_id, mark_started=mark_started)
    except LeaseLost:
        logger.warning("outbound %s: claim lost before sending; left to its new owner", outbound_id)
        return SendResult(outbound_id, Status.SENDING, "claim lost", claimed=False)
    except MailerNotConfigured as exc:
        _finish(outbound_id, attempt, status=Status.FAILED, reason=f"{exc.code}: {exc.message}"[:500])
        return SendResult(outbound_id, Status.FAILED, exc.message)
    except DeliveryError as exc:
        if exc.ambiguous:
            _finish(outbound_id, attempt, status=Status.UNKNOWN, reason=exc.message[:500])
            logger.warning("outbound %s: outcome unknown (%s); not resent", outbound_id, exc.message)
            return SendResult(outbound_id, Status.UNKNOWN, exc.message)
        if exc.retryable and attempt < max_attempts:
            retry_at = timezone.now() + _backoff(attempt)
            _finish(outbound_id, attempt, status=Status.SCHEDULED, scheduled_for=retry_at,
                    smtp_started_at=None, enqueued_at=None,
                    reason=f"attempt {attempt}: {exc.message}"[:500])
            return SendResult(outbound_id, Status.SCHEDULED, exc.message)
        prefix = f"gave up after {attempt} attempts: " if exc.retryable else ""
        _finish(outbound_id, attempt, status=Status.FAILED, reason=(prefix + exc.message)[:500])
        return SendResult(outbound_id, Status.FAILED, exc.message)
    _finish(outbound_id, attempt, status=Status.SENT, sent_at=timezone.now(),
            transport=delivered.transport, esp_message_id=delivered.esp_message_id, reason="")
    return SendResult(outbound_id, Status.SENT)


def outbound_sweep(*, now: datetime | None = None, limit: int = 1000) -> dict[str, int]:
    """Every minute (and the hook the sequences dispatcher calls): ``sending`` rows whose lease
    expired after the mailer was contacted become ``unknown``; rows whose worker died before
    that, and due ``scheduled`` rows (retries, later sends) not enqueued recently, are enqueued
    again; rows out of attempts fail. Returns counts, ``unknown_total`` included (report it)."""
    now = now or timezone.now()
    max_attempts = int(settings.XSELL_EMAIL_MAX_ATTEMPTS)
    unknown = _stale_to_unknown(OutboundEmail.objects.all(), now)
    exhausted = OutboundEmail.objects.filter(
        status=Status.SENDING, lease_expires_at__lt=now, smtp_started_at__isnull=True,
        attempts__gte=max_attempts,
    ).update(status=Status.FAILED, lease_expires_at=None, updated_at=now,
             reason=f"the worker stopped {max_attempts} times before sending")
    requeue_before = now - timedelta(seconds=float(settings.XSELL_EMAIL_REQUEUE_AFTER))
    due = (Q(status=Status.SCHEDULED, scheduled_for__lte=now)
           & (Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=requeue_before)))
    lost = Q(status=Status.SENDING, lease_expires_at__lt=now, smtp_started_at__isnull=True,
             attempts__lt=max_attempts) & (Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=requeue_before))
    ids = list(OutboundEmail.objects.filter(due | lost).order_by("scheduled_for")
               .values_list("pk", flat=True)[:limit])
    enqueued = 0
    for pk in ids:
        # Claim the enqueue itself, so two sweepers never enqueue the same row twice.
        if OutboundEmail.objects.filter(due | lost, pk=pk).update(enqueued_at=now) == 1:
            enqueue_now(SEND_TASK, pk, queue="send")
            enqueued += 1
    return {"unknown": unknown, "failed": exhausted, "enqueued": enqueued,
            "unknown_total": OutboundEmail.objects.filter(status=Status.UNKNOWN).count()}


# Mailer accounts ----------------------------------------------------------------------------------

def mailer_account_set(*, store: Store, transport: str, from_email: str, from_name: str = "",
                       reply_to: str = "", smtp_host: str = "", smtp_port: int = 587,
                       smtp_security: str = MailerAccount.Security.STARTTLS, smtp_username: str = "",
                       smtp_password: str | None = None, esp: str = "",
                       esp_credentials: dict[str, Any] | None = None,
                       webhook_secret: str | None = None) -> MailerAccount:
    """Connect (or change) the store's mailer. Secrets left ``None`` keep their stored value."""
    if transport not in MailerAccount.Transport.values:
        raise ValidationFailed("Unknown transport.", extra={"transport": transport})
    if transport == MailerAccount.Transport.SMTP:
        if not smtp_host:
            raise ValidationFailed("An SMTP mailer needs a host.", extra={"field": "smtp_host"})
        if smtp_security not in MailerAccount.Security.values:
            raise ValidationFailed("Unknown TLS mode.", extra={"field": "smtp_security"})
    if transport == MailerAccount.Transport.ESP:
        spec = ESPS.get(esp)
        if spec is None:
            raise ValidationFailed("Unknown ESP.", extra={"esp": esp, "known": sorted(ESPS)})
        if esp_credentials is not None:
            missing = [k for k in spec.credentials if not esp_credentials.get(k)]
            if missing:
                raise ValidationFailed(f"{spec.label} needs {', '.join(missing)}.",
                                       extra={"missing": missing})
    fields: dict[str, Any] = {
        "transport": transport, "from_email": from_email, "from_name": from_name,
        "reply_to": reply_to, "smtp_host": smtp_host, "smtp_port": smtp_port,
        "smtp_security": smtp_security, "smtp_username": smtp_username, "esp": esp,
        "updated_at": timezone.now(),
    }
    if smtp_password is not None:
        fields["smtp_password"] = smtp_password
    if esp_credentials is not None:
        fields["esp_credentials"] = json.dumps(esp_credentials)
    if webhook_secret is not None:
        fields["webhook_secret"] = webhook_secret
    probe = MailerAccount(store=store, **fields)
    try:
        probe.full_clean(exclude=["store", "smtp_password", "esp_credentials", "webhook_secret"],
                         validate_unique=False, validate_constraints=False)
    except Exception as exc:
        raise ValidationFailed("The mailer settings are not valid.",
                               extra={"fields": getattr(exc, "message_dict", {})}) from None
    if transport == MailerAccount.Transport.ESP and esp_credentials is None and not (
            MailerAccount.objects.for_store(store).filter(esp=esp).exclude(esp_credentials="").exists()):
        raise ValidationFailed(f"{ESPS[esp].label} needs its credentials.")
    account, _ = MailerAccount.objects.update_or_create(store=store, defaults=fields)
    return account


@dataclass(frozen=True, slots=True)
class TestSendResult:
    ok: bool
    transport: str
    message_id: str
    error: str = ""


SAMPLE_TIPS = [{"title": "This is a test", "body": "Your store's mailer works: this email came "
                                                  "through it."}]


def rendered_test_send(*, store: Store, to: str, rendered: RenderedEmail,
                       account: MailerAccount | None = None,
                       now: datetime | None = None) -> TestSendResult:
    """Send a rendered email to ``to`` (the merchant) through the store's mailer, now, marked
    ``[Test]``. Nothing is recorded: no OutboundEmail (so no cap counts it), no tracking."""
    now = now or timezone.now()
    account = account if account is not None else mailer_account_get(store=store)
    from_email, from_name, reply_to = _sender(store, account)
    domain = from_email.rsplit("@", 1)[-1].lower()
    message_id = f"<xsell.{store.pk}.test.{uuid.uuid4().hex[:16]}@{domain}>"
    subject = f"[Test] {rendered.subject}"
    raw = build_message(from_email=from_email, from_name=from_name, to=to, subject=subject,
                        text=rendered.text, html=rendered.html, message_id=message_id, date=now,
                        reply_to=reply_to)
    envelope = Envelope(from_email=from_email, from_name=from_name, to=to, subject=subject,
                        text=rendered.text, html=rendered.html, raw=raw, message_id=message_id,
                        reply_to=reply_to)
    try:
        delivered = deliver(store=store, account=account, envelope=envelope, outbound_id=None,
                            mark_started=lambda: None, to_merchant=True)
    except (DeliveryError, MailerNotConfigured) as exc:
        return TestSendResult(ok=False, transport=getattr(account, "transport", "outbox"),
                              message_id=message_id, error=exc.message[:500])
    return TestSendResult(ok=True, transport=delivered.transport, message_id=message_id)


def mailer_test_send(*, store: Store, to: str) -> TestSendResult:
    """Send a sample email to ``to`` (the merchant) through the store's mailer, now, and keep the
    outcome on the account. No consent check: it is not marketing to a customer."""
    account = mailer_account_get(store=store)
    now = timezone.now()
    look = store_look(store=store)
    display = display_context(Kind.VALUE, {"tips": SAMPLE_TIPS, "first_name": "there"}, look=look,
                              unsubscribe_url=f"{settings.XSELL_PUBLIC_URL}/u/test",
                              preferences_url=f"{settings.XSELL_PUBLIC_URL}/p/test")
    rendered = render(Kind.VALUE, {"store": store, "look": look, **display})
    result = rendered_test_send(store=store, to=to, rendered=rendered, account=account, now=now)
    if account is not None:
        MailerAccount.objects.filter(pk=account.pk).update(
            last_test_at=now, last_test_ok=result.ok, last_test_error=result.error)
    return result


# Branding and copy -----------------------------------------------------------------------------

def store_email_settings_set(*, store: Store, **fields: Any) -> StoreEmailSettings:
    allowed = {f.name for f in StoreEmailSettings._meta.concrete_fields} - {
        "id", "store", "created_at", "updated_at"}
    unknown = set(fields) - allowed
    if unknown:
        raise ValidationFailed("Unknown settings.", extra={"fields": sorted(unknown)})
    row = StoreEmailSettings.objects.for_store(store).first() or StoreEmailSettings(store=store)
    for name, value in fields.items():
        setattr(row, name, value)
    row.updated_at = timezone.now()
    try:
        row.full_clean(exclude=["store"], validate_unique=False, validate_constraints=False)
    except Exception as exc:
        raise ValidationFailed("The email settings are not valid.",
                               extra={"fields": getattr(exc, "message_dict", {})}) from None
    row.save()
    return row


def template_copy_set(*, store: Store, kind: str, **fields: str) -> TemplateCopy:
    """The merchant's words for one kind (blank fields use the shipped default)."""
    if kind not in KINDS:
        raise UnknownKind(f"There is no email kind {kind!r}.", extra={"kind": kind})
    allowed = {"subject", "preheader", "heading", "body", "cta_label"}
    unknown = set(fields) - allowed
    if unknown:
        raise ValidationFailed("Unknown copy fields.", extra={"fields": sorted(unknown)})
    row, _ = TemplateCopy.objects.update_or_create(
        store=store, kind=kind, defaults={**fields, "updated_at": timezone.now()})
    return row
