"""Webhook ingest under load, for real: gunicorn on 127.0.0.1 over a private database (PostgreSQL
+ Redis when ``DATABASE_URL``/``REDIS_URL`` point there, else SQLite + the ORM broker), a load
generator in another process sending signed deliveries with one in ten redelivered, then a real
``qcluster`` processing what was accepted. Zero lost: every delivery answered 200 is recorded
exactly once and processed exactly once; redeliveries are recorded zero times."""

from __future__ import annotations

import pytest

from integrations.bench import webhook_ingest

pytestmark = pytest.mark.slow


def test_webhook_ingest_under_load_loses_nothing():
    result = webhook_ingest(scale=0.1, workers=2, concurrency=12, generator="python", duration=3,
                            checked_requests=600)
    check = result["delivery_check"]
    assert result["answered_other"] == 0  # every delivery was answered 200
    assert check["missing"] == 0 and check["processed_not_once"] == 0, check
    assert check["accepted"] == check["recorded"] == result["distinct_accepted"]
    assert check["redeliveries_sent"] > 0
    assert set(check["statuses"]) == {"done"}
    ours = result["ours"]
    print(f"\n  {result['engine']} + {result['broker']}: ours {ours['per_second']:,.0f}/s "
          f"(p50 {ours['p50_ms']:.1f} ms, p99 {ours['p99_ms']:.1f} ms), bare "
          f"{result['bare']['per_second']:,.0f}/s, {check['accepted']} accepted, 0 lost")
