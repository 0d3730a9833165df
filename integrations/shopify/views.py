"""Shopify's HTTP entry points: the embedded app URL (token exchange), the authorization-code
install, and the webhook receiver. Each parses its input, calls one service, formats output."""

from __future__ import annotations

import hmac
import json
import logging
from datetime import datetime
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from integrations.exceptions import PlatformError, RetryablePlatformError
from integrations.shopify import auth, endpoints, services, topics
from integrations.webhooks import webhook_event_record_for_domain
from xsell_plugin.core.exceptions import ApplicationError
from xsell_plugin.dashboard.auth import SESSION_KEY
from xsell_plugin.stores.models import Store

logger = logging.getLogger(__name__)

MAX_WEBHOOK_BYTES = 5 * 1024 * 1024
STATE_COOKIE = "xsell_shopify_state"
_STATE_SALT = "xsell.shopify.state"


def _error(exc: ApplicationError) -> JsonResponse:
    status = exc.status_code
    if isinstance(exc, RetryablePlatformError):
        status = 503
    return JsonResponse(exc.as_dict(), status=status)


def _library_response(res) -> HttpResponse:
    response = HttpResponse(res.body, status=res.status)
    for name, value in (res.headers or {}).items():
        response[name] = value
    return response


def _open_admin(request: HttpRequest, store: Store) -> HttpResponse:
    """Open the merchant's admin session as the app shell does, then show the app."""
    request.session.cycle_key()
    request.session[SESSION_KEY] = store.pk
    params = {"shop": store.domain}
    if request.GET.get("host"):
        params["host"] = request.GET["host"]
    return HttpResponseRedirect("/app/?" + urlencode(params))


def _query(request: HttpRequest) -> dict[str, list[str]]:
    return dict(request.GET.lists())


# --- embedded app (token exchange) -----------------------------------------------------------------
@require_GET
def embedded_entry(request: HttpRequest) -> HttpResponse:
    """The app URL Shopify's admin loads (``?shop&host&id_token``). Verifies the ID token, swaps
    it for an expiring offline token when the shop has none (install), then opens the app."""
    try:
        result = auth.verify_app_home("GET", request.build_absolute_uri(), request.headers)
        if not result.ok or result.id_token is None:
            return _library_response(result.response)  # to the patch-ID-token page, or 401
        shop = auth.check_claims(result.id_token.claims)
        if services.shop_needs_token(shop=shop):
            store = services.shop_install(shop=shop,
                                          issued=auth.exchange_session_token(result.id_token))
        else:
            store = Store.objects.get(platform=Store.Platform.SHOPIFY, domain=shop)
    except ApplicationError as exc:
        logger.info("shopify embedded entry refused: %s", exc.code)
        return _error(exc)
    return _open_admin(request, store)


@require_GET
def patch_id_token(request: HttpRequest) -> HttpResponse:
    """The small App Bridge page that reloads the app URL with a fresh ``id_token``."""
    try:
        result = auth.shopify_app().app_home_patch_id_token(auth.request_input(
            "GET", request.build_absolute_uri(), request.headers))
    except ApplicationError as exc:
        return _error(exc)
    return _library_response(result.response)


# --- authorization-code grant (non-embedded installs) ---------------------------------------------
@require_GET
def install(request: HttpRequest) -> HttpResponse:
    """``/auth/shopify/install?shop&timestamp&hmac``: check the link, then send the merchant to
    Shopify's grant screen with a single-use ``state`` bound to this shop and this browser."""
    try:
        shop = auth.verify_query(_query(request))
        nonce = services.oauth_state_create(shop=shop)
        target = endpoints.authorize_url(
            shop, client_id=auth.api_key(), scope=settings.XSELL_SHOPIFY_SCOPES,
            redirect_uri=endpoints.oauth_callback_url(), state=nonce)
    except ApplicationError as exc:
        return _error(exc)
    response = HttpResponseRedirect(target)
    response.set_signed_cookie(STATE_COOKIE, nonce, salt=_STATE_SALT, max_age=int(
        services.STATE_TTL.total_seconds()), httponly=True, samesite="Lax", secure=request.is_secure())
    return response


@require_GET
def callback(request: HttpRequest) -> HttpResponse:
    """``/auth/shopify/callback?code&shop&state&timestamp&hmac``: verify, use the state once,
    trade the code for an expiring offline token, install, open the app."""
    try:
        shop = auth.verify_query(_query(request))
        state = request.GET.get("state", "")
        cookie = request.get_signed_cookie(STATE_COOKIE, default="", salt=_STATE_SALT,
                                           max_age=int(services.STATE_TTL.total_seconds()))
        if not state or not hmac.compare_digest(cookie.encode(), state.encode()):
            raise auth.InstallRequestInvalid("The install was not started from this browser.",
                                             code="shopify_state_invalid")
        if not services.oauth_state_consume(nonce=state, shop=shop):
            raise auth.InstallRequestInvalid("The install state is unknown, expired or used.",
                                             code="shopify_state_invalid")
        issued = auth.exchange_authorization_code(shop=shop, code=request.GET.get("code", ""))
        store = services.shop_install(shop=shop, issued=issued)
    except ApplicationError as exc:
        logger.info("shopify callback refused: %s", exc.code)
        return _error(exc)
    response = _open_admin(request, store)
    response.delete_cookie(STATE_COOKIE)
    return response


# --- webhooks --------------------------------------------------------------------------------------
def _header(request: HttpRequest, name: str) -> str:
    """``X-Shopify-<name>`` or the newer un-prefixed ``shopify-<name>``."""
    return (request.headers.get(f"X-Shopify-{name}") or request.headers.get(f"Shopify-{name}") or "").strip()


def _triggered_at(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None
    except ValueError:
        return None
    return parsed if parsed is None or parsed.tzinfo else None


@csrf_exempt
@require_POST
def webhook(request: HttpRequest) -> HttpResponse:
    """Verify (HMAC of the raw body), resolve the shop, record once, answer. Processing happens
    later, in ``webhook_event_process`` -> ``ShopifyPlatform.handle_webhook``."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > MAX_WEBHOOK_BYTES:
        return HttpResponse("Payload too large", status=413)
    raw = request.read(MAX_WEBHOOK_BYTES + 1)
    if len(raw) > MAX_WEBHOOK_BYTES:
        return HttpResponse("Payload too large", status=413)
    try:
        text = raw.decode("utf-8")
        result = auth.verify_webhook(request.headers, text)
    except UnicodeDecodeError:
        return HttpResponse("Bad Request", status=400)
    except PlatformError as exc:
        return _error(exc)
    if not result.ok:
        return HttpResponse(result.response.body or "Unauthorized", status=result.response.status)
    topic = _header(request, "Topic")
    shop = endpoints.shop_domain(_header(request, "Shop-Domain"))
    webhook_id = _header(request, "Webhook-Id")
    if not topic or shop is None or not webhook_id:
        return HttpResponse("Missing or invalid Shopify headers", status=400)
    try:
        payload = json.loads(text)
    except ValueError:
        return HttpResponse("Body is not JSON", status=400)
    if not isinstance(payload, dict):
        return HttpResponse("Body is not a JSON object", status=400)
    if topic not in topics.HANDLED:
        logger.info("shopify webhook %s from %s: topic not handled", topic, shop)
        return HttpResponse(status=200)
    # One statement finds the shop's store and records the delivery (nothing for a redelivery or
    # an unknown shop); the rare "nothing" is told apart afterwards, for the log only.
    event_id = webhook_event_record_for_domain(
        store_platform=Store.Platform.SHOPIFY, domain=shop, platform="shopify",
        dedupe_key=webhook_id, topic=topic, body=raw,
        triggered_at=_triggered_at(_header(request, "Triggered-At")))
    if event_id is None and not Store.objects.filter(platform=Store.Platform.SHOPIFY,
                                                     domain=shop).exists():
        logger.info("shopify webhook %s from unknown shop %s ignored", topic, shop)
    return HttpResponse(status=200)
