"""The import page in the simulated browser: upload, preview, mapping, check, import."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
from asgiref.sync import sync_to_async
from nicegui import ui
from nicegui.testing import User

from core.models import Change
from tests.conftest import grant
from tests.factories import UserFactory

from .conftest import page_db, sign_in

pytestmark = pytest.mark.integration


@sync_to_async
def gadgets_of(source):
    return source.tables.get(name="gadgets")


@sync_to_async
def make_user(name: str, *permissions: str):
    account = UserFactory(username=name)
    grant(account, *permissions)
    return account


@sync_to_async
def states() -> list[str]:
    return list(Change.objects.order_by("pk").values_list("state", flat=True))


def names(source) -> list[str]:
    with sqlite3.connect(source.path) as conn:
        return [r[0] for r in conn.execute("SELECT name FROM gadgets ORDER BY id")]


async def upload(user: User, data: bytes, name: str = "gadgets.csv") -> None:
    (element,) = user.find(ui.upload).elements
    await element.handle_uploads([ui.upload.SmallFileUpload(name, "text/csv", data)])


async def until(condition, seconds: float = 5.0) -> None:
    """Wait for work the page runs in a thread (checks, imports) to show."""
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the page never got there")


def texts(user: User, kind: type = ui.label) -> list[str]:
    return [e.text for e in user.find(kind).elements]


def shows(user: User, text: str) -> bool:
    return any(text in t for t in texts(user))


@page_db
async def test_upload_check_and_import(user: User, gadgets_source, admin_user):
    table = await gadgets_of(gadgets_source)
    await sign_in(user, admin_user)
    await user.open(f"/tables/{table.pk}/import")
    await user.should_see("Import rows into gadgets")
    await upload(user, b"Name;Price;Colour\nfan;12,5;red\nbulb;3;white\n")
    await until(lambda: shows(user, "gadgets.csv: 3 columns, separated by semicolons"))
    (preview,) = [t for t in user.find(ui.table).elements if "import-preview" in t.classes]
    assert [r["c0"] for r in preview.rows] == ["fan", "bulb"]
    mapping = {s.props["label"]: s.value for s in user.find(ui.select).elements}
    assert mapping == {"Name": "name", "Price": "price", "Colour": ""}

    user.find(kind=ui.button, content="Check").click()
    await until(lambda: shows(user, "2 rows: 1 fit, 1 do not"))
    (errors,) = [t for t in user.find(ui.table).elements if "import-errors" in t.classes]
    assert [(e["line"], e["column"]) for e in errors.rows] == [(2, "price")]
    assert names(gadgets_source) == ["lamp"]

    (price,) = [s for s in user.find(ui.select).elements if s.props["label"] == "Price"]
    price.value = ""  # leave the decimal-comma prices out
    user.find(kind=ui.button, content="Check").click()
    await until(lambda: shows(user, "2 rows: 2 fit, 0 do not"))
    user.find(kind=ui.button, content="Import").click()
    await until(lambda: shows(user, "Imported 2 rows"))
    assert names(gadgets_source) == ["lamp", "fan", "bulb"]
    assert await states() == ["done", "done"]
    (bar,) = user.find(ui.linear_progress).elements
    assert bar.value == 1
    await user.should_see(kind=ui.link, content="Back to gadgets")


@page_db
async def test_an_invalid_import_writes_nothing_and_shows_why(user, gadgets_source, admin_user):
    table = await gadgets_of(gadgets_source)
    await sign_in(user, admin_user)
    await user.open(f"/tables/{table.pk}/import")
    await upload(user, b"name,active\nfan,yes\nfar too long a name,maybe\n")
    await until(lambda: shows(user, "2 columns, separated by commas"))
    user.find(kind=ui.button, content="Import").click()
    await until(lambda: shows(user, "2 rows: 1 fit, 1 do not"))
    (errors,) = [t for t in user.find(ui.table).elements if "import-errors" in t.classes]
    assert [(e["line"], e["column"]) for e in errors.rows] == [(3, "name"), (3, "active")]
    assert names(gadgets_source) == ["lamp"]
    assert await states() == []


@page_db
async def test_bad_files_are_explained_and_latin1_is_a_choice(user, gadgets_source, admin_user):
    table = await gadgets_of(gadgets_source)
    await sign_in(user, admin_user)
    await user.open(f"/tables/{table.pk}/import")
    await upload(user, "name\nZoë\n".encode("latin-1"))
    await until(lambda: shows(user, "The file is not UTF-8 text (line 2"))
    (latin1,) = user.find(ui.checkbox).elements
    latin1.value = True
    await until(lambda: shows(user, "1 columns, separated by commas"))
    await upload(user, b"")
    await until(lambda: shows(user, "The file is empty"))


@page_db
async def test_who_may_import(user: User, gadgets_source):
    table = await gadgets_of(gadgets_source)
    await sign_in(user, await make_user("reader", "read_rows"))
    await user.open(f"/tables/{table.pk}/import")
    await user.should_see("You may not add rows to gadgets.")
    await user.should_not_see(kind=ui.upload)
    await sign_in(user, await make_user("nobody"))
    await user.open(f"/tables/{table.pk}/import")
    await user.should_see("No such table")


@page_db
async def test_the_table_menu_links_to_the_import(user: User, gadgets_source, admin_user):
    table = await gadgets_of(gadgets_source)
    await sign_in(user, admin_user)
    await user.open(f"/tables/{table.pk}")
    await user.should_see(kind=ui.link, content="Import CSV")
