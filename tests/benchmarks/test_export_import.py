"""benchmarks/export_rows.py and benchmarks/import_rows.py keep working: tiny runs against a
server each starts itself."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def run(script: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, f"benchmarks/{script}", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_export_streams_with_flat_memory(tmp_path):
    out = run("export_rows.py", "--orders", "3000", "--data-dir", str(tmp_path / "data"))
    assert "export of 3,000 orders" in out
    for fmt in ("csv", "json"):
        match = re.search(rf"^{fmt}\s+([\d,]+)\s+[\d.]+\s+([\d.]+)\s+([\d,]+)\s.*(PASS|FAIL)$",
                          out, re.MULTILINE)  # fmt: skip
        assert match, out
        assert match.group(1) == "3,000"
        assert float(match.group(2)) > 0
        assert match.group(4) == "PASS", out


def test_import_checks_then_inserts(tmp_path):
    out = run("import_rows.py", "--rows", "500", "--orders", "200",
              "--data-dir", str(tmp_path / "data"))  # fmt: skip
    assert "import of 500 rows" in out
    dry = re.search(r"check only \(dry_run\)\s+([\d,]+)\s+([\d,]+)\s+([\d.]+)", out)
    done = re.search(r"^import\s+([\d,]+)\s+([\d,]+)\s+([\d.]+)", out, re.MULTILINE)
    assert dry and done, out
    assert (dry.group(1), dry.group(2)) == ("500", "0")
    assert (done.group(1), done.group(2)) == ("500", "500")
