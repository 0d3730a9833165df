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
from contextlib import nullcontext
from datetime import datetime, timedelta

from django.db import IntegrityError, connections, router, transaction
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
    now = timezone.now()
    values = _event_values(platform=platform, dedupe_key=dedupe_key, topic=topic, body=body,
                           triggered_at=triggered_at, now=now)
    try:
        event_id = _event_insert(store_id=store.pk, values=values)
    except IntegrityError:  # the store is gone (deleted meanwhile)
        return None, False
    if event_id is None:
        return None, False
    event = WebhookEvent(pk=event_id, store=store, status=WebhookEvent.Status.PENDING, attempts=0,
                         last_error="", **values)
    event._state.adding = False
    event._state.db = router.db_for_write(WebhookEvent)
    return event, True


def webhook_event_record_for_domain(*, store_platform: str, domain: str, platform: str,
                                    dedupe_key: str, topic: str, body: bytes,
                                    triggered_at: datetime | None = None) -> int | None:
    """The receiver's path: resolve the store by (platform, domain) and record the delivery in
    one statement (``INSERT ... SELECT ... FROM store ... ON CONFLICT DO NOTHING RETURNING``), so
    there is no store lookup to cache and go stale: an unknown or deleted shop records nothing,
    a store (re)installed a moment ago records at once. Returns the new event's id; None for a
    redelivery or a shop we do not know (the caller tells them apart if it cares)."""
    values = _event_values(platform=platform, dedupe_key=dedupe_key, topic=topic, body=body,
                           triggered_at=triggered_at, now=timezone.now())
    return _event_insert(store_platform=store_platform, domain=domain, values=values)


def _event_values(*, platform: str, dedupe_key: str, topic: str, body: bytes,
                  triggered_at: datetime | None, now: datetime) -> dict:
    return {"platform": platform, "dedupe_key": dedupe_key[:255], "topic": topic,
            "body": body.decode("utf-8"), "triggered_at": triggered_at, "created_at": now,
            "updated_at": now}


_INSERT_SQL: dict[tuple[str, bool], tuple[str, list[str]]] = {}


def _insert_sql(connection, by_domain: bool) -> tuple[str, list[str]]:
    """``INSERT ... ON CONFLICT (store, dedupe_key) DO NOTHING RETURNING id``, the store's id
    either a parameter or selected by (platform, domain); built once per connection kind."""
    key = (connection.alias, by_domain)
    if key in _INSERT_SQL:
        return _INSERT_SQL[key]
    from xsell_plugin.stores.models import Store

    qn = connection.ops.quote_name
    meta = WebhookEvent._meta
    names = ["platform", "dedupe_key", "topic", "body", "triggered_at", "created_at", "updated_at"]
    fixed = {"status": WebhookEvent.Status.PENDING, "attempts": 0, "last_error": ""}
    columns = [qn(meta.get_field(n).column) for n in [*names, *fixed]]
    # Fixed values are literals of our own constants, the rest parameters.
    literals = [f"'{v}'" if isinstance(v, str) else str(int(v)) for v in fixed.values()]
    values = ", ".join(["%s"] * len(names) + literals)
    table, store_column = qn(meta.db_table), qn(meta.get_field("store").column)
    if by_domain:
        smeta = Store._meta
        source = (f"SELECT {qn(smeta.pk.column)}, {values} FROM {qn(smeta.db_table)}"  # noqa: S608
                  f" WHERE {qn(smeta.get_field('platform').column)} = %s"
                  f" AND {qn(smeta.get_field('domain').column)} = %s")
    else:
        source = f"VALUES (%s, {values})"
    sql = (f"INSERT INTO {table} ({store_column}, {', '.join(columns)}) {source}"
           f" ON CONFLICT ({store_column}, {qn(meta.get_field('dedupe_key').column)}) DO NOTHING"
           f" RETURNING {qn(meta.pk.column)}")
    _INSERT_SQL[key] = (sql, names)
    return sql, names


def _event_insert(*, values: dict, store_id: int | None = None, store_platform: str = "",
                  domain: str = "") -> int | None:
    """One statement; the task is enqueued when it commits (at once in autocommit). Inside a
    caller's transaction a savepoint keeps a failed insert from breaking it."""
    connection = connections[router.db_for_write(WebhookEvent)]
    sql, names = _insert_sql(connection, store_id is None)
    adapt = connection.ops.adapt_datetimefield_value
    params = [adapt(values[n]) if n in ("triggered_at", "created_at", "updated_at") else values[n]
              for n in names]
    params = [*params, store_platform, domain] if store_id is None else [store_id, *params]
    scope = transaction.atomic(using=connection.alias) if connection.in_atomic_block else nullcontext()
    with scope, connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
        if row is not None:
            enqueue_on_commit("integrations.tasks.process_webhook_event", row[0], queue="webhooks")
    return row[0] if row is not None else None


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
