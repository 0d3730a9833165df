"""Email previews for the admin: a kind rendered with the store's look and either the snapshot
the merchant gives or a sample built from the store's own catalogue. Reads only; links are not
tracked and nothing is recorded."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.utils import timezone

from emails.context import display_context, product_snapshot
from emails.kinds import Kind
from emails.rendering import RenderedEmail, render
from emails.selectors import store_look
from xsell_plugin.catalog.models import Product
from xsell_plugin.stores.models import Store

_PLACEHOLDER = {"title": "Sample product", "price": "24.00", "compare_at_price": None, "image_url": ""}


def _sample_products(store: Store, n: int) -> list[dict[str, Any]]:
    products = list(
        Product.objects.for_store(store)
        .filter(status=Product.Status.ACTIVE)
        .prefetch_related("variants")
        .order_by("pk")[: n * 3]
    )
    snaps = [s for s in (product_snapshot(p, store=store) for p in products) if s["price"]][:n]
    while len(snaps) < n:
        i = len(snaps) + 1
        snaps.append(
            {
                **_PLACEHOLDER,
                "id": f"sample-{i}",
                "title": f"Sample product {i}",
                "url": f"https://{store.domain}/products/sample-{i}",
            }
        )
    return snaps


def sample_snapshot(store: Store, kind: str) -> dict[str, Any]:
    """A realistic snapshot of ``kind`` from the store's catalogue (placeholders when empty)."""
    products = _sample_products(store, 3)
    if kind in (Kind.COMPLEMENTS, Kind.FOLLOWUP):
        return {"products": products}
    if kind in (Kind.VALUE, Kind.CHECKIN):
        return {"product": products[0]}
    if kind == Kind.UPGRADE:
        cheap, dear = sorted(products[:2], key=lambda p: Decimal(p["price"]))
        if Decimal(dear["price"]) <= Decimal(cheap["price"]):
            dear = {**dear, "price": str(Decimal(cheap["price"]) + Decimal("10.00"))}
        return {"original": cheap, "upgrade": dear}
    if kind == Kind.BUNDLE:
        total = sum(Decimal(p["price"]) for p in products[:2])
        return {
            "bundle": {
                "title": "Better together",
                "items": products[:2],
                "price": str((total * Decimal("0.9")).quantize(Decimal("0.01"))),
            }
        }
    if kind == Kind.INCENTIVE:
        return {
            "incentive": {
                "code": "PREVIEW10",
                "headline": "10% off your next order",
                "expires_at": (timezone.now() + timedelta(days=7)).isoformat(),
            },
            "products": products[:2],
        }
    return {}


def email_preview(
    *, store: Store, kind: str, snapshot: dict[str, Any] | None = None, first_name: str = "Alex"
) -> RenderedEmail:
    look = store_look(store=store)
    base = settings.XSELL_PUBLIC_URL
    display = display_context(
        kind,
        snapshot if snapshot is not None else sample_snapshot(store, kind),
        look=look,
        first_name=first_name,
        unsubscribe_url=f"{base}/u/preview",
        preferences_url=f"{base}/p/preview",
    )
    return render(kind, {"store": store, "look": look, **display})
