"""Handing one built message to the store's mailer: SMTP, an ESP (anymail) or the local outbox.

Each ``*_deliver`` calls ``mark_started()`` just before it first contacts the mailer (the phase
marker that tells a crash before SMTP from a crash during it) and raises ``DeliveryError``:
``retryable`` when nothing can have been delivered and a later try may work, ``ambiguous`` when
the message may have gone (never resent), terminal otherwise.

SMTP is driven step by step (EHLO, STARTTLS, AUTH, MAIL, RCPT, DATA) so the one ambiguous moment
is known exactly: after the final ``.`` of DATA is written and before the server's reply.
"""

from __future__ import annotations

import json
import re
import smtplib
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import requests
from anymail.exceptions import AnymailError, AnymailRequestsAPIError
from django.conf import settings
from django.core.mail import EmailMultiAlternatives

from emails.esp import ESPS, esp_backend
from emails.exceptions import DeliveryError, MailerNotConfigured
from emails.mime import address
from emails.models import MailerAccount, OutboxMessage
from xsell_plugin.core.exceptions import OutboundRequestRefused
from xsell_plugin.core.http import is_address_allowed
from xsell_plugin.stores.models import Store


@dataclass(frozen=True)
class Envelope:
    """A built message and what a transport needs to send it."""

    from_email: str
    from_name: str
    to: str
    subject: str
    text: str
    html: str
    raw: bytes
    message_id: str
    headers: Sequence[tuple[str, str]] = field(default_factory=tuple)
    reply_to: str = ""
    idempotency_key: str = ""


@dataclass(frozen=True, slots=True)
class Delivered:
    transport: str
    esp_message_id: str = ""


MarkStarted = Callable[[], None]


# SMTP -------------------------------------------------------------------------------------------

_LEADING_DOT = re.compile(rb"(?m)^\.")
CRLF = b"\r\n"


def _reply_error(stage: str, code: int, reply: bytes | str) -> DeliveryError:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return DeliveryError(f"SMTP {stage}: {code} {text}"[:480], retryable=400 <= code < 500,
                         smtp_code=code, code="smtp_rejected")


def _check_peer(client: smtplib.SMTP, host: str) -> None:
    try:
        peer = client.sock.getpeername()[0]
    except (OSError, AttributeError):
        peer = None
    allow = bool(getattr(settings, "XSELL_ALLOW_LOOPBACK_HTTP", False))
    if peer is None or not is_address_allowed(peer, allow_loopback=allow):
        raise MailerNotConfigured("The SMTP host resolves to a private or reserved address.",
                                  extra={"host": host})


def smtp_deliver(account: MailerAccount, envelope: Envelope, *, mark_started: MarkStarted,
                 timeout: float) -> Delivered:
    if not account.smtp_host:
        raise MailerNotConfigured("The SMTP account has no host.")
    security = account.smtp_security
    tls = ssl.create_default_context()
    mark_started()
    try:
        if security == MailerAccount.Security.SSL:
            client: smtplib.SMTP = smtplib.SMTP_SSL(account.smtp_host, account.smtp_port,
                                                    timeout=timeout, context=tls)
        else:
            client = smtplib.SMTP(account.smtp_host, account.smtp_port, timeout=timeout)
    except smtplib.SMTPConnectError as exc:
        raise _reply_error("connect", exc.smtp_code, exc.smtp_error) from None
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError(f"SMTP connect: {exc}"[:480], retryable=True, code="smtp_unreachable") from None
    body_sent = False
    try:
        _check_peer(client, account.smtp_host)
        code, reply = client.ehlo()
        if code != 250:
            code, reply = client.helo()
            if code != 250:
                raise _reply_error("HELO", code, reply)
        if security == MailerAccount.Security.STARTTLS:
            client.starttls(context=tls)
            client.ehlo()
        if account.smtp_username:
            client.login(account.smtp_username, account.smtp_password)
        code, reply = client.mail(envelope.from_email)
        if code != 250:
            raise _reply_error("MAIL FROM", code, reply)
        code, reply = client.rcpt(envelope.to)
        if code not in (250, 251):
            raise _reply_error("RCPT TO", code, reply)
        code, reply = client.docmd("DATA")
        if code != 354:
            raise _reply_error("DATA", code, reply)
        payload = _LEADING_DOT.sub(b"..", envelope.raw)
        if not payload.endswith(CRLF):
            payload += CRLF
        body_sent = True  # from the first byte on, the server may accept the message
        client.send(payload + b"." + CRLF)
        code, reply = client.getreply()
        if code != 250:
            raise _reply_error("end of DATA", code, reply)
    except smtplib.SMTPAuthenticationError as exc:
        raise DeliveryError(f"SMTP login refused: {exc.smtp_code}", smtp_code=exc.smtp_code,
                            code="smtp_auth_failed") from None
    except smtplib.SMTPResponseException as exc:
        raise _reply_error("reply", exc.smtp_code, exc.smtp_error) from None
    except (OSError, smtplib.SMTPException, ssl.SSLError) as exc:
        if body_sent:
            raise DeliveryError(f"SMTP connection lost after the message was sent: {exc}"[:480],
                                ambiguous=True, code="smtp_outcome_unknown") from None
        raise DeliveryError(f"SMTP: {exc}"[:480], retryable=True, code="smtp_unreachable") from None
    finally:
        try:
            client.quit()
        except (OSError, smtplib.SMTPException):
            client.close()
    return Delivered(transport="smtp")


# ESP --------------------------------------------------------------------------------------------

def _django_message(envelope: Envelope) -> EmailMultiAlternatives:
    headers = {name: value.replace("\r\n ", " ") for name, value in envelope.headers}
    headers["Message-ID"] = envelope.message_id
    message = EmailMultiAlternatives(
        subject=envelope.subject, body=envelope.text,
        from_email=address(envelope.from_email, envelope.from_name), to=[envelope.to],
        reply_to=[envelope.reply_to] if envelope.reply_to else None, headers=headers,
    )
    message.attach_alternative(envelope.html, "text/html")
    return message


def esp_deliver(account: MailerAccount, envelope: Envelope, *, mark_started: MarkStarted,
                timeout: float) -> Delivered:
    esp = ESPS.get(account.esp)
    if esp is None:
        raise MailerNotConfigured(f"Unknown ESP {account.esp!r}.", extra={"esp": account.esp})
    try:
        credentials = json.loads(account.esp_credentials or "{}")
    except ValueError:
        raise MailerNotConfigured("The ESP credentials are not valid JSON.") from None
    message = _django_message(envelope)
    backend = esp_backend(esp, credentials, timeout=timeout)
    mark_started()
    try:
        backend.open()
        session = getattr(backend, "session", None)
        if esp.idempotency_header and session is not None and envelope.idempotency_key:
            session.headers[esp.idempotency_header] = envelope.idempotency_key
        backend.send_messages([message])
    except OutboundRequestRefused as exc:
        raise MailerNotConfigured(f"The ESP address was refused: {exc.message}") from None
    except AnymailRequestsAPIError as exc:
        status = exc.status_code
        if status is None:  # no HTTP answer
            if isinstance(exc, requests.ConnectionError) and not isinstance(exc, requests.ReadTimeout):
                raise DeliveryError(f"{esp.label}: cannot connect", retryable=True,
                                    code="esp_unreachable") from None
            if esp.idempotency_header:
                raise DeliveryError(f"{esp.label}: no answer", retryable=True,
                                    code="esp_unreachable") from None
            raise DeliveryError(f"{esp.label}: no answer after the request was sent",
                                ambiguous=True, code="esp_outcome_unknown") from None
        retryable = status == 429 or status >= 500
        body = exc.response.text[:300] if exc.response is not None else ""
        raise DeliveryError(f"{esp.label} answered {status}: {body}", retryable=retryable,
                            code="esp_rejected") from None
    except AnymailError as exc:
        raise DeliveryError(f"{esp.label}: {exc}"[:480], code="esp_rejected") from None
    finally:
        backend.close()
    status = getattr(message, "anymail_status", None)
    return Delivered(transport="esp", esp_message_id=(getattr(status, "message_id", None) or "")[:255])


# Local outbox -----------------------------------------------------------------------------------

def outbox_deliver(*, store, envelope: Envelope, outbound_id: int | None,
                   mark_started: MarkStarted) -> Delivered:
    mark_started()
    OutboxMessage.objects.create(
        store=store, outbound_id=outbound_id, to=envelope.to, subject=envelope.subject[:500],
        message_id=envelope.message_id, raw=envelope.raw.decode("utf-8"),
    )
    return Delivered(transport="outbox")


def deliver(*, store, account: MailerAccount | None, envelope: Envelope, outbound_id: int | None,
            mark_started: MarkStarted, to_merchant: bool = False) -> Delivered:
    """Send through the store's mailer; stores without one use the outbox, and so does every
    customer email of the demo store (its customers are a public dataset's households). A test
    send to the merchant (``to_merchant``) goes through the connected mailer, demo or not."""
    timeout = float(settings.XSELL_EMAIL_SMTP_TIMEOUT)
    if (account is None or account.transport == MailerAccount.Transport.OUTBOX
            or (store.platform == Store.Platform.DEMO and not to_merchant)):
        return outbox_deliver(store=store, envelope=envelope, outbound_id=outbound_id,
                              mark_started=mark_started)
    if account.transport == MailerAccount.Transport.SMTP:
        return smtp_deliver(account, envelope, mark_started=mark_started, timeout=timeout)
    if account.transport == MailerAccount.Transport.ESP:
        return esp_deliver(account, envelope, mark_started=mark_started, timeout=timeout)
    raise MailerNotConfigured(f"Unknown transport {account.transport!r}.")


