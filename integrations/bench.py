"""``manage.py xsell_bench webhooks`` and ``xsell_bench backfill``: ingestion against its bars
(DESIGN.md section 7), each next to a reference measured in the same run.

* **webhooks**: gunicorn serves the project on 127.0.0.1 (``integrations.bench_settings``: the
  project's routes plus a bare view). A load generator in another process (``wrk`` when it is
  installed, else ``integrations.bench_load``) posts a signed Shopify ``orders/create`` to
  ``/webhooks/shopify/`` (HMAC on the raw body + dedupe INSERT + enqueue after commit) and the
  same bytes to the bare view: requests per second, p50/p99, and the ratio to bare. Then a
  recorded run with redeliveries mixed in, and a real ``qcluster`` processes what was accepted:
  every delivery answered 200 must be recorded exactly once and processed exactly once (zero
  lost). On PostgreSQL (+ Redis) when ``DATABASE_URL`` (``REDIS_URL``) point there, else SQLite
  and the ORM broker.
* **backfill**: a fake Shopify (``tests.fakes.shopify``, a real loopback HTTP server in another
  process) serves bulk-operation JSONL; 100k products (2 variants each), 20k customers and 1M
  order lines go through the real sync path (``sync_job_run``: bulk operation, streamed JSONL,
  mappers, upsert services, cursor checkpoints) into SQLite. Reference: ``bulk_create`` of the
  very rows the sync wrote, into a second store of the same database.

Both run on a private database (a SQLite file under ``var/bench/`` or a PostgreSQL database of
their own, created, migrated once per run and dropped), never the development one. Sizes scale
with ``--scale`` (1.0 = the bar's sizes; CI uses a tiny one). Nothing fails on a number.
"""

from __future__ import annotations

import atexit
import gc
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
SHOP = "bench-shop.myshopify.com"
BACKFILL_SHOP = "bench-backfill.myshopify.com"
API_KEY = "bench_api_key"

# Bars (DESIGN.md section 7).
WEBHOOK_BAR_PER_SECOND = 1500
WEBHOOK_BAR_P99_MS = 25.0
WEBHOOK_BAR_RATIO = 0.20
BACKFILL_BAR_SECONDS = 120.0
BACKFILL_PRODUCTS = 100_000
BACKFILL_ORDER_LINES = 1_000_000
BACKFILL_CUSTOMERS = 20_000


# --- shared plumbing --------------------------------------------------------------------------
def _machine() -> dict[str, Any]:
    return {"python": platform.python_version(), "cpus": os.cpu_count(),
            "platform": platform.platform(terse=True)}


def _noop_bar(description: str, total: int):
    class _Bar:
        def update(self, n: int = 1) -> None: ...
        def close(self) -> None: ...
    return _Bar()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _var_dir() -> Path:
    from django.conf import settings

    path = Path(settings.VAR_DIR) / "bench"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _database_url(db: dict[str, Any], name: str) -> str:
    user = quote(db.get("USER") or "", safe="")
    password = quote(str(db.get("PASSWORD") or ""), safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    return f"postgres://{auth}{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{name}"


class BenchDatabase:
    """A private database: a copy of a migrated SQLite file, or on PostgreSQL a database created
    from a migrated template. The template is migrated once per process and dropped at exit."""

    _templates: dict[str, str] = {}

    def __init__(self, label: str, *, engine: str | None = None) -> None:
        from django.conf import settings

        self.default = settings.DATABASES["default"]
        self.engine = engine or ("postgres" if "postgresql" in self.default["ENGINE"] else "sqlite")
        self.label = label
        self.name = f"xsell_bench_{os.getpid()}_{label}"
        self.path: Path | None = None

    @property
    def url(self) -> str:
        if self.engine == "sqlite":
            return f"sqlite:///{self.path}"
        return _database_url(self.default, self.name)

    def _admin(self):
        import psycopg

        return psycopg.connect(_database_url(self.default, self.default["NAME"]).replace(
            "postgres://", "postgresql://", 1), autocommit=True)

    def _template(self, env: dict[str, str]) -> str:
        known = self._templates.get(self.engine)
        if known and (self.engine != "sqlite" or Path(known).is_file()):
            return known
        if self.engine == "sqlite":
            path = _var_dir() / f"template-{os.getpid()}.sqlite3"
            path.unlink(missing_ok=True)
            url = f"sqlite:///{path}"
            atexit.register(_unlink_sqlite, path)
            location = str(path)
        else:
            name = f"xsell_bench_{os.getpid()}_template"
            with self._admin() as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
                conn.execute(f'CREATE DATABASE "{name}"')
            atexit.register(self._drop_named, name)
            url = _database_url(self.default, name)
            location = name
        manage(["migrate", "--noinput"], {**env, "DATABASE_URL": url}, timeout=600)
        self._templates[self.engine] = location
        return location

    def create(self, env: dict[str, str]) -> BenchDatabase:
        template = self._template(env)
        if self.engine == "sqlite":
            self.path = _var_dir() / f"{self.name}.sqlite3"
            shutil.copyfile(template, self.path)
        else:
            with self._admin() as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.name}"')
                conn.execute(f'CREATE DATABASE "{self.name}" TEMPLATE "{template}"')
        return self

    def _drop_named(self, name: str) -> None:
        try:
            with self._admin() as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except Exception:  # noqa: S110 (best effort at exit)
            pass

    def drop(self) -> None:
        if self.engine == "sqlite":
            if self.path is not None:
                _unlink_sqlite(self.path)
        else:
            self._drop_named(self.name)


def _unlink_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def child_env(database_url: str, **extra: str) -> dict[str, str]:
    """The environment of a process working on a bench database: nothing of the caller's
    database, broker or queue leaks in (empty values beat a ``.env`` file)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "XSELL_TEST_DATABASE_NAME", "XSELL_QUEUE_NAME",
                        "DJANGO_SETTINGS_MODULE", "XSELL_SEPARATE_QUEUES")}
    # Every platform call goes to a closed loopback port unless a suite points it at a fake:
    # the cron jobs of a qcluster (reconciliation) must never reach a real shop.
    env.update(DATABASE_URL=database_url, REDIS_URL="", XSELL_DEBUG="false", XSELL_LOG_LEVEL="WARNING",
               PYTHONUNBUFFERED="1", XSELL_ALLOW_LOOPBACK_HTTP="true",
               XSELL_SHOPIFY_ADMIN_BASE_URL="http://127.0.0.1:9")
    env.update(extra)
    return env


def manage(args: list[str], env: dict[str, str], *, timeout: float = 300) -> str:
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env,  # noqa: S603
                          capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stdout[-2000:]}{done.stderr[-4000:]}")
    return done.stdout


def child(action: str, env: dict[str, str], *, timeout: float = 900, **kwargs: Any) -> dict[str, Any]:
    """Run ``action`` of this module in a process of its own (``python -m integrations.bench``)."""
    with tempfile.NamedTemporaryFile("w+", suffix=".json", delete=False) as out:
        target = out.name
    try:
        done = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "integrations.bench", action, json.dumps(kwargs), target],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"bench step {action!r} failed:\n{done.stdout[-2000:]}{done.stderr[-6000:]}")
        return json.loads(Path(target).read_text())
    finally:
        Path(target).unlink(missing_ok=True)


def wait_until(predicate: Callable[[], Any], *, timeout: float, what: str, step: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(step)
    raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}")


def _stop(process: subprocess.Popen, *, grace: float = 20) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


# --- webhooks ---------------------------------------------------------------------------------
def webhook_body() -> bytes:
    """Shopify's ``orders/create`` as recorded for the tests (real-shaped, 6.5 KB)."""
    recorded = ROOT / "tests" / "payloads" / "shopify" / "orders" / "create.json"
    return json.dumps(json.loads(recorded.read_text())).encode()


def webhook_template(*, port: int, path: str, secret: str, body: bytes, shop: str = SHOP) -> bytes:
    """A raw signed request; ``@@ID@@`` becomes each delivery's ``X-Shopify-Webhook-Id``."""
    import base64
    import hashlib
    import hmac

    signature = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nX-Shopify-Topic: orders/create\r\n"
            f"X-Shopify-Shop-Domain: {shop}\r\nX-Shopify-Hmac-Sha256: {signature}\r\n"
            f"X-Shopify-Webhook-Id: @@ID@@\r\nX-Shopify-Triggered-At: 2026-01-05T10:00:00Z\r\n"
            f"X-Shopify-Api-Version: 2026-10\r\nConnection: close\r\n\r\n")
    return head.encode() + body


_WRK_SCRIPT = r"""
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
end
function init(args)
  n = 0
  local f = assert(io.open(args[1], "rb"))
  raw = f:read("*all")
  f:close()
  prefix = args[2]
end
function request()
  n = n + 1
  return (raw:gsub("@@ID@@", prefix .. tid .. "-" .. n, 1))
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\n@@JSON{"requests": %d, "seconds": %f, "non2xx": %d, "connect": %d, "read": %d, ' ..
    '"write": %d, "timeout": %d, "p50_ms": %f, "p99_ms": %f, "max_ms": %f}\n',
    summary.requests, summary.duration / 1e6, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
"""


def _wrk(port: int, template: bytes, *, path: str, duration: float, concurrency: int,
         prefix: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        request_file = Path(tmp) / "request.http"
        request_file.write_bytes(template)
        script = Path(tmp) / "xsell.lua"
        script.write_text(_WRK_SCRIPT)
        done = subprocess.run(  # noqa: S603
            [shutil.which("wrk") or "wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(duration))}s",
             "--timeout", "30s", "-s", str(script), f"http://127.0.0.1:{port}{path}", "--",
             str(request_file), prefix],
            capture_output=True, text=True, timeout=duration + 120, check=False)
    marker = done.stdout.rfind("@@JSON")
    if done.returncode != 0 or marker < 0:
        raise RuntimeError(f"wrk failed: {done.stdout[-1000:]}{done.stderr[-1000:]}")
    figures = json.loads(done.stdout[marker + len("@@JSON"):].strip())
    ok = figures["requests"] - figures["non2xx"]
    return {"generator": "wrk", "concurrency": concurrency, "seconds": figures["seconds"],
            "requests": figures["requests"], "statuses": {"2xx": ok, "other": figures["non2xx"]},
            "errors": {k: figures[k] for k in ("connect", "read", "write", "timeout") if figures[k]},
            "per_second": figures["requests"] / figures["seconds"], "p50_ms": figures["p50_ms"],
            "p99_ms": figures["p99_ms"], "max_ms": figures["max_ms"]}


def _python_load(port: int, template: bytes, *, duration: float | None, concurrency: int, prefix: str,
                 requests: int | None = None, duplicate_every: int = 0, record: bool = False
                 ) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        request_file = Path(tmp) / "request.http"
        request_file.write_bytes(template)
        args = [sys.executable, "-m", "integrations.bench_load", "--port", str(port), "--template",
                str(request_file), "--concurrency", str(concurrency), "--prefix", prefix,
                "--duration", str(duration or 0)]
        if requests is not None:
            args += ["--requests", str(requests)]
        if duplicate_every:
            args += ["--duplicate-every", str(duplicate_every)]
        if record:
            args.append("--record")
        done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True,  # noqa: S603
                              timeout=(duration or 0) + 600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout)


def load(port: int, template: bytes, *, path: str, duration: float, concurrency: int, prefix: str,
         generator: str) -> dict[str, Any]:
    if generator == "wrk":
        return _wrk(port, template, path=path, duration=duration, concurrency=concurrency, prefix=prefix)
    return _python_load(port, template, duration=duration, concurrency=concurrency, prefix=prefix,
                        record=True)


class Server:
    """gunicorn over the bench settings, on a bench database."""

    def __init__(self, env: dict[str, str], *, workers: int) -> None:
        self.port = free_port()
        self.env = {**env, "DJANGO_SETTINGS_MODULE": "integrations.bench_settings",
                    "XSELL_PUBLIC_URL": f"http://127.0.0.1:{self.port}"}
        self.log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)  # noqa: SIM115
        self.process = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "gunicorn", "xsell_plugin.wsgi:application", "--bind",
             f"127.0.0.1:{self.port}", "--workers", str(workers), "--backlog", "2048",
             "--timeout", "60", "--graceful-timeout", "10", "--log-level", "warning"],
            cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT)

    def healthy(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited: {Path(self.log.name).read_text()[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
                sock.sendall(f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
                             "Connection: close\r\n\r\n".encode())
                return sock.recv(64).startswith(b"HTTP/1.1 200")
        except OSError:
            return False

    def __enter__(self) -> Server:
        wait_until(self.healthy, timeout=90, what="gunicorn to answer /healthz", step=0.3)
        return self

    def __exit__(self, *exc: object) -> None:
        _stop(self.process)
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)


def webhook_ingest(*, scale: float = 1.0, workers: int = 4, concurrency: int = 16,
                   generator: str | None = None, duration: float | None = None,
                   checked_requests: int | None = None, engine: str | None = None,
                   progress=None) -> dict[str, Any]:
    """The measurement and the zero-lost check; also used by ``tests/reliability``."""
    from django.conf import settings

    bar = progress or _noop_bar
    duration = duration if duration is not None else max(1.0, 10.0 * scale)
    generator = generator or ("wrk" if shutil.which("wrk") else "python")
    checked_requests = checked_requests or max(100, round(3000 * scale))
    secret = uuid.uuid4().hex
    db = BenchDatabase("webhooks", engine=engine)
    queue = f"xsell-bench-{os.getpid()}"
    redis_url = settings.REDIS_URL if db.engine == "postgres" else ""
    env = child_env("", XSELL_SHOPIFY_API_SECRET=secret, XSELL_SHOPIFY_API_KEY=API_KEY,
                    XSELL_QUEUE_NAME=queue, REDIS_URL=redis_url or "")
    step = bar("webhooks: database", 1)
    db.create(env)
    step.update(1)
    step.close()
    env["DATABASE_URL"] = db.url
    try:
        child("webhooks-setup", env)
        body = webhook_body()
        with Server(env, workers=workers) as server:
            ours_template = webhook_template(port=server.port, path="/webhooks/shopify/", secret=secret,
                                             body=body)
            bare_template = webhook_template(port=server.port, path="/bench/bare/", secret=secret,
                                             body=body)
            # warm every worker (imports, connections) before timing
            _python_load(server.port, bare_template, duration=None, concurrency=workers * 2,
                         prefix="warm", requests=workers * 20)
            step = bar(f"webhooks: bare view ({generator}, {duration:.0f}s)", 1)
            bare = load(server.port, bare_template, path="/bench/bare/", duration=duration,
                        concurrency=concurrency, prefix="bare", generator=generator)
            step.update(1)
            step.close()
            step = bar(f"webhooks: /webhooks/shopify/ ({generator}, {duration:.0f}s)", 1)
            ours = load(server.port, ours_template, path="/webhooks/shopify/", duration=duration,
                        concurrency=concurrency, prefix="w" if generator == "wrk" else "t",
                        generator=generator)
            step.update(1)
            step.close()
            step = bar(f"webhooks: {checked_requests} recorded deliveries, 1 in 10 redelivered", 1)
            checked = _python_load(server.port, ours_template, duration=None, concurrency=concurrency,
                                   prefix="c", requests=checked_requests, duplicate_every=10, record=True)
            step.update(1)
            step.close()
        accepted: set[str] = set()
        answered_other = redeliveries = 0
        for run in (ours, checked):
            for delivery, statuses in (run.pop("ids", None) or {}).items():
                redeliveries += len(statuses) - 1
                if 200 in statuses:
                    accepted.add(delivery)
                else:
                    answered_other += 1
        step = bar("webhooks: processing (qcluster) and counting", 1)
        counts = child("webhooks-drain", env, timeout=1800, accepted=sorted(accepted),
                       wrk_accepted=ours["statuses"].get("2xx", 0) if generator == "wrk" else 0)
        step.update(1)
        step.close()
    finally:
        db.drop()
        if redis_url:
            _redis_delete(redis_url, queue)
    counts["redeliveries_sent"] = redeliveries
    ratio = ours["per_second"] / bare["per_second"] if bare["per_second"] else None
    lost = counts["missing"] + counts["processed_not_once"]
    return {
        "engine": db.engine, "broker": "redis" if redis_url else "orm", "workers": workers,
        "generator": generator, "concurrency": concurrency, "duration": duration,
        "bare": bare, "ours": ours, "ratio_to_bare": ratio, "checked": checked,
        "delivery_check": counts, "lost": lost,
        "distinct_accepted": len(accepted), "answered_other": answered_other,
    }


def _redis_delete(url: str, queue: str) -> None:
    try:
        import redis

        client = redis.Redis.from_url(url)
        for key in client.scan_iter(f"django_q:{queue}*"):
            client.delete(key)
    except Exception:  # noqa: S110 (best effort)
        pass


def webhooks(*, size: int | None = None, progress=None, options: dict | None = None) -> dict[str, Any]:
    options = options or {}
    scale = float(options.get("scale") or 1.0)
    result = webhook_ingest(scale=scale, progress=progress, checked_requests=size)
    ours, bare = result["ours"], result["bare"]
    ratio = result["ratio_to_bare"] or 0.0
    meets = {"per_second": ours["per_second"] >= WEBHOOK_BAR_PER_SECOND,
             "p99": ours["p99_ms"] < WEBHOOK_BAR_P99_MS, "ratio": ratio >= WEBHOOK_BAR_RATIO}
    check = result["delivery_check"]
    where = f"{result['engine']} + {result['broker']} broker, gunicorn {result['workers']} workers"
    return {
        "suite": "webhooks",
        "title": f"Webhook ingest under gunicorn ({where}; load: {result['generator']}, "
                 f"{result['concurrency']} connections)",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": _machine(), "scale": scale, **result,
        "bar": {"per_second": WEBHOOK_BAR_PER_SECOND, "p99_ms": WEBHOOK_BAR_P99_MS,
                "ratio_to_bare": WEBHOOK_BAR_RATIO, "met": meets},
        "figures": [
            {"figure": "webhook ingest (HMAC + dedupe insert + enqueue)", "ours": ours["per_second"],
             "unit": "/s", "reference": bare["per_second"], "reference_name": "bare Django view",
             "ratio": ratio, "bar": f">= {WEBHOOK_BAR_RATIO:.0%} of bare and >= {WEBHOOK_BAR_PER_SECOND:,}/s",
             "met": meets["ratio"] and meets["per_second"]},
            {"figure": "webhook ingest p99", "ours": ours["p99_ms"], "unit": "ms",
             "reference": bare["p99_ms"], "reference_name": "bare Django view p99",
             "ratio": ours["p99_ms"] / bare["p99_ms"] if bare["p99_ms"] else None,
             "bar": f"< {WEBHOOK_BAR_P99_MS:.0f} ms", "met": meets["p99"]},
            {"figure": "webhook deliveries lost", "ours": result["lost"], "unit": "",
             "reference": check["accepted"], "reference_name": "accepted (200) deliveries checked",
             "ratio": None, "bar": "0", "met": result["lost"] == 0},
        ],
        "rows": [
            {"name": "bare Django view (same server)", "per_second": bare["per_second"],
             "ms_per_message": bare["p50_ms"], "note": f"p99 {bare['p99_ms']:.1f} ms"},
            {"name": "/webhooks/shopify/: HMAC + insert + enqueue", "per_second": ours["per_second"],
             "ms_per_message": ours["p50_ms"],
             "note": f"p99 {ours['p99_ms']:.1f} ms; {ratio:.0%} of bare; bar {WEBHOOK_BAR_PER_SECOND:,}/s, "
                     f"p99 < {WEBHOOK_BAR_P99_MS:.0f} ms, >= {WEBHOOK_BAR_RATIO:.0%}: "
                     f"{'met' if all(meets.values()) else 'NOT met'}"},
            {"name": "accepted deliveries recorded once, processed once", "per_second":
                check.get("processed_per_second"), "ms_per_message": None,
             "note": f"{check['accepted']} accepted, {check['missing']} missing, "
                     f"{check['processed_not_once']} not processed exactly once, "
                     f"{check['redeliveries_sent']} redeliveries recorded 0 times; qcluster rate"},
        ],
    }


def webhooks_setup(**_: Any) -> dict[str, Any]:
    from xsell_plugin.stores.models import Store

    store, _created = Store.objects.get_or_create(
        platform=Store.Platform.SHOPIFY, domain=SHOP,
        defaults={"name": "Bench Shop", "status": Store.Status.ACTIVE})
    return {"store_id": store.pk}


def webhooks_drain(*, accepted: list[str], wrk_accepted: int = 0, timeout: float = 1500) -> dict[str, Any]:
    """Start a real qcluster, wait until every recorded event is processed, then count."""
    from collections import Counter

    from django.db import connection

    from integrations.models import WebhookEvent

    open_states = [WebhookEvent.Status.PENDING, WebhookEvent.Status.PROCESSING]
    total = WebhookEvent.objects.count()
    connection.close()
    cluster = subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT,
                               env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    started = time.perf_counter()
    try:
        def finished() -> bool:
            if cluster.poll() is not None:
                raise RuntimeError(f"qcluster exited: {cluster.stderr.read().decode()[-2000:]}")
            left = WebhookEvent.objects.filter(status__in=open_states).count()
            connection.close()
            return left == 0
        wait_until(finished, timeout=max(timeout, total / 20), what="the events to be processed", step=0.5)
        seconds = time.perf_counter() - started
    finally:
        _stop(cluster, grace=30)
    rows = {key: (status, attempts) for key, status, attempts in
            WebhookEvent.objects.values_list("dedupe_key", "status", "attempts")}
    wanted = set(accepted)
    missing = sorted(wanted - set(rows))
    processed_not_once = sorted(k for k, (status, attempts) in rows.items()
                                if status != WebhookEvent.Status.DONE or attempts != 1)
    statuses = Counter(status for status, _ in rows.values())
    return {
        "accepted": len(wanted), "recorded": len(rows), "missing": len(missing),
        "missing_sample": missing[:10], "processed_not_once": len(processed_not_once),
        "not_once_sample": processed_not_once[:10], "statuses": dict(statuses),
        "recorded_from_wrk": sum(1 for k in rows if k.startswith("w")), "wrk_accepted": wrk_accepted,
        "processing_seconds": seconds,
        "processed_per_second": len(rows) / seconds if seconds else None,
    }


# --- backfill ---------------------------------------------------------------------------------
def backfill(*, size: int | None = None, progress=None, options: dict | None = None) -> dict[str, Any]:
    options = options or {}
    scale = float(options.get("scale") or 1.0)
    if size:  # --size: products; order lines and customers keep the bar's proportions
        scale = size / BACKFILL_PRODUCTS
    products = max(10, round(BACKFILL_PRODUCTS * scale))
    lines = max(20, round(BACKFILL_ORDER_LINES * scale))
    customers = max(5, round(BACKFILL_CUSTOMERS * scale))
    bar = progress or _noop_bar
    db = BenchDatabase("backfill", engine="sqlite")
    env = child_env("", XSELL_SHOPIFY_API_KEY=API_KEY, XSELL_SHOPIFY_API_SECRET=uuid.uuid4().hex,
                    XSELL_SHOPIFY_BULK_POLL_SECONDS="0.05", XSELL_QUEUE_NAME=f"xsell-bench-{os.getpid()}")
    step = bar(f"backfill: {products:,} products + {lines:,} order lines (sync, then bulk_create)", 1)
    db.create(env)
    env["DATABASE_URL"] = db.url
    try:
        result = child("backfill-run", env, timeout=7200, products=products, order_lines=lines,
                       customers=customers)
    finally:
        db.drop()
    step.update(1)
    step.close()
    sync_s, raw_s = result["sync"]["seconds"], result["bulk_create"]["seconds"]
    rows = result["rows_written"]
    scaled_bar = BACKFILL_BAR_SECONDS * products / BACKFILL_PRODUCTS
    meets = result["sync"]["products_and_orders_seconds"] < scaled_bar
    ratio = raw_s / sync_s if sync_s else None
    return {
        "suite": "backfill", "title": "Backfill through the real sync path (Shopify bulk JSONL from a "
                                      "loopback fake) on SQLite, vs bulk_create of the same rows",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"), "machine": _machine(),
        "scale": scale, **result,
        "bar": {"seconds": BACKFILL_BAR_SECONDS, "scaled_seconds": scaled_bar, "met": meets},
        "figures": [
            {"figure": f"backfill {products:,} products + {result['order_lines']:,} order lines",
             "ours": result["sync"]["products_and_orders_seconds"], "unit": "s",
             "reference": result["bulk_create"]["products_and_orders_seconds"],
             "reference_name": "bulk_create of the same rows",
             "ratio": (result["bulk_create"]["products_and_orders_seconds"]
                       / result["sync"]["products_and_orders_seconds"]),
             "bar": f"< {scaled_bar:,.0f} s" + ("" if scale == 1 else f" (120 s scaled by {scale:g})"),
             "met": meets},
        ],
        "rows": [
            {"name": f"sync path: {kind}", "per_second": figures["per_second"], "ms_per_message": None,
             "note": f"{figures['items']:,} in {figures['seconds']:.1f} s"}
            for kind, figures in result["sync"]["kinds"].items()
        ] + [
            {"name": "sync path: all rows", "per_second": rows / sync_s, "ms_per_message": None,
             "note": f"{rows:,} rows in {sync_s:.1f} s; products + orders "
                     f"{result['sync']['products_and_orders_seconds']:.1f} s "
                     f"(bar < {scaled_bar:,.0f} s: {'met' if meets else 'NOT met'})"},
            {"name": "bulk_create of the same rows", "per_second": rows / raw_s, "ms_per_message": None,
             "note": f"{raw_s:.1f} s; the sync path runs at {ratio:.0%} of it" if ratio else ""},
        ],
    }


def backfill_run(*, products: int, order_lines: int, customers: int) -> dict[str, Any]:
    """In a process of its own: fake Shopify in a forked child, sync, then the bulk_create copy."""
    import multiprocessing

    from django.db import connection, transaction
    from django.utils import timezone

    from integrations.models import SyncJob
    from integrations.sync import sync_job_run, sync_job_start
    from xsell_plugin.catalog.models import Collection, Product, ProductCollection, Variant
    from xsell_plugin.customers.models import Customer
    from xsell_plugin.orders.models import Order, OrderLine
    from xsell_plugin.stores.models import Store
    from xsell_plugin.stores.services import Credentials, store_install

    _fake, server, shop, prepared = _backfill_fake(products=products, order_lines=order_lines,
                                                  customers=customers)
    issued = shop.issue(ttl=86_400)  # before the fork: the serving process knows this token
    # The fake shop's data (tens of millions of objects at the bar's size) lives in this process
    # only because the fake is forked from it: out of the garbage collector's sight, or every
    # full collection during the sync walks it all (a cost a real worker never has).
    gc.collect()
    gc.freeze()
    connection.close()
    serving = multiprocessing.get_context("fork").Process(target=server.httpd.serve_forever, daemon=True)
    serving.start()
    server.httpd.socket.close()  # the forked child serves; this process is the client
    try:
        now = timezone.now()
        store, _ = store_install(
            platform="shopify", domain=BACKFILL_SHOP, name="Bench Backfill", currency="USD",
            timezone_name="America/New_York", credentials=Credentials(
                access_token=issued["access_token"], refresh_token=issued["refresh_token"],
                access_token_expires_at=now + timedelta(days=1),
                refresh_token_expires_at=now + timedelta(days=90), scopes=issued["scope"]))
        kinds: dict[str, dict[str, Any]] = {}
        for kind, count in (("products", products), ("customers", customers), ("orders", prepared["orders"])):
            job = sync_job_start(store=store, kind=kind)
            started = time.perf_counter()
            status, later = sync_job_run(job_id=job.pk), 0
            while status == SyncJob.Status.PENDING and later < 20:  # retryable: resume from the cursor
                later += 1
                status = sync_job_run(job_id=job.pk, now=timezone.now() + timedelta(hours=later))
            seconds = time.perf_counter() - started
            job.refresh_from_db()
            if status != SyncJob.Status.DONE:
                raise RuntimeError(f"{kind} backfill ended {status}: {job.last_error}")
            kinds[kind] = {"items": count, "seconds": seconds, "per_second": count / seconds,
                           "received": job.received, "pages": job.pages, "resumed": later}
    finally:
        serving.terminate()
        serving.join(10)
    written = {model.__name__: model.objects.for_store(store).count()
               for model in (Product, Variant, Collection, ProductCollection, Customer, Order, OrderLine)}
    expected = {"Product": products, "Variant": 2 * products, "Customer": customers,
                "Order": prepared["orders"], "OrderLine": prepared["order_lines"]}
    wrong = {k: (written[k], v) for k, v in expected.items() if written[k] != v}
    if wrong:
        raise RuntimeError(f"the sync wrote other counts than served (written, served): {wrong}")

    # The reference: the very same rows, bulk_create'd into a second store.
    copy = Store.objects.create(platform="shopify", domain="bench-copy.myshopify.com", name="Copy",
                                status=Store.Status.ACTIVE)
    mapping: dict[type, dict[int, int]] = {}
    raw: dict[str, float] = {}
    for model in (Collection, Product, ProductCollection, Variant, Customer, Order, OrderLine):
        rows = list(model.objects.for_store(store).order_by("pk").values())
        started = time.perf_counter()
        objects = []
        for row in rows:
            old = row.pop("id")
            row["store_id"] = copy.pk
            for field in model._meta.concrete_fields:
                if field.is_relation and field.attname != "store_id" and row.get(field.attname) is not None:
                    row[field.attname] = mapping[field.related_model][row[field.attname]]
            objects.append((old, model(**row)))
        with transaction.atomic():
            created = model.objects.bulk_create([obj for _, obj in objects])
        mapping[model] = {old: obj.pk for (old, _), obj in zip(objects, created, strict=True)}
        raw[model.__name__] = time.perf_counter() - started
    sync_seconds = sum(k["seconds"] for k in kinds.values())
    return {
        "products": products, "customers": customers, "orders": prepared["orders"],
        "order_lines": prepared["order_lines"], "variants": 2 * products,
        "rows_written": sum(written.values()), "written": written,
        "fake": {"prepare_seconds": prepared["seconds"], "jsonl_bytes": prepared["jsonl_bytes"]},
        "sync": {"seconds": sync_seconds, "kinds": kinds,
                 "products_and_orders_seconds": kinds["products"]["seconds"] + kinds["orders"]["seconds"]},
        "bulk_create": {"seconds": sum(raw.values()), "models": raw,
                        "products_and_orders_seconds": sum(
                            raw[m] for m in ("Collection", "Product", "ProductCollection", "Variant",
                                             "Order", "OrderLine"))},
    }


def _backfill_fake(*, products: int, order_lines: int, customers: int):
    """A fake Shopify seeded at size, its bulk results built before anything is timed."""
    import random

    try:
        from tests.fakes.shopify import catalogue
        from tests.fakes.shopify.server import FakeShopify, FakeShopifyServer, flatten
    except ImportError as exc:  # an installed package without the source tree
        raise RuntimeError("the backfill suite needs the source checkout (tests/fakes)") from exc

    class PreparedShopify(FakeShopify):
        """Serves bulk results built once up front (the real fake builds them on the first poll)."""

        prepared: dict[str, bytes] = {}

        def _op_XsellBulkPoll(self, shop, v):
            op = shop.bulk_ops.get(v["id"])
            if op is not None and "content" not in op:
                op["content"] = self.prepared[op["root"]]
                op["count"] = op["content"].count(b"\n")
            return super()._op_XsellBulkPoll(shop, v)

    started = time.perf_counter()
    fake = PreparedShopify(api_key=os.environ.get("XSELL_SHOPIFY_API_KEY", API_KEY),
                           api_secret=os.environ.get("XSELL_SHOPIFY_API_SECRET", "bench"))
    shop = fake.add_shop(BACKFILL_SHOP, name="Bench Backfill")
    rng = random.Random(20260101)  # noqa: S311 (data, not security)
    shop.products = [catalogue.product(n, BACKFILL_SHOP, variants=2, rng=rng) for n in range(products)]
    shop.customers = [catalogue.customer(n) for n in range(customers)]
    shop.orders, served = [], 0
    while served < order_lines:
        order = catalogue.order(len(shop.orders), shop.products, shop.customers, rng=rng)
        order["lineItems"] = order["lineItems"][:order_lines - served]
        served += len(order["lineItems"])
        shop.orders.append(order)
    size = 0
    for root in ("products", "customers", "orders"):
        content = b"".join(json.dumps(line).encode() + b"\n" for line in flatten(root, getattr(shop, root)))
        PreparedShopify.prepared[root] = content
        size += len(content)
    server = FakeShopifyServer(fake)
    os.environ["XSELL_SHOPIFY_ADMIN_BASE_URL"] = server.url
    from django.conf import settings

    settings.XSELL_SHOPIFY_ADMIN_BASE_URL = server.url
    return fake, server, shop, {"seconds": time.perf_counter() - started, "orders": len(shop.orders),
                                "order_lines": served, "jsonl_bytes": size}


_ACTIONS: dict[str, Callable[..., dict[str, Any]]] = {
    "webhooks-setup": webhooks_setup,
    "webhooks-drain": webhooks_drain,
    "backfill-run": backfill_run,
}


if __name__ == "__main__":
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "xsell_plugin.settings")
    django.setup()
    action, arguments, output = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
    Path(output).write_text(json.dumps(_ACTIONS[action](**arguments), default=str))
