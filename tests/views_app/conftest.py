"""Helpers for NiceGUI page tests: signing a simulated user in, finding the grid, spying on JS."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.test import Client
from nicegui import ElementFilter, ui
from nicegui.testing import User
from nicegui.testing.user_interaction import UserInteraction

from datasources_app.discovery import discover_tables
from tests.factories import DatasourceFactory
from views_app.builtin.table import TableGrid

# Page tests touch the ORM from NiceGUI's event loop and from worker threads; only a
# transactional test database lets both see the same rows without "database table is locked".
page_db = pytest.mark.django_db(transaction=True)


def _session_key(account: Any) -> str:
    client = Client()
    client.force_login(account)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


async def sign_in(user: User, account: Any) -> str:
    """Give the simulated browser the Django session cookie of `account`; answers the key."""
    key = await sync_to_async(_session_key)(account)
    user.http_client.cookies.set(settings.SESSION_COOKIE_NAME, key)
    return key


def the_grid(user: User) -> ui.aggrid:
    (grid,) = user.find(ui.aggrid).elements
    return grid


def grid_state(user: User) -> TableGrid:
    """The server-side TableGrid behind the page's aggrid (owner of its event handlers)."""
    grid = the_grid(user)
    (listener,) = [
        listener
        for listener in grid._event_listeners.values()
        if listener.type == "cellValueChanged"
    ]
    return listener.handler.__self__


def record_javascript(user: User) -> list[str]:
    """Every piece of JavaScript the page sends to the browser from now on."""
    sent: list[str] = []
    outbox = user.client.outbox
    original = outbox.enqueue_message

    def enqueue(message_type, data, target_id):
        if message_type == "run_javascript":
            sent.append(data["code"])
        original(message_type, data, target_id)

    outbox.enqueue_message = enqueue
    return sent


def open_dialog(user: User) -> ui.dialog:
    """The one open dialog (closed dialogs stay in the page, hidden)."""
    with user:
        dialogs = [d for d in ElementFilter(kind=ui.dialog, local_scope=False) if d.value]
    assert len(dialogs) == 1, f"expected one open dialog, found {len(dialogs)}"
    return dialogs[0]


def dialog_texts(user: User) -> list[str]:
    """The labels of all open dialogs."""
    with user:
        dialogs = [d for d in ElementFilter(kind=ui.dialog, local_scope=False) if d.value]
    return [e.text for d in dialogs for e in d.descendants() if isinstance(e, ui.label)]


def in_dialog(user: User, kind: type, content: str | None = None) -> UserInteraction:
    """Elements of the open dialog, e.g. its buttons or inputs (found by text or label)."""
    dialog = open_dialog(user)
    with user:
        found = set(
            ElementFilter(kind=kind, content=content, local_scope=False).within(instance=dialog)
        )
    assert found, f"no {kind.__name__} {content!r} in the open dialog"
    return UserInteraction(user, found, None)


async def settle(seconds: float = 0.05) -> None:
    """Let background tasks (fire-and-forget JavaScript, event handlers) run."""
    await asyncio.sleep(seconds)


async def until(check: Any, timeout: float = 5.0) -> None:
    """Let the page work until `check()` holds (or `timeout` passes: the caller's assert says
    what was wrong). A busy machine answers late, never differently."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not check() and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.02)


def read_cell(path, sql: str, *params) -> Any:
    with sqlite3.connect(path) as conn:
        row = conn.execute(sql, params).fetchone()
    return row if row is None or len(row) != 1 else row[0]


@pytest.fixture
def view_source(db, demo_db):
    """The demo database with a view (no primary key) added before discovery."""
    with sqlite3.connect(demo_db) as conn:
        conn.execute(
            "CREATE VIEW big_orders AS SELECT id, quantity, status FROM orders WHERE quantity > 5"
        )
    config = DatasourceFactory(name="Demo", connection_string=f"sqlite:///{demo_db}")
    discover_tables(config)
    return config


@pytest.fixture
def missing_source(db, demo_db):
    """A datasource whose SQLite file disappeared after its tables were discovered."""
    config = DatasourceFactory(name="Gone", connection_string=f"sqlite:///{demo_db}")
    discover_tables(config)
    demo_db.unlink()
    return config


GADGETS = """
CREATE TABLE gadgets (
    id INTEGER PRIMARY KEY,
    name VARCHAR(8) NOT NULL,
    price NUMERIC(10, 2),
    spec JSON,
    photo BLOB,
    made TIME,
    active BOOLEAN
);
INSERT INTO gadgets VALUES (1, 'lamp', 9.5, '{"watts": 40}', x'00ff', '08:30:00', 1);
"""


@pytest.fixture
def gadgets_source(db, tmp_path):
    """A small database with the column kinds the demo lacks (decimal, json, binary, time)."""
    path = tmp_path / "gadgets.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.executescript(GADGETS)
    config = DatasourceFactory(name="Gadgets", connection_string=f"sqlite:///{path}")
    discover_tables(config)
    config.path = path
    return config
