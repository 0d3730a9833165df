"""kill -9 of a worker in the middle of sending, for real: a separate process runs
``email_send`` against a loopback SMTP server and is killed with SIGKILL. Whatever the moment,
every send ends ``sent`` exactly once or ``unknown`` (delivered at most once), never twice: the
SMTP server never receives one message twice."""

from __future__ import annotations

import email
import os
import random
import signal
import time
from collections import Counter

import pytest
from aiosmtpd.controller import Controller

from tests.emails.helpers import SMTPHandler, _free_port
from tests.reliability.conftest import Stopwatch
from tests.reliability.proc import ProcDatabase, call, spawn

pytestmark = pytest.mark.slow
LEASE = 300  # XSELL_EMAIL_LEASE_SECONDS default: a recovery runs past it


@pytest.fixture
def proc_db():
    db = ProcDatabase("kill")
    yield db
    db.drop()


@pytest.fixture
def smtp():
    handler = SMTPHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield controller
    controller.stop()


def _received(handler: SMTPHandler) -> Counter:
    return Counter(email.message_from_bytes(raw)["Message-ID"] for raw in handler.messages)


def test_killed_while_the_server_holds_the_data_ends_unknown_and_is_never_resent(proc_db, smtp):
    handler: SMTPHandler = smtp.handler
    handler.stall_seconds = 60  # the data is in, the answer never comes before the kill
    ids = call("emails_setup", proc_db.env, smtp_port=smtp.port, count=1)["ids"]
    worker, _ = spawn("emails_send", proc_db.env, ids=ids)
    try:
        Stopwatch.until(lambda: handler.messages, timeout=60)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)
    finally:
        worker.kill()
    handler.stall_seconds = 0
    recovered = call("emails_send", proc_db.env, ids=ids, later_seconds=LEASE + 5)
    assert recovered["results"] == {str(ids[0]): "unknown"}
    assert recovered["swept"]["unknown"] == 1 and recovered["swept"]["enqueued"] == 0
    again = call("emails_send", proc_db.env, ids=ids, later_seconds=LEASE * 10)
    assert again["results"] == {str(ids[0]): "unknown"}
    assert len(handler.messages) == 1


@pytest.mark.parametrize("seed", [7, 11])
def test_random_kills_never_send_twice(proc_db, smtp, seed):
    rng = random.Random(seed)
    handler: SMTPHandler = smtp.handler
    handler.stall_seconds = 0.2  # most of a send is spent waiting on the server: kills land there
    ids = call("emails_setup", proc_db.env, smtp_port=smtp.port, count=30)["ids"]
    later = 0
    for _round in range(3):  # a worker killed at a random moment, three times over
        worker, _ = spawn("emails_send", proc_db.env, ids=ids, later_seconds=later)
        time.sleep(rng.uniform(2.0, 4.0))
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)
        later += LEASE + 5  # the next worker comes after the dead one's leases expired
    final = call("emails_send", proc_db.env, ids=ids, later_seconds=later + LEASE)
    rows = call("emails_state", proc_db.env)["rows"]
    statuses = Counter(row["status"] for row in rows)
    received = _received(handler)
    assert set(statuses) <= {"sent", "unknown"}, (statuses, final)
    assert statuses["sent"] + statuses["unknown"] == 30
    assert max(received.values(), default=0) == 1, "a message arrived twice"
    for row in rows:
        if row["status"] == "sent":
            assert received[row["message_id"]] == 1
    print(f"\n  kill -9 x3 (seed {seed}): {dict(statuses)}; {len(received)} messages received once each")
