"""How WooCommerce signs a webhook, and how we recognise its creation ping.

``X-WC-Webhook-Signature`` is base64(HMAC-SHA256(raw body, secret)), computed on the exact bytes
sent. Our companion cart endpoint uses the same scheme and the same per-store secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import parse_qs


def signature(body: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def signature_valid(body: bytes, secret: str, header: str) -> bool:
    """Constant-time comparison; an empty secret or header never verifies."""
    if not secret or not header:
        return False
    return hmac.compare_digest(signature(body, secret).encode(), header.strip().encode())


def is_ping(body: bytes) -> bool:
    """The form-encoded ``webhook_id=<id>`` WooCommerce posts when a webhook is created."""
    if len(body) > 100:
        return False
    try:
        form = parse_qs(body.decode("ascii"), strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        return False
    values = form.get("webhook_id", [])
    return set(form) == {"webhook_id"} and len(values) == 1 and values[0].isdigit()


def dedupe_key(delivery_id: str, body: bytes) -> str:
    """Delivery ids are hash(webhook id + current second): two events for one webhook in one
    second share it. The body's hash tells them apart; a true redelivery matches both."""
    return f"{delivery_id.strip()[:100]}:{hashlib.sha256(body).hexdigest()}"
