"""Build the RFC 5322 message as bytes, directly and cheaply.

``email.message.EmailMessage`` (and Django's ``EmailMultiAlternatives``) spend most of a
message's budget in policy machinery; our messages always have one shape: a
``multipart/alternative`` with a text and an HTML part, both UTF-8 quoted-printable (C-speed
``binascii.b2a_qp``; ``=`` is always encoded, so no body line can ever match the boundary).
Header values are stripped of CR/LF (no header injection), non-ASCII ones are RFC 2047 encoded,
and long ones are folded.
"""

from __future__ import annotations

import binascii
import secrets
from collections.abc import Sequence
from datetime import datetime
from email.header import Header
from email.utils import format_datetime, formataddr

CRLF = "\r\n"
_MAX_PLAIN_HEADER = 900  # well under RFC 5322's 998


def _clean(value: str) -> str:
    return " ".join(value.replace("\r", " ").replace("\n", " ").split())


def header_value(name: str, value: str) -> str:
    value = _clean(value)
    if value.isascii() and len(name) + len(value) + 2 <= 78:
        return value
    if value.isascii() and len(value) <= _MAX_PLAIN_HEADER:
        return _fold_ascii(name, value)
    return Header(value, "utf-8", header_name=name).encode(linesep=CRLF)


def _fold_ascii(name: str, value: str) -> str:
    """Fold at spaces so lines stay near 78 characters (continuation lines start with a space)."""
    lines: list[str] = []
    current = ""
    limit = 78 - len(name) - 2
    for word in value.split(" "):
        if current and len(current) + 1 + len(word) > limit:
            lines.append(current)
            current = word
            limit = 77
        else:
            current = f"{current} {word}" if current else word
    lines.append(current)
    return (CRLF + " ").join(lines)


def address(email: str, name: str = "") -> str:
    email = _clean(email)
    name = _clean(name)
    if not name:
        return email
    return formataddr((name, email), charset="utf-8")


def _qp(body: str) -> bytes:
    data = body.replace("\r\n", "\n").encode("utf-8")
    return binascii.b2a_qp(data, istext=True).replace(b"\n", b"\r\n")


def build_message(*, from_email: str, from_name: str, to: str, subject: str, text: str, html: str,
                  message_id: str, date: datetime, reply_to: str = "",
                  headers: Sequence[tuple[str, str]] = ()) -> bytes:
    """One ``multipart/alternative`` message (text first, HTML last: the preferred part).

    ``headers`` are extra ``(name, already-safe value)`` pairs, e.g. List-Unsubscribe, added
    as given (the caller folds them): names and values must not contain CR or LF.
    """
    boundary = "==xsell_" + secrets.token_hex(12)
    lines = [
        f"From: {address(from_email, from_name)}",
        f"To: {address(to)}",
        f"Subject: {header_value('Subject', subject)}",
        f"Date: {format_datetime(date)}",
        f"Message-ID: {message_id}",
    ]
    if reply_to:
        lines.append(f"Reply-To: {address(reply_to)}")
    for name, value in headers:
        if "\r" in name or "\n" in name or "\r" in value.replace(CRLF + " ", "") or "\n" in value.replace(
                CRLF + " ", ""):
            raise ValueError(f"header {name!r} holds a line break")
        lines.append(f"{name}: {value}")
    lines += [
        "MIME-Version: 1.0",
        f'Content-Type: multipart/alternative; boundary="{boundary}"',
        "",
        f"--{boundary}",
        'Content-Type: text/plain; charset="utf-8"',
        "Content-Transfer-Encoding: quoted-printable",
        "",
        "",
    ]
    head = CRLF.join(lines).encode("utf-8")
    middle = CRLF.join([
        "",
        f"--{boundary}",
        'Content-Type: text/html; charset="utf-8"',
        "Content-Transfer-Encoding: quoted-printable",
        "",
        "",
    ]).encode("ascii")
    tail = f"{CRLF}--{boundary}--{CRLF}".encode("ascii")
    return b"".join((head, _qp(text), middle, _qp(html), tail))
