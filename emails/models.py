"""Emails: store branding and copy, the store's mailer, the outbound log and the local outbox."""

from __future__ import annotations

from django.core.validators import MinValueValidator, RegexValidator
from django.db import models

from emails.kinds import KIND_CHOICES
from xsell_plugin.core.fields import EncryptedTextField
from xsell_plugin.core.models import TenantModel

hex_colour = RegexValidator(r"^#[0-9a-fA-F]{6}$", "Use a 6-digit hex colour, e.g. #1a73e8.")


class StoreEmailSettings(TenantModel):
    """The store's look in email. Missing row = the shipped defaults."""

    logo_url = models.URLField(max_length=1000, blank=True)
    logo_alt = models.CharField(max_length=200, blank=True)
    logo_width = models.PositiveSmallIntegerField(default=140, validators=[MinValueValidator(40)])
    primary_color = models.CharField(max_length=7, default="#1f4e79", validators=[hex_colour])
    accent_color = models.CharField(max_length=7, default="#c2410c", validators=[hex_colour])
    text_color = models.CharField(max_length=7, default="#1f2933", validators=[hex_colour])
    background_color = models.CharField(max_length=7, default="#f4f5f7", validators=[hex_colour])
    font_family = models.CharField(max_length=200, default="Helvetica, Arial, sans-serif")
    # Where the feedback (NPS) links and the "contact us" button point; default: the store home.
    feedback_url = models.URLField(max_length=1000, blank=True)
    support_url = models.URLField(max_length=1000, blank=True)
    footer_note = models.CharField(max_length=500, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store"], name="emailsettings_store_uniq"),
        ]
        verbose_name_plural = "store email settings"


class TemplateCopy(TenantModel):
    """The merchant's words for one kind; blank fields fall back to ``kinds.DEFAULT_COPY``."""

    kind = models.CharField(max_length=20, choices=KIND_CHOICES)
    subject = models.CharField(max_length=200, blank=True)
    preheader = models.CharField(max_length=200, blank=True)
    heading = models.CharField(max_length=200, blank=True)
    body = models.TextField(blank=True, max_length=4000)
    cta_label = models.CharField(max_length=60, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "kind"], name="templatecopy_store_kind_uniq"),
        ]
        verbose_name_plural = "template copy"


class Testimonial(TenantModel):
    """A review the merchant entered, shown in the social-proof block."""

    author = models.CharField(max_length=120)
    body = models.TextField(max_length=600)
    rating = models.PositiveSmallIntegerField(null=True, blank=True)  # 1-5 stars, optional
    position = models.PositiveIntegerField(default=0)
    active = models.BooleanField(default=True)

    class Meta:
        indexes = [models.Index(fields=["store", "active", "position"], name="testimonial_store_idx")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(rating__isnull=True) | models.Q(rating__gte=1, rating__lte=5),
                name="testimonial_rating_range",
            ),
        ]


class MailerAccount(TenantModel):
    """How one store's email leaves: its own SMTP server, an ESP through django-anymail, or the
    local outbox (nothing leaves the machine: the default, and the demo store's)."""

    class Transport(models.TextChoices):
        OUTBOX = "outbox", "Local outbox"
        SMTP = "smtp", "SMTP server"
        ESP = "esp", "Email service provider"

    class Security(models.TextChoices):
        NONE = "none", "None"
        STARTTLS = "starttls", "STARTTLS"
        SSL = "ssl", "SSL/TLS"

    transport = models.CharField(max_length=10, choices=Transport.choices, default=Transport.OUTBOX)
    # SMTP
    smtp_host = models.CharField(max_length=255, blank=True)
    smtp_port = models.PositiveIntegerField(default=587)
    smtp_security = models.CharField(max_length=10, choices=Security.choices, default=Security.STARTTLS)
    smtp_username = models.CharField(max_length=255, blank=True)
    smtp_password = EncryptedTextField(blank=True)
    # ESP (see emails.esp.ESPS): its name, its credentials as JSON, its webhook secret.
    esp = models.CharField(max_length=20, blank=True)
    esp_credentials = EncryptedTextField(blank=True)
    webhook_secret = EncryptedTextField(blank=True)
    # Sender
    from_email = models.EmailField()
    from_name = models.CharField(max_length=120, blank=True)
    reply_to = models.EmailField(blank=True)
    # Last "send test email"
    last_test_at = models.DateTimeField(null=True, blank=True)
    last_test_ok = models.BooleanField(null=True, blank=True)
    last_test_error = models.CharField(max_length=500, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store"], name="maileraccount_store_uniq"),
        ]

    def __str__(self) -> str:  # never print secrets
        return f"mailer of store {self.store_id} ({self.transport})"

    def __repr__(self) -> str:
        return f"<MailerAccount store={self.store_id} transport={self.transport} esp={self.esp!r}>"


class OutboundEmail(TenantModel):
    """One email to one customer. Exists before any SMTP/ESP call; its status is the truth.

    ``scheduled -> sending (lease) -> sent | failed | skipped | unknown``. ``smtp_started_at`` is
    set just before the mailer is contacted: a ``sending`` row whose lease expired with it set may
    have been delivered, so it becomes ``unknown`` and is never resent automatically.
    """

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"
        UNKNOWN = "unknown", "Outcome unknown"

    customer = models.ForeignKey("customers.Customer", on_delete=models.SET_NULL, null=True,
                                 blank=True, related_name="+")
    email = models.EmailField(max_length=254, blank=True)
    kind = models.CharField(max_length=20, choices=KIND_CHOICES)
    context = models.JSONField(default=dict, blank=True)  # the snapshot rendered at send time
    sequence_id = models.BigIntegerField(null=True, blank=True)
    idempotency_key = models.CharField(max_length=100)
    scheduled_for = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SCHEDULED)
    attempts = models.PositiveIntegerField(default=0)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)  # last nudge put on the broker
    smtp_started_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    transport = models.CharField(max_length=10, blank=True)
    message_id = models.CharField(max_length=255, blank=True)
    esp_message_id = models.CharField(max_length=255, blank=True)
    reason = models.CharField(max_length=500, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "idempotency_key"], name="outbound_store_key_uniq"),
        ]
        indexes = [
            models.Index(fields=["status", "scheduled_for", "store"], name="outbound_due_idx"),
            models.Index(fields=["status", "lease_expires_at", "store"], name="outbound_lease_idx"),
            models.Index(fields=["store", "customer", "sent_at"], name="outbound_store_cust_idx"),
            models.Index(fields=["store", "message_id"], name="outbound_store_msgid_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} to customer {self.customer_id} ({self.status})"


class OutboxMessage(TenantModel):
    """A message kept on this machine instead of sent (stores without a mailer, the demo)."""

    outbound = models.ForeignKey(OutboundEmail, on_delete=models.SET_NULL, null=True, blank=True,
                                 related_name="+")
    to = models.CharField(max_length=254)
    subject = models.CharField(max_length=500)
    message_id = models.CharField(max_length=255)
    raw = models.TextField()  # the whole RFC 5322 message

    class Meta:
        indexes = [models.Index(fields=["store", "created_at"], name="outbox_store_time_idx")]
