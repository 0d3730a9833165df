"""The demo data as plain rows: the committed sample (csv module only) or the whole package.

Both sources give the same shape, so one mapper turns either into DTOs. Lines come sorted by
household, basket, time and product, so a basket's lines are consecutive.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from xsell_plugin.demo import sample
from xsell_plugin.demo.exceptions import DemoDataInvalid


@dataclass(frozen=True, slots=True)
class ProductRow:
    product_id: str
    department: str
    brand: str  # "National" | "Private"
    product_category: str
    product_type: str
    package_size: str
    list_price: Decimal


@dataclass(frozen=True, slots=True)
class LineRow:
    household_id: str
    basket_id: str
    product_id: str
    quantity: int
    sales_value: Decimal
    retail_disc: Decimal
    coupon_disc: Decimal
    coupon_match_disc: Decimal
    timestamp: datetime  # aware, UTC


@dataclass(frozen=True, slots=True)
class DemoDataset:
    label: str  # what was loaded, for the summary
    products: Mapping[str, ProductRow]  # only products the lines bought, by product id
    households: Mapping[str, datetime]  # household id -> time of its first basket
    baskets: int
    lines: int
    iter_lines: Callable[[], Iterator[LineRow]]  # can be called again


def sample_dataset(*, data_dir: Path = sample.DATA_DIR,
                   limit_households: int | None = None) -> DemoDataset:
    """The committed sample; with ``limit_households``, only the N lowest household ids."""
    transactions = data_dir / sample.TRANSACTIONS_FILE
    products_path = data_dir / sample.PRODUCTS_FILE
    for path in (transactions, products_path):
        if not path.is_file():
            raise DemoDataInvalid(f"{path.name} is missing from the demo data",
                                  extra={"file": path.name})

    def raw_lines() -> Iterator[Mapping[str, Any]]:
        yield from _csv_gz_rows(transactions, sample.TRANSACTION_COLUMNS)

    def raw_products() -> Iterator[Mapping[str, Any]]:
        yield from _csv_gz_rows(products_path, sample.PRODUCT_COLUMNS)

    return _dataset(label="committed sample", raw_lines=raw_lines, raw_products=raw_products,
                    limit_households=limit_households)


def package_dataset(*, limit_households: int | None = None) -> DemoDataset:
    """All of the package's (cleaned, priced) data; needs the demo extra."""
    frames = sample.package_frames()
    lines_frame = frames.transactions
    if limit_households is not None:
        keep = sorted(lines_frame["household_id"].unique())[:max(limit_households, 0)]
        lines_frame = lines_frame[lines_frame["household_id"].isin(keep)]
    products_frame = frames.products[frames.products["product_id"].isin(lines_frame["product_id"])]

    def raw_lines() -> Iterator[Mapping[str, Any]]:
        yield from _frame_rows(lines_frame, sample.TRANSACTION_COLUMNS)

    def raw_products() -> Iterator[Mapping[str, Any]]:
        yield from _frame_rows(products_frame, sample.PRODUCT_COLUMNS)

    return _dataset(label=f"full package data ({sample.PACKAGE_DIST})", raw_lines=raw_lines,
                    raw_products=raw_products, limit_households=None)


def _dataset(*, label: str, raw_lines: Callable[[], Iterable[Mapping[str, Any]]],
             raw_products: Callable[[], Iterable[Mapping[str, Any]]],
             limit_households: int | None) -> DemoDataset:
    # First pass: households (first basket), baskets and products bought; no line kept in memory.
    first_seen: dict[str, datetime] = {}
    baskets: set[str] = set()
    product_ids: set[str] = set()
    line_count = 0
    wanted: set[str] | None = None
    if limit_households is not None:
        ids = {str(r["household_id"]) for r in raw_lines()}
        wanted = set(sorted(ids, key=int)[:max(limit_households, 0)])

    def lines() -> Iterator[LineRow]:
        for raw in raw_lines():
            if wanted is not None and str(raw["household_id"]) not in wanted:
                continue
            yield _line(raw)

    for line in lines():
        line_count += 1
        baskets.add(line.basket_id)
        product_ids.add(line.product_id)
        seen = first_seen.get(line.household_id)
        if seen is None or line.timestamp < seen:
            first_seen[line.household_id] = line.timestamp

    products = {}
    for raw in raw_products():
        row = _product(raw)
        if row.product_id in product_ids:
            products[row.product_id] = row
    unknown = product_ids - products.keys()
    if unknown:
        raise DemoDataInvalid(f"{len(unknown)} bought products are not in the products file",
                              extra={"product_ids": sorted(unknown, key=int)[:10]})
    return DemoDataset(label=label, products=products, households=first_seen,
                       baskets=len(baskets), lines=line_count, iter_lines=lines)


def _csv_gz_rows(path: Path, columns: tuple[str, ...]) -> Iterator[dict[str, str]]:
    with gzip.open(path, "rb") as raw, io.TextIOWrapper(raw, encoding="utf-8", newline="") as text:
        reader = csv.DictReader(text)
        if tuple(reader.fieldnames or ()) != columns:
            raise DemoDataInvalid(f"{path.name} has columns {reader.fieldnames}, expected "
                                  f"{list(columns)}", extra={"file": path.name})
        yield from reader


def _frame_rows(frame, columns: tuple[str, ...]) -> Iterator[dict[str, Any]]:
    """DataFrame rows as dicts, in chunks (the full data does not fit as Python objects)."""
    chunk = 50_000
    for start in range(0, len(frame), chunk):
        part = frame.iloc[start:start + chunk]
        values = [part[c].tolist() for c in columns]
        for row in zip(*values, strict=True):
            yield dict(zip(columns, row, strict=True))


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):  # None / NaN
        return ""
    return str(value).strip()


def _money(value: Any) -> Decimal:
    """A CSV string ("1.29") or a package float (1.29) as an exact amount in cents."""
    try:
        if isinstance(value, str):
            return Decimal(value).quantize(sample.CENT)
        return sample.price_round(value)
    except (InvalidOperation, ValueError, TypeError):
        raise DemoDataInvalid(f"{value!r} is not an amount") from None


def _timestamp(value: Any) -> datetime:
    # A CSV string, or a pandas Timestamp from the package data.
    at = datetime.fromisoformat(value) if isinstance(value, str) else value.to_pydatetime()
    if at.tzinfo is None:  # the package's naive timestamps are UTC (see sample.SOURCE_TIMEZONE)
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC)


def _line(raw: Mapping[str, Any]) -> LineRow:
    try:
        return LineRow(
            household_id=str(int(raw["household_id"])), basket_id=str(int(raw["basket_id"])),
            product_id=str(int(raw["product_id"])), quantity=int(raw["quantity"]),
            sales_value=_money(raw["sales_value"]), retail_disc=_money(raw["retail_disc"]),
            coupon_disc=_money(raw["coupon_disc"]),
            coupon_match_disc=_money(raw["coupon_match_disc"]),
            timestamp=_timestamp(raw["transaction_timestamp"]),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise DemoDataInvalid(f"bad transaction line {dict(raw)!r}: {exc}") from None


def _product(raw: Mapping[str, Any]) -> ProductRow:
    try:
        return ProductRow(
            product_id=str(int(raw["product_id"])), department=_text(raw["department"]),
            brand=_text(raw["brand"]), product_category=_text(raw["product_category"]),
            product_type=_text(raw["product_type"]), package_size=_text(raw["package_size"]),
            list_price=_money(raw["list_price"]),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise DemoDataInvalid(f"bad product row {dict(raw)!r}: {exc}") from None
