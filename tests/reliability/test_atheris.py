"""Runs the atheris harness (``atheris_mappers.py``) for a bounded number of inputs in a process of
its own; a crash (any exception other than ``MalformedPayload``) fails with libFuzzer's report.
``XSELL_ATHERIS_RUNS`` sets the count (default 200,000)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def test_woocommerce_mappers_survive_coverage_guided_fuzzing(tmp_path):
    pytest.importorskip("atheris")
    runs = int(os.environ.get("XSELL_ATHERIS_RUNS", "200000"))
    seeds = tmp_path / "corpus"
    seeds.mkdir()
    for recorded in (ROOT / "tests" / "payloads" / "woocommerce").glob("*.json"):
        for target in range(4):  # the first byte picks the mapper
            (seeds / f"{target}-{recorded.name}").write_bytes(bytes([target]) + recorded.read_bytes())
    env = {**os.environ, "XSELL_LOG_LEVEL": "ERROR"}
    done = subprocess.run(
        [sys.executable, "-m", "tests.reliability.atheris_mappers", f"-runs={runs}", "-max_len=8192",
         f"-artifact_prefix={tmp_path}/", str(seeds)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False)
    report = done.stderr[-6000:]
    assert done.returncode == 0, report
    assert f"Done {runs} runs" in report or "DONE" in report, report
    print("\n  " + next((line for line in report.splitlines() if line.startswith("Done")), ""))
