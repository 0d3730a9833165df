"""Who is the merchant: a store chosen by a signed login link, kept in the session.

Shopify's session-token authentication joins this in the Shopify issue; the signed link serves
WooCommerce and local use (``manage.py xsell_login_link`` and ``make run`` print one).
"""

from __future__ import annotations

from datetime import timedelta

from rest_framework.authentication import SessionAuthentication

from xsell_plugin.core.exceptions import NotAuthenticated
from xsell_plugin.core.tokens import make_token, read_token
from xsell_plugin.stores.models import Store

LOGIN_PURPOSE = "admin-login"
LOGIN_MAX_AGE = timedelta(hours=12)
SESSION_KEY = "xsell_store_id"


def login_token_for(store: Store) -> str:
    return make_token(LOGIN_PURPOSE, {"store": store.pk})


def store_from_login_token(token: str) -> Store:
    payload = read_token(LOGIN_PURPOSE, token, max_age=LOGIN_MAX_AGE)
    store = Store.objects.filter(pk=payload.get("store"), status=Store.Status.ACTIVE).first()
    if store is None:
        raise NotAuthenticated("This store is not installed.")
    return store


def store_from_session(request) -> Store | None:
    store_id = request.session.get(SESSION_KEY)
    if store_id is None:
        return None
    return Store.objects.filter(pk=store_id, status=Store.Status.ACTIVE).first()


class StoreSessionAuthentication(SessionAuthentication):
    """DRF authentication: the store the session was opened for (``request.auth`` is the store).

    A cookie session, so unsafe methods must carry the CSRF token (``X-CSRFToken``), exactly as
    DRF's own session authentication demands: the session cookie is ``SameSite=None`` in
    production (the admin is framed by Shopify), so the browser would send it cross-site.
    """

    def authenticate(self, request):
        store = store_from_session(request._request)
        if store is None:
            return None
        self.enforce_csrf(request)
        return (None, store)

    def authenticate_header(self, request) -> str:
        return "Session"
