"""The outbound HTTP session, against a real loopback server (pytest-httpserver)."""

from __future__ import annotations

import socket
import time

import pytest
import requests
from werkzeug import Request, Response

from xsell_plugin.core.exceptions import OutboundRequestRefused
from xsell_plugin.core.http import is_address_allowed, outbound_session


def _slow(request: Request) -> Response:
    time.sleep(1)
    return Response("late")


def _wait_for_log(httpserver, count: int) -> None:
    """Let a slow handler finish so its log entry cannot leak into the next test."""
    deadline = time.monotonic() + 5
    while len(httpserver.log) < count and time.monotonic() < deadline:
        time.sleep(0.05)


@pytest.fixture
def no_connect(monkeypatch):
    """Any outgoing socket connection fails the test."""
    attempts: list[object] = []

    def refuse(sock, address):
        attempts.append(address)
        raise AssertionError(f"unexpected connection to {address!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    return attempts


def test_loopback_allowed_get_returns_body(httpserver):
    httpserver.expect_request("/hello").respond_with_data("hi there")

    response = outbound_session(allow_loopback=True).get(httpserver.url_for("/hello"))

    assert response.status_code == 200
    assert response.text == "hi there"
    assert httpserver.log[0][0].headers["User-Agent"] == "xsell"


def test_session_rules(settings):
    settings.XSELL_HTTP_TIMEOUT = 20.0
    session = outbound_session(allow_loopback=True)

    assert session.trust_env is False
    assert session.max_redirects == 0
    for prefix in ("http://", "https://"):
        assert session.get_adapter(prefix + "example.com").max_retries.total == 0


def test_adapter_refuses_a_request_without_timeout(httpserver):
    session = outbound_session(allow_loopback=True)
    prepared = session.prepare_request(requests.Request("GET", httpserver.url_for("/")))

    with pytest.raises(ValueError, match="timeout"):
        session.get_adapter(prepared.url).send(prepared)
    assert httpserver.log == []


def test_loopback_literal_refused_when_not_allowed(httpserver):
    httpserver.expect_request("/").respond_with_data("should not be reached")

    with pytest.raises(OutboundRequestRefused):
        outbound_session(allow_loopback=False).get(f"http://127.0.0.1:{httpserver.port}/")

    assert httpserver.log == []


def test_loopback_refused_by_settings(httpserver, settings):
    settings.XSELL_ALLOW_LOOPBACK_HTTP = False
    httpserver.expect_request("/").respond_with_data("should not be reached")
    session = outbound_session()

    assert session.allow_loopback is False
    with pytest.raises(OutboundRequestRefused):
        session.get(httpserver.url_for("/"))
    assert httpserver.log == []


def test_loopback_allowed_by_settings(httpserver, settings):
    settings.XSELL_ALLOW_LOOPBACK_HTTP = True
    httpserver.expect_request("/").respond_with_data("ok")

    assert outbound_session().get(httpserver.url_for("/")).text == "ok"


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_hostname_resolving_to_loopback_refused_on_connected_socket(httpserver, scheme):
    httpserver.expect_request("/").respond_with_data("should not be reached")
    url = f"{scheme}://localhost:{httpserver.port}/"

    with pytest.raises(OutboundRequestRefused) as caught:
        outbound_session(allow_loopback=False).get(url)

    # The address comes from the socket's peer, not from the URL.
    assert caught.value.extra["host"] == "localhost"
    assert is_address_allowed(caught.value.extra["address"], allow_loopback=True)
    assert not is_address_allowed(caught.value.extra["address"], allow_loopback=False)
    assert httpserver.log == []


def test_redirect_is_returned_not_followed(httpserver):
    httpserver.expect_request("/first").respond_with_data(
        "", status=302, headers={"Location": httpserver.url_for("/second")}
    )
    httpserver.expect_request("/second").respond_with_data("followed")
    session = outbound_session(allow_loopback=True)

    response = session.get(httpserver.url_for("/first"))
    forced = session.get(httpserver.url_for("/first"), allow_redirects=True)

    for result in (response, forced):
        assert result.status_code == 302
        assert result.headers["Location"].endswith("/second")
        assert result.history == []
        assert result.next is None
    assert [request.path for request, _ in httpserver.log] == ["/first", "/first"]


def test_per_call_timeout(httpserver):
    httpserver.expect_request("/slow").respond_with_handler(_slow)

    with pytest.raises(requests.exceptions.ReadTimeout):
        outbound_session(allow_loopback=True).get(httpserver.url_for("/slow"), timeout=0.2)
    _wait_for_log(httpserver, 1)


def test_factory_timeout(httpserver):
    httpserver.expect_request("/slow").respond_with_handler(_slow)
    session = outbound_session(allow_loopback=True, timeout=0.2)

    assert session.default_timeout == (0.2, 0.2)
    with pytest.raises(requests.exceptions.ReadTimeout):
        session.get(httpserver.url_for("/slow"))
    _wait_for_log(httpserver, 1)


def test_default_timeout_from_settings_is_applied(httpserver, settings):
    settings.XSELL_HTTP_TIMEOUT = 0.2
    httpserver.expect_request("/slow").respond_with_handler(_slow)
    session = outbound_session(allow_loopback=True)

    assert session.default_timeout == (0.2, 0.2)
    with pytest.raises(requests.exceptions.ReadTimeout):
        session.get(httpserver.url_for("/slow"))
    _wait_for_log(httpserver, 1)


@pytest.mark.parametrize(
    ("factory_timeout", "expected"),
    [(None, (5.0, 20.0)), (3, (3, 3)), ((1, None), (1, 20.0)), ((None, 7), (5.0, 7))],
)
def test_default_timeout_values(settings, factory_timeout, expected):
    settings.XSELL_HTTP_TIMEOUT = 20.0

    assert outbound_session(timeout=factory_timeout).default_timeout == expected


@pytest.mark.parametrize("timeout", [0, -1, "5", (1, 2, 3)])
def test_invalid_timeout_rejected(timeout):
    with pytest.raises(ValueError):
        outbound_session(timeout=timeout)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/file.csv", "gopher://example.com/"])
def test_non_http_scheme_refused(url, no_connect):
    with pytest.raises(OutboundRequestRefused):
        outbound_session(allow_loopback=True).get(url)
    assert no_connect == []


@pytest.mark.parametrize(
    ("address", "allow_loopback"),
    [
        ("10.0.0.1", True),
        ("172.16.5.4", True),
        ("192.168.1.1", True),
        ("169.254.169.254", True),
        ("100.64.0.1", True),
        ("0.0.0.0", True),  # noqa: S104 - an address to refuse, not a bind
        ("224.0.0.1", True),
        ("240.0.0.1", True),
        ("255.255.255.255", True),
        ("127.0.0.1", False),
        ("127.8.9.10", False),
        ("::1", False),
        ("::", True),
        ("fe80::1", True),
        ("fe80::1%eth0", True),
        ("fc00::1", True),
        ("fec0::1", True),
        ("ff02::1", True),
        ("::ffff:127.0.0.1", False),
        ("::ffff:10.0.0.1", True),
        ("::ffff:169.254.169.254", True),
        ("64:ff9b::a9fe:a9fe", True),
        ("2002:a00:1::", True),
        ("not-an-ip", True),
        ("", True),
    ],
)
def test_refused_addresses(address, allow_loopback):
    assert is_address_allowed(address, allow_loopback=allow_loopback) is False


@pytest.mark.parametrize(
    ("address", "allow_loopback"),
    [
        ("93.184.215.14", False),
        ("8.8.8.8", False),
        ("2606:4700:4700::1111", False),
        ("::ffff:8.8.8.8", False),
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
    ],
)
def test_allowed_addresses(address, allow_loopback):
    assert is_address_allowed(address, allow_loopback=allow_loopback) is True


@pytest.mark.parametrize(
    ("url", "allow_loopback"),
    [
        ("http://10.0.0.1/", True),
        ("http://192.168.1.1:8080/admin", True),
        ("http://169.254.169.254/latest/meta-data/", True),
        ("http://100.64.0.1/", True),
        ("https://[fe80::1]/", True),
        ("http://[::ffff:127.0.0.1]/", False),
        ("http://127.0.0.1/", False),
    ],
)
def test_literal_private_hosts_refused_without_connecting(url, allow_loopback, no_connect):
    started = time.monotonic()

    with pytest.raises(OutboundRequestRefused):
        outbound_session(allow_loopback=allow_loopback).get(url)

    assert no_connect == []
    assert time.monotonic() - started < 1


@pytest.fixture
def dead_proxy():
    """A loopback address that refuses connections: bound, never listening."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


def test_env_proxies_ignored(httpserver, monkeypatch, dead_proxy):
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, dead_proxy)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    httpserver.expect_request("/").respond_with_data("direct")

    # Control: a plain session does use the dead proxy.
    with pytest.raises(requests.exceptions.ProxyError):
        requests.get(httpserver.url_for("/"), timeout=5)

    response = outbound_session(allow_loopback=True).get(httpserver.url_for("/"))
    assert response.text == "direct"


def test_explicit_proxy_refused(httpserver, dead_proxy):
    httpserver.expect_request("/").respond_with_data("should not be reached")
    session = outbound_session(allow_loopback=True)
    session.proxies = {"http": dead_proxy}

    with pytest.raises(OutboundRequestRefused):
        session.get(httpserver.url_for("/"))
    assert httpserver.log == []
