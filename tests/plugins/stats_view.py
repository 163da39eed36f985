"""A plugin written as a module: its hook implementations are plain functions."""

import pluggy

from views_app.base import BaseView

hookimpl = pluggy.HookimplMarker("nocoflo")


class StatsView(BaseView):
    def render(self) -> None:
        pass

    def get_view_name(self) -> str:
        return "Statistics"

    def can_handle_table(self, table_meta: dict) -> bool:
        return True


@hookimpl
def get_view_class():
    return StatsView


@hookimpl
def get_view_priority():
    return 2
