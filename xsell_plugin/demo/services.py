"""Load the demo store: real 84.51 data through the same upsert services the platforms use.

``demo_store_load()`` maps the committed sample (or, with ``full=True``, the whole package data)
to DTOs and writes them in batches with ``products_upsert``, ``customers_upsert`` and
``orders_upsert``. Every DTO value and timestamp is deterministic and the services upsert on
(store, external id), so loading again rewrites the same values and adds no rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import islice
from typing import Protocol, TypeVar

from django.db import transaction

from integrations.base import OrderData
from xsell_plugin.catalog.services import products_upsert
from xsell_plugin.core.upsert import UpsertResult
from xsell_plugin.customers.services import customers_upsert
from xsell_plugin.demo import mappers
from xsell_plugin.demo.dataset import DemoDataset, LineRow, package_dataset, sample_dataset
from xsell_plugin.demo.sample import STORE_TIMEZONE
from xsell_plugin.offers.models import Incentive
from xsell_plugin.offers.services import incentive_create
from xsell_plugin.orders.services import orders_upsert
from xsell_plugin.sequences.services import default_sequences_install
from xsell_plugin.stores.models import Store
from xsell_plugin.stores.selectors import store_counts

DEMO_DOMAIN = "complete-journey.demo"
DEMO_NAME = "Complete Journey Grocer (demo)"
DEFAULT_BATCH_SIZE = 1000

T = TypeVar("T")


class Progress(Protocol):
    def update(self, n: int = 1) -> object: ...

    def close(self) -> None: ...


# (kind, total) -> a progress bar, e.g. ``lambda kind, total: tqdm(total=total, desc=kind)``.
ProgressFactory = Callable[[str, int], Progress]


class _NoProgress:
    def update(self, n: int = 1) -> None:
        return None

    def close(self) -> None:
        return None


@dataclass(frozen=True, slots=True)
class DemoLoadResult:
    store: Store
    source: str
    products: UpsertResult
    customers: UpsertResult
    orders: UpsertResult
    counts: dict[str, int]  # rows the store has after the load


def demo_store_get_or_create() -> Store:
    """The one demo store (platform demo, USD, America/New_York), active."""
    with transaction.atomic():
        store, _ = Store.objects.update_or_create(
            platform=Store.Platform.DEMO, domain=DEMO_DOMAIN,
            defaults={"name": DEMO_NAME, "currency": mappers.CURRENCY,
                      "timezone": STORE_TIMEZONE, "status": Store.Status.ACTIVE},
        )
    return store


def demo_store_load(*, full: bool = False, limit_households: int | None = None,
                    batch_size: int = DEFAULT_BATCH_SIZE,
                    progress: ProgressFactory | None = None) -> DemoLoadResult:
    """Load (or reload) the demo store.

    ``full`` reads the whole package data (needs the demo extra, else ``DemoPackageMissing``);
    ``limit_households`` keeps only the N lowest household ids (and the products they bought).
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    dataset = (package_dataset(limit_households=limit_households) if full
               else sample_dataset(limit_households=limit_households))
    store = demo_store_get_or_create()
    progress = progress or (lambda kind, total: _NoProgress())

    titles = {pid: mappers.product_title(row) for pid, row in dataset.products.items()}
    products = _in_batches(
        (mappers.product_data(dataset.products[pid]) for pid in sorted(dataset.products, key=int)),
        size=batch_size, bar=progress("products", len(dataset.products)),
        write=lambda batch: products_upsert(store=store, products=batch),
    )
    customers = _in_batches(
        (mappers.customer_data(hid, dataset.households[hid])
         for hid in sorted(dataset.households, key=int)),
        size=batch_size,
        bar=progress("customers", len(dataset.households)),
        write=lambda batch: customers_upsert(store=store, customers=batch),
    )
    orders = _in_batches(
        _orders(dataset, titles), size=batch_size,
        bar=progress("orders", dataset.baskets),
        write=lambda batch: orders_upsert(store=store, orders=batch),
    )
    # The default sequences, running (the demo is for trying them; a real install pauses them),
    # and one incentive for their later steps to offer.
    default_sequences_install(store=store)
    if not Incentive.objects.for_store(store).exists():
        incentive_create(store=store, name="10% thank-you", kind="percent_off",
                         percent_off=Decimal("10"), level=1, segments=["any"])
    return DemoLoadResult(store=store, source=dataset.label, products=products,
                          customers=customers, orders=orders, counts=store_counts(store=store))


def _orders(dataset: DemoDataset, titles: dict[str, str]) -> Iterator[OrderData]:
    """One order per basket; the lines come sorted, so a basket's lines are consecutive."""
    basket: list[LineRow] = []
    seen: set[str] = set()
    for line in dataset.iter_lines():
        if basket and line.basket_id != basket[0].basket_id:
            yield _basket_order(basket, titles, seen)
            basket = []
        basket.append(line)
    if basket:
        yield _basket_order(basket, titles, seen)


def _basket_order(lines: list[LineRow], titles: dict[str, str], seen: set[str]) -> OrderData:
    basket_id = lines[0].basket_id
    if basket_id in seen:  # would silently split a basket into two "versions" of one order
        raise ValueError(f"the lines of basket {basket_id} are not consecutive")
    seen.add(basket_id)
    return mappers.order_data(lines, titles)


def _in_batches(items: Iterable[T], *, size: int, bar: Progress,
                write: Callable[[Sequence[T]], UpsertResult]) -> UpsertResult:
    received = applied = 0
    iterator = iter(items)
    try:
        while batch := list(islice(iterator, size)):
            result = write(batch)
            received += result.received
            applied += result.applied
            bar.update(len(batch))
    finally:
        bar.close()
    return UpsertResult(received=received, applied=applied)
