"""The links in a sent email: signed opaque tokens, never URLs.

* ``/t/c/<token>``: a click. The token names a ``TrackedLink`` row (store, message, position);
  the destination is read from that row, so a token can only lead where the message pointed.
* ``/t/o/<token>``: the open pixel (optional).
* ``/u/<token>``: one-click unsubscribe (RFC 8058 POST, or a confirmation page on GET).
* ``/p/<token>``: the preference page.

Every token is signed for one purpose (``core.tokens``) and carries the store id; views look rows
up through ``for_store`` of that store, so a token of one store cannot reach another's data.
Unsubscribe and preference links never expire (an old email must still let people leave).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from django.conf import settings

from xsell_plugin.core.exceptions import TokenInvalid
from xsell_plugin.core.tokens import make_token, read_token

CLICK = "email-click"
OPEN = "email-open"
UNSUBSCRIBE = "email-unsubscribe"
PREFERENCES = "email-preferences"

CLICK_MAX_AGE = timedelta(days=400)


def _public(path: str) -> str:
    return f"{settings.XSELL_PUBLIC_URL}{path}"


def click_url(*, store_id: int, outbound_id: int, position: int) -> str:
    return _public(f"/t/c/{make_token(CLICK, [store_id, outbound_id, position])}")


def open_pixel_url(*, store_id: int, outbound_id: int) -> str:
    return _public(f"/t/o/{make_token(OPEN, [store_id, outbound_id])}")


def unsubscribe_token(*, store_id: int, customer_id: int, outbound_id: int | None) -> str:
    return make_token(UNSUBSCRIBE, [store_id, customer_id, outbound_id])


def unsubscribe_url(*, store_id: int, customer_id: int, outbound_id: int | None) -> str:
    token = unsubscribe_token(store_id=store_id, customer_id=customer_id, outbound_id=outbound_id)
    return _public(f"/u/{token}")


def unsubscribe_mailto(*, mailbox: str, store_id: int, customer_id: int, outbound_id: int | None) -> str:
    token = unsubscribe_token(store_id=store_id, customer_id=customer_id, outbound_id=outbound_id)
    return f"mailto:{mailbox}?subject={quote('unsubscribe ' + token)}"


def preferences_url(*, store_id: int, customer_id: int, sequence_id: int | None) -> str:
    return _public(f"/p/{make_token(PREFERENCES, [store_id, customer_id, sequence_id])}")


def _ints(payload: Any, size: int, *, optional_last: bool = False) -> tuple:
    if not isinstance(payload, list) or len(payload) != size:
        raise TokenInvalid()
    for n, value in enumerate(payload):
        if value is None and optional_last and n == size - 1:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise TokenInvalid()
    return tuple(payload)


def read_click(token: str) -> tuple[int, int, int]:
    return _ints(read_token(CLICK, token, max_age=CLICK_MAX_AGE), 3)


def read_open(token: str) -> tuple[int, int]:
    return _ints(read_token(OPEN, token, max_age=CLICK_MAX_AGE), 2)


def read_unsubscribe(token: str) -> tuple[int, int, int | None]:
    return _ints(read_token(UNSUBSCRIBE, token, max_age=None), 3, optional_last=True)


def read_preferences(token: str) -> tuple[int, int, int | None]:
    return _ints(read_token(PREFERENCES, token, max_age=None), 3, optional_last=True)


def utm_tagged(url: str, *, campaign: str, content: str = "") -> str:
    """``url`` with ``utm_source=xsell&utm_medium=email&utm_campaign=...``; a URL that already
    has UTM tags (the merchant's own) and non-http(s) URLs are left alone."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return url
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any(k.startswith("utm_") for k, _ in query):
        return url
    query += [("utm_source", "xsell"), ("utm_medium", "email"), ("utm_campaign", campaign)]
    if content:
        query.append(("utm_content", content))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


@dataclass(frozen=True, slots=True)
class LinkRecord:
    position: int
    url: str
    label: str


class LinkTracker:
    """The ``links`` callable for ``emails.context.display_context`` when sending: each distinct
    destination gets a position and a click URL; ``records`` are then saved as ``TrackedLink``
    rows (``tracking.services.tracked_links_save``) before the message leaves."""

    def __init__(self, *, store_id: int, outbound_id: int, campaign: str) -> None:
        self.store_id = store_id
        self.outbound_id = outbound_id
        self.campaign = campaign
        self.records: list[LinkRecord] = []
        self._by_url: dict[str, str] = {}

    def __call__(self, url: str, label: str) -> str:
        tagged = utm_tagged(url, campaign=self.campaign, content=label.split(":", 1)[0])
        known = self._by_url.get(tagged)
        if known is not None:
            return known
        position = len(self.records)
        self.records.append(LinkRecord(position=position, url=tagged, label=label[:120]))
        tracked = click_url(store_id=self.store_id, outbound_id=self.outbound_id, position=position)
        self._by_url[tagged] = tracked
        return tracked
