"""Pure mapping of demo rows (``dataset``) to the platform DTOs the upsert services take.

Everything here is deterministic: the same rows give the same DTOs, timestamps included, so
loading the demo twice writes the same values. What the data does not have is derived, and
documented in ``data/README.md``: product costs (a gross margin per department), stock levels
(from a hash of the product id) and email consent (from a hash of the household id).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from django.utils.text import slugify

from integrations.base import (
    CollectionData,
    ConsentData,
    ConsentState,
    CustomerData,
    OrderData,
    OrderLineData,
    ProductData,
    StockStatus,
    VariantData,
)
from xsell_plugin.demo.dataset import LineRow, ProductRow
from xsell_plugin.demo.sample import STORE_TIMEZONE

CURRENCY = "USD"
STORE_TZ = ZoneInfo(STORE_TIMEZONE)
# The data ends with 2017: every catalogue and customer row is "as of" the first moment of 2018.
DEMO_AS_OF = datetime(2018, 1, 1, tzinfo=STORE_TZ)
CONSENT_SOURCE = "demo"
EMAIL_DOMAIN = "demo.invalid"  # RFC 2606: .invalid can never be delivered

# Share of customers who subscribed to email marketing (the rest: not subscribed).
SUBSCRIBED_PERCENT = 85
# Synthetic stock: this share of products is out of stock, the next share has 1-5 units.
OUT_OF_STOCK_PERCENT = 5
LOW_STOCK_PERCENT = 10

# Gross margin by department (share of the price that is margin): cost = price x (1 - margin).
# The data has no costs; these are typical US supermarket department margins, chosen for the
# demo and documented in data/README.md.
DEFAULT_MARGIN = Decimal("0.30")
DEPARTMENT_MARGINS: dict[str, Decimal] = {
    "GROCERY": Decimal("0.28"),
    "FROZEN GROCERY": Decimal("0.28"),
    "PRODUCE": Decimal("0.40"),
    "MEAT": Decimal("0.30"),
    "MEAT-PCKGD": Decimal("0.28"),
    "SEAFOOD": Decimal("0.32"),
    "SEAFOOD-PCKGD": Decimal("0.30"),
    "DELI": Decimal("0.45"),
    "PASTRY": Decimal("0.50"),
    "SALAD BAR": Decimal("0.55"),
    "CHEF SHOPPE": Decimal("0.50"),
    "RESTAURANT": Decimal("0.60"),
    "FLORAL": Decimal("0.50"),
    "GARDEN CENTER": Decimal("0.40"),
    "DRUG GM": Decimal("0.35"),
    "NUTRITION": Decimal("0.35"),
    "COSMETICS": Decimal("0.40"),
    "SPIRITS": Decimal("0.22"),
    "MISCELLANEOUS": Decimal("0.25"),
    "TRAVEL & LEISURE": Decimal("0.35"),
}

_CENT = Decimal("0.01")
_SMALL_WORDS = frozenset({"a", "an", "and", "as", "at", "by", "for", "in", "n", "of", "on", "or",
                          "the", "to", "w", "with"})
_ACRONYMS = frozenset({"BBQ", "CD", "DVD", "DXM", "GM", "HBC", "IQF", "OJ", "OTC", "QSR", "TV",
                       "USA"})
_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)*")


# Titles ---------------------------------------------------------------------------------------

def title_case(text: str) -> str:
    """ "BREAD:ITALIAN/FRENCH" -> "Bread: Italian/French"; drops a truncated "(..." tail."""
    text = " ".join(text.split())
    if text.count("(") > text.count(")"):
        text = text[:text.rfind("(")]
    text = re.sub(r"\s*:\s*", ": ", text)
    text = re.sub(r"\s*&\s*", " & ", text).strip(" :-/")

    def word(match: re.Match[str]) -> str:
        w = match.group()
        if w.upper() in _ACRONYMS:
            return w.upper()
        if match.start() > 0 and w.lower() in _SMALL_WORDS:
            return w.lower()
        return w[:1].upper() + w[1:].lower()

    return _WORD.sub(word, text)


def package_size_text(size: str) -> str:
    """ "50 OZ" -> "50 oz", "1 L" -> "1 L", "300 CT(1)" -> "300 ct(1)"."""
    size = " ".join(size.split())
    return _WORD.sub(lambda m: "L" if m.group() in ("L", "l") else m.group().lower(), size)


def product_title(row: ProductRow) -> str:
    name = (title_case(row.product_type) or title_case(row.product_category)
            or title_case(row.department) or f"Item {row.product_id}")
    prefix = "Private-label " if row.brand == "Private" else ""
    size = package_size_text(row.package_size)
    return f"{prefix}{name}, {size}" if size else f"{prefix}{name}"


# Derived values -------------------------------------------------------------------------------

def stable_bucket(purpose: str, key: str, buckets: int = 100) -> int:
    """A deterministic 0..buckets-1 from a key (unlike hash(), the same in every process)."""
    digest = hashlib.sha256(f"xsell-demo:{purpose}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % buckets


def department_margin(department: str) -> Decimal:
    return DEPARTMENT_MARGINS.get(department.upper(), DEFAULT_MARGIN)


def variant_cost(price: Decimal, department: str) -> Decimal:
    """Rounded down to the cent, so the cost is always below a positive price."""
    return (price * (1 - department_margin(department))).quantize(_CENT, rounding=ROUND_DOWN)


def stock_level(product_id: str) -> tuple[int, StockStatus]:
    """Synthetic inventory: ~5 % out of stock, ~10 % low (1-5 units), the rest 6-200."""
    bucket = stable_bucket("stock", product_id)
    spread = stable_bucket("stock-quantity", product_id, 1000)
    if bucket < OUT_OF_STOCK_PERCENT:
        return 0, StockStatus.OUT_OF_STOCK
    if bucket < OUT_OF_STOCK_PERCENT + LOW_STOCK_PERCENT:
        return 1 + spread % 5, StockStatus.IN_STOCK
    return 6 + spread % 195, StockStatus.IN_STOCK


def consent_state(household_id: str) -> ConsentState:
    if stable_bucket("consent", household_id) < SUBSCRIBED_PERCENT:
        return ConsentState.SUBSCRIBED
    return ConsentState.NOT_SUBSCRIBED


def customer_email(household_id: str) -> str:
    return f"household-{household_id}@{EMAIL_DOMAIN}"


def variant_external_id(product_id: str) -> str:
    return f"{product_id}-1"


# DTOs -----------------------------------------------------------------------------------------

def product_data(row: ProductRow) -> ProductData:
    if row.list_price <= 0:
        raise ValueError(f"product {row.product_id} has no positive list price")
    title = product_title(row)
    quantity, status = stock_level(row.product_id)
    department = title_case(row.department)
    category = title_case(row.product_category)
    tags = tuple(dict.fromkeys(t for t in (department, category) if t))
    collections = (
        (CollectionData(external_id=f"department-{slugify(row.department)}", title=department,
                        handle=slugify(row.department)),)
        if department else ()
    )
    return ProductData(
        external_id=row.product_id,
        title=title,
        handle=f"{slugify(title)}-{row.product_id}",
        updated_at=DEMO_AS_OF,
        vendor="Private label" if row.brand == "Private" else "National brand",
        product_type=title_case(row.product_type),
        tags=tags,
        collections=collections,
        variants=(
            VariantData(
                external_id=variant_external_id(row.product_id),
                title=package_size_text(row.package_size) or "Default",
                sku=f"CJ-{row.product_id}",
                price=row.list_price,
                cost=variant_cost(row.list_price, row.department),
                inventory_quantity=quantity,
                stock_status=status,
            ),
        ),
    )


def customer_data(household_id: str, first_seen: datetime) -> CustomerData:
    return CustomerData(
        external_id=household_id,
        email=customer_email(household_id),
        updated_at=DEMO_AS_OF,
        created_at=first_seen.astimezone(STORE_TZ),
        timezone=STORE_TIMEZONE,
        consent=ConsentData(state=consent_state(household_id), source=CONSENT_SOURCE,
                            updated_at=DEMO_AS_OF),
    )


def order_data(lines: Sequence[LineRow], titles: Mapping[str, str]) -> OrderData:
    """One basket (its lines, all of one household) as one paid order.

    Lines of the same product are summed. unit_price is the list unit price ((sales_value +
    retail_disc + coupon_match_disc) / quantity, to the cent); total_discount is retail_disc +
    coupon_disc + coupon_match_disc, capped so no line goes below zero. subtotal is the sum of
    unit_price x quantity, total = subtotal - discount_total = the sum of the line totals.
    """
    if not lines:
        raise ValueError("a basket has at least one line")
    first = lines[0]
    if any(ln.basket_id != first.basket_id or ln.household_id != first.household_id
           for ln in lines):
        raise ValueError(f"lines of basket {first.basket_id} mix baskets or households")
    placed_at = min(ln.timestamp for ln in lines).astimezone(STORE_TZ)

    grouped: dict[str, list[LineRow]] = {}
    for ln in lines:
        grouped.setdefault(ln.product_id, []).append(ln)
    order_lines = []
    subtotal = discount_total = Decimal("0")
    for product_id in sorted(grouped, key=int):
        group = grouped[product_id]
        quantity = sum(ln.quantity for ln in group)
        list_amount = sum((ln.sales_value + ln.retail_disc + ln.coupon_match_disc for ln in group),
                          Decimal("0"))
        unit_price = max(list_amount / quantity, Decimal("0")).quantize(_CENT, ROUND_HALF_UP)
        amount = unit_price * quantity
        discount = sum((ln.retail_disc + ln.coupon_disc + ln.coupon_match_disc for ln in group),
                       Decimal("0"))
        discount = min(max(discount, Decimal("0")), amount)
        subtotal += amount
        discount_total += discount
        order_lines.append(OrderLineData(
            external_id=product_id, title=titles.get(product_id, f"Item {product_id}"),
            quantity=quantity, unit_price=unit_price, total_discount=discount,
            product_external_id=product_id, variant_external_id=variant_external_id(product_id),
            sku=f"CJ-{product_id}",
        ))
    return OrderData(
        external_id=first.basket_id,
        name=f"#{first.basket_id}",
        placed_at=placed_at,
        updated_at=placed_at,
        currency=CURRENCY,
        subtotal=subtotal,
        discount_total=discount_total,
        total=subtotal - discount_total,
        lines=tuple(order_lines),
        customer_external_id=first.household_id,
        email=customer_email(first.household_id),
        financial_status="paid",
        fulfillment_status="fulfilled",
        source="pos",  # in-store baskets
    )
