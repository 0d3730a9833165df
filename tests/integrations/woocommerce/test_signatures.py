"""Signature vectors, the creation ping, and the dedupe key (pure functions)."""

import base64
import hashlib
import hmac

import pytest

from integrations.woocommerce.signatures import dedupe_key, is_ping, signature, signature_valid


def expected(body: bytes, secret: str) -> str:
    # Computed here, independently: base64 of the raw HMAC-SHA256 digest.
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


@pytest.mark.parametrize(("body", "secret", "vector"), [
    # Fixed vectors (from `openssl dgst -sha256 -hmac <secret> -binary | base64`): a change to
    # the scheme fails here even if both sides changed together.
    (b'{"id":727}', "s3cr3t", "qY2Gl36+X5UqWQ/k7Z17aTwyK2OVpPPjsi+X9k+wXe0="),
    (b"", "s3cr3t", "PIHMlJbhwlJQ9sy4X2l8G7Yj40gNZTitjLamZIFCd30="),
    ('{"name":"Caf\u00e9"}'.encode(), "k", "0/GA7xgNVDAUOeNe3+MAiUQokghSzEjCY459XODJPds="),
])
def test_signature_vectors(body, secret, vector):
    assert expected(body, secret) == vector
    assert signature(body, secret) == vector
    assert signature_valid(body, secret, vector)


def test_signature_is_over_raw_bytes_not_reserialised_json():
    body = b'{"id": 727,   "status":"processing"}'
    header = expected(body, "s3cr3t")
    assert signature_valid(body, "s3cr3t", header)
    assert not signature_valid(b'{"id":727,"status":"processing"}', "s3cr3t", header)


@pytest.mark.parametrize("header", ["", "not-base64", expected(b"{}", "other-secret")])
def test_invalid_signatures(header):
    assert not signature_valid(b"{}", "s3cr3t", header)


def test_empty_secret_never_verifies():
    assert not signature_valid(b"{}", "", expected(b"{}", ""))


@pytest.mark.parametrize(("body", "ping"), [
    (b"webhook_id=142", True),
    (b"webhook_id=abc", False),
    (b'{"webhook_id": 142}', False),
    (b"webhook_id=1&x=2", False),
    (b"", False),
])
def test_creation_ping(body, ping):
    assert is_ping(body) is ping


def test_dedupe_key_tells_apart_events_sharing_a_delivery_id():
    same = dedupe_key("abc", b'{"id":1}')
    assert same == dedupe_key("abc", b'{"id":1}')
    assert same != dedupe_key("abc", b'{"id":2}')
    assert same.startswith("abc:") and len(same) < 255
