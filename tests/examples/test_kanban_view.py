"""The kanban view example (examples/kanban_view): loading, configuration, the board on a page,
and moving cards through the governed row operations."""

from __future__ import annotations

import importlib.metadata
import sqlite3
import tomllib

import jsonschema
import pytest
from asgiref.sync import sync_to_async
from nicegui import ui
from nicegui.testing import User
from nicegui.testing.user_interaction import UserInteraction

# Importable without installing: conftest.py put the example's folder on sys.path.
from nocoflo_kanban.board import BoardElement, KanbanCard, KanbanLane, KanbanView, ordered_lanes
from nocoflo_kanban.plugin import CONFIG_SCHEMA, KanbanViewPlugin

from core import events, locks
from core.models import Change, TableGrant
from datasources_app import rows
from datasources_app.discovery import discover_tables
from datasources_app.values import encode_key
from plugins_app.manager import PluginManager
from tests.factories import DatasourceFactory, UserFactory

from .conftest import KANBAN_DIR, eventually, page_db, query, settle, sign_in

TASKS = """
CREATE TABLE tasks (id INTEGER PRIMARY KEY, title TEXT NOT NULL, status TEXT, points INTEGER);
CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);
"""
# status per task id: 5 to do, 3 doing, 2 done, 1 without a status.
STATUSES = ["todo"] * 5 + ["doing"] * 3 + ["done"] * 2 + [None]


def build_tasks(path) -> None:
    with sqlite3.connect(path) as conn:
        conn.executescript(TASKS)
        conn.executemany(
            "INSERT INTO tasks VALUES (?, ?, ?, ?)",
            [(i, f"Task {i}", status, i % 3) for i, status in enumerate(STATUSES, start=1)],
        )
        conn.execute("INSERT INTO notes VALUES (1, 'no status here')")


@pytest.fixture
def tasks_db(tmp_path):
    path = tmp_path / "tasks.sqlite3"
    build_tasks(path)
    return path


@pytest.fixture
def tasks_source(db, tasks_db):
    config = DatasourceFactory(name="Tasks", connection_string=f"sqlite:///{tasks_db}")
    discover_tables(config)
    return config


@pytest.fixture
def kanban(install_manager):
    """The kanban plugin (default configuration) registered next to the core built-ins."""
    plugin = KanbanViewPlugin()
    install_manager(plugin)
    return plugin


def meta(*columns: tuple[str, str]) -> dict:
    return {
        "id": 1,
        "name": "t",
        "label": "t",
        "read_only": False,
        "columns": [
            {"name": n, "type": k, "nullable": True, "primary_key": n == "id"} for n, k in columns
        ],
    }


def status_of(path, task_id: int):
    ((status,),) = query(path, "SELECT status FROM tasks WHERE id = ?", task_id)
    return status


# --- the plugin ---------------------------------------------------------------------------------


@pytest.mark.unit
def test_the_plugin_registers_cleanly():
    manager = PluginManager(builtins=(), entry_points=False)
    plugin = KanbanViewPlugin()
    info = manager.register_plugin(plugin)
    assert info is not None
    assert (info.name, info.health, info.enabled, info.error) == ("kanban_view", "ok", True, "")
    assert info.kinds == ["view"]
    assert info.version == "0.1.0"
    assert plugin.plugin_api_version == "1.0"
    ((name, cls, priority),) = manager.view_classes()
    assert (name, priority) == ("kanban_view", 0)
    assert issubclass(cls, KanbanView)
    assert manager.pm.hook.get_config_schema() == [CONFIG_SCHEMA]


@pytest.mark.django_db
def test_the_entry_point_in_pyproject_loads_the_plugin(monkeypatch):
    """The distribution's entry point, as pip would install it, loads through the manager."""
    project = tomllib.loads((KANBAN_DIR / "pyproject.toml").read_text())
    ((name, value),) = project["project"]["entry-points"]["nocoflo"].items()
    assert (name, value) == ("kanban_view", "nocoflo_kanban.plugin")
    entry = importlib.metadata.EntryPoint(name=name, value=value, group="nocoflo")
    monkeypatch.setattr(
        importlib.metadata, "entry_points", lambda group=None: [entry] if group == "nocoflo" else []
    )
    manager = PluginManager(builtins=(), enabled_plugins=["kanban_view"])
    manager.load_plugins()
    info = manager.plugins["kanban_view"]
    assert (info.health, info.enabled, info.error) == ("ok", True, "")
    assert "entry point nocoflo_kanban.plugin" in info.source
    # Third-party plugins start disabled unless named.
    disabled = PluginManager(builtins=())
    disabled.load_plugins()
    assert disabled.plugins["kanban_view"].enabled is False
    assert disabled.view_classes() == []


@pytest.mark.unit
def test_offered_for_tables_with_a_status_like_text_column():
    view = KanbanViewPlugin().get_view_class()(1, None)
    assert view.can_handle_table(meta(("id", "integer"), ("title", "text"), ("status", "text")))
    assert view.can_handle_table(meta(("id", "integer"), ("State", "text")))
    assert view.can_handle_table(meta(("stage", "enum")))
    assert not view.can_handle_table(meta(("id", "integer"), ("status", "integer")))
    assert not view.can_handle_table(meta(("id", "integer"), ("title", "text")))
    assert not view.can_handle_table({"id": 1, "columns": []})


@pytest.mark.unit
def test_the_configured_status_columns_decide():
    plugin = KanbanViewPlugin()
    plugin.configure({"status_columns": ["phase"]})
    view = plugin.get_view_class()(1, None)
    assert view.can_handle_table(meta(("id", "integer"), ("Phase", "text")))
    assert not view.can_handle_table(meta(("id", "integer"), ("status", "text")))
    # Another instance keeps its own configuration.
    assert KanbanViewPlugin().get_view_class()(1, None).can_handle_table(meta(("status", "text")))


@pytest.mark.unit
def test_never_chosen_over_the_table_view():
    manager = PluginManager(builtins=("views_app.builtin.table",), entry_points=False)
    manager.load_plugins()
    manager.register_plugin(KanbanViewPlugin())
    views = manager.get_available_views(meta(("id", "integer"), ("status", "text")))
    assert [v.plugin_name for v in views] == ["table_view", "kanban_view"]
    assert [v.plugin_name for v in manager.get_available_views(meta(("id", "integer")))] == [
        "table_view"
    ]


@pytest.mark.unit
@pytest.mark.parametrize(
    "config",
    [
        {},
        {"status_columns": ["phase", "status"]},
        {"status_columns": []},
        {"max_cards_per_lane": 1},
        {"max_cards_per_lane": 500, "status_columns": ["x"]},
    ],
)
def test_valid_configurations(config):
    plugin = KanbanViewPlugin()
    schema = plugin.get_config_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(config, schema)
    plugin.configure(config)
    assert plugin.settings.max_cards_per_lane == config.get("max_cards_per_lane", 25)
    assert plugin.settings.status_columns == config.get(
        "status_columns", ["status", "state", "stage"]
    )


@pytest.mark.unit
@pytest.mark.parametrize(
    "config",
    [
        {"max_cards_per_lane": 0},
        {"max_cards_per_lane": 501},
        {"max_cards_per_lane": 2.5},
        {"max_cards_per_lane": "10"},
        {"status_columns": "status"},
        {"status_columns": ["status", 3]},
        {"colour": "red"},
        [],
    ],
)
def test_invalid_configurations_are_rejected(config):
    plugin = KanbanViewPlugin()
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(config, plugin.get_config_schema())
    plugin.configure({"max_cards_per_lane": 7})
    with pytest.raises(ValueError, match="Invalid kanban_view configuration"):
        plugin.configure(config)
    assert plugin.settings.max_cards_per_lane == 7  # the configuration in force stays


@pytest.mark.unit
def test_lanes_keep_a_stable_order():
    assert ordered_lanes(["todo", None, "Doing", "done"], []) == ["Doing", "done", "todo", None]
    assert ordered_lanes(["done", "new"], ["new", "open", "done"]) == ["new", "done"]


# --- the board on a page ----------------------------------------------------------------------


async def open_board(user: User, account, source, name: str = "tasks", board: bool = True):
    """Open the table in the kanban view; with `board`, wait until the board has been drawn."""
    table = await sync_to_async(source.tables.get)(name=name)
    await sign_in(user, account)
    await user.open(f"/tables/{table.pk}?view=kanban_view")
    if board:
        await eventually(lambda: _drawn(user))
    else:
        await settle(0.5)
    return table


def _drawn(user: User, times: int = 1) -> None:
    assert the_board(user).loads >= times


def lanes(user: User) -> list[KanbanLane]:
    """The lanes in the order they are shown."""
    with user:
        (board,) = user.find(kind=BoardElement).elements
    found = [e for e in board.descendants() if isinstance(e, KanbanLane)]
    return found


def lane(user: User, value) -> KanbanLane:
    (found,) = [e for e in lanes(user) if e.value == value]
    return found


def cards_in(element: KanbanLane) -> list[KanbanCard]:
    return [e for e in element.descendants() if isinstance(e, KanbanCard)]


def the_board(user: User):
    (element,) = user.find(kind=BoardElement).elements
    return element.board


def card(user: User, task_id: int) -> KanbanCard:
    key = encode_key([task_id])
    (found,) = [c for e in lanes(user) for c in cards_in(e) if c.key == key]
    return found


async def drag(user: User, task_id: int, target) -> None:
    """Drag the task's card and drop it on the lane of `target`; a move to another lane ends
    with the board read again, which is waited for."""
    board = the_board(user)
    before = board.loads
    moving = card(user, task_id).lane != target
    UserInteraction(user, {card(user, task_id)}, None).trigger("dragstart")
    UserInteraction(user, {lane(user, target)}, None).trigger("drop")
    if moving:
        await eventually(lambda: _drawn(user, before + 1))
    else:
        await settle(0.3)


def listener_types(element) -> set[str]:
    return {listener.type for listener in element._event_listeners.values()}


@page_db
async def test_the_board_shows_lanes_with_counts_and_cards(
    user: User, kanban, tasks_source, admin_user
):
    await open_board(user, admin_user, tasks_source)
    assert [(e.value, e.count) for e in lanes(user)] == [
        ("doing", 3),
        ("done", 2),
        ("todo", 5),
        (None, 1),
    ]
    todo = cards_in(lane(user, "todo"))
    assert [c.title for c in todo] == [f"Task {i}" for i in range(1, 6)]
    assert [c.key for c in todo] == [encode_key([i]) for i in range(1, 6)]
    assert [c.title for c in cards_in(lane(user, None))] == ["Task 11"]
    await user.should_see("11 rows in 4 lanes")
    await user.should_see("(empty)")
    await user.should_see("key 3")
    # Writers may drag: cards are draggable, lanes take drops.
    assert todo[0].props.get("draggable") is True
    assert "dragstart" in listener_types(todo[0])
    assert {"drop", "dragover.prevent"} <= listener_types(lane(user, "done"))


@page_db
async def test_a_table_without_a_status_column_is_not_offered_the_board(
    user: User, kanban, tasks_source, admin_user
):
    await open_board(user, admin_user, tasks_source, name="notes", board=False)
    await user.should_not_see(kind=BoardElement)
    await user.should_see("The view 'kanban_view' cannot show this table")


@page_db
async def test_max_cards_per_lane_is_honoured(user: User, kanban, tasks_source, admin_user):
    kanban.configure({"max_cards_per_lane": 2})
    await open_board(user, admin_user, tasks_source)
    todo = lane(user, "todo")
    assert todo.count == 5
    assert [c.title for c in cards_in(todo)] == ["Task 1", "Task 2"]
    assert [len(cards_in(e)) for e in lanes(user)] == [2, 2, 2, 1]
    await user.should_see("3 more")  # to do: 5 rows, 2 cards
    await user.should_see("1 more")  # doing: 3 rows, 2 cards
    assert the_board(user).limit == 2


@page_db
async def test_dropping_a_card_changes_the_row_and_is_audited(
    user: User, kanban, tasks_source, tasks_db, admin_user
):
    table = await open_board(user, admin_user, tasks_source)
    await drag(user, 1, "done")
    assert status_of(tasks_db, 1) == "done"
    changes = await sync_to_async(list)(
        Change.objects.filter(table=table).values_list(
            "action", "row_key", "column", "old_value", "new_value", "state", "username"
        )
    )
    assert changes == [("update", encode_key([1]), "status", "todo", "done", "done", "admin")]
    await user.should_see("Moved to done")
    # The board was read again: the card is in its new lane and the counts follow.
    assert [(e.value, e.count) for e in lanes(user)] == [
        ("doing", 3),
        ("done", 3),
        ("todo", 4),
        (None, 1),
    ]
    assert card(user, 1).lane == "done"


@page_db
async def test_dropping_on_the_empty_lane_and_back(
    user: User, kanban, tasks_source, tasks_db, admin_user
):
    await open_board(user, admin_user, tasks_source)
    await drag(user, 11, "todo")
    assert status_of(tasks_db, 11) == "todo"
    # The emptied lane stays on the page, so the card can go back.
    assert lane(user, None).count == 0
    await drag(user, 11, None)
    assert status_of(tasks_db, 11) is None


@page_db
async def test_dropping_a_card_on_its_own_lane_writes_nothing(
    user: User, kanban, tasks_source, admin_user
):
    table = await open_board(user, admin_user, tasks_source)
    await drag(user, 2, "todo")
    assert not await sync_to_async(Change.objects.filter(table=table).exists)()


@page_db
async def test_a_reader_cannot_move_cards(user: User, kanban, tasks_source, tasks_db):
    reader = await sync_to_async(UserFactory)(username="rita")
    table = await sync_to_async(tasks_source.tables.get)(name="tasks")
    await sync_to_async(TableGrant.objects.create)(table=table, user=reader, can_read=True)
    await open_board(user, reader, tasks_source)
    todo = lane(user, "todo")
    assert todo.count == 5
    first = cards_in(todo)[0]
    assert "draggable" not in first.props
    assert "dragstart" not in listener_types(first)
    assert "drop" not in listener_types(lane(user, "done"))
    await user.should_see("You may read this table but not change it")
    # A forged move (as a tampered browser could send) is refused on the server.
    await the_board(user).move(encode_key([1]), "todo", "done")
    await user.should_see("You may not edit rows in tasks")
    assert status_of(tasks_db, 1) == "todo"
    assert not await sync_to_async(Change.objects.exists)()


@page_db
async def test_a_stale_drop_writes_nothing_and_tells_the_user(
    user: User, kanban, tasks_source, tasks_db, admin_user
):
    table = await open_board(user, admin_user, tasks_source)
    before = the_board(user).loads
    UserInteraction(user, {card(user, 1)}, None).trigger("dragstart")
    # Meanwhile someone else moves the task (straight in the database).
    with sqlite3.connect(tasks_db) as conn:
        conn.execute("UPDATE tasks SET status = 'doing' WHERE id = 1")
    UserInteraction(user, {lane(user, "done")}, None).trigger("drop")
    await eventually(lambda: _drawn(user, before + 1))
    assert status_of(tasks_db, 1) == "doing"
    await user.should_see("Someone else changed this row meanwhile")
    await user.should_see("its status is now doing")
    states = await sync_to_async(list)(
        Change.objects.filter(table=table).values_list("state", flat=True)
    )
    assert Change.State.DONE not in states
    # The board shows the row where it is now.
    assert card(user, 1).lane == "doing"
    assert lane(user, "doing").count == 4


@page_db
async def test_a_row_someone_is_editing_cannot_be_moved(
    user: User, kanban, tasks_source, tasks_db, admin_user
):
    table = await open_board(user, admin_user, tasks_source)
    editor = await sync_to_async(UserFactory)(username="eddie")
    await sync_to_async(locks.acquire)(table, encode_key([1]), editor, "eddies-page")
    await drag(user, 1, "done")
    assert status_of(tasks_db, 1) == "todo"
    await user.should_see("eddie is editing this row, so the card was not moved")
    assert card(user, 1).lane == "todo"


@page_db
async def test_others_changes_reload_the_board(
    user: User, kanban, tasks_source, tasks_db, admin_user
):
    table = await open_board(user, admin_user, tasks_source)
    other = await sync_to_async(UserFactory)(username="olga")
    await sync_to_async(TableGrant.objects.create)(table=table, user=other, can_write=True)

    def move_as_olga() -> None:
        rows.update_row(rows.open_table(other, table.pk), encode_key([9]), {"status": "todo"})

    await sync_to_async(move_as_olga)()

    def reloaded() -> None:
        assert lane(user, "todo").count == 6
        assert card(user, 9).lane == "todo"

    await eventually(reloaded)


@page_db
async def test_the_board_is_offered_in_the_view_switcher(
    user: User, kanban, tasks_source, admin_user
):
    table = await sync_to_async(tasks_source.tables.get)(name="tasks")
    await sign_in(user, admin_user)
    await user.open(f"/tables/{table.pk}")
    await settle(0.3)
    # The table view stays the default; the kanban view is one of the choices.
    await user.should_not_see(kind=BoardElement)
    (switcher,) = user.find(kind=ui.toggle).elements
    assert switcher.options["kanban_view"] == "Kanban"
    assert switcher.value == "table_view"


@page_db
async def test_a_board_taken_off_the_page_stops_listening(
    user: User, kanban, tasks_source, admin_user, bus
):
    """The page replaces a view whose plugin was turned off: its board must let go."""
    table = await open_board(user, admin_user, tasks_source)
    channel = events.table_channel(table.pk)
    assert bus.subscriber_count(channel) == 1
    board = the_board(user)
    with user:
        board.area.parent_slot.parent.delete()
    other = await sync_to_async(UserFactory)(username="olga")
    await sync_to_async(TableGrant.objects.create)(table=table, user=other, can_write=True)

    def move_as_olga() -> None:
        rows.update_row(rows.open_table(other, table.pk), encode_key([9]), {"status": "todo"})

    await sync_to_async(move_as_olga)()
    assert board.gone
    await eventually(lambda: _unsubscribed(bus, channel))


def _unsubscribed(bus, channel: str) -> None:
    assert bus.subscriber_count(channel) == 0
