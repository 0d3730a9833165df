"""Secrets at rest: MultiFernet over ``XSELL_ENCRYPTION_KEYS`` (the first key encrypts, every
key decrypts, so keys rotate by putting a new one first and running ``xsell_rotate_keys``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.apps import apps
from django.conf import settings
from django.core.signals import setting_changed
from django.db import connections, router, transaction
from django.dispatch import receiver

from xsell_plugin.core.exceptions import EncryptionError


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(k) for k in keys])


def current_fernet() -> MultiFernet:
    return _fernet(tuple(settings.XSELL_ENCRYPTION_KEYS))


@receiver(setting_changed)
def _reset(setting: str, **kwargs) -> None:
    if setting == "XSELL_ENCRYPTION_KEYS":
        _fernet.cache_clear()


def encrypt(plaintext: str) -> str:
    return current_fernet().encrypt(plaintext.encode()).decode("ascii")


def decrypt(token: str) -> str:
    try:
        return current_fernet().decrypt(token.encode("ascii")).decode()
    except (InvalidToken, UnicodeEncodeError):
        raise EncryptionError(
            "A stored secret cannot be decrypted: its key is not in XSELL_ENCRYPTION_KEYS."
        ) from None


def rotate(token: str) -> str:
    """Re-encrypt with the first key (keeps the original timestamp)."""
    try:
        return current_fernet().rotate(token.encode("ascii")).decode("ascii")
    except InvalidToken:
        raise EncryptionError(
            "A stored secret cannot be rotated: its key is not in XSELL_ENCRYPTION_KEYS."
        ) from None


def is_current(token: str) -> bool:
    """True when ``token`` is already encrypted with the first (current) key."""
    keys = settings.XSELL_ENCRYPTION_KEYS
    try:
        Fernet(keys[0]).decrypt(token.encode("ascii"))
    except InvalidToken:
        return False
    return True


@dataclass
class RotationReport:
    rotated: int = 0
    current: int = 0
    unreadable: list[str] = field(default_factory=list)  # "table.column#pk"


def encrypted_columns() -> list[tuple[type, object]]:
    """Every (model, field) stored with ``EncryptedTextField``, across all installed apps."""
    from xsell_plugin.core.fields import EncryptedTextField

    return [
        (model, f)
        for model in apps.get_models()
        for f in model._meta.concrete_fields
        if isinstance(f, EncryptedTextField)
    ]


def rotate_all(*, batch_size: int = 500, on_progress=None) -> RotationReport:
    """Re-encrypt every stored secret with the first key of ``XSELL_ENCRYPTION_KEYS``.

    Works on the raw tokens (no plaintext leaves this function), one conditional UPDATE per
    value (a value changed meanwhile is left alone), one transaction per batch. Safe to re-run.
    """
    report = RotationReport()
    for model, f in encrypted_columns():
        connection = connections[router.db_for_write(model)]
        qn = connection.ops.quote_name
        table, col, pk = qn(model._meta.db_table), qn(f.column), qn(model._meta.pk.column)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {pk}, {col} FROM {table} WHERE {col} <> ''")  # noqa: S608
            rows = cursor.fetchall()
        for start in range(0, len(rows), batch_size):
            with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
                for row_pk, token in rows[start:start + batch_size]:
                    if is_current(token):
                        report.current += 1
                        continue
                    try:
                        new = rotate(token)
                    except EncryptionError:
                        report.unreadable.append(f"{model._meta.db_table}.{f.column}#{row_pk}")
                        continue
                    cursor.execute(
                        f"UPDATE {table} SET {col} = %s WHERE {pk} = %s AND {col} = %s",  # noqa: S608
                        [new, row_pk, token],
                    )
                    report.rotated += cursor.rowcount
            if on_progress:
                on_progress(min(batch_size, len(rows) - start))
    return report
