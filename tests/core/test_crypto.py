"""Secrets at rest: round trip, nothing readable in the database, key rotation."""

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import connection

from xsell_plugin.core import crypto
from xsell_plugin.core.exceptions import EncryptionError
from xsell_plugin.stores.models import StoreCredentials

pytestmark = pytest.mark.django_db

OLD = Fernet.generate_key().decode()
NEW = Fernet.generate_key().decode()


def raw(column: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM stores_storecredentials WHERE id = %s", [pk])  # noqa: S608
        return cursor.fetchone()[0]


@pytest.fixture
def old_key(settings):
    settings.XSELL_ENCRYPTION_KEYS = [OLD]
    return settings


def test_round_trip_and_ciphertext_at_rest(store, old_key):
    creds = StoreCredentials.objects.create(store=store, access_token="shpat_secret_token_123",
                                            consumer_secret="cs_abc")
    stored = raw("access_token", creds.pk)
    assert "shpat_secret_token_123" not in stored
    assert Fernet(OLD).decrypt(stored.encode()) == b"shpat_secret_token_123"

    fresh = StoreCredentials.objects.get(pk=creds.pk)
    assert (fresh.access_token, fresh.consumer_secret, fresh.refresh_token) == (
        "shpat_secret_token_123", "cs_abc", "")
    assert raw("refresh_token", creds.pk) == ""  # empty stays empty
    assert "shpat" not in repr(fresh) and "shpat" not in str(fresh)


def test_each_encryption_differs(store, old_key):
    a = StoreCredentials.objects.create(store=store, access_token="same")
    assert crypto.encrypt("same") != raw("access_token", a.pk)


def test_rotation_moves_every_secret_to_the_new_key(store, other_store, old_key):
    ids = [StoreCredentials.objects.create(store=s, access_token=f"token-{s.pk}",
                                           webhook_secret="whsec").pk for s in (store, other_store)]
    old_key.XSELL_ENCRYPTION_KEYS = [NEW, OLD]  # new key first, old one still readable
    call_command("xsell_rotate_keys")

    old_key.XSELL_ENCRYPTION_KEYS = [NEW]  # the old key is dropped
    for pk, s in zip(ids, (store, other_store), strict=True):
        assert Fernet(NEW).decrypt(raw("access_token", pk).encode()) == f"token-{s.pk}".encode()
        assert StoreCredentials.objects.get(pk=pk).webhook_secret == "whsec"


def test_rotation_is_safe_to_rerun(store, old_key, capsys):
    StoreCredentials.objects.create(store=store, access_token="t", consumer_key="ck")
    old_key.XSELL_ENCRYPTION_KEYS = [NEW, OLD]
    call_command("xsell_rotate_keys")
    assert "rotated 2, already on the current key 0" in capsys.readouterr().out
    call_command("xsell_rotate_keys")
    assert "rotated 0, already on the current key 2" in capsys.readouterr().out


def test_missing_key_is_a_clear_error(store, old_key):
    creds = StoreCredentials.objects.create(store=store, access_token="t")
    old_key.XSELL_ENCRYPTION_KEYS = [NEW]
    with pytest.raises(EncryptionError, match="XSELL_ENCRYPTION_KEYS"):
        StoreCredentials.objects.get(pk=creds.pk)
    with pytest.raises(CommandError, match=f"stores_storecredentials.access_token#{creds.pk}"):
        call_command("xsell_rotate_keys")


def test_generate_prints_a_valid_key(capsys):
    call_command("xsell_rotate_keys", "--generate")
    Fernet(capsys.readouterr().out.strip())
