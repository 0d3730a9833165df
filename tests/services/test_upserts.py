"""Upsert services: idempotent, never rolled back by stale data, tenant-scoped."""

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integrations.base import CollectionData, ConsentData, ConsentState, RefundData
from tests.factories import (
    T0,
    CheckoutDataFactory,
    CustomerDataFactory,
    OrderDataFactory,
    OrderLineDataFactory,
    ProductDataFactory,
    VariantDataFactory,
)
from xsell_plugin.activity.models import ActivityEvent, Checkout
from xsell_plugin.activity.services import activity_event_record, checkouts_upsert
from xsell_plugin.catalog.models import Collection, Product, ProductCollection, Variant
from xsell_plugin.catalog.services import (
    product_mark_deleted,
    product_upsert,
    products_upsert,
    variant_stock_set,
    variants_upsert,
)
from xsell_plugin.core.exceptions import NotFound
from xsell_plugin.customers.models import Customer, Suppression
from xsell_plugin.customers.services import (
    customer_consent_set,
    customer_upsert,
    customers_upsert,
    suppression_add,
)
from xsell_plugin.orders.models import Order, OrderLine, Refund
from xsell_plugin.orders.services import order_upsert, orders_upsert

pytestmark = pytest.mark.django_db


def snapshot(model, store):
    fields = [f.attname for f in model._meta.concrete_fields if f.attname not in {"id", "updated_at"}]
    return sorted(model.objects.for_store(store).values_list(*fields))


class TestProducts:
    def test_insert_then_replay_changes_nothing(self, store):
        products = ProductDataFactory.build_batch(5)
        first = products_upsert(store=store, products=products)
        before = [snapshot(m, store) for m in (Product, Variant, Collection, ProductCollection)]
        again = products_upsert(store=store, products=products)
        after = [snapshot(m, store) for m in (Product, Variant, Collection, ProductCollection)]

        assert (first.received, first.applied) == (5, 5)
        assert again.received == 5
        assert before == after
        assert Product.objects.for_store(store).count() == 5
        assert Variant.objects.for_store(store).count() == 5
        assert Collection.objects.for_store(store).count() == 1

    def test_fields_are_stored(self, store):
        data = ProductDataFactory(
            title="Aero 14 Laptop", tags=("electronics", "laptops"),
            variants=(VariantDataFactory(external_id="v1", price=Decimal("1299.99"),
                                         compare_at_price=Decimal("1499.00"), cost=Decimal("900.10"),
                                         inventory_quantity=3),),
        )
        assert product_upsert(store=store, product=data)
        product = Product.objects.for_store(store).get(external_id=data.external_id)
        variant = product.variants.get()
        assert (product.title, product.tags, product.product_type) == (
            "Aero 14 Laptop", ["electronics", "laptops"], "Laptop")
        assert (variant.price, variant.compare_at_price, variant.cost, variant.inventory_quantity) == (
            Decimal("1299.99"), Decimal("1499.00"), Decimal("900.10"), 3)
        assert product.source_updated_at == T0
        assert [c.title for c in product.collections.all()] == ["Computers"]

    def test_stale_update_is_skipped_and_newer_applies(self, store):
        data = ProductDataFactory(title="v2", updated_at=T0 + timedelta(hours=2))
        product_upsert(store=store, product=data)

        stale = replace(data, title="v1", updated_at=T0 + timedelta(hours=1))
        assert product_upsert(store=store, product=stale) is False
        assert Product.objects.for_store(store).get().title == "v2"

        newer = replace(data, title="v3", updated_at=T0 + timedelta(hours=3))
        assert product_upsert(store=store, product=newer) is True
        assert Product.objects.for_store(store).get().title == "v3"

    def test_variants_and_collections_follow_the_latest_product(self, store):
        v1, v2, v3 = (VariantDataFactory(external_id=f"v{i}") for i in (1, 2, 3))
        shoes = CollectionData("c-shoes", "Shoes")
        data = ProductDataFactory(variants=(v1, v2))
        product_upsert(store=store, product=data)
        product_upsert(store=store, product=replace(
            data, variants=(v2, v3), collections=(shoes,), updated_at=T0 + timedelta(minutes=5)))

        product = Product.objects.for_store(store).get()
        assert sorted(product.variants.values_list("external_id", flat=True)) == ["v2", "v3"]
        assert [c.external_id for c in product.collections.all()] == ["c-shoes"]

    def test_duplicates_in_one_batch_keep_the_newest(self, store):
        old = ProductDataFactory(external_id="p1", title="old", updated_at=T0)
        new = replace(old, title="new", updated_at=T0 + timedelta(seconds=1))
        result = products_upsert(store=store, products=[new, old])
        assert result.applied == 1
        assert Product.objects.for_store(store).get().title == "new"

    def test_delete_keeps_the_row_but_marks_it(self, store):
        data = ProductDataFactory(external_id="p1")
        product_upsert(store=store, product=data)
        assert product_mark_deleted(store=store, external_id="p1", deleted_at=T0 + timedelta(days=1))
        assert Product.objects.for_store(store).get().status == Product.Status.DELETED
        # a late update from before the deletion does not resurrect it
        assert not product_upsert(store=store, product=replace(data, updated_at=T0 + timedelta(hours=1)))
        assert Product.objects.for_store(store).get().status == Product.Status.DELETED

    def test_stock_updates_respect_time(self, store):
        data = ProductDataFactory(variants=(VariantDataFactory(external_id="v1", inventory_quantity=5),))
        product_upsert(store=store, product=data)
        assert variant_stock_set(store=store, external_id="v1", quantity=0,
                                 updated_at=T0 + timedelta(hours=2))
        assert not variant_stock_set(store=store, external_id="v1", quantity=7,
                                     updated_at=T0 + timedelta(hours=1))
        variant = Variant.objects.for_store(store).get()
        assert (variant.inventory_quantity, variant.stock_status, variant.available) == (
            0, Variant.StockStatus.OUT_OF_STOCK, False)

    def test_variants_of_a_known_product(self, store, other_store):
        product_upsert(store=store, product=ProductDataFactory(
            external_id="p1", variants=(VariantDataFactory(external_id="v1", price=Decimal("10")),)))
        later = T0 + timedelta(hours=1)
        result = variants_upsert(store=store, product_external_id="p1", updated_at=later, variants=[
            VariantDataFactory(external_id="v1", price=Decimal("12")),
            VariantDataFactory(external_id="v2", price=Decimal("15"))])
        assert (result.received, result.applied) == (2, 2)
        assert sorted(Variant.objects.for_store(store).values_list("external_id", "price")) == [
            ("v1", Decimal("12.00")), ("v2", Decimal("15.00"))]
        # stale variant data is skipped, and another store's product is unknown here
        assert variants_upsert(store=store, product_external_id="p1", updated_at=T0, variants=[
            VariantDataFactory(external_id="v1", price=Decimal("1"))]).applied == 0
        with pytest.raises(NotFound):
            variants_upsert(store=other_store, product_external_id="p1", updated_at=later,
                            variants=[VariantDataFactory()])

    @settings(max_examples=25, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(order=st.permutations(range(6)))
    def test_any_delivery_order_ends_at_the_newest_version(self, store, order):
        Product.objects.for_store(store).delete()
        versions = [ProductDataFactory.build(external_id="p", title=f"v{i}",
                                             updated_at=T0 + timedelta(minutes=i)) for i in range(6)]
        for i in order:
            product_upsert(store=store, product=versions[i])
        assert Product.objects.for_store(store).get().title == "v5"


class TestCustomers:
    def test_upsert_normalises_email_and_stores_consent(self, store):
        data = CustomerDataFactory(email="  Ada@Example.COM ")
        assert customer_upsert(store=store, customer=data)
        customer = Customer.objects.for_store(store).get()
        assert customer.email == "ada@example.com"
        assert (customer.consent_state, customer.consent_source, customer.consent_updated_at) == (
            ConsentState.SUBSCRIBED, "shopify:SINGLE_OPT_IN", T0)

    def test_replay_is_idempotent(self, store):
        batch = CustomerDataFactory.build_batch(3)
        customers_upsert(store=store, customers=batch)
        before = snapshot(Customer, store)
        customers_upsert(store=store, customers=batch)
        assert snapshot(Customer, store) == before

    def test_consent_change_ignores_older_news(self, store):
        data = CustomerDataFactory(external_id="c1")
        customer_upsert(store=store, customer=data)
        later = ConsentData(ConsentState.UNSUBSCRIBED, "xsell:one-click", T0 + timedelta(days=2))
        earlier = ConsentData(ConsentState.SUBSCRIBED, "shopify", T0 + timedelta(days=1))
        assert customer_consent_set(store=store, external_id="c1", consent=later)
        assert not customer_consent_set(store=store, external_id="c1", consent=earlier)
        assert Customer.objects.for_store(store).get().consent_state == ConsentState.UNSUBSCRIBED

    def test_suppression_is_added_once(self, store):
        assert suppression_add(store=store, email="X@Example.com", reason="bounced")
        assert not suppression_add(store=store, email="x@example.com", reason="complained")
        assert list(Suppression.objects.for_store(store).values_list("email", "reason")) == [
            ("x@example.com", "bounced")]


class TestOrders:
    def test_order_with_lines_and_refunds(self, store):
        product = ProductDataFactory(external_id="p1", variants=(VariantDataFactory(external_id="v1"),))
        product_upsert(store=store, product=product)
        customer_upsert(store=store, customer=CustomerDataFactory(external_id="c1"))
        lines = (
            OrderLineDataFactory(external_id="l1", quantity=2, unit_price=Decimal("10.00"),
                                 total_discount=Decimal("1.50"), product_external_id="p1",
                                 variant_external_id="v1"),
            OrderLineDataFactory(external_id="l2", quantity=1, unit_price=Decimal("5.25")),
        )
        data = OrderDataFactory(external_id="o1", customer_external_id="c1", lines=lines,
                                refunds=(RefundData("r1", Decimal("5.25"), T0 + timedelta(days=3)),))
        assert order_upsert(store=store, order=data)

        order = Order.objects.for_store(store).get()
        assert order.customer.external_id == "c1"
        assert order.total == Decimal("23.75")
        assert order.refunded_total == Decimal("5.25")
        assert order.net_total == Decimal("18.50")
        first = order.lines.get(external_id="l1")
        assert (first.line_total, first.product.external_id, first.variant.external_id) == (
            Decimal("18.50"), "p1", "v1")
        assert Refund.objects.for_store(store).get().amount == Decimal("5.25")

    def test_replay_changes_nothing_and_stale_is_skipped(self, store):
        data = OrderDataFactory(external_id="o1", financial_status="paid",
                                updated_at=T0 + timedelta(hours=2))
        orders_upsert(store=store, orders=[data])
        before = (snapshot(Order, store), snapshot(OrderLine, store))
        orders_upsert(store=store, orders=[data])
        stale = replace(data, financial_status="pending", lines=(), updated_at=T0 + timedelta(hours=1))
        assert orders_upsert(store=store, orders=[stale]).applied == 0
        assert (snapshot(Order, store), snapshot(OrderLine, store)) == before

    def test_lines_follow_the_latest_order(self, store):
        data = OrderDataFactory(lines=(OrderLineDataFactory(external_id="l1"),
                                       OrderLineDataFactory(external_id="l2")))
        order_upsert(store=store, order=data)
        order_upsert(store=store, order=replace(data, lines=(OrderLineDataFactory(external_id="l2"),),
                                                updated_at=data.updated_at + timedelta(minutes=1)))
        assert list(OrderLine.objects.for_store(store).values_list("external_id", flat=True)) == ["l2"]

    def test_order_before_its_customer_and_products_is_linked_later(self, store):
        data = OrderDataFactory(customer_external_id="c9", lines=(
            OrderLineDataFactory(external_id="l1", product_external_id="p9", variant_external_id="v9"),))
        order_upsert(store=store, order=data)
        order = Order.objects.for_store(store).get()
        assert order.customer_id is None

        customer_upsert(store=store, customer=CustomerDataFactory(external_id="c9"))
        product_upsert(store=store, product=ProductDataFactory(
            external_id="p9", variants=(VariantDataFactory(external_id="v9"),)))
        order.refresh_from_db()
        line = order.lines.get()
        assert order.customer.external_id == "c9"
        assert (line.product.external_id, line.variant.external_id) == ("p9", "v9")


class TestActivity:
    def test_checkout_snapshot_newest_wins_and_completion_sticks(self, store):
        data = CheckoutDataFactory(external_id="k1")
        checkouts_upsert(store=store, checkouts=[data])
        checkout = Checkout.objects.for_store(store).get()
        assert (checkout.status, checkout.email, checkout.lines[0]["unit_price"]) == (
            Checkout.Status.OPEN, "cart@example.com", "999.00")

        done = replace(data, completed_at=T0 + timedelta(hours=1), order_external_id="o1",
                       updated_at=T0 + timedelta(hours=1))
        checkouts_upsert(store=store, checkouts=[done])
        checkouts_upsert(store=store, checkouts=[data])  # a late "open" snapshot
        assert Checkout.objects.for_store(store).get().status == Checkout.Status.COMPLETED

    def test_activity_event_recorded_once(self, store):
        customer_upsert(store=store, customer=CustomerDataFactory(external_id="c1"))
        product_upsert(store=store, product=ProductDataFactory(external_id="p1"))
        args = {"store": store, "event_id": "e1", "kind": "browse", "customer_external_id": "c1",
                "product_external_id": "p1", "occurred_at": T0}
        assert activity_event_record(**args)
        assert not activity_event_record(**args)
        assert ActivityEvent.objects.for_store(store).count() == 1

    def test_activity_for_unknown_product_is_a_typed_error(self, store, other_store):
        customer_upsert(store=store, customer=CustomerDataFactory(external_id="c1"))
        product_upsert(store=other_store, product=ProductDataFactory(external_id="p1"))
        with pytest.raises(NotFound):
            activity_event_record(store=store, event_id="e1", kind="browse",
                                  customer_external_id="c1", product_external_id="p1",
                                  occurred_at=T0)


class TestTenancy:
    """Two stores with the same external ids: nothing crosses between them."""

    def test_same_external_ids_stay_apart(self, store, other_store):
        product = ProductDataFactory(external_id="p1", title="Mine",
                                     variants=(VariantDataFactory(external_id="v1"),))
        customer = CustomerDataFactory(external_id="c1", email="a@example.com")
        order = OrderDataFactory(external_id="o1", customer_external_id="c1", lines=(
            OrderLineDataFactory(external_id="l1", product_external_id="p1", variant_external_id="v1"),))
        for s, title in ((store, "Mine"), (other_store, "Theirs")):
            product_upsert(store=s, product=replace(product, title=title))
            customer_upsert(store=s, customer=customer)
            order_upsert(store=s, order=order)
            checkouts_upsert(store=s, checkouts=[CheckoutDataFactory(external_id="k1")])

        for model in (Product, Variant, Collection, Customer, Order, OrderLine, Checkout):
            assert model.objects.for_store(store).count() == 1, model
            assert model.objects.for_store(other_store).count() == 1, model
        assert Product.objects.for_store(store).get().title == "Mine"
        assert Product.objects.for_store(other_store).get().title == "Theirs"
        # links never point into the other store
        for s in (store, other_store):
            o = Order.objects.for_store(s).get()
            line = o.lines.get()
            assert (o.customer.store_id, line.product.store_id, line.variant.store_id) == (s.pk,) * 3
            assert ProductCollection.objects.for_store(s).get().collection.store_id == s.pk

    def test_stale_check_is_per_store(self, store, other_store):
        product_upsert(store=store, product=ProductDataFactory(
            external_id="p1", title="new", updated_at=T0 + timedelta(days=1)))
        assert product_upsert(store=other_store, product=ProductDataFactory(
            external_id="p1", title="older but first here", updated_at=T0))

    def test_for_store_requires_a_store(self):
        with pytest.raises(ValueError, match="needs a store"):
            Product.objects.for_store(None)
