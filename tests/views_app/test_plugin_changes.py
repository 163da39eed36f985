"""An open table page follows the plugins an administrator turns on and off, and survives views
that fail: the view area shows a notice in place of a view that went away, the datasource
problem of a datasource type turned off, or the error of a view that raised, while the switcher
and the rest of the page go on working.

Changes reach open pages from other threads (the admin's request, the plugin watcher) through
`loop.call_soon_threadsafe`, so the tests make them from a worker thread and poll for their
effects instead of sleeping a fixed time.
"""

from __future__ import annotations

import asyncio
import inspect
import shutil
from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.test import Client
from nicegui import ElementFilter, ui
from nicegui.element import Element
from nicegui.testing import User

from core import events, locks
from core.models import RowLock
from datasources_app.discovery import discover_tables
from datasources_app.values import encode_key
from plugins_app import manager as manager_module
from plugins_app.hookspecs import hookimpl
from plugins_app.manager import BUILTIN_PLUGINS, PluginManager
from tests.factories import DatasourceFactory
from tests.plugins.geo_datasource_plugin import GeoDatasourcePlugin
from tests.plugins.plain_view_plugin import PlainViewPlugin
from views_app.base import BaseView

from .conftest import grid_state, page_db, sign_in
from .test_form_view import form_state

pytestmark = pytest.mark.integration

ROW_ID = 42
KEY = encode_key([ROW_ID])
OTHER_KEY = encode_key([7])
DISABLED_GEO = (
    "The datasource type 'geo' is disabled: an administrator turned off its plugin "
    "'geo_datasource' (Admin › Plugins)"
)


# --- sample plugins -------------------------------------------------------------------------------


class ExplodingView(BaseView):
    """A view that is offered for every table and raises while it renders."""

    def get_view_name(self) -> str:
        return "Exploding"

    def can_handle_table(self, table_meta: dict) -> bool:
        return True

    def render(self) -> None:
        ui.label("half drawn")
        raise RuntimeError("the chart library crashed")


class ExplodingViewPlugin:
    @hookimpl
    def get_view_class(self):
        return ExplodingView

    @hookimpl
    def get_view_priority(self):
        return 50  # chosen over every built-in view


class NamelessView(BaseView):
    """A view that cannot even say its name; it would be chosen first if it were offered."""

    def get_view_name(self) -> str:
        raise KeyError("label")

    def can_handle_table(self, table_meta: dict) -> bool:
        return True

    def render(self) -> None:
        ui.label("the nameless view").classes("nameless-view")


class NamelessViewPlugin:
    @hookimpl
    def get_view_class(self):
        return NamelessView

    @hookimpl
    def get_view_priority(self):
        return 60


# --- fixtures and helpers -------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def bus():
    """A fresh in-process event bus for each test (row locks announce themselves on it)."""
    previous = events.set_bus(events.EventBus())
    yield events.get_bus()
    events.set_bus(previous)


@pytest.fixture
def manager():
    """A fresh process manager: the built-ins, the sample geo datasource type and the sample
    "Plain" view (turned off); the previous manager is put back afterwards."""
    previous = manager_module._current
    fresh = PluginManager(builtins=BUILTIN_PLUGINS, entry_points=False)
    fresh.load_plugins()
    fresh.register_plugin(GeoDatasourcePlugin())
    fresh.register_plugin(PlainViewPlugin(), enabled=False)
    manager_module.set_manager(fresh)
    yield fresh
    manager_module._current = previous


@pytest.fixture
def geo_source(db, demo_db, manager, tmp_path):
    """A copy of the demo database reached through the sample `geo` datasource type."""
    path = tmp_path / "geo.sqlite3"
    shutil.copy(demo_db, path)
    config = DatasourceFactory(
        name="Geo", datasource_type="geo", connection_string=f"geo:///{path}"
    )
    discover_tables(config)
    return config


async def table_of(source, name: str = "orders"):
    return await sync_to_async(source.tables.get)(name=name)


async def admin_turns(manager: PluginManager, name: str, enabled: bool) -> None:
    """Enable or disable a plugin from another thread, as an administrator's request does."""
    await asyncio.to_thread(manager.set_enabled, name, enabled)


async def until(condition: Callable[[], Any], what: str, timeout: float = 5.0) -> Any:
    """Poll `condition` (a function, or one answering an awaitable) until it holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if loop.time() > deadline:
            pytest.fail(f"timed out after {timeout:g}s waiting for {what}")
        await asyncio.sleep(0.02)


def with_class(user: User, css: str) -> list[Element]:
    """The elements of the user's page carrying a CSS class."""
    return [e for e in list(user.client.elements.values()) if css in e.classes]


def view_area(user: User) -> Element:
    (area,) = with_class(user, "view-area")
    return area


def in_view_area(user: User, css: str) -> list[Element]:
    """The elements carrying a CSS class inside the page's view area."""
    return [e for e in view_area(user).descendants() if css in e.classes]


def texts(element: Element) -> list[str]:
    return [t for e in element.descendants() if (t := getattr(e, "text", None))]


def switcher(user: User) -> ui.toggle:
    (toggle,) = with_class(user, "view-switcher")
    return toggle


def grids(user: User) -> list[ui.aggrid]:
    return [e for e in view_area(user).descendants() if isinstance(e, ui.aggrid)]


async def holds_lock(holder: str) -> bool:
    return await sync_to_async(RowLock.objects.filter(holder=holder).exists)()


async def lock_released(holder: str) -> bool:
    return not await holds_lock(holder)


async def open_page(user: User, account, table, query: str = "") -> None:
    await sign_in(user, account)
    await user.open(f"/tables/{table.pk}{query}")


async def open_grid(user: User, account, table) -> str:
    """Open a table in the table view; answers the page's client id (the holder of its locks)."""
    await open_page(user, account, table, "?view=table_view")
    await until(lambda: grids(user), "the grid")
    return grid_state(user).context.client_id


def form_on_page(user: User):
    """The form view's RecordForm, once the page shows it."""
    with user:
        found = list(ElementFilter(kind=ui.input, content="Go to key", local_scope=False))
    return form_state(user) if found else None


def get(client: Client, url: str):
    return client.get(url)


# --- (1) a view turned off while a page shows it ----------------------------------------------


@page_db
async def test_a_view_turned_off_is_replaced_by_a_notice_and_its_locks_are_released(
    user: User, create_user, manager, demo_source, admin_user
):
    orders = await table_of(demo_source)
    customers = await table_of(demo_source, "customers")
    # This page edits order 42 in the form view: it holds the row's lock.
    await open_page(user, admin_user, orders, f"?view=form_view&row={KEY}")
    form = await until(lambda: form_on_page(user), "the form")
    await until(lambda: form.key == KEY, "order 42 on the form")
    page_id = form.context.client_id
    user.find(kind=ui.button, content="Edit").click()
    await until(lambda: holds_lock(page_id), "the form's row lock")
    assert switcher(user).options["form_view"] == "Form"
    # Another page shows the same table in the table view, holding a lock of its own; a third
    # shows another table.
    same_table, other_table = create_user(), create_user()
    grid_page = await open_grid(same_table, admin_user, orders)
    await sync_to_async(locks.acquire)(orders, OTHER_KEY, admin_user, grid_page)
    await open_grid(other_table, admin_user, customers)

    await admin_turns(manager, "form_view", False)

    (notice,) = await until(lambda: in_view_area(user, "view-turned-off"), "the notice")
    assert "The Form view was turned off by an administrator." in texts(notice)
    (link,) = [e for e in notice.descendants() if isinstance(e, ui.link)]
    assert link.text == "Open this table in Table"
    assert link.props["href"] == f"/tables/{orders.pk}?view=table_view"
    # The notice took the form's place; the switcher says what happened to the current view.
    await user.should_not_see(kind=ui.button, content="Edit")
    await user.should_not_see(kind=ui.input, content="Go to key")
    toggle = switcher(user)
    assert toggle.value == "form_view"
    assert toggle.options["form_view"] == "Form (turned off)"
    assert {"table_view": "Table", "chart_view": "Chart"}.items() <= toggle.options.items()
    # The page gave up its lock; the other page keeps its own and its grid.
    await until(lambda: lock_released(page_id), "the form's lock to be released")
    assert await holds_lock(grid_page)
    for other in (same_table, other_table):
        assert grids(other), "the other pages keep their grids"
        assert not in_view_area(other, "view-turned-off")
        assert "form_view" not in switcher(other).options  # no longer offered, nothing else
        assert switcher(other).value == "table_view"


# --- (2) a view turned on while a page is open ------------------------------------------------


@page_db
async def test_a_view_turned_on_appears_in_the_switcher(
    user: User, manager, demo_source, admin_user
):
    orders = await table_of(demo_source)
    await open_grid(user, admin_user, orders)
    assert "plain_view" not in switcher(user).options

    await admin_turns(manager, "plain_view", True)

    await until(lambda: "plain_view" in switcher(user).options, "the Plain view in the switcher")
    toggle = switcher(user)
    assert toggle.options["plain_view"] == "Plain"
    assert toggle.value == "table_view"
    # The open view stays as it was.
    assert grids(user)
    assert not in_view_area(user, "view-turned-off")
    # Choosing the new view opens it.
    with user:
        toggle.value = "plain_view"
    await until(
        lambda: user.back_history and user.back_history[-1].endswith("?view=plain_view"),
        "the Plain view to open",
    )
    await until(lambda: switcher(user).value == "plain_view", "the Plain view's page")


# --- (3) the datasource type of the open table turned off -------------------------------------


@page_db
async def test_a_datasource_type_turned_off_shows_the_problem_until_turned_on_again(
    user: User, create_user, manager, geo_source, demo_source, admin_user, admin_client, caplog
):
    geo_orders = await table_of(geo_source)
    sqlite_orders = await table_of(demo_source)
    page_id = await open_grid(user, admin_user, geo_orders)
    await sync_to_async(locks.acquire)(geo_orders, KEY, admin_user, page_id)
    other = create_user()
    await open_grid(other, admin_user, sqlite_orders)
    options_before = dict(switcher(user).options)

    await admin_turns(manager, "geo_datasource", False)

    (card,) = await until(lambda: in_view_area(user, "datasource-problem"), "the problem card")
    assert texts(card) == ["The datasource Geo cannot be used", DISABLED_GEO]
    assert not grids(user)
    assert not in_view_area(user, "view-turned-off")  # the view itself is still there
    assert switcher(user).options == options_before
    await until(lambda: lock_released(page_id), "the page's lock to be released")
    # A table of another datasource type is not concerned.
    assert grids(other)
    assert not in_view_area(other, "datasource-problem")

    # Opened now, the table shows the problem at once.
    await user.open(f"/tables/{geo_orders.pk}")
    (card,) = in_view_area(user, "datasource-problem")
    assert DISABLED_GEO in texts(card)
    assert not grids(user)
    await user.should_not_see("Traceback")
    # The rows API says the same, as an error of the datasource, not of the server.
    url = f"/api/tables/{geo_orders.pk}/rows"
    response = await sync_to_async(get)(admin_client, url)
    assert 400 <= response.status_code < 600 and response.status_code != 500
    assert response.json()["message"] == DISABLED_GEO
    row = await sync_to_async(get)(admin_client, f"{url}/{KEY}")
    assert row.status_code == response.status_code
    assert row.json()["message"] == DISABLED_GEO
    # Django logs its 5xx answers; nothing else (no traceback of the API's code) was logged.
    errors = [r for r in caplog.get_records("call") if r.levelname == "ERROR"]
    assert all(r.name == "django.request" and not r.exc_info for r in errors)
    caplog.clear()

    await admin_turns(manager, "geo_datasource", True)

    await user.open(f"/tables/{geo_orders.pk}?view=table_view")
    await until(lambda: grids(user), "the grid of the table opened again")
    assert not in_view_area(user, "datasource-problem")
    response = await sync_to_async(get)(admin_client, f"{url}?limit=1")
    assert response.status_code == 200
    assert response.json()["rows"][0]["values"]["id"] == 1


# --- (4) a view that raises while it renders --------------------------------------------------


@page_db
async def test_a_view_that_raises_shows_an_error_card_and_the_page_works(
    user: User, manager, demo_source, admin_user, caplog
):
    manager.register_plugin(ExplodingViewPlugin())
    orders = await table_of(demo_source)
    await open_page(user, admin_user, orders)

    (card,) = in_view_area(user, "plugin-error")
    assert texts(card) == [
        "The view Exploding cannot be shown",
        "The plugin 'exploding_view' failed: the chart library crashed",
        "The error is logged and shown to administrators.",
    ]
    info = manager.plugins["exploding_view"]
    assert info.health == "failing"
    assert info.error == "RuntimeError: the chart library crashed"
    assert info.error_at is not None
    assert any("exploding_view" in r.getMessage() for r in caplog.records)
    caplog.clear()  # the plugin's failure is logged on purpose
    # The rest of the page works: the switcher offers the other views and opens them.
    toggle = switcher(user)
    assert toggle.value == "exploding_view"
    assert list(toggle.options)[0] == "exploding_view"
    assert {"table_view", "form_view", "chart_view"} <= set(toggle.options)
    with user:
        toggle.value = "table_view"
    await until(
        lambda: user.back_history and user.back_history[-1].endswith("?view=table_view"),
        "the table view to open",
    )
    await until(lambda: grids(user), "the grid")
    assert not in_view_area(user, "plugin-error")


# --- (5) a view that cannot say its name ------------------------------------------------------


@page_db
async def test_a_view_whose_name_raises_is_not_offered(
    user: User, manager, demo_source, admin_user, caplog
):
    manager.register_plugin(NamelessViewPlugin())
    orders = await table_of(demo_source)
    await open_page(user, admin_user, orders)

    toggle = switcher(user)
    assert "nameless_view" not in toggle.options
    assert toggle.value != "nameless_view"
    assert not with_class(user, "nameless-view")
    assert not in_view_area(user, "plugin-error")
    with user.scope(ui.right_drawer):
        links = {link.text for link in user.find(ui.link).elements}
    assert "History" in links and not any("ameless" in text for text in links)
    # Asked for by name, it is not shown either: the page falls back to the best other view.
    await user.open(f"/tables/{orders.pk}?view=nameless_view")
    await user.should_see(
        f"The view 'nameless_view' cannot show this table; showing {toggle.options[toggle.value]}."
    )
    assert not with_class(user, "nameless-view")
    assert manager.plugins["nameless_view"].health == "failing"
    assert manager.plugins["nameless_view"].error == "KeyError: 'label'"
    caplog.clear()  # the plugin's failure is logged on purpose
