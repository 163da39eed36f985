"""A form view plugin like the architecture document's example, preferred over charts.

Named apart from the built-in form view, so both can be registered side by side."""

import pluggy

from views_app.base import BaseView

hookimpl = pluggy.HookimplMarker("nocoflo")


class FormView(BaseView):
    def render(self) -> None:
        # Render as forms for single-record editing
        pass

    def get_view_name(self) -> str:
        return "Form"

    def can_handle_table(self, table_meta: dict) -> bool:
        # Good for tables with many columns or complex relationships
        return len(table_meta.get("columns", [])) > 10


class ExampleFormViewPlugin:
    version = "2.1.0"

    @hookimpl
    def get_view_class(self) -> type[BaseView]:
        return FormView

    @hookimpl
    def get_view_priority(self) -> int:
        return 10
