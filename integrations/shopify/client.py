"""GraphQL Admin API client: one shop, one token source, cost-aware, typed errors.

* Every request goes through ``xsell_plugin.core.http.outbound_session()`` (timeouts, no
  redirects, private addresses refused) to ``endpoints.graphql_url(shop)``.
* Cost-aware: after each answer we keep ``extensions.cost.throttleStatus``; before the next
  request we wait until the bucket has restored enough for the last query's cost. A
  ``THROTTLED`` error waits exactly as long as the bucket needs, then retries.
* 429 and 5xx back off (honouring ``Retry-After``); network errors back off too. A wait longer
  than ``max_inline_wait`` is not slept here: ``RetryablePlatformError(retry_after=...)`` hands it
  to the caller's queue (webhook event or sync job backoff).
* 401: the token source refreshes once (serialised per store), then the call is retried; a second
  401 is terminal. 402/403/404/423 and GraphQL errors other than throttling are terminal.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import requests

from integrations.exceptions import RetryablePlatformError, TerminalPlatformError
from integrations.shopify import endpoints
from xsell_plugin.core.exceptions import OutboundRequestRefused
from xsell_plugin.core.http import outbound_session

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
MAX_INLINE_WAIT = 10.0  # seconds we are willing to sleep in-process before handing back
_TERMINAL_STATUS = {400, 402, 403, 404, 406, 422, 423}
_RETRYABLE_GRAPHQL_CODES = {"THROTTLED", "INTERNAL_SERVER_ERROR", "TIMEOUT", "SERVICE_UNAVAILABLE"}


class TokenSource(Protocol):
    def get(self) -> str: ...

    def refresh(self, stale: str) -> str: ...


class BulkResultGone(Exception):
    """The bulk result URL answered 403/404/410: it expired; run the operation again."""


@dataclass
class _Bucket:
    available: float | None = None
    restore_rate: float = 50.0
    last_cost: float = 0.0
    seen_at: float = 0.0

    def wait_before(self, now: float) -> float:
        if self.available is None or not self.last_cost:
            return 0.0
        restored = self.available + (now - self.seen_at) * self.restore_rate
        missing = self.last_cost - restored
        return max(0.0, missing / self.restore_rate) if self.restore_rate > 0 else 0.0


def _retry_after(response: requests.Response, fallback: float) -> float:
    raw = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(raw))
    except ValueError:
        return fallback


class ShopifyClient:
    def __init__(self, *, shop: str, tokens: TokenSource, session: requests.Session | None = None,
                 sleep: Callable[[float], None] = time.sleep, monotonic: Callable[[], float] = time.monotonic,
                 max_inline_wait: float = MAX_INLINE_WAIT) -> None:
        self.shop = shop
        self.tokens = tokens
        self.session = session or outbound_session()
        self.sleep = sleep
        self.monotonic = monotonic
        self.max_inline_wait = max_inline_wait
        self.bucket = _Bucket()

    # --- GraphQL ------------------------------------------------------------------------------
    def execute(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run one operation and return its ``data``; raises typed platform errors."""
        url = endpoints.graphql_url(self.shop)
        body = json.dumps({"query": query, "variables": variables or {}})
        token = self.tokens.get()
        refreshed = False
        backoff = 0.5
        for attempt in range(1, MAX_ATTEMPTS + 1):
            self._wait(self.bucket.wait_before(self.monotonic()), attempt)
            try:
                response = self.session.post(url, data=body, headers={
                    "Content-Type": "application/json", "Accept": "application/json",
                    "X-Shopify-Access-Token": token})
            except OutboundRequestRefused as exc:
                raise TerminalPlatformError(exc.message, extra={"shop": self.shop}) from None
            except requests.RequestException as exc:
                self._wait_or_raise(backoff, attempt, f"network error: {type(exc).__name__}")
                backoff *= 2
                continue
            status = response.status_code
            if status == 401:
                if refreshed:
                    raise TerminalPlatformError("Shopify refused the refreshed access token.",
                                                code="platform_unauthorized", extra={"shop": self.shop})
                token, refreshed = self.tokens.refresh(token), True
                continue
            if status == 429 or status >= 500:
                wait = _retry_after(response, backoff)
                self._wait_or_raise(wait, attempt, f"HTTP {status}")
                backoff *= 2
                continue
            if status in _TERMINAL_STATUS or status != 200:
                raise TerminalPlatformError(
                    f"Shopify answered HTTP {status}.", extra={"shop": self.shop, "status": status})
            try:
                payload = response.json()
            except ValueError:
                self._wait_or_raise(backoff, attempt, "a response that is not JSON")
                backoff *= 2
                continue
            cost = (payload.get("extensions") or {}).get("cost") or {}
            self._note_cost(cost)
            errors = payload.get("errors")
            if errors:
                codes = {((e.get("extensions") or {}).get("code") or "") for e in errors
                         if isinstance(e, dict)}
                if codes & _RETRYABLE_GRAPHQL_CODES:
                    wait = self._throttle_wait(cost) if "THROTTLED" in codes else backoff
                    self._wait_or_raise(wait, attempt, f"GraphQL {sorted(codes)}")
                    backoff *= 2
                    continue
                messages = [e.get("message", "") if isinstance(e, dict) else str(e) for e in errors]
                raise TerminalPlatformError(
                    "Shopify rejected the query: " + "; ".join(messages)[:500],
                    extra={"shop": self.shop, "codes": sorted(c for c in codes if c)})
            return payload.get("data") or {}
        raise RetryablePlatformError("Shopify kept failing.", retry_after=backoff,
                                     extra={"shop": self.shop})

    def mutate(self, query: str, variables: dict[str, Any], root: str) -> dict[str, Any]:
        """Run a mutation; ``userErrors`` become a terminal error. Returns ``data[root]``."""
        result = (self.execute(query, variables).get(root)) or {}
        user_errors = result.get("userErrors") or []
        if user_errors:
            raise TerminalPlatformError(
                f"Shopify refused {root}: " + "; ".join(e.get("message", "") for e in user_errors),
                code="platform_user_error",
                extra={"shop": self.shop, "user_errors": user_errors})
        return result

    def _note_cost(self, cost: dict) -> None:
        throttle = cost.get("throttleStatus") or {}
        if "currentlyAvailable" in throttle:
            self.bucket.available = float(throttle["currentlyAvailable"])
            self.bucket.restore_rate = float(throttle.get("restoreRate") or 50.0)
            self.bucket.seen_at = self.monotonic()
        used = cost.get("actualQueryCost") or cost.get("requestedQueryCost")
        if used:
            self.bucket.last_cost = float(used)

    def _throttle_wait(self, cost: dict) -> float:
        throttle = cost.get("throttleStatus") or {}
        requested = float(cost.get("requestedQueryCost") or self.bucket.last_cost or 50)
        available = float(throttle.get("currentlyAvailable") or 0)
        rate = float(throttle.get("restoreRate") or 50)
        return max(0.05, (requested - available) / rate)

    def _wait(self, seconds: float, attempt: int) -> None:
        if seconds <= 0:
            return
        if seconds > self.max_inline_wait:
            raise RetryablePlatformError("Shopify's rate limit needs a longer pause.",
                                         retry_after=seconds, extra={"shop": self.shop})
        self.sleep(seconds)

    def _wait_or_raise(self, seconds: float, attempt: int, why: str) -> None:
        if attempt >= MAX_ATTEMPTS or seconds > self.max_inline_wait:
            raise RetryablePlatformError(f"Shopify is unavailable ({why}).", retry_after=seconds,
                                         extra={"shop": self.shop})
        logger.info("shopify %s: %s, retrying in %.2fs", self.shop, why, seconds)
        self.sleep(seconds)

    # --- bulk results -------------------------------------------------------------------------
    def bulk_lines(self, url: str, *, skip: int = 0) -> Iterator[tuple[int, bytes]]:
        """Stream a bulk result (JSONL) as ``(line number, line)``, from line ``skip`` on."""
        try:
            response = self.session.get(endpoints.bulk_result_url(url), stream=True)
        except OutboundRequestRefused as exc:
            raise TerminalPlatformError(exc.message, extra={"shop": self.shop}) from None
        except requests.RequestException as exc:
            raise RetryablePlatformError(f"Bulk result download failed: {type(exc).__name__}",
                                         retry_after=5) from None
        with response:
            if response.status_code in (403, 404, 410):
                raise BulkResultGone(url)
            if response.status_code != 200:
                raise RetryablePlatformError(
                    f"Bulk result download answered HTTP {response.status_code}.",
                    retry_after=_retry_after(response, 5))
            try:
                for number, line in enumerate(response.iter_lines(chunk_size=256 * 1024)):
                    if number >= skip:
                        yield number, line
            except requests.RequestException as exc:
                raise RetryablePlatformError(
                    f"Bulk result download broke off: {type(exc).__name__}", retry_after=5) from None
