"""WooCommerce routes: /auth/woocommerce/... (connect flow) and /webhooks/woocommerce/<store>/."""

from django.urls import path

from integrations.woocommerce import views

urlpatterns = [
    path("auth/woocommerce/connect", views.connect, name="woocommerce-connect"),
    path("auth/woocommerce/callback", views.callback, name="woocommerce-callback"),
    path("auth/woocommerce/return", views.return_page, name="woocommerce-return"),
    path("webhooks/woocommerce/<int:store_id>/", views.webhook, name="woocommerce-webhook"),
    path("webhooks/woocommerce/<int:store_id>/cart", views.cart, name="woocommerce-cart"),
]
