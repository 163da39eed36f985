"""The view contract every view plugin implements (table, chart, form, ...)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any


class BaseView(ABC):
    """One way of showing a table.

    `context` is the page's ViewContext (the open table, the user, helpers for running work in a
    thread); plugins written to the architecture document's two-argument constructor still work.
    """

    plugin_name = ""
    priority = 0

    def __init__(self, table_id: int | None, datasource: Any, context: Any = None) -> None:
        self.table_id = table_id
        self.datasource = datasource
        self.context = context

    @abstractmethod
    def render(self) -> None:
        """Build the view's elements inside the current NiceGUI container."""

    @abstractmethod
    def get_view_name(self) -> str:
        """A human-readable name for the view switcher."""

    @abstractmethod
    def can_handle_table(self, table_meta: dict) -> bool:
        """True when this view can show the table described by `table_meta`."""

    def get_priority(self) -> int:
        return self.priority

    def priority_for(self, table_meta: dict) -> int:
        """The view's priority for one table (default: the plugin's priority). A view that
        suits some tables better than others (a form for wide tables) says so here."""
        return self.get_priority()


def table_meta_dict(table: Any, columns: list[Any]) -> dict:
    """The `table_meta` views are asked about: the table and its columns as plain data."""
    return {
        "id": table.pk,
        "name": table.name,
        "label": table.label,
        "read_only": table.read_only,
        "columns": [
            {"name": c.name, "type": c.kind, "nullable": c.nullable, "primary_key": c.primary_key}
            for c in columns
        ],
    }
