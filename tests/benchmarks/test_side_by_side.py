"""benchmarks/side_by_side.py keeps working: a tiny run against both servers prints every case
with Nocoflo's, Datasette's and sqlite3's timings, the concurrency line and the RSS figures.

Nothing here asserts on the targets: the exit code reports them (0 met, 1 missed); 2 would mean
the benchmark could not run at all."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[2]
MS = r"([\d.]+) /\s+([\d.]+)"

# Every line of the table, in order; the offset line has no Datasette figure (no offset paging
# on its tables) and the informational lines no target.
CASES = (
    "first page (with count)|first page, neither counts|keyset page after id 1,800|"
    "keyset page, each side's calls in a row|offset page at row 1,800|"
    "sort -ordered_at (indexed)|sort quantity (unindexed)|"
    "filter status = shipped|filter status = shipped, both count|filter comment contains gift|"
    "search q=gift (D: comment__contains)|chart: count per status|count shown to the user"
).split("|")
NO_DATASETTE = {"offset page at row 1,800"}
NO_TARGET = {CASES[1], CASES[3], CASES[4], CASES[8], CASES[10], CASES[11], CASES[12]}


def ratio_fits(ratio: float, top: float, bottom: float) -> bool:
    """Whether a printed ratio is top / bottom, both printed to 0.1 (and so rounded by up to
    0.05) and the ratio itself to 0.01."""
    low = (top - 0.05) / (bottom + 0.05)
    high = (top + 0.05) / max(bottom - 0.05, 1e-9)
    return low - 0.005 <= ratio <= high + 0.005


def test_every_case_is_measured_on_both_servers():
    result = subprocess.run(
        [sys.executable, "benchmarks/side_by_side.py", "--rows", "2000", "--repeat", "2",
         "--concurrency", "3", "--seconds", "2", "--memory-pages", "20"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    out = result.stdout
    assert result.returncode in (0, 1), result.stderr[-3000:] + out[-3000:]
    assert "2,000 orders in" in out

    for name in CASES:
        datasette, target = name not in NO_DATASETTE, name not in NO_TARGET
        other = MS if datasette else r"(n/a)()"
        line = re.search(
            rf"^{re.escape(name)}\s+{MS}\s+{other}\s+([\d.]+)\s+(\S+)\s+(\S+)\s+(.*)$", out, re.M
        )
        assert line, f"no line for {name!r}:\n{out}"
        n_median, n_p95, d_median, _, sqlite_ms, ratio, rows, verdict = line.groups()
        assert 0 < float(n_median) <= float(n_p95), line.group(0)
        assert float(sqlite_ms) >= 0, line.group(0)
        assert rows in ("same", "same set"), line.group(0)  # both answer the rows sqlite3 does
        if datasette:
            assert ratio_fits(float(ratio), float(n_median), float(d_median)), line.group(0)
        assert verdict.startswith(("PASS", "FAIL") if target else "info"), line.group(0)
    keyset = next(line for line in out.splitlines() if line.startswith("keyset page after id"))
    assert re.search(r"[+-][\d.]+ ms vs sqlite3 <= 3 (ok|MISSED)", keyset), keyset

    clients = re.search(
        r"^3 clients, keyset pages \(req/s\)\s+([\d.]+)\s+([\d.]+)\s+-\s+([\d.]+).*(PASS|FAIL)"
        r".*failed calls: Nocoflo (\d+), Datasette (\d+)",
        out,
        re.M,
    )
    assert clients, out
    n_rps, d_rps, ratio, _, n_failed, d_failed = clients.groups()
    assert float(n_rps) > 0 and float(d_rps) > 0
    assert ratio_fits(float(ratio), float(d_rps), float(n_rps))
    assert (n_failed, d_failed) == ("0", "0")

    assert "count shown: Nocoflo 2,000 (exact); Datasette 2,000 (exact); sqlite3 2,000" in out
    rss = re.search(r"server RSS after the run: Nocoflo ([\d.]+) MB, Datasette ([\d.]+) MB", out)
    assert rss and all(float(x) > 10 for x in rss.groups()), out
    memory = re.search(
        r"Nocoflo RSS after 20 more keyset pages \(0 failed\): ([\d.]+) MB\s+target < 250 MB\s+"
        r"(PASS|FAIL)",
        out,
    )
    assert memory and float(memory.group(1)) > 10, out
    assert "load average" in out
    assert ("all targets met" in out) == (result.returncode == 0)


def test_a_case_in_a_row_times_each_side_before_the_next():
    from benchmarks import side_by_side as sbs

    order: list[str] = []

    def side(name: str) -> sbs.Side:
        return sbs.Side(lambda: order.append(name) or [1])

    def run(interleaved: bool) -> list[str]:
        order.clear()
        case = sbs.Case("x", side("n"), side("d"), side("s"), interleaved=interleaved)
        sbs.run_case(case, repeat=3)
        assert all(len(s.samples) == 3 for s in (case.nocoflo, case.datasette, case.sqlite))
        return order[3 * sbs.WARMUP :]  # after the warm-up calls

    assert run(interleaved=True) == list("ndsndsnds")
    assert run(interleaved=False) == list("nnndddsss")
