"""`GET /api/plugins`: the plugins Nocoflo knows, in the architecture document's shape."""

from __future__ import annotations

from typing import Literal

from django.http import HttpRequest
from ninja import Router, Schema
from ninja.errors import HttpError

from core.errors_api import ANY_ERRORS

from .manager import get_manager

router = Router(tags=["plugins"])


class PluginOut(Schema):
    name: str
    type: str
    enabled: bool
    version: str
    health: str


class PluginsOut(Schema):
    plugins: list[PluginOut]


@router.get("/plugins", response={200: PluginsOut, **ANY_ERRORS})
def list_plugins(request: HttpRequest, plugin_type: Literal["view", "datasource", "all"] = "all"):
    """Every plugin with its type, whether it is enabled, its version and health (staff only)."""
    if not request.user.is_staff:
        raise HttpError(403, "Only staff may list plugins")
    plugins = []
    for info in get_manager().list_plugins(plugin_type):
        kinds = info.kinds or ["unknown"]
        for kind in kinds if plugin_type == "all" else [plugin_type]:
            plugins.append(
                {"name": info.name, "type": kind, "enabled": info.enabled,
                 "version": info.version, "health": info.health}
            )  # fmt: skip
    return {"plugins": plugins}
