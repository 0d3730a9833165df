"""The one outbound HTTP session every platform and ESP client uses.

``outbound_session()`` returns a ``requests.Session`` that:

* always sends a timeout (``(min(5, t), t)`` with ``t = settings.XSELL_HTTP_TIMEOUT``);
* never follows redirects: the caller gets the 3xx response;
* ignores the environment (proxies, ``.netrc``) and refuses explicit proxies;
* speaks only http and https;
* refuses private, reserved and (unless allowed) loopback addresses. The check runs on the peer
  address of the connected socket, so a hostname that resolves somewhere else at connect time
  (DNS rebinding) is still caught;
* never retries: retry policy belongs to the caller;
* keeps credentials that some APIs put in the query string (OAuth 1.0a parameters, keys and
  tokens) out of urllib3's DEBUG request lines (``QueryCredentialFilter``).

Refusals raise ``OutboundRequestRefused`` before any byte of the request is sent.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from requests.utils import select_proxy
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from xsell_plugin.core.exceptions import OutboundRequestRefused

__all__ = ["OutboundSession", "is_address_allowed", "outbound_session"]

DEFAULT_USER_AGENT = "xsell"
ALLOWED_SCHEMES = frozenset({"http", "https"})
MAX_CONNECT_TIMEOUT = 5.0

_IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_QUERY_CREDENTIAL = re.compile(
    r"(?i)\b(oauth_[a-z_]+|consumer_key|consumer_secret|access_token|api_key|token|key|signature)"
    r"=[^&\s\"']+")


class QueryCredentialFilter(logging.Filter):
    """Redacts credential-like query parameters from a log record's message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _QUERY_CREDENTIAL.sub(r"\1=[redacted]", message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


logging.getLogger("urllib3.connectionpool").addFilter(QueryCredentialFilter())
_CARRIER_GRADE_NAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def is_address_allowed(address: str | _IPAddress, *, allow_loopback: bool) -> bool:
    """True if an outbound connection to this IP address is allowed.

    Only public unicast addresses pass. Loopback passes only with ``allow_loopback``. Anything
    that is not a valid IP address is refused.
    """
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0] if isinstance(address, str) else address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return is_address_allowed(embedded, allow_loopback=allow_loopback)
        if ip.is_site_local:
            return False
    if ip.is_loopback:
        return allow_loopback
    if (
        ip.is_private
        or ip.is_link_local
        or ip.is_unspecified
        or ip.is_multicast
        or ip.is_reserved
        or ip in _CARRIER_GRADE_NAT
    ):
        return False
    return ip.is_global


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address inside an IPv4-mapped, 6to4 or NAT64 IPv6 address, if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


class _PeerCheck:
    """Connection mixin: refuse the socket if its peer address is not allowed."""

    allow_loopback = False
    host: str

    def _new_conn(self) -> Any:
        sock = super()._new_conn()  # type: ignore[misc]
        try:
            peer = sock.getpeername()[0]
        except OSError:
            peer = None
        if peer is None or not is_address_allowed(peer, allow_loopback=self.allow_loopback):
            sock.close()
            raise OutboundRequestRefused(
                "Refusing to connect to a private or reserved address.",
                extra={"host": self.host, "address": peer},
            )
        return sock


@functools.cache
def _pool_classes(allow_loopback: bool) -> dict[str, type[HTTPConnectionPool]]:
    """urllib3 pool classes whose connections run the peer check."""
    flag = {"allow_loopback": allow_loopback}
    http_conn = type("GuardedHTTPConnection", (_PeerCheck, HTTPConnection), flag)
    https_conn = type("GuardedHTTPSConnection", (_PeerCheck, HTTPSConnection), flag)
    return {
        "http": type("GuardedHTTPConnectionPool", (HTTPConnectionPool,), {"ConnectionCls": http_conn}),
        "https": type("GuardedHTTPSConnectionPool", (HTTPSConnectionPool,), {"ConnectionCls": https_conn}),
    }


def _find_refusal(exc: BaseException) -> OutboundRequestRefused | None:
    """The ``OutboundRequestRefused`` somewhere inside a wrapped exception, if any."""
    stack: list[Any] = [exc]
    seen: set[int] = set()
    while stack:
        current = stack.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        if isinstance(current, OutboundRequestRefused):
            return current
        seen.add(id(current))
        stack.extend(
            [
                current.__cause__,
                current.__context__,
                getattr(current, "reason", None),
                *current.args,
            ]
        )
    return None


class GuardedAdapter(HTTPAdapter):
    """HTTP adapter whose connections check their peer address; no retries, no proxies."""

    __attrs__ = [*HTTPAdapter.__attrs__, "allow_loopback"]

    def __init__(self, *, allow_loopback: bool) -> None:
        self.allow_loopback = allow_loopback
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _pool_classes(self.allow_loopback)

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: dict[str, str] | None = None,
    ) -> requests.Response:
        if timeout is None:
            raise ValueError("An outbound request needs a timeout.")
        if proxies and select_proxy(request.url or "", proxies):
            raise OutboundRequestRefused("Outbound requests may not go through a proxy.")
        try:
            return super().send(
                request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies
            )
        except requests.RequestException as exc:
            refusal = _find_refusal(exc)
            if refusal is not None:
                raise refusal from None
            raise


def _timeout_pair(value: Any, fallback: tuple[float, float]) -> tuple[float, float]:
    """``value`` as a ``(connect, read)`` pair; ``None`` parts come from ``fallback``."""
    if value is None:
        return fallback
    connect, read = value if isinstance(value, tuple) else (value, value)
    pair = (fallback[0] if connect is None else connect, fallback[1] if read is None else read)
    for part in pair:
        if isinstance(part, bool) or not isinstance(part, int | float) or part <= 0:
            raise ValueError(f"Timeouts must be positive numbers, got {value!r}.")
    return pair


class OutboundSession(requests.Session):
    """A ``requests.Session`` with the outbound rules above. Build it with ``outbound_session``."""

    __attrs__ = [*requests.Session.__attrs__, "default_timeout", "allow_loopback"]

    def __init__(
        self,
        *,
        timeout: float | tuple | None = None,
        allow_loopback: bool | None = None,
        user_agent: str | None = None,
    ) -> None:
        super().__init__()
        configured = float(getattr(settings, "XSELL_HTTP_TIMEOUT", 20.0))
        self.default_timeout = _timeout_pair(timeout, (min(MAX_CONNECT_TIMEOUT, configured), configured))
        if allow_loopback is None:
            allow_loopback = bool(getattr(settings, "XSELL_ALLOW_LOOPBACK_HTTP", False))
        self.allow_loopback = allow_loopback
        self.trust_env = False
        self.max_redirects = 0
        self.headers["User-Agent"] = user_agent or DEFAULT_USER_AGENT
        adapter = GuardedAdapter(allow_loopback=allow_loopback)
        self.mount("http://", adapter)
        self.mount("https://", adapter)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        self._check_url(request.url or "")
        kwargs["allow_redirects"] = False
        kwargs["timeout"] = _timeout_pair(kwargs.get("timeout"), self.default_timeout)
        return super().send(request, **kwargs)

    def resolve_redirects(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        """Redirects are never followed, so there is never a next request."""
        return iter(())

    def _check_url(self, url: str) -> None:
        """Refuse other schemes, and literal IP hosts that are not allowed, before connecting."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ALLOWED_SCHEMES:
            raise OutboundRequestRefused("Only http and https URLs may be called.", extra={"scheme": scheme})
        host = (parts.hostname or "").split("%", 1)[0]
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return  # a hostname: checked on the connected socket
        if not is_address_allowed(host, allow_loopback=self.allow_loopback):
            raise OutboundRequestRefused(
                "Refusing to connect to a private or reserved address.",
                extra={"host": host, "address": host},
            )


def outbound_session(
    *,
    timeout: float | tuple | None = None,
    allow_loopback: bool | None = None,
    user_agent: str | None = None,
) -> OutboundSession:
    """A new outbound session.

    ``timeout`` replaces the default for every request (a number, or a ``(connect, read)``
    pair). ``allow_loopback`` defaults to ``settings.XSELL_ALLOW_LOOPBACK_HTTP``; private
    addresses stay refused either way.
    """
    return OutboundSession(timeout=timeout, allow_loopback=allow_loopback, user_agent=user_agent)
