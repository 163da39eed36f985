"""A chart view plugin written exactly like the architecture document's example (its class is
renamed: Nocoflo's built-in chart view is "chart_view")."""

import pluggy

from views_app.base import BaseView

hookimpl = pluggy.HookimplMarker("nocoflo")

NUMERIC = ("integer", "real", "decimal")


class ExampleChartView(BaseView):
    def render(self) -> None:
        # Render charts using plotly/matplotlib
        pass

    def get_view_name(self) -> str:
        return "Chart"

    def can_handle_table(self, table_meta: dict) -> bool:
        # Check if table has numeric columns suitable for charting
        return self.has_numeric_columns(table_meta)

    def has_numeric_columns(self, table_meta: dict) -> bool:
        return any(c.get("type") in NUMERIC for c in table_meta.get("columns", []))


class ExampleChartViewPlugin:
    @hookimpl
    def get_view_class(self) -> type[BaseView]:
        return ExampleChartView

    @hookimpl
    def get_view_priority(self) -> int:
        return 5
