"""WooCommerce REST API v3 client, over our outbound session.

Why not the ``woocommerce`` package's ``API`` class: it calls ``requests.request`` directly (a new
session per call) and takes no session, so it would bypass ``xsell_plugin.core.http`` (timeouts,
no redirects, private addresses refused). We keep the package for what it does well and cannot
get wrong for us: the OAuth 1.0a one-legged signature WooCommerce requires on plain-http sites
(``woocommerce.oauth.OAuth``). Over https we send HTTP Basic auth, as WooCommerce documents.

Behaviour:

* ``/wp-json/wc/v3/<endpoint>``; https always, plain http only for loopback hosts when
  ``XSELL_ALLOW_LOOPBACK_HTTP`` is on (tests, a local WordPress, the fake store);
* typed errors: ``RetryablePlatformError`` (with ``retry_after``) on 429, 5xx, 408, timeouts and
  connection errors; ``TerminalPlatformError`` on 401/403/404 (``WooCommerceNotFound``), other
  4xx, redirects (the store URL is wrong) and non-JSON answers;
* a bounded retry inside each call for the retryable ones (``XSELL_WOOCOMMERCE_ATTEMPTS``,
  exponential backoff from ``XSELL_WOOCOMMERCE_RETRY_BACKOFF``, never sooner than Retry-After,
  and never a sleep longer than ``XSELL_WOOCOMMERCE_MAX_RETRY_SLEEP``: a longer wait is raised
  for the caller's scheduler instead);
* paging by ``page``/``per_page=100`` ordered by id, ended by ``X-WP-TotalPages``, with a
  resumable cursor (see ``PageCursor``).
"""

from __future__ import annotations

import email.utils
import ipaddress
import json
import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
from django.conf import settings
from woocommerce.oauth import OAuth

from integrations.exceptions import RetryablePlatformError, TerminalPlatformError
from xsell_plugin.core.exceptions import OutboundRequestRefused
from xsell_plugin.core.http import outbound_session

logger = logging.getLogger(__name__)

API_VERSION = "wc/v3"
PER_PAGE = 100
USER_AGENT = "xsell (WooCommerce integration)"
# What we read from the WordPress REST index (public): the site's name and time zone.
INDEX_FIELDS = "name,description,url,home,gmt_offset,timezone_string,namespaces"


class WooCommerceNotFound(TerminalPlatformError):
    code = "woocommerce_not_found"
    default_message = "The store has no such resource."


@dataclass(frozen=True, slots=True)
class WooResponse:
    data: Any
    status: int
    total: int | None = None  # X-WP-Total
    total_pages: int | None = None  # X-WP-TotalPages


@dataclass(frozen=True, slots=True)
class PageCursor:
    """Where a paged listing resumes: the next page number, the highest id already seen, and the
    list's total when that page was read.

    Listings are ordered by id ascending, so new rows land at the end and never shift a page.
    Rows removed mid-listing shift later rows one place left; a smaller ``X-WP-Total`` than the
    one recorded reveals that, and the listing steps back enough pages to re-read what moved
    (rows already seen are dropped by id), so nothing is skipped.
    """

    page: int = 1
    last_id: int = 0
    total: int | None = None

    def dump(self) -> str:
        return json.dumps({"page": self.page, "last_id": self.last_id, "total": self.total},
                          separators=(",", ":"))

    @classmethod
    def load(cls, raw: str | None) -> PageCursor:
        if not raw:
            return cls()
        if raw.isdigit():  # a bare page number
            return cls(page=max(1, int(raw)))
        try:
            data = json.loads(raw)
            return cls(page=max(1, int(data["page"])), last_id=int(data.get("last_id") or 0),
                       total=None if data.get("total") is None else int(data["total"]))
        except (ValueError, TypeError, KeyError):
            raise ValueError(f"not a WooCommerce cursor: {raw[:100]!r}") from None


def normalise_site_url(url: str) -> str:
    """``scheme://host[:port][/path]`` without a trailing slash, host lower-cased."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    netloc = f"[{host}]" if ":" in host else host
    if parts.port:
        netloc += f":{parts.port}"
    return f"{parts.scheme.lower()}://{netloc}{parts.path.rstrip('/')}"


def is_loopback_host(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def plain_http_allowed(url: str) -> bool:
    """Plain http is for loopback hosts only, and only with XSELL_ALLOW_LOOPBACK_HTTP."""
    return bool(settings.XSELL_ALLOW_LOOPBACK_HTTP) and is_loopback_host(urlsplit(url).hostname or "")


def _retry_after(response: requests.Response) -> float | None:
    raw = (response.headers.get("Retry-After") or "").strip()
    if not raw:
        return None
    if raw.isdigit():
        return float(raw)
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _int_header(response: requests.Response, name: str) -> int | None:
    try:
        return int(response.headers[name])
    except (KeyError, ValueError):
        return None


def _encode(params: dict[str, Any]) -> dict[str, str]:
    out = {}
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, list | tuple):
            value = ",".join(str(v) for v in value)
        out[key] = str(value)
    return out


class WooCommerceClient:
    """One store's REST API. ``consumer_key``/``consumer_secret`` are never logged."""

    def __init__(self, site_url: str, consumer_key: str = "", consumer_secret: str = "", *,
                 session: requests.Session | None = None, attempts: int | None = None,
                 backoff: float | None = None, max_sleep: float | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.site_url = normalise_site_url(site_url)
        scheme = urlsplit(self.site_url).scheme
        if scheme != "https" and not (scheme == "http" and plain_http_allowed(self.site_url)):
            raise TerminalPlatformError(
                "WooCommerce stores are reached over https only.",
                code="woocommerce_https_required", extra={"site_url": self.site_url})
        self._https = scheme == "https"
        self._key = consumer_key
        self._secret = consumer_secret
        self.session = session or outbound_session(user_agent=USER_AGENT)
        self.attempts = attempts or settings.XSELL_WOOCOMMERCE_ATTEMPTS
        self.backoff = settings.XSELL_WOOCOMMERCE_RETRY_BACKOFF if backoff is None else backoff
        self.max_sleep = (settings.XSELL_WOOCOMMERCE_MAX_RETRY_SLEEP if max_sleep is None
                          else max_sleep)
        self._sleep = sleep

    # -- calls -----------------------------------------------------------------------------

    def get(self, endpoint: str, params: dict[str, Any] | None = None) -> WooResponse:
        return self.call("GET", endpoint, params=params)

    def post(self, endpoint: str, body: dict[str, Any]) -> WooResponse:
        return self.call("POST", endpoint, body=body)

    def put(self, endpoint: str, body: dict[str, Any]) -> WooResponse:
        return self.call("PUT", endpoint, body=body)

    def delete(self, endpoint: str, params: dict[str, Any] | None = None) -> WooResponse:
        return self.call("DELETE", endpoint, params=params)

    def call(self, method: str, endpoint: str, *, params: dict[str, Any] | None = None,
             body: dict[str, Any] | None = None, authenticated: bool = True) -> WooResponse:
        """One API call, retried (bounded) while the store says "later"."""
        attempt = 1
        while True:
            try:
                return self._once(method, endpoint, params or {}, body, authenticated)
            except RetryablePlatformError as exc:
                delay = max(self.backoff * 2 ** (attempt - 1), exc.retry_after or 0.0)
                if attempt >= self.attempts or delay > self.max_sleep:
                    raise
                logger.info("woocommerce %s %s: %s; retry %d in %.2fs", method, endpoint,
                            exc.message, attempt, delay)
                self._sleep(delay)
                attempt += 1

    def site_index(self) -> dict[str, Any]:
        """The WordPress REST index (public): site name, time zone, REST namespaces."""
        response = self.call("GET", "", params={"_fields": INDEX_FIELDS}, authenticated=False)
        if not isinstance(response.data, dict):
            raise TerminalPlatformError("The site's REST index is not an object.",
                                        code="woocommerce_bad_response")
        return response.data

    # -- paging ----------------------------------------------------------------------------

    def pages(self, endpoint: str, params: dict[str, Any] | None = None, *,
              cursor: str | None = None) -> Iterator[tuple[list[dict], str | None]]:
        """Yield ``(items, next_cursor)`` per page from ``cursor``; ``next_cursor`` is None on
        the last page. Items are the store's dicts, ordered by id, none yielded twice."""
        state = PageCursor.load(cursor)
        base = {**(params or {}), "per_page": PER_PAGE, "orderby": "id", "order": "asc"}
        while True:
            response = self.get(endpoint, {**base, "page": state.page})
            items = response.data
            if not isinstance(items, list):
                raise TerminalPlatformError(f"{endpoint}: expected a list.",
                                            code="woocommerce_bad_response")
            total = response.total
            if (state.page > 1 and state.total is not None and total is not None
                    and total < state.total):
                back = math.ceil((state.total - total) / PER_PAGE)
                state = PageCursor(max(1, state.page - back), state.last_id, total)
                continue
            fresh = [item for item in items if _item_id(item) > state.last_id]
            last_id = max([state.last_id, *(_item_id(item) for item in items)])
            if response.total_pages is not None:
                more = bool(items) and state.page < response.total_pages
            else:
                more = len(items) >= PER_PAGE
            nxt = PageCursor(state.page + 1, last_id, total)
            yield fresh, (nxt.dump() if more else None)
            if not more:
                return
            state = nxt

    def all(self, endpoint: str, params: dict[str, Any] | None = None) -> list[dict]:
        """Every item of a (small) listing: webhooks, one product's variations."""
        items: list[dict] = []
        for page, _ in self.pages(endpoint, params):
            items.extend(page)
        return items

    # -- internals -------------------------------------------------------------------------

    def _url(self, endpoint: str) -> str:
        if endpoint == "":
            return f"{self.site_url}/wp-json/"
        return f"{self.site_url}/wp-json/{API_VERSION}/{endpoint.lstrip('/')}"

    def _once(self, method: str, endpoint: str, params: dict[str, Any], body: dict | None,
              authenticated: bool) -> WooResponse:
        url = self._url(endpoint)
        query = _encode(params)
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body, ensure_ascii=False).encode()
            headers["Content-Type"] = "application/json; charset=utf-8"
        auth = None
        if authenticated and self._https:
            auth = requests.auth.HTTPBasicAuth(self._key, self._secret)
        elif authenticated:
            # Plain http (loopback only): WooCommerce accepts only OAuth 1.0a here. A fresh
            # nonce and timestamp per attempt: a retried request is a new request.
            if query:
                url = f"{url}?{urlencode(query)}"
            url = OAuth(url=url, consumer_key=self._key, consumer_secret=self._secret,
                        version=API_VERSION, method=method).get_oauth_url()
            query = {}
        try:
            response = self.session.request(method, url, params=query or None, data=data,
                                            headers=headers, auth=auth)
        except OutboundRequestRefused as exc:
            raise TerminalPlatformError(exc.message, code="woocommerce_address_refused",
                                        extra={"endpoint": endpoint}) from None
        except requests.Timeout:
            raise RetryablePlatformError(f"{endpoint}: the store did not answer in time.",
                                         code="woocommerce_timeout") from None
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            raise RetryablePlatformError(
                f"{endpoint}: connection failed ({type(exc).__name__}).",
                code="woocommerce_unreachable") from None
        except requests.RequestException as exc:
            raise TerminalPlatformError(f"{endpoint}: {type(exc).__name__}.",
                                        code="woocommerce_request_invalid") from None
        return self._check(response, endpoint)

    def _check(self, response: requests.Response, endpoint: str) -> WooResponse:
        status = response.status_code
        extra: dict[str, Any] = {"endpoint": endpoint, "status": status}
        if status == 429 or status == 408 or status >= 500:
            raise RetryablePlatformError(
                f"{endpoint}: the store answered {status}.", code="woocommerce_unavailable",
                retry_after=_retry_after(response), extra=extra)
        if 300 <= status < 400:
            extra["location"] = response.headers.get("Location", "")
            raise TerminalPlatformError(
                f"{endpoint}: the store redirected ({status}); check the store URL "
                "(https, www, WordPress address).", code="woocommerce_redirected", extra=extra)
        if status >= 400:
            wc_code, message = _error_of(response)
            extra["wc_code"] = wc_code
            text = f"{endpoint}: {status} {wc_code}: {message}".strip()
            if status == 404:
                raise WooCommerceNotFound(text, extra=extra)
            if status in (401, 403):
                raise TerminalPlatformError(text, code="woocommerce_unauthorized", extra=extra)
            raise TerminalPlatformError(text, code="woocommerce_rejected", extra=extra)
        try:
            data = response.json() if response.content else None
        except ValueError:
            raise TerminalPlatformError(
                f"{endpoint}: the store's answer is not JSON (a security or caching plugin "
                "may be answering for the REST API).", code="woocommerce_bad_response",
                extra=extra) from None
        return WooResponse(data=data, status=status, total=_int_header(response, "X-WP-Total"),
                           total_pages=_int_header(response, "X-WP-TotalPages"))


def _error_of(response: requests.Response) -> tuple[str, str]:
    try:
        data = response.json()
    except ValueError:
        return "", ""
    if not isinstance(data, dict):
        return "", ""
    return str(data.get("code") or ""), str(data.get("message") or "")[:300]


def _item_id(item: Any) -> int:
    try:
        return int(item["id"])
    except (KeyError, TypeError, ValueError):
        raise TerminalPlatformError("A listed item has no numeric id.",
                                    code="woocommerce_bad_response") from None
