"""A fake Shopify on a real loopback HTTP server: the network edge of the Shopify tests and of
the hand-run sandbox (``python -m tests.fakes.shopify``).

Routes (the shop rides in the first path segment, as ``XSELL_SHOPIFY_ADMIN_BASE_URL`` expects):

* ``POST /<shop>/admin/api/<version>/graphql.json``: the GraphQL Admin API, answered by operation
  name (every query of ours is named ``Xsell...``), with ``extensions.cost`` like Shopify's;
* ``POST /<shop>/admin/oauth/access_token``: token exchange, authorization code, refresh
  (rotating refresh tokens, expiring access tokens);
* ``GET /<shop>/admin/oauth/authorize``: approves at once and redirects back, signed;
* ``GET /_bulk/<shop>/<n>.jsonl``: bulk-operation results (JSONL, children after parents);
* ``POST /_fake/emit?shop=&topic=``: deliver a webhook (body, or the recorded payload) to the
  shop's subscriptions, signed with the app secret.

``Script`` makes it misbehave on purpose: throttle, 429, 5xx, 401, slow refreshes, failed
polls, a result download that breaks off.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import re
import secrets
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import requests

PAYLOADS = Path(__file__).resolve().parents[2] / "payloads" / "shopify"
NESTED_PAGE = 100
TOKEN_TTL = 3600
REFRESH_TTL = 90 * 24 * 3600
_OP_RE = re.compile(r"^\s*(?:query|mutation)\s+(\w+)")
_ROOT_RE = re.compile(r"^\s*\{\s*(\w+)")


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    chunks: Any = None  # an iterator of bytes for streamed bodies
    break_after: int | None = None  # bytes sent before the connection is dropped

    @classmethod
    def json(cls, data: Any, status: int = 200, headers: dict | None = None) -> Reply:
        return cls(status, json.dumps(data).encode(), {"Content-Type": "application/json", **(headers or {})})


@dataclass
class Script:
    """Misbehaviour, consumed as it is served."""

    canned: deque = field(default_factory=deque)  # (operation or "*", Reply) served first
    throttled: Counter = field(default_factory=Counter)  # operation -> THROTTLED answers left
    unauthorized: int = 0  # valid tokens answered 401 this many times
    refresh_delay: float = 0.0
    poll_failures: int = 0  # bulk polls answered 500
    polls_until_complete: int = 1
    break_download_after_lines: int | None = None  # once


@dataclass
class Shop:
    domain: str
    name: str = "Fake Shop"
    currency: str = "USD"
    timezone: str = "America/New_York"
    products: list[dict] = field(default_factory=list)
    customers: list[dict] = field(default_factory=list)
    orders: list[dict] = field(default_factory=list)
    access_tokens: dict[str, float] = field(default_factory=dict)  # token -> expires (epoch)
    refresh_tokens: dict[str, float] = field(default_factory=dict)
    codes: set[str] = field(default_factory=set)
    webhooks: dict[str, dict] = field(default_factory=dict)
    discounts: list[dict] = field(default_factory=list)
    consent_updates: list[dict] = field(default_factory=list)
    bulk_ops: dict[str, dict] = field(default_factory=dict)
    calls: Counter = field(default_factory=Counter)

    def issue(self, *, expiring: bool = True, ttl: int = TOKEN_TTL) -> dict:
        token = "shpat_" + secrets.token_hex(16)
        self.access_tokens[token] = time.time() + ttl if expiring else float("inf")
        answer = {"access_token": token, "scope": "read_products,read_orders,read_customers,write_discounts"}
        if expiring:
            refresh = "shprt_" + secrets.token_hex(16)
            self.refresh_tokens[refresh] = time.time() + REFRESH_TTL
            answer.update(expires_in=ttl, refresh_token=refresh, refresh_token_expires_in=REFRESH_TTL)
        return answer


def _cost(available: float = 1990.0, requested: int = 10) -> dict:
    return {"cost": {"requestedQueryCost": requested, "actualQueryCost": requested,
                     "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": available,
                                        "restoreRate": 100.0}}}


def sign_webhook(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def sign_query(secret: str, params: dict[str, str]) -> str:
    message = "&".join(f"{k}={params[k]}" for k in sorted(params) if k not in ("hmac", "signature"))
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def webhook_headers(*, secret: str, topic: str, shop: str, body: bytes, webhook_id: str | None = None,
                    triggered_at: str | None = None, style: str = "x") -> dict[str, str]:
    """Shopify's webhook headers, ``X-Shopify-*`` (style "x") or the newer ``shopify-*``."""
    prefix = "X-Shopify-" if style == "x" else "shopify-"
    return {
        f"{prefix}Topic": topic, f"{prefix}Shop-Domain": shop,
        f"{prefix}Hmac-Sha256": sign_webhook(secret, body),
        f"{prefix}Webhook-Id": webhook_id or str(uuid.uuid4()),
        f"{prefix}Triggered-At": triggered_at or datetime.now(UTC).isoformat(),
        f"{prefix}Api-Version": "2026-10", "Content-Type": "application/json",
    }


def session_token(*, secret: str, api_key: str, shop: str, lifetime: int = 60,
                  now: float | None = None, **overrides: Any) -> str:
    """An App Bridge session (ID) token as Shopify signs it."""
    now = time.time() if now is None else now
    claims = {"iss": f"https://{shop}/admin", "dest": f"https://{shop}", "aud": api_key,
              "sub": "42", "exp": int(now + lifetime), "nbf": int(now - 1), "iat": int(now - 1),
              "jti": str(uuid.uuid4()), "sid": secrets.token_hex(8)}
    claims.update(overrides)
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, secret, algorithm="HS256")


def flatten(root: str, nodes: list[dict]) -> list[dict]:
    """GraphQL nodes -> bulk JSONL objects: nested connections become lines with ``__parentId``."""
    children = {"products": ("variants", "collections"), "orders": ("lineItems",)}.get(root, ())
    lines = []
    for node in nodes:
        lines.append({k: v for k, v in node.items() if k not in children})
        for name in children:
            lines += [{**child, "__parentId": node["id"]} for child in node.get(name) or ()]
    return lines


class FakeShopify:
    def __init__(self, *, api_key: str = "test_api_key", api_secret: str = "test_secret_key") -> None:
        self.api_key = api_key
        self.api_secret = api_secret
        self.lock = threading.RLock()
        self.url = ""
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.shops: dict[str, Shop] = {}
            self.script = Script()
            self.deliveries: list[dict] = []
            self._ids = itertools.count(1)

    def add_shop(self, domain: str, **fields: Any) -> Shop:
        with self.lock:
            shop = self.shops[domain] = Shop(domain=domain, **fields)
            return shop

    def shop(self, domain: str) -> Shop:
        return self.shops[domain]

    # --- HTTP dispatch ----------------------------------------------------------------------------
    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Reply:
        parts = urlsplit(target)
        segments = [s for s in parts.path.split("/") if s]
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if segments[:1] == ["_bulk"] and method == "GET":
            return self._bulk_download(segments[1], segments[2].removesuffix(".jsonl"))
        if segments[:2] == ["_fake", "emit"] and method == "POST":
            return self._emit(query, body)
        if not segments or segments[0] not in self.shops:
            return Reply.json({"errors": "Not Found"}, 404)
        shop = self.shops[segments[0]]
        rest = "/" + "/".join(segments[1:])
        if rest == "/admin/oauth/access_token" and method == "POST":
            return self._token(shop, body)
        if rest == "/admin/oauth/authorize" and method == "GET":
            return self._authorize(shop, query)
        if re.fullmatch(r"/admin/api/[\w-]+/graphql\.json", rest) and method == "POST":
            return self._graphql(shop, headers, body)
        return Reply.json({"errors": "Not Found"}, 404)

    # --- OAuth ------------------------------------------------------------------------------------
    def _token(self, shop: Shop, body: bytes) -> Reply:
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            data = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        if data.get("client_id") != self.api_key or data.get("client_secret") != self.api_secret:
            return Reply.json({"error": "invalid_client"}, 401)
        grant = data.get("grant_type", "")
        with self.lock:
            if grant == "refresh_token":
                shop.calls["token:refresh"] += 1
            elif grant.endswith("token-exchange"):
                shop.calls["token:exchange"] += 1
            else:
                shop.calls["token:code"] += 1
        if grant == "refresh_token":
            time.sleep(self.script.refresh_delay)
            with self.lock:
                expires = shop.refresh_tokens.pop(data.get("refresh_token", ""), 0)
                if expires < time.time():
                    return Reply.json({"error": "invalid_grant"}, 400)
                return Reply.json(shop.issue())
        if grant.endswith("token-exchange"):
            try:
                claims = jwt.decode(data.get("subject_token", ""), self.api_secret, algorithms=["HS256"],
                                    audience=self.api_key, leeway=10)
            except jwt.PyJWTError:
                return Reply.json({"error": "invalid_subject_token"}, 400)
            if urlsplit(claims.get("dest", "")).hostname != shop.domain:
                return Reply.json({"error": "invalid_subject_token"}, 400)
            with self.lock:
                return Reply.json(shop.issue(expiring=str(data.get("expiring")) == "1"))
        with self.lock:
            if data.get("code") not in shop.codes:
                return Reply.json({"error": "invalid_request", "error_description":
                                   "The authorization code was not found or was already used"}, 400)
            shop.codes.discard(data["code"])
            return Reply.json(shop.issue(expiring=str(data.get("expiring")) == "1"))

    def authorization_code(self, shop: str) -> str:
        code = secrets.token_hex(16)
        with self.lock:
            self.shops[shop].codes.add(code)
        return code

    def _authorize(self, shop: Shop, query: dict[str, str]) -> Reply:
        if query.get("client_id") != self.api_key:
            return Reply.json({"errors": "unknown client"}, 400)
        params = {"code": self.authorization_code(shop.domain), "host": base64.b64encode(
            f"admin.shopify.com/store/{shop.domain.split('.')[0]}".encode()).decode().rstrip("="),
            "shop": shop.domain, "state": query.get("state", ""), "timestamp": str(int(time.time()))}
        params["hmac"] = sign_query(self.api_secret, params)
        return Reply(302, headers={"Location": f"{query['redirect_uri']}?{urlencode(params)}"})

    # --- GraphQL ----------------------------------------------------------------------------------
    def _graphql(self, shop: Shop, headers: dict[str, str], body: bytes) -> Reply:
        token = headers.get("x-shopify-access-token", "")
        with self.lock:
            valid = shop.access_tokens.get(token, 0) > time.time()
            if valid and self.script.unauthorized:
                self.script.unauthorized -= 1
                valid = False
        if not valid:
            shop.calls["graphql:401"] += 1
            return Reply.json({"errors": "[API] Invalid API key or access token "
                                         "(unrecognized login or wrong password)"}, 401)
        request = json.loads(body)
        query, variables = request.get("query", ""), request.get("variables") or {}
        match = _OP_RE.match(query)
        operation = match.group(1) if match else "anonymous"
        with self.lock:
            shop.calls[operation] += 1
            for index, (wanted, reply) in enumerate(self.script.canned):
                if wanted in (operation, "*"):
                    del self.script.canned[index]
                    return reply
            if self.script.throttled[operation] > 0:
                self.script.throttled[operation] -= 1
                return Reply.json({"errors": [{"message": "Throttled", "extensions": {
                    "code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}],
                    "extensions": _cost(available=5.0, requested=15)})
            handler = getattr(self, f"_op_{operation}", None)
            if handler is None:
                return Reply.json({"errors": [{"message": f"Unknown operation {operation}"}]})
            result = handler(shop, variables)
            if isinstance(result, Reply):
                return result
            return Reply.json({"data": result, "extensions": _cost()})

    def _op_XsellShop(self, shop: Shop, v: dict) -> dict:
        return {"shop": {"name": shop.name, "currencyCode": shop.currency,
                         "ianaTimezone": shop.timezone, "myshopifyDomain": shop.domain}}

    @staticmethod
    def _connection(items: list[dict], first: int, after: str | None) -> dict:
        start = int(base64.b64decode(after).decode()) if after else 0
        page = items[start:start + first]
        end = start + len(page)
        return {"pageInfo": {"hasNextPage": end < len(items),
                             "endCursor": base64.b64encode(str(end).encode()).decode() if page else None},
                "nodes": page}

    def _render(self, root: str, node: dict) -> dict:
        nested = {"products": ("variants", "collections"), "orders": ("lineItems",)}.get(root, ())
        return {k: (self._connection(v, NESTED_PAGE, None) if k in nested else v) for k, v in node.items()}

    def _page(self, shop: Shop, root: str, v: dict) -> dict:
        items = sorted(getattr(shop, root), key=lambda n: (n["updatedAt"], n["id"]))
        since = re.search(r"updated_at:>='([^']+)'", v.get("query") or "")
        if since:
            items = [n for n in items if n["updatedAt"] >= since.group(1)]
        conn = self._connection(items, int(v.get("first") or 50), v.get("after"))
        conn["nodes"] = [self._render(root, n) for n in conn["nodes"]]
        return {root: conn}

    def _op_XsellProductsPage(self, shop, v):
        return self._page(shop, "products", v)

    def _op_XsellCustomersPage(self, shop, v):
        return self._page(shop, "customers", v)

    def _op_XsellOrdersPage(self, shop, v):
        return self._page(shop, "orders", v)

    @staticmethod
    def _find(items: list[dict], object_id: str) -> dict | None:
        return next((n for n in items if n["id"] == object_id), None)

    def _op_XsellProduct(self, shop, v):
        node = self._find(shop.products, v["id"])
        return {"product": self._render("products", node) if node else None}

    def _op_XsellOrder(self, shop, v):
        node = self._find(shop.orders, v["id"])
        return {"order": self._render("orders", node) if node else None}

    def _nested(self, items, root, name, v):
        node = self._find(items, v["id"])
        return {root: {name: self._connection(node[name], 250, v.get("after"))} if node else None}

    def _op_XsellProductVariants(self, shop, v):
        return self._nested(shop.products, "product", "variants", v)

    def _op_XsellProductCollections(self, shop, v):
        return self._nested(shop.products, "product", "collections", v)

    def _op_XsellOrderLineItems(self, shop, v):
        return self._nested(shop.orders, "order", "lineItems", v)

    def _op_XsellInventoryItem(self, shop, v):
        for item in shop.products:
            for variant in item["variants"]:
                if variant["inventoryItem"]["id"] == v["id"]:
                    return {"inventoryItem": {"id": v["id"], "tracked": variant["inventoryItem"]["tracked"],
                                              "variant": {k: variant[k] for k in (
                                                  "id", "inventoryQuantity", "inventoryPolicy")}}}
        return {"inventoryItem": None}

    def _op_XsellCustomerByEmail(self, shop, v):
        wanted = re.search(r'email:"([^"]+)"', v.get("query", ""))
        found = [c for c in shop.customers if wanted and
                 c["defaultEmailAddress"]["emailAddress"] == wanted.group(1)]
        return {"customers": {"nodes": [{"id": c["id"]} for c in found[:1]]}}

    # bulk operations
    def _op_XsellBulkRun(self, shop, v):
        root = _ROOT_RE.match(v.get("query", ""))
        if not root or root.group(1) not in ("products", "customers", "orders"):
            return {"bulkOperationRunQuery": {"bulkOperation": None, "userErrors": [
                {"field": ["query"], "message": "Invalid bulk query", "code": "INVALID"}]}}
        op_id = f"gid://shopify/BulkOperation/{next(self._ids)}"
        shop.bulk_ops[op_id] = {"id": op_id, "root": root.group(1), "status": "CREATED", "polls": 0}
        shop.calls["bulk:run"] += 1
        return {"bulkOperationRunQuery": {"bulkOperation": {"id": op_id, "status": "CREATED"},
                                          "userErrors": []}}

    def _op_XsellBulkPoll(self, shop, v):
        op = shop.bulk_ops.get(v["id"])
        if op is None:
            return {"node": None}
        if self.script.poll_failures:
            self.script.poll_failures -= 1
            return Reply.json({"errors": "Internal Server Error"}, 500, {"Retry-After": "0.01"})
        op["polls"] += 1
        if op["status"] != "COMPLETED" and op["polls"] >= self.script.polls_until_complete:
            lines = flatten(op["root"], getattr(shop, op["root"]))
            op["content"] = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
            op.update(status="COMPLETED", count=len(lines))
        elif op["status"] != "COMPLETED":
            op["status"] = "RUNNING"
        done = op["status"] == "COMPLETED"
        number = op["id"].rsplit("/", 1)[1]
        url = f"{self.url}/_bulk/{shop.domain}/{number}.jsonl" if done and op["count"] else None
        return {"node": {"id": op["id"], "status": op["status"], "errorCode": None,
                         "objectCount": str(op.get("count", 0)), "url": url, "partialDataUrl": None}}

    def _bulk_download(self, domain: str, number: str) -> Reply:
        shop = self.shops.get(domain)
        op = shop.bulk_ops.get(f"gid://shopify/BulkOperation/{number}") if shop else None
        if op is None or "content" not in op:
            return Reply(403, b"<Error><Code>ExpiredToken</Code></Error>",
                         {"Content-Type": "application/xml"})
        with self.lock:
            shop.calls["bulk:download"] += 1
            cut = self.script.break_download_after_lines
            self.script.break_download_after_lines = None
        content = op["content"]
        reply = Reply(200, content, {"Content-Type": "application/jsonl"})
        if cut is not None:
            offset = 0
            for _ in range(cut):
                offset = content.index(b"\n", offset) + 1
            reply.break_after = offset
        return reply

    # webhooks, discounts, consent
    def _op_XsellWebhooks(self, shop, v):
        return {"webhookSubscriptions": self._connection(list(shop.webhooks.values()), 100, v.get("after"))}

    def _op_XsellWebhookCreate(self, shop, v):
        sub_id = f"gid://shopify/WebhookSubscription/{next(self._ids)}"
        shop.webhooks[sub_id] = {"id": sub_id, "topic": v["topic"], "uri": v["sub"]["uri"]}
        return {"webhookSubscriptionCreate": {"webhookSubscription": shop.webhooks[sub_id], "userErrors": []}}

    def _op_XsellWebhookUpdate(self, shop, v):
        sub = shop.webhooks[v["id"]]
        sub["uri"] = v["sub"]["uri"]
        return {"webhookSubscriptionUpdate": {"webhookSubscription": sub, "userErrors": []}}

    def _discount(self, shop, v, root):
        data = v["input"]
        if any(d["code"] == data["code"] for d in shop.discounts):
            return {root: {"codeDiscountNode": None, "userErrors": [
                {"field": ["basicCodeDiscount", "code"], "message": "Code must be unique.",
                 "code": "TAKEN"}]}}
        node_id = f"gid://shopify/DiscountCodeNode/{next(self._ids)}"
        shop.discounts.append({**data, "id": node_id, "kind": root})
        return {root: {"codeDiscountNode": {"id": node_id, "codeDiscount": {
            "endsAt": data.get("endsAt"), "codes": {"nodes": [{"code": data["code"]}]}}}, "userErrors": []}}

    def _op_XsellDiscountBasicCreate(self, shop, v):
        return self._discount(shop, v, "discountCodeBasicCreate")

    def _op_XsellDiscountBxgyCreate(self, shop, v):
        return self._discount(shop, v, "discountCodeBxgyCreate")

    def _op_XsellDiscountFreeShippingCreate(self, shop, v):
        return self._discount(shop, v, "discountCodeFreeShippingCreate")

    def _op_XsellConsentUpdate(self, shop, v):
        data = v["input"]
        customer = self._find(shop.customers, data["customerId"])
        if customer is None:
            return {"customerEmailMarketingConsentUpdate": {"customer": None, "userErrors": [
                {"field": ["customerId"], "message": "Customer not found", "code": "INVALID"}]}}
        shop.consent_updates.append(data)
        customer["defaultEmailAddress"]["marketingState"] = data["emailMarketingConsent"]["marketingState"]
        return {"customerEmailMarketingConsentUpdate": {"customer": {"id": customer["id"]}, "userErrors": []}}

    # --- delivering webhooks to the app ------------------------------------------------------------
    def deliver(self, *, shop: str, topic: str, payload: dict | bytes | None = None,
                url: str | None = None, style: str = "x", webhook_id: str | None = None) -> list[int]:
        """POST a signed webhook to every subscription of the topic (or to ``url``)."""
        if payload is None:
            payload = json.loads((PAYLOADS / f"{topic}.json").read_text())
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        enum = topic.replace("/", "_").upper()
        targets = [url] if url else [s["uri"] for s in self.shops[shop].webhooks.values()
                                     if s["topic"] == enum]
        statuses = []
        for target in targets:
            headers = webhook_headers(secret=self.api_secret, topic=topic, shop=shop, body=body,
                                      webhook_id=webhook_id, style=style)
            status = requests.post(target, data=body, headers=headers, timeout=10).status_code
            self.deliveries.append({"topic": topic, "url": target, "status": status})
            statuses.append(status)
        return statuses

    def _emit(self, query: dict[str, str], body: bytes) -> Reply:
        try:
            statuses = self.deliver(shop=query["shop"], topic=query["topic"],
                                    payload=body or None, url=query.get("url"))
        except (KeyError, OSError, ValueError) as exc:
            return Reply.json({"error": str(exc)}, 400)
        return Reply.json({"delivered": statuses})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: FakeShopify

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            reply = self.fake.handle(self.command, self.path, headers, body)
        except Exception as exc:  # a bug in the fake: answer 500 and say why
            reply = Reply.json({"errors": f"fake failed: {type(exc).__name__}: {exc}"}, 500)
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        if reply.break_after is not None:
            self.send_header("Connection", "close")
        self.end_headers()
        if reply.break_after is not None:
            self.wfile.write(reply.body[:reply.break_after])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(reply.body)

    do_GET = do_POST = _serve

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


class FakeShopifyServer:
    """Runs a ``FakeShopify`` on 127.0.0.1 in a thread."""

    def __init__(self, fake: FakeShopify | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.fake = fake or FakeShopify()
        handler = type("Handler", (_Handler,), {"fake": self.fake})
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self.fake.url = f"http://{host}:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="fake-shopify", daemon=True)

    @property
    def url(self) -> str:
        return self.fake.url

    def start(self) -> FakeShopifyServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
