"""Replay the demo store's real orders through the pipeline with a simulated clock.

    manage.py xsell_simulate --days 30              # the last 30 days of the committed sample
    manage.py xsell_simulate --days 7 --seed 3      # another deterministic run
    manage.py xsell_simulate --households 40        # a quick run on a slice
    manage.py xsell_simulate --json var/sim.json    # also write the report as JSON

Everything runs in this process on a separate simulation store; email goes to the local outbox.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from xsell_plugin.core.arguments import positive_int
from xsell_plugin.demo.simulation import SimulationReport, simulate


class Command(BaseCommand):
    help = "Simulate the sequences on the demo store's real orders and print a report."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--days", type=positive_int, default=30, help="days to simulate (default 30)")
        parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
        parser.add_argument("--households", type=positive_int, default=None, metavar="N",
                            help="only the N lowest household ids (quick runs)")
        parser.add_argument("--tick-minutes", type=positive_int, default=15,
                            help="simulated minutes per step of the clock (default 15)")
        parser.add_argument("--json", dest="json_path", default=None, metavar="PATH",
                            help="also write the report as JSON")

    def handle(self, *args, days: int, seed: int, households: int | None, tick_minutes: int,
               json_path: str | None = None, **options) -> None:
        started = time.monotonic()
        try:
            import time_machine  # noqa: F401
        except ImportError as exc:
            raise CommandError("xsell_simulate needs time-machine: pip install -e '.[dev]'") from exc
        report = simulate(days=days, seed=seed, households=households, tick_minutes=tick_minutes,
                          progress=self._bar)
        self._print(report, time.monotonic() - started)
        if json_path:
            self._write_json(Path(json_path), report)

    @staticmethod
    def _bar(description: str, total: int) -> tqdm:
        return tqdm(total=total, desc=description, unit=" ticks", file=sys.stderr, disable=None,
                    dynamic_ncols=True)

    def _write_json(self, path: Path, report: SimulationReport) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report.as_dict(), indent=2, default=str) + "\n")

    def _print(self, r: SimulationReport, seconds: float) -> None:
        out = self.stdout.write

        def table(title: str, counts: dict[str, int]) -> None:
            total = sum(counts.values())
            out(f"{title}: {total:,}")
            for key, n in counts.items():
                out(f"  {key or '-':<28} {n:>7,}")

        out(f"Simulation of {r.days} days, {r.start:%Y-%m-%d} to {r.end:%Y-%m-%d} (seed {r.seed}), "
            f"{r.households:,} households")
        out(f"Backfilled orders (history): {r.history_orders:,}; enrolled by the backfill: "
            f"{r.enrolled_during_backfill}")
        out(f"Replayed orders (webhooks): {r.replayed_orders:,}; synthetic orders after a click: "
            f"{r.synthetic_orders:,}; abandoned checkouts: {r.abandoned_checkouts:,}; browse events: "
            f"{r.browse_events:,}; wishlist adds: {r.wishlist_adds:,}")
        table("Enrolled", r.enrolled)
        out(f"  of them in a holdout (logged, not emailed): {r.held_out:,}")
        table("Sent", r.sent)
        table("Skipped, by reason", r.skipped)
        table("Cancelled, by reason", r.cancelled)
        table("Enrolments exited, by reason", r.exits)
        out(f"Deferrals (guardrails, windows, pauses): {r.deferrals:,}; still scheduled at the end: "
            f"{r.still_scheduled:,}")
        out(f"Outbound emails by status: {', '.join(f'{k} {v:,}' for k, v in r.emails.items())}; "
            f"outbox messages: {r.outbox_messages:,}")
        out(f"Discount codes issued: {r.codes_issued:,}")
        out(f"Clicks: {r.clicks:,} by {r.clicking_customers:,} customers")
        out(f"Orders attributed to a click (within 7 days): {r.attributed_orders:,}, "
            f"revenue ${r.attributed_revenue:,.2f}")
        out(f"Most emails one customer got in any 7 days: {r.max_emails_per_customer_7d}")
        out(self.style.SUCCESS(f"Simulated in {seconds:.1f} s"))
