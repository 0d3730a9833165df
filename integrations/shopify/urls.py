"""Shopify routes: the embedded app URL, the authorization-code install, webhooks."""

from django.urls import path

from integrations.shopify import views

urlpatterns = [
    path("auth/shopify/", views.embedded_entry, name="shopify-entry"),
    path("auth/shopify/patch-id-token", views.patch_id_token, name="shopify-patch-id-token"),
    path("auth/shopify/install", views.install, name="shopify-install"),
    path("auth/shopify/callback", views.callback, name="shopify-callback"),
    path("webhooks/shopify/", views.webhook, name="shopify-webhook"),
]
