"""Routes reached from emails and from the stores' ESPs (DESIGN.md section 4)."""

from django.urls import path

from xsell_plugin.tracking import views, webhooks

urlpatterns = [
    path("t/c/<str:token>", views.click, name="tracking-click"),
    path("t/o/<str:token>", views.open_pixel, name="tracking-open"),
    path("u/<str:token>", views.unsubscribe, name="tracking-unsubscribe"),
    path("p/<str:token>", views.preferences, name="tracking-preferences"),
    path("webhooks/mailer/<int:store_id>/<slug:esp>/", webhooks.mailer_webhook, name="mailer-webhook"),
]
