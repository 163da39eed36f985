"""A datasource plugin for made-up `geo` URLs, like the architecture document's examples."""

import pluggy

from datasources_app.builtin.sqlite import SQLiteDatasource

hookimpl = pluggy.HookimplMarker("nocoflo")


class GeoDatasource(SQLiteDatasource):
    """SQLite files holding geodata, reached through geo:// URLs."""


class GeoDatasourcePlugin:
    @hookimpl
    def get_datasource_class(self) -> type:
        return GeoDatasource

    @hookimpl
    def get_supported_schemes(self) -> list[str]:
        return ["geo", "GeoJSON"]
