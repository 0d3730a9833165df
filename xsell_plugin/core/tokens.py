"""Signed, expiring, purpose-bound tokens for links (clicks, unsubscribe, preferences, login).

A token signed for one purpose never verifies for another (the purpose is the signing salt),
tampering is detected, and ``max_age`` bounds its life. Payloads are small JSON values.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core import signing

from xsell_plugin.core.exceptions import TokenExpired, TokenInvalid

_SALT_PREFIX = "xsell.token."


def make_token(purpose: str, payload: Any) -> str:
    if not purpose:
        raise ValueError("a token needs a purpose")
    return signing.dumps(payload, salt=_SALT_PREFIX + purpose, compress=True)


def read_token(purpose: str, token: str, *, max_age: timedelta | None) -> Any:
    """The payload, or ``TokenExpired`` / ``TokenInvalid`` (both answer 404 from views)."""
    try:
        return signing.loads(token, salt=_SALT_PREFIX + purpose, max_age=max_age)
    except signing.SignatureExpired:
        raise TokenExpired() from None
    except (signing.BadSignature, ValueError, UnicodeDecodeError):
        raise TokenInvalid() from None
