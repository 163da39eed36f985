"""End to end in headless Chromium: the chart view of a small demo's orders draws a plotly chart,
and changing a control draws another."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import sync_playwright

from .test_grid_browser import CHROMIUM, CHROMIUM_ARGS, demo_server

ORDERS = 2_000
PASSWORD = "e2e-Charts-4711"

pytestmark = [
    pytest.mark.e2e,
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with demo_server(tmp_path_factory, "nocoflo-charts", PASSWORD, ORDERS) as running:
        yield running


def test_the_chart_renders_and_follows_its_controls(server):
    orders = server.table_id("orders")
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.set_default_timeout(30_000)
            page.goto(f"{server.url}/tables/{orders}?view=chart_view")
            page.fill("#id_username", "admin")
            page.fill("#id_password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"{server.url}/tables/{orders}?view=chart_view")

            started = time.monotonic()
            page.locator(".chart-figure .main-svg").first.wait_for()
            drawn = time.monotonic() - started
            # Orders by month: a line over three years of months.
            assert page.locator(".chart-figure .scatterlayer .trace").count() == 1
            assert page.locator(".chart-figure .xtick").count() > 2

            # A bar chart instead: plotly draws bars.
            page.locator(".chart-controls .q-select").first.click()
            page.get_by_role("option", name="Bar").click()
            page.locator(".chart-figure .barlayer .point").first.wait_for()
        finally:
            browser.close()
    print(f"\ne2e chart: first figure {drawn:.2f} s after sign-in")
    assert errors == [], f"JavaScript errors in the page: {errors}"
