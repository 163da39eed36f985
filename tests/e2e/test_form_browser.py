"""End to end in headless Chromium: a row of the grid opened in the form, edited and saved.

Sign in, focus a row of the orders grid, open it in the form, take it for editing, change its
quantity, save, and find the new value in the SQLite file (as an integer) and after a reload.
"""

from __future__ import annotations

import sqlite3

import pytest
from playwright.sync_api import sync_playwright

from .test_grid_browser import (
    CENTER,
    CHROMIUM,
    CHROMIUM_ARGS,
    cell,
    demo_server,
)

ORDERS = 2_000
PASSWORD = "e2e-Forms-4711"

pytestmark = [pytest.mark.e2e]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`manage.py serve` on a free port, with a small demo database."""
    with demo_server(tmp_path_factory, "nocoflo-forms", PASSWORD, ORDERS) as running:
        yield running


def test_open_a_row_in_the_form_edit_and_save(server):
    orders = server.table_id("orders")
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.set_default_timeout(20_000)
            page.goto(f"{server.url}/accounts/login/?next=/tables/{orders}?view=table_view")
            page.fill("#id_username", "admin")
            page.fill("#id_password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_function(
                "() => /^\\d+$/.test((document.querySelector("
                f'\'{CENTER} .ag-row[row-index="2"] [col-id="quantity"]\') || {{}})'
                ".textContent || '')"
            )

            # Focus the third row's quantity and open that row in the form.
            cell(page, 2, "quantity").click()
            page.get_by_role("button", name="Open in form").click()
            page.wait_for_url(f"**/tables/{orders}?view=form_view&row=*")
            page.locator(".record-position").filter(has_text="Record 3 of").wait_for()
            quantity = page.get_by_label("quantity *")
            before = int(quantity.input_value())
            new_value = 900 + (before + 1) % 100

            # Edit, change the quantity, save.
            page.get_by_role("button", name="Edit").click()
            page.get_by_role("button", name="Save").wait_for()
            quantity.fill(str(new_value))
            page.get_by_role("button", name="Save").click()
            page.get_by_text("Saved").wait_for()
            page.get_by_role("button", name="Edit").wait_for()

            with sqlite3.connect(server.demo_db) as conn:
                stored = conn.execute(
                    "SELECT quantity, typeof(quantity) FROM orders WHERE id = 3"
                ).fetchone()
            assert stored == (new_value, "integer")

            # The address names the record: a reload shows it again, with the new value.
            page.reload()
            page.locator(".record-position").filter(has_text="Record 3 of").wait_for()
            page.wait_for_function(
                "(value) => [...document.querySelectorAll('input')].some("
                "(i) => i.value === String(value))",
                arg=new_value,
            )
            assert int(page.get_by_label("quantity *").input_value()) == new_value
        finally:
            browser.close()
    assert errors == [], f"JavaScript errors in the page: {errors}"
