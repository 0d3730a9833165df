"""``manage.py xsell_bench emails``: the email pipeline against its bar (DESIGN.md section 7).

Measured in one process on one core, with no database (the figures are rendering and building,
not I/O): a product pool from the committed demo data, a store look with testimonials, and
recipients with two to four complements each.

* **pipeline**: per message, the display context (money formatting, tracked click links with
  signed tokens, unsubscribe and preference tokens), ``render`` (compiled MJML cached per shape,
  then filled), the compliance headers and the MIME bytes. After a warm-up, so it is the steady
  state of a send run; the cold compile of one shape is reported apart.
* **mjml-python**: ``mjml2html`` alone on the reference template (the complements email of one
  recipient, as MJML with its values in place).
* **naive**: what the pipeline replaces: Django renders the MJML with the values, mjml-python
  compiles it, ``strip_tags`` makes the text, Django's ``EmailMultiAlternatives`` builds MIME.
* **node mjml**: the reference ``mjml`` package on Node, the same MJML, when ``node`` and the
  package are there (``NODE_PATH`` or ``--node-modules`` points at it); skipped with a note
  otherwise.
"""

from __future__ import annotations

import json
import os
import platform
import random
import shutil
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import mjml
from django.core.mail import EmailMultiAlternatives
from django.utils.html import strip_tags

from emails import rendering
from emails.context import display_context
from emails.kinds import Kind
from emails.look import look_build
from emails.mime import build_message
from emails.services import compliance_headers
from xsell_plugin.tracking import links as tracking_links

BAR_PER_CORE = 1000  # personalised emails per second per core
FIRST_NAMES = ["Ada", "Grace", "Alan", "Katherine", "Linus", "Margaret", "Tim", "Barbara", "", "Dennis"]

_NODE_SCRIPT = r"""
const mjml2html = require('mjml');
const fs = require('fs');
const source = fs.readFileSync(0, 'utf8');
const n = parseInt(process.argv[1], 10);
for (let i = 0; i < 20; i++) mjml2html(source, {validationLevel: 'soft'});
const t0 = process.hrtime.bigint();
for (let i = 0; i < n; i++) mjml2html(source, {validationLevel: 'soft'});
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
process.stdout.write(JSON.stringify({n: n, seconds: seconds, version: require('mjml/package.json').version}));
"""


def _store():
    return SimpleNamespace(pk=1, name="Complete Journey Grocer (demo)", domain="complete-journey.demo",
                           currency="USD", timezone="America/New_York",
                           postal_address="123 Market Street\nCincinnati, OH 45202", platform="demo",
                           status="active")


def _products(limit: int = 400) -> list[dict[str, Any]]:
    from xsell_plugin.demo import mappers
    from xsell_plugin.demo.dataset import sample_dataset

    dataset = sample_dataset(limit_households=40)
    pool = []
    for pid in sorted(dataset.products, key=int)[:limit]:
        data = mappers.product_data(dataset.products[pid])
        pool.append({"id": data.external_id, "title": data.title,
                     "url": f"https://complete-journey.demo/products/{data.handle}",
                     "image_url": f"https://cdn.complete-journey.demo/{data.external_id}.jpg",
                     "price": str(data.variants[0].price), "compare_at_price": None})
    return pool


def _timed(fn: Callable[[int], Any], n: int, tick: Callable[[int], Any]) -> float:
    start = time.perf_counter()
    for i in range(n):
        fn(i)
        if i % 100 == 99:
            tick(100)
    tick(n % 100)
    return time.perf_counter() - start


def _node_mjml(source: str, n: int, node_modules: str | None) -> dict[str, Any]:
    node = shutil.which("node")
    if node is None:
        return {"skipped": "node is not installed"}
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "NODE_PATH")}
    if node_modules:
        env["NODE_PATH"] = node_modules
    try:
        done = subprocess.run([node, "-e", _NODE_SCRIPT, str(n)], input=source, capture_output=True,  # noqa: S603
                              text=True, timeout=600, env=env, check=False)
    except subprocess.TimeoutExpired:
        return {"skipped": "node mjml took over 10 minutes"}
    if done.returncode != 0:
        if "Cannot find module 'mjml'" in done.stderr:
            return {"skipped": "the mjml npm package is not installed (npm install mjml, then set "
                               "NODE_PATH or pass --node-modules)"}
        return {"skipped": f"node mjml failed: {done.stderr.strip().splitlines()[-1][:200]}"}
    result = json.loads(done.stdout)
    per = result["seconds"] / result["n"]
    return {"messages": result["n"], "seconds": result["seconds"], "ms_per_message": per * 1000,
            "per_second": 1 / per, "version": result["version"]}


def run(*, size: int | None = None, progress=None, options: dict | None = None) -> dict[str, Any]:
    options = options or {}
    n = size or 5000
    rng = random.Random(20260101)  # noqa: S311 (sampling, not security)
    store = _store()
    testimonials = [
        SimpleNamespace(author="Dana, Ohio", body="Fresh every time, and the tips help.", rating=5),
        SimpleNamespace(author="Sam", body="The bundle saved me a trip.", rating=4),
    ]
    look = look_build(store=store, testimonials=testimonials)
    pool = _products()
    recipients = [{"first_name": FIRST_NAMES[i % len(FIRST_NAMES)],
                   "products": rng.sample(pool, rng.choice((2, 3, 4))), "customer_id": 10_000 + i}
                  for i in range(n)]
    bar = progress or (lambda desc, total: SimpleNamespace(update=lambda k=1: None, close=lambda: None))

    def one(i: int) -> bytes:
        r = recipients[i]
        outbound_id = 500_000 + i
        tracker = tracking_links.LinkTracker(store_id=store.pk, outbound_id=outbound_id,
                                             campaign=Kind.COMPLEMENTS)
        unsubscribe = tracking_links.unsubscribe_url(store_id=store.pk, customer_id=r["customer_id"],
                                                     outbound_id=outbound_id)
        display = display_context(
            Kind.COMPLEMENTS, {"products": r["products"]}, look=look, first_name=r["first_name"],
            unsubscribe_url=unsubscribe,
            preferences_url=tracking_links.preferences_url(store_id=store.pk, customer_id=r["customer_id"],
                                                           sequence_id=3),
            links=tracker)
        rendered = rendering.render(Kind.COMPLEMENTS, {"store": store, "look": look, **display})
        headers = compliance_headers(store=store, customer_id=r["customer_id"], outbound_id=outbound_id,
                                     kind=Kind.COMPLEMENTS, unsubscribe_url=unsubscribe,
                                     sender_domain="mail.complete-journey.demo")
        return build_message(from_email="news@mail.complete-journey.demo", from_name=store.name,
                             to=f"household-{r['customer_id']}@demo.invalid", subject=rendered.subject,
                             text=rendered.text, html=rendered.html,
                             message_id=f"<xsell.1.{outbound_id}@mail.complete-journey.demo>",
                             date=datetime.now(UTC), headers=headers)

    # Cold: the first compile of one shape (Django templates + MJML + patterns).
    rendering.render_cache_clear()
    start = time.perf_counter()
    sample = one(0)
    cold_ms = (time.perf_counter() - start) * 1000
    for i in range(min(n, 50)):  # warm every shape
        one(i)

    b = bar("pipeline", n)
    seconds = _timed(one, n, b.update)
    b.close()
    pipeline = {"messages": n, "seconds": seconds, "ms_per_message": seconds / n * 1000,
                "per_second": n / seconds, "cold_compile_ms": cold_ms, "message_bytes": len(sample)}

    # The reference template: one recipient's complements email as MJML with its values in place.
    r0 = recipients[0]
    display0 = display_context(Kind.COMPLEMENTS, {"products": r0["products"][:3]}, look=look,
                               first_name="Ada", unsubscribe_url="https://app.example/u/x",
                               preferences_url="https://app.example/p/x")
    context0 = {**rendering._store_context(Kind.COMPLEMENTS, look, display0), **display0}
    source = rendering._render_template(rendering._HTML_ENGINE, "emails/complements.mjml", context0)

    m = max(n, 1000)
    b = bar("mjml-python", m)
    seconds = _timed(lambda i: mjml.mjml2html(source), m, b.update)
    b.close()
    raw_mjml = {"messages": m, "seconds": seconds, "ms_per_message": seconds / m * 1000,
                "per_second": m / seconds, "mjml_bytes": len(source)}

    naive_n = max(min(n // 10, 500), 50)

    def naive(i: int) -> bytes:
        r = recipients[i]
        display = display_context(Kind.COMPLEMENTS, {"products": r["products"]}, look=look,
                                  first_name=r["first_name"], unsubscribe_url="https://app.example/u/x",
                                  preferences_url="https://app.example/p/x")
        ctx = {**rendering._store_context(Kind.COMPLEMENTS, look, display), **display}
        source = rendering._render_template(rendering._HTML_ENGINE, "emails/complements.mjml", ctx)
        html = mjml.mjml2html(source)
        message = EmailMultiAlternatives(subject=look.copy_for(Kind.COMPLEMENTS).subject,
                                         body=strip_tags(html),
                                         from_email="news@mail.complete-journey.demo",
                                         to=["household@demo.invalid"])
        message.attach_alternative(html, "text/html")
        return message.message().as_bytes()

    b = bar("naive pipeline", naive_n)
    seconds = _timed(naive, naive_n, b.update)
    b.close()
    naive_figures = {"messages": naive_n, "seconds": seconds, "ms_per_message": seconds / naive_n * 1000,
                     "per_second": naive_n / seconds}

    node_n = min(max(n // 10, 200), 1000)
    b = bar("node mjml", 1)
    node = _node_mjml(source, node_n, options.get("node_modules"))
    b.update(1)
    b.close()

    def row(name: str, figures: dict[str, Any], note: str = "") -> dict[str, Any]:
        if "skipped" in figures:
            return {"name": name, "per_second": None, "ms_per_message": None, "note": figures["skipped"]}
        return {"name": name, "per_second": figures["per_second"],
                "ms_per_message": figures["ms_per_message"], "note": note}

    meets = pipeline["per_second"] >= BAR_PER_CORE
    return {
        "suite": "emails",
        "title": "Email pipeline (one process, one core)",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "platform": platform.platform(terse=True)},
        "bar": {"per_second_per_core": BAR_PER_CORE, "met": meets},
        "pipeline": pipeline,
        "mjml_python": raw_mjml,
        "naive_pipeline": naive_figures,
        "node_mjml": node,
        "rows": [
            row("full pipeline: context + render + text + MIME", pipeline,
                f"bar {BAR_PER_CORE}/s: {'met' if meets else 'NOT met'}; cold compile "
                f"{cold_ms:.1f} ms per shape"),
            row("mjml-python alone, reference template", raw_mjml, "compile only"),
            row("naive: Django + MJML + strip_tags + Django MIME", naive_figures, "for comparison"),
            row("Node mjml, reference template", node,
                f"mjml {node.get('version', '')}".strip() if "skipped" not in node else ""),
        ],
    }
