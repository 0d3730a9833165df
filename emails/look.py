"""A store's look in email: branding, copy per kind and testimonials, frozen.

``StoreLook`` is what the store-level part of every template sees. Its ``fingerprint`` (a hash
of everything in it) is the "version" the compiled-template cache is keyed on: any edit of
branding, copy or testimonials gives a new fingerprint, in every process, with no invalidation
step.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from emails.kinds import DEFAULT_COPY, KINDS, Copy

DEFAULT_BRAND: Mapping[str, Any] = {
    "logo_url": "",
    "logo_alt": "",
    "logo_width": 140,
    "primary_color": "#1f4e79",
    "accent_color": "#c2410c",
    "text_color": "#1f2933",
    "background_color": "#f4f5f7",
    "font_family": "Helvetica, Arial, sans-serif",
    "footer_note": "",
}
MAX_TESTIMONIALS = 2


@dataclass(frozen=True)
class StoreLook:
    store_id: int | None
    store_name: str
    store_url: str
    postal_address: str
    currency: str
    timezone: str
    brand: Mapping[str, Any]
    copies: Mapping[str, Copy]
    testimonials: tuple[Mapping[str, Any], ...] = ()
    feedback_url: str = ""
    support_url: str = ""
    fingerprint: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "fingerprint"}
        data["copies"] = {k: [getattr(c, n) for n in Copy.__slots__] for k, c in self.copies.items()}
        digest = hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()
        object.__setattr__(self, "fingerprint", digest[:24])

    def copy_for(self, kind: str) -> Copy:
        return self.copies.get(kind) or DEFAULT_COPY[kind]

    @property
    def store(self) -> dict[str, Any]:
        """What templates see as ``store``."""
        return {
            "name": self.store_name,
            "url": self.store_url,
            "address_lines": [ln.strip() for ln in self.postal_address.splitlines() if ln.strip()],
        }


def store_home_url(domain: str) -> str:
    domain = domain.strip().strip("/")
    if domain.startswith(("http://", "https://")):
        return domain + "/"
    return f"https://{domain}/"


def look_build(*, store, settings=None, copies: Iterable = (), testimonials: Iterable = ()) -> StoreLook:
    """A ``StoreLook`` from a store, its optional ``StoreEmailSettings``, its ``TemplateCopy``
    rows and active ``Testimonial`` rows (any objects with those attributes). Blank copy fields
    fall back to the defaults, field by field."""
    brand = dict(DEFAULT_BRAND)
    if settings is not None:
        for name in DEFAULT_BRAND:
            brand[name] = getattr(settings, name)
    brand["logo_alt"] = brand["logo_alt"] or store.name or store.domain
    merged: dict[str, Copy] = {}
    for row in copies:
        if row.kind not in KINDS:
            continue
        default = DEFAULT_COPY[row.kind]
        merged[row.kind] = Copy(**{n: (getattr(row, n) or "").strip() or getattr(default, n)
                                   for n in Copy.__slots__})
    home = store_home_url(store.domain)
    return StoreLook(
        store_id=store.pk,
        store_name=store.name or store.domain,
        store_url=home,
        postal_address=store.postal_address or "",
        currency=store.currency,
        timezone=store.timezone,
        brand=brand,
        copies=merged,
        testimonials=tuple(
            {"author": t.author, "body": t.body, "stars": "\u2605" * (t.rating or 0)}
            for t in list(testimonials)[:MAX_TESTIMONIALS]
        ),
        feedback_url=(getattr(settings, "feedback_url", "") or home),
        support_url=(getattr(settings, "support_url", "") or home),
    )
