"""NiceGUI pages. Registered by `register_pages()`, never at import time: NiceGUI's test harness
clears routes and re-runs its main file before each test."""

from __future__ import annotations

from nicegui import ui

from .history import history_page
from .home import home_page
from .import_page import import_page
from .table import table_page
from .tokens import tokens_page


def register_pages() -> None:
    ui.page("/")(home_page)
    ui.page("/tables/{table_id}")(table_page)
    ui.page("/tables/{table_id}/history")(history_page)
    ui.page("/tables/{table_id}/import")(import_page)
    ui.page("/account/tokens")(tokens_page)
