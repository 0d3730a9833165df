from __future__ import annotations

import re

from django.conf import settings
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET

from xsell_plugin.core.exceptions import ApplicationError
from xsell_plugin.dashboard.auth import SESSION_KEY, store_from_login_token, store_from_session

# A Shopify shop domain (the platform's own validator lives in integrations.shopify, which the
# dashboard may not import).
_SHOP = re.compile(r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$")


def _embedded(request) -> bool:
    """Opened inside Shopify's admin: ``?host=`` (and a shop) with the app's API key set, so App
    Bridge is loaded and every API call carries its session token."""
    return bool(settings.XSELL_SHOPIFY_API_KEY and request.GET.get("host")
                and _SHOP.match(request.GET.get("shop", "") or "x.myshopify.com"))


@require_GET
@ensure_csrf_cookie  # the admin's API writes send it back as X-CSRFToken
def app_shell(request):
    """The admin's single page (``static/xsell_admin/``). ``?login=<signed token>`` opens a
    session for that store. Inside Shopify's admin (``?host=&shop=``) App Bridge is loaded first
    and the API calls carry its session token, so the shell renders even when the browser keeps
    no cookie for the frame (the page holds no store data; the API authenticates each call)."""
    token = request.GET.get("login")
    if token:
        try:
            store = store_from_login_token(token)
        except ApplicationError as exc:
            return render(request, "dashboard/login_required.html", {"error": exc.message},
                          status=exc.status_code)
        request.session.cycle_key()
        request.session[SESSION_KEY] = store.pk
        return HttpResponseRedirect(request.path)
    store = store_from_session(request)
    embedded = _embedded(request)
    if store is None and not (embedded and request.GET.get("shop")):
        return render(request, "dashboard/login_required.html", {}, status=401)
    config = {
        "api": "/api/v1/",
        "embedded": embedded,
        "store": None if store is None else {
            "id": store.pk, "name": store.name, "domain": store.domain, "platform": store.platform,
            "currency": store.currency, "timezone": store.timezone,
        },
    }
    return render(request, "dashboard/app.html", {
        "store": store, "config": config, "app_bridge": embedded,
        "shopify_api_key": settings.XSELL_SHOPIFY_API_KEY,
    })
