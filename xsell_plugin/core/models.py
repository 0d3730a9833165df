"""Base models: every store-owned row has ``store`` and is read through ``for_store(store)``."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class TenantQuerySet(models.QuerySet):
    def for_store(self, store) -> TenantQuerySet:
        """The only way domain reads start: rows of one store."""
        if store is None:
            raise ValueError("for_store() needs a store")
        return self.filter(store=store)


class TenantModel(models.Model):
    """A row owned by one store. Unique constraints and hot indexes must start with ``store`` so
    tables can later be partitioned or distributed by store without a rewrite."""

    store = models.ForeignKey(settings.XSELL_TENANT_MODEL, on_delete=models.CASCADE)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = TenantQuerySet.as_manager()

    class Meta:
        abstract = True


class ExternalRecord(TenantModel):
    """A tenant row mirrored from the platform: ``external_id`` is the platform's id and
    ``source_updated_at`` the platform's own last-change time, so late or replayed events
    never overwrite newer data (see ``core.upsert``)."""

    external_id = models.CharField(max_length=255)
    source_updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
