"""``manage.py xsell_bench all``: every registered suite in one run, and the figures of DESIGN.md
section 7 side by side with their references, as ratios.

Suites are found through ``settings.XSELL_BENCH_SUITES`` only (core imports no domain code). A
suite that is missing (its module or function does not import) or that fails is reported as such
and the others still run. Each suite's own report is also written to
``<XSELL_VAR_DIR>/bench/<suite>.json``; ``all.json`` holds everything.

A suite may return ``figures``: a list of ``{"figure", "ours", "unit", "reference",
"reference_name", "ratio", "bar", "met"}``: the bar's measurement next to the reference measured
in the same run. The emails suite predates that list; its figures are read from its report.
``--scale`` reaches every suite as ``options["scale"]`` (1.0: the bar's sizes).
"""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

ALL = "all"


def _emails_figures(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The emails suite's report, as section 7 figures (it has no ``figures`` list)."""
    pipeline = report.get("pipeline") or {}
    if "per_second" not in pipeline:
        return []
    bar = (report.get("bar") or {}).get("per_second_per_core", 1000)
    figures = []
    for key, name in (("naive_pipeline", "naive Django pipeline"), ("mjml_python", "mjml-python alone"),
                      ("node_mjml", "Node mjml (reference MJML)")):
        reference = report.get(key) or {}
        per_second = reference.get("per_second")
        figures.append({
            "figure": "email pipeline (context + template + MJML + text + MIME)",
            "ours": pipeline["per_second"], "unit": "/s per core", "reference": per_second,
            "reference_name": name if per_second else f"{name}: {reference.get('skipped', 'skipped')}",
            "ratio": pipeline["per_second"] / per_second if per_second else None,
            "bar": f">= {bar:,}/s per core", "met": pipeline["per_second"] >= bar,
        })
    return figures


_FIGURES_FROM_REPORT: dict[str, Callable[[dict[str, Any]], list[dict[str, Any]]]] = {
    "emails": _emails_figures,
}


def _figures(name: str, report: dict[str, Any]) -> list[dict[str, Any]]:
    if isinstance(report.get("figures"), list):
        return report["figures"]
    if name in _FIGURES_FROM_REPORT:
        return _FIGURES_FROM_REPORT[name](report)
    return []


def _number(value: float) -> str:
    """Large figures with one decimal, small ones (hit rates, milliseconds) with 4 digits."""
    return f"{value:,.1f}" if abs(value) >= 100 or value == int(value) else f"{value:.4g}"


def _row(suite: str, figure: dict[str, Any]) -> dict[str, Any]:
    unit = figure.get("unit", "")
    ours, reference, ratio = figure.get("ours"), figure.get("reference"), figure.get("ratio")
    met = figure.get("met")
    parts = []
    if reference is not None:
        parts.append(f"{figure.get('reference_name', 'reference')}: {_number(reference)}{unit}")
    else:
        parts.append(figure.get("reference_name", "no reference"))
    if ratio is not None:
        parts.append(f"ratio {ratio:.2f}")
    if figure.get("bar"):
        parts.append(f"bar {figure['bar']}: " + ("met" if met else "NOT met" if met is not None else "-"))
    per_second = ours if unit.startswith("/s") and ours is not None else None
    ms = ours if unit == "ms" else None
    name = f"{suite}: {figure['figure']}"
    if per_second is None and ms is None and ours is not None:
        name += f" = {_number(ours)}{(' ' + unit.strip()) if unit and unit != '/s' else ''}"
    return {"name": name, "per_second": per_second, "ms_per_message": ms, "note": "; ".join(parts)}


def run_all(*, size: int | None = None, progress=None, options: dict | None = None) -> dict[str, Any]:
    options = dict(options or {})
    scale = float(options.get("scale") or 1.0)
    out_dir = Path(settings.VAR_DIR) / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    suites: dict[str, dict[str, Any]] = {}
    rows: list[dict[str, Any]] = []
    figures: list[dict[str, Any]] = []
    for name, path in settings.XSELL_BENCH_SUITES.items():
        if name == ALL or path == f"{__name__}.run_all":
            continue
        try:
            suite = import_string(path)
        except ImportError as exc:
            suites[name] = {"status": "missing", "error": f"{type(exc).__name__}: {exc}"}
            rows.append({"name": f"{name}: missing", "per_second": None, "ms_per_message": None,
                         "note": f"{path} does not import ({exc})"[:200]})
            continue
        started = time.perf_counter()
        try:
            report = suite(size=size, progress=progress, options=options)
        except Exception as exc:
            suites[name] = {"status": "failed", "error": f"{type(exc).__name__}: {exc}",
                            "traceback": traceback.format_exc(), "seconds": time.perf_counter() - started}
            rows.append({"name": f"{name}: failed", "per_second": None, "ms_per_message": None,
                         "note": f"{type(exc).__name__}: {exc}"[:200]})
            continue
        seconds = time.perf_counter() - started
        (out_dir / f"{name}.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
        suite_figures = [{**figure, "suite": name} for figure in _figures(name, report)]
        figures += suite_figures
        suites[name] = {"status": "ok", "seconds": seconds, "report": report}
        if suite_figures:
            rows += [_row(name, figure) for figure in suite_figures]
        else:  # a suite without section 7 figures: its own rows
            rows += [{**row, "name": f"{name}: {row['name']}"} for row in report.get("rows", [])]
    return {
        "suite": ALL,
        "title": f"DESIGN.md section 7: ours next to the reference of the same run (scale {scale:g})",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"), "scale": scale,
        "figures": figures, "suites": suites, "rows": rows,
    }
