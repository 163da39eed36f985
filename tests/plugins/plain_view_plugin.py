"""A view plugin that answers get_view_class but not get_view_priority (priority 0)."""

import pluggy

from views_app.base import BaseView

hookimpl = pluggy.HookimplMarker("nocoflo")


class PlainView(BaseView):
    def render(self) -> None:
        pass

    def get_view_name(self) -> str:
        return "Plain"

    def can_handle_table(self, table_meta: dict) -> bool:
        return True


class PlainViewPlugin:
    @hookimpl
    def get_view_class(self) -> type[BaseView]:
        return PlainView
