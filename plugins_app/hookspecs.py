"""The hooks a Nocoflo plugin may implement: the public plugin contract.

Every hook is documented in docs/plugin-development.md.
"""

from __future__ import annotations

from typing import Any

import pluggy

PROJECT_NAME = "nocoflo"
# The plugin API this Nocoflo offers. A plugin declares the version it was written for as
# `plugin_api_version = "1.0"`; it loads when the major versions match and its minor version is
# not newer than this one.
PLUGIN_API_VERSION = "1.0"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


class ViewHookSpec:
    @hookspec
    def get_view_class(self) -> type[Any]:
        """Return the view class (a BaseView subclass) this plugin provides."""

    @hookspec
    def get_view_priority(self) -> int:
        """Return priority for view selection (higher = preferred)."""


class DatasourceHookSpec:
    @hookspec
    def get_datasource_class(self) -> type[Any]:
        """Return the datasource class (a BaseDatasource subclass) this plugin provides."""

    @hookspec
    def get_supported_schemes(self) -> list[str]:
        """Return list of connection string schemes this datasource supports."""


class ConfigHookSpec:
    @hookspec
    def get_config_schema(self) -> dict:
        """Return the JSON Schema the plugin's configuration must match."""

    @hookspec
    def configure(self, config: dict) -> None:
        """Receive the plugin's configuration: when it loads and whenever an admin changes it."""


HOOKSPECS = (ViewHookSpec, DatasourceHookSpec, ConfigHookSpec)
