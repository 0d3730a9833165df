"""The browser tests' data, made in a process of its own on the test server's database.

``python -m tests.e2e.seed prepare <households>`` migrates, loads the demo store (``xsell_demo``;
``all``: the whole committed sample: catalogue, customers, orders, the default sequences and one
incentive) and prints the signed login link as JSON. One process instead of one per command:
each Django start costs seconds. Safe to run twice.

``python -m tests.e2e.seed outbox <to>`` prints the subjects kept in the local outbox for ``to``.
"""

from __future__ import annotations

import json
import os
import sys


def prepare(households: str) -> dict:
    from io import StringIO

    from django.core.management import call_command

    from xsell_plugin.demo.services import demo_store_get_or_create

    call_command("migrate", interactive=False, verbosity=0)
    demo = [] if households == "all" else ["--limit-households", households]
    call_command("xsell_demo", *demo, stdout=sys.stderr)
    store = demo_store_get_or_create()
    link = StringIO()
    call_command("xsell_login_link", stdout=link)
    return {"store": store.pk, "login_url": link.getvalue().strip()}


def outbox(to: str) -> list[str]:
    from emails.models import OutboxMessage

    return list(OutboxMessage.objects.filter(to=to).order_by("pk").values_list("subject", flat=True))


if __name__ == "__main__":
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "xsell_plugin.settings")
    django.setup()
    action, argument = sys.argv[1], sys.argv[2]
    print(json.dumps(prepare(argument) if action == "prepare" else outbox(argument)))
