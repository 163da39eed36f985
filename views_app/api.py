"""The view selection API (`/api/tables/{id}/view`): which view a user opens a table in, and
that view's settings."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.http import HttpRequest
from ninja import Router, Schema, Status

from core.errors_api import TABLE_ERRORS, FailureOut
from datasources_app import rows
from plugins_app.manager import get_manager

from . import preferences, selection
from .base import table_meta_dict

router = Router(tags=["views"])


class ViewChoiceIn(Schema):
    # "table", "chart", "form", or a view plugin's full name ("table_view").
    view_type: str
    # The view's settings; empty or left out keeps the ones saved before.
    config: dict[str, Any] = {}


class ViewChoiceOut(Schema):
    success: bool
    message: str


class ViewOut(Schema):
    view_type: str
    config: dict[str, Any]


def _capable_views(opened: rows.OpenTable) -> list[Any]:
    return get_manager().get_available_views(table_meta_dict(opened.table, opened.columns))


@router.get("/tables/{table_id}/view", response={200: ViewOut, **TABLE_ERRORS})
def get_view(request: HttpRequest, table_id: int):
    """The view this table opens in for you (a view plugin's name) and your settings of it."""
    opened = rows.open_table(request.user, table_id)
    strategy = selection.strategy()
    saved = ""
    if selection.saves_choices(strategy):
        saved = preferences.preferred_view(request.user, opened.table)
    chosen = selection.choose_view(_capable_views(opened), None, saved, strategy)
    if chosen is None:
        return {"view_type": "", "config": {}}
    return {
        "view_type": chosen.plugin_name,
        "config": preferences.view_config(request.user, opened.table, chosen.plugin_name),
    }


# 400, with `success` false: no such view, or one that cannot show the table.
@router.post(
    "/tables/{table_id}/view",
    response={**TABLE_ERRORS, 200: ViewChoiceOut, 400: FailureOut},
)
def set_view(request: HttpRequest, table_id: int, body: ViewChoiceIn):
    """Choose the view this table opens in for you, and optionally save its settings."""
    opened = rows.open_table(request.user, table_id)
    name = selection.plugin_name(body.view_type)
    view = selection.find_view(_capable_views(opened), name)
    if view is None:
        known = {plugin for plugin, _, _ in get_manager().view_classes()}
        if name in known:
            message = f"The view {body.view_type!r} cannot show {opened.table.label}"
        else:
            message = f"There is no view {body.view_type!r}"
        return Status(400, {"success": False, "message": message})
    with transaction.atomic():
        preferences.set_preferred_view(request.user, opened.table, view.plugin_name)
        if body.config:
            preferences.save_view_config(request.user, opened.table, view.plugin_name, body.config)
    return {"success": True, "message": "View preference updated"}
