"""The project's routes plus the bare reference view of ``xsell_bench webhooks``."""

import json

from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from xsell_plugin.urls import urlpatterns as project_urlpatterns


@csrf_exempt
@require_POST
def bare(request: HttpRequest) -> HttpResponse:
    """Nothing but Django: routing, middleware, an empty 200."""
    return HttpResponse(status=200)


urlpatterns = [path("bench/bare/", bare, name="bench-bare"), *project_urlpatterns]


@csrf_exempt
@require_POST
def naive_shopify(request: HttpRequest) -> HttpResponse:
    """The receiver as first written (before docs/performance.md's changes), kept as a second
    reference: the same HMAC check, then an ORM lookup of the store, ``create()`` in a
    transaction (a duplicate raises and is caught) and the task enqueued on commit."""
    from django.db import IntegrityError, transaction

    from integrations.models import WebhookEvent
    from integrations.shopify import auth, endpoints
    from xsell_plugin.core.tasks import enqueue_on_commit
    from xsell_plugin.stores.models import Store

    raw = request.read()
    text = raw.decode("utf-8")
    if not auth.verify_webhook(request.headers, text).ok:
        return HttpResponse(status=401)
    shop = endpoints.shop_domain(request.headers.get("X-Shopify-Shop-Domain", ""))
    json.loads(text)
    store = Store.objects.filter(platform=Store.Platform.SHOPIFY, domain=shop).only("pk").first()
    if store is None:
        return HttpResponse(status=200)
    try:
        with transaction.atomic():
            event = WebhookEvent.objects.create(
                store=store, platform="shopify", dedupe_key=request.headers["X-Shopify-Webhook-Id"],
                topic=request.headers["X-Shopify-Topic"], body=text)
            enqueue_on_commit("integrations.tasks.process_webhook_event", event.pk, queue="webhooks")
    except IntegrityError:
        pass
    return HttpResponse(status=200)


urlpatterns.insert(0, path("bench/naive-shopify/", naive_shopify, name="bench-naive-shopify"))
