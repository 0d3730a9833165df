"""Liveness and readiness: ``/healthz`` answers 200 when the database and the task broker answer."""

from __future__ import annotations

import logging

from django.db import connection
from django.http import JsonResponse
from django.views.decorators.http import require_GET
from django_q.brokers import get_broker

logger = logging.getLogger(__name__)


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:
        logger.exception("healthz: database check failed")
        return False


def _broker_ok() -> bool:
    try:
        return bool(get_broker().ping())
    except Exception:
        logger.exception("healthz: broker check failed")
        return False


@require_GET
def healthz(request):
    checks = {"database": _database_ok(), "broker": _broker_ok()}
    healthy = all(checks.values())
    body = {"status": "ok" if healthy else "unavailable",
            **{name: "ok" if ok else "down" for name, ok in checks.items()}}
    return JsonResponse(body, status=200 if healthy else 503)
