"""Enqueue background work only after the transaction that made it commits.

Task arguments are primary keys and plain values, never model instances: a task re-reads its row
(which carries the status and lease) and exits if the work is done. django-q2 is the nudge, the row
is the truth (DESIGN.md section 6).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import transaction
from django_q.brokers import get_broker
from django_q.tasks import async_task

_PLAIN = (int, str, float, bool, uuid.UUID, type(None))


def _func_path(func: str | Callable[..., Any]) -> str:
    if isinstance(func, str):
        return func
    return f"{func.__module__}.{func.__qualname__}"


def _check_plain(args: tuple, kwargs: dict) -> None:
    for value in (*args, *kwargs.values()):
        if not isinstance(value, _PLAIN):
            raise TypeError(
                f"task arguments must be ids or plain values, got {type(value).__name__}"
            )


def enqueue_now(func: str | Callable[..., Any], *args: Any, queue: str | None = None,
                **kwargs: Any) -> str:
    """Put the task on the broker at once; returns django-q2's task id."""
    _check_plain(args, kwargs)
    options: dict[str, Any] = {}
    if queue is not None:
        if queue not in settings.XSELL_QUEUES:
            raise ValueError(f"unknown queue {queue!r}; queues are {settings.XSELL_QUEUES}")
        if settings.XSELL_SEPARATE_QUEUES:
            options["cluster"] = f"{settings.Q_CLUSTER['name']}-{queue}"
    options["broker"] = _broker(options.get("cluster"))
    return async_task(_func_path(func), *args, q_options=options, **kwargs)


_BROKERS: dict[tuple[int, str | None], Any] = {}


def _broker(cluster: str | None):
    """One broker per process and queue. django-q2 builds a new one per ``async_task``: with
    Redis that is a new connection (and handshake) per enqueue, a third of a webhook's time."""
    key = (os.getpid(), cluster)
    broker = _BROKERS.get(key)
    if broker is None:
        broker = _BROKERS[key] = get_broker(cluster)
    return broker


def enqueue_on_commit(func: str | Callable[..., Any], *args: Any, queue: str | None = None,
                      **kwargs: Any) -> None:
    """Enqueue when the current transaction commits (at once outside a transaction).

    On rollback nothing is enqueued. Arguments are checked now, so a mistake fails where it is
    made, not in a worker later.
    """
    _check_plain(args, kwargs)
    path = _func_path(func)
    transaction.on_commit(lambda: enqueue_now(path, *args, queue=queue, **kwargs), robust=False)
