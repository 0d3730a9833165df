"""A fake WooCommerce store: a real HTTP server (werkzeug, threaded) on 127.0.0.1.

It serves what xsell uses, shaped like WooCommerce's REST API v3 (records are built from the
recorded payloads in ``tests/payloads/woocommerce/``):

* ``GET /wp-json/`` (public index: name, time zone);
* ``/wp-json/wc/v3/``: ``system_status``, ``products`` (+ ``products/<id>/variations``),
  ``customers``, ``orders``, ``coupons`` (list/create), ``webhooks`` (list/create/update/delete),
  with ``page``/``per_page``/``orderby``/``order``, ``modified_after``, ``X-WP-Total`` and
  ``X-WP-TotalPages``;
* authentication as WooCommerce does it on plain http: OAuth 1.0a one-legged signatures (checked
  here with an implementation of WooCommerce's own server-side algorithm: timestamp window,
  single-use nonce); HTTP Basic is accepted too (what WooCommerce takes over https);
* ``/wc-auth/v1/authorize``: the key-granting screen; approving creates keys, POSTs them to the
  ``callback_url`` and redirects to ``return_url`` like ``WC_Auth`` does;
* scripted failures (``fail``), a request log, and webhook deliveries signed like WooCommerce's.

Run it by hand (docs/woocommerce.md)::

    python -m tests.fakes.woocommerce_server --port 8200 --products 300 --orders 500
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import copy
import hashlib
import hmac
import itertools
import json
import random
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlencode

import requests
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

PAYLOADS = Path(__file__).resolve().parent.parent / "payloads" / "woocommerce"
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
MAX_PER_PAGE = 100
VALID_TOPICS = {
    f"{resource}.{event}"
    for resource in ("coupon", "customer", "order", "product")
    for event in ("created", "updated", "deleted", "restored")
} - {"customer.restored"}


def payload(name: str) -> Any:
    return json.loads((PAYLOADS / f"{name}.json").read_text())


def gmt(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds")


def rawurlencode(value: str) -> str:
    """PHP's rawurlencode: everything but A-Z a-z 0-9 - _ . ~ is percent-encoded."""
    return quote(value, safe="")


def wc_oauth_signature(method: str, base_url: str, params: dict[str, str], secret: str,
                       algorithm: str = "sha256") -> str:
    """WooCommerce's ``WC_REST_Authentication::check_oauth_signature``, in Python."""
    normalised = {rawurlencode(unquote(k)): rawurlencode(unquote(v)) for k, v in params.items()}
    pairs = [rawurlencode(f"{k}={normalised[k]}") for k in sorted(normalised)]
    to_sign = f"{method.upper()}&{rawurlencode(base_url)}&{'%26'.join(pairs)}"
    digest = hmac.new(f"{secret}&".encode(), to_sign.encode(), getattr(hashlib, algorithm)).digest()
    return base64.b64encode(digest).decode()


def webhook_signature(body: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:  # the request log is ours
        pass


@dataclass
class Failure:
    """Answer ``status`` to requests whose path starts with ``prefix`` (and, if given, whose
    ``page`` matches), ``times`` times."""

    prefix: str
    status: int = 503
    times: int = 1
    page: int | None = None
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None


@dataclass
class Delivery:
    url: str
    body: bytes
    headers: dict[str, str]


class FakeWooCommerce:
    def __init__(self, *, name: str = "Fake Woo Shop", currency: str = "USD",
                 timezone: str = "Europe/Paris", version: str = "10.1.0",
                 post_callbacks: bool = True) -> None:
        self.name, self.currency, self.timezone, self.version = name, currency, timezone, version
        self.post_callbacks = post_callbacks
        self.lock = threading.RLock()
        self.products: dict[int, dict] = {}
        self.variations: dict[int, dict[int, dict]] = {}
        self.customers: dict[int, dict] = {}
        self.orders: dict[int, dict] = {}
        self.coupons: dict[int, dict] = {}
        self.webhooks: dict[int, dict] = {}
        self.keys: dict[str, dict[str, str]] = {}
        self.failures: list[Failure] = []
        self.log: list[tuple[str, str, dict[str, str]]] = []  # (method, path, query)
        self.callbacks: list[tuple[str, int]] = []  # (callback_url, status) of key deliveries
        self._nonces: set[str] = set()
        self._ids = itertools.count(1000)
        self._delivery_second = 0
        self._server = None
        self._thread: threading.Thread | None = None
        self.base_url = ""
        self.clock = T0

    # -- data ------------------------------------------------------------------------------

    def next_id(self) -> int:
        return next(self._ids)

    def tick(self, seconds: int = 1) -> datetime:
        self.clock += timedelta(seconds=seconds)
        return self.clock

    def _stamp(self, record: dict, *, created: bool) -> None:
        now = self.tick()
        if created:
            record["date_created_gmt"] = record["date_created"] = gmt(now)
        record["date_modified_gmt"] = record["date_modified"] = gmt(now)

    def add_product(self, *, name: str | None = None, price: str = "19.00", stock: int | None = 10,
                    categories: Iterable[tuple[int, str]] = ((9, "Clothing"),),
                    **overrides: Any) -> dict:
        with self.lock:
            product = payload("product.created")
            pid = self.next_id()
            product |= {
                "id": pid, "name": name or f"Product {pid}", "slug": f"product-{pid}",
                "permalink": f"{self.base_url or 'http://fake.invalid'}/product/product-{pid}/",
                "sku": f"SKU-{pid}", "price": price, "regular_price": price, "sale_price": "",
                "on_sale": False, "manage_stock": stock is not None, "stock_quantity": stock,
                "stock_status": "instock" if stock is None or stock > 0 else "outofstock",
                "categories": [{"id": cid, "name": cname, "slug": cname.lower()}
                               for cid, cname in categories],
                "upsell_ids": [], "cross_sell_ids": [], "related_ids": [],
            }
            product.update(overrides)
            self._stamp(product, created=True)
            self.products[pid] = product
            return product

    def add_variable_product(self, *, name: str | None = None,
                             options: Iterable[tuple[str, str, int | None]] = (
                                 ("Black", "20.00", 3), ("Green", "9.00", None)),
                             **overrides: Any) -> dict:
        with self.lock:
            product = payload("product.updated")
            pid = self.next_id()
            product |= {"id": pid, "name": name or f"Variable {pid}", "slug": f"variable-{pid}",
                        "sku": f"VAR-{pid}", "variations": [], "upsell_ids": [],
                        "cross_sell_ids": []}
            product.update(overrides)
            self._stamp(product, created=True)
            template = payload("product.variations")[0]
            self.variations[pid] = {}
            for position, (option, price, stock) in enumerate(options):
                variation = copy.deepcopy(template)
                vid = self.next_id()
                variation |= {
                    "id": vid, "parent_id": pid, "sku": f"VAR-{pid}-{option.upper()}",
                    "name": f"{product['name']} - {option}", "price": price,
                    "regular_price": price, "sale_price": "", "on_sale": False,
                    "manage_stock": stock is not None, "stock_quantity": stock,
                    "stock_status": "instock" if stock is None or stock > 0 else "outofstock",
                    "attributes": [{"id": 6, "name": "Color", "slug": "pa_color",
                                    "option": option}],
                    "menu_order": position, "meta_data": [],
                }
                self._stamp(variation, created=True)
                self.variations[pid][vid] = variation
                product["variations"].append(vid)
            self.products[pid] = product
            return product

    def add_customer(self, *, email: str | None = None, **overrides: Any) -> dict:
        with self.lock:
            customer = payload("customer.created")
            cid = self.next_id()
            email = email or f"customer{cid}@example.com"
            customer |= {"id": cid, "email": email, "first_name": f"First{cid}",
                         "last_name": f"Last{cid}", "username": f"customer{cid}", "meta_data": []}
            customer["billing"] = {**customer["billing"], "email": email}
            customer.update(overrides)
            self._stamp(customer, created=True)
            self.customers[cid] = customer
            return customer

    def add_order(self, *, customer: dict | None = None,
                  items: Iterable[tuple[int, int, int]] = (), status: str = "processing",
                  coupons: Iterable[str] = (), **overrides: Any) -> dict:
        """``items``: (product_id, variation_id or 0, quantity), priced from the catalogue."""
        with self.lock:
            order = payload("order.created")
            oid = self.next_id()
            lines, subtotal = [], Decimal("0")
            for product_id, variation_id, quantity in items:
                source = (self.variations[product_id][variation_id] if variation_id
                          else self.products[product_id])
                price = Decimal(source["price"] or "0")
                line_total = price * quantity
                subtotal += line_total
                lines.append({
                    "id": self.next_id(), "name": source.get("name") or "", "product_id": product_id,
                    "variation_id": variation_id, "quantity": quantity, "tax_class": "",
                    "subtotal": f"{line_total:.2f}", "subtotal_tax": "0.00",
                    "total": f"{line_total:.2f}", "total_tax": "0.00", "taxes": [],
                    "meta_data": [], "sku": source.get("sku") or "", "price": float(price),
                    "image": {"id": "", "src": ""}, "parent_name": None,
                })
            email = (customer or {}).get("email") or f"guest{oid}@example.com"
            order |= {
                "id": oid, "number": str(oid), "status": status, "currency": self.currency,
                "customer_id": (customer or {}).get("id", 0), "line_items": lines,
                "discount_total": "0.00", "shipping_total": "0.00", "shipping_tax": "0.00",
                "cart_tax": "0.00", "total_tax": "0.00", "total": f"{subtotal:.2f}",
                "coupon_lines": [{"id": self.next_id(), "code": code, "discount": "0.00",
                                  "discount_tax": "0.00", "meta_data": []} for code in coupons],
                "refunds": [], "tax_lines": [], "shipping_lines": [],
                "order_key": f"wc_order_{secrets.token_hex(6)}",
            }
            order["billing"] = {**order["billing"], "email": email}
            order.update(overrides)
            self._stamp(order, created=True)
            self.orders[oid] = order
            return order

    def update(self, kind: str, record_id: int, **changes: Any) -> dict:
        """Change a record as the merchant would (its date_modified moves on)."""
        with self.lock:
            record = getattr(self, kind)[record_id]
            record.update(changes)
            self._stamp(record, created=False)
            return record

    def update_variation(self, product_id: int, variation_id: int, **changes: Any) -> dict:
        with self.lock:
            variation = self.variations[product_id][variation_id]
            variation.update(changes)
            self._stamp(variation, created=False)
            return variation

    def seed(self, *, products: int = 0, variable_every: int = 4, customers: int = 0,
             orders: int = 0, seed: int = 7) -> None:
        """A catalogue with upsell/cross-sell links, customers, and orders over them."""
        rng = random.Random(seed)
        categories = [(9, "Clothing"), (10, "Accessories"), (11, "Music"), (12, "Decor")]
        simple: list[int] = []
        variable: list[int] = []
        for n in range(products):
            category = [categories[n % len(categories)]]
            if variable_every and n % variable_every == variable_every - 1:
                variable.append(self.add_variable_product(categories=[
                    {"id": c, "name": name, "slug": name.lower()} for c, name in category])["id"])
            else:
                simple.append(self.add_product(
                    price=f"{rng.randint(5, 120)}.{rng.choice(['00', '50', '99'])}",
                    stock=rng.choice([None, 0, 3, 25, 100]), categories=category)["id"])
        pool = simple + variable
        for pid in simple:
            others = [p for p in rng.sample(pool, min(4, len(pool))) if p != pid]
            self.products[pid]["upsell_ids"] = others[:1]
            self.products[pid]["cross_sell_ids"] = others[1:3]
        people = [self.add_customer() for _ in range(customers)]
        for _ in range(orders):
            items = []
            for pid in rng.sample(pool, min(rng.randint(1, 3), len(pool))):
                variation = rng.choice(list(self.variations[pid])) if pid in self.variations else 0
                items.append((pid, variation, rng.randint(1, 2)))
            self.add_order(customer=rng.choice(people) if people and rng.random() < 0.8 else None,
                           items=items, status=rng.choice(["processing", "completed"]))

    def issue_keys(self, permissions: str = "read_write") -> tuple[str, str]:
        key, secret = f"ck_{secrets.token_hex(20)}", f"cs_{secrets.token_hex(20)}"
        with self.lock:
            self.keys[key] = {"secret": secret, "permissions": permissions}
        return key, secret

    def fail(self, prefix: str, status: int = 503, *, times: int = 1, page: int | None = None,
             method: str = "GET", headers: dict[str, str] | None = None, body: Any = None) -> None:
        with self.lock:
            self.failures.append(Failure(prefix, status, times, page, method, headers or {}, body))

    def requested(self, path: str) -> list[dict[str, str]]:
        """The query of every request made to ``path`` (e.g. "wc/v3/products")."""
        return [query for _, p, query in self.log if p == path]

    # -- webhooks out ----------------------------------------------------------------------

    def deliveries(self, topic: str, body: dict | None = None, *, record_id: int | None = None
                   ) -> list[Delivery]:
        """What WooCommerce would POST to each active webhook on ``topic``."""
        resource, event = topic.split(".", 1)
        if body is None:
            body = ({"id": record_id} if event == "deleted"
                    else self._resource(resource, int(record_id)))
        raw = json.dumps(body).encode()
        out = []
        with self.lock:
            for hook in self.webhooks.values():
                if hook["topic"] != topic or hook["status"] != "active":
                    continue
                self._delivery_second += 1
                delivery_id = hashlib.md5(f"{hook['id']}{self._delivery_second}".encode()).hexdigest()  # noqa: S324
                out.append(Delivery(hook["delivery_url"], raw, {
                    "Content-Type": "application/json",
                    "X-WC-Webhook-Source": f"{self.base_url}/",
                    "X-WC-Webhook-Topic": topic, "X-WC-Webhook-Resource": resource,
                    "X-WC-Webhook-Event": event,
                    "X-WC-Webhook-Signature": webhook_signature(raw, hook["secret"]),
                    "X-WC-Webhook-ID": str(hook["id"]), "X-WC-Webhook-Delivery-ID": delivery_id,
                }))
        return out

    def deliver(self, topic: str, *, record_id: int) -> list[int]:
        """POST the deliveries over HTTP (hand-run mode); returns the status codes."""
        codes = []
        for delivery in self.deliveries(topic, record_id=record_id):
            try:
                codes.append(requests.post(delivery.url, data=delivery.body,
                                           headers=delivery.headers, timeout=10).status_code)
            except requests.RequestException:
                codes.append(0)
        return codes

    def _resource(self, resource: str, record_id: int) -> dict:
        if resource == "product":
            for parent, variations in self.variations.items():
                if record_id in variations:
                    return {**variations[record_id], "type": "variation", "parent_id": parent}
        return copy.deepcopy(getattr(self, f"{resource}s")[record_id])

    # -- serving ---------------------------------------------------------------------------

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._server = make_server(host, port, self.wsgi, threaded=True,
                                   request_handler=_QuietHandler)
        self.base_url = f"http://{host}:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,),
                                        daemon=True, name="fake-woocommerce")
        self._thread.start()
        return self.base_url

    def shutdown(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def wsgi(self, environ: dict, start_response: Any) -> Any:
        request = Request(environ)
        try:
            response = self._dispatch(request)
        except KeyError:
            response = self._json({"code": "woocommerce_rest_invalid_id",
                                   "message": "Invalid ID.", "data": {"status": 404}}, 404)
        return response(environ, start_response)

    @staticmethod
    def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        return Response(json.dumps(data), status=status, headers=headers or {},
                        content_type="application/json; charset=UTF-8")

    def _dispatch(self, request: Request) -> Response:
        path = request.path.strip("/")
        if path == "wp-json" and request.method == "GET":
            return self._json(self._fields(self._index(), request.args.get("_fields")))
        if path == "wc-auth/v1/authorize":
            return self._authorize(request)
        if not path.startswith("wp-json/wc/v3/"):
            return Response("Not found", status=404)
        route = path.removeprefix("wp-json/")
        with self.lock:
            self.log.append((request.method, route, dict(request.args)))
            failure = self._failure(request, route)
        if failure is not None:
            return self._json(failure.body or {"code": "internal_server_error",
                                               "message": "Scripted failure.",
                                               "data": {"status": failure.status}},
                              failure.status, failure.headers)
        if not self._authenticated(request):
            return self._json({"code": "woocommerce_rest_cannot_view",
                               "message": "Sorry, you cannot list resources.",
                               "data": {"status": 401}}, 401)
        return self._api(request, route.removeprefix("wc/v3/").split("/"))

    def _failure(self, request: Request, route: str) -> Failure | None:
        for failure in self.failures:
            if (failure.times > 0 and route.startswith(failure.prefix)
                    and failure.method == request.method
                    and (failure.page is None or request.args.get("page") == str(failure.page))):
                failure.times -= 1
                return failure
        return None

    def _authenticated(self, request: Request) -> bool:
        if request.authorization and request.authorization.type == "basic":
            key = self.keys.get(request.authorization.username or "")
            return key is not None and hmac.compare_digest(key["secret"],
                                                           request.authorization.password or "")
        params = dict(request.args)
        key = self.keys.get(params.get("oauth_consumer_key", ""))
        signature = params.pop("oauth_signature", "")
        method = params.get("oauth_signature_method", "")
        if key is None or not signature or method not in ("HMAC-SHA1", "HMAC-SHA256"):
            return False
        try:
            timestamp = int(params.get("oauth_timestamp", "0"))
        except ValueError:
            return False
        if abs(time.time() - timestamp) > 15 * 60:
            return False
        nonce = params.get("oauth_nonce", "")
        with self.lock:
            if not nonce or nonce in self._nonces:
                return False  # WooCommerce refuses a nonce seen in the last 15 minutes
            self._nonces.add(nonce)
        expected = wc_oauth_signature(request.method, request.base_url, params, key["secret"],
                                      "sha256" if method == "HMAC-SHA256" else "sha1")
        return hmac.compare_digest(expected, signature.replace(" ", "+"))

    def _index(self) -> dict:
        index = payload("wp_index")
        index |= {"name": self.name, "url": self.base_url, "home": self.base_url,
                  "timezone_string": self.timezone}
        return index

    @staticmethod
    def _fields(data: Any, fields: str | None) -> Any:
        """WordPress's ``_fields``, nested names (``environment.version``) included."""
        if not fields or not isinstance(data, dict):
            return data
        out: dict = {}
        for name in fields.split(","):
            source, target, parts = data, out, name.strip().split(".")
            for i, part in enumerate(parts):
                if not isinstance(source, dict) or part not in source:
                    break
                if i == len(parts) - 1:
                    target[part] = source[part]
                else:
                    source = source[part]
                    target = target.setdefault(part, {})
        return out

    # -- REST ------------------------------------------------------------------------------

    def _page(self, request: Request, records: Iterable[dict], *,
              modified_after: bool = True) -> Response:
        items = list(records)
        since = request.args.get("modified_after")
        if since and modified_after:  # the customers endpoint has no such filter
            items = [r for r in items if (r.get("date_modified_gmt") or "") > since]
        reverse = request.args.get("order", "desc") == "desc"
        orderby = request.args.get("orderby", "date")
        key = (lambda r: r["id"]) if orderby == "id" else (
            lambda r: (r.get("date_created_gmt") or "", r["id"]))
        items.sort(key=key, reverse=reverse)
        per_page = min(MAX_PER_PAGE, max(1, int(request.args.get("per_page", 10))))
        page = max(1, int(request.args.get("page", 1)))
        total = len(items)
        pages = (total + per_page - 1) // per_page
        chunk = items[(page - 1) * per_page: page * per_page]
        return self._json(copy.deepcopy(chunk), headers={"X-WP-Total": str(total),
                                                         "X-WP-TotalPages": str(pages)})

    def _api(self, request: Request, parts: list[str]) -> Response:
        method, resource = request.method, parts[0]
        with self.lock:
            if resource == "system_status" and method == "GET":
                return self._json(self._fields(self._system_status(), request.args.get("_fields")))
            if resource == "products":
                if len(parts) == 1 and method == "GET":
                    return self._page(request, self.products.values())
                pid = int(parts[1])
                if len(parts) == 2 and method == "GET":
                    if pid in self.products:
                        return self._json(copy.deepcopy(self.products[pid]))
                    return self._json(self._resource("product", pid))
                if len(parts) == 3 and parts[2] == "variations" and method == "GET":
                    return self._page(request, self.variations[pid].values())
            if resource == "customers":
                if len(parts) == 1 and method == "GET":
                    return self._page(request, self.customers.values(), modified_after=False)
                if len(parts) == 2 and method == "GET":
                    return self._json(copy.deepcopy(self.customers[int(parts[1])]))
            if resource == "orders":
                if len(parts) == 1 and method == "GET":
                    status = request.args.get("status", "any")
                    return self._page(request, (
                        o for o in self.orders.values()
                        if (status == "any" and o["status"] != "trash") or o["status"] == status))
                if len(parts) == 2 and method == "GET":
                    return self._json(copy.deepcopy(self.orders[int(parts[1])]))
            if resource == "coupons":
                if len(parts) == 1 and method == "GET":
                    code = (request.args.get("code") or "").lower()
                    return self._page(request, (c for c in self.coupons.values()
                                                if not code or c["code"] == code))
                if len(parts) == 1 and method == "POST":
                    return self._coupon_create(request.get_json(force=True))
            if resource == "webhooks":
                if len(parts) == 1 and method == "GET":
                    edit = request.args.get("context") == "edit"
                    return self._page(request, ({**h, "secret": h["secret"] if edit else ""}
                                                for h in self.webhooks.values()))
                if len(parts) == 1 and method == "POST":
                    return self._webhook_save(None, request.get_json(force=True))
                hook_id = int(parts[1])
                if len(parts) == 2 and method in ("PUT", "POST", "PATCH"):
                    return self._webhook_save(self.webhooks[hook_id], request.get_json(force=True))
                if len(parts) == 2 and method == "DELETE":
                    return self._json(self.webhooks.pop(hook_id))
        return self._json({"code": "rest_no_route",
                           "message": "No route was found matching the URL and request method.",
                           "data": {"status": 404}}, 404)

    def _system_status(self) -> dict:
        status = payload("system_status")
        status["environment"] |= {"home_url": self.base_url, "site_url": self.base_url,
                                  "version": self.version}
        status["settings"]["currency"] = self.currency
        return status

    def _coupon_create(self, body: dict) -> Response:
        code = str(body.get("code") or "").strip().lower()
        if not code:
            return self._json({"code": "woocommerce_rest_empty_coupon_code",
                               "message": "The coupon code cannot be empty.",
                               "data": {"status": 400}}, 400)
        if any(c["code"] == code for c in self.coupons.values()):
            return self._json({"code": "woocommerce_rest_coupon_code_already_exists",
                               "message": "The coupon code already exists",
                               "data": {"status": 400}}, 400)
        coupon = payload("coupon.created")
        coupon |= {"id": self.next_id(), "usage_count": 0, "used_by": [],
                   "product_ids": [], "email_restrictions": [], "meta_data": [],
                   "limit_usage_to_x_items": None, "description": ""}
        coupon.update({k: v for k, v in body.items() if k in coupon and k != "id"})
        coupon["code"] = code
        if body.get("date_expires_gmt"):
            coupon["date_expires"] = coupon["date_expires_gmt"] = body["date_expires_gmt"]
        self._stamp(coupon, created=True)
        self.coupons[coupon["id"]] = coupon
        return self._json(copy.deepcopy(coupon), 201)

    def _webhook_save(self, hook: dict | None, body: dict) -> Response:
        created = hook is None
        if created:
            topic = body.get("topic", "")
            if topic not in VALID_TOPICS:
                return self._json({"code": "rest_invalid_param",
                                   "message": "Invalid parameter(s): topic",
                                   "data": {"status": 400}}, 400)
            hook = payload("webhook")
            hook |= {"id": self.next_id(), "topic": topic, "resource": topic.split(".")[0],
                     "event": topic.split(".")[1], "secret": "", "status": "active"}
        for name in ("name", "status", "delivery_url", "secret"):
            if name in body:
                hook[name] = body[name]
        self._stamp(hook, created=created)
        self.webhooks[hook["id"]] = hook
        if created and self.post_callbacks and hook["status"] == "active":
            threading.Thread(target=self._ping, args=(hook["delivery_url"], hook["id"]),
                             daemon=True).start()
        return self._json({**hook, "secret": ""}, 201 if created else 200)

    @staticmethod
    def _ping(url: str, hook_id: int) -> None:
        with contextlib.suppress(requests.RequestException):
            requests.post(url, data=f"webhook_id={hook_id}", timeout=5,
                          headers={"Content-Type": "application/x-www-form-urlencoded"})

    # -- key granting ----------------------------------------------------------------------

    def _authorize(self, request: Request) -> Response:
        args = request.values
        needed = ("app_name", "scope", "user_id", "return_url", "callback_url")
        missing = [name for name in needed if not args.get(name)]
        if missing:
            return Response(f"Error: Missing parameter {missing[0]}.", status=401)
        if args["scope"] not in ("read", "write", "read_write"):
            return Response(f"Error: Invalid scope {args['scope']}.", status=401)
        if request.method == "GET":
            hidden = "".join(f'<input type="hidden" name="{n}" value="{escape(args[n])}">'
                             for n in needed)
            return Response(
                f"<!doctype html><title>Authorize</title><h1>{escape(args['app_name'])} would "
                f"like to connect to {escape(self.name)}</h1><p>Access: {escape(args['scope'])}"
                f"</p><form method=post>{hidden}<button name=approve value=1>Approve</button> "
                f"<button name=approve value=0>Deny</button></form>", content_type="text/html")
        return_url = args["return_url"]
        sep = "&" if "?" in return_url else "?"
        if args.get("approve") != "1":
            return Response(status=302, headers={"Location": f"{return_url}{sep}" + urlencode(
                {"success": 0, "user_id": args["user_id"]})})
        key, secret = self.issue_keys(args["scope"])
        consumer = {"key_id": self.next_id(), "user_id": args["user_id"], "consumer_key": key,
                    "consumer_secret": secret, "key_permissions": args["scope"]}
        try:
            status = requests.post(args["callback_url"], data=json.dumps(consumer), timeout=60,
                                   headers={"Content-Type": "application/json;charset=UTF-8"}
                                   ).status_code
        except requests.RequestException:
            status = 0
        self.callbacks.append((args["callback_url"], status))
        if status != 200:
            with self.lock:
                self.keys.pop(key, None)  # WC_Auth::maybe_delete_key
            return Response("Error: An error occurred in the request and at the time were "
                            "unable to send the consumer data.", status=401)
        return Response(status=302, headers={"Location": f"{return_url}{sep}" + urlencode(
            {"success": 1, "user_id": args["user_id"]})})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A fake WooCommerce store on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=8200)
    parser.add_argument("--products", type=int, default=200)
    parser.add_argument("--customers", type=int, default=100)
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--currency", default="USD")
    parser.add_argument("--app", default="http://127.0.0.1:8000",
                        help="the xsell app's address, for the connect link it prints")
    parser.add_argument("--simulate", type=float, default=0,
                        help="every N seconds: change a stock level, place an order, and deliver "
                             "the webhooks (0: off)")
    args = parser.parse_args(argv)
    fake = FakeWooCommerce(currency=args.currency)
    fake.clock = datetime.now(UTC).replace(microsecond=0) - timedelta(days=30)
    base = fake.serve(port=args.port)
    fake.seed(products=args.products, customers=args.customers, orders=args.orders)
    print(f"Fake WooCommerce store at {base}: {len(fake.products)} products, "
          f"{len(fake.customers)} customers, {len(fake.orders)} orders.")
    print(f"Connect it: {args.app}/auth/woocommerce/connect?store_url={base}")
    rng = random.Random(1)
    try:
        while True:
            time.sleep(args.simulate or 3600)
            if not args.simulate:
                continue
            fake.clock = datetime.now(UTC).replace(microsecond=0)
            simple = [p for p in fake.products.values() if p["type"] == "simple"]
            product = rng.choice(simple)
            stock = rng.randint(0, 30)
            fake.update("products", product["id"], stock_quantity=stock, manage_stock=True,
                        stock_status="instock" if stock else "outofstock")
            order = fake.add_order(customer=rng.choice(list(fake.customers.values())),
                                   items=[(product["id"], 0, 1)])
            codes = (fake.deliver("product.updated", record_id=product["id"])
                     + fake.deliver("order.created", record_id=order["id"]))
            print(f"product {product['id']} stock {stock}, order {order['id']}: webhooks {codes}")
    except KeyboardInterrupt:
        fake.shutdown()


if __name__ == "__main__":
    main()
