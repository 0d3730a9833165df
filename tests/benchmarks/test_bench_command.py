"""`manage.py xsell_bench` runs its suites and keeps their figures. Nothing here is timed: the
figures are printed for people (DESIGN.md section 7), never asserted."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command


def test_emails_suite_prints_and_writes_its_figures(tmp_path, monkeypatch):
    monkeypatch.delenv("NODE_PATH", raising=False)
    out = StringIO()
    target = tmp_path / "emails.json"
    call_command("xsell_bench", "emails", "--size", "60", "--no-progress", "--output", str(target),
                 stdout=out)
    printed = out.getvalue()
    assert "full pipeline" in printed and "mjml-python alone" in printed and "Node mjml" in printed
    figures = json.loads(target.read_text())
    assert figures["suite"] == "emails" and figures["pipeline"]["messages"] == 60
    for key in ("pipeline", "mjml_python", "naive_pipeline"):
        assert figures[key]["per_second"] > 0
    assert "skipped" in figures["node_mjml"] or figures["node_mjml"]["per_second"] > 0


def test_unknown_suite_is_refused():
    with pytest.raises(CommandError, match="unknown suite"):
        call_command("xsell_bench", "nope", stdout=StringIO())
