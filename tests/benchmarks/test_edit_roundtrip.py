"""benchmarks/edit_roundtrip.py keeps working: a tiny run, in-process and over HTTP against a
server it starts, with the in-process bus and through the real Redis (a Redis that is down fails
the test)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def run(tmp_path: Path, *extra: str) -> str:
    result = subprocess.run(
        [sys.executable, "benchmarks/edit_roundtrip.py", "--orders", "300", "--edits", "8",
         "--warmup", "2", "--data-dir", str(tmp_path / "data"), *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def figures(out: str, way: str) -> tuple[float, float]:
    match = re.search(re.escape(way) + r"\s+([\d.]+)\s+([\d.]+)", out)
    assert match, out
    return float(match.group(1)), float(match.group(2))


def test_in_process_and_over_http(tmp_path):
    out = run(tmp_path)
    assert "8 edits of random rows of 300 orders; event bus: in-process" in out
    for way in ("in-process rows.update_row, event received",
                "HTTP PATCH with If-Match (answer received)"):  # fmt: skip
        median, p95 = figures(out, way)
        assert 0 < median <= p95
    assert "event heard by another process" not in out


def test_through_redis(tmp_path):
    out = run(tmp_path, "--event-bus", "redis://127.0.0.1:6379/7")
    assert "event bus: redis://127.0.0.1:6379/7" in out
    median, p95 = figures(out, "HTTP PATCH, event heard by another process")
    assert 0 < median <= p95


def test_an_unreachable_event_bus_is_reported(tmp_path):
    result = subprocess.run(
        [sys.executable, "benchmarks/edit_roundtrip.py", "--orders", "50", "--edits", "1",
         "--data-dir", str(tmp_path / "data"), "--event-bus", "redis://127.0.0.1:1/0",
         "--skip-http"],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert result.returncode == 2
    assert "cannot be reached" in result.stderr
