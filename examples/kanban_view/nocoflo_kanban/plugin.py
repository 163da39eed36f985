"""The kanban view plugin: the hooks Nocoflo calls (entry point `kanban_view` of group `nocoflo`).

Configuration (validated against CONFIG_SCHEMA):

- `status_columns`: the names a status column may have (any case; the table's first text column
  with one of them is used); default `["status", "state", "stage"]`. A table without one is not
  offered the kanban view.
- `max_cards_per_lane`: how many cards a lane shows (1 to 500, default 25); the rest are counted.
"""

from __future__ import annotations

import copy

import jsonschema

from nocoflo_project.plugins import hookimpl

from . import __version__
from .board import DEFAULT_MAX_CARDS, DEFAULT_STATUS_COLUMNS, KanbanSettings, KanbanView

CONFIG_SCHEMA = {
    "type": "object",
    "properties": {
        "status_columns": {"type": "array", "items": {"type": "string"}},
        "max_cards_per_lane": {"type": "integer", "minimum": 1, "maximum": 500},
    },
    "additionalProperties": False,
}


class KanbanViewPlugin:
    """Offers the kanban view next to the table (never chosen over it)."""

    name = "kanban_view"
    version = __version__
    plugin_api_version = "1.0"

    def __init__(self) -> None:
        self.settings = KanbanSettings()
        # This plugin's own view class, following this plugin's configuration: the manager
        # instantiates view classes without a way back to the plugin.
        self.view_class = type("KanbanView", (KanbanView,), {"settings": self.settings})

    @hookimpl
    def get_view_class(self):
        return self.view_class

    @hookimpl
    def get_view_priority(self):
        return 0  # offered in the view switcher; the table view (1) stays the default

    @hookimpl
    def get_config_schema(self):
        return copy.deepcopy(CONFIG_SCHEMA)

    @hookimpl
    def configure(self, config):
        """Take a configuration (missing keys: their defaults); an invalid one is refused and
        the current configuration stays."""
        config = {} if config is None else config
        try:
            jsonschema.validate(config, CONFIG_SCHEMA)
        except jsonschema.ValidationError as exc:
            where = "/".join(str(p) for p in exc.absolute_path)
            raise ValueError(
                f"Invalid kanban_view configuration{f' at {where}' if where else ''}: {exc.message}"
            ) from None
        self.settings.status_columns = list(config.get("status_columns", DEFAULT_STATUS_COLUMNS))
        self.settings.max_cards_per_lane = int(config.get("max_cards_per_lane", DEFAULT_MAX_CARDS))
