"""End to end in headless Chromium: the grid keeps a user's sort, filters, hidden columns and
search, and opens with them again."""

from __future__ import annotations

import json
import time

import pytest
from playwright.sync_api import sync_playwright

from .test_grid_browser import (
    ADMIN_PASSWORD,
    CHROMIUM,
    CHROMIUM_ARGS,
    demo_server,
)

pytestmark = [
    pytest.mark.e2e,
]

ORDERS = 2000

API_GET = """async (url) => (await fetch(url, {credentials: 'same-origin'})).json()"""


@pytest.fixture(scope="module")
def small_server(tmp_path_factory):
    with demo_server(tmp_path_factory, "nocoflo-e2e-views", ADMIN_PASSWORD, ORDERS) as running:
        yield running


def wait_for_rows(page) -> None:
    page.wait_for_selector(".ag-center-cols-container .ag-row[row-index='0'] [col-id='quantity']")
    page.wait_for_function(
        "() => /\\d/.test((document.querySelector('.row-count') || {}).textContent || '')"
    )


def test_grid_settings_survive_a_reload(small_server):
    orders = small_server.table_id("orders")
    table_url = f"{small_server.url}/tables/{orders}?view=table_view"
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1000})
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.set_default_timeout(30_000)
            page.goto(table_url)
            page.fill("#id_username", "admin")
            page.fill("#id_password", ADMIN_PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(table_url)
            wait_for_rows(page)

            # Sort by a header click, filter as the column filter does, hide a column, search.
            page.locator(".ag-header-cell[col-id='status'] .ag-header-cell-label").click()
            grid_id = page.evaluate(
                "() => Number(document.querySelector('.nocoflo-grid').id.replace(/^c/, ''))"
            )
            page.evaluate(
                """async (gridId) => {
                  const api = getElement(gridId).api;
                  await api.setColumnFilterModel(
                    'quantity', {filterType: 'number', type: 'greaterThan', filter: 5});
                  api.onFilterChanged('columnFilter');
                }""",
                grid_id,
            )
            page.get_by_role("button", name="Columns").click()
            page.locator(".columns-menu .q-checkbox", has_text="comment").click()
            page.keyboard.press("Escape")
            page.fill("input[placeholder='Search text columns']", "gift")
            # The grid reports its settings half a second after the last change.
            deadline = time.monotonic() + 15
            saved = page.evaluate(API_GET, f"/api/tables/{orders}/view")
            while saved["config"].get("q") != "gift" and time.monotonic() < deadline:
                time.sleep(0.25)
                saved = page.evaluate(API_GET, f"/api/tables/{orders}/view")
            assert saved["view_type"] == "table_view"
            config = saved["config"]
            assert config["sort"] == ["status"]
            assert config["filters"] == [{"column": "quantity", "op": "gt", "value": 5}]
            assert config["q"] == "gift"
            assert [c["colId"] for c in config["columns"] if c.get("hide")] == ["comment"]

            expected = page.evaluate(
                API_GET,
                f"/api/tables/{orders}/rows?limit=1&q=gift&sort=status&filters="
                + json.dumps(config["filters"]),
            )

            page.reload()
            wait_for_rows(page)
            assert (
                page.locator(".ag-header-cell[col-id='status']").get_attribute("aria-sort")
                == "ascending"
            )
            assert page.locator(".ag-header-cell[col-id='comment']").count() == 0
            assert page.input_value("input[placeholder='Search text columns']") == "gift"
            assert page.locator(".row-count").inner_text() == f"{expected['count']:,} rows"
            first = page.locator(
                ".ag-center-cols-container .ag-row[row-index='0'] [col-id='quantity']"
            ).inner_text()
            assert first == str(expected["rows"][0]["values"]["quantity"])

            # Reset view: the table as it first looked.
            page.get_by_role("button", name="Reset view").click()
            # The page rebuilds the grid, so the search box is briefly absent.
            page.wait_for_function(
                """() => {
                  const box = document.querySelector("input[placeholder='Search text columns']");
                  return box !== null && !box.value;
                }"""
            )
            wait_for_rows(page)
            assert page.locator(".ag-header-cell[col-id='comment']").count() == 1
            assert page.evaluate(API_GET, f"/api/tables/{orders}/view")["config"] == {}
        finally:
            browser.close()
    assert errors == []
