"""One error family for the whole application, and the API's single error shape.

Every error the product raises on purpose is an ``ApplicationError`` with a stable machine ``code``
(what clients and tests match on), a human ``message`` and optional ``extra`` details. The DRF
exception handler turns these, and DRF's own exceptions, into
``{"code": ..., "message": ..., "extra": {...}}`` with the right HTTP status.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions as drf_exceptions


class ApplicationError(Exception):
    code = "application_error"
    status_code = 400
    default_message = "The request could not be completed."

    def __init__(self, message: str | None = None, *, code: str | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        self.message = message or self.default_message
        if code:
            self.code = code
        self.extra = extra or {}
        super().__init__(self.message)

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "extra": self.extra}


class ValidationFailed(ApplicationError):
    code = "validation_failed"
    status_code = 400
    default_message = "The input is not valid."


class NotFound(ApplicationError):
    code = "not_found"
    status_code = 404
    default_message = "Not found."


class PermissionDenied(ApplicationError):
    code = "permission_denied"
    status_code = 403
    default_message = "You may not do this."


class NotAuthenticated(ApplicationError):
    code = "not_authenticated"
    status_code = 401
    default_message = "Authentication is required."


class Conflict(ApplicationError):
    code = "conflict"
    status_code = 409
    default_message = "The request conflicts with the current state."


class TokenInvalid(ApplicationError):
    code = "token_invalid"
    status_code = 404
    default_message = "This link is not valid."


class TokenExpired(TokenInvalid):
    code = "token_expired"
    default_message = "This link has expired."


class EncryptionError(ApplicationError):
    """A stored secret cannot be decrypted with any configured key."""

    code = "encryption_error"
    status_code = 500
    default_message = "A stored secret cannot be decrypted with the configured keys."


class OutboundRequestRefused(ApplicationError):
    """An outbound HTTP call was refused before it left (bad scheme, private address...)."""

    code = "outbound_refused"
    status_code = 400
    default_message = "That address may not be called."


def _drf_code(exc: drf_exceptions.APIException) -> str:
    codes = exc.get_codes()
    if isinstance(codes, str):
        return codes
    return "validation_failed" if isinstance(exc, drf_exceptions.ValidationError) else "error"


def api_exception_handler(exc: Exception, context: dict):
    """DRF ``EXCEPTION_HANDLER``: every API error leaves as ``{"code", "message", "extra"}``."""
    # Imported here: rest_framework.views reads the API settings, which import our
    # authentication classes, which import this module.
    from rest_framework.response import Response
    from rest_framework.views import exception_handler as drf_default_handler

    if isinstance(exc, ApplicationError):
        return Response(exc.as_dict(), status=exc.status_code)
    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf_exceptions.PermissionDenied()
    response = drf_default_handler(exc, context)
    if response is None or not isinstance(exc, drf_exceptions.APIException):
        return response  # an unexpected error: let Django log it and answer 500
    if isinstance(exc, drf_exceptions.ValidationError):
        message = "The input is not valid."
        extra = {"fields": exc.detail} if isinstance(exc.detail, dict) else {"errors": exc.detail}
    else:
        message = str(exc.detail)
        extra = {}
    response.data = {"code": _drf_code(exc), "message": message, "extra": extra}
    return response
