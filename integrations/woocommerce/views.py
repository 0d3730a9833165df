"""WooCommerce's HTTP edge: the connect flow and the webhook and cart endpoints.

Each view parses its input, calls one service, and formats the answer.
"""

from __future__ import annotations

import json
import logging

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from integrations.webhooks import webhook_event_record
from integrations.woocommerce import auth, mappers, signatures, topics
from xsell_plugin.core.exceptions import ApplicationError
from xsell_plugin.dashboard.auth import SESSION_KEY
from xsell_plugin.stores.models import Store, StoreCredentials

logger = logging.getLogger(__name__)

MAX_BODY = 5 * 1024 * 1024
PLATFORM = Store.Platform.WOOCOMMERCE


def _message(request: HttpRequest, *, title: str, error: ApplicationError | None = None,
             message: str = "", status: int = 400, hint: str = "") -> HttpResponse:
    context = {"title": title, "message": error.message if error else message,
               "code": error.code if error else "", "hint": hint,
               "retry_url": reverse("woocommerce-connect")}
    return render(request, "woocommerce/message.html", context,
                  status=error.status_code if error else status)


# -- connect ---------------------------------------------------------------------------------

@require_GET
def connect(request: HttpRequest) -> HttpResponse:
    """``?store_url=`` starts the key-granting flow; without it, a form asks for the URL."""
    raw = request.GET.get("store_url")
    if raw is None:
        return render(request, "woocommerce/connect.html", {"store_url": ""})
    try:
        site_url = auth.site_url_validate(raw)
    except ApplicationError as exc:
        return render(request, "woocommerce/connect.html",
                      {"store_url": raw, "error": exc.message}, status=400)
    auth_request = auth.auth_request_start(site_url=site_url)
    request.session[auth.SESSION_NONCE] = auth_request.nonce
    return HttpResponseRedirect(auth.authorize_url(auth_request))


@csrf_exempt
@require_POST
def callback(request: HttpRequest) -> HttpResponse:
    """WordPress delivers the keys here (server to server). Not 200 makes WooCommerce delete
    the key and show an error; a key that fails our check still answers 200, so the merchant
    reaches the return page and reads why (docs/woocommerce.md)."""
    body = request.read(64 * 1024 + 1)
    if len(body) > 64 * 1024:
        return JsonResponse({"code": "too_large", "message": "Body too large."}, status=413)
    try:
        payload = json.loads(body)
    except ValueError:
        return JsonResponse({"code": "malformed", "message": "The body is not JSON."}, status=400)
    try:
        result = auth.auth_callback_complete(body=payload)
    except ApplicationError as exc:
        return JsonResponse(exc.as_dict(), status=exc.status_code)
    if result.error:
        return JsonResponse({"status": "failed", "code": result.error_code})
    return JsonResponse({"status": "connected"})


@require_GET
def return_page(request: HttpRequest) -> HttpResponse:
    """Where WordPress sends the merchant back: open their admin session, go to /app/."""
    try:
        store = auth.auth_return_claim(
            nonce=request.GET.get("user_id", ""),
            session_nonce=request.session.get(auth.SESSION_NONCE),
            success=request.GET.get("success") == "1")
    except ApplicationError as exc:
        return _message(request, title="Your store is not connected", error=exc)
    request.session.cycle_key()
    request.session.pop(auth.SESSION_NONCE, None)
    request.session[SESSION_KEY] = store.pk
    return HttpResponseRedirect(reverse("app-shell"))


# -- webhooks --------------------------------------------------------------------------------

def _read_body(request: HttpRequest) -> bytes | None:
    """The raw body, or None when it is larger than MAX_BODY (read straight from the stream:
    ``request.body`` would stop at DATA_UPLOAD_MAX_MEMORY_SIZE first)."""
    try:
        if int(request.META.get("CONTENT_LENGTH") or 0) > MAX_BODY:
            return None
    except ValueError:
        pass
    body = request.read(MAX_BODY + 1)
    return None if len(body) > MAX_BODY else body


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"code": code, "message": message, "extra": {}}, status=status)


def _webhook_secret(store_id: int) -> tuple[Store | None, str]:
    store = Store.objects.filter(pk=store_id, platform=PLATFORM, status=Store.Status.ACTIVE).first()
    if store is None:
        return None, ""
    secret = (StoreCredentials.objects.filter(store=store)
              .values_list("webhook_secret", flat=True).first())
    return store, secret or ""


@csrf_exempt
@require_POST
def webhook(request: HttpRequest, store_id: int) -> HttpResponse:
    return _ingest(request, store_id, cart=False)


@csrf_exempt
@require_POST
def cart(request: HttpRequest, store_id: int) -> HttpResponse:
    return _ingest(request, store_id, cart=True)


def _ingest(request: HttpRequest, store_id: int, *, cart: bool) -> HttpResponse:
    body = _read_body(request)
    if body is None:
        return _error(413, "too_large", "The body is larger than 5 MB.")
    store, secret = _webhook_secret(store_id)
    if store is None or not secret:
        return _error(404, "not_found", "Unknown store.")
    signature = request.headers.get("X-WC-Webhook-Signature", "")
    topic = request.headers.get("X-WC-Webhook-Topic", "")
    if not cart and not topic and signatures.is_ping(body):
        if signature and not signatures.signature_valid(body, secret, signature):
            return _error(401, "webhook_signature_invalid", "The signature is not valid.")
        return JsonResponse({"status": "pong"})
    if not signatures.signature_valid(body, secret, signature):
        return _error(401, "webhook_signature_invalid", "The signature is not valid.")
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return _error(400, "malformed", "The body is not UTF-8 JSON.")
    if not isinstance(payload, dict):
        return _error(400, "malformed", "The body is not a JSON object.")
    now = timezone.now()
    try:
        if cart:
            topic = topics.CART
            triggered_at = mappers.checkout_from_cart(payload).updated_at  # validates it whole
        elif topic not in topics.ACCEPTED:
            logger.info("store %s: webhook topic %r not handled", store.pk, topic)
            return JsonResponse({"status": "ignored"})
        else:
            mappers.required_id(payload)
            triggered_at = (now if topic in topics.DELETIONS
                            else mappers.resource_time(payload) or now)
    except mappers.MalformedPayload as exc:
        return _error(400, "malformed", str(exc))
    _, created = webhook_event_record(
        store=store, platform=PLATFORM, topic=topic, body=body, triggered_at=triggered_at,
        dedupe_key=signatures.dedupe_key(request.headers.get("X-WC-Webhook-Delivery-ID", ""), body))
    return JsonResponse({"status": "accepted" if created else "duplicate"})
