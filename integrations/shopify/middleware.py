"""Anti-clickjacking for the embedded app: Shopify's admin (and only it, for that shop) may frame
the app pages. ``Content-Security-Policy: frame-ancestors https://<shop> https://admin.shopify.com``
on ``/app/`` and ``/auth/shopify/``, and no ``X-Frame-Options: DENY`` there (it would forbid
framing altogether; CSP frame-ancestors replaces it). Every other page keeps DENY."""

from __future__ import annotations

from integrations.shopify import endpoints
from xsell_plugin.dashboard.auth import store_from_session
from xsell_plugin.stores.models import Store

FRAMED_PREFIXES = ("/app/", "/auth/shopify/")


def frame_ancestors(shop: str | None) -> str:
    sources = ([f"https://{shop}"] if shop else []) + ["https://admin.shopify.com"]
    return "frame-ancestors " + " ".join(sources)


class EmbeddedFrameMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not (request.path.startswith(FRAMED_PREFIXES) or request.path == "/app"):
            return response
        shop = endpoints.shop_domain(request.GET.get("shop", "")) or self._session_shop(request)
        kept = [d.strip() for d in response.get("Content-Security-Policy", "").split(";")
                if d.strip() and not d.strip().startswith("frame-ancestors")]
        response["Content-Security-Policy"] = "; ".join([*kept, frame_ancestors(shop)])
        response.xframe_options_exempt = True  # XFrameOptionsMiddleware runs after us
        if "X-Frame-Options" in response:
            del response["X-Frame-Options"]
        return response

    @staticmethod
    def _session_shop(request) -> str | None:
        if not hasattr(request, "session"):
            return None
        store = store_from_session(request)
        return store.domain if store is not None and store.platform == Store.Platform.SHOPIFY else None
