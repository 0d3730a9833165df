"""A platform that lives in memory: it stands where Shopify or WooCommerce would (the network
edge) so the shared ingestion code can be tested on its own. Real platform clients are tested
against loopback HTTP fakes in their own suites."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from integrations.base import Page, ProductData, VariantData
from integrations.exceptions import PlatformNotReady, RetryablePlatformError, TerminalPlatformError
from xsell_plugin.catalog.services import product_upsert


@dataclass
class Script:
    """What the fake platform serves and how it misbehaves, shared by every instance."""

    products: list[ProductData] = field(default_factory=list)
    page_size: int = 10
    fail_at_page: dict[int, Exception] = field(default_factory=dict)  # page index -> error, once
    served_cursors: list[str | None] = field(default_factory=list)
    handled: list[tuple[str, dict]] = field(default_factory=list)
    webhook_error: Exception | None = None


SCRIPT = Script()


def product(n: int, updated_at: datetime) -> ProductData:
    return ProductData(
        external_id=f"p{n}", title=f"Product {n}", updated_at=updated_at,
        variants=(VariantData(external_id=f"v{n}", title="Default", price=Decimal("10.00")),),
    )


class FakePlatform:
    name = "fake"

    def __init__(self, store):
        self.store = store

    def _pages(self, items, cursor):
        start = int(cursor or 0)
        SCRIPT.served_cursors.append(cursor)
        for index, offset in enumerate(range(start, len(items), SCRIPT.page_size)):
            page_number = offset // SCRIPT.page_size
            error = SCRIPT.fail_at_page.pop(page_number, None)
            if error is not None:
                raise error
            end = offset + SCRIPT.page_size
            yield Page(tuple(items[offset:end]), str(end) if end < len(items) else None)
            del index

    def iter_products(self, *, cursor=None, updated_since=None):
        items = [p for p in SCRIPT.products if updated_since is None or p.updated_at >= updated_since]
        return self._pages(items, cursor)

    def iter_customers(self, *, cursor=None, updated_since=None):
        return self._pages([], cursor)

    def iter_orders(self, *, cursor=None, updated_since=None):
        return self._pages([], cursor)

    def handle_webhook(self, topic, payload, *, triggered_at=None):
        if SCRIPT.webhook_error is not None:
            raise SCRIPT.webhook_error
        if topic != "products/update":
            return False
        SCRIPT.handled.append((topic, payload))
        product_upsert(store=self.store, product=product(payload["n"], datetime.fromisoformat(
            payload["updated_at"])))
        return True

    def verify_credentials(self): ...
    def register_webhooks(self): ...
    def create_discount_code(self, request): raise TerminalPlatformError("not offered")
    def cart_url(self, lines, *, discount_code=""): return ""
    def update_marketing_consent(self, *, customer_external_id, email, state): ...


__all__ = ["SCRIPT", "FakePlatform", "PlatformNotReady", "RetryablePlatformError", "Script",
           "TerminalPlatformError"]
