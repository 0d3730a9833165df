"""Typed email errors (one ``ApplicationError`` family, each with a stable code)."""

from __future__ import annotations

from xsell_plugin.core.exceptions import ApplicationError


class UnknownKind(ApplicationError):
    code = "email_kind_unknown"
    default_message = "There is no email of this kind."


class ContextInvalid(ApplicationError):
    """The context lacks something the kind needs (e.g. an incentive without its real expiry)."""

    code = "email_context_invalid"
    default_message = "The email's context is not valid."


class TemplateInvalid(ApplicationError):
    """A template does not parse (Django) or does not compile (MJML); ``extra`` names it."""

    code = "email_template_invalid"
    status_code = 500
    default_message = "An email template is not valid."


class EmailTooLarge(ApplicationError):
    """The HTML is over Gmail's clipping size: Gmail would hide the footer (unsubscribe)."""

    code = "email_too_large"
    status_code = 500
    default_message = "The email's HTML is over Gmail's 102 KB clipping limit."


class MailerNotConfigured(ApplicationError):
    code = "mailer_not_configured"
    default_message = "The store's mailer is not set up correctly."


class DeliveryError(ApplicationError):
    """A mailer refused or failed a message.

    ``retryable``: nothing was delivered and trying later may work (SMTP 4xx, connection refused
    or timed out before the message was handed over). ``ambiguous``: the message may have been
    delivered (the connection dropped after the data was sent): never resent automatically.
    Otherwise terminal (SMTP 5xx, an ESP rejecting the message).
    """

    code = "delivery_failed"
    status_code = 502
    default_message = "The mailer did not accept the message."

    def __init__(self, message: str | None = None, *, retryable: bool = False,
                 ambiguous: bool = False, smtp_code: int | None = None, **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.retryable = retryable
        self.ambiguous = ambiguous
        self.smtp_code = smtp_code
