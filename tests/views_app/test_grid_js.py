"""The browser side of the table view: the generated AG Grid datasource, run in Node when present.

Running the JavaScript (with a fake `fetch` and `emitEvent`) proves more than looking at it: that it
parses, and that AG Grid's sort and filter models become the rows API's query parameters.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from urllib.parse import parse_qs, urlsplit

import pytest

from views_app.builtin.grid_js import (
    KEY_FIELD,
    ROWS_TEXT,
    datasource_js,
    export_js,
    recount_js,
    set_search_js,
)
from views_app.counts import rows_text

pytestmark = pytest.mark.unit

KINDS = {"id": "integer", "status": "text", "ordered_at": "datetime", "shipped_on": "date"}
URL = "/api/tables/7/rows"
GRID_ID = 12

node = shutil.which("node")

HARNESS = """
globalThis.window = globalThis;
const calls = {fetched: [], emitted: [], success: [], failed: 0};
const reply = %(reply)s;
globalThis.emitEvent = (name, arg) => calls.emitted.push([name, arg]);
globalThis.fetch = (url, init) => {
  calls.fetched.push([url, init]);
  if (reply.reject) return Promise.reject(new Error(reply.reject));
  return Promise.resolve({
    ok: reply.ok, status: reply.ok ? 200 : 500, statusText: reply.statusText || '',
    json: () => reply.badJson ? Promise.reject(new Error('not json')) : Promise.resolve(reply.body),
  });
};
%(setup)s
const ds = %(datasource)s;
// The blocks the grid asks for, one after the other as AG Grid does while scrolling.
(async () => {
  for (const [start, end] of %(blocks)s) {
    await new Promise((done) => ds.getRows({
      startRow: start, endRow: end,
      sortModel: %(sort)s, filterModel: %(filters)s,
      successCallback: (rows, last) => { calls.success.push([rows, last]); done(); },
      failCallback: () => { calls.failed += 1; done(); },
    }));
  }
  setTimeout(() => console.log(JSON.stringify(calls)), 10);
})();
"""


def run_datasource(
    reply: dict | None = None,
    sort: list | None = None,
    filters: dict | None = None,
    start: int = 0,
    end: int = 100,
    setup: str = "",
    blocks: list[tuple[int, int]] | None = None,
    count_id: str = "",
) -> dict:
    reply = reply or {"ok": True, "body": {"rows": [], "count": 0, "next": None}}
    script = HARNESS % {
        "reply": json.dumps(reply),
        "setup": setup,
        "datasource": datasource_js(URL, KINDS, GRID_ID, count_id),
        "blocks": json.dumps(blocks or [(start, end)]),
        "sort": json.dumps(sort or []),
        "filters": json.dumps(filters or {}),
    }
    done = subprocess.run(
        [node, "-e", script], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def query_of(calls: dict) -> dict:
    ((url, init),) = calls["fetched"]
    parts = urlsplit(url)
    assert parts.path == URL
    assert init == {"credentials": "same-origin", "headers": {"Accept": "application/json"}}
    return {k: v[0] for k, v in parse_qs(parts.query).items()}


def test_datasource_js_embeds_url_kinds_grid_and_key():
    js = datasource_js(URL, KINDS, GRID_ID)
    assert js.startswith("(() => {") and js.endswith("})()")
    assert f"const url = {json.dumps(URL)}" in js
    assert f"kinds = {json.dumps(KINDS)}" in js
    assert f"gridId = {GRID_ID}" in js
    assert f"keyField = {json.dumps(KEY_FIELD)}" in js
    assert "getRows: (params) =>" in js
    for token in ("'nocoflo-grid-count-'", "'nocoflo-grid-error-'", "params.successCallback"):
        assert token in js
    # Balanced brackets: a cheap syntax check that needs no JavaScript engine.
    for opening, closing in ("()", "[]", "{}"):
        assert js.count(opening) == js.count(closing)


def test_datasource_js_escapes_what_it_embeds():
    js = datasource_js('/api/tables/1/rows"; alert(1); "', {"it's": "text"}, 3)
    assert '"/api/tables/1/rows\\"; alert(1); \\""' in js
    assert '{"it\'s": "text"}' in js


def test_set_search_js():
    assert set_search_js(5, 'say "hi"') == (
        '(window.nocofloSearch = window.nocofloSearch || {})[5] = "say \\"hi\\"";'
    )


def test_datasource_js_parses_and_reads_a_page():
    body = {
        "rows": [{"key": "WzFd", "values": {"id": 1}}, {"key": "WzJd", "values": {"id": 2}}],
        "count": 1000000,
        "next": "cursor",
    }
    calls = run_datasource({"ok": True, "body": body}, start=500, end=600)
    assert query_of(calls) == {"offset": "500", "limit": "100"}
    assert calls["success"] == [
        [[{"id": 1, KEY_FIELD: "WzFd"}, {"id": 2, KEY_FIELD: "WzJd"}], 1000000]
    ]
    assert calls["emitted"] == [
        [f"nocoflo-grid-count-{GRID_ID}", {"count": 1000000, "accuracy": "exact"}]
    ]
    assert calls["failed"] == 0


@pytest.mark.parametrize("accuracy", ["estimate", "at_least"])
def test_datasource_js_sizes_the_grid_by_an_estimate_without_ending_it(accuracy):
    """An estimated or "more than" count is shown and sizes the scrollbar, but the grid keeps
    asking for rows past it: only a short block ends the table."""
    body = {"rows": [{"key": "a", "values": {}}], "count": 10_200_000, "next": "more",
            "count_accuracy": accuracy}  # fmt: skip
    setup = """
globalThis.getElement = (id) => ({api: {setRowCount: (n, found) =>
  calls.sized = [id, n, found], setGridOption: () => {}}});
"""
    calls = run_datasource({"ok": True, "body": body}, setup=setup)
    assert calls["success"][0][1] == -1
    assert calls["sized"] == [GRID_ID, 10_200_000, False]
    assert calls["emitted"] == [
        [f"nocoflo-grid-count-{GRID_ID}", {"count": 10_200_000, "accuracy": accuracy}]
    ]


def test_datasource_js_pages_on_with_cursors_not_offsets():
    """Scrolling on from a block uses that block's keyset cursor; a jump elsewhere, or another
    sort, filter or search, falls back to the offset."""
    body = {"rows": [{"key": "a", "values": {}}] * 100, "count": None, "next": "after-99"}
    calls = run_datasource(
        {"ok": True, "body": body}, blocks=[(0, 100), (100, 200), (5000, 5100), (300, 400)]
    )
    queries = [{k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
               for url, _ in calls["fetched"]]  # fmt: skip
    assert queries == [
        {"offset": "0", "limit": "100"},
        {"cursor": "after-99", "limit": "100"},
        {"offset": "5000", "limit": "100"},
        {"offset": "300", "limit": "100"},
    ]
    # A refresh forgets the cursors (rows may have come and gone) and asks for the count.
    known = (
        f"globalThis.nocofloCursors = {{{GRID_ID}: "
        "{shape: '[null,null,null]', at: new Map([[100, 'after-99']])}};"
    )
    kept = run_datasource({"ok": True, "body": body}, start=100, end=200, setup=known)
    assert query_of(kept) == {"cursor": "after-99", "limit": "100"}
    calls = run_datasource(
        {"ok": True, "body": body},
        start=100,
        end=200,
        setup=known + recount_js(GRID_ID, exact=True),
    )
    assert query_of(calls) == {"offset": "100", "limit": "100", "exact_count": "true"}


def test_datasource_js_asks_for_the_count_once_after_a_refresh():
    body = {"rows": [], "count": 7, "next": None}
    calls = run_datasource(
        {"ok": True, "body": body}, start=900, end=1000, setup=recount_js(GRID_ID)
    )
    assert query_of(calls) == {"offset": "900", "limit": "100", "count": "true"}
    assert calls["emitted"] == [
        [f"nocoflo-grid-count-{GRID_ID}", {"count": 7, "accuracy": "exact"}]
    ]
    # Without the flag, a deep block does not ask for the count.
    assert query_of(run_datasource({"ok": True, "body": body}, start=900, end=1000)) == {
        "offset": "900",
        "limit": "100",
    }


@pytest.mark.parametrize(
    ("count", "next_cursor", "last"),
    [(None, "more", -1), (None, None, 102), (0, None, 0)],
)
def test_datasource_js_last_row(count, next_cursor, last):
    body = {"rows": [{"key": "a", "values": {}}, {"key": "b", "values": {}}], "count": count,
            "next": next_cursor}  # fmt: skip
    calls = run_datasource({"ok": True, "body": body}, start=100, end=200)
    assert calls["success"][0][1] == last
    assert bool(calls["emitted"]) == (count is not None)


def test_datasource_js_sort_filters_and_search():
    filters = {
        "status": {"filterType": "text", "type": "contains", "filter": "ship"},
        "id": {"filterType": "number", "type": "inRange", "filter": 5, "filterTo": 9},
        "comment": {"filterType": "text", "type": "blank"},
        "shipped_on": {
            "filterType": "date", "type": "inRange",
            "dateFrom": "2024-01-01 00:00:00", "dateTo": "2024-01-31 00:00:00",
        },
        "ordered_at": {"filterType": "date", "type": "equals", "dateFrom": "2024-02-03 00:00:00"},
    }  # fmt: skip
    calls = run_datasource(
        sort=[{"colId": "ordered_at", "sort": "desc"}, {"colId": "id", "sort": "asc"}],
        filters=filters,
        setup=set_search_js(GRID_ID, "gift") + set_search_js(GRID_ID + 1, "other grid"),
    )
    query = query_of(calls)
    assert json.loads(query["sort"]) == ["-ordered_at", "id"]
    assert query["q"] == "gift"
    assert json.loads(query["filters"]) == [
        {"column": "status", "op": "contains", "value": "ship"},
        {"column": "id", "op": "gte", "value": 5},
        {"column": "id", "op": "lte", "value": 9},
        {"column": "comment", "op": "isnull"},
        {"column": "shipped_on", "op": "gte", "value": "2024-01-01"},
        {"column": "shipped_on", "op": "lte", "value": "2024-01-31"},
        {"column": "ordered_at", "op": "gte", "value": "2024-02-03"},
        {"column": "ordered_at", "op": "lte", "value": "2024-02-03 23:59:59.999999"},
    ]


def test_datasource_js_datetime_ranges_and_combined_conditions():
    filters = {
        "ordered_at": {
            "filterType": "date", "operator": "AND",
            "conditions": [
                {"filterType": "date", "type": "greaterThan", "dateFrom": "2024-03-01 00:00:00"},
                {"filterType": "date", "type": "inRange", "dateFrom": "2024-03-05 00:00:00",
                 "dateTo": "2024-03-09 00:00:00"},
                {"filterType": "date", "type": "lessThan", "dateFrom": "2024-04-01 00:00:00"},
            ],
        },
        "status": {"filterType": "text", "type": "notBlank"},
        "id": {"filterType": "number", "type": "greaterThanOrEqual", "filter": 3},
        "shipped_on": {"filterType": "date", "type": "notEqual", "dateFrom": "2024-01-02 00:00:00"},
    }  # fmt: skip
    query = query_of(run_datasource(filters=filters))
    assert "sort" not in query and "q" not in query
    assert json.loads(query["filters"]) == [
        {"column": "ordered_at", "op": "gt", "value": "2024-03-01 23:59:59.999999"},
        {"column": "ordered_at", "op": "gte", "value": "2024-03-05"},
        {"column": "ordered_at", "op": "lte", "value": "2024-03-09 23:59:59.999999"},
        {"column": "ordered_at", "op": "lt", "value": "2024-04-01"},
        {"column": "status", "op": "notnull"},
        {"column": "id", "op": "gte", "value": 3},
        {"column": "shipped_on", "op": "ne", "value": "2024-01-02"},
    ]


def test_datasource_js_unknown_filter_type_means_equals():
    filters = {"status": {"filterType": "text", "type": "endsWith", "filter": "ed"}}
    query = query_of(run_datasource(filters=filters))
    assert json.loads(query["filters"]) == [{"column": "status", "op": "eq", "value": "ed"}]


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        ({"ok": False, "body": {"message": "Unknown column 'x'"}}, "Unknown column 'x'"),
        ({"ok": False, "body": {}}, "The rows could not be read"),
        ({"ok": False, "badJson": True, "statusText": "Bad Gateway"}, "Bad Gateway"),
        ({"reject": "offline"}, "The server cannot be reached: Error: offline"),
    ],
)
def test_datasource_js_failures_are_reported(reply, message):
    calls = run_datasource(reply)
    assert calls["failed"] == 1
    assert calls["success"] == []
    status = 0 if "reject" in reply else 500
    assert calls["emitted"] == [
        [f"nocoflo-grid-error-{GRID_ID}", {"message": message, "status": status}]
    ]


def test_export_downloads_what_the_grid_shows():
    """After the grid read a sorted, filtered, searched page, Export asks for the same rows in
    the columns on screen (in their order, without the selection column)."""
    url = "/api/tables/7/export"
    setup = """
globalThis.nocofloSearch = {GRID: 'smith'};
globalThis.location = {assign: (to) => calls.assigned = to};
const column = (id) => ({getColId: () => id});
globalThis.getElement = (id) => id === GRID ? {api: {getAllDisplayedColumns: () =>
  [column('ag-Grid-SelectionColumn'), column('status'), column('id')]}} : null;
setTimeout(() => { EXPORT; }, 5);
""".replace("GRID", str(GRID_ID)).replace("EXPORT", export_js(GRID_ID, url, "csv"))
    calls = run_datasource(
        sort=[{"colId": "id", "sort": "desc"}],
        filters={"status": {"filterType": "text", "type": "equals", "filter": "new"}},
        setup=setup,
    )
    parts = urlsplit(calls["assigned"])
    assert parts.path == url
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert {k: json.loads(query.pop(k)) for k in ("sort", "filters", "columns")} == {
        "sort": ["-id"],
        "filters": [{"column": "status", "op": "eq", "value": "new"}],
        "columns": ["status", "id"],
    }
    assert query == {"format": "csv", "q": "smith"}


def test_count_words_in_javascript_are_the_servers():
    cases = [
        (count, accuracy)
        for accuracy in ("exact", "estimate", "at_least")
        for count in (0, 1, 2, 12, 999, 1_000, 10_000, 52_250, 52_345, 52_350, 999_499, 1_000_000,
                      1_049_999, 1_050_000, 1_250_000, 10_234_567, 123_456_789)
    ]  # fmt: skip
    script = f"const t = {ROWS_TEXT};\n" + (
        f"console.log(JSON.stringify({json.dumps(cases)}.map(([n, a]) => t(n, a))));"
    )
    done = subprocess.run([node, "-e", script], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [rows_text(count, accuracy) for count, accuracy in cases]


def test_datasource_js_shows_rows_and_count_together():
    """The count line and the end of the loading overlay come with the rows, not a server
    round trip later."""
    setup = """
    const label = {textContent: 'counting rows…'};
    globalThis.document = {getElementById: (id) => (id === 'c42' ? label : null)};
    const options = {};
    globalThis.getElement = () => ({api: {setGridOption: (k, v) => { options[k] = v; },
                                          setRowCount: () => {}}});
    Object.defineProperty(calls, 'shown', {enumerable: true,
                                           get: () => [label.textContent, options.loading]});
    """
    body = {"rows": [], "count": 10_234_567, "count_accuracy": "estimate", "next": "c"}
    calls = run_datasource({"ok": True, "body": body}, setup=setup, count_id="c42")
    assert calls["shown"] == ["about 10.2 million rows", False]
