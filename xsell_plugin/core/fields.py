"""Model fields."""

from __future__ import annotations

from django.db import models

from xsell_plugin.core import crypto


class EncryptedTextField(models.TextField):
    """Text stored encrypted (Fernet token); reads give back the plain text.

    Empty strings stay empty (nothing to protect, and "not set" stays queryable). The value is
    never usable in lookups other than exact-empty, because each encryption differs.
    """

    description = "Text encrypted at rest"

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return crypto.decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return crypto.encrypt(value)

    def get_db_prep_value(self, value, connection, prepared=False):
        if prepared:
            return value
        return self.get_prep_value(value)
