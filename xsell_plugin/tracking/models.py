"""Tracked links, clicks and opens of sent emails, and the mailer's delivery events."""

from __future__ import annotations

from django.db import models
from django.utils import timezone as dj_timezone

from xsell_plugin.core.models import TenantModel


class TrackedLink(TenantModel):
    """One link of one sent message. The click token names this row (store, message, position);
    the URL lives only here, so a click can only ever go where the message pointed."""

    outbound = models.ForeignKey("emails.OutboundEmail", on_delete=models.CASCADE, related_name="+")
    position = models.PositiveSmallIntegerField()
    url = models.URLField(max_length=2000)
    label = models.CharField(max_length=120, blank=True)  # e.g. "product:123", "cta", "nps:9"

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "outbound", "position"], name="trackedlink_uniq"),
        ]


class Click(TenantModel):
    """A click on a tracked link (kept for attribution: time, message, link)."""

    link = models.ForeignKey(TrackedLink, on_delete=models.CASCADE, related_name="clicks")
    outbound = models.ForeignKey("emails.OutboundEmail", on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey("customers.Customer", on_delete=models.SET_NULL, null=True,
                                 blank=True, related_name="+")
    clicked_at = models.DateTimeField(default=dj_timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["store", "customer", "clicked_at"], name="click_store_cust_idx"),
            models.Index(fields=["store", "outbound"], name="click_store_outbound_idx"),
        ]


class Open(TenantModel):
    """An open-pixel fetch. Secondary: Apple Mail Privacy Protection fetches every pixel."""

    outbound = models.ForeignKey("emails.OutboundEmail", on_delete=models.CASCADE, related_name="+")
    opened_at = models.DateTimeField(default=dj_timezone.now)

    class Meta:
        indexes = [models.Index(fields=["store", "outbound"], name="open_store_outbound_idx")]


class MailerEvent(TenantModel):
    """A verified event from the store's ESP (bounce, complaint, unsubscribe...). One row per
    ESP event id, so a redelivered webhook changes nothing."""

    esp = models.CharField(max_length=20)
    event_id = models.CharField(max_length=255)
    event_type = models.CharField(max_length=30)
    email = models.EmailField(max_length=254, blank=True)
    message_id = models.CharField(max_length=255, blank=True)
    description = models.CharField(max_length=500, blank=True)
    occurred_at = models.DateTimeField(null=True, blank=True)
    suppressed = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "esp", "event_id"], name="mailerevent_uniq"),
        ]


class Unsubscribe(TenantModel):
    """One customer's unsubscribe, credited to what caused it: the email whose one-click link or
    button they used (``outbound``), the sequence whose preference page they used, or (an ESP's
    unsubscribe event) the message the ESP names. Written only when the customer goes from
    subscribed to unsubscribed, so a retried one-click POST counts once."""

    customer = models.ForeignKey("customers.Customer", on_delete=models.SET_NULL, null=True,
                                 blank=True, related_name="+")
    email = models.EmailField(max_length=254, blank=True)
    outbound = models.ForeignKey("emails.OutboundEmail", on_delete=models.SET_NULL, null=True,
                                 blank=True, related_name="+")
    sequence_id = models.BigIntegerField(null=True, blank=True)
    source = models.CharField(max_length=100)
    unsubscribed_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["store", "unsubscribed_at"], name="unsub_store_time_idx")]
