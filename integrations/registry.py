"""``get_platform(store)``: the platform client for a store, by import string from settings."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

from integrations.base import Platform
from integrations.exceptions import PlatformNotConfigured


def get_platform(store: Any) -> Platform:
    path = settings.XSELL_PLATFORMS.get(store.platform)
    if not path:
        raise PlatformNotConfigured(
            f"Stores on {store.platform!r} have no platform client.",
            extra={"platform": store.platform},
        )
    try:
        factory = import_string(path)
    except ImportError as exc:
        raise PlatformNotConfigured(
            f"The {store.platform} client {path!r} cannot be imported.",
            extra={"platform": store.platform},
        ) from exc
    return factory(store)
