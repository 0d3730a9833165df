"""Webhook ingestion, the same for every platform.

The platform's view verifies the signature on the raw bytes, resolves the store and calls
``webhook_event_record``: one INSERT that a redelivery cannot repeat (unique store + dedupe key),
and, only when the row is new, a task enqueued after commit. ``webhook_event_process`` claims the
row with a conditional UPDATE and hands the payload to the store's platform; the domain writes and
the "done" mark commit together, so an event is applied once even if its task runs twice.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from integrations.exceptions import RetryablePlatformError, TerminalPlatformError
from integrations.models import WebhookEvent
from integrations.registry import get_platform
from xsell_plugin.core.tasks import enqueue_on_commit

logger = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)
MAX_ATTEMPTS = 8


def retry_delay(attempts: int, retry_after: float | None = None) -> timedelta:
    """30 s, 1 min, 2 min ... capped at 1 h; never sooner than the platform asked."""
    delay = min(30 * 2 ** max(attempts - 1, 0), 3600)
    return timedelta(seconds=max(delay, retry_after or 0))


def webhook_event_record(*, store, platform: str, dedupe_key: str, topic: str, body: bytes,
                         triggered_at: datetime | None = None) -> tuple[WebhookEvent | None, bool]:
    """Store a verified delivery once. Returns (event, created); a duplicate gives (None, False)."""
    try:
        with transaction.atomic():
            event = WebhookEvent.objects.create(
                store=store, platform=platform, dedupe_key=dedupe_key[:255], topic=topic,
                body=body.decode("utf-8"), triggered_at=triggered_at,
            )
            enqueue_on_commit("integrations.tasks.process_webhook_event", event.pk, queue="webhooks")
    except IntegrityError:
        return None, False
    return event, True


def webhook_event_process(*, event_id: int, now: datetime | None = None) -> str | None:
    """Process one event if it is ours to process; returns its final status (None: not claimed)."""
    now = now or timezone.now()
    claimable = Q(status=WebhookEvent.Status.PENDING) & (
        Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lte=now)
    ) | Q(status=WebhookEvent.Status.PROCESSING, lease_expires_at__lte=now)
    claimed = WebhookEvent.objects.filter(claimable, pk=event_id).update(
        status=WebhookEvent.Status.PROCESSING, lease_expires_at=now + LEASE,
        attempts=F("attempts") + 1,
    )
    if not claimed:
        return None
    event = WebhookEvent.objects.select_related("store").get(pk=event_id)
    try:
        with transaction.atomic():
            handled = get_platform(event.store).handle_webhook(
                event.topic, json.loads(event.body), triggered_at=event.triggered_at)
            status = WebhookEvent.Status.DONE if handled is not False else WebhookEvent.Status.IGNORED
            WebhookEvent.objects.filter(pk=event_id).update(
                status=status, processed_at=timezone.now(), lease_expires_at=None, last_error="")
        return status
    except RetryablePlatformError as exc:
        return _retry_or_fail(event, str(exc), exc.retry_after, now)
    except (TerminalPlatformError, ValueError, KeyError, TypeError, AttributeError) as exc:
        # A payload the mapper cannot read fails the same way every time: no retries.
        logger.warning("webhook %s (%s) failed: %s: %s", event.pk, event.topic,
                       type(exc).__name__, exc)
        _finish(event, WebhookEvent.Status.FAILED, f"{type(exc).__name__}: {exc}")
        return WebhookEvent.Status.FAILED
    except Exception as exc:
        logger.exception("webhook %s (%s) raised", event.pk, event.topic)
        return _retry_or_fail(event, f"{type(exc).__name__}: {exc}", None, now)


def _retry_or_fail(event: WebhookEvent, error: str, retry_after: float | None, now) -> str:
    if event.attempts >= MAX_ATTEMPTS:
        _finish(event, WebhookEvent.Status.FAILED, error)
        return WebhookEvent.Status.FAILED
    WebhookEvent.objects.filter(pk=event.pk).update(
        status=WebhookEvent.Status.PENDING, last_error=error[:2000],
        lease_expires_at=now + retry_delay(event.attempts, retry_after),
    )
    return WebhookEvent.Status.PENDING


def _finish(event: WebhookEvent, status: str, error: str) -> None:
    WebhookEvent.objects.filter(pk=event.pk).update(
        status=status, last_error=error[:2000], processed_at=timezone.now(), lease_expires_at=None)


def webhook_events_due(*, now: datetime, limit: int = 1000) -> list[int]:
    """Events whose task may have been lost: pending and due, or processing past the lease."""
    stale_new = now - timedelta(minutes=1)
    return list(
        WebhookEvent.objects.filter(
            Q(status=WebhookEvent.Status.PENDING, lease_expires_at__lte=now)
            | Q(status=WebhookEvent.Status.PENDING, lease_expires_at__isnull=True,
                created_at__lte=stale_new)
            | Q(status=WebhookEvent.Status.PROCESSING, lease_expires_at__lte=now)
        ).order_by("pk").values_list("pk", flat=True)[:limit]
    )
