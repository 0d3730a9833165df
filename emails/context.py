"""From data to what templates see.

Two steps. A *snapshot* is what an ``OutboundEmail`` keeps: JSON with raw values (products with
their URL and price as a decimal string, an incentive with its real expiry as an ISO datetime).
``display_context`` turns a snapshot into the recipient half of ``render``'s context: money and
dates formatted for the store, every link passed through ``links`` (the click tracker when
sending; unchanged in previews) and defaults filled in (the button's target, the check-in
answers, the eleven NPS links).

Nothing here invents a fact: an incentive without its real expiry, a bundle that saves nothing
or a comparison without both products is refused with ``ContextInvalid``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from emails.exceptions import ContextInvalid
from emails.kinds import Kind
from emails.look import StoreLook, store_home_url

# (url, label) -> the URL to put in the email.
LinkMaker = Callable[[str, str], str]

_CENT = Decimal("0.01")
_SYMBOLS = {"USD": "$", "CAD": "CA$", "AUD": "A$", "NZD": "NZ$", "EUR": "\u20ac", "GBP": "\u00a3",
            "JPY": "\u00a5", "INR": "\u20b9", "CHF": "CHF\u00a0", "SEK": "SEK\u00a0"}
_NO_DECIMALS = frozenset({"JPY", "KRW", "CLP", "ISK", "HUF"})


def untracked(url: str, label: str) -> str:
    return url


def decimal_of(value: Any, *, what: str) -> Decimal:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ContextInvalid(f"{what} is not an amount: {value!r}.", extra={"field": what}) from None
    if not amount.is_finite():
        raise ContextInvalid(f"{what} is not an amount: {value!r}.", extra={"field": what})
    return amount


def money(amount: Any, currency: str) -> str:
    """``$1,234.50``, ``\u20ac9.99``, ``\u00a51,200``; unknown currencies as ``PLN 12.00``."""
    value = decimal_of(amount, what="amount")
    sign = "-" if value < 0 else ""
    value = abs(value)
    if currency in _NO_DECIMALS:
        number = f"{value.quantize(Decimal(1), rounding=ROUND_HALF_UP):,}"
    else:
        number = f"{value.quantize(_CENT, rounding=ROUND_HALF_UP):,}"
    symbol = _SYMBOLS.get(currency)
    return f"{sign}{symbol}{number}" if symbol else f"{sign}{currency}\u00a0{number}"


def when(value: datetime | str, timezone_name: str) -> str:
    """``April 12, 2026 at 11:59 PM EDT`` in the store's time zone."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ContextInvalid(f"{value!r} is not a date and time.") from None
    if value.tzinfo is None:
        raise ContextInvalid("Dates in emails must carry their time zone.")
    local = value.astimezone(ZoneInfo(timezone_name or "UTC"))
    hour = local.hour % 12 or 12
    return (f"{local:%B} {local.day}, {local.year} at {hour}:{local:%M} "
            f"{'AM' if local.hour < 12 else 'PM'} {local.tzname()}")


def with_query(url: str, **params: Any) -> str:
    parts = urlsplit(url)
    extra = urlencode({k: v for k, v in params.items() if v is not None})
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


# Snapshots --------------------------------------------------------------------------------------

def product_snapshot(product, variant=None, *, store, features: Sequence[str] = ()) -> dict[str, Any]:
    """A product (catalog ``Product`` and one of its variants, default the first) as JSON."""
    if variant is None:
        variants = list(product.variants.all())
        variant = min(variants, key=lambda v: (v.position, v.pk)) if variants else None
    url = product.url or f"{store_home_url(store.domain)}products/{product.handle or product.external_id}"
    return {
        "id": product.external_id,
        "title": product.title,
        "url": url,
        "image_url": product.image_url,
        "price": str(variant.price) if variant is not None else None,
        "compare_at_price": (str(variant.compare_at_price)
                             if variant is not None and variant.compare_at_price else None),
        "features": list(features),
    }


def incentive_snapshot(*, code: str, expires_at: datetime, headline: str = "", url: str = "",
                       terms: str = "") -> dict[str, Any]:
    """An incentive as JSON; ``expires_at`` is the discount's real end (aware datetime)."""
    if not code:
        raise ContextInvalid("An incentive needs its code.")
    if not isinstance(expires_at, datetime) or expires_at.tzinfo is None:
        raise ContextInvalid("An incentive needs its real expiry as an aware datetime.")
    return {"code": code, "expires_at": expires_at.isoformat(), "headline": headline, "url": url,
            "terms": terms}


# Display ----------------------------------------------------------------------------------------

def _card(snap: Mapping[str, Any], *, look: StoreLook, links: LinkMaker, label: str) -> dict[str, Any]:
    if not snap.get("title") or not snap.get("url"):
        raise ContextInvalid("A product needs a title and a URL.", extra={"product": snap.get("id")})
    if snap.get("price") in (None, ""):
        raise ContextInvalid("A product needs its price.", extra={"product": snap.get("id")})
    compare_at = snap.get("compare_at_price")
    price = decimal_of(snap["price"], what="price")
    return {
        "title": snap["title"],
        "url": links(snap["url"], f"{label}:{snap.get('id', '')}"),
        "image_url": snap.get("image_url") or "",
        "price": money(price, look.currency),
        "compare_at_price": (money(compare_at, look.currency)
                             if compare_at and decimal_of(compare_at, what="compare_at_price") > price
                             else ""),
        "features": [str(f) for f in snap.get("features") or ()],
    }


def _texts(items: Any) -> list[dict[str, str]]:
    return [{"title": str(i.get("title", "")), "body": str(i.get("body", ""))} for i in items or ()]


COPY_OVERRIDE_FIELDS = ("subject", "preheader", "heading", "cta_label")


def display_context(kind: str, snapshot: Mapping[str, Any], *, look: StoreLook, first_name: str = "",
                    unsubscribe_url: str, preferences_url: str, open_pixel_url: str = "",
                    links: LinkMaker = untracked) -> dict[str, Any]:
    """The recipient half of ``render``'s context for one message."""
    ctx: dict[str, Any] = {
        "first_name": snapshot.get("first_name") or first_name,
        "unsubscribe_url": unsubscribe_url,
        "preferences_url": preferences_url,
        "open_pixel_url": open_pixel_url,
    }

    def cards(key: str) -> list[dict[str, Any]]:
        return [_card(p, look=look, links=links, label="product") for p in snapshot.get(key) or ()]

    cta_target = snapshot.get("cta_url") or look.store_url
    if kind in (Kind.COMPLEMENTS, Kind.FOLLOWUP):
        ctx["products"] = cards("products")
        ctx["reasons"] = _texts(snapshot.get("reasons"))
    elif kind == Kind.VALUE:
        if snapshot.get("product"):
            ctx["product"] = _card(snapshot["product"], look=look, links=links, label="product")
        ctx["tips"] = _texts(snapshot.get("tips"))
    elif kind == Kind.CHECKIN:
        if snapshot.get("product"):
            ctx["product"] = _card(snapshot["product"], look=look, links=links, label="product")
        answers = snapshot.get("answers") or [
            {"label": "Loving it", "url": with_query(look.feedback_url, answer="good")},
            {"label": "I have a question", "url": look.support_url},
            {"label": "It is not working for me", "url": with_query(look.feedback_url, answer="bad")},
        ]
        ctx["answers"] = [{"label": a["label"], "url": links(a["url"], f"answer:{n}")}
                          for n, a in enumerate(answers)]
        cta_target = snapshot.get("cta_url") or look.support_url
    elif kind == Kind.UPGRADE:
        if not snapshot.get("original") or not snapshot.get("upgrade"):
            raise ContextInvalid("An upgrade email compares the original and the upgrade.")
        ctx["original"] = _card(snapshot["original"], look=look, links=links, label="original")
        ctx["upgrade"] = _card(snapshot["upgrade"], look=look, links=links, label="upgrade")
        difference = (decimal_of(snapshot["upgrade"]["price"], what="price")
                      - decimal_of(snapshot["original"]["price"], what="price"))
        ctx["price_difference"] = money(difference, look.currency) if difference > 0 else ""
    elif kind == Kind.BUNDLE:
        bundle = snapshot.get("bundle") or {}
        items = bundle.get("items") or ()
        if len(items) < 2:
            raise ContextInvalid("A bundle has at least two items.")
        total = sum((decimal_of(i["price"], what="price") for i in items), Decimal(0))
        price = decimal_of(bundle.get("price"), what="bundle price")
        if not Decimal(0) < price < total:
            raise ContextInvalid("A bundle must cost less than its items bought separately.",
                                 extra={"total": str(total), "price": str(price)})
        ctx["bundle"] = {
            "title": bundle.get("title", ""),
            "items": [_card(i, look=look, links=links, label="bundle-item") for i in items],
            "total": money(total, look.currency),
            "price": money(price, look.currency),
            "saving": money(total - price, look.currency),
            "url": links(bundle.get("url") or cta_target, "bundle"),
        }
    elif kind == Kind.INCENTIVE:
        incentive = snapshot.get("incentive") or {}
        if not incentive.get("code") or not incentive.get("expires_at"):
            raise ContextInvalid("An incentive email needs the code and its real expiry date.")
        ctx["incentive"] = {
            "code": incentive["code"],
            "headline": incentive.get("headline", ""),
            "terms": incentive.get("terms", ""),
            "expires_at": when(incentive["expires_at"], look.timezone),
            "url": links(incentive.get("url") or cta_target, "incentive"),
        }
        ctx["products"] = cards("products")
    elif kind == Kind.FEEDBACK:
        base = snapshot.get("feedback_url") or look.feedback_url
        ctx["nps"] = [{"score": n, "url": links(with_query(base, score=n), f"nps:{n}")}
                      for n in range(11)]
    if kind not in (Kind.UPGRADE, Kind.BUNDLE, Kind.INCENTIVE, Kind.FEEDBACK):
        ctx["cta_url"] = links(cta_target, "cta")
    overrides = {field: str(text) for field, text in (snapshot.get("copy_overrides") or {}).items()
                 if field in COPY_OVERRIDE_FIELDS and text}
    if overrides:  # an A/B variant's copy (sequences: experiments on the subject line)
        ctx["copy_overrides"] = overrides
    return ctx
