"""``core.upsert``'s fast paths give the database exactly what Django's fields would, and the
backfill write path stays lean: a fixed number of statements per page, whatever its size."""

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from tests.factories import OrderDataFactory, OrderLineDataFactory, ProductDataFactory
from xsell_plugin.catalog.models import Product, Variant
from xsell_plugin.catalog.services import products_upsert
from xsell_plugin.core.upsert import _converter, insert_rows, rows_where_in, upsert_rows
from xsell_plugin.orders.models import Order, OrderLine
from xsell_plugin.orders.services import orders_upsert

pytestmark = pytest.mark.django_db

SAMPLES = {
    "DateTimeField": [None, datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
                      datetime(2026, 7, 1, 23, 30, tzinfo=ZoneInfo("America/New_York")),
                      datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=5, minutes=30)))],
    "DecimalField": [None, Decimal("12.50"), Decimal("0"), Decimal("-3.1"), 7, "4.20", 1.5],
    "CharField": [None, "", "text", "ünïcödé", 12],
    "IntegerField": [None, 0, -4, 2**40, "17"],
    "JSONField": [[], ["a", "b"], {"k": [1, 2]}, None],
    "ForeignKey": [None, 1, 42],
    "BooleanField": [True, False],
}


def _plain(value):
    """psycopg's Jsonb wrapper has no equality; compare what it wraps."""
    return getattr(value, "obj", value)


def _fields():
    for model in (Order, OrderLine, Product, Variant):
        for field in model._meta.concrete_fields:
            if not field.primary_key:
                yield field


@pytest.mark.parametrize("field", list(_fields()), ids=lambda f: f"{f.model.__name__}.{f.name}")
def test_converters_match_django(field):
    convert = _converter(field, connection)
    kind = field.get_internal_type()
    if "Integer" in kind:
        kind = "IntegerField"
    for value in SAMPLES.get(kind, SAMPLES["CharField"]):
        if value is None and not field.null and kind == "JSONField":
            continue
        assert _plain(convert(value)) == _plain(field.get_db_prep_save(value, connection)), (field, value)


def test_a_naive_datetime_still_goes_through_django():
    field = Order._meta.get_field("placed_at")
    with pytest.warns(RuntimeWarning, match="naive datetime"):
        converted = _converter(field, connection)(datetime(2026, 1, 1, 12))
    assert converted == field.get_db_prep_save(datetime(2026, 1, 1, 12, tzinfo=UTC), connection)


def test_a_date_is_converted_like_django():
    field = Order._meta.get_field("placed_at")
    with pytest.warns(RuntimeWarning):
        expected = field.get_db_prep_save(date(2026, 1, 1), connection)
    with pytest.warns(RuntimeWarning):
        assert _converter(field, connection)(date(2026, 1, 1)) == expected


def test_insert_rows_refuses_an_existing_row(store):
    order = OrderDataFactory(lines=(OrderLineDataFactory(external_id="l1"),))
    orders_upsert(store=store, orders=[order])
    line = OrderLine.objects.for_store(store).values().get()
    line.pop("id")
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_rows(OrderLine, [line])
    insert_rows(OrderLine, [line], ignore_conflicts=("store_id", "order_id", "external_id"))
    assert OrderLine.objects.for_store(store).count() == 1


def test_rows_where_in_is_tenant_scoped(store, other_store):
    products_upsert(store=store, products=[ProductDataFactory(external_id="p1")])
    products_upsert(store=other_store, products=[ProductDataFactory(external_id="p1")])
    mine = Product.objects.for_store(store).get()
    assert rows_where_in(Product, store_id=store.pk, field="external_id", values=["p1", "", None],
                         columns=("pk", "external_id")) == [(mine.pk, "p1")]


def test_upsert_without_returning_still_guards_versions(store):
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    row = {"store_id": store.pk, "external_id": "p", "title": "new", "source_updated_at": t0}
    assert upsert_rows(Product, [row], unique=("store_id", "external_id"),
                       update=("title", "source_updated_at"), version="source_updated_at",
                       returning=False) == {}
    older = {**row, "title": "old", "source_updated_at": t0 - timedelta(days=1)}
    upsert_rows(Product, [older], unique=("store_id", "external_id"),
                update=("title", "source_updated_at"), version="source_updated_at", returning=False)
    assert Product.objects.for_store(store).get().title == "new"


def test_an_orders_page_takes_the_same_statements_whatever_its_size(store):
    products = ProductDataFactory.build_batch(3)
    products_upsert(store=store, products=products)

    def page(size: int) -> list[str]:
        orders = [OrderDataFactory(
            customer_external_id=f"c{n}",
            lines=tuple(OrderLineDataFactory(product_external_id=p.external_id,
                                             variant_external_id=p.variants[0].external_id)
                        for p in products[:2])) for n in range(size)]
        with CaptureQueriesContext(connection) as queries:
            orders_upsert(store=store, orders=orders)
        return [q["sql"].split()[-1] if q["sql"][0].isdigit() else q["sql"].split()[0]
                for q in queries.captured_queries]

    small, large = page(5), page(120)
    # customers; orders; the lines and refunds they had; products; variants; new lines (one
    # executemany), plus the transaction's own statements: never a statement per row
    assert small == large
    assert len([s for s in small if s in ("SELECT", "INSERT")]) <= 7, small
    assert OrderLine.objects.for_store(store).count() == 2 * 125
    assert OrderLine.objects.for_store(store).filter(product__isnull=True).count() == 0
