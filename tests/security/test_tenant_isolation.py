"""Tenant isolation, swept over everything a second store can reach: every URL pattern of the
project (enumerated from the resolver, so a new route is covered the day it lands) with every
method, the second store's session and its Shopify session token, every primary key of the first
store's rows and the first store's id in bodies; signed links made for the second store naming
the first store's rows; and every task entry point (``<app>.tasks``) run on the second store's
rows. Nothing the second store does may show the first store's data (its marker never appears in
an answer) or change one of its rows (a snapshot of every row that points at it, before and
after)."""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from importlib import import_module

import pytest
from django.apps import apps
from django.conf import settings
from django.db import models
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from emails import models as email_models
from emails.kinds import KINDS
from emails.models import MailerAccount
from integrations.models import SyncJob, WebhookEvent
from tests.factories import (
    CheckoutDataFactory,
    CustomerDataFactory,
    OrderDataFactory,
    OrderLineDataFactory,
    ProductDataFactory,
    StoreFactory,
    VariantDataFactory,
)
from tests.fakes.shopify import session_token
from xsell_plugin.dashboard.auth import login_token_for
from xsell_plugin.stores.models import Store, StoreCredentials
from xsell_plugin.tracking import links

pytestmark = pytest.mark.django_db
MARK = "alphamarker"  # in every text of the first store's data; must never reach the second
API_KEY, SECRET = "iso_api_key", "iso-api-secret-0123456789abcdef0123456789"


# --- the two stores ---------------------------------------------------------------------------
def _seed(store: Store, tag: str) -> dict[str, list[str]]:
    """Rows of every kind we can make through the services, each text carrying ``tag``.
    Returns what could not be made (a service that changed shape must not hide the sweep)."""
    from emails.services import (
        mailer_account_set,
        outbound_email_create,
        store_email_settings_set,
        template_copy_set,
    )
    from xsell_plugin.activity.services import checkouts_upsert
    from xsell_plugin.catalog.models import Product
    from xsell_plugin.catalog.services import products_upsert
    from xsell_plugin.customers.models import Customer
    from xsell_plugin.customers.services import customers_upsert, suppression_add
    from xsell_plugin.orders.services import orders_upsert

    skipped: list[str] = []

    def attempt(label: str, make: Callable[[], object]) -> None:
        try:
            make()
        except Exception as exc:  # the sweep goes on over whatever exists
            skipped.append(f"{label}: {type(exc).__name__}: {exc}"[:200])

    n = store.pk * 1000
    products_upsert(store=store, products=[ProductDataFactory(
        external_id=f"gid://shopify/Product/{n + i}", title=f"{tag} product {i}",
        variants=(VariantDataFactory(external_id=f"gid://shopify/ProductVariant/{n + i}", sku=f"{tag}-{i}"),))
        for i in range(3)])
    customers_upsert(store=store, customers=[CustomerDataFactory(
        external_id=f"gid://shopify/Customer/{n + i}", email=f"{tag}-{i}@{tag}.example",
        first_name=f"{tag}first") for i in range(2)])
    orders_upsert(store=store, orders=[OrderDataFactory(
        external_id=f"gid://shopify/Order/{n}", email=f"{tag}-0@{tag}.example", name=f"#{tag}",
        customer_external_id=f"gid://shopify/Customer/{n}",
        lines=(OrderLineDataFactory(title=f"{tag} line", product_external_id=f"gid://shopify/Product/{n}",
                                    variant_external_id=f"gid://shopify/ProductVariant/{n}"),))])
    attempt("checkout", lambda: checkouts_upsert(store=store, checkouts=[CheckoutDataFactory(
        external_id=f"checkout-{tag}", email=f"{tag}-cart@{tag}.example")]))
    attempt("suppression", lambda: suppression_add(store=store, email=f"{tag}-gone@{tag}.example",
                                                   reason="bounced"))
    attempt("mailer", lambda: mailer_account_set(
        store=store, transport=MailerAccount.Transport.ESP, from_email=f"news@{tag}.example",
        from_name=f"{tag} news", esp="postmark", esp_credentials={"server_token": f"{tag}-token"},
        webhook_secret=f"{tag}:password"))
    attempt("email settings", lambda: store_email_settings_set(store=store, footer_note=f"{tag} footer"))
    attempt("template copy", lambda: template_copy_set(store=store, kind=KINDS[0], subject=f"{tag} subject"))
    attempt("testimonial", lambda: email_models.Testimonial.objects.create(
        store=store, author=f"{tag} author",
                                                              body=f"{tag} says", rating=5))
    customer = Customer.objects.for_store(store).order_by("pk").first()
    products = list(Product.objects.for_store(store).order_by("pk"))
    attempt("outbound", lambda: outbound_email_create(
        store=store, customer=customer, kind="feedback", context={}, enqueue=False,
        idempotency_key=f"{tag}-1"))
    attempt("webhook event", lambda: WebhookEvent.objects.create(
        store=store, platform="shopify", dedupe_key=f"{tag}-evt", topic="orders/create", body="{}",
        status=WebhookEvent.Status.DONE))
    attempt("sync job", lambda: SyncJob.objects.create(store=store, kind="products", status="done",
                                                       cursor=f"{tag}-cursor"))
    attempt("sequences", lambda: import_module("xsell_plugin.sequences.services")
            .default_sequences_install(store=store))
    attempt("holdout", lambda: import_module("xsell_plugin.experiments.services")
            .holdout_policy_set(store=store, share="0.1"))
    attempt("experiment", lambda: import_module("xsell_plugin.experiments.services").experiment_create(
        store=store, name=f"{tag} experiment", hypothesis=f"{tag} hypothesis",
        variants=[{"key": "a", "name": f"{tag} a", "is_control": True}, {"key": "b", "name": f"{tag} b"}]))
    attempt("bundle", lambda: import_module("xsell_plugin.offers.services").bundle_create(
        store=store, name=f"{tag} bundle", kind="fixed", core_product_id=products[0].pk,
        addon_product_ids=[products[1].pk], percent_off=Decimal("10")))
    attempt("incentive", lambda: apps.get_model("offers", "Incentive").objects.create(
        store=store, name=f"{tag} incentive", kind="percent_off", level=1, percent_off=Decimal("10")))
    return {"skipped": skipped}


def _tenant_models() -> list[type[models.Model]]:
    found = []
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if field.is_relation and field.related_model is Store:
                found.append(model)
                break
    return found


def _store_field(model: type[models.Model]) -> str:
    return next(f.name for f in model._meta.concrete_fields if f.is_relation and f.related_model is Store)


def _snapshot(store: Store) -> dict[str, list[tuple]]:
    """Every row that points at the store (every column), and the store row itself."""
    snap = {"Store": sorted(Store.objects.filter(pk=store.pk).values_list()),
            "StoreCredentials": sorted(StoreCredentials.objects.filter(store=store).values_list())}
    for model in _tenant_models():
        fk = _store_field(model)
        snap[model._meta.label] = sorted(
            tuple(str(v) for v in row) for row in model.objects.filter(**{fk: store}).values_list())
    return snap


def _pks(store: Store) -> list[int]:
    pks = {store.pk}
    for model in _tenant_models():
        fk = _store_field(model)
        pks.update(model.objects.filter(**{fk: store}).values_list("pk", flat=True)[:20])
    return sorted(pk for pk in pks if isinstance(pk, int))


@pytest.fixture
def two_stores(settings, httpserver):
    # Every platform call goes to a loopback server that knows nothing (404: terminal, at once).
    httpserver.expect_request(re.compile(".*")).respond_with_json({"errors": "Not Found"}, status=404)
    settings.XSELL_SHOPIFY_ADMIN_BASE_URL = httpserver.url_for("").rstrip("/")
    settings.XSELL_ALLOW_LOOPBACK_HTTP = True
    settings.XSELL_SHOPIFY_API_KEY = API_KEY
    settings.XSELL_SHOPIFY_API_SECRET = SECRET
    settings.XSELL_PUBLIC_URL = "https://app.xsell.test"
    settings.ALLOWED_HOSTS = ["testserver", "app.xsell.test"]
    first = StoreFactory(domain="alphamarker-shop.myshopify.com", name=f"{MARK} Shop",
                         postal_address=f"1 {MARK} Road")
    second = StoreFactory(domain="bravo-shop.myshopify.com", name="Bravo Shop", postal_address="2 Bravo Road")
    StoreCredentials.objects.create(store=first, access_token=f"shpat_{MARK}", webhook_secret=f"{MARK}-hook")
    StoreCredentials.objects.create(store=second, access_token="shpat_bravo", webhook_secret="bravo-hook")
    seeded = _seed(first, MARK)
    _seed(second, "bravo")
    return first, second, seeded


# --- the URL sweep ------------------------------------------------------------------------------
def _routes(resolver: URLResolver | None = None, prefix: str = "") -> list[tuple[str, re.Pattern]]:
    resolver = resolver or get_resolver()
    out = []
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            out += _routes(entry, route)
        elif isinstance(entry, URLPattern):
            out.append((route, entry))
    return out


_PARAM = re.compile(r"<(?:(?P<converter>\w+):)?(?P<name>\w+)>")


def _fill(route: str, values: dict[str, object]) -> str | None:
    def one(match: re.Match) -> str:
        return str(values.get(match["name"], values.get(match["converter"] or "str", "x")))
    path = _PARAM.sub(one, route)
    return None if "^" in path or "(?P" in path else "/" + path.lstrip("/")


def _variants(route: str, first: Store, second: Store, pks: list[int]) -> list[str]:
    """Paths to try for one route: every parameter filled with the first store's ids."""
    names = {m["name"] for m in _PARAM.finditer(route)}
    if not names:
        return [p for p in [_fill(route, {})] if p]
    paths = set()
    tokens = _tokens(first, second)
    for pk in pks:
        values = {"int": pk, "pk": pk, "store_id": pk, "str": pk, "slug": "postmark", "esp": "postmark",
                  "kind": KINDS[pk % len(KINDS)], "token": tokens[pk % len(tokens)], "path": "x"}
        paths.add(_fill(route, values))
    for token in tokens:
        paths.add(_fill(route, {"token": token, "store_id": first.pk, "int": first.pk, "str": token,
                                "esp": "postmark", "slug": "postmark"}))
    return sorted(p for p in paths if p)


def _tokens(first: Store, second: Store) -> list[str]:
    """Signed for the second store but naming the first store's rows (what a merchant of the
    second store could mint if they held its ids), plus tokens of the first store as issued."""
    from emails.models import OutboundEmail
    from xsell_plugin.customers.models import Customer

    customers = list(Customer.objects.for_store(first).values_list("pk", flat=True))
    outbounds = list(OutboundEmail.objects.for_store(first).values_list("pk", flat=True)) or [1]
    out = []
    for customer in customers:
        for outbound in outbounds:
            for store in (second,):
                out.append(links.unsubscribe_token(store_id=store.pk, customer_id=customer,
                                                   outbound_id=outbound))
                out.append(links.preferences_url(store_id=store.pk, customer_id=customer,
                                                 sequence_id=None).rsplit("/", 1)[1])
                click = links.click_url(store_id=store.pk, outbound_id=outbound, position=0)
                out.append(click.rsplit("/", 1)[1])
                out.append(links.open_pixel_url(store_id=store.pk, outbound_id=outbound).rsplit("/", 1)[1])
    return out


def _clients(second: Store) -> dict[str, Client]:
    session = Client(raise_request_exception=False)
    assert session.get(f"/app/?login={login_token_for(second)}").status_code == 302
    bearer = Client(raise_request_exception=False, headers={
        "Authorization": "Bearer " + session_token(secret=SECRET, api_key=API_KEY, shop=second.domain)})
    return {"session": session, "bearer": bearer, "anonymous": Client(raise_request_exception=False)}


def _bodies(first: Store, pk: int) -> list[dict]:
    """Empty, and a mass-assignment attempt naming the first store everywhere it could fit."""
    return [{}, {"store": first.pk, "store_id": first.pk, "id": pk, "pk": pk, "customer": pk,
                 "customer_id": pk, "sequence": pk, "sequence_id": pk, "experiment": pk, "product": pk,
                 "name": "intruder", "share": "0.5", "subject": "intruder", "author": "intruder",
                 "body": "intruder", "rating": 5, "kind": "feedback", "to": "intruder@example.com"}]


def test_a_second_store_can_neither_read_nor_write_the_first_through_any_route(two_stores):
    first, second, seeded = two_stores
    before = _snapshot(first)
    assert sum(len(rows) for rows in before.values()) > 20, seeded
    pks = _pks(first)
    clients = _clients(second)
    leaks, server_errors, tried = [], [], 0
    skip_prefixes = ("django-admin/", "static/")
    for route, _entry in _routes():
        if route.startswith(skip_prefixes):
            continue
        for path in _variants(route, first, second, pks):
            for label, client in clients.items():
                for method in ("get", "post", "put", "patch", "delete"):
                    bodies = _bodies(first, pks[0]) if method in ("post", "put", "patch") else [None]
                    for body in bodies:
                        kwargs = {} if body is None else {"data": json.dumps(body),
                                                          "content_type": "application/json"}
                        response = getattr(client, method)(path, **kwargs)
                        tried += 1
                        content = b"".join(response) if response.streaming else response.content
                        if MARK in content.decode("utf-8", "replace").lower():
                            leaks.append((label, method.upper(), path, response.status_code))
                        if response.status_code >= 500:
                            server_errors.append((label, method.upper(), path, response.status_code))
    assert not leaks, f"the second store saw the first store's data: {leaks[:10]}"
    assert _snapshot(first) == before, "the second store changed the first store's rows"
    assert tried > 500
    if server_errors:  # not a leak, but reported: schemathesis (tests/dashboard) owns these
        print(f"\n  {len(server_errors)} answers >= 500 during the sweep, e.g. {server_errors[:5]}")


def test_admin_and_api_refuse_anonymous_and_merchant_sessions(two_stores):
    _, second, _ = two_stores
    clients = _clients(second)
    for client in (clients["anonymous"], clients["session"]):
        response = client.get("/django-admin/stores/store/")
        assert response.status_code == 302 and "/login/" in response["Location"]
    assert clients["anonymous"].get("/api/v1/store").status_code in (401, 403)


def test_webhook_endpoints_never_cross_stores(two_stores, client):
    """The second store's WooCommerce secret, mailer secret and Shopify shop cannot write into the
    first store."""
    from tests.fakes.shopify import webhook_headers
    from tests.fakes.woocommerce_server import webhook_signature

    first, second, _ = two_stores
    before = _snapshot(first)
    body = json.dumps({"id": 5, "date_modified_gmt": "2026-01-01T00:00:00", "line_items": []}).encode()
    Store.objects.filter(pk__in=[first.pk, second.pk]).update(platform=Store.Platform.WOOCOMMERCE)
    answer = client.post(f"/webhooks/woocommerce/{first.pk}/", data=body, content_type="application/json",
                         HTTP_X_WC_WEBHOOK_TOPIC="order.updated",
                         HTTP_X_WC_WEBHOOK_SIGNATURE=webhook_signature(body, "bravo-hook"))
    assert answer.status_code == 401
    import base64

    answer = client.post(f"/webhooks/mailer/{first.pk}/postmark/", data=b"{}",
                         content_type="application/json",
                         HTTP_AUTHORIZATION="Basic " + base64.b64encode(b"bravo:password").decode())
    assert answer.status_code == 400
    Store.objects.filter(pk__in=[first.pk, second.pk]).update(platform=Store.Platform.SHOPIFY)
    shopify_body = json.dumps({"id": 1, "email": f"x@{MARK}.example", "updated_at": "2030-01-01T00:00:00Z"}
                              ).encode()
    headers = webhook_headers(secret=SECRET, topic="customers/update", shop=second.domain, body=shopify_body)
    headers.pop("Content-Type")
    assert client.post("/webhooks/shopify/", data=shopify_body, content_type="application/json",
                       headers=headers).status_code == 200
    assert WebhookEvent.objects.filter(store=first).count() == len(before["integrations.WebhookEvent"])
    Store.objects.filter(pk=first.pk).update(platform=Store.Platform.SHOPIFY)
    after = _snapshot(first)
    after["Store"], before["Store"] = [], []  # the platform flips above are ours
    assert after == before


# --- task entry points -----------------------------------------------------------------------------
# What each task argument names. A new task with another argument fails below until it is added.
TASK_ARGUMENTS = {
    "outbound_id": "emails.OutboundEmail", "event_id": "integrations.WebhookEvent",
    "job_id": "integrations.SyncJob", "store_id": "stores.Store", "scheduled_id": "sequences.ScheduledSend",
    "customer_id": "customers.Customer", "enrollment_id": "sequences.Enrollment",
    "experiment_id": "experiments.Experiment", "code_id": "offers.IssuedCode",
}


def _task_entry_points() -> list[tuple[str, Callable]]:
    found = []
    for config in apps.get_app_configs():
        ours = config.name.startswith(("xsell_plugin", "integrations", "emails"))
        if not ours or config.name.endswith(".core"):
            continue  # core.tasks holds the enqueue helpers, not tasks
        try:
            module = import_module(f"{config.name}.tasks")
        except ModuleNotFoundError:
            continue
        for name, func in inspect.getmembers(module, inspect.isfunction):
            if func.__module__ == module.__name__ and not name.startswith("_"):
                found.append((f"{module.__name__}.{name}", func))
    return found


def test_every_task_run_on_the_second_store_leaves_the_first_alone(two_stores, settings):
    first, second, _ = two_stores
    entry_points = _task_entry_points()
    assert {"emails.tasks.send", "integrations.tasks.process_webhook_event"} <= {n for n, _ in entry_points}
    before = _snapshot(first)
    WebhookEvent.objects.for_store(second).update(status=WebhookEvent.Status.PENDING)
    SyncJob.objects.for_store(second).update(status=SyncJob.Status.PENDING)
    ran = []
    for name, func in entry_points:
        parameters = [p for p in inspect.signature(func).parameters.values()
                      if p.default is inspect.Parameter.empty]
        if not parameters:
            continue  # cron jobs over every store (sweepers, scans) take no tenant argument
        assert len(parameters) == 1 and parameters[0].name in TASK_ARGUMENTS, (
            f"{name}{inspect.signature(func)}: add its argument to TASK_ARGUMENTS")
        model = apps.get_model(TASK_ARGUMENTS[parameters[0].name])
        if model is Store:
            ids = [second.pk]
        else:
            fk = _store_field(model)
            ids = list(model.objects.filter(**{fk: second}).values_list("pk", flat=True)[:5])
        for pk in ids:
            try:
                func(pk)
            except Exception as exc:  # a task may fail on this data; it must still not cross stores
                print(f"  {name}({pk}) raised {type(exc).__name__}: {exc}"[:200])
            ran.append(name)
    assert _snapshot(first) == before
    assert len(set(ran)) >= 3, ran


def test_stored_secrets_are_not_readable_in_the_database(two_stores):
    """Encrypted at rest: the raw column never holds the token or the webhook secret."""
    from django.db import connection

    first, _, _ = two_stores
    table = StoreCredentials._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table} WHERE store_id = %s", [first.pk])  # noqa: S608
        row = " ".join(str(v) for v in cursor.fetchone())
    assert f"shpat_{MARK}" not in row and f"{MARK}-hook" not in row
    assert datetime.now(UTC) - timedelta(days=1) < datetime.now(UTC)  # (keeps the imports honest)
    assert settings.XSELL_ENCRYPTION_KEYS
