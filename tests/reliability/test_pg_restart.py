"""PostgreSQL restarted in the middle of a backfill (only on PostgreSQL, and only where
``pg_ctlcluster`` can restart the local cluster): the worker loses its connection mid-job; once
the database is back, the job resumes from its checkpointed cursor and every row is written once.

It restarts the whole local cluster: every other client of that server loses its connections
for a moment. It runs only with ``make reliability`` (``-m slow``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from django.conf import settings

from tests.fakes.shopify import FakeShopifyServer, catalogue
from tests.reliability.conftest import API_KEY, SECRET, ChaosShopify, Stopwatch
from tests.reliability.proc import ProcDatabase, call, spawn

pytestmark = pytest.mark.slow
PRODUCTS = 20_000


def _cluster() -> tuple[str, str] | None:
    if "postgresql" not in settings.DATABASES["default"]["ENGINE"] or not shutil.which("pg_ctlcluster"):
        return None
    etc = Path("/etc/postgresql")
    versions = sorted(etc.glob("*/main")) if etc.is_dir() else []
    if not versions or os.geteuid() != 0:
        return None
    return versions[-1].parent.name, "main"


def _pg_ready() -> bool:
    db = settings.DATABASES["default"]
    done = subprocess.run(["pg_isready", "-q", "-h", db.get("HOST") or "127.0.0.1",
                           "-p", str(db.get("PORT") or 5432)], check=False)
    return done.returncode == 0


@pytest.mark.skipif(_cluster() is None,
                    reason="needs PostgreSQL and a local cluster pg_ctlcluster can restart")
def test_backfill_resumes_from_its_cursor_after_a_postgresql_restart():
    version, name = _cluster()
    fake = ChaosShopify(api_key=API_KEY, api_secret=SECRET)
    server = FakeShopifyServer(fake).start()
    db = ProcDatabase("pgrestart", XSELL_SHOPIFY_ADMIN_BASE_URL=server.url, XSELL_SHOPIFY_API_KEY=API_KEY,
                      XSELL_SHOPIFY_API_SECRET=SECRET, XSELL_SHOPIFY_BULK_POLL_SECONDS="0.05")
    try:
        shop = fake.add_shop("restart-shop.myshopify.com", name="Restart")
        catalogue.seed(shop, products=PRODUCTS, customers=0, orders=0)
        issued = shop.issue(ttl=86_400)
        ids = call("sync_setup", db.env, shop=shop.domain, access_token=issued["access_token"],
                   refresh_token=issued["refresh_token"])
        worker, _ = spawn("sync_run", db.env, job_id=ids["job"])
        # wait until some pages are in, then restart the server under the running job
        Stopwatch.until(lambda: _received(db) >= 1000, timeout=120, step=0.2)
        subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, name, "restart"],
                       check=True, timeout=120)
        Stopwatch.until(_pg_ready, timeout=60, step=0.5)
        worker.communicate(timeout=120)  # it died with its connection, or handed the job back
        midway = call("sync_state", db.env, job_id=ids["job"])
        assert 0 < midway["products"] < PRODUCTS and midway["status"] != "done"
        status, later = None, 0
        while status != "done" and later < 10:
            later += 1
            status = call("sync_run", db.env, job_id=ids["job"], later_hours=later)["status"]
        final = call("sync_state", db.env, job_id=ids["job"])
        assert final["status"] == "done"
        assert final["products"] == final["distinct"] == PRODUCTS
        assert final["received"] == PRODUCTS  # resumed at the cursor: no page written twice
        print(f"\n  restart after {midway['products']:,} products; resumed, {PRODUCTS:,} once each")
    finally:
        server.stop()
        Stopwatch.until(_pg_ready, timeout=60, step=0.5)
        db.drop()


def _received(db: ProcDatabase) -> int:
    import psycopg

    try:
        with psycopg.connect(db.db.url.replace("postgres://", "postgresql://", 1), connect_timeout=3) as conn:
            row = conn.execute("SELECT coalesce(max(received), 0) FROM integrations_syncjob").fetchone()
            return row[0]
    except psycopg.Error:
        time.sleep(0.2)
        return 0
