"""Platform routes: /auth/<platform>/... and /webhooks/<platform>/..., one module per platform."""

from django.urls import include, path

urlpatterns = [
    path("", include("integrations.shopify.urls")),
    path("", include("integrations.woocommerce.urls")),
]
