"""Platform errors: retryable (try again later) versus terminal (stop and tell the merchant)."""

from __future__ import annotations

from xsell_plugin.core.exceptions import ApplicationError


class PlatformError(ApplicationError):
    code = "platform_error"
    status_code = 502
    default_message = "The store platform returned an error."


class RetryablePlatformError(PlatformError):
    """Throttled, 5xx, timeouts, connection resets: the same call may succeed later."""

    code = "platform_retryable"

    def __init__(self, message: str | None = None, *, retry_after: float | None = None,
                 **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class TerminalPlatformError(PlatformError):
    """Bad credentials, revoked access, a 4xx that will not change by retrying."""

    code = "platform_terminal"


class PlatformNotConfigured(TerminalPlatformError):
    code = "platform_not_configured"
    status_code = 400
    default_message = "This store's platform has no client configured."


class WebhookVerificationError(ApplicationError):
    code = "webhook_signature_invalid"
    status_code = 401
    default_message = "The webhook signature is not valid."


class PlatformNotReady(RetryablePlatformError):
    """The platform is still preparing what we asked for (e.g. a Shopify bulk export): come back
    after ``retry_after``. Not a failure, so it never uses up a sync job's attempts."""

    code = "platform_not_ready"
