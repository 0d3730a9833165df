"""Work done in processes of their own for the heavy fault tests (those get killed with SIGKILL).

``python -m tests.reliability.proc <action> '<json kwargs>' <output.json>`` sets Django up on the
database named by ``DATABASE_URL`` (a private one, see ``ProcDatabase``), runs the action and
writes its JSON answer. Actions print progress lines on stdout (flushed) so a test can time a kill.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from integrations.bench import BenchDatabase, child_env

ROOT = Path(__file__).resolve().parents[2]


class ProcDatabase:
    """A migrated private database (SQLite file or PostgreSQL database) and the environment of
    the processes that use it."""

    def __init__(self, label: str, **env: str) -> None:
        self.db = BenchDatabase(label)
        self.env = child_env("", XSELL_QUEUE_NAME=f"xsell-rel-{os.getpid()}-{label}", **env)
        self.db.create(self.env)
        self.env["DATABASE_URL"] = self.db.url

    def drop(self) -> None:
        self.db.drop()


def spawn(action: str, env: dict[str, str], **kwargs: Any):
    """Start an action; returns (process, output path)."""
    import subprocess
    import tempfile

    out = tempfile.NamedTemporaryFile(suffix=".json", delete=False)  # noqa: SIM115
    out.close()
    process = subprocess.Popen([sys.executable, "-m", "tests.reliability.proc", action, json.dumps(kwargs),
                                out.name], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, bufsize=1)
    return process, Path(out.name)


def call(action: str, env: dict[str, str], *, timeout: float = 300, **kwargs: Any) -> Any:
    process, out = spawn(action, env, **kwargs)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
        if process.returncode != 0:
            raise AssertionError(f"{action} failed ({process.returncode}):\n"
                                 f"{stdout[-2000:]}\n{stderr[-4000:]}")
        return json.loads(out.read_text())
    finally:
        out.unlink(missing_ok=True)


def _say(line: str) -> None:
    print(line, flush=True)


# --- actions --------------------------------------------------------------------------------
def emails_setup(*, smtp_port: int, count: int) -> dict[str, Any]:
    from emails.models import MailerAccount
    from emails.services import mailer_account_set, outbound_email_create
    from tests.emails.helpers import make_customer
    from tests.factories import StoreFactory

    store = StoreFactory(domain="killed.myshopify.com", name="Killed", postal_address="1 Road",
                         email_from="hello@shop.example")
    mailer_account_set(store=store, transport=MailerAccount.Transport.SMTP, from_email="news@shop.example",
                       smtp_host="127.0.0.1", smtp_port=smtp_port, smtp_security=MailerAccount.Security.NONE)
    ids = []
    for _ in range(count):
        customer = make_customer(store)
        ids.append(outbound_email_create(store=store, customer=customer, kind="feedback", context={},
                                         enqueue=False).pk)
    return {"store": store.pk, "ids": ids}


def emails_send(*, ids: list[int], later_seconds: float = 0) -> dict[str, Any]:
    from django.utils import timezone

    from emails.services import email_send, outbound_sweep

    now = timezone.now() + timedelta(seconds=later_seconds) if later_seconds else None
    swept = outbound_sweep(now=now) if later_seconds else {}
    results = {}
    for pk in ids:
        _say(f"start {pk}")
        results[pk] = email_send(pk, now=now).status
        _say(f"done {pk} {results[pk]}")
    return {"results": results, "swept": swept}


def emails_state() -> dict[str, Any]:
    from emails.models import OutboundEmail

    return {"rows": list(OutboundEmail.objects.order_by("pk").values(
        "pk", "status", "attempts", "message_id", "smtp_started_at"))}


def sync_setup(*, shop: str, access_token: str, refresh_token: str) -> dict[str, Any]:
    from django.utils import timezone

    from integrations.sync import sync_job_start
    from xsell_plugin.stores.services import Credentials, store_install

    now = timezone.now()
    store, _ = store_install(platform="shopify", domain=shop, name="Restart", credentials=Credentials(
        access_token=access_token, refresh_token=refresh_token,
        access_token_expires_at=now + timedelta(days=1),
        refresh_token_expires_at=now + timedelta(days=90), scopes="read_products"))
    return {"store": store.pk, "job": sync_job_start(store=store, kind="products").pk}


def sync_run(*, job_id: int, later_hours: int = 0) -> dict[str, Any]:
    from django.utils import timezone

    from integrations.sync import sync_job_run

    now = timezone.now() + timedelta(hours=later_hours) if later_hours else None
    return {"status": sync_job_run(job_id=job_id, now=now)}


def sync_state(*, job_id: int) -> dict[str, Any]:
    from integrations.models import SyncJob
    from xsell_plugin.catalog.models import Product

    job = SyncJob.objects.get(pk=job_id)
    return {"status": job.status, "received": job.received, "pages": job.pages,
            "products": Product.objects.for_store(job.store).count(),
            "distinct": Product.objects.for_store(job.store).values("external_id").distinct().count()}


ACTIONS = {name: func for name, func in list(globals().items())
           if name.startswith(("emails_", "sync_")) and callable(func)}


if __name__ == "__main__":
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "xsell_plugin.settings")
    django.setup()
    action, arguments, output = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
    Path(output).write_text(json.dumps(ACTIONS[action](**arguments), default=str))
