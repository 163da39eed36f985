"""End to end in headless Chromium: the walk through docs/user-guide.md, taking its screenshots.

A small demo database, three people (admin, alice, bob). Each step of the guide is done as a
person would do it and checked (the database holds what the page says), then photographed into
docs/images/guide-*.png, so the guide's pictures are retaken, and stay true, on every run. The
grid's keyboard use and the loading indicators of the grid, chart, form and import pages are
checked on the way.
"""

from __future__ import annotations

import csv
import io
import re
import sqlite3
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from .test_grid_browser import (
    CENTER,
    CHROMIUM,
    CHROMIUM_ARGS,
    PINNED,
    ROOT,
    ROW_IS_LOADED,
    Server,
    cell,
    create_users,
    demo_server,
    signed_in_page,
    start_editing,
)

ORDERS = 2_000
PASSWORD = "e2e-Guide-4711"
IMAGES = ROOT / "docs" / "images"
VIEWPORT = {"width": 1400, "height": 850}
# Toasts come and go on their own clock; hidden in pictures so none catches one half-faded.
NO_TOASTS = ".q-notifications { display: none !important; }"

pytestmark = [
    pytest.mark.e2e,
]

CREATE_USERS = create_users(PASSWORD, "alice", "bob")

# Loading indicators can be gone before a test looks; this remembers every one that was shown.
WATCH_LOADING = """
(() => {
  window.nocofloSeen = new Set();
  const look = () => {
    if (document.querySelector('.nocoflo-grid .ag-overlay-loading-center')) {
      window.nocofloSeen.add('grid');
    }
    if (document.querySelector('.chart-area .q-spinner')) window.nocofloSeen.add('chart');
    const form = document.querySelector('.record-form');
    if (form && /Loading/.test(form.textContent)) window.nocofloSeen.add('form');
  };
  new MutationObserver(look).observe(document, {childList: true, subtree: true});
})();
"""

API_GET = "async (url) => (await fetch(url, {credentials: 'same-origin'})).json()"

FOCUSED = """
() => {
  const c = document.querySelector('.ag-cell-focus');
  return c ? [Number(c.closest('.ag-row').getAttribute('row-index')), c.getAttribute('col-id')]
           : null;
}
"""

# Whether the grid shows a column (out of sight to the right still counts as shown).
COLUMN_SHOWN = """
((name) => {
  const grid = document.querySelector('.nocoflo-grid');
  const api = grid && getElement(Number(grid.id.replace(/^c/, ''))).api;
  return api ? api.getColumn(name).isVisible() : null;
})"""

EDITING = """
(() => [...document.querySelectorAll('.ag-cell-inline-editing')]
  .map((c) => c.getAttribute('col-id')))"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`manage.py serve` on a free port, with a small demo database and two more people."""
    with demo_server(tmp_path_factory, "nocoflo-guide", PASSWORD, ORDERS, CREATE_USERS) as running:
        yield running


def shoot(page, name: str, hide_toasts: bool = True) -> None:
    IMAGES.mkdir(parents=True, exist_ok=True)
    page.screenshot(
        path=str(IMAGES / f"guide-{name}.png"),
        animations="disabled",
        style=NO_TOASTS if hide_toasts else None,
    )


def sign_in(browser, server: Server, username: str, path: str):
    """A browser context of its own (cookies, session) signed in as `username`, at `path`."""
    return signed_in_page(browser, server, username, PASSWORD, path, VIEWPORT, WATCH_LOADING)


def wait_for_grid(page, count: int) -> None:
    page.wait_for_function(ROW_IS_LOADED, arg=0)
    expect(page.locator(".row-count")).to_have_text(f"{count:,} rows")
    # Let the rest of the first block and the column widths settle before a picture.
    page.wait_for_function(ROW_IS_LOADED, arg=10)


def wait_for_focus(page, row: int, column: str) -> None:
    page.wait_for_function(
        f"(want) => JSON.stringify(({FOCUSED})()) === JSON.stringify(want)", arg=[row, column]
    )


def seen(page) -> set[str]:
    return set(page.evaluate("() => [...(window.nocofloSeen || [])]"))


def stored(server: Server, sql: str, *args):
    with sqlite3.connect(server.demo_db) as conn:
        return conn.execute(sql, args).fetchone()


def test_the_user_guide_walkthrough(server):
    orders = server.table_id("orders")
    table = f"/tables/{orders}?view=table_view"
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            # --- signing in ---------------------------------------------------------------------
            login = browser.new_page(viewport=VIEWPORT)
            login.goto(f"{server.url}/tables/{orders}")
            assert "/accounts/login/" in login.url
            expect(login.locator("#id_username")).to_be_visible()
            shoot(login, "sign-in")
            login.close()

            # The rows of the first visit are held back: the grid shows AG Grid's loading rows.
            rows_api = f"**/api/tables/{orders}/rows?*"
            held: list = []
            context = browser.new_context(viewport=VIEWPORT)
            context.route(rows_api, lambda route: held.append(route))
            page = context.new_page()
            page.add_init_script(WATCH_LOADING)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.set_default_timeout(20_000)
            page.goto(f"{server.url}/accounts/login/?next={table}")
            page.fill("#id_username", "admin")
            page.fill("#id_password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"{server.url}{table}")
            expect(page.locator(".nocoflo-grid .ag-overlay-loading-center")).to_be_visible()
            assert "grid" in seen(page)
            for route in held:
                route.continue_()
            context.unroute(rows_api)
            expect(page.locator(".nocoflo-grid .ag-overlay-loading-center")).to_have_count(0)

            # --- browsing -----------------------------------------------------------------------
            wait_for_grid(page, ORDERS)
            assert page.locator(".ag-header-cell-text", has_text="quantity · integer").count() == 1
            page.locator(".ag-header-cell[col-id='ordered_at'] .ag-header-cell-label").click()
            page.locator(".ag-header-cell[col-id='ordered_at'] .ag-header-cell-label").click()
            expect(page.locator(".ag-header-cell[col-id='ordered_at']")).to_have_attribute(
                "aria-sort", "descending"
            )
            (latest,) = stored(server, "SELECT id FROM orders ORDER BY ordered_at DESC LIMIT 1")
            expect(cell(page, 0, "id", PINNED)).to_have_text(str(latest))
            wait_for_grid(page, ORDERS)
            shoot(page, "grid")

            # The right drawer: the table's views, history, import, columns and datasource.
            page.locator("header button", has=page.locator("i", has_text="tune")).click()
            drawer = page.locator(".q-drawer--right")
            expect(drawer.locator(".table-history")).to_be_visible()
            expect(drawer.locator(".table-import")).to_have_text("Import CSV")
            expect(drawer.locator(".table-columns")).to_contain_text("quantity")
            expect(drawer).to_contain_text("Demo shop")
            page.wait_for_timeout(400)  # the drawer slides in
            shoot(page, "drawer")
            page.locator("header button", has=page.locator("i", has_text="tune")).click()
            expect(drawer.locator(".table-history")).not_to_be_visible()

            # A column filter, as a person sets it: the funnel, a value, Apply.
            page.locator(".ag-header-cell[col-id='status'] .ag-header-cell-filter-button").click()
            page.locator(".ag-filter-body input").first.fill("shipped")
            page.locator(".ag-filter-apply-panel button", has_text="Apply").click()
            (shipped,) = stored(server, "SELECT count(*) FROM orders WHERE status LIKE '%shipped%'")
            assert 0 < shipped < ORDERS
            wait_for_grid(page, shipped)
            expect(cell(page, 0, "status")).to_have_text("shipped")
            shoot(page, "filter")
            page.keyboard.press("Escape")

            # Export: the CSV holds what the grid shows, the filtered rows.
            with page.expect_download() as download:
                page.locator(".export-button").click()
                page.locator(".q-menu .q-item", has_text="CSV").click()
            exported = list(csv.reader(io.StringIO(Path(download.value.path()).read_text())))
            assert exported[0][:4] == ["id", "customer_id", "product_id", "quantity"]
            assert len(exported) == shipped + 1
            assert {line[exported[0].index("status")] for line in exported[1:]} == {"shipped"}

            # The grid's settings are kept: the chart starts filtered like the table.
            page.wait_for_function(
                "async (url) => ((await (await fetch(url)).json()).config.filters || []).length",
                arg=f"/api/tables/{orders}/view",
            )
            page.locator(".view-switcher").get_by_text("Chart").click()
            page.wait_for_url(f"**/tables/{orders}?view=chart_view")
            page.locator(".chart-figure .main-svg").first.wait_for()
            assert "chart" in seen(page)
            expect(page.locator(".filter-note")).to_have_text(
                "Filtered like the table: status contains shipped"
            )
            page.get_by_role("button", name="Show all rows").click()
            expect(page.locator(".filter-note")).to_contain_text("All rows")
            page.locator(".chart-controls .q-field", has_text="Chart").click()
            page.get_by_role("option", name="Bar").click()
            page.locator(".chart-controls .q-field", has_text="Date bucket").click()
            page.get_by_role("option", name="Year").click()
            page.locator(".chart-controls .q-field", has_text="Group / colour").click()
            page.get_by_role("option", name="status").click()
            page.locator(".chart-figure .barlayer .point").first.wait_for()
            # One bar series per status, each with up to one bar per year of orders.
            (statuses,) = stored(server, "SELECT count(DISTINCT status) FROM orders")
            expect(page.locator(".chart-figure .barlayer .trace")).to_have_count(statuses)
            assert page.locator(".chart-figure .barlayer .point").count() <= 3 * statuses
            page.mouse.move(0, 0)
            page.wait_for_timeout(300)  # plotly's own transition
            shoot(page, "chart")

            # Back to the grid: Reset view forgets the filter and sort.
            page.locator(".view-switcher").get_by_text("Table").click()
            page.wait_for_url(f"**/tables/{orders}?view=table_view")
            wait_for_grid(page, shipped)
            page.get_by_role("button", name="Reset view").click()
            wait_for_grid(page, ORDERS)
            expect(cell(page, 0, "id", PINNED)).to_have_text("1")

            # The Columns menu hides a column.
            page.get_by_role("button", name="Columns").click()
            page.locator(".columns-menu .q-checkbox", has_text="comment").click()
            page.wait_for_function(COLUMN_SHOWN + "('comment') === false")
            page.wait_for_timeout(300)
            shoot(page, "columns")
            page.keyboard.press("Escape")
            page.get_by_role("button", name="Reset view").click()
            wait_for_grid(page, ORDERS)
            page.wait_for_function(COLUMN_SHOWN + "('comment') === true")

            # --- the keyboard -------------------------------------------------------------------
            (before,) = stored(server, "SELECT quantity FROM orders WHERE id = 6")
            cell(page, 5, "quantity").click()
            wait_for_focus(page, 5, "quantity")
            page.keyboard.press("ArrowDown")
            wait_for_focus(page, 6, "quantity")
            page.keyboard.press("ArrowRight")
            wait_for_focus(page, 6, "unit_price")
            page.keyboard.press("ArrowLeft")
            page.keyboard.press("ArrowUp")
            wait_for_focus(page, 5, "quantity")
            # Enter opens the editor; Escape leaves it, and nothing is written.
            page.keyboard.press("Enter")
            page.wait_for_function(EDITING + "().includes('quantity')")
            page.keyboard.type("55")
            page.keyboard.press("Escape")
            page.wait_for_function(EDITING + "().length === 0")
            expect(cell(page, 5, "quantity")).to_have_text(str(before))
            page.wait_for_timeout(300)
            assert stored(server, "SELECT quantity FROM orders WHERE id = 6") == (before,)
            # Typing on a focused cell starts editing with what is typed; Enter saves.
            page.keyboard.type("77")
            page.wait_for_function(EDITING + "().includes('quantity')")
            page.keyboard.press("Enter")
            page.get_by_text("Saved quantity").wait_for()
            expect(cell(page, 5, "quantity")).to_have_text("77")
            assert stored(server, "SELECT quantity FROM orders WHERE id = 6") == (77,)
            wait_for_focus(page, 5, "quantity")
            # Tab, while editing, goes on editing the next cell.
            page.keyboard.press("Enter")
            page.wait_for_function(EDITING + "().includes('quantity')")
            page.keyboard.press("Tab")
            page.wait_for_function(EDITING + "().includes('unit_price')")
            assert page.evaluate(EDITING) == ["unit_price"]
            page.keyboard.press("Escape")
            page.wait_for_function(EDITING + "().length === 0")

            # --- working together ---------------------------------------------------------------
            alice = sign_in(browser, server, "alice", table)
            alice.on("pageerror", lambda exc: errors.append(str(exc)))
            wait_for_grid(alice, ORDERS)
            page.locator(".presence", has_text="alice").wait_for()
            assert "Also here" in page.locator(".presence").inner_text()
            start_editing(alice, 1, "quantity")
            page.locator(f"{CENTER} .ag-row[row-index='1'].nocoflo-row-locked").wait_for()
            badge = page.locator(f"{PINNED} .ag-row[row-index='1'] .nocoflo-lock")
            expect(badge).to_have_attribute("title", "alice is editing")
            cell(page, 1, "quantity").dblclick()
            page.wait_for_timeout(500)
            assert page.evaluate(EDITING) == []
            page.mouse.move(0, 0)
            shoot(page, "locked-row")
            editor = alice.locator(".ag-cell-inline-editing input")
            editor.press("Control+a")
            editor.type("9")
            editor.press("Enter")
            alice.get_by_text("Saved quantity").wait_for()
            expect(cell(page, 1, "quantity")).to_have_text("9")
            page.get_by_text("alice changed 1 cell").wait_for()
            expect(page.locator(f"{CENTER} .nocoflo-row-locked")).to_have_count(0)
            alice.context.close()

            # Someone changes a value outside Nocoflo's sight; writing over it asks first.
            (seen_value,) = stored(server, "SELECT quantity FROM orders WHERE id = 4")
            with sqlite3.connect(server.demo_db) as conn:
                conn.execute("UPDATE orders SET quantity = 42 WHERE id = 4")
            start_editing(page, 3, "quantity")
            editor = page.locator(".ag-cell-inline-editing input")
            editor.press("Control+a")
            editor.type("8")
            editor.press("Enter")
            dialog = page.locator(".conflict-dialog")
            expect(dialog).to_contain_text("Someone else changed this row")
            expect(dialog).to_contain_text("42")
            assert seen_value != 42
            shoot(page, "edit-conflict")
            dialog.get_by_role("button", name="Keep current").click()
            expect(cell(page, 3, "quantity")).to_have_text("42")
            assert stored(server, "SELECT quantity FROM orders WHERE id = 4") == (42,)

            # --- adding and deleting rows -------------------------------------------------------
            page.get_by_role("button", name="Add row").click()
            add = page.locator(".add-row-dialog")
            for label, value in (
                ("customer_id *", "17"), ("product_id *", "5"), ("quantity *", "3"),
                ("unit_price *", "12.5"), ("status *", "pending"),
                ("ordered_at *", "2024-12-31 09:30:00"), ("comment", "Added from the guide"),
            ):  # fmt: skip
                add.get_by_label(label, exact=True).fill(value)
            shoot(page, "add-row")
            add.get_by_role("button", name="Add", exact=True).click()
            wait_for_grid(page, ORDERS + 1)
            added = stored(
                server, "SELECT count(*) FROM orders WHERE comment = 'Added from the guide'"
            )
            assert added == (1,)

            page.locator(f"{PINNED} .ag-row[row-index='4'] .ag-checkbox-input").click()
            page.get_by_role("button", name="Delete selected").click()
            page.locator(".delete-dialog").get_by_role("button", name="Delete").click()
            wait_for_grid(page, ORDERS)
            assert stored(server, "SELECT count(*) FROM orders WHERE id = 5") == (0,)

            # --- history and undo ---------------------------------------------------------------
            # Order 5 is gone: order 6, edited with the keyboard, is now the fifth row.
            expect(cell(page, 4, "id", PINNED)).to_have_text("6")
            cell(page, 4, "quantity").click()
            page.get_by_role("button", name="Row history").click()
            row_history = page.locator(".row-history")
            expect(row_history.locator(".history-list tbody tr")).to_have_count(1)
            expect(row_history).to_contain_text(f"{before} → 77")
            page.wait_for_timeout(300)
            shoot(page, "row-history")
            row_history.get_by_role("button", name="Close").click()

            page.goto(f"{server.url}/tables/{orders}/history")
            listing = page.locator(".history-list")
            expect(listing).to_contain_text(f"{before} → 77")
            deleted = listing.locator("tbody tr", has_text="delete")
            expect(deleted).to_have_count(1)
            deleted.locator(".revert-button").click()
            expect(listing.locator("tbody tr").first).to_contain_text("reverts #")
            assert stored(server, "SELECT count(*) FROM orders WHERE id = 5") == (1,)
            page.mouse.move(0, 0)
            shoot(page, "history")

            # --- the form -----------------------------------------------------------------------
            page.goto(f"{server.url}{table}")
            wait_for_grid(page, ORDERS + 1)
            cell(page, 2, "quantity").click()
            page.get_by_role("button", name="Open in form").click()
            page.wait_for_url(f"**/tables/{orders}?view=form_view&row=*")
            position = page.locator(".record-position")
            expect(position).to_contain_text(f"Record 3 of {ORDERS + 1:,}")
            assert "form" in seen(page)
            page.locator(".form-toolbar button", has_text="chevron_right").click()
            expect(position).to_contain_text(f"Record 4 of {ORDERS + 1:,}")
            expect(page).to_have_url(re.compile(r"[?&]row="))
            quantity = page.get_by_label("quantity *")
            expect(quantity).to_have_value("42")
            page.mouse.move(0, 0)
            page.wait_for_timeout(300)
            shoot(page, "form")

            # --- import -------------------------------------------------------------------------
            page.goto(f"{server.url}/tables/{orders}/import")
            lines = ["customer_id,product_id,quantity,unit_price,status,ordered_at,gift,comment"]
            lines += [
                f"{100 + n},{10 + n},{n + 1},{9.5 + n},pending,2024-12-{20 + n} 10:00:00,0,"
                f"Imported row {n + 1}"
                for n in range(3)
            ]
            page.locator(".import-upload input[type=file]").set_input_files(
                files=[{"name": "new-orders.csv", "mimeType": "text/csv",
                        "buffer": "\n".join(lines).encode()}]
            )  # fmt: skip
            expect(page.locator(".import-preview tbody tr")).to_have_count(3)
            expect(page.locator(".import-mapping .q-select")).to_have_count(8)
            page.get_by_role("button", name="Check").click()
            expect(page.locator(".import-counts")).to_have_text("3 rows: 3 fit, 0 do not")
            page.mouse.move(0, 0)
            shoot(page, "import")
            page.get_by_role("button", name="Import").click()
            page.locator(".import-report", has_text="Imported 3 rows").wait_for()
            # The import's progress bar stays, full, with the result.
            progress = page.locator(".import-progress")
            expect(progress).to_be_visible()
            expect(progress).to_have_attribute("aria-valuenow", "1")
            assert stored(server, "SELECT count(*) FROM orders") == (ORDERS + 4,)

            # --- sharing and invites ------------------------------------------------------------
            page.goto(f"{server.url}{table}")
            wait_for_grid(page, ORDERS + 4)
            page.get_by_role("button", name="Share").click()
            page.get_by_placeholder("user or group name").fill("bob")
            page.get_by_role("button", name="Add", exact=True).click()
            expect(page.locator(".share-grants")).to_contain_text("user bob")
            page.get_by_role("button", name="New invite").click()
            page.get_by_label("Email").fill("carol@example.com")
            page.get_by_role("button", name="Send invite").click()
            expect(page.locator(".invite-link")).to_contain_text("/accounts/invite/")
            page.wait_for_timeout(300)
            shoot(page, "share")
            page.get_by_role("button", name="Save").click()
            page.get_by_text("Saved who may use this table").wait_for()
            grants = page.evaluate(API_GET, f"/api/tables/{orders}/permissions")
            assert [(g["user"], g["permissions"]) for g in grants["grants"]] == [("bob", ["read"])]

            # --- dark mode ----------------------------------------------------------------------
            page.locator(".user-menu").click()
            page.locator(".dark-mode-item .q-toggle").click()
            page.wait_for_function("() => document.body.classList.contains('body--dark')")
            page.keyboard.press("Escape")
            expect(page.locator(".dark-mode-item")).to_have_count(0)
            page.reload()
            page.wait_for_function("() => document.body.classList.contains('body--dark')")
            wait_for_grid(page, ORDERS + 4)
            page.wait_for_timeout(300)
            shoot(page, "dark")
        finally:
            browser.close()
    assert errors == [], f"JavaScript errors in the page: {errors}"
