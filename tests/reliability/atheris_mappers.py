"""Coverage-guided fuzzing (atheris / libFuzzer) of the WooCommerce edge: the webhook signature
check, the dedupe key and every payload mapper must only ever raise ``MalformedPayload`` (a
``ValueError``) on bad input, whatever the bytes. Run by ``test_atheris.py``:
``python -m tests.reliability.atheris_mappers -runs=N``. Pure functions: no database."""

from __future__ import annotations

import contextlib
import json
import os
import sys

import atheris
import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "xsell_plugin.settings")
django.setup()

from integrations.woocommerce import mappers, signatures  # noqa: E402

for _module in (mappers, signatures):  # coverage feedback from our code, not Django's
    for _name, _func in vars(_module).items():
        if (callable(_func) and getattr(_func, "__module__", "") == _module.__name__
                and hasattr(_func, "__code__")):
            setattr(_module, _name, atheris.instrument_func(_func))


def _json(data: atheris.FuzzedDataProvider):
    raw = data.ConsumeUnicodeNoSurrogates(data.remaining_bytes())
    try:
        return json.loads(raw)
    except ValueError:
        return raw


TARGETS = [
    lambda p: mappers.product_from_payload(p),
    lambda p: mappers.order_from_payload(p),
    lambda p: mappers.customer_from_payload(p, consent_meta_key="newsletter"),
    lambda p: mappers.checkout_from_cart(p),
    lambda p: mappers.resource_time(p) if isinstance(p, dict) else None,
    lambda p: mappers.required_id(p) if isinstance(p, dict) else None,
]


def one(raw: bytes) -> None:
    data = atheris.FuzzedDataProvider(raw)
    which = data.ConsumeIntInRange(0, len(TARGETS))
    if which == len(TARGETS):
        body = data.ConsumeBytes(data.ConsumeIntInRange(0, 200))
        signatures.signature_valid(body, "secret", data.ConsumeUnicodeNoSurrogates(60))
        signatures.is_ping(body)
        signatures.dedupe_key(data.ConsumeUnicodeNoSurrogates(40), body)
        return
    payload = _json(data)
    with contextlib.suppress(mappers.MalformedPayload):
        TARGETS[which](payload)


if __name__ == "__main__":
    atheris.Setup(sys.argv, one)
    atheris.Fuzz()
