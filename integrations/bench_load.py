"""A small HTTP load generator for ``xsell_bench webhooks`` when ``wrk`` is not installed.

Run in its own process (``python -m integrations.bench_load``), so the server under test and the
load never share an interpreter. It imports nothing from Django.

Closed loop: ``--concurrency`` connections each send a request, read the whole answer and start
the next one, for ``--duration`` seconds or until ``--requests`` were sent. Every request opens a
new connection (gunicorn's sync workers close it after each answer anyway). The request is a raw
HTTP/1.1 template read from ``--template``; ``@@ID@@`` in it is replaced by a fresh delivery id
per request (``<prefix>-<n>``), and with ``--duplicate-every K`` every K-th request repeats an
id already sent (a redelivery). The result is JSON on stdout: counts per status, requests per
second, latency percentiles, and with ``--record`` every id with the statuses it got.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections import Counter, defaultdict

PLACEHOLDER = b"@@ID@@"


def percentile(sorted_values: list[float], fraction: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]


async def _one(host: str, port: int, request: bytes, timeout: float) -> int:
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    try:
        writer.write(request)
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        if length:
            await asyncio.wait_for(reader.readexactly(length), timeout)
        return status
    finally:
        writer.close()


async def run(*, host: str, port: int, template: bytes, concurrency: int, duration: float,
              requests: int | None, prefix: str, duplicate_every: int, record: bool,
              timeout: float, seed: int) -> dict:
    rng = random.Random(seed)  # noqa: S311 (which id to repeat, not security)
    sent_ids: list[str] = []
    statuses: Counter = Counter()
    errors: Counter = Counter()
    latencies: list[float] = []
    by_id: dict[str, list[int]] = defaultdict(list)
    counter = 0
    stop_at = time.perf_counter() + duration
    templated = PLACEHOLDER in template

    def next_request() -> tuple[str | None, bytes] | None:
        nonlocal counter
        if requests is not None and counter >= requests:
            return None
        if requests is None and time.perf_counter() >= stop_at:
            return None
        counter += 1
        if not templated:
            return None, template
        if duplicate_every and sent_ids and counter % duplicate_every == 0:
            delivery = rng.choice(sent_ids)
        else:
            delivery = f"{prefix}-{counter}"
            sent_ids.append(delivery)
        return delivery, template.replace(PLACEHOLDER, delivery.encode())

    async def connection_loop() -> None:
        while True:
            item = next_request()
            if item is None:
                return
            delivery, request = item
            started = time.perf_counter()
            try:
                status = await _one(host, port, request, timeout)
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
                errors[type(exc).__name__] += 1
                if record and delivery is not None:
                    by_id[delivery].append(0)
                continue
            latencies.append(time.perf_counter() - started)
            statuses[status] += 1
            if record and delivery is not None:
                by_id[delivery].append(status)

    started = time.perf_counter()
    await asyncio.gather(*(connection_loop() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    done = sum(statuses.values())
    result = {
        "generator": "python-asyncio", "concurrency": concurrency, "seconds": elapsed,
        "requests": done, "errors": dict(errors), "statuses": {str(k): v for k, v in statuses.items()},
        "per_second": done / elapsed if elapsed else 0.0,
        "p50_ms": (percentile(latencies, 0.50) or 0) * 1000,
        "p99_ms": (percentile(latencies, 0.99) or 0) * 1000,
        "max_ms": (latencies[-1] if latencies else 0) * 1000,
    }
    if record:
        result["ids"] = by_id
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--template", required=True, help="file with the raw HTTP request")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--requests", type=int, default=None, help="a fixed count instead of a duration")
    parser.add_argument("--prefix", default="load")
    parser.add_argument("--duplicate-every", type=int, default=0)
    parser.add_argument("--record", action="store_true")
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    with open(args.template, "rb") as fh:
        template = fh.read()
    result = asyncio.run(run(
        host=args.host, port=args.port, template=template, concurrency=args.concurrency,
        duration=args.duration, requests=args.requests, prefix=args.prefix,
        duplicate_every=args.duplicate_every, record=args.record, timeout=args.timeout, seed=args.seed))
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
