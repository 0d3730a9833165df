from __future__ import annotations

from django.conf import settings

from xsell_plugin.core.exceptions import NotFound
from xsell_plugin.dashboard.auth import login_token_for
from xsell_plugin.stores.models import Store


def login_url(*, domain: str | None = None) -> str:
    """A signed link that opens the admin for a store (the demo store, or the first active one)."""
    stores = Store.objects.filter(status=Store.Status.ACTIVE).order_by("pk")
    if domain is not None:
        store = stores.filter(domain=domain).first()
    else:
        store = stores.filter(platform=Store.Platform.DEMO).first() or stores.first()
    if store is None:
        raise NotFound("No installed store" + (f" with domain {domain!r}." if domain else
                                                ": load the demo with `manage.py xsell_demo`."))
    return f"{settings.XSELL_PUBLIC_URL}/app/?login={login_token_for(store)}"
