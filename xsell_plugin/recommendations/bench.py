"""``manage.py xsell_bench recs``: our recommendations against popularity-of-last-28-days
(DESIGN.md section 7), through ``evaluation.evaluate`` and ``evaluation.latency_benchmark``.

HR@10 at product and product-type level, ours over the baseline as a ratio (the bar: >= 1.20 at
both levels) on the report splits (weeks 30 and 40) and the week-46 holdout, each labelled with
its role; the fit time of each split; and the per-customer ranking time from a fitted model (the
bar: < 5 ms, read on CPU time, which a loaded machine cannot inflate). ``--scale`` below 1 keeps
only the lowest household ids (at least 200) and one split, so ``all --scale 0.05`` stays quick;
the figures mean little at that size.
"""

from __future__ import annotations

import os
import platform
import time
from datetime import UTC, datetime
from typing import Any

from xsell_plugin.recommendations import evaluation

HR_BAR_RATIO = 1.20  # >= 20 % over popularity-of-last-28-days, at both levels
LATENCY_BAR_MS = 5.0
FIT_BAR_SECONDS = 60.0  # "fit in seconds"
FULL_HOUSEHOLDS = 2469  # the Complete Journey data
LATENCY_CUSTOMERS = 500


def _noop_bar(description: str, total: int):
    class _Bar:
        def update(self, n: int = 1) -> None: ...
        def close(self) -> None: ...
    return _Bar()


def run(*, size: int | None = None, progress=None, options: dict | None = None) -> dict[str, Any]:
    options = options or {}
    scale = float(options.get("scale") or 1.0)
    bar = progress or _noop_bar
    households = None
    splits = evaluation.REPORT_SPLITS
    if size:  # --size: households
        households = size
    elif scale < 1:
        households = max(200, round(FULL_HOUSEHOLDS * scale))
    if households is not None:
        splits = (evaluation.REPORT_SPLITS[1],)  # weeks 40: one split keeps a small run quick
    customers = LATENCY_CUSTOMERS if scale >= 1 else max(50, round(LATENCY_CUSTOMERS * scale))

    step = bar("recs: data", 1)
    data = evaluation.load_data(limit_households=households)
    step.update(1)
    step.close()
    step = bar(f"recs: {len(splits)} split(s), fit + rank every case", 1)
    started = time.perf_counter()
    result = evaluation.evaluate(splits=splits, data=data)
    evaluate_seconds = time.perf_counter() - started
    step.update(1)
    step.close()
    step = bar(f"recs: latency ({customers} customers)", 1)
    latency = evaluation.latency_benchmark(customers=customers, data=data)
    step.update(1)
    step.close()

    figures, rows = [], []
    for split in result["splits"]:
        for level, label in (("product", "product"), ("product_type", "product type")):
            ours = split["models"]["xsell"][level]["hr@10"]
            base = split["models"]["popularity_28d"][level]["hr@10"]
            ratio = ours / base if base else None
            figures.append({
                "figure": f"HR@10 {label}, {split['split']} ({split['role']}, {split['cases']} cases)",
                "ours": ours, "unit": "", "reference": base,
                "reference_name": "popularity of the last 28 days", "ratio": ratio,
                "bar": f"ratio >= {HR_BAR_RATIO:.2f}", "met": ratio is not None and ratio >= HR_BAR_RATIO,
            })
            rows.append({"name": f"HR@10 {label}, {split['split']} ({split['role']})",
                         "per_second": None, "ms_per_message": None,
                         "note": f"ours {ours:.4f} vs popularity {base:.4f}"
                                 + (f": ratio {ratio:.2f}" if ratio else "")})
    fit = max((s["fit_seconds"] for s in result["splits"]), default=None)
    if fit is not None:
        figures.append({"figure": "model fit (slowest split)", "ours": fit, "unit": " s",
                        "reference": None, "reference_name": "no reference", "ratio": None,
                        "bar": f"< {FIT_BAR_SECONDS:.0f} s", "met": fit < FIT_BAR_SECONDS})
        rows.append({"name": "model fit (slowest split)", "per_second": None, "ms_per_message": None,
                     "note": ", ".join(f"{s['split']}: {s['fit_seconds']} s" for s in result["splits"])})
    figures.append({"figure": "one customer's recommendations, CPU", "ours": latency["cpu_mean_ms"],
                    "unit": "ms", "reference": latency["mean_ms"],
                    "reference_name": "wall-clock mean", "ratio": None,
                    "bar": f"< {LATENCY_BAR_MS:.0f} ms", "met": latency["cpu_mean_ms"] < LATENCY_BAR_MS})
    rows.append({"name": "one customer's recommendations (rank + filters)",
                 "per_second": 1000 / latency["mean_ms"] if latency["mean_ms"] else None,
                 "ms_per_message": latency["mean_ms"],
                 "note": f"CPU {latency['cpu_mean_ms']} ms; p50 {latency['p50_ms']}, p95 "
                         f"{latency['p95_ms']}, p99 {latency['p99_ms']} ms; {latency['customers']} "
                         f"customers, {latency['items']:,} items"})
    return {
        "suite": "recs",
        "title": f"Recommendations vs popularity-of-last-28-days ({result['data']}, "
                 f"{result['households']:,} households)",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "platform": platform.platform(terse=True)},
        "scale": scale, "evaluate_seconds": evaluate_seconds,
        "bar": {"hr10_ratio": HR_BAR_RATIO, "latency_cpu_ms": LATENCY_BAR_MS,
                "fit_seconds": FIT_BAR_SECONDS},
        "evaluation": result, "latency": latency, "figures": figures, "rows": rows,
    }
