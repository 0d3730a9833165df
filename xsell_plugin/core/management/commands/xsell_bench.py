"""``manage.py xsell_bench <suite>``: run one benchmark suite, print its figures, keep them.

Suites register by import string in ``settings.XSELL_BENCH_SUITES`` (``{"emails":
"emails.bench.run"}``), so core never imports a domain app. A suite is a callable
``run(*, size, progress, options) -> dict`` returning at least ``title`` and ``rows`` (each
``{"name", "per_second", "ms_per_message", "note"}``; ``None`` figures print as "skipped");
everything it returns is written as JSON to ``<XSELL_VAR_DIR>/bench/<suite>.json``.
``progress(description, total)`` gives a bar with ``update(n)`` and ``close()``.

Benchmarks print figures; nothing here fails on a number (CI times nothing).
"""

from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils.module_loading import import_string
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table


class _Bar:
    def __init__(self, progress: Progress, description: str, total: int) -> None:
        self.progress = progress
        self.task = progress.add_task(description, total=total)

    def update(self, n: int = 1) -> None:
        self.progress.advance(self.task, n)

    def close(self) -> None:
        task = self.progress.tasks[self.task]
        self.progress.update(self.task, completed=task.total)


class Command(BaseCommand):
    help = "Run a benchmark suite (e.g. `emails`), print a summary table and write var/bench/<suite>.json."

    def add_arguments(self, parser):
        parser.add_argument("suite", help=f"one of: {', '.join(sorted(settings.XSELL_BENCH_SUITES))}")
        parser.add_argument("--size", type=int, default=None,
                            help="how many items (messages, requests...) to time; the suite picks a default")
        parser.add_argument("--node-modules", default=None,
                            help="a node_modules folder holding the npm package a suite compares with")
        parser.add_argument("--output", default=None, help="where to write the JSON (default var/bench/)")
        parser.add_argument("--no-progress", action="store_true", help="no progress bars")
        parser.add_argument("--scale", type=float, default=1.0,
                            help="sizes relative to the bars' (1.0); e.g. 0.01 for a smoke run")

    def handle(self, *args, suite: str, size: int | None, node_modules: str | None, output: str | None,
               no_progress: bool, scale: float = 1.0, **options):
        path = settings.XSELL_BENCH_SUITES.get(suite)
        if path is None:
            known = ", ".join(sorted(settings.XSELL_BENCH_SUITES))
            raise CommandError(f"unknown suite {suite!r}; suites: {known}")
        if size is not None and size < 1:
            raise CommandError("--size must be at least 1")
        if not scale > 0:
            raise CommandError("--scale must be above 0")
        run = import_string(path)
        console = Console(file=self.stdout, highlight=False, width=None if self.stdout.isatty() else 120)
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=console, disable=no_progress, transient=False) as bars:
            report = run(size=size, progress=lambda d, t: _Bar(bars, d, t),
                         options={"node_modules": node_modules, "scale": scale})

        table = Table(title=report.get("title", suite))
        table.add_column("measurement")
        table.add_column("per second", justify="right")
        table.add_column("ms each", justify="right")
        table.add_column("note")
        for row in report["rows"]:
            per_second, ms = row.get("per_second"), row.get("ms_per_message")
            table.add_row(row["name"], f"{per_second:,.0f}" if per_second is not None else "skipped",
                          f"{ms:.3f}" if ms is not None else "-", row.get("note", ""))
        console.print(table)

        target = Path(output) if output else Path(settings.VAR_DIR) / "bench" / f"{suite}.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(report, indent=2, default=str) + "\n")
        console.print(f"figures written to {target}")
