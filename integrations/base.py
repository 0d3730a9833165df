"""The contract between the platforms and the domain.

Mappers turn a platform's payloads into these frozen dataclasses; domain services take only these.
Nothing below a mapper sees a raw payload dict. Money is ``Decimal`` in the store's currency, times
are timezone-aware, external ids are strings (Shopify GIDs, WooCommerce integers as text).

``Platform`` is what each platform implements (``integrations.shopify`` and
``integrations.woocommerce``); domain code gets one through ``integrations.registry.get_platform``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Generic, Protocol, TypeVar, runtime_checkable

T = TypeVar("T")


class StockStatus(enum.StrEnum):
    IN_STOCK = "in_stock"
    OUT_OF_STOCK = "out_of_stock"
    BACKORDER = "backorder"


class ProductStatus(enum.StrEnum):
    ACTIVE = "active"
    DRAFT = "draft"
    ARCHIVED = "archived"


class ConsentState(enum.StrEnum):
    SUBSCRIBED = "subscribed"
    NOT_SUBSCRIBED = "not_subscribed"
    UNSUBSCRIBED = "unsubscribed"
    PENDING = "pending"  # double opt-in not confirmed yet
    REDACTED = "redacted"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class CollectionData:
    external_id: str
    title: str
    handle: str = ""


@dataclass(frozen=True, slots=True)
class VariantData:
    external_id: str
    title: str
    price: Decimal
    sku: str = ""
    compare_at_price: Decimal | None = None
    cost: Decimal | None = None
    inventory_quantity: int | None = None  # None: the platform does not track stock
    stock_status: StockStatus = StockStatus.IN_STOCK
    position: int = 0


@dataclass(frozen=True, slots=True)
class ProductData:
    external_id: str
    title: str
    updated_at: datetime
    variants: tuple[VariantData, ...]
    handle: str = ""
    vendor: str = ""
    product_type: str = ""
    tags: tuple[str, ...] = ()
    status: ProductStatus = ProductStatus.ACTIVE
    collections: tuple[CollectionData, ...] = ()
    description: str = ""
    image_url: str = ""
    url: str = ""
    created_at: datetime | None = None
    # The merchant's own curation (WooCommerce upsell_ids / cross_sell_ids, Shopify metafields).
    upsell_ids: tuple[str, ...] = ()
    cross_sell_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ConsentData:
    state: ConsentState
    source: str = ""  # e.g. "shopify:SINGLE_OPT_IN", "checkout", "demo"
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class CustomerData:
    external_id: str
    email: str
    updated_at: datetime
    consent: ConsentData = field(default_factory=lambda: ConsentData(ConsentState.UNKNOWN))
    first_name: str = ""
    last_name: str = ""
    timezone: str = ""
    created_at: datetime | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class OrderLineData:
    external_id: str
    title: str
    quantity: int
    unit_price: Decimal  # list price of one unit, before discounts
    total_discount: Decimal = Decimal("0")
    product_external_id: str = ""
    variant_external_id: str = ""
    sku: str = ""


@dataclass(frozen=True, slots=True)
class RefundData:
    external_id: str
    amount: Decimal
    created_at: datetime
    reason: str = ""


@dataclass(frozen=True, slots=True)
class OrderData:
    external_id: str
    placed_at: datetime
    updated_at: datetime
    currency: str
    total: Decimal
    lines: tuple[OrderLineData, ...]
    subtotal: Decimal = Decimal("0")
    discount_total: Decimal = Decimal("0")
    shipping_total: Decimal = Decimal("0")
    tax_total: Decimal = Decimal("0")
    name: str = ""
    customer_external_id: str = ""
    email: str = ""
    financial_status: str = ""
    fulfillment_status: str = ""
    cancelled_at: datetime | None = None
    discount_codes: tuple[str, ...] = ()
    refunds: tuple[RefundData, ...] = ()
    source: str = ""  # web, pos, draft...


@dataclass(frozen=True, slots=True)
class CheckoutLineData:
    title: str
    quantity: int
    unit_price: Decimal
    product_external_id: str = ""
    variant_external_id: str = ""


@dataclass(frozen=True, slots=True)
class CheckoutData:
    """An open cart or checkout, as the platform last told us about it."""

    external_id: str
    updated_at: datetime
    currency: str
    lines: tuple[CheckoutLineData, ...]
    kind: str = "checkout"  # "checkout" | "cart"
    customer_external_id: str = ""
    email: str = ""
    subtotal: Decimal = Decimal("0")
    recovery_url: str = ""
    created_at: datetime | None = None
    completed_at: datetime | None = None
    order_external_id: str = ""


@dataclass(frozen=True, slots=True)
class DiscountCodeRequest:
    """A per-recipient code with a real end date.

    Basic: ``percent_off`` or ``amount_off`` on ``product_external_ids`` (empty: everything).
    Buy X get Y: with ``buy_product_external_ids`` set, buying ``buy_quantity`` of those gives
    ``get_quantity`` of ``product_external_ids`` at ``percent_off`` (100 = a free add-on).
    Free shipping: ``free_shipping`` set and neither ``percent_off`` nor ``amount_off``.
    """

    code: str
    ends_at: datetime
    percent_off: Decimal | None = None
    amount_off: Decimal | None = None
    customer_email: str = ""
    product_external_ids: tuple[str, ...] = ()
    usage_limit: int = 1
    buy_product_external_ids: tuple[str, ...] = ()
    buy_quantity: int = 1
    get_quantity: int = 1
    free_shipping: bool = False

    @property
    def is_buy_x_get_y(self) -> bool:
        return bool(self.buy_product_external_ids)


@dataclass(frozen=True, slots=True)
class IssuedDiscount:
    code: str
    external_id: str
    ends_at: datetime


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: tuple[T, ...]
    cursor: str | None  # where the next page starts; None when this was the last


@runtime_checkable
class Platform(Protocol):
    """What every platform offers the domain. Implementations raise
    ``integrations.exceptions.RetryablePlatformError`` or ``TerminalPlatformError``."""

    name: str

    def verify_credentials(self) -> None: ...

    def register_webhooks(self) -> None: ...

    def iter_products(self, *, cursor: str | None = None,
                      updated_since: datetime | None = None) -> Iterator[Page[ProductData]]: ...

    def iter_customers(self, *, cursor: str | None = None,
                       updated_since: datetime | None = None) -> Iterator[Page[CustomerData]]: ...

    def iter_orders(self, *, cursor: str | None = None,
                    updated_since: datetime | None = None) -> Iterator[Page[OrderData]]: ...

    def create_discount_code(self, request: DiscountCodeRequest) -> IssuedDiscount: ...

    def cart_url(self, lines: Sequence[tuple[str, int]], *, discount_code: str = "") -> str: ...

    def update_marketing_consent(self, *, customer_external_id: str, email: str,
                                 state: ConsentState) -> None: ...

    def handle_webhook(self, topic: str, payload: dict, *,
                       triggered_at: datetime | None = None) -> bool:
        """Apply one verified webhook through the domain services. False: topic not handled."""
        ...
