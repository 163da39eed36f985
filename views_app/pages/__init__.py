"""NiceGUI pages. Registered by `register_pages()`, never at import time: NiceGUI's test harness
clears routes and re-runs its main file before each test."""

from __future__ import annotations

from nicegui import ui

from .history import history_page
from .home import home_page
from .import_page import import_page
from .table import table_page
from .tokens import tokens_page

# How long a page may take to build before NiceGUI gives up with an error page (its default is
# 3 s). A table page reads its metadata and the user's settings first; on a busy server that can
# take longer, and a late page is better than an error.
BUILD_SECONDS = 30.0


def register_pages() -> None:
    for path, build in (
        ("/", home_page),
        ("/tables/{table_id}", table_page),
        ("/tables/{table_id}/history", history_page),
        ("/tables/{table_id}/import", import_page),
        ("/account/tokens", tokens_page),
    ):
        ui.page(path, response_timeout=BUILD_SECONDS)(build)
