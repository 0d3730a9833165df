"""Backfill throughput against the fake store (prints items/s). Off unless XSELL_BENCH is set:
CI times nothing. ``XSELL_BENCH=1 pytest tests/integrations/woocommerce/test_throughput.py -s``
"""

import os
import time

import pytest

from integrations.models import SyncJob
from integrations.sync import sync_job_run, sync_job_start

pytestmark = [pytest.mark.django_db, pytest.mark.slow,
              pytest.mark.skipif(not os.environ.get("XSELL_BENCH"), reason="set XSELL_BENCH=1")]


def test_backfill_throughput(fake, woo):
    size = int(os.environ.get("XSELL_BENCH_SIZE", "4000"))
    fake.seed(products=size, customers=size, orders=2 * size)
    for kind in SyncJob.Kind.values:
        job = sync_job_start(store=woo, kind=kind)
        started = time.perf_counter()
        assert sync_job_run(job_id=job.pk) == "done"
        took = time.perf_counter() - started
        job.refresh_from_db()
        print(f"\n{kind}: {job.received} items in {job.pages} pages, {took:.2f}s, "
              f"{job.received / took:,.0f} items/s")
