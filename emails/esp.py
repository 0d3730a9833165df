"""The ESPs a store can connect, through django-anymail, each with its own credentials.

A ``MailerAccount`` with ``transport=esp`` names one of ``ESPS`` and keeps its credentials as
encrypted JSON (the keys in ``credentials``). Every backend is built per send with the store's
credentials as keyword arguments (anymail reads per-connection settings before Django settings),
and its HTTP goes through ``core.http.outbound_session`` (timeouts, no redirects, no private
addresses). The store's webhook URL is ``/webhooks/mailer/<store_id>/<esp>/``; it is verified
with the store's ``webhook_secret`` (HTTP basic auth ``user:password`` for most ESPs, the
signing key for Mailgun, the Svix signing secret for Resend).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from django.utils.module_loading import import_string

from xsell_plugin.core.http import outbound_session

BASIC_AUTH = "basic_auth"      # webhook_secret = "user:password" in the webhook URL
SIGNING_KEY = "signing_key"    # Mailgun: HMAC-SHA256 of timestamp + token
SVIX = "svix"                  # Resend: Svix signature headers (needs the svix package)


@dataclass(frozen=True, slots=True)
class ESP:
    name: str
    label: str
    backend: str
    credentials: tuple[str, ...]
    webhook_view: str
    webhook_auth: str
    webhook_kwarg: str
    # HTTP header the ESP reads as an idempotency key (a retried send goes out once).
    idempotency_header: str = ""
    optional: tuple[str, ...] = ()
    note: str = ""


ESPS: dict[str, ESP] = {esp.name: esp for esp in (
    ESP("postmark", "Postmark", "anymail.backends.postmark.EmailBackend", ("server_token",),
        "anymail.webhooks.postmark.PostmarkTrackingWebhookView", BASIC_AUTH, "webhook_secret",
        optional=("message_stream",)),
    ESP("mailgun", "Mailgun", "anymail.backends.mailgun.EmailBackend", ("api_key",),
        "anymail.webhooks.mailgun.MailgunTrackingWebhookView", SIGNING_KEY, "webhook_signing_key",
        optional=("sender_domain",)),
    ESP("amazon_ses", "Amazon SES", "anymail.backends.amazon_ses.EmailBackend", (),
        "anymail.webhooks.amazon_ses.AmazonSESTrackingWebhookView", BASIC_AUTH, "webhook_secret",
        optional=("session_params", "client_params", "configuration_set_name"),
        note="needs the boto3 package; credentials go in session_params"),
    ESP("brevo", "Brevo", "anymail.backends.brevo.EmailBackend", ("api_key",),
        "anymail.webhooks.brevo.BrevoTrackingWebhookView", BASIC_AUTH, "webhook_secret"),
    ESP("resend", "Resend", "anymail.backends.resend.EmailBackend", ("api_key",),
        "anymail.webhooks.resend.ResendTrackingWebhookView", SVIX, "signing_secret",
        idempotency_header="Idempotency-Key", note="webhook verification needs the svix package"),
    ESP("sparkpost", "SparkPost", "anymail.backends.sparkpost.EmailBackend", ("api_key",),
        "anymail.webhooks.sparkpost.SparkPostTrackingWebhookView", BASIC_AUTH, "webhook_secret",
        optional=("subaccount",)),
    ESP("sendgrid", "SendGrid", "anymail.backends.sendgrid.EmailBackend", ("api_key",),
        "anymail.webhooks.sendgrid.SendGridTrackingWebhookView", BASIC_AUTH, "webhook_secret"),
    ESP("mailjet", "Mailjet", "anymail.backends.mailjet.EmailBackend", ("api_key", "secret_key"),
        "anymail.webhooks.mailjet.MailjetTrackingWebhookView", BASIC_AUTH, "webhook_secret"),
)}
ESP_CHOICES = [(e.name, e.label) for e in ESPS.values()]


@functools.cache
def _backend_class(path: str) -> type:
    """The anymail backend, its HTTP session replaced by our outbound session."""
    base = import_string(path)

    def create_session(self):
        session = outbound_session(timeout=self.timeout if isinstance(self.timeout, int | float) else None)
        session.headers["User-Agent"] = f"xsell django-anymail/{self.esp_name.lower()}"
        return session

    attrs: dict[str, Any] = {"__module__": __name__}
    if hasattr(base, "create_session"):
        attrs["create_session"] = create_session
    return type(f"Xsell{base.__module__.rsplit('.', 1)[-1].title()}Backend", (base,), attrs)


def esp_backend(esp: ESP, credentials: dict[str, Any], *, timeout: float):
    """An open-able anymail backend with this store's credentials."""
    kwargs = {k: v for k, v in credentials.items()
              if k in (*esp.credentials, *esp.optional, "api_url")}
    if esp.name != "amazon_ses":
        kwargs["timeout"] = timeout
    return _backend_class(esp.backend)(fail_silently=False, **kwargs)


def webhook_view(esp: ESP, secret: str):
    """The anymail tracking-webhook view instance for one store (its own secret)."""
    view_class = import_string(esp.webhook_view)
    value: Any = [secret] if esp.webhook_auth == BASIC_AUTH else secret
    return view_class(**{esp.webhook_kwarg: value})
