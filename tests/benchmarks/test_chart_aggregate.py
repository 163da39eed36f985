"""benchmarks/chart_aggregate.py keeps working: a tiny run, in-process and over HTTP against a
server it starts."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_in_process_and_over_http(tmp_path):
    result = subprocess.run(
        [sys.executable, "benchmarks/chart_aggregate.py", "--orders", "300", "--repeat", "3",
         "--data-dir", str(tmp_path / "data")],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "chart aggregates of 300 orders, 3 runs each" in out
    for way in ("in-process", "HTTP"):
        for chart in ("count by month of ordered_at", "sum of unit_price by status",
                      "sum of unit_price by month, per status"):  # fmt: skip
            match = re.search(re.escape(f"{way}") + r"\s+" + re.escape(chart)
                              + r"\s+([\d.]+)\s+([\d.]+)", out)  # fmt: skip
            assert match, out
            assert 0 < float(match.group(1)) <= float(match.group(2))
