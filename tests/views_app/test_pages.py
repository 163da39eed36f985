"""The NiceGUI pages as a signed-in (or signed-out) user sees them, in the simulated browser."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from nicegui import ElementFilter, ui
from nicegui.testing import User
from nicegui.testing.user_interaction import UserInteraction

from plugins_app import manager as manager_module
from plugins_app.hookspecs import hookimpl
from plugins_app.manager import BUILTIN_PLUGINS, PluginManager
from tests.conftest import grant
from tests.factories import UserFactory
from views_app.base import BaseView
from views_app.builtin.grid_js import KEY_FIELD

from .conftest import page_db, record_javascript, settle, sign_in, the_grid

pytestmark = pytest.mark.integration


async def table_id(source, name: str) -> int:
    return (await sync_to_async(source.tables.get)(name=name)).pk


def icon_button(user: User, icon: str, visible_only: bool = True) -> UserInteraction:
    """The header's icon-only buttons (menu, tune), which have no text to find them by."""
    with user:
        buttons = {
            b
            for b in ElementFilter(kind=ui.button, only_visible=visible_only, local_scope=False)
            if b.props.get("icon") == icon
        }
    assert buttons, f"no button with icon {icon}"
    return UserInteraction(user, buttons, None)


def menu_item(user: User, text: str) -> UserInteraction:
    """A menu item by its text (which NiceGUI keeps in a child item section)."""
    items = {
        item
        for item in user.find(ui.menu_item).elements
        if any(getattr(child, "text", None) == text for child in item.descendants())
    }
    assert items, f"no menu item {text!r}"
    return UserInteraction(user, items, None)


# --- signing in ---------------------------------------------------------------------------------


@page_db
@pytest.mark.parametrize(
    ("path", "target"),
    [
        ("/", "/accounts/login/?next=/"),
        ("/tables/1", "/accounts/login/?next=/tables/1"),
        ("/tables/1?view=table", "/accounts/login/?next=/tables/1%3Fview%3Dtable"),
    ],
)
async def test_signed_out_pages_redirect_to_login(user: User, path, target):
    response = await user.http_client.get(path, follow_redirects=False)
    assert response.status_code == 302
    assert response.headers["location"] == target


@page_db
async def test_unknown_or_inactive_session_counts_as_signed_out(user: User, admin_user):
    user.http_client.cookies.set("sessionid", "no-such-session")
    response = await user.http_client.get("/", follow_redirects=False)
    assert response.status_code == 302

    await sign_in(user, admin_user)
    admin_user.is_active = False
    await sync_to_async(admin_user.save)()
    response = await user.http_client.get("/", follow_redirects=False)
    assert response.status_code == 302
    assert response.headers["location"] == "/accounts/login/?next=/"


# --- home and frame -----------------------------------------------------------------------------


@page_db
async def test_home_lists_datasource_and_tables(user: User, demo_source, admin_user):
    await sign_in(user, admin_user)
    await user.open("/")
    await user.should_see("Your data")
    await user.should_see(kind=ui.label, content="Demo")
    await user.should_see("3 tables")
    await user.should_see(kind=ui.badge, content="sqlite")
    for name in ("customers", "orders", "products"):
        await user.should_see(kind=ui.button, content=name)
    await user.should_not_see("There are no tables you can open yet")

    # A table's button opens it.
    user.find(kind=ui.button, content="orders").click()
    await user.should_see(ui.aggrid)
    assert user.back_history[-1] == f"/tables/{await table_id(demo_source, 'orders')}"


@page_db
async def test_frame_header_and_left_drawer(user: User, demo_source, admin_user, monkeypatch):
    await sign_in(user, admin_user)
    await user.open("/")
    with user.scope(ui.left_drawer):
        await user.should_see("Tables")
        await user.should_see(kind=ui.label, content="Demo")
        links = {link.text: link.props["href"] for link in user.find(ui.link).elements}
    ids = {name: await table_id(demo_source, name) for name in ("customers", "orders", "products")}
    assert links == {name: f"/tables/{pk}" for name, pk in ids.items()}
    with user.scope(ui.header):
        await user.should_see(kind=ui.button, content="admin")  # the user's menu
        await user.should_see("Admin")  # staff see the admin
        await user.should_see("Sign out")
    # The right drawer's button is hidden off table pages.
    assert not icon_button(user, "tune", visible_only=False).elements.pop().visible

    targets: list[str] = []
    monkeypatch.setattr(user.navigate, "to", lambda target, new_tab=False: targets.append(target))
    menu_item(user, "Admin").click()
    assert targets == ["/admin/"]


@page_db
async def test_menu_for_non_staff_and_sign_out(user: User, demo_source, reader):
    await sign_in(user, reader)
    await user.open("/")
    with user.scope(ui.header):
        await user.should_see(kind=ui.button, content="reader")
        await user.should_not_see("Admin")
    sent = record_javascript(user)
    menu_item(user, "Sign out").click()
    await settle()
    # Django wants a POST with the CSRF token to sign out.
    (code,) = [c for c in sent if "logout" in c]
    assert "'/accounts/logout/'" in code
    assert "f.method = 'post'" in code
    assert "csrfmiddlewaretoken" in code


@page_db
async def test_left_drawer_toggles(user: User, demo_source, admin_user):
    await sign_in(user, admin_user)
    await user.open("/")
    drawer = user.find(ui.left_drawer).elements.pop()
    # Open on a wide screen, folded away on a narrow one: the browser decides, and the menu
    # button asks it to toggle whatever it shows.
    assert drawer.value is None
    sent = record_javascript(user)
    icon_button(user, "menu").click()
    await settle()
    assert any(f'runMethod({drawer.id}, "toggle"' in code for code in sent), sent


@page_db
async def test_home_without_tables(user: User, plain_user):
    await sign_in(user, plain_user)
    await user.open("/")
    await user.should_see("There are no tables you can open yet")
    await user.should_see("No tables you can open yet.")


# --- the table page -----------------------------------------------------------------------------


@page_db
async def test_table_page_renders_infinite_grid(user: User, demo_source, admin_user):
    orders = await table_id(demo_source, "orders")
    await sign_in(user, admin_user)
    await user.open(f"/tables/{orders}")
    await user.should_see("counting rows…")
    grid = the_grid(user)
    options = grid.options
    assert options["rowModelType"] == "infinite"
    assert options["cacheBlockSize"] == 100
    assert options[":getRowId"] == f"(p) => p.data[{KEY_FIELD!r}]"
    assert f'"/api/tables/{orders}/rows"' in options[":datasource"]
    assert "fetch(url" in options[":datasource"]
    defs = {d["field"]: d for d in options["columnDefs"]}
    assert list(defs) == [
        "id", "customer_id", "product_id", "quantity", "unit_price", "status",
        "ordered_at", "shipped_on", "gift", "comment",
    ]  # fmt: skip
    assert defs["id"]["headerName"] == "id · integer"
    assert defs["quantity"]["headerName"] == "quantity · integer"
    assert defs["unit_price"]["headerName"] == "unit_price · real"
    assert defs["ordered_at"]["headerName"] == "ordered_at · datetime"
    assert defs["shipped_on"]["headerName"] == "shipped_on · date"
    assert defs["gift"]["headerName"] == "gift · boolean"
    assert defs["comment"]["headerName"] == "comment · text"
    assert defs["id"]["editable"] is False
    assert defs["id"]["pinned"] == "left"
    assert all(d["editable"] for name, d in defs.items() if name != "id")
    assert options["rowSelection"]["mode"] == "multiRow"
    await user.should_see(kind=ui.button, content="Add row")
    await user.should_see(kind=ui.button, content="Delete selected")
    await user.should_see(kind=ui.button, content="Refresh")
    await user.should_not_see(content="Read-only")
    # The header's breadcrumbs name the datasource and the table; the right drawer's button shows.
    with user.scope(ui.header):
        await user.should_see(kind=ui.label, content="Demo")
        await user.should_see(kind=ui.link, content="orders")
    assert icon_button(user, "tune").elements
    # The current table is highlighted in the left drawer.
    with user.scope(ui.left_drawer):
        link = user.find(kind=ui.link, content="orders").elements.pop()
    assert "text-primary" in link.classes


@page_db
async def test_right_drawer_lists_columns_and_datasource(user: User, demo_source, admin_user):
    orders = await table_id(demo_source, "orders")
    await sign_in(user, admin_user)
    await user.open(f"/tables/{orders}")
    drawer = user.find(ui.right_drawer).elements.pop()
    assert drawer.value is False
    icon_button(user, "tune").click()
    assert drawer.value is True
    with user.scope(ui.right_drawer):
        await user.should_see(kind=ui.link, content="Table")
        assert "text-weight-bold" in user.find(kind=ui.link, content="Table").elements.pop().classes
        (columns,) = user.find(ui.column).elements
        rows = [
            [e.props.get("name") or e.text for e in row.default_slot.children]
            for row in columns.default_slot.children
        ]
        await user.should_see(kind=ui.label, content="type: sqlite")
        await user.should_see(kind=ui.icon, content="key")
        await user.should_not_see(kind=ui.label, content="Read-only")
        labels = [e.text for e in user.find(ui.label).elements]
    assert rows == [  # in table order, the primary key marked with a key icon
        ["key", "id", "INTEGER", "required"],
        ["customer_id", "INTEGER", "required"],
        ["product_id", "INTEGER", "required"],
        ["quantity", "INTEGER", "required"],
        ["unit_price", "REAL", "required"],
        ["status", "TEXT", "required"],
        ["ordered_at", "DATETIME", "required"],
        ["shipped_on", "DATE"],
        ["gift", "BOOLEAN", "required"],
        ["comment", "TEXT"],
    ]
    assert "Demo" in labels
    assert any(text.startswith("sqlite:///") for text in labels)


@page_db
async def test_reader_gets_a_read_only_grid(user: User, demo_source, reader):
    orders = await table_id(demo_source, "orders")
    await sign_in(user, reader)
    await user.open(f"/tables/{orders}")
    options = the_grid(user).options
    assert options["rowModelType"] == "infinite"
    assert not any(d["editable"] for d in options["columnDefs"])
    assert "rowSelection" not in options
    await user.should_see(kind=ui.button, content="Refresh")
    await user.should_not_see(kind=ui.button, content="Add row")
    await user.should_not_see(kind=ui.button, content="Delete selected")
    with user.scope(ui.header):
        await user.should_see(kind=ui.button, content="reader")
        await user.should_not_see("Admin")


@page_db
async def test_writer_without_delete_permission(user: User, demo_source):
    writer = await sync_to_async(UserFactory)(username="writer")
    await sync_to_async(grant)(writer, "read_rows", "write_rows")
    orders = await table_id(demo_source, "orders")
    await sign_in(user, writer)
    await user.open(f"/tables/{orders}")
    defs = {d["field"]: d for d in the_grid(user).options["columnDefs"]}
    assert defs["quantity"]["editable"] is True
    assert defs["id"]["editable"] is False
    await user.should_see(kind=ui.button, content="Add row")
    await user.should_not_see(kind=ui.button, content="Delete selected")


@page_db
@pytest.mark.parametrize("path", ["/tables/{orders}", "/tables/999999", "/tables/not-a-number"])
async def test_no_such_table(user: User, demo_source, plain_user, path):
    orders = await table_id(demo_source, "orders")
    await sign_in(user, plain_user)
    await user.open(path.format(orders=orders))
    await user.should_see("No such table")
    await user.should_see("It does not exist, or you may not open it.")
    await user.should_see(kind=ui.link, content="Back to your tables")
    await user.should_not_see(ui.aggrid)


@page_db
async def test_hidden_table_is_not_found_even_for_admin(user: User, demo_source, admin_user):
    table = await sync_to_async(demo_source.tables.get)(name="orders")
    table.visible = False
    await sync_to_async(table.save)()
    await sign_in(user, admin_user)
    await user.open(f"/tables/{table.pk}")
    await user.should_see("No such table")


@page_db
async def test_view_without_primary_key_is_read_only(user: User, view_source, admin_user):
    view = await table_id(view_source, "big_orders")
    await sign_in(user, admin_user)
    await user.open(f"/tables/{view}")
    await user.should_see(kind=ui.label, content="Read-only: This is a database view")
    notice = user.find(kind=ui.label, content="Read-only: This is a database view").elements
    assert any("read-only-notice" in label.classes for label in notice)
    options = the_grid(user).options
    assert not any(d["editable"] for d in options["columnDefs"])
    await user.should_not_see(kind=ui.button, content="Add row")
    await user.should_not_see(kind=ui.button, content="Delete selected")
    # The right drawer says so too, and the home page shows the table with a view icon.
    with user.scope(ui.right_drawer):
        await user.should_see(kind=ui.label, content="Read-only: This is a database view")
    await user.open("/")
    button = user.find(kind=ui.button, content="big_orders").elements.pop()
    assert button.props["icon"] == "visibility"


@page_db
async def test_a_read_only_datasource_gives_a_read_only_grid(user: User, demo_source, admin_user):
    demo_source.read_only = True
    await sync_to_async(demo_source.save)()
    orders = await table_id(demo_source, "orders")
    await sign_in(user, admin_user)
    await user.open(f"/tables/{orders}")
    await user.should_see(kind=ui.label, content="Read-only: The datasource Demo is read-only.")
    assert not any(d["editable"] for d in the_grid(user).options["columnDefs"])
    await user.should_not_see(kind=ui.button, content="Add row")


@page_db
async def test_missing_datasource_file_shows_a_card(user: User, missing_source, admin_user):
    orders = await table_id(missing_source, "orders")
    await sign_in(user, admin_user)
    await user.open(f"/tables/{orders}")
    await user.should_see("The datasource Gone cannot be used")
    await user.should_see(kind=ui.label, content="does not exist")
    card = user.find(kind=ui.card, content=None).elements
    assert any("datasource-problem" in c.classes for c in card)
    await user.should_not_see(ui.aggrid)
    await user.should_not_see("Traceback")
    # The right drawer still describes the table.
    with user.scope(ui.right_drawer):
        await user.should_see(kind=ui.label, content="Gone")


@page_db
async def test_disabled_datasource_is_not_listed(user: User, demo_source, admin_user):
    demo_source.enabled = False
    await sync_to_async(demo_source.save)()
    await sign_in(user, admin_user)
    await user.open("/")
    await user.should_see("There are no tables you can open yet")


# --- view selection and failing views -----------------------------------------------------------


class BrokenView(BaseView):
    def get_view_name(self) -> str:
        return "Broken"

    def can_handle_table(self, table_meta: dict) -> bool:
        return table_meta["name"] == "orders"

    def render(self) -> None:
        ui.label("about to fail")
        raise RuntimeError("kaboom")


class BrokenViewPlugin:
    @hookimpl
    def get_view_class(self):
        return BrokenView

    @hookimpl
    def get_view_priority(self):
        return 50


@pytest.fixture
def install_manager():
    """Make a given plugin manager the process's manager for one test."""
    previous = manager_module._current

    def install(*builtins: str, extra: tuple = ()) -> PluginManager:
        manager = PluginManager(builtins=builtins, entry_points=False)
        manager.load_plugins()
        for plugin in extra:
            manager.register_plugin(plugin)
        manager_module.set_manager(manager)
        return manager

    yield install
    manager_module._current = previous


@pytest.fixture
def broken_view_manager(install_manager):
    return install_manager(*BUILTIN_PLUGINS, extra=(BrokenViewPlugin(),))


@page_db
async def test_failing_view_shows_its_error(
    user: User, demo_source, admin_user, broken_view_manager, caplog
):
    orders = await table_id(demo_source, "orders")
    await sign_in(user, admin_user)
    await user.open(f"/tables/{orders}")
    await user.should_see("The plugin 'broken_view' failed: kaboom")
    assert broken_view_manager.plugins["broken_view"].health == "failing"
    with user.scope(ui.right_drawer):
        # Best view first, and the chosen one is bold.
        links = user.find(ui.link).elements
        assert {link.text for link in links} == {
            "Broken",
            "Table",
            "Form",
            "Chart",
            "History",
            "Import CSV",
        }
        bold = [link.text for link in links if "text-weight-bold" in link.classes]
        assert bold == ["Broken"]
    assert any("kaboom" in r.getMessage() or r.exc_info for r in caplog.records)
    caplog.clear()  # the plugin's failure is logged on purpose


@page_db
async def test_view_chosen_by_query_parameter(
    user: User, demo_source, admin_user, broken_view_manager
):
    orders = await table_id(demo_source, "orders")
    await sign_in(user, admin_user)
    await user.open(f"/tables/{orders}?view=table_view")
    await user.should_see(ui.aggrid)
    await user.should_not_see("kaboom")
    with user.scope(ui.right_drawer):
        links = user.find(ui.link).elements
        bold = [link.text for link in links if "text-weight-bold" in link.classes]
    assert bold == ["Table"]


@page_db
async def test_no_view_can_show_the_table(user: User, demo_source, admin_user, install_manager):
    install_manager("datasources_app.builtin.sqlite")  # no view plugin at all
    orders = await table_id(demo_source, "orders")
    await sign_in(user, admin_user)
    await user.open(f"/tables/{orders}")
    await user.should_see("No enabled view can show this table.")
    await user.should_not_see(ui.aggrid)


@page_db
async def test_dark_mode_is_remembered_per_user(user: User, demo_source, admin_user):
    from views_app import preferences
    from views_app.models import UserPreference

    await sign_in(user, admin_user)
    await user.open("/")
    (dark,) = user.find(ui.dark_mode).elements
    assert dark.value is False
    user.find(kind=ui.switch, content="Dark mode").click()
    await settle(0.2)
    assert dark.value is True
    assert await sync_to_async(preferences.dark_mode)(admin_user) is True
    await user.open("/")  # another page, or another browser: the same look
    (dark,) = user.find(ui.dark_mode).elements
    assert dark.value is True
    await sync_to_async(UserPreference.objects.filter(user=admin_user).update)(dark_mode=False)
    await user.open("/")
    (dark,) = user.find(ui.dark_mode).elements
    assert dark.value is False


def test_pages_may_take_longer_to_build_than_nicegui_allows_by_default(monkeypatch):
    """On a busy server a table page can take more than NiceGUI's 3 s to build: it waits for
    the page instead of answering with an error."""
    from views_app import pages

    registered: dict[str, float] = {}

    def page(path: str, **options):
        registered[path] = options.get("response_timeout", 3.0)
        return lambda build: build

    monkeypatch.setattr(pages.ui, "page", page)
    pages.register_pages()
    assert set(registered) == {
        "/", "/tables/{table_id}", "/tables/{table_id}/history", "/tables/{table_id}/import",
        "/account/tokens",
    }  # fmt: skip
    assert all(seconds >= 30 for seconds in registered.values())
