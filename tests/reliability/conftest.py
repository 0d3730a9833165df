"""Faults, storms and bad input (issue 10). Every test here talks to real loopback servers.

Tests marked ``slow`` in this folder are the heavy ones (kill -9 of a worker, a PostgreSQL
restart, load under gunicorn, atheris): they run with ``make reliability`` (``pytest
tests/reliability -m slow``) or ``XSELL_RELIABILITY=1``, and are skipped by a plain ``make
test``, which runs the rest of this folder in CI.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from tests.emails.helpers import mailbox, smtp_server
from tests.fakes.shopify import FakeShopify, FakeShopifyServer, Reply, Shop
from tests.integrations.shopify.conftest import point_at
from xsell_plugin.stores.models import Store
from xsell_plugin.stores.services import Credentials, store_install

__all__ = ["mailbox", "smtp_server"]

HERE = Path(__file__).resolve().parent
API_KEY = "rel_api_key"
SECRET = "rel_secret_key"


def pytest_collection_modifyitems(config, items):
    if "slow" in (config.getoption("markexpr") or "") or os.environ.get("XSELL_RELIABILITY"):
        return
    skip = pytest.mark.skip(reason="heavy fault test: run `make reliability` "
                                   "(pytest tests/reliability -m slow)")
    for item in items:
        if item.get_closest_marker("slow") and HERE in Path(str(item.fspath)).parents:
            item.add_marker(skip)


class ChaosShopify(FakeShopify):
    """The fake Shopify, plus chaos on its GraphQL endpoint: every ``chaos_every``-th request
    gets the next item of ``chaos``: ``429`` / ``503`` (with ``Retry-After``), ``"timeout"`` (the
    answer comes after the client's read timeout) or ``"throttled"`` (Shopify's cost throttle)."""

    def reset(self) -> None:
        super().reset()
        self.chaos: deque = deque()
        self.chaos_every = 3
        self.chaos_served: list = []
        self.timeout_seconds = 0.6
        self._graphql_requests = 0

    def handle(self, method, target, headers, body):
        item = None
        if "/graphql.json" in target:
            with self.lock:
                self._graphql_requests += 1
                if self.chaos and self._graphql_requests % self.chaos_every == 0:
                    item = self.chaos.popleft()
                    self.chaos_served.append(item)
        if item == "timeout":
            time.sleep(self.timeout_seconds)
        elif item == "throttled":
            return Reply.json({"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
                               "extensions": {"cost": {"requestedQueryCost": 10, "actualQueryCost": None,
                                                       "throttleStatus": {"maximumAvailable": 2000.0,
                                                                          "currentlyAvailable": 5.0,
                                                                          "restoreRate": 1000.0}}}})
        elif isinstance(item, int):
            return Reply.json({"errors": "chaos"}, item, {"Retry-After": "0.05"})
        return super().handle(method, target, headers, body)


@pytest.fixture(scope="session")
def shopify_server():
    server = FakeShopifyServer(ChaosShopify(api_key=API_KEY, api_secret=SECRET)).start()
    yield server
    server.stop()


@pytest.fixture
def shopify(shopify_server, settings) -> ChaosShopify:
    return point_at(shopify_server, settings, api_key=API_KEY, secret=SECRET)


def shopify_connect(fake: FakeShopify, domain: str, *, name: str = "Reliable Shop") -> tuple[Store, Shop]:
    """A Shopify store as an install leaves it: a token issued by the fake, held encrypted."""
    shop = fake.shops.get(domain) or fake.add_shop(domain, name=name)
    issued = shop.issue(ttl=3600)
    now = timezone.now()
    store, _ = store_install(
        platform="shopify", domain=domain, name=name, currency="USD", timezone_name="America/New_York",
        credentials=Credentials(access_token=issued["access_token"], refresh_token=issued["refresh_token"],
                                access_token_expires_at=now + timedelta(hours=1),
                                refresh_token_expires_at=now + timedelta(days=90), scopes=issued["scope"]))
    return store, shop


class Stopwatch:
    """Bounded waits for background threads and processes."""

    @staticmethod
    def until(predicate, *, timeout: float = 30.0, step: float = 0.05):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(step)
        raise AssertionError(f"timed out after {timeout}s")


def run_in_thread(target, *args) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, daemon=True)
    thread.start()
    return thread
