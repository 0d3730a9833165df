"""``manage.py xsell_recs_eval``: our recommendations against popularity-of-last-28-days on the
Complete Journey data, on several time splits; prints a table and writes JSON."""

from __future__ import annotations

import json
import re
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from rich.console import Console
from rich.table import Table

from xsell_plugin.recommendations import evaluation

SPLIT = re.compile(r"^(\d+):(\d+)-(\d+)$")


def parse_splits(text: str):
    splits = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        match = SPLIT.match(part)
        if not match:
            raise CommandError(f"bad split {part!r}: use TRAIN_TO:TEST_FROM-TEST_TO, e.g. 30:31-34")
        train_to, test_from, test_to = (int(g) for g in match.groups())
        if not train_to < test_from <= test_to:
            raise CommandError(f"bad split {part!r}: the test weeks must follow the training weeks")
        known = {(s.train_to_week, s.test_from_week, s.test_to_week): s.role
                 for s in evaluation.DEFAULT_SPLITS}
        role = known.get((train_to, test_from, test_to), "report")
        splits.append(evaluation.Split(train_to, test_from, test_to, role))
    return tuple(splits)


def render(result: dict, console: Console) -> None:
    console.print(f"[bold]Data:[/bold] {result['data']} - {result['households']:,} households, "
                  f"{result['lines']:,} lines. {result['protocol']}.")
    table = Table(title="HR@K / MRR@10: popularity-of-last-28-days vs xsell (uplift)")
    for column in ("split", "role", "cases", "level", "metric", "popularity 28d", "xsell", "uplift"):
        table.add_column(column, justify="right" if column not in ("split", "role", "level",
                                                                   "metric") else "left")
    for split in result["splits"]:
        first = True
        for level in ("product", "product_type"):
            base = split["models"]["popularity_28d"][level]
            ours = split["models"]["xsell"][level]
            for metric in base:
                uplift = split["uplift_percent"][level][metric]
                colour = "green" if uplift is not None and uplift >= 20 else "yellow"
                table.add_row(
                    split["split"] if first else "", split["role"] if first else "",
                    str(split["cases"]) if first else "", level.replace("_", " "), metric.upper(),
                    f"{base[metric]:.4f}", f"{ours[metric]:.4f}",
                    f"[{colour}]{uplift:+.1f} %[/{colour}]" if uplift is not None else "n/a")
                first = False
        table.add_section()
    console.print(table)
    for split in result["splits"]:
        console.print(f"{split['split']}: model fitted in {split['fit_seconds']} s, "
                      f"{split['recommend_ms_mean']} ms per customer (50 ranked, filtered)")
    if "latency" in result:
        lat = result["latency"]
        console.print(f"Per-customer recommendation ({lat['customers']} customers, "
                      f"{lat['items']:,} items): mean {lat['mean_ms']} ms, p50 {lat['p50_ms']} ms, "
                      f"p95 {lat['p95_ms']} ms, p99 {lat['p99_ms']} ms (CPU {lat['cpu_mean_ms']} ms)")


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--splits", default="20:21-24,30:31-34,40:41-44,46:47-50",
                            help="TRAIN_TO:TEST_FROM-TEST_TO,... in the data's week numbers "
                                 "(week 20 is the tuning split; the others are reported)")
        parser.add_argument("--sample", action="store_true",
                            help="use the committed demo sample even if the full package data "
                                 "(the demo extra) is installed")
        parser.add_argument("--households", type=int, default=None,
                            help="only the N lowest household ids (a quick run)")
        parser.add_argument("--latency", action="store_true",
                            help="also measure per-customer recommendation time")
        parser.add_argument("--json", dest="json_path", default=None,
                            help="where to write the JSON (default: var/recs_eval.json)")

    def handle(self, *args, **options):
        splits = parse_splits(options["splits"])
        if not splits:
            raise CommandError("no split to run")
        data = evaluation.load_data(prefer_package=not options["sample"],
                                    limit_households=options["households"])
        result = evaluation.evaluate(splits=splits, data=data)
        if options["latency"]:
            result["latency"] = evaluation.latency_benchmark(data=data)
        path = Path(options["json_path"] or Path(settings.VAR_DIR) / "recs_eval.json")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2) + "\n")
        render(result, Console(file=self.stdout, width=140))
        self.stdout.write(f"JSON written to {path}")
